"""Prometheus text exposition (format 0.0.4) of the per-model series.

Metric families (``l0`` prefix by default; base units, counters end in
``_total``; the only labels are ``model`` and one low-cardinality dimension):

=========================================  =========  ===========================
name                                        type       labels
=========================================  =========  ===========================
``l0_streams_total``                        counter    model, outcome
``l0_tokens_total``                         counter    model
``l0_retries_total``                        counter    model, kind (network/model)
``l0_guardrail_violations_total``           counter    model, severity
``l0_errors_total``                         counter    model, category
``l0_time_to_first_token_seconds``          histogram  model
``l0_stream_duration_seconds``              histogram  model
``l0_tokens_per_second``                    histogram  model
``l0_inter_token_latency_seconds``          histogram  model
``l0_series_files`` (merged fleets only)    gauge      state (read/skipped)
=========================================  =========  ===========================

Buckets (:mod:`l0_monitoring.prometheus.series`, configurable through
``MetricsConfig``): TTFT 0.01-63 s and duration 0.1-302 s with 25 bounds per
decade, inter-token latency 0.001-2.5 s with 10; tokens per second 1 to 2000. Every series of a
model is present (at 0) from the model's first stream.

Rendering is cached: the label part of every line (``name{labels} ``) is
escaped and joined once per model and family and reused at every scrape, so a
scrape formats only the numbers, and of a histogram only those between its
first and last observed buckets (the runs of 0 below and of the count above are
one ``str.join`` each). A model's blocks are reused while its version holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate, compress
from operator import itemgetter
from typing import Any

from .._internal.safe import clean_text, safe_repr
from .series import MAX_MODELS, Exemplar, Histogram, ModelSeries, SeriesSet

__all__ = [
    "COUNTERS",
    "FILES_HELP",
    "HISTOGRAMS",
    "CounterFamily",
    "HistogramFamily",
    "check_labels",
    "check_metric_name",
    "escape_label_value",
    "format_value",
    "render",
    "render_openmetrics",
]

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check_metric_name(name: str) -> str:
    """Return ``name`` if it is a valid Prometheus metric name, else raise ValueError."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"invalid Prometheus metric name or prefix: {safe_repr(name)}")
    return name


def check_labels(labels: Mapping[str, object] | None) -> dict[str, str]:
    """Validate label names (``[a-zA-Z_][a-zA-Z0-9_]*``, not ``__`` reserved) and stringify."""
    out: dict[str, str] = {}
    for key, value in (labels or {}).items():
        if not isinstance(key, str) or not _LABEL_RE.match(key) or key.startswith("__"):
            raise ValueError(f"invalid Prometheus label name: {safe_repr(key)}")
        out[key] = clean_text(str(value))  # valid UTF-8: a scrape is encoded whole
    return out


def escape_label_value(value: str) -> str:
    """Escape a label value: backslash, double quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """Render a sample value (``+Inf``, ``-Inf``, ``NaN`` spelled as Prometheus expects)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(pairs: Mapping[str, str]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(pairs.items()))
    return "{" + inner + "}"


@dataclass(frozen=True, slots=True)
class CounterFamily:
    """A counter family: suffix, help, label name and how to read (label, value) pairs."""

    suffix: str
    help: str
    label: str | None
    samples: Callable[[ModelSeries], Iterator[tuple[str | None, int]]]


@dataclass(frozen=True, slots=True)
class HistogramFamily:
    """A histogram family: suffix, help and the histogram it reads."""

    suffix: str
    help: str
    histogram: Callable[[ModelSeries], Histogram]


def _dict_items(d: dict[str, int]) -> Iterator[tuple[str | None, int]]:
    yield from sorted(d.items())


COUNTERS: tuple[CounterFamily, ...] = (
    CounterFamily("streams_total", "Streams finished, by outcome.", "outcome",
                  lambda s: _dict_items(s.streams)),
    CounterFamily("tokens_total", "Output tokens of finished streams (final attempts).", None,
                  lambda s: iter([(None, s.tokens)])),
    CounterFamily("retries_total", "Retries, by kind of error retried.", "kind",
                  lambda s: iter([("model", s.model_retries), ("network", s.network_retries)])),
    CounterFamily("guardrail_violations_total", "Distinct guardrail violations, by severity.",
                  "severity", lambda s: _dict_items(s.violations)),
    CounterFamily("errors_total", "Streams that saw an error, by category of the last error.",
                  "category", lambda s: _dict_items(s.errors)),
)  # fmt: skip
HISTOGRAMS: tuple[HistogramFamily, ...] = (
    HistogramFamily("time_to_first_token_seconds", "Time to first token.", lambda s: s.ttft),
    HistogramFamily("stream_duration_seconds", "Stream duration, start to terminal event.",
                    lambda s: s.duration),
    HistogramFamily("tokens_per_second", "Generation rate once tokens flow.", lambda s: s.tps),
    HistogramFamily("inter_token_latency_seconds", "Gap between consecutive tokens.",
                    lambda s: s.itl),
)  # fmt: skip


FILES_HELP = "Worker series files merged at this scrape: read, or skipped as unreadable/invalid."

_CACHE_LIMIT = 16  # distinct (prefix, constant labels, format) combinations kept


class _HistLines:
    """The fixed text of one model's histogram block, built once per bounds.

    A scrape then writes the numbers only (see :meth:`_Renderer._hist_text`).
    """

    __slots__ = ("bounds", "buckets", "exemplars", "offsets", "tail", "template")

    def __init__(self, bounds: tuple[float, ...], buckets: list[str], tail: str) -> None:
        self.bounds = bounds
        # ``name_bucket{labels,le="x"} `` per bucket, +Inf last.
        self.buckets = buckets
        # The bucket lines as one %-template (``%d`` per count, each line ending
        # in a newline) and where each line starts in it, so any run of lines
        # is one slice of it.
        lines = [_pct(b) + "%d\n" for b in buckets]
        self.template = "".join(lines)
        self.offsets = [0, *accumulate(map(len, lines))]
        # ``name_sum{labels} %s\nname_count{labels} %d\n``
        self.tail = tail
        # Per bucket: (the exemplar, its OpenMetrics text) last written.
        self.exemplars: list[tuple[Exemplar, str] | None] | None = None


class _Templates:
    """Everything rendered for one model: label parts built once, blocks reused.

    A block is every sample line of one family for one model (newline-ended).
    """

    __slots__ = ("blocks", "counters", "hists", "last")

    def __init__(self) -> None:
        # (set uid, model version, the block of every family: counters, then histograms)
        self.blocks: tuple[int, int, tuple[str, ...]] | None = None
        # counter family index -> {label values in the series' order: (template, order)}
        self.counters: list[dict[tuple[str | None, ...], tuple[str, Callable[..., Any]]]] = [
            {} for _ in COUNTERS
        ]
        # histogram family index -> the block's fixed text
        self.hists: list[_HistLines | None] = [None for _ in HISTOGRAMS]
        # family index -> (label values or bounds and counts, numbers or exemplars, text)
        self.last: list[tuple[Any, Any, str] | None] = [None] * (len(COUNTERS) + len(HISTOGRAMS))


def _pct(text: str) -> str:
    return text.replace("%", "%%")


def _values(d: dict[str, int]) -> tuple[tuple[str | None, ...], Any]:
    return tuple(d), d


# How each counter family's (labels, values) are read, without a generator per
# model: a dict (labelled by its keys, in the series' own order; rendered in
# sorted order, as ``COUNTERS[i].samples`` yields them) or a tuple of values
# already in label order.
_COUNTER_READS: tuple[Callable[[ModelSeries], tuple[tuple[str | None, ...], Any]], ...] = (
    lambda s: _values(s.streams),
    lambda s: ((None,), (s.tokens,)),
    lambda s: (("model", "network"), (s.model_retries, s.network_retries)),
    lambda s: _values(s.violations),
    lambda s: _values(s.errors),
)


class _Renderer:
    """Renders series for one prefix, constant label set and format."""

    __slots__ = ("const", "models", "openmetrics", "prefix")

    def __init__(self, prefix: str, const: dict[str, str], openmetrics: bool) -> None:
        self.prefix = prefix
        self.const = const
        self.openmetrics = openmetrics
        self.models: dict[str, _Templates] = {}

    def _model(self, model: str) -> _Templates:
        p = self.models.get(model)
        if p is None:
            if len(self.models) >= 8 * MAX_MODELS:  # bounded, whatever the caller feeds
                self.models.clear()
            p = self.models[model] = _Templates()
        return p

    def _counter_template(
        self, p: _Templates, i: int, model: str, labels: tuple[str | None, ...], values: Any
    ) -> tuple[str, Callable[..., Any]]:
        fam = COUNTERS[i]
        if isinstance(values, dict):  # labelled by the keys: sorted, as fam.samples yields
            ordered: list[str | None] = sorted(values)
            order: Callable[..., Any] = (
                itemgetter(*ordered) if len(ordered) > 1 else lambda d: (d[ordered[0]],)
            )
        else:  # already a tuple in label order
            ordered, order = list(labels), tuple
        lines = []
        for label in ordered:
            pairs = {**self.const, "model": model}
            if fam.label is not None and label is not None:
                pairs[fam.label] = label
            lines.append(_pct(f"{self.prefix}_{fam.suffix}{_labels(pairs)} ") + "%d\n")
        made = p.counters[i][labels] = ("".join(lines), order)
        return made

    def _hist_lines(
        self, p: _Templates, i: int, model: str, bounds: tuple[float, ...]
    ) -> _HistLines:
        cached = p.hists[i]
        if cached is not None and cached.bounds == bounds:
            return cached
        name = f"{self.prefix}_{HISTOGRAMS[i].suffix}"
        base = {**self.const, "model": model}
        buckets = [
            f"{name}_bucket{_labels({**base, 'le': _le(bound)})} " for bound in (*bounds, math.inf)
        ]
        tail = _pct(f"{name}_sum{_labels(base)} ") + "%s\n"
        tail += _pct(f"{name}_count{_labels(base)} ") + "%d\n"
        made = p.hists[i] = _HistLines(bounds, buckets, tail)
        return made

    def _hist_text(self, lines: _HistLines, h: Histogram) -> str:
        """One histogram block: bucket lines, ``_sum``, ``_count``.

        Cumulative counts are flat where no observation falls: the lines
        before the first observed bucket all read 0 and those from the last
        one on all read the count. Those runs are written with one C-level
        ``str.join`` each (the number is the separator); only the lines in
        between are %-formatted, from a slice of the block's template.
        """
        counts = h.counts
        buckets = lines.buckets
        parts: list[str] = []
        if not any(counts):
            parts += ("0\n".join(buckets), "0\n")
        else:
            # First and last non-zero counts, found in C (filter, list.index).
            first = counts.index(next(filter(None, counts)))
            backwards = counts[::-1]
            last = len(counts) - 1 - backwards.index(next(filter(None, backwards)))
            if first:  # lines [0, first) read 0
                parts += ("0\n".join(buckets[:first]), "0\n")
            total = counts[last]
            if first < last:
                cum = tuple(accumulate(counts[first:last]))
                offsets = lines.offsets
                parts.append(lines.template[offsets[first] : offsets[last]] % cum)
                total += cum[-1]
            sep = f"{total}\n"  # lines [last, end) read the count
            parts += (sep.join(buckets[last:]), sep)
        exemplars = h.exemplars
        if self.openmetrics and exemplars is not None:
            # The few buckets with an exemplar get it before their newline (a
            # label value never holds a raw newline: split("\n") cuts at line ends).
            split = "".join(parts).split("\n")
            # An exemplar stays until its bucket sees a newer traced stream: its
            # text is kept with it (the same frozen object, held here, so `is`).
            kept = lines.exemplars
            if kept is None or len(kept) != len(exemplars):
                kept = lines.exemplars = [None] * len(exemplars)
            for k, ex in zip(compress(range(len(exemplars)), exemplars),
                             filter(None, exemplars), strict=True):  # fmt: skip
                hit = kept[k]
                if hit is None or hit[0] is not ex:
                    hit = kept[k] = (ex, _exemplar(ex))
                split[k] += hit[1]
            parts = ["\n".join(split)]
        total_sum = h.total
        if type(total_sum) is float and total_sum - total_sum == 0:  # finite: the usual case
            parts.append(lines.tail % (repr(total_sum), h.count))
        else:
            parts.append(lines.tail % (format_value(total_sum), h.count))
        return "".join(parts)

    def _blocks(
        self, p: _Templates, model: str, s: ModelSeries, by_numbers: bool
    ) -> tuple[str, ...]:
        """The model's block of every family (counters, then histograms).

        A counter block whose numbers did not change (a model that finished a
        stream without an error keeps its error counts) is reused: its text is
        kept with the numbers it was written from, which alone determine it.
        Histogram blocks are reused that way only with ``by_numbers`` (sets
        without a uid, merged from files at every scrape): a Monitor's changed
        model nearly always has new observations, and comparing ~100 counts
        per histogram would only add to the scrape.
        """
        last = p.last
        blocks = []
        for i, read in enumerate(_COUNTER_READS):
            labels, values = read(s)
            made = p.counters[i].get(labels) or self._counter_template(p, i, model, labels, values)
            numbers = made[1](values)
            kept = last[i]
            if kept is not None and kept[0] == labels and kept[1] == numbers:
                blocks.append(kept[2])
                continue
            text = made[0] % numbers
            last[i] = (labels, numbers, text)
            blocks.append(text)
        om = self.openmetrics
        for i, hfam in enumerate(HISTOGRAMS, start=len(COUNTERS)):
            h = hfam.histogram(s)
            if by_numbers:
                key = (h.bounds, tuple(h.counts), h.total, h.count)
                exemplars = tuple(h.exemplars) if om and h.exemplars is not None else None
                kept = last[i]
                if kept is not None and kept[0] == key and kept[1] == exemplars:
                    blocks.append(kept[2])
                    continue
                text = self._hist_text(self._hist_lines(p, i - len(COUNTERS), model, h.bounds), h)
                last[i] = (key, exemplars, text)
            else:
                text = self._hist_text(self._hist_lines(p, i - len(COUNTERS), model, h.bounds), h)
            blocks.append(text)
        return tuple(blocks)

    def render(self, series: SeriesSet) -> str:
        uid = series.uid
        rendered = []
        for model, s in sorted(series.by_model.items()):
            p = self._model(model)
            hit = p.blocks
            if uid is not None and hit is not None and hit[0] == uid and hit[1] == s.version:
                rendered.append(hit[2])  # the model did not change since the last scrape
                continue
            blocks = self._blocks(p, model, s, uid is None)
            # Cached under the set's uid: a snapshot of another Monitor with the
            # same model and version is never served this text (None: never).
            p.blocks = None if uid is None else (uid, s.version, blocks)
            rendered.append(blocks)
        out: list[str] = []
        om = self.openmetrics
        for i, fam in enumerate(COUNTERS):
            name = f"{self.prefix}_{fam.suffix}"
            family = name.removesuffix("_total") if om else name
            out.append(f"# HELP {family} {fam.help}\n# TYPE {family} counter\n")
            out.extend(map(itemgetter(i), rendered))
        for i, hfam in enumerate(HISTOGRAMS, start=len(COUNTERS)):
            name = f"{self.prefix}_{hfam.suffix}"
            out.append(f"# HELP {name} {hfam.help}\n# TYPE {name} histogram\n")
            out.extend(map(itemgetter(i), rendered))
        if series.files is not None:
            name = f"{self.prefix}_series_files"
            out.append(f"# HELP {name} {FILES_HELP}\n# TYPE {name} gauge\n")
            for state, n in zip(("read", "skipped"), series.files, strict=True):
                out.append(f"{name}{_labels({**self.const, 'state': state})} {n}\n")
        if om:
            out.append("# EOF\n")
        # One allocation of the whole text (a second copy of ~2 MB at 100
        # models, freed at once, made glibc return and re-fault it every scrape).
        return "".join(out)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _exemplar(ex: Exemplar) -> str:
    return f' # {{trace_id="{ex.trace_id}"}} {format_value(ex.value)} {ex.timestamp:.3f}'


_RENDERERS: dict[tuple[str, tuple[tuple[str, str], ...], bool], _Renderer] = {}


def _renderer(prefix: str, labels: Mapping[str, object] | None, openmetrics: bool) -> _Renderer:
    check_metric_name(prefix)
    const = check_labels(labels)
    if "model" in const:
        raise ValueError("the 'model' label is set per series; choose another constant label")
    key = (prefix, tuple(sorted(const.items())), openmetrics)
    r = _RENDERERS.get(key)
    if r is None:
        if len(_RENDERERS) >= _CACHE_LIMIT:
            _RENDERERS.clear()
        r = _RENDERERS[key] = _Renderer(prefix, const, openmetrics)
    return r


def render(
    series: SeriesSet, prefix: str = "l0", labels: Mapping[str, object] | None = None
) -> str:
    """Render ``series`` as Prometheus text format 0.0.4 (deterministic order).

    Args:
        series: The per-model series.
        prefix: Metric name prefix.
        labels: Constant labels added to every series (not ``model``).

    Returns:
        The exposition, newline-terminated.

    Raises:
        ValueError: On an invalid prefix or label name, or a ``model`` label.
    """
    return _renderer(prefix, labels, False).render(series)


def render_openmetrics(
    series: SeriesSet, prefix: str = "l0", labels: Mapping[str, object] | None = None
) -> str:
    """Render ``series`` as OpenMetrics text 1.0.0, with exemplars, ending in ``# EOF``.

    Latency buckets that saw a traced stream carry
    ``# {trace_id="<32 hex>"} <value> <unix time>``. Serve it with the content
    type ``application/openmetrics-text; version=1.0.0; charset=utf-8``.

    Args:
        series: The per-model series.
        prefix: Metric name prefix.
        labels: Constant labels added to every series (not ``model``).

    Returns:
        The exposition.

    Raises:
        ValueError: On an invalid prefix or label name, or a ``model`` label.
    """
    return _renderer(prefix, labels, True).render(series)
