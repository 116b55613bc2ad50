"""Side-by-side: our OpenTelemetry handler vs l0.monitoring.Monitoring.opentelemetry.

Both get the same tracer and meter (the real SDK with an in-memory span exporter
and an in-memory metric reader) and the same list of l0.events.ObservabilityEvent
objects; no token spans. Ours also records the GenAI metrics (duration, time to
first chunk, token usage, retries, violations, streams), which the reference does not.

Two figures per case: the handler's time per event (what the stream's thread
pays), and that plus one metric collection of the in-memory reader (ours records
its queued histogram values when the meter collects, on the reader's thread).

Run: ``python benchmarks/bench_otel.py``
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from typing import Any

from bench_monitor import runtime_streams, token_streams
from l0.monitoring import Monitoring as RefMonitoring
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from l0_monitoring import Monitoring


def pipeline() -> tuple[Any, Any, InMemoryMetricReader, Callable[[], None]]:
    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])

    def done() -> None:
        tp.shutdown()
        mp.shutdown()

    return tp.get_tracer("bench"), mp.get_meter("bench"), reader, done


def per_event(
    make: Callable[[Any, Any], Callable[[Any], None]], events: list[Any]
) -> tuple[float, float]:
    """(handler time, handler time + one metric collection) per event, in seconds."""
    tracer, meter, reader, done = pipeline()
    try:
        handler = make(tracer, meter)
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            for e in events:
                handler(e)
            t1 = time.perf_counter()
            # What the handler left for the meter's collection thread: ours records
            # its queued histogram values there.
            reader.get_metrics_data()
            t2 = time.perf_counter()
        finally:
            gc.enable()
        return (t1 - t0) / len(events), (t2 - t0) / len(events)
    finally:
        done()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "200 streams x 200 TOKEN": token_streams(200, 200),
        "2,000 runtime-shaped streams": runtime_streams(2_000),
    }
    for name, events in cases.items():
        ref = ours = ref_total = ours_total = float("inf")
        for _ in range(args.rounds):
            r, rt = per_event(lambda t, m: RefMonitoring.opentelemetry(tracer=t, meter=m), events)
            o, ot = per_event(lambda t, m: Monitoring.opentelemetry(tracer=t, meter=m), events)
            ref, ref_total = min(ref, r), min(ref_total, rt)
            ours, ours_total = min(ours, o), min(ours_total, ot)
        print(
            json.dumps(
                {
                    "case": name,
                    "events": len(events),
                    "reference_ns_per_event": round(ref * 1e9),
                    "ours_ns_per_event": round(ours * 1e9),
                    "ratio": round(ours / ref, 3),
                    "reference_with_collect_ns_per_event": round(ref_total * 1e9),
                    "ours_with_collect_ns_per_event": round(ours_total * 1e9),
                    "ratio_with_collect": round(ours_total / ref_total, 3),
                }
            )
        )


if __name__ == "__main__":
    main()
