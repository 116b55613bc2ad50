"""The Sentry event handler: breadcrumbs, captured failures and a transaction per stream."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .._internal.guard import ErrorReporter
from .._internal.metahelpers import is_network, meta_get, violations_of
from .._internal.recent import RecentIds
from .._internal.safe import safe_str
from ..config import MonitoringConfig
from ..monitor import Monitor
from ..telemetry import Telemetry
from .client import Sentry, SentryConfig, telemetry_context

__all__ = ["SentryHandler", "create_sentry_handler"]

_errors = ErrorReporter()
_RECENT_FINISHED = 4096


def _dt(ms: object) -> datetime | None:
    if isinstance(ms, int | float) and not isinstance(ms, bool) and ms == ms and ms >= 0:
        try:
            return datetime.fromtimestamp(float(ms) / 1000.0, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


class _StreamState:
    __slots__ = ("captured", "first_token", "started", "transaction", "violation_keys")

    def __init__(self) -> None:
        self.first_token = False
        self.captured = False
        self.started = False
        self.transaction: Any = None
        self.violation_keys: set[tuple[str, str, str]] = set()


class SentryHandler:
    """Turns observability events into Sentry breadcrumbs, captures and transactions.

    Created by :func:`create_sentry_handler` / ``Monitoring.sentry``. It keeps a
    private :class:`~l0_monitoring.Monitor` to attach each failed stream's
    telemetry. Never raises into the caller.
    """

    def __init__(self, sentry: Sentry, max_streams: int = 10_000) -> None:
        self.integration = sentry
        self._sentry = sentry._sentry
        self._config = sentry.config
        self._monitor = Monitor(MonitoringConfig(buffer_size=1, max_in_flight=max_streams))
        self._streams: dict[str, _StreamState] = {}
        self._recent = RecentIds(_RECENT_FINISHED)
        self._lock = threading.Lock()
        self._max = max_streams

    def __call__(self, event: Any) -> None:
        """Handle one event (never raises)."""
        try:
            self._monitor.handle_event(event)
            sid = event.stream_id
            st = self._streams.get(sid)
            t = event.type
            if st is None:
                if not isinstance(sid, str) or (sid in self._recent and t != "SESSION_START"):
                    return
                st = self._new(sid)
            if t == "TOKEN":
                if not st.first_token:
                    self._first_token(st, event)
                if self._config.breadcrumbs_for_tokens:
                    meta = event.meta
                    text = meta.get("token") or meta.get("text") or meta.get("content")
                    self.integration.record_token(text if isinstance(text, str) else None)
                return
            fold = _FOLDS.get(t)
            if fold is not None:
                meta = event.meta if isinstance(event.meta, Mapping) else {}
                fold(self, st, event, meta)
        except Exception as exc:
            _errors.report("sentry.handler", "l0_monitoring: Sentry handler failed", exc)

    def _new(self, sid: str) -> _StreamState:
        st = _StreamState()
        with self._lock:
            if len(self._streams) >= self._max:
                old = self._streams.pop(next(iter(self._streams)))
                if old.transaction is not None:
                    old.transaction.finish()
            self._streams[sid] = st
        return st

    def _first_token(self, st: _StreamState, event: Any) -> None:
        st.first_token = True
        snapshot = self._monitor.get_telemetry(event.stream_id)
        ttft = snapshot.timing.time_to_first_token if snapshot else None
        if ttft is not None:
            self.integration.record_first_token(ttft * 1000.0)

    def _end(self, st: _StreamState, event: Any, status: str) -> Telemetry | None:
        with self._lock:
            self._streams.pop(event.stream_id, None)
            self._recent.add(event.stream_id)
        telemetry = self._monitor.get_telemetry(event.stream_id)
        if st.transaction is not None:
            if telemetry is not None:
                st.transaction.set_data("l0", telemetry_context(telemetry))
            st.transaction.set_status(status)
            st.transaction.finish(end_timestamp=_dt(event.ts))
            st.transaction = None
        if telemetry is not None:
            self.integration.complete_execution(telemetry)
        return telemetry

    def _fail(self, st: _StreamState, event: Any, message: object) -> None:
        telemetry = self._end(st, event, "internal_error")
        if st.captured:
            return
        st.captured = True
        if message is None:
            message = telemetry.error.message if telemetry else "L0 execution failed"
        text = safe_str(message)
        self.integration.record_failure(text, telemetry)

    def close(self) -> None:
        """Finish open transactions and forget in-flight streams."""
        with self._lock:
            pending = list(self._streams.values())
            self._streams.clear()
        for st in pending:
            if st.transaction is not None:
                st.transaction.set_status("cancelled")
                st.transaction.finish()
        self._monitor.clear()

    def flush(self) -> None:
        """Nothing is buffered here (sentry_sdk sends in the background)."""


def _f_session_start(
    h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]
) -> None:
    if st.started:
        return
    st.started = True
    model = meta.get("model") or (event.context or {}).get("model")
    h.integration.start_execution("l0.execution", {"stream_id": event.stream_id,
                                                   "model": model})  # fmt: skip
    if h._config.enable_tracing and st.transaction is None:
        st.transaction = h._sentry.start_transaction(
            op="l0.stream",
            name=f"l0.stream {safe_str(model, 100)}" if model else "l0.stream",
            start_timestamp=_dt(event.ts),
        )


def _f_stream_init(h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]) -> None:
    if not st.started:
        _f_session_start(h, st, event, meta)
    h.integration.start_stream()


def _f_timeout_reset(
    h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]
) -> None:
    if not st.first_token and meta_get(meta, "timeoutType", "timeout_type") == "inter":
        h._first_token(st, event)


def _f_retry(h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]) -> None:
    attempt = meta.get("attempt")
    h.integration.record_retry(
        attempt if isinstance(attempt, int) else 0,
        safe_str(meta.get("reason") or meta.get("error") or "", 500),
        is_network(meta),
    )


def _f_network_error(
    h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]
) -> None:
    retryable = meta.get("retryable")
    error = meta.get("error") or "network error"
    error_type = safe_str(meta.get("code") or meta.get("error_type") or "unknown", 64)
    h.integration.record_network_error(
        error if isinstance(error, BaseException) else safe_str(error), error_type,
        retried=retryable is not False,
    )  # fmt: skip


def _f_rule_result(h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]) -> None:
    fresh = []
    for v in violations_of(meta):
        key = (safe_str(v.get("rule"), 100), safe_str(v.get("message"), 200),
               safe_str(v.get("severity"), 16))  # fmt: skip
        if key not in st.violation_keys:  # the same violation is captured once per stream
            st.violation_keys.add(key)
            fresh.append(v)
    if fresh:
        h.integration.record_guardrail_violations(fresh)


def _f_drift(h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]) -> None:
    metrics = meta.get("metrics")
    types = (
        [str(k) for k, v in metrics.items() if v is True] if isinstance(metrics, Mapping) else []
    )
    h.integration.record_drift(meta.get("detected") is True, types)


def _f_error(h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]) -> None:
    strategy = meta_get(meta, "recoveryStrategy", "recovery_strategy")
    if strategy is not None and safe_str(strategy, 16).lower() == "halt":
        _fail_error = meta.get("error")
        h._fail(st, event, _fail_error)


def _f_complete(h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]) -> None:
    telemetry = h._end(st, event, "ok" if event.type == "COMPLETE" else "cancelled")
    if event.type == "COMPLETE":
        h.integration.complete_stream(telemetry.metrics.token_count if telemetry else 0)


def _f_give_up(h: SentryHandler, st: _StreamState, event: Any, meta: Mapping[str, Any]) -> None:
    h._fail(st, event, meta_get(meta, "lastError", "last_error"))


_Fold = Callable[[SentryHandler, _StreamState, Any, Mapping[str, Any]], None]
_FOLDS: dict[str, _Fold] = {
    "SESSION_START": _f_session_start,
    "STREAM_INIT": _f_stream_init,
    "TIMEOUT_RESET": _f_timeout_reset,
    "RETRY_ATTEMPT": _f_retry,
    "NETWORK_ERROR": _f_network_error,
    "GUARDRAIL_RULE_RESULT": _f_rule_result,
    "DRIFT_CHECK_RESULT": _f_drift,
    "ERROR": _f_error,
    "COMPLETE": _f_complete,
    "ABORT_COMPLETED": _f_complete,
    "RETRY_GIVE_UP": _f_give_up,
}


def create_sentry_handler(sentry_sdk: Any, config: SentryConfig | None = None) -> SentryHandler:
    """Create the Sentry event handler for ``l0.run(on_event=...)``.

    Args:
        sentry_sdk: The ``sentry_sdk`` module, initialised by the application.
        config: Options.

    Returns:
        The handler (callable, with ``close()``).
    """
    return SentryHandler(Sentry(sentry_sdk, config))
