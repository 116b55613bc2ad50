"""A self-contained HTML report from telemetry records, and the CLI's text tables.

The plots are drawn by matplotlib (the ``report`` extra) as inline SVG: the page
needs no network, no script and no other file.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .telemetry import Telemetry

__all__ = [
    "OKABE_ITO",
    "SECTIONS",
    "ModelSummary",
    "SloRow",
    "SummaryBuilder",
    "render_html",
    "slo_rows",
    "streams_note",
    "summarize",
    "text_histogram",
]


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class ModelSummary:
    """Per-model figures for the CLI table and the HTML report, built incrementally."""

    def __init__(self, model: str, records: Iterable[Telemetry] = (), metrics: Any = None) -> None:
        self.model = model
        # False when the Monitor did not collect retries: shown "-", not "0".
        self.retries_collected = metrics is None or bool(metrics.collect_retries)
        self.streams = self.errors = self.failed = self.aborted = 0
        self.retries = self.violations = 0
        self.ttft: list[float] = []
        self.tps: list[float] = []
        self.duration: list[float] = []
        for t in records:
            self.add(t)

    def add(self, t: Telemetry) -> None:
        """Count one record (keeps three floats, not the record)."""
        self.streams += 1
        self.errors += t.error.occurred
        self.failed += t.outcome == "failed"
        self.aborted += t.aborted
        self.retries += t.retries.total_retries
        self.violations += t.guardrails.total
        if t.metrics.time_to_first_token is not None:
            self.ttft.append(t.metrics.time_to_first_token)
        if t.metrics.tokens_per_second is not None:
            self.tps.append(t.metrics.tokens_per_second)
        if t.timing.duration is not None:
            self.duration.append(t.timing.duration)

    @property
    def error_rate(self) -> float:
        """Share of streams that saw an error."""
        return self.errors / self.streams if self.streams else 0.0

    def row(self) -> list[str]:
        """Cells for the text table."""

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v * 1000:.0f}"

        tps = quantile(self.tps, 0.5)
        return [
            self.model, str(self.streams), f"{self.error_rate:.1%}", str(self.failed),
            str(self.retries) if self.retries_collected else "-", ms(quantile(self.ttft, 0.5)),
            ms(quantile(self.ttft, 0.9)), ms(quantile(self.ttft, 0.99)),
            "-" if tps is None else f"{tps:.1f}",
        ]  # fmt: skip


TABLE_HEADER = ["model", "streams", "error rate", "failed", "retries", "TTFT p50 ms",
                "p90 ms", "p99 ms", "tok/s p50"]  # fmt: skip


class SummaryBuilder:
    """Accumulates per-model summaries from records as they arrive."""

    def __init__(self, metrics: Any = None) -> None:
        """``metrics``: the ``MetricsConfig`` the records come from, when known."""
        self.metrics = metrics
        self.by_model: dict[str, ModelSummary] = {}
        self.all = ModelSummary("all", metrics=metrics)

    def add(self, t: Telemetry) -> None:
        """Count one record."""
        model = t.model or "unknown"
        summary = self.by_model.get(model)
        if summary is None:
            summary = self.by_model[model] = ModelSummary(model, metrics=self.metrics)
        summary.add(t)
        self.all.add(t)

    def summaries(self) -> list[ModelSummary]:
        """Per-model summaries sorted by model, plus ``all`` when there are several."""
        out = [self.by_model[m] for m in sorted(self.by_model)]
        return [*out, self.all] if len(out) > 1 else out


def summarize(records: Iterable[Telemetry], metrics: Any = None) -> list[ModelSummary]:
    """Group records by model (``unknown`` when missing), plus an ``all`` row."""
    builder = SummaryBuilder(metrics)
    for t in records:
        builder.add(t)
    return builder.summaries()


def format_table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table with right-aligned numbers."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, r in enumerate([header, *rows]):
        cells = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def text_histogram(values: Sequence[float], bins: int = 10, width: int = 40,
                   unit: str = "s") -> str:  # fmt: skip
    """A small text histogram (one line per bin)."""
    if not values:
        return "(no values)"
    lo, hi = min(values), max(values)
    if lo == hi:  # one value (or all equal): one bar, not a row of empty bins
        return f"{lo:8.3f}{unit} | {'#' * width} {len(values)}"
    # No more bins than distinct values: a few streams do not draw rows of zeros.
    bins = max(1, min(bins, len(set(values))))
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / span * bins))] += 1
    top = max(counts)
    lines = []
    for i, c in enumerate(counts):
        left = lo + span * i / bins
        bar = "#" * round(c / top * width) if top else ""
        lines.append(f"{left:8.3f}{unit} | {bar} {c}")
    return "\n".join(lines)


def streams_note(total: int | None, kept: int) -> str:
    """``"50 streams, 14 kept by sampling"``, or ``"50 streams"`` when nothing was dropped.

    Args:
        total: Streams that finished, sampled or not (None when unknown).
        kept: Records present (kept by sampling).
    """
    if total is None or total == kept:
        return f"{kept} stream" + ("" if kept == 1 else "s")
    return f"{total} stream{'' if total == 1 else 's'}, {kept} kept by sampling"


# -- service-level objectives -------------------------------------------------------------
# The targets and their definitions are l0_monitoring.prometheus.slo's (SLOConfig):
# the report, `l0-monitoring check`, the alerting rules and the dashboard agree.

_MEASURED_AS = {
    "TimeToFirstToken": "p{q} of streams' TTFT",
    "TokensPerSecond": "p{q} of streams' tokens/s",
    "ErrorRate": "failed + abandoned streams / streams",
    "RetryRate": "retries / streams",
    "GuardrailViolationRate": "violations / streams",
}


@dataclass(frozen=True)
class SloRow:
    """One row of the report's SLO table.

    Attributes:
        result: The evaluation (``l0_monitoring.prometheus.slo.SLOResult``).
        measured_as: How streams are summarised (``"p90 of streams' TTFT"``).
        source: Where the value comes from: ``""`` (every stream), ``"all N
            streams"`` (the Monitor's aggregates) or ``"kept records"`` (a
            sampled subset: biased).
    """

    result: Any
    measured_as: str
    source: str

    @property
    def verdict(self) -> str:
        """``met``, ``missed``, ``not collected`` or ``no data``."""
        r = self.result
        if r.passed is None:
            return "no data" if r.collected else "not collected"
        return "met" if r.passed else "missed"


def slo_rows(
    records: Sequence[Telemetry],
    total: int | None = None,
    aggregates: Mapping[str, Any] | None = None,
    slo: Any = None,
    metrics: Any = None,
) -> list[SloRow]:
    """Evaluate the SLO targets for the report, with ``check``'s definitions.

    When sampling dropped streams, a value the Monitor's aggregates (every
    stream) hold is taken from them, as ``check aggregates.json`` does; the
    others from the records, marked ``kept records``. Unsampled records give
    every value, exactly as ``check telemetry.jsonl`` does.

    Args:
        records: The telemetry records shown.
        total: Streams that finished, sampled or not (None when unknown).
        aggregates: ``Monitor.get_aggregate_metrics()``, when known.
        slo: An ``SLOConfig`` (default: ``SLOConfig.load()``: defaults, file, ``L0_SLO_*``).
        metrics: The ``MetricsConfig`` the records were collected with, when known.

    Returns:
        One row per target, in the order of ``SLOConfig``'s targets.
    """
    from .prometheus.slo import SLOConfig, evaluate_aggregates, evaluate_records

    slo = slo if slo is not None else SLOConfig.load()
    sampled = total is not None and total != len(records)
    from_records = evaluate_records(records, slo, metrics)
    # Aggregates only stand in for a sampled subset: over every stream the records
    # give exact quantiles, the same figures as `check` on the same file.
    from_agg = (evaluate_aggregates(aggregates, slo, metrics)
                if aggregates is not None and sampled else None)  # fmt: skip
    rows = []
    for k, measured in enumerate(from_records):
        r, source = measured, "kept records" if sampled else ""
        if from_agg is not None and from_agg[k].value is not None:
            r = from_agg[k]
            source = f"all {aggregates.get('count', '')} streams" if aggregates else ""
        q = slo.ttft_quantile if r.key == "TimeToFirstToken" else slo.tokens_per_second_quantile
        from .prometheus.slo import format_number

        how = _MEASURED_AS.get(r.key, "").format(q=format_number(q * 100))
        rows.append(SloRow(r, how, source if r.value is not None else ""))
    return rows


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("%", "ratio"):
        return f"{value:.1%}" if value == 0 or value >= 0.001 else f"{value:.3%}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.1f} {unit}"


def _target_text(r: Any) -> str:
    from .prometheus.slo import format_number, format_percent

    shown = format_percent(r.target) if r.unit == "ratio" else f"{format_number(r.target)} {r.unit}"
    return f"{r.direction} {shown}"


@dataclass(frozen=True)
class _Line:
    """A target drawn on a plot."""

    value: float
    label: str


# -- plots (matplotlib, inline SVG) -------------------------------------------------------

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common
# colour-vision deficiency. Each series also gets its own line style and marker.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442",
             "#000000")  # fmt: skip
_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_SLO_COLOR = "#444444"
_MAX_POINTS = 400  # per ECDF line: the page stays small for 100 000 streams


def _figure(width: float = 6.4, height: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Any, n: int) -> str:
    """The figure as an inline <svg> that scales with its container; ids made unique."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "l0-monitoring",
                                "font.size": 11}):  # fmt: skip
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    # Keep the viewBox, drop the fixed size: CSS sets the width, the height follows.
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="plot"', text,
                  count=1)  # fmt: skip
    # Several figures share one page: prefix every id and reference to it.
    return re.sub(r'(id="|url\(#|href="#)', rf"\1f{n}-", text)


def _style(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _slo_line(ax: Any, line: _Line, vertical: bool) -> None:
    style = {"color": _SLO_COLOR, "linestyle": (0, (6, 3)), "linewidth": 1.4, "label": line.label}
    if vertical:
        ax.axvline(line.value, **style)
    else:
        ax.axhline(line.value, **style)


def _legend_below(ax: Any, ncols: int = 2) -> None:
    """The legend under the axes, where it hides no data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=ncols, fontsize=10,
              frameon=False)  # fmt: skip


def _no_data(ax: Any, text: str = "No data") -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=12,
            color="#555555")  # fmt: skip


def _ecdf_points(values: Sequence[float]) -> tuple[list[float], list[float]]:
    ordered = sorted(values)
    n = len(ordered)
    if n <= _MAX_POINTS:
        return ordered, [(i + 1) / n for i in range(n)]
    idx = sorted({round(k * (n - 1) / (_MAX_POINTS - 1)) for k in range(_MAX_POINTS)})
    return [ordered[i] for i in idx], [(i + 1) / n for i in idx]


def _plot_ecdf(series: dict[str, list[float]], title: str, xlabel: str, n: int,
              slo: _Line | None = None, log: bool = False) -> str:  # fmt: skip
    """One ECDF line per model (share of streams at or below x), with an SLO line."""
    fig = _figure(height=4.2)
    ax = fig.add_subplot()
    for k, (name, values) in enumerate(series.items()):
        if not values:
            continue
        xs, ys = _ecdf_points(values)
        ax.step(xs, ys, where="post", color=OKABE_ITO[k % len(OKABE_ITO)],
                linestyle=_STYLES[k % len(_STYLES)], linewidth=2,
                label=f"{name} (n={len(values)})")  # fmt: skip
    if slo is not None:
        _slo_line(ax, slo, vertical=True)
    if log:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(_percent())
    _style(ax, title, xlabel, "share of streams ≤ x")
    _legend_below(ax)
    return _svg(fig, n)


def _plot_box(series: dict[str, list[float]], title: str, ylabel: str, n: int,
             slo: _Line | None = None) -> str:  # fmt: skip
    """Box plots per model (median, quartiles, 1.5 IQR whiskers, outliers)."""
    fig = _figure()
    ax = fig.add_subplot()
    names = [m for m, v in series.items() if v]
    parts = ax.boxplot([series[m] for m in names], patch_artist=True, widths=0.55,
                       flierprops={"marker": ".", "markersize": 3, "alpha": 0.5})  # fmt: skip
    ax.set_xticks(range(1, len(names) + 1), [f"{m}\n(n={len(series[m])})" for m in names])
    for k, box in enumerate(parts["boxes"]):
        box.set_facecolor(OKABE_ITO[k % len(OKABE_ITO)])
        box.set_alpha(0.8)
    for median in parts["medians"]:
        median.set_color("black")
    if slo is not None:
        _slo_line(ax, slo, vertical=False)
        _legend_below(ax)
    _style(ax, title, "model", ylabel)
    return _svg(fig, n)


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=0)


def _time_bins(
    records: Sequence[Telemetry], bins: int
) -> tuple[list[datetime], list[list[Telemetry]]]:
    stamps = [t.timing.started_at.timestamp() for t in records if t.timing.started_at]
    lo, hi = min(stamps), max(stamps)
    span = (hi - lo) or 1.0
    groups: list[list[Telemetry]] = [[] for _ in range(bins)]
    for t in records:
        if t.timing.started_at is not None:
            groups[min(bins - 1, int((t.timing.started_at.timestamp() - lo) / span * bins))].append(
                t
            )
    centers = [datetime.fromtimestamp(lo + span * (i + 0.5) / bins, tz=UTC) for i in range(bins)]
    return centers, groups


def _ttft(t: Telemetry) -> float | None:
    return t.metrics.time_to_first_token


def _plot_ttft_over_time(records: Sequence[Telemetry], n: int, slo: _Line, q: float) -> str:
    """Median and p<q> TTFT per interval of stream start time, with the TTFT SLO."""
    fig = _figure(height=4.2)
    ax = fig.add_subplot()
    timed = [t for t in records if t.timing.started_at is not None and _ttft(t) is not None]
    if not timed:
        _no_data(ax, "No data: no stream has a time to first token")
        _style(ax, "Time to first token over time", "stream start time", "TTFT (s)")
        return _svg(fig, n)
    bins = max(1, min(30, len(timed) // 5))
    centers, groups = _time_bins(timed, bins)
    top = 0.0
    name = f"p{q * 100:g}"
    for k, (quant, label) in enumerate(((0.5, "median"), (q, name))):
        xs, ys = [], []
        for c, g in zip(centers, groups, strict=True):
            v = quantile([v for t in g if (v := _ttft(t)) is not None], quant)
            if v is not None:
                xs.append(c)
                ys.append(v)
        top = max([top, *ys])
        ax.plot(xs, ys, color=OKABE_ITO[k], linestyle=_STYLES[k], marker=_MARKERS[k],
                markersize=4, linewidth=2, label=f"TTFT {label}")  # fmt: skip
    _slo_line(ax, slo, vertical=False)
    day = _time_axis(ax, centers)
    _style(ax, "Time to first token over time", f"stream start time (UTC, {day})", "TTFT (s)")
    ax.set_ylim(0, max(top, slo.value) * 1.08)
    _legend_below(ax, ncols=3)
    return _svg(fig, n)


# Each rate: (key, title, per-stream count). The error rate counts failed and
# abandoned streams, as the SLO does (l0_monitoring.prometheus.slo).
_RATES: tuple[tuple[str, str, Callable[[Telemetry], int]], ...] = (
    ("ErrorRate", "error rate (failed + abandoned)",
     lambda t: int(t.outcome in ("failed", "abandoned"))),
    ("RetryRate", "retries per stream", lambda t: t.retries.total_retries),
    ("GuardrailViolationRate", "guardrail violations per stream",
     lambda t: len(t.guardrails.violations)),
)  # fmt: skip


def _plot_rates_over_time(records: Sequence[Telemetry], n: int, rows: Mapping[str, SloRow]) -> str:
    """One panel per rate (error, retry, violation) over stream start time, each with its SLO."""
    from matplotlib.ticker import PercentFormatter

    fig = _figure(height=7.2)
    axes = fig.subplots(len(_RATES), 1, sharex=True)
    timed = [t for t in records if t.timing.started_at is not None]
    bins = max(1, min(30, len(timed) // 5))
    centers, groups = _time_bins(timed, bins) if timed else ([], [])
    day = ""
    for k, ((key, title, count), ax) in enumerate(zip(_RATES, axes, strict=True)):
        row = rows.get(key)
        ax.set_title(title, loc="left", fontsize=11)
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if row is not None and not row.result.collected:
            _no_data(ax, "not collected by this configuration")
            continue
        if not timed:
            _no_data(ax)
            continue
        xs = [c for c, g in zip(centers, groups, strict=True) if g]
        ys = [sum(map(count, g)) / len(g) for g in groups if g]
        ax.plot(xs, ys, color=OKABE_ITO[k], linestyle=_STYLES[k], marker=_MARKERS[k],
                markersize=4, linewidth=2)  # fmt: skip
        target = row.result.target if row is not None else None
        if row is not None and target is not None:
            ax.axhline(target, color=_SLO_COLOR, linestyle=(0, (6, 3)), linewidth=1.4)
            # Labelled where it is drawn (no legend to match colours with).
            ax.annotate(f"SLO {_target_text(row.result)}", xy=(1.0, target),
                        xycoords=("axes fraction", "data"), xytext=(-4, 4),
                        textcoords="offset points", ha="right", va="bottom", fontsize=9,
                        color=_SLO_COLOR)  # fmt: skip
        ax.set_ylim(0, max([*ys, target or 0.0]) * 1.25 or 1.0)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
        day = _time_axis(ax, centers)
    fig.suptitle("Error, retry and violation rates over time", x=0.01, ha="left",
                 fontsize=12, fontweight="bold")  # fmt: skip
    axes[-1].set_xlabel(f"stream start time (UTC{', ' + day if day else ''})")
    fig.supylabel("per stream in the interval", fontsize=10)
    return _svg(fig, n)


def _time_axis(ax: Any, centers: Sequence[datetime]) -> str:
    """HH:MM:SS ticks in UTC; returns the day (or days) to put in the axis title."""
    from matplotlib.dates import AutoDateLocator, DateFormatter

    # matplotlib.dates has no annotations on these constructors.
    locator = AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S", tz=UTC))  # type: ignore[no-untyped-call]
    if not centers:
        return ""
    if min(centers) == max(centers):  # one interval: a minute around it, not a zero range
        ax.set_xlim(min(centers) - timedelta(seconds=30), max(centers) + timedelta(seconds=30))
    first, last = f"{min(centers):%Y-%m-%d}", f"{max(centers):%Y-%m-%d}"
    return first if first == last else f"{first} to {last}"


def _plot_error_categories(counts: dict[str, int], n: int) -> str:
    """Horizontal bars: failed-or-errored streams per error category, counts labelled."""
    fig = _figure(height=max(2.2, 0.5 + 0.45 * len(counts)))
    ax = fig.add_subplot()
    items = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))
    bars = ax.barh([k for k, _ in items], [v for _, v in items], color=OKABE_ITO[3])
    ax.bar_label(bars, padding=3)
    ax.margins(x=0.12)
    _style(ax, "Streams with an error, by category", "streams", "error category")
    return _svg(fig, n)


# -- page ---------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
  padding: 1.5rem 2rem; max-width: 1800px; color: #1a1a1a; }
h1 { margin: 0 0 .3rem; font-size: 1.7rem; } h2 { margin: 0 0 .6rem; font-size: 1.25rem; }
.lead { font-size: 1.05rem; color: #333; margin: 0 0 1.2rem; }
section { margin: 0 0 1.8rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr));
  gap: 1.2rem 1.6rem; }
.grid > figure { margin: 0; border: 1px solid #e3e3e3; border-radius: 6px; padding: .5rem; }
svg.plot { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .7rem; text-align: right; }
th { background: #f4f4f4; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
td:first-child, th:first-child { text-align: left; white-space: nowrap; }
td.text, th.text { text-align: left; } td.text { max-width: 40rem; overflow-wrap: anywhere; }
code { font-size: .92em; }
.ok { color: #006b4f; font-weight: 600; } .miss { color: #a33a00; font-weight: 600; }
.empty { color: #555; font-style: italic; }
.warn { color: #8a2c00; font-weight: 600; } .caveat { color: #444; margin: 0 0 .6rem; }
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], text_cols: int = 0) -> str:
    head = "".join(
        f'<th class="text">{_esc(h)}</th>' if 0 < i < text_cols else f"<th>{_esc(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>" + "".join(
            f'<td class="text">{c}</td>' if 0 < i < text_cols else f"<td>{c}</td>"
            for i, c in enumerate(r)
        ) + "</tr>"
        for r in rows
    )  # fmt: skip
    # Wide tables scroll inside their box on a narrow window, not the whole page.
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{_esc(title)}</h2>{body}</section>'


SECTIONS = ("summary", "slo", "models", "latency", "over-time", "errors", "slowest", "failed")
"""The ids of the report's sections, in page order (every one is always present)."""

SLOWEST = 10
FAILED = 50


def _default_slo() -> Any:
    from .prometheus.slo import SLOConfig

    return SLOConfig.load()


def render_html(
    records: Sequence[Telemetry],
    title: str = "l0_monitoring report",
    total: int | None = None,
    aggregates: Mapping[str, Any] | None = None,
    slo: Any = None,
    metrics: Any = None,
    notes: Sequence[str] = (),
) -> str:
    """Render the report as one self-contained HTML page (inline SVG, no script).

    Sections (ids in :data:`SECTIONS`): summary, SLO targets, per-model table,
    latency distributions per model (TTFT and tokens/s ECDFs, duration box
    plots), TTFT and error/retry/violation rates over time, errors by
    category, the slowest streams and the failed streams with their ids.

    Args:
        records: The telemetry records to show.
        title: Page title.
        total: Streams that finished, including those sampling dropped; when it
            differs from ``len(records)`` the page says "N streams, M kept by
            sampling" wherever it shows records.
        aggregates: ``Monitor.get_aggregate_metrics()``, when known: the SLO
            table then takes the error rate and the p95 TTFT over every stream
            from it, not from the (possibly sampled) records.
        slo: The targets, an ``l0_monitoring.prometheus.slo.SLOConfig``
            (default ``SLOConfig.load()``: defaults and ``L0_SLO_*``); the same
            targets and definitions as ``l0-monitoring check``.
        metrics: The ``MetricsConfig`` the records were collected with, when
            known: targets whose data it did not collect show "not collected".
        notes: Warnings shown above the SLO table (for example that the
            records are a sampled subset and nothing counted every stream).

    Returns:
        The HTML text.

    Raises:
        ImportError: When matplotlib (the ``report`` extra) is not installed.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "the HTML report draws its plots with matplotlib: pip install 'l0-monitoring[report]'"
        ) from None
    records = list(records)
    slo = slo if slo is not None else _default_slo()
    note = streams_note(total, len(records))
    parts: list[str] = []
    outcomes = Counter(t.outcome for t in records)
    starts = [t.timing.started_at for t in records if t.timing.started_at is not None]
    span = ""
    if starts:
        span = f", started {min(starts):%Y-%m-%d %H:%M:%S} to {max(starts):%H:%M:%S} UTC"
    if records:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        lead = f"{_esc(note)}{span}. Outcomes: {_esc(counts)}."
    else:
        lead = (
            f"{_esc(note)}: the log has no finished streams, so there is nothing to plot. "
            "Run traffic through a Monitor (or <code>l0-monitoring demo</code>) first."
        )
    parts.append(_section("summary", "Summary", f'<p class="lead">{lead}</p>'))

    # SLO table: check's targets and definitions; values from the Monitor's
    # aggregates (every stream) where they have them, else from the records.
    rows = slo_rows(records, total, aggregates, slo, metrics)
    by_key = {r.result.key: r for r in rows}
    verdict_class = {"met": "ok", "missed": "miss"}
    slo_table = []
    for row in rows:
        r = row.result
        measured = row.measured_as + (f" ({row.source})" if row.source else "")
        value = "not collected" if not r.collected else _fmt(r.value, r.unit)
        slo_table.append([
            _esc(r.name), _esc(_target_text(r)), _esc(measured), _esc(value),
            f'<span class="{verdict_class.get(row.verdict, "empty")}">{_esc(row.verdict)}</span>',
        ])  # fmt: skip
    slo_note = ""
    if any(r.source == "kept records" for r in rows):
        slo_note = (
            "<p>Values marked <em>kept records</em> are measured over the records sampling "
            "kept, which include every errored and slow stream: they overstate the rates "
            "over all streams.</p>"
        )
    if any(not r.result.collected for r in rows):
        slo_note += (
            '<p class="caveat"><em>not collected</em>: the Monitor\'s configuration did not '
            "collect this data, so the target cannot be judged (it is not a pass).</p>"
        )
    unseen = [
        what
        for what, seen in (
            ("a retry", any(t.retries.total_retries for t in records)),
            ("a guardrail check", any(t.guardrails.rules_checked for t in records)),
        )
        if not seen
    ]
    if metrics is None and records and unseen:
        # Zeros that may mean "not collected": the records cannot tell (no config in them).
        slo_note += (
            f'<p class="caveat">No record shows {" or ".join(unseen)}: if the Monitor did '
            "not collect them (the <code>minimal</code> preset), those targets were not "
            "measured; <code>l0-monitoring report --config PRESET</code> shows them as "
            "<em>not collected</em>.</p>"
        )
    warnings = "".join(f'<p class="warn">{_esc(w)}</p>' for w in notes)
    parts.append(
        _section(
            "slo",
            f"Service-level objectives ({note})",
            warnings
            + _table(
                ["objective", "target", "measured as", "value", "verdict"], slo_table, text_cols=3
            )
            + slo_note,
        )
    )

    summaries = summarize(records, metrics)
    per_model = [s for s in summaries if s.model != "all"]
    models_body = (_table(TABLE_HEADER, ([_esc(c) for c in s.row()] for s in summaries))
                   if summaries else '<p class="empty">No streams.</p>')  # fmt: skip
    parts.append(_section("models", f"Per model ({note})", models_body))

    fig_n = iter(range(1000))
    empty = '<p class="empty">No data.</p>'
    ttft = {s.model: s.ttft for s in per_model}
    tps = {s.model: s.tps for s in per_model}
    duration = {s.model: s.duration for s in per_model}
    figures = []
    ttft_row, tps_row = by_key["TimeToFirstToken"].result, by_key["TokensPerSecond"].result
    ttft_line = _Line(ttft_row.target, f"SLO: {ttft_row.name} {_target_text(ttft_row)}")
    tps_line = _Line(tps_row.target, f"SLO: {tps_row.name} {_target_text(tps_row)}")
    if any(ttft.values()):
        figures.append(_plot_ecdf(ttft, "Time to first token per model",
                                 "time to first token (s, log scale)", next(fig_n),
                                 ttft_line, log=True))  # fmt: skip
    if any(tps.values()):
        figures.append(_plot_ecdf(tps, "Tokens per second per model",
                                 "tokens per second (tokens/s)", next(fig_n),
                                 tps_line))  # fmt: skip
    if any(duration.values()):
        figures.append(_plot_box(duration, "Stream duration per model", "duration (s)",
                                next(fig_n)))  # fmt: skip
    latency = (
        '<div class="grid">' + "".join(f"<figure>{f}</figure>" for f in figures) + "</div>"
        if figures
        else empty
    )
    if starts:
        over_time = ('<div class="grid"><figure>'
                     + _plot_ttft_over_time(records, next(fig_n), ttft_line, slo.ttft_quantile)
                     + "</figure><figure>" + _plot_rates_over_time(records, next(fig_n), by_key)
                     + "</figure></div>")  # fmt: skip
    else:
        over_time = empty
    if total is not None and total != len(records) and records:
        caveat = (
            f'<p class="caveat">Drawn from the {len(records)} kept records: sampling keeps '
            "every errored and slow stream, so they weigh more here than among all "
            f"{total} streams.</p>"
        )
        latency, over_time = caveat + latency, caveat + over_time
    parts.append(_section("latency", f"Latency per model ({note})", latency))
    parts.append(_section("over-time", f"Over time ({note})", over_time))

    errors: Counter[str] = Counter(
        t.error.category or "unknown" for t in records if t.error.occurred
    )
    errors_body = (f'<div class="grid"><figure>{_plot_error_categories(dict(errors), next(fig_n))}'
                   "</figure></div>" if errors else '<p class="empty">No errors.</p>')  # fmt: skip
    parts.append(_section("errors", f"Errors by category ({note})", errors_body))

    timed = sorted((t for t in records if t.timing.duration is not None),
                   key=lambda t: (-(t.timing.duration or 0.0), t.stream_id))[:SLOWEST]  # fmt: skip
    slow_rows = [
        [f"<code>{_esc(t.stream_id)}</code>", _esc(t.model or "unknown"),
         _esc(_fmt(t.timing.duration, "s")), _esc(_fmt(t.metrics.time_to_first_token, "s")),
         str(t.metrics.token_count), _esc(t.outcome)]
        for t in timed
    ]  # fmt: skip
    slow_body = (f"<p>The {len(timed)} longest of {_esc(note)}.</p>" + _table(
        ["stream id", "model", "duration", "TTFT", "tokens", "outcome"], slow_rows)
        if timed else '<p class="empty">No finished streams with a duration.</p>')  # fmt: skip
    parts.append(_section("slowest", "Slowest streams", slow_body))

    failed = [t for t in records if t.outcome == "failed"]
    fail_rows = [[f"<code>{_esc(t.stream_id)}</code>", _esc(t.model or "unknown"),
                  _esc(t.error.category or "unknown"), _esc(t.error.code or "-"),
                  _esc((t.error.message or "")[:200]), str(t.retries.total_retries)]
                 for t in failed[:FAILED]]  # fmt: skip
    more = f" The first {FAILED} are listed." if len(failed) > FAILED else ""
    fail_body = (f"<p>{len(failed)} failed of {_esc(note)}.{more}</p>" + _table(
        ["stream id", "model", "category", "code", "message", "retries"], fail_rows, text_cols=5)
        if failed else f'<p class="empty">No failed streams among {_esc(note)}.</p>')  # fmt: skip
    parts.append(_section("failed", "Failed streams", fail_body))

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1>" + "\n".join(parts) + "\n</body></html>\n"
    )
