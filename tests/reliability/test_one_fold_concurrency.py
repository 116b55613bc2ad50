"""One fold under load: locks held briefly, fork-safe locks, bounded per-stream sets,
and Sentry captures that always carry their stream's telemetry."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import tracemalloc

import pytest

from l0_monitoring import Monitor, MonitoringConfig, ObservabilityEvent
from l0_monitoring import monitor as monitor_module
from l0_monitoring._internal.fold import MAX_CONTEXT_KEYS, MAX_VIOLATION_KEYS
from l0_monitoring.testing import make_runtime_events, make_stream_events

from ..conftest import T0, T, ev

_GC_RUNS = [0]


def _count_gc(phase: str, info: dict) -> None:
    if phase == "stop":
        _GC_RUNS[0] += 1


class TimedLock:
    """A lock that measures how long each holder keeps it, in the holder's CPU time.

    CPU time of the holding thread (``time.thread_time``) is the work done
    under the lock; waiting for the GIL while holding it is not counted, so the
    measurement is about our code, not about the machine's load. A hold during
    which the interpreter ran a garbage collection is not counted either: a
    collection pauses whatever code allocates (the host's included), whichever
    lock it holds; ``gc_holds`` says how many holds were excluded.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.holds: list[tuple[str, float]] = []  # (the holding function, CPU seconds)
        self.gc_holds = 0
        self.owner: int | None = None
        self._t0 = 0.0
        self._gc = 0
        self._where = ""

    def __enter__(self) -> TimedLock:
        where = sys._getframe(1).f_code.co_name
        self._lock.acquire()
        self.owner = threading.get_ident()
        self._where = where
        self._gc = _GC_RUNS[0]
        self._t0 = time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        held = time.thread_time() - self._t0
        if _GC_RUNS[0] == self._gc:
            self.holds.append((self._where, held))
        else:
            self.gc_holds += 1
        self.owner = None
        self._lock.release()


def test_reading_10000_buffered_records_never_holds_a_lock_for_a_millisecond():
    flushed: list[int] = []
    monitor = Monitor(
        MonitoringConfig(buffer_size=10_000), on_flush=lambda records: flushed.append(len(records))
    )
    for i in range(10_000):
        for e in make_runtime_events(f"old{i}", guardrail_rules=0):
            monitor.handle_event(e)
    monitor_lock, table_lock = TimedLock(), TimedLock()
    monitor._lock = monitor_lock  # type: ignore[assignment]
    monitor.table._lock = table_lock  # type: ignore[assignment]
    built = {"under_lock": 0, "outside": 0}
    build = monitor_module.telemetry

    def counting_build(*args, **kwargs):
        me = threading.get_ident()
        key = "under_lock" if me in (monitor_lock.owner, table_lock.owner) else "outside"
        built[key] += 1
        return build(*args, **kwargs)

    monitor_module.telemetry = counting_build
    rounds = {"reads": 0, "events": 0}
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set() and rounds["reads"] < 3:
            for st in list(monitor._buffer):
                st.record = None  # worst case: every record is rebuilt by this read
            assert len(monitor.get_all_telemetry()) == 10_000
            monitor.get_aggregate_metrics()
            rounds["reads"] += 1
        monitor.flush()

    reader = threading.Thread(target=read)
    gc.callbacks.append(_count_gc)
    reader.start()
    i = 0
    while reader.is_alive():
        for e in make_stream_events(f"new{i}"):
            monitor.handle_event(e)
            rounds["events"] += 1
        i += 1
    reader.join()
    gc.callbacks.remove(_count_gc)
    stop.set()
    monitor.flush()  # what the writer finished after the reader's flush
    assert rounds["reads"] == 3
    assert sum(flushed) + monitor.stats()["flush_dropped"] == 10_000 + i  # exact accounting
    assert rounds["events"] > 0  # the writer made progress while records were built
    monitor_module.telemetry = build
    # Counts: no record is ever built while a lock is held, and the reads took
    # the Monitor's lock a handful of times each (one copy of the buffer).
    assert built["under_lock"] == 0 and built["outside"] >= 3 * 10_000
    reads = [h for where, h in monitor_lock.holds if where != "on_finish"]
    assert 0 < len(reads) <= 3 * 3 + 2
    # Time: each of those holds is well under a millisecond of CPU.
    holds = monitor_lock.holds + table_lock.holds
    assert len(holds) > 10 * (monitor_lock.gc_holds + table_lock.gc_holds)
    slowest = max(reads)
    assert slowest < 0.001, f"a read held the Monitor's lock for {slowest * 1000:.2f} ms of CPU"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forking_while_another_thread_reads_the_monitor_never_hangs_a_child():
    monitor = Monitor(MonitoringConfig(buffer_size=5000))
    for i in range(2000):
        for e in make_runtime_events(f"s{i}", guardrail_rules=0):
            monitor.handle_event(e)
    stop = threading.Event()
    reads = {"n": 0}

    def read() -> None:
        while not stop.is_set():
            for st in list(monitor._buffer)[:200]:
                st.record = None
            monitor.get_all_telemetry()
            monitor.stats()
            monitor.get_aggregate_metrics()
            reads["n"] += 1

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    children = []
    try:
        for child in range(10):
            while reads["n"] <= child:  # fork while the reader is mid-read, ten times
                time.sleep(0.001)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    for e in make_stream_events(f"child{child}"):
                        monitor.handle_event(e)
                    assert monitor.get_telemetry(f"child{child}").completed
                    monitor.get_all_telemetry()
                    monitor.stats()
                    monitor.close()
                    code = 0
                finally:
                    os._exit(code)
            children.append(pid)
    finally:
        stop.set()
        reader.join(10)
    deadline = time.monotonic() + 60
    statuses = {}
    while len(statuses) < len(children) and time.monotonic() < deadline:
        for pid in children:
            if pid not in statuses:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    statuses[pid] = status
        time.sleep(0.01)
    hung = [pid for pid in children if pid not in statuses]
    for pid in hung:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert hung == [], f"{len(hung)} children hung"
    assert all(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in statuses.values())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_another_thread_holds_every_lock_does_not_hang():
    from l0_monitoring import OpenTelemetry
    from l0_monitoring.otel import OpenTelemetryHandler

    from ..test_otel import Sdk

    sdk = Sdk()
    monitor = Monitor()
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    for e in make_stream_events("parent"):
        monitor.handle_event(e)
        otel(e)
    instruments = otel.otel._instruments
    locks = [
        monitor._lock,
        monitor.table._lock,
        monitor.table.errors._lock,
        otel.table._lock,
        instruments.lock,
        instruments.drain_lock,
    ]
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        for lock in locks:
            lock.acquire()
        held.set()
        release.wait(30)
        for lock in locks:
            lock.release()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for e in make_stream_events("child"):
                monitor.handle_event(e)
                otel(e)
            assert monitor.get_telemetry("child").completed
            monitor.get_all_telemetry()
            monitor.get_aggregate_metrics()
            otel.flush()
            monitor.close()
            code = 0
        finally:
            os._exit(code)
    try:
        deadline = time.monotonic() + 30
        status = None
        while status is None and time.monotonic() < deadline:
            done, st = os.waitpid(pid, os.WNOHANG)
            status = st if done else None
            time.sleep(0.01)
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        assert status is not None, "the child hung on a lock held at fork time"
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        release.set()
        holder.join()
        sdk.tp.shutdown()
        sdk.mp.shutdown()


def test_a_million_distinct_violations_stay_within_a_few_mb():
    monitor = Monitor()
    monitor.handle_event(ev(T.SESSION_START, 0))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for batch in range(10_000):  # 100 violations per event (the per-event bound)
            violations = [{"rule": "r", "message": f"m{batch}-{i}"} for i in range(100)]
            monitor.handle_event(ev(T.GUARDRAIL_RULE_RESULT, 1, violations=violations))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 4 * 2**20, f"{grown / 2**20:.1f} MiB"
    monitor.handle_event(ev(T.COMPLETE, 2))
    t = monitor.get_telemetry("s1")
    assert len(t.guardrails.violations) == 100
    assert monitor.table.stats()["streams_finished"] == 1
    assert MAX_VIOLATION_KEYS <= 1024


def test_a_million_distinct_context_keys_stay_within_a_few_mb():
    monitor = Monitor()
    huge = {f"k{i}": i for i in range(1_000_000)}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        monitor.handle_event(ObservabilityEvent(T.SESSION_START, T0, "s1", huge, {}))
        for i in range(100):
            more = {f"x{i}-{j}": j for j in range(1000)}
            monitor.handle_event(ObservabilityEvent(T.STREAM_INIT, T0 + i, "s1", more, {}))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2 * 2**20, f"{grown / 2**20:.1f} MiB"
    monitor.handle_event(ev(T.COMPLETE, 200))
    assert len(monitor.get_telemetry("s1").metadata) <= MAX_CONTEXT_KEYS


sentry_sdk = pytest.importorskip("sentry_sdk")


def test_eight_threads_of_halted_streams_every_sentry_capture_carries_its_telemetry():
    from l0_monitoring import Monitoring, Sentry, SentryConfig
    from l0_monitoring.sentry import SentryHandler

    from ..sentry_ingest import MemoryTransport

    MemoryTransport.envelopes = []
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        transport=MemoryTransport,
        traces_sample_rate=0.0,
        default_integrations=False,
    )
    try:
        monitor = Monitor(MonitoringConfig(buffer_size=1))
        handler = SentryHandler(Sentry(sentry_sdk, SentryConfig(enable_tracing=False)))
        combined = Monitoring.combine(monitor.handle_event, handler)

        def work(thread: int) -> None:
            for i in range(1500):
                sid = f"t{thread}-{i}"
                combined(ev(T.SESSION_START, 0, sid=sid, model="m"))
                combined(ev(T.TOKEN, 5, sid=sid))
                combined(ev(T.ERROR, 10, sid=sid, error="boom", recoveryStrategy="halt"))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sentry_sdk.flush(10)
        events = MemoryTransport.items("event")
        assert len(events) == 8 * 1500
        ids = {e["contexts"]["l0"]["stream_id"] for e in events}
        assert len(ids) == 8 * 1500  # each capture carries its own stream's telemetry
        assert all(e["contexts"]["l0"]["outcome"] == "failed" for e in events)
    finally:
        sentry_sdk.get_client().close(timeout=1)
        sentry_sdk.init(default_integrations=False)


def test_sentry_captures_a_bounded_number_of_violations_per_stream():
    from l0_monitoring import Sentry, SentryConfig
    from l0_monitoring.sentry.handler import MAX_VIOLATION_CAPTURES, SentryHandler

    from ..sentry_ingest import MemoryTransport

    MemoryTransport.envelopes = []
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        transport=MemoryTransport,
        traces_sample_rate=0.0,
        default_integrations=False,
    )
    try:
        handler = SentryHandler(Sentry(sentry_sdk, SentryConfig(enable_tracing=False)))
        handler(ev(T.SESSION_START, 0, model="m"))
        for i in range(2000):
            v = {"rule": "pii", "message": f"leak {i}", "severity": "error"}
            handler(ev(T.GUARDRAIL_RULE_RESULT, 1 + i, violation=v))
        handler(ev(T.COMPLETE, 5000))
        sentry_sdk.flush(5)
        events = MemoryTransport.items("event")
        assert len(events) == MAX_VIOLATION_CAPTURES
        assert all(e["contexts"]["l0"]["stream_id"] == "s1" for e in events)
        assert handler.stats()["violations_not_captured"] > 0
    finally:
        sentry_sdk.get_client().close(timeout=1)
        sentry_sdk.init(default_integrations=False)
