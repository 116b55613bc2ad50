"""One contract, checked both ways: the Python readers accept exactly what the schemas accept.

Documents come from two sources: generated from the published schemas
(``schema_documents``: a Hypothesis strategy for the JSON Schema subset the
schemas use, failing loudly on any keyword it does not know), and arbitrary
mutations of real records (a key removed, a value replaced by any JSON value
or by a tricky look-alike such as ``"1.5"``, ``"yes"``, a naive date-time, an
Arabic-Indic numeral). For each, the verdict of Python ``jsonschema`` (draft
2020-12 with formats) must equal the verdict of the readers
(``Telemetry.model_validate``, ``TelemetryExporter.from_jsonl`` / ``from_csv``,
``iter_events``, ``validate_aggregate_metrics``), and a rejection names the
field.

hypothesis-jsonschema 0.23.1 (the current release) does not run with the
Hypothesis this project uses (it calls ``many.more()``, removed from Hypothesis'
internals), so the generator is the small one below.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from l0_monitoring import (
    DriftInfo,
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
from l0_monitoring.recording import ReplayResult, iter_events
from l0_monitoring.telemetry import validate_aggregate_metrics
from l0_monitoring.testing import make_stream_events

from .test_monitor_properties import events as monitor_events

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def load(title: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{title}.schema.json").read_text())


def validator(title: str) -> jsonschema.Draft202012Validator:
    # Plain draft 2020-12: the published patterns end with a portable anchor, so
    # Python re (used by jsonschema) and ECMA-262 (ajv) give the same answers.
    return jsonschema.Draft202012Validator(
        load(title), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


# -- documents from the schemas ------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
)  # fmt: skip
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
ANNOTATIONS = {"description", "title", "examples", "default", "$comment", "readOnly", "writeOnly"}
HANDLED = {"type", "anyOf", "enum", "const", "properties", "required", "additionalProperties",
           "patternProperties", "items", "pattern", "format", "minLength", "minimum",
           "maximum"}  # fmt: skip


def inline(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()
                    if k not in ("$defs", "$id", "$schema", "$comment")}  # fmt: skip
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def strategy(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    unknown = set(node) - ANNOTATIONS - HANDLED
    if unknown:
        raise NotImplementedError(f"schema keywords the generator does not know: {unknown}")
    if "anyOf" in node:
        return st.one_of([strategy(alt) for alt in node["anyOf"]])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "const" in node:
        return st.just(node["const"])
    kind = node.get("type")
    if kind is None:
        return JSON_VALUES
    if isinstance(kind, list):
        return st.one_of([strategy({**node, "type": k}) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low, high = node.get("minimum"), node.get("maximum")
        ints = st.integers(min_value=low, max_value=high)
        return ints | ints.map(float)  # 3.0 is a JSON Schema integer too
    if kind == "number":
        low = node.get("minimum")
        return st.floats(min_value=low, allow_nan=False, allow_infinity=False) | st.integers(
            min_value=None if low is None else int(low)
        )
    if kind == "string":
        if "pattern" in node:
            return st.from_regex(node["pattern"])
        return st.text(min_size=node.get("minLength", 0), max_size=12)
    if kind == "array":
        return st.lists(strategy(node.get("items", {})), max_size=4)
    if kind == "object":
        return object_strategy(node)
    raise NotImplementedError(kind)


def object_strategy(node: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props = node.get("properties", {})
    required = set(node.get("required", ()))
    fixed = st.fixed_dictionaries(
        {k: strategy(v) for k, v in props.items() if k in required},
        optional={k: strategy(v) for k, v in props.items() if k not in required},
    )
    parts = [fixed]
    for pattern, sub in node.get("patternProperties", {}).items():
        parts.append(st.dictionaries(st.from_regex(pattern), strategy(sub), max_size=3))
    if node.get("additionalProperties", True) is not False:
        names = st.text(min_size=1, max_size=6).filter(
            lambda k: (
                k not in props
                and not any(re.search(p, k) for p in node.get("patternProperties", {}))
            )
        )
        parts.append(st.dictionaries(names, JSON_VALUES, max_size=2))

    def merge(dicts: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for d in reversed(dicts):
            out.update(d)
        return out

    return st.tuples(*parts).map(lambda ds: merge(list(ds)))


def schema_documents(title: str) -> st.SearchStrategy[dict[str, Any]]:
    return strategy(inline(load(title)))


def test_the_generator_knows_every_keyword_of_the_published_record_schemas():
    for title in ("Telemetry", "ObservabilityEvent", "AggregateMetrics", "TimingInfo"):
        strategy(inline(load(title)))  # raises NotImplementedError on an unknown keyword


# -- real records and their mutations ------------------------------------------------------


def real_records() -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    m = Monitor(MonitoringConfig.development())
    events: list[dict[str, Any]] = []
    for i, kw in enumerate([
        {}, {"network_retries": 2}, {"model_retries": 1}, {"outcome": "halt"},
        {"outcome": "abort", "violations": [{"rule": "pii", "message": "m", "severity": "error"}]},
        {"outcome": "give_up", "model": None}, {"outcome": "none"},
    ]):  # fmt: skip
        for e in make_stream_events(f"s{i}", **kw):
            m.handle_event(e)
            events.append(json.loads(json.dumps(e.to_dict(), default=str)))
    m.close()
    records = [json.loads(TelemetryExporter.to_json(t)) for t in m.get_all_telemetry()]
    return records, m.get_aggregate_metrics(), events


RECORDS, AGGREGATES, EVENTS = real_records()

TRICKY = [
    None, True, False, 0, 1, -1, 1.0, 1.5, -0.0, 1e300, 10**30, "", "x", "1", "1.5", "1,5",
    "true", "True", "yes", "on", "null", "NaN", "Infinity", "١٢", "0x10", " 1", "1_000",
    "2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01 00:00:00Z",
    "2026-01-01T00:00:00.1234567Z", "2026-02-30T00:00:00Z", "2026-01-01T00:00:60Z",
    "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+05:30", "2026-01-01t00:00:00z",
    "2026-01-01T00:00:00+0530", 1767225600, "1767225600", "completed", "abandoned", "network",
    "NETWORK", "unknown", "warning", "critical", "2.0.0", "2.0", [], {}, [1], ["x"], {"a": 1},
    [{"severity": "fatal"}], [{"severity": "bad"}], [1.5, "x"], "2.0.0\n", 2**63, -(2**63) - 1,
    "2026-01-01T00:00:00Z\n", {"p50_ttft": -1}, {"p50_ttft\n": "x"},
]  # fmt: skip
VALUES = st.one_of(st.sampled_from(TRICKY), JSON_VALUES)
NEW_KEYS = ["p50_ttft", "p99.9_duration", "p75_tokens_per_sec", "p50_ttft\n", "p5_other", "x"]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, docs: list[dict[str, Any]]) -> tuple[Any, tuple[Any, ...], str]:
    doc = copy.deepcopy(draw(st.sampled_from(docs)))
    path = draw(st.sampled_from(paths(doc)))
    op = draw(st.sampled_from(["replace", "delete", "add"]))
    if not path:
        if op == "replace":
            return draw(VALUES), path, op
        op = "add"
    parent = doc
    for part in path[:-1] if path else ():
        parent = parent[part]
    target = parent[path[-1]] if path else doc
    if op == "add" and isinstance(target, dict):
        keys = st.sampled_from(NEW_KEYS) | st.text(min_size=1, max_size=6)
        target[draw(keys.filter(lambda k: k not in target))] = draw(VALUES)
    elif op == "delete" and isinstance(parent, dict) and path:
        del parent[path[-1]]
    else:
        op = "replace"
        parent[path[-1]] = draw(VALUES)
    return doc, path, op


def named(message: str, path: tuple[Any, ...]) -> bool:
    """The error names the mutated field (or a field inside a replaced value)."""
    dotted = ".".join(str(p) for p in path)
    return (
        not path
        or dotted in message
        or any(
            message.startswith(f"{'.'.join(str(p) for p in path[:n])}:")
            for n in range(1, len(path) + 1)
        )
    )


# -- Telemetry -------------------------------------------------------------------------------


def read_record(doc: Any) -> tuple[bool, str]:
    """Verdict of the three record readers, which must agree with one another."""
    try:
        Telemetry.model_validate(doc)
        direct = ""
    except ValidationError as exc:
        err = exc.errors()[0]
        direct = ".".join(str(p) for p in err["loc"]) + ": " + err["msg"]
    try:
        TelemetryExporter.from_jsonl(json.dumps(doc))
        line = ""
    except ValueError as exc:
        line = str(exc).removeprefix("line 1: ")
    assert bool(direct) == bool(line), (direct, line)
    return not direct, line


@SETTINGS
@given(schema_documents("Telemetry"))
def test_every_telemetry_document_the_schema_accepts_is_read(doc):
    assume(validator("Telemetry").is_valid(doc))
    ok, error = read_record(doc)
    assert ok, error
    (t,) = TelemetryExporter.from_jsonl(json.dumps(doc))
    written = json.loads(TelemetryExporter.to_json(t))
    validator("Telemetry").validate(written)  # what we read, we write back valid
    (back,) = TelemetryExporter.from_csv(TelemetryExporter.to_csv([t]))
    # CSV cannot tell "" from null: an empty nullable string reads back as None.
    expected = {k: (None if v == "" and k != "stream_id" else v) for k, v in written.items()}
    assert json.loads(TelemetryExporter.to_json(back)).keys() == expected.keys()


@SETTINGS
@given(mutated(RECORDS))
def test_readers_and_schema_agree_on_mutated_records(case):
    doc, path, op = case
    schema_ok = validator("Telemetry").is_valid(doc)
    ok, error = read_record(doc)
    assert ok == schema_ok, (op, path, error or "reader accepted", doc)
    if not ok:
        assert named(error, path), (op, path, error)


@pytest.mark.parametrize("model", [TimingInfo, RetryInfo, GuardrailInfo, ErrorInfo, DriftInfo,
                                   Metrics])  # fmt: skip
def test_every_part_document_the_schema_accepts_is_read(model):
    v = validator(model.__name__)

    @SETTINGS
    @given(schema_documents(model.__name__))
    def check(doc):
        assume(v.is_valid(doc))
        model.model_validate(doc)

    check()


# -- events ----------------------------------------------------------------------------------


def read_event(doc: Any) -> tuple[bool, str]:
    try:
        list(iter_events([json.dumps(doc)], strict=True))
    except ValueError as exc:
        return False, str(exc)
    return True, ""


@SETTINGS
@given(schema_documents("ObservabilityEvent"))
def test_every_event_document_the_schema_accepts_is_replayed(doc):
    assume(validator("ObservabilityEvent").is_valid(doc))
    ok, error = read_event(doc)
    assert ok, error


@SETTINGS
@given(mutated(EVENTS))
def test_replay_and_schema_agree_on_mutated_events(case):
    doc, path, op = case
    schema_ok = validator("ObservabilityEvent").is_valid(doc)
    ok, error = read_event(doc)
    assert ok == schema_ok, (op, path, error or "replay accepted", doc)
    if not ok and path:
        assert f"event.{path[0]}" in error, (path, error)


# -- aggregates ------------------------------------------------------------------------------


def read_aggregates(doc: Any) -> tuple[bool, str]:
    try:
        validate_aggregate_metrics(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        return False, ".".join(str(p) for p in err["loc"]) + ": " + err["msg"]
    return True, ""


@SETTINGS
@given(schema_documents("AggregateMetrics"))
def test_every_aggregates_document_the_schema_accepts_is_read(doc):
    assume(validator("AggregateMetrics").is_valid(doc))
    ok, error = read_aggregates(doc)
    assert ok, error


@SETTINGS
@given(mutated([AGGREGATES]))
def test_aggregates_reader_and_schema_agree_on_mutations(case):
    doc, path, op = case
    assume(isinstance(doc, dict))
    schema_ok = validator("AggregateMetrics").is_valid(doc)
    ok, error = read_aggregates(doc)
    assert ok == schema_ok, (op, path, error or "reader accepted", doc)
    if not ok:
        assert named(error, path), (path, error)


# -- named examples ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("metrics", "token_count"), "12", "metrics.token_count"),
        (("metrics", "token_count"), True, "metrics.token_count"),
        (("metrics", "tokens_per_second"), "1,5", "metrics.tokens_per_second"),
        (("completed",), "yes", "completed"),
        (("completed",), 1, "completed"),
        (("timing", "started_at"), "2026-01-01T00:00:00", "timing.started_at"),
        (("timing", "started_at"), 1767225600, "timing.started_at"),
        (("outcome",), "succeeded", "outcome"),
        (("error", "category"), "rate_limit", "error.category"),
        (("guardrails", "violations"), [{"severity": "critical"}], "guardrails.violations.0"),
    ],
)
def test_values_are_never_reinterpreted(path, value, field):
    """Strings are not numbers, numbers are not booleans, a naive time is not guessed."""
    doc = copy.deepcopy(RECORDS[0])
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert not validator("Telemetry").is_valid(doc)
    with pytest.raises(ValueError, match=re.escape(field)):
        TelemetryExporter.from_jsonl(json.dumps(doc))


def test_a_missing_key_is_an_error_naming_it():
    doc = copy.deepcopy(RECORDS[0])
    del doc["metrics"]["token_count"]
    with pytest.raises(ValueError, match=r"line 1: metrics\.token_count: Field required"):
        TelemetryExporter.from_jsonl(json.dumps(doc))
    # Python construction keeps its defaults: only documents must be complete.
    assert Telemetry(stream_id="x", completed=True).outcome == "completed"


def test_nan_and_infinity_are_not_json():
    line = json.dumps(RECORDS[0]).replace('"metadata": {', '"metadata": {"x": NaN, ', 1)
    with pytest.raises(ValueError, match="line 1: invalid JSON: NaN is not JSON"):
        TelemetryExporter.from_jsonl(line)
    event = json.dumps(EVENTS[0]).replace('"meta": {', '"meta": {"x": Infinity, ', 1)
    with pytest.raises(ValueError, match="Infinity is not JSON"):
        list(iter_events([event], strict=True))


def test_numbers_beyond_a_64_bit_float_are_rejected_naming_the_field_never_crash():
    doc = json.dumps(RECORDS[0])
    # Beyond the 64-bit float range, integer or not, anywhere (open objects too):
    # Infinity in JavaScript, an error in Go.
    for big in ["5" + "0" * 400, "1" + "0" * 309, "-1" + "0" * 309, "1e400"]:
        for text in (doc.replace('"token_count": 5', '"token_count": ' + big, 1),
                     doc[:-1] + ', "new_key": {"x": [' + big + "]}}"):  # fmt: skip
            assert text != doc
            with pytest.raises(ValueError, match="line 1: invalid JSON: .*64-bit float range"):
                TelemetryExporter.from_jsonl(text)
        event = json.dumps(EVENTS[0]).replace('"meta": {', '"meta": {"x": ' + big + ", ", 1)
        with pytest.raises(ValueError, match="line 1: .*64-bit float range"):
            list(iter_events([event], strict=True))
        result = ReplayResult()
        assert list(iter_events([event], result=result)) == [] and result.skipped == 1
    # Within it but beyond what every consumer holds exactly: the schema's maximum.
    big_count = doc.replace('"token_count": 5', '"token_count": 9007199254740992', 1)
    with pytest.raises(ValueError, match="line 1: metrics.token_count: .*less than or equal"):
        TelemetryExporter.from_jsonl(big_count)
    largest = doc.replace('"token_count": 5', '"token_count": 9007199254740991', 1)
    assert TelemetryExporter.from_jsonl(largest)[0].metrics.token_count == 2**53 - 1
    largest_float = "1" + "0" * 308  # 1e308 is a finite float: read, like ajv and Go
    text = doc[:-1] + ', "new_key": {"x": [' + largest_float + "]}}"
    assert TelemetryExporter.from_jsonl(text) == TelemetryExporter.from_jsonl(doc)


@pytest.mark.parametrize(
    ("column", "cell"),
    [("token_count", "1,000"), ("token_count", "١٢"), ("token_count", "1.0"),
     ("duration", "1,5"), ("duration", "nan"), ("duration", " 1.5"), ("completed", "yes"),
     ("completed", "true"), ("started_at", "2026-01-01 00:00:00")],
)  # fmt: skip
def test_csv_cells_are_read_as_written_not_by_locale(column, cell):
    (t,) = TelemetryExporter.from_jsonl(json.dumps(RECORDS[0]))
    header, row = csv.reader(io.StringIO(TelemetryExporter.to_csv([t]), newline=""))
    assert TelemetryExporter.from_csv(TelemetryExporter.to_csv([t])) == [t]
    row[header.index(column)] = cell
    out = io.StringIO()
    csv.writer(out).writerows([header, row])
    with pytest.raises(ValueError, match=f"CSV row 2(, column {column}|: .*{column})"):
        TelemetryExporter.from_csv(out.getvalue())


@pytest.mark.parametrize(
    ("column", "cell"),
    [("metadata", "'{}"), ("metadata", "'{\"a\": 1}"), ("drift_types", "'[]"),
     ("guardrail_violations", "'[]"), ("schema_version", "'2.0.0"), ("outcome", "'completed"),
     ("started_at", "'2024-01-02T03:04:05Z"), ("token_count", "'3"), ("duration", "'1.5"),
     ("completed", "'True"), ("error_category", "'network")],
)  # fmt: skip
def test_csv_apostrophes_the_writer_did_not_add_are_not_removed(column, cell):
    (t,) = TelemetryExporter.from_jsonl(json.dumps(RECORDS[0]))
    header, row = csv.reader(io.StringIO(TelemetryExporter.to_csv([t]), newline=""))
    row[header.index(column)] = cell
    out = io.StringIO()
    csv.writer(out).writerows([header, row])
    field = {"error_category": "error.category"}.get(column, column)
    with pytest.raises(ValueError, match=f"CSV row 2(, column {column}|: .*{field})"):
        TelemetryExporter.from_csv(out.getvalue())


@pytest.mark.parametrize("text", ["=1+1", "'", "''", "'x", "'=x", "-", "@a", "\tx", "x'"])
def test_csv_text_cells_round_trip_and_a_foreign_apostrophe_is_text(text):
    t = Telemetry(stream_id="s", model=text, session_id=text)
    assert TelemetryExporter.from_csv(TelemetryExporter.to_csv([t])) == [t]
    header, row = csv.reader(io.StringIO(TelemetryExporter.to_csv([t]), newline=""))
    row[header.index("model")] = "'plain"  # not written by to_csv: the apostrophe is text
    out = io.StringIO()
    csv.writer(out).writerows([header, row])
    (back,) = TelemetryExporter.from_csv(out.getvalue())
    assert back.model == "'plain" and back.session_id == text


def test_csv_saved_by_excel_with_a_byte_order_mark_is_read(tmp_path):
    records = TelemetryExporter.from_jsonl("\n".join(json.dumps(r) for r in RECORDS[:3]))
    path = tmp_path / "excel.csv"
    path.write_text(TelemetryExporter.to_csv(records), encoding="utf-8-sig", newline="")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfstream_id,")
    assert TelemetryExporter.from_csv(path.read_text(encoding="utf-8")) == records
    with path.open(encoding="utf-8", newline="") as f:  # lines, as an open file gives them
        assert TelemetryExporter.from_csv(f) == records
    assert TelemetryExporter.from_csv(iter([])) == []


# -- the writer keeps the closed sets closed -----------------------------------------------


@pytest.mark.parametrize(
    ("failure_type", "category"),
    [("network", "network"), ("Network", "network"), ("TRANSIENT", "transient"),
     ("provider", "provider"), ("unknown", "unknown"), ("rate_limit", "unknown"),
     ("", "unknown"), (42, "unknown"), (None, "unknown")],  # r12 #9: one spelling
)  # fmt: skip
def test_error_categories_are_normalised_where_they_are_read(failure_type, category):
    from l0_monitoring import ObservabilityEvent
    from l0_monitoring import ObservabilityEventType as T

    m = Monitor(MonitoringConfig.development())
    meta = {"error": "boom", "recoveryStrategy": "halt"}
    if failure_type is not None:
        meta["failureType"] = failure_type
    m.handle_event(ObservabilityEvent(T.SESSION_START, 1.0, "s", {}, {}))
    m.handle_event(ObservabilityEvent(T.ERROR, 2.0, "s", {}, meta))
    (t,) = m.get_all_telemetry()
    assert t.error.category == category and t.outcome == "failed"
    validator("Telemetry").validate(json.loads(TelemetryExporter.to_json(t)))


def test_l0_error_category_members_are_understood():
    from l0.types import ErrorCategory

    from l0_monitoring.telemetry import normalize_error_category

    assert {normalize_error_category(c) for c in ErrorCategory} == {
        "network", "transient", "model", "content", "provider", "fatal", "internal",
    }  # fmt: skip


def test_guardrail_severities_and_texts_are_normalised_when_recorded():
    violations = [
        {"rule": "a", "message": "m", "severity": "critical"},
        {"rule": 5, "message": None, "severity": "WARNING"},
        {"rule": "c", "message": "m"},
    ]
    m = Monitor(MonitoringConfig.development())
    for e in make_stream_events("g", violations=violations):
        m.handle_event(e)
    m.close()
    (t,) = m.get_all_telemetry()
    assert [(v.get("rule"), v.get("severity")) for v in t.guardrails.violations] == [
        ("a", "fatal"), ("5", "warning"), ("c", None),
    ]  # fmt: skip
    validator("Telemetry").validate(json.loads(TelemetryExporter.to_json(t)))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(monitor_events, max_size=60), st.booleans())
def test_whatever_the_events_every_written_record_is_a_valid_document(seq, itl):
    """The writer side of the contract: records and aggregates always pass the schemas."""
    cfg = MonitoringConfig(metrics=MetricsConfig(inter_token_latency=itl))
    m = Monitor(cfg, raise_internal_errors=True)
    for e in seq:
        m.handle_event(e)
    m.close()
    records = m.get_all_telemetry()
    text = TelemetryExporter.to_jsonl(records)
    for line in filter(None, text.split("\n")):  # not splitlines(): U+0085 is in-line
        validator("Telemetry").validate(json.loads(line))
    assert TelemetryExporter.from_jsonl(text) == records
    assert len(TelemetryExporter.from_csv(TelemetryExporter.to_csv(records))) == len(records)
    aggregates = json.loads(json.dumps(m.get_aggregate_metrics(), allow_nan=False))
    validator("AggregateMetrics").validate(aggregates)
    validate_aggregate_metrics(aggregates)


def test_counts_from_event_meta_beyond_the_schema_maximum_are_malformed_and_never_written():
    """Rule 2 (issue #12): a count beyond 2**53 - 1 is malformed (counted, ignored), so
    every written record and aggregate stays within the published bound."""
    from l0_monitoring import ObservabilityEvent
    from l0_monitoring import ObservabilityEventType as T

    m = Monitor(MonitoringConfig.development(), raise_internal_errors=True)
    for sid in ("a", "b"):
        m.handle_event(ObservabilityEvent(T.SESSION_START, 1.0, sid, {}, {"maxAttempts": 10**30}))
        m.handle_event(ObservabilityEvent(
            T.COMPLETE, 2.0, sid, {}, {"tokenCount": 10**30, "contentLength": 1e300}
        ))  # fmt: skip
    m.close()
    records = m.get_all_telemetry()
    assert [t.metrics.token_count for t in records] == [0, 0]  # no TOKEN events counted
    assert [t.content_length for t in records] == [0, 0]
    assert [t.retries.max_attempts for t in records] == [1, 1]
    assert m.stats()["malformed_events"] == 2  # one per COMPLETE with rejected values
    text = TelemetryExporter.to_jsonl(records)
    for line in filter(None, text.split("\n")):
        validator("Telemetry").validate(json.loads(line))
    assert TelemetryExporter.from_jsonl(text) == records
    aggregates = m.get_aggregate_metrics()
    assert aggregates["total_tokens"] == 0
    validator("AggregateMetrics").validate(aggregates)
    validate_aggregate_metrics(aggregates)


@pytest.mark.parametrize("method", ["model_validate", "model_validate_json"])
@pytest.mark.parametrize("strict", [True, False])
def test_strict_is_refused_documents_have_one_contract(method, strict):
    """Review of #15: strict=True rejected every record, strict=False accepted "completed": 1."""
    doc = RECORDS[0]
    lax = {**copy.deepcopy(doc), "completed": 1}
    for model, value in ((Telemetry, doc), (Telemetry, lax), (Metrics, doc["metrics"])):
        arg = json.dumps(value) if method == "model_validate_json" else value
        with pytest.raises(TypeError, match="'strict' argument is not supported"):
            getattr(model, method)(arg, strict=strict)
    # Unset (or pydantic's default None): the one contract, real records read, lax ones refused.
    for kwargs in ({}, {"strict": None}):
        read = getattr(Telemetry, method)
        wrap = json.dumps if method == "model_validate_json" else copy.deepcopy
        assert read(wrap(doc), **kwargs).model_dump(mode="json") == doc
        with pytest.raises(ValidationError, match="completed"):
            read(wrap(lax), **kwargs)
