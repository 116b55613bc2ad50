"""Fuzzing the input boundaries: only documented ValueErrors, no crash, no hang."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l0_monitoring import Monitor, ObservabilityEvent, TelemetryExporter
from l0_monitoring.recording import iter_events
from l0_monitoring.settings import OpenTelemetryExporterConfig, SentryExporterConfig

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {}, optional={"type": json_values | st.sampled_from(["TOKEN", "COMPLETE", "ERROR"]),
                  "ts": json_values, "stream_id": json_values, "context": json_values,
                  "meta": json_values, "extra": json_values},
)  # fmt: skip


@FAST
@given(st.one_of(json_values, event_like))
def test_from_dict_accepts_or_raises_value_error(data):
    try:
        event = ObservabilityEvent.from_dict(data)
    except ValueError as exc:
        assert str(exc).startswith("event")
        return
    assert isinstance(event.stream_id, str) and event.stream_id
    assert ObservabilityEvent.from_dict(event.to_dict()) == event


@FAST
@given(st.lists(st.one_of(st.text(max_size=80), st.builds(json.dumps, event_like)), max_size=20))
def test_event_log_lines_never_crash_replay(lines):
    monitor = Monitor(raise_internal_errors=True)
    for event in iter_events(lines):
        monitor.handle_event(event)
    with pytest.raises(ValueError, match=r"^line \d+"):
        list(iter_events([*lines, "{broken"], strict=True))


@FAST
@given(st.text(max_size=400))
def test_csv_and_jsonl_readers_only_raise_value_error(text):
    for reader in (TelemetryExporter.from_csv, TelemetryExporter.from_jsonl):
        try:
            records = reader(text)
        except ValueError:
            continue
        assert isinstance(records, list)


@FAST
@given(st.sampled_from(["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
                        "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT",
                        "OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_COMPRESSION",
                        "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SDK_DISABLED", "SENTRY_DSN",
                        "SENTRY_SAMPLE_RATE", "SENTRY_TRACES_SAMPLE_RATE", "SENTRY_DEBUG",
                        "SENTRY_ENVIRONMENT"]),
       st.text(max_size=60))  # fmt: skip
def test_env_parsing_never_raises(var, value):
    cls = SentryExporterConfig if var.startswith("SENTRY") else OpenTelemetryExporterConfig
    cls.from_env({var: value})  # a bad value is ignored with a warning naming the variable


def test_bounded_atheris_run(tmp_path):
    pytest.importorskip("atheris")
    target = Path(__file__).with_name("fuzz_target.py")
    result = subprocess.run(
        [sys.executable, str(target), "-runs=20000", "-max_total_time=60",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 20000 runs" in result.stderr or "max_total_time" in result.stderr
