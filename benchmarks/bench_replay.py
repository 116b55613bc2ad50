"""Replay throughput (events/s) and peak memory for recorded logs of 10^5 and 10^6 events.

Each log mixes token-level streams (one TOKEN event per token) and runtime-shaped
streams, as ``Monitoring.record`` writes them. Throughput is measured without
tracing; peak memory separately with tracemalloc (the replay's own allocations,
Monitor included, not the file cache).

Run: ``python benchmarks/bench_replay.py``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from l0_monitoring import Monitor, Monitoring, replay
from l0_monitoring.testing import make_runtime_events, make_stream_events


def write_log(path: Path, target_events: int) -> int:
    written = 0
    with Monitoring.record(path, max_queue=10**7, max_queue_bytes=1 << 30) as rec:
        s = 0
        while written < target_events:
            if s % 2:
                events = make_runtime_events(f"r{s}", start_ms=1.7e12 + s * 7)
            else:
                events = make_stream_events(f"t{s}", tokens=["tok"] * 40, start_ms=1.7e12 + s * 7)
            for e in events:
                rec(e)
            written += len(events)
            s += 1
            if s % 2000 == 0:
                rec.flush(60)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"events-{size}.jsonl"
            n = write_log(path, size)
            monitor = Monitor()
            t = time.perf_counter()
            result = replay(path, monitor)
            elapsed = time.perf_counter() - t
            assert result.events == n and result.skipped == 0
            tracemalloc.start()
            replay(path, Monitor())
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(
                json.dumps(
                    {
                        "events": n,
                        "log_mb": round(path.stat().st_size / 1e6, 1),
                        "events_per_s": round(n / elapsed),
                        "peak_traced_mb": round(peak / 1e6, 2),
                        "streams": monitor.get_aggregate_metrics()["count"],
                    }
                )
            )
            path.unlink()


if __name__ == "__main__":
    main()
