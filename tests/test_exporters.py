from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l0_monitoring import (
    ErrorInfo,
    GuardrailInfo,
    Metrics,
    MetricsConfig,
    Monitor,
    MonitoringConfig,
    RetryInfo,
    Telemetry,
    TelemetryExporter,
    TimingInfo,
)
from l0_monitoring.testing import make_stream_events

from .conftest import missing_tool

E = TelemetryExporter


def record(**over) -> Telemetry:
    base = Telemetry(
        stream_id="abc",
        model="gpt-4o",
        timing=TimingInfo(
            started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            completed_at=datetime(2026, 1, 2, 3, 4, 6, 234000, tzinfo=UTC),
            duration=1.234,
            time_to_first_token=0.456,
        ),
        metrics=Metrics(
            token_count=100, tokens_per_second=128.53470437017995, time_to_first_token=0.456
        ),
        retries=RetryInfo(
            attempt=2,
            max_attempts=3,
            network_retries=1,
            total_retries=1,
            last_error="reset",
            last_error_category="network",
        ),
        content_length=420,
        completed=True,
    )
    return base.model_copy(update=over)


def monitored(n: int = 6) -> tuple[Monitor, list[Telemetry]]:
    m = Monitor(MonitoringConfig(metrics=MetricsConfig(inter_token_latency=True)))
    outcomes = ["complete", "halt", "abort", "give_up", "complete", "none"]
    for i in range(n):
        for e in make_stream_events(
            f"s{i}",
            outcome=outcomes[i % 6],
            network_retries=i % 2,
            model_retries=i % 3 == 0,
            model=["gpt-4o", "claude"][i % 2],
            violations=[{"rule": "pii", "message": "m", "severity": "error"}] if i == 3 else None,
            context={"tenant": f"t{i}"},
        ):
            m.handle_event(e)
    m.close()
    return m, m.get_all_telemetry()


# -- goldens --------------------------------------------------------------------------


def test_log_format_golden():
    assert E.to_log_format(record()) == (
        "stream_id=abc model=gpt-4o duration=1.234s ttft=0.456s tokens=100 "
        "tokens_per_sec=128.5 retries=1 completed=true"
    )
    failed = record(
        completed=False,
        aborted=True,
        error=ErrorInfo(occurred=True, message="rate limited: retry later"),
        guardrails=GuardrailInfo(violations=[{"rule": "r"}, {"rule": "s"}], passed=False),
    )
    assert E.to_log_format(failed) == (
        "stream_id=abc model=gpt-4o duration=1.234s ttft=0.456s tokens=100 "
        'tokens_per_sec=128.5 retries=1 violations=2 error="rate limited: retry later" '
        "completed=false aborted=true"
    )


def test_csv_golden_header_and_row():
    text = E.to_csv([record()])
    header, row = text.split("\r\n")[:2]
    assert header.startswith(
        "stream_id,session_id,model,started_at,completed_at,duration,time_to_first_token,"
    )
    for col in [
        "token_count",
        "tokens_per_second",
        "total_retries",
        "error_message",
        "completed",
        "aborted",
        "content_length",
        "metrics_time_to_first_token",
    ]:
        assert col in header.split(",")
    assert len(set(header.split(","))) == len(header.split(","))  # no repeats
    assert row.startswith(
        "abc,,gpt-4o,2026-01-02T03:04:05Z,2026-01-02T03:04:06.234000Z,1.234,0.456,"
    )
    assert E.csv_columns() == header.split(",")


def test_json_and_dict_golden():
    t = record()
    assert json.loads(E.to_json(t)) == E.to_dict(t)
    assert E.to_json(t, indent=None).count("\n") == 0
    assert E.to_dict(t)["timing"]["started_at"] == "2026-01-02T03:04:05Z"
    assert list(E.to_dict(t))[:3] == ["stream_id", "session_id", "model"]


def test_outputs_are_deterministic():
    _, records = monitored()
    assert E.to_csv(records) == E.to_csv(list(records))
    assert E.to_jsonl(records) == E.to_jsonl(records)


# -- round trips -------------------------------------------------------------------------


def test_every_format_parses_back():
    _, records = monitored()
    assert E.from_jsonl(E.to_jsonl(records)) == records
    assert [
        Telemetry.model_validate_json(line) for line in E.to_jsonl(records).splitlines()
    ] == records
    assert E.from_csv(E.to_csv(records)) == records
    for t in records:
        assert Telemetry.model_validate_json(E.to_json(t)) == t
        assert Telemetry.model_validate(E.to_dict(t)) == t
    assert E.to_jsonl([]) == "" and E.to_csv([]) == "" and E.from_csv("") == []


def test_jsonl_is_identical_whichever_path_serialises_it():
    # A nested list of dicts whose first key is stream_id would confuse a naive
    # split of the bulk serialisation; the exporter must notice and fall back.
    tricky = record(metadata={"items": [{"a": 1}, {"stream_id": "x"}]})
    plain = record(stream_id="p")
    for records in ([tricky, plain], [plain, tricky, plain]):
        text = E.to_jsonl(records)
        assert text.count("\n") == len(records)
        assert E.from_jsonl(text) == records
        assert text == "".join(r.model_dump_json() + "\n" for r in records)


texts = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=30)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream_id=texts,
    model=st.none() | texts,
    message=st.none() | texts,
    meta=st.dictionaries(
        texts, st.none() | st.integers() | texts | st.lists(st.integers()), max_size=3
    ),
    duration=st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False),
    tokens=st.integers(min_value=0, max_value=10**9),
)
def test_round_trips_hold_for_arbitrary_records(stream_id, model, message, meta, duration, tokens):
    t = record(
        stream_id=stream_id,
        model=model,
        metadata=meta,
        timing=TimingInfo(duration=duration),
        metrics=Metrics(token_count=tokens),
        error=ErrorInfo(occurred=message is not None, message=message),
    )
    assert E.from_jsonl(E.to_jsonl([t, t])) == [t, t]
    assert E.from_csv(E.to_csv([t])) == [t]
    line = E.to_log_format(t)
    assert "\n" not in line and "\r" not in line


def test_readers_name_the_bad_line_and_field():
    good = E.to_jsonl([record()])
    with pytest.raises(ValueError, match="line 2: metrics.token_count"):
        E.from_jsonl(good + good.replace('"token_count":100', '"token_count":"x"'))
    with pytest.raises(ValueError, match="line 1"):
        E.from_jsonl("{not json")
    text = E.to_csv([record()])
    with pytest.raises(ValueError, match="missing column"):
        E.from_csv("bogus\n1\n")
    # Open records: a column from a newer release is ignored.
    header, row = text.split("\r\n")[:2]
    assert E.from_csv(f"{header},new_column\r\n{row},1\r\n") == [record()]
    bad = text.replace(",100,", ",lots,", 1)
    with pytest.raises(ValueError, match="CSV row 2, column token_count: must be an integer"):
        E.from_csv(bad)


# -- injection -------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "'quoted"])
def test_csv_cells_that_spreadsheets_would_run_are_neutralised(payload):
    t = record(model=payload, error=ErrorInfo(occurred=True, message=payload))
    text = E.to_csv([t])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, row = rows
    for col in ("model", "error_message"):
        cell = row[header.index(col)]
        assert cell == "'" + payload
    assert E.from_csv(text) == [t]


def test_negative_numbers_stay_numbers_in_csv():
    t = record(timing=TimingInfo(duration=0.5), metrics=Metrics(token_count=3))
    assert ",0.5," in E.to_csv([t])


@pytest.mark.parametrize(
    "hostile",
    [
        "x completed=true",
        'x"\nstream_id=forged',
        "a=b",
        'quote"inside',
        "back\\slash",
        "\x00\x1b",
        "line\u2028sep",
    ],
)
def test_logfmt_values_cannot_forge_keys_or_lines(hostile):
    t = record(model=hostile, error=ErrorInfo(occurred=True, message=hostile))
    line = E.to_log_format(t)
    assert "\n" not in line and "\r" not in line and "\u2028" not in line
    # Parse logfmt: every key must be one of ours, exactly once.
    keys = []
    i = 0
    while i < len(line):
        eq = line.index("=", i)
        keys.append(line[i:eq])
        i = eq + 1
        if line[i] == '"':
            i += 1
            while line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
        else:
            while i < len(line) and line[i] != " ":
                i += 1
        i += 1
    assert keys == [
        "stream_id",
        "model",
        "duration",
        "ttft",
        "tokens",
        "tokens_per_sec",
        "retries",
        "error",
        "completed",
    ]


# -- to_metrics ---------------------------------------------------------------------------


def test_to_metrics_follows_prometheus_naming_and_keeps_stream_id_out():
    metrics = E.to_metrics(record(), labels={"environment": "production"})
    assert metrics["l0_tokens_total"] == {
        "value": 100,
        "type": "counter",
        "labels": {"environment": "production", "model": "gpt-4o"},
    }
    assert metrics["l0_duration_seconds"]["value"] == 1.234
    assert metrics["l0_time_to_first_token_seconds"]["type"] == "gauge"
    for name, m in metrics.items():
        assert "stream_id" not in m["labels"]
        if m["type"] == "counter":
            assert name.endswith("_total")
        assert "_ms" not in name
        assert list(m["labels"]) == sorted(m["labels"])
    label_dicts = [m["labels"] for m in metrics.values()]
    assert len({id(d) for d in label_dicts}) == len(label_dicts)  # fresh dict each
    label_dicts[0]["model"] = "changed"
    assert metrics["l0_retries_total"]["labels"]["model"] == "gpt-4o"


def test_to_metrics_stream_id_is_an_explicit_opt_in_and_names_are_validated():
    m = E.to_metrics(record(), prefix="llm", include_stream_id=True)
    assert m["llm_tokens_total"]["labels"]["stream_id"] == "abc"
    with pytest.raises(ValueError, match="prefix"):
        E.to_metrics(record(), prefix="bad-prefix")
    with pytest.raises(ValueError, match="label name"):
        E.to_metrics(record(), labels={"bad label": "x"})


# -- Prometheus exposition -------------------------------------------------------------------


def parse(text: str) -> dict[str, dict]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict] = {}
    for fam in text_string_to_metric_families(text):
        out[fam.name] = {"type": fam.type, "samples": fam.samples}
    return out


def sample(families, family, name, **labels):
    for s in families[family]["samples"]:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {name} {labels}")


def test_prometheus_exposition_of_a_monitor_parses_and_counts():
    m, _ = monitored(12)
    text = E.to_prometheus(m, labels={"env": "test"})
    fams = parse(text)
    assert fams["l0_streams"]["type"] == "counter"
    assert fams["l0_time_to_first_token_seconds"]["type"] == "histogram"
    total = sum(s.value for s in fams["l0_streams"]["samples"] if s.name == "l0_streams_total")
    assert total == 12 == m.get_aggregate_metrics()["count"]
    # even i are gpt-4o; i % 6 in {0, 4} complete: i = 0, 4, 6, 10
    assert sample(fams, "l0_streams", "l0_streams_total", model="gpt-4o", outcome="completed") == 4
    assert sample(fams, "l0_retries", "l0_retries_total", model="claude", kind="network") == 6
    assert (
        sample(fams, "l0_guardrail_violations", "l0_guardrail_violations_total", severity="error")
        == 1
    )
    tokens = sum(s.value for s in fams["l0_tokens"]["samples"])
    assert tokens == m.get_aggregate_metrics()["total_tokens"]
    count = sample(
        fams,
        "l0_time_to_first_token_seconds",
        "l0_time_to_first_token_seconds_count",
        model="gpt-4o",
    )
    inf = sample(
        fams,
        "l0_time_to_first_token_seconds",
        "l0_time_to_first_token_seconds_bucket",
        model="gpt-4o",
        le="+Inf",
    )
    assert count == inf == 6
    for fam in fams.values():
        for s in fam["samples"]:
            assert "stream_id" not in s.labels and s.labels["env"] == "test"
    itl = sample(
        fams,
        "l0_inter_token_latency_seconds",
        "l0_inter_token_latency_seconds_count",
        model="claude",
    )
    assert itl == 6 * 4  # five tokens -> four gaps per stream


def test_prometheus_exposition_of_records_matches_the_monitor():
    m, records = monitored(6)
    by_records = E.to_prometheus(records)
    by_monitor = E.to_prometheus(m)
    assert by_records == by_monitor  # every stream kept, 5 tokens: same observations


def test_prometheus_label_values_are_escaped():
    t = record(model='evil"model\\\n{x="1"}')
    text = E.to_prometheus([t])
    assert 'model="evil\\"model\\\\\\n{x=\\"1\\"}"' in text
    fams = parse(text)
    assert sample(fams, "l0_streams", "l0_streams_total", outcome="completed") == 1
    assert fams["l0_streams"]["samples"][0].labels["model"] == 'evil"model\\\n{x="1"}'


def test_model_label_cardinality_is_bounded():
    records = [record(stream_id=f"s{i}", model=f"model-{i}") for i in range(250)]
    fams = parse(E.to_prometheus(records))
    models = {s.labels["model"] for s in fams["l0_tokens"]["samples"]}
    assert len(models) == 101 and "_other" in models


def test_promtool_accepts_the_exposition(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_tool("promtool (Debian package prometheus; .ci/run installs it)")
    m, _ = monitored(12)
    text = E.to_prometheus(m, labels={"env": "test"})
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""
    bad = subprocess.run(
        [promtool, "check", "metrics"],
        input="my_counter 1\nmy_counter 2\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0  # the linter is real


def test_prometheus_client_collector_serves_the_same_families():
    pytest.importorskip("prometheus_client")
    from prometheus_client import CollectorRegistry, generate_latest, start_http_server

    from l0_monitoring.prometheus import MonitorCollector

    m, _ = monitored(12)
    registry = CollectorRegistry()
    registry.register(MonitorCollector(m, labels={"env": "test"}))
    ours = parse(E.to_prometheus(m, labels={"env": "test"}))
    theirs = parse(generate_latest(registry).decode())
    assert set(ours) == set(theirs)
    for name in ours:
        a = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in ours[name]["samples"]}
        b = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for s in theirs[name]["samples"]
            if not s.name.endswith("_created")
        }
        assert a == b, name
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        assert 'l0_streams_total{env="test",model="gpt-4o",outcome="completed"} 4.0' in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- the generated logfmt formatter against a plain reading of LOG_FIELDS -------------------


def _logfmt_oracle(t: Telemetry) -> str:
    """The slow, obvious formatter: every key from LOG_FIELDS, one by one."""
    import math

    from l0_monitoring._internal.safe import safe_str
    from l0_monitoring.exporters import _logfmt_value
    from l0_monitoring.exporters._layout import LOG_FIELDS

    parts = []
    for f in LOG_FIELDS:
        value = t
        for name in f.path:
            value = getattr(value, name)
        if f.path == ("error", "message") and not t.error.occurred:
            value = None
        if f.fmt == "count":
            value = len(value) if isinstance(value, list) else 0
        if value is None or (f.omit == "falsy" and not value):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue  # NaN and +-inf: not shown, like None (r13 #5)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = f"{value:.{f.precision}f}"
        elif isinstance(value, int):
            text = str(value)
        else:
            text = safe_str(value)
        parts.append(f"{f.key}={_logfmt_value(text + f.unit)}")
    return " ".join(parts)


_floats = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1e4)


@given(
    stream_id=st.text(max_size=30) | st.sampled_from(["s-1", "x" * 2500, 'a"b', "=", ""]),
    model=st.none() | st.text(max_size=20) | st.just("gpt-4o"),
    duration=_floats,
    ttft=_floats,
    tps=_floats,
    tokens=st.integers(0, 10**9),
    retries=st.integers(0, 5),
    violations=st.integers(0, 3),
    occurred=st.booleans(),
    message=st.none() | st.text(max_size=40) | st.just("connection reset"),
    completed=st.booleans(),
    aborted=st.booleans(),
)
def test_generated_log_format_equals_the_plain_reading_of_the_fields(
    stream_id,
    model,
    duration,
    ttft,
    tps,
    tokens,
    retries,
    violations,
    occurred,
    message,
    completed,
    aborted,
):
    t = Telemetry.model_construct(
        **{
            **Telemetry(stream_id="x").__dict__,
            "stream_id": stream_id,
            "model": model,
            "completed": completed,
            "aborted": aborted,
        }
    )
    t.timing.duration = duration
    t.metrics.time_to_first_token = ttft
    t.metrics.tokens_per_second = tps
    t.metrics.token_count = tokens
    t.retries.total_retries = retries
    t.guardrails.violations = [{"rule": "r"}] * violations
    t.error.occurred = occurred
    t.error.message = message
    for _ in range(2):  # the second time through the caches
        assert E.to_log_format(t) == _logfmt_oracle(t)


def _metrics_oracle(t, prefix="l0", labels=None, include_stream_id=False):
    base = {k: str(v) for k, v in (labels or {}).items()}
    if t.model:
        base.setdefault("model", t.model)
    if include_stream_id:
        base["stream_id"] = t.stream_id
    m, r = t.metrics, t.retries
    items = [
        ("tokens_total", m.token_count, "counter", {}),
        ("tokens_per_second", m.tokens_per_second, "gauge", {}),
        ("duration_seconds", t.timing.duration, "gauge", {}),
        ("time_to_first_token_seconds", m.time_to_first_token, "gauge", {}),
        ("inter_token_latency_seconds", m.avg_inter_token_latency, "gauge", {}),
        ("retries_total", r.total_retries, "counter", {}),
        ("network_retries_total", r.network_retries, "counter", {}),
        ("model_retries_total", r.model_retries, "counter", {}),
        ("guardrail_violations_total", len(t.guardrails.violations), "counter", {}),
        ("errors_total", int(t.error.occurred), "counter",
         {"category": t.error.category} if t.error.category else {}),
        ("completed_total", int(t.completed), "counter", {}),
        ("aborted_total", int(t.aborted), "counter", {}),
    ]  # fmt: skip
    return {
        f"{prefix}_{suffix}": {
            "value": v,
            "type": kind,
            "labels": dict(sorted({**base, **x}.items())),
        }
        for suffix, v, kind, x in items
        if v is not None
    }


@given(
    model=st.none() | st.sampled_from(["gpt-4o", "a", "zz"]),
    category=st.none() | st.sampled_from(["network", "model", "unknown"]),
    labels=st.none()
    | st.dictionaries(
        st.sampled_from(["env", "a", "category", "model", "zz"]), st.text(max_size=5), max_size=3
    ),  # fmt: skip
    include_stream_id=st.booleans(),
    duration=st.none() | st.floats(0, 10),
)
def test_to_metrics_equals_the_plain_reading_for_any_labels(
    model, category, labels, include_stream_id, duration
):
    t = Telemetry(stream_id="s", model=model, error={"occurred": True, "category": category},
                  timing={"duration": duration})  # fmt: skip
    got = E.to_metrics(t, labels=labels, include_stream_id=include_stream_id)
    assert got == _metrics_oracle(t, labels=labels, include_stream_id=include_stream_id)
    assert all(list(m["labels"]) == sorted(m["labels"]) for m in got.values())
    assert len({id(m["labels"]) for m in got.values()}) == len(got)


# -- batch fast paths: one record's oddity never changes another row ------------------

_cell_text = st.none() | st.text(max_size=8) | st.sampled_from(["=1+1", "@x", "-2", "'q", "\x00=a"])
_float_leaf = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.just(1e308)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_cell_text, _cell_text, _float_leaf, _float_leaf, _float_leaf), max_size=6),
    st.integers(0, 5),
)
def test_csv_rows_are_the_same_alone_or_in_any_batch(cells, clean_count):
    # to_csv checks the whole batch at once for formula-like text and NaN/inf
    # and fixes rows only when the batch needs it: each row must still be what
    # the record gives alone, every risky text cell escaped, NaN/inf empty.
    records = [record(stream_id=f"clean{i}") for i in range(clean_count)]
    for model, message, duration, tps, score in cells:
        t = Telemetry.model_construct(**record().__dict__)
        t.model = model
        t.error = ErrorInfo(occurred=True, message=message)
        t.timing = TimingInfo.model_construct(**{**t.timing.__dict__, "duration": duration})
        t.metrics = Metrics.model_construct(**{**t.metrics.__dict__, "tokens_per_second": tps})
        t.drift = t.drift.model_copy(update={"score": score})
        records.append(t)
    text = E.to_csv(records)
    if not records:
        assert text == ""
        return
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    for t, row in zip(records, rows, strict=True):
        assert E.to_csv([t]).split("\r\n", 1)[1] in text
        for col in ("stream_id", "model", "error_message"):
            cell = row[header.index(col)]
            assert not cell or cell[0] not in "=+-@\t\r", (col, cell)
        for col in ("duration", "tokens_per_second", "drift_score"):
            cell = row[header.index(col)]
            assert cell == "" or float(cell) - float(cell) == 0, (col, cell)
    back = E.from_csv(text)
    assert [b.model for b in back] == [t.model or None for t in records]
    assert [b.error.message for b in back] == [t.error.message or None for t in records]


def _dict_oracle(t: Telemetry) -> dict:
    # pydantic's JSON-mode data with NaN and +-inf float leaves as None, a
    # count beyond 2**53 - 1 saturated there (as model_construct does).
    data = t.model_dump(mode="json", warnings=False)
    data["metrics"]["token_count"] = min(data["metrics"]["token_count"], 2**53 - 1)
    for section, fields in data.items():
        if isinstance(fields, dict) and section != "metadata":
            for name, v in fields.items():
                if (
                    (isinstance(v, float) and v - v != 0)
                    or isinstance(v, str)
                    and name in ("duration", "time_to_first_token")
                ):  # not a finite number: null (a str in a number field too)
                    fields[name] = None
    return data


@settings(max_examples=80)
@given(
    duration=_float_leaf | st.integers(-3, 3) | st.just("x"),
    ttft=_float_leaf,
    tps=_float_leaf,
    p99=_float_leaf,
    score=_float_leaf,
    tokens=st.integers(0, 10**20),
)
def test_to_dict_equals_the_serializer_with_non_finite_floats_as_null(
    duration, ttft, tps, p99, score, tokens
):
    t = record()
    t.timing = TimingInfo.model_construct(**{**t.timing.__dict__, "duration": duration,
                                             "time_to_first_token": ttft})  # fmt: skip
    t.metrics = Metrics.model_construct(**{**t.metrics.__dict__, "tokens_per_second": tps,
                                           "p99_inter_token_latency": p99})  # fmt: skip
    t.metrics.token_count = tokens  # assignment: not saturated, as model_construct would
    t.drift = t.drift.model_copy(update={"score": score})
    assert E.to_dict(t) == _dict_oracle(t)


class _Timing(TimingInfo):
    pass


class _Record(Telemetry):
    pass


def test_csv_rows_of_subclassed_records_and_sections_are_read_by_attribute():
    # The row reader reads sections' __dict__ only for the package's own classes;
    # any other class is read attribute by attribute, with the same row.
    plain = record()
    sub_section = plain.model_copy(update={"timing": _Timing(**plain.timing.__dict__)})
    sub_record = _Record(**plain.__dict__)
    expected = E.to_csv([plain])
    assert E.to_csv([sub_section]) == expected
    assert E.to_csv([sub_record]) == expected
    assert E.to_csv([sub_record, plain, sub_section]).count(expected.split("\r\n")[1]) == 3
    # A record without its required field: one ValueError naming it.
    with pytest.raises(ValueError, match="stream_id"):
        E.to_csv([Telemetry.model_construct()])
