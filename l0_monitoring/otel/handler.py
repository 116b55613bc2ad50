"""The OpenTelemetry event handler: a listener that ends one CLIENT span per stream.

The handler keeps no fold of its own: it is a
:class:`~l0_monitoring._internal.lifecycle.TableView` of a stream table
(its own when used alone; a Monitor's in ``Monitoring.combine``), told about a
stream's notable moments and, once, its finish with the facts every other sink
reads. Span attributes and metric values come from those facts.

A stream's span is created once, when the stream ends, with ``start_time`` =
the stream's start (rule 1, which a late SESSION_START may still move), every
attribute, and the span events its notable moments queued (first token, retry,
fallback, violation, drift, network error; bounded). Every span is ended: at
the stream's terminal event, when the stream is evicted, when it has been
silent for ``idle_timeout`` seconds, or at :meth:`OpenTelemetryHandler.close`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._internal.derive import Facts
from .._internal.fold import (
    DRIFT,
    FALLBACK,
    FIRST_TOKEN,
    GAPS_SHOWN,
    NETWORK_ERROR,
    RETRY,
    VIOLATION,
    StreamState,
)
from .._internal.lifecycle import DEFAULT_IDLE_TIMEOUT, TableView
from .._internal.meta import (
    drift_score,
    drift_types,
    is_network,
    network_error,
    retry_attempt,
    retry_reason,
    token_text,
)
from .._internal.metahelpers import low_cardinality, ms_to_ns
from .._internal.safe import safe_str
from .._internal.workers import Clock
from ..config import MetricsConfig
from .config import OpenTelemetryConfig
from .facade import OpenTelemetry, _set_error, _violation_attributes
from .semconv import SemanticAttributes

__all__ = ["OpenTelemetryHandler", "create_opentelemetry_handler"]

A = SemanticAttributes
MAX_SPAN_EVENTS = 1024  # span events kept per stream (the SDK keeps 128 by default)


class _SpanView:
    """What the handler keeps per stream until its span is created at the end."""

    __slots__ = ("events", "parent")

    def __init__(self, parent: Any) -> None:
        self.parent = parent  # the context current when the stream started
        self.events: list[tuple[str, dict[str, Any], int | None]] = []


class OpenTelemetryHandler(TableView):
    """Turns observability events into one CLIENT span per stream plus GenAI metrics.

    Created by :func:`create_opentelemetry_handler` / ``Monitoring.opentelemetry``.
    Never raises into the caller. Span attributes (rule 5): ``gen_ai.request.model``
    is the model first requested, ``gen_ai.response.model`` the model that
    answered; the span is named after the requested model.

    Args:
        otel: The :class:`OpenTelemetry` integration (tracer, meter, config).
        parent_context: Parent context of every stream span.
        idle_timeout: Seconds of silence after which a stream's span is ended
            as ``abandoned`` (default 300; 0 or None: never).
    """

    def __init__(
        self,
        otel: OpenTelemetry,
        parent_context: Any = None,
        *,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        _clock: Clock | None = None,
    ) -> None:
        self.otel = otel
        config = self._config = otel.config
        self._parent = parent_context
        self._content = config.record_token_content
        self._chunks = config.record_chunk_timing
        self._violation_events = config.record_guardrail_violations
        self.wants_tokens = config.trace_tokens
        self.abandoned = 0
        self.events_dropped = 0
        # Precomputed for the span of every stream.
        self._span_base: dict[str, Any] = {
            **otel._base_attributes,
            A.GEN_AI_REQUEST_STREAM: True,
            A.GEN_AI_OPERATION_NAME: config.operation_name,
        }
        self._provider_key = otel._provider_key()
        self._provider_default = config.provider_name
        self._latest = otel._latest
        # Without an explicit parent, a stream's span is a child of the span
        # current when the stream started (captured once, in on_start).
        self._current_context = otel._current_context if parent_context is None else None
        self._own_table(
            MetricsConfig(inter_token_latency=self._chunks),
            max_in_flight=config.max_streams,
            idle_timeout=idle_timeout,
            clock=_clock,
        )

    # ------------------------------------------------------------------ the listener

    def _event(self, st: StreamState, name: str, attributes: dict[str, Any], ts: float) -> None:
        """Queue a span event; the span is created with them when the stream ends.

        The span starts at the stream's start (rule 1), which a later
        SESSION_START may still move, so it is created at the end, once.
        """
        view = self.view(st)
        if view is None:
            view = _SpanView(None)
            self.set_view(st, view)
        events = view.events
        if len(events) < MAX_SPAN_EVENTS:
            events.append((name, attributes, ms_to_ns(ts)))
        else:
            self.events_dropped += 1

    def on_start(self, st: StreamState, ts: float) -> None:
        """Capture the context current at the stream's start: its span's parent."""
        current = self._current_context
        if current is not None:
            self.set_view(st, _SpanView(current()))

    def on_moment(self, moment: int, st: StreamState, ts: float, meta: Mapping[str, Any]) -> None:
        """Add a span event for a notable moment (first token, retry, violation, ...)."""
        # Each collect_* flag switches its section off here too (README "collect
        # flags"): timing -> first token; retries -> retry and network-error events.
        metrics = self._table.metrics
        if moment == FIRST_TOKEN:
            # Its TTFT attribute is set from the facts at the end (rule 1: the
            # start may still move).
            if metrics.collect_timing:
                self._event(st, "l0.first_token", {}, ts)
        elif moment == RETRY:
            if not metrics.collect_retries:
                return
            network = is_network(meta)  # rule 3, the fold's own reading
            self._event(
                st,
                "l0.retry",
                {
                    "l0.retry.attempt": retry_attempt(meta),
                    "l0.retry.reason": retry_reason(meta) or "",
                    "l0.retry.kind": "network" if network else "model",
                },
                ts,
            )
        elif moment == FALLBACK:
            self._event(st, "l0.fallback", {A.LLM_RESPONSE_MODEL: st.model or ""}, ts)
        elif moment == VIOLATION:
            if not metrics.collect_guardrails:
                return
            for v in st.fresh_violations or ():
                attrs = _violation_attributes(v)
                self.otel._count("violations", attrs)
                if self._violation_events:
                    self._event(
                        st,
                        "l0.guardrail_violation",
                        {**attrs, "l0.guardrail.message": safe_str(v.get("message"), 500)},
                        ts,
                    )
        elif moment == DRIFT:
            drift: dict[str, Any] = {"l0.drift.types": ",".join(sorted(drift_types(meta)))[:200]}
            score = drift_score(meta)
            if score is not None:
                drift["l0.drift.score"] = score
            self._event(st, "l0.drift", drift, ts)
        elif moment == NETWORK_ERROR:
            if not metrics.collect_retries:
                return
            _, error_type, retryable = network_error(meta)
            self._event(
                st,
                "l0.network_error",
                {
                    "l0.network.error_type": low_cardinality(error_type),
                    "l0.network.retryable": retryable,
                },
                ts,
            )

    def on_token(self, st: StreamState, ts: float, meta: Mapping[str, Any]) -> None:
        """One span event per token (only with ``trace_tokens``); text only with consent.

        None with ``collect_tokens`` off.
        """
        if not self._table.metrics.collect_tokens:
            return
        attrs: dict[str, Any] = {"l0.token.index": st.tokens - 1}
        if self._content:
            text = token_text(meta)
            if text is not None:
                attrs["l0.token.content"] = text
        self._event(st, "l0.token", attrs, ts)

    def on_finish(self, st: StreamState, facts: Facts) -> None:
        """End the stream's span with the facts as attributes; record its metrics."""
        f = facts
        outcome = f.outcome
        if st.abandoned:
            self.abandoned += 1
        view = self.view(st)
        events = view.events if view is not None else None
        parent = self._parent if view is None or view.parent is None else view.parent
        attrs: dict[str, Any] = self._span_base.copy()
        attrs[A.L0_STREAM_COMPLETED] = outcome == "completed"
        attrs[A.L0_OUTCOME] = outcome
        attrs[A.L0_RETRY_COUNT] = f.retries_model + f.retries_network
        attrs[A.L0_NETWORK_ERROR_COUNT] = f.retries_network
        attrs[A.L0_GUARDRAIL_VIOLATION_COUNT] = f.violation_count
        attrs[A.L0_DRIFT_DETECTED] = f.drift_detected
        request_model = f.request_model
        if request_model:
            attrs[A.LLM_REQUEST_MODEL] = request_model
        if f.model:
            attrs[A.LLM_RESPONSE_MODEL] = f.model
        provider = f.provider or self._provider_default
        if provider:
            attrs[self._provider_key] = provider
        if f.session_id:
            attrs[A.L0_SESSION_ID] = f.session_id
        tokens = f.tokens
        if tokens:
            attrs[A.LLM_USAGE_OUTPUT_TOKENS] = tokens
        ttft = f.ttft
        if ttft is not None:
            attrs[A.L0_TIME_TO_FIRST_TOKEN] = ttft * 1000.0
            if self._latest:
                attrs[A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttft
        if f.tokens_per_second is not None:
            attrs[A.L0_TOKENS_PER_SECOND] = f.tokens_per_second
        error_type = f.error_type
        # One start_span with every attribute, at the stream's start (rule 1).
        span = self.otel._start_client_span(
            self.otel.span_name(request_model), attrs, ms_to_ns(f.start_ms), parent
        )
        if events:
            for name, event_attrs, at in events:
                if name == "l0.first_token" and ttft is not None:
                    event_attrs[A.L0_TIME_TO_FIRST_TOKEN] = ttft * 1000.0
                span.add_event(name, event_attrs, timestamp=at)
        if error_type is not None:
            _set_error(span, error_type, None)
        span.end(end_time=ms_to_ns(f.span_end_ms))  # never before its start
        if self.otel._instruments is not None:
            gaps = None
            if self._chunks:
                raw = st.gaps_shown if st.gaps_shown is not None else st.gaps
                gaps = [g / 1000.0 for g in raw[:GAPS_SHOWN] if g >= 0] if raw else None
            self.otel._record_metrics(
                model=request_model, provider=f.provider, error_type=error_type,
                outcome=outcome, duration=f.duration, ttft=ttft, tokens=tokens or None,
                retries_network=f.retries_network, retries_model=f.retries_model, gaps=gaps,
            )  # fmt: skip

    # ------------------------------------------------------------------ lifecycle

    def flush(self, timeout: float = 5.0) -> bool:
        """Record the queued histogram values into the meter now.

        Spans go to the tracer's processors when each stream ends; histogram
        values wait for the meter's next collection, which also records them.

        Args:
            timeout: Unused (recording is in-process); kept for a uniform signature.

        Returns:
            Always True.
        """
        self.otel.flush_metrics()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """End every span still open, at its last event, as ``abandoned``; flush metrics.

        On a shared table (``Monitoring.combine``) this ends this handler's
        spans only and detaches it: the Monitor keeps its in-flight streams
        (and the other handlers their views); the closed handler ignores
        further events.
        """
        self._close_view()
        self.flush(timeout)

    def stats(self) -> dict[str, int]:
        """Counters: open_streams, abandoned (ended by close, eviction or idle), metrics_pending.

        ``metrics_pending`` is the number of histogram values waiting for the
        meter's next collection (bounded; see :meth:`flush`).
        """
        inst = self.otel._instruments
        return {
            "open_streams": self._table.in_flight(),
            "abandoned": self.abandoned,
            "metrics_pending": inst.pending_values if inst is not None else 0,
        }

    @property
    def open_streams(self) -> int:
        """Streams in flight (a stream's span starts at its first span event or its end)."""
        return self._table.in_flight()


def create_opentelemetry_handler(
    tracer: Any = None,
    meter: Any = None,
    config: OpenTelemetryConfig | None = None,
    *,
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
) -> OpenTelemetryHandler:
    """Create the OpenTelemetry event handler for ``l0.run(on_event=...)``.

    Args:
        tracer: An OpenTelemetry tracer (None: no spans).
        meter: An OpenTelemetry meter (None: no metrics).
        config: Options.
        idle_timeout: Seconds of silence after which a stream's span is ended
            as abandoned (default 300; 0 or None: never).

    Returns:
        The handler (callable, with ``close()``).
    """
    return OpenTelemetryHandler(OpenTelemetry(tracer, meter, config), idle_timeout=idle_timeout)
