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
from datetime import UTC, datetime
from typing import Any

from .telemetry import Telemetry

__all__ = [
    "OKABE_ITO",
    "SECTIONS",
    "SLO_TARGETS",
    "ModelSummary",
    "SloTarget",
    "SummaryBuilder",
    "render_html",
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

    def __init__(self, model: str, records: Iterable[Telemetry] = ()) -> None:
        self.model = model
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
            str(self.retries), ms(quantile(self.ttft, 0.5)), ms(quantile(self.ttft, 0.9)),
            ms(quantile(self.ttft, 0.99)), "-" if tps is None else f"{tps:.1f}",
        ]  # fmt: skip


TABLE_HEADER = ["model", "streams", "error rate", "failed", "retries", "TTFT p50 ms",
                "p90 ms", "p99 ms", "tok/s p50"]  # fmt: skip


class SummaryBuilder:
    """Accumulates per-model summaries from records as they arrive."""

    def __init__(self) -> None:
        self.by_model: dict[str, ModelSummary] = {}
        self.all = ModelSummary("all")

    def add(self, t: Telemetry) -> None:
        """Count one record."""
        model = t.model or "unknown"
        summary = self.by_model.get(model)
        if summary is None:
            summary = self.by_model[model] = ModelSummary(model)
        summary.add(t)
        self.all.add(t)

    def summaries(self) -> list[ModelSummary]:
        """Per-model summaries sorted by model, plus ``all`` when there are several."""
        out = [self.by_model[m] for m in sorted(self.by_model)]
        return [*out, self.all] if len(out) > 1 else out


def summarize(records: Iterable[Telemetry]) -> list[ModelSummary]:
    """Group records by model (``unknown`` when missing), plus an ``all`` row."""
    builder = SummaryBuilder()
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


@dataclass(frozen=True)
class SloTarget:
    """One service-level objective the report draws and checks.

    Attributes:
        key: Stable identifier (``ttft``, ``tokens_per_second``, ``error_rate``, ...).
        label: What is measured, as shown on the page.
        threshold: The target value, in ``unit``.
        unit: ``"s"``, ``"tokens/s"`` or ``"%"`` (rates are fractions shown as %).
        below: True when good values are below the threshold.
        statistic: How streams are summarised before comparing (shown on the page).
    """

    key: str
    label: str
    threshold: float
    unit: str
    below: bool
    statistic: str


# The one place the report's targets live (to be read from the typed SLO model
# of l0_monitoring.prometheus once it exists).
SLO_TARGETS: tuple[SloTarget, ...] = (
    SloTarget("ttft", "time to first token", 1.0, "s", True, "p95 of streams"),
    SloTarget("tokens_per_second", "tokens per second", 20.0, "tokens/s", False, "p5 of streams"),
    SloTarget("error_rate", "error rate", 0.01, "%", True, "share of streams"),
    SloTarget("retry_rate", "retry rate", 0.05, "%", True, "share of streams retried"),
    SloTarget("violation_rate", "guardrail violation rate", 0.01, "%", True,
              "share of streams with a violation"),
)  # fmt: skip
_SLO = {s.key: s for s in SLO_TARGETS}


def _slo_values(records: Sequence[Telemetry]) -> dict[str, float | None]:
    ttft = [t.metrics.time_to_first_token for t in records
            if t.metrics.time_to_first_token is not None]  # fmt: skip
    tps = [t.metrics.tokens_per_second for t in records
           if t.metrics.tokens_per_second is not None]  # fmt: skip
    n = len(records)
    return {
        "ttft": quantile(ttft, 0.95),
        "tokens_per_second": quantile(tps, 0.05),
        "error_rate": sum(t.error.occurred for t in records) / n if n else None,
        "retry_rate": sum(t.retries.total_retries > 0 for t in records) / n if n else None,
        "violation_rate": sum(bool(t.guardrails.violations) for t in records) / n if n else None,
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.1%}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.1f} {unit}"


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


def _slo_line(ax: Any, slo: SloTarget, vertical: bool, scale: float = 1.0) -> None:
    value = slo.threshold * scale
    label = f"SLO: {slo.label} {'<' if slo.below else '>'} {_fmt(slo.threshold, slo.unit)}"
    if vertical:
        ax.axvline(value, color=_SLO_COLOR, linestyle=(0, (6, 3)), linewidth=1.4, label=label)
    else:
        ax.axhline(value, color=_SLO_COLOR, linestyle=(0, (6, 3)), linewidth=1.4, label=label)


def _ecdf_points(values: Sequence[float]) -> tuple[list[float], list[float]]:
    ordered = sorted(values)
    n = len(ordered)
    if n <= _MAX_POINTS:
        return ordered, [(i + 1) / n for i in range(n)]
    idx = sorted({round(k * (n - 1) / (_MAX_POINTS - 1)) for k in range(_MAX_POINTS)})
    return [ordered[i] for i in idx], [(i + 1) / n for i in idx]


def _plot_ecdf(series: dict[str, list[float]], title: str, xlabel: str, n: int,
              slo: SloTarget | None = None, log: bool = False) -> str:  # fmt: skip
    """One ECDF line per model (share of streams at or below x), with an SLO line."""
    fig = _figure()
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
    ax.legend(loc="lower right", fontsize=10, frameon=True, framealpha=0.9)
    return _svg(fig, n)


def _plot_box(series: dict[str, list[float]], title: str, ylabel: str, n: int,
             slo: SloTarget | None = None) -> str:  # fmt: skip
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
        ax.legend(loc="upper right", fontsize=10)
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


def _plot_ttft_over_time(records: Sequence[Telemetry], n: int) -> str:
    """Median and p95 TTFT per interval of stream start time, with the TTFT SLO."""
    fig = _figure()
    ax = fig.add_subplot()
    bins = max(1, min(30, len(records) // 5))
    centers, groups = _time_bins(records, bins)
    for k, (q, label) in enumerate(((0.5, "median"), (0.95, "p95"))):
        xs, ys = [], []
        for c, g in zip(centers, groups, strict=True):
            v = quantile([t.metrics.time_to_first_token for t in g
                          if t.metrics.time_to_first_token is not None], q)  # fmt: skip
            if v is not None:
                xs.append(c)
                ys.append(v)
        ax.plot(xs, ys, color=OKABE_ITO[k], linestyle=_STYLES[k], marker=_MARKERS[k],
                markersize=4, linewidth=2, label=f"TTFT {label}")  # fmt: skip
    _slo_line(ax, _SLO["ttft"], vertical=False)
    _time_axis(ax)
    _style(ax, "Time to first token over time", "stream start time (UTC)", "TTFT (s)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=10)
    return _svg(fig, n)


def _plot_rates_over_time(records: Sequence[Telemetry], n: int) -> str:
    """Error, retry and violation rates per interval of stream start time, with their SLOs."""
    fig = _figure()
    ax = fig.add_subplot()
    bins = max(1, min(30, len(records) // 5))
    centers, groups = _time_bins(records, bins)
    rates: tuple[tuple[str, Callable[[Telemetry], bool]], ...] = (
        ("error_rate", lambda t: t.error.occurred),
        ("retry_rate", lambda t: t.retries.total_retries > 0),
        ("violation_rate", lambda t: bool(t.guardrails.violations)),
    )
    for k, (key, hit) in enumerate(rates):
        slo = _SLO[key]
        color = OKABE_ITO[k]
        xs = [c for c, g in zip(centers, groups, strict=True) if g]
        ys = [sum(map(hit, g)) / len(g) for g in groups if g]
        ax.plot(xs, ys, color=color, linestyle=_STYLES[k], marker=_MARKERS[k], markersize=4,
                linewidth=2, label=slo.label)  # fmt: skip
        ax.axhline(slo.threshold, color=color, linestyle=(0, (6, 3)), linewidth=1.2,
                   label=f"SLO {slo.label} < {_fmt(slo.threshold, '%')}")  # fmt: skip
    ax.yaxis.set_major_formatter(_percent())
    ax.set_ylim(bottom=0)
    _time_axis(ax)
    _style(ax, "Error, retry and violation rates over time", "stream start time (UTC)",
           "share of streams in the interval")  # fmt: skip
    fig.legend(loc="outside lower center", fontsize=9, ncols=3, frameon=False)
    return _svg(fig, n)


def _time_axis(ax: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    # matplotlib.dates has no annotations on these two constructors.
    locator = AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=UTC))  # type: ignore[no-untyped-call]


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
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
td.text, th.text { text-align: left; max-width: 40rem; overflow-wrap: anywhere; }
code { font-size: .92em; }
.ok { color: #006b4f; font-weight: 600; } .miss { color: #a33a00; font-weight: 600; }
.empty { color: #555; font-style: italic; } .caveat { color: #444; margin: 0 0 .6rem; }
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
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{_esc(title)}</h2>{body}</section>'


SECTIONS = ("summary", "slo", "models", "latency", "over-time", "errors", "slowest", "failed")
"""The ids of the report's sections, in page order (every one is always present)."""

SLOWEST = 10
FAILED = 50


def render_html(
    records: Sequence[Telemetry],
    title: str = "l0_monitoring report",
    total: int | None = None,
    aggregates: Mapping[str, Any] | None = None,
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

    # SLO table: from the Monitor's aggregates (every stream) where they have the
    # figure, else from the records shown (biased when sampling kept errors).
    values = _slo_values(records)
    source = dict.fromkeys(values, "kept records" if total not in (None, len(records)) else "")
    if aggregates is not None:
        for key, agg_key in (("ttft", "p95_ttft"), ("error_rate", "error_rate")):
            value = aggregates.get(agg_key)
            if isinstance(value, int | float):
                values[key] = float(value)
                source[key] = f"all {aggregates.get('count', '')} streams".replace("  ", " ")
    slo_rows = []
    for slo in SLO_TARGETS:
        v = values[slo.key]
        if v is None:
            verdict = '<span class="empty">no data</span>'
        else:
            good = v < slo.threshold if slo.below else v > slo.threshold
            verdict = '<span class="ok">met</span>' if good else '<span class="miss">missed</span>'
        measured = slo.statistic + (f" ({source[slo.key]})" if source[slo.key] else "")
        slo_rows.append([
            _esc(slo.label), f"{'<' if slo.below else '>'} {_esc(_fmt(slo.threshold, slo.unit))}",
            _esc(measured), _esc(_fmt(v, slo.unit)), verdict,
        ])  # fmt: skip
    if "kept records" in source.values():
        slo_note = (
            "<p>Values marked <em>kept records</em> are measured over the records sampling "
            "kept, which include every errored and slow stream: they overstate the rates "
            "over all streams.</p>"
        )
    else:
        slo_note = ""
    parts.append(
        _section(
            "slo",
            f"Service-level objectives ({note})",
            _table(
                ["objective", "target", "measured as", "value", "verdict"], slo_rows, text_cols=3
            )
            + slo_note,
        )
    )

    summaries = summarize(records)
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
    if any(ttft.values()):
        figures.append(_plot_ecdf(ttft, "Time to first token per model",
                                 "time to first token (s, log scale)", next(fig_n),
                                 _SLO["ttft"], log=True))  # fmt: skip
    if any(tps.values()):
        figures.append(_plot_ecdf(tps, "Tokens per second per model",
                                 "tokens per second (tokens/s)", next(fig_n),
                                 _SLO["tokens_per_second"]))  # fmt: skip
    if any(duration.values()):
        figures.append(_plot_box(duration, "Stream duration per model", "duration (s)",
                                next(fig_n)))  # fmt: skip
    latency = (
        '<div class="grid">' + "".join(f"<figure>{f}</figure>" for f in figures) + "</div>"
        if figures
        else empty
    )
    if starts:
        over_time = ('<div class="grid"><figure>' + _plot_ttft_over_time(records, next(fig_n))
                     + "</figure><figure>" + _plot_rates_over_time(records, next(fig_n))
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
