"""The stream table: in-flight streams, finalize-exactly-once, listeners.

An event enters :meth:`StreamTable.handle_event` once. The table finds (or
opens) its stream, folds it with the rules of :mod:`.fold`, and calls its
listeners on notable moments only: a stream's start, its first token, a
retry, a fallback, a fresh violation, drift, an error, a network error and its
finish, never per token unless a listener sets ``wants_tokens``. The Monitor,
the OpenTelemetry handler and the Sentry handler are listeners; when they share
one table (``Monitoring.combine(monitor.handle_event, otel, sentry)``) each
event is folded once for all of them.

A stream ends exactly once, on whichever comes first:

* a terminal event (:data:`.fold.TERMINAL_TYPES`, or an ERROR that halts);
* eviction: past ``max_in_flight`` streams, the idlest of the oldest 32 is
  finalized as abandoned;
* the idle timeout: a stream silent for ``idle_timeout`` seconds is finalized
  as abandoned within ``idle_timeout + 1`` s, by one lazy sweep per table
  every 0.5 s on the package's shared timer thread (no per-event timer; the
  sweep runs only while streams are in flight);
* :meth:`StreamTable.close`: every stream still in flight, as abandoned.

Events of one stream are expected from one thread at a time (as the L0 runtime
delivers them); different streams may be fed from any number of threads. The
table's lock is held only to insert, pop and evict entries; listeners run
outside it.
"""

from __future__ import annotations

import copy
import math
import threading
import weakref
from collections.abc import Mapping
from typing import Any, SupportsFloat

from mypy_extensions import mypyc_attr

from ..config import MetricsConfig
from .derive import Facts, derive
from .fold import (
    FINISH,
    FIRST_TOKEN,
    GAP_CHUNK,
    NOTHING,
    RULES,
    START,
    VIOLATION,
    StreamState,
    fold_token,
)
from .guard import ErrorReporter, internal_error
from .meta import as_meta, number, text_or_content, type_value
from .recent import RecentIds
from .safe import safe_repr
from .workers import REAL_CLOCK, Clock, TimerHandle, WeakAnchor, register_fork_aware

RECENT_FINISHED = 4096  # ids remembered so late events after a terminal one are ignored
EVICTION_SCAN = 32  # oldest in-flight entries inspected to pick the idlest one
SWEEP_INTERVAL = 0.5  # seconds between idle sweeps: detection within idle_timeout + 1 s
DEFAULT_IDLE_TIMEOUT = 300.0

_TOKEN = "TOKEN"
_PENDING = TimerHandle(0.0, lambda: None)  # a sweep is being scheduled
_RULES_GET = RULES.get


@mypyc_attr(allow_interpreted_subclasses=True)  # Monitor; the handlers via TableView
class StreamListener:
    """A view of the stream table: told about notable moments, never per token.

    Subclasses override what they need. Every call is guarded by the table:
    an exception is reported (re-raised in strict mode) and never reaches the
    host. Per-stream data a listener keeps goes in ``st.views[id(listener)]``
    (see :meth:`view`), so it lives and dies with the stream.
    """

    wants_tokens: bool = False
    """Set True on the instance (before attaching) to receive :meth:`on_token` per TOKEN event.

    An instance attribute: in the compiled build a class attribute of an
    interpreted subclass does not override it.
    """

    def __call__(self, event: Any) -> None:
        """Handle one event; a plain listener is fed by its table and ignores it.

        Table-backed views (:class:`TableView`) and the Monitor override this.
        Declared here, on the root class, for the mypyc build: a compiled
        subclass that adds ``__call__`` gets a vectorcall slot inserted before
        the inherited fields, so the base's accessors for ``wants_tokens``
        would read and write the wrong bytes (a crash on the next call).
        """

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Refuse copying and pickling, alike in both builds.

        A listener holds live streams, locks and threads: a copy would share
        them (an alias) or lose them (the compiled build pickled an empty
        object whose ``handle_event`` raised). Copy its records instead.

        Raises:
            TypeError: Always, naming the class.
        """
        raise TypeError(
            f"{type(self).__name__} cannot be copied or pickled: it holds live streams, "
            "locks and threads; copy its records (get_all_telemetry()) instead"
        )

    def on_start(self, st: StreamState, ts: float) -> None:
        """The stream's first event was folded."""

    def on_moment(self, moment: int, st: StreamState, ts: float, meta: Mapping[str, Any]) -> None:
        """A notable moment (a ``fold`` moment constant) at ``ts`` (epoch ms).

        For ``VIOLATION``, ``st.fresh_violations`` holds the violations first
        seen in this event (duplicates are never reported twice).
        """

    def on_token(self, st: StreamState, ts: float, meta: Mapping[str, Any]) -> None:
        """A TOKEN event (only with ``wants_tokens``)."""

    def on_finish(self, st: StreamState, facts: Facts) -> None:
        """The stream ended (exactly once); ``facts`` are derived once for every listener."""

    def view(self, st: StreamState) -> Any:
        """This listener's data for ``st`` (None until :meth:`set_view`)."""
        views = st.views
        return None if views is None else views.get(id(self))

    def set_view(self, st: StreamState, value: Any) -> None:
        """Keep ``value`` with the stream for this listener."""
        if st.views is None:
            st.views = {}
        st.views[id(self)] = value


class StreamTable:
    """In-flight streams and their listeners (see the module docstring).

    Args:
        metrics: Which sections the facts carry (the ``collect_*`` flags).
        max_in_flight: Bound on streams tracked at once.
        idle_timeout: Seconds of silence after which a stream ends as
            abandoned (0, None or +inf: never); any number :func:`idle_seconds`
            accepts.
        enabled: False ignores every event.
        clock: Time source and scheduler for the idle sweep (tests pass a
            ``ManualClock``).
        raise_errors: Re-raise internal errors (as in strict mode).
        count_chars: Sum TOKEN text lengths (``content_length``); the handlers'
            own tables, which build no records, skip it.
    """

    def __init__(
        self,
        metrics: MetricsConfig | None = None,
        *,
        max_in_flight: int = 10_000,
        idle_timeout: SupportsFloat | None = DEFAULT_IDLE_TIMEOUT,
        enabled: bool = True,
        clock: Clock | None = None,
        raise_errors: bool = False,
        count_chars: bool = True,
    ) -> None:
        self.metrics = metrics if metrics is not None else MetricsConfig()
        self.max_in_flight = max_in_flight
        self.idle_timeout: float = idle_seconds(idle_timeout)
        self.enabled = enabled
        self.raise_errors = raise_errors
        self.clock: Clock = clock if clock is not None else REAL_CLOCK
        self._itl = self.metrics.inter_token_latency and self.metrics.collect_timing
        self._chars = self.metrics.collect_tokens and count_chars
        self._listeners: tuple[StreamListener, ...] = ()
        self._token_listeners: tuple[StreamListener, ...] = ()
        self._start_listeners: tuple[StreamListener, ...] = ()
        self._moment_listeners: tuple[StreamListener, ...] = ()
        self._inflight: dict[str, StreamState] = {}
        self._recent = RecentIds(RECENT_FINISHED)
        self._lock = threading.Lock()
        self._sweep: TimerHandle | None = None
        self._closed = False
        self.errors = ErrorReporter()
        self.owner: Any = None  # the Monitor whose table this is (for combine's close/flush)
        self.counts = {
            "streams_started": 0,
            "streams_finished": 0,
            "streams_abandoned": 0,
            "streams_idle": 0,
            "late_events": 0,
            "malformed_events": 0,
            "listener_errors": 0,
        }
        # Neither the fork registry nor the sweep's timer may keep the table
        # alive: they hold this anchor weakly (a compiled table has no weakref).
        self._anchor = WeakAnchor(self)
        register_fork_aware(self._anchor)

    # ------------------------------------------------------------------ listeners

    def attach(self, listener: StreamListener) -> None:
        """Add a listener (before events flow; attaching later misses earlier moments)."""
        with self._lock:
            if listener in self._listeners:
                return
            self._listeners = (*self._listeners, listener)
            if listener.wants_tokens:
                self._token_listeners = (*self._token_listeners, listener)
            kind = type(listener)
            # Only listeners that override a hook are called for it: the Monitor
            # alone costs no call per lifecycle event.
            if kind.on_start is not StreamListener.on_start:
                self._start_listeners = (*self._start_listeners, listener)
            if kind.on_moment is not StreamListener.on_moment:
                self._moment_listeners = (*self._moment_listeners, listener)

    def detach(self, listener: StreamListener) -> int:
        """Remove a listener, ending its view of every in-flight stream first.

        The listener is told :meth:`StreamListener.on_finish` for each stream
        still in flight, with facts as if the stream had been abandoned at its
        last activity; the streams themselves stay in flight for the other
        listeners (the table's owner keeps them). Used by a handler's
        ``close()`` on a shared table.

        Returns:
            How many in-flight streams the listener was told about.
        """
        with self._lock:
            if listener not in self._listeners:
                return 0

            def without(group: tuple[StreamListener, ...]) -> tuple[StreamListener, ...]:
                return tuple(x for x in group if x is not listener)

            self._listeners = without(self._listeners)
            self._token_listeners = without(self._token_listeners)
            self._start_listeners = without(self._start_listeners)
            self._moment_listeners = without(self._moment_listeners)
            pending = list(self._inflight.values())
        key = id(listener)
        for st in pending:
            view = copy.copy(st)  # the stream as this listener last sees it: abandoned now
            view.abandoned = True
            view.end_ms = st.last_activity()
            try:
                listener.on_finish(view, derive(view, self.metrics))
            except Exception as exc:
                self._listener_error(exc)
            if st.views is not None:
                st.views.pop(key, None)
        return len(pending)

    @property
    def listeners(self) -> tuple[StreamListener, ...]:
        """The attached listeners, in order."""
        return self._listeners

    def use_idle_timeout(self, seconds: SupportsFloat | None) -> None:
        """Adopt a shorter idle timeout (a listener sharing the table asked for it)."""
        seconds = idle_seconds(seconds)
        if seconds and (not self.idle_timeout or seconds < self.idle_timeout):
            self.idle_timeout = seconds

    # ------------------------------------------------------------------ hot path

    def handle_event(self, event: Any) -> None:
        """Fold one observability event into its stream. Never raises.

        Args:
            event: An event object with ``type``, ``ts`` (epoch ms), ``stream_id``,
                ``context`` and ``meta`` attributes, or a mapping with those keys.
        """
        try:
            try:
                st = self._inflight.get(event.stream_id)
            except AttributeError:
                self._handle_mapping(event)
                return
            if st is None:
                self._open(event)
                return
            ts = event.ts
            if ts.__class__ is not float or ts - ts:  # rule 9: NaN, ±inf, bool, str, ...
                ms = number(ts)
                if ms is None:
                    self._bad_ts(ts)
                    return
                ts = ms
            t = event.type
            if t == _TOKEN:
                # fold.fold_token, inlined: the per-token path.
                st.tokens += 1
                last = st.last_token_ms
                if last is None:
                    if st.attempt_first_ms is None:
                        st.attempt_first_ms = ts
                    if st.first_token_ms is None:
                        st.first_token_ms = ts
                        if self._moment_listeners:
                            self._notify(FIRST_TOKEN, st, ts, event.meta)
                elif self._itl:
                    gaps = st.gaps
                    if gaps is None:
                        st.gaps = [ts - last]
                    else:
                        gaps.append(ts - last)
                        if len(gaps) >= GAP_CHUNK:
                            st.flush_gaps()
                st.last_token_ms = ts
                if self._chars:
                    meta = event.meta
                    if meta.__class__ is not dict:
                        meta = as_meta(meta)
                    text = meta.get("token")
                    if text is None:
                        text = text_or_content(meta)
                    if text.__class__ is str:
                        st.chars += len(text)
                if self._token_listeners:
                    self._tokens(st, ts, event.meta)
                return
            st.last_ms = ts
            st.events += 1
            rule = _RULES_GET(t)
            if rule is None:
                if not isinstance(t, str):  # a str enum member is its value
                    self._fold_foreign(st, t, ts, event)
                return
            # Context is merged on folded (lifecycle) events only: the L0 runtime
            # attaches the same run context to every event of a stream.
            ctx = event.context
            if ctx.__class__ is not dict or ctx:  # never truth-tests a non-dict (an array)
                st.merge_context(ctx)
            meta = event.meta
            if meta.__class__ is not dict and not isinstance(meta, Mapping):
                meta = {}
            moment = rule(st, meta, ts)
            if st.bad_fields:
                self._bad_fields(st)
            if moment:
                if moment == FINISH:
                    self._finish(st, ts)
                elif self._moment_listeners:
                    self._notify(moment, st, ts, meta)
                    if moment == VIOLATION:
                        st.fresh_violations = None
        except (TypeError, ValueError) as exc:
            # Hostile input met an operation: a non-numeric ts, an unhashable type,
            # a type whose `==` answers with an array (no truth value: ValueError).
            reason = _malformed_reason(event)
            if reason is not None:
                self._malformed(reason)
                return
            if self.raise_errors:
                raise
            internal_error(self.errors, "handle_event", exc)
        except Exception as exc:
            if self.raise_errors:
                raise
            internal_error(self.errors, "handle_event", exc)

    def __call__(self, event: Any) -> None:
        """Same as :meth:`handle_event`."""
        self.handle_event(event)

    def _fold_foreign(self, st: StreamState, t: Any, ts: float, event: Any) -> None:
        """Rule 10: an event typed by another enum class is folded by its value."""
        value = type_value(t)
        if value is None:
            return
        meta = _meta_of(event)
        if value == _TOKEN:
            st.events -= 1  # counted as a token, not a lifecycle event
            moment = fold_token(st, ts, meta, self._chars)
            if moment and self._moment_listeners:
                self._notify(moment, st, ts, meta)
            if self._token_listeners:
                self._tokens(st, ts, meta)
            return
        rule = _RULES_GET(value)
        if rule is not None:
            self._apply(st, rule, ts, event, meta)

    def _apply(self, st: StreamState, rule: Any, ts: float, event: Any, meta: Any) -> None:
        """The slow-path twin of the fold in :meth:`handle_event`."""
        ctx = event.context
        if ctx.__class__ is not dict or ctx:
            st.merge_context(ctx)
        moment = rule(st, meta, ts)
        if st.bad_fields:
            self._bad_fields(st)
        if moment:
            if moment == FINISH:
                self._finish(st, ts)
            elif self._moment_listeners:
                self._notify(moment, st, ts, meta)
                if moment == VIOLATION:
                    st.fresh_violations = None

    def _bad_fields(self, st: StreamState) -> None:
        """Rule 2: the event's meta carried a number the number rule rejects (ignored)."""
        n, st.bad_fields = st.bad_fields, 0
        self._malformed(f"{n} meta value(s) rejected by the number rule (ignored)")

    def _bad_ts(self, ts: object) -> None:
        self._malformed(f"event.ts must be a finite number of ms: {safe_repr(ts)}")

    # ------------------------------------------------------------------ slow paths

    def _open(self, event: Any) -> None:
        """Start tracking the event's stream and fold the event."""
        if not self.enabled:
            # A disabled table opens no stream, so every event ends here: the
            # per-event path keeps no enabled check (and a method cannot be
            # replaced per instance on the class compiled by mypyc).
            return
        sid = event.stream_id
        if not isinstance(sid, str) or not sid:
            self._malformed(f"event.stream_id must be a non-empty string: {safe_repr(sid)}")
            return
        ts = event.ts
        if ts.__class__ is not float or ts - ts:
            ms = number(ts)
            if ms is None:
                self._malformed(f"event.ts must be a finite number of ms: {safe_repr(ts)}")
                return
            ts = ms
        evicted: StreamState | None = None
        sweep = opened = False
        with self._lock:
            st = self._inflight.get(sid)
            if st is None:
                opened = True
                recent = self._recent
                if sid in recent.current or sid in recent.previous:
                    if type_value(event.type) != "SESSION_START":
                        self.counts["late_events"] += 1
                        return
                    self._recent.discard(sid)  # a new lifetime of the same id
                if len(self._inflight) >= self.max_in_flight:
                    evicted = self._evict_locked()
                st = StreamState(sid, ts)
                self._inflight[sid] = st
                self.counts["streams_started"] += 1
                sweep = bool(self.idle_timeout) and self._sweep is None
                if sweep:
                    self._sweep = _PENDING
        if sweep:
            self._schedule_sweep()
        if evicted is not None:
            self._finalize(evicted, evicted.last_activity(), abandoned=True)
        if opened:
            for listener in self._start_listeners:  # _notify(START), inlined: once per stream
                try:
                    listener.on_start(st, ts)
                except Exception as exc:
                    self._listener_error(exc)
        t = event.type
        meta = event.meta
        if meta.__class__ is not dict:
            meta = as_meta(meta)
        if t == _TOKEN:
            moment = fold_token(st, ts, meta, self._chars)
            if moment and self._moment_listeners:
                self._notify(moment, st, ts, meta)
            if self._token_listeners:
                self._tokens(st, ts, meta)
            return
        st.events += 1
        try:
            rule = _RULES_GET(t)
        except TypeError:  # an unhashable type
            self._malformed(f"event.type must be a string or enum: {safe_repr(t)}")
            return
        if rule is None:
            if not isinstance(t, str):  # a str enum member is its value
                self._fold_foreign(st, t, ts, event)
            return
        self._apply(st, rule, ts, event, meta)

    def _handle_mapping(self, event: Any) -> None:
        if not self.enabled:
            return
        if isinstance(event, Mapping):
            from ..events import ObservabilityEvent

            try:
                parsed = ObservabilityEvent.from_dict(event)
            except ValueError as exc:
                self._malformed(str(exc))
                return
            self.handle_event(parsed)
            return
        self._malformed(f"event must have a stream_id attribute or be a mapping: {type(event)}")

    def _malformed(self, message: str) -> None:
        # Bad input is expected and handled: counted and logged, never raised
        # (strict mode is for this package's own bugs).
        with self._lock:
            self.counts["malformed_events"] += 1
        self.errors.report(
            "malformed_event", f"l0_monitoring ignored a malformed event ({message})"
        )

    def _evict_locked(self) -> StreamState:
        candidates = []
        for i, st in enumerate(self._inflight.values()):
            if i >= EVICTION_SCAN:
                break
            candidates.append(st)
        idlest = min(candidates, key=StreamState.last_activity)
        self._pop_locked(idlest)
        return idlest

    # ------------------------------------------------------------------ listeners

    def _notify(self, moment: int, st: StreamState, ts: float, meta: Any) -> None:
        if not isinstance(meta, Mapping):
            meta = {}
        if moment == START:
            for listener in self._start_listeners:
                try:
                    listener.on_start(st, ts)
                except Exception as exc:
                    self._listener_error(exc)
            return
        for listener in self._moment_listeners:
            try:
                listener.on_moment(moment, st, ts, meta)
            except Exception as exc:
                self._listener_error(exc)

    def _tokens(self, st: StreamState, ts: float, meta: Any) -> None:
        if not isinstance(meta, Mapping):
            meta = {}
        for listener in self._token_listeners:
            try:
                listener.on_token(st, ts, meta)
            except Exception as exc:
                self._listener_error(exc)

    def _listener_error(self, exc: Exception) -> None:
        with self._lock:
            self.counts["listener_errors"] += 1
        if self.raise_errors:
            raise exc
        internal_error(self.errors, "listener", exc)

    # ------------------------------------------------------------------ finalization

    def _pop_locked(self, st: StreamState) -> bool:
        if st.finished or self._inflight.get(st.stream_id) is not st:
            return False
        del self._inflight[st.stream_id]
        st.finished = True
        self._recent.add(st.stream_id)
        self.counts["streams_finished"] += 1
        return True

    def _finish(self, st: StreamState, end_ms: float) -> None:
        with self._lock:
            if not self._pop_locked(st):
                return
        self._finalize(st, end_ms, abandoned=False)

    def _finalize(self, st: StreamState, end_ms: float, *, abandoned: bool) -> None:
        """Derive the facts once and tell every listener (after the pop, outside the lock)."""
        if abandoned:
            st.abandoned = True
            with self._lock:
                self.counts["streams_abandoned"] += 1
        st.end_ms = end_ms
        if st.gaps is not None and st.gap_sketch is not None:
            st.flush_gaps()
        facts = derive(st, self.metrics)
        for listener in self._listeners:
            try:
                listener.on_finish(st, facts)
            except Exception as exc:
                self._listener_error(exc)

    def end_stream(self, stream_id: str) -> bool:
        """Finalize one in-flight stream now, as abandoned.

        Returns:
            False when the stream was not in flight.
        """
        with self._lock:
            st = self._inflight.get(stream_id)
            if st is None or not self._pop_locked(st):
                return False
        self._finalize(st, st.last_activity(), abandoned=True)
        return True

    def close(self) -> None:
        """Finalize every stream still in flight as abandoned (idempotent per stream)."""
        with self._lock:
            pending = [st for st in list(self._inflight.values()) if self._pop_locked(st)]
            sweep, self._sweep = self._sweep, None
        if sweep is not None:
            sweep.cancel()
        for st in pending:
            try:
                self._finalize(st, st.last_activity(), abandoned=True)
            except Exception as exc:
                internal_error(self.errors, "close", exc)

    def clear(self) -> None:
        """Forget every stream without finalizing it (in-flight streams included)."""
        with self._lock:
            self._inflight.clear()
            self._recent.clear()

    # ------------------------------------------------------------------ idle streams

    def _schedule_sweep(self) -> None:
        """Schedule the next sweep (called outside the lock: it may start the timer thread)."""
        ref = weakref.ref(self._anchor)
        handle = self.clock.call_at(self.clock.now() + SWEEP_INTERVAL, lambda: _sweep(ref))
        with self._lock:
            if self._sweep is _PENDING:
                self._sweep = handle
                return
        handle.cancel()  # closed meanwhile

    def sweep(self) -> int:
        """Finalize streams silent for ``idle_timeout`` seconds as abandoned.

        Called by the lazy sweep every 0.5 s; safe to call at any time. A
        stream's activity is noticed by comparing its event and token counts
        with the previous sweep's, so the per-event path keeps no clock.

        Returns:
            How many streams were finalized.
        """
        timeout = self.idle_timeout
        if not timeout:
            return 0
        now = self.clock.now()
        idle: list[StreamState] = []
        for st in list(self._inflight.values()):  # a C-level copy; no lock held
            events = st.events
            tokens = st.tokens
            if events != st.seen_events or tokens != st.seen_tokens:
                # Active since the last sweep (at most SWEEP_INTERVAL ago): counting
                # from now never ends a stream early, and late by < SWEEP_INTERVAL.
                st.seen_events = events
                st.seen_tokens = tokens
                st.active_at = now
            elif now - st.active_at >= timeout:
                idle.append(st)
        done = []
        if idle:
            with self._lock:
                done = [st for st in idle if self._pop_locked(st)]
                self.counts["streams_idle"] += len(done)
        for st in done:
            self._finalize(st, st.last_activity(), abandoned=True)
        return len(done)

    def _sweep_and_reschedule(self) -> None:
        try:
            self.sweep()
        except Exception as exc:
            internal_error(self.errors, "idle_sweep", exc)
        finally:
            with self._lock:
                again = bool(self._inflight and self.idle_timeout and not self._closed)
                self._sweep = _PENDING if again else None
            if again:
                self._schedule_sweep()

    # ------------------------------------------------------------------ reading

    def get(self, stream_id: str) -> StreamState | None:
        """The in-flight stream ``stream_id``, or None."""
        return self._inflight.get(stream_id)

    def in_flight(self) -> int:
        """Streams being tracked."""
        return len(self._inflight)

    def stats(self) -> dict[str, int]:
        """The table's counters plus ``in_flight``."""
        with self._lock:
            out = dict(self.counts)
            out["in_flight"] = len(self._inflight)
            return out

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by another thread at fork time;
        # the parent's sweep lives on the parent's timer thread.
        self._lock = threading.Lock()
        self._sweep = None
        if self._inflight and self.idle_timeout:
            self._sweep = _PENDING
            self._schedule_sweep()


@mypyc_attr(allow_interpreted_subclasses=True)  # the OpenTelemetry and Sentry handlers
class TableView(StreamListener):
    """A sink that is a view of a stream table: its own, or a Monitor's it attached to.

    The OpenTelemetry and Sentry handlers share this: used alone, a handler
    folds events on a table of its own (:meth:`_own_table`); in
    ``Monitoring.combine`` it attaches to the Monitor's table
    (:meth:`attach_to`), so each event is folded once. ``close()`` on a shared
    table ends this view's streams only and detaches it (:meth:`_close_view`).
    """

    idle_timeout: float  # seconds; 0.0: never
    _table: StreamTable
    _shared: bool

    def _own_table(
        self,
        metrics: MetricsConfig,
        *,
        max_in_flight: int,
        idle_timeout: SupportsFloat | None,
        clock: Clock | None,
    ) -> None:
        """Fold events on a table of this view's own (the handler used alone).

        Raises:
            ValueError: ``idle_timeout`` is not one :func:`idle_seconds` accepts.
        """
        self.idle_timeout = idle_seconds(idle_timeout)
        self._shared = False
        self._table = StreamTable(
            metrics,
            max_in_flight=max_in_flight,
            idle_timeout=self.idle_timeout,
            clock=clock,
            count_chars=False,  # no record is built from a handler's own table
        )
        self._table.attach(self)

    def __call__(self, event: Any) -> None:
        """Handle one event (never raises)."""
        self._table.handle_event(event)

    @property
    def table(self) -> StreamTable:
        """The stream table this handler listens to."""
        return self._table

    def attach_to(self, table: StreamTable) -> bool:
        """Listen to another stream table (a Monitor's) instead of folding events itself.

        Used by ``Monitoring.combine``. Refused (False) once this handler's own
        table has seen a stream.

        Returns:
            True when attached.
        """
        own = self._table
        if own is table:
            return True
        if own.stats()["streams_started"]:
            return False
        table.use_idle_timeout(self.idle_timeout)
        table.attach(self)
        self._table = table
        self._shared = True
        return True

    def _close_view(self) -> None:
        """End this view's open streams: its own table closes; a shared one is left.

        On a shared table this view's streams end (as abandoned) and it
        detaches: the Monitor keeps its in-flight streams and the other views
        theirs; the closed view ignores further events.
        """
        if self._shared:
            self._table.detach(self)
            self._table = StreamTable(enabled=False, idle_timeout=None)
            self._shared = False
        else:
            self._table.close()


def idle_seconds(value: object) -> float:
    """An idle timeout in seconds, 0.0 meaning never: THE rule for every sink's ``idle_timeout``.

    None, 0 and +inf mean never. Any other number :func:`.meta.number` accepts
    (``int``, ``float``, numpy scalars, ``Decimal``) is converted to a float,
    so the interpreted and the compiled build take the same values.

    Raises:
        ValueError: ``value`` is negative, NaN, a bool or not a number.
    """
    if value is None:
        return 0.0
    seconds = number(value)
    if seconds is None and isinstance(value, float) and value == math.inf:
        return 0.0
    if seconds is None or seconds < 0.0:
        raise ValueError(
            f"idle_timeout must be None or a number of seconds >= 0, not {safe_repr(value)}"
        )
    return seconds


def _meta_of(event: Any) -> Mapping[str, Any]:
    return as_meta(event.meta)


def _sweep(ref: weakref.ref[WeakAnchor]) -> None:
    anchor = ref()
    if anchor is not None:
        table = anchor.target
        assert isinstance(table, StreamTable)
        table._sweep_and_reschedule()


__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "NOTHING",
    "StreamListener",
    "StreamTable",
    "TableView",
]


def _malformed_reason(event: Any) -> str | None:
    """Why an event that raised TypeError or ValueError in the fold is malformed; None: a bug."""
    ts = getattr(event, "ts", None)
    if number(ts) is None:
        return f"event.ts must be a finite number of ms: {safe_repr(ts)}"
    t = getattr(event, "type", None)
    try:
        hash(t)
    except TypeError:
        return f"event.type must be a string or enum: {safe_repr(t)}"
    if type_value(t) is None:
        return f"event.type must be a string or enum: {safe_repr(t)}"
    return None
