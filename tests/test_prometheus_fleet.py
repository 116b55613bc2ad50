"""Several worker processes, one /metrics: series files, merging, serving."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from l0_monitoring import Monitor, TelemetryExporter
from l0_monitoring.prometheus.multiprocess import SeriesFileWriter, read_series, render_directory
from l0_monitoring.prometheus.serve import make_wsgi_app, start_http_server
from l0_monitoring.prometheus.text import render
from l0_monitoring.testing import make_stream_events

from .conftest import missing_tool

pytest.importorskip("prometheus_client")

from prometheus_client.openmetrics.parser import (  # noqa: E402
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import sys
from pathlib import Path
from l0_monitoring import Monitor, TelemetryExporter
from l0_monitoring.demo import make_scenarios, run_simulated
from l0_monitoring.prometheus.multiprocess import SeriesFileWriter
out, k = Path(sys.argv[1]), int(sys.argv[2])
records = []
monitor = Monitor(on_complete=records.append)
writer = SeriesFileWriter(monitor, out / "series", interval=60).start()
run_simulated(make_scenarios(90, 3)[k::3], monitor.handle_event, 1.7e12)
assert writer.close(timeout=5)
(out / f"records-{k}.jsonl").write_text(TelemetryExporter.to_jsonl(records))
"""


def totals(text: str, parse=text_string_to_metric_families) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in parse(text)
        for s in fam.samples
        if not s.name.endswith("_created")
    }


def same(got: dict, want: dict) -> bool:
    """Counts exactly; float sums up to the order of addition."""
    assert got.keys() == want.keys()
    for key, value in want.items():
        if key[0].endswith("_sum"):
            assert got[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert got[key] == value, key
    return True


def test_one_endpoint_sums_the_series_of_several_worker_processes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), str(k)], env=env)
             for k in range(3)]  # fmt: skip
    for p in procs:
        assert p.wait(timeout=60) == 0
    assert len(list((tmp_path / "series").glob("l0-series-*.json"))) == 3
    records = []
    for k in range(3):
        records += TelemetryExporter.from_jsonl((tmp_path / f"records-{k}.jsonl").read_text())
    assert len(records) == 90
    expected = totals(TelemetryExporter.to_prometheus(records))  # the truth, from the records
    expected[("l0_series_files", (("state", "read"),))] = 3
    expected[("l0_series_files", (("state", "skipped"),))] = 0
    merged, problems = read_series(tmp_path / "series")
    assert problems == []
    assert same(totals(render(merged)), expected)

    server, thread = start_http_server(0, "127.0.0.1", source=tmp_path / "series")
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert same(totals(resp.read().decode()), expected)
        ask = urllib.request.Request(url, headers={"Accept": "application/openmetrics-text"})
        with urllib.request.urlopen(ask, timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
            assert same(totals(resp.read().decode(), parse_openmetrics), expected)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    from prometheus_client import CollectorRegistry, generate_latest

    from l0_monitoring.prometheus.multiprocess import directory_collector

    registry = CollectorRegistry()
    registry.register(directory_collector(tmp_path / "series"))
    assert same(totals(generate_latest(registry).decode()), expected)


def monitor_with(n: int) -> Monitor:
    monitor = Monitor()
    for i in range(n):
        for event in make_stream_events(f"s{i}", tokens=["a", "b"], model="m"):
            monitor.handle_event(event)
    return monitor


def test_a_bad_worker_file_is_skipped_and_named(tmp_path, caplog):
    SeriesFileWriter(monitor_with(2), tmp_path).write()
    (tmp_path / "l0-series-99999999.json").write_text("{not json")
    merged, problems = read_series(tmp_path)
    assert len(problems) == 1 and "l0-series-99999999.json" in problems[0]
    assert sum(merged.by_model["m"].streams.values()) == 2
    assert "l0_streams_total" in render_directory(tmp_path)
    assert "skipped a series file" in caplog.text


def completed(directory: Path) -> int:
    merged, problems = read_series(directory)
    assert problems == []
    return sum(s.streams["completed"] for s in merged.by_model.values())


def test_a_restarted_worker_with_a_recycled_pid_never_overwrites_the_dead_workers_file(tmp_path):
    # Review finding 1: the file was named by pid only, so a new worker that got
    # the dead one's pid replaced its file and the merged total fell (1800 -> 1204).
    dead = SeriesFileWriter(monitor_with(5), tmp_path)
    assert dead.close(timeout=1)
    assert completed(tmp_path) == 5
    restarted = SeriesFileWriter(monitor_with(2), tmp_path)  # same pid: this process
    assert restarted.write()
    assert restarted.path != dead.path and str(os.getpid()) in restarted.path.name
    assert completed(tmp_path) == 7  # never backwards: 5 (dead worker) + 2


def test_two_monitors_of_one_process_each_keep_their_own_file(tmp_path):
    one, two = monitor_with(3), monitor_with(4)
    writers = [SeriesFileWriter(one, tmp_path), SeriesFileWriter(two, tmp_path)]
    for _ in range(2):
        assert all(w.write() for w in writers)
    assert len(list(tmp_path.glob("l0-series-*.json"))) == 2
    assert completed(tmp_path) == 7


def test_clear_in_a_worker_never_makes_the_merged_totals_go_backwards(tmp_path):
    other = SeriesFileWriter(monitor_with(10), tmp_path)
    monitor = monitor_with(6)
    writer = SeriesFileWriter(monitor, tmp_path)
    assert other.write() and writer.write()
    seen = [completed(tmp_path)]
    monitor.clear()
    assert monitor.get_aggregate_metrics()["count"] == 0  # the aggregates are cleared
    assert writer.write()
    seen.append(completed(tmp_path))
    for event in make_stream_events("after", tokens=["a"], model="m"):
        monitor.handle_event(event)
    assert writer.write()
    seen.append(completed(tmp_path))
    assert seen == [16, 16, 17]


def bad_files() -> dict[str, str]:
    """Malformed worker files seen in the review, and other members of the kind."""
    good = monitor_with(1)._series_snapshot().to_dict()
    model = good["models"]["m"]

    def with_model(**changes) -> str:
        return json.dumps({"models": {"m": {**model, **changes}}})

    hist = model["ttft"]
    return {
        "models-list": json.dumps({"models": []}),
        "streams-list": json.dumps({"models": {"x": {"streams": []}}}),
        "empty-bounds": with_model(ttft={**hist, "bounds": [], "counts": [hist["count"]]}),
        "unsorted-bounds": with_model(ttft={**hist, "bounds": hist["bounds"][::-1]}),
        "count-not-sum": with_model(ttft={**hist, "count": hist["count"] + 5}),
        "nan-sum": with_model(ttft={**hist, "sum": float("nan")}),
        "negative": with_model(tokens=-3),
        "string-count": with_model(tokens="12"),
        "unknown-outcome": with_model(streams={**model["streams"], "exploded": 1}),
        "bad-exemplar": with_model(ttft={**hist, "exemplars": [["zz", 1, 2]]}),
        "top-level-list": "[]",
        "not-json": "{not json",
        "binary": "\x00\xff",
        "extra-field": json.dumps({"models": {}, "pwned": 1}),
    }


def test_malformed_worker_files_are_skipped_counted_and_never_fail_the_scrape(tmp_path, caplog):
    # Review finding 2: {"models": []} made render_directory raise AttributeError
    # (a 500 for the whole fleet); an empty-bounds histogram failed in the renderer.
    from prometheus_client import CollectorRegistry, generate_latest

    from l0_monitoring.prometheus.multiprocess import directory_collector

    assert SeriesFileWriter(monitor_with(2), tmp_path).write()
    bad = bad_files()
    for name, text in bad.items():
        (tmp_path / f"l0-series-{name}.json").write_text(text, encoding="utf-8", errors="replace")
    merged, problems = read_series(tmp_path)
    assert len(problems) == len(bad) and merged.files == (1, len(bad))
    assert {p.split(":")[0] for p in problems} == {f"l0-series-{n}.json" for n in bad}
    assert sum(merged.by_model["m"].streams.values()) == 2 and set(merged.by_model) == {"m"}
    registry = CollectorRegistry()
    registry.register(directory_collector(tmp_path))
    statuses: list[str] = []
    app = make_wsgi_app(tmp_path)
    served = b"".join(app({}, lambda status, headers: statuses.append(status))).decode()
    assert statuses == ["200 OK"]
    for text in (render_directory(tmp_path), served, generate_latest(registry).decode()):
        got = totals(text)
        assert got[("l0_series_files", (("state", "read"),))] == 1
        assert got[("l0_series_files", (("state", "skipped"),))] == len(bad)
        assert got[("l0_streams_total", (("model", "m"), ("outcome", "completed")))] == 2
    om = render_directory(tmp_path, openmetrics=True)
    assert 'l0_series_files{state="skipped"} 14' in om and om.endswith("# EOF\n")
    render_directory(tmp_path)  # a bad file is logged once, not at every scrape
    assert caplog.text.count("skipped a series file") == len(bad)
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_tool("promtool (Debian package prometheus; .ci/run installs it)")
    checked = subprocess.run([promtool, "check", "metrics"], input=render_directory(tmp_path),
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_failing_write_is_counted_and_logged_never_raised(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    writer = SeriesFileWriter(monitor_with(1), blocker / "sub")
    assert writer.write() is False
    assert (writer.writes, writer.errors) == (0, 1)
    assert "could not write" in caplog.text
    with pytest.raises(ValueError, match="interval"):
        SeriesFileWriter(monitor_with(0), tmp_path, interval=0)


def test_the_background_writer_keeps_the_file_current_and_close_writes_last(tmp_path):
    monitor = monitor_with(1)
    writer = SeriesFileWriter(monitor, tmp_path, interval=0.05).start()
    assert writer.start() is writer  # idempotent
    deadline = time.monotonic() + 30
    while writer.writes < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.writes >= 2
    for event in make_stream_events("late", tokens=["a"], model="m"):
        monitor.handle_event(event)
    assert writer.close(timeout=5)
    merged, _ = read_series(tmp_path)
    assert sum(merged.by_model["m"].streams.values()) == 2


def test_the_app_reports_a_failed_render_as_a_500_and_rejects_bad_sources():
    def broken():
        raise RuntimeError("boom")

    app = make_wsgi_app(broken)
    statuses = []
    body = app({}, lambda status, headers: statuses.append(status))
    assert statuses == ["500 Internal Server Error"] and b"could not render" in b"".join(body)
    with pytest.raises(TypeError, match="Monitor, a directory or a callable"):
        make_wsgi_app(42)
    with pytest.raises(ValueError, match="model"):
        make_wsgi_app(broken, labels={"model": "x"})


def test_our_server_serves_an_applications_registry_alongside_in_one_format(tmp_path):
    # Review finding 9: the full scrape through prometheus_client (generate_latest)
    # formats every sample; our server renders ours and appends the app's registry.
    from prometheus_client import CollectorRegistry, Counter
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om

    app_metrics = CollectorRegistry()
    requests = Counter("app_requests", "Requests served.", registry=app_metrics)
    requests.inc(7)
    monitor = monitor_with(3)
    app = make_wsgi_app(monitor, registry=app_metrics)
    statuses: list[str] = []
    text = b"".join(app({}, lambda status, headers: statuses.append(status))).decode()
    got = totals(text)
    assert got[("app_requests_total", ())] == 7
    assert got[("l0_streams_total", (("model", "m"), ("outcome", "completed")))] == 3
    ask = {"HTTP_ACCEPT": "application/openmetrics-text"}
    body = b"".join(app(ask, lambda status, headers: statuses.append(status))).decode()
    assert body.count("# EOF") == 1 and body.endswith("# EOF\n")
    fams = {f.name: f for f in om(body)}  # the strict OpenMetrics parser accepts it
    assert fams["app_requests"].samples[0].value == 7 and "l0_streams" in fams
    assert statuses == ["200 OK", "200 OK"]
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_tool("promtool (Debian package prometheus; .ci/run installs it)")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=60, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
