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
from collections.abc import Callable, Iterator, Mapping
from itertools import accumulate, repeat
from typing import TYPE_CHECKING, Any

from . import text as prometheus_text
from .series import MAX_MODELS, Exemplar, Histogram, SeriesSet

try:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.registry import Collector
    from prometheus_client.samples import Exemplar as _PcExemplar
    from prometheus_client.samples import Sample
except ImportError as exc:  # pragma: no cover - exercised by the minimal-install session
    raise ImportError(
        "l0_monitoring.prometheus needs prometheus_client: pip install 'l0-monitoring[prometheus]'"
    ) from exc

if TYPE_CHECKING:
    from ..monitor import Monitor

__all__ = ["MonitorCollector", "SeriesCollector"]


class SeriesCollector(Collector):
    """Collects the families of a :class:`~l0_monitoring.prometheus.series.SeriesSet` source.

    The source is a callable returning a fresh snapshot at each scrape (a
    Monitor's, or the merged files of several worker processes). Label dicts
    are built once per model and reused; bucket samples are built in bulk.
    Histogram buckets carry OpenMetrics exemplars (trace ids), which
    ``prometheus_client`` serves when the scraper asks for OpenMetrics.

    Args:
        source: Returns the series to expose.
        prefix: Metric name prefix.
        labels: Constant labels added to every series (not ``model``).

    Raises:
        ValueError: On an invalid prefix or label name, or a ``model`` label.
    """

    def __init__(
        self,
        source: Callable[[], SeriesSet],
        prefix: str = "l0",
        labels: Mapping[str, object] | None = None,
    ) -> None:
        self._source = source
        self._prefix = prometheus_text.check_metric_name(prefix)
        self._labels = prometheus_text.check_labels(labels)
        if "model" in self._labels:
            raise ValueError("the 'model' label is set per series; choose another constant label")
        # model -> per counter family {label value: labels dict}, per histogram
        # family (bounds, bucket label dicts, base labels dict)
        self._cache: dict[str, tuple[list[dict[str | None, dict[str, str]]], dict[str, str]]] = {}
        # (model, bucket sample name, bounds) -> (bucket label dicts, bucket samples at 0)
        self._buckets: dict[tuple[str, str, tuple[float, ...]], tuple[list[Any], list[Any]]] = {}
        # (model, family index) -> (the numbers, samples): a block whose numbers did
        # not change is reused even when its model changed (or the set is merged).
        self._last: dict[tuple[str, int], tuple[Any, list[Any]]] = {}
        # (model, family index) -> (set uid, model version, samples): a model
        # unchanged since the last scrape reuses its samples (they are immutable).
        self._blocks: dict[tuple[str, int], tuple[int, int, list[Any]]] = {}

    def describe(self) -> list[Any]:
        """Return no descriptions, so registering never scrapes the source early."""
        return []

    def _model(self, model: str) -> tuple[list[dict[str | None, dict[str, str]]], dict[str, str]]:
        cached = self._cache.get(model)
        if cached is None:
            if len(self._cache) >= 8 * MAX_MODELS:
                self._cache.clear()
                self._buckets.clear()
                self._blocks.clear()
                self._last.clear()
            cached = self._cache[model] = (
                [{} for _ in prometheus_text.COUNTERS],
                {**self._labels, "model": model},
            )
        return cached

    def _histogram(self, model: str, base: dict[str, str], name: str, h: Histogram) -> list[Any]:
        """The bucket samples of one histogram.

        The buckets below the first observation read 0: their samples are
        made once per model and bounds and reused (a slice). The others are
        built in C: ``tuple.__new__`` over zipped fields, no Python-level
        NamedTuple constructor per bucket.
        """
        key = (model, name, h.bounds)
        made = self._buckets.get(key)
        if made is None:
            made = self._buckets[key] = self._bucket_samples(base, name, h.bounds)
        label_dicts, zeros = made
        counts = h.counts
        if h.exemplars is None:
            nonzero = next(filter(None, counts), 0)
            first = counts.index(nonzero) if nonzero else len(counts)
            block = zeros[:first]
            block += map(tuple.__new__, repeat(Sample), zip(
                repeat(name), label_dicts[first:], accumulate(counts[first:]), repeat(None),
                repeat(None), repeat(None)))  # fmt: skip
            return block
        return list(map(tuple.__new__, repeat(Sample), zip(
            repeat(name), label_dicts, accumulate(counts), repeat(None),
            map(_exemplar, h.exemplars), repeat(None))))  # fmt: skip

    def _bucket_samples(
        self, base: dict[str, str], name: str, bounds: tuple[float, ...]
    ) -> tuple[list[dict[str, str]], list[Any]]:
        label_dicts = [
            {**base, "le": "+Inf" if math.isinf(b) else repr(float(b))} for b in (*bounds, math.inf)
        ]
        return label_dicts, [Sample(name, labels, 0) for labels in label_dicts]

    def collect(self) -> Iterator[Any]:
        """Yield one metric family per counter and histogram, labelled by model."""
        series = self._source()
        uid = series.uid
        blocks = self._blocks
        last = self._last
        models = [(m, s, self._model(m)) for m, s in sorted(series.by_model.items())]
        const_names = sorted(self._labels)
        for i, fam in enumerate(prometheus_text.COUNTERS):
            names = [*const_names, "model"] + ([fam.label] if fam.label else [])
            counter = CounterMetricFamily(f"{self._prefix}_{fam.suffix}", fam.help, labels=names)
            sample_name = counter.name + "_total"
            samples = counter.samples
            for model, s, (per_family, base) in models:
                if uid is not None:
                    hit = blocks.get((model, i))
                    if hit is not None and hit[0] == uid and hit[1] == s.version:
                        samples.extend(hit[2])
                        continue
                pairs = tuple(fam.samples(s))
                kept = last.get((model, i))
                if kept is not None and kept[0] == pairs:
                    block = kept[1]  # same numbers: the same (immutable) samples
                else:
                    cache = per_family[i]
                    block = []
                    for label, value in pairs:
                        labels = cache.get(label)
                        if labels is None:
                            labels = cache[label] = (
                                {**base, fam.label: label or ""} if fam.label else base
                            )
                        block.append(Sample(sample_name, labels, value))
                    last[model, i] = (pairs, block)
                if uid is not None:
                    blocks[model, i] = (uid, s.version, block)
                samples.extend(block)
            yield counter
        first = len(prometheus_text.COUNTERS)
        for i, hfam in enumerate(prometheus_text.HISTOGRAMS, start=first):
            hist = HistogramMetricFamily(
                f"{self._prefix}_{hfam.suffix}", hfam.help, labels=[*const_names, "model"]
            )
            bucket_name = hist.name + "_bucket"
            samples = hist.samples
            for model, s, (_, base) in models:
                if uid is not None:
                    hit = blocks.get((model, i))
                    if hit is not None and hit[0] == uid and hit[1] == s.version:
                        samples.extend(hit[2])
                        continue
                h = hfam.histogram(s)
                # By their numbers only without a uid (merged files): a Monitor's
                # changed model nearly always has new observations.
                key = None
                if uid is None:
                    key = (h.bounds, tuple(h.counts), h.total, h.count,
                           h.exemplars and tuple(h.exemplars))  # fmt: skip
                kept = last.get((model, i)) if key is not None else None
                if kept is not None and kept[0] == key:
                    block = kept[1]
                else:
                    block = self._histogram(model, base, bucket_name, h)
                    block.append(Sample(hist.name + "_count", base, h.count))
                    block.append(Sample(hist.name + "_sum", base, h.total))
                    if key is not None:
                        last[model, i] = (key, block)
                if uid is not None:
                    blocks[model, i] = (uid, s.version, block)
                samples.extend(block)
            yield hist
        if series.files is not None:
            gauge = GaugeMetricFamily(
                f"{self._prefix}_series_files",
                prometheus_text.FILES_HELP,
                labels=[*const_names, "state"],
            )
            consts = [self._labels[k] for k in const_names]
            for state, n in zip(("read", "skipped"), series.files, strict=True):
                gauge.add_metric([*consts, state], n)
            yield gauge


def _exemplar(ex: Exemplar | None) -> Any:
    if ex is None:
        return None
    return _PcExemplar({"trace_id": ex.trace_id}, ex.value, ex.timestamp)


class MonitorCollector(SeriesCollector):
    """Collects the same families as ``TelemetryExporter.to_prometheus(monitor)``.

    Register it on a registry (or the default one) and serve it with
    ``prometheus_client.start_http_server`` or render it with ``generate_latest``
    (OpenMetrics with exemplars: ``prometheus_client.openmetrics.exposition``).

    Args:
        monitor: The Monitor whose finished streams are exposed.
        prefix: Metric name prefix.
        labels: Constant labels added to every series (not ``model``).

    Raises:
        ValueError: On an invalid prefix or label name, or a ``model`` label.
    """

    def __init__(
        self, monitor: Monitor, prefix: str = "l0", labels: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(monitor._series_snapshot, prefix, labels)
        self._monitor = monitor
