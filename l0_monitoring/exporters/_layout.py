"""Flat layouts derived from the Telemetry model: CSV columns and logfmt keys.

Nothing here is a hand-written list of fields: columns are the model's leaf
fields in declaration order (section prefixes from ``csv_prefix``, a repeated
leaf name qualified by its section), and log keys come from each field's
``x-logfmt`` metadata.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..telemetry import Telemetry


@dataclass(frozen=True, slots=True)
class Column:
    """One flat column: its name, the path into the nested record, how to encode it."""

    name: str
    path: tuple[str, ...]
    kind: str  # "str", "json", "datetime", "bool", "scalar"


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _kind(annotation: Any) -> str:
    while typing.get_origin(annotation) is typing.Annotated:  # JsonFloat, Timestamp...
        annotation = typing.get_args(annotation)[0]
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        return _kind(non_none[0]) if len(non_none) == 1 else "json"
    if origin in (list, dict) or annotation in (list, dict):
        return "json"
    if annotation is str:
        return "str"
    if annotation is bool:
        return "bool"
    if getattr(annotation, "__name__", "") == "datetime":
        return "datetime"
    return "scalar"


def csv_columns(model: type[BaseModel] = Telemetry) -> tuple[Column, ...]:
    """Return the flat columns of ``model`` in declaration order."""
    raw: list[tuple[str, str, tuple[str, ...], str]] = []  # (leaf, section, path, kind)
    for name, info in model.model_fields.items():
        sub = _submodel(info.annotation)
        if sub is None:
            raw.append((name, "", (name,), _kind(info.annotation)))
            continue
        prefix = getattr(sub, "csv_prefix", "")
        for leaf, leaf_info in sub.model_fields.items():
            raw.append((prefix + leaf, name, (name, leaf), _kind(leaf_info.annotation)))
    seen: set[str] = set()
    columns: list[Column] = []
    for leaf, section, path, kind in raw:
        col = leaf if leaf not in seen else f"{section}_{leaf}"
        seen.add(col)
        columns.append(Column(col, path, kind))
    return tuple(columns)


@dataclass(frozen=True, slots=True)
class LogField:
    """One logfmt key: where its value lives and how it is shown."""

    key: str
    order: int
    path: tuple[str, ...]
    unit: str = ""
    omit: str = ""  # "" (always), "none" (omit None), "falsy" (omit 0/False/empty)
    fmt: str = ""  # "" or "count" (length of a list)
    precision: int = 3


def log_fields(model: type[BaseModel] = Telemetry) -> tuple[LogField, ...]:
    """Return the logfmt keys declared with ``x-logfmt`` metadata, in their order."""
    found: list[LogField] = []

    def visit(m: type[BaseModel], prefix: tuple[str, ...]) -> None:
        for name, info in m.model_fields.items():
            sub = _submodel(info.annotation)
            if sub is not None:
                visit(sub, (*prefix, name))
                continue
            extra = info.json_schema_extra
            spec = extra.get("x-logfmt") if isinstance(extra, dict) else None
            if isinstance(spec, dict):
                found.append(
                    LogField(
                        key=str(spec["key"]),
                        order=int(str(spec["order"])),
                        path=(*prefix, name),
                        unit=str(spec.get("unit", "")),
                        omit=str(spec.get("omit", "")),
                        fmt=str(spec.get("format", "")),
                        precision=int(str(spec.get("precision", 3))),
                    )
                )

    visit(model, ())
    return tuple(sorted(found, key=lambda f: f.order))


CSV_COLUMNS = csv_columns()
LOG_FIELDS = log_fields()
