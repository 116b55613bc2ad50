"""The Sentry event handler: a listener leaving breadcrumbs, captures and one transaction.

The handler keeps no fold of its own: it is a
:class:`~l0_monitoring._internal.lifecycle.TableView` of a stream table
(its own when used alone; a Monitor's in ``Monitoring.combine``). Every
capture carries its stream's telemetry as context ``l0``, built from the same
folded state as the Monitor's record. A stream's transaction (``op
l0.stream``) is created and finished once, when the stream ends (terminal
event, SESSION_END, eviction, idle timeout or close), timed by the events: a
stream that goes silent can never leave a transaction open.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .._internal.derive import Facts, telemetry
from .._internal.fold import (
    DRIFT,
    FIRST_TOKEN,
    NETWORK_ERROR,
    RETRY,
    VIOLATION,
    StreamState,
)
from .._internal.lifecycle import DEFAULT_IDLE_TIMEOUT, TableView
from .._internal.meta import (
    drift_types,
    is_network,
    network_error,
    retry_attempt,
    retry_reason,
    token_text,
)
from .._internal.safe import safe_str
from .._internal.workers import Clock
from ..config import MetricsConfig
from ..telemetry import Telemetry
from .client import Sentry, SentryConfig

__all__ = ["MAX_VIOLATION_CAPTURES", "NO_ERROR_TEXT", "SentryHandler", "create_sentry_handler"]

MAX_VIOLATION_CAPTURES = 10
"""Violation events captured per stream; further violations leave breadcrumbs only."""
NO_ERROR_TEXT = "L0 execution failed"
"""What a failure capture says when no error text is known or ``collect_errors`` is off."""
MAX_VIOLATION_BREADCRUMBS = 100
"""Violation breadcrumbs per stream (Sentry keeps 100 breadcrumbs per scope anyway)."""


def _dt(ms: float | None) -> datetime | None:
    if ms is None or not 0 <= ms < float("inf"):
        return None
    try:
        return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def facts_context(f: Facts) -> dict[str, Any]:
    """The figures of a stream from its facts, for the "L0 execution completed" breadcrumb.

    Ten keys: Sentry trims breadcrumb data past ten entries.
    """
    return {
        "stream_id": f.stream_id,
        "model": f.model,
        "outcome": f.outcome,
        "duration_s": f.duration,
        "time_to_first_token_s": f.ttft,
        "token_count": f.tokens,
        "tokens_per_second": f.tokens_per_second,
        "retries": f.retries_model + f.retries_network,
        "network_retries": f.retries_network,
        "guardrail_violations": f.violation_count,
    }


class _View:
    __slots__ = ("captured", "crumbs", "violation_captures")

    def __init__(self) -> None:
        self.violation_captures = 0
        self.crumbs = 0
        self.captured = False


class SentryHandler(TableView):
    """Turns observability events into Sentry breadcrumbs, captures and transactions.

    Created by :func:`create_sentry_handler` / ``Monitoring.sentry``. Never
    raises into the caller. At most :data:`MAX_VIOLATION_CAPTURES` violation
    events are captured per stream.

    Args:
        sentry: The :class:`Sentry` integration.
        max_streams: Bound on streams tracked at once (own table only).
        idle_timeout: Seconds of silence after which a stream's transaction is
            finished as abandoned (default 300; 0 or None: never).
    """

    def __init__(
        self,
        sentry: Sentry,
        max_streams: int = 10_000,
        *,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        _clock: Clock | None = None,
    ) -> None:
        self.integration = sentry
        self._sentry = sentry._sentry
        self._config = sentry.config
        self.wants_tokens = self._config.breadcrumbs_for_tokens
        self.violations_not_captured = 0
        self._own_table(
            MetricsConfig(), max_in_flight=max_streams, idle_timeout=idle_timeout, clock=_clock
        )

    # ------------------------------------------------------------------ the listener

    def _snapshot(self, st: StreamState, *, final: bool) -> Telemetry:
        """The stream's telemetry (the Monitor's own record when it already built one)."""
        if final and st.record is not None:
            return st.record  # type: ignore[no-any-return]
        return telemetry(st, self._table.metrics, final=final)

    def _crumb(self, message: str, category: str, level: str, data: dict[str, Any]) -> None:
        """A breadcrumb whose data this handler built from facts (already JSON-safe)."""
        self._sentry.add_breadcrumb(category=category, message=message, level=level, data=data)

    def on_start(self, st: StreamState, ts: float) -> None:
        """Breadcrumb: an L0 execution started."""
        self._crumb(
            "L0 execution started", "l0", "info",
            {"name": "l0.execution", "stream_id": st.stream_id,
             "model": st.request_model or st.resolved_model()},
        )  # fmt: skip

    def on_moment(self, moment: int, st: StreamState, ts: float, meta: Mapping[str, Any]) -> None:
        """Breadcrumbs for notable moments; captures for unretried network errors, violations."""
        sentry = self.integration
        metrics = self._table.metrics  # each collect_* flag switches its section off here too
        if moment == FIRST_TOKEN:
            start = st.start_ms if st.start_ms is not None else st.first_event_ms
            if metrics.collect_timing and ts >= start:  # rule 7: never clamped
                sentry.record_first_token(ts - start)
        elif moment == RETRY:
            if not metrics.collect_retries:
                return
            sentry.record_retry(
                retry_attempt(meta),
                retry_reason(meta) or "",
                is_network(meta),  # rule 3
            )
        elif moment == NETWORK_ERROR:
            # The network-error section follows collect_retries (as the facts'
            # network_errors); its text follows collect_errors.
            if not metrics.collect_retries:
                return
            error, error_type, retried = network_error(meta)
            if not metrics.collect_errors:
                error = NO_ERROR_TEXT
            snapshot = None
            if not retried and self._config.capture_network_errors:
                snapshot = self._snapshot(st, final=False)
            sentry.record_network_error(
                error if isinstance(error, BaseException) else safe_str(error), error_type,
                retried=retried, telemetry=snapshot,
            )  # fmt: skip
        elif moment == VIOLATION:
            if not self._table.metrics.collect_guardrails:
                return
            view = self.view(st)
            if view is None:
                view = _View()
                self.set_view(st, view)
            fresh = st.fresh_violations or []
            room = MAX_VIOLATION_BREADCRUMBS - view.crumbs
            if room <= 0:
                self.violations_not_captured += len(fresh)
                return
            fresh = fresh[:room]
            view.crumbs += len(fresh)
            budget = MAX_VIOLATION_CAPTURES - view.violation_captures
            snapshot = self._snapshot(st, final=False) if budget > 0 else None
            ids = sentry.record_guardrail_violations(fresh, snapshot, max(budget, 0))
            view.violation_captures += len(ids)
        elif moment == DRIFT:
            sentry.record_drift(True, drift_types(meta))

    def on_token(self, st: StreamState, ts: float, meta: Mapping[str, Any]) -> None:
        """Breadcrumb per token (with ``breadcrumbs_for_tokens``, and ``collect_tokens`` on)."""
        if not self._table.metrics.collect_tokens:
            return
        self.integration.record_token(token_text(meta))

    def on_finish(self, st: StreamState, facts: Facts) -> None:
        """Finish the stream's transaction; breadcrumbs; capture a failure once."""
        f = facts
        sentry = self.integration
        outcome = f.outcome
        context = facts_context(f)
        if self._config.enable_tracing:
            model = f.request_model
            transaction = self._sentry.start_transaction(
                op="l0.stream",
                name=f"l0.stream {safe_str(model, 100)}" if model else "l0.stream",
                start_timestamp=_dt(f.start_ms),
            )
            # The figures ride on the "L0 execution completed" breadcrumb and on
            # captures; the transaction carries its timing, status and outcome
            # tag only (its serialization is most of what tracing costs).
            transaction.set_tag("l0.outcome", outcome)
            transaction.set_status(
                "ok" if outcome == "completed"
                else "cancelled" if outcome in ("aborted", "abandoned")
                else "internal_error"
            )  # fmt: skip
            transaction.finish(end_timestamp=_dt(f.span_end_ms))  # never before its start
        # Breadcrumbs are stamped now (not with the events' time): Sentry orders
        # a scope's breadcrumbs by timestamp, next to the application's own.
        self._crumb(
            "L0 execution completed", "l0", "info" if outcome == "completed" else "error", context
        )
        # As Sentry.complete_execution: the figures as context ``l0`` on the
        # application's scope (never tags), so its later events carry them.
        self._sentry.set_context("l0", context)
        if outcome == "completed" and st.completed:
            self._crumb("Stream completed", "l0.stream", "info", {"token_count": f.tokens})
        if st.halted or st.gave_up:
            # With collect_errors off the capture says only that the stream failed:
            # no exception, message, category or code (its context is blanked alike).
            message = (
                st.err_exception or st.err_message or NO_ERROR_TEXT
                if self._table.metrics.collect_errors
                else NO_ERROR_TEXT
            )
            sentry.record_failure(
                message if isinstance(message, BaseException) else safe_str(message),
                self._snapshot(st, final=True),
            )

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Finish every open stream (transactions as ``cancelled``, outcome abandoned).

        On a shared table (``Monitoring.combine``) this finishes this handler's
        transactions only and detaches it: the Monitor keeps its in-flight
        streams; the closed handler ignores further events.
        """
        self._close_view()

    def flush(self) -> None:
        """Nothing is buffered here (sentry_sdk sends in the background)."""

    def stats(self) -> dict[str, int]:
        """Counters: open_streams, violations_not_captured (past the per-stream bound)."""
        return {
            "open_streams": self._table.in_flight(),
            "violations_not_captured": self.violations_not_captured,
        }


def create_sentry_handler(
    sentry_sdk: Any,
    config: SentryConfig | None = None,
    *,
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
) -> SentryHandler:
    """Create the Sentry event handler for ``l0.run(on_event=...)``.

    Args:
        sentry_sdk: The ``sentry_sdk`` module, initialised by the application.
        config: Options.
        idle_timeout: Seconds of silence after which a stream's transaction is
            finished as abandoned (default 300; 0 or None: never).

    Returns:
        The handler (callable, with ``close()``).
    """
    return SentryHandler(Sentry(sentry_sdk, config), idle_timeout=idle_timeout)
