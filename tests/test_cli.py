"""The ``l0-monitoring`` command, run as a subprocess like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from l0_monitoring import ObservabilityEvent, Telemetry, TelemetryExporter

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120):
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("OTEL_", "SENTRY_"))}  # fmt: skip
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "l0_monitoring", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=environ,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    result = cli("demo", "--streams", "60", "--concurrency", "12", "--seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def test_demo_writes_every_file_and_they_parse(demo_dir):
    out, result = demo_dir
    assert "the real L0 runtime (l0.run)" in result.stdout
    for header in ("model", "error rate", "TTFT p50 ms", "p99 ms", "tok/s p50"):
        assert header in result.stdout
    assert "Time to first token" in result.stdout and "#" in result.stdout
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in result.stdout and "SENTRY_DSN" in result.stdout
    records = TelemetryExporter.from_jsonl((out / "telemetry.jsonl").read_text())
    assert len(records) == 60 and {r.model for r in records} >= {"gpt-4o", "claude-3-5-sonnet"}
    outcomes = {r.outcome for r in records}
    assert {"completed", "failed"} <= outcomes
    assert any(r.retries.network_retries for r in records)
    assert any(r.guardrails.violations for r in records) or "aborted" in outcomes
    assert TelemetryExporter.from_csv((out / "telemetry.csv").read_text()) == records
    for line in (out / "events.jsonl").read_text().splitlines():
        ObservabilityEvent.from_dict(json.loads(line))
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name for f in text_string_to_metric_families((out / "metrics.prom").read_text())}
    assert {"l0_streams", "l0_time_to_first_token_seconds"} <= families


def test_replaying_the_event_log_reproduces_the_telemetry(demo_dir):
    out, _ = demo_dir
    result = cli("replay", str(out / "events.jsonl"), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (out / "telemetry.jsonl").read_text()
    table = cli("replay", str(out / "events.jsonl"))
    assert "gpt-4o" in table.stdout and "TTFT p50 ms" in table.stdout
    for fmt in ("json", "csv", "log", "prometheus"):
        r = cli("replay", str(out / "events.jsonl"), "--format", fmt)
        assert r.returncode == 0 and r.stdout, fmt
    assert (
        len(json.loads(cli("replay", str(out / "events.jsonl"), "--format", "json").stdout)) == 60
    )


def test_simulated_demo_is_deterministic_per_seed(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        r = cli("demo", "--simulate", "--streams", "40", "--seed", "11", "--out", str(d))
        assert r.returncode == 0, r.stderr
        assert "built-in event simulator" in r.stdout
    for name in ("events.jsonl", "telemetry.jsonl", "telemetry.csv", "metrics.prom", "report.html"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    c = tmp_path / "c"
    cli("demo", "--simulate", "--streams", "40", "--seed", "12", "--out", str(c))
    assert (a / "telemetry.jsonl").read_bytes() != (c / "telemetry.jsonl").read_bytes()


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.svgs, self.external = [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "svg":
            self.svgs += 1
        for key in ("src", "href"):
            if attrs.get(key):
                self.external.append(attrs[key])


def test_report_is_self_contained_with_every_section(demo_dir, tmp_path):
    out, _ = demo_dir
    html_path = tmp_path / "report.html"
    r = cli("report", str(out / "telemetry.jsonl"), "--html", str(html_path))
    assert r.returncode == 0, r.stderr
    parser = _Collect()
    parser.feed(html_path.read_text())
    from l0_monitoring.report import SECTIONS

    assert parser.sections == list(SECTIONS)
    assert parser.svgs >= 5 and parser.external == []
    text = html_path.read_text()
    assert "gpt-4o" in text and "<path" in text
    demo_parser = _Collect()
    demo_parser.feed((out / "report.html").read_text())
    assert demo_parser.sections == parser.sections


def test_validate_names_the_line_and_the_field(demo_dir, tmp_path):
    out, _ = demo_dir
    ok = cli("validate", str(out / "telemetry.jsonl"))
    assert ok.returncode == 0 and "60 valid, 0 invalid" in ok.stdout
    events = cli("validate", str(out / "events.jsonl"), "--schema", "ObservabilityEvent")
    assert events.returncode == 0
    lines = (out / "telemetry.jsonl").read_text().splitlines()
    broken = json.loads(lines[1])
    broken["retries"]["total_retries"] = "many"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], json.dumps(broken), "{not json"]) + "\n")
    r = cli("validate", str(bad))
    assert r.returncode == 1
    assert "line 2: retries.total_retries" in r.stdout and "line 3: invalid JSON" in r.stdout
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sampling": {"rate": 2}}))
    r = cli("validate", str(config), "--schema", "MonitoringConfig")
    assert r.returncode == 1 and "sampling.rate" in r.stdout


def test_validate_counts_a_good_line_and_a_truncated_line_as_one_each(demo_dir, tmp_path):
    out, _ = demo_dir
    line = (out / "telemetry.jsonl").read_text().splitlines()[0]
    path = tmp_path / "t.jsonl"
    path.write_text(line + "\n" + line[: len(line) // 2] + "\n")
    r = cli("validate", str(path))
    assert r.returncode == 1
    assert f"{path}: 1 valid, 1 invalid (Telemetry)" in r.stdout
    assert "line 2: invalid JSON" in r.stdout
    # The same without the .jsonl suffix: still one document per line.
    other = tmp_path / "t.txt"
    other.write_text(path.read_text())
    assert "1 valid, 1 invalid" in cli("validate", str(other)).stdout


def test_validate_says_what_kind_of_file_it_was_given(demo_dir, tmp_path):
    out, _ = demo_dir
    events = out / "events.jsonl"
    n = len(events.read_text().splitlines())
    r = cli("validate", str(events))
    assert r.returncode == 1 and f"0 valid, {n} invalid (Telemetry)" in r.stdout
    assert f"{n} invalid document(s) are valid ObservabilityEvent documents" in r.stdout
    assert "did you mean --schema ObservabilityEvent?" in r.stdout
    r = cli("validate", str(out / "telemetry.jsonl"), "--schema", "ObservabilityEvent")
    assert r.returncode == 1 and "did you mean --schema Telemetry?" in r.stdout
    r = cli("validate", str(out / "aggregates.json"))
    assert r.returncode == 1 and "did you mean --schema AggregateMetrics?" in r.stdout
    r = cli("validate", str(out / "aggregates.json"), "--schema", "AggregateMetrics")
    assert r.returncode == 0 and "1 valid, 0 invalid" in r.stdout


@pytest.mark.parametrize("text", ["", "\n\n", "  \n"])
def test_validate_reports_an_empty_file_as_empty(tmp_path, text):
    path = tmp_path / "empty.jsonl"
    path.write_text(text)
    r = cli("validate", str(path))
    assert r.returncode == 1
    assert r.stdout.strip() == f"{path}: empty file, no documents to validate (Telemetry)"


def test_schemas_command_writes_and_checks(tmp_path):
    r = cli("schemas", "--out", str(tmp_path / "s"))
    assert r.returncode == 0
    assert cli("schemas", "--out", str(tmp_path / "s"), "--check").returncode == 0
    (tmp_path / "s" / "Telemetry.schema.json").write_text("{}")
    r = cli("schemas", "--out", str(tmp_path / "s"), "--check")
    assert r.returncode == 1 and "Telemetry.schema.json: stale" in r.stderr
    assert cli("schemas", "--check", cwd=ROOT).returncode == 0  # the committed ones


@pytest.mark.parametrize("command", ["demo", "replay", "schemas", "validate", "report"])
def test_every_command_has_help_with_examples(command):
    r = cli(command, "--help")
    assert r.returncode == 0 and "examples" in r.stdout.lower() or "example:" in r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--streams", "many"],
        ["demo", "--streams", "0"],
        ["demo", "--config", "turbo"],
        ["replay", "/no/such/events.jsonl"],
        ["replay", "x.jsonl", "--format", "xml"],
        ["validate", "/no/such/file.json"],
        ["report", "/no/such.jsonl", "--html", "x.html"],
        ["report", "x.jsonl"],
        ["bogus-command"],
        [],
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args):
    r = cli(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout
    if args:
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("l0-monitoring:")


def test_unreadable_or_malformed_inputs_never_traceback(tmp_path):
    garbage = tmp_path / "t.jsonl"
    garbage.write_text('{"stream_id": 5}\n')
    r = cli("report", str(garbage), "--html", str(tmp_path / "r.html"))
    assert r.returncode == 2 and "line 1" in r.stderr and "Traceback" not in r.stderr
    events = tmp_path / "e.jsonl"
    events.write_text(
        '{"type": "SESSION_START", "ts": 1, "stream_id": "s", "context": {}, "meta": {}}\n'
        "not json\n"
        '{"type": "COMPLETE", "ts": 5, "stream_id": "s", "context": {}, "meta": {}}\n'
    )
    r = cli("replay", str(events), "--format", "jsonl")
    assert r.returncode == 0 and "skipped 1 malformed line" in r.stderr
    (t,) = TelemetryExporter.from_jsonl(r.stdout)
    assert isinstance(t, Telemetry) and t.completed


def test_demo_exports_to_otlp_and_sentry_when_the_environment_says_so(tmp_path):
    from .otlp_receiver import Receiver
    from .sentry_ingest import Ingest

    receiver = Receiver().start()
    ingest = Ingest().start()
    try:
        r = cli("demo", "--simulate", "--streams", "30", "--out", str(tmp_path / "out"), env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_SERVICE_NAME": "demo-test",
            "SENTRY_DSN": ingest.dsn(),
        })  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "OpenTelemetry: exporting to" in r.stdout and "Sentry: capturing" in r.stdout
        assert "set OTEL_EXPORTER_OTLP_ENDPOINT" not in r.stdout
        assert receiver.wait_for(lambda: len(receiver.spans()) == 30)
        failed = sum(1 for t in TelemetryExporter.from_jsonl(
            (tmp_path / "out" / "telemetry.jsonl").read_text()) if t.error.occurred)  # fmt: skip
        assert failed and ingest.wait_for(failed)
    finally:
        receiver.stop()
        ingest.stop()


@pytest.mark.parametrize(
    ("text", "schema", "suggested"),
    [
        ("{}", "ObservabilityEvent", None),
        ("{}", "Telemetry", None),
        ("[]", "Telemetry", None),
        ("null", "AggregateMetrics", None),
        ('{"sampling": {"rate": 0.5}}', "Telemetry", "MonitoringConfig"),
        ('{"sampling": {"rate": 0.5}}', "ObservabilityEvent", "MonitoringConfig"),
        (
            '{"type": "TOKEN", "ts": 1.5, "stream_id": "s", "context": {}, "meta": {}}',
            "Telemetry",
            "ObservabilityEvent",
        ),  # fmt: skip
    ],
)
def test_validate_suggests_another_schema_only_for_a_plausible_instance(
    tmp_path, text, schema, suggested
):
    path = tmp_path / "o.json"
    path.write_text(text)
    r = cli("validate", str(path), "--schema", schema)
    assert r.returncode == 1 and "0 valid, 1 invalid" in r.stdout
    if suggested is None:
        assert "did you mean" not in r.stdout, r.stdout
    else:
        assert f"did you mean --schema {suggested}?" in r.stdout
