"""Sentry: the exporter's events carry only its own scope; the app's scope gets the figures."""

from __future__ import annotations

import socket

import pytest

sentry_sdk = pytest.importorskip("sentry_sdk")

from l0_monitoring import (  # noqa: E402
    Monitor,
    Sentry,
    SentryConfig,
    SentryExporter,
    SentryExporterConfig,
    with_sentry,
)
from l0_monitoring.testing import make_stream_events  # noqa: E402

from .sentry_ingest import Ingest, MemoryTransport  # noqa: E402

# The application's own scope data. Kept out of the test bodies: a captured stack
# trace quotes the source lines around the capture.
APP_USER = {"id": "app-user", "email": "app@example.com", "ip_address": "10.0.0.1"}
APP_VALUES = ("app-user", "app@example.com", "10.0.0.1", "app-tag", "app-value", "app-context",
              "app-only", "application breadcrumb", "inner-app-tag")  # fmt: skip


def set_application_scope():
    sentry_sdk.set_user(APP_USER)
    sentry_sdk.set_tag("app-tag", "app-value")
    sentry_sdk.set_context("app-context", {"secret": "app-only"})
    sentry_sdk.add_breadcrumb(message="application breadcrumb")


def record(sid="s1", outcome="halt"):
    m = Monitor()
    for e in make_stream_events(sid, outcome=outcome):
        m.handle_event(e)
    return m.get_telemetry(sid)


@pytest.fixture
def ingest():
    server = Ingest().start()
    yield server
    server.stop()


@pytest.fixture
def app_sentry():
    """The application's own global Sentry client, with its own user, tags, breadcrumbs."""
    MemoryTransport.envelopes = []
    sentry_sdk.init(dsn="http://app@127.0.0.1:9/2", transport=MemoryTransport,
                    default_integrations=False)  # fmt: skip
    yield
    sentry_sdk.init(default_integrations=False)  # back to a disabled client


def test_exporter_events_carry_no_application_scope_data(ingest, app_sentry):
    set_application_scope()
    exporter = SentryExporter(
        SentryExporterConfig.from_env({"SENTRY_DSN": ingest.dsn()}, tags={"service": "llm"})
    )
    exporter.init()
    exporter.add_breadcrumb("exporter breadcrumb")
    with sentry_sdk.new_scope() as scope:  # even from inside an application scope
        scope.set_tag(APP_VALUES[-1], "x")
        assert exporter.capture_telemetry_error(record())
        assert exporter.capture_message("a message")
    exporter.close(5)
    assert ingest.wait_for(2)
    raw = ingest.raw()
    for leaked in APP_VALUES:
        assert leaked not in raw, leaked
    event = ingest.items("event")[0]
    assert event["tags"]["service"] == "llm"
    assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["exporter breadcrumb"]
    assert "user" not in event
    assert event["contexts"]["l0"]["outcome"] == "failed"
    assert exporter.stats()["sent"] == 2 and exporter.stats()["lost"] == 0


def test_explicit_user_data_is_sent_with_send_default_pii_off(ingest):
    exporter = SentryExporter(SentryExporterConfig.from_env({"SENTRY_DSN": ingest.dsn()}))
    assert exporter.config.send_default_pii is False
    exporter.init()
    exporter.set_user(user_id="42", email="user@example.com", ip_address="192.0.2.7")
    exporter.capture_error(RuntimeError("boom"), record())
    exporter.close(5)
    assert ingest.wait_for(1)
    (event,) = ingest.items("event")
    assert event["user"] == {"id": "42", "email": "user@example.com", "ip_address": "192.0.2.7"}


def test_complete_execution_leaves_figures_on_the_applications_scope_without_tags(app_sentry):
    s = Sentry(sentry_sdk, SentryConfig(tags={"team": "llm"}))
    s.complete_execution(record(outcome="complete"))
    sentry_sdk.capture_message("later application event")
    (event,) = MemoryTransport.items("event")
    assert "L0 execution completed" in [c["message"] for c in event["breadcrumbs"]["values"]]
    assert event["contexts"]["l0"]["stream_id"] == "s1"
    assert event["contexts"]["l0"]["outcome"] == "completed"
    assert "team" not in event.get("tags", {})


def test_with_sentry_around_a_successful_call_leaves_execution_breadcrumbs(app_sentry):
    with with_sentry(sentry_sdk, config=SentryConfig(tags={"team": "llm"})) as tracked:
        for e in make_stream_events("s1"):
            tracked.on_event(e)

    async def ok():
        return 1

    import asyncio

    assert asyncio.run(with_sentry(sentry_sdk, ok)) == 1
    sentry_sdk.capture_message("later application event")
    (event,) = MemoryTransport.items("event")
    crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
    assert crumbs.count("L0 execution started") >= 3  # the block, its stream, the call form
    assert crumbs.count("L0 execution completed") >= 3
    assert "team" not in event.get("tags", {})


def test_an_unreachable_ingest_is_reported_as_lost_not_sent():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    exporter = SentryExporter(
        SentryExporterConfig.from_env({"SENTRY_DSN": f"http://public@127.0.0.1:{port}/1"})
    )
    exporter.init()
    for _ in range(3):
        assert exporter.capture_telemetry_error(record())
    exporter.close(2)
    stats = exporter.stats()
    assert stats["captured"] == 3 and stats["sent"] == 0 and stats["lost"] == 3
    assert stats["pending"] == 0


def test_an_ingest_that_refuses_is_reported_as_lost():
    refusing = Ingest(status=500).start()
    try:
        exporter = SentryExporter(SentryExporterConfig.from_env({"SENTRY_DSN": refusing.dsn()}))
        exporter.init()
        exporter.capture_telemetry_error(record())
        exporter.flush(5)
        assert refusing.wait_for(1)
        exporter.close(2)
        assert exporter.stats()["sent"] == 0 and exporter.stats()["lost"] == 1
    finally:
        refusing.stop()


# The application, in a process of its own: sentry_sdk.init with the default
# integrations patches the interpreter (http.client, threading, logging, excepthook)
# for good. Run with -c, so no source line of it is quoted in a stack trace.
APPLICATION = """
import contextlib, json, sys
import sentry_sdk
from l0_monitoring import Monitor, SentryExporter, SentryExporterConfig
from l0_monitoring.testing import make_stream_events

app_dsn, exporter_dsn, tracing = sys.argv[1:4]
sentry_sdk.init(dsn=app_dsn, environment="app-env", release="app-release",
                traces_sample_rate=1.0 if tracing == "yes" else None,
                send_default_pii=True)  # and the default integrations
sentry_sdk.set_user({"id": "app-user", "email": "app@example.com", "ip_address": "10.0.0.1"})
sentry_sdk.set_tag("app-tag", "app-value")
sentry_sdk.set_extra("app-extra", "app-only")
sentry_sdk.set_context("app-context", {"secret": "app-only"})
sentry_sdk.add_breadcrumb(message="application breadcrumb")
exporter = SentryExporter(SentryExporterConfig.from_env(
    {"SENTRY_DSN": exporter_dsn, "SENTRY_ENVIRONMENT": "exporter-env",
     "SENTRY_RELEASE": "exporter-release"}, tags={"service": "llm"}))
exporter.init()
exporter.add_breadcrumb("exporter breadcrumb")
m = Monitor()
for e in make_stream_events("s1", outcome="halt"):
    m.handle_event(e)
record = m.get_telemetry("s1")
transaction = sentry_sdk.start_transaction(name="app-request") if tracing == "yes" else None
with transaction or contextlib.nullcontext():
    app_trace_id = sentry_sdk.get_traceparent().split("-")[0]
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("inner-app-tag", "x")
        ids = [exporter.capture_telemetry_error(record), exporter.capture_message("a message")]
        try:
            raise ValueError("boom")
        except ValueError as exc:
            ids.append(exporter.capture_error(exc, record))
exporter.close(5)
sentry_sdk.flush(5)
print(json.dumps({"ids": ids, "stats": exporter.stats(), "trace_id": app_trace_id}))
"""


@pytest.mark.parametrize("tracing", ["yes", "no"])
def test_exporter_events_carry_nothing_from_the_applications_client(ingest, tracing):
    # r14 finding 1: with the application's Sentry client initialised with its
    # default integrations, the exporter's envelopes carried the application's
    # public key and environment (envelope header trace DSC, sentry-trace/baggage
    # HTTP headers, DSC in stack-frame locals) and the application's
    # extra sys.argv and contexts.runtime (its integrations' event processors).
    # The transport's worker thread may see the application's client as current
    # (its stdlib integration then adds the headers to the exporter's requests).
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    app = Ingest().start()
    try:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
        environ["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
        done = subprocess.run(
            [sys.executable, "-c", APPLICATION, app.dsn("appkey"), ingest.dsn("exporterkey"),
             tracing],
            capture_output=True, text=True, timeout=60, env=environ, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        app.stop()
    assert all(out["ids"]) and out["stats"]["sent"] == 3
    assert app.items("transaction") or tracing == "no"  # the application's client works
    raw = ingest.raw()  # bodies and HTTP headers of every request the exporter made
    for leaked in (*APP_VALUES, "appkey", "app-env", "app-release", "app-extra", "sys.argv",
                   out["trace_id"]):  # fmt: skip
        assert leaked not in raw, leaked
    for request in ingest.requests:
        headers = {k.lower() for k in request["headers"]}
        assert "sentry-trace" not in headers and "baggage" not in headers
        envelope_header = json.loads(request["body"].split(b"\n")[0])
        assert envelope_header["trace"]["public_key"] == "exporterkey"
        assert envelope_header["trace"]["environment"] == "exporter-env"
    events = ingest.items("event")
    assert len(events) == 3
    for event in events:
        assert "extra" not in event and "modules" not in event
        assert set(event["contexts"]) == {"l0", "trace"} or set(event["contexts"]) == {"trace"}
        assert event["tags"]["service"] == "llm"
        assert [c["message"] for c in event["breadcrumbs"]["values"]] == ["exporter breadcrumb"]
        assert event["environment"] == "exporter-env"
