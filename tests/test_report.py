"""The HTML report: content, accessibility of the plots, and a real render in headless Chromium."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from l0_monitoring import Monitor, MonitoringConfig, Telemetry
from l0_monitoring.demo import make_scenarios, run_simulated
from l0_monitoring.report import OKABE_ITO, SECTIONS, render_html, slo_rows, streams_note

from .conftest import missing_tool

pytest.importorskip("matplotlib")

EPOCH_MS = 1_767_225_600_000.0


def demo_records(n: int = 120, preset: str = "default") -> tuple[list[Telemetry], int]:
    config = getattr(MonitoringConfig, preset)().model_copy(update={"buffer_size": n})
    kept: list[Telemetry] = []
    monitor = Monitor(config, on_complete=kept.append)
    run_simulated(make_scenarios(n, seed=5), monitor.handle_event, start_ms=EPOCH_MS)
    monitor.close()
    return kept, monitor.get_aggregate_metrics()["count"]


class Page(HTMLParser):
    """Sections (id -> text), svgs, and every attribute that could load something."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.svgs = 0
        self.loads: list[str] = []
        self._current: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._current = attrs["id"]
            self.sections[self._current] = ""
        if tag == "svg":
            self.svgs += 1
        if tag in ("script", "link", "img", "iframe", "object", "embed"):
            self.loads.append(tag)
        for key in ("src", "href", "xlink:href"):
            value = attrs.get(key)
            if value and not value.startswith("#"):
                self.loads.append(value)

    def handle_data(self, data):
        if self._current is not None:
            self.sections[self._current] += data


@pytest.fixture(scope="module")
def sampled():
    records, total = demo_records(200, "production")
    assert total == 200 and 0 < len(records) < total  # production samples successes out
    return records, total, render_html(records, "sampled", total=total)


def test_every_section_is_present_in_order_and_the_page_loads_nothing(sampled):
    _, _, text = sampled
    page = Page(text)
    assert list(page.sections) == list(SECTIONS)
    assert page.loads == []  # inline SVG and CSS only: works offline
    assert "url(" not in text.replace("url(#", "")
    assert page.svgs == 6


def test_a_sampled_subset_says_n_streams_m_kept_wherever_records_are_shown(sampled):
    records, total, text = sampled
    note = f"{total} streams, {len(records)} kept by sampling"
    assert streams_note(total, len(records)) == note
    page = Page(text)
    for sid in SECTIONS:
        assert note in page.sections[sid], sid


def test_slowest_and_failed_streams_are_listed_with_their_ids(sampled):
    records, _, text = sampled
    page = Page(text)
    slowest = sorted(records, key=lambda t: -(t.timing.duration or 0))[:10]
    for t in slowest:
        assert t.stream_id in page.sections["slowest"]
    failed = [t for t in records if t.outcome == "failed"]
    assert failed
    for t in failed:
        assert t.stream_id in page.sections["failed"]
    assert f"{len(failed)} failed of" in page.sections["failed"]


def test_plots_have_axis_titles_with_units_and_slo_lines(sampled):
    _, _, text = sampled
    for label in (
        "time to first token (s, log scale)",
        "tokens per second (tokens/s)",
        "duration (s)",
        "TTFT (s)",
        "stream start time (UTC, 2026-01-01)",
        "per stream in the interval",
        "SLO: time to first token (p90) &lt; 1 s",
        "SLO: tokens per second (p10) &gt; 20 tokens/s",
        "SLO &lt; 1%",  # error and violation rates: labelled on their own panels
        "SLO &lt; 5%",
    ):
        assert label in text, label
    # Tick labels are text, so each axis shows a scale, not only its ends.
    ticks = re.findall(r"<g id=\"f\d+-(?:xtick|ytick)_\d+\">", text)
    assert len(ticks) >= 30


def test_series_colours_come_from_the_okabe_ito_palette(sampled):
    _, _, text = sampled
    colours = {c.lower() for c in re.findall(r"stroke: (#[0-9a-fA-F]{6})", text)}
    palette = {c.lower() for c in OKABE_ITO}
    greys = {c for c in colours if c[1:3] == c[3:5] == c[5:7]}  # axes, grid, SLO lines
    series = colours - greys
    assert series and series <= palette, series - palette


def test_slo_table_judges_each_target(sampled):
    records, _, text = sampled
    page = Page(text)
    for row in slo_rows(records):
        assert row.result.name in page.sections["slo"]
    # check's definition: failed + abandoned streams over streams
    error_rate = sum(t.outcome in ("failed", "abandoned") for t in records) / len(records)
    assert f"{error_rate:.1%}" in page.sections["slo"]
    assert "missed" in page.sections["slo"]  # the production preset keeps every error


def test_an_empty_log_renders_every_section_and_says_there_is_nothing():
    page = Page(render_html([], "empty"))
    assert list(page.sections) == list(SECTIONS)
    assert "0 streams: the log has no finished streams" in page.sections["summary"]
    assert "0 streams: ." not in page.sections["summary"]
    assert page.svgs == 0


def test_one_stream_is_singular():
    records, _ = demo_records(1)
    page = Page(render_html(records, "one"))
    assert "1 stream," in page.sections["summary"] or "1 stream." in page.sections["summary"]
    assert "1 streams" not in "".join(page.sections.values())


def test_stream_ids_and_messages_are_escaped():
    evil = Telemetry(
        stream_id="<script>alert(1)</script>", model="<b>m</b>",
        error={"occurred": True, "message": "<img src=x onerror=alert(1)>"},
        timing={"duration": 1.0},
    )  # fmt: skip
    text = render_html([evil], "x")
    assert "<script>" not in text and "<img" not in text and "<b>m</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_the_same_records_render_the_same_bytes():
    records, total = demo_records(60)
    assert render_html(records, "a", total=total) == render_html(records, "a", total=total)


# -- headless Chromium --------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    missing_tool("chromium (Debian package chromium) for the report render test")
    raise AssertionError("unreachable")


def chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr", "--v=0", "--window-size=1400,2000", *extra, url,
        ],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to its console (errors, uncaught exceptions), as Chromium logs it."""
    return re.findall(r":CONSOLE[^\]]*\] (.*)", stderr)


def test_the_console_check_catches_a_failing_page(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>missingFunction();</script></body></html>")
    r = chromium(tmp_path, bad.as_uri(), "--dump-dom")
    assert r.returncode == 0
    assert any("missingFunction is not defined" in m for m in console_messages(r.stderr))


def test_the_report_loads_in_headless_chromium_without_errors_and_uses_its_width(sampled, tmp_path):
    from PIL import Image

    _, _, text = sampled
    page_file = tmp_path / "report.html"
    page_file.write_text(text, encoding="utf-8")
    r = chromium(tmp_path, page_file.as_uri(), "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    assert console_messages(r.stderr) == []
    dom = Page(r.stdout)
    assert list(dom.sections) == list(SECTIONS)
    assert dom.svgs == 6
    shot = tmp_path / "shot.png"
    r = chromium(tmp_path, page_file.as_uri(), f"--screenshot={shot}")
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    image = Image.open(shot).convert("L")
    width, height = image.size
    # Plots fill the page: the right 40% and the lower part are drawn on, not blank.
    right = image.crop((int(width * 0.6), 0, width, height))
    lower = image.crop((0, int(height * 0.6), width, height))
    for part in (right, lower):
        dark = sum(part.histogram()[:200])
        assert dark > 0.01 * part.size[0] * part.size[1]


def test_slo_rates_come_from_every_stream_when_the_monitors_aggregates_are_given():
    config = MonitoringConfig.production().model_copy(update={"buffer_size": 300})
    kept: list[Telemetry] = []
    monitor = Monitor(config, on_complete=kept.append)
    run_simulated(make_scenarios(300, seed=5), monitor.handle_event, start_ms=EPOCH_MS)
    monitor.close()
    agg = monitor.get_aggregate_metrics()
    kept_rate = sum(t.error.occurred for t in kept) / len(kept)
    assert agg["error_rate"] < kept_rate  # sampling kept every error: the subset overstates
    page = Page(render_html(kept, "x", total=agg["count"], aggregates=agg))
    slo = page.sections["slo"]
    # check's error rate: failed + abandoned streams (the aggregates' failure_rate)
    assert f"{agg['failure_rate']:.1%}" in slo and "all 300 streams" in slo
    assert "kept records" in slo  # the rates only the records can give say where they come from
    assert "overstate" in slo


# -- review of #17 ----------------------------------------------------------------------------

_PROBE = """<pre id="probe"></pre><script>
const px = (r) => ({l: r.left, t: r.top, r: r.right, b: r.bottom});
const hit = (a, b) => a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b;
const out = {overflow: document.documentElement.scrollWidth - window.innerWidth,
             boxes: [], headers: [], legends: []};
for (const box of document.querySelectorAll(".scroll")) {
  out.boxes.push(box.getBoundingClientRect().right - document.documentElement.clientWidth);
}
for (const th of document.querySelectorAll("th")) {
  const lines = th.getBoundingClientRect().height / parseFloat(getComputedStyle(th).lineHeight);
  if (lines > 1.9) out.headers.push(th.textContent);
}
for (const ax of document.querySelectorAll('svg.plot g[id*="-axes_"]')) {
  const bg = ax.querySelector(':scope > g[id*="-patch_"]');
  for (const legend of ax.querySelectorAll('g[id*="-legend_"]')) {
    if (hit(px(legend.getBoundingClientRect()), px(bg.getBoundingClientRect())))
      out.legends.push(ax.id);
  }
}
document.getElementById("probe").textContent = JSON.stringify(out);
</script>"""


def probe_layout(tmp_path: Path, page: str, width: int) -> dict:
    """Render ``page`` in headless Chromium at ``width`` px and measure its layout there."""
    import json

    path = tmp_path / f"probe-{width}.html"
    path.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    r = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
         f"--window-size={width},2000", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert found and found[1], r.stdout[-2000:]
    return json.loads(html.unescape(found[1]))


@pytest.mark.parametrize("width", [1400, 700])
def test_legends_sit_outside_the_axes_and_tables_fit_the_window(sampled, tmp_path, width):
    # Review of #17, finding 4: legends inside the axes hid the ECDF's lower steps and
    # the p95 line's peaks; "category" wrapped mid-word; at 700 px the per-model
    # table overflowed the page.
    _, _, text = sampled
    layout = probe_layout(tmp_path, text, width)
    assert layout["legends"] == []
    assert layout["headers"] == []
    assert layout["overflow"] <= 0
    assert layout["boxes"] and max(layout["boxes"]) <= 0


def test_the_probe_sees_a_legend_drawn_inside_the_axes(tmp_path):
    # The layout test can fail: a legend placed inside the axes is found.
    from matplotlib.figure import Figure

    from l0_monitoring.report import _svg

    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label="line")
    ax.legend(loc="upper left")
    page = (
        f"<!DOCTYPE html><html><body>{_svg(fig, 0)}<table><tr><th>h</th></tr></table></body></html>"
    )
    assert probe_layout(tmp_path, page, 1000)["legends"] == ["f0-axes_1"]


def test_time_axes_show_clock_times_with_the_date_in_the_axis_title(sampled):
    # Review of #17, finding 4: bare seconds with the date offset squeezed at the right.
    _, _, text = sampled
    ticks = re.findall(r">(\d\d:\d\d:\d\d)</text>", text)
    assert len(ticks) >= 8 and "00:00:10" in ticks, ticks
    assert "stream start time (UTC, 2026-01-01)" in text


def test_each_rate_has_its_own_panel_with_its_slo_labelled_on_it(sampled):
    # Review of #17, finding 4: error and violation SLO lines, both at 1%, overlapped.
    _, _, text = sampled
    svg = re.findall(r"<svg.*?</svg>", text, re.S)
    rates = next(s for s in svg if "Error, retry and violation rates over time" in s)
    for title in ("error rate (failed + abandoned)", "retries per stream",
                  "guardrail violations per stream"):  # fmt: skip
        assert title in rates
    assert rates.count("SLO &lt; 1%") == 2 and rates.count("SLO &lt; 5%") == 1
    assert len(re.findall(r'<g id="f\d+-axes_\d+">', rates)) == 3


def test_report_and_check_judge_the_same_file_the_same_way(tmp_path):
    # Review of #17, finding 1: the report had its own targets (TTFT p95, tokens/s p5,
    # "any error" rate) and ignored --slo and L0_SLO_*.
    from .test_cli import cli

    out = tmp_path / "out"
    assert (
        cli("demo", "--simulate", "--streams", "150", "--seed", "3", "--out", str(out)).returncode
        == 0
    )
    slo = tmp_path / "slo.toml"
    slo.write_text("ttft_seconds = 0.7\nerror_rate = 0.2\nretry_rate = 0.5\n")
    for extra in ([], ["--slo", str(slo)]):
        check = cli("check", str(out / "telemetry.jsonl"), "--unsampled", *extra)
        verdicts = {}
        for line in check.stdout.splitlines():
            cells = re.split(r"\s{2,}", line.strip())
            if len(cells) == 4 and cells[3] in ("pass", "FAIL", "n/a"):
                verdicts[cells[0]] = {"pass": "met", "FAIL": "missed", "n/a": "no data"}[cells[3]]
        assert len(verdicts) == 5, check.stdout
        page_file = tmp_path / "r.html"
        assert (
            cli("report", str(out / "telemetry.jsonl"), "--html", str(page_file), *extra).returncode
            == 0
        )
        rows = re.findall(r'<tr><td>([^<]*)</td><td class="text">[^<]*</td><td class="text">'
                          r'[^<]*</td><td>[^<]*</td><td><span class="\w+">([^<]*)</span>',
                          page_file.read_text())  # fmt: skip
        assert dict(rows) == verdicts, (rows, check.stdout)
    assert "missed" in set(verdicts.values()) or "met" in set(verdicts.values())
    # the environment, as for check
    page_file = tmp_path / "env.html"
    r = cli("report", str(out / "telemetry.jsonl"), "--html", str(page_file),
            env={"L0_SLO_TTFT_SECONDS": "0.123"})  # fmt: skip
    assert r.returncode == 0 and "&lt; 0.123 s" in page_file.read_text()
