"""Low-cardinality Prometheus series: counters and fixed-bucket histograms per model.

Fed once per finished stream (by the Monitor, or from a list of records) and
rendered by :mod:`l0_monitoring.prometheus.text` and
:class:`~l0_monitoring.prometheus.MonitorCollector`.

* Label values are bounded: at most ``MAX_MODELS`` models (others become
  ``_other``), error categories and severities from known sets.
* Every series of a model exists from the moment the model is first seen (or
  declared up front with ``MetricsConfig.models``): each outcome, retry kind,
  error category and severity starts at 0, so ``rate()`` and ``increase()`` see
  the first increment (Prometheus instrumentation guidance: initialise every
  known label combination).
* Latency buckets are fine enough for ``histogram_quantile``. TTFT and stream
  duration have 25 bounds per decade (``10**(k/25)``, 4 significant digits), so
  neighbouring bounds are at most 1.097x apart: the quantile Prometheus
  estimates (the value below which a fraction q of the observations lie, i.e.
  the ``ceil(q*n)``-th smallest) and the estimate share a bucket, which bounds
  the error by 9.7% for any traffic, per model, whatever the sample size.
  Inter-token latency (many observations per stream) keeps 10 bounds per decade
  (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8; measured within 6% on the demo's
  traffic). The GenAI doubling buckets read +50% at p99.
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._internal.safe import clean_text

if TYPE_CHECKING:  # the file models import pydantic: loaded only to read series files
    from ._files import _HistogramData, _ModelData, _SetData

__all__ = [
    "DURATION_BUCKETS",
    "ITL_BUCKETS",
    "KNOWN_CATEGORIES",
    "KNOWN_SEVERITIES",
    "MAX_MODELS",
    "OTHER",
    "OUTCOMES",
    "RETRY_KINDS",
    "SECONDS_BUCKETS",
    "TPS_BUCKETS",
    "TTFT_BUCKETS",
    "UNKNOWN_MODEL",
    "Buckets",
    "Exemplar",
    "Histogram",
    "ModelSeries",
    "SeriesSet",
    "SeriesSnapshot",
    "current_trace_id",
    "new_uid",
]


def _decades(first: int, last: int, tail: Sequence[float] = ()) -> tuple[float, ...]:
    steps = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
    out = [float(f"{m * 10.0**e:.6g}") for e in range(first, last + 1) for m in steps]
    return (*out, *tail)


# GenAI semantic-convention bucket advice (kept for reference and for users who
# want the OpenTelemetry boundaries in Prometheus too; too coarse for quantiles).
SECONDS_BUCKETS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip


def _per_decade(low: float, high: float, per: int) -> tuple[float, ...]:
    """``10**(k/per)`` from the first at or below ``low`` to the first at or above ``high``."""
    first = math.floor(round(math.log10(low) * per, 9))
    last = math.ceil(round(math.log10(high) * per, 9))
    return tuple(float(f"{10.0 ** (k / per):.4g}") for k in range(first, last + 1))


# Time to first token: 10 ms to 63 s, 25 per decade (96 bounds).
TTFT_BUCKETS: tuple[float, ...] = _per_decade(0.01, 60, 25)
# Stream duration: 100 ms to 5 min, 25 per decade (88 bounds).
DURATION_BUCKETS: tuple[float, ...] = _per_decade(0.1, 300, 25)
# Gaps between tokens are far shorter than whole operations: 1 ms to 2.5 s (35 bounds).
ITL_BUCKETS: tuple[float, ...] = _decades(-3, -1, (1, 1.25, 1.5, 2, 2.5))
# Tokens per second: 1 to 2000 (18 bounds; 20, the seed's target, is one).
TPS_BUCKETS: tuple[float, ...] = (
    1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000, 2000,
)  # fmt: skip

MAX_MODELS = 100
OTHER = "_other"
UNKNOWN_MODEL = "unknown"
OUTCOMES = ("completed", "aborted", "failed", "abandoned")
RETRY_KINDS = ("model", "network")
KNOWN_CATEGORIES = frozenset(
    {
        "network", "transient", "model", "content", "provider", "fatal", "internal",
        "unknown", "timeout", "tool", "abort", "zero_output",
    }
)  # fmt: skip
KNOWN_SEVERITIES = frozenset({"debug", "info", "warning", "error", "fatal"})
# Label values exported for every model from the start; unknown values count under
# `_other`, which exists (at 0) from the start too, so rate() sees its first increment.
_CATEGORIES = (*sorted(KNOWN_CATEGORIES), OTHER)
_SEVERITIES = (*sorted(KNOWN_SEVERITIES), OTHER)


def current_trace_id() -> str | None:
    """Return the trace id (32 hex digits) of the current sampled OpenTelemetry span.

    The hook the Monitor calls once per stream, when it first sees the stream,
    to attach exemplars to that stream's latency buckets. It costs a dict lookup
    when OpenTelemetry was never imported (``sys.modules`` check: it never
    imports it), and about a microsecond otherwise. Returns None when no span is
    active, the span context is invalid, or the trace is not sampled (an
    exemplar should lead to a trace that exists).
    """
    trace = sys.modules.get("opentelemetry.trace")
    context = sys.modules.get("opentelemetry.context")
    if trace is None or context is None:
        return None
    try:
        if not context.get_current():
            return None  # an empty context holds no span: the common case, one call
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid or not ctx.trace_flags.sampled:
            return None
        return f"{ctx.trace_id:032x}"
    except Exception:  # a broken tracer never breaks the stream
        return None


@dataclass(frozen=True, slots=True)
class Exemplar:
    """The latest traced observation of one bucket: trace id, value and Unix time (s)."""

    trace_id: str
    value: float
    timestamp: float


@dataclass(frozen=True, slots=True)
class Buckets:
    """Upper bounds (``le``) of the four histograms, each strictly increasing and finite."""

    ttft: tuple[float, ...] = TTFT_BUCKETS
    duration: tuple[float, ...] = DURATION_BUCKETS
    itl: tuple[float, ...] = ITL_BUCKETS
    tps: tuple[float, ...] = TPS_BUCKETS

    @property
    def series_per_model(self) -> int:
        """Number of exported samples per model (counters + buckets + ``_sum``/``_count``)."""
        counters = len(OUTCOMES) + 1 + len(RETRY_KINDS) + len(_SEVERITIES) + len(_CATEGORIES)
        hists = sum(len(b) + 3 for b in (self.ttft, self.duration, self.itl, self.tps))
        return counters + hists


_INF = math.inf
DEFAULT_BUCKETS = Buckets()


def new_uid() -> int:
    """A fresh identity for a set's history: 128 random bits, unique across processes.

    Renderers cache a model's text under ``(uid, model, version)``; a per-process
    counter gave two workers' sets (or a parent's and a forked child's) the same
    uid, and one set was then rendered with the other's numbers.
    """
    return uuid.uuid4().int


class Histogram:
    """Histogram with fixed upper bounds (Prometheus ``le``), cumulative on render."""

    __slots__ = ("bounds", "count", "counts", "exemplars", "total")

    def __init__(self, bounds: tuple[float, ...], counts: list[int] | None = None) -> None:
        self.bounds = bounds
        self.counts = counts if counts is not None else [0] * (len(bounds) + 1)
        self.total = 0.0
        self.count = 0
        # One slot per bucket (with +Inf), allocated at the first traced observation.
        self.exemplars: list[Exemplar | None] | None = None

    def observe(self, value: float, trace_id: str | None = None) -> None:
        """Count one observation (NaN and negative values are ignored)."""
        if not 0.0 <= value < _INF:
            return
        i = bisect_left(self.bounds, value)
        self.counts[i] += 1
        self.total += value
        self.count += 1
        if trace_id is not None:
            self._exemplar(i, trace_id, value)

    def _exemplar(self, i: int, trace_id: str, value: float) -> None:
        if self.exemplars is None:
            self.exemplars = [None] * len(self.counts)
        self.exemplars[i] = Exemplar(trace_id, value, time.time())

    def observe_many(
        self, values: Iterable[float], scale: float = 1.0, trace_id: str | None = None
    ) -> None:
        """Count many observations at once (``value * scale`` each).

        One C-level sort and one bisect per bucket bound, instead of a bisect
        per value: this runs for every gap of a finished stream. With
        ``trace_id``, the largest value becomes its bucket's exemplar.
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
        if trace_id is not None:
            top = ordered[-1] * scale
            self._exemplar(bisect_left(self.bounds, top), trace_id, top)

    def merge(self, other: Histogram) -> None:
        """Add another histogram into this one.

        Same bounds: exact. Different bounds (a stream's early-folded gaps under
        custom ITL buckets): each source bucket's count goes to the bucket of
        its upper bound, an approximation documented on ``MetricsConfig``.
        """
        if other.bounds == self.bounds:
            for i, n in enumerate(other.counts):
                self.counts[i] += n
        else:
            for bound, n in zip((*other.bounds, math.inf), other.counts, strict=True):
                self.counts[bisect_left(self.bounds, bound)] += n
        self.total += other.total
        self.count += other.count
        if other.exemplars is not None and other.bounds == self.bounds:
            if self.exemplars is None:
                self.exemplars = [None] * len(self.counts)
            for i, ex in enumerate(other.exemplars):
                mine = self.exemplars[i]
                if ex is not None and (mine is None or ex.timestamp >= mine.timestamp):
                    self.exemplars[i] = ex

    def cumulative(self) -> list[tuple[float, int]]:
        """Return ``(le, cumulative count)`` pairs, ending with ``(+inf, count)``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def copy(self) -> Histogram:
        """Return an independent copy (lists copied, exemplars shared: they are frozen)."""
        h = Histogram.__new__(Histogram)  # no __init__: every slot is set here
        h.bounds = self.bounds
        h.counts = self.counts.copy()
        h.total = self.total
        h.count = self.count
        exemplars = self.exemplars
        h.exemplars = None if exemplars is None else exemplars.copy()
        return h

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (for the multi-process snapshot files)."""
        out: dict[str, Any] = {
            "bounds": list(self.bounds),
            "counts": self.counts,
            "sum": self.total,
            "count": self.count,
        }
        if self.exemplars is not None:
            out["exemplars"] = [
                None if e is None else [e.trace_id, e.value, e.timestamp] for e in self.exemplars
            ]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: The data is not a valid histogram (pydantic
                ``ValidationError``): bounds empty, not finite or not strictly
                increasing, counts negative or not one more than the bounds,
                ``count`` not their sum, a negative or non-finite sum.
        """
        from ._files import _HistogramData

        return cls._from(_HistogramData.model_validate(data))

    @classmethod
    def _from(cls, d: _HistogramData) -> Histogram:
        h = cls(tuple(d.bounds), list(d.counts))
        h.total = d.sum
        h.count = d.count
        if d.exemplars is not None:
            h.exemplars = [None if e is None else Exemplar(*e) for e in d.exemplars]
        return h


class ModelSeries:
    """Every series of one model label, all present (at 0) from creation."""

    __slots__ = (
        "duration",
        "errors",
        "itl",
        "model_retries",
        "network_retries",
        "streams",
        "tokens",
        "tps",
        "ttft",
        "version",
        "violations",
    )  # fmt: skip

    def __init__(self, buckets: Buckets = DEFAULT_BUCKETS) -> None:
        self.streams: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.tokens = 0
        self.network_retries = 0
        self.model_retries = 0
        self.violations: dict[str, int] = dict.fromkeys(_SEVERITIES, 0)
        self.errors: dict[str, int] = dict.fromkeys(_CATEGORIES, 0)
        self.ttft = Histogram(buckets.ttft)
        self.duration = Histogram(buckets.duration)
        self.tps = Histogram(buckets.tps)
        self.itl = Histogram(buckets.itl)
        # Bumped at every change; with the set's uid it lets renderers reuse the
        # text of a model that did not change since the last scrape.
        self.version = 0

    def copy(self) -> ModelSeries:
        """Return an independent copy (a few dict and list copies, no deep copy)."""
        out = ModelSeries.__new__(ModelSeries)
        out.streams = self.streams.copy()
        out.tokens = self.tokens
        out.network_retries = self.network_retries
        out.model_retries = self.model_retries
        out.violations = self.violations.copy()
        out.errors = self.errors.copy()
        out.ttft = self.ttft.copy()
        out.duration = self.duration.copy()
        out.tps = self.tps.copy()
        out.itl = self.itl.copy()
        out.version = self.version
        return out

    def merge(self, other: ModelSeries) -> None:
        """Add another model's series into this one (several processes, one model)."""
        for mine, theirs in ((self.streams, other.streams), (self.violations, other.violations),
                             (self.errors, other.errors)):  # fmt: skip
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        self.tokens += other.tokens
        self.network_retries += other.network_retries
        self.model_retries += other.model_retries
        self.ttft.merge(other.ttft)
        self.duration.merge(other.duration)
        self.tps.merge(other.tps)
        self.itl.merge(other.itl)
        self.version += 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (for the multi-process snapshot files)."""
        return {
            "streams": self.streams,
            "tokens": self.tokens,
            "network_retries": self.network_retries,
            "model_retries": self.model_retries,
            "violations": self.violations,
            "errors": self.errors,
            "ttft": self.ttft.to_dict(),
            "duration": self.duration.to_dict(),
            "tps": self.tps.to_dict(),
            "itl": self.itl.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSeries:
        """Inverse of :meth:`to_dict`; raises ValueError (pydantic) on invalid data."""
        from ._files import _ModelData

        return cls._from(_ModelData.model_validate(data))

    @classmethod
    def _from(cls, d: _ModelData) -> ModelSeries:
        out = cls.__new__(cls)
        out.streams = dict(d.streams)
        out.tokens = d.tokens
        out.network_retries = d.network_retries
        out.model_retries = d.model_retries
        out.violations = dict(d.violations)
        out.errors = dict(d.errors)
        out.ttft, out.duration, out.tps, out.itl = (
            Histogram._from(h) for h in (d.ttft, d.duration, d.tps, d.itl)
        )
        out.version = 0
        return out


class SeriesSet:
    """Series for every model seen, bounded to ``MAX_MODELS`` labels.

    Args:
        models: Models whose series exist (at 0) from the start, so not even
            a model's first stream is missed by ``rate()``.
        buckets: Histogram bounds (defaults: :data:`DEFAULT_BUCKETS`).
    """

    __slots__ = ("buckets", "by_model", "files", "uid")

    def __init__(self, models: Iterable[str] = (), buckets: Buckets | None = None) -> None:
        self.buckets = buckets if buckets is not None else DEFAULT_BUCKETS
        # Identifies this set's history (kept by snapshots): renderers cache a
        # model's text under (uid, model, version). None: never cached.
        self.uid: int | None = new_uid()
        self.by_model: dict[str, ModelSeries] = {}
        # (files read, files skipped) when merged from a fleet's directory.
        self.files: tuple[int, int] | None = None
        for model in models:
            self._series(model)

    def _series(self, model: str | None) -> ModelSeries:
        key = clean_text(model) if model else UNKNOWN_MODEL  # a label value: valid UTF-8
        series = self.by_model.get(key)
        if series is None:
            series = self.by_model.get(OTHER) if self._full() else None
            if series is None:
                series = self.by_model[key] = ModelSeries(self.buckets)
                if self._full() and OTHER not in self.by_model:
                    # The cap is reached: `_other` exists from now on, at 0, before
                    # the first model it will hold (rate() must see that increment).
                    self.by_model[OTHER] = ModelSeries(self.buckets)
        return series

    def _full(self) -> bool:
        """True when ``MAX_MODELS`` named models (besides ``_other``) have series."""
        return len(self.by_model) - (OTHER in self.by_model) >= MAX_MODELS

    def observe(
        self,
        model: str | None,
        outcome: str,
        tokens: int,
        network_retries: int,
        model_retries: int,
        severities: Iterable[object] | Mapping[Any, int],
        error_category: str | None,
        ttft: float | None,
        duration: float | None,
        tps: float | None,
        gaps_s: Iterable[float] = (),
        gap_hist: Histogram | None = None,
        gaps_scale: float = 1.0,
        trace_id: str | None = None,
    ) -> None:
        """Count one finished stream.

        ``severities``: the stream's violation severities, one per violation, or
        a mapping of severity to count (the Monitor's facts: every distinct
        violation, beyond the 100 a record lists).

        ``trace_id`` (from :func:`current_trace_id` at the stream's start)
        becomes the exemplar of the TTFT, duration and largest-gap buckets.
        """
        s = self._series(model)
        s.version += 1
        streams = s.streams
        streams[outcome] = streams.get(outcome, 0) + 1
        s.tokens += tokens
        s.network_retries += network_retries
        s.model_retries += model_retries
        if severities:
            counted = severities.items() if isinstance(severities, Mapping) else _ones(severities)
            for severity, n in counted:
                label = (
                    severity
                    if isinstance(severity, str) and severity in KNOWN_SEVERITIES
                    else OTHER
                )
                s.violations[label] = s.violations.get(label, 0) + n
        if error_category is not None:
            label = error_category if error_category in KNOWN_CATEGORIES else OTHER
            s.errors[label] = s.errors.get(label, 0) + 1
        # Once per finished stream: Histogram.observe ignores NaN, negatives and inf.
        if ttft is not None:
            s.ttft.observe(ttft, trace_id)
        if duration is not None:
            s.duration.observe(duration, trace_id)
        if tps is not None:
            s.tps.observe(tps)
        itl = s.itl
        if gaps_s:
            itl.observe_many(gaps_s, gaps_scale, trace_id)
        if gap_hist is not None:
            itl.merge(gap_hist)

    def merge(self, other: SeriesSet) -> None:
        """Add another set (another process's series) into this one, model by model.

        The result is not cached by renderers (its uid becomes None): it is
        typically rebuilt from files at every scrape.
        """
        self.uid = None
        for model, theirs in other.by_model.items():
            mine = self.by_model.get(model)
            if mine is None:
                # The cap holds for the merged set too (N workers must not give
                # N x 100 models): a model beyond it counts under `_other`.
                mine = self.by_model.get(OTHER) if self._full() and model != OTHER else None
                if mine is None:
                    self.by_model[model] = theirs.copy()
                    if self._full() and OTHER not in self.by_model:
                        self.by_model[OTHER] = ModelSeries(self.buckets)
                    continue
            mine.merge(theirs)

    def snapshot(self) -> SeriesSet:
        """Return an independent copy (taken under the owner's lock, rendered outside it).

        Structural copy of counts only (no ``copy.deepcopy``): about 0.3 ms at
        100 models.
        """
        out = SeriesSnapshot.__new__(SeriesSnapshot)
        out.buckets = self.buckets
        out.uid = self.uid
        out.files = self.files
        out.by_model = {model: s.copy() for model, s in self.by_model.items()}
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``{"models": {model: series}}``."""
        return {"models": {m: s.to_dict() for m, s in self.by_model.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeriesSet:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: The data does not have the shape :meth:`to_dict` writes
                (a pydantic ``ValidationError`` naming the bad field).
        """
        from ._files import _SetData

        return cls._from(_SetData.model_validate(data))

    @classmethod
    def from_json(cls, text: str | bytes) -> SeriesSet:
        """Parse and validate the JSON of :meth:`to_dict` (a worker's series file).

        Raises:
            ValueError: Invalid JSON, or data of another shape (pydantic
                ``ValidationError``).
        """
        from ._files import _SetData

        return cls._from(_SetData.model_validate_json(text))

    @classmethod
    def _from(cls, d: _SetData) -> SeriesSet:
        out = cls()
        out.uid = None
        out.by_model = {m: ModelSeries._from(s) for m, s in d.models.items()}
        return out


class SeriesSnapshot(SeriesSet):
    """A copy of a set at one moment (:meth:`SeriesSet.snapshot`), sharing its uid.

    The shared uid lets a renderer reuse the text of a model whose version did
    not change since the last scrape. A snapshot that is changed (``observe``,
    ``merge``) no longer shows its owner's history at that version, so it drops
    the uid first: it is then never served, nor served from, cached text.
    """

    __slots__ = ()

    def observe(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`SeriesSet.observe`, after dropping the shared uid."""
        self.uid = None
        super().observe(*args, **kwargs)


def _ones(severities: Iterable[object]) -> Iterable[tuple[object, int]]:
    return ((severity, 1) for severity in severities)
