"""Sentry: breadcrumbs and captured failures from the event stream, and an exporter.

``sentry_sdk`` is imported lazily (extra ``sentry``). Captured events always go
through a fresh scope (``sentry_sdk.new_scope()``), so the tags, context and
fingerprint set for an L0 failure never leak onto the application's other
events. Fingerprints group by failure kind, category and code, never by message
text. Token text never reaches Sentry unless ``record_token_content`` is set.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._internal.guard import ErrorReporter
from .._internal.recent import RecentIds
from .._internal.safe import json_safe, safe_str
from ..config import MonitoringConfig
from ..exceptions import L0ExecutionError, L0NetworkError
from ..monitor import Monitor
from ..settings import SentryExporterConfig
from ..telemetry import Telemetry
from ._common import is_network, meta_get, require, violations_of

__all__ = [
    "Sentry",
    "SentryConfig",
    "SentryExporter",
    "SentryHandler",
    "create_sentry_handler",
    "with_sentry",
]

_errors = ErrorReporter()
Severity = Literal["debug", "info", "warning", "error", "fatal"]
_SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "fatal")
_RECENT_FINISHED = 4096


class SentryConfig(BaseModel):
    """Options of the Sentry event handler and :class:`Sentry`."""

    model_config = ConfigDict(extra="forbid")

    capture_network_errors: bool = Field(
        default=True, description="Capture network errors that L0 will not retry."
    )
    capture_guardrail_violations: bool = Field(
        default=True, description="Capture violations at or above min_guardrail_severity."
    )
    min_guardrail_severity: Severity = Field(
        default="error", description="Lowest violation severity that is captured as an event."
    )
    breadcrumbs_for_tokens: bool = Field(
        default=False, description="One breadcrumb per token (without its text)."
    )
    enable_tracing: bool = Field(
        default=True, description="A transaction per stream (op l0.stream), timed by the events."
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="Tags on the events this integration captures only."
    )
    environment: str | None = Field(
        default=None, description="Environment set on the events this integration captures."
    )
    record_token_content: bool = Field(
        default=False, description="Put token text in token breadcrumbs (privacy: off)."
    )


def _dt(ms: object) -> datetime | None:
    if isinstance(ms, int | float) and not isinstance(ms, bool) and ms == ms and ms >= 0:
        try:
            return datetime.fromtimestamp(float(ms) / 1000.0, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def telemetry_context(t: Telemetry) -> dict[str, Any]:
    """The ``l0`` context attached to captured events: figures, never content."""
    return {
        "stream_id": t.stream_id,
        "model": t.model,
        "outcome": t.outcome,
        "duration_s": t.timing.duration,
        "time_to_first_token_s": t.metrics.time_to_first_token,
        "token_count": t.metrics.token_count,
        "tokens_per_second": t.metrics.tokens_per_second,
        "retries": t.retries.total_retries,
        "network_retries": t.retries.network_retries,
        "model_retries": t.retries.model_retries,
        "guardrail_violations": len(t.guardrails.violations),
        "error_category": t.error.category,
        "error_code": t.error.code,
        "error_recoverable": t.error.recoverable,
        "completed": t.completed,
        "aborted": t.aborted,
    }


class Sentry:
    """Sentry integration: breadcrumbs, captured failures, transactions.

    Args:
        sentry: The ``sentry_sdk`` module (or an object with its API).
        config: Options.
    """

    def __init__(self, sentry: Any, config: SentryConfig | None = None) -> None:
        self._sentry = sentry
        self.config = config or SentryConfig()
        self._min_severity = _SEVERITIES.index(self.config.min_guardrail_severity)

    # -- breadcrumbs -------------------------------------------------------------

    def _crumb(
        self, message: str, *, category: str = "l0", level: str = "info",
        data: Mapping[str, Any] | None = None, ts: datetime | None = None,
    ) -> None:  # fmt: skip
        self._sentry.add_breadcrumb(
            category=category,
            message=message,
            level=level,
            data=json_safe(dict(data)) if data else None,
            timestamp=ts or datetime.now(UTC),
        )

    def start_execution(
        self, name: str = "l0.execution", metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Breadcrumb: an L0 execution started."""
        self._crumb("L0 execution started", data={"name": name, **(metadata or {})})

    def start_stream(self) -> None:
        """Breadcrumb: a stream (attempt) started."""
        self._crumb("Stream started", category="l0.stream")

    def record_token(self, token: str | None = None) -> None:
        """Breadcrumb per token, only with ``breadcrumbs_for_tokens``; text only with consent."""
        if not self.config.breadcrumbs_for_tokens:
            return
        data = {"token": token} if self.config.record_token_content and token else None
        self._crumb("Token received", category="l0.token", level="debug", data=data)

    def record_first_token(self, ttft_ms: float) -> None:
        """Breadcrumb: first token, with TTFT in milliseconds."""
        self._crumb("First token received", category="l0.stream", data={"ttft_ms": ttft_ms})

    def record_retry(self, attempt: int, reason: str, is_network_error: bool = False) -> None:
        """Breadcrumb: a retry attempt."""
        self._crumb(
            f"Retry attempt {attempt}", category="l0.retry", level="warning",
            data={"attempt": attempt, "reason": safe_str(reason, 500),
                  "is_network_error": is_network_error},
        )  # fmt: skip

    def record_network_error(
        self, error: BaseException | str, error_type: str, retried: bool
    ) -> str | None:
        """Breadcrumb for a network error; captured when it will not be retried.

        Returns:
            The Sentry event id when one was captured.
        """
        self._crumb(
            f"Network error: {error_type}", category="l0.network", level="error",
            data={"error_type": error_type, "message": safe_str(error, 500), "retried": retried},
        )  # fmt: skip
        if retried or not self.config.capture_network_errors:
            return None
        exc = error if isinstance(error, BaseException) else L0NetworkError(
            safe_str(error), "network", error_type)  # fmt: skip
        return self._capture(exc, fingerprint=["l0", "network-error", error_type])

    def record_guardrail_violations(self, violations: list[Mapping[str, Any]]) -> list[str]:
        """Breadcrumb per violation; capture those at or above ``min_guardrail_severity``.

        Returns:
            Event ids of the captured violations.
        """
        ids: list[str] = []
        for v in violations:
            rule = safe_str(v.get("rule") or "unknown", 100)
            severity = safe_str(v.get("severity") or "error", 16).lower()
            level = severity if severity in _SEVERITIES else "error"
            self._crumb(
                f"Guardrail violation: {rule}", category="l0.guardrail", level=level,
                data={"rule": rule, "severity": severity,
                      "message": safe_str(v.get("message") or "", 500),
                      "recoverable": v.get("recoverable") is True},
            )  # fmt: skip
            if (
                self.config.capture_guardrail_violations
                and _SEVERITIES.index(level) >= self._min_severity
            ):
                event_id = self._capture_message(
                    f"Guardrail violation: {rule}", level=level,
                    fingerprint=["l0", "guardrail", rule, level],
                    extra_tags={"l0.guardrail.rule": rule},
                )  # fmt: skip
                if event_id:
                    ids.append(event_id)
        return ids

    def record_drift(self, detected: bool, types: list[str]) -> None:
        """Breadcrumb when drift was detected."""
        if detected:
            self._crumb(
                f"Drift detected: {', '.join(types)}", category="l0.drift", level="warning",
                data={"types": types},
            )  # fmt: skip

    def complete_stream(self, token_count: int) -> None:
        """Breadcrumb: the stream completed."""
        self._crumb("Stream completed", category="l0.stream", data={"token_count": token_count})

    def complete_execution(self, telemetry: Telemetry) -> None:
        """Breadcrumb: the execution finished, with its figures."""
        self._crumb(
            "L0 execution completed", level="info" if telemetry.outcome == "completed" else "error",
            data=telemetry_context(telemetry),
        )  # fmt: skip

    def record_failure(self, error: BaseException | str, telemetry: Telemetry | None) -> str | None:
        """Capture an execution failure with the stream's telemetry as context ``l0``.

        Returns:
            The Sentry event id, if sent.
        """
        category = telemetry.error.category if telemetry else None
        code = telemetry.error.code if telemetry else None
        exc = error if isinstance(error, BaseException) else L0ExecutionError(
            safe_str(error), category, code)  # fmt: skip
        return self._capture(
            exc, telemetry=telemetry,
            fingerprint=["l0", "execution-failure", category or "unknown", code or "none"],
        )  # fmt: skip

    # -- capture through a fresh scope ------------------------------------------

    def _scoped(self, scope: Any, telemetry: Telemetry | None, fingerprint: list[str],
                extra_tags: Mapping[str, str] | None) -> None:  # fmt: skip
        for key, value in {**self.config.tags, **(extra_tags or {})}.items():
            scope.set_tag(key, value)
        scope.fingerprint = fingerprint
        if telemetry is not None:
            scope.set_context("l0", telemetry_context(telemetry))
            if telemetry.model:
                scope.set_tag("l0.model", telemetry.model)
        environment = self.config.environment
        if environment:

            def set_environment(event: dict[str, Any], hint: Any) -> dict[str, Any]:
                event["environment"] = environment
                return event

            scope.add_event_processor(set_environment)

    def _capture(
        self, exc: BaseException, *, telemetry: Telemetry | None = None,
        fingerprint: list[str], extra_tags: Mapping[str, str] | None = None,
    ) -> str | None:  # fmt: skip
        # Never capture_exception(..., extra=...): sentry-sdk 2.x drops such events.
        with self._sentry.new_scope() as scope:
            self._scoped(scope, telemetry, fingerprint, extra_tags)
            result = self._sentry.capture_exception(exc)
        return result if isinstance(result, str) else None

    def _capture_message(
        self, message: str, *, level: str, fingerprint: list[str],
        telemetry: Telemetry | None = None, extra_tags: Mapping[str, str] | None = None,
    ) -> str | None:  # fmt: skip
        with self._sentry.new_scope() as scope:
            self._scoped(scope, telemetry, fingerprint, extra_tags)
            result = self._sentry.capture_message(message, level=level)
        return result if isinstance(result, str) else None


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


class _SentryContext:
    def __init__(self, sentry: Sentry) -> None:
        self.integration = sentry
        self.on_event = SentryHandler(sentry)

    def _exit(self, exc: BaseException | None) -> None:
        self.on_event.close()
        if exc is not None and not isinstance(exc, GeneratorExit):
            self.integration.record_failure(exc, None)

    def __enter__(self) -> _SentryContext:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._exit(exc)

    async def __aenter__(self) -> _SentryContext:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._exit(exc)


def with_sentry(
    sentry_sdk: Any, fn: Callable[[], Awaitable[Any]] | None = None,
    config: SentryConfig | None = None,
) -> Any:  # fmt: skip
    """Track a stream with Sentry: a context manager (sync/async) or L0's call form.

    ``with with_sentry(sentry_sdk) as tracked:`` gives ``tracked.on_event`` for
    ``l0.run``; an exception leaving the block is captured (and re-raised).
    ``await with_sentry(sentry_sdk, fn)`` runs ``fn()`` likewise.

    Returns:
        A context manager, or (with ``fn``) an awaitable of ``fn``'s result.
    """
    integration = Sentry(sentry_sdk, config)
    if fn is None:
        return _SentryContext(integration)

    async def run() -> Any:
        async with _SentryContext(integration):
            return await fn()

    return run()


class SentryExporter:
    """Captures telemetry errors into Sentry through its own client.

    ``init()`` creates a ``sentry_sdk.Client`` from the config; it does not
    replace the application's global Sentry client. Every method is a no-op
    without a DSN or when disabled, and never raises into the caller.
    """

    def __init__(self, config: SentryExporterConfig | None = None, *, _transport: Any = None):
        self.config = config or SentryExporterConfig.from_env()
        self._client: Any = None
        self._transport = _transport
        self._user: dict[str, Any] | None = None
        self._stats = {"captured": 0, "not_sent": 0, "errors": 0}
        self._breadcrumbs: deque[dict[str, Any]] = deque(maxlen=max(self.config.max_breadcrumbs, 1))

    @property
    def active(self) -> bool:
        """True once ``init()`` created a client (a DSN was configured)."""
        return self._client is not None

    def init(self) -> None:
        """Create the client (no-op without a DSN, when disabled, or twice).

        Never raises into the host: a failure (a missing ``sentry_sdk``, a
        client that refuses an option) is counted in ``stats()["errors"]`` and
        logged once; the exporter then stays inactive (every call a no-op).
        """
        try:
            self._init()
        except Exception as exc:
            self._client = None
            self._stats["errors"] += 1
            _errors.report("sentry.init", "l0_monitoring: Sentry client not created", exc)

    def _init(self) -> None:
        cfg = self.config
        if self._client is not None or not cfg.enabled or cfg.dsn is None:
            return
        sentry_sdk = require("sentry_sdk", "sentry")
        options: dict[str, Any] = {
            "dsn": cfg.dsn.get_secret_value(),
            "environment": cfg.environment,
            "release": cfg.release,
            "server_name": cfg.server_name,
            "sample_rate": cfg.sample_rate,
            "traces_sample_rate": cfg.traces_sample_rate,
            "profiles_sample_rate": cfg.profiles_sample_rate,
            "debug": cfg.debug,
            "attach_stacktrace": cfg.attach_stacktrace,
            "max_breadcrumbs": cfg.max_breadcrumbs,
            "default_integrations": False,
        }
        if importlib.util.find_spec("sentry_sdk.data_collection") is not None:
            # Newer sentry-sdk deprecates send_default_pii for data_collection.
            options["data_collection"] = {"user_info": cfg.send_default_pii}
        else:  # pragma: no cover - older sentry-sdk 2.x
            options["send_default_pii"] = cfg.send_default_pii
        if self._transport is not None:
            options["transport"] = self._transport
        self._client = sentry_sdk.Client(**{k: v for k, v in options.items() if v is not None})

    def _capture(self, build: Callable[[Any, Any], Any], fingerprint: list[str],
                 telemetry: Telemetry | None) -> str | None:  # fmt: skip
        if self._client is None:
            return None
        try:
            import sentry_sdk

            with sentry_sdk.new_scope() as scope:
                scope.set_client(self._client)
                for key, value in self.config.tags.items():
                    scope.set_tag(key, value)
                scope.fingerprint = fingerprint
                if telemetry is not None:
                    scope.set_context("l0", telemetry_context(telemetry))
                    if telemetry.model:
                        scope.set_tag("l0.model", telemetry.model)
                if self._user is not None:
                    scope.set_user(self._user)
                for crumb in self._breadcrumbs:
                    scope.add_breadcrumb(**crumb)
                result = build(sentry_sdk, scope)
            if isinstance(result, str):
                self._stats["captured"] += 1
                return result
            self._stats["not_sent"] += 1  # sampled out or refused by the SDK
            return None
        except Exception as exc:
            self._stats["errors"] += 1
            _errors.report("sentry.capture", "l0_monitoring: Sentry capture failed", exc)
            return None

    def capture_error(self, error: BaseException, telemetry: Telemetry | None = None) -> str | None:
        """Capture an exception with the stream's telemetry as context ``l0``.

        Returns:
            The event id, or None (no DSN, not initialised, or dropped).
        """
        category = telemetry.error.category if telemetry else None
        code = telemetry.error.code if telemetry else None
        return self._capture(
            lambda sdk, scope: scope.capture_exception(error),
            ["l0", type(error).__name__, category or "unknown", code or "none"], telemetry,
        )  # fmt: skip

    def capture_telemetry_error(self, telemetry: Telemetry) -> str | None:
        """Capture a record's error (if it has one) as an :class:`L0ExecutionError`."""
        if not telemetry.error.occurred:
            return None
        exc = L0ExecutionError(telemetry.error.message or "L0 execution failed",
                               telemetry.error.category, telemetry.error.code)  # fmt: skip
        return self._capture(
            lambda sdk, scope: scope.capture_exception(exc),
            ["l0", "execution-failure", telemetry.error.category or "unknown",
             telemetry.error.code or "none"], telemetry,
        )  # fmt: skip

    def capture_message(self, message: str, level: str = "info",
                        telemetry: Telemetry | None = None) -> str | None:  # fmt: skip
        """Capture a message (grouped by its level)."""
        return self._capture(lambda sdk, scope: scope.capture_message(message, level=level),
                             ["l0", "message", level], telemetry)  # fmt: skip

    def add_breadcrumb(self, message: str, category: str = "l0", level: str = "info",
                       data: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        """Remember a breadcrumb for this exporter's next captured events (bounded)."""
        if self._client is None:
            return
        self._breadcrumbs.append({
            "message": message, "category": category, "level": level,
            "data": json_safe(dict(data)) if data else None,
            "timestamp": datetime.now(UTC),
        })  # fmt: skip

    def set_user(self, user_id: str | None = None, email: str | None = None,
                 username: str | None = None, ip_address: str | None = None,
                 **other: Any) -> None:  # fmt: skip
        """Set the user on this exporter's events; email and IP only with ``send_default_pii``."""
        if self._client is None:
            return
        user: dict[str, Any] = {k: v for k, v in {"id": user_id, "username": username,
                                                  **other}.items() if v is not None}  # fmt: skip
        if self.config.send_default_pii:
            if email:
                user["email"] = email
            if ip_address:
                user["ip_address"] = ip_address
        self._user = user or None

    def stats(self) -> dict[str, int]:
        """Return the exporter's counters.

        Keys: captured (handed to sentry-sdk with an event id), not_sent (sampled
        out or refused by the SDK), errors (capture raised). Delivery failures after
        hand-over (HTTP 429/5xx) are accounted by sentry-sdk's own client reports.
        """
        return dict(self._stats)

    def flush(self, timeout: float = 2.0) -> None:
        """Send what is queued, waiting at most ``timeout`` seconds."""
        if self._client is not None:
            try:
                self._client.flush(timeout=timeout)
            except Exception as exc:
                _errors.report("sentry.flush", "l0_monitoring: Sentry flush failed", exc)

    def close(self, timeout: float = 2.0) -> None:
        """Flush and close the client (idempotent), waiting at most ``timeout`` seconds."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=timeout)
            except Exception as exc:
                _errors.report("sentry.close", "l0_monitoring: Sentry close failed", exc)
