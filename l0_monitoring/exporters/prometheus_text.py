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
=========================================  =========  ===========================

Buckets: TTFT and duration use the GenAI semantic-convention advice
(0.01 s doubling to 81.92 s); inter-token latency 0.001 s to 2.56 s; tokens per
second 1 to 2000.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from .._internal.safe import clean_text, safe_repr
from .._internal.series import Histogram, ModelSeries, SeriesSet

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


def render(
    series: SeriesSet, prefix: str = "l0", labels: Mapping[str, object] | None = None
) -> str:
    """Render ``series`` as Prometheus text format 0.0.4 (deterministic order)."""
    check_metric_name(prefix)
    const = check_labels(labels)
    if "model" in const:
        raise ValueError("the 'model' label is set per series; choose another constant label")
    models = sorted(series.by_model.items())
    out: list[str] = []
    for fam in COUNTERS:
        name = f"{prefix}_{fam.suffix}"
        out.append(f"# HELP {name} {fam.help}")
        out.append(f"# TYPE {name} counter")
        for model, s in models:
            for label, value in fam.samples(s):
                pairs = {**const, "model": model}
                if fam.label is not None and label is not None:
                    pairs[fam.label] = label
                out.append(f"{name}{_labels(pairs)} {value}")
    for hfam in HISTOGRAMS:
        name = f"{prefix}_{hfam.suffix}"
        out.append(f"# HELP {name} {hfam.help}")
        out.append(f"# TYPE {name} histogram")
        for model, s in models:
            h = hfam.histogram(s)
            base = {**const, "model": model}
            for bound, cum in h.cumulative():
                le = "+Inf" if math.isinf(bound) else repr(float(bound))
                out.append(f"{name}_bucket{_labels({**base, 'le': le})} {cum}")
            out.append(f"{name}_sum{_labels(base)} {format_value(h.total)}")
            out.append(f"{name}_count{_labels(base)} {h.count}")
    return "\n".join(out) + "\n"
