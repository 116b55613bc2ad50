"""Faults: broken backends and callbacks never reach the host, and are counted."""

from __future__ import annotations

import io
import socket
import threading
import time

import grpc
import pytest

from l0_monitoring import (
    Monitor,
    Monitoring,
    OpenTelemetryExporter,
    OpenTelemetryExporterConfig,
    SentryExporter,
    SentryExporterConfig,
)
from l0_monitoring.testing import make_stream_events

from ..otlp_receiver import Receiver
from ..sentry_ingest import Ingest

# Seconds a host call may take, whatever the backend does. A call that waited
# for the backend would take the exporter's timeout (1 s) or the hang (3 s);
# half of the shortest tells the two apart without failing when a shared
# machine deschedules the test for a few tens of milliseconds.
BOUND = 0.5


def records(n=10):
    m = Monitor(on_complete=None)
    for i in range(n):
        for e in make_stream_events(f"s{i}", outcome="halt" if i % 3 == 0 else "complete"):
            m.handle_event(e)
    return m.get_all_telemetry()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ResettingServer:
    """Accepts TCP connections and resets them at once (RST)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        import struct

        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self):
        self.stop = True
        self.sock.close()


@pytest.fixture(params=["refused", "hangs", "unavailable", "resets"])
def broken_collector(request):
    kind = request.param
    if kind == "refused":
        yield kind, f"http://127.0.0.1:{closed_port()}"
    elif kind == "resets":
        server = ResettingServer()
        yield kind, f"http://127.0.0.1:{server.port}"
        server.close()
    else:
        receiver = Receiver(status=grpc.StatusCode.UNAVAILABLE if kind == "unavailable" else None,
                            delay=3.0 if kind == "hangs" else 0.0).start()  # fmt: skip
        yield kind, receiver.endpoint
        receiver.stop()


def test_a_broken_collector_never_blocks_or_raises_into_the_host(broken_collector):
    kind, endpoint = broken_collector
    cfg = OpenTelemetryExporterConfig.from_env(
        {}, endpoint=endpoint, insecure=True, timeout=1.0, batch_export=False,
        export_interval=0.2,
    )  # fmt: skip
    exporter = OpenTelemetryExporter(cfg)
    monitor = Monitor(on_complete=exporter.export)
    try:
        slowest = 0.0
        for i in range(30):
            for e in make_stream_events(f"s{i}"):
                start = time.perf_counter()
                monitor.handle_event(e)
                slowest = max(slowest, time.perf_counter() - start)
        assert slowest < BOUND, (kind, slowest)
        deadline = time.monotonic() + 8
        while exporter.stats()["failed_exports"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = exporter.stats()
        assert stats["failed_exports"] >= 1, (kind, stats)  # visible, not silent
        assert stats["dropped"] == 0
        start = time.perf_counter()
        exporter.shutdown()
        assert time.perf_counter() - start < cfg.timeout + 1.5, kind
        assert monitor.stats()["callback_errors"] == 0
    finally:
        # Even when an assertion failed: a live exporter would retry (with the
        # SDK's random jitter) for the rest of the session, and Hypothesis fails
        # every later property test that sees `random` used meanwhile.
        exporter.shutdown()


@pytest.fixture(params=[429, 500, "hangs"])
def broken_sentry(request):
    status = request.param
    ingest = Ingest(status=500 if status == "hangs" else status,
                    delay=3.0 if status == "hangs" else 0.0).start()  # fmt: skip
    yield status, ingest
    ingest.stop()


def test_a_broken_sentry_never_blocks_or_raises(broken_sentry):
    status, ingest = broken_sentry
    exporter = SentryExporter(SentryExporterConfig.from_env({"SENTRY_DSN": ingest.dsn()}))
    exporter.init()
    slowest = 0.0
    for t in records(30):
        start = time.perf_counter()
        exporter.capture_telemetry_error(t)
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < BOUND, (status, slowest)
    assert exporter.stats()["errors"] == 0
    start = time.perf_counter()
    exporter.flush(timeout=1.0)
    exporter.close(timeout=1.0)
    assert time.perf_counter() - start < 3.5, status
    assert ingest.requests  # it did try


def test_raising_callbacks_and_exporters_are_contained():
    def broken_export(t):
        raise ConnectionError("exporter down")

    def broken_flush(records):
        raise OSError("disk gone")

    from l0_monitoring import MonitoringConfig

    monitor = Monitor(MonitoringConfig(flush_interval=0.05), on_complete=broken_export,
                      on_flush=broken_flush)  # fmt: skip
    combined = Monitoring.combine(monitor.handle_event, lambda e: 1 / 0)
    slowest = 0.0
    for i in range(200):
        for e in make_stream_events(f"s{i}"):
            start = time.perf_counter()
            combined(e)
            slowest = max(slowest, time.perf_counter() - start)
    assert slowest < BOUND
    time.sleep(0.15)
    monitor.close()
    stats = monitor.stats()
    assert stats["callback_errors"] >= 201 and stats["records_kept"] == 200


class DiskFull(io.StringIO):
    def write(self, s):
        raise OSError(28, "No space left on device")


def test_a_full_disk_never_reaches_the_stream():
    rec = Monitoring.record(DiskFull())
    monitor = Monitor()
    on_event = Monitoring.combine(monitor.handle_event, rec)
    slowest = 0.0
    for i in range(300):
        for e in make_stream_events(f"s{i}"):
            start = time.perf_counter()
            on_event(e)
            slowest = max(slowest, time.perf_counter() - start)
    assert slowest < BOUND
    start = time.perf_counter()
    rec.close(timeout=2)
    assert time.perf_counter() - start < 3
    stats = rec.stats()
    assert stats["written"] == 0 and stats["lost_to_errors"] == stats["accepted"] > 0
    assert monitor.get_aggregate_metrics()["count"] == 300
