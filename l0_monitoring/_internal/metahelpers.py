"""Timestamp conversion and label helpers shared by the OpenTelemetry and Sentry integrations.

Event meta is read in one place only: :mod:`.meta`.
"""

from __future__ import annotations

import math

from .safe import safe_str

_MAX_NS = 2**63 - 1  # OTLP timestamps are 64-bit integers


def ms_to_ns(ms: float | None) -> int | None:
    """Epoch ms to ns; never raises.

    None (the SDK then uses now) unless a finite, non-negative number whose
    nanoseconds fit a signed 64-bit integer (OTLP's timestamp).
    """
    try:
        if not 0 <= ms < math.inf:  # type: ignore[operator]
            return None
        ns = int(ms * 1_000_000)  # type: ignore[operator]
    except (TypeError, OverflowError, ValueError):  # None, not a number, inf after scaling
        return None
    return ns if ns <= _MAX_NS else None


def low_cardinality(value: object, limit: int = 64) -> str:
    """A short label-safe string: used for error types, rules and severities."""
    text = safe_str(value, limit).strip()
    return text or "_OTHER"
