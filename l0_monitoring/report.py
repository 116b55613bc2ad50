"""A self-contained HTML report (inline SVG, no external assets) from telemetry records."""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from .telemetry import Telemetry

__all__ = ["ModelSummary", "SummaryBuilder", "render_html", "summarize", "text_histogram"]


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
        self.violations += len(t.guardrails.violations)
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


# -- SVG ----------------------------------------------------------------------------------

_W, _H, _PAD = 520, 220, 36
_COLORS = ("#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def svg_histogram(series: dict[str, list[float]], title: str, unit: str, bins: int = 20) -> str:
    """Overlaid histograms, one colour per series."""
    values = [v for vs in series.values() for v in vs]
    if not values:
        return f'<svg class="plot" width="{_W}" height="40"><text x="10" y="25">{_esc(title)}: no data</text></svg>'  # noqa: E501
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    counted = {}
    for name, vs in series.items():
        counts = [0] * bins
        for v in vs:
            counts[min(bins - 1, int((v - lo) / span * bins))] += 1
        counted[name] = counts
    top = max(max(c) for c in counted.values()) or 1
    bw = (_W - 2 * _PAD) / bins
    parts = [f'<svg class="plot" role="img" aria-label="{_esc(title)}" width="{_W}" '
             f'height="{_H}" viewBox="0 0 {_W} {_H}">', f"<title>{_esc(title)}</title>",
             f'<text x="{_PAD}" y="16" class="t">{_esc(title)}</text>']  # fmt: skip
    for k, (name, counts) in enumerate(counted.items()):
        color = _COLORS[k % len(_COLORS)]
        for i, c in enumerate(counts):
            h = (c / top) * (_H - 2 * _PAD)
            x = _PAD + i * bw
            parts.append(f'<rect x="{x:.1f}" y="{_H - _PAD - h:.1f}" width="{bw - 1:.1f}" '
                         f'height="{h:.1f}" fill="{color}" fill-opacity="0.55"/>')  # fmt: skip
        parts.append(f'<text x="{_W - 170}" y="{30 + 14 * k}" fill="{color}">{_esc(name)}</text>')
    parts.append(f'<text x="{_PAD}" y="{_H - 8}">{lo:.3g}{_esc(unit)}</text>')
    parts.append(f'<text x="{_W - _PAD - 40}" y="{_H - 8}">{hi:.3g}{_esc(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(counts: dict[str, int], title: str) -> str:
    """Horizontal bars, one per category."""
    if not counts:
        return f'<svg class="plot" width="{_W}" height="40"><text x="10" y="25">{_esc(title)}: none</text></svg>'  # noqa: E501
    top = max(counts.values()) or 1
    height = 30 + 22 * len(counts)
    parts = [f'<svg class="plot" role="img" aria-label="{_esc(title)}" width="{_W}" '
             f'height="{height}" viewBox="0 0 {_W} {height}">', f"<title>{_esc(title)}</title>",
             f'<text x="10" y="16" class="t">{_esc(title)}</text>']  # fmt: skip
    for i, (name, n) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
        w = n / top * (_W - 220)
        y = 26 + 22 * i
        parts.append(f'<text x="10" y="{y + 14}">{_esc(name)}</text>')
        parts.append(f'<rect x="170" y="{y}" width="{w:.1f}" height="16" fill="#dc3912"/>')
        parts.append(f'<text x="{176 + w:.1f}" y="{y + 13}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_timeline(points: list[tuple[float, int]], title: str, bins: int = 30) -> str:
    """Bars of a count over time (e.g. retries per interval of stream start times)."""
    if not points:
        return f'<svg class="plot" width="{_W}" height="40"><text x="10" y="25">{_esc(title)}: none</text></svg>'  # noqa: E501
    lo = min(p[0] for p in points)
    hi = max(p[0] for p in points)
    span = (hi - lo) or 1.0
    counts = [0] * bins
    for t, n in points:
        counts[min(bins - 1, int((t - lo) / span * bins))] += n
    top = max(counts) or 1
    bw = (_W - 2 * _PAD) / bins
    parts = [f'<svg class="plot" role="img" aria-label="{_esc(title)}" width="{_W}" '
             f'height="{_H}" viewBox="0 0 {_W} {_H}">', f"<title>{_esc(title)}</title>",
             f'<text x="{_PAD}" y="16" class="t">{_esc(title)}</text>']  # fmt: skip
    for i, c in enumerate(counts):
        h = c / top * (_H - 2 * _PAD)
        parts.append(f'<rect x="{_PAD + i * bw:.1f}" y="{_H - _PAD - h:.1f}" '
                     f'width="{bw - 1:.1f}" height="{h:.1f}" fill="#ff9900"/>')  # fmt: skip
    start = datetime.fromtimestamp(lo, tz=UTC).strftime("%H:%M:%S")
    end = datetime.fromtimestamp(hi, tz=UTC).strftime("%H:%M:%S")
    parts.append(f'<text x="{_PAD}" y="{_H - 8}">{start} UTC</text>')
    parts.append(f'<text x="{_W - _PAD - 80}" y="{_H - 8}">{end} UTC</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(records: list[Telemetry], title: str = "l0_monitoring report") -> str:
    """Render the report as one self-contained HTML page.

    Sections: per-model table, TTFT / duration / tokens-per-second distributions,
    errors by category and retries over time, all as inline SVG.
    """
    summaries = summarize(records)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in s.row()) + "</tr>" for s in summaries
    )
    head = "".join(f"<th>{_esc(h)}</th>" for h in TABLE_HEADER)
    per_model = [s for s in summaries if s.model != "all"]
    ttft = {s.model: s.ttft for s in per_model}
    duration = {s.model: s.duration for s in per_model}
    tps = {s.model: s.tps for s in per_model}
    errors: Counter[str] = Counter(
        t.error.category or "unknown" for t in records if t.error.occurred
    )
    retries = [(t.timing.started_at.timestamp(), t.retries.total_retries)
               for t in records if t.timing.started_at is not None]  # fmt: skip
    outcomes = Counter(t.outcome for t in records)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
section {{ margin-bottom: 2em; }} .plot {{ margin: 0.5em 1em 0.5em 0; border: 1px solid #eee; }}
.plot text {{ font-size: 11px; }} .plot .t {{ font-weight: bold; font-size: 12px; }}
</style></head><body>
<h1>{_esc(title)}</h1>
<p>{len(records)} streams: {_esc(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))}.</p>
<section id="models"><h2>Per model</h2><table><thead><tr>{head}</tr></thead>
<tbody>{rows}</tbody></table></section>
<section id="ttft"><h2>Time to first token</h2>{svg_histogram(ttft, "TTFT", "s")}</section>
<section id="duration"><h2>Duration</h2>{svg_histogram(duration, "Duration", "s")}</section>
<section id="tokens-per-second"><h2>Tokens per second</h2>
{svg_histogram(tps, "Tokens per second", "")}</section>
<section id="errors"><h2>Errors by category</h2>{svg_bars(dict(errors), "Errors")}</section>
<section id="retries"><h2>Retries over time</h2>
{svg_timeline(retries, "Retries by stream start time")}</section>
</body></html>
"""
