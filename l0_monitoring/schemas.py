"""JSON Schemas (Draft 2020-12) for every published model, generated from the models.

One function, :func:`generate_schemas`, produces every file of the committed
``schemas/`` folder (one ``<Model>.schema.json`` per model plus ``index.json``).
It runs at build time (the hatchling hook in ``hatch_build.py`` puts the files in
the wheel and sdist), from ``nox -s schemas`` and from
``python -m l0_monitoring.schemas [--out DIR] [--check]``.

Versioning: ``SCHEMA_VERSION`` follows semantic versioning. A breaking change
(a property removed or renamed, a type narrowed, an enum or a constraint
tightened, a new required property, an open object closed) needs a new major
version; ``$id`` carries the major version so consumers pin it, and every
Telemetry record names the version that wrote it (``schema_version``).

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
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

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
    "SCHEMA_VERSION",
    "breaking_changes",
    "check_schemas",
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


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            break
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _types(node: Any, root: dict[str, Any]) -> set[str]:
    node = _resolve(node, root)
    if not isinstance(node, dict):
        return {"any"}
    found: set[str] = set()
    kind = node.get("type")
    if isinstance(kind, str):
        found.add(kind)
    elif isinstance(kind, list):
        found.update(str(k) for k in kind)
    for key in ("anyOf", "oneOf"):
        for alt in node.get(key, ()):
            found |= _types(alt, root)
    if "enum" in node and not found:
        found.add("enum")
    return found or {"any"}


# Keywords that can only reject more documents when added or changed.
_TIGHTENING = (
    "const",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "multipleOf",
)


def _enum_alternatives(node: dict[str, Any], root: dict[str, Any]) -> bool:
    return "enum" in node or any(
        "enum" in _resolve(alt, root) for key in ("anyOf", "oneOf") for alt in node.get(key, ())
    )


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """List the breaking changes from schema ``old`` to schema ``new``.

    Breaking: a property removed or renamed, a type narrowed (a JSON type or
    an enum value no longer allowed, a free value restricted to an enum), a
    constraint added or changed (pattern, format, bounds, lengths), a property
    newly required, an open object closed. Additions that old documents still
    satisfy are not breaking.

    Args:
        old: The last published schema.
        new: The schema generated now.

    Returns:
        One line per breaking change, with its JSON path; empty when compatible.
    """
    problems: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        a, b = _resolve(a, old), _resolve(b, new)
        if not isinstance(a, dict) or not isinstance(b, dict):
            return
        ta, tb = _types(a, old), _types(b, new)
        if "any" not in tb and not ta <= tb:
            problems.append(f"{path}: type narrowed from {sorted(ta)} to {sorted(tb)}")
        if "enum" in a and "enum" in b:
            lost = [v for v in a["enum"] if v not in b["enum"]]
            if lost:
                problems.append(f"{path}: enum values removed {lost}")
        elif "enum" in b and "any" not in ta and not _enum_alternatives(a, old):
            problems.append(f"{path}: values restricted to the enum {b['enum']}")
        for key in _TIGHTENING:
            if key in b and b[key] != a.get(key):
                problems.append(f"{path}: {key} constraint added or changed to {b[key]!r}")
        added = set(b.get("required", ())) - set(a.get("required", ()))
        if added:
            problems.append(f"{path}: newly required {sorted(added)}")
        if a.get("additionalProperties", True) is not False and (
            b.get("additionalProperties", True) is False
        ):
            problems.append(f"{path}: additional properties no longer allowed")
        pa, pb = a.get("properties", {}), b.get("properties", {})
        for name, sub in pa.items():
            if name not in pb:
                problems.append(f"{path}.{name}: property removed or renamed")
            else:
                walk(sub, pb[name], f"{path}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
                walk(a[key], b[key], f"{path}[{key}]")
        for key in ("anyOf", "oneOf"):
            alts_a, alts_b = a.get(key, []), b.get(key, [])
            for kind in ("object", "string", "number", "integer", "array"):
                # Compare the one alternative of each JSON type on both sides
                # (a nullable enum, a nullable object...).
                of_a = [x for x in alts_a if kind in _types(x, old)]
                of_b = [x for x in alts_b if kind in _types(x, new)]
                if len(of_a) == 1 and len(of_b) == 1:
                    walk(of_a[0], of_b[0], path)

    walk(old, new, "$")
    return problems


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
