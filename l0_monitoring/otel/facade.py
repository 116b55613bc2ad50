"""The :class:`OpenTelemetry` facade: spans and GenAI metrics from records, tracing helpers.

``opentelemetry`` is imported lazily (extra ``otel``): this module imports
without it and raises an ImportError naming ``pip install 'l0-monitoring[otel]'``
only when a tracer, meter or exporter is actually needed.

Semantic conventions: span ``{gen_ai.operation.name} {gen_ai.request.model}``,
kind CLIENT; GenAI metric names, units and bucket advice (see ``semconv``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._internal.contract import category_of
from .._internal.metahelpers import low_cardinality
from .._internal.optional import require
from ..telemetry import Telemetry
from .config import OpenTelemetryConfig
from .metrics import _MAX_SERIES, _Instruments
from .semconv import SemanticAttributes, latest_semconv

if TYPE_CHECKING:
    from .handler import OpenTelemetryHandler

__all__ = ["NoOpSpan", "OpenTelemetry", "with_opentelemetry"]

A = SemanticAttributes


_TRACE: Any = None


def _otel_trace() -> Any:
    global _TRACE  # noqa: PLW0603  # cache the lazily imported module
    if _TRACE is None:
        _TRACE = require("opentelemetry.trace", "otel")
    return _TRACE


class NoOpSpan:
    """A span that records nothing, returned when no tracer is configured."""

    def span_context(self) -> dict[str, Any]:
        """An empty span context."""
        return {"trace_id": "", "span_id": "", "trace_flags": 0}

    def set_attribute(self, key: str, value: Any) -> NoOpSpan:
        """Ignore the attribute."""
        return self

    def set_attributes(self, attributes: Mapping[str, Any]) -> NoOpSpan:
        """Ignore the attributes."""
        return self

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> NoOpSpan:
        """Ignore the event."""
        return self

    def set_status(self, status: Any, description: str | None = None) -> NoOpSpan:
        """Ignore the status."""
        return self

    def update_name(self, name: str) -> NoOpSpan:
        """Ignore the new name."""
        return self

    def record_exception(self, exception: BaseException, **kwargs: Any) -> None:
        """Ignore the exception."""

    def end(self, end_time: int | None = None) -> None:
        """Nothing to end."""

    def is_recording(self) -> bool:
        """Always False."""
        return False


class OpenTelemetry:
    """OpenTelemetry integration: spans and metrics for L0 streams.

    Args:
        tracer: An OpenTelemetry tracer (None: spans are :class:`NoOpSpan`).
        meter: An OpenTelemetry meter (None: no metrics).
        config: Options.
    """

    def __init__(
        self, tracer: Any = None, meter: Any = None, config: OpenTelemetryConfig | None = None
    ) -> None:
        self._tracer = tracer
        self._meter = meter
        self.config = config or OpenTelemetryConfig()
        self._instruments = _Instruments(meter) if meter is not None else None
        self._client_kind = _otel_trace().SpanKind.CLIENT if tracer is not None else None
        self._attribute_sets: dict[tuple[str | None, str | None, str | None, str], _AttrSet] = {}
        self._latest = latest_semconv()
        # The context current when a stream starts parents its span (None: no tracer).
        self._current_context: Callable[[], Any] | None = (
            require("opentelemetry.context", "otel").get_current if tracer is not None else None
        )
        self._base_attributes: dict[str, Any] = {
            **self.config.default_attributes,
            A.L0_SERVICE_NAME: self.config.service_name,
        }

    # -- attributes ---------------------------------------------------------------

    def _provider_key(self) -> str:
        return A.GEN_AI_PROVIDER_NAME if self._latest else A.LLM_SYSTEM

    def _metric_attributes(self, model: str | None, provider: str | None) -> dict[str, Any]:
        attrs: dict[str, Any] = {A.GEN_AI_OPERATION_NAME: self.config.operation_name}
        if model:
            attrs[A.LLM_REQUEST_MODEL] = model
        provider = provider or self.config.provider_name
        if provider:
            attrs[self._provider_key()] = provider
        return attrs

    def span_name(self, model: str | None) -> str:
        """``{operation} {model}``, or just the operation while the model is unknown."""
        op = self.config.operation_name
        return f"{op} {model}" if model else op

    def create_span(
        self, name: str, attributes: Mapping[str, Any] | None = None, *,
        start_time: int | None = None, context: Any = None,
    ) -> Any:  # fmt: skip
        """Start a CLIENT span with the default attributes (a :class:`NoOpSpan` without tracer).

        Args:
            name: Span name.
            attributes: Extra attributes.
            start_time: Epoch nanoseconds (default: now).
            context: Parent context.

        Returns:
            The started span; the caller ends it.
        """
        return self._start_client_span(
            name, {**self._base_attributes, **(attributes or {})}, start_time, context
        )

    def _start_client_span(
        self, name: str, attributes: dict[str, Any], start_time: int | None, context: Any
    ) -> Any:
        """Start a CLIENT span with exactly ``attributes`` (the defaults already merged)."""
        if self._tracer is None:
            return NoOpSpan()
        return self._tracer.start_span(
            name,
            context=context,
            kind=self._client_kind,
            attributes=attributes,
            start_time=start_time,
        )

    def flush_metrics(self) -> int:
        """Record the queued histogram values into the meter now (never raises).

        Histogram values are queued (bounded) and recorded when the meter
        collects; call this before reading a meter that is not collected by
        an SDK reader.

        Returns:
            How many values were recorded.
        """
        return self._instruments.drain() if self._instruments is not None else 0

    async def trace_stream(
        self, name: str, fn: Callable[[Any], Awaitable[Any]],
        attributes: Mapping[str, Any] | None = None,
    ) -> Any:  # fmt: skip
        """Run ``await fn(span)`` inside a span; errors set status ERROR and re-raise.

        Returns:
            What ``fn`` returned.
        """
        span = self.create_span(name, attributes)
        token = _attach(span)  # current inside: the provider's client spans nest under it
        try:
            result = await fn(span)
        except BaseException as exc:
            _set_error(span, type(exc).__name__, exc)
            raise
        finally:
            _detach(token)
            span.end()
        return result

    def record_telemetry(self, telemetry: Telemetry, span: Any = None) -> None:
        """Set span attributes and record metrics from a finished record.

        Args:
            telemetry: A finished record.
            span: A span to annotate (and leave open); None records metrics only.
        """
        t = telemetry
        error_type = (
            _error_type_of(t.error.code, t.error.category) if t.outcome == "failed" else None
        )
        if span is not None:
            span.set_attributes(self._record_attributes(t))
            if error_type:
                _set_error(span, error_type, None)
        ttft = t.metrics.time_to_first_token
        self._record_metrics(
            model=t.model, provider=_provider_of(t), error_type=error_type, outcome=t.outcome,
            duration=t.timing.duration, ttft=ttft,
            tokens=t.metrics.token_count if t.metrics.token_count else None,
            retries_network=t.retries.network_retries, retries_model=t.retries.model_retries,
            gaps=t.timing.inter_token_latencies if self.config.record_chunk_timing else None,
        )  # fmt: skip
        for v in t.guardrails.violations:
            self._count("violations", _violation_attributes(v))

    def _record_attributes(self, t: Telemetry) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            A.GEN_AI_OPERATION_NAME: self.config.operation_name,
            A.GEN_AI_REQUEST_STREAM: True,
            A.L0_STREAM_COMPLETED: t.completed,
            A.L0_RETRY_COUNT: t.retries.total_retries,
            A.L0_NETWORK_ERROR_COUNT: t.retries.network_retries,
            A.L0_GUARDRAIL_VIOLATION_COUNT: t.guardrails.total,
            A.L0_DRIFT_DETECTED: t.drift.detected,  # drift only: a guardrail failure is not drift
            A.L0_OUTCOME: t.outcome,
        }
        if t.model:
            attrs[A.LLM_REQUEST_MODEL] = t.model
        provider = _provider_of(t) or self.config.provider_name
        if provider:
            attrs[self._provider_key()] = provider
        response_model = _response_model_of(t.metadata)
        if response_model:
            attrs[A.LLM_RESPONSE_MODEL] = response_model
        if t.session_id:
            attrs[A.L0_SESSION_ID] = t.session_id
        if t.metrics.token_count:
            attrs[A.LLM_USAGE_OUTPUT_TOKENS] = t.metrics.token_count
        if t.metrics.time_to_first_token is not None:
            attrs[A.L0_TIME_TO_FIRST_TOKEN] = t.metrics.time_to_first_token * 1000.0
            if self._latest:
                attrs[A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = t.metrics.time_to_first_token
        if t.metrics.tokens_per_second is not None:
            attrs[A.L0_TOKENS_PER_SECOND] = t.metrics.tokens_per_second
        return attrs

    def _record_metrics(
        self, *, model: str | None, provider: str | None, error_type: str | None, outcome: str,
        duration: float | None, ttft: float | None, tokens: int | None,
        retries_network: int, retries_model: int, gaps: list[float] | None,
    ) -> None:  # fmt: skip
        inst = self._instruments
        if inst is None:
            return
        key = (model, provider, error_type, outcome)
        cached = self._attribute_sets.get(key)
        if cached is None:
            cached = self._attribute_set(model, provider, error_type, outcome)
            if len(self._attribute_sets) < _MAX_SERIES:
                self._attribute_sets[key] = cached
        duration_attrs, attrs, token_attrs, base, streams_key = cached
        entries: list[tuple[Any, Any, Mapping[str, Any]]] = []
        values = 0
        if duration is not None:  # error.type goes on the operation duration only
            entries.append((inst.duration, duration, duration_attrs))
            values += 1
        if ttft is not None and self._latest:
            entries.append((inst.ttfc, ttft, attrs))
            values += 1
        if tokens is not None:
            entries.append((inst.tokens, tokens, token_attrs))
            values += 1
        if gaps and self._latest:
            entries.append((inst.tpoc, gaps, attrs))
            values += len(gaps)
        inst.finish_stream(entries, values, streams_key)
        if retries_network:
            inst.count("retries", {**base, "l0.retry.kind": "network"}, retries_network)
        if retries_model:
            inst.count("retries", {**base, "l0.retry.kind": "model"}, retries_model)

    def _attribute_set(
        self, model: str | None, provider: str | None, error_type: str | None, outcome: str
    ) -> _AttrSet:
        """Metric attributes of one (model, provider, error type, outcome); never mutated.

        Returns:
            (operation duration attributes, with ``error.type`` when it failed;
            attributes of the other GenAI histograms; token usage attributes;
            the base of the l0 counters; the ``l0.streams`` attribute set).
        """
        attrs = self._metric_attributes(model, provider)
        duration = {**attrs, A.ERROR_TYPE: error_type} if error_type else attrs
        base = {A.GEN_AI_OPERATION_NAME: self.config.operation_name}
        if model:
            base[A.LLM_REQUEST_MODEL] = model
        streams = frozenset({**base, A.L0_OUTCOME: outcome}.items())
        return duration, attrs, {**attrs, A.GEN_AI_TOKEN_TYPE: "output"}, base, streams

    def _count(self, key: str, attributes: Mapping[str, Any]) -> None:
        if self._instruments is not None:
            self._instruments.count(key, attributes)


_AttrSet = tuple[
    dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any], frozenset[tuple[str, Any]]
]


def _text_of(value: object, limit: int) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def _provider_of(t: Telemetry) -> str | None:
    """gen_ai.provider.name of a record: its ``metadata['provider']`` (the stream's context)."""
    return _text_of(t.metadata.get("provider"), 100)


def _response_model_of(meta: Mapping[str, Any]) -> str | None:
    """The answering model, when the stream's meta or context names it."""
    value = meta.get("response_model")  # never truth-tested: it may be any object
    if not isinstance(value, str) or not value.strip():
        value = meta.get("responseModel")
    return _text_of(value, 200)


def _attach(span: Any) -> Any:
    """Make ``span`` the current span (a token for :func:`_detach`); None for a NoOpSpan."""
    if isinstance(span, NoOpSpan):
        return None
    from opentelemetry import context

    return context.attach(_otel_trace().set_span_in_context(span))


def _detach(token: Any) -> None:
    if token is not None:
        from opentelemetry import context

        context.detach(token)


def _violation_attributes(v: Mapping[str, Any]) -> dict[str, str]:
    return {
        "l0.guardrail.rule": low_cardinality(v.get("rule")),
        "l0.guardrail.severity": low_cardinality(v.get("severity"), 16),
    }


def _error_type_of(code: object, category: object) -> str:
    # error.type must be low-cardinality: a code or a category, never a message;
    # with neither, the one "unknown" category of every sink (derive.category_of).
    if code:
        return low_cardinality(code)
    return low_cardinality(category_of(category or None))  # type: ignore[arg-type]


def _set_error(span: Any, error_type: str, exc: BaseException | None) -> None:
    try:
        trace = _otel_trace()
        span.set_attribute(A.ERROR_TYPE, error_type)
        span.set_status(trace.Status(trace.StatusCode.ERROR, error_type))
        if exc is not None:
            span.record_exception(exc)
    except ImportError:  # a NoOpSpan without opentelemetry installed
        pass


class _TracedContext:
    """What ``with_opentelemetry(...)`` returns without ``fn``: a sync/async context manager."""

    def __init__(self, otel: OpenTelemetry, name: str) -> None:
        self.otel = otel
        self.name = name
        self.span: Any = None
        self.on_event: OpenTelemetryHandler | None = None
        self._token: Any = None

    def _enter(self) -> _TracedContext:
        from .handler import OpenTelemetryHandler  # the handler module imports this one

        self.span = self.otel.create_span(self.name)
        parent = None
        if not isinstance(self.span, NoOpSpan):
            parent = _otel_trace().set_span_in_context(self.span)
        # Streams handled inside become child spans of this one, and the span is
        # current in the block, so the provider's own client spans nest under it.
        self.on_event = OpenTelemetryHandler(self.otel, parent_context=parent)
        self._token = _attach(self.span)
        return self

    def _exit(self, exc: BaseException | None) -> None:
        assert self.on_event is not None
        _detach(self._token)
        self._token = None
        self.on_event.close()
        if exc is not None:
            _set_error(self.span, type(exc).__name__, exc)
        self.span.end()

    def __enter__(self) -> _TracedContext:
        return self._enter()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._exit(exc)

    async def __aenter__(self) -> _TracedContext:
        return self._enter()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self._exit(exc)


def with_opentelemetry(
    tracer: Any = None, meter: Any = None, fn: Callable[[Any], Awaitable[Any]] | None = None,
    *, name: str = "l0.stream", config: OpenTelemetryConfig | None = None,
) -> Any:  # fmt: skip
    """Trace a stream: a context manager (sync or async), or L0's awaitable call form.

    ``with with_opentelemetry(tracer=t, meter=m, name="chat") as traced:`` starts a
    span; pass ``traced.on_event`` to ``l0.run`` so each stream becomes a child
    span; the span ends (status ERROR on an exception) when the block exits.
    ``await with_opentelemetry(tracer, meter, fn, name=...)`` runs ``fn(span)``
    inside the span, as L0's function does.

    Returns:
        A context manager, or (with ``fn``) an awaitable of ``fn``'s result.
    """
    otel = OpenTelemetry(tracer, meter, config)
    if fn is not None:
        return otel.trace_stream(name, fn)
    return _TracedContext(otel, name)
