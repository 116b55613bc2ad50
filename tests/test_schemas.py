"""Published JSON Schemas: fresh, valid, compatible, and consumed by real Node tools."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from l0_monitoring import (
    Monitor,
    MonitoringConfig,
    ObservabilityEvent,
    Telemetry,
    TelemetryExporter,
)
from l0_monitoring.schemas import (
    OUTPUT_RECORDS,
    SCHEMA_VERSION,
    breaking_changes,
    check_schemas,
    generate_schemas,
    schema_id,
)
from l0_monitoring.testing import make_stream_events

from .conftest import missing_tool

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
BASELINE = Path(__file__).resolve().parent / "schema_baseline"
CONSUMERS = Path(__file__).resolve().parent / "consumers"
NODE_MODULES = CONSUMERS / "node_modules"

EXPECTED = {
    "Telemetry", "TimingInfo", "Metrics", "RetryInfo", "GuardrailInfo", "ErrorInfo", "DriftInfo",
    "AggregateMetrics", "ObservabilityEvent", "MonitoringConfig", "SamplingConfig",
    "MetricsConfig", "OpenTelemetryExporterConfig", "SentryExporterConfig",
}  # fmt: skip


def load(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def sample_records() -> tuple[Monitor, list[Telemetry]]:
    m = Monitor(MonitoringConfig.development())
    hostile = {"note": '=HYPERLINK("x")', "nested": {"deep": [1, {"a": None}]}, "weird": "a\nb"}
    for i, kw in enumerate(
        [
            {},
            {"network_retries": 2},
            {"outcome": "halt", "context": hostile},
            {
                "outcome": "abort",
                "violations": [{"rule": "pii", "message": "m", "severity": "error"}],
            },
            {"outcome": "give_up", "model": None},
            {"outcome": "none"},
        ]
    ):
        for e in make_stream_events(f"s{i}", **kw):
            m.handle_event(e)
    m.close()
    return m, m.get_all_telemetry()


# -- freshness and shape -------------------------------------------------------------


def test_committed_schemas_are_up_to_date():
    assert check_schemas(SCHEMAS) == [], "run: python -m l0_monitoring.schemas --out schemas"


def test_stale_or_missing_files_are_reported(tmp_path):
    files = generate_schemas()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert check_schemas(tmp_path) == []
    (tmp_path / "Telemetry.schema.json").write_text("{}")
    (tmp_path / "Metrics.schema.json").unlink()
    (tmp_path / "Old.schema.json").write_text("{}")
    assert sorted(check_schemas(tmp_path)) == [
        "Metrics.schema.json: missing",
        "Old.schema.json: unexpected",
        "Telemetry.schema.json: stale",
    ]


def test_one_schema_per_published_model_with_title_id_and_version():
    index = json.loads((SCHEMAS / "index.json").read_text())
    assert index["schema_version"] == SCHEMA_VERSION
    titles = {entry["title"] for entry in index["schemas"]}
    assert titles >= EXPECTED
    for title in titles:
        schema = load(title)
        assert schema["title"] == title
        assert schema["$id"] == schema_id(title)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert SCHEMA_VERSION in schema["$comment"]
        jsonschema.Draft202012Validator.check_schema(schema)


def test_descriptions_units_and_examples_are_published():
    t = load("Telemetry")
    timing = t["$defs"]["TimingInfo"]["properties"]
    assert "seconds" in timing["duration"]["description"]
    assert timing["duration"]["examples"] == [1.234]
    event = load("ObservabilityEvent")["properties"]
    assert "Milliseconds" in event["ts"]["description"]
    for name in EXPECTED - {"AggregateMetrics"}:
        schema = load(name)
        props = schema.get("properties", {})
        assert all(p.get("description") for p in props.values()), name
    assert "x-logfmt" not in json.dumps(t)


def test_secrets_are_write_only_without_defaults():
    dsn = load("SentryExporterConfig")["properties"]["dsn"]
    headers = load("OpenTelemetryExporterConfig")["properties"]["headers"]
    for prop in (dsn, headers):
        assert prop["writeOnly"] is True and "default" not in prop


# -- Python validation of real output ----------------------------------------------------


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        load(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_python_jsonschema_accepts_real_output_and_rejects_bad_records():
    m, records = sample_records()
    v = validator("Telemetry")
    for t in records:
        v.validate(json.loads(TelemetryExporter.to_json(t)))
    validator("AggregateMetrics").validate(m.get_aggregate_metrics())
    validator("MonitoringConfig").validate(MonitoringConfig.production().model_dump(mode="json"))
    for e in make_stream_events("x"):
        validator("ObservabilityEvent").validate(e.to_dict())
    bad = json.loads(TelemetryExporter.to_json(records[0]))
    bad["metrics"]["token_count"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        v.validate(bad)
    with pytest.raises(jsonschema.ValidationError):
        validator("AggregateMetrics").validate({**m.get_aggregate_metrics(), "p50_ttft": -1})


def test_records_are_open_and_configs_closed():
    """A field added by a later release is read by this one; a misspelt config key is not."""
    m, records = sample_records()
    newer = json.loads(TelemetryExporter.to_json(records[0]))
    newer["added_later"] = {"x": 1}
    newer["metrics"]["added_later_too"] = 2
    validator("Telemetry").validate(newer)
    assert Telemetry.model_validate(newer) == records[0]
    assert TelemetryExporter.from_jsonl(json.dumps(newer)) == [records[0]]
    validator("AggregateMetrics").validate({**m.get_aggregate_metrics(), "p50_latency": 2})
    validator("ObservabilityEvent").validate({**make_stream_events("x")[0].to_dict(), "new": 1})
    config = MonitoringConfig.production().model_dump(mode="json")
    with pytest.raises(jsonschema.ValidationError):
        validator("MonitoringConfig").validate({**config, "sampel_rate": 1})
    with pytest.raises(ValueError, match="sampel_rate"):
        MonitoringConfig.model_validate({**config, "sampel_rate": 1})
    for title in OUTPUT_RECORDS:
        assert load(title)["additionalProperties"] is True, title
    for title in EXPECTED - OUTPUT_RECORDS:
        assert load(title)["additionalProperties"] is False, title


def test_every_key_the_package_writes_is_required_and_nullable_ones_say_null():
    _, records = sample_records()
    schema = load("Telemetry")

    def check(node: dict, data: dict, where: str) -> None:
        node = schema["$defs"][node["$ref"].split("/")[-1]] if "$ref" in node else node
        assert sorted(node["required"]) == sorted(data), where
        for key, value in data.items():
            prop = node["properties"][key]
            if value is None:
                assert {"type": "null"} in prop["anyOf"], f"{where}.{key}"
            if isinstance(value, dict) and key != "metadata":
                check(prop, value, f"{where}.{key}")

    for t in records:
        check(schema, t.model_dump(mode="json"), "$")
    agg = load("AggregateMetrics")
    assert set(agg["required"]) == set(agg["properties"])
    event = load("ObservabilityEvent")
    assert sorted(event["required"]) == sorted(make_stream_events("x")[0].to_dict())


def test_outcome_and_closed_value_sets_are_enumerations():
    t = load("Telemetry")
    assert t["properties"]["outcome"]["enum"] == ["completed", "aborted", "failed", "abandoned"]
    category = t["$defs"]["ErrorInfo"]["properties"]["category"]["anyOf"][0]["enum"]
    assert set(category) == {"network", "transient", "model", "content", "provider", "fatal",
                             "internal", "unknown"}  # fmt: skip
    severity = load("GuardrailInfo")["$defs"]["GuardrailViolation"]["properties"]["severity"]
    assert severity["enum"] == ["warning", "error", "fatal"]
    assert t["properties"]["schema_version"]["pattern"]
    _, records = sample_records()
    assert {r.outcome for r in records} >= {"completed", "aborted", "failed"}
    assert all(r.schema_version == SCHEMA_VERSION for r in records)


# -- compatibility with the last published version ---------------------------------------


def test_no_breaking_change_since_the_last_published_version():
    """Breaking changes against the previous release are exactly the ones this release intends.

    ``tests/schema_baseline/`` holds the previous release's schemas; its
    ``intended_breaks.json`` lists (and explains) the breaks of a new major version.
    """
    index = json.loads((BASELINE / "index.json").read_text())
    problems = []
    for entry in index["schemas"]:
        old = json.loads((BASELINE / entry["file"]).read_text())
        new_path = SCHEMAS / entry["file"]
        if not new_path.exists():
            problems.append(f"{entry['title']}: schema removed")
            continue
        problems += [
            f"{entry['title']} {p}" for p in breaking_changes(old, json.loads(new_path.read_text()))
        ]
    intended = json.loads((BASELINE / "intended_breaks.json").read_text())
    if index["schema_version"].split(".")[0] == SCHEMA_VERSION.split(".")[0]:
        assert problems == [], "breaking changes need a new major SCHEMA_VERSION"
    else:
        assert (intended["from"], intended["to"]) == (index["schema_version"], SCHEMA_VERSION)
        assert sorted(problems) == sorted(intended["breaking_changes"])


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation: set the node at a /-separated path (under the schema) to ``value``."""

    def mutate(schema: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = schema
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value

    return mutate


def _drop(path: str, item: Any = None) -> Callable[[dict[str, Any]], None]:
    """A mutation: delete a key (or remove ``item`` from a list) at a /-separated path."""

    def mutate(schema: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = schema
        for part in parents:
            node = node[part]
        if item is None:
            del node[last]
        else:
            node[last].remove(item)

    return mutate


def _both(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(schema: dict[str, Any]) -> None:
        for m in mutations:
            m(schema)

    return mutate


P = "properties"
M = "$defs/Metrics/properties"
T = "$defs/TimingInfo/properties"
# Changes that both widen and tighten (breaking whichever way the schema is read).
BOTH_WAYS = {"property retyped", "record closed", "percentile pattern changed",
             "keyword the check does not know"}  # fmt: skip
OUTCOMES = ["completed", "aborted", "failed", "abandoned"]

# Output records: old consumers validate new records with their schema, so any
# document the new schema accepts and the old rejects (widening) is breaking.
WIDENING = {
    "new outcome value": ("Telemetry", _set(f"{P}/outcome/enum", [*OUTCOMES, "timeout"]),
                          "$.outcome: the old schema rejects enum value(s) ['timeout']"),
    "field becomes nullable": ("Telemetry", _set(f"{P}/content_length/type", ["integer", "null"]),
                               "$.content_length: the old schema rejects type(s) ['null']"),
    "key no longer required": ("Telemetry", _drop("required", "completed"),
                               "objects without the key(s) ['completed']"),
    "property removed": ("Telemetry",
                         _both(_drop(f"{P}/completed"), _drop("required", "completed")),
                         "$.completed: property removed or renamed"),
    "property retyped": ("Telemetry", _set(f"{P}/content_length/type", "string"),
                         "$.content_length: the old schema rejects type(s) ['string']"),
    "bound relaxed": ("Telemetry", _drop(f"{M}/token_count/maximum"),
                      "$.metrics.token_count: the old schema rejects numbers above the maximum"),
    "pattern relaxed": ("Telemetry", _drop(f"{P}/schema_version/pattern"),
                        "$.schema_version: the old schema rejects strings (the pattern"),
    "enum opened to strings": ("Telemetry", _set(f"{P}/outcome", {"type": "string"}),
                               "$.outcome: the old schema rejects values outside the enum"),
    "record closed": ("Telemetry", _set("$defs/Metrics/additionalProperties", False),
                      "$.metrics: additional properties no longer allowed"),
    "false schema becomes true": ("Telemetry", _set(f"{P}/completed", True),
                                  "$.completed: the old schema rejects type(s)"),
    "percentile value minimum dropped": (
        "AggregateMetrics",
        lambda s: s["patternProperties"][next(iter(s["patternProperties"]))]["anyOf"][0].pop(
            "minimum"),
        "the old schema rejects numbers below the minimum 0"),
    "percentile value retyped": (
        "AggregateMetrics",
        lambda s: s["patternProperties"][next(iter(s["patternProperties"]))]["anyOf"].append(
            {"type": "string"}),
        "the old schema rejects type(s) ['string']"),
    "percentile pattern changed": (
        "AggregateMetrics",
        lambda s: s["patternProperties"].__setitem__(
            "^q[0-9]+$", s["patternProperties"].pop(next(iter(s["patternProperties"])))),
        "the old schema rejects type(s)"),
    "new event type value": ("ObservabilityEvent", _set(f"{P}/type", {"type": "string"}),
                             "$.type: the old schema rejects values with fewer than 1 characters"),
    "keyword the check does not know": ("Telemetry", _set(f"{P}/model/if", {"type": "null"}),
                                        "keyword(s) ['if'] in the new schema are not understood"),
}  # fmt: skip

# Configurations (and events, read by replay): users write them, the package
# reads them, so any document the old schema accepts and the new rejects
# (tightening) is breaking. Generic keywords are checked on Telemetry read as input.
TIGHTENING = {
    "property set to false": ("Telemetry", _set(f"{P}/completed", False),
                              "$.completed: the new schema rejects every value"),
    "additionalProperties becomes a schema": (
        "ObservabilityEvent", _set("additionalProperties", {"type": "string"}),
        "$[additional]: the new schema rejects type(s)"),
    "unevaluatedProperties false": ("ObservabilityEvent", _set("unevaluatedProperties", False),
                                    "the unevaluatedProperties False was added"),
    "allOf with required": ("ObservabilityEvent", _set("allOf", [{"required": ["zz"]}]),
                            "objects without the key(s) ['zz']"),
    "uniqueItems added": ("Telemetry",
                          _set(f"{T}/inter_token_latencies/uniqueItems", True),
                          "$.timing.inter_token_latencies: the new schema rejects arrays with "
                          "repeated items"),
    "maxProperties added": ("Telemetry", _set(f"{P}/metadata/maxProperties", 3),
                            "$.metadata: the new schema rejects values with more than 3 keys"),
    "minProperties added": ("Telemetry", _set(f"{P}/metadata/minProperties", 1),
                            "$.metadata: the new schema rejects values with fewer than 1 keys"),
    "propertyNames added": ("Telemetry", _set(f"{P}/metadata/propertyNames", {"maxLength": 3}),
                            "$.metadata: the new schema rejects objects (the propertyNames"),
    "not added": ("Telemetry", _set(f"{P}/stream_id/not", {"const": "x"}),
                  "$.stream_id: the new schema rejects values matching the added or changed not"),
    "open event type lost": (
        "ObservabilityEvent", lambda s: s[P]["type"]["anyOf"].pop(),
        "$.type: the new schema rejects values outside the enum"),
    "event field no longer a number": ("ObservabilityEvent", _set(f"{P}/ts/type", "integer"),
                                       "$.ts: the new schema rejects type(s) ['number']"),
    "newly required": ("MonitoringConfig",
                       _both(_set(f"{P}/zz", {"type": "string"}), _set("required", ["zz"])),
                       "objects without the key(s) ['zz']"),
    "enum value removed": ("Telemetry", _set(f"{P}/outcome/enum", ["completed"]),
                           "$.outcome: the new schema rejects enum value(s) ['aborted', 'failed',"),
    "maxLength added": ("Telemetry", _set(f"{P}/stream_id/maxLength", 10),
                        "$.stream_id: the new schema rejects values with more than 10 characters"),
    "config property removed": ("MonitoringConfig", _drop(f"{P}/buffer_size"),
                                "$.buffer_size: property removed or renamed"),
    "config bound tightened": ("MonitoringConfig", _set(f"{P}/buffer_size/minimum", 10),
                               "$.buffer_size: the new schema rejects numbers below the "
                               "minimum 10"),
    "open object closed": ("Telemetry", _set(f"{P}/metadata/additionalProperties", False),
                           "$.metadata[additional]: the new schema rejects keys it does not list"),
}  # fmt: skip


def _direction(title: str, default: str) -> str:
    return "both" if title == "ObservabilityEvent" else default


@pytest.mark.parametrize("case", sorted(WIDENING))
def test_widening_an_output_record_is_breaking(case):
    title, mutate, expected = WIDENING[case]
    old = load(title)
    new = copy.deepcopy(old)
    mutate(new)
    assert new != old
    problems = breaking_changes(old, new)
    assert any(expected in p for p in problems), problems
    if title != "ObservabilityEvent" and case not in BOTH_WAYS:
        # Configurations may widen: the same change read as an input is compatible.
        assert breaking_changes(old, new, direction="input") == [], case


@pytest.mark.parametrize("case", sorted(TIGHTENING))
def test_tightening_a_configuration_or_the_event_log_is_breaking(case):
    title, mutate, expected = TIGHTENING[case]
    old = load(title)
    new = copy.deepcopy(old)
    mutate(new)
    assert new != old
    problems = breaking_changes(old, new, direction=_direction(title, "input"))
    assert any(expected in p for p in problems), problems
    if title not in ("ObservabilityEvent", "MonitoringConfig") and case != "open object closed":
        # Output records may tighten: old consumers accept the new records.
        assert breaking_changes(old, new, direction="output") == [], case


def test_closing_an_open_record_inside_an_array_is_breaking():
    # Review of #15: GuardrailViolation sits under guardrails.violations.items.
    old = load("Telemetry")
    new = copy.deepcopy(old)
    new["$defs"]["GuardrailViolation"]["additionalProperties"] = False
    problems = breaking_changes(old, new)
    assert problems == [
        "$.guardrails.violations[]: additional properties no longer allowed "
        "(output records stay open)"
    ]


_OPEN = {"type": "object", "properties": {"a": {"type": "string"}}}
_SHUT = {**_OPEN, "additionalProperties": False}
# An open record closed wherever a record can sit: (old, new, the path reported).
NESTED_CLOSINGS = {
    "patternProperties": ({"type": "object", "patternProperties": {"^x": _OPEN}},
                          {"type": "object", "patternProperties": {"^x": _SHUT}}, "$[/^x/]"),
    "additionalProperties schema": ({"type": "object", "additionalProperties": _OPEN},
                                    {"type": "object", "additionalProperties": _SHUT},
                                    "$[additional]"),
    "prefixItems": ({"type": "array", "prefixItems": [_OPEN]},
                    {"type": "array", "prefixItems": [_SHUT]}, "$[0]"),
    "$ref in $defs": ({"$defs": {"R": _OPEN}, "items": {"$ref": "#/$defs/R"}},
                      {"$defs": {"R": _SHUT}, "items": {"$ref": "#/$defs/R"}}, "$[]"),
    "made nullable and closed": ({"properties": {"r": _OPEN}},
                                 {"properties": {"r": {"anyOf": [_SHUT, {"type": "null"}]}}},
                                 "$.r"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(NESTED_CLOSINGS))
def test_closing_an_open_record_anywhere_is_breaking(case):
    old, new, where = NESTED_CLOSINGS[case]
    problems = breaking_changes(old, new, direction="output")
    assert f"{where}: additional properties no longer allowed (output records stay open)" in (
        problems
    ), problems
    if case != "prefixItems":  # a keyword the comparison reports as not understood
        assert breaking_changes(old, copy.deepcopy(old), direction="output") == []


_STR, _NULL = {"type": "string"}, {"type": "null"}
# The same union spelt two ways (review of #15: a false positive): (old, new).
SAME_UNIONS = {
    "anyOf to type list": ({"anyOf": [_STR, _NULL]}, {"type": ["string", "null"]}),
    "type list to anyOf": ({"type": ["string", "null"]}, {"anyOf": [_STR, _NULL]}),
    "enum to anyOf": ({"enum": ["a", None]}, {"anyOf": [{"enum": ["a"]}, _NULL]}),
    "anyOf to enum": ({"anyOf": [{"const": "a"}, _NULL]}, {"enum": ["a", None]}),
}


@pytest.mark.parametrize("case", sorted(SAME_UNIONS))
def test_a_union_spelt_as_anyof_or_as_a_type_list_is_the_same_schema(case):
    old, new = SAME_UNIONS[case]
    for direction in ("output", "input", "both"):
        assert (
            breaking_changes(
                {"properties": {"model": old}}, {"properties": {"model": new}}, direction=direction
            )
            == []
        )
    # A real widening in the same spelling is still found.
    wider = {"type": ["string", "null", "integer"]}
    problems = breaking_changes({"properties": {"model": old}}, {"properties": {"model": wider}},
                                direction="output")  # fmt: skip
    assert any("$.model: the old schema rejects" in p and "integer" in p for p in problems), (
        problems
    )


def test_compatible_changes_are_not_breaking():
    old = load("Telemetry")
    new = copy.deepcopy(old)
    # Output: a new always-written (required) field, a tighter bound, fewer enum values.
    new["properties"]["extra_info"] = {"type": "string", "description": "new"}
    new["required"].append("extra_info")
    new["$defs"]["Metrics"]["properties"]["token_count"]["maximum"] = 1000
    new["properties"]["outcome"]["enum"].remove("abandoned")
    assert breaking_changes(old, new) == []
    config = load("MonitoringConfig")
    looser = copy.deepcopy(config)
    # Input: a new optional key, a relaxed bound.
    looser["properties"]["extra_option"] = {"type": "boolean", "default": False}
    looser["properties"]["buffer_size"].pop("minimum", None)
    assert breaking_changes(config, looser) == []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        for direction in ("output", "input", "both"):
            assert breaking_changes(schema, copy.deepcopy(schema), direction=direction) == []


def test_the_check_understands_every_keyword_the_generator_emits():
    from l0_monitoring.schemas import _ANNOTATIONS, _UNDERSTOOD

    found: set[str] = set()

    def walk(node: Any, parent: str = "") -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if parent not in ("properties", "$defs", "patternProperties"):
                    found.add(key)
                walk(value, key)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in SCHEMAS.glob("*.schema.json"):
        walk(json.loads(path.read_text()))
    assert found - _UNDERSTOOD - _ANNOTATIONS == set()


# -- real Node consumers ------------------------------------------------------------------


def node_tool() -> str:
    node = shutil.which("node")
    if node is None or not NODE_MODULES.exists():
        missing_tool("node and tests/consumers/node_modules (npm ci --prefix tests/consumers)")
    return node


def run_node(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node_tool(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=CONSUMERS,
        check=False,
    )


def test_ajv_validates_real_exporter_output(tmp_path):
    m, records = sample_records()
    files = {
        "Telemetry": [tmp_path / f"t{i}.json" for i in range(len(records))],
    }
    for path, t in zip(files["Telemetry"], records, strict=True):
        path.write_text(TelemetryExporter.to_json(t))
    (tmp_path / "all.jsonl").write_text(TelemetryExporter.to_jsonl(records))
    (tmp_path / "agg.json").write_text(json.dumps(m.get_aggregate_metrics()))
    (tmp_path / "config.json").write_text(MonitoringConfig.development().model_dump_json())
    (tmp_path / "events.jsonl").write_text(
        "".join(json.dumps(e.to_dict()) + "\n" for e in make_stream_events("e1", network_retries=1))
    )
    checks = [("Telemetry", p) for p in files["Telemetry"]] + [
        ("Telemetry", tmp_path / "all.jsonl"),
        ("AggregateMetrics", tmp_path / "agg.json"),
        ("MonitoringConfig", tmp_path / "config.json"),
        ("ObservabilityEvent", tmp_path / "events.jsonl"),
    ]
    for title, path in checks:
        result = run_node("validate.mjs", str(SCHEMAS), title, str(path))
        assert result.returncode == 0, (title, path.name, result.stdout, result.stderr)
    lines = TelemetryExporter.to_jsonl(records).count("\n")
    result = run_node("validate.mjs", str(SCHEMAS), "Telemetry", str(tmp_path / "all.jsonl"))
    assert f"{lines} valid, 0 invalid" in result.stdout


def test_ajv_rejects_an_invalid_record(tmp_path):
    _, records = sample_records()
    bad = json.loads(TelemetryExporter.to_json(records[0]))
    bad["timing"]["started_at"] = "yesterday"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = run_node("validate.mjs", str(SCHEMAS), "Telemetry", str(path))
    assert result.returncode == 1 and "date-time" in result.stdout


def test_events_schema_matches_from_dict():
    v = validator("ObservabilityEvent")
    ok = {"type": "TOKEN", "ts": 1.0, "stream_id": "s", "context": {}, "meta": {"token": "x"}}
    v.validate(ok)
    assert ObservabilityEvent.from_dict(ok, document=True).meta == {"token": "x"}
    for bad in (
        {**ok, "stream_id": ""},
        {**ok, "type": ""},
        {**ok, "meta": None},
        {k: v for k, v in ok.items() if k != "context"},
        {k: v for k, v in ok.items() if k != "ts"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            v.validate(bad)
        with pytest.raises(ValueError):
            ObservabilityEvent.from_dict(bad, document=True)


def test_the_built_wheel_carries_fresh_schemas(tmp_path):
    import sys
    import zipfile

    pytest.importorskip("hatchling")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        for name, text in generate_schemas().items():
            assert z.read(f"l0_monitoring/_schemas/{name}").decode() == text
