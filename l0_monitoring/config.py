"""Monitoring configuration: ``MonitoringConfig``, ``SamplingConfig``, ``MetricsConfig``.

Every field has a description (it flows into the published JSON Schemas) and
every knob changes what the :class:`~l0_monitoring.Monitor` does. Unknown keys
are rejected with an error naming the key.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .prometheus import series as _series

__all__ = ["MetricsConfig", "MonitoringConfig", "PrometheusBuckets", "SamplingConfig"]

LogLevel = Literal["debug", "info", "warning", "error"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class SamplingConfig(_Strict):
    """Tail-sampling rules, applied to each stream when it finishes.

    Errored streams and slow streams can be kept regardless of ``rate``; the
    decision for the rest is a deterministic hash of the stream id, so every
    process keeps the same streams.
    """

    rate: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Fraction of finished streams kept as records (0.0-1.0).",
    )
    min_duration: float = Field(
        default=0.0,
        ge=0.0,
        description="Streams shorter than this many seconds are not kept (errored ones still are).",
    )
    sample_errors: bool = Field(
        default=True, description="Always keep streams that ended with an error."
    )
    sample_slow: bool = Field(
        default=True, description="Always keep streams slower than slow_threshold."
    )
    slow_threshold: float = Field(
        default=5.0, ge=0.0, description="Duration in seconds above which a stream is slow."
    )


def _bounds(value: list[float]) -> list[float]:
    if not value or len(value) > 200:
        raise ValueError("give between 1 and 200 bucket bounds")
    for a, b in itertools.pairwise(value):
        if not b > a:
            raise ValueError(f"bucket bounds must be strictly increasing, got {a} then {b}")
    if not (value[0] > 0 and math.isfinite(value[-1])):
        raise ValueError("bucket bounds must be positive and finite (+Inf is implicit)")
    return value


class PrometheusBuckets(_Strict):
    """Upper bounds (``le``) of the Prometheus histograms, in their base units.

    The defaults: TTFT and duration 25 bounds per decade (neighbours at most
    1.097x apart, so ``histogram_quantile`` p50/p90/p99 stay within 9.7% of the
    quantile it estimates, per model, for any traffic), inter-token latency 10
    per decade (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8). Each bound is one series
    per model (275 samples per model in all with the defaults).
    OpenTelemetry metrics keep the GenAI convention's own boundaries.
    """

    ttft: list[float] = Field(
        default_factory=lambda: list(_series.TTFT_BUCKETS),
        description="Time to first token, seconds (default 0.01-63, 25 per decade, 96 bounds).",
    )
    duration: list[float] = Field(
        default_factory=lambda: list(_series.DURATION_BUCKETS),
        description="Stream duration, seconds (default 0.1-302, 25 per decade, 88 bounds).",
    )
    inter_token_latency: list[float] = Field(
        default_factory=lambda: list(_series.ITL_BUCKETS),
        description="Gap between tokens, seconds (default 0.001-2.5, 35 bounds).",
    )
    tokens_per_second: list[float] = Field(
        default_factory=lambda: list(_series.TPS_BUCKETS),
        description="Generation rate, tokens per second (default 1-2000, 18 bounds).",
    )

    _check = field_validator("ttft", "duration", "inter_token_latency", "tokens_per_second")(
        _bounds
    )

    def to_buckets(self) -> _series.Buckets:
        """Return the bounds as the series module's immutable ``Buckets``."""
        return _series.Buckets(
            ttft=tuple(self.ttft),
            duration=tuple(self.duration),
            itl=tuple(self.inter_token_latency),
            tps=tuple(self.tokens_per_second),
        )


class MetricsConfig(_Strict):
    """Which parts of the telemetry the Monitor collects."""

    collect_tokens: bool = Field(
        default=True, description="Count tokens, content length and tokens per second."
    )
    collect_timing: bool = Field(
        default=True, description="Record time to first token and inter-token timing."
    )
    collect_retries: bool = Field(default=True, description="Record retry attempts and reasons.")
    collect_guardrails: bool = Field(
        default=True, description="Record guardrail rules checked and violations."
    )
    collect_errors: bool = Field(
        default=True, description="Record error message, category, code and stack."
    )
    inter_token_latency: bool = Field(
        default=False,
        description="Compute inter-token latency avg/p50/p90/p99 from TOKEN events (small cost).",
    )
    percentiles: list[float] = Field(
        default_factory=lambda: [0.5, 0.9, 0.95, 0.99],
        description="Quantiles (exclusive 0-1) reported by get_aggregate_metrics as p<q>_* keys.",
    )

    models: list[str] = Field(
        default_factory=list,
        max_length=_series.MAX_MODELS,
        description=(
            "Models whose Prometheus series exist (at 0) from the start, so rate() and "
            "increase() count even a model's first stream; other models get theirs when "
            "first seen."
        ),
    )
    prometheus_buckets: PrometheusBuckets = Field(
        default_factory=PrometheusBuckets,
        description="Bucket bounds of the Prometheus latency and rate histograms.",
    )

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: list[str]) -> list[str]:
        if any(not m for m in value):
            raise ValueError("model names must be non-empty")
        return list(dict.fromkeys(value))

    def series(self) -> _series.SeriesSet:
        """Return an empty Prometheus series set with this config's models and buckets."""
        return _series.SeriesSet(self.models, self.prometheus_buckets.to_buckets())

    @field_validator("percentiles")
    @classmethod
    def _check_percentiles(cls, value: list[float]) -> list[float]:
        for q in value:
            if not 0.0 < q < 1.0:
                raise ValueError(f"each percentile must be between 0 and 1 (exclusive), got {q}")
        return sorted(set(value))


class MonitoringConfig(_Strict):
    """Main configuration of a :class:`~l0_monitoring.Monitor`.

    Example:
        >>> MonitoringConfig.production().sampling.rate
        0.1
    """

    enabled: bool = Field(default=True, description="Master switch; False ignores every event.")
    sampling: SamplingConfig = Field(
        default_factory=SamplingConfig, description="Tail-sampling rules."
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="What to collect per stream."
    )
    buffer_size: int = Field(
        default=100, ge=1, description="How many of the newest kept records the Monitor holds."
    )
    flush_interval: float = Field(
        default=0.0,
        ge=0.0,
        description="Seconds between background hand-offs of new records to on_flush (0 = off).",
    )
    log_level: LogLevel = Field(default="info", description="Level of the 'l0_monitoring' logger.")
    max_in_flight: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Bound on streams being tracked at once; past it the oldest idle stream is "
            "finalized as abandoned and counted."
        ),
    )

    idle_timeout: float = Field(
        default=300.0,
        ge=0.0,
        description=(
            "Seconds of silence after which an in-flight stream is finalized as abandoned "
            "(record, span and Sentry transaction), within idle_timeout + 1 s even when no "
            "further event arrives; 0 = never."
        ),
    )

    @classmethod
    def default(cls) -> MonitoringConfig:
        """Return the default configuration (keep everything, no inter-token latency)."""
        return cls()

    @classmethod
    def production(cls) -> MonitoringConfig:
        """Return a production configuration.

        Keeps 10% of streams plus every errored or slow (> 5 s) stream, no
        inter-token latency, a 1000-record buffer and a 30 s flush interval.
        """
        return cls(
            sampling=SamplingConfig(rate=0.1, sample_errors=True, sample_slow=True),
            metrics=MetricsConfig(inter_token_latency=False),
            buffer_size=1000,
            flush_interval=30.0,
        )

    @classmethod
    def development(cls) -> MonitoringConfig:
        """Return a development configuration: keep everything, full metrics, debug logs."""
        return cls(
            sampling=SamplingConfig(rate=1.0),
            metrics=MetricsConfig(inter_token_latency=True),
            log_level="debug",
        )

    @classmethod
    def minimal(cls) -> MonitoringConfig:
        """Return a minimal configuration: keep only errored streams, collect only errors."""
        return cls(
            sampling=SamplingConfig(rate=0.0, sample_errors=True, sample_slow=False),
            metrics=MetricsConfig(
                collect_tokens=False,
                collect_timing=False,
                collect_retries=False,
                collect_guardrails=False,
                collect_errors=True,
            ),
        )
