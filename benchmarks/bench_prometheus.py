"""Prometheus exposition cost at 100 models (the ``MAX_MODELS`` bound).

A Monitor fed demo traffic spread over 100 models (every model has streams in
every histogram), then, best of N rounds with the garbage collector off:

* **text**: ``TelemetryExporter.to_prometheus(monitor)`` (snapshot under the
  lock + rendering: what ``/metrics`` pays with our own text);
* **openmetrics**: ``render_openmetrics`` of a snapshot (with exemplars);
* **collect**: ``list(MonitorCollector(monitor).collect())``: snapshot + the
  metric families handed to ``prometheus_client``;
* **generate_latest**: ``prometheus_client.generate_latest(registry)``: collect
  plus prometheus_client's own formatting (its per-sample escaping is outside
  our control);
* **snapshot**: the snapshot alone.

Two columns: every model received a stream since the previous scrape (worst
case: nothing cached can be reused), and no model changed (the renderers reuse
each unchanged model's text / samples).

Run: ``python benchmarks/bench_prometheus.py [--rounds 15] [--models 100]``
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest

from l0_monitoring import Monitor, MonitoringConfig, TelemetryExporter
from l0_monitoring.config import MetricsConfig
from l0_monitoring.demo import make_scenarios, run_simulated
from l0_monitoring.events import ObservabilityEvent
from l0_monitoring.prometheus import MonitorCollector
from l0_monitoring.prometheus.series import Buckets
from l0_monitoring.prometheus.text import render_openmetrics


def monitor_with(models: int, streams: int) -> Monitor:
    monitor = Monitor(MonitoringConfig(metrics=MetricsConfig(inter_token_latency=True)))

    def spread(event: ObservabilityEvent) -> None:
        index = int(event.stream_id.rsplit("-", 1)[1])
        event.context["model"] = f"model-{index % models:03d}"
        monitor.handle_event(event)

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
    args = parser.parse_args()
    monitor = monitor_with(args.models, args.streams)
    registry = CollectorRegistry()
    collector = MonitorCollector(monitor)
    registry.register(collector)
    text = TelemetryExporter.to_prometheus(monitor)
    samples = sum(1 for line in text.splitlines() if not line.startswith("#"))
    per_model = Buckets().series_per_model
    print(f"{args.models} models, {samples} samples ({per_model} per model), "
          f"{len(text) / 1e6:.2f} MB of text")  # fmt: skip
    cases: dict[str, Callable[[], object]] = {
        "snapshot": monitor._series_snapshot,
        "text (to_prometheus)": lambda: TelemetryExporter.to_prometheus(monitor),
        "openmetrics": lambda: render_openmetrics(monitor._series_snapshot()),
        "collect (MonitorCollector)": lambda: list(collector.collect()),
        "generate_latest(registry)": lambda: generate_latest(registry),
    }
    events = make_scenarios(args.models, 2)
    next_id = [args.streams]

    def one_stream_per_model() -> None:
        # Every model changes between two scrapes: nothing rendered can be reused.
        def spread(event: ObservabilityEvent) -> None:
            index = int(event.stream_id.rsplit("-", 1)[1])
            event.context["model"] = f"model-{index % args.models:03d}"
            sid = f"{event.stream_id}-{next_id[0]}"
            monitor.handle_event(
                ObservabilityEvent(event.type, event.ts, sid, event.context, event.meta)
            )

        run_simulated(events, spread, 1.8e12)
        next_id[0] += 1

    print(f"{'':28s} {'all models changed':>20s} {'none changed':>14s}")
    for name, fn in cases.items():
        fn()  # warm the label caches, as every scrape after the first
        changed = best(fn, args.rounds, one_stream_per_model)
        same = best(fn, args.rounds)
        print(f"{name:28s} {changed * 1e3:17.2f} ms {same * 1e3:11.2f} ms")


if __name__ == "__main__":
    main()
