"""Reliability figures for the README: the recorder against a stuck target, and a fork storm.

* Bytes bound: a recorder whose target is a pipe nobody reads is offered 20,000
  events of ~1.1 kB (22 MB); the queue (lines waiting plus the batch the stuck
  writer holds) must stay within ``max_queue_bytes``. Reported: the largest
  ``queued_bytes`` seen and the process's peak RSS growth.
* ``close(timeout)`` bound: time ``close(timeout=1.0)`` takes with the writer stuck
  in a write to that pipe (a file object), and with a FIFO path nobody reads.
* Exit bound: wall time of a child interpreter that feeds 100,000 events to a
  recorder on a pipe nobody reads, then exits (the exit hook's timeout is 2 s).
* Fork storm: 30 children forked while three threads feed
  ``combine(monitor, batch, debounce, recorder, a failing handler)``; each child
  feeds its own stream and flushes every worker. Reported: children that completed.
* Long line: traced peak memory of ``replay`` over a log holding one 1 GiB line
  between two events (the line is skipped and counted, never held whole).
* Caller cost: microseconds per ``recorder(event)`` call (the line is encoded in
  the caller's thread, so the queue can be bounded in bytes).
* Stuck handlers (r13 #6): ``combine(N stuck batch + N stuck debounce, a healthy
  batch).close(timeout=1)``, and the wall time of a child interpreter that
  leaves N stuck batch and N stuck debounce handlers plus a recorder on a FIFO
  nobody reads (one shared exit deadline: must not grow with N).
* Close during rotation (r13 #8): ``close(timeout=0.2)`` while 100,000 events
  rotate through 20 kB files; files changed after close returned (must be 0).
* Validate a 1 GiB line (r13 #4): traced peak memory of ``l0-monitoring validate``.

Run: ``python benchmarks/bench_reliability.py``
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from l0_monitoring import EventRecorder, Monitor, Monitoring, MonitoringConfig, replay
from l0_monitoring.testing import make_stream_events

BOUND = 8 << 20  # the default max_queue_bytes
PARTS = ("written", "dropped", "malformed", "lost_to_errors", "queued", "writing")


def padded_events(n: int) -> list:
    out = []
    for i in range(n):
        e = make_stream_events(f"s{i}", tokens=["x"])[1]
        e.context["pad"] = "p" * 1000
        out.append(e)
    return out


def bytes_bound() -> dict:
    r, w = os.pipe()
    stuck = os.fdopen(w, "w")
    rec = EventRecorder(stuck, max_queue=10**6)
    events = padded_events(20_000)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    most = 0
    for e in events:
        rec(e)
        most = max(most, rec.stats()["queued_bytes"])
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    rec.close(timeout=1.0)
    closed = time.perf_counter() - start
    stats = rec.stats()
    os.close(r)
    return {
        "offered_mb": round(sum(len(json.dumps(e.to_dict())) for e in events) / 1e6, 1),
        "max_queue_bytes": BOUND,
        "largest_queued_bytes": most,
        "rss_growth_mb": round((rss1 - rss0) / 1024, 1),
        "dropped": stats["dropped"],
        "close_timeout_1s_took_s": round(closed, 3),
        "exact": sum(stats[k] for k in PARTS) == len(events),
    }


def fifo_close() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        fifo = Path(tmp) / "events.fifo"
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        rec = Monitoring.record(fifo)
        for e in padded_events(5_000):
            rec(e)
        start = time.perf_counter()
        rec.close(timeout=1.0)
        took = time.perf_counter() - start
        os.close(reader)
        return round(took, 3)


EXIT_SCRIPT = """
import os
from l0_monitoring import Monitoring, ObservabilityEvent
r, w = os.pipe()
rec = Monitoring.record(os.fdopen(w, "w"))
for i in range(100_000):
    rec(ObservabilityEvent("TOKEN", 1e12 + i, "s", {}, {"token": "x" * 50}))
"""


def exit_time() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", EXIT_SCRIPT], check=True, timeout=60)
    return round(time.perf_counter() - start, 2)


def fork_storm(children: int = 30) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        batch = Monitoring.batch(5, 0.01, lambda events: None)
        debounced = Monitoring.debounce(0.01, lambda event: None)
        recorder = Monitoring.record(Path(tmp) / "events.jsonl")
        monitor = Monitor(MonitoringConfig(flush_interval=0.01), on_flush=lambda r: None)

        def failing(event: object) -> None:
            raise RuntimeError("always fails")

        on_event = Monitoring.combine(monitor.handle_event, batch, debounced, recorder, failing)
        stop = threading.Event()

        def feed(k: int) -> None:
            i = 0
            while not stop.is_set():
                for e in make_stream_events(f"p{k}-{i}"):
                    on_event(e)
                i += 1

        feeders = [threading.Thread(target=feed, args=(k,), daemon=True) for k in range(3)]
        for t in feeders:
            t.start()
        pids = []
        for i in range(children):
            time.sleep(0.005)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    for e in make_stream_events(f"child{i}"):
                        on_event(e)
                    ok = batch.flush(10) and debounced.flush(10) and recorder.flush(10)
                    code = 0 if ok else 2
                finally:
                    os._exit(code)
            pids.append(pid)
        stop.set()
        completed = 0
        deadline = time.monotonic() + 60
        waiting = set(pids)
        while waiting and time.monotonic() < deadline:
            for pid in list(waiting):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    waiting.discard(pid)
                    completed += os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            time.sleep(0.02)
        for pid in waiting:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        on_event.close()
        return completed


def long_line(mib: int = 1024) -> dict:
    events = make_stream_events("s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        with path.open("w") as f:
            f.write(json.dumps(events[0].to_dict()) + "\n" + '{"a": "')
            chunk = "y" * (1 << 20)
            for _ in range(mib):
                f.write(chunk)
            f.write('"}\n' + json.dumps(events[1].to_dict()) + "\n")
        tracemalloc.start()
        result = replay(path, lambda event: None)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"line_mib": mib, "events": result.events, "skipped": result.skipped,
            "peak_traced_mb": round(peak / 1e6, 2)}  # fmt: skip


def caller_cost() -> float:
    events = []
    for s in range(1000):
        events += make_stream_events(f"s{s}", tokens=["tok"] * 20)
    with tempfile.TemporaryDirectory() as tmp:
        rec = Monitoring.record(Path(tmp) / "e.jsonl", max_queue=10**7, max_queue_bytes=1 << 30)
        start = time.perf_counter()
        for e in events:
            rec(e)
        took = time.perf_counter() - start
        rec.close(60)
    return round(took / len(events) * 1e6, 2)


def combined_close(n: int) -> dict:
    release = threading.Event()
    delivered: list = []
    stuck = [Monitoring.batch(1, 0.01, lambda events: release.wait()) for _ in range(n)]
    stuck += [Monitoring.debounce(0.01, lambda event: release.wait()) for _ in range(n)]
    healthy = Monitoring.batch(1000, 60.0, delivered.extend)
    combined = Monitoring.combine(*stuck, healthy)
    for e in padded_events(100):
        combined(e)
    time.sleep(0.1)
    start = time.perf_counter()
    combined.close(timeout=1.0)
    took = time.perf_counter() - start
    release.set()
    return {"stuck": 2 * n, "close_timeout_1s_took_s": round(took, 3),
            "healthy_delivered": f"{len(delivered)} of 100"}  # fmt: skip


STUCK_EXIT = r"""
import os, sys, threading, time
from l0_monitoring import Monitoring, ObservabilityEvent
never = threading.Event()
n, fifo = int(sys.argv[1]), sys.argv[2]
reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
hs = [Monitoring.batch(1, 0.01, lambda e: never.wait()) for _ in range(n)]
hs += [Monitoring.debounce(0.01, lambda e: never.wait()) for _ in range(n)]
h = Monitoring.combine(*hs, Monitoring.record(fifo))
for i in range(3000):
    h(ObservabilityEvent("TOKEN", 1e12 + i, "s", {}, {"token": "x" * 100}))
time.sleep(0.1)
print(time.monotonic(), flush=True)
"""


def stuck_exit(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        fifo = Path(tmp) / "events.fifo"
        os.mkfifo(fifo)
        out = subprocess.run([sys.executable, "-c", STUCK_EXIT, str(n), str(fifo)],
                             capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
        return round(time.monotonic() - float(out.stdout.split()[-1]), 2)


def close_during_rotation() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.jsonl"
        rec = Monitoring.record(path, max_bytes=20_000, backup_count=1000,
                                max_queue_bytes=64 << 20)  # fmt: skip
        for e in make_stream_events("s", tokens=["x"] * 100_000)[1:-1]:
            rec(e)
        writer = rec._thread
        start = time.perf_counter()
        rec.close(timeout=0.2)
        took = time.perf_counter() - start
        before = {p.name: p.stat().st_size for p in Path(tmp).iterdir()}
        at_close = rec.stats()
        if writer is not None:
            writer.join(10)
        after = {p.name: p.stat().st_size for p in Path(tmp).iterdir()}
        changed = len(set(before.items()) ^ set(after.items()))
        return {"close_took_s": round(took, 3), "written": at_close["written"],
                "lost": at_close["lost_to_errors"], "writing_at_close": at_close["writing"],
                "files_changed_after_close": changed,
                "counters_changed_after_close": rec.stats() != at_close}  # fmt: skip


def validate_long_line(mib: int = 1024) -> dict:
    from l0_monitoring.cli import main as cli

    events = make_stream_events("s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        with path.open("w") as f:
            f.write(json.dumps(events[0].to_dict()) + "\n" + '{"a": "')
            chunk = "y" * (1 << 20)
            for _ in range(mib):
                f.write(chunk)
            f.write('"}\n' + json.dumps(events[1].to_dict()) + "\n")
        tracemalloc.start()
        with open(os.devnull, "w") as null:
            stdout, sys.stdout = sys.stdout, null
            try:
                code = cli(["validate", str(path), "--schema", "ObservabilityEvent"])
            finally:
                sys.stdout = stdout
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"line_mib": mib, "exit_code": code, "peak_traced_mb": round(peak / 1e6, 2)}


def main() -> None:
    print(json.dumps({"bytes_bound": bytes_bound()}))
    print(json.dumps({"fifo_close_timeout_1s_took_s": fifo_close()}))
    print(json.dumps({"exit_with_stuck_target_s": exit_time()}))
    print(json.dumps({"fork_storm_completed": f"{fork_storm()} of 30"}))
    print(json.dumps({"replay_long_line": long_line()}))
    print(json.dumps({"recorder_call_us_per_event": caller_cost()}))
    print(json.dumps({"combined_close": [combined_close(n) for n in (1, 5)]}))
    print(json.dumps({"exit_with_stuck_handlers_s": {2 * n: stuck_exit(n) for n in (1, 5, 10)}}))
    print(json.dumps({"close_during_rotation": close_during_rotation()}))
    print(json.dumps({"validate_long_line": validate_long_line()}))


if __name__ == "__main__":
    main()
