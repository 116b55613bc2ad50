"""Per-stream raw state and the ONE table of event rules.

Every sink (the Monitor, the OpenTelemetry handler, the Sentry handler) reads
the state folded here; none keeps its own copy of these rules. The fold runs
on the host's stream: plain attribute stores and a few dict reads per event,
no Pydantic, no clocks, no logging. Facts (duration, TTFT, tokens/s, outcome)
are derived from this state in :mod:`.derive`, never here.

TOKEN is folded inline in :meth:`.lifecycle.StreamTable.handle_event` (the hot
path) with exactly the rule of :func:`fold_token` below; every other type goes
through :data:`RULES`. A rule returns the *moment* the event marks
(``NOTHING`` for most), which the stream table passes to its listeners.

The decided rules (numbered as in the README's "One fold" table):

1. Start = the ``ts`` of SESSION_START, else of the stream's first event
   (:func:`_session_start`, ``StreamState.__init__``).
2. A final token count (and every integer read from meta: contentLength,
   attempt, maxAttempts) is an integral number in [0, 2**53 - 1] by the one
   number rule (int, integral float, numpy scalar, Decimal); anything else is
   malformed: ignored, and the event counted in ``malformed_events``
   (:func:`.meta.count`, ``StreamState.bad_fields``).
3. Network retry: ``isNetwork`` true; absent, ``failureType``/``category`` is
   ``"network"`` (:func:`.meta.is_network`, used by :func:`_retry_attempt`).
4. One terminal set (:data:`TERMINAL_TYPES`) and one outcome function
   (:func:`l0_monitoring.telemetry.outcome_of`, called by :mod:`.derive`).
5. FALLBACK_MODEL_SELECTED changes the stream's model; ``request_model``
   keeps the first model known, from meta or from the event context
   (:func:`_set_model`, :meth:`StreamState.merge_context`).
6. A violation is identified by (rule, message, severity, source); duplicates
   count once (:func:`_rule_result`, :func:`.meta.violation_key`).
7. TTFT is None when negative or without a first-token signal (:mod:`.derive`).
8. tokens/s is the final attempt's rate (:func:`StreamState.new_attempt`
   resets the attempt's first/last token; :mod:`.derive` computes it).
9. A timestamp is a number by the one number rule (:func:`.meta.number`:
   finite reals incl. numpy scalars and Decimal; never bool); any other is a
   malformed event, counted and ignored by the stream table.
10. Event types are compared by value (:func:`.meta.type_value`).
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ..prometheus.series import ITL_BUCKETS, Histogram
from . import meta as meta_
from .contract import ErrorCategory
from .safe import MAX_ITEMS, json_safe, safe_str
from .sketch import BulkSketch

GAP_CHUNK = 4096  # gaps kept exactly per stream before folding into a sketch
GAPS_SHOWN = 1024  # gaps listed in TimingInfo.inter_token_latencies
MAX_VIOLATION_KEYS = 1024  # distinct violation identities remembered per stream
MAX_CONTEXT_KEYS = 256  # context keys merged per stream
MAX_DRIFT_TYPES = MAX_ITEMS

# -- moments: what an event means to the listeners ------------------------------------
NOTHING = 0
FIRST_TOKEN = 1
RETRY = 2
FALLBACK = 3
VIOLATION = 4
DRIFT = 5
ERROR = 6
NETWORK_ERROR = 7
FINISH = 8  # terminal: the table finalizes the stream
START = 9  # the stream's first event was folded (sent by the table, not by a rule)
MOMENT_NAMES = (
    "nothing", "first_token", "retry", "fallback", "violation", "drift", "error",
    "network_error", "finish", "start",
)  # fmt: skip


class StreamState:
    """Everything known about one stream while it is in flight (raw, not derived)."""

    # Hot fields are slots; the rest are class-level defaults that land in the
    # instance __dict__ only when an event sets them, so creating a stream costs
    # a handful of stores instead of forty.
    __slots__ = (
        "__dict__",
        "attempt_first_ms",
        "chars",
        "context",
        "events",
        "first_event_ms",
        "first_token_ms",
        "gaps",
        "last_ms",
        "last_token_ms",
        "record",
        "start_ms",
        "stream_id",
        "tokens",
        "views",
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
    network_errors = 0
    last_error: str | None = None
    last_error_category: Literal["network", "model"] | None = None
    rules_checked = 0
    violations: list[dict[str, Any]] | None = None
    violation_keys: set[tuple[str, str, str, str]] | None = None
    violation_count = 0  # distinct violations (may exceed the kept list)
    violation_severities: dict[str | None, int] | None = None  # distinct ones by severity
    bad_fields = 0  # meta values rejected by the number rule in the event being folded
    violations_dropped = 0  # reported past MAX_VIOLATION_KEYS identities: not told apart
    fresh_violations: list[dict[str, Any]] | None = None  # of the event being folded
    err_occurred = False
    err_message: str | None = None
    err_category: ErrorCategory | None = None
    err_code: str | None = None
    err_stack: str | None = None
    err_recoverable = False
    err_exception: BaseException | None = None
    halted = False
    gave_up = False
    drift_detected = False
    drift_types: list[str] | None = None
    drift_score: float | None = None
    model: str | None = None  # the model that answered (rule 5)
    request_model: str | None = None  # the model first requested (rule 5)
    provider: str | None = None
    session_id: str | None = None
    completed = False
    aborted = False
    abandoned = False
    finished = False
    trace_id: str | None = None  # exemplar: the trace current at the stream's start
    seen_events = -1  # idle sweeper's last look (events, tokens) and when it changed
    seen_tokens = -1
    active_at = 0.0

    def __init__(self, stream_id: str, ts: float) -> None:
        self.stream_id = stream_id
        self.first_event_ms = ts
        self.last_ms = ts
        self.start_ms: float | None = None
        self.first_token_ms: float | None = None  # the stream's first token (TTFT)
        self.attempt_first_ms: float | None = None  # the final attempt's first token
        self.last_token_ms: float | None = None  # the final attempt's last TOKEN
        self.tokens = 0  # TOKEN events since the current attempt started
        self.chars = 0  # their summed text length
        self.events = 0  # non-token events folded (idle detection)
        self.gaps: list[float] | None = None  # inter-token gaps in ms (exact chunk)
        self.context: dict[str, Any] | None = None
        self.record: Any = None  # the Monitor's Telemetry, built once, lazily
        self.views: dict[int, Any] | None = None  # per-listener data (span, transaction)

    def __copy__(self) -> StreamState:
        """A shallow copy, field by field (``copy.copy(st)``).

        Explicit for the mypyc build: ``copy``'s default protocol re-creates a
        compiled class by calling it without ``__init__``'s arguments.
        """
        new = StreamState(self.stream_id, self.first_event_ms)
        names: Any = getattr(StreamState, "__mypyc_attrs__", None)  # compiled: every field
        if names is None:  # interpreted: the slots, plus what landed in the __dict__
            slots = getattr(StreamState, "__slots__", ())
            names = (*(n for n in slots if n != "__dict__"), *vars(self))
        for name in names:
            try:
                setattr(new, name, getattr(self, name))
            except AttributeError:  # compiled: a field never set
                continue
        return new

    def new_attempt(self) -> None:
        """Reset per-attempt counters: token counts and rate describe the final attempt."""
        self.tokens = 0
        self.chars = 0
        self.last_token_ms = None
        self.attempt_first_ms = None

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

    def last_activity(self) -> float:
        """The ``ts`` of the stream's latest event (TOKEN events update only ``last_token_ms``)."""
        last = self.last_token_ms
        return self.last_ms if last is None or last < self.last_ms else last

    def merge_context(self, ctx: object) -> None:
        """Merge an event's context (bounded to ``MAX_CONTEXT_KEYS`` keys)."""
        if not isinstance(ctx, Mapping) or ctx is self.context:
            return
        if self.request_model is None:
            # Rule 5: the model first requested is the first known, from meta or
            # from the context (as README and l0.run pass it); within one event the
            # context counts first (it is merged before the event's rule runs).
            ctx_model = meta_.text(ctx.get("model"), 200)
            if ctx_model is not None:
                self.request_model = ctx_model
        context = self.context
        if context is None:
            if len(ctx) <= MAX_CONTEXT_KEYS:
                self.context = dict(ctx)
                return
            context = self.context = {}
        for key, value in ctx.items():
            if key in context or len(context) < MAX_CONTEXT_KEYS:
                context[key] = value

    def resolved_provider(self) -> str | None:
        """The provider from meta, else from the merged context (as the model)."""
        if self.provider is not None or not self.context:
            return self.provider
        return meta_.text(self.context.get("provider"), 100)

    def resolved_model(self) -> str | None:
        """The model from meta, else from the merged context."""
        if self.model is not None or not self.context:
            return self.model
        return meta_.text(self.context.get("model"), 200)


# -- the rules ----------------------------------------------------------------------
# Signature: (state, meta, ts) -> moment. ts is finite (rule 9: the table
# rejects other timestamps before folding).

Rule = Callable[[StreamState, Mapping[str, Any], float], int]


def fold_token(st: StreamState, ts: float, meta: Mapping[str, Any], chars: bool) -> int:
    """TOKEN: count it, time it; FIRST_TOKEN at the stream's first. Inlined in the table.

    ``last_ms`` is left alone: ``last_token_ms`` records the token's time (one
    store less per token); :meth:`StreamState.last_activity` reads both.
    """
    st.tokens += 1
    moment = NOTHING
    if st.last_token_ms is None:
        if st.attempt_first_ms is None:
            st.attempt_first_ms = ts
        if st.first_token_ms is None:
            st.first_token_ms = ts
            moment = FIRST_TOKEN
    st.last_token_ms = ts
    if chars and isinstance(meta, Mapping):
        text = meta_.token_text(meta)
        if text is not None:
            st.chars += len(text)
    return moment


def _count_field(st: StreamState, value: object) -> int | None:
    """A count read from meta (rule 2); a present value it rejects marks the event malformed."""
    if value is None:
        return None
    counted = meta_.count(value)
    if counted is None:
        st.bad_fields += 1
    return counted


def _set_model(st: StreamState, model: str | None) -> None:
    if model is not None:
        st.model = model
        if st.request_model is None:
            st.request_model = model


def _model_and_session(st: StreamState, meta: Mapping[str, Any]) -> None:
    model, session, provider = meta_.model_session_provider(meta)
    if model is not None:
        _set_model(st, model)
    if session is not None:
        st.session_id = session
    if provider is not None:
        st.provider = provider


def _session_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    st.start_ms = ts  # rule 1
    attempt = _count_field(st, meta.get("attempt"))
    if attempt and attempt != st.attempt:  # most streams start at the default, 1
        st.attempt = attempt
    if meta:
        _model_and_session(st, meta)
    return NOTHING


def _attempt_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    attempt = _count_field(st, meta.get("attempt"))
    if attempt:
        st.attempt = attempt
    st.new_attempt()
    _model_and_session(st, meta)
    return NOTHING


def _stream_init(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    if meta:
        _model_and_session(st, meta)
    return NOTHING


def _fallback_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    st.new_attempt()
    if meta:
        _model_and_session(st, meta)
    return NOTHING


def _fallback_model_selected(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    st.new_attempt()
    _model_and_session(st, meta)  # rule 5: the stream's model is now the fallback's
    return FALLBACK


def _timeout_reset(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    # The L0 runtime emits TIMEOUT_RESET{timeoutType: "inter"} at the first token
    # of each attempt: its only first-token signal when no TOKEN events are sent.
    if not meta_.is_first_token_signal(meta):
        return NOTHING
    if st.attempt_first_ms is None:
        st.attempt_first_ms = ts
    if st.first_token_ms is None:
        st.first_token_ms = ts
        return FIRST_TOKEN
    return NOTHING


def _retry_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    max_attempts = _count_field(st, meta_.get(meta, "maxAttempts", "max_attempts"))
    if max_attempts:
        st.max_attempts = max_attempts
    return NOTHING


def _retry_attempt(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    if meta_.is_network(meta):  # rule 3
        st.network_retries += 1
        st.last_error_category = "network"
    else:
        st.model_retries += 1
        st.last_error_category = "model"
    reason = meta_.retry_reason(meta)
    if reason is not None:
        st.last_error = reason
    attempt = _count_field(st, meta.get("attempt"))
    if attempt:
        # RETRY_ATTEMPT{attempt: n} announces retry n, i.e. attempt n + 1.
        st.attempt = max(st.attempt, attempt + 1)
    st.new_attempt()
    return RETRY


def _retry_give_up(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    st.err_occurred = True
    st.gave_up = True
    if st.err_message is None:
        last = meta_.get(meta, "lastError", "last_error")
        st.err_message = None if last is None else safe_str(last)
    st.err_recoverable = False
    return FINISH


def _rule_start(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    st.rules_checked += 1
    return NOTHING


def _rule_result(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    if meta.get("violation") is None:
        many = meta.get("violations")  # never truth-tested: it may be any object
        if many is None or (many.__class__ in (list, tuple) and not many):
            return NOTHING  # the rule passed
    fresh: list[dict[str, Any]] = []
    keys = st.violation_keys
    if keys is None:
        keys = st.violation_keys = set()
        st.violations = []
    kept = st.violations
    assert kept is not None
    found = meta_.violations(meta)
    if len(keys) >= MAX_VIOLATION_KEYS:
        st.violations_dropped += len(found)
        return NOTHING
    for raw in found:
        if len(keys) >= MAX_VIOLATION_KEYS:
            # Bounded memory: past the cap identities are no longer remembered
            # (nor counted); nothing grows with a hostile stream.
            st.violations_dropped += 1
            continue
        key = meta_.violation_key(raw)  # rule 6
        if key in keys:
            continue
        keys.add(key)
        st.violation_count += 1
        v = meta_.violation_data(raw)
        by_severity = st.violation_severities
        if by_severity is None:
            by_severity = st.violation_severities = {}
        severity = v.get("severity")  # as the kept list would show it (None: absent)
        by_severity[severity] = by_severity.get(severity, 0) + 1
        if len(kept) < MAX_ITEMS:
            kept.append(v)
        fresh.append(v)
    if not fresh:
        return NOTHING
    st.fresh_violations = fresh
    return VIOLATION


def _drift(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    moment = NOTHING
    if meta_.flag(meta.get("detected")) is True:
        st.drift_detected = True
        moment = DRIFT
        found = meta_.drift_types(meta)
        if found:
            types = st.drift_types
            if types is None:
                types = st.drift_types = []
            for t in found:
                if t not in types and len(types) < MAX_DRIFT_TYPES:
                    types.append(t)
    if meta.get("score") is not None and meta_.drift_score(meta) is None:
        st.bad_fields += 1
    score = meta_.drift_score(meta)
    if score is not None:
        st.drift_score = score if st.drift_score is None else max(st.drift_score, score)
    return moment


def _error(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    st.err_occurred = True
    err = meta_.error_message(meta)
    if err is not None:
        st.err_message = safe_str(err)
    if isinstance(err, BaseException):
        st.err_exception = err
        try:
            st.err_stack = safe_str(
                "".join(traceback.format_exception(type(err), err, err.__traceback__)), 8000
            )
        except Exception:
            st.err_stack = None
    elif isinstance(meta.get("stack"), str):
        st.err_stack = safe_str(meta["stack"], 8000)
    st.err_code = meta_.error_code(meta)
    st.err_category = meta_.error_category(meta)
    strategy = meta_.recovery_strategy(meta)
    if strategy is not None:
        st.err_recoverable = strategy in ("retry", "fallback", "continue")
        if strategy == "halt":
            st.halted = True
            return FINISH
        return ERROR
    st.err_recoverable = meta_.flag(meta.get("recoverable")) is True
    return ERROR


def _network_error(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    st.network_errors += 1
    return NETWORK_ERROR


def _finish_counts(st: StreamState, meta: Mapping[str, Any]) -> None:
    count = _count_field(st, meta_.get(meta, "tokenCount", "token_count"))  # rule 2
    if count is not None:
        st.token_count = count
    length = _count_field(st, meta_.get(meta, "contentLength", "content_length"))
    if length is not None:
        st.content_length = length


def _complete(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    st.completed = True
    _finish_counts(st, meta)
    _model_and_session(st, meta)
    return FINISH


def _abort_completed(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    st.aborted = True
    _finish_counts(st, meta)
    return FINISH


def _session_end(st: StreamState, meta: Mapping[str, Any], ts: float) -> int:
    # SESSION_END without COMPLETE: a clean end unless an error was seen (rule 4).
    _finish_counts(st, meta)
    if not st.err_occurred and not st.aborted:
        st.completed = True
    return FINISH


RULES: dict[str, Rule] = {
    "SESSION_START": _session_start,
    "ATTEMPT_START": _attempt_start,
    "STREAM_INIT": _stream_init,
    "FALLBACK_START": _fallback_start,
    "FALLBACK_MODEL_SELECTED": _fallback_model_selected,
    "TIMEOUT_RESET": _timeout_reset,
    "RETRY_START": _retry_start,
    "RETRY_ATTEMPT": _retry_attempt,
    "RETRY_GIVE_UP": _retry_give_up,
    "GUARDRAIL_RULE_START": _rule_start,
    "GUARDRAIL_RULE_RESULT": _rule_result,
    "DRIFT_CHECK_RESULT": _drift,
    "ERROR": _error,
    "NETWORK_ERROR": _network_error,
    "COMPLETE": _complete,
    "ABORT_COMPLETED": _abort_completed,
    "SESSION_END": _session_end,
}
"""The event rules of every sink; every other type (TOKEN aside) only updates activity."""

TERMINAL_TYPES = frozenset({"COMPLETE", "ABORT_COMPLETED", "RETRY_GIVE_UP", "SESSION_END"})
"""Types that always end a stream (an ERROR with ``recoveryStrategy: "halt"`` does too)."""


def json_safe_context(st: StreamState) -> dict[str, Any]:
    """The stream's merged context as JSON-safe metadata."""
    data = json_safe(st.context) if st.context else {}
    return data if isinstance(data, dict) else {}
