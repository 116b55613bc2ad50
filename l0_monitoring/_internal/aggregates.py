"""Aggregates over finished streams: counters, sums and bounded quantile sketches.

Updated once per finished stream (never per token), under the Monitor's lock.
Memory is constant in the number of streams: DDSketch keeps a bounded number
of logarithmic bins with 1% relative accuracy. Values for the sketches are
buffered (at most ``SKETCH_BATCH`` each) and bucketed in bulk; every read drains
the buffers first, so snapshots always include every finished stream.
"""

from __future__ import annotations

from typing import Any

from .contract import MAX_SAFE_INT
from .derive import Facts
from .series import SeriesSet
from .sketch import BulkSketch

SKETCH_BATCH = 128  # values buffered per sketch before bucketing in bulk (~0.2 ms held)


def percentile_key(q: float) -> str:
    """Return the key suffix for quantile ``q``: 0.5 -> ``p50``, 0.999 -> ``p99.9``."""
    text = f"{q * 100:.6f}".rstrip("0").rstrip(".")
    return f"p{text}"


class Aggregates:
    """Running totals and sketches of the streams finished since the last ``clear()``."""

    __slots__ = (
        "abandoned",
        "aborted",
        "completed",
        "count",
        "duration_n",
        "duration_pending",
        "duration_sketch",
        "errors",
        "failed",
        "series",
        "total_duration",
        "total_retries",
        "total_tokens",
        "tps_n",
        "tps_pending",
        "tps_sketch",
        "tps_sum",
        "ttft_n",
        "ttft_pending",
        "ttft_sketch",
        "ttft_sum",
    )

    def __init__(self, series: SeriesSet | None = None) -> None:
        self.count = 0
        self.total_tokens = 0
        self.total_duration = 0.0
        self.duration_n = 0  # streams with a duration (the Prometheus _count)
        self.total_retries = 0
        self.errors = 0
        self.failed = 0
        self.completed = 0
        self.aborted = 0
        self.abandoned = 0
        self.ttft_sum = 0.0
        self.ttft_n = 0
        self.tps_sum = 0.0
        self.tps_n = 0
        self.ttft_sketch = BulkSketch()
        self.duration_sketch = BulkSketch()
        self.tps_sketch = BulkSketch()
        self.ttft_pending: list[float] = []
        self.duration_pending: list[float] = []
        self.tps_pending: list[float] = []
        self.series = series if series is not None else SeriesSet()

    def add(
        self,
        f: Facts,
        gaps_ms: list[float] | None = None,
        gap_hist: Any = None,
        trace_id: str | None = None,
    ) -> None:
        """Count one finished stream from its facts (the same facts as its record).

        Args:
            f: The stream's facts (``collect_*`` flags already applied).
            gaps_ms: Inter-token gaps not yet folded into ``gap_hist``, in ms.
            gap_hist: The stream's already-folded gap histogram, if any.
            trace_id: The trace current at the stream's start (exemplars), if any.
        """
        self.count += 1
        tokens = f.tokens
        self.total_tokens += tokens
        retries = f.retries_model + f.retries_network
        self.total_retries += retries
        duration = f.duration
        if duration is not None:
            self.total_duration += duration
            self.duration_n += 1
            self.duration_pending.append(duration)
        ttft = f.ttft
        if ttft is not None:
            self.ttft_sum += ttft
            self.ttft_n += 1
            self.ttft_pending.append(ttft)
        tps = f.tokens_per_second
        if tps is not None:
            self.tps_sum += tps
            self.tps_n += 1
            self.tps_pending.append(tps)
        if self.count % SKETCH_BATCH == 0:  # each buffer gains at most one value per stream
            self.drain()
        if f.error:
            self.errors += 1
        outcome = f.outcome
        if outcome == "completed":
            self.completed += 1
        elif outcome == "aborted":
            self.aborted += 1
        else:
            self.failed += 1
            if outcome == "abandoned":
                self.abandoned += 1
        self.series.observe(
            f.model,
            outcome,
            tokens,
            f.retries_network,
            f.retries_model,
            f.violation_severities,  # every distinct violation, not only the 100 listed
            f.error_category if f.error else None,  # derive: "unknown" when none was given
            ttft,
            duration,
            tps,
            gaps_ms or (),  # milliseconds, scaled to seconds by the histogram
            gap_hist,
            0.001,
            trace_id,
        )

    def drain(self) -> None:
        """Bucket the buffered values into the sketches."""
        for sketch, pending in (
            (self.duration_sketch, self.duration_pending),
            (self.ttft_sketch, self.ttft_pending),
            (self.tps_sketch, self.tps_pending),
        ):
            if pending:
                sketch.extend(pending)
                pending.clear()

    def snapshot(self, percentiles: list[float]) -> dict[str, Any]:
        """Return the aggregate metrics dict (zeros for an empty monitor)."""
        self.drain()
        n = self.count
        out: dict[str, Any] = {
            "count": n,
            # Sums saturate at the schema's maximum (what every consumer holds).
            "total_tokens": min(self.total_tokens, MAX_SAFE_INT),
            "total_duration": self.total_duration,
            "total_retries": min(self.total_retries, MAX_SAFE_INT),
            "error_count": self.errors,
            "error_rate": self.errors / n if n else 0.0,
            "completed_count": self.completed,
            "completion_rate": self.completed / n if n else 0.0,
            "failed_count": self.failed,
            "failure_rate": self.failed / n if n else 0.0,
            "aborted_count": self.aborted,
            "abandoned_count": self.abandoned,
            "avg_tokens": self.total_tokens / n if n else 0.0,
            # Mean of the streams that have a duration (as Prometheus _sum/_count);
            # 0.0 when none has one (the published schema has no null here).
            "avg_duration": self.total_duration / self.duration_n if self.duration_n else 0.0,
            "avg_ttft": self.ttft_sum / self.ttft_n if self.ttft_n else None,
            "avg_tokens_per_sec": self.tps_sum / self.tps_n if self.tps_n else None,
        }
        for q in percentiles:
            key = percentile_key(q)
            out[f"{key}_ttft"] = _quantile(self.ttft_sketch, q)
            out[f"{key}_duration"] = _quantile(self.duration_sketch, q)
            out[f"{key}_tokens_per_sec"] = _quantile(self.tps_sketch, q)
        return out


def _quantile(sketch: BulkSketch, q: float) -> float | None:
    value = sketch.quantile(q)
    return None if value is None else max(0.0, float(value))
