"""``Monitor``: one ``Telemetry`` record per stream, aggregates, sampling, buffer.

The Monitor is a listener on a stream table (:mod:`._internal.lifecycle`): the
table folds each event once (:mod:`._internal.fold`) and, when a stream ends,
derives its facts once (:mod:`._internal.derive`); the Monitor adds those facts
to the aggregates and Prometheus series, samples, buffers and calls
``on_complete``. Records are built from the same state outside the Monitor's
lock, lazily, so readers never hold up ``handle_event`` on another thread.

Hot path: ``handle_event`` *is* the table's ``handle_event``; for a TOKEN event
of a known stream it does one dict lookup, a comparison, attribute reads and
integer adds. Events of one stream are expected from one thread at a time (as
the L0 runtime delivers them); different streams may be fed from any number of
threads.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from ._internal.aggregates import Aggregates
from ._internal.derive import Facts, telemetry
from ._internal.fold import StreamState
from ._internal.guard import internal_error
from ._internal.lifecycle import StreamListener, StreamTable
from ._internal.workers import Clock, register_fork_aware
from .config import MonitoringConfig
from .prometheus.series import SeriesSet, current_trace_id, new_uid
from .telemetry import AggregateMetrics, Telemetry

__all__ = ["Monitor"]

logger = logging.getLogger("l0_monitoring")


class Monitor(StreamListener):
    """Collects telemetry from L0 observability events.

    Pass :meth:`handle_event` as ``l0.run(on_event=...)`` or call it with events
    from any emitter: this package's :class:`~l0_monitoring.events.ObservabilityEvent`,
    the L0 runtime's own ``l0.events.ObservabilityEvent``, or mappings with the
    same keys. It never raises into the caller.

    A stream ends at its terminal event, when evicted (past ``max_in_flight``),
    when silent for ``config.idle_timeout`` seconds (as ``abandoned``, within
    ``idle_timeout + 1`` s, even if no further event arrives) or at
    :meth:`close`. ``Monitoring.combine(monitor.handle_event, otel, sentry)``
    attaches the OpenTelemetry and Sentry handlers to this Monitor's stream
    table, so each event is folded once for all three.

    Args:
        config: Monitoring configuration (defaults to ``MonitoringConfig.default()``).
            It is read once, here: changing it afterwards does not reconfigure
            the Monitor (build a new one).
        on_complete: Called with each *kept* record once, when its stream finishes.
            Metadata it sets on the record is kept. Its exceptions are logged
            (rate-limited) and counted, never raised.
        on_flush: With ``config.flush_interval > 0``, called from a daemon thread
            every ``flush_interval`` seconds with the records kept since the last
            flush; :meth:`flush` does it at once and :meth:`close` one last time.
        raise_internal_errors: Re-raise internal errors instead of logging them
            (for tests of this package; never set it in production).

    Example:
        >>> from l0_monitoring import Monitor
        >>> from l0_monitoring.testing import make_stream_events
        >>> monitor = Monitor()
        >>> for event in make_stream_events("s1", tokens=["Hel", "lo"]):
        ...     monitor.handle_event(event)
        >>> monitor.get_telemetry("s1").metrics.token_count
        2
    """

    def __init__(
        self,
        config: MonitoringConfig | None = None,
        *,
        on_complete: Callable[[Telemetry], Any] | None = None,
        on_flush: Callable[[list[Telemetry]], Any] | None = None,
        raise_internal_errors: bool = False,
        _clock: Clock | None = None,
    ) -> None:
        self.config = config if config is not None else MonitoringConfig.default()
        cfg = self.config
        self._metrics = cfg.metrics
        self._on_complete = on_complete
        self._on_flush = on_flush
        self._raise = raise_internal_errors
        self._sampling = cfg.sampling
        # Durations are never negative, so this keeps everything (the default).
        self._keep_all = cfg.sampling.rate >= 1.0 and cfg.sampling.min_duration <= 0.0
        self._lock = threading.Lock()
        self._table = StreamTable(
            cfg.metrics,
            max_in_flight=cfg.max_in_flight,
            idle_timeout=cfg.idle_timeout,
            enabled=cfg.enabled,
            clock=_clock,
            raise_errors=raise_internal_errors,
        )
        self._table.attach(self)
        self._table.owner = self
        self._errors = self._table.errors
        # The table's bound method: no extra call layer on the per-token path.
        self.handle_event = self._table.handle_event  # type: ignore[method-assign]
        self._buffer: deque[StreamState] = deque(maxlen=cfg.buffer_size)
        self._unflushed: deque[StreamState] = deque()
        self._unflushed_cap = max(cfg.buffer_size, 10_000)
        self._last: StreamState | None = None
        self._agg = Aggregates(self.config.metrics.series())
        self._counts = {
            "records_kept": 0,
            "records_sampled_out": 0,
            "callback_errors": 0,
            "flush_dropped": 0,
        }
        self._closed = False
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self._pid = os.getpid()
        self._atexit_registered = False
        register_fork_aware(self)
        logging.getLogger("l0_monitoring").setLevel(cfg.log_level.upper())

    def handle_event(self, event: Any) -> None:
        """Fold one observability event into its stream's telemetry. Never raises.

        (Replaced per instance by the stream table's own ``handle_event``.)

        Args:
            event: An event object with ``type``, ``ts`` (ms), ``stream_id``,
                ``context`` and ``meta`` attributes, or a mapping with those keys.
        """
        self._table.handle_event(event)

    def __call__(self, event: Any) -> None:
        """Same as :meth:`handle_event`."""
        self.handle_event(event)

    @property
    def table(self) -> StreamTable:
        """The stream table this Monitor listens to (handlers attach to it in ``combine``)."""
        return self._table

    # ------------------------------------------------------------------ the listener

    def on_start(self, st: StreamState, ts: float) -> None:
        """Exemplar hook: remember the trace current when the stream starts.

        :func:`~l0_monitoring.prometheus.series.current_trace_id` costs one dict
        lookup unless OpenTelemetry is imported; the id is stored only when set.
        """
        trace_id = current_trace_id()
        if trace_id is not None:
            st.trace_id = trace_id

    def on_finish(self, st: StreamState, facts: Facts) -> None:
        """Count the stream in the aggregates, sample it, buffer it, run ``on_complete``."""
        with self._lock:
            self._agg.add(facts, st.gaps, st.gap_hist, st.trace_id)
            counts = self._counts
            self._last = st
            if self._keep_all or self._keep(st, facts):
                counts["records_kept"] += 1
                self._buffer.append(st)
                if self._on_flush is not None:
                    if len(self._unflushed) >= self._unflushed_cap:
                        self._unflushed.popleft()
                        counts["flush_dropped"] += 1
                    self._unflushed.append(st)
                kept = True
            else:
                counts["records_sampled_out"] += 1
                kept = False
        if kept and (self._on_complete is not None or self._on_flush is not None):
            self._deliver(st)

    def _keep(self, st: StreamState, facts: Facts) -> bool:
        s = self._sampling
        duration = facts.duration
        if s.rate >= 1.0 and (duration is None or duration >= s.min_duration):
            return True  # the default: keep everything
        if (st.err_occurred or st.abandoned) and s.sample_errors:
            return True
        if duration is not None:
            if s.sample_slow and duration > s.slow_threshold:
                return True
            if duration < s.min_duration and not st.err_occurred:
                return False
        if s.rate >= 1.0:
            return True
        if s.rate <= 0.0:
            return False
        return _hash_fraction(st.stream_id) < s.rate

    def _record(self, st: StreamState) -> Telemetry:
        """The finished stream's record, built once (outside the Monitor's lock).

        Two threads may build it at once; both get equal records and one is kept.
        """
        record = st.record
        if record is None:
            record = st.record = telemetry(st, self._metrics)
        return record  # type: ignore[no-any-return]

    def _internal_error(self, where: str, exc: Exception) -> None:
        if self._raise:
            raise exc
        internal_error(self._errors, where, exc)

    def _callback_failed(self, where: str, exc: Exception) -> None:
        with self._lock:
            self._counts["callback_errors"] += 1
        if self._raise:
            raise exc
        self._errors.report(where, f"l0_monitoring {where} callback failed", exc)

    def _deliver(self, st: StreamState) -> None:
        """Run on_complete for a kept record, outside the lock, guarded."""
        if self._on_flush is not None and self.config.flush_interval > 0:
            self._ensure_flusher()
        callback = self._on_complete
        if callback is None:
            return
        try:
            record = self._record(st)
        except Exception as exc:
            self._internal_error("record", exc)
            return
        try:
            callback(record)
        except Exception as exc:
            self._callback_failed("on_complete", exc)

    # ------------------------------------------------------------------ reading

    def get_telemetry(self, stream_id: str | None = None) -> Telemetry | None:
        """Return the telemetry of a stream, or of the most recently finished one.

        Args:
            stream_id: A stream id. A stream still in flight gives a snapshot of
                what is known so far (``completed_at`` unset); a finished one its
                kept record, or its record if it was the last to finish.

        Returns:
            The record, or None when the stream is unknown (or was sampled out
            and is no longer the most recent).
        """
        found: StreamState | None = None
        if stream_id is None:
            found = self._last
        else:
            live = self._table.get(stream_id)
            if live is not None:
                return telemetry(live, self._metrics, final=False)
            with self._lock:
                for kept in reversed(self._buffer):
                    if kept.stream_id == stream_id:
                        found = kept
                        break
                else:
                    last = self._last
                    if last is not None and last.stream_id == stream_id:
                        found = last
        return None if found is None else self._record(found)

    def get_all_telemetry(self) -> list[Telemetry]:
        """Return the kept records in the buffer, oldest first (at most ``buffer_size``).

        The buffer is copied under the lock; records are built outside it.
        """
        with self._lock:
            kept = list(self._buffer)
        return [self._record(st) for st in kept]

    def get_aggregate_metrics(self) -> AggregateMetrics:
        """Aggregate metrics over every stream finished since :meth:`clear`.

        Sampled-out streams are included, so sampling never biases rates. Keys:
        the spec's (``count``, ``total_tokens``, ``total_duration``,
        ``total_retries``, ``error_count``, ``error_rate``, ``completed_count``,
        ``completion_rate``, ``avg_tokens``, ``avg_duration``, ``avg_ttft``,
        ``avg_tokens_per_sec``) plus ``failed_count``, ``failure_rate``,
        ``aborted_count``, ``abandoned_count`` and ``p<q>_ttft``,
        ``p<q>_duration``, ``p<q>_tokens_per_sec`` for each configured percentile
        (DDSketch, 1% relative accuracy).

        Returns:
            The aggregates; count 0 and zeros for an empty monitor.
        """
        with self._lock:
            return self._agg.snapshot(self.config.metrics.percentiles)  # type: ignore[return-value]

    def _series_snapshot(self) -> SeriesSet:
        """Copy of the per-model Prometheus series (for the exporters)."""
        with self._lock:
            return self._agg.series.snapshot()

    def stats(self) -> dict[str, int]:
        """Return the Monitor's own health counters.

        Keys: ``streams_started``, ``streams_finished``, ``records_kept``,
        ``records_sampled_out``, ``streams_abandoned`` (evicted, idle or closed
        while silent), ``streams_idle`` (of those, ended by the idle timeout),
        ``late_events`` (after a stream's terminal event), ``malformed_events``,
        ``callback_errors``, ``listener_errors``, ``internal_errors``,
        ``flush_dropped`` (records over the on_flush backlog bound) and
        ``in_flight``.
        """
        out = self._table.stats()
        with self._lock:
            out.update(self._counts)
        out["internal_errors"] = max(
            0, self._errors.count - out["malformed_events"] - out["callback_errors"]
        )
        return out

    def clear(self) -> None:
        """Forget every stream, record and aggregate (in-flight streams included).

        The Prometheus series are kept: they are cumulative counters, and a
        drop would read as a huge false ``increase()`` once merged with other
        workers' series.
        """
        self._table.clear()
        with self._lock:
            self._buffer.clear()
            self._unflushed.clear()
            self._last = None
            series = self._agg.series
            self._agg = Aggregates(series)

    # ------------------------------------------------------------------ flushing

    def flush(self) -> int:
        """Hand the records kept since the last flush to ``on_flush`` now.

        Records are built outside the Monitor's lock.

        Returns:
            How many records were handed over (0 without ``on_flush``).
        """
        callback = self._on_flush
        if callback is None:
            return 0
        with self._lock:
            pending = list(self._unflushed)
            self._unflushed.clear()
        if not pending:
            return 0
        records = [self._record(st) for st in pending]
        try:
            callback(records)
        except Exception as exc:
            self._callback_failed("on_flush", exc)
        return len(records)

    def close(self) -> None:
        """Finalize silent in-flight streams as abandoned, flush, and stop the flusher.

        Idempotent; safe to call from ``atexit`` or a shutdown hook.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._table.close()
        self._stop.set()
        self.flush()
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(timeout=5.0)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _after_fork_in_child(self) -> None:
        # Locks held by another thread at fork time would never be released here.
        self._lock = threading.Lock()
        # The child's series now have their own history: a snapshot sent back to
        # the parent must not be served the parent's cached text (same uid, version).
        self._agg.series.uid = new_uid()
        self._pid = os.getpid()
        self._flusher = None
        self._stop = threading.Event()

    def _ensure_flusher(self) -> None:
        if self._closed:
            return
        if self._pid != os.getpid():  # forked: the parent's thread does not exist here
            self._pid = os.getpid()
            self._flusher = None
            self._stop = threading.Event()
        flusher = self._flusher
        if flusher is not None and flusher.is_alive():
            return
        with self._lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            self._flusher = threading.Thread(
                target=self._flush_loop, name="l0-monitoring-flush", daemon=True
            )
            self._flusher.start()
            if not self._atexit_registered:
                # A weak reference: registering must not keep the Monitor alive.
                ref = weakref.ref(self)
                atexit.register(_close_if_alive, ref)
                self._atexit_registered = True

    def _flush_loop(self) -> None:
        interval = self.config.flush_interval
        stop = self._stop
        while not stop.wait(interval):
            self.flush()


_EXIT_TIMEOUT = 2.0  # seconds interpreter exit waits for close() (and the host's callbacks)


def _close_if_alive(ref: weakref.ref[Monitor]) -> None:
    monitor = ref()
    if monitor is None:
        return
    # close() hands the last records to on_complete/on_flush: host code that may
    # block for ever. It runs on a daemon thread, so exit waits a bounded time.
    closer = threading.Thread(target=monitor.close, name="l0-monitoring-exit", daemon=True)
    try:
        closer.start()
    except RuntimeError:  # pragma: no cover - threads refused this late in shutdown
        monitor.close()
        return
    closer.join(_EXIT_TIMEOUT)


def _hash_fraction(stream_id: str) -> float:
    """Map a stream id to [0, 1) deterministically, identically in every process."""
    digest = hashlib.blake2b(stream_id.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
