from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from l0_monitoring import Monitor, Monitoring, ObservabilityEvent
from l0_monitoring.events import ObservabilityEventType as T
from l0_monitoring.testing import CaptureSink, ManualClock, make_stream_events

from .conftest import ev


def boom(event):
    raise RuntimeError("handler broke")


# -- combine / filter / exclude / sample / tap ---------------------------------------------


def test_combine_calls_in_order_and_isolates_failures(caplog, capsys):
    calls = []
    combined = Monitoring.combine(
        lambda e: calls.append(("a", e.type)), None, boom, lambda e: calls.append(("b", e.type))
    )
    with caplog.at_level(logging.WARNING, logger="l0_monitoring"):
        for _ in range(20):
            combined(ev(T.TOKEN, 1, token="x"))
    assert calls[:2] == [("a", T.TOKEN), ("b", T.TOKEN)] and len(calls) == 40
    failures = [r for r in caplog.records if "combined handler failed" in r.getMessage()]
    assert len(failures) == 1  # rate-limited
    assert "handler broke" not in caplog.text  # exception text may carry host data
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_combine_rejects_non_callables_and_closes_children():
    with pytest.raises(TypeError, match="callable"):
        Monitoring.combine(42)  # type: ignore[arg-type]
    monitor = Monitor()
    sink = CaptureSink()
    batch = Monitoring.batch(100, 60.0, sink)
    combined = Monitoring.combine(monitor.handle_event, batch)
    for e in make_stream_events("s1", outcome="none"):
        combined(e)
    combined.close()  # type: ignore[attr-defined]
    assert len(sink.items[0]) == 6  # the batch was delivered on close
    assert monitor.get_telemetry("s1").abandoned  # the monitor was closed too


def test_filter_and_exclude_accept_enum_members_and_names():
    l0_events = pytest.importorskip("l0.events")
    kept, rest = CaptureSink(), CaptureSink()
    only = Monitoring.filter([T.ERROR, "RETRY_GIVE_UP"], kept)
    without = Monitoring.exclude([l0_events.ObservabilityEventType.TOKEN], rest)
    for e in make_stream_events("s", outcome="halt"):
        only(e)
        without(e)
    assert [e.type for e in kept] == [T.ERROR, T.RETRY_GIVE_UP]
    assert [e.type for e in rest] == [T.SESSION_START, T.ERROR, T.RETRY_GIVE_UP]
    l0_event = l0_events.ObservabilityEvent(
        l0_events.ObservabilityEventType.ERROR, 1.0, "x", {}, {}
    )
    only(l0_event)
    assert kept.items[-1] is l0_event
    with pytest.raises(ValueError, match="types"):
        Monitoring.filter([3.5], kept)


def test_filter_handler_errors_never_escape():
    from l0_monitoring import handlers

    before = handlers._errors.count
    Monitoring.filter(["TOKEN"], boom)(ev(T.TOKEN, 1))
    Monitoring.exclude([], boom)(ev(T.TOKEN, 1))
    Monitoring.tap(boom)(ev(T.TOKEN, 1))
    Monitoring.sample(1.0, boom)(ev(T.TOKEN, 1))
    assert handlers._errors.count - before == 4  # each failure contained and counted


def test_sample_rates():
    for rate, lo, hi in [(0.0, 0, 0), (1.0, 2000, 2000), (0.25, 400, 600)]:
        sink = CaptureSink()
        h = Monitoring.sample(rate, sink)
        for i in range(2000):
            h(ev(T.TOKEN, i))
        assert lo <= len(sink) <= hi
    with pytest.raises(ValueError, match="rate"):
        Monitoring.sample(1.5, CaptureSink())


def test_tap_passes_events_to_the_observer():
    sink = CaptureSink()
    Monitoring.tap(sink)(ev(T.COMPLETE, 1))
    assert len(sink) == 1


# -- debounce --------------------------------------------------------------------------------


def test_debounce_delivers_the_latest_event_once_the_burst_pauses():
    clock, sink = ManualClock(), CaptureSink()
    d = Monitoring.debounce(0.1, sink, _clock=clock)
    for i in range(5):
        d(ev(T.TOKEN, i))
        clock.advance(0.05)  # never a 0.1 s pause inside the burst
    assert len(sink) == 0
    clock.advance(0.06)
    assert [e.ts for e in sink] == [ev(T.TOKEN, 4).ts]
    clock.advance(5)
    assert len(sink) == 1  # nothing delivered twice
    d(ev(T.TOKEN, 10))
    clock.advance(0.1)
    assert len(sink) == 2
    assert d.stats() == {
        "received": 6,
        "delivered": 2,
        "dropped": 0,
        "errors": 0,
        "superseded": 4,
        "pending": 0,
    }


def _adds_up(stats: dict[str, int]) -> bool:
    parts = ("delivered", "errors", "dropped", "superseded", "pending")
    return stats["received"] == sum(stats[k] for k in parts)


def test_debounce_counters_add_up_while_the_handler_is_stuck():
    """r13c #5: the event a stuck handler holds is counted in ``pending``."""
    entered, release = threading.Event(), threading.Event()

    def stuck(event):
        entered.set()
        release.wait(10)

    d = Monitoring.debounce(0.01, stuck)
    d(ev(T.TOKEN, 0))
    assert d.stats()["pending"] == 1 and _adds_up(d.stats())  # waiting for the pause
    assert entered.wait(10)  # the handler now holds it
    assert d.stats() == {
        "received": 1,
        "delivered": 0,
        "dropped": 0,
        "errors": 0,
        "superseded": 0,
        "pending": 1,
    }
    for i in range(1, 5000):
        d(ev(T.TOKEN, i))
    assert d.flush(timeout=0.05) is False  # the latest is queued behind the stuck call
    stats = d.stats()  # (a pause inside the burst on a loaded machine queues more)
    assert stats["received"] == 5000 and stats["delivered"] == 0
    assert stats["pending"] >= 2 and _adds_up(stats)
    release.set()
    d.close(timeout=10)
    after = d.stats()
    assert after["pending"] == 0 and _adds_up(after)
    assert after["delivered"] + after["dropped"] - stats["dropped"] == stats["pending"]


def test_debounce_flush_close_and_after_close():
    clock, sink = ManualClock(), CaptureSink()
    d = Monitoring.debounce(1.0, sink, _clock=clock)
    d(ev(T.TOKEN, 1))
    d.flush()
    assert len(sink) == 1
    d(ev(T.TOKEN, 2))
    d.close()
    assert len(sink) == 2
    clock.advance(2)
    d(ev(T.TOKEN, 3))
    assert len(sink) == 2 and d.stats()["dropped"] == 1
    with pytest.raises(ValueError, match="seconds"):
        Monitoring.debounce(0, sink)


def test_debounce_with_the_real_clock_and_no_event_loop():
    done = threading.Event()
    got = []

    def handler(e):
        got.append(e)
        done.set()

    d = Monitoring.debounce(0.03, handler)
    for i in range(10):
        d(ev(T.TOKEN, i))
    assert done.wait(2.0)
    time.sleep(0.05)
    assert len(got) == 1 and got[0].ts == ev(T.TOKEN, 9).ts


# -- batch ---------------------------------------------------------------------------------


def test_batch_by_size_is_delivered_off_the_callers_thread():
    clock, sink = ManualClock(), CaptureSink()
    b = Monitoring.batch(3, 10.0, sink, _clock=clock)
    for i in range(7):
        b(ev(T.TOKEN, i))
    assert len(sink) == 0  # nothing delivered inside the caller's call
    clock.advance(0)
    assert [len(x) for x in sink] == [3, 3]
    clock.advance(10)
    assert [len(x) for x in sink] == [3, 3, 1]  # the max_wait fired with no new event


def test_batch_by_wait_counts_from_the_first_event():
    clock, sink = ManualClock(), CaptureSink()
    b = Monitoring.batch(100, 1.0, sink, _clock=clock)
    b(ev(T.TOKEN, 1))
    clock.advance(0.6)
    b(ev(T.TOKEN, 2))
    clock.advance(0.39)
    assert len(sink) == 0
    clock.advance(0.02)
    assert [len(x) for x in sink] == [2]
    assert clock.pending == 0


def test_batch_close_delivers_pending_once_and_then_drops():
    clock, sink = ManualClock(), CaptureSink()
    b = Monitoring.batch(10, 5.0, sink, _clock=clock)
    for i in range(4):
        b(ev(T.TOKEN, i))
    b.close()
    clock.advance(10)
    b.close()
    b(ev(T.TOKEN, 9))
    assert [len(x) for x in sink] == [4]
    stats = b.stats()
    assert stats["delivered"] == 4 and stats["dropped"] == 1 and stats["pending"] == 0


def test_batch_backlog_is_bounded_and_counted():
    clock, sink = ManualClock(), CaptureSink()
    b = Monitoring.batch(2, 60.0, sink, max_pending_batches=3, _clock=clock)
    for i in range(20):  # ten batches sealed, the timer thread never ran
        b(ev(T.TOKEN, i))
    assert b.stats()["dropped"] == 14 and b.stats()["pending"] == 6
    clock.advance(0)
    assert sum(len(x) for x in sink) == 6
    assert [e.ts for e in sink.items[0]] == [ev(T.TOKEN, 14).ts, ev(T.TOKEN, 15).ts]


def test_batch_handler_failure_is_counted_not_raised():
    clock = ManualClock()
    b = Monitoring.batch(1, 1.0, boom, _clock=clock)
    b(ev(T.TOKEN, 1))
    clock.advance(0)
    assert b.stats()["errors"] == 1


def test_batch_is_thread_safe_and_never_delivers_twice():
    sink = CaptureSink()
    b = Monitoring.batch(50, 0.05, sink)
    per_thread = 5000

    def work(k):
        for i in range(per_thread):
            b(ObservabilityEvent(T.TOKEN, float(i), f"t{k}", {}, {}))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    b.flush()
    delivered = [e for batch in sink for e in batch]
    assert len(delivered) == 8 * per_thread
    assert len({id(e) for e in delivered}) == len(delivered)
    assert all(len(batch) <= 50 for batch in sink)


def test_batch_with_the_real_clock_inside_and_outside_an_event_loop():
    for inside_loop in (False, True):
        done = threading.Event()
        got = []

        def handler(events, got=got, done=done):
            got.append(events)
            done.set()

        b = Monitoring.batch(100, 0.05, handler)

        async def feed(b=b):
            b(ev(T.TOKEN, 1))
            await asyncio.sleep(0)

        if inside_loop:
            asyncio.run(feed())
        else:
            b(ev(T.TOKEN, 1))
        assert done.wait(2.0), inside_loop
        assert len(got) == 1 and len(got[0]) == 1


def test_pending_batches_and_debounced_events_are_delivered_at_exit(tmp_path):
    out = tmp_path / "delivered.txt"
    script = textwrap.dedent(f"""
        from l0_monitoring import Monitoring, ObservabilityEvent
        path = {str(out)!r}
        def write(items):
            with open(path, "a") as f:
                f.write(f"{{len(items) if isinstance(items, list) else 'one'}}\\n")
        b = Monitoring.batch(100, 60.0, write)
        d = Monitoring.debounce(60.0, write)
        for i in range(3):
            b(ObservabilityEvent("TOKEN", float(i), "s", {{}}, {{}}))
            d(ObservabilityEvent("TOKEN", float(i), "s", {{}}, {{}}))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert sorted(out.read_text().split()) == ["3", "one"]
