"""Side-by-side: every TelemetryExporter format vs l0.monitoring.TelemetryExporter.

10,000 records with the same content in both models (ours carries more fields and
escapes CSV formula cells), from a Monitor fed the same streams, each side's
records then built alike (see ``records``); alternating rounds in one process,
best of N (CPU time of the process by default, so other load on a shared machine
disturbs it less; ``--wall`` for wall time). The per-record formats (to_json,
to_dict, to_log_format, to_metrics) are timed over all records, one call each.

``--floor`` adds our serializer alone (no checks), the floor of to_json and to_dict.

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
    built = m.get_all_telemetry()
    # Each side's records are built the same way, each in its own loop (validated
    # from the same data), so each side's objects lie in memory alike: the
    # formats are bound by memory reads over 10,000 records (the same record
    # formatted 10,000 times is 2-3x faster). Timing the Monitor's own records
    # (made while it folded events, between the events' objects) against freshly
    # made reference records billed ours more cache misses, whatever the exporter did.
    ours = [Telemetry.model_validate(t.model_dump()) for t in built]
    keep = set(RefTelemetry.model_fields)
    ref = []
    for t in built:
        d = {k: v for k, v in t.model_dump().items() if k in keep}
        d["error"]["category"] = None  # the reference's enum has no "unknown"
        d["retries"]["last_error_category"] = None
        ref.append(RefTelemetry.model_validate(d))
    return ours, ref


CLOCK = time.process_time  # CPU time of this process: other load on the machine adds little


def best(fn: Callable[[], object]) -> float:
    # Like timeit: the collector is off while timing, so a collection triggered
    # by one side's garbage is not billed to the other.
    gc.collect()
    gc.disable()
    try:
        t = CLOCK()
        fn()
        return CLOCK() - t
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", nargs="*", help="formats to run (default: all)")
    parser.add_argument("--wall", action="store_true", help="time wall clock, not CPU time")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time our records' pydantic-core serializer alone (no checks, no marks): "
        "what to_json and to_dict cost without totality",
    )
    args = parser.parse_args()
    if args.wall:
        global CLOCK
        CLOCK = time.perf_counter
    ours, ref = records(args.records)
    E, R = TelemetryExporter, RefExporter  # noqa: N806
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("to_json", lambda: [E.to_json(t) for t in ours], lambda: [R.to_json(t) for t in ref]),
        ("to_dict", lambda: [E.to_dict(t) for t in ours], lambda: [R.to_dict(t) for t in ref]),
        ("to_jsonl", lambda: E.to_jsonl(ours), lambda: R.to_jsonl(ref)),
        ("to_csv", lambda: E.to_csv(ours), lambda: R.to_csv(ref)),
        (
            "to_log_format",
            lambda: [E.to_log_format(t) for t in ours],
            lambda: [R.to_log_format(t) for t in ref],
        ),
        (
            "to_metrics",
            lambda: [E.to_metrics(t) for t in ours],
            lambda: [R.to_metrics(t) for t in ref],
        ),
    ]
    if args.floor:
        serializer = Telemetry.__pydantic_serializer__
        cases += [
            (
                "to_json floor (serializer alone)",
                lambda: [serializer.to_json(t, indent=2, warnings=False).decode() for t in ours],
                lambda: [R.to_json(t) for t in ref],
            ),
            (
                "to_dict floor (serializer alone)",
                lambda: [serializer.to_python(t, mode="json", warnings=False) for t in ours],
                lambda: [R.to_dict(t) for t in ref],
            ),
        ]
    wanted = set(args.only or [c[0] for c in cases])
    for name, mine, theirs in cases:
        if name not in wanted:
            continue
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
