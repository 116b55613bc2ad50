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
