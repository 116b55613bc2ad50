"""Timestamp conversion and label helpers shared by the OpenTelemetry and Sentry integrations.

Event meta is read in one place only: :mod:`.meta`.
"""

from __future__ import annotations

import math

from .safe import safe_str


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
