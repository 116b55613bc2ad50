"""The document contract shared by the published schemas and the Python readers.

The readers (``Telemetry.model_validate``, ``TelemetryExporter.from_jsonl`` /
``from_csv``, ``iter_events`` / ``replay``, ``l0-monitoring validate``) accept
exactly the JSON documents the published JSON Schemas accept. Pydantic's lax
mode would reinterpret values the schemas reject (``"1.5"`` as a float,
``"yes"`` as true, ``1700000000`` as a datetime, a naive time in the host's
zone), so the record fields use the JSON-exact types below, and JSON text is
parsed by :func:`loads` (no ``NaN`` / ``Infinity``: they are not JSON).
Nothing here depends on the host's locale or time zone.
"""

from __future__ import annotations

import json
import math
import re
import sys
from datetime import datetime
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import AfterValidator, AllowInfNan, BeforeValidator, Strict, WithJsonSchema

__all__ = [
    "MAX_SAFE_INT",
    "Count",
    "END",
    "ERROR_CATEGORIES",
    "RFC3339_PATTERN",
    "SEMVER_PATTERN",
    "SEVERITIES",
    "ErrorCategory",
    "JsonBool",
    "JsonFloat",
    "JsonInt",
    "Severity",
    "JSON_WHITESPACE",
    "Timestamp",
    "is_blank",
    "loads",
    "normalize_error_category",
    "normalize_severity",
]

END = r"(?![\s\S])"
r"""End of the string, meaning the same in ECMA-262 (ajv) and Python ``re`` (jsonschema).

Published patterns end with this, never with ``$``: in Python ``$`` also
matches before a final newline (``"2.0.0\n"`` would match ``^...$`` in
Python jsonschema and fail in ajv), and ``\Z`` is not ECMA-262.
"""

# RFC 3339 date-time as pydantic writes it and reads it back unchanged: "T",
# seconds 00-59, at most microseconds, "Z" or a +hh:mm offset. Every validator
# of the ``date-time`` format accepts these; the pattern makes the accepted
# set the same in ajv, Python jsonschema and the Python readers.
RFC3339_PATTERN = (
    r"^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])" + END
)
_RFC3339 = re.compile(RFC3339_PATTERN)

SEMVER_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+" + END
"""A ``major.minor.patch`` version (``schema_version``)."""


JSON_WHITESPACE = " \t\n\r"
"""The only whitespace JSON allows around a value (RFC 8259 section 2).

``str.strip()`` with no argument also removes U+00A0, U+2028, U+3000, form
feed, vertical tab and the other Unicode spaces, which ``JSON.parse``, Go's
``encoding/json`` and ``json.loads`` reject: readers strip only these four.
"""


def is_blank(line: str) -> bool:
    """Whether ``line`` holds only JSON whitespace (a blank JSON Lines line, skipped).

    A line of other Unicode spaces (U+00A0, U+3000, form feed...) is not blank:
    it is an invalid document.
    """
    return not line.strip(JSON_WHITESPACE)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: beyond a 64-bit float, as in JS and Go
        raise ValueError(f"number {text[:20]} is out of the 64-bit float range")
    return value


_FLOAT_DIGITS = len(str(int(sys.float_info.max)))  # 309


def _parse_int(text: str) -> int:
    value = int(text)
    # A 400-digit integer is Infinity in JavaScript and an error in Go: the same
    # rule as 1e400, wherever it is (an open object's value too).
    if len(text) >= _FLOAT_DIGITS and abs(value) > sys.float_info.max:
        raise ValueError(f"number {text[:20]}... is out of the 64-bit float range")
    return value


def loads(text: str | bytes) -> Any:
    """Parse JSON text strictly: ``NaN``, ``Infinity`` and ``-Infinity`` are errors.

    So is a number beyond the 64-bit float range (``1e400``, an integer of 310
    digits), anywhere in the document, open objects included: JavaScript reads
    it as Infinity and Go's ``encoding/json`` fails, and JSON Schema cannot say
    "finite", so this is the one rule the readers add to the published schemas.

    Args:
        text: One JSON document.

    Returns:
        The parsed value.

    Raises:
        ValueError: On invalid JSON (``json.JSONDecodeError`` is a ``ValueError``).
    """
    return json.loads(
        text, parse_constant=_reject_constant, parse_float=_parse_float, parse_int=_parse_int
    )


def _json_int(value: Any) -> Any:
    # JSON Schema "integer" is a number with no fractional part: 3 and 3.0 both
    # are; true and "3" are not.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise ValueError("must be a JSON integer")
        return int(value)
    return value


def _timestamp(value: Any) -> Any:
    if isinstance(value, datetime):  # built in Python (constructor, model_construct)
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a time zone")
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            "must be an RFC 3339 date-time string with a zone, e.g. 2024-01-02T03:04:05.123Z"
        )
    return value


def _aware(value: datetime) -> datetime:
    if value.utcoffset() is None:  # pragma: no cover - the pattern requires a zone
        raise ValueError("must carry a time zone")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_int)]
"""An integer: a JSON number without fractional part (not a boolean, not a string)."""

MAX_SAFE_INT = 2**53 - 1
"""Largest count a record holds: JavaScript's ``Number.MAX_SAFE_INTEGER``.

Every consumer holds it exactly (a JS number, Go ``int64``, Rust ``i64``/``u64``,
a Python int); the writer saturates there and the schema says ``maximum``.
"""

Count = Annotated[int, Ge(0), Le(MAX_SAFE_INT), BeforeValidator(_json_int)]
"""A count: an integer from 0 to :data:`MAX_SAFE_INT` (``minimum`` / ``maximum`` in the schema).

``1.0`` and ``1e2`` are integers in JSON Schema and are read; the writer never
writes them (Go's ``encoding/json`` rejects them for an ``int64`` field).
"""

# pydantic's strict float and bool are exactly JSON's number and boolean (and
# run in Rust): a float field takes 1 and 1.5, never True or "1.5".
JsonFloat = Annotated[float, Strict(), AllowInfNan(False)]
"""A finite JSON number (not a boolean, not a string) within the 64-bit float range."""

JsonBool = Annotated[bool, Strict()]
"""``true`` or ``false`` only."""

Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    AfterValidator(_aware),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]
"""A timezone-aware instant, written as RFC 3339 (``2024-01-02T03:04:05.123456Z``)."""

ErrorCategory = Literal[
    "network", "transient", "model", "content", "provider", "fatal", "internal", "unknown"
]
"""Error categories: the L0 runtime's ``ErrorCategory`` values plus ``unknown``."""

ERROR_CATEGORIES: frozenset[str] = frozenset(ErrorCategory.__args__)  # type: ignore[attr-defined]

Severity = Literal["warning", "error", "fatal"]
"""Guardrail violation severities (the L0 runtime's ``Severity``)."""

SEVERITIES: frozenset[str] = frozenset(Severity.__args__)  # type: ignore[attr-defined]


UNKNOWN_CATEGORY: ErrorCategory = "unknown"
"""The one spelling of a missing error category: in the record's ``error.category``,
the Prometheus ``category`` label, the span's ``error.type`` and Sentry fingerprints."""


def category_of(category: ErrorCategory | None) -> ErrorCategory:
    """The error category of a stream that saw an error: its own, else ``"unknown"``."""
    return category if category else UNKNOWN_CATEGORY


def normalize_error_category(value: object) -> ErrorCategory:
    """Map an error category from event meta to one of :data:`ErrorCategory`.

    The L0 runtime's categories (``network``, ``transient``, ``model``, ``content``,
    ``provider``, ``fatal``, ``internal``) are kept, case-insensitively, and so is
    ``unknown`` (the runtime's ``failureType`` for non-network model errors);
    anything else, from other emitters or newer runtimes, becomes ``unknown``, so
    the record's ``error.category`` and the Prometheus ``category`` label stay a
    closed set.

    Args:
        value: The raw ``failureType`` / ``category`` from meta (any type).

    Returns:
        One of the :data:`ErrorCategory` values.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ERROR_CATEGORIES:
            return text  # type: ignore[return-value]
    else:
        inner = getattr(value, "value", None)  # an enum member (L0's ErrorCategory)
        if isinstance(inner, str):
            return normalize_error_category(inner)
    return "unknown"


_SEVERITY_ALIASES: dict[str, Severity] = {
    # Other emitters' lower levels are warnings, their higher ones fatal, so a
    # violation never rises above what its emitter meant.
    "debug": "warning", "info": "warning", "notice": "warning", "low": "warning",
    "critical": "fatal", "high": "fatal", "emergency": "fatal",
}  # fmt: skip


def normalize_severity(value: object) -> Severity:
    """Map a guardrail violation severity to ``warning``, ``error`` or ``fatal``.

    The runtime's three are kept (case-insensitively); other emitters' levels
    are mapped by rank (``debug``/``info``/``notice``/``low`` → ``warning``,
    ``critical``/``high``/``emergency`` → ``fatal``); anything else (a number,
    None, an unknown word) becomes ``"error"``, the L0 runtime's default
    severity for a rule.

    Args:
        value: The raw severity.

    Returns:
        One of the :data:`Severity` values.
    """
    text = getattr(value, "value", value)
    if isinstance(text, str):
        key = text.strip().lower()
        if key in SEVERITIES:
            return key  # type: ignore[return-value]
        alias = _SEVERITY_ALIASES.get(key)
        if alias is not None:
            return alias
    return "error"
