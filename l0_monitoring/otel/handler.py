"""The OpenTelemetry event handler: one CLIENT span per stream plus GenAI metrics."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._internal.guard import ErrorReporter
from .._internal.metahelpers import (
    is_network,
    low_cardinality,
    meta_get,
    ms_to_ns,
    violations_of,
)
from .._internal.recent import RecentIds
from .._internal.safe import safe_str
from .config import OpenTelemetryConfig
from .facade import OpenTelemetry, _error_type_of, _set_error, _violation_attributes
from .semconv import SemanticAttributes

__all__ = ["OpenTelemetryHandler", "create_opentelemetry_handler"]

_errors = ErrorReporter()
A = SemanticAttributes

MAX_CHUNK_GAPS = 4096
_RECENT_FINISHED = 4096  # ended stream ids remembered, so late events open no new span


# -- per-stream state --------------------------------------------------------------


class _Stream:
    __slots__ = (
        "drift",
        "error_type",
        "first_token_ms",
        "gaps",
        "last_ms",
        "last_token_ms",
        "model",
        "network_errors",
        "provider",
        "retries_model",
        "retries_network",
        "session_id",
        "span",
        "span_model",
        "start_ms",
        "token_count",
        "tokens",
        "violations",
    )

    def __init__(self, start_ms: float) -> None:
        self.span: Any = None  # started when first needed (OpenTelemetryHandler._span)
        self.span_model: str | None = None  # the model in the span's name
        self.start_ms = start_ms
        self.last_ms = start_ms
        self.first_token_ms: float | None = None
        self.last_token_ms: float | None = None
        self.tokens = 0
        self.token_count: int | None = None
        self.gaps: list[float] | None = None
        self.model: str | None = None
        self.provider: str | None = None
        self.session_id: str | None = None
        self.retries_model = 0
        self.retries_network = 0
        self.network_errors = 0
        self.violations = 0
        self.drift = False
        self.error_type: str | None = None


# -- the event handler --------------------------------------------------------------


class OpenTelemetryHandler:
    """Turns observability events into one CLIENT span per stream plus GenAI metrics.

    Created by :func:`create_opentelemetry_handler` / ``Monitoring.opentelemetry``.
    Never raises into the caller. ``close()`` ends every span still open (marked
    ``l0.outcome=abandoned``); past ``config.max_streams`` open spans the oldest
    is ended the same way.
    """

    def __init__(self, otel: OpenTelemetry, parent_context: Any = None) -> None:
        self.otel = otel
        self._config = otel.config
        self._streams: dict[str, _Stream] = {}
        self._recent = RecentIds(_RECENT_FINISHED)
        self._lock = threading.Lock()
        self._parent = parent_context
        self._trace_tokens = self._config.trace_tokens
        self._content = self._config.record_token_content
        self._chunks = self._config.record_chunk_timing
        self.abandoned = 0
        # Precomputed for the span of every stream.
        self._span_base: dict[str, Any] = {
            **otel._base_attributes,
            A.GEN_AI_REQUEST_STREAM: True,
            A.GEN_AI_OPERATION_NAME: self._config.operation_name,
        }
        self._provider_key = otel._provider_key()
        self._provider_default = self._config.provider_name
        self._max_streams = self._config.max_streams

    def __call__(self, event: Any) -> None:
        """Handle one event (never raises)."""
        try:
            st = self._streams.get(event.stream_id)
            if st is None:
                st = self._start(event)
                if st is None:
                    return
            t = event.type
            if t == "TOKEN":
                ts = event.ts
                st.last_ms = ts
                st.tokens += 1
                last = st.last_token_ms
                if last is None:
                    if st.first_token_ms is None:
                        self._first_token(st, ts)
                elif self._chunks:
                    gaps = st.gaps
                    if gaps is None:
                        st.gaps = [ts - last]
                    elif len(gaps) < MAX_CHUNK_GAPS:
                        gaps.append(ts - last)
                st.last_token_ms = ts
                if self._trace_tokens:
                    self._token_event(st, event)
                return
            fold = _FOLDS_GET(t)
            st.last_ms = event.ts
            if fold is not None:
                meta = event.meta
                if meta.__class__ is not dict and not isinstance(meta, Mapping):
                    meta = {}
                fold(self, st, event, meta)
        except Exception as exc:
            _errors.report("otel.handler", "l0_monitoring: OpenTelemetry handler failed", exc)

    def _start(self, event: Any) -> _Stream | None:
        sid = event.stream_id
        if not isinstance(sid, str):
            return None
        if sid in self._recent.ids and event.type != "SESSION_START":
            return None  # a late event (e.g. RETRY_GIVE_UP after a halt): span already ended
        ts = event.ts
        if ts.__class__ is not float and not isinstance(ts, int | float):
            ts = time.time() * 1000
        ctx = event.context
        if ctx.__class__ is not dict and not isinstance(ctx, Mapping):
            ctx = {}
        meta = event.meta
        if meta.__class__ is not dict and not isinstance(meta, Mapping):
            meta = {}
        model = meta.get("model") or ctx.get("model")
        st = _Stream(ts)
        if model:
            st.model = safe_str(model, 200)
        provider = meta.get("provider") or ctx.get("provider")
        if provider:
            st.provider = safe_str(provider, 100)
        evicted: _Stream | None = None
        with self._lock:
            if len(self._streams) >= self._max_streams:
                evicted = self._streams.pop(next(iter(self._streams)))
            self._streams[sid] = st
        if evicted is not None:
            self._end(evicted, evicted.last_ms, outcome="abandoned", error_type=None)
        return st

    def _span(self, st: _Stream, attributes: Mapping[str, Any] | None = None) -> Any:
        """The stream's span, started (at the stream's start) when first needed.

        A stream's span is created at its first span event or at its end, with
        ``start_time`` = the stream's first event: the SDK work of a span that
        needs no events is then one ``start_span`` with every attribute, and a
        span can never be left open by a stream that goes silent.
        """
        span = st.span
        if span is None:
            attrs = self._span_base.copy()
            if attributes:
                attrs.update(attributes)
            span = st.span = self._start_span(st, attrs)
        elif attributes:
            span.set_attributes(attributes)
        return span

    def _start_span(self, st: _Stream, attributes: dict[str, Any]) -> Any:
        """Start the stream's CLIENT span at its first event, with ``attributes``."""
        st.span_model = st.model
        return self.otel._start_client_span(
            self.otel.span_name(st.model), attributes, ms_to_ns(st.start_ms), self._parent
        )

    def _first_token(self, st: _Stream, ts: float) -> None:
        st.first_token_ms = ts
        ttft_s = max(0.0, (ts - st.start_ms) / 1000.0)
        self._span(st).add_event(
            "l0.first_token", {A.L0_TIME_TO_FIRST_TOKEN: ttft_s * 1000.0}, timestamp=ms_to_ns(ts)
        )

    def _token_event(self, st: _Stream, event: Any) -> None:
        attrs: dict[str, Any] = {"l0.token.index": st.tokens - 1}
        if self._content:
            meta = event.meta
            text = meta.get("token") or meta.get("text") or meta.get("content")
            if isinstance(text, str):
                attrs["l0.token.content"] = text
        self._span(st).add_event("l0.token", attrs, timestamp=ms_to_ns(event.ts))

    def _finish(self, st: _Stream, event: Any, outcome: str, error_type: str | None) -> None:
        with self._lock:
            if self._streams.pop(event.stream_id, None) is None:
                return
            self._recent.add(event.stream_id)
        self._end(st, event.ts, outcome=outcome, error_type=error_type)

    def _end(self, st: _Stream, end_ms: float, *, outcome: str, error_type: str | None) -> None:
        if outcome == "abandoned":
            self.abandoned += 1
        duration = (end_ms - st.start_ms) / 1000.0 if end_ms >= st.start_ms else None
        ttft = None
        if st.first_token_ms is not None and st.first_token_ms >= st.start_ms:
            ttft = (st.first_token_ms - st.start_ms) / 1000.0
        tokens = st.token_count if st.token_count is not None else (st.tokens or None)
        span = st.span
        # A span not started yet gets every attribute in one start_span call.
        attrs: dict[str, Any] = self._span_base.copy() if span is None else {}
        attrs[A.L0_STREAM_COMPLETED] = outcome == "completed"
        attrs[A.L0_OUTCOME] = outcome
        attrs[A.L0_RETRY_COUNT] = st.retries_model + st.retries_network
        attrs[A.L0_NETWORK_ERROR_COUNT] = st.network_errors
        attrs[A.L0_GUARDRAIL_VIOLATION_COUNT] = st.violations
        attrs[A.L0_DRIFT_DETECTED] = st.drift
        if st.model:
            attrs[A.LLM_REQUEST_MODEL] = st.model
        provider = st.provider or self._provider_default
        if provider:
            attrs[self._provider_key] = provider
        if st.session_id:
            attrs[A.L0_SESSION_ID] = st.session_id
        if tokens:
            attrs[A.LLM_USAGE_OUTPUT_TOKENS] = tokens
        if ttft is not None:
            attrs[A.L0_TIME_TO_FIRST_TOKEN] = ttft * 1000.0
            attrs[A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttft
            if tokens and duration is not None and duration > ttft:
                attrs[A.L0_TOKENS_PER_SECOND] = tokens / (duration - ttft)
        elif tokens and duration:
            attrs[A.L0_TOKENS_PER_SECOND] = tokens / duration
        if span is None:
            span = st.span = self._start_span(st, attrs)
        else:
            span.set_attributes(attrs)
            if st.span_model != st.model:
                span.update_name(self.otel.span_name(st.model))
        if error_type is not None:
            _set_error(span, error_type, None)
        span.end(end_time=ms_to_ns(end_ms))
        if self.otel._instruments is not None:
            self.otel._record_metrics(
                model=st.model, provider=st.provider, error_type=error_type, outcome=outcome,
                duration=duration, ttft=ttft, tokens=tokens,
                retries_network=st.retries_network, retries_model=st.retries_model,
                gaps=[g / 1000.0 for g in st.gaps if 0 <= g < math.inf] if st.gaps else None,
            )  # fmt: skip

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
        """End every span still open, at its last event, as ``abandoned``; flush metrics."""
        with self._lock:
            pending = list(self._streams.values())
            self._streams.clear()
        for st in pending:
            try:
                self._end(st, st.last_ms, outcome="abandoned", error_type=None)
            except Exception as exc:
                _errors.report("otel.close", "l0_monitoring: ending a span failed", exc)
        self.flush(timeout)

    def stats(self) -> dict[str, int]:
        """Counters: open_streams, abandoned (ended by close() or eviction), metrics_pending.

        ``metrics_pending`` is the number of histogram values waiting for the
        meter's next collection (bounded; see :meth:`flush`).
        """
        inst = self.otel._instruments
        return {
            "open_streams": len(self._streams),
            "abandoned": self.abandoned,
            "metrics_pending": inst.pending_values if inst is not None else 0,
        }

    @property
    def open_streams(self) -> int:
        """Streams in flight (a stream's span starts at its first span event or its end)."""
        return len(self._streams)


# Folds: (handler, state, event, meta) for the lifecycle events the handler uses.


def _f_session_start(
    h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]
) -> None:
    if not meta:
        return
    session = meta_get(meta, "sessionId", "session_id")
    if session is not None:
        st.session_id = safe_str(session, 200)
    model = meta.get("model")
    if model:
        st.model = safe_str(model, 200)


def _f_attempt(h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]) -> None:
    st.tokens = 0
    st.last_token_ms = None
    model = meta.get("model")
    if model:
        st.model = safe_str(model, 200)


def _f_timeout_reset(
    h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]
) -> None:
    if st.first_token_ms is None and meta_get(meta, "timeoutType", "timeout_type") == "inter":
        h._first_token(st, event.ts)


def _f_retry(h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]) -> None:
    network = is_network(meta)
    if network:
        st.retries_network += 1
    else:
        st.retries_model += 1
    st.tokens = 0
    st.last_token_ms = None
    reason = meta.get("reason") or meta.get("error")
    h._span(st).add_event(
        "l0.retry",
        {
            "l0.retry.attempt": int(meta.get("attempt") or 0)
            if isinstance(meta.get("attempt"), int) else 0,
            "l0.retry.reason": safe_str(reason, 500) if reason is not None else "",
            "l0.retry.kind": "network" if network else "model",
        },
        timestamp=ms_to_ns(event.ts),
    )  # fmt: skip


def _f_network_error(
    h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]
) -> None:
    st.network_errors += 1
    h._span(st).add_event(
        "l0.network_error",
        {
            "l0.network.error_type": low_cardinality(meta.get("code") or "unknown"),
            "l0.network.retryable": meta.get("retryable") is True,
        },
        timestamp=ms_to_ns(event.ts),
    )


def _f_rule_result(
    h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]
) -> None:
    if meta.get("violation") is None and not meta.get("violations"):
        return  # the rule passed
    found = violations_of(meta)
    if not found:
        return
    st.violations += len(found)
    for v in found:
        attrs = _violation_attributes(v)
        h.otel._count("violations", attrs)
        if h._config.record_guardrail_violations:
            h._span(st).add_event(
                "l0.guardrail_violation",
                {**attrs, "l0.guardrail.message": safe_str(v.get("message"), 500)},
                timestamp=ms_to_ns(event.ts),
            )


def _f_drift(h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]) -> None:
    if meta.get("detected") is not True:
        return
    st.drift = True
    metrics = meta.get("metrics")
    types = sorted(str(k) for k, v in metrics.items() if v is True) if isinstance(
        metrics, Mapping) else []  # fmt: skip
    score = meta.get("score")
    attrs: dict[str, Any] = {"l0.drift.types": ",".join(types)[:200]}
    if isinstance(score, int | float) and not isinstance(score, bool):
        attrs["l0.drift.score"] = float(score)
    h._span(st).add_event("l0.drift", attrs, timestamp=ms_to_ns(event.ts))


def _f_error(h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]) -> None:
    code = meta_get(meta, "errorCode", "code")
    category = meta_get(meta, "failureType", "category")
    st.error_type = _error_type_of(code, category)
    strategy = meta_get(meta, "recoveryStrategy", "recovery_strategy")
    if strategy is not None and safe_str(strategy, 16).lower() == "halt":
        h._finish(st, event, "failed", st.error_type)


def _f_complete(h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]) -> None:
    count = meta_get(meta, "tokenCount", "token_count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        st.token_count = count
    outcome = "completed" if event.type == "COMPLETE" else "aborted"
    h._finish(st, event, outcome, None)


def _f_give_up(h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]) -> None:
    h._finish(st, event, "failed", st.error_type or "retry_give_up")


def _f_session_end(
    h: OpenTelemetryHandler, st: _Stream, event: Any, meta: Mapping[str, Any]
) -> None:
    if st.error_type:
        h._finish(st, event, "failed", st.error_type)
    else:
        h._finish(st, event, "completed", None)


_Fold = Callable[[OpenTelemetryHandler, _Stream, Any, Mapping[str, Any]], None]
_FOLDS: dict[str, _Fold] = {
    "SESSION_START": _f_session_start,
    "ATTEMPT_START": _f_attempt,
    "FALLBACK_START": _f_attempt,
    "STREAM_INIT": _f_session_start,
    "TIMEOUT_RESET": _f_timeout_reset,
    "RETRY_ATTEMPT": _f_retry,
    "NETWORK_ERROR": _f_network_error,
    "GUARDRAIL_RULE_RESULT": _f_rule_result,
    "DRIFT_CHECK_RESULT": _f_drift,
    "ERROR": _f_error,
    "COMPLETE": _f_complete,
    "ABORT_COMPLETED": _f_complete,
    "RETRY_GIVE_UP": _f_give_up,
    "SESSION_END": _f_session_end,
}
_FOLDS_GET = _FOLDS.get


def create_opentelemetry_handler(
    tracer: Any = None, meter: Any = None, config: OpenTelemetryConfig | None = None
) -> OpenTelemetryHandler:
    """Create the OpenTelemetry event handler for ``l0.run(on_event=...)``.

    Args:
        tracer: An OpenTelemetry tracer (None: no spans).
        meter: An OpenTelemetry meter (None: no metrics).
        config: Options.

    Returns:
        The handler (callable, with ``close()``).
    """
    return OpenTelemetryHandler(OpenTelemetry(tracer, meter, config))
