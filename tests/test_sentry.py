from __future__ import annotations

import asyncio
import time

import pytest

sentry_sdk = pytest.importorskip("sentry_sdk")

from l0_monitoring import (  # noqa: E402
    Monitor,
    Monitoring,
    Sentry,
    SentryConfig,
    SentryExporter,
    create_sentry_handler,
    with_sentry,
)
from l0_monitoring.events import ObservabilityEventType as T  # noqa: E402
from l0_monitoring.settings import SentryExporterConfig  # noqa: E402
from l0_monitoring.testing import make_stream_events  # noqa: E402

from .conftest import ev  # noqa: E402
from .sentry_ingest import Ingest, MemoryTransport  # noqa: E402


@pytest.fixture
def sentry():
    MemoryTransport.envelopes = []
    sentry_sdk.get_isolation_scope().clear()  # breadcrumbs left by other tests
    sentry_sdk.get_current_scope().clear()
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        transport=MemoryTransport,
        traces_sample_rate=1.0,
        default_integrations=False,
    )
    yield MemoryTransport
    sentry_sdk.get_client().close(timeout=1)
    sentry_sdk.init(default_integrations=False)  # back to a disabled client
    sentry_sdk.get_isolation_scope().clear()
    sentry_sdk.get_current_scope().clear()


def run(handler, events):
    for e in events:
        handler(e)
    sentry_sdk.flush(2)


def app_event(sentry_cls):
    sentry_sdk.capture_message("application event")
    sentry_sdk.flush(2)
    return next(e for e in sentry_cls.items() if e.get("message") == "application event")


# -- what gets tracked ---------------------------------------------------------------------


def test_a_healthy_stream_leaves_breadcrumbs_and_a_transaction_but_no_event(sentry):
    h = create_sentry_handler(sentry_sdk, SentryConfig())
    run(h, make_stream_events("s1", tokens=["secret", "words"], ttft_ms=300))
    assert sentry.items("event") == []
    (tx,) = sentry.items("transaction")
    assert tx["contexts"]["trace"]["op"] == "l0.stream"
    assert tx["start_timestamp"] == "2023-11-14T22:13:20.000000Z"  # T0, from the events
    assert tx["timestamp"] == "2023-11-14T22:13:20.321000Z"  # COMPLETE at T0 + 321 ms
    assert tx["contexts"]["trace"]["status"] == "ok"
    crumbs = app_event(sentry)["breadcrumbs"]["values"]
    ours = [c for c in crumbs if c["category"] == "l0" or c["category"].startswith("l0.")]
    messages = [c["message"] for c in ours]
    assert messages == [
        "L0 execution started",
        "First token received",
        "L0 execution completed",
        "Stream completed",
    ]
    first = next(c for c in crumbs if c["message"] == "First token received")
    assert first["data"]["ttft_ms"] == pytest.approx(300.0)
    assert "secret" not in str(crumbs)


def test_token_breadcrumbs_only_when_asked_and_text_only_with_consent(sentry):
    h = create_sentry_handler(sentry_sdk, SentryConfig(breadcrumbs_for_tokens=True))
    run(h, make_stream_events("s1", tokens=["secret", "words"]))
    crumbs = app_event(sentry)["breadcrumbs"]["values"]
    tokens = [c for c in crumbs if c["category"] == "l0.token"]
    assert len(tokens) == 2 and "secret" not in str(crumbs)


def test_execution_failure_is_captured_once_with_context_tags_env_and_fingerprint(sentry):
    cfg = SentryConfig(tags={"service": "llm-api"}, environment="staging")
    h = create_sentry_handler(sentry_sdk, cfg)
    events = make_stream_events("s1", outcome="halt", model="gpt-4o", network_retries=1)
    run(h, events + events[-2:])  # duplicated terminal events
    (event,) = sentry.items("event")
    assert event["exception"]["values"][0]["type"] == "L0ExecutionError"
    assert event["exception"]["values"][0]["value"] == "fatal model error"
    assert event["tags"]["service"] == "llm-api" and event["tags"]["l0.model"] == "gpt-4o"
    assert event["environment"] == "staging"
    assert event["fingerprint"] == ["l0", "execution-failure", "model", "FATAL"]
    ctx = event["contexts"]["l0"]
    assert ctx["stream_id"] == "s1" and ctx["retries"] == 1 and ctx["outcome"] == "failed"
    assert ctx["error_code"] == "FATAL" and ctx["token_count"] == 5
    (tx,) = sentry.items("transaction")
    assert tx["contexts"]["trace"]["status"] == "internal_error"
    # The tags never leak onto the application's own events; the execution's
    # figures (context l0 from complete_execution) are there on purpose.
    other = app_event(sentry)
    assert "service" not in other.get("tags", {}) and "l0.model" not in other.get("tags", {})
    assert other["contexts"]["l0"]["stream_id"] == "s1"
    assert other.get("environment") != "staging"


def test_failures_with_other_messages_group_together(sentry):
    h = create_sentry_handler(sentry_sdk)
    for i, message in enumerate(["boom at 12:00", "boom at 12:01"]):
        h(ev(T.SESSION_START, 0, sid=f"s{i}"))
        h(
            ev(
                T.ERROR,
                5,
                sid=f"s{i}",
                error=message,
                errorCode="E1",
                failureType="model",
                recoveryStrategy="halt",
            )
        )
    sentry_sdk.flush(2)
    prints = [e["fingerprint"] for e in sentry.items("event")]
    assert prints[0] == prints[1] == ["l0", "execution-failure", "model", "E1"]


def test_network_errors_are_captured_only_when_not_retried(sentry):
    h = create_sentry_handler(sentry_sdk)
    h(ev(T.SESSION_START, 0))
    h(ev(T.NETWORK_ERROR, 1, error="reset", code="econnreset", retryable=True))
    h(ev(T.NETWORK_ERROR, 2, error="dns failed", code="dns_error", retryable=False))
    sentry_sdk.flush(2)
    (event,) = sentry.items("event")
    assert event["exception"]["values"][0]["type"] == "L0NetworkError"
    assert event["fingerprint"] == ["l0", "network-error", "dns_error"]
    h2 = create_sentry_handler(sentry_sdk, SentryConfig(capture_network_errors=False))
    h2(ev(T.SESSION_START, 0, sid="x"))
    h2(ev(T.NETWORK_ERROR, 2, sid="x", error="dns", code="dns_error", retryable=False))
    sentry_sdk.flush(2)
    assert len(sentry.items("event")) == 1


def test_guardrail_violations_at_or_above_the_threshold_are_captured_once(sentry):
    h = create_sentry_handler(sentry_sdk, SentryConfig(min_guardrail_severity="error"))
    error = {"rule": "pii", "message": "email found", "severity": "error"}
    # Another emitter's "info" is a warning in the published closed set: below the threshold.
    info = {"rule": "style", "message": "casual", "severity": "info"}
    h(ev(T.SESSION_START, 0))
    h(ev(T.GUARDRAIL_RULE_RESULT, 1, violation=error))
    h(ev(T.GUARDRAIL_RULE_RESULT, 2, violations=[error, info]))  # snake/plural, repeated
    sentry_sdk.flush(2)
    (event,) = sentry.items("event")
    assert event["message"] == "Guardrail violation: pii" and event["level"] == "error"
    assert event["fingerprint"] == ["l0", "guardrail", "pii", "error"]


def test_snake_case_meta_is_understood(sentry):
    h = create_sentry_handler(sentry_sdk)
    h(ev(T.SESSION_START, 0))
    h(ev(T.RETRY_ATTEMPT, 1, attempt=1, reason="reset", is_network=True))
    h(ev(T.ERROR, 2, error="bad", code="X", category="model", recovery_strategy="halt"))
    sentry_sdk.flush(2)
    (event,) = sentry.items("event")
    assert event["contexts"]["l0"]["network_retries"] == 1
    assert event["fingerprint"] == ["l0", "execution-failure", "model", "X"]


def test_handler_never_raises(sentry):
    h = create_sentry_handler(sentry_sdk)
    for bad in [
        None,
        5,
        ev("WHAT", 1),
        ev(T.GUARDRAIL_RULE_RESULT, 1, violation=object()),
        ev(T.ERROR, float("nan"), error=object(), recoveryStrategy="halt"),
    ]:
        h(bad)


def test_sentry_class_methods(sentry):
    s = Sentry(sentry_sdk, SentryConfig(tags={"team": "ml"}))
    s.start_execution("chat", {"model": "gpt-4"})
    s.start_stream()
    s.record_token("tok")
    s.record_first_token(ttft_ms=456)
    s.record_retry(attempt=2, reason="timeout", is_network_error=True)
    s.record_network_error(ConnectionError("socket"), "timeout", retried=True)
    s.record_drift(detected=True, types=["repetition"])
    s.complete_stream(token_count=100)
    m = Monitor()
    for e in make_stream_events("z", outcome="give_up"):
        m.handle_event(e)
    s.complete_execution(m.get_telemetry("z"))
    s.record_network_error(ConnectionError("refused"), "econnrefused", retried=False)
    sentry_sdk.flush(2)
    (event,) = sentry.items("event")
    assert event["exception"]["values"][0]["type"] == "ConnectionError"
    assert event["tags"]["team"] == "ml"
    crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
    assert "First token received" in crumbs and "Retry attempt 2" in crumbs
    assert "Drift detected: repetition" in crumbs and "L0 execution completed" in crumbs


def test_with_sentry_context_managers_and_call_form(sentry):
    with pytest.raises(ValueError):
        with with_sentry(sentry_sdk) as tracked:
            for e in make_stream_events("a"):
                tracked.on_event(e)
            raise ValueError("inside the block")

    async def main():
        async with with_sentry(sentry_sdk) as tracked:
            for e in make_stream_events("b"):
                tracked.on_event(e)

        async def fn():
            raise RuntimeError("l0 call form")

        with pytest.raises(RuntimeError):
            await with_sentry(sentry_sdk, fn)

    asyncio.run(main())
    sentry_sdk.flush(2)
    types = sorted(e["exception"]["values"][0]["type"] for e in sentry.items("event"))
    assert types == ["RuntimeError", "ValueError"]
    assert len(sentry.items("transaction")) == 2


def test_monitoring_sentry_factory(sentry):
    h = Monitoring.sentry(
        sentry_sdk, tags={"model": "gpt-4o"}, environment="production", enable_tracing=False
    )
    run(h, make_stream_events("s", outcome="give_up"))
    (event,) = sentry.items("event")
    assert event["tags"]["model"] == "gpt-4o" and event["environment"] == "production"
    assert sentry.items("transaction") == []


async def test_real_l0_runs_drive_the_handler(sentry):
    from .l0_streams import Retry, banned_word_rule, flaky, run_l0, tokens

    h = create_sentry_handler(sentry_sdk)
    texts = ["a", "b", "c"]
    await run_l0(
        h,
        stream=flaky(texts, ConnectionError("connection reset")),
        retry=Retry(attempts=3, base_delay=0.01),
    )
    await run_l0(
        h,
        stream=lambda: tokens(texts, fail_at=0, exc=ValueError("model broke")),
        retry=Retry(attempts=1, base_delay=0.001),
    )
    await run_l0(
        h, stream=lambda: tokens(["x", "forbidden"]), guardrails=[banned_word_rule("forbidden")]
    )
    sentry_sdk.flush(2)
    events = sentry.items("event")
    kinds = sorted(e.get("message") or e["exception"]["values"][0]["value"] for e in events)
    assert kinds == [
        "Fatal guardrail violation: found forbidden",
        "Guardrail violation: no-forbidden",
        "model broke",
    ]
    assert len(sentry.items("transaction")) == 3


# -- SentryExporter end to end ----------------------------------------------------------------


@pytest.fixture
def ingest():
    server = Ingest().start()
    yield server
    server.stop()


def failed_record():
    m = Monitor()
    for e in make_stream_events("s1", outcome="halt", tokens=["top", "secret"]):
        m.handle_event(e)
    return m.get_telemetry("s1")


def test_exporter_sends_gzip_envelopes_to_the_ingest(ingest, env):
    env.setenv("SENTRY_DSN", ingest.dsn("publickey"))
    env.setenv("SENTRY_ENVIRONMENT", "staging")
    env.setenv("SENTRY_RELEASE", "1.2.3")
    exporter = SentryExporter(SentryExporterConfig.from_env(tags={"service": "llm-api"}))
    exporter.init()
    exporter.add_breadcrumb("Processing started", category="l0", level="info")
    exporter.set_user(user_id="123", email="user@example.com")
    event_id = exporter.capture_telemetry_error(failed_record())
    assert event_id
    exporter.flush(5)
    assert ingest.wait_for(1)
    (event,) = ingest.items("event")
    assert event["level"] == "error" and event["environment"] == "staging"
    assert event["release"] == "1.2.3" and event["tags"]["service"] == "llm-api"
    assert event["contexts"]["l0"]["error_code"] == "FATAL"
    assert event["fingerprint"] == ["l0", "execution-failure", "model", "FATAL"]
    assert event["user"] == {"id": "123", "email": "user@example.com"}  # explicit: sent
    assert "Processing started" in [c["message"] for c in event["breadcrumbs"]["values"]]
    assert ingest.requests[0]["path"] == "/api/1/envelope/"
    assert "secret" not in ingest.raw()  # token text never leaves the process
    exporter.close()
    exporter.close()


def test_a_dsn_secret_never_reaches_the_payload(ingest):
    exporter = SentryExporter(
        SentryExporterConfig.from_env({"SENTRY_DSN": ingest.dsn("publickey:hunter2secret")})
    )
    exporter.init()
    exporter.capture_error(RuntimeError("boom"), failed_record())
    exporter.flush(5)
    assert ingest.wait_for(1)
    body = b"".join(r["body"] for r in ingest.requests).decode()
    assert "hunter2secret" not in body
    assert "hunter2secret" not in repr(exporter.config)
    exporter.close()


def test_without_a_dsn_everything_is_a_no_op():
    exporter = SentryExporter(SentryExporterConfig.from_env({}))
    exporter.init()
    assert not exporter.active
    assert exporter.capture_telemetry_error(failed_record()) is None
    assert exporter.capture_error(RuntimeError("x")) is None
    exporter.add_breadcrumb("x")
    exporter.set_user(user_id="1")
    exporter.flush()
    exporter.close()


def test_an_unreachable_sentry_never_blocks():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    exporter = SentryExporter(
        SentryExporterConfig.from_env({"SENTRY_DSN": f"http://public@127.0.0.1:{port}/1"})
    )
    exporter.init()
    record = failed_record()
    slowest = 0.0
    for _ in range(20):
        start = time.perf_counter()
        exporter.capture_telemetry_error(record)
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 0.05
    start = time.perf_counter()
    exporter.flush(timeout=1.0)
    exporter.close(timeout=1.0)
    assert time.perf_counter() - start < 3.0
