"""One contract on raw JSON *text*: ajv, Python jsonschema and every reader agree.

``test_contract.py`` compares verdicts on parsed documents; here the same raw
text (whitespace around the value, numbers beyond 64-bit floats, deep nesting,
lone surrogates, a ``.json`` array...) goes through real ajv (Node), plain
``jsonschema.Draft202012Validator`` (no test-side overrides), the Python
readers (``TelemetryExporter.from_jsonl``, ``Telemetry.model_validate_json``,
``iter_events``, ``validate_aggregate_metrics``) and ``l0-monitoring validate``,
and every verdict must be the same.

One stated exception (README, "Using the schemas from other languages"): a
number beyond the 64-bit float range (``1e400``, 400 digits) inside an open
object (``metadata``, ``context``, ``meta``) is rejected by the readers,
as by Go's ``encoding/json``; ajv reads it as Infinity and JSON Schema cannot
say "finite", so ajv and jsonschema accept it there.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from l0_monitoring import Telemetry, TelemetryExporter
from l0_monitoring._internal.contract import END, loads
from l0_monitoring.cli import main as cli_main
from l0_monitoring.recording import iter_events
from l0_monitoring.telemetry import validate_aggregate_metrics

from .conftest import missing_tool

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
CONSUMERS = Path(__file__).resolve().parent / "consumers"

# Whitespace that str.strip() removes and JSON does not allow around a value.
NOT_JSON_SPACES = ["\u00a0", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85",
                   "\u2028", "\u2029", "\u3000", "\u2003", "\ufeff"]  # fmt: skip


def ajv_verdicts(title: str, texts: list[str], tmp_path: Path) -> list[bool]:
    node = shutil.which("node")
    if node is None or not (CONSUMERS / "node_modules").exists():
        missing_tool("node and tests/consumers/node_modules (npm ci --prefix tests/consumers)")
    assert node is not None
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    r = subprocess.run([node, "verdicts.mjs", SCHEMAS / f"{title}.schema.json",
                        tmp_path / "texts.json"], capture_output=True, text=True,
                       cwd=CONSUMERS, timeout=120, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out) == len(texts)
    return [v == "OK" for v in out]


def jsonschema_verdict(title: str) -> Callable[[str], bool]:
    schema = json.loads((SCHEMAS / f"{title}.schema.json").read_text())
    # Plain draft 2020-12 with formats: the patterns mean the same in Python re.
    check = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )

    def verdict(text: str) -> bool:
        try:
            doc = json.loads(text, parse_constant=_reject)
        except ValueError:
            return False
        return check.is_valid(doc)

    return verdict


def _reject(name: str) -> None:
    raise ValueError(name)


def accepts(read: Callable[[str], object]) -> Callable[[str], bool]:
    def verdict(text: str) -> bool:
        try:
            read(text)
        except (ValueError, RecursionError):
            return False
        return True

    return verdict


def cli_verdict(title: str, suffix: str, tmp_path: Path) -> Callable[[str], bool]:
    path = tmp_path / f"doc{suffix}"

    def verdict(text: str) -> bool:
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return cli_main(["validate", str(path), "--schema", title]) == 0

    return verdict


def one_event(text: str) -> None:
    events = list(iter_events([text], strict=True))
    if len(events) != 1:
        raise ValueError("no event read")


def one_event_from_file(tmp_path: Path) -> Callable[[str], None]:
    path = tmp_path / "events.jsonl"

    def read(text: str) -> None:
        path.write_bytes(text.encode("utf-8", "surrogatepass") + b"\n")
        if len(list(iter_events(path, strict=True))) != 1:
            raise ValueError("no event read")

    return read


def one_record(text: str) -> None:
    if len(TelemetryExporter.from_jsonl(text)) != 1:
        raise ValueError("no record read")


def one_record_from_lines(text: str) -> None:
    if len(TelemetryExporter.from_jsonl([text])) != 1:
        raise ValueError("no record read")


def never(name: str, reader: str) -> bool:
    return False


def compare(
    title: str,
    cases: dict[str, str],
    readers: dict[str, Callable[[str], bool]],
    tmp_path: Path,
    exempt: Callable[[str, str], bool] = never,
) -> None:
    names = list(cases)
    texts = [cases[n] for n in names]
    ajv = ajv_verdicts(title, texts, tmp_path)
    schema = jsonschema_verdict(title)
    disagreements = []
    for name, text, by_ajv in zip(names, texts, ajv, strict=True):
        verdicts = {"ajv": by_ajv, "jsonschema": schema(text)}
        verdicts.update({reader: read(text) for reader, read in readers.items()})
        expected = by_ajv
        for reader, verdict in verdicts.items():
            if verdict != expected and not exempt(name, reader):
                disagreements.append(f"{name}: {reader}={verdict} ajv={expected}")
    assert not disagreements, "\n".join(disagreements)


# -- cases ---------------------------------------------------------------------------------


def demo_record() -> dict[str, object]:
    record = Telemetry(stream_id="s-1", model="m", metadata={"tenant": "a"})
    return json.loads(TelemetryExporter.to_jsonl([record]))  # type: ignore[no-any-return]


EVENT = '{"type":"TOKEN","ts":1700000000000.5,"stream_id":"s1","context":{},"meta":{"n":1}}'


def spaced(base: str) -> dict[str, str]:
    cases = {"plain": base, "json spaces": " \t" + base + " \t\r"}
    for ch in NOT_JSON_SPACES:
        if ch != "\ufeff":
            # A byte order mark at the start of a file is an encoding marker that
            # every reader drops (RFC 8259 section 8.1 allows ignoring it):
            # test_a_byte_order_mark_costs_no_event_in_replay_or_validate.
            cases[f"leading U+{ord(ch):04X}"] = ch + base
        cases[f"trailing U+{ord(ch):04X}"] = base + ch
        cases[f"only U+{ord(ch):04X}"] = ch
    return cases


def test_event_lines_with_unicode_spaces_around_them_are_not_json(tmp_path):
    compare("ObservabilityEvent", spaced(EVENT), {
        "iter_events(lines)": accepts(one_event),
        "iter_events(path)": accepts(one_event_from_file(tmp_path)),
        "validate .jsonl": cli_verdict("ObservabilityEvent", ".jsonl", tmp_path),
    }, tmp_path)  # fmt: skip


def test_telemetry_lines_with_unicode_spaces_around_them_are_not_json(tmp_path):
    base = json.dumps(demo_record(), separators=(",", ":"))
    compare("Telemetry", spaced(base), {
        "from_jsonl": accepts(one_record),
        "from_jsonl(lines)": accepts(one_record_from_lines),
        "validate .jsonl": cli_verdict("Telemetry", ".jsonl", tmp_path),
        "validate .json": cli_verdict("Telemetry", ".json", tmp_path),
    }, tmp_path)  # fmt: skip


def with_value(base: dict[str, object], path: tuple[str, ...], raw: str) -> str:
    doc = json.loads(json.dumps(base))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "__RAW__"
    return json.dumps(doc, separators=(",", ":")).replace('"__RAW__"', raw)


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


BEYOND_FLOAT = ["1e400", "-1e400", "1" + "0" * 400]


def beyond_float_in_open_object(name: str, reader: str) -> bool:
    # The one documented exception (module docstring): readers reject these.
    return reader not in ("ajv", "jsonschema") and name.startswith("open:")


def telemetry_text_cases() -> dict[str, str]:
    base = demo_record()
    cases: dict[str, str] = {}
    for raw in ["NaN", "Infinity", "-Infinity"]:
        cases[f"metadata {raw}"] = with_value(base, ("metadata",), f'{{"x":{raw}}}')
        cases[f"violation extra key {raw}"] = with_value(
            base, ("guardrails", "violations"), f'[{{"severity":"error","x":{raw}}}]'
        )
        cases[f"duration {raw}"] = with_value(base, ("timing", "duration"), raw)
    for raw in BEYOND_FLOAT:
        cases[f"open: metadata {raw[:8]}"] = with_value(base, ("metadata",), f'{{"x":{raw}}}')
        cases[f"open: violation extra key {raw[:8]}"] = with_value(
            base, ("guardrails", "violations"), f'[{{"severity":"error","x":{raw}}}]'
        )
    for raw in ['"\\ud800"', '"a\\udc00b"', '"\\udfff\\ud800"']:
        cases[f"stream_id {raw}"] = with_value(base, ("stream_id",), raw)
        cases[f"metadata string {raw}"] = with_value(base, ("metadata",), f'{{"x":{raw}}}')
        cases[f"model {raw}"] = with_value(base, ("model",), raw)
    for depth in (50, 200, 600, 900):
        cases[f"metadata depth {depth}"] = with_value(base, ("metadata",), nested(depth))
    return cases


def test_model_validate_json_reads_with_the_contract_of_every_other_reader(tmp_path):
    compare(
        "Telemetry",
        telemetry_text_cases(),
        {
            "model_validate_json": accepts(Telemetry.model_validate_json),
            "model_validate_json(bytes)": accepts(
                lambda t: Telemetry.model_validate_json(t.encode("utf-8", "surrogatepass"))
            ),
            "from_jsonl": accepts(one_record),
            "validate .jsonl": cli_verdict("Telemetry", ".jsonl", tmp_path),
        },
        tmp_path,
        exempt=beyond_float_in_open_object,
    )


def test_model_validate_json_never_reinterprets_what_it_reads():
    base = demo_record()
    for raw in ["NaN", "Infinity", "1e400"]:
        text = with_value(base, ("metadata",), f'{{"x":{raw}}}')
        with pytest.raises(ValidationError) as err:
            Telemetry.model_validate_json(text)
        assert err.value.errors()[0]["type"] == "json_invalid"
    text = with_value(base, ("metadata",), '{"x":"\\ud800","d":' + nested(600) + "}")
    record = Telemetry.model_validate_json(text)
    assert record.metadata["x"] == "\ud800"
    assert record == TelemetryExporter.from_jsonl(text)[0]


def demo_aggregates() -> dict[str, object]:
    from l0_monitoring import Monitor, MonitoringConfig
    from l0_monitoring.testing import make_stream_events

    monitor = Monitor(MonitoringConfig())
    for event in make_stream_events("s-1", tokens=["a", "b", "c"]):
        monitor.handle_event(event)
    return json.loads(json.dumps(monitor.get_aggregate_metrics()))  # type: ignore[no-any-return]


def test_a_json_file_is_one_document_and_an_array_is_not_an_object(tmp_path):
    record = json.dumps(demo_record())
    aggregates = json.dumps(demo_aggregates())
    for title, doc, reader in [
        ("Telemetry", record, accepts(Telemetry.model_validate_json)),
        ("AggregateMetrics", aggregates, accepts(lambda t: validate_aggregate_metrics(loads(t)))),
    ]:
        cases = {
            "the document": doc,
            "empty array": "[]",
            "array of one": f"[{doc}]",
            "array of three": f"[{doc},{doc},{doc}]",
            "array of arrays": f"[[{doc}]]",
        }
        compare(title, cases, {"reader": reader,
                               "validate .json": cli_verdict(title, ".json", tmp_path)},
                tmp_path)  # fmt: skip
    path = tmp_path / "many.json"
    path.write_text(f"[{record},{record},{record}]")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["validate", str(path)]) == 1
    assert f"{path}: 0 valid, 1 invalid (Telemetry)" in out.getvalue()
    assert "JSON Lines" in out.getvalue()


def published_patterns() -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    found.append(value)
                elif key == "patternProperties" and isinstance(value, dict):
                    found.extend(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(SCHEMAS.glob("*.schema.json")):
        walk(json.loads(path.read_text()))
    return found


def test_patterns_mean_the_same_in_ajv_python_jsonschema_and_the_readers(tmp_path):
    patterns = published_patterns()
    assert len(patterns) >= 4
    for pattern in patterns:  # "$" differs in Python re; "\Z" is not ECMA-262
        assert pattern.endswith(END) and "$" not in pattern and "\\Z" not in pattern, pattern
    base = demo_record()
    base["timing"]["started_at"] = "2024-01-02T03:04:05.123Z"  # type: ignore[index]
    cases = {"plain": json.dumps(base)}
    for tail in ["\n", "\r", " ", "\u2028", "\n\n"]:
        cases[f"schema_version {tail!r}"] = with_value(
            base, ("schema_version",), json.dumps("2.0.0" + tail)
        )
        cases[f"started_at {tail!r}"] = with_value(
            base, ("timing", "started_at"), json.dumps("2024-01-02T03:04:05.123Z" + tail)
        )
    compare("Telemetry", cases, {
        "model_validate_json": accepts(Telemetry.model_validate_json),
        "from_jsonl": accepts(one_record),
    }, tmp_path)  # fmt: skip
    aggregates = demo_aggregates()
    agg_cases = {"plain": json.dumps(aggregates)}
    for tail in ["\n", "\r", "\u2028"]:
        # With the newline the key is no percentile key: any value is accepted.
        agg_cases[f"p50_ttft{tail!r} = -1"] = json.dumps({**aggregates, "p50_ttft" + tail: -1})
    agg_cases["p50_ttft = -1"] = json.dumps({**aggregates, "p50_ttft": -1})
    compare("AggregateMetrics", agg_cases, {
        "validate_aggregate_metrics": accepts(lambda t: validate_aggregate_metrics(loads(t))),
    }, tmp_path)  # fmt: skip


def number_cases() -> dict[str, str]:
    base = demo_record()
    cases: dict[str, str] = {}
    for raw in ["3", "1.0", "1e2", "0", "-0", "9007199254740991", "9007199254740992",
                "-1", "1.5", "1e400", "1" + "0" * 400, "1" + "0" * 30, "true"]:  # fmt: skip
        cases[f"token_count={raw[:24]}"] = with_value(base, ("metrics", "token_count"), raw)
        cases[f"content_length={raw[:24]}"] = with_value(base, ("content_length",), raw)
    for raw in ["1.5", "0", "1e308", "-1e400", "1e400", "1" + "0" * 400, "1e-400"]:
        cases[f"duration={raw[:24]}"] = with_value(base, ("timing", "duration"), raw)
    for raw in BEYOND_FLOAT + ["1e308", "1" + "0" * 300]:
        cases[f"open: metadata={raw[:24]}"] = with_value(base, ("metadata",), f'{{"x":{raw}}}')
    return cases


def beyond_float(name: str, reader: str) -> bool:
    # Documented: the readers reject a number beyond the 64-bit float range
    # anywhere, as ajv does where the schema says number or integer (Infinity is
    # neither) and as Go does everywhere. JSON Schema cannot say "finite": ajv
    # accepts Infinity in an open object, and Python jsonschema (which reads 1e400
    # as inf and keeps 400-digit integers) accepts both where a number is allowed.
    beyond = any(name.endswith("=" + raw[:24]) for raw in BEYOND_FLOAT)
    if not beyond or reader == "ajv":
        return False
    if name.startswith("open:"):
        return reader != "jsonschema"
    return reader == "jsonschema" and name.startswith("duration=")


def test_numbers_have_one_contract_in_ajv_jsonschema_and_the_readers(tmp_path):
    compare("Telemetry", number_cases(), {
        "model_validate_json": accepts(Telemetry.model_validate_json),
        "from_jsonl": accepts(one_record),
        "validate .jsonl": cli_verdict("Telemetry", ".jsonl", tmp_path),
    }, tmp_path, exempt=beyond_float)  # fmt: skip
