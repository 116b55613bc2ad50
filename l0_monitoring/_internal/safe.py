"""Turning arbitrary host objects into bounded, JSON-safe data without ever raising.

Text that is not valid Unicode is made safe here, once, where host text enters
this package (event meta and context read by the Monitor, recorded events,
telemetry fields): a lone UTF-16 surrogate (``U+D800``, left by a provider
that split an emoji between two chunks) becomes U+FFFD, the Unicode replacement
character, one for one (so lengths, e.g. a stream's content length, are the
same live and replayed). Everything else valid (NUL, U+2028, control characters) is kept as
data: JSON, CSV and the Prometheus text format all escape or quote it, so one
bad string never costs another record, line, series or scrape.
"""

from __future__ import annotations

import decimal
import math
import numbers
import re
import reprlib
from collections.abc import Mapping
from enum import Enum
from typing import Any

MAX_STR = 2000
MAX_ITEMS = 100
MAX_DEPTH = 6

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 10
_REPR.maxstring = _REPR.maxother = 200


REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
"""What a lone surrogate becomes (U+FFFD REPLACEMENT CHARACTER)."""


def finite_ms(value: object) -> float | None:
    """Return an event timestamp as a float, or None when it is not one; never raises.

    The one rule for what a valid event ``ts`` is, shared by everything that
    reads one (the recorder, replay's ``ObservabilityEvent.from_dict``; the
    Monitor's fold is to adopt it): a finite real number. ``int`` and
    ``float``, and any ``numbers.Real`` (numpy scalars, ``Fraction``) or
    ``decimal.Decimal``, are converted with ``float()``. Not valid: ``bool``,
    strings, ``None``, NaN, +-inf, and numbers that overflow a 64-bit float
    (``10**400``, ``Decimal("1e400")``).

    Args:
        value: The candidate timestamp (milliseconds since the Unix epoch).

    Returns:
        The timestamp as a finite float, or None.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, numbers.Real | decimal.Decimal):
        return None
    try:
        ms = float(value)
    except (OverflowError, ValueError, TypeError, ArithmeticError):
        return None
    return ms if math.isfinite(ms) else None


# JSON leaves these unescaped inside strings, but ``str.splitlines()`` (and some
# JSON Lines readers) split on them. The other separators splitlines() knows
# (\n \r \x0b \x0c \x1c \x1d \x1e) are control characters, which JSON
# always escapes.
_LINE_BREAKS = tuple((chr(c).encode(), f"\\u{c:04x}".encode()) for c in (0x85, 0x2028, 0x2029))


def json_line(document: bytes) -> bytes:
    r"""Return one compact UTF-8 JSON document as one JSON Lines line, newline added.

    The one encoder step behind every JSON Lines writer of this package (the
    event recorder, ``TelemetryExporter.to_jsonl``): U+0085, U+2028 and U+2029,
    which JSON allows raw inside strings but ``str.splitlines()`` treats as line
    breaks, are written as ``\u0085``, ``\u2028``, ``\u2029``, so a record is
    one line for every reader. The data read back is unchanged.

    Args:
        document: Compact JSON (no raw newlines), UTF-8 encoded.

    Returns:
        The line, ending with ``b"\n"``.
    """
    if not document.isascii():
        for raw, escaped in _LINE_BREAKS:
            document = document.replace(raw, escaped)
    return document + b"\n"


def clean_text(text: str) -> str:
    """Return ``text`` encodable as UTF-8: each surrogate code point becomes U+FFFD.

    Never raises. Valid text is returned as is, the same object (one
    ``isascii`` check, or one trial encode, for non-ASCII text).

    Args:
        text: Any ``str``.

    Returns:
        Text that ``str.encode("utf-8")`` accepts.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(REPLACEMENT, text)
    return text


def clean_data(value: Any) -> Any:
    """Return JSON-like data with every string (keys too) passed through :func:`clean_text`.

    Dicts, lists and tuples are rebuilt; other values are returned as they are.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_data(k): clean_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_data(v) for v in value]
    return value


def safe_str(value: object, limit: int = MAX_STR) -> str:
    """Return ``str(value)`` cut to ``limit`` characters, valid UTF-8; never raises.

    Objects whose ``__str__`` raises become ``<unprintable TypeName>``; lone
    surrogates become U+FFFD (see :func:`clean_text`).
    """
    if isinstance(value, str):
        s = value
    elif isinstance(value, Enum):
        s = safe_str(value.value, limit)
    elif isinstance(value, dict | list | tuple | set | frozenset):
        # str() of a container that shares nested parts is exponential: bound it.
        try:
            s = _REPR.repr(value)
        except Exception:
            s = f"<unprintable {type(value).__name__}>"
    else:
        try:
            s = str(value)
        except Exception:
            s = f"<unprintable {type(value).__name__}>"
    if s.__class__ is not str:  # a str subclass whose __str__ returned itself
        s = str.__str__(s)
    if len(s) > limit:
        s = s[: limit - 1] + "\u2026"
    return clean_text(s)


def safe_repr(value: object, limit: int = 80) -> str:
    """A bounded ``repr`` for error messages about host-supplied values; never raises."""
    try:
        text = _REPR.repr(value) if isinstance(value, dict | list | tuple | set) else repr(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return clean_text(text if len(text) <= limit else text[: limit - 1] + "\u2026")


def json_safe(value: Any, depth: int = MAX_DEPTH) -> Any:
    """Convert ``value`` to bounded JSON data (dict/list/str/int/float/bool/None).

    Enums become their value, Pydantic models and dataclass-like objects their
    fields, exceptions ``"TypeName: message"``, non-finite floats ``None``.
    Numbers are written as the JSON numbers the number rule reads them as
    (``numbers.Integral`` -> int, other ``numbers.Real`` and ``Decimal`` ->
    float when finite else ``None``, numpy's bool -> bool); an integer beyond
    the largest finite double (:data:`MAX_JSON_INT`) becomes its string;
    anything else its bounded ``str``. Containers are cut at ``MAX_ITEMS`` and
    nesting at ``MAX_DEPTH``. Never raises.
    """
    try:
        return _json_safe(value, depth)
    except Exception:  # pragma: no cover - last-resort guard (e.g. RecursionError)
        return safe_str(value)


MAX_JSON_INT = int(float.fromhex("0x1.fffffffffffffp+1023"))
"""The largest integer a JSON reader holds as a float (the largest finite double).
A larger integer is written as its string: every reader of this package's
number rule (``_internal/meta.number``) then ignores it, live and replayed alike."""


def json_int(value: int) -> int | str:
    """An integer as JSON data: itself, or its (bounded) string beyond :data:`MAX_JSON_INT`."""
    if -MAX_JSON_INT <= value <= MAX_JSON_INT:
        return value
    try:
        return safe_str(int.__repr__(value), 200)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        return f"<int of {value.bit_length()} bits>"


def _json_safe(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return _json_safe(value.value, depth)
    if isinstance(value, int):
        return json_int(int(value))
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return safe_str(value)
    # Other numbers are written as the JSON number the number rule
    # (``_internal/meta.number``/``count``/``flag``) reads them as, so a
    # replayed log reads what the live run read: numpy's bool -> bool,
    # numbers.Integral (numpy ints) -> int, other numbers.Real (Fraction,
    # numpy floats) and Decimal -> float when finite, else null.
    kind = type(value)
    if kind.__name__ in ("bool_", "bool") and kind.__module__ == "numpy":
        return bool(value)
    if isinstance(value, numbers.Integral):
        return json_int(int(value))
    if isinstance(value, numbers.Real | decimal.Decimal):
        return finite_ms(value)
    if depth <= 0:
        return safe_str(value, 200)
    if isinstance(value, BaseException):
        return safe_str(f"{type(value).__name__}: {safe_str(value)}")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                break
            out[safe_str(k, 200)] = _json_safe(v, depth - 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = (
            list(value)[:MAX_ITEMS]
            if not isinstance(value, set | frozenset)
            else sorted(safe_str(v) for v in list(value)[:MAX_ITEMS])
        )
        return [_json_safe(v, depth - 1) for v in items]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _json_safe(dump(), depth - 1)
    fields = getattr(value, "__dict__", None)
    if isinstance(fields, dict):
        return _json_safe(fields, depth - 1)
    slots = getattr(type(value), "__slots__", None)
    if isinstance(slots, tuple | list) and slots:
        return _json_safe({s: getattr(value, s, None) for s in slots}, depth - 1)
    return safe_str(value)
