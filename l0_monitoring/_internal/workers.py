"""Clocks and the one shared timer thread behind debounce, batch and flush deadlines.

* ``MonotonicClock`` schedules callbacks on a single lazy daemon thread
  (``l0-monitoring-timer``), so timers work with or without an asyncio loop.
  Callbacks only hand work over (to a handler's own delivery worker): user
  code never runs on this thread, so one stuck handler cannot stall the others.
* ``ManualClock`` (exposed in ``l0_monitoring.testing``) runs due callbacks
  synchronously when a test advances it: deterministic timing without sleeps.
* Fork-aware: in a child process the timer thread and every registered
  worker's lock are recreated, so background work continues after ``os.fork()``.
"""

from __future__ import annotations

import atexit
import contextvars
import heapq
import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Protocol

from .guard import ErrorReporter

_errors = ErrorReporter()


class TimerHandle:
    """A scheduled callback; ``cancel()`` stops it from running if it has not yet."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True


class Clock(Protocol):
    """What debounce and batch need from time: reading it and scheduling on it."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` once at ``when`` (or soon after), off the caller's thread."""


class _TimerThread:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def schedule(self, handle: TimerHandle) -> None:
        if self._pid != os.getpid():  # pragma: no cover - the fork hook normally did this
            self._reset()
        with self._cond:
            heapq.heappush(self._heap, (handle.when, next(self._seq), handle))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="l0-monitoring-timer", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is handle:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._heap:
                        self._cond.wait(30.0)
                        if not self._heap:
                            # Idle: let the thread end; the next schedule() restarts it.
                            self._thread = None
                            return
                        continue
                    when = self._heap[0][0]
                    delay = when - time.monotonic()
                    if delay <= 0:
                        handle = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(delay)
            if handle.cancelled:
                continue
            try:
                handle.callback()
            except Exception as exc:  # a timer callback must never kill the thread
                _errors.report("timer", "l0_monitoring timer callback failed", exc)


_TIMER = _TimerThread()


class MonotonicClock:
    """The real clock: ``time.monotonic`` and the shared timer thread."""

    def now(self) -> float:
        """Seconds on the monotonic clock."""
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Schedule ``callback`` on the shared timer thread."""
        handle = TimerHandle(when, callback)
        _TIMER.schedule(handle)
        return handle


REAL_CLOCK = MonotonicClock()


class ManualClock:
    """A clock that only moves when told to; due callbacks run inside :meth:`advance`.

    Example:
        >>> clock = ManualClock()
        >>> fired = []
        >>> _ = clock.call_at(clock.now() + 1.0, lambda: fired.append(clock.now()))
        >>> clock.advance(0.5); fired
        []
        >>> clock.advance(0.5); fired
        [1.0]
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current fake time in seconds."""
        return self._now

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Schedule ``callback``; it runs when :meth:`advance` reaches ``when``."""
        handle = TimerHandle(when, callback)
        with self._lock:
            heapq.heappush(self._heap, (when, next(self._seq), handle))
        return handle

    def advance(self, seconds: float = 0.0) -> None:
        """Move time forward, running every callback that falls due, in order."""
        target = self._now + seconds
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > target:
                    break
                when, _, handle = heapq.heappop(self._heap)
            self._now = max(self._now, when)
            if not handle.cancelled:
                handle.callback()
        self._now = target

    @property
    def pending(self) -> int:
        """Callbacks scheduled and not yet run or cancelled."""
        with self._lock:
            return sum(1 for _, _, h in self._heap if not h.cancelled)


class ForkAware(Protocol):
    """A worker that must rebuild its locks and drop inherited state in a forked child."""

    def _after_fork_in_child(self) -> None: ...


_FORK_AWARE: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def register_fork_aware(worker: ForkAware) -> None:
    """Have ``worker._after_fork_in_child()`` called in every forked child.

    The registry holds ``worker`` weakly. A worker that cannot be weakly
    referenced (an instance of a class compiled by mypyc: no ``__weakref__``
    slot) registers a :class:`WeakAnchor` it keeps instead.

    Raises:
        TypeError: ``worker`` cannot be weakly referenced.
    """
    _FORK_AWARE.add(worker)


class WeakAnchor:
    """A weakly referenceable stand-in for an object that cannot be weakly referenced.

    Classes compiled by mypyc have no ``__weakref__`` slot. Such an object
    keeps an anchor (``self._anchor = WeakAnchor(self)``) and hands the anchor
    to whatever must not keep it alive: the fork registry
    (``register_fork_aware(anchor)``: in a forked child the anchor calls the
    target's ``_after_fork_in_child``) and timer callbacks
    (``weakref.ref(anchor)``). The target and its anchor form a reference
    cycle, so after the last outside reference goes the pair is freed by the
    cyclic garbage collector (not at once, by reference counting, as a weakly
    referenced object would be); a callback that runs meanwhile still finds
    the target, which stays usable until then.

    Args:
        target: The object stood for.
    """

    __slots__ = ("__weakref__", "target")

    def __init__(self, target: ForkAware) -> None:
        self.target = target

    def _after_fork_in_child(self) -> None:
        self.target._after_fork_in_child()


_SETTLE = 0.1  # seconds past a shared deadline for a close that ends right at it


def close_together(calls: Iterable[Callable[[float], object]], timeout: float) -> None:
    """Run every ``close(timeout)`` side by side, all within one deadline; never raises.

    The one rule for stopping many workers (``Monitoring.combine(...).close()``,
    interpreter exit): each close runs on its own daemon thread with the same
    ``timeout``, and this returns by ``timeout`` (+0.1 s) however many there are
    and whatever they do, so a stuck handler costs its own deadline once, never
    one per handler. Where no thread can be started (interpreter shutdown on
    newer Pythons), the closes run one after the other, each with what is left
    of the same deadline.

    Args:
        calls: Callables taking a timeout in seconds (bound ``close`` methods).
        timeout: Seconds for all of them together.
    """
    deadline = time.monotonic() + max(0.0, timeout)
    threads: list[threading.Thread] = []

    def run(call: Callable[[float], object], budget: float) -> None:
        try:
            call(budget)
        except Exception as exc:
            _errors.report("close", "l0_monitoring: close failed", exc)

    for call in calls:
        # The caller's context goes along: what a close does on the host's behalf
        # (a Sentry breadcrumb for a stream it ends, an OpenTelemetry parent)
        # lands on the caller's scopes, as if it had run on the calling thread.
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run,
            args=(run, call, timeout),
            name="l0-monitoring-close",
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError:  # no new threads at shutdown: inline, on what is left
            run(call, max(0.0, deadline - time.monotonic()))
            continue
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline + _SETTLE - time.monotonic()))


class Closable(Protocol):
    """A worker stopped at interpreter exit: ``close(timeout)``."""

    def close(self, timeout: float = ...) -> None: ...


_AT_EXIT: weakref.WeakKeyDictionary[Closable, float] = weakref.WeakKeyDictionary()
_AT_EXIT_LOCK = threading.Lock()


def register_exit(worker: Closable, timeout: float) -> None:
    """Have ``worker.close(timeout)`` run at interpreter exit, alongside every other.

    One exit hook closes every registered worker (debounce and batch handlers,
    recorders) side by side with :func:`close_together`: exit waits the largest
    registered timeout once, not the sum (``N`` stuck handlers cost what one
    does).
    """
    with _AT_EXIT_LOCK:
        _AT_EXIT[worker] = timeout


def _close_all_at_exit() -> None:
    with _AT_EXIT_LOCK:
        items = list(_AT_EXIT.items())
    if not items:
        return
    budget = max(t for _, t in items)
    calls = [_bounded_close(worker, t) for worker, t in items]
    close_together(calls, budget)


def _bounded_close(worker: Closable, timeout: float) -> Callable[[float], object]:
    def call(budget: float) -> None:
        worker.close(min(timeout, budget))

    return call


atexit.register(_close_all_at_exit)


def _after_fork_in_child() -> None:
    global _AT_EXIT_LOCK  # noqa: PLW0603  # a lock held by a thread lost in the fork
    _TIMER._reset()  # (ErrorReporter locks are reset by guard's own fork hook)
    _AT_EXIT_LOCK = threading.Lock()
    for worker in list(_FORK_AWARE):
        try:
            worker._after_fork_in_child()
        except Exception:  # noqa: S112  # one broken worker must not break the child
            continue


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
