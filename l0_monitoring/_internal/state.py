"""Per-stream mutable accumulator and the fold of non-token events into it.

Everything here runs inside the host's stream: plain attribute stores and a
few dict reads per event, no Pydantic, no clocks, no logging. The accumulator
becomes a :class:`~l0_monitoring.telemetry.Telemetry` once, when asked.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

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
    outcome_of,
)
from .contract import ErrorCategory, normalize_error_category, normalize_severity
from .safe import MAX_ITEMS, clean_text, json_safe, safe_str
from .series import ITL_BUCKETS, Histogram
from .sketch import BulkSketch

GAP_CHUNK = 4096  # gaps kept exactly per stream before folding into a sketch
GAPS_SHOWN = 1024  # gaps listed in TimingInfo.inter_token_latencies

TOKEN_TEXT_KEYS = ("token", "text", "content")


class StreamState:
    """Everything the Monitor knows about one stream while it is in flight."""

    # Hot fields are slots; the rest are class-level defaults that land in the
    # instance __dict__ only when an event sets them, so creating a stream costs
    # a handful of stores instead of forty.
    __slots__ = (
        "__dict__",
        "chars",
        "context",
        "first_event_ms",
        "first_token_ms",
        "gaps",
        "last_ms",
        "last_token_ms",
        "record",
        "start_ms",
        "stream_id",
        "tokens",
    )

    end_ms: float | None = None
    token_count: int | None = None  # the runtime's own final count
    content_length: int | None = None
    gaps_shown: list[float] | None = None
    gap_sketch: BulkSketch | None = None
    gap_hist: Histogram | None = None  # gaps already folded, for the Prometheus histogram
    gap_sum = 0.0
    gap_count = 0
    attempt = 1
    max_attempts = 1
    model_retries = 0
    network_retries = 0
    last_error: str | None = None
    last_error_category: Literal["network", "model"] | None = None
    rules_checked = 0
    violations: list[GuardrailViolation] | None = None
    violation_keys: set[tuple[str, str, str, str]] | None = None
    err_occurred = False
    err_message: str | None = None
    err_category: ErrorCategory | None = None
    err_code: str | None = None
    err_stack: str | None = None
    err_recoverable = False
    drift_detected = False
    drift_types: list[str] | None = None
    drift_score: float | None = None
    model: str | None = None
    session_id: str | None = None
    completed = False
    aborted = False
    abandoned = False
    trace_id: str | None = None  # exemplar: trace current at the stream's start

    def __init__(self, stream_id: str, ts: float) -> None:
        self.stream_id = stream_id
        self.first_event_ms = ts
        self.last_ms = ts
        self.start_ms: float | None = None
        self.first_token_ms: float | None = None
        self.last_token_ms: float | None = None
        self.tokens = 0  # TOKEN events since the current attempt started
        self.chars = 0  # their summed text length
        self.gaps: list[float] | None = None  # inter-token gaps in ms (exact chunk)
        self.context: dict[str, Any] | None = None
        self.record: Telemetry | None = None  # built once, lazily

    # -- helpers used by the fold -------------------------------------------------

    def new_attempt(self) -> None:
        """Reset per-attempt counters: token counts describe the final attempt."""
        self.tokens = 0
        self.chars = 0
        self.last_token_ms = None

    def flush_gaps(self) -> None:
        """Fold the exact gap chunk into the per-stream sketch (bounded memory)."""
        gaps = self.gaps
        if not gaps:
            return
        if self.gaps_shown is None:
            self.gaps_shown = gaps[:GAPS_SHOWN]
        if self.gap_sketch is None:
            self.gap_sketch = BulkSketch()
        if self.gap_hist is None:
            self.gap_hist = Histogram(ITL_BUCKETS)
        valid = [g for g in gaps if 0.0 <= g < math.inf]  # drops NaN and infinities
        self.gap_sketch.extend(valid)
        self.gap_hist.observe_many(valid, 0.001)
        self.gap_sum += sum(valid)
        self.gap_count += len(valid)
        gaps.clear()

    @property
    def duration_s(self) -> float | None:
        """Duration in seconds from the start to the terminal event, if both are sane."""
        start = self.start_ms if self.start_ms is not None else self.first_event_ms
        end = self.end_ms if self.end_ms is not None else None
        if end is None or not (math.isfinite(start) and math.isfinite(end)) or end < start:
            return None
        return (end - start) / 1000.0

    @property
    def ttft_s(self) -> float | None:
        """Time to first token in seconds, or None without a sane first-token signal."""
        start = self.start_ms if self.start_ms is not None else self.first_event_ms
        ft = self.first_token_ms
        if ft is None or not (math.isfinite(start) and math.isfinite(ft)) or ft < start:
            return None
        return (ft - start) / 1000.0

    def resolved_model(self) -> str | None:
        """The model from meta, else from the merged context."""
        if self.model is not None or not self.context:
            return self.model
        ctx_model = self.context.get("model")
        return None if ctx_model is None else safe_str(ctx_model, 200)

    @property
    def outcome(self) -> Outcome:
        """completed, aborted, abandoned (silent, no error) or failed."""
        return outcome_of(self.completed, self.aborted, self.abandoned, self.err_occurred)

    @property
    def final_tokens(self) -> int:
        """The final attempt's token count: the runtime's own, else TOKEN events counted."""
        return self.token_count if self.token_count is not None else self.tokens

    @property
    def final_chars(self) -> int:
        """The final attempt's content length."""
        return self.content_length if self.content_length is not None else self.chars

    def timings(self) -> tuple[float | None, float | None, float | None]:
        """Return (duration, ttft, tokens_per_second) in one pass, as the properties do."""
        start = self.start_ms if self.start_ms is not None else self.first_event_ms
        end = self.end_ms
        duration = ttft = None
        if start == start:  # not NaN
            if end is not None and start <= end < math.inf:
                duration = (end - start) / 1000.0
            ft = self.first_token_ms
            if ft is not None and start <= ft < math.inf:
                ttft = (ft - start) / 1000.0
        n = self.token_count if self.token_count is not None else self.tokens
        tps = None
        if n and duration is not None:
            span = duration - ttft if ttft is not None else duration
            if span > 0:
                tps = n / span
        return duration, ttft, tps

    def tokens_per_second(self) -> float | None:
        """token_count / (duration - ttft), or / duration without a first token."""
        n = self.final_tokens
        duration = self.duration_s
        if not n or duration is None:
            return None
        ttft = self.ttft_s
        span = duration - ttft if ttft is not None else duration
        return n / span if span > 0 else None

    # -- finalization -----------------------------------------------------------

    def to_telemetry(self, metrics_cfg: MetricsConfig, *, final: bool = True) -> Telemetry:
        """Build the Telemetry record (validated models, JSON-safe contents)."""
        cfg = metrics_cfg
        duration = self.duration_s
        ttft = self.ttft_s if cfg.collect_timing else None
        gaps_shown: list[float] = []
        avg = p50 = p90 = p99 = None
        if cfg.inter_token_latency and cfg.collect_timing:
            avg, p50, p90, p99, gaps_shown = self._gap_stats()
        start = self.start_ms if self.start_ms is not None else self.first_event_ms
        token_count = self.final_tokens if cfg.collect_tokens else 0
        tps = self.tokens_per_second() if cfg.collect_tokens else None
        metadata = json_safe(self.context) if self.context else {}
        model = self.resolved_model()
        return Telemetry.model_construct(
            stream_id=clean_text(self.stream_id),  # host text: valid UTF-8 from here on
            session_id=self.session_id,
            model=model,
            timing=TimingInfo.model_construct(
                started_at=_dt(start),
                completed_at=_dt(self.end_ms) if final else None,
                duration=duration,
                time_to_first_token=ttft,
                inter_token_latencies=gaps_shown,
            ),
            retries=RetryInfo.model_construct(
                attempt=self.attempt,
                max_attempts=self.max_attempts,
                model_retries=self.model_retries,
                network_retries=self.network_retries,
                total_retries=self.model_retries + self.network_retries,
                last_error=self.last_error,
                last_error_category=self.last_error_category,
            )
            if cfg.collect_retries
            else RetryInfo.model_construct(**_RETRY_DEFAULTS),
            guardrails=GuardrailInfo.model_construct(
                rules_checked=self.rules_checked,
                violations=list(self.violations or ()),
                passed=not self.violations,
            )
            if cfg.collect_guardrails
            else GuardrailInfo.model_construct(rules_checked=0, violations=[], passed=True),
            error=ErrorInfo.model_construct(
                occurred=self.err_occurred,
                message=self.err_message,
                category=self.err_category,
                code=self.err_code,
                stack=self.err_stack,
                recoverable=self.err_recoverable,
            )
            if cfg.collect_errors
            else ErrorInfo.model_construct(
                occurred=self.err_occurred,
                message=None,
                category=None,
                code=None,
                stack=None,
                recoverable=False,
            ),
            metrics=Metrics.model_construct(
                token_count=token_count,
                tokens_per_second=tps,
                time_to_first_token=ttft,
                avg_inter_token_latency=avg,
                p50_inter_token_latency=p50,
                p90_inter_token_latency=p90,
                p99_inter_token_latency=p99,
            ),
            drift=DriftInfo.model_construct(
                detected=self.drift_detected,
                types=list(self.drift_types or ()),
                score=self.drift_score,
            ),
            metadata=metadata if isinstance(metadata, dict) else {},
            content_length=self.final_chars if cfg.collect_tokens else 0,
            completed=self.completed,
            aborted=self.aborted,
            abandoned=self.abandoned,
            outcome=self.outcome,
        )

    def _gap_stats(
        self,
    ) -> tuple[float | None, float | None, float | None, float | None, list[float]]:
        if self.gap_sketch is None:
            gaps = sorted(g for g in (self.gaps or ()) if 0.0 <= g < math.inf)
            if not gaps:
                return None, None, None, None, []
            n = len(gaps)

            def rank(q: float) -> float:
                return gaps[max(0, math.ceil(q * n) - 1)]

            shown = [g / 1000.0 for g in (self.gaps or ()) if 0.0 <= g < math.inf][:GAPS_SHOWN]
            return (
                sum(gaps) / n / 1000.0,
                rank(0.5) / 1000.0,
                rank(0.9) / 1000.0,
                rank(0.99) / 1000.0,
                shown,
            )
        self.flush_gaps()
        sk = self.gap_sketch
        if not self.gap_count:
            return None, None, None, None, []
        return (
            self.gap_sum / self.gap_count / 1000.0,
            _seconds(sk.quantile(0.5)),
            _seconds(sk.quantile(0.9)),
            _seconds(sk.quantile(0.99)),
            [g / 1000.0 for g in self.gaps_shown or () if 0.0 <= g < math.inf],
        )


_RETRY_DEFAULTS: dict[str, Any] = {
    "attempt": 1,
    "max_attempts": 1,
    "model_retries": 0,
    "network_retries": 0,
    "total_retries": 0,
    "last_error": None,
    "last_error_category": None,
}


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else max(0.0, float(ms)) / 1000.0


def _dt(ms: float | None) -> datetime | None:
    if ms is None or not math.isfinite(ms):
        return None
    try:
        return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value)
    return None


def _get(meta: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = meta.get(camel)
    return meta.get(snake) if value is None else value


def _opt_str(value: object, limit: int = 2000) -> str | None:
    return None if value is None else safe_str(value, limit)


# -- the fold: one function per non-token event type --------------------------------
# Signature: (state, meta, ts) -> True when the event is terminal (finalize now).

Fold = Callable[[StreamState, Mapping[str, Any], float], bool]


def _model_and_session(st: StreamState, meta: Mapping[str, Any]) -> None:
    model = meta.get("model")
    if model is not None:
        st.model = safe_str(model, 200)
    session = meta.get("sessionId")
    if session is None:
        session = meta.get("session_id")
    if session is not None:
        st.session_id = safe_str(session, 200)


def _session_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    if ts == ts:  # not NaN
        st.start_ms = ts
    attempt = meta.get("attempt")
    if attempt.__class__ is int and attempt > 0:
        st.attempt = attempt
    if meta:
        _model_and_session(st, meta)
    return False


def _attempt_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    attempt = _int(meta.get("attempt"))
    if attempt:
        st.attempt = attempt
    st.new_attempt()
    _model_and_session(st, meta)
    return False


def _stream_init(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    if meta:
        _model_and_session(st, meta)
    return False


def _fallback_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    st.new_attempt()
    if meta:
        _model_and_session(st, meta)
    return False


def _timeout_reset(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    # The L0 runtime emits TIMEOUT_RESET{timeoutType: "inter"} at the first token:
    # its only first-token signal when no TOKEN events are sent.
    if st.first_token_ms is None and _get(meta, "timeoutType", "timeout_type") == "inter":
        st.first_token_ms = ts
    return False


def _retry_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    max_attempts = _int(_get(meta, "maxAttempts", "max_attempts"))
    if max_attempts:
        st.max_attempts = max_attempts
    return False


def _retry_attempt(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    is_network = _get(meta, "isNetwork", "is_network")
    if is_network is None:
        category = meta.get("category")
        is_network = category is not None and safe_str(category, 64).lower() == "network"
    if is_network is True:
        st.network_retries += 1
        st.last_error_category = "network"
    else:
        st.model_retries += 1
        st.last_error_category = "model"
    reason = meta.get("reason")
    if reason is None:
        reason = meta.get("error")
    if reason is not None:
        st.last_error = safe_str(reason)
    attempt = _int(meta.get("attempt"))
    if attempt:
        # RETRY_ATTEMPT{attempt: n} announces retry n, i.e. attempt n + 1.
        st.attempt = max(st.attempt, attempt + 1)
    st.new_attempt()
    return False


def _retry_give_up(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    st.err_occurred = True
    if st.err_message is None:
        st.err_message = _opt_str(_get(meta, "lastError", "last_error"))
    st.err_recoverable = False
    return True


def _rule_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    st.rules_checked += 1
    return False


def _rule_result(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    single = meta.get("violation")
    if single is not None:
        _add_violation(st, single)
    many = meta.get("violations")
    if isinstance(many, list | tuple):
        for v in many[:MAX_ITEMS]:
            _add_violation(st, v)
    return False


def _add_violation(st: StreamState, violation: object) -> None:
    data: Any = json_safe(violation)
    if not isinstance(data, dict):
        data = {"message": safe_str(violation)}
    if "severity" in data:
        data["severity"] = normalize_severity(data["severity"])
    for text_key in ("rule", "message"):  # strings in the published schema
        if data.get(text_key) is not None and not isinstance(data[text_key], str):
            data[text_key] = safe_str(data[text_key])
    key = (
        safe_str(data.get("rule"), 200),
        safe_str(data.get("message"), 500),
        safe_str(data.get("severity"), 20),
        safe_str(data.get("position"), 20),
    )
    if st.violation_keys is None:
        st.violation_keys = set()
        st.violations = []
    if key in st.violation_keys:
        return
    st.violation_keys.add(key)
    assert st.violations is not None
    if len(st.violations) < MAX_ITEMS:
        st.violations.append(data)


def _drift(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    if meta.get("detected") is True:
        st.drift_detected = True
        metrics = meta.get("metrics")
        types = meta.get("types")
        found: list[str] = []
        if isinstance(metrics, Mapping):
            found.extend(safe_str(k, 100) for k, v in metrics.items() if v is True)
        if isinstance(types, list | tuple):
            found.extend(safe_str(t, 100) for t in types[:MAX_ITEMS])
        if found:
            if st.drift_types is None:
                st.drift_types = []
            for t in found:
                if t not in st.drift_types and len(st.drift_types) < MAX_ITEMS:
                    st.drift_types.append(t)
    score = meta.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score):
        st.drift_score = score if st.drift_score is None else max(st.drift_score, float(score))
    return False


def _error(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    st.err_occurred = True
    err = meta.get("error")
    message = meta.get("message") if err is None else err
    if message is not None:
        st.err_message = safe_str(message)
    if isinstance(err, BaseException):
        try:
            st.err_stack = safe_str(
                "".join(traceback.format_exception(type(err), err, err.__traceback__)), 8000
            )
        except Exception:
            st.err_stack = None
    elif isinstance(meta.get("stack"), str):
        st.err_stack = safe_str(meta["stack"], 8000)
    code = _get(meta, "errorCode", "code")
    st.err_code = _opt_str(code, 200)
    category = _get(meta, "failureType", "category")
    if category is None:
        category = meta.get("failure_type")
    st.err_category = None if category is None else normalize_error_category(category)
    strategy = _get(meta, "recoveryStrategy", "recovery_strategy")
    if strategy is not None:
        strategy = safe_str(strategy, 32).lower()
        st.err_recoverable = strategy in ("retry", "fallback", "continue")
        return strategy == "halt"
    recoverable = meta.get("recoverable")
    st.err_recoverable = recoverable is True
    return False


def _finish(st: StreamState, meta: Mapping[str, Any]) -> None:
    count = meta.get("tokenCount")
    if count is None:
        count = meta.get("token_count")
    if count is not None:
        count = _int(count)
        if count is not None:
            st.token_count = count
    length = meta.get("contentLength")
    if length is None:
        length = meta.get("content_length")
    if length is not None:
        length = _int(length)
        if length is not None:
            st.content_length = length


def _complete(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    st.completed = True
    _finish(st, meta)
    _model_and_session(st, meta)
    return True


def _abort_completed(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    st.aborted = True
    _finish(st, meta)
    return True


def _session_end(st: StreamState, meta: Mapping[str, Any], ts: float) -> bool:
    # SESSION_END without COMPLETE: a clean end unless an error was seen.
    _finish(st, meta)
    if not st.err_occurred and not st.aborted:
        st.completed = True
    return True


FOLDS: dict[str, Fold] = {
    "SESSION_START": _session_start,
    "ATTEMPT_START": _attempt_start,
    "STREAM_INIT": _stream_init,
    "FALLBACK_START": _fallback_start,
    "FALLBACK_MODEL_SELECTED": _stream_init,
    "TIMEOUT_RESET": _timeout_reset,
    "RETRY_START": _retry_start,
    "RETRY_ATTEMPT": _retry_attempt,
    "RETRY_GIVE_UP": _retry_give_up,
    "GUARDRAIL_RULE_START": _rule_start,
    "GUARDRAIL_RULE_RESULT": _rule_result,
    "DRIFT_CHECK_RESULT": _drift,
    "ERROR": _error,
    "COMPLETE": _complete,
    "ABORT_COMPLETED": _abort_completed,
    "SESSION_END": _session_end,
}
"""Non-token event types the Monitor folds; every other type only updates activity."""

TERMINAL_TYPES = frozenset({"COMPLETE", "ABORT_COMPLETED", "RETRY_GIVE_UP", "SESSION_END"})
