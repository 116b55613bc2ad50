"""Telemetry records: one ``Telemetry`` per finished stream, and the aggregates.

All durations are in **seconds**; timestamps are timezone-aware UTC datetimes
taken from the events' own ``ts``, so a replayed log yields the same records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

__all__ = [
    "AggregateMetrics",
    "DriftInfo",
    "ErrorInfo",
    "GuardrailInfo",
    "Metrics",
    "RetryInfo",
    "Telemetry",
    "TimingInfo",
]


class _Record(BaseModel):
    # Records are read by other languages: reject keys we do not know so a
    # typo in a hand-written record is an error, not silently dropped data.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    # Flat column names (CSV) are the leaf field names, prefixed for sections
    # whose names are generic ("message", "passed"): as L0's own CSV names them.
    csv_prefix: ClassVar[str] = ""


class TimingInfo(_Record):
    """Timing of one stream, from its events' timestamps."""

    started_at: datetime | None = Field(
        default=None, description="When the stream started (SESSION_START, or its first event)."
    )
    completed_at: datetime | None = Field(
        default=None, description="When the stream's terminal event was emitted."
    )
    duration: float | None = Field(
        default=None,
        description="completed_at - started_at, in seconds.",
        examples=[1.234],
        json_schema_extra={"x-logfmt": {"key": "duration", "order": 2, "unit": "s"}},
    )
    time_to_first_token: float | None = Field(
        default=None,
        description="Seconds from started_at to the first token (across retries); "
        "None when no first-token signal was seen.",
        examples=[0.456],
    )
    inter_token_latencies: list[float] = Field(
        default_factory=list,
        description="Gaps between consecutive TOKEN events in seconds (at most the first "
        "1024 are listed; the metrics use all of them).",
    )


class RetryInfo(_Record):
    """Retries of one stream."""

    attempt: int = Field(default=1, description="Last attempt number (1 = first try).")
    max_attempts: int = Field(default=1, description="Maximum attempts configured.")
    model_retries: int = Field(default=0, description="Retries after model (non-network) errors.")
    network_retries: int = Field(default=0, description="Retries after network errors.")
    total_retries: int = Field(
        default=0,
        description="model_retries + network_retries.",
        json_schema_extra={"x-logfmt": {"key": "retries", "order": 6, "omit": "falsy"}},
    )
    last_error: str | None = Field(default=None, description="Reason given for the last retry.")
    last_error_category: str | None = Field(
        default=None,
        description="Category of the last retried error: 'network' or 'model'.",
        examples=["network"],
    )


class GuardrailInfo(_Record):
    """Guardrail checks of one stream."""

    csv_prefix: ClassVar[str] = "guardrail_"

    rules_checked: int = Field(default=0, description="Number of guardrail rule runs started.")
    violations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Distinct violations (rule, message, severity, ...), at most 100.",
        json_schema_extra={
            "x-logfmt": {"key": "violations", "order": 7, "omit": "falsy", "format": "count"}
        },
    )
    passed: bool = Field(default=True, description="False when any violation was reported.")


class ErrorInfo(_Record):
    """The (last) error of one stream."""

    csv_prefix: ClassVar[str] = "error_"

    occurred: bool = Field(default=False, description="Whether any ERROR event was seen.")
    message: str | None = Field(
        default=None,
        description="Error message (truncated to 2000 chars).",
        json_schema_extra={"x-logfmt": {"key": "error", "order": 8, "omit": "none"}},
    )
    category: str | None = Field(
        default=None,
        description="Error category from meta failureType/category, e.g. network, model, unknown.",
        examples=["network"],
    )
    code: str | None = Field(default=None, description="Error code from meta errorCode/code.")
    stack: str | None = Field(
        default=None, description="Formatted traceback when the event carried an exception."
    )
    recoverable: bool = Field(
        default=False, description="True when L0 chose to retry or fall back, False on halt."
    )


class DriftInfo(_Record):
    """Drift detection results of one stream."""

    csv_prefix: ClassVar[str] = "drift_"

    detected: bool = Field(default=False, description="Whether any drift check detected drift.")
    types: list[str] = Field(default_factory=list, description="Drift types detected.")
    score: float | None = Field(default=None, description="Highest drift score reported.")


class Metrics(_Record):
    """Derived per-stream metrics."""

    token_count: int = Field(
        default=0,
        description="Tokens of the final attempt.",
        json_schema_extra={"x-logfmt": {"key": "tokens", "order": 4}},
    )
    tokens_per_second: float | None = Field(
        default=None,
        description="token_count / (duration - time_to_first_token): the generation rate once "
        "tokens flow; token_count / duration when no first token was seen.",
        json_schema_extra={
            "x-logfmt": {"key": "tokens_per_sec", "order": 5, "precision": 1, "omit": "none"}
        },
    )
    time_to_first_token: float | None = Field(
        default=None,
        description="Same as timing.time_to_first_token, in seconds.",
        json_schema_extra={"x-logfmt": {"key": "ttft", "order": 3, "unit": "s"}},
    )
    avg_inter_token_latency: float | None = Field(
        default=None, description="Mean gap between TOKEN events, seconds."
    )
    p50_inter_token_latency: float | None = Field(
        default=None, description="Median gap between TOKEN events, seconds."
    )
    p90_inter_token_latency: float | None = Field(
        default=None, description="90th percentile gap between TOKEN events, seconds."
    )
    p99_inter_token_latency: float | None = Field(
        default=None, description="99th percentile gap between TOKEN events, seconds."
    )


class Telemetry(_Record):
    """Complete telemetry of one stream (one ``l0.run`` call, retries included)."""

    stream_id: str = Field(
        description="Stream identifier shared by all events of the run.",
        json_schema_extra={"x-logfmt": {"key": "stream_id", "order": 0}},
    )
    session_id: str | None = Field(default=None, description="Session identifier, if grouped.")
    model: str | None = Field(
        default=None,
        description="Model name, from meta or context.",
        json_schema_extra={"x-logfmt": {"key": "model", "order": 1, "omit": "none"}},
    )
    timing: TimingInfo = Field(default_factory=TimingInfo, description="Timing information.")
    retries: RetryInfo = Field(default_factory=RetryInfo, description="Retry information.")
    guardrails: GuardrailInfo = Field(
        default_factory=GuardrailInfo, description="Guardrail information."
    )
    error: ErrorInfo = Field(default_factory=ErrorInfo, description="Error information.")
    metrics: Metrics = Field(default_factory=Metrics, description="Derived metrics.")
    drift: DriftInfo = Field(default_factory=DriftInfo, description="Drift detection results.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="The events' context merged, plus user metadata."
    )
    content_length: int = Field(default=0, description="Characters of generated content.")
    completed: bool = Field(
        default=False,
        description="Stream reached COMPLETE.",
        json_schema_extra={"x-logfmt": {"key": "completed", "order": 9}},
    )
    aborted: bool = Field(
        default=False,
        description="Stream was aborted (ABORT_COMPLETED).",
        json_schema_extra={"x-logfmt": {"key": "aborted", "order": 10, "omit": "falsy"}},
    )
    abandoned: bool = Field(
        default=False,
        description="Stream went silent and was finalized by eviction or close(), not by an event.",
    )

    @property
    def outcome(self) -> str:
        """One word for how the stream ended: completed, aborted, failed or abandoned."""
        return outcome_of(self.completed, self.aborted, self.abandoned, self.error.occurred)


def outcome_of(completed: bool, aborted: bool, abandoned: bool, error: bool) -> str:
    """How a stream ended: completed, aborted, abandoned (silent, no error) or failed."""
    if completed:
        return "completed"
    if aborted:
        return "aborted"
    if abandoned and not error:
        return "abandoned"
    return "failed"


class AggregateMetrics(TypedDict, total=False):
    """Aggregates over every stream finished since ``clear()`` (sampled or not).

    Besides these keys, ``p<q>_ttft``, ``p<q>_duration`` and ``p<q>_tokens_per_sec``
    are present for each configured percentile q (0.5 -> ``p50``, 0.999 -> ``p99.9``).
    """

    count: Annotated[int, Field(description="Streams finished since clear().")]
    total_tokens: Annotated[int, Field(description="Sum of token_count.")]
    total_duration: Annotated[float, Field(description="Sum of durations, seconds.")]
    total_retries: Annotated[int, Field(description="Sum of total_retries.")]
    error_count: Annotated[int, Field(description="Streams that saw any ERROR.")]
    error_rate: Annotated[float, Field(description="error_count / count (0 when empty).")]
    completed_count: Annotated[int, Field(description="Streams that reached COMPLETE.")]
    completion_rate: Annotated[float, Field(description="completed_count / count.")]
    failed_count: Annotated[
        int, Field(description="Streams that ended neither completed nor aborted.")
    ]
    failure_rate: Annotated[float, Field(description="failed_count / count.")]
    aborted_count: Annotated[int, Field(description="Streams aborted.")]
    abandoned_count: Annotated[
        int, Field(description="Streams finalized silent (evicted or closed).")
    ]
    avg_tokens: Annotated[float, Field(description="total_tokens / count.")]
    avg_duration: Annotated[float, Field(description="total_duration / count, seconds.")]
    avg_ttft: Annotated[float | None, Field(description="Mean TTFT of streams with one, seconds.")]
    avg_tokens_per_sec: Annotated[
        float | None, Field(description="Mean tokens_per_second of streams with one.")
    ]
