"""A ``prometheus_client`` collector exposing a Monitor's series (extra ``prometheus``).

Example:
    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> from l0_monitoring import Monitor
    >>> from l0_monitoring.prometheus import MonitorCollector
    >>> registry = CollectorRegistry()
    >>> monitor = Monitor()
    >>> registry.register(MonitorCollector(monitor))
    >>> b"l0_streams_total" in generate_latest(registry)
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import text as prometheus_text

try:
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised by the minimal-install session
    raise ImportError(
        "l0_monitoring.prometheus needs prometheus_client: pip install 'l0-monitoring[prometheus]'"
    ) from exc

if TYPE_CHECKING:
    from ..monitor import Monitor

__all__ = ["MonitorCollector"]


class MonitorCollector(Collector):
    """Collects the same families as ``TelemetryExporter.to_prometheus(monitor)``.

    Register it on a registry (or the default one) and serve it with
    ``prometheus_client.start_http_server`` or render it with ``generate_latest``.

    Args:
        monitor: The Monitor whose finished streams are exposed.
        prefix: Metric name prefix.
        labels: Constant labels added to every series.
    """

    def __init__(
        self, monitor: Monitor, prefix: str = "l0", labels: Mapping[str, object] | None = None
    ) -> None:
        self._monitor = monitor
        self._prefix = prometheus_text.check_metric_name(prefix)
        self._labels = prometheus_text.check_labels(labels)
        if "model" in self._labels:
            raise ValueError("the 'model' label is set per series; choose another constant label")

    def describe(self) -> list[Any]:
        """Return no descriptions, so registering never scrapes the monitor early."""
        return []

    def collect(self) -> Iterator[Any]:
        """Yield one metric family per counter and histogram, labelled by model."""
        series = self._monitor._series_snapshot()
        const_names = sorted(self._labels)
        const_values = [self._labels[k] for k in const_names]
        models = sorted(series.by_model.items())
        for fam in prometheus_text.COUNTERS:
            names = [*const_names, "model"] + ([fam.label] if fam.label else [])
            counter = CounterMetricFamily(f"{self._prefix}_{fam.suffix}", fam.help, labels=names)
            for model, s in models:
                for label, value in fam.samples(s):
                    values = [*const_values, model] + ([label or ""] if fam.label else [])
                    counter.add_metric(values, value)
            yield counter
        for hfam in prometheus_text.HISTOGRAMS:
            hist = HistogramMetricFamily(
                f"{self._prefix}_{hfam.suffix}", hfam.help, labels=[*const_names, "model"]
            )
            for model, s in models:
                h = hfam.histogram(s)
                buckets = [
                    ("+Inf" if math.isinf(bound) else repr(float(bound)), count)
                    for bound, count in h.cumulative()
                ]
                hist.add_metric([*const_values, model], buckets, h.total)
            yield hist
