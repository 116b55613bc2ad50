"""Per-stream facts derived from the folded state, in one function.

Records, aggregates, Prometheus series, spans, metrics and Sentry context all
read :class:`Facts` built by :func:`derive` (and :func:`telemetry` builds the
record from the same facts), so they cannot disagree. The ``collect_*`` flags
of :class:`~l0_monitoring.config.MetricsConfig` are applied here and only here:
a switched-off section is empty for every sink.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, cast

from ..config import MetricsConfig
from ..telemetry import (
    DriftInfo,
    ErrorInfo,
    GuardrailInfo,
    GuardrailViolation,
    Metrics,
    Outcome,
    RetryInfo,
    Telemetry,
    TimingInfo,
    _mark,
    outcome_of,
)
from .contract import UNKNOWN_CATEGORY, ErrorCategory, category_of
from .fold import GAPS_SHOWN, StreamState, json_safe_context
from .safe import clean_text, safe_str
from .verified import EPOCH

_INF = math.inf
MIN_RATE_SPAN_MS = 1.0  # rule 8: no tokens/s over a span shorter than this


class Facts:
    """What every sink knows about one stream (seconds; None = unknown).

    Attributes:
        stream_id, session_id: Identifiers.
        model: The model that answered (rule 5); ``request_model`` the first requested.
        provider: The provider named by meta, else by the context, if any.
        outcome: ``completed``, ``aborted``, ``failed`` or ``abandoned`` (rule 4).
        start_ms, end_ms: Epoch milliseconds (rule 1); ``end_ms`` None while in flight.
        duration: Seconds from start to end (None in flight, or when negative).
        ttft: Time to first token, seconds (rule 7; None with ``collect_timing`` off).
        tokens_per_second: The final attempt's rate (rule 8; None with ``collect_tokens`` off).
        tokens: Final token count (rule 2; 0 with ``collect_tokens`` off).
        chars: Final content length (0 with ``collect_tokens`` off).
        retries_model, retries_network: Retry counts (0 with ``collect_retries`` off).
        violation_count: Distinct violations (rule 6; 0 with ``collect_guardrails`` off):
            the one figure of every sink, counted up to 1024 identities per stream.
        violation_severities: ``violation_count`` by severity (the kept list's
            ``severity``; None where absent), exact up to the same cap.
        violations: The kept violations (at most 100).
        error: Whether an error was seen (False with ``collect_errors`` off).
        error_type: Low-cardinality error type of a failed stream (code, else category),
            None unless the outcome is ``failed`` and errors are collected.
        error_category: Of the last error: ``"unknown"`` when an error was seen
            without one (:data:`.contract.UNKNOWN_CATEGORY`); None without errors or with
            ``collect_errors`` off.
        error_code, error_message: Of the last error (None with ``collect_errors`` off).
        drift_detected, drift_types: Drift seen.
    """

    __slots__ = (
        "chars",
        "drift_detected",
        "drift_types",
        "duration",
        "end_ms",
        "error",
        "error_category",
        "error_code",
        "error_message",
        "error_type",
        "model",
        "network_errors",
        "outcome",
        "provider",
        "request_model",
        "retries_model",
        "retries_network",
        "session_id",
        "start_ms",
        "stream_id",
        "tokens",
        "tokens_per_second",
        "ttft",
        "violation_count",
        "violation_severities",
        "violations",
    )

    chars: int
    drift_detected: bool
    drift_types: list[str]
    duration: float | None
    end_ms: float | None
    error: bool
    error_category: ErrorCategory | None
    error_code: str | None
    error_message: str | None
    error_type: str | None
    model: str | None
    network_errors: int
    outcome: Outcome
    provider: str | None
    request_model: str | None
    retries_model: int
    retries_network: int
    session_id: str | None
    start_ms: float
    stream_id: str
    tokens: int
    tokens_per_second: float | None
    ttft: float | None
    violation_count: int
    violation_severities: dict[str | None, int]
    violations: list[dict[str, Any]]

    @property
    def span_end_ms(self) -> float:
        """Where a span or transaction of the stream ends (epoch ms): one definition.

        ``end_ms`` when the duration is known; else (an end before the start, a
        stream in flight) the start, so no span ever ends before it starts and
        a span's length is the record's duration, or zero where that is None.
        """
        end = self.end_ms
        return end if end is not None and self.duration is not None else self.start_ms

    @property
    def retries(self) -> int:
        """Total retries."""
        return self.retries_model + self.retries_network

    def as_dict(self) -> dict[str, Any]:
        """Every fact by name (for tests and the Sentry context)."""
        # A class compiled by mypyc has no __slots__ at run time: its __mypyc_attrs__.
        names: tuple[str, ...] = getattr(Facts, "__slots__", None) or Facts.__mypyc_attrs__  # type: ignore[attr-defined]
        return {name: getattr(self, name) for name in names if hasattr(self, name)}


def start_ms(st: StreamState) -> float:
    """Rule 1: the ts of SESSION_START, else of the stream's first event."""
    return st.start_ms if st.start_ms is not None else st.first_event_ms


def tokens_per_second(st: StreamState, tokens: int, end_ms: float | None) -> float | None:
    """Rule 8: the final attempt's tokens after its first, over first-to-last token time.

    The last token is the attempt's last TOKEN event, else (a stream carrying no
    TOKEN events) the terminal event. None with fewer than two tokens or a
    span under 1 ms.
    """
    first = st.attempt_first_ms
    if tokens < 2 or first is None:
        return None
    last = st.last_token_ms if st.tokens else end_ms
    if last is None:
        return None
    span = last - first
    if not (MIN_RATE_SPAN_MS <= span < math.inf):
        return None
    return (tokens - 1) / (span / 1000.0)


def error_type_of(code: object, category: object) -> str:
    """A failed stream's low-cardinality error type: its code, else its category.

    With neither, :data:`.contract.UNKNOWN_CATEGORY` (the category every sink gives it).
    """
    for value in (code, category):
        if value:
            text = safe_str(value, 64).strip()
            if text:
                return text
    return UNKNOWN_CATEGORY


def derive(st: StreamState, cfg: MetricsConfig, *, final: bool = True) -> Facts:
    """Compute a stream's facts with the ``collect_*`` flags applied.

    Args:
        st: The folded state.
        cfg: Which sections are collected.
        final: False for a stream still in flight (no end, no duration).

    Returns:
        The facts.
    """
    f = Facts()
    f.stream_id = clean_text(st.stream_id)  # host text: valid UTF-8 from here on
    f.session_id = st.session_id
    model = st.model
    provider = st.provider
    if st.context:  # a model or provider named only by the context
        if model is None:
            model = st.resolved_model()
        if provider is None:
            provider = st.resolved_provider()
    f.model = model
    request_model = st.request_model
    f.request_model = request_model if request_model is not None else model
    f.provider = provider
    err = st.err_occurred
    outcome = f.outcome = outcome_of(st.completed, st.aborted, st.abandoned, err)
    start = st.start_ms
    if start is None:
        start = st.first_event_ms
    end = st.end_ms if final else None
    f.start_ms = start
    f.end_ms = end
    # (end - start) in seconds when both are finite and in order, else None.
    finite_start = -_INF < start < _INF
    f.duration = (
        (end - start) / 1000.0 if end is not None and finite_start and start <= end < _INF else None
    )
    first = st.first_token_ms
    f.ttft = (
        (first - start) / 1000.0
        if cfg.collect_timing and first is not None and finite_start and start <= first < _INF
        else None
    )
    if cfg.collect_tokens:
        tokens = st.token_count
        if tokens is None:
            tokens = st.tokens
        f.tokens = tokens
        chars = st.content_length
        f.chars = chars if chars is not None else st.chars
        f.tokens_per_second = (
            tokens_per_second(st, tokens, end) if st.attempt_first_ms is not None else None
        )
    else:
        f.tokens = f.chars = 0
        f.tokens_per_second = None
    if cfg.collect_retries:
        f.retries_model = st.model_retries
        f.retries_network = st.network_retries
        f.network_errors = st.network_errors
    else:
        f.retries_model = f.retries_network = f.network_errors = 0
    if cfg.collect_guardrails:
        f.violation_count = st.violation_count
        f.violation_severities = st.violation_severities or {}
        f.violations = st.violations or []
    else:
        f.violation_count = 0
        f.violation_severities = {}
        f.violations = []
    if cfg.collect_errors and err:
        f.error = True
        category = f.error_category = category_of(st.err_category)
        f.error_code = st.err_code
        f.error_message = st.err_message
        f.error_type = error_type_of(st.err_code, category) if outcome == "failed" else None
    else:
        f.error = False
        f.error_category = f.error_code = f.error_message = f.error_type = None
    f.drift_detected = st.drift_detected
    f.drift_types = st.drift_types or []
    return f


# -- the record ----------------------------------------------------------------------

_NO_RETRIES: dict[str, Any] = {
    "attempt": 1,
    "max_attempts": 1,
    "model_retries": 0,
    "network_retries": 0,
    "total_retries": 0,
    "last_error": None,
    "last_error_category": None,
}


def telemetry(st: StreamState, cfg: MetricsConfig, *, final: bool = True) -> Telemetry:
    """Build the stream's Telemetry record from its facts (validated models, JSON-safe).

    Args:
        st: The folded state.
        cfg: Which sections are collected.
        final: False for a snapshot of a stream still in flight.

    Returns:
        The record (``completed_at`` unset when not final).
    """
    token = EPOCH[0]  # before building: a record write meanwhile makes the mark stale
    f = derive(st, cfg, final=final)
    gaps_shown: list[float] = []
    avg = p50 = p90 = p99 = None
    if cfg.inter_token_latency and cfg.collect_timing:
        avg, p50, p90, p99, gaps_shown = _gap_stats(st)
    record = Telemetry.model_construct(
        outcome=f.outcome,
        stream_id=f.stream_id,
        session_id=f.session_id,
        model=f.model,
        timing=TimingInfo.model_construct(
            started_at=_dt(f.start_ms),
            completed_at=_dt(f.end_ms) if final else None,
            duration=f.duration,
            time_to_first_token=f.ttft,
            inter_token_latencies=gaps_shown,
        ),
        retries=RetryInfo.model_construct(
            attempt=st.attempt,
            max_attempts=st.max_attempts,
            model_retries=f.retries_model,
            network_retries=f.retries_network,
            total_retries=f.retries_model + f.retries_network,
            last_error=st.last_error,
            last_error_category=st.last_error_category,
        )
        if cfg.collect_retries
        else RetryInfo.model_construct(**_NO_RETRIES),
        guardrails=GuardrailInfo.model_construct(
            rules_checked=st.rules_checked if cfg.collect_guardrails else 0,
            violations=cast("list[GuardrailViolation]", list(f.violations)),
            passed=not f.violation_count,
            violation_count=f.violation_count,
        ),
        error=ErrorInfo.model_construct(
            occurred=f.error,
            message=f.error_message,
            category=f.error_category,
            code=f.error_code,
            stack=st.err_stack if cfg.collect_errors else None,
            recoverable=st.err_recoverable if cfg.collect_errors else False,
        ),
        metrics=Metrics.model_construct(
            token_count=f.tokens,
            tokens_per_second=f.tokens_per_second,
            time_to_first_token=f.ttft,
            avg_inter_token_latency=avg,
            p50_inter_token_latency=p50,
            p90_inter_token_latency=p90,
            p99_inter_token_latency=p99,
        ),
        drift=DriftInfo.model_construct(
            detected=f.drift_detected,
            types=list(f.drift_types),
            score=st.drift_score,
        ),
        metadata=json_safe_context(st),
        content_length=f.chars,
        completed=st.completed,
        aborted=st.aborted,
        abandoned=st.abandoned,
    )
    # Verified at birth: every record built here passes the exporters' full
    # check (tests/test_exporters_verified.py: a property over hostile event logs).
    _mark(record, token)
    return record


def _gap_stats(
    st: StreamState,
) -> tuple[float | None, float | None, float | None, float | None, list[float]]:
    if st.gap_sketch is None:
        raw = [g for g in (st.gaps or ()) if 0.0 <= g < math.inf]
        gaps = sorted(raw)
        if not gaps:
            return None, None, None, None, []
        n = len(gaps)

        def rank(q: float) -> float:
            return gaps[max(0, math.ceil(q * n) - 1)]

        return (
            sum(gaps) / n / 1000.0,
            rank(0.5) / 1000.0,
            rank(0.9) / 1000.0,
            rank(0.99) / 1000.0,
            [g / 1000.0 for g in raw[:GAPS_SHOWN]],
        )
    st.flush_gaps()
    sk = st.gap_sketch
    if not st.gap_count:
        return None, None, None, None, []
    return (
        st.gap_sum / st.gap_count / 1000.0,
        _seconds(sk.quantile(0.5)),
        _seconds(sk.quantile(0.9)),
        _seconds(sk.quantile(0.99)),
        [g / 1000.0 for g in st.gaps_shown or () if 0.0 <= g < math.inf],
    )


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else max(0.0, float(ms)) / 1000.0


def _dt(ms: float | None) -> datetime | None:
    if ms is None or not math.isfinite(ms):
        return None
    try:
        return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
