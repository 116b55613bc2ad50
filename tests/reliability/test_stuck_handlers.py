"""A user handler that blocks for ever only stalls itself: never another handler,
never the caller, never ``close()`` beyond its timeout, never interpreter exit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from l0_monitoring import Monitoring, ObservabilityEvent

from ..conftest import T0

# Seconds a host call may take: a call that waited on a stuck handler would
# wait until the test releases it; 0.5 s tells that apart from a shared
# machine descheduling the test for a few tens of milliseconds.
BOUND = 0.5


def event(i: int) -> ObservabilityEvent:
    return ObservabilityEvent("TOKEN", T0 + i, "s", {}, {"token": "x"})


def test_a_batch_handler_that_blocks_for_ever_never_delays_another():
    release = threading.Event()
    entered = threading.Event()

    def stuck(events):
        entered.set()
        release.wait()  # "for ever": until the test ends

    got: list = []
    all_in = threading.Event()

    def other(events):
        got.extend(events)
        if len(got) == 5:
            all_in.set()

    blocked = Monitoring.batch(1, 0.01, stuck)
    healthy = Monitoring.batch(1, 0.01, other)
    debounced = Monitoring.debounce(0.01, lambda e: release.wait())
    try:
        slowest = 0.0
        for i in range(5):
            for handler in (blocked, debounced, healthy):
                start = time.perf_counter()
                handler(event(i))
                slowest = max(slowest, time.perf_counter() - start)
        assert entered.wait(5)
        assert all_in.wait(5), got  # 5 of 5, although two handlers are stuck
        assert slowest < BOUND  # the caller never waited on a handler
        start = time.monotonic()
        assert blocked.flush(timeout=0.2) is False  # bounded, and says so
        blocked.close(timeout=0.3)
        debounced.close(timeout=0.3)
        healthy.close(timeout=0.3)
        assert time.monotonic() - start < 1.5
        stats = blocked.stats()
        # Exact: one batch in the stuck call, the others dropped at close, counted.
        assert stats["received"] == 5 and stats["delivered"] == 0
        assert stats["pending"] + stats["dropped"] == 5 and stats["pending"] == 1
        assert healthy.stats()["delivered"] == 5
    finally:
        release.set()


STUCK_AT_EXIT = r"""
import threading
from l0_monitoring import Monitoring, ObservabilityEvent
never = threading.Event()
b = Monitoring.batch(1, 0.01, lambda events: never.wait())
d = Monitoring.debounce(0.01, lambda event: never.wait())
for i in range(20):
    b(ObservabilityEvent("TOKEN", 1e12 + i, "s", {}, {}))
    d(ObservabilityEvent("TOKEN", 1e12 + i, "s", {}, {}))
print("fed", flush=True)
"""


def test_interpreter_exit_is_never_held_up_by_a_stuck_handler():
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", STUCK_AT_EXIT], capture_output=True, text=True,
                         timeout=30)  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "fed", out.stderr
    assert time.monotonic() - start < 15  # two handlers x the 1 s exit timeout, plus startup


STUCK_ON_FLUSH_AT_EXIT = r"""
import threading
from l0_monitoring import Monitor, MonitoringConfig
from l0_monitoring.testing import make_stream_events
never = threading.Event()
monitor = Monitor(MonitoringConfig(flush_interval=60.0), on_flush=lambda records: never.wait())
for i in range(3):
    for e in make_stream_events(f"s{i}"):
        monitor.handle_event(e)
print("fed", flush=True)
"""


def test_interpreter_exit_is_never_held_up_by_a_stuck_on_flush():
    # The exit hook's close() hands the last records to on_flush, which never returns.
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", STUCK_ON_FLUSH_AT_EXIT], capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "fed", out.stderr
    assert time.monotonic() - start < 15  # the 2 s exit timeout, plus startup


def test_closing_a_combination_waits_one_deadline_however_many_handlers_are_stuck():
    """r13 #6: combine(batch(stuck), debounce(stuck), batch(ok)).close() took 10 s (5 s each)."""
    release = threading.Event()
    delivered: list[list] = []
    stuck = [Monitoring.batch(1, 0.01, lambda events: release.wait()) for _ in range(4)]
    stuck += [Monitoring.debounce(0.01, lambda event: release.wait()) for _ in range(4)]
    healthy = Monitoring.batch(1000, 60.0, delivered.append)  # delivers only when closed
    combined = Monitoring.combine(*stuck, Monitoring.combine(healthy))
    try:
        for i in range(50):
            combined(ObservabilityEvent("TOKEN", T0 + i, "s", {}, {}))
        start = time.monotonic()
        combined.close(timeout=0.5)
        took = time.monotonic() - start
        assert took < 0.5 + 0.5, took  # one deadline for all eight stuck handlers, not 8 x 0.5 s
        assert sum(map(len, delivered)) == 50  # the healthy one's final delivery, in the same time
        for handler in stuck:
            s = handler.stats()
            # What the stuck call holds is pending; the rest dropped (or, debounce: superseded).
            done = s["delivered"] + s["dropped"] + s["pending"] + s.get("superseded", 0)
            assert done == s["received"] == 50, s
    finally:
        release.set()


STUCK_N_AT_EXIT = r"""
import os, sys, threading, time
from l0_monitoring import Monitoring, ObservabilityEvent
never = threading.Event()
n, fifo = int(sys.argv[1]), sys.argv[2]
reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
handlers = [Monitoring.batch(1, 0.01, lambda events: never.wait()) for _ in range(n)]
handlers += [Monitoring.debounce(0.01, lambda event: never.wait()) for _ in range(n)]
handlers.append(Monitoring.record(fifo))
h = Monitoring.combine(*handlers)
for i in range(3000):
    h(ObservabilityEvent("TOKEN", 1e12 + i, "s", {}, {"token": "x" * 100}))
time.sleep(0.1)  # let every handler take its first delivery and get stuck
print(time.monotonic(), flush=True)
"""


def test_interpreter_exit_time_does_not_grow_with_the_number_of_stuck_handlers(tmp_path):
    """r13 #6: exit with 1/5/10 stuck handlers took 3.6/8.1/12.8 s."""
    took = {}
    for n in (1, 10):
        fifo = tmp_path / f"events{n}.fifo"
        os.mkfifo(fifo)
        out = subprocess.run([sys.executable, "-c", STUCK_N_AT_EXIT, str(n), str(fifo)],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        ended = time.monotonic()  # CLOCK_MONOTONIC: the same clock in the child
        assert out.returncode == 0, out.stderr
        took[n] = ended - float(out.stdout.split()[-1])
    # One shared exit deadline (the recorder's 2 s, the handlers' 1 s): 2 x 10
    # stuck handlers plus a stuck recorder cost what 2 x 1 do.
    assert took[10] < 3.0, took
    assert took[10] - took[1] < 1.0, took
