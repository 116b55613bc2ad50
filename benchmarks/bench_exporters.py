"""Side-by-side: TelemetryExporter.to_jsonl / to_csv vs l0.monitoring.TelemetryExporter.

10,000 records with the same content in both models (ours carries more fields and
escapes CSV formula cells), alternating rounds in one process, best of N.

Run: ``python benchmarks/bench_exporters.py``
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from typing import Any

from l0.monitoring import Telemetry as RefTelemetry
from l0.monitoring import TelemetryExporter as RefExporter

from l0_monitoring import MonitoringConfig, Telemetry, TelemetryExporter
from l0_monitoring.monitor import Monitor
from l0_monitoring.testing import make_stream_events


def records(n: int) -> tuple[list[Telemetry], list[Any]]:
    m = Monitor(MonitoringConfig(buffer_size=n))
    for i in range(n):
        for e in make_stream_events(
            f"stream-{i:06d}",
            tokens=["tok"] * (5 + i % 50),
            network_retries=i % 3 == 0,
            outcome="halt" if i % 17 == 0 else "complete",
            context={"tenant": f"t{i % 7}", "note": "=cmd|' /C calc'!A0" if i % 11 == 0 else "ok"},
        ):
            m.handle_event(e)
    ours = m.get_all_telemetry()
    keep = set(RefTelemetry.model_fields)
    ref = []
    for t in ours:
        d = t.model_dump()
        d = {k: v for k, v in d.items() if k in keep}
        d["error"]["category"] = None  # the reference's enum has no "unknown"
        d["retries"]["last_error_category"] = None
        ref.append(RefTelemetry.model_validate(d))
    return ours, ref


def best(fn: Callable[[], object]) -> float:
    # Like timeit: the collector is off while timing, so a collection triggered
    # by one side's garbage is not billed to the other.
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ours, ref = records(args.records)
    for name, mine, theirs in (
        ("to_jsonl", lambda: TelemetryExporter.to_jsonl(ours), lambda: RefExporter.to_jsonl(ref)),
        ("to_csv", lambda: TelemetryExporter.to_csv(ours), lambda: RefExporter.to_csv(ref)),
    ):
        r = o = float("inf")
        for _ in range(args.rounds):
            r = min(r, best(theirs))
            o = min(o, best(mine))
        print(
            json.dumps(
                {
                    "case": f"{name} x {args.records}",
                    "reference_s": round(r, 4),
                    "ours_s": round(o, 4),
                    "ratio": round(o / r, 3),
                }
            )
        )


if __name__ == "__main__":
    main()
