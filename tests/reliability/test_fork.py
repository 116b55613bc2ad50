"""Background workers keep working in a child process after os.fork()."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from l0_monitoring import (
    Monitor,
    Monitoring,
    MonitoringConfig,
    OpenTelemetryExporter,
    OpenTelemetryExporterConfig,
)
from l0_monitoring.testing import make_stream_events

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


class HttpOtlp:
    """OTLP/HTTP receiver: counts spans POSTed to /v1/traces."""

    def __init__(self):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.spans: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/traces":
                    req = ExportTraceServiceRequest.FromString(body)
                    for rs in req.resource_spans:
                        for ss in rs.scope_spans:
                            owner.spans.extend(s.name for s in ss.spans)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_workers_started_in_the_parent_work_in_a_forked_child(tmp_path):
    receiver = HttpOtlp()
    batches_file = tmp_path / "batches.jsonl"
    flushed_file = tmp_path / "flushed.txt"

    def write_batch(events):
        with batches_file.open("a") as f:
            f.write(json.dumps({"pid": os.getpid(), "n": len(events)}) + "\n")

    def on_flush(records):
        with flushed_file.open("a") as f:
            f.write(f"{os.getpid()} {len(records)}\n")

    batch = Monitoring.batch(5, 0.05, write_batch)
    recorder = Monitoring.record(tmp_path / "events.jsonl")
    exporter = OpenTelemetryExporter(OpenTelemetryExporterConfig.from_env(
        {}, endpoint=receiver.endpoint, protocol="http/protobuf", batch_export=False,
        metrics_enabled=False, timeout=2.0))  # fmt: skip
    monitor = Monitor(MonitoringConfig(flush_interval=0.05), on_complete=exporter.export,
                      on_flush=on_flush)  # fmt: skip
    on_event = Monitoring.combine(monitor.handle_event, batch, recorder)
    for e in make_stream_events("parent"):
        on_event(e)  # every worker thread is now running in the parent
    assert wait(lambda: receiver.spans == ["chat gpt-4o"])
    assert recorder.flush(5)

    pid = os.fork()
    if pid == 0:  # the child: everything must still work here
        code = 1
        try:
            for i in range(3):
                for e in make_stream_events(f"child{i}"):
                    on_event(e)
            batch.flush()
            recorder.close()
            time.sleep(0.2)  # the flusher thread delivers on its own
            exporter.flush(5)
            exporter.shutdown()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert wait(lambda: receiver.spans.count("chat gpt-4o") == 4), receiver.spans
    child_batches = [json.loads(x) for x in batches_file.read_text().splitlines()
                     if json.loads(x)["pid"] == pid]  # fmt: skip
    assert sum(b["n"] for b in child_batches) == 3 * len(make_stream_events("x"))
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert sum('"child' in line for line in lines) == 3 * len(make_stream_events("x"))
    assert sum('"parent"' in line for line in lines) == len(make_stream_events("x"))  # once
    assert any(line.startswith(f"{pid} ") for line in flushed_file.read_text().splitlines())
    on_event.close()
    exporter.shutdown()
    receiver.close()


FORK_STORM_CHILDREN = 30


def fork_storm(on_event, checks, children=FORK_STORM_CHILDREN, deadline_s=60.0):
    """Fork ``children`` processes while feeder threads hammer ``on_event``.

    Each child feeds its own events and runs ``checks(i)`` (which returns 0
    when every worker delivered them, else the number of the failed check);
    returns how many children exited 0 in time, and the other exit codes.
    """
    stop = threading.Event()

    def feed(k):
        i = 0
        while not stop.is_set():
            for e in make_stream_events(f"p{k}-{i}"):
                on_event(e)
            i += 1

    feeders = [threading.Thread(target=feed, args=(k,), daemon=True) for k in range(3)]
    for t in feeders:
        t.start()
    pids = []
    try:
        for i in range(children):
            time.sleep(0.005)  # let the feeders take locks between forks
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    code = checks(i)
                finally:
                    os._exit(code)
            pids.append(pid)
    finally:
        stop.set()
        for t in feeders:
            t.join(5)
    completed = 0
    codes = []
    deadline = time.monotonic() + deadline_s
    waiting = set(pids)
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                waiting.discard(pid)
                code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
                completed += code == 0
                codes += [code] if code else []
        time.sleep(0.02)
    for pid in waiting:  # hung: the failure this test exists to catch
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        codes.append("hung")
    return completed, codes


@pytest.mark.filterwarnings("ignore:This process.*is multi-threaded:DeprecationWarning")
def test_a_fork_storm_of_30_children_over_every_worker_completes(tmp_path):
    batch_seen = Monitoring.batch(5, 0.01, lambda events: None)
    debounced = Monitoring.debounce(0.01, lambda event: None)
    recorder = Monitoring.record(tmp_path / "events.jsonl", max_bytes=200_000, backup_count=2)
    monitor = Monitor(MonitoringConfig(flush_interval=0.01), on_complete=lambda t: None,
                      on_flush=lambda records: None)  # fmt: skip

    def failing(event):
        raise RuntimeError("a handler that always fails (logged, rate-limited)")

    on_event = Monitoring.combine(monitor.handle_event, batch_seen, debounced, recorder, failing)

    def checks(i):
        events = make_stream_events(f"child{i}")
        before = batch_seen.stats()["delivered"]
        debounced_before = debounced.stats()["delivered"]
        for e in events:
            on_event(e)
        if not (batch_seen.flush(10) and debounced.flush(10) and recorder.flush(10)):
            return 10
        recorder.close(10)
        if batch_seen.stats()["delivered"] - before != len(events):
            return 11
        if debounced.stats()["delivered"] <= debounced_before:  # the latest, at least once
            return 12
        if recorder.stats()["written"] != len(events):
            return 13
        if monitor.get_telemetry(f"child{i}") is None:
            return 14
        monitor.close()
        return 0

    completed, failures = fork_storm(on_event, checks)
    on_event.close()
    assert completed == FORK_STORM_CHILDREN, failures


@pytest.mark.filterwarnings("ignore:This process.*is multi-threaded:DeprecationWarning")
def test_a_fork_storm_with_the_opentelemetry_handler_completes(tmp_path):
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    tracer_provider = TracerProvider()
    spans = InMemorySpanExporter()
    tracer_provider.add_span_processor(BatchSpanProcessor(spans, schedule_delay_millis=10))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    otel = Monitoring.opentelemetry(tracer_provider.get_tracer("t"), meter_provider.get_meter("m"))
    batch = Monitoring.batch(5, 0.01, lambda events: None)
    recorder = Monitoring.record(tmp_path / "events.jsonl")

    def failing(event):
        raise RuntimeError("always fails")

    on_event = Monitoring.combine(otel, batch, recorder, failing)

    def checks(i):
        events = make_stream_events(f"child{i}")
        for e in events:
            on_event(e)
        if not (batch.flush(10) and recorder.flush(10)):
            return 10
        recorder.close(10)
        return 0 if recorder.stats()["written"] == len(events) else 13

    completed, failures = fork_storm(on_event, checks)
    on_event.close()
    tracer_provider.shutdown()
    meter_provider.shutdown()
    assert completed == FORK_STORM_CHILDREN, failures
