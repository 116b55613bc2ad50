"""The one internal-error guard: rate-limited reporting, with a strict switch for tests.

Every entry point the host calls (``handle_event``, handlers, listeners,
callbacks, exporters) catches its own failures and hands them to
:func:`internal_error`, which logs them (rate-limited) and carries on so
telemetry never hurts the host. With :func:`set_strict` on (this package's test
suite turns it on in ``conftest.py``, as logfire and sentry-python do) the
exception is re-raised instead, so a swallowed bug fails a test.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref

logger = logging.getLogger("l0_monitoring")

_STRICT = [os.environ.get("L0_MONITORING_STRICT") == "1"]  # a cell: set by set_strict
_REPORTERS: weakref.WeakSet[ErrorReporter] = weakref.WeakSet()


def set_strict(on: bool) -> None:
    """Re-raise internal errors instead of logging them (for tests; never in production)."""
    _STRICT[0] = on


def is_strict() -> bool:
    """Whether internal errors are re-raised (see :func:`set_strict`)."""
    return _STRICT[0]


def internal_error(reporter: ErrorReporter, where: str, exc: Exception) -> None:
    """Report an internal error of this package; re-raise it in strict mode.

    Raises:
        Exception: ``exc`` itself, only when strict mode is on.
    """
    if _STRICT[0]:
        raise exc
    reporter.report(where, f"l0_monitoring internal error in {where}", exc)


class ErrorReporter:
    """Logs an internal error at most once per ``interval`` seconds per key.

    Suppressed reports are counted and mentioned in the next log line, so a
    flood of identical failures costs one log line per interval, not one per event.
    """

    __slots__ = ("__weakref__", "_interval", "_last", "_lock", "_suppressed", "count")

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()
        self.count = 0
        _REPORTERS.add(self)

    def _after_fork_in_child(self) -> None:
        # The parent may have forked while one of its threads held the lock.
        self._lock = threading.Lock()

    def report(self, key: str, message: str, exc: BaseException | None = None) -> None:
        """Count one failure and log it unless the key was logged recently.

        Args:
            key: What failed (e.g. ``"on_complete"``); rate limiting is per key.
            message: Human-readable description for the log line.
            exc: The exception, whose type and message are logged (no traceback
                unless the logger is at DEBUG).
        """
        now = time.monotonic()
        with self._lock:
            self.count += 1
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            if len(self._last) > 256:  # keys are code-defined; bound anyway
                self._last.clear()
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        extra = f" ({suppressed} similar suppressed)" if suppressed else ""
        try:
            if exc is None:
                logger.warning("%s%s", message, extra)
            else:
                # The exception's message is not logged: it may carry host data
                # (URLs with credentials, prompt text). Type and location suffice.
                logger.warning("%s: %s at %s%s", message, type(exc).__name__, _where(exc), extra)
        except Exception:  # noqa: S110  # a broken logging handler must not escape
            pass


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    if tb is None:
        return "?"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


def _reset_reporters_in_child() -> None:
    # Only our own objects are touched here: never another library's locks.
    for reporter in list(_REPORTERS):
        reporter._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_reporters_in_child)
