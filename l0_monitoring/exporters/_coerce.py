"""The one slow path of every export format: any host-built record made exportable.

A record the host builds (``model_construct``, attribute assignment after
construction, ``model_copy(update=...)``, subclasses of ``Telemetry`` or of its
sections) can hold values the published schema rejects. Every format writes
well-formed records by its fast path and sends any other record here
(:func:`coerce`), so all formats share one definition of "exportable":

* number fields: any real number (``int``, ``bool`` as 0/1, numpy scalars,
  ``Decimal``, ``Fraction``) as ``float(value)``; NaN, +-inf, a number beyond
  the 64-bit float range or a value that is not a number: null;
  ``timing.inter_token_latencies`` keeps only its finite entries;
* counts: an integral number, at most 2**53 - 1 (saturated there, as
  ``model_construct`` does); a nullable count that is not one: null;
* text: ``str()`` of a non-str value, lone surrogates as U+FFFD;
* date-times: a naive datetime is read as UTC; an offset that is not a whole
  number of minutes is converted to UTC;
* error categories and violation severities by the package's rules
  (``normalize_error_category``, ``normalize_severity``);
* ``metadata`` and violations' extra keys: JSON data (keys as text, NaN and
  +-inf as null, an integer beyond the float range as its string, other
  objects as :func:`~l0_monitoring._internal.safe.json_safe` writes them).

Anything else (a section or a non-nullable field set to None, a negative or
fractional count, a value no rule reads) cannot be represented: one
``ValueError`` names the record's stream_id and the field.
"""

from __future__ import annotations

import decimal
import math
import numbers
import sys
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError

from .._internal.contract import MAX_SAFE_INT, normalize_error_category, normalize_severity
from .._internal.safe import clean_text, json_int, json_safe, safe_repr, safe_str
from ..telemetry import Telemetry

__all__ = ["coerce", "UnexportableRecord"]

_MAX_DEPTH = 64  # deeper metadata is written as its bounded repr (JSON readers' limits)


class UnexportableRecord(ValueError):  # noqa: N818 - a ValueError, named for what it says
    """A record that no rule can make valid for the published schema."""


class _Bad(Exception):  # noqa: N818 - internal, turned into UnexportableRecord
    def __init__(self, why: str) -> None:
        self.why = why


def _float(v: Any) -> float | None:
    if v.__class__ is float:
        return v if v - v == 0 else None
    if isinstance(v, numbers.Real | decimal.Decimal):
        try:
            f = float(v)
        except (OverflowError, ValueError, TypeError, ArithmeticError):
            return None
        return f if math.isfinite(f) else None
    return None


def _count(v: Any) -> int:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, numbers.Real | decimal.Decimal):
        try:
            i = int(v)  # type: ignore[arg-type]
            whole = i == v
        except (OverflowError, ValueError, TypeError, ArithmeticError):
            whole = False
        if not whole:
            raise _Bad(f"must be a whole number, got {safe_repr(v)}")
        if i < 0:
            raise _Bad(f"must be >= 0, got {safe_repr(v)}")
        return min(i, MAX_SAFE_INT)
    raise _Bad(f"must be a count, got {safe_repr(v)}")


def _bool(v: Any) -> bool:
    if v is True or v is False:
        return v
    kind = type(v)
    if kind.__name__ in ("bool_", "bool") and kind.__module__ == "numpy":
        return bool(v)
    raise _Bad(f"must be true or false, got {safe_repr(v)}")


def _text(v: Any) -> str:
    if isinstance(v, str):
        return clean_text(str.__str__(v))
    return safe_str(v, sys.maxsize)


def _datetime(v: Any) -> Any:
    if isinstance(v, datetime):
        offset = v.utcoffset()
        if offset is None:
            return v.replace(tzinfo=UTC)
        if offset.total_seconds() % 60:
            return v.astimezone(UTC)
        return v
    return v  # text: the schema's date-time pattern decides (validation)


def _json_data(v: Any, depth: int = _MAX_DEPTH) -> Any:
    """JSON data every reader of ours reads back (see the module docstring)."""
    if v is None or v is True or v is False:
        return v
    if isinstance(v, str):
        return _text(v)
    if isinstance(v, Enum):
        return _json_data(v.value, depth)
    if isinstance(v, int):
        return json_int(int(v))
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if depth <= 0:
        return safe_str(v, 200)
    if isinstance(v, Mapping):
        return {_text(k): _json_data(x, depth - 1) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_data(x, depth - 1) for x in v]
    return json_safe(v)


def _violation(v: Any) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise _Bad(f"each violation must be an object, got {safe_repr(v)}")
    out: dict[str, Any] = _json_data(v)
    if "severity" in out:
        out["severity"] = normalize_severity(out["severity"])
    return out


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _kind(annotation: Any) -> tuple[str, bool]:
    """How a field's value is normalized, and whether it may be null."""
    annotation = _strip_annotated(annotation)
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = _strip_annotated(args[0]) if len(args) == 1 else Any
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section", nullable
    if annotation is float:
        return "float", nullable
    if annotation is int:
        return "count", nullable
    if annotation is bool:
        return "bool", nullable
    if annotation is str:
        return "str", nullable
    if annotation is datetime:
        return "datetime", nullable
    if origin is typing.Literal:
        return "literal", nullable
    if origin is list:
        item = _strip_annotated(typing.get_args(annotation)[0])
        if item is float:
            return "floats", nullable
        if item is str:
            return "texts", nullable
        return "violations", nullable
    return "json", nullable


def _leaf(kind: str, nullable: bool, value: Any, path: str) -> Any:
    if value is None:
        if nullable:
            return None
        raise _Bad("is None, which the published schema does not allow")
    if kind == "float":
        return _float(value)
    if kind == "count":
        try:
            return _count(value)
        except _Bad:
            if nullable:
                return None
            raise
    if kind == "bool":
        return _bool(value)
    if kind == "str":
        return _text(value)
    if kind == "datetime":
        return _datetime(value)
    if kind == "literal":
        if isinstance(value, Enum):
            value = value.value
        if path == "error.category":
            return normalize_error_category(value)
        return _text(value) if isinstance(value, str) else value
    if kind in ("floats", "texts", "violations"):
        if not isinstance(value, list | tuple):
            raise _Bad(f"must be a list, got {safe_repr(value)}")
        if kind == "floats":
            return [f for f in map(_float, value) if f is not None]
        if kind == "texts":
            return [_text(x) for x in value]
        return [_violation(x) for x in value]
    if not isinstance(value, Mapping):
        raise _Bad(f"must be an object, got {safe_repr(value)}")
    return _json_data(value)


def _layout(model: type[BaseModel]) -> tuple[tuple[str, str, bool, Any], ...]:
    out = []
    for name, info in model.model_fields.items():
        kind, nullable = _kind(info.annotation)
        sub = _strip_annotated(info.annotation) if kind == "section" else None
        out.append((name, kind, nullable, sub))
    return tuple(out)


_LAYOUTS: dict[type[BaseModel], tuple[tuple[str, str, bool, Any], ...]] = {}


def _fields(model: type[BaseModel]) -> tuple[tuple[str, str, bool, Any], ...]:
    layout = _LAYOUTS.get(model)
    if layout is None:
        layout = _LAYOUTS[model] = _layout(model)
    return layout


def _dump(obj: Any, model: type[BaseModel], prefix: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, kind, nullable, sub in _fields(model):
        path = prefix + name
        try:
            value = getattr(obj, name)
        except AttributeError:  # deleted (del record.model), or never set
            raise _Bad(f"\0{path}: is missing") from None
        except Exception as exc:  # a property of a host subclass that raises
            raise _Bad(f"\0{path}: cannot be read ({type(exc).__name__})") from None
        try:
            if kind == "section":
                if value is None:
                    raise _Bad("is None, which the published schema does not allow")
                data[name] = _dump(value, sub, path + ".")
            else:
                data[name] = _leaf(kind, nullable, value, path)
        except _Bad as bad:
            if not bad.why.startswith("\0"):
                bad.why = f"\0{path}: {bad.why}"
            raise
    return data


def _stream_id(record: Any) -> str:
    try:
        value = record.__dict__.get("stream_id")
    except Exception:
        value = None
    return safe_repr(_text(value) if value is not None else None)


def coerce(record: Any) -> Telemetry:
    """Return ``record`` as a plain, valid :class:`Telemetry` (see the module docstring).

    Args:
        record: A ``Telemetry`` (or subclass) instance, however it was built.

    Returns:
        A new ``Telemetry`` holding the record's published fields, normalized.

    Raises:
        UnexportableRecord: A ``ValueError`` naming the record's stream_id and
            the field that no rule can represent.
    """
    try:
        data = _dump(record, Telemetry, "")
        return Telemetry.model_validate(data)
    except _Bad as bad:
        where, _, why = bad.why[1:].partition(": ")
        raise UnexportableRecord(
            f"Telemetry record stream_id={_stream_id(record)} cannot be exported: "
            f"field {where} {why}"
        ) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "record"
        raise UnexportableRecord(
            f"Telemetry record stream_id={_stream_id(record)} cannot be exported: "
            f"field {where}: {err.get('msg', 'invalid')}"
        ) from None
    except RecursionError:
        raise UnexportableRecord(
            f"Telemetry record stream_id={_stream_id(record)} cannot be exported: "
            "metadata nested too deep"
        ) from None
