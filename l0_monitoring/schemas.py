"""JSON Schemas (Draft 2020-12) for every published model, generated from the models.

One function, :func:`generate_schemas`, produces every file of the committed
``schemas/`` folder (one ``<Model>.schema.json`` per model plus ``index.json``).
It runs at build time (the hatchling hook in ``hatch_build.py`` puts the files in
the wheel and sdist), from ``nox -s schemas`` and from
``python -m l0_monitoring.schemas [--out DIR] [--check]``.

Versioning: ``SCHEMA_VERSION`` follows semantic versioning. A breaking change
(see :func:`breaking_changes`: widening an output record, tightening a
configuration) needs a new major version; ``$id`` carries the major version so
consumers pin it, and every Telemetry record names the version that wrote it
(``schema_version``).

Compatibility policy: output records (``Telemetry`` and its parts,
``ObservabilityEvent``, ``AggregateMetrics``) are open (``additionalProperties:
true``), so consumers built against this version keep reading records of a
later minor version that adds fields. Every key the package always writes is
``required``; a value that may be null is ``anyOf [X, null]``. Configurations
are closed, so a misspelt key is an error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from . import settings
from ._internal.contract import JsonFloat
from .config import MetricsConfig, MonitoringConfig, SamplingConfig
from .events import ObservabilityEventType
from .telemetry import (
    PERCENTILE_KEY_PATTERN,
    SCHEMA_VERSION,
    AggregateMetrics,
    DriftInfo,
    ErrorInfo,
    GuardrailInfo,
    Metrics,
    RetryInfo,
    Telemetry,
    TimingInfo,
)

__all__ = [
    "OUTPUT_RECORDS",
    "READ_AND_WRITTEN",
    "SCHEMA_VERSION",
    "breaking_changes",
    "check_schemas",
    "direction_of",
    "generate_schemas",
    "schema_id",
    "write_schemas",
]

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schema_id(name: str, version: str = SCHEMA_VERSION) -> str:
    """Return the stable ``$id`` of a schema: the name and the major version."""
    return f"urn:l0-monitoring:schema:v{version.split('.', maxsplit=1)[0]}:{name}"


OUTPUT_RECORDS = frozenset(
    {
        "Telemetry",
        "TimingInfo",
        "Metrics",
        "RetryInfo",
        "GuardrailInfo",
        "ErrorInfo",
        "DriftInfo",
        "AggregateMetrics",
        "ObservabilityEvent",
    }
)
"""Schemas of documents the package writes: open to added properties, every written key required."""


class ObservabilityEventSchema(BaseModel):
    """One observability event, as ``EventRecorder`` writes it and ``iter_events`` reads it.

    ``type`` is open: the listed values are the L0 runtime's; a newer emitter's
    types are accepted (and ignored by the Monitor).
    """

    model_config = ConfigDict(
        extra="ignore", title="ObservabilityEvent", json_schema_extra={"additionalProperties": True}
    )

    type: ObservabilityEventType | Annotated[str, Field(min_length=1)] = Field(
        description="Event type: one of the L0 runtime's UPPER_CASE types; unknown types "
        "from newer emitters are accepted and ignored.",
        examples=["TOKEN", "COMPLETE"],
    )
    ts: JsonFloat = Field(
        description="Milliseconds since the Unix epoch (finite).", examples=[1700000000000.0]
    )
    stream_id: str = Field(min_length=1, description="Stream identifier.")
    context: dict[str, Any] = Field(
        description="User context of the run (request id, tenant...); {} when none."
    )
    meta: dict[str, Any] = Field(
        description="Event-specific data, camelCase keys from the L0 runtime "
        "(e.g. tokenCount, isNetwork, recoveryStrategy); {} when none.",
    )


def _aggregate_schema() -> dict[str, Any]:
    schema = TypeAdapter(AggregateMetrics).json_schema()
    schema["patternProperties"] = {
        PERCENTILE_KEY_PATTERN: {
            "anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}],
            "description": "Quantile q of TTFT / duration (seconds) or tokens per second, "
            "for each configured percentile (0.5 -> p50, 0.999 -> p99.9); 1% relative error; "
            "null when no stream had a value.",
        }
    }
    schema["additionalProperties"] = True
    return schema


def _model(model: type[BaseModel]) -> Callable[[], dict[str, Any]]:
    return model.model_json_schema


def published_models() -> dict[str, Callable[[], dict[str, Any]]]:
    """Return every published schema by title, as a function building it."""
    models: dict[str, Callable[[], dict[str, Any]]] = {
        "Telemetry": _model(Telemetry),
        "TimingInfo": _model(TimingInfo),
        "Metrics": _model(Metrics),
        "RetryInfo": _model(RetryInfo),
        "GuardrailInfo": _model(GuardrailInfo),
        "ErrorInfo": _model(ErrorInfo),
        "DriftInfo": _model(DriftInfo),
        "AggregateMetrics": _aggregate_schema,
        "ObservabilityEvent": _model(ObservabilityEventSchema),
        "MonitoringConfig": _model(MonitoringConfig),
        "SamplingConfig": _model(SamplingConfig),
        "MetricsConfig": _model(MetricsConfig),
    }
    for name in settings.PUBLISHED:
        models[name] = _model(getattr(settings, name))
    return models


def _strip_private(node: Any, drop: frozenset[str] = frozenset()) -> Any:
    # x-* keys are this package's own metadata (logfmt layout), not for consumers.
    if isinstance(node, dict):
        out = {
            k: _strip_private(v, drop)
            for k, v in node.items()
            if not k.startswith("x-") and k not in drop
        }
        props = out.get("properties")
        if isinstance(props, dict):
            # Pydantic titles every property ("Stream Id"); type generators turn
            # each into a named alias (json-schema-to-typescript: `type StreamId =
            # string`). Models keep their titles, properties only describe.
            for sub in props.values():
                if isinstance(sub, dict):
                    sub.pop("title", None)
        return out
    if isinstance(node, list):
        return [_strip_private(v, drop) for v in node]
    return node


# A record's keys are always written, so a default says nothing to a reader of
# the document (and some generators read "has a default" as "may be absent").
_RECORD_ONLY = frozenset({"default"})


def generate_schemas(version: str = SCHEMA_VERSION) -> dict[str, str]:
    """Generate every schema file.

    Args:
        version: The schema version written into ``$comment`` and ``index.json``.

    Returns:
        File name -> file text (sorted keys, two-space indent, trailing newline).
    """
    files: dict[str, str] = {}
    index: list[dict[str, str]] = []
    for name, build in sorted(published_models().items()):
        schema = _strip_private(build(), _RECORD_ONLY if name in OUTPUT_RECORDS else frozenset())
        schema["title"] = name
        schema = {
            "$schema": DRAFT,
            "$id": schema_id(name, version),
            "$comment": f"l0_monitoring schema version {version}; generated, do not edit.",
            **schema,
        }
        filename = f"{name}.schema.json"
        files[filename] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        index.append({"title": name, "file": filename, "$id": schema_id(name, version)})
    files["index.json"] = (
        json.dumps({"schema_version": version, "schemas": index}, indent=2, sort_keys=True) + "\n"
    )
    return files


def write_schemas(out_dir: str | Path) -> list[Path]:
    """Write every schema file into ``out_dir`` (created if needed); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in generate_schemas().items():
        path = out / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check_schemas(directory: str | Path) -> list[str]:
    """Return the files of ``directory`` that are missing, stale or not generated.

    Args:
        directory: A folder holding committed schemas.

    Returns:
        Problems as ``"<file>: missing|stale|unexpected"``; empty when up to date.
    """
    folder = Path(directory)
    expected = generate_schemas()
    problems = []
    for filename, text in expected.items():
        path = folder / filename
        if not path.exists():
            problems.append(f"{filename}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{filename}: stale")
    if folder.exists():
        for path in sorted(folder.glob("*.json")):
            if path.name not in expected:
                problems.append(f"{path.name}: unexpected")
    return problems


# -- the breaking-change check -------------------------------------------------------------

# Keywords that only describe: they never change which documents are valid.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples",
     "readOnly", "writeOnly", "deprecated", "contentMediaType", "contentEncoding"}
)  # fmt: skip
# Keywords the check understands. Any other one (if/then/else, prefixItems,
# dependentSchemas, $dynamicRef...) is reported as a possible break: the check
# never calls a change compatible that it cannot prove compatible.
_UNDERSTOOD = frozenset(
    {"$ref", "type", "enum", "const", "anyOf", "oneOf", "allOf", "not", "properties",
     "required", "additionalProperties", "patternProperties", "unevaluatedProperties",
     "propertyNames", "minProperties", "maxProperties", "items", "minItems", "maxItems",
     "uniqueItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
     "multipleOf", "minLength", "maxLength", "pattern", "format"}
)  # fmt: skip
_JSON_TYPES = ("null", "boolean", "object", "array", "number", "string")


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or seen > 64:
            return node
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **rest} if rest and isinstance(target, dict) else target
        seen += 1
    return node


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types(node: dict[str, Any]) -> set[str]:
    """The JSON types a node (without anyOf) allows; "integer" stands for itself."""
    if "const" in node or "enum" in node:
        values = [node["const"]] if "const" in node else list(node["enum"])
        return {_json_type(v) for v in values}
    kind = node.get("type")
    if kind is None:
        return {*_JSON_TYPES, "integer"}
    kinds = {kind} if isinstance(kind, str) else set(kind)
    if "number" in kinds:
        kinds.add("integer")
    return kinds


def _allows_type(node: dict[str, Any], kind: str) -> bool:
    kinds = _types(node)
    return kind in kinds or (kind == "integer" and "number" in kinds)


def _trivial(node: Any) -> bool:
    return node is True or (isinstance(node, dict) and set(node) <= _ANNOTATIONS)


class _Compare:
    """Find documents schema ``a`` accepts that schema ``b`` may reject (conservatively)."""

    def __init__(self, root_a: dict[str, Any], root_b: dict[str, Any], a: str, b: str) -> None:
        self.root_a, self.root_b = root_a, root_b
        self.a, self.b = a, b  # "old"/"new": which side each schema is, for messages
        self.problems: list[str] = []
        self.seen: set[tuple[int, int, str]] = set()
        self.keep: list[Any] = []  # the nodes behind the ids in seen stay alive (no id reuse)

    def report(self, path: str, what: str) -> None:
        self.problems.append(f"{path}: the {self.b} schema rejects {what} the {self.a} accepts")

    def lost(self, sa: Any, sb: Any, path: str) -> None:
        sa, sb = _resolve(sa, self.root_a), _resolve(sb, self.root_b)
        visit = (id(sa), id(sb), path)
        if visit in self.seen:  # recursive $refs
            return
        self.seen.add(visit)
        self.keep.append((sa, sb))
        if _trivial(sb) or sa is False:
            return
        if sb is False:
            if path.endswith("[additional]"):
                self.report(path, "keys it does not list (it is closed)")
            else:
                self.report(path, "every value (false schema: the key is forbidden)")
            return
        if sa is True:
            sa = {}
        if not isinstance(sa, dict) or not isinstance(sb, dict):
            self.report(path, "values (a schema the check cannot read)")
            return
        for side, node in ((self.a, sa), (self.b, sb)):
            unknown = set(node) - _UNDERSTOOD - _ANNOTATIONS
            if unknown:
                self.problems.append(
                    f"{path}: keyword(s) {sorted(unknown)} in the {side} schema are not "
                    "understood by the check: cannot prove the change compatible"
                )
                return
        # Alternatives of a: each must be accepted by b.
        for key in ("anyOf", "oneOf"):
            if key in sa:
                rest = {k: v for k, v in sa.items() if k != key}
                for option in sa[key]:
                    alt = _resolve(option, self.root_a)
                    merged = {**rest, **alt} if isinstance(alt, dict) else alt
                    self.lost(merged, sb, path)
                return
        if "oneOf" in sb and sb.get("oneOf") != sa.get("oneOf"):
            self.report(path, "values (oneOf added or changed: exclusivity is not checked)")
            return
        if "anyOf" in sb:
            # A union written as a type list or an enum ({"type": ["string", "null"]})
            # against alternatives (anyOf [string, null]): each part on its own must
            # fit some alternative, as one anyOf branch each would.
            kinds, values = sa.get("type"), sa.get("enum")
            if isinstance(kinds, list) and len(kinds) > 1:
                for kind in kinds:
                    self.lost({**sa, "type": kind}, sb, path)
                return
            if isinstance(values, list) and len(values) > 1 and "const" not in sa:
                rest = {k: v for k, v in sa.items() if k != "enum"}
                for value in values:
                    self.lost({**rest, "const": value}, sb, path)
                return
            self._into_alternatives(sa, sb, path)
            return
        for conjunct in sb.get("allOf", ()):
            if conjunct not in sa.get("allOf", ()):
                self.lost({k: v for k, v in sa.items() if k != "allOf"}, conjunct, path)
        if "not" in sb and sb["not"] != sa.get("not"):
            self.report(path, f"values matching the added or changed not {sb['not']!r}")
        self._scalar(sa, sb, path)

    def _into_alternatives(self, sa: dict[str, Any], sb: dict[str, Any], path: str) -> None:
        rest = {k: v for k, v in sb.items() if k != "anyOf"}
        best: list[str] | None = None
        for option in sb["anyOf"]:
            alt = _resolve(option, self.root_b)
            merged = {**rest, **alt} if isinstance(alt, dict) else alt
            trial = _Compare(self.root_a, self.root_b, self.a, self.b)
            trial.seen = set(self.seen)
            trial.lost(sa, merged, path)
            if not trial.problems:
                return
            same_type = isinstance(alt, dict) and bool(_types(sa) & _types(alt))
            if best is None or (same_type and len(trial.problems) <= len(best)):
                best = trial.problems
        self.problems.extend(best or [f"{path}: no alternative of the {self.b} schema fits"])

    def _scalar(self, sa: dict[str, Any], sb: dict[str, Any], path: str) -> None:
        kinds = _types(sa)
        missing = sorted(k for k in kinds if not _allows_type(sb, k))
        if missing:
            self.report(path, f"type(s) {missing}")
        finite = "enum" in sa or "const" in sa
        values = [sa["const"]] if "const" in sa else list(sa.get("enum", ()))
        if not finite and kinds == {"null"}:  # {"type": "null"} is the enum [None]
            finite, values = True, [None]
        if "enum" in sb or "const" in sb:
            allowed = [sb["const"]] if "const" in sb else list(sb["enum"])
            if not finite:
                self.report(path, f"values outside the enum {allowed}")
            else:
                extra = [v for v in values if v not in allowed]
                if extra:
                    self.report(path, f"enum value(s) {extra}")
        if finite:
            return  # the values themselves were checked
        self._bounds(sa, sb, path, kinds)
        if "string" in kinds:
            for key in ("pattern", "format"):
                if key in sb and sb[key] != sa.get(key):
                    self.report(path, f"strings (the {key} {sb[key]!r} was added or changed)")
            self._length(sa, sb, path, "minLength", "maxLength", "characters")
        if "array" in kinds:
            self._length(sa, sb, path, "minItems", "maxItems", "items")
            if sb.get("uniqueItems") and not sa.get("uniqueItems"):
                self.report(path, "arrays with repeated items (uniqueItems added)")
            if "items" in sb:
                self.lost(sa.get("items", True), sb["items"], f"{path}[]")
        if "object" in kinds:
            self._object(sa, sb, path)

    def _bounds(self, sa: dict[str, Any], sb: dict[str, Any], path: str, kinds: set[str]) -> None:
        if not kinds & {"number", "integer"}:
            return
        low_a = [
            (sa[k], k == "exclusiveMinimum") for k in ("minimum", "exclusiveMinimum") if k in sa
        ]
        high_a = [
            (sa[k], k == "exclusiveMaximum") for k in ("maximum", "exclusiveMaximum") if k in sa
        ]
        for key, strict in (("minimum", False), ("exclusiveMinimum", True)):
            if key in sb and not any(v > sb[key] or (v == sb[key] and (ex or not strict))
                                     for v, ex in low_a):  # fmt: skip
                self.report(path, f"numbers below the {key} {sb[key]!r}")
        for key, strict in (("maximum", False), ("exclusiveMaximum", True)):
            if key in sb and not any(v < sb[key] or (v == sb[key] and (ex or not strict))
                                     for v, ex in high_a):  # fmt: skip
                self.report(path, f"numbers above the {key} {sb[key]!r}")
        if "multipleOf" in sb:
            step = sa.get("multipleOf")
            if step is None or (step / sb["multipleOf"]) % 1:
                self.report(path, f"numbers not a multiple of {sb['multipleOf']!r}")

    def _length(self, sa: dict[str, Any], sb: dict[str, Any], path: str, low: str, high: str,
                unit: str) -> None:  # fmt: skip
        if low in sb and sa.get(low, 0) < sb[low]:
            self.report(path, f"values with fewer than {sb[low]} {unit} ({low})")
        if high in sb and (high not in sa or sa[high] > sb[high]):
            self.report(path, f"values with more than {sb[high]} {unit} ({high})")

    def _object(self, sa: dict[str, Any], sb: dict[str, Any], path: str) -> None:
        newly = sorted(set(sb.get("required", ())) - set(sa.get("required", ())))
        if newly:
            self.report(path, f"objects without the key(s) {newly} (required added)")
        self._length(sa, sb, path, "minProperties", "maxProperties", "keys")
        for key in ("propertyNames", "unevaluatedProperties"):
            if key in sb and sb[key] != sa.get(key) and not _trivial(sb[key]):
                self.report(path, f"objects (the {key} {sb[key]!r} was added or changed)")
        props_a, props_b = sa.get("properties", {}), sb.get("properties", {})
        for name in sorted({*props_a, *props_b}):
            where = f"{path}.{name}"
            if name in props_a and name not in props_b and self.a == "old":
                before = len(self.problems)
                self.lost(props_a[name], self._member(sb, name), where)
                if len(self.problems) > before:
                    self.problems.append(f"{where}: property removed or renamed")
                continue
            if name in props_b and name not in props_a and self.b == "old":
                before = len(self.problems)
                self.lost(self._member(sa, name), props_b[name], where)
                if len(self.problems) > before:
                    self.problems.append(f"{where}: property removed or renamed")
                continue
            if name in props_a and name not in props_b and self._member(sb, name) is False:
                self.report(where, "this key (not among its properties, and it is closed)")
                continue
            self.lost(self._member(sa, name), self._member(sb, name), where)
        pats_a, pats_b = sa.get("patternProperties", {}), sb.get("patternProperties", {})
        for pattern in sorted({*pats_a, *pats_b}):
            self.lost(pats_a.get(pattern, self._rest(sa)), pats_b.get(pattern, self._rest(sb)),
                      f"{path}[/{pattern}/]")  # fmt: skip
        self.lost(self._rest(sa), self._rest(sb), f"{path}[additional]")

    @staticmethod
    def _member(node: dict[str, Any], name: str) -> Any:
        if name in node.get("properties", {}):
            return node["properties"][name]
        for pattern, sub in node.get("patternProperties", {}).items():
            if re.search(pattern, name):
                return sub
        return _Compare._rest(node)

    @staticmethod
    def _rest(node: dict[str, Any]) -> Any:
        return node.get("additionalProperties", True)


def _closed(old: Any, new: Any, root_old: dict[str, Any], root_new: dict[str, Any],
            path: str, out: list[str], depth: int = 0) -> None:  # fmt: skip
    # Output records stay open (the policy), whatever old consumers would accept.
    old, new = _resolve(old, root_old), _resolve(new, root_new)
    if not isinstance(old, dict) or not isinstance(new, dict) or depth > 32:
        return
    if old.get("additionalProperties", True) is not False and (
        new.get("additionalProperties", True) is False
        or new.get("unevaluatedProperties", True) is False
    ):
        out.append(f"{path}: additional properties no longer allowed (output records stay open)")
    # Every subschema a record can sit in: properties, pattern properties, the
    # additionalProperties schema, array items / prefixItems, alternatives
    # ($refs are resolved above), paired old-to-new by position or name.
    pairs: list[tuple[Any, Any, str]] = []
    for key in ("properties", "patternProperties"):
        olds = old.get(key, {})
        if isinstance(olds, dict):
            for name, sub in (new.get(key) or {}).items():
                if name in olds:
                    label = f".{name}" if key == "properties" else f"[/{name}/]"
                    pairs.append((olds[name], sub, path + label))
    for key, label in (("additionalProperties", "[additional]"), ("items", "[]")):
        if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            pairs.append((old[key], new[key], path + label))
    for key in ("prefixItems", "anyOf", "oneOf", "allOf"):
        olds = old.get(key, ())
        for i, alt in enumerate(new.get(key, ())):
            if i < len(olds):
                label = f"[{i}]" if key == "prefixItems" else ""
                pairs.append((olds[i], alt, path + label))
            elif key != "prefixItems" and not olds:  # X became anyOf[X, null]
                pairs.append((old, alt, path))
    for sub_old, sub_new, where in pairs:
        _closed(sub_old, sub_new, root_old, root_new, where, out, depth + 1)


Direction = Literal["output", "input", "both"]

READ_AND_WRITTEN = frozenset({"ObservabilityEvent"})
"""Schemas checked both ways: event logs are written by the recorder and read by
``replay`` from any L0 emitter (so tightening breaks them too)."""


def direction_of(title: object) -> Direction:
    """Who reads documents of the schema titled ``title``: see :func:`breaking_changes`."""
    if title in READ_AND_WRITTEN:
        return "both"
    return "output" if title in OUTPUT_RECORDS else "input"


def breaking_changes(
    old: dict[str, Any], new: dict[str, Any], *, direction: Direction | None = None
) -> list[str]:
    """List the breaking changes from schema ``old`` to schema ``new``.

    The direction depends on who reads the documents:

    * **Output records** (:data:`OUTPUT_RECORDS`: the package writes, consumers
      validate with the schema they were built against): breaking is any
      document the new schema accepts that the old one rejects (widening): a
      new enum value (``outcome: "timeout"``), a field becoming nullable, a key
      no longer required, a property removed or retyped, a bound or pattern
      relaxed. Closing an open record is breaking too (records stay open, so
      fields can be added). Tightening is compatible: old consumers accept the
      new records.
    * **Configurations** (inputs: users write them, the package reads them):
      breaking is any document the old schema accepts that the new one rejects
      (tightening): a property removed, a type narrowed, an enum value
      removed, a bound, pattern, format, length or ``required`` added,
      ``additionalProperties`` closed or restricted, ``not``, ``allOf``,
      ``propertyNames``, ``uniqueItems`` added...

    * **Both** (:data:`READ_AND_WRITTEN`: ``ObservabilityEvent``): either kind.

    The check is conservative: a keyword it does not understand, in either
    schema, is reported as a possible break.

    Args:
        old: The last published schema.
        new: The schema generated now.
        direction: ``"output"``, ``"input"`` or ``"both"``; by default from
            ``old``'s title (:func:`direction_of`).

    Returns:
        One line per breaking change, with its JSON path; empty when compatible.
    """
    if direction is None:
        direction = direction_of(old.get("title"))
    problems: list[str] = []
    if direction in ("output", "both"):
        widened = _Compare(new, old, "new", "old")
        widened.lost(new, old, "$")
        problems += widened.problems
        _closed(old, new, old, new, "$", problems)
    if direction in ("input", "both"):
        tightened = _Compare(old, new, "old", "new")
        tightened.lost(old, new, "$")
        problems += tightened.problems
    return list(dict.fromkeys(problems))


def main(argv: list[str] | None = None) -> int:
    """Write the schemas, or with ``--check`` report stale ones (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m l0_monitoring.schemas", description=__doc__)
    parser.add_argument("--out", default="schemas", help="folder to write (default: schemas)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the folder is stale")
    args = parser.parse_args(argv)
    if args.check:
        problems = check_schemas(args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for path in write_schemas(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
