"""Secrets and token content never leak: logs at DEBUG, reprs, exports, spans, Sentry, CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")
sentry_sdk = pytest.importorskip("sentry_sdk")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from l0_monitoring import (  # noqa: E402
    Monitor,
    Monitoring,
    OpenTelemetryExporter,
    OpenTelemetryExporterConfig,
    SentryExporter,
    SentryExporterConfig,
    TelemetryExporter,
)
from l0_monitoring.testing import make_stream_events  # noqa: E402

from ..otlp_receiver import Receiver  # noqa: E402
from ..sentry_ingest import Ingest  # noqa: E402

DSN_SECRET = "DsnS3cretKey42"
HEADER_TOKEN = "T0kenS3cret42"
TOKEN_TEXT = "TopSecretTokenText"
SECRETS = (DSN_SECRET, HEADER_TOKEN)
ROOT = Path(__file__).resolve().parents[2]


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record whose args fail to format still must not leak
            self.lines.append(str(record.msg))


@pytest.fixture
def debug_logs():
    handler = Collect()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    names = ("l0_monitoring", "sentry_sdk", "sentry_sdk.errors", "opentelemetry", "grpc")
    levels = {name: logging.getLogger(name).level for name in names}
    sentry_handlers = list(logging.getLogger("sentry_sdk.errors").handlers)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    # sentry's debug mode adds a stderr handler; do not leave it behind.
    logging.getLogger("sentry_sdk.errors").handlers[:] = sentry_handlers


def events():
    return [
        *make_stream_events("ok", tokens=[TOKEN_TEXT, " more"]),
        *make_stream_events("bad", tokens=[TOKEN_TEXT], outcome="halt", network_retries=1),
    ]


def test_nothing_secret_or_private_leaks_anywhere(debug_logs, env, tmp_path):
    receiver = Receiver().start()
    ingest = Ingest().start()
    dsn = ingest.dsn(f"public:{DSN_SECRET}")
    env.setenv("SENTRY_DSN", dsn)
    env.setenv("SENTRY_DEBUG", "true")
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    env.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    env.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{HEADER_TOKEN}")
    texts: list[str] = []
    try:
        # Exporters configured from the environment, at debug level.
        otel_cfg, sentry_cfg = (
            OpenTelemetryExporterConfig.from_env(),
            SentryExporterConfig.from_env(),
        )
        otel_exporter = OpenTelemetryExporter(otel_cfg)
        sentry_exporter = SentryExporter(sentry_cfg)
        sentry_exporter.init()
        # The application's Sentry, initialised from the same DSN, and every handler.
        sentry_sdk.init(dsn=dsn, debug=True, traces_sample_rate=1.0, default_integrations=False)
        spans = InMemorySpanExporter()
        tp = TracerProvider()
        tp.add_span_processor(SimpleSpanProcessor(spans))
        monitor = Monitor(on_complete=otel_exporter.export)
        recorder = Monitoring.record(tmp_path / "events.jsonl")
        on_event = Monitoring.combine(
            monitor.handle_event, recorder,
            Monitoring.opentelemetry(tracer=tp.get_tracer("t"), trace_tokens=True),
            Monitoring.sentry(sentry_sdk, breadcrumbs_for_tokens=True),
        )  # fmt: skip
        for e in events():
            on_event(e)
        records = monitor.get_all_telemetry()
        for t in records:
            sentry_exporter.capture_telemetry_error(t)
        on_event.close()
        sentry_sdk.flush(5)
        sentry_exporter.flush(5)
        otel_exporter.flush(5)
        assert receiver.wait_for(lambda: len(receiver.spans()) == 2)
        assert ingest.wait_for(2)
        otel_exporter.shutdown()
        sentry_exporter.close()
        texts += debug_logs.lines
        texts += [repr(otel_cfg), str(otel_cfg), repr(sentry_cfg), otel_cfg.model_dump_json(),
                  sentry_cfg.model_dump_json(), repr(sentry_exporter.config)]  # fmt: skip
        E = TelemetryExporter  # noqa: N806
        texts += [E.to_jsonl(records), E.to_csv(records), E.to_prometheus(records),
                  *(E.to_log_format(t) for t in records), *(E.to_json(t) for t in records),
                  json.dumps([E.to_metrics(t) for t in records])]  # fmt: skip
        for span in spans.get_finished_spans():
            texts.append(span.to_json())
        texts += [str(s) for _, s in receiver.spans()]
        # Payloads (envelope bodies). The X-Sentry-Auth header of an old-style DSN
        # carries its secret to its own Sentry host: that is how such a DSN
        # authenticates, so headers are not checked.
        texts += [r["body"].decode("utf-8", "replace") for r in ingest.requests]
        texts.append((tmp_path / "events.jsonl").read_text())
        texts += [p.read_text() for p in (ROOT / "schemas").glob("*.json")]
        demo = subprocess.run(
            [sys.executable, "-m", "l0_monitoring", "demo", "--simulate", "--streams", "25",
             "--out", str(tmp_path / "demo")], capture_output=True, text=True, timeout=120,
            env={**os.environ, "SENTRY_DEBUG": "true"}, check=False,
        )  # fmt: skip
        assert demo.returncode == 0, demo.stderr
        texts += [demo.stdout, demo.stderr]
        texts += [p.read_text() for p in (tmp_path / "demo").iterdir()]
    finally:
        sentry_sdk.get_client().close(timeout=1)
        sentry_sdk.init(default_integrations=False)
        receiver.stop()
        ingest.stop()
    blob = "\n".join(texts)
    assert len(debug_logs.lines) > 10  # debug logging really was on
    for secret in SECRETS:
        assert secret not in blob, secret
    assert TOKEN_TEXT not in blob  # no token content without consent


def test_token_content_appears_only_with_consent(tmp_path):
    path = tmp_path / "opted-in.jsonl"
    with Monitoring.record(path, record_token_content=True) as rec:
        for e in events():
            rec(e)
    assert TOKEN_TEXT in path.read_text()  # the check above can see token text
    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    handler = Monitoring.opentelemetry(tracer=tp.get_tracer("t"), trace_tokens=True,
                                       record_token_content=True)  # fmt: skip
    for e in events():
        handler(e)
    assert TOKEN_TEXT in "".join(s.to_json() for s in spans.get_finished_spans())


def test_secret_values_are_not_echoed_by_validation_errors():
    with pytest.raises(ValueError) as info:
        SentryExporterConfig(dsn=f"not-a-dsn-{DSN_SECRET}")
    assert DSN_SECRET not in str(info.value)
    with pytest.raises(ValueError) as info:
        SentryExporterConfig.from_env({}, dsn=f"nope {DSN_SECRET}")
    assert DSN_SECRET not in str(info.value)


def test_secret_values_are_not_echoed_by_environment_warnings(caplog):
    cfg = SentryExporterConfig.from_env({"SENTRY_DSN": f"nope {DSN_SECRET}"})
    assert cfg.dsn is None  # ignored, with a warning naming the variable
    assert "SENTRY_DSN" in caplog.text and DSN_SECRET not in caplog.text
