"""The few exception types this package raises or reports."""

from __future__ import annotations

__all__ = ["L0ExecutionError", "L0NetworkError"]


class L0ExecutionError(Exception):
    """An L0 stream failed for good (terminal ERROR or RETRY_GIVE_UP), as reported to Sentry.

    Args:
        message: The runtime's error message.
        category: The failure category (``network``, ``model``, ``unknown``...).
        code: The runtime's error code, if any.
    """

    def __init__(self, message: str, category: str | None = None, code: str | None = None):
        super().__init__(message)
        self.category = category
        self.code = code


class L0NetworkError(L0ExecutionError):
    """A network error L0 did not retry, as reported to Sentry."""
