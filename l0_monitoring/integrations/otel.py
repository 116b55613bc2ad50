"""OpenTelemetry: spans and GenAI-convention metrics from the event stream, and OTLP export.

``opentelemetry`` is imported lazily (extra ``otel``): this module imports
without it and raises an ImportError naming ``pip install 'l0-monitoring[otel]'``
only when a tracer, meter or exporter is actually needed.

Semantic conventions: span ``{gen_ai.operation.name} {gen_ai.request.model}``,
kind CLIENT; GenAI metric names, units and bucket advice. By default the older
GenAI names are emitted (``gen_ai.system`` for the provider); with
``OTEL_SEMCONV_STABILITY_OPT_IN`` containing ``gen_ai_latest_experimental`` the
latest ones (``gen_ai.provider.name``).

Metric cost: one measurement through the Python SDK costs ~10 microseconds, so
the event handler records histograms once per stream, at its terminal event,
never per token, and the counters (``l0.streams``, ``l0.retries``,
``l0.guardrail.violations``) are observable counters read from the handler's
own tallies at collection time: no SDK call per stream for them.
``gen_ai.client.operation.time_per_output_chunk`` (one measurement per chunk)
is therefore opt-in: ``record_chunk_timing=True``.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from .._internal.guard import ErrorReporter
from .._internal.recent import RecentIds
from .._internal.safe import safe_str
from ..settings import OpenTelemetryExporterConfig
from ..telemetry import Telemetry
from ._common import is_network, low_cardinality, meta_get, ms_to_ns, require, violations_of

__all__ = [
    "NoOpSpan",
    "OpenTelemetry",
    "OpenTelemetryConfig",
    "OpenTelemetryExporter",
    "OpenTelemetryHandler",
    "SemanticAttributes",
    "create_opentelemetry_handler",
    "with_opentelemetry",
]

_errors = ErrorReporter()

DURATION_BUCKETS = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
]  # fmt: skip
TOKEN_BUCKETS = [
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
]  # fmt: skip
MAX_CHUNK_GAPS = 4096
_MAX_SERIES = 1000  # attribute sets per counter; beyond, new ones are not tallied
_MAX_PENDING = 16_384  # histogram values waiting for the next metric collection
_RECENT_FINISHED = 4096  # ended stream ids remembered, so late events open no new span


_TRACE: Any = None


def _otel_trace() -> Any:
    global _TRACE  # noqa: PLW0603  # cache the lazily imported module
    if _TRACE is None:
        _TRACE = require("opentelemetry.trace", "otel")
    return _TRACE


def latest_semconv() -> bool:
    """True when ``OTEL_SEMCONV_STABILITY_OPT_IN`` opts in to the latest GenAI names."""
    opt_in = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
    return "gen_ai_latest_experimental" in {v.strip() for v in opt_in.split(",")}


class SemanticAttributes:
    """Attribute names: the spec's constants (values kept) plus the current GenAI names."""

    LLM_SYSTEM = "gen_ai.system"
    LLM_REQUEST_MODEL = "gen_ai.request.model"
    LLM_RESPONSE_MODEL = "gen_ai.response.model"
    LLM_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
    LLM_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
    LLM_REQUEST_TOP_P = "gen_ai.request.top_p"
    LLM_RESPONSE_FINISH_REASON = "gen_ai.response.finish_reasons"
    LLM_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
    LLM_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
    GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
    GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
    GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
    GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
    ERROR_TYPE = "error.type"
    L0_SESSION_ID = "l0.session_id"
    L0_STREAM_COMPLETED = "l0.stream.completed"
    L0_FALLBACK_INDEX = "l0.fallback.index"
    L0_RETRY_COUNT = "l0.retry.count"
    L0_NETWORK_ERROR_COUNT = "l0.network.error_count"
    L0_GUARDRAIL_VIOLATION_COUNT = "l0.guardrail.violation_count"
    L0_DRIFT_DETECTED = "l0.drift.detected"
    L0_TIME_TO_FIRST_TOKEN = "l0.time_to_first_token_ms"
    L0_TOKENS_PER_SECOND = "l0.tokens_per_second"
    L0_SERVICE_NAME = "l0.service_name"
    L0_OUTCOME = "l0.outcome"


A = SemanticAttributes


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


class OpenTelemetryConfig(BaseModel):
    """Options of the OpenTelemetry event handler and :class:`OpenTelemetry`."""

    model_config = ConfigDict(extra="forbid")

    service_name: str = Field(
        default="l0", description="Set on every span as l0.service_name (the handler does not "
        "own the tracer's resource)."
    )  # fmt: skip
    trace_tokens: bool = Field(default=False, description="One span event per token.")
    record_token_content: bool = Field(
        default=False, description="Put token text in token events (privacy: off by default)."
    )
    record_guardrail_violations: bool = Field(
        default=True, description="Span events for guardrail violations."
    )
    default_attributes: dict[str, Any] = Field(
        default_factory=dict, description="Attributes set on every span the handler creates."
    )
    operation_name: str = Field(default="chat", description="gen_ai.operation.name.")
    provider_name: str | None = Field(
        default=None,
        description="gen_ai.provider.name (gen_ai.system with older conventions), when not "
        "given by the events' meta or context 'provider'.",
    )
    record_chunk_timing: bool = Field(
        default=False,
        description="Record gen_ai.client.operation.time_per_output_chunk, one measurement per "
        "token gap (about 10 us each in the Python SDK), at the end of each stream.",
    )
    max_streams: int = Field(
        default=10_000, ge=1, description="Open spans at most; the oldest is ended past it."
    )


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


class _Instruments:
    """The metric instruments, created once per meter.

    Histogram measurements are not recorded on the stream's thread: ``record``
    appends them to a bounded backlog that is recorded into the SDK when the
    meter collects (our observable counters' callbacks run first in every
    collection, on the reader's thread), on ``drain()`` (handler flush/close) or,
    past ``_MAX_PENDING`` values, oldest first by the stream that overflows it.
    Nothing is dropped; the SDK's per-measurement work (~10 us each in the
    Python SDK) leaves the stream's path.
    """

    def __init__(self, meter: Any) -> None:
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )  # fmt: skip
        self.ttfc = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streaming response.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )  # fmt: skip
        self.tpoc = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk", unit="s",
            description="Time between consecutive chunks of a streaming response.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )  # fmt: skip
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )  # fmt: skip
        self.tallies: dict[str, dict[frozenset[tuple[str, Any]], int]] = {
            "retries": {}, "violations": {}, "streams": {},
        }  # fmt: skip
        self.lock = threading.Lock()
        self.pending: deque[tuple[Any, Any, Mapping[str, Any]]] = deque()
        self.pending_values = 0  # values in the backlog (an entry may hold a list)
        self.drain_lock = threading.Lock()  # one drainer at a time keeps the order
        for name, key, unit, description in (
            ("l0.retries", "retries", "{retry}", "Retries, by kind (network, model)."),
            ("l0.guardrail.violations", "violations", "{violation}",
             "Guardrail violations, by rule and severity."),
            ("l0.streams", "streams", "{stream}", "Finished streams, by outcome."),
        ):  # fmt: skip
            meter.create_observable_counter(
                name, callbacks=[self._observer(key)], unit=unit, description=description
            )

    def finish_stream(
        self,
        entries: list[tuple[Any, Any, Mapping[str, Any]]],
        values: int,
        streams_key: frozenset[tuple[str, Any]] | None,
    ) -> None:
        """Queue a finished stream's histogram values and count the stream.

        ``entries`` hold ``values`` numbers in all; ``streams_key`` is the stream's
        ``l0.streams`` attribute set. One lock for both.
        """
        with self.lock:
            self.pending.extend(entries)
            self.pending_values += values
            over = self.pending_values > _MAX_PENDING
            if streams_key is not None:
                self._tally_locked("streams", streams_key, 1)
        if over:  # no collection for a while: record the overflow now, oldest first
            self.drain(_MAX_PENDING)

    def drain(self, keep: int = 0) -> int:
        """Record queued values into the SDK until at most ``keep`` remain; never raises.

        Returns:
            How many values were recorded.
        """
        done = 0
        pending = self.pending
        lock = self.lock
        with self.drain_lock:
            while True:
                with lock:
                    if self.pending_values <= keep or not pending:
                        break
                    histogram, value, attributes = pending.popleft()
                    values = value if value.__class__ is list else (value,)
                    self.pending_values -= len(values)
                try:
                    for v in values:
                        histogram.record(v, attributes)
                except Exception as exc:
                    _errors.report("otel.metrics", "l0_monitoring: recording a metric failed", exc)
                done += len(values)
        return done

    def count(self, key: str, attributes: Mapping[str, Any], n: int = 1) -> None:
        """Add ``n`` to the tally of ``key`` under ``attributes`` (bounded: low cardinality)."""
        self.tally(key, frozenset(attributes.items()), n)

    def tally(self, key: str, frozen: frozenset[tuple[str, Any]], n: int) -> None:
        """Add ``n`` to the tally of ``key`` under the frozen attribute set ``frozen``."""
        with self.lock:
            self._tally_locked(key, frozen, n)

    def _tally_locked(self, key: str, frozen: frozenset[tuple[str, Any]], n: int) -> None:
        tally = self.tallies[key]
        if frozen in tally or len(tally) < _MAX_SERIES:  # bounded: low cardinality
            tally[frozen] = tally.get(frozen, 0) + n

    def _observer(self, key: str) -> Callable[[Any], list[Any]]:
        def observe(options: Any) -> list[Any]:
            from opentelemetry.metrics import Observation

            self.drain()  # queued histogram values join this collection
            with self.lock:
                items = list(self.tallies[key].items())
            return [Observation(value, dict(attrs)) for attrs, value in items]

        return observe


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
        self._attribute_sets: dict[
            tuple[str | None, str | None, str | None, str],
            tuple[dict[str, Any], dict[str, Any], dict[str, Any], frozenset[tuple[str, Any]]],
        ] = {}
        self._latest = latest_semconv()
        self._base_attributes: dict[str, Any] = {
            **self.config.default_attributes,
            A.L0_SERVICE_NAME: self.config.service_name,
        }

    # -- attributes ---------------------------------------------------------------

    def _provider_key(self) -> str:
        return A.GEN_AI_PROVIDER_NAME if self._latest else A.LLM_SYSTEM

    def _metric_attributes(
        self, model: str | None, provider: str | None, error_type: str | None
    ) -> dict[str, Any]:
        attrs: dict[str, Any] = {A.GEN_AI_OPERATION_NAME: self.config.operation_name}
        if model:
            attrs[A.LLM_REQUEST_MODEL] = model
        provider = provider or self.config.provider_name
        if provider:
            attrs[self._provider_key()] = provider
        if error_type:
            attrs[A.ERROR_TYPE] = error_type
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
        try:
            result = await fn(span)
        except BaseException as exc:
            _set_error(span, type(exc).__name__, exc)
            raise
        finally:
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
            model=t.model, provider=None, error_type=error_type, outcome=t.outcome,
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
            A.L0_GUARDRAIL_VIOLATION_COUNT: len(t.guardrails.violations),
            A.L0_DRIFT_DETECTED: t.drift.detected,  # drift only: a guardrail failure is not drift
            A.L0_OUTCOME: t.outcome,
        }
        if t.model:
            attrs[A.LLM_REQUEST_MODEL] = t.model
        if t.session_id:
            attrs[A.L0_SESSION_ID] = t.session_id
        if t.metrics.token_count:
            attrs[A.LLM_USAGE_OUTPUT_TOKENS] = t.metrics.token_count
        if t.metrics.time_to_first_token is not None:
            attrs[A.L0_TIME_TO_FIRST_TOKEN] = t.metrics.time_to_first_token * 1000.0
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
        attrs, token_attrs, base, streams_key = cached
        entries: list[tuple[Any, Any, Mapping[str, Any]]] = []
        values = 0
        if duration is not None:
            entries.append((inst.duration, duration, attrs))
            values += 1
        if ttft is not None:
            entries.append((inst.ttfc, ttft, attrs))
            values += 1
        if tokens is not None:
            entries.append((inst.tokens, tokens, token_attrs))
            values += 1
        if gaps:
            entries.append((inst.tpoc, gaps, attrs))
            values += len(gaps)
        inst.finish_stream(entries, values, streams_key)
        if retries_network:
            inst.count("retries", {**base, "l0.retry.kind": "network"}, retries_network)
        if retries_model:
            inst.count("retries", {**base, "l0.retry.kind": "model"}, retries_model)

    def _attribute_set(
        self, model: str | None, provider: str | None, error_type: str | None, outcome: str
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], frozenset[tuple[str, Any]]]:
        """Metric attributes of one (model, provider, error type, outcome); never mutated."""
        attrs = self._metric_attributes(model, provider, error_type)
        base = {A.GEN_AI_OPERATION_NAME: self.config.operation_name}
        if model:
            base[A.LLM_REQUEST_MODEL] = model
        streams = frozenset({**base, A.L0_OUTCOME: outcome}.items())
        return attrs, {**attrs, A.GEN_AI_TOKEN_TYPE: "output"}, base, streams

    def _count(self, key: str, attributes: Mapping[str, Any]) -> None:
        if self._instruments is not None:
            self._instruments.count(key, attributes)


def _violation_attributes(v: Mapping[str, Any]) -> dict[str, str]:
    return {
        "l0.guardrail.rule": low_cardinality(v.get("rule")),
        "l0.guardrail.severity": low_cardinality(v.get("severity"), 16),
    }


def _error_type_of(code: object, category: object) -> str:
    # error.type must be low-cardinality: a code or a category, never a message.
    if code:
        return low_cardinality(code)
    if category:
        return low_cardinality(category)
    return "_OTHER"


def _set_error(span: Any, error_type: str, exc: BaseException | None) -> None:
    try:
        trace = _otel_trace()
        span.set_attribute(A.ERROR_TYPE, error_type)
        span.set_status(trace.Status(trace.StatusCode.ERROR, error_type))
        if exc is not None:
            span.record_exception(exc)
    except ImportError:  # a NoOpSpan without opentelemetry installed
        pass


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


class _TracedContext:
    """What ``with_opentelemetry(...)`` returns without ``fn``: a sync/async context manager."""

    def __init__(self, otel: OpenTelemetry, name: str) -> None:
        self.otel = otel
        self.name = name
        self.span: Any = None
        self.on_event: OpenTelemetryHandler | None = None

    def _enter(self) -> _TracedContext:
        self.span = self.otel.create_span(self.name)
        parent = None
        if not isinstance(self.span, NoOpSpan):
            parent = _otel_trace().set_span_in_context(self.span)
        # Streams handled inside become child spans of this one.
        self.on_event = OpenTelemetryHandler(self.otel, parent_context=parent)
        return self

    def _exit(self, exc: BaseException | None) -> None:
        assert self.on_event is not None
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


# -- OTLP exporter --------------------------------------------------------------------


class _Counting:
    """Wraps an SDK exporter, counting failed exports instead of letting them pass silently."""

    def __init__(self, inner: Any, owner: OpenTelemetryExporter, signal: str) -> None:
        self._inner = inner
        self._owner = owner
        self._signal = signal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def export(self, batch: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = self._inner.export(batch, *args, **kwargs)
        except Exception as exc:
            self._owner._failed(self._signal, exc)
            raise
        if getattr(result, "name", "SUCCESS") != "SUCCESS":
            self._owner._failed(self._signal, None)
        return result


class OpenTelemetryExporter:
    """Exports finished Telemetry records as spans and metrics over OTLP.

    Uses its own ``TracerProvider`` and ``MeterProvider`` (never the process-wide
    globals). ``export()`` only enqueues (bounded) and returns at once; a daemon
    worker builds the span and metric points and, with ``batch_export=False``,
    flushes them right away. Failed and dropped exports are counted in
    :meth:`stats` and logged once per interval. ``shutdown()`` is idempotent and
    bounded by the configured timeout.

    Args:
        config: The exporter config (see ``OpenTelemetryExporterConfig.from_env``).
        max_queue: Records waiting for the worker at most; beyond, dropped and counted.
    """

    def __init__(
        self, config: OpenTelemetryExporterConfig | None = None, *, max_queue: int = 10_000,
        _span_exporter: Any = None, _metric_exporter: Any = None,
    ) -> None:  # fmt: skip
        self.config = config or OpenTelemetryExporterConfig.from_env()
        self._queue: queue.Queue[Telemetry | None] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._stats = {"exported": 0, "dropped": 0, "failed_exports": 0, "errors": 0}
        self._closed = False
        self._worker: threading.Thread | None = None
        self._tracer_provider: Any = None
        self._meter_provider: Any = None
        self._otel: OpenTelemetry | None = None
        self._span_exporter = _span_exporter
        self._metric_exporter = _metric_exporter
        if self.config.enabled:
            self._setup()

    def _setup(self) -> None:
        require("opentelemetry.sdk.trace", "otel")
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        cfg = self.config
        resource = Resource.create({**cfg.resource_attributes, "service.name": cfg.service_name})
        otel_cfg = OpenTelemetryConfig(service_name=cfg.service_name)
        tracer = meter = None
        if cfg.trace_enabled:
            span_exporter = self._span_exporter or self._make_exporter("traces")
            self._tracer_provider = TracerProvider(resource=resource)
            self._tracer_provider.add_span_processor(
                BatchSpanProcessor(
                    cast(Any, _Counting(span_exporter, self, "traces")),
                    schedule_delay_millis=cfg.export_interval * 1000,
                    export_timeout_millis=cfg.timeout * 1000,
                )
            )
            tracer = self._tracer_provider.get_tracer("l0_monitoring")
        if cfg.metrics_enabled:
            metric_exporter = self._metric_exporter or self._make_exporter("metrics")
            reader = PeriodicExportingMetricReader(
                cast(Any, _Counting(metric_exporter, self, "metrics")),
                export_interval_millis=cfg.export_interval * 1000,
                export_timeout_millis=cfg.timeout * 1000,
            )
            self._meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
            meter = self._meter_provider.get_meter("l0_monitoring")
        self._otel = OpenTelemetry(tracer, meter, otel_cfg)

    def _make_exporter(self, signal: str) -> Any:
        cfg = self.config
        endpoint = cfg.signal_endpoint("traces" if signal == "traces" else "metrics")
        headers = {k: v.get_secret_value() for k, v in cfg.headers.items()}
        if cfg.protocol == "grpc":
            from grpc import Compression

            compression = (
                Compression.Gzip if cfg.compression == "gzip" else Compression.NoCompression
            )
            if signal == "traces":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

                return OTLPSpanExporter(endpoint=endpoint, insecure=cfg.insecure,
                                        headers=headers or None, timeout=cfg.timeout,
                                        compression=compression)  # fmt: skip
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            return OTLPMetricExporter(endpoint=endpoint, insecure=cfg.insecure,
                                      headers=headers or None, timeout=cfg.timeout,
                                      compression=compression)  # fmt: skip
        from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

        http_compression = HttpCompression.Gzip if cfg.compression == "gzip" else (
            HttpCompression.NoCompression)  # fmt: skip
        if endpoint and signal == "traces" and not cfg.traces_endpoint:
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        if endpoint and signal == "metrics" and not cfg.metrics_endpoint:
            endpoint = endpoint.rstrip("/") + "/v1/metrics"
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpSpanExporter,
            )

            return HttpSpanExporter(endpoint=endpoint, headers=headers or None,
                                    timeout=cfg.timeout, compression=http_compression)  # fmt: skip
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpMetricExporter,
        )

        return HttpMetricExporter(endpoint=endpoint, headers=headers or None,
                                  timeout=cfg.timeout, compression=http_compression)  # fmt: skip

    def _failed(self, signal: str, exc: BaseException | None) -> None:
        with self._lock:
            self._stats["failed_exports"] += 1
        _errors.report(f"otlp.{signal}", f"l0_monitoring: OTLP {signal} export failed", exc)

    def export(self, telemetry: Telemetry) -> None:
        """Queue one record for export; returns at once and never raises."""
        if self._closed or self._otel is None:
            return
        try:
            self._queue.put_nowait(telemetry)
        except queue.Full:
            with self._lock:
                self._stats["dropped"] += 1
            _errors.report("otlp.queue", "l0_monitoring: OTLP export queue full, record dropped")
            return
        if self._worker is None or not self._worker.is_alive():
            with self._lock:
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(
                        target=self._run, name="l0-monitoring-otlp", daemon=True
                    )
                    self._worker.start()

    __call__ = export

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._emit(item)
                with self._lock:
                    self._stats["exported"] += 1
                if not self.config.batch_export:
                    self._flush_providers(self.config.timeout)
            except Exception as exc:
                with self._lock:
                    self._stats["errors"] += 1
                _errors.report("otlp.emit", "l0_monitoring: building OTLP data failed", exc)

    def _emit(self, t: Telemetry) -> None:
        otel = self._otel
        assert otel is not None
        start = ms_to_ns(t.timing.started_at.timestamp() * 1000) if t.timing.started_at else None
        end = ms_to_ns(t.timing.completed_at.timestamp() * 1000) if t.timing.completed_at else None
        if otel._tracer is not None:
            span = otel.create_span(otel.span_name(t.model), start_time=start)
            otel.record_telemetry(t, span)
            span.end(end_time=end)
        else:
            otel.record_telemetry(t)

    def _flush_providers(self, timeout: float) -> None:
        millis = int(timeout * 1000)
        if self._tracer_provider is not None:
            self._tracer_provider.force_flush(millis)
        if self._meter_provider is not None:
            self._meter_provider.force_flush(millis)

    def flush(self, timeout: float | None = None) -> bool:
        """Export everything queued so far; bounded by ``timeout`` (default: config.timeout)."""
        limit = self.config.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        return _bounded(lambda: self._flush_providers(max(0.0, deadline - time.monotonic())),
                        max(0.0, deadline - time.monotonic()) + 0.5)  # fmt: skip

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush and stop; idempotent, returns within about ``timeout`` (default config.timeout)."""
        if self._closed:
            return
        self._closed = True
        limit = self.config.timeout if timeout is None else timeout
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        worker = self._worker
        if worker is not None:
            worker.join(limit / 2)

        def stop() -> None:
            if self._tracer_provider is not None:
                self._tracer_provider.shutdown()
            if self._meter_provider is not None:
                self._meter_provider.shutdown(timeout_millis=limit * 1000)

        _bounded(stop, limit / 2 + 0.5)

    def stats(self) -> dict[str, int]:
        """Counters: exported, dropped (queue full), failed_exports (OTLP), errors, queued."""
        with self._lock:
            return {**self._stats, "queued": self._queue.qsize()}

    def create_span(self, name: str, **attributes: Any) -> Any:
        """Start a span on this exporter's own tracer (NoOpSpan when traces are off)."""
        if self._otel is None:
            return NoOpSpan()
        return self._otel.create_span(name, attributes)


def _bounded(fn: Callable[[], object], timeout: float) -> bool:
    """Run ``fn`` on a daemon thread, waiting at most ``timeout`` seconds for it."""
    done = threading.Event()

    def run() -> None:
        try:
            fn()
        except Exception as exc:
            _errors.report("otlp.shutdown", "l0_monitoring: OTLP flush/shutdown failed", exc)
        finally:
            done.set()

    threading.Thread(target=run, name="l0-monitoring-otlp-stop", daemon=True).start()
    return done.wait(timeout)
