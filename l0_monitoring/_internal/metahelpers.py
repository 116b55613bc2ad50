"""Timestamp conversion and label helpers shared by the OpenTelemetry and Sentry integrations.

Event meta is read in one place only: :mod:`.meta`.
"""

from __future__ import annotations

from .safe import safe_str

# OTLP timestamps are unsigned 64-bit nanoseconds: epoch ms at or past this do not fit.
_MAX_MS = 2**64 / 1_000_000


def ms_to_ns(ms: float | None) -> int | None:
    """Epoch ms to ns; None (the SDK then uses now) unless 0 <= ms < 2**64 ns (OTLP's fixed64)."""
    try:
        return int(ms * 1_000_000) if 0 <= ms < _MAX_MS else None  # type: ignore[operator]
    except TypeError:  # None, or not a number
        return None


def low_cardinality(value: object, limit: int = 64) -> str:
    """A short label-safe string: used for error types, rules and severities."""
    text = safe_str(value, limit).strip()
    return text or "_OTHER"
