"""Side-by-side: our Monitor.handle_event vs l0.monitoring.Monitor.handle_event (ai2070-l0).

Both monitors are fed the same list of ``l0.events.ObservabilityEvent`` objects
in one process, alternating runs, and the best-of-N time per event is compared.
Ratios (ours / reference) below 1.0 mean we are faster.

Run: ``python benchmarks/bench_monitor.py`` (or ``nox -s bench``).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from l0.events import ObservabilityEvent as L0Event
from l0.events import ObservabilityEventType as L0Type
from l0.monitoring import Monitor as RefMonitor

from l0_monitoring import MetricsConfig, Monitor, MonitoringConfig

T0 = 1_700_000_000_000.0


def token_streams(streams: int = 400, tokens: int = 200) -> list[L0Event]:
    """(a) Token-level streams: SESSION_START, N TOKEN events, COMPLETE; interleaved."""
    per_stream: list[list[L0Event]] = []
    for s in range(streams):
        sid = f"tok-{s:05d}"
        evs = [L0Event(L0Type.SESSION_START, T0 + s, sid, {}, {"attempt": 1})]
        evs += [
            L0Event(L0Type.TOKEN, T0 + s + 200 + 15 * i, sid, {}, {"token": "tok "})
            for i in range(tokens)
        ]
        evs.append(L0Event(L0Type.COMPLETE, T0 + s + 200 + 15 * tokens, sid, {}, {}))
        per_stream.append(evs)
    # Interleave 8 streams at a time, as concurrent requests would.
    out: list[L0Event] = []
    for g in range(0, streams, 8):
        group = per_stream[g : g + 8]
        for i in range(tokens + 2):
            out.extend(evs[i] for evs in group)
    return out


def runtime_streams(streams: int = 20_000) -> list[L0Event]:
    """(b) Runtime-shaped streams: the L0 runtime's lifecycle with guardrails, no TOKEN."""
    out: list[L0Event] = []
    for s in range(streams):
        sid = f"rt-{s:06d}"
        ts = T0 + s * 3
        ctx: dict[str, Any] = {}
        out += [
            L0Event(
                L0Type.SESSION_START,
                ts,
                sid,
                ctx,
                {"attempt": 1, "isRetry": False, "isFallback": False},
            ),
            L0Event(L0Type.STREAM_INIT, ts, sid, ctx, {}),
            L0Event(L0Type.ADAPTER_WRAP_START, ts, sid, ctx, {}),
            L0Event(L0Type.ADAPTER_DETECTED, ts, sid, ctx, {"adapterId": "openai"}),
            L0Event(L0Type.STREAM_READY, ts + 1, sid, ctx, {}),
            L0Event(L0Type.ADAPTER_WRAP_END, ts + 1, sid, ctx, {}),
            L0Event(
                L0Type.GUARDRAIL_PHASE_START, ts + 900, sid, ctx, {"phase": "post", "ruleCount": 2}
            ),
        ]
        for i in range(2):
            rid = f"rule-{i}"
            out += [
                L0Event(
                    L0Type.GUARDRAIL_RULE_START,
                    ts + 900,
                    sid,
                    ctx,
                    {"index": i, "ruleId": rid, "callbackId": "cb"},
                ),
                L0Event(
                    L0Type.GUARDRAIL_RULE_RESULT,
                    ts + 900,
                    sid,
                    ctx,
                    {"index": i, "ruleId": rid, "passed": True, "violation": None},
                ),
                L0Event(
                    L0Type.GUARDRAIL_RULE_END,
                    ts + 900,
                    sid,
                    ctx,
                    {
                        "index": i,
                        "ruleId": rid,
                        "passed": True,
                        "callbackId": "cb",
                        "durationMs": 0,
                    },
                ),
            ]
        out += [
            L0Event(
                L0Type.GUARDRAIL_PHASE_END,
                ts + 900,
                sid,
                ctx,
                {"phase": "post", "passed": True, "violations": [], "durationMs": 0},
            ),
            L0Event(L0Type.COMPLETE, ts + 901, sid, ctx, {"tokenCount": 120, "contentLength": 480}),
        ]
    return out


def time_per_event(make: Callable[[], Callable[[Any], None]], events: list[L0Event]) -> float:
    handle = make()
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        for e in events:
            handle(e)
        return (time.perf_counter() - t) / len(events)
    finally:
        gc.enable()


class Floor:
    """For scale, not a monitor: the least any per-stream fold does per event in Python.

    One dict lookup for the stream, a timestamp read, a type comparison; per
    TOKEN a count, the time and the text length; the stream dropped at
    COMPLETE. No validation, no rules, no records, no aggregates. What a real
    monitor adds on top of this is what can still be optimized.
    """

    def __init__(self) -> None:
        self.streams: dict[str, list[float]] = {}

    def handle_event(self, e: L0Event) -> None:
        st = self.streams.get(e.stream_id)
        if st is None:
            st = self.streams[e.stream_id] = [0, 0, 0.0]
        ts = e.ts
        t = e.type
        if t == "TOKEN":
            st[0] += 1
            st[2] = ts
            text = e.meta.get("token")
            if text.__class__ is str:
                st[1] += len(text)
        elif t == "COMPLETE":
            del self.streams[e.stream_id]


def side_by_side(
    name: str, events: list[L0Event], ours: MonitoringConfig, rounds: int
) -> dict[str, Any]:
    ref_best = ours_best = floor_best = float("inf")
    for _ in range(rounds):  # alternate, so machine noise hits all alike
        ref_best = min(ref_best, time_per_event(lambda: RefMonitor().handle_event, events))
        ours_best = min(ours_best, time_per_event(lambda: Monitor(ours).handle_event, events))
        floor_best = min(floor_best, time_per_event(lambda: Floor().handle_event, events))
    return {
        "case": name,
        "events": len(events),
        "reference_ns_per_event": round(ref_best * 1e9, 1),
        "ours_ns_per_event": round(ours_best * 1e9, 1),
        "ratio": round(ours_best / ref_best, 3),
        "floor_ns_per_event": round(floor_best * 1e9, 1),
        "floor_ratio": round(floor_best / ref_best, 3),
    }


def retained_memory(streams: int = 20_000) -> dict[str, Any]:
    """Bytes each monitor still holds after `streams` finished runtime-shaped streams."""
    events = runtime_streams(streams)
    out: dict[str, Any] = {"case": f"retained after {streams} streams"}
    for label, make in (("reference", RefMonitor), ("ours", Monitor)):
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        monitor = make()
        for e in events:
            monitor.handle_event(e)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        held = sum(s.size_diff for s in after.compare_to(before, "filename"))
        out[f"{label}_bytes"] = held
        del monitor
    out["ratio"] = round(out["ours_bytes"] / out["reference_bytes"], 3)
    return out


def hot_path_build() -> str:
    """Which build of the per-event modules this process runs: "compiled" (mypyc) or not."""
    from l0_monitoring._internal import fold

    return "interpreted" if fold.__file__.endswith(".py") else "compiled"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller inputs (CI smoke)")
    args = parser.parse_args()
    print(json.dumps({"build": hot_path_build()}))
    tok = token_streams(80 if args.quick else 400)
    rt = runtime_streams(2_000 if args.quick else 20_000)
    itl = MonitoringConfig(metrics=MetricsConfig(inter_token_latency=True))
    results = [
        side_by_side("(a) 400 streams x 200 TOKEN", tok, MonitoringConfig(), args.rounds),
        side_by_side("(a) ... inter_token_latency on", tok, itl, args.rounds),
        side_by_side("(b) 20,000 runtime-shaped streams", rt, MonitoringConfig(), args.rounds),
        side_by_side("(b) ... inter_token_latency on", rt, itl, args.rounds),
        retained_memory(2_000 if args.quick else 20_000),
    ]
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
