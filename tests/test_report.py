"""The HTML report: content, accessibility of the plots, and a real render in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from l0_monitoring import Monitor, MonitoringConfig, Telemetry
from l0_monitoring.demo import make_scenarios, run_simulated
from l0_monitoring.report import OKABE_ITO, SECTIONS, SLO_TARGETS, render_html, streams_note

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
        "stream start time (UTC)",
        "share of streams in the interval",
        "SLO: time to first token &lt; 1.00 s",
        "SLO: tokens per second &gt; 20.0 tokens/s",
        "SLO error rate &lt; 1.0%",
        "SLO retry rate &lt; 5.0%",
        "SLO guardrail violation rate &lt; 1.0%",
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
    for slo in SLO_TARGETS:
        assert slo.label in page.sections["slo"]
    error_rate = sum(t.error.occurred for t in records) / len(records)
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
    # Python construction: a document (model_validate) must carry every key.
    evil = Telemetry(
        stream_id="<script>alert(1)</script>",
        model="<b>m</b>",
        error={"occurred": True, "message": "<img src=x onerror=alert(1)>"},
        timing={"duration": 1.0},
    )
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
    assert f"{agg['error_rate']:.1%}" in slo and "all 300 streams" in slo
    assert "kept records" in slo  # the rates only the records can give say where they come from
    assert "overstate" in slo
