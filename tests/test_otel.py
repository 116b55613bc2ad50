from __future__ import annotations

import asyncio
import socket
import sys
import time

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from l0_monitoring import (  # noqa: E402
    Monitor,
    Monitoring,
    NoOpSpan,
    OpenTelemetry,
    OpenTelemetryConfig,
    OpenTelemetryExporter,
    OpenTelemetryExporterConfig,
    SemanticAttributes,
    create_opentelemetry_handler,
    with_opentelemetry,
)
from l0_monitoring._internal.optional import require  # noqa: E402
from l0_monitoring.events import ObservabilityEventType as T  # noqa: E402
from l0_monitoring.testing import make_runtime_events, make_stream_events  # noqa: E402

from .conftest import T0, ev  # noqa: E402


class Sdk:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tp = TracerProvider()
        self.tp.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.mp = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tp.get_tracer("test")
        self.meter = self.mp.get_meter("test")

    def finished(self):
        return list(self.spans.get_finished_spans())

    def metrics(self, handler=None) -> dict:
        if handler is not None:
            assert handler.flush(5)
        data = self.reader.get_metrics_data()
        out = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out[m.name] = m
        return out


@pytest.fixture
def sdk():
    s = Sdk()
    yield s
    s.tp.shutdown()
    s.mp.shutdown()


def handler(sdk, **cfg):
    return create_opentelemetry_handler(sdk.tracer, sdk.meter, OpenTelemetryConfig(**cfg))


# -- spans ------------------------------------------------------------------------------


def test_one_client_span_per_stream_timed_by_the_events(sdk):
    h = handler(sdk, service_name="svc", default_attributes={"env": "test"})
    for e in make_stream_events("s1", ttft_ms=250, tokens=["a"] * 5, gap_ms=10):
        h(e)
    (span,) = sdk.finished()
    assert span.name == "chat gpt-4o" and span.kind is SpanKind.CLIENT
    assert span.start_time == int(T0 * 1_000_000)
    assert span.end_time == int((T0 + 250 + 40 + 1) * 1_000_000)
    a = span.attributes
    assert a["l0.service_name"] == "svc" and a["env"] == "test"
    assert a["gen_ai.request.model"] == "gpt-4o" and a["gen_ai.request.stream"] is True
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.usage.output_tokens"] == 5
    assert a["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.25)
    assert a[SemanticAttributes.L0_TIME_TO_FIRST_TOKEN] == pytest.approx(250.0)
    assert a["l0.stream.completed"] is True and a["l0.retry.count"] == 0
    assert a["l0.tokens_per_second"] == pytest.approx(4 / 0.040)  # rule 8
    assert span.status.status_code is StatusCode.UNSET
    assert [e.name for e in span.events] == ["l0.first_token"]


def test_concurrent_streams_never_share_a_span(sdk):
    h = handler(sdk)
    a = make_stream_events("a", model="gpt-4o")
    b = make_stream_events("b", model="claude", outcome="halt")
    for x, y in zip(a, b, strict=False):
        h(x)
        h(y)
    for rest in (a[len(b) :], b[len(a) :]):
        for e in rest:
            h(e)
    spans = {s.name: s for s in sdk.finished()}
    assert set(spans) == {"chat gpt-4o", "chat claude"}
    assert spans["chat gpt-4o"].context.span_id != spans["chat claude"].context.span_id
    assert spans["chat claude"].status.status_code is StatusCode.ERROR
    assert spans["chat claude"].attributes["error.type"] == "FATAL"
    assert spans["chat gpt-4o"].status.status_code is StatusCode.UNSET


def test_model_known_only_later_renames_the_span(sdk):
    h = handler(sdk)
    for e in make_stream_events("s", model=None, context={"model": "mistral-large"}):
        h(e)
    assert sdk.finished()[0].name == "chat mistral-large"
    h2 = handler(sdk)
    for e in make_stream_events("s2", model=None):
        h2(e)
    assert sdk.finished()[1].name == "chat"


def test_retries_errors_violations_and_drift_become_span_events(sdk):
    h = handler(sdk)
    events = make_stream_events(
        "s",
        network_retries=1,
        model_retries=1,
        violations=[{"rule": "pii", "message": "email", "severity": "error"}],
    )
    events.insert(
        -1,
        ev(
            T.DRIFT_CHECK_RESULT,
            400,
            sid="s",
            detected=True,
            score=0.8,
            metrics={"repetition": True},
        ),
    )
    for e in events:
        h(e)
    (span,) = sdk.finished()
    names = [e.name for e in span.events]
    assert names.count("l0.retry") == 2 and names.count("l0.network_error") == 1
    assert "l0.guardrail_violation" in names and "l0.drift" in names
    retry = next(e for e in span.events if e.name == "l0.retry")
    assert retry.attributes["l0.retry.kind"] == "network"
    assert span.attributes["l0.retry.count"] == 2 and span.attributes["l0.network.error_count"] == 1
    assert span.attributes["l0.guardrail.violation_count"] == 1
    assert span.attributes["l0.drift.detected"] is True


def test_violation_events_can_be_turned_off(sdk):
    h = handler(sdk, record_guardrail_violations=False)
    for e in make_stream_events("s", violations=[{"rule": "r", "severity": "error"}]):
        h(e)
    assert "l0.guardrail_violation" not in [e.name for e in sdk.finished()[0].events]


def test_token_events_only_when_asked_and_text_only_with_consent(sdk):
    secret = ["very", " secret"]
    h = handler(sdk, trace_tokens=True)
    for e in make_stream_events("s", tokens=secret):
        h(e)
    tokens = [e for e in sdk.finished()[0].events if e.name == "l0.token"]
    assert len(tokens) == 2 and all("l0.token.content" not in e.attributes for e in tokens)
    h2 = handler(sdk, trace_tokens=True, record_token_content=True)
    for e in make_stream_events("s2", tokens=secret):
        h2(e)
    tokens = [e for e in sdk.finished()[1].events if e.name == "l0.token"]
    assert [e.attributes["l0.token.content"] for e in tokens] == secret


def test_close_ends_silent_spans_and_the_table_is_bounded(sdk):
    h = handler(sdk, max_streams=3)
    for i in range(5):
        h(ev(T.SESSION_START, i, sid=f"s{i}"))
    assert len(sdk.finished()) == 2 and h.open_streams == 3
    h.close()
    spans = sdk.finished()
    assert len(spans) == 5 and all(s.attributes["l0.outcome"] == "abandoned" for s in spans)


def test_handler_never_raises(sdk):
    h = handler(sdk)
    for bad in [
        None,
        1,
        ev(T.TOKEN, float("nan"), token=None),
        ev("??", 1),
        ev(T.GUARDRAIL_RULE_RESULT, 1, violation=object()),
    ]:
        h(bad)


# -- metrics ------------------------------------------------------------------------------


def test_genai_metrics_names_units_buckets_and_low_cardinality(sdk):
    h = handler(sdk)
    for i in range(3):
        for e in make_stream_events(
            f"s{i}",
            network_retries=1,
            report_counts=True,
            violations=[{"rule": "pii", "severity": "error"}],
        ):
            h(e)
    for e in make_stream_events("bad", outcome="halt"):
        h(e)
    m = sdk.metrics(h)
    assert set(m) >= {
        "gen_ai.client.operation.duration",
        "gen_ai.client.operation.time_to_first_chunk",
        "gen_ai.client.token.usage",
        "l0.retries",
        "l0.guardrail.violations",
        "l0.streams",
    }
    assert "gen_ai.client.operation.time_per_output_chunk" not in m  # opt-in
    duration = m["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    points = list(duration.data.data_points)
    assert list(points[0].explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    failed = [p for p in points if "error.type" in p.attributes]
    assert len(failed) == 1 and failed[0].attributes["error.type"] == "FATAL"
    assert m["gen_ai.client.token.usage"].unit == "{token}"
    usage = list(m["gen_ai.client.token.usage"].data.data_points)
    assert all(p.attributes["gen_ai.token.type"] == "output" for p in usage)
    assert list(usage[0].explicit_bounds)[:3] == [1, 4, 16]
    streams = {p.attributes["l0.outcome"]: p.value for p in m["l0.streams"].data.data_points}
    assert streams == {"completed": 3, "failed": 1}
    for metric in m.values():
        for p in metric.data.data_points:
            for key, value in p.attributes.items():
                assert "stream" not in key or key == "gen_ai.request.stream"
                assert value not in {"s0", "s1", "s2", "bad"}


def test_token_usage_is_never_guessed(sdk):
    h = handler(sdk)
    h(ev(T.SESSION_START, 0, sid="x"))
    h(ev(T.COMPLETE, 10, sid="x"))  # no TOKEN events, no tokenCount
    m = sdk.metrics(h)
    assert "gen_ai.client.token.usage" not in m
    assert all("gen_ai.usage.output_tokens" not in s.attributes for s in sdk.finished())
    for e in make_runtime_events("r", token_count=7):  # the runtime's own count is a report
        h(e)
    (point,) = sdk.metrics(h)["gen_ai.client.token.usage"].data.data_points
    assert point.sum == 7


def test_chunk_timing_is_recorded_when_asked(sdk):
    h = handler(sdk, record_chunk_timing=True)
    for e in make_stream_events("s", tokens=["a"] * 5, gap_ms=20):
        h(e)
    point = next(
        iter(sdk.metrics(h)["gen_ai.client.operation.time_per_output_chunk"].data.data_points)
    )
    assert point.count == 4 and point.sum == pytest.approx(0.08)


def test_histograms_leave_the_stream_thread_and_join_the_next_collection(sdk):
    h = handler(sdk)
    for i in range(50):
        for e in make_stream_events(f"s{i}", report_counts=True):
            h(e)
    # Queued, not yet in the SDK: recording costs ~10 us per value in the Python SDK.
    assert h.stats()["metrics_pending"] == 150  # duration, ttft, token usage per stream
    m = sdk.metrics()  # a plain collection, as a periodic reader does it
    assert h.stats()["metrics_pending"] == 0
    for name in (
        "gen_ai.client.operation.duration",
        "gen_ai.client.operation.time_to_first_chunk",
        "gen_ai.client.token.usage",
    ):
        assert sum(p.count for p in m[name].data.data_points) == 50, name
    (usage,) = m["gen_ai.client.token.usage"].data.data_points
    assert usage.sum == 250
    assert sum(p.value for p in m["l0.streams"].data.data_points) == 50


def test_the_histogram_backlog_is_bounded_and_loses_nothing(sdk, monkeypatch):
    from l0_monitoring.otel import metrics as otel_metrics

    monkeypatch.setattr(otel_metrics, "_MAX_PENDING", 40)
    h = handler(sdk, record_chunk_timing=True)
    for i in range(30):
        for e in make_stream_events(f"s{i}", tokens=["a"] * 6, report_counts=True):
            h(e)
        assert h.stats()["metrics_pending"] <= 40  # overflow recorded at once, oldest first
    m = sdk.metrics()
    assert sum(p.count for p in m["gen_ai.client.operation.duration"].data.data_points) == 30
    chunks = m["gen_ai.client.operation.time_per_output_chunk"].data.data_points
    assert sum(p.count for p in chunks) == 30 * 5


def test_handler_flush_records_the_backlog_into_any_meter():
    recorded: list[tuple[str, float]] = []

    class Histogram:
        def __init__(self, name: str) -> None:
            self.name = name

        def record(self, value: float, attributes: object = None) -> None:
            if value == 0.5:
                raise RuntimeError("broken instrument")
            recorded.append((self.name, value))

    class Meter:  # a meter that never collects (no SDK reader calls back)
        def create_histogram(self, name: str, **kwargs: object) -> Histogram:
            return Histogram(name)

        def create_observable_counter(self, *args: object, **kwargs: object) -> None:
            return None

    h = create_opentelemetry_handler(None, Meter(), OpenTelemetryConfig())
    for e in make_stream_events("a", ttft_ms=500, tokens=["x"]):
        h(e)
    for e in make_stream_events("b", ttft_ms=200, tokens=["x"]):
        h(e)
    assert recorded == [] and h.stats()["metrics_pending"] == 6  # duration, ttft, tokens
    assert h.flush() is True  # the raising value is reported, the rest recorded
    assert h.stats()["metrics_pending"] == 0
    assert ("gen_ai.client.operation.time_to_first_chunk", 0.2) in recorded
    assert ("gen_ai.client.operation.time_to_first_chunk", 0.5) not in recorded
    assert len(recorded) == 5


def test_spans_start_lazily_at_the_stream_start(sdk):
    h = handler(sdk)
    h(ev(T.SESSION_START, 0, sid="quiet"))
    h(ev(T.STREAM_INIT, 5, sid="quiet"))
    assert sdk.finished() == []
    for e in make_stream_events("talky", network_retries=1, start_ms=T0 + 100):
        h(e)
    h(ev(T.COMPLETE, 40, sid="quiet"))
    spans = {s.attributes["l0.outcome"] + ":" + s.name: s for s in sdk.finished()}
    quiet = next(s for s in sdk.finished() if s.end_time == int((T0 + 40) * 1e6))
    assert quiet.start_time == int(T0 * 1e6) and quiet.kind is SpanKind.CLIENT
    assert quiet.attributes["l0.service_name"] and quiet.attributes["gen_ai.request.stream"]
    talky = next(s for s in sdk.finished() if s is not quiet)
    assert talky.start_time == int((T0 + 100) * 1e6)
    assert "l0.retry" in [e.name for e in talky.events]
    assert len(spans) == 2


def test_latest_semantic_conventions_by_default_and_v1_36_behind_its_value(sdk, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai_v1.36")
    h = handler(sdk, provider_name="openai")
    for e in make_stream_events("a"):
        h(e)
    monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    h2 = handler(sdk, provider_name="openai")
    for e in make_stream_events("b"):
        h2(e)
    old, new = sdk.finished()
    assert (
        old.attributes["gen_ai.system"] == "openai" and "gen_ai.provider.name" not in old.attributes
    )
    assert (
        new.attributes["gen_ai.provider.name"] == "openai" and "gen_ai.system" not in new.attributes
    )


# -- classes, helpers ------------------------------------------------------------------------


def test_record_telemetry_sets_attributes_and_guardrail_failure_is_not_drift(sdk):
    m = Monitor()
    for e in make_stream_events(
        "s", violations=[{"rule": "r", "severity": "error"}], outcome="halt"
    ):
        m.handle_event(e)
    t = m.get_telemetry("s")
    otel = OpenTelemetry(sdk.tracer, sdk.meter)
    span = otel.create_span("manual", {"k": "v"})
    otel.record_telemetry(t, span)
    span.end()
    (s,) = sdk.finished()
    assert s.attributes["l0.drift.detected"] is False
    assert s.attributes["l0.guardrail.violation_count"] == 1
    assert s.attributes["k"] == "v" and s.status.status_code is StatusCode.ERROR
    assert "gen_ai.client.operation.duration" in sdk.metrics()


def test_semantic_attribute_values():
    assert SemanticAttributes.LLM_SYSTEM == "gen_ai.system"
    assert SemanticAttributes.L0_TIME_TO_FIRST_TOKEN == "l0.time_to_first_token_ms"
    assert SemanticAttributes.GEN_AI_PROVIDER_NAME == "gen_ai.provider.name"
    assert SemanticAttributes.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK == (
        "gen_ai.response.time_to_first_chunk"
    )
    assert SemanticAttributes.ERROR_TYPE == "error.type"


def test_no_tracer_gives_noop_spans():
    otel = OpenTelemetry()
    span = otel.create_span("x")
    assert isinstance(span, NoOpSpan) and span.is_recording() is False
    h = create_opentelemetry_handler()
    for e in make_stream_events("s"):
        h(e)


def test_with_opentelemetry_sync_and_async_context_managers_parent_the_stream_spans(sdk):
    with with_opentelemetry(tracer=sdk.tracer, meter=sdk.meter, name="request") as traced:
        for e in make_stream_events("s"):
            traced.on_event(e)

    async def main():
        async with with_opentelemetry(tracer=sdk.tracer, name="async-request") as traced:
            for e in make_stream_events("s2"):
                traced.on_event(e)

    asyncio.run(main())
    spans = sdk.finished()
    parents = {s.name: s.context.span_id for s in spans if s.name.endswith("request")}
    children = [s for s in spans if s.name == "chat gpt-4o"]
    assert sorted(c.parent.span_id for c in children) == sorted(parents.values())


def test_with_opentelemetry_keeps_the_l0_call_form(sdk):
    async def fn(span):
        span.set_attribute("inside", True)
        return 42

    async def failing(span):
        raise ValueError("boom")

    assert asyncio.run(with_opentelemetry(sdk.tracer, sdk.meter, fn, name="op")) == 42
    with pytest.raises(ValueError):
        asyncio.run(with_opentelemetry(sdk.tracer, sdk.meter, failing, name="bad"))
    spans = {s.name: s for s in sdk.finished()}
    assert spans["op"].attributes["inside"] is True
    assert spans["bad"].status.status_code is StatusCode.ERROR


def test_monitoring_opentelemetry_factory(sdk):
    h = Monitoring.opentelemetry(
        tracer=sdk.tracer,
        meter=sdk.meter,
        service_name="x",
        default_attributes={"deployment": "prod"},
    )
    for e in make_stream_events("s"):
        h(e)
    assert sdk.finished()[0].attributes["deployment"] == "prod"


def test_missing_dependency_names_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(ImportError, match=r"pip install 'l0-monitoring\[otel\]'"):
        require("opentelemetry.sdk.trace", "otel")
    with pytest.raises(ImportError, match=r"l0-monitoring\[otel\]"):
        OpenTelemetryExporter(OpenTelemetryExporterConfig.from_env({}))


# -- the real L0 runtime -----------------------------------------------------------------------


async def test_real_l0_runs_drive_the_handler(sdk):
    from .l0_streams import Retry, flaky, run_l0, tokens

    h = handler(sdk)
    texts = ["a", "b", "c"]
    await run_l0(h, stream=lambda: tokens(texts), context={"model": "gpt-4o"})
    await run_l0(
        h,
        stream=flaky(texts, ConnectionError("connection reset")),
        retry=Retry(attempts=3, base_delay=0.01),
        context={"model": "gpt-4o"},
    )
    await run_l0(
        h,
        stream=lambda: tokens(texts, fail_at=0, exc=ValueError("x")),
        retry=Retry(attempts=1, base_delay=0.001),
        context={"model": "gpt-4o"},
    )
    spans = sdk.finished()
    assert len(spans) == 3 and h.open_streams == 0
    ok, retried, failed = spans
    assert ok.name == "chat gpt-4o" and ok.attributes["gen_ai.usage.output_tokens"] == 3
    assert retried.attributes["l0.retry.count"] == 1
    assert retried.attributes["l0.network.error_count"] == 1
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "unknown"


# -- OTLP exporter against a real gRPC receiver ----------------------------------------------


@pytest.fixture
def receiver():
    from .otlp_receiver import Receiver

    r = Receiver().start()
    yield r
    r.stop()


def records(n=3):
    m = Monitor()
    for i in range(n):
        for e in make_stream_events(
            f"s{i}",
            network_retries=i % 2,
            report_counts=True,
            outcome="halt" if i == 2 else "complete",
        ):
            m.handle_event(e)
    return m.get_all_telemetry()


def test_otlp_export_reaches_a_real_grpc_receiver(receiver, env):
    from .otlp_receiver import attrs

    env.setenv("OTEL_SERVICE_NAME", "llm-api")
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    env.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20s3cret")
    env.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    exporter = OpenTelemetryExporter(OpenTelemetryExporterConfig.from_env(export_interval=0.2))
    for t in records():
        exporter.export(t)
    assert exporter.flush(10)
    assert receiver.wait_for(lambda: len(receiver.spans()) == 3)
    assert receiver.wait_for(lambda: "gen_ai.client.operation.duration" in receiver.metric_names())
    exporter.shutdown()
    resource, span = receiver.spans()[0]
    r = attrs(resource.attributes)
    assert r["service.name"] == "llm-api" and r["deployment.environment"] == "test"
    names = sorted(s.name for _, s in receiver.spans())
    assert names == ["chat gpt-4o"] * 3
    failed = [s for _, s in receiver.spans() if attrs(s.attributes).get("error.type")]
    assert len(failed) == 1 and attrs(failed[0].attributes)["error.type"] == "FATAL"
    assert attrs(span.attributes)["gen_ai.request.model"] == "gpt-4o"
    assert span.start_time_unix_nano == int(T0 * 1_000_000)
    metrics = receiver.metric_names()
    assert metrics["gen_ai.client.operation.duration"].unit == "s"
    assert metrics["gen_ai.client.token.usage"].unit == "{token}"
    assert any(md.get("authorization") == "Bearer s3cret" for md in receiver.metadata)
    assert exporter.stats()["exported"] == 3 and exporter.stats()["failed_exports"] == 0


def test_unbatched_export_sends_at_once(receiver):
    cfg = OpenTelemetryExporterConfig.from_env(
        {}, endpoint=receiver.endpoint, insecure=True, batch_export=False, metrics_enabled=False
    )
    exporter = OpenTelemetryExporter(cfg)
    exporter.export(records(1)[0])
    assert receiver.wait_for(lambda: len(receiver.spans()) == 1, timeout=5)
    exporter.shutdown()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_collector_down_never_blocks_the_host():
    cfg = OpenTelemetryExporterConfig.from_env(
        {},
        endpoint=f"http://127.0.0.1:{closed_port()}",
        insecure=True,
        timeout=1.0,
        batch_export=False,
    )
    exporter = OpenTelemetryExporter(cfg)
    slowest = 0.0
    for t in records(3) * 5:
        start = time.perf_counter()
        exporter.export(t)
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 0.05
    start = time.perf_counter()
    exporter.shutdown()
    exporter.shutdown()  # idempotent
    assert time.perf_counter() - start < cfg.timeout + 1.5
    exporter.export(records(1)[0])  # after shutdown: quietly ignored
