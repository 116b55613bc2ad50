"""GenAI metric instruments and the bounded backlog of histogram values.

Metric cost: one measurement through the Python SDK costs ~10 microseconds, so
the event handler records histograms once per stream, at its terminal event,
never per token, and the counters (``l0.streams``, ``l0.retries``,
``l0.guardrail.violations``) are observable counters read from the handler's
own tallies at collection time: no SDK call per stream for them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from .._internal.guard import ErrorReporter
from .._internal.workers import register_fork_aware
from .semconv import DURATION_BUCKETS, TOKEN_BUCKETS

_errors = ErrorReporter()

_MAX_SERIES = 1000  # attribute sets per counter; beyond, new ones are not tallied
_MAX_PENDING = 16_384  # histogram values waiting for the next metric collection


class _Instruments:
    """The metric instruments, created once per meter.

    Histogram measurements are not recorded on the stream's thread: ``record``
    appends them to a bounded backlog that is recorded into the SDK when the
    meter collects (our observable counters' callbacks run first in every
    collection, on the reader's thread), on ``drain()`` (handler flush/close) or,
    past ``_MAX_PENDING`` values, oldest first by the stream that overflows it.
    Nothing is dropped; the SDK's per-measurement work (~10 us each in the
    Python SDK) leaves the stream's path.
    """

    def __init__(self, meter: Any) -> None:
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )  # fmt: skip
        self.ttfc = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streaming response.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )  # fmt: skip
        self.tpoc = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk", unit="s",
            description="Time between consecutive chunks of a streaming response.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )  # fmt: skip
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )  # fmt: skip
        self.tallies: dict[str, dict[frozenset[tuple[str, Any]], int]] = {
            "retries": {}, "violations": {}, "streams": {},
        }  # fmt: skip
        self.lock = threading.Lock()
        self.pending: deque[tuple[Any, Any, Mapping[str, Any]]] = deque()
        self.pending_values = 0  # values in the backlog (an entry may hold a list)
        self.drain_lock = threading.Lock()  # one drainer at a time keeps the order
        register_fork_aware(self)
        for name, key, unit, description in (
            ("l0.retries", "retries", "{retry}", "Retries, by kind (network, model)."),
            ("l0.guardrail.violations", "violations", "{violation}",
             "Guardrail violations, by rule and severity."),
            ("l0.streams", "streams", "{stream}", "Finished streams, by outcome."),
        ):  # fmt: skip
            meter.create_observable_counter(
                name, callbacks=[self._observer(key)], unit=unit, description=description
            )

    def _after_fork_in_child(self) -> None:
        # Either lock may have been held by another thread at fork time.
        self.lock = threading.Lock()
        self.drain_lock = threading.Lock()

    def finish_stream(
        self,
        entries: list[tuple[Any, Any, Mapping[str, Any]]],
        values: int,
        streams_key: frozenset[tuple[str, Any]] | None,
    ) -> None:
        """Queue a finished stream's histogram values and count the stream.

        ``entries`` hold ``values`` numbers in all; ``streams_key`` is the stream's
        ``l0.streams`` attribute set. One lock for both.
        """
        with self.lock:
            self.pending.extend(entries)
            self.pending_values += values
            over = self.pending_values > _MAX_PENDING
            if streams_key is not None:
                self._tally_locked("streams", streams_key, 1)
        if over:  # no collection for a while: record the overflow now, oldest first
            self.drain(_MAX_PENDING)

    def drain(self, keep: int = 0) -> int:
        """Record queued values into the SDK until at most ``keep`` remain; never raises.

        Returns:
            How many values were recorded.
        """
        done = 0
        pending = self.pending
        lock = self.lock
        with self.drain_lock:
            while True:
                with lock:
                    if self.pending_values <= keep or not pending:
                        break
                    histogram, value, attributes = pending.popleft()
                    values = value if value.__class__ is list else (value,)
                    self.pending_values -= len(values)
                try:
                    for v in values:
                        histogram.record(v, attributes)
                except Exception as exc:
                    _errors.report("otel.metrics", "l0_monitoring: recording a metric failed", exc)
                done += len(values)
        return done

    def count(self, key: str, attributes: Mapping[str, Any], n: int = 1) -> None:
        """Add ``n`` to the tally of ``key`` under ``attributes`` (bounded: low cardinality)."""
        self.tally(key, frozenset(attributes.items()), n)

    def tally(self, key: str, frozen: frozenset[tuple[str, Any]], n: int) -> None:
        """Add ``n`` to the tally of ``key`` under the frozen attribute set ``frozen``."""
        with self.lock:
            self._tally_locked(key, frozen, n)

    def _tally_locked(self, key: str, frozen: frozenset[tuple[str, Any]], n: int) -> None:
        tally = self.tallies[key]
        if frozen in tally or len(tally) < _MAX_SERIES:  # bounded: low cardinality
            tally[frozen] = tally.get(frozen, 0) + n

    def _observer(self, key: str) -> Callable[[Any], list[Any]]:
        def observe(options: Any) -> list[Any]:
            from opentelemetry.metrics import Observation

            self.drain()  # queued histogram values join this collection
            with self.lock:
                items = list(self.tallies[key].items())
            return [Observation(value, dict(attrs)) for attrs, value in items]

        return observe
