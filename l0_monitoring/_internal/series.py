"""Low-cardinality Prometheus series: counters and fixed-bucket histograms per model.

Fed once per finished stream (by the Monitor, or from a list of records) and
rendered by :mod:`l0_monitoring.exporters` and ``l0_monitoring.prometheus``.
Label values are bounded: at most ``MAX_MODELS`` models (others become
``_other``), error categories and severities from known sets.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

from .safe import clean_text

# GenAI semantic-convention bucket advice for operation duration / time to first chunk (s).
SECONDS_BUCKETS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
# Gaps between tokens are far shorter than whole operations: finer low end.
ITL_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56,
)  # fmt: skip
TPS_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)

MAX_MODELS = 100
OTHER = "_other"
UNKNOWN_MODEL = "unknown"
OUTCOMES = ("completed", "aborted", "failed", "abandoned")
KNOWN_CATEGORIES = frozenset(
    {
        "network", "transient", "model", "content", "provider", "fatal", "internal",
        "unknown", "timeout", "tool", "abort", "zero_output",
    }
)  # fmt: skip
KNOWN_SEVERITIES = frozenset({"debug", "info", "warning", "error", "fatal"})


@dataclass(slots=True)
class Histogram:
    """Cumulative-on-render histogram with fixed upper bounds (Prometheus ``le``)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        """Count one observation (NaN and negative values are ignored)."""
        if not 0.0 <= value < math.inf:
            return
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def observe_many(self, values: Iterable[float], scale: float = 1.0) -> None:
        """Count many observations at once (``value * scale`` each).

        One C-level sort and one bisect per bucket bound, instead of a bisect
        per value: this runs for every gap of a finished stream.
        """
        ordered = sorted(v for v in values if 0.0 <= v < math.inf)
        if not ordered:
            return
        previous = 0
        for i, bound in enumerate(self.bounds):
            upto = bisect_right(ordered, bound / scale)
            self.counts[i] += upto - previous
            previous = upto
        self.counts[-1] += len(ordered) - previous
        self.total += sum(ordered) * scale
        self.count += len(ordered)

    def merge(self, other: Histogram) -> None:
        """Add another histogram with the same bounds into this one."""
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.total += other.total
        self.count += other.count

    def cumulative(self) -> list[tuple[float, int]]:
        """Return ``(le, cumulative count)`` pairs, ending with ``(+inf, count)``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass(slots=True)
class ModelSeries:
    """Every series for one model label."""

    streams: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    network_retries: int = 0
    model_retries: int = 0
    violations: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    ttft: Histogram = field(default_factory=lambda: Histogram(SECONDS_BUCKETS))
    duration: Histogram = field(default_factory=lambda: Histogram(SECONDS_BUCKETS))
    tps: Histogram = field(default_factory=lambda: Histogram(TPS_BUCKETS))
    itl: Histogram = field(default_factory=lambda: Histogram(ITL_BUCKETS))


class SeriesSet:
    """Series for every model seen, bounded to ``MAX_MODELS`` labels."""

    __slots__ = ("by_model",)

    def __init__(self) -> None:
        self.by_model: dict[str, ModelSeries] = {}

    def _series(self, model: str | None) -> ModelSeries:
        key = clean_text(model) if model else UNKNOWN_MODEL  # a label value: valid UTF-8
        series = self.by_model.get(key)
        if series is None:
            if len(self.by_model) >= MAX_MODELS:
                key = OTHER
                series = self.by_model.get(key)
            if series is None:
                series = self.by_model[key] = ModelSeries()
        return series

    def observe(
        self,
        model: str | None,
        outcome: str,
        tokens: int,
        network_retries: int,
        model_retries: int,
        severities: Iterable[object],
        error_category: str | None,
        ttft: float | None,
        duration: float | None,
        tps: float | None,
        gaps_s: Iterable[float] = (),
        gap_hist: Histogram | None = None,
        gaps_scale: float = 1.0,
    ) -> None:
        """Count one finished stream."""
        s = self._series(model)
        s.streams[outcome] = s.streams.get(outcome, 0) + 1
        s.tokens += tokens
        s.network_retries += network_retries
        s.model_retries += model_retries
        for severity in severities:
            label = (
                severity if isinstance(severity, str) and severity in KNOWN_SEVERITIES else OTHER
            )
            s.violations[label] = s.violations.get(label, 0) + 1
        if error_category is not None:
            label = error_category if error_category in KNOWN_CATEGORIES else OTHER
            s.errors[label] = s.errors.get(label, 0) + 1
        # Inlined Histogram.observe: this runs once per finished stream.
        if ttft is not None and 0.0 <= ttft < math.inf:
            h = s.ttft
            h.counts[bisect_left(h.bounds, ttft)] += 1
            h.total += ttft
            h.count += 1
        if duration is not None and 0.0 <= duration < math.inf:
            h = s.duration
            h.counts[bisect_left(h.bounds, duration)] += 1
            h.total += duration
            h.count += 1
        if tps is not None and 0.0 <= tps < math.inf:
            h = s.tps
            h.counts[bisect_left(h.bounds, tps)] += 1
            h.total += tps
            h.count += 1
        itl = s.itl
        if gaps_s:
            itl.observe_many(gaps_s, gaps_scale)
        if gap_hist is not None:
            itl.merge(gap_hist)

    def snapshot(self) -> SeriesSet:
        """Return a deep copy (taken under the owner's lock, rendered outside it)."""
        out = SeriesSet()
        out.by_model = copy.deepcopy(self.by_model)
        return out
