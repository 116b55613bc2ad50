"""Meta readers and timestamp conversion shared by the OpenTelemetry and Sentry integrations."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .safe import safe_str


def meta_get(meta: Mapping[str, Any], camel: str, snake: str) -> Any:
    """Read a meta value in the runtime's camelCase, else snake_case."""
    value = meta.get(camel)
    return meta.get(snake) if value is None else value


def ms_to_ns(ms: float | None) -> int | None:
    """Epoch ms to ns; None (the SDK then uses now) unless a finite, non-negative number."""
    try:
        return int(ms * 1_000_000) if 0 <= ms < math.inf else None  # type: ignore[operator]
    except TypeError:  # None, or not a number
        return None


def low_cardinality(value: object, limit: int = 64) -> str:
    """A short label-safe string: used for error types, rules and severities."""
    text = safe_str(value, limit).strip()
    return text or "_OTHER"


def is_network(meta: Mapping[str, Any]) -> bool:
    """Whether a RETRY_ATTEMPT / ERROR meta describes a network error."""
    flag = meta_get(meta, "isNetwork", "is_network")
    if flag is not None:
        return flag is True
    category = meta_get(meta, "failureType", "category")
    return category is not None and safe_str(category, 32).lower() == "network"


def violations_of(meta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The violations of a GUARDRAIL_RULE_RESULT: singular ``violation`` or a list."""
    out: list[Mapping[str, Any]] = []
    single = meta.get("violation")
    if single is not None:
        out.append(_as_mapping(single))
    many = meta.get("violations")
    if isinstance(many, list | tuple):
        out.extend(_as_mapping(v) for v in many[:100])
    return out


def _as_mapping(value: object) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        data = dump()
        if isinstance(data, Mapping):
            return data
    fields = getattr(value, "__dict__", None)
    if isinstance(fields, dict):
        return fields
    return {"message": safe_str(value)}
