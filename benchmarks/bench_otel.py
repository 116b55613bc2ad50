"""Side-by-side: our OpenTelemetry handler vs l0.monitoring.Monitoring.opentelemetry.

Both get the same tracer and meter (the real SDK with an in-memory span exporter
and an in-memory metric reader) and the same list of l0.events.ObservabilityEvent
objects; no token spans. Ours also records the GenAI metrics (duration, time to
first chunk, token usage, retries, violations, streams), which the reference does not.

Run: ``python benchmarks/bench_otel.py``
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from bench_monitor import runtime_streams, time_per_event, token_streams
from l0.monitoring import Monitoring as RefMonitoring
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from l0_monitoring import Monitoring


def pipeline() -> tuple[Any, Any, Callable[[], None]]:
    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()])

    def done() -> None:
        tp.shutdown()
        mp.shutdown()

    return tp.get_tracer("bench"), mp.get_meter("bench"), done


def per_event(make: Callable[[Any, Any], Callable[[Any], None]], events: list[Any]) -> float:
    tracer, meter, done = pipeline()
    try:
        return time_per_event(lambda: make(tracer, meter), events)
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
        ref = ours = float("inf")
        for _ in range(args.rounds):
            ref = min(
                ref, per_event(lambda t, m: RefMonitoring.opentelemetry(tracer=t, meter=m), events)
            )
            ours = min(
                ours, per_event(lambda t, m: Monitoring.opentelemetry(tracer=t, meter=m), events)
            )
        print(
            json.dumps(
                {
                    "case": name,
                    "events": len(events),
                    "reference_ns_per_event": round(ref * 1e9),
                    "ours_ns_per_event": round(ours * 1e9),
                    "ratio": round(ours / ref, 3),
                }
            )
        )


if __name__ == "__main__":
    main()
