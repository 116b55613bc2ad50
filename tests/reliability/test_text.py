"""Hostile text and timestamps: one bad string or number never costs anything else.

Text that is not valid Unicode (a lone surrogate from a provider that split an
emoji, invalid UTF-8 bytes in a file) is made safe once where it enters (lone
surrogates become U+FFFD); NUL and U+2028 are kept as data. Every output is
read back with a standard parser: ``json``, ``csv``, ``prometheus_client.parser``.
"""

from __future__ import annotations

import csv
import decimal
import enum
import fractions
import io
import json
import math
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l0_monitoring import (
    Monitor,
    Monitoring,
    ObservabilityEvent,
    Telemetry,
    TelemetryExporter,
    replay,
)
from l0_monitoring._internal.safe import finite_ms
from l0_monitoring.cli import main
from l0_monitoring.testing import make_stream_events

try:  # the [prometheus] extra; without it, the Prometheus checks are skipped
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from l0_monitoring.prometheus import MonitorCollector
except ImportError:  # pragma: no cover - the minimal (no extras) run
    CollectorRegistry = None  # type: ignore[assignment,misc]

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "ObservabilityEvent.schema.json").read_text()
)
EVENT_SCHEMA = jsonschema.Draft202012Validator(SCHEMA)
BAD = "\ud800"  # a lone surrogate: half of an emoji split between two chunks


def bad_stream(sid: str, text: str) -> list[ObservabilityEvent]:
    """A stream whose context, model, tokens and error message all carry ``text``."""
    events = make_stream_events(sid, tokens=["a", text, "b"], outcome="halt", model=f"gpt{text}")
    for e in events:
        e.context.update({"tenant": text, f"k{text}": "v", "model": f"gpt{text}"})
        if "error" in e.meta:
            e.meta["error"] = RuntimeError(f"upstream said {text}")
    return events


def all_lines(*paths: Path) -> list[bytes]:
    out: list[bytes] = []
    for p in paths:
        data = p.read_bytes()
        assert not data or data.endswith(b"\n")
        out.extend(x for x in data.split(b"\n") if x)
    return out


def parse_outputs(records: list[Telemetry]) -> None:
    """Every exporter's output encodes as UTF-8 and parses back, one item per record."""
    jsonl = TelemetryExporter.to_jsonl(records)
    assert [json.loads(x) for x in jsonl.encode("utf-8").decode().split("\n") if x]
    assert len([x for x in jsonl.split("\n") if x]) == len(records)
    table = TelemetryExporter.to_csv(records)
    rows = list(csv.reader(io.StringIO(table.encode("utf-8").decode(), newline="")))
    assert len(rows) == len(records) + 1
    assert len(TelemetryExporter.from_csv(table)) == len(records)
    for t in records:
        json.loads(TelemetryExporter.to_json(t).encode("utf-8"))
        TelemetryExporter.to_log_format(t).encode("utf-8")
    text = TelemetryExporter.to_prometheus(records)
    if CollectorRegistry is not None:
        list(text_string_to_metric_families(text.encode("utf-8").decode()))


# -- the examples of the issue ---------------------------------------------------------


@pytest.mark.parametrize("rotate", [False, True], ids=["one-file", "rotating"])
def test_one_lone_surrogate_costs_no_other_recorded_event(tmp_path, rotate):
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path, max_bytes=20_000 if rotate else None, backup_count=1000)
    n = 0
    for s in range(125):  # 1,000 events; one stream carries the surrogate everywhere
        events = bad_stream(f"s{s}", BAD) if s == 60 else make_stream_events(f"s{s}")
        for e in events[:8]:
            rec(e)
            n += 1
    rec.close()
    stats = rec.stats()
    lines = all_lines(path, *tmp_path.glob("events.jsonl.*"))
    assert stats["written"] == len(lines) == n
    for line in lines:
        EVENT_SCHEMA.validate(json.loads(line))
    assert "\ufffd".encode() in b"".join(lines)  # replaced, documented: U+FFFD


def test_one_lone_surrogate_costs_no_other_record_in_any_export():
    monitor = Monitor()
    for s in range(10):
        for e in bad_stream(f"s{s}{BAD}", BAD) if s == 3 else make_stream_events(f"s{s}"):
            monitor.handle_event(e)
    records = monitor.get_all_telemetry()
    assert len(records) == 10
    parse_outputs(records)
    # A record the host built itself with bad text: cleaned, the others untouched.
    host_built = Telemetry(stream_id=f"h{BAD}", model=f"m{BAD}", metadata={f"k{BAD}": [BAD]})
    parse_outputs([records[0], host_built, records[1]])
    assert json.loads(TelemetryExporter.to_jsonl([host_built]))["model"] == "m\ufffd"


def test_a_lone_surrogate_never_breaks_a_scrape():
    pytest.importorskip("prometheus_client")
    monitor = Monitor()
    registry = CollectorRegistry()
    registry.register(MonitorCollector(monitor, labels={"region": f"eu{BAD}"}))
    for s in range(5):
        for e in bad_stream(f"s{s}", BAD) if s == 2 else make_stream_events(f"s{s}"):
            monitor.handle_event(e)
    for _ in range(2):  # every scrape, not only the first
        text = generate_latest(registry).decode("utf-8")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        models = {s.labels["model"] for s in families["l0_streams"].samples}
        assert models == {"gpt-4o", "gpt\ufffd"}


def test_an_invalid_utf8_byte_costs_only_its_line_on_replay(tmp_path):
    path = tmp_path / "events.jsonl"
    events = make_stream_events("s1")
    lines = [json.dumps(e.to_dict()).encode() for e in events]
    lines.insert(2, b'{"type": "TOKEN", "ts": 1, "stream_id": "s1", "meta": {"token": "\xff"}}')
    path.write_bytes(b"\n".join(lines) + b"\n")
    monitor = Monitor()
    result = replay(path, monitor)
    assert result.events == len(events) and result.skipped == 1
    assert result.errors[0][0] == 3 and "UTF-8" in result.errors[0][1]
    assert monitor.get_telemetry("s1").completed


@pytest.mark.parametrize("command", ["replay", "validate"])
def test_the_cli_refuses_a_binary_file_with_one_line_and_exit_2(tmp_path, capsys, command):
    path = tmp_path / "events.jsonl"
    path.write_bytes(bytes(range(256)) * 64)
    assert main([command, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a text file" in err and "Traceback" not in err


def test_the_cli_skips_an_undecodable_line_and_names_it(tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(e.to_dict()).encode() for e in make_stream_events("s1")]
    lines.insert(1, b"\xc3\x28 not utf-8")
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["replay", str(path), "--format", "jsonl"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["stream_id"] == "s1"
    assert "skipped 1 malformed line; first: line 2: not valid UTF-8" in out.err
    assert main(["validate", str(path), "--schema", "ObservabilityEvent"]) == 1
    assert "line 2: invalid JSON: not valid UTF-8" in capsys.readouterr().out


@pytest.mark.parametrize("bad_ts", [math.nan, math.inf, -math.inf])
def test_a_non_finite_token_timestamp_counts_alike_live_and_replayed(tmp_path, bad_ts):
    events = make_stream_events("s1", tokens=["a", "b", "c", "d"])
    tokens = [e for e in events if e.type == "TOKEN"]
    tokens[2].ts = bad_ts
    path = tmp_path / "events.jsonl"
    live = Monitor(raise_internal_errors=True)
    rec = Monitoring.record(path)
    for e in events:
        live.handle_event(e)
        rec(e)
    rec.close()
    assert rec.stats()["malformed"] == 1 and rec.stats()["written"] == len(events) - 1
    for line in all_lines(path):
        EVENT_SCHEMA.validate(json.loads(line))
    replayed = Monitor(raise_internal_errors=True)
    result = replay(path, replayed, strict=True)
    assert result.skipped == 0
    assert live.get_telemetry("s1").metrics.token_count == 3
    assert replayed.get_all_telemetry() == live.get_all_telemetry()
    assert live.stats()["malformed_events"] == 1


# -- every boundary, arbitrary text ----------------------------------------------------

# Every code point, lone surrogates included; NUL, U+2028 and friends often.
any_char = st.characters(codec=None, exclude_categories=()) | st.sampled_from(
    ["\x00", "\u2028", "\u2029", "\x85", "\ud800", "\udfff", "\n", "\r", '"', "\\", "=", ","]
)
hostile = st.text(any_char, max_size=12)
weird_ts = st.sampled_from([math.nan, math.inf, -math.inf, True, "12", None])


@st.composite
def hostile_streams(draw):
    """A few streams; each text field of one event may be replaced by hostile text."""
    out = []
    for s in range(draw(st.integers(1, 4))):
        sid = draw(st.sampled_from([f"s{s}", f"s{s}" + draw(hostile)]))
        events = make_stream_events(sid, tokens=["a", "b"], outcome=draw(
            st.sampled_from(["complete", "halt"])))  # fmt: skip
        for e in events:
            if draw(st.booleans()):
                e.context[draw(hostile)] = draw(hostile)
                e.meta.update(model=draw(hostile), token=draw(hostile), error=draw(hostile))
            if draw(st.integers(0, 20)) == 0:
                e.ts = draw(weird_ts)
        out.extend(events)
    return out


HOSTILE = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@HOSTILE
@given(events=hostile_streams(), label=hostile, raw=st.binary(min_size=1, max_size=8))
def test_arbitrary_text_crosses_every_boundary(tmp_path_factory, events, label, raw, capsys):
    tmp = tmp_path_factory.mktemp("hostile")
    path = tmp / "events.jsonl"
    # event in: the Monitor, the recorder, a batch, combined
    live = Monitor(raise_internal_errors=True)
    rec = Monitoring.record(path, record_token_content=True)
    batched: list = []
    batch = Monitoring.batch(3, 60.0, batched.extend)
    on_event = Monitoring.combine(live.handle_event, rec, batch)
    for e in events:
        on_event(e)
    batch.close(timeout=5)
    rec.close(timeout=5)
    assert len(batched) == len(events)
    stats = rec.stats()
    assert stats["written"] + stats["malformed"] == len(events) and stats["dropped"] == 0
    # record out: every line validates against the published schema
    lines = all_lines(path)
    assert len(lines) == stats["written"]
    for line in lines:
        EVENT_SCHEMA.validate(json.loads(line))
        assert len(line.decode("utf-8").splitlines()) == 1  # U+2028 cannot split a line
    # replay: the same records as live
    replayed = Monitor(raise_internal_errors=True)
    assert replay(path, replayed, strict=True).events == stats["written"]
    assert replayed.get_all_telemetry() == live.get_all_telemetry()
    # every exporter, the Prometheus text and a collector scrape
    records = live.get_all_telemetry()
    if records:
        parse_outputs(records)
    if CollectorRegistry is not None:
        registry = CollectorRegistry()
        registry.register(MonitorCollector(live, labels={"label": label}))
        list(text_string_to_metric_families(generate_latest(registry).decode("utf-8")))
    TelemetryExporter.to_prometheus(live, labels={"label": label}).encode("utf-8")
    # invalid UTF-8 bytes in the file: that line only is skipped, by replay and the CLI
    corrupt = tmp / "corrupt.jsonl"
    data = path.read_bytes().split(b"\n")
    raw = raw.replace(b"\n", b"").replace(b"\x00", b"")  # NUL: a binary file (below)
    data.insert(1, b'{"x": "' + raw + b'\xff"}')
    corrupt.write_bytes(b"\n".join(data))
    again = Monitor(raise_internal_errors=True)
    result = replay(corrupt, again)
    assert result.events == stats["written"] and result.skipped == 1
    assert main(["replay", str(corrupt), "--format", "jsonl"]) == 0
    out = capsys.readouterr().out
    # Every finished record, plus the unfinished streams the command closes as abandoned.
    printed = [json.loads(x) for x in out.split("\n") if x]
    assert len(printed) >= len(records)
    # A NUL byte: not a text file, one line and exit 2
    corrupt.write_bytes(path.read_bytes() + b"\x00" + raw)
    assert main(["replay", str(corrupt)]) == 2


def _numpy_scalars():
    numpy = pytest.importorskip("numpy")
    return [numpy.int64(1150), numpy.float32(1150.0), numpy.float64(1150.5)]


@pytest.mark.parametrize(
    "make_ts",
    [
        lambda: _numpy_scalars()[0],
        lambda: _numpy_scalars()[1],
        lambda: _numpy_scalars()[2],
        lambda: decimal.Decimal("1150.25"),
        lambda: fractions.Fraction(2301, 2),
    ],
    ids=["numpy.int64", "numpy.float32", "numpy.float64", "Decimal", "Fraction"],
)
def test_a_real_number_timestamp_of_any_type_is_recorded_and_replayed_alike(tmp_path, make_ts):
    """r13 #2: numpy scalars and Decimal count live; the recorder writes them as floats."""
    events = make_stream_events("s1", tokens=["a", "b", "c", "d"])
    tokens = [e for e in events if e.type == "TOKEN"]
    tokens[2].ts = make_ts()
    path = tmp_path / "events.jsonl"
    live = Monitor(raise_internal_errors=True)
    rec = Monitoring.record(path)
    for e in events:
        live.handle_event(e)
        rec(e)
    rec.close()
    assert rec.stats()["malformed"] == 0 and rec.stats()["written"] == len(events)
    lines = all_lines(path)
    for line in lines:
        EVENT_SCHEMA.validate(json.loads(line))
    assert json.loads(lines[events.index(tokens[2])])["ts"] == float(tokens[2].ts)
    replayed = Monitor(raise_internal_errors=True)
    assert replay(path, replayed, strict=True).skipped == 0
    assert live.get_telemetry("s1").metrics.token_count == 4
    assert replayed.get_all_telemetry() == live.get_all_telemetry()


@pytest.mark.parametrize(
    "bad", [10**400, decimal.Decimal("1e400"), decimal.Decimal("NaN"), True, "1150", None]
)
def test_a_timestamp_beyond_a_finite_float_is_not_an_event_anywhere(tmp_path, bad):
    """r13 #2: one rule (``finite_ms``) for the recorder and for reading a log back."""
    assert finite_ms(bad) is None
    event = ObservabilityEvent("TOKEN", 1000.0, "s1", {}, {"token": "a"})
    event.ts = bad
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path)
    rec(event)
    rec.close()
    assert rec.stats()["malformed"] == 1 and path.read_bytes() == b""
    if type(bad) is int:  # a JSON integer that big, written by someone else
        line = f'{{"type":"TOKEN","ts":{bad},"stream_id":"s1","context":{{}},"meta":{{}}}}'
        result = replay([line], Monitor())
        assert result.events == 0 and result.skipped == 1
        # The strict JSON reader already refuses a number beyond a 64-bit float.
        assert "out of the 64-bit float range" in result.errors[0][1]


SEPARATORS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]


@pytest.mark.parametrize("sep", SEPARATORS)
def test_every_json_lines_writer_keeps_a_record_on_one_line_for_splitlines(tmp_path, sep):
    """r13 #7: a line separator str.splitlines() knows, in a model name or an error message."""
    monitor = Monitor()
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path, record_token_content=True)
    for e in make_stream_events("s1", tokens=["a" + sep], outcome="halt"):
        e.context["model"] = f"m{sep}x"
        if e.type == "ERROR":
            e.meta["error"] = e.meta["message"] = f"boom{sep}{sep}again"
        monitor.handle_event(e)
        rec(e)
    rec.close()
    records = monitor.get_all_telemetry()
    assert f"boom{sep}" in records[0].error.message
    jsonl = TelemetryExporter.to_jsonl(records + records)
    assert len(jsonl.splitlines()) == 2
    assert TelemetryExporter.from_jsonl(jsonl.splitlines()) == records + records
    text = path.read_text("utf-8")
    assert len(text.splitlines()) == rec.stats()["written"] == len(text.split("\n")) - 1
    assert replay(text.splitlines(), Monitor()).skipped == 0


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85"])
def test_to_json_is_one_line_for_splitlines_compact_or_indented(sep):
    """r13c #3: to_json escapes the separators JSON may leave raw, as json_line does."""
    monitor = Monitor()
    for e in make_stream_events("s1", outcome="halt"):
        e.context["model"] = f"m{sep}x"
        if e.type == "ERROR":
            e.meta["error"] = e.meta["message"] = f"boom{sep}again"
        monitor.handle_event(e)
    (record,) = monitor.get_all_telemetry()
    assert sep in record.error.message
    compact = TelemetryExporter.to_json(record, indent=None)
    assert len(compact.splitlines()) == 1 and sep not in compact
    indented = TelemetryExporter.to_json(record)
    assert sep not in indented and indented.splitlines() == indented.split("\n")
    for text in (compact, indented):
        assert Telemetry.model_validate_json(text) == record
        assert json.loads(text)["error"]["message"] == record.error.message


def test_an_infinite_rate_is_null_in_every_format_and_reads_back():
    """r13 #5: an infinite tokens_per_second (a host-built record) is null in every format.

    The Monitor no longer builds one: COMPLETE tokenCount=1e308 is beyond the
    count bound, so it is malformed and ignored (the rate stays finite).
    """
    monitor = Monitor()
    for e in make_stream_events("s1", tokens=["a", "b"]):
        if e.type == "COMPLETE":
            e.meta["tokenCount"] = 1e308
        monitor.handle_event(e)
    built = monitor.get_telemetry("s1")
    assert math.isfinite(built.metrics.tokens_per_second)
    assert monitor.stats()["malformed_events"] == 1
    record = built.model_copy(
        update={"metrics": built.metrics.model_copy(update={"tokens_per_second": math.inf})}
    )
    # A host-built record the same way, and one with NaN elsewhere.
    nan = record.model_copy(update={"stream_id": "s2"})
    nan.timing = nan.timing.model_copy(update={"duration": math.nan})
    for t in (record, nan):
        as_dict = TelemetryExporter.to_dict(t)
        json.dumps(as_dict, allow_nan=False)
        Telemetry.model_validate(as_dict)
        Telemetry.model_validate_json(TelemetryExporter.to_json(t))
        assert "NaN" not in TelemetryExporter.to_log_format(t)
        assert "inf" not in TelemetryExporter.to_log_format(t)
    table = TelemetryExporter.to_csv([record, nan])
    assert "inf" not in table and "nan" not in table.lower()
    back = TelemetryExporter.from_csv(table)
    assert [b.stream_id for b in back] == ["s1", "s2"]
    assert back[0].metrics.tokens_per_second is None and back[1].timing.duration is None
    assert (
        TelemetryExporter.from_jsonl(TelemetryExporter.to_jsonl([record, nan]))[
            0
        ].metrics.tokens_per_second
        is None
    )


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_to_metrics_leaves_out_a_non_finite_gauge_as_other_formats_write_null(bad):
    """r13c #4: every value to_metrics returns is a finite number."""
    built = Monitor()
    for e in make_stream_events("s1", tokens=["a", "b"]):
        built.handle_event(e)
    ok = built.get_telemetry("s1")
    record = ok.model_copy(
        update={
            "metrics": ok.metrics.model_copy(
                update={"tokens_per_second": bad, "time_to_first_token": bad}
            ),
            "timing": ok.timing.model_copy(update={"duration": bad}),
        }
    )
    for labels, sid in (({}, False), ({"region": "eu"}, True)):
        metrics = TelemetryExporter.to_metrics(record, labels=labels, include_stream_id=sid)
        json.dumps(metrics, allow_nan=False)
        assert all(math.isfinite(m["value"]) for m in metrics.values())
        assert "l0_tokens_per_second" not in metrics and "l0_duration_seconds" not in metrics
        assert "l0_time_to_first_token_seconds" not in metrics
        kept = TelemetryExporter.to_metrics(ok, labels=labels, include_stream_id=sid)
        assert kept["l0_tokens_per_second"]["value"] == ok.metrics.tokens_per_second
        assert set(kept) - set(metrics) == {
            "l0_tokens_per_second",
            "l0_duration_seconds",
            "l0_time_to_first_token_seconds",
        }


class _StrEnum(str, enum.Enum):
    BAD = "\ud800"


class _Text(str):
    pass


@pytest.mark.parametrize("content", [False, True], ids=["masked", "content"])
@pytest.mark.parametrize(
    "token",
    [b"\xff\xfe", _StrEnum.BAD, _Text("abc"), 7, b"", "", "x" * 5000, "a\ud800b"],
    ids=["bytes", "str-enum", "str-subclass", "int", "empty-bytes", "empty", "long", "surrogate"],
)
def test_a_token_that_is_not_text_counts_alike_live_and_replayed(tmp_path, token, content):
    """r13 #9: the recorder records what the live Monitor counts (exact str only)."""
    events = make_stream_events("s1", tokens=["ab", "cd"])
    for e in events:
        if e.type == "TOKEN":
            e.meta["token"] = token
            e.meta["text"] = "never counted when token is set"
    path = tmp_path / "events.jsonl"
    live = Monitor(raise_internal_errors=True)
    rec = Monitoring.record(path, record_token_content=content)
    for e in events:
        live.handle_event(e)
        rec(e)
    rec.close()
    assert rec.stats()["written"] == len(events)
    replayed = Monitor(raise_internal_errors=True)
    assert replay(path, replayed, strict=True).skipped == 0
    want = live.get_telemetry("s1").content_length
    assert want == (2 * len(token) if token.__class__ is str else 0)
    assert replayed.get_telemetry("s1").content_length == want
    raw = path.read_bytes()
    assert b"\\xff" not in raw and b"abc" not in raw  # never the content of a non-text value
