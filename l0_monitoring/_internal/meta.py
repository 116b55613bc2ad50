"""Every reader of event meta, in one place.

The L0 runtime writes meta in camelCase (``tokenCount``, ``isNetwork``); other
emitters and recorded logs may use snake_case. Every sink reads meta through
these functions, so a key spelling, a network classification or a violation's
identity is decided once. None of them raises on hostile input.
"""

from __future__ import annotations

import decimal
import numbers
import operator
from collections.abc import Mapping
from typing import Any

from .contract import MAX_SAFE_INT, ErrorCategory, normalize_error_category, normalize_severity
from .safe import MAX_ITEMS, finite_ms, json_safe, safe_str

MAX_COUNT = MAX_SAFE_INT  # the published schemas' bound for every count (contract.Count)
"""The largest integer read from meta (counts, attempts): the largest integer a
JSON number (an IEEE 754 double) holds exactly, so every export carries it as read."""

_EMPTY: Mapping[str, Any] = {}
_NONE3: tuple[None, None, None] = (None, None, None)

TOKEN_TEXT_KEYS = ("token", "text", "content")
"""Meta keys that carry a TOKEN event's text, in order of preference."""


def get(meta: Mapping[str, Any], camel: str, snake: str) -> Any:
    """Read a meta value in the runtime's camelCase, else snake_case."""
    value = meta.get(camel)
    return meta.get(snake) if value is None else value


def type_value(value: object) -> str | None:
    """Rule 10: an event type compared by value (any enum with string values, or a str).

    Returns:
        The string value, or None when ``value`` carries no string value.
    """
    if isinstance(value, str):
        inner = getattr(value, "value", value)
        return inner if isinstance(inner, str) else str.__str__(value)
    inner = getattr(value, "value", None)
    return inner if isinstance(inner, str) else None


def token_text(meta: Mapping[str, Any]) -> str | None:
    """The text of a TOKEN event, or None.

    ``token``; absent, ``text``; absent or empty text, ``content``. Values are
    never truth-tested (a numpy array has no truth value).
    """
    text = meta.get("token")
    if text is None:
        text = text_or_content(meta)
    return text if text.__class__ is str else None


def text_or_content(meta: Mapping[str, Any]) -> object:
    """A TOKEN's ``text``, else (absent or ``""``) its ``content``: the rule after ``token``."""
    text = meta.get("text")
    if text is None or (text.__class__ is str and not text):
        return meta.get("content")
    return text


def _given(value: object) -> bool:
    """Whether a meta value is given: truthy, or with no single truth value (an array)."""
    try:
        return bool(value)
    except Exception:
        return True


def number(value: object) -> float | None:
    """THE number rule: a finite real number as a float, else None (malformed).

    ``int``, ``float`` and any ``numbers.Real`` (numpy scalars, ``Fraction``) or
    ``decimal.Decimal`` count; ``bool`` (numpy's too), strings, None, NaN, +-inf
    and numbers that overflow a float (``10**400``) do not. The same rule as an
    event's ``ts`` (:func:`.safe.finite_ms`, shared with the recorder).
    Always a plain ``float`` (``numpy.float64``, a float subclass, is
    converted), so both builds carry the same type into facts and records.
    """
    ms = finite_ms(value)
    return ms if ms is None or ms.__class__ is float else float(ms)


def count(value: object) -> int | None:
    """Rule 2: a count: an integral number in ``[0, MAX_COUNT]``; else None (malformed).

    Any number :func:`number` accepts counts when it is integral: ``12``,
    ``12.0``, ``numpy.int64(12)``, ``Decimal("12")``. Negative, fractional,
    non-finite, bool, non-numeric and values above :data:`MAX_COUNT` (2**53 - 1)
    are malformed.
    """
    if value.__class__ is int:
        return value if 0 <= value <= MAX_COUNT else None
    if isinstance(value, bool) or not isinstance(value, numbers.Real | decimal.Decimal):
        return None
    try:
        as_int = int(value)  # type: ignore[arg-type]
        # Fractional (exact comparison, also for Decimal). operator.ne, not `!=`:
        # numpy answers with its own bool_, which the mypyc build would reject
        # as "not a bool" (a TypeError, so numpy counts read as malformed).
        if operator.ne(as_int, value):
            return None
    except (OverflowError, ValueError, TypeError, ArithmeticError):  # NaN, inf
        return None
    return as_int if 0 <= as_int <= MAX_COUNT else None


def flag(value: object) -> bool | None:
    """A boolean read from meta: ``True``/``False`` or numpy's ``bool_``; else None."""
    if value is True or value is False:
        return value
    kind = type(value)
    if kind.__name__ in ("bool_", "bool") and kind.__module__ == "numpy":
        return bool(value)
    return None


def as_meta(meta: object) -> Mapping[str, Any]:
    """An event's meta as a mapping: anything else (None, a list, a str) is empty."""
    if meta.__class__ is dict or isinstance(meta, Mapping):
        return meta
    return _EMPTY


def is_network(meta: Mapping[str, Any]) -> bool:
    """Rule 3: whether a retry or error is a network one.

    True when ``isNetwork`` is true; when ``isNetwork`` is absent, when
    ``failureType`` or ``category`` is ``"network"``.
    """
    network = get(meta, "isNetwork", "is_network")
    if network is not None:
        return flag(network) is True
    category = get(meta, "failureType", "failure_type")
    if category is None:
        category = meta.get("category")
    return category is not None and safe_str(category, 32).strip().lower() == "network"


def text(value: object, limit: int) -> str | None:
    """A name read from meta or context (model, session id, provider), as live and replay read it.

    A ``str`` as is (cleaned, cut at ``limit``). Any other value reads as the
    JSON value the event recorder writes for it (:func:`.safe.json_safe`:
    ``Decimal("1.5")`` and ``Fraction(3, 2)`` read ``"1.5"``, numpy numbers as
    Python's), so a replayed log names what the live run named. None, an empty
    string and numbers with no JSON value (NaN, +-inf) are absent (None).
    """
    if value.__class__ is not str:
        if value is None:
            return None
        value = json_safe(value)
        if value is None:
            return None
    return safe_str(value, limit) if value != "" else None


def model_session_provider(
    meta: Mapping[str, Any],
) -> tuple[str | None, str | None, str | None]:
    """The model, session id and provider an event's meta names (None when absent).

    One call per lifecycle event: this runs on most of them.
    """
    model = meta.get("model")
    session = meta.get("sessionId")
    if session is None:
        session = meta.get("session_id")
    provider = meta.get("provider")
    if model is None and session is None and provider is None:
        return _NONE3  # most lifecycle events name none of them
    return text(model, 200), text(session, 200), text(provider, 100)


def violations(meta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The violations of a GUARDRAIL_RULE_RESULT (singular ``violation`` or a list).

    Each is a mapping (objects with ``model_dump()`` or attributes are read as
    such), at most ``MAX_ITEMS`` per event; make one JSON-safe with
    :func:`violation_data` before keeping it.
    """
    out: list[Mapping[str, Any]] = []
    single = meta.get("violation")
    if single is not None:
        out.append(_as_mapping(single))
    many = meta.get("violations")
    if isinstance(many, list | tuple):
        out.extend(_as_mapping(v) for v in many[:MAX_ITEMS])
    return out


def _as_mapping(value: object) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            data = dump()
        except Exception:
            data = None
        if isinstance(data, Mapping):
            return data
    fields = getattr(value, "__dict__", None)
    if isinstance(fields, dict):
        return fields
    return {"message": safe_str(value)}


def violation_data(v: Mapping[str, Any]) -> dict[str, Any]:
    """A violation as bounded, JSON-safe data (what records and sinks keep).

    ``severity`` is one of the published closed set (:func:`.contract.normalize_severity`);
    ``rule`` and ``message`` are strings, as the ``GuardrailViolation`` schema says.
    """
    data: Any = json_safe(v)
    if not isinstance(data, dict):
        return {"message": safe_str(v)}
    if "severity" in data:
        data["severity"] = normalize_severity(data["severity"])
    for text_key in ("rule", "message"):
        if data.get(text_key) is not None and not isinstance(data[text_key], str):
            data[text_key] = safe_str(data[text_key])
    return data


def violation_key(v: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """Rule 6: a violation's identity is (rule, message, severity, source).

    ``source`` is the violation's ``source`` (else ``position``, the L0 runtime's
    name for where it was found).
    """
    source = v.get("source")
    if source is None:
        source = v.get("position")
    return (
        safe_str(v.get("rule"), 200),
        safe_str(v.get("message"), 500),
        normalize_severity(v.get("severity")) if "severity" in v else "",
        safe_str(source, 40),
    )


def drift_types(meta: Mapping[str, Any]) -> list[str]:
    """The drift types a DRIFT_CHECK_RESULT reports (``metrics`` flags and ``types``)."""
    found: list[str] = []
    metrics = meta.get("metrics")
    if isinstance(metrics, Mapping):
        found.extend(safe_str(k, 100) for k, v in list(metrics.items())[:MAX_ITEMS] if v is True)
    types = meta.get("types")
    if isinstance(types, list | tuple):
        found.extend(safe_str(t, 100) for t in types[:MAX_ITEMS])
    return found


def drift_score(meta: Mapping[str, Any]) -> float | None:
    """A DRIFT_CHECK_RESULT's finite score, or None."""
    return number(meta.get("score"))


def error_message(meta: Mapping[str, Any]) -> object:
    """An ERROR's error object or message (None when absent)."""
    err = meta.get("error")
    return meta.get("message") if err is None else err


def error_code(meta: Mapping[str, Any]) -> str | None:
    """An ERROR's code (``errorCode``, else ``code``), bounded."""
    code = get(meta, "errorCode", "code")
    return None if code is None else safe_str(code, 200)


def error_category(meta: Mapping[str, Any]) -> ErrorCategory | None:
    """An ERROR's category (``failureType``, ``category``), one of the closed set.

    See :func:`.contract.normalize_error_category`.
    """
    category = get(meta, "failureType", "category")
    if category is None:
        category = meta.get("failure_type")
    return None if category is None else normalize_error_category(category)


def recovery_strategy(meta: Mapping[str, Any]) -> str | None:
    """An ERROR's recovery strategy (``retry``, ``fallback``, ``continue``, ``halt``)."""
    strategy = get(meta, "recoveryStrategy", "recovery_strategy")
    return None if strategy is None else safe_str(strategy, 32).strip().lower()


def retry_reason(meta: Mapping[str, Any]) -> str | None:
    """A RETRY_ATTEMPT's reason (``reason``, else ``error``)."""
    reason = meta.get("reason")
    if reason is None:
        reason = meta.get("error")
    return None if reason is None else safe_str(reason)


def retry_attempt(meta: Mapping[str, Any]) -> int:
    """A RETRY_ATTEMPT's ``attempt`` number (0 when absent or not a count)."""
    return count(meta.get("attempt")) or 0


def network_error(meta: Mapping[str, Any]) -> tuple[object, str, bool]:
    """A NETWORK_ERROR's (error or message, low-cardinality type, whether it will be retried).

    ``retryable`` absent counts as retried (the runtime only marks the unretried).
    """
    error = meta.get("error")
    if not _given(error):
        error = "network error"
    code = meta.get("code")
    if not _given(code):
        code = meta.get("error_type")
    code = safe_str(code, 64).strip() if _given(code) else ""
    return error, code or "unknown", flag(meta.get("retryable")) is not False


def is_first_token_signal(meta: Mapping[str, Any]) -> bool:
    """TIMEOUT_RESET{timeoutType: "inter"}: the L0 runtime's only first-token signal."""
    kind = get(meta, "timeoutType", "timeout_type")
    return isinstance(kind, str) and kind == "inter"  # never `==` on an unknown type
