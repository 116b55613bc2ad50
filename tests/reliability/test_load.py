"""Load: many threads and many asyncio streams through every integration at once."""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc

import pytest

pytest.importorskip("opentelemetry.sdk")
sentry_sdk = pytest.importorskip("sentry_sdk")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from l0_monitoring import Monitor, Monitoring, MonitoringConfig  # noqa: E402
from l0_monitoring.testing import make_stream_events  # noqa: E402

from ..sentry_ingest import MemoryTransport  # noqa: E402

TOKENS = ["a", "b", "c"]


@pytest.fixture
def pipeline(tmp_path):
    MemoryTransport.envelopes = []
    sentry_sdk.init(dsn="http://public@127.0.0.1:9/1", transport=MemoryTransport,
                    default_integrations=False)  # fmt: skip
    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
    kept = []
    monitor = Monitor(
        MonitoringConfig(buffer_size=10), on_complete=lambda t: kept.append(t.stream_id)
    )
    recorder = Monitoring.record(tmp_path / "events.jsonl", max_queue=10**6)
    otel = Monitoring.opentelemetry(tracer=tp.get_tracer("load"), meter=mp.get_meter("load"))
    sentry = Monitoring.sentry(sentry_sdk, enable_tracing=False)
    on_event = Monitoring.combine(monitor.handle_event, otel, sentry, recorder)
    yield monitor, recorder, spans, kept, on_event, tmp_path / "events.jsonl"
    on_event.close()
    tp.shutdown()
    mp.shutdown()
    sentry_sdk.get_client().close(timeout=1)
    sentry_sdk.init(default_integrations=False)
    sentry_sdk.get_isolation_scope().clear()


def check(monitor, recorder, spans, kept, path, streams, events):
    agg = monitor.get_aggregate_metrics()
    assert agg["count"] == streams and monitor.stats()["in_flight"] == 0
    assert agg["total_tokens"] == streams * len(TOKENS)
    assert len(kept) == streams and len(set(kept)) == streams  # none lost, none twice
    assert len(spans.get_finished_spans()) == streams
    assert recorder.flush(30)
    with path.open() as f:
        assert sum(1 for _ in f) == events


def test_eight_threads_five_thousand_streams_each(pipeline):
    monitor, recorder, spans, kept, on_event, path = pipeline
    per_thread = 5000
    counts = [0] * 8

    def work(k):
        for i in range(per_thread):
            for e in make_stream_events(f"t{k}-{i}", tokens=TOKENS, model=None):
                on_event(e)
                counts[k] += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check(monitor, recorder, spans, kept, path, 8 * per_thread, sum(counts))


def test_a_thousand_concurrent_asyncio_streams(pipeline):
    monitor, recorder, spans, kept, on_event, path = pipeline
    sent = [0]

    async def stream(i):
        for e in make_stream_events(f"a{i}", tokens=TOKENS):
            on_event(e)
            sent[0] += 1
            await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(stream(i) for i in range(1000)))

    asyncio.run(main())
    check(monitor, recorder, spans, kept, path, 1000, sent[0])


def test_memory_returns_to_baseline_after_clear():
    monitor = Monitor()
    for e in make_stream_events("warm-up"):
        monitor.handle_event(e)
    monitor.clear()
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    for i in range(20_000):
        for e in make_stream_events(
            f"s{i}", tokens=TOKENS, outcome="none" if i % 2 else "complete"
        ):
            monitor.handle_event(e)
    grown = tracemalloc.get_traced_memory()[0] - baseline
    monitor.clear()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    assert grown > 1_000_000  # 10,000 streams were in flight
    assert after < 150_000, after  # back to baseline (fresh sketches only)


def test_queued_histogram_values_survive_threads_and_concurrent_collections(monkeypatch):
    # Streams end on 6 threads while a reader collects in a loop; the backlog is
    # kept small so overflow drains race the collector's drains. Nothing is lost
    # or counted twice.
    from l0_monitoring.otel import metrics as otel_metrics

    monkeypatch.setattr(otel_metrics, "_MAX_PENDING", 64)
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    handler = Monitoring.opentelemetry(meter=mp.get_meter("load"))
    per_thread, threads_n = 800, 6
    done = threading.Event()
    points: dict[str, int] = {}

    def collect_loop():
        while not done.is_set():
            reader.get_metrics_data()

    def work(k):
        for i in range(per_thread):
            for e in make_stream_events(f"t{k}-{i}", tokens=TOKENS, report_counts=True):
                handler(e)

    collector = threading.Thread(target=collect_loop)
    collector.start()
    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads_n)]
    for th in workers:
        th.start()
    for th in workers:
        th.join()
    done.set()
    collector.join()
    assert handler.stats()["metrics_pending"] <= 64
    data = reader.get_metrics_data()  # cumulative temporality: totals since start
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                points[m.name] = sum(
                    getattr(p, "count", None) or getattr(p, "value", 0) for p in m.data.data_points
                )
    total = per_thread * threads_n
    assert handler.stats()["metrics_pending"] == 0
    assert points["gen_ai.client.operation.duration"] == total
    assert points["gen_ai.client.operation.time_to_first_chunk"] == total
    assert points["gen_ai.client.token.usage"] == total
    assert points["l0.streams"] == total
    mp.shutdown()
