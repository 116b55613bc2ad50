"""Injection: hostile strings cannot run in a spreadsheet, forge log keys, or break Prometheus."""

from __future__ import annotations

import csv
import io
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l0_monitoring import ErrorInfo, Telemetry, TelemetryExporter

hostile = st.text(
    st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40
) | st.sampled_from(['=HYPERLINK("http://x")', "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1",
                     'a" b=c\nstream_id=forged', "x\\\"y", "\u2028line", "\x85nel"])  # fmt: skip
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = re.compile(r'(?:^| )([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ "]*)')


def record(value: str) -> Telemetry:
    return Telemetry(stream_id=value, model=value, session_id=value,
                     error=ErrorInfo(occurred=True, message=value, code=value),
                     metadata={"note": value}, completed=True)  # fmt: skip


@FAST
@given(hostile)
def test_csv_cells_never_start_a_formula_and_read_back(value):
    t = record(value)
    text = TelemetryExporter.to_csv([t])
    for row in list(csv.reader(io.StringIO(text, newline="")))[1:]:
        for cell in row:
            assert not cell or cell[0] not in "=+-@\t\r", cell
    assert TelemetryExporter.from_csv(text) == [t]


@FAST
@given(hostile)
def test_logfmt_line_has_exactly_our_keys(value):
    line = TelemetryExporter.to_log_format(record(value))
    assert "\n" not in line and "\r" not in line and "\x85" not in line and "\u2028" not in line
    keys = KEY.findall(line)
    assert "".join(f"{' ' if i else ''}{k}={v}" for i, (k, v) in enumerate(keys)) == line
    assert [k for k, _ in keys] == ["stream_id", "model", "tokens", "error", "completed"]


@FAST
@given(hostile)
def test_prometheus_label_values_are_escaped(value):
    from prometheus_client.parser import text_string_to_metric_families

    text = TelemetryExporter.to_prometheus([record(value)])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = [s for s in families["l0_streams"].samples if s.name == "l0_streams_total"]
    assert {s.labels["model"] for s in samples} == {value}  # every outcome, at 0 or 1
    assert {s.labels["outcome"]: s.value for s in samples}["completed"] == 1
    for line in text.split("\n")[:-1]:  # the format's only line separator is "\n"
        assert line.startswith(("# ", "l0_")), line
