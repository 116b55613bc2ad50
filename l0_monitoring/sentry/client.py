"""Sentry: the :class:`Sentry` integration (breadcrumbs, captures) and :func:`with_sentry`.

``sentry_sdk`` is imported lazily (extra ``sentry``). Captured events always go
through a fresh scope (``sentry_sdk.new_scope()``), so the tags, context and
fingerprint set for an L0 failure never leak onto the application's other
events. Fingerprints group by failure kind, category and code, never by message
text. Token text never reaches Sentry unless ``record_token_content`` is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._internal.contract import category_of
from .._internal.safe import json_safe, safe_str
from ..exceptions import L0ExecutionError, L0NetworkError
from ..telemetry import Telemetry

if TYPE_CHECKING:
    from .handler import SentryHandler

__all__ = ["Sentry", "SentryConfig", "telemetry_context", "with_sentry"]

Severity = Literal["debug", "info", "warning", "error", "fatal"]
_SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "fatal")


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


IN_PROGRESS = "in_progress"
"""The ``outcome`` of the ``l0`` context of a capture made while its stream is in flight."""


def in_flight(t: Telemetry) -> bool:
    """Whether ``t`` is a snapshot of a stream still in flight.

    In flight: no ``completed_at`` and neither completed, aborted nor abandoned
    (what the handlers' mid-stream snapshots are; every finished record the
    Monitor or replay builds has ``completed_at``).
    """
    return t.timing.completed_at is None and not (t.completed or t.aborted or t.abandoned)


def telemetry_context(t: Telemetry) -> dict[str, Any]:
    """The ``l0`` context attached to captured events: figures, never content.

    A capture made mid-stream (:func:`in_flight`) claims no outcome: ``outcome``
    is ``"in_progress"``, ``in_flight`` True, ``completed``/``aborted`` None,
    ``duration_s`` None; the figures are those so far.
    """
    if in_flight(t):
        return {
            **_figures(t),
            "outcome": IN_PROGRESS,
            "in_flight": True,
            "completed": None,
            "aborted": None,
        }
    return {**_figures(t), "outcome": t.outcome, "in_flight": False,
            "completed": t.completed, "aborted": t.aborted}  # fmt: skip


def _figures(t: Telemetry) -> dict[str, Any]:
    return {
        "stream_id": t.stream_id,
        "model": t.model,
        "duration_s": t.timing.duration,
        "time_to_first_token_s": t.metrics.time_to_first_token,
        "token_count": t.metrics.token_count,
        "tokens_per_second": t.metrics.tokens_per_second,
        "retries": t.retries.total_retries,
        "network_retries": t.retries.network_retries,
        "model_retries": t.retries.model_retries,
        "guardrail_violations": t.guardrails.total,
        "error_category": t.error.category,
        "error_code": t.error.code,
        "error_recoverable": t.error.recoverable,
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
        self, error: BaseException | str, error_type: str, retried: bool,
        telemetry: Telemetry | None = None,
    ) -> str | None:  # fmt: skip
        """Breadcrumb for a network error; captured when it will not be retried.

        Args:
            error: The error or its message.
            error_type: Its low-cardinality type (code).
            retried: Whether L0 retries it (then it is not captured).
            telemetry: The stream's telemetry, attached to the capture as context ``l0``.

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
        return self._capture(
            exc, telemetry=telemetry, fingerprint=["l0", "network-error", error_type]
        )

    def record_guardrail_violations(
        self, violations: Sequence[Mapping[str, Any]], telemetry: Telemetry | None = None,
        max_captures: int | None = None,
    ) -> list[str]:  # fmt: skip
        """Breadcrumb per violation; capture those at or above ``min_guardrail_severity``.

        Args:
            violations: The violations.
            telemetry: The stream's telemetry, attached to captures as context ``l0``.
            max_captures: At most this many captures (None: no bound); the rest
                leave breadcrumbs only.

        Returns:
            Event ids of the captured violations.
        """
        ids: list[str] = []
        budget = len(violations) if max_captures is None else max_captures
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
                budget > 0
                and self.config.capture_guardrail_violations
                and _SEVERITIES.index(level) >= self._min_severity
            ):
                budget -= 1
                event_id = self._capture_message(
                    f"Guardrail violation: {rule}", level=level,
                    fingerprint=["l0", "guardrail", rule, level], telemetry=telemetry,
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

    def complete_execution(self, telemetry: Telemetry | None = None) -> None:
        """Breadcrumb and context ``l0``: the execution finished, with its figures.

        Both land on the application's current scope, so the application's
        later events carry them (tags are never set there).
        """
        context = telemetry_context(telemetry) if telemetry is not None else None
        failed = telemetry is not None and telemetry.outcome != "completed"
        self._crumb("L0 execution completed", level="error" if failed else "info", data=context)
        if context is not None:
            set_context = getattr(self._sentry, "set_context", None)
            if callable(set_context):
                set_context("l0", context)

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
            fingerprint=["l0", "execution-failure", category_of(category), code or "none"],
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


class _SentryContext:
    def __init__(self, sentry: Sentry) -> None:
        from .handler import SentryHandler  # the handler module imports this one

        self.integration = sentry
        self.on_event: SentryHandler = SentryHandler(sentry)

    def _enter(self) -> _SentryContext:
        self.integration.start_execution()
        return self

    def _exit(self, exc: BaseException | None) -> None:
        self.on_event.close()
        if exc is not None and not isinstance(exc, GeneratorExit):
            self.integration.record_failure(exc, None)
        else:
            self.integration.complete_execution()

    def __enter__(self) -> _SentryContext:
        return self._enter()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._exit(exc)

    async def __aenter__(self) -> _SentryContext:
        return self._enter()

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
