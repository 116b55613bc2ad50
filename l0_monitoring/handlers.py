"""Event handler utilities: ``Monitoring.combine``, ``filter``, ``exclude`` and the rest.

``combine``, ``filter``, ``exclude``, ``debounce``, ``batch``, ``sample``, ``tap``
and ``record`` run inside the host's stream (the L0 runtime calls ``on_event``
synchronously in its event loop), so every handler here is cheap, never raises
into the caller and never blocks it: a failing inner handler is logged
(rate-limited, never printed) and counted; timed deliveries (debounce, batch)
and file writes (record) happen on background daemon threads; every buffer is
bounded and counts what it drops.
"""

from __future__ import annotations

import inspect
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import IO, Any

from ._internal.guard import ErrorReporter
from ._internal.lifecycle import StreamTable
from ._internal.workers import (
    REAL_CLOCK,
    Clock,
    MonotonicClock,
    TimerHandle,
    close_together,
    register_exit,
    register_fork_aware,
)
from .events import event_type_value

__all__ = [
    "BatchHandler",
    "DebouncedHandler",
    "EventHandler",
    "HandlerStats",
    "Monitoring",
]

EventHandler = Callable[[Any], Any]
"""Anything called with one observability event."""

_errors = ErrorReporter()


def _type_gate(
    types: Iterable[object], handler: EventHandler, *, keep: bool, where: str
) -> EventHandler:
    """Call ``handler`` for events whose type is in ``types`` (``keep``) or is not."""
    selected = _type_set(types)
    _check_handler(handler)

    def gate(event: Any) -> None:
        try:
            if (event.type in selected) is keep:
                handler(event)
        except Exception as exc:
            _errors.report(where, f"l0_monitoring: {where} handler failed", exc)

    return gate


def _type_set(types: Iterable[object]) -> frozenset[str]:
    # Str-valued enums hash and compare like their value, so a set of plain
    # strings matches our enum, L0's enum and strings alike.
    try:
        return frozenset(event_type_value(t) for t in types)
    except ValueError as exc:
        raise ValueError(f"types: {exc}") from None


def _check_handler(handler: object, name: str = "handler") -> None:
    if not callable(handler):
        raise TypeError(f"{name} must be callable, got {type(handler).__name__}")


class HandlerStats:
    """Counters of a stateful handler (``stats()`` returns a plain dict of them)."""

    __slots__ = ("delivered", "dropped", "errors", "received")

    def __init__(self) -> None:
        self.received = 0
        self.delivered = 0
        self.dropped = 0
        self.errors = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counters as a dict."""
        return {
            "received": self.received,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "errors": self.errors,
        }


def _call(handler: EventHandler, item: Any, where: str) -> bool:
    try:
        handler(item)
        return True
    except Exception as exc:
        _errors.report(where, f"l0_monitoring: {where} handler failed", exc)
        return False


def _table_of(handler: object) -> StreamTable | None:
    """The stream table a handler folds into: ``monitor.handle_event``, a Monitor, a table."""
    target = getattr(handler, "__self__", handler)
    if isinstance(target, StreamTable):
        return target
    table = getattr(target, "table", None)
    return table if isinstance(table, StreamTable) else None


def _share_tables(handlers: tuple[EventHandler, ...]) -> tuple[EventHandler, ...]:
    """Attach listener-handlers to the first stream table among ``handlers``.

    The OpenTelemetry and Sentry handlers are listeners with their own table
    when used alone. Combined with a Monitor (``monitor.handle_event`` or the
    Monitor itself), they are attached to the Monitor's table instead and
    dropped from the call list, so each event is folded once for all of them.
    A handler that already saw events keeps its own table (nothing is lost).
    """
    tables = [t for t in map(_table_of, handlers) if t is not None and t.enabled]
    # A Monitor's table (it has an owner) wherever it is in the list; a handler's own
    # table is only shared when no Monitor is combined.
    table = next((t for t in tables if t.owner is not None), None)
    if table is None:
        return handlers
    kept: list[EventHandler] = []
    for handler in handlers:
        attach = getattr(handler, "attach_to", None)
        if callable(attach) and _table_of(handler) is not table and attach(table):
            continue
        kept.append(handler)
    return tuple(kept)


class _Combined:
    __slots__ = ("attached", "handlers")

    def __init__(self, handlers: tuple[EventHandler, ...]) -> None:
        shared = _share_tables(handlers)
        # Handlers now fed by another handler's table: not called per event,
        # but still flushed and closed with the rest.
        self.attached = tuple(h for h in handlers if h not in shared)
        self.handlers = shared

    def __call__(self, event: Any) -> None:
        for handler in self.handlers:
            try:
                handler(event)
            except Exception as exc:
                _errors.report("combine", "l0_monitoring: combined handler failed", exc)

    def flush(self, timeout: float = 5.0) -> None:
        """Flush every combined handler that can be flushed, side by side, within ``timeout``."""
        self._each("flush", timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Close every combined handler that can be closed, within one ``timeout``.

        Monitors, batchers, debouncers, recorders and nested combinations close
        side by side, all within the same deadline (``close_together``), so a
        stuck handler costs ``timeout`` once, never once per handler, and never
        delays another handler's final delivery.
        """
        self._each("close", timeout)

    def _each(self, method: str, timeout: float) -> None:
        # Two rounds within one deadline: first the handlers that fold events
        # (the Monitor ends its in-flight streams and tells every view attached
        # to its table), then the attached views (the OpenTelemetry and Sentry
        # handlers flush). Run together, a view could detach before the Monitor
        # ends a stream, and that stream's span would never end.
        deadline = time.monotonic() + max(0.0, timeout)
        for group in (self.handlers, self.attached):
            calls = []
            for handler in group:
                target = getattr(handler, "__self__", handler)  # bound handle_event: its Monitor
                if isinstance(target, StreamTable) and target.owner is not None:
                    target = target.owner
                action = getattr(target, method, None)
                if callable(action):
                    calls.append(_with_timeout(action, method))
            if calls:
                close_together(calls, max(0.0, deadline - time.monotonic()))


def _with_timeout(action: Callable[..., object], method: str) -> Callable[[float], object]:
    """``action(timeout=...)`` when it takes a timeout, else ``action()``."""
    try:
        takes = "timeout" in inspect.signature(action).parameters
    except (TypeError, ValueError):
        takes = False

    def call(timeout: float) -> None:
        try:
            action(timeout=timeout) if takes else action()
        except Exception as exc:
            _errors.report(f"combine.{method}", f"l0_monitoring: {method} failed", exc)

    return call


class _Delivery:
    """Calls one user handler off the caller's and the timer's threads, in order.

    With the real clock, each debounce or batch handler has its own lazy daemon
    worker thread, so a handler that blocks for ever only stalls itself: the
    shared timer thread never runs user code, another handler's deliveries go
    on, and ``close(timeout)`` gives up on it after ``timeout``. With an
    injected clock (``ManualClock`` in tests) deliveries run inside the clock's
    callbacks, deterministically. At most ``max_pending`` items wait; beyond,
    the oldest is dropped and its events counted.
    """

    def __init__(
        self,
        deliver: Callable[[Any], None],
        size: Callable[[Any], int],
        clock: Clock,
        max_pending: int,
        name: str,
    ) -> None:
        self._deliver = deliver
        self._size = size
        self._clock = clock
        self._inline = not isinstance(clock, MonotonicClock)
        self._max = max_pending
        self._name = name
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._items: deque[Any] = deque()
        self._busy = 0  # events in the handler call right now
        self._thread: threading.Thread | None = None
        self._scheduled = False
        self._stopped = False
        self.dropped = 0

    def put(self, item: Any) -> None:
        """Queue one delivery (never blocks, never calls the handler)."""
        with self._cond:
            if self._stopped:
                self.dropped += self._size(item)
                return
            if len(self._items) >= self._max:
                self.dropped += self._size(self._items.popleft())
            self._items.append(item)
            if self._inline:
                if not self._scheduled:
                    self._scheduled = True
                    self._clock.call_at(self._clock.now(), self._run_inline)
            elif self._thread is None:
                thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # interpreter shutting down: close() counts it
                    return
                self._thread = thread
            else:
                self._cond.notify()

    def _next_locked(self) -> Any:
        item = self._items.popleft()
        self._busy = self._size(item)
        return item

    def _done(self) -> None:
        with self._cond:
            self._busy = 0
            self._cond.notify_all()

    def _run_inline(self) -> None:
        with self._cond:
            self._scheduled = False
        self._drain_inline()

    def _drain_inline(self) -> None:
        while True:
            with self._cond:
                if not self._items:
                    return
                item = self._next_locked()
            try:
                self._deliver(item)
            finally:
                self._done()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._items:
                    self._cond.wait()
                item = self._next_locked()
            try:
                self._deliver(item)
            finally:
                self._done()

    def wait(self, timeout: float) -> bool:
        """Wait until every queued item is delivered; False if ``timeout`` passed first."""
        if self._inline:
            self._drain_inline()
            return True
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._items or self._busy:
                alive = self._thread is not None and self._thread.is_alive()
                remaining = deadline - time.monotonic()
                if not alive or remaining <= 0:
                    break
                self._cond.wait(remaining)
            return not self._items and not self._busy

    def stop(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout``; then drop (and count) the rest."""
        self.wait(timeout)
        with self._cond:
            self._stopped = True
            self.dropped += sum(self._size(i) for i in self._items)
            self._items.clear()

    def pending(self) -> int:
        """Events queued or in the handler call now."""
        with self._cond:
            return self._busy + sum(self._size(i) for i in self._items)


def _one(_: Any) -> int:
    return 1


class DebouncedHandler:
    """Trailing-edge debounce: the latest event of a burst, once events pause.

    Use :meth:`Monitoring.debounce` to create one. Delivery runs on this
    handler's own worker thread (see ``_Delivery``): never in the caller's
    thread, never on the shared timer thread.
    """

    def __init__(self, seconds: float, handler: EventHandler, *, _clock: Clock | None = None):
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds!r}")
        _check_handler(handler)
        self._seconds = float(seconds)
        self._handler = handler
        self._clock = _clock or REAL_CLOCK
        self._lock = threading.Lock()
        self._latest: Any = None
        self._has_latest = False
        self._deadline = 0.0
        self._timer: TimerHandle | None = None
        self._closed = False
        self._stats = HandlerStats()
        self.superseded = 0
        self._handed = 0  # events handed to the delivery worker (each: delivered, error or dropped)
        self._delivery = _Delivery(self._deliver, _one, self._clock, 100, "l0-monitoring-debounce")
        register_fork_aware(self)
        _register_exit(self)

    def __call__(self, event: Any) -> None:
        """Remember ``event`` as the latest and push the delivery deadline back."""
        clock = self._clock
        with self._lock:
            self._stats.received += 1
            if self._closed:
                self._stats.dropped += 1
                return
            if self._has_latest:
                self.superseded += 1
            self._latest = event
            self._has_latest = True
            self._deadline = clock.now() + self._seconds
            if self._timer is None:
                self._timer = clock.call_at(self._deadline, self._fire)

    def _fire(self) -> None:
        # On the timer thread: only hands the event over, never calls the handler.
        with self._lock:
            self._timer = None
            if not self._has_latest:
                return
            if self._clock.now() < self._deadline:  # more events came: wait for the pause
                self._timer = self._clock.call_at(self._deadline, self._fire)
                return
            self._delivery.put(self._take())

    def _take(self) -> Any:
        self._handed += 1
        event = self._latest
        self._latest = None
        self._has_latest = False
        return event

    def _deliver(self, event: Any) -> None:
        ok = _call(self._handler, event, "debounce")
        with self._lock:
            if ok:
                self._stats.delivered += 1
            else:
                self._stats.errors += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Deliver the pending event now and wait for it (at most ``timeout`` seconds).

        Returns:
            True if every pending event was delivered in time.
        """
        with self._lock:
            if self._has_latest:
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                self._delivery.put(self._take())
        return self._delivery.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver the pending event and stop, within about ``timeout`` seconds.

        A handler still busy then is left to finish on its own (daemon) thread;
        what it could not take is counted in ``dropped``, like later events.
        """
        with self._lock:
            self._closed = True
        self.flush(timeout)
        self._delivery.stop(0.0)

    def stats(self) -> dict[str, int]:
        """Counters: received, delivered, dropped (after close), errors, superseded, pending.

        ``pending`` is the event waiting for the pause, queued for delivery, or
        in the handler call now (a stuck handler holds one), so
        ``received == delivered + errors + dropped + superseded + pending``.
        """
        with self._lock:
            dropped = self._delivery.dropped
            out = {**self._stats.as_dict(), "superseded": self.superseded}
            in_delivery = self._handed - out["delivered"] - out["errors"] - dropped
            out["pending"] = in_delivery + (1 if self._has_latest else 0)
        out["dropped"] += dropped
        return out

    def _after_fork_in_child(self) -> None:
        # The parent still holds (and will deliver) what was pending at the fork:
        # in the child it is counted as dropped, so the counters still add up.
        stats = self._stats
        stats.dropped += self._handed - stats.delivered - stats.errors + self._has_latest
        self._handed = stats.delivered + stats.errors
        self._lock = threading.Lock()
        self._timer = None
        self._latest = None
        self._has_latest = False
        self._delivery._reset()


class BatchHandler:
    """Delivers lists of events once ``size`` is reached or ``max_wait_seconds`` passed.

    Whichever comes first, counted from the first event of a batch, even if no
    other event arrives. Use :meth:`Monitoring.batch` to create one. Batches
    are delivered on this handler's own worker thread (see ``_Delivery``),
    never in the caller's thread nor on the shared timer thread, so a handler
    that blocks never delays another. At most ``max_pending_batches`` full
    batches wait for delivery; beyond that the oldest waiting batch is dropped
    and its events counted in ``dropped``.
    """

    def __init__(
        self,
        size: int,
        max_wait_seconds: float,
        handler: Callable[[list[Any]], Any],
        *,
        max_pending_batches: int = 1000,
        _clock: Clock | None = None,
    ) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        if not max_wait_seconds > 0:
            raise ValueError(f"max_wait_seconds must be > 0, got {max_wait_seconds!r}")
        if max_pending_batches < 1:
            raise ValueError(f"max_pending_batches must be >= 1, got {max_pending_batches!r}")
        _check_handler(handler)
        self._size = size
        self._max_wait = float(max_wait_seconds)
        self._handler = handler
        self._clock = _clock or REAL_CLOCK
        self._lock = threading.Lock()
        self._current: list[Any] = []
        self._timer: TimerHandle | None = None
        self._closed = False
        self._stats = HandlerStats()
        self._delivery = _Delivery(
            self._deliver, len, self._clock, max_pending_batches, "l0-monitoring-batch"
        )
        register_fork_aware(self)
        _register_exit(self)

    def __call__(self, event: Any) -> None:
        """Add ``event`` to the current batch."""
        with self._lock:
            self._stats.received += 1
            if self._closed:
                self._stats.dropped += 1
                return
            current = self._current
            current.append(event)
            if len(current) == 1:
                self._timer = self._clock.call_at(self._clock.now() + self._max_wait, self._due)
            if len(current) >= self._size:
                self._seal_locked()

    def _seal_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._current:
            return
        batch, self._current = self._current, []
        self._delivery.put(batch)

    def _due(self) -> None:
        with self._lock:
            self._timer = None
            self._seal_locked()

    def _deliver(self, batch: list[Any]) -> None:
        ok = _call(self._handler, batch, "batch")
        with self._lock:
            if ok:
                self._stats.delivered += len(batch)
            else:
                self._stats.errors += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Deliver every pending event now and wait (at most ``timeout`` seconds).

        Returns:
            True if every pending batch was delivered in time.
        """
        with self._lock:
            self._seal_locked()
        return self._delivery.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is pending and stop, within about ``timeout`` seconds.

        A handler still busy then is left to finish on its own (daemon) thread;
        batches it could not take are counted in ``dropped``, like later events.
        """
        with self._lock:
            self._closed = True
        self.flush(timeout)
        self._delivery.stop(0.0)

    def stats(self) -> dict[str, int]:
        """Counters: received, delivered (events), dropped (events), errors (batches), pending."""
        dropped = self._delivery.dropped
        waiting = self._delivery.pending()
        with self._lock:
            pending = len(self._current) + waiting
            out = {**self._stats.as_dict(), "pending": pending}
        out["dropped"] += dropped
        return out

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._current = []
        self._timer = None
        self._delivery._reset()


_EXIT_TIMEOUT = 1.0  # seconds all debounce/batch handlers together may take at interpreter exit


def _register_exit(worker: DebouncedHandler | BatchHandler) -> None:
    register_exit(worker, _EXIT_TIMEOUT)  # one shared exit deadline for every worker


class Monitoring:
    """Handler utilities; every method returns a handler for ``l0.run(on_event=...)``.

    Example:
        >>> from l0_monitoring import Monitor, Monitoring
        >>> from l0_monitoring.events import ObservabilityEventType as T
        >>> monitor = Monitor()
        >>> errors = []
        >>> on_event = Monitoring.combine(
        ...     monitor.handle_event,
        ...     Monitoring.filter([T.ERROR, "RETRY_GIVE_UP"], errors.append),
        ... )
    """

    @staticmethod
    def combine(*handlers: EventHandler | None) -> EventHandler:
        """Call each handler in order; one handler's exception never stops the others.

        One fold: when a Monitor (``monitor.handle_event`` or the Monitor) is
        combined with OpenTelemetry or Sentry handlers, those handlers are
        attached as listeners to the Monitor's stream table, so each event is
        folded once and every sink reads the same per-stream facts (the
        Monitor's ``collect_*`` flags, and the smaller idle timeout, apply to
        all of them). Closing the combined handler closes them all.

        Args:
            *handlers: Handlers; ``None`` entries are skipped.

        Returns:
            A handler with ``flush()`` and ``close()`` that reach the combined
            handlers which have them.

        Raises:
            TypeError: If an entry is neither callable nor None.
        """
        valid = tuple(h for h in handlers if h is not None)
        for h in valid:
            _check_handler(h)
        return _Combined(valid)

    @staticmethod
    def filter(types: Iterable[object], handler: EventHandler) -> EventHandler:
        """Pass only events whose type is in ``types`` (enum members or their names).

        Raises:
            ValueError: If a type is not a string or string enum.
        """
        return _type_gate(types, handler, keep=True, where="filter")

    @staticmethod
    def exclude(types: Iterable[object], handler: EventHandler) -> EventHandler:
        """Pass every event except those whose type is in ``types``.

        Raises:
            ValueError: If a type is not a string or string enum.
        """
        return _type_gate(types, handler, keep=False, where="exclude")

    @staticmethod
    def debounce(
        seconds: float, handler: EventHandler, *, _clock: Clock | None = None
    ) -> DebouncedHandler:
        """Deliver the latest event of a burst once events pause for ``seconds``.

        Delivery happens on the handler's own worker thread (a handler that
        blocks delays only itself); ``flush(timeout)`` delivers now and waits,
        ``close(timeout)`` (also run at interpreter exit) delivers and stops.

        Raises:
            ValueError: If ``seconds`` is not positive.
        """
        return DebouncedHandler(seconds, handler, _clock=_clock)

    @staticmethod
    def batch(
        size: int,
        max_wait_seconds: float,
        handler: Callable[[list[Any]], Any],
        *,
        max_pending_batches: int = 1000,
        _clock: Clock | None = None,
    ) -> BatchHandler:
        """Deliver lists of up to ``size`` events, at most ``max_wait_seconds`` late.

        Raises:
            ValueError: On a non-positive size or wait.
        """
        return BatchHandler(
            size, max_wait_seconds, handler, max_pending_batches=max_pending_batches,
            _clock=_clock,
        )  # fmt: skip

    @staticmethod
    def sample(rate: float, handler: EventHandler) -> EventHandler:
        """Pass each event with probability ``rate`` (0.0 to 1.0).

        Raises:
            ValueError: If ``rate`` is outside [0, 1].
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        _check_handler(handler)
        draw = random.random

        def sampled(event: Any) -> None:
            if draw() < rate:
                try:
                    handler(event)
                except Exception as exc:
                    _errors.report("sample", "l0_monitoring: sampled handler failed", exc)

        return sampled

    @staticmethod
    def tap(handler: EventHandler) -> EventHandler:
        """Observe events; the observer's errors never affect the flow."""
        _check_handler(handler)

        def tapped(event: Any) -> None:
            try:
                handler(event)
            except Exception as exc:
                _errors.report("tap", "l0_monitoring: tap handler failed", exc)

        return tapped

    @staticmethod
    def opentelemetry(
        tracer: Any = None,
        meter: Any = None,
        *,
        service_name: str = "l0",
        trace_tokens: bool = False,
        record_token_content: bool = False,
        record_guardrail_violations: bool = True,
        default_attributes: dict[str, Any] | None = None,
        idle_timeout: float | None = 300.0,
        **options: Any,
    ) -> Any:
        """OpenTelemetry handler: one span per stream plus GenAI metrics.

        See :func:`l0_monitoring.create_opentelemetry_handler`; ``options`` are
        further :class:`~l0_monitoring.OpenTelemetryConfig` fields.
        ``idle_timeout``: seconds of silence after which a stream's span is
        ended as ``abandoned`` (default 300; 0 or None: never).
        """
        from .otel import OpenTelemetryConfig, create_opentelemetry_handler

        config = OpenTelemetryConfig(
            service_name=service_name,
            trace_tokens=trace_tokens,
            record_token_content=record_token_content,
            record_guardrail_violations=record_guardrail_violations,
            default_attributes=default_attributes or {},
            **options,
        )
        return create_opentelemetry_handler(tracer, meter, config, idle_timeout=idle_timeout)

    @staticmethod
    def sentry(
        sentry_sdk: Any,
        *,
        capture_network_errors: bool = True,
        capture_guardrail_violations: bool = True,
        min_guardrail_severity: str = "error",
        breadcrumbs_for_tokens: bool = False,
        enable_tracing: bool = True,
        tags: dict[str, str] | None = None,
        environment: str | None = None,
        idle_timeout: float | None = 300.0,
        **options: Any,
    ) -> Any:
        """Sentry handler: breadcrumbs, captured failures, a transaction per stream.

        See :func:`l0_monitoring.create_sentry_handler`; ``options`` are further
        :class:`~l0_monitoring.SentryConfig` fields. ``idle_timeout``: seconds
        of silence after which a stream's transaction is finished as abandoned
        (default 300; 0 or None: never).
        """
        from .sentry import SentryConfig, create_sentry_handler

        config = SentryConfig(
            capture_network_errors=capture_network_errors,
            capture_guardrail_violations=capture_guardrail_violations,
            min_guardrail_severity=min_guardrail_severity,
            breadcrumbs_for_tokens=breadcrumbs_for_tokens,
            enable_tracing=enable_tracing,
            tags=tags or {},
            environment=environment,
            **options,
        )
        return create_sentry_handler(sentry_sdk, config, idle_timeout=idle_timeout)

    @staticmethod
    def record(
        target: str | Any | IO[str],
        *,
        max_bytes: int | None = None,
        backup_count: int = 3,
        max_queue: int = 100_000,
        max_queue_bytes: int = 8 << 20,
        record_token_content: bool = False,
    ) -> Any:
        """Append every event as one JSON line (the ObservabilityEvent schema).

        See :class:`l0_monitoring.recording.EventRecorder`.
        """
        from .recording import EventRecorder

        return EventRecorder(
            target,
            max_bytes=max_bytes,
            backup_count=backup_count,
            max_queue=max_queue,
            max_queue_bytes=max_queue_bytes,
            record_token_content=record_token_content,
        )
