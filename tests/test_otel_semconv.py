"""GenAI semantic conventions: one coherent version, provider everywhere, trace parenting."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from l0_monitoring import (  # noqa: E402
    Monitor,
    OpenTelemetry,
    OpenTelemetryExporter,
    OpenTelemetryExporterConfig,
    with_opentelemetry,
)
from l0_monitoring.otel import latest_semconv  # noqa: E402
from l0_monitoring.testing import make_stream_events  # noqa: E402

from .test_otel import Sdk, handler  # noqa: E402

CTX = {"provider": "openai"}


@pytest.fixture
def sdk():
    s = Sdk()
    yield s
    s.tp.shutdown()
    s.mp.shutdown()


def points(metric):
    return list(metric.data.data_points)


def test_latest_conventions_by_default_with_the_provider_on_spans_and_metrics(sdk, env):
    h = handler(sdk)
    for e in make_stream_events("a", context=CTX, report_counts=True):
        h(e)
    (span,) = sdk.finished()
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert "gen_ai.system" not in span.attributes
    assert span.attributes["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.2)
    m = sdk.metrics(h)
    for name in ("gen_ai.client.operation.duration", "gen_ai.client.operation.time_to_first_chunk",
                 "gen_ai.client.token.usage"):  # fmt: skip
        (p,) = points(m[name])
        assert p.attributes["gen_ai.provider.name"] == "openai", name
        assert "gen_ai.system" not in p.attributes


@pytest.mark.parametrize(
    ("value", "latest"),
    [
        (None, True),
        ("gen_ai_latest_experimental", True),
        ("http,gen_ai_v1.36", False),
        ("gen_ai_v1.36,gen_ai_latest_experimental", True),  # latest wins
        ("http", True),
    ],
)
def test_the_version_follows_the_transition_values(env, value, latest):
    if value is not None:
        env.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", value)
    assert latest_semconv() is latest


def test_deprecated_v1_36_names_only_behind_their_transition_value(sdk, env):
    env.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_v1.36")
    h = handler(sdk, record_chunk_timing=True)
    for e in make_stream_events("a", context=CTX, report_counts=True):
        h(e)
    (span,) = sdk.finished()
    assert span.attributes["gen_ai.system"] == "openai"
    assert "gen_ai.provider.name" not in span.attributes
    assert "gen_ai.response.time_to_first_chunk" not in span.attributes  # not in v1.36
    m = sdk.metrics(h)
    assert "gen_ai.client.operation.time_to_first_chunk" not in m
    assert "gen_ai.client.operation.time_per_output_chunk" not in m
    (p,) = points(m["gen_ai.client.operation.duration"])
    assert p.attributes["gen_ai.system"] == "openai"


def test_error_type_only_on_the_operation_duration(sdk, env):
    h = handler(sdk, record_chunk_timing=True)
    for e in make_stream_events("bad", context=CTX, outcome="halt", report_counts=True):
        h(e)
    m = sdk.metrics(h)
    (duration,) = points(m["gen_ai.client.operation.duration"])
    assert duration.attributes["error.type"] == "FATAL"
    for name in ("gen_ai.client.operation.time_to_first_chunk", "gen_ai.client.token.usage",
                 "gen_ai.client.operation.time_per_output_chunk"):  # fmt: skip
        for p in points(m[name]):
            assert "error.type" not in p.attributes, name


def failed_record(context=None):
    m = Monitor()
    for e in make_stream_events("s", context=context, outcome="halt", report_counts=True):
        m.handle_event(e)
    return m.get_telemetry("s")


def test_records_carry_the_provider_and_the_response_model_from_their_metadata(sdk, env):
    t = failed_record({"provider": "anthropic", "response_model": "claude-3-5-sonnet-20241022"})
    otel = OpenTelemetry(sdk.tracer, sdk.meter)
    span = otel.create_span(otel.span_name(t.model))
    otel.record_telemetry(t, span)
    span.end()
    (s,) = sdk.finished()
    assert s.attributes["gen_ai.provider.name"] == "anthropic"
    assert s.attributes["gen_ai.response.model"] == "claude-3-5-sonnet-20241022"
    assert s.attributes["error.type"] == "FATAL"
    otel.flush_metrics()
    m = sdk.metrics()
    (p,) = points(m["gen_ai.client.operation.duration"])
    assert p.attributes["gen_ai.provider.name"] == "anthropic"
    (usage,) = points(m["gen_ai.client.token.usage"])
    assert "error.type" not in usage.attributes


def test_the_stream_span_is_a_child_of_the_span_current_at_stream_start(sdk):
    h = handler(sdk)
    events = make_stream_events("s")
    with sdk.tracer.start_as_current_span("request") as request:
        h(events[0])  # the stream starts inside the request
    for e in events[1:]:  # later events arrive on another context (a callback, a thread)
        h(e)
    spans = {s.name: s for s in sdk.finished()}
    stream = spans["chat gpt-4o"]
    assert stream.parent is not None
    assert stream.parent.span_id == request.get_span_context().span_id
    assert stream.context.trace_id == request.get_span_context().trace_id


def test_with_opentelemetry_and_trace_stream_make_their_span_current(sdk):
    with with_opentelemetry(tracer=sdk.tracer, name="request") as traced:
        assert trace.get_current_span() is traced.span
        sdk.tracer.start_span("provider.http").end()  # what a provider SDK would create
    assert trace.get_current_span() is not traced.span

    async def fn(span):
        assert trace.get_current_span() is span
        sdk.tracer.start_span("provider.http.async").end()
        return 1

    asyncio.run(OpenTelemetry(sdk.tracer).trace_stream("op", fn))
    spans = {s.name: s for s in sdk.finished()}
    assert spans["provider.http"].parent.span_id == spans["request"].context.span_id
    assert spans["provider.http.async"].parent.span_id == spans["op"].context.span_id


def test_exported_records_join_the_trace_they_were_recorded_in(env):
    app = TracerProvider()
    app.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    sink = InMemorySpanExporter()
    exporter = OpenTelemetryExporter(
        OpenTelemetryExporterConfig.from_env({}, metrics_enabled=False, batch_export=False),
        _span_exporter=sink,
    )
    t = failed_record(CTX)
    with app.get_tracer("app").start_as_current_span("request") as request:
        exporter.export(t)
    exporter.export(t)  # no current span: a root span
    exporter.shutdown(5)
    joined, root = sink.get_finished_spans()
    assert joined.context.trace_id == request.get_span_context().trace_id
    assert joined.parent.span_id == request.get_span_context().span_id
    assert root.parent is None
    assert joined.attributes["gen_ai.provider.name"] == "openai"
    assert exporter.stats()["exported"] == 2
    app.shutdown()
