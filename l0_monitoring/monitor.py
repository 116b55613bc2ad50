"""``Monitor``: folds observability events into one ``Telemetry`` record per stream.

Hot path: ``handle_event`` for a TOKEN event of a known stream does one dict
lookup (the in-flight table), a string comparison, attribute reads and integer
adds. Everything else (validation, datetimes, Pydantic models, sampling,
sketches) happens once per stream, when it finishes, or lazily when records are
read. Events of one stream are expected from one thread at a time (as the L0
runtime delivers them); different streams may be fed from any number of threads.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import math
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ._internal.aggregates import Aggregates
from ._internal.guard import ErrorReporter
from ._internal.recent import RecentIds
from ._internal.safe import safe_repr
from ._internal.state import FOLDS, GAP_CHUNK, StreamState
from .config import MonitoringConfig
from .events import ObservabilityEvent
from .prometheus.series import SeriesSet, current_trace_id
from .telemetry import AggregateMetrics, Telemetry, outcome_of

__all__ = ["Monitor"]

logger = logging.getLogger("l0_monitoring")

_RECENT_FINISHED = 4096  # ids remembered so late events after a terminal one are ignored
_EVICTION_SCAN = 32  # oldest in-flight entries inspected to pick the idlest one
_TOKEN = "TOKEN"
_FOLDS_GET = FOLDS.get


class Monitor:
    """Collects telemetry from L0 observability events.

    Pass :meth:`handle_event` as ``l0.run(on_event=...)`` or call it with events
    from any emitter: this package's :class:`~l0_monitoring.events.ObservabilityEvent`,
    the L0 runtime's own ``l0.events.ObservabilityEvent``, or mappings with the
    same keys. It never raises into the caller.

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
    ) -> None:
        self.config = config if config is not None else MonitoringConfig.default()
        cfg = self.config
        self._on_complete = on_complete
        self._on_flush = on_flush
        self._raise = raise_internal_errors
        self._enabled = cfg.enabled
        self._itl = cfg.metrics.inter_token_latency and cfg.metrics.collect_timing
        self._collect_tokens = cfg.metrics.collect_tokens
        self._max_in_flight = cfg.max_in_flight
        self._sampling = cfg.sampling
        # Durations are never negative, so this keeps everything (the default).
        self._keep_all = cfg.sampling.rate >= 1.0 and cfg.sampling.min_duration <= 0.0
        self._lock = threading.Lock()
        self._inflight: dict[str, StreamState] = {}
        self._recent = RecentIds(_RECENT_FINISHED)
        self._buffer: deque[StreamState] = deque(maxlen=cfg.buffer_size)
        self._unflushed: deque[StreamState] = deque()
        self._unflushed_cap = max(cfg.buffer_size, 10_000)
        self._last: StreamState | None = None
        self._agg = Aggregates(self.config.metrics.series())
        self._errors = ErrorReporter()
        self._counts = {
            "streams_started": 0,
            "streams_finished": 0,
            "records_kept": 0,
            "records_sampled_out": 0,
            "streams_abandoned": 0,
            "late_events": 0,
            "malformed_events": 0,
            "callback_errors": 0,
            "flush_dropped": 0,
        }
        self._closed = False
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self._pid = os.getpid()
        self._atexit_registered = False
        logging.getLogger("l0_monitoring").setLevel(cfg.log_level.upper())

    # ------------------------------------------------------------------ hot path

    def handle_event(self, event: Any) -> None:
        """Fold one observability event into its stream's telemetry. Never raises.

        Args:
            event: An event object with ``type``, ``ts`` (ms), ``stream_id``,
                ``context`` and ``meta`` attributes, or a mapping with those keys.
        """
        if not self._enabled:
            return
        try:
            try:
                st = self._inflight.get(event.stream_id)
            except AttributeError:
                self._handle_mapping(event)
                return
            if st is None:
                st = self._open(event)
                if st is None:
                    return
            t = event.type
            if t == _TOKEN:
                ts = event.ts
                st.last_ms = ts
                st.tokens += 1
                last = st.last_token_ms
                if last is None:
                    if st.first_token_ms is None:
                        st.first_token_ms = ts
                elif self._itl:
                    gaps = st.gaps
                    if gaps is None:
                        st.gaps = [ts - last]
                    else:
                        gaps.append(ts - last)
                        if len(gaps) >= GAP_CHUNK:
                            st.flush_gaps()
                st.last_token_ms = ts
                if self._collect_tokens:
                    meta = event.meta
                    text = meta.get("token")
                    if text is None:
                        text = meta.get("text") or meta.get("content")
                    if text.__class__ is str:
                        st.chars += len(text)
                return
            st.last_ms = ts = event.ts
            fold = _FOLDS_GET(t)
            if fold is None:
                return
            # Context is merged on folded (lifecycle) events only: the L0 runtime
            # attaches the same run context to every event of a stream.
            ctx = event.context
            if ctx:
                self._merge_context(st, ctx)
            meta = event.meta
            if meta.__class__ is not dict and not isinstance(meta, Mapping):
                meta = {}
            if fold(st, meta, ts):
                self._finish(st, ts)
        except Exception as exc:
            self._internal_error("handle_event", exc)

    __call__ = handle_event

    # ------------------------------------------------------------------ slow paths

    @staticmethod
    def _merge_context(st: StreamState, ctx: Any) -> None:
        if not isinstance(ctx, Mapping):
            return
        if st.context is None:
            st.context = dict(ctx)
        elif ctx is not st.context:
            st.context.update(ctx)

    def _open(self, event: Any) -> StreamState | None:
        """Start tracking the event's stream; None when the event is to be ignored."""
        sid = event.stream_id
        if not isinstance(sid, str) or not sid:
            self._malformed(
                ValueError(f"event.stream_id must be a non-empty string: {safe_repr(sid)}")
            )
            return None
        ts = event.ts
        if isinstance(ts, bool) or not isinstance(ts, int | float):
            self._malformed(
                ValueError(f"event.ts must be a number of milliseconds: {safe_repr(ts)}")
            )
            return None
        evicted: StreamState | None = None
        with self._lock:
            st = self._inflight.get(sid)
            if st is None:
                if sid in self._recent.ids:
                    if event.type != "SESSION_START":
                        self._counts["late_events"] += 1
                        return None
                    self._recent.discard(sid)  # a new lifetime of the same id
                if len(self._inflight) >= self._max_in_flight:
                    evicted = self._evict_locked()
                st = StreamState(sid, float(ts))
                self._inflight[sid] = st
                self._counts["streams_started"] += 1
                new = True
            else:
                new = False
        if new:
            # Exemplar hook: the span current when the stream starts (None, at the
            # cost of one dict lookup, unless OpenTelemetry is imported). Stored
            # only when set, so untraced streams keep an empty instance dict.
            trace_id = current_trace_id()
            if trace_id is not None:
                st.trace_id = trace_id
        if evicted is not None:
            self._deliver(evicted)
        return st

    def _handle_mapping(self, event: Any) -> None:
        if isinstance(event, Mapping):
            try:
                parsed = ObservabilityEvent.from_dict(event)
            except ValueError as exc:
                self._malformed(exc)
                return
            self.handle_event(parsed)
            return
        self._malformed(
            ValueError(f"event must have a stream_id attribute or be a mapping: {type(event)}")
        )

    def _malformed(self, exc: ValueError) -> None:
        # Bad input is expected and handled: counted and logged, never raised
        # (raise_internal_errors is for this package's own bugs).
        with self._lock:
            self._counts["malformed_events"] += 1
        self._errors.report("malformed_event", f"l0_monitoring ignored a malformed event ({exc})")

    def _internal_error(self, where: str, exc: Exception) -> None:
        if self._raise:
            raise exc
        self._errors.report(where, f"l0_monitoring internal error in {where}", exc)

    def _evict_locked(self) -> StreamState | None:
        candidates = []
        for i, st in enumerate(self._inflight.values()):
            if i >= _EVICTION_SCAN:
                break
            candidates.append(st)
        idlest = min(candidates, key=lambda s: s.last_ms if s.last_ms == s.last_ms else -math.inf)
        idlest.abandoned = True
        kept = self._finish_locked(idlest, idlest.last_ms)
        self._counts["streams_abandoned"] += 1
        return idlest if kept else None

    # ------------------------------------------------------------------ finalization

    def _finish(self, st: StreamState, end_ms: float) -> None:
        with self._lock:
            if not self._finish_locked(st, end_ms):
                return
        if self._on_complete is not None or self._on_flush is not None:
            self._deliver(st)

    def _finish_locked(self, st: StreamState, end_ms: float) -> bool:
        """Finalize exactly once; returns False when the stream was already finalized."""
        if self._inflight.pop(st.stream_id, None) is None:
            return False
        st.end_ms = end_ms if end_ms == end_ms else st.last_ms
        self._recent.add(st.stream_id)
        if st.gaps is not None and st.gap_sketch is not None:
            st.flush_gaps()
        duration, ttft, tps = st.timings()
        tokens = st.token_count if st.token_count is not None else st.tokens
        err = st.err_occurred
        agg = self._agg
        agg.add(
            tokens,
            duration,
            ttft,
            tps,
            st.model_retries + st.network_retries,
            err,
            st.completed,
            st.aborted,
            st.abandoned,
        )
        violations = st.violations
        agg.series.observe(
            st.model if st.model is not None or not st.context else st.resolved_model(),
            outcome_of(st.completed, st.aborted, st.abandoned, err),
            tokens,
            st.network_retries,
            st.model_retries,
            [v.get("severity") for v in violations] if violations else (),
            st.err_category or "unknown" if err else None,
            ttft,
            duration,
            tps,
            st.gaps or (),  # milliseconds, scaled to seconds by the histogram
            st.gap_hist,
            0.001,
            st.trace_id,
        )
        counts = self._counts
        counts["streams_finished"] += 1
        self._last = st
        if self._keep_all or self._keep(st, duration):
            counts["records_kept"] += 1
            self._buffer.append(st)
            if self._on_flush is not None:
                if len(self._unflushed) >= self._unflushed_cap:
                    self._unflushed.popleft()
                    counts["flush_dropped"] += 1
                self._unflushed.append(st)
            return True
        counts["records_sampled_out"] += 1
        return False

    def _keep(self, st: StreamState, duration: float | None) -> bool:
        s = self._sampling
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
        record = st.record
        if record is None:
            record = st.to_telemetry(self.config.metrics)
            st.record = record
        return record

    def _deliver(self, st: StreamState) -> None:
        """Run on_complete for a kept record, outside the lock, guarded."""
        if self._on_flush is not None and self.config.flush_interval > 0:
            self._ensure_flusher()
        callback = self._on_complete
        if callback is None:
            return
        try:
            with self._lock:
                record = self._record(st)
            callback(record)
        except Exception as exc:
            with self._lock:
                self._counts["callback_errors"] += 1
            if self._raise:
                raise
            self._errors.report("on_complete", "l0_monitoring on_complete callback failed", exc)

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
        with self._lock:
            if stream_id is None:
                return self._record(self._last) if self._last is not None else None
            st = self._inflight.get(stream_id)
            if st is not None:
                return st.to_telemetry(self.config.metrics, final=False)
            for kept in reversed(self._buffer):
                if kept.stream_id == stream_id:
                    return self._record(kept)
            if self._last is not None and self._last.stream_id == stream_id:
                return self._record(self._last)
        return None

    def get_all_telemetry(self) -> list[Telemetry]:
        """Return the kept records in the buffer, oldest first (at most ``buffer_size``)."""
        with self._lock:
            return [self._record(st) for st in self._buffer]

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
        ``records_sampled_out``, ``streams_abandoned`` (evicted or closed while
        silent), ``late_events`` (after a stream's terminal event),
        ``malformed_events``, ``callback_errors``, ``internal_errors``,
        ``flush_dropped`` (records over the on_flush backlog bound) and
        ``in_flight``.
        """
        with self._lock:
            out = dict(self._counts)
            out["in_flight"] = len(self._inflight)
            out["internal_errors"] = (
                self._errors.count - out["malformed_events"] - out["callback_errors"]
            )
            return out

    def clear(self) -> None:
        """Forget every stream, record and aggregate (in-flight streams included).

        The Prometheus series are kept: they are cumulative counters, and a
        drop would read as a huge false ``increase()`` once merged with other
        workers' series.
        """
        with self._lock:
            self._inflight.clear()
            self._recent.clear()
            self._buffer.clear()
            self._unflushed.clear()
            self._last = None
            series = self._agg.series
            self._agg = Aggregates(series)

    # ------------------------------------------------------------------ flushing

    def flush(self) -> int:
        """Hand the records kept since the last flush to ``on_flush`` now.

        Returns:
            How many records were handed over (0 without ``on_flush``).
        """
        callback = self._on_flush
        if callback is None:
            return 0
        with self._lock:
            pending = list(self._unflushed)
            self._unflushed.clear()
            records = [self._record(st) for st in pending]
        if not records:
            return 0
        try:
            callback(records)
        except Exception as exc:
            with self._lock:
                self._counts["callback_errors"] += 1
            if self._raise:
                raise
            self._errors.report("on_flush", "l0_monitoring on_flush callback failed", exc)
        return len(records)

    def close(self) -> None:
        """Finalize silent in-flight streams as abandoned, flush, and stop the flusher.

        Idempotent; safe to call from ``atexit`` or a shutdown hook.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._inflight.values())
            finished = []
            for st in pending:
                st.abandoned = True
                if self._finish_locked(st, st.last_ms):
                    finished.append(st)
                self._counts["streams_abandoned"] += 1
        for st in finished:
            self._deliver(st)
        self._stop.set()
        self.flush()
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join(timeout=5.0)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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


def _close_if_alive(ref: weakref.ref[Monitor]) -> None:
    monitor = ref()
    if monitor is not None:
        monitor.close()


def _hash_fraction(stream_id: str) -> float:
    """Map a stream id to [0, 1) deterministically, identically in every process."""
    digest = hashlib.blake2b(stream_id.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
