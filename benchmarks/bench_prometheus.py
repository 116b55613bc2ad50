"""Prometheus exposition cost at 100 models (the ``MAX_MODELS`` bound).

A Monitor fed demo traffic spread over 100 models (every model has streams in
every histogram), then, best of N rounds with the garbage collector off:

* **text**: ``TelemetryExporter.to_prometheus(monitor)`` (snapshot under the
  lock + rendering: what ``/metrics`` pays with our own text);
* **openmetrics**: ``render_openmetrics`` of a snapshot (with exemplars);
* **collect**: ``list(MonitorCollector(monitor).collect())``: snapshot + the
  metric families handed to ``prometheus_client``;
* **generate_latest**: ``prometheus_client.generate_latest(registry)`` of a
  registry holding ``MonitorCollector``: the *full scrape* through the
  collector (collect plus prometheus_client's own per-sample formatting, which
  is outside our control);
* **serve**: the full ``/metrics`` response body of our WSGI app
  (``l0_monitoring.prometheus.serve.make_wsgi_app``), text and OpenMetrics,
  alone and with a ``prometheus_client`` registry of the application's other
  metrics (process, platform and GC collectors) appended;
* **snapshot**: the snapshot alone.

``--buckets coarse`` measures with 10 bounds per decade for TTFT and duration
too (the trade-off: fewer samples, quantiles no longer bounded within 10%).
``--traced`` starts every stream inside a sampled OpenTelemetry span, so the
latency buckets carry exemplars (what OpenMetrics scrapes then pay for).

Three columns: every model received one demo stream since the previous scrape
(the renderers can reuse only the families whose numbers did not change, such
as error counts of a stream without errors); every series of every model
changed (the worst case: every counter moves and every histogram gets one
observation, so no block can be reused); and no model changed (the renderers
reuse each unchanged model's text / samples).

Run: ``python benchmarks/bench_prometheus.py [--rounds 15] [--models 100]``
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from l0_monitoring import Monitor, MonitoringConfig, TelemetryExporter
from l0_monitoring.config import MetricsConfig, PrometheusBuckets
from l0_monitoring.demo import make_scenarios, run_simulated
from l0_monitoring.events import ObservabilityEvent
from l0_monitoring.prometheus import MonitorCollector
from l0_monitoring.prometheus.serve import make_wsgi_app
from l0_monitoring.prometheus.text import render_openmetrics


def _decades(first: int, last: int) -> list[float]:
    steps = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
    return [float(f"{m * 10.0**e:.6g}") for e in range(first, last + 1) for m in steps]


COARSE = PrometheusBuckets(ttft=[*_decades(-2, 1), 100.0], duration=[*_decades(-1, 2), 1000.0])


def traced(handle: Callable[[ObservabilityEvent], None]) -> Callable[[ObservabilityEvent], None]:
    """Handle each event inside a sampled span (the Monitor reads the trace id)."""
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("bench")

    def handle_traced(event: ObservabilityEvent) -> None:
        with tracer.start_as_current_span("stream"):
            handle(event)

    return handle_traced


def monitor_with(
    models: int, streams: int, coarse: bool = False, with_traces: bool = False
) -> Monitor:
    metrics = MetricsConfig(inter_token_latency=True)
    if coarse:
        metrics = MetricsConfig(inter_token_latency=True, prometheus_buckets=COARSE)
    monitor = Monitor(MonitoringConfig(metrics=metrics))
    handle = traced(monitor.handle_event) if with_traces else monitor.handle_event

    def spread(event: ObservabilityEvent) -> None:
        index = int(event.stream_id.rsplit("-", 1)[1])
        event.context["model"] = f"model-{index % models:03d}"
        handle(event)

    run_simulated(make_scenarios(streams, 1), spread, 1.7e12)
    return monitor


def best(fn: Callable[[], object], rounds: int, setup: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(rounds):
        if setup is not None:
            setup()
        gc.collect()
        gc.disable()
        try:
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        finally:
            gc.enable()
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--buckets", choices=["default", "coarse"], default="default")
    parser.add_argument("--traced", action="store_true", help="latency buckets with exemplars")
    args = parser.parse_args()
    monitor = monitor_with(args.models, args.streams, args.buckets == "coarse", args.traced)
    handle = traced(monitor.handle_event) if args.traced else monitor.handle_event
    registry = CollectorRegistry()
    collector = MonitorCollector(monitor)
    registry.register(collector)
    app_metrics = CollectorRegistry()
    for make in (ProcessCollector, PlatformCollector, GCCollector):
        make(registry=app_metrics)
    text = TelemetryExporter.to_prometheus(monitor)
    samples = sum(1 for line in text.splitlines() if not line.startswith("#"))
    per_model = monitor._series_snapshot().buckets.series_per_model
    exemplars = render_openmetrics(monitor._series_snapshot()).count("trace_id=")
    print(f"{args.models} models (+ _other), {samples} samples ({per_model} per model, "
          f"{args.buckets} buckets), {len(text) / 1e6:.2f} MB of text, "
          f"{exemplars} exemplars")  # fmt: skip
    alone, joined = make_wsgi_app(monitor), make_wsgi_app(monitor, registry=app_metrics)
    om = {"HTTP_ACCEPT": "application/openmetrics-text"}

    def body(app: Callable[..., list[bytes]], environ: dict[str, str]) -> bytes:
        return b"".join(app(environ, lambda status, headers: None))

    cases: dict[str, Callable[[], object]] = {
        "snapshot": monitor._series_snapshot,
        "text (to_prometheus)": lambda: TelemetryExporter.to_prometheus(monitor),
        "openmetrics": lambda: render_openmetrics(monitor._series_snapshot()),
        "collect (MonitorCollector)": lambda: list(collector.collect()),
        "full scrape: generate_latest": lambda: generate_latest(registry),
        "full scrape: serve, text": lambda: body(alone, {}),
        "full scrape: serve, openmetrics": lambda: body(alone, om),
        "serve + app registry, text": lambda: body(joined, {}),
        "serve + app registry, openm.": lambda: body(joined, om),
    }
    events = make_scenarios(args.models, 2)
    next_id = [args.streams]

    def one_stream_per_model() -> None:
        # Every model changes between two scrapes: nothing rendered can be reused.
        def spread(event: ObservabilityEvent) -> None:
            index = int(event.stream_id.rsplit("-", 1)[1])
            event.context["model"] = f"model-{index % args.models:03d}"
            sid = f"{event.stream_id}-{next_id[0]}"
            handle(ObservabilityEvent(event.type, event.ts, sid, event.context, event.meta))

        run_simulated(events, spread, 1.8e12)
        next_id[0] += 1

    rng = random.Random(1)

    def every_series_changed() -> None:
        # Worst case: every counter and every histogram of every model moves.
        with monitor._lock:
            for s in monitor._agg.series.by_model.values():
                for counts in (s.streams, s.violations, s.errors):
                    for key in counts:
                        counts[key] += 1
                s.tokens += 1
                s.network_retries += 1
                s.model_retries += 1
                s.ttft.observe(rng.uniform(0.05, 3.0))
                s.duration.observe(rng.uniform(0.5, 30.0))
                s.tps.observe(rng.uniform(10.0, 200.0))
                s.itl.observe(rng.uniform(0.005, 0.2))
                s.version += 1

    print(f"{'':32s} {'a stream per model':>20s} {'every series':>14s} {'none changed':>14s}")
    for name, fn in cases.items():
        fn()  # warm the label caches, as every scrape after the first
        changed = best(fn, args.rounds, one_stream_per_model)
        worst = best(fn, args.rounds, every_series_changed)
        same = best(fn, args.rounds)
        print(f"{name:32s} {changed * 1e3:17.2f} ms {worst * 1e3:11.2f} ms {same * 1e3:11.2f} ms")


if __name__ == "__main__":
    main()
