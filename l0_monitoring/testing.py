"""Helpers for testing code that uses l0_monitoring: event factories and a capture sink.

These build the same event shapes the L0 runtime (ai2070-l0) and token-level
emitters send, with explicit timestamps, so tests are deterministic.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Literal

from ._internal.workers import ManualClock
from .events import ObservabilityEvent
from .events import ObservabilityEventType as T

__all__ = [
    "CaptureSink",
    "ManualClock",
    "example_events",
    "make_runtime_events",
    "make_stream_events",
]

Outcome = Literal["complete", "abort", "halt", "give_up", "none"]


def make_stream_events(
    stream_id: str,
    *,
    tokens: list[str] | None = None,
    start_ms: float = 1_700_000_000_000.0,
    ttft_ms: float = 200.0,
    gap_ms: float = 20.0,
    model: str | None = "gpt-4o",
    context: dict[str, Any] | None = None,
    outcome: Outcome = "complete",
    network_retries: int = 0,
    model_retries: int = 0,
    violations: list[dict[str, Any]] | None = None,
    report_counts: bool = False,
) -> list[ObservabilityEvent]:
    """Build the events of one token-level stream (one TOKEN event per token).

    Args:
        stream_id: The stream id.
        tokens: Token texts of the final attempt (default: five tokens).
        start_ms: SESSION_START timestamp in ms.
        ttft_ms: Milliseconds from start to the first token.
        gap_ms: Milliseconds between consecutive tokens.
        model: Model name put in SESSION_START meta (None for none).
        context: Context attached to every event.
        outcome: How the stream ends: COMPLETE, ABORT_COMPLETED, ERROR with halt,
            RETRY_GIVE_UP, or no terminal event at all.
        network_retries: Network errors retried before the final attempt.
        model_retries: Model errors retried before the final attempt.
        violations: Guardrail violations reported before the end.
        report_counts: Put tokenCount/contentLength in the terminal meta.

    Returns:
        The events in emission order.
    """
    toks = ["Hel", "lo", ",", " wor", "ld"] if tokens is None else tokens
    ctx = dict(context or {})
    events: list[ObservabilityEvent] = []
    ts = start_ms

    def emit(t: T, at: float, **meta: Any) -> None:
        events.append(ObservabilityEvent(t, at, stream_id, dict(ctx), meta))

    start_meta: dict[str, Any] = {"attempt": 1, "isRetry": False, "isFallback": False}
    if model is not None:
        start_meta["model"] = model
    emit(T.SESSION_START, ts, **start_meta)
    attempt = 1
    for i in range(network_retries + model_retries):
        is_network = i < network_retries
        ts += 5
        if is_network:
            emit(T.NETWORK_ERROR, ts, error="connection reset", code="econnreset", retryable=True)
        emit(
            T.ERROR,
            ts,
            error="connection reset" if is_network else "model refused",
            errorCode=None,
            failureType="network" if is_network else "unknown",
            recoveryStrategy="retry",
        )
        emit(T.RETRY_START, ts, attempt=attempt, maxAttempts=3)
        emit(
            T.RETRY_ATTEMPT,
            ts,
            attempt=attempt,
            reason="connection reset" if is_network else "model refused",
            isNetwork=is_network,
        )
        attempt += 1
        emit(T.ATTEMPT_START, ts, attempt=attempt, isRetry=True, isFallback=False)
    at = start_ms + ttft_ms
    for i, tok in enumerate(toks):
        emit(T.TOKEN, at + i * gap_ms, token=tok)
    end = at + max(len(toks) - 1, 0) * gap_ms + 1
    for v in violations or ():
        emit(T.GUARDRAIL_RULE_START, end, index=0, ruleId=v.get("rule", "rule"))
        emit(
            T.GUARDRAIL_RULE_RESULT,
            end,
            index=0,
            ruleId=v.get("rule", "rule"),
            passed=False,
            violation=v,
        )
    counts: dict[str, Any] = {}
    if report_counts:
        counts = {"tokenCount": len(toks), "contentLength": sum(len(t) for t in toks)}
    if outcome == "complete":
        emit(T.COMPLETE, end, **counts)
    elif outcome == "abort":
        emit(T.ABORT_REQUESTED, end, source="user")
        emit(T.ABORT_COMPLETED, end, **counts)
    elif outcome == "halt":
        emit(
            T.ERROR,
            end,
            error="fatal model error",
            errorCode="FATAL",
            failureType="model",
            recoveryStrategy="halt",
        )
        emit(T.RETRY_GIVE_UP, end, attempts=attempt - 1, lastError="fatal model error")
    elif outcome == "give_up":
        emit(T.RETRY_GIVE_UP, end, attempts=attempt - 1, lastError="gave up")
    return events


def make_runtime_events(
    stream_id: str,
    *,
    start_ms: float = 1_700_000_000_000.0,
    duration_ms: float = 1500.0,
    token_count: int = 120,
    content_length: int = 480,
    guardrail_rules: int = 2,
    context: dict[str, Any] | None = None,
) -> list[ObservabilityEvent]:
    """Build the events the L0 runtime emits for one successful run (no TOKEN events).

    Args:
        stream_id: The stream id.
        start_ms: SESSION_START timestamp in ms.
        duration_ms: Milliseconds until COMPLETE.
        token_count: ``tokenCount`` reported by COMPLETE.
        content_length: ``contentLength`` reported by COMPLETE.
        guardrail_rules: Guardrail rules run (each passes).
        context: Context attached to every event.

    Returns:
        The events in emission order.
    """
    ctx = context or {}
    ts = start_ms
    ev = ObservabilityEvent
    out = [
        ev(
            T.SESSION_START,
            ts,
            stream_id,
            ctx,
            {"attempt": 1, "isRetry": False, "isFallback": False},
        ),
        ev(T.STREAM_INIT, ts, stream_id, ctx, {}),
        ev(T.ADAPTER_WRAP_START, ts, stream_id, ctx, {}),
        ev(T.ADAPTER_DETECTED, ts, stream_id, ctx, {"adapterId": "openai"}),
        ev(T.STREAM_READY, ts + 1, stream_id, ctx, {}),
        ev(T.ADAPTER_WRAP_END, ts + 1, stream_id, ctx, {}),
        ev(
            T.TIMEOUT_RESET,
            ts + 250,
            stream_id,
            ctx,
            {"timeoutType": "inter", "configuredMs": 10000, "tokenIndex": 0},
        ),
    ]
    end = ts + duration_ms
    if guardrail_rules:
        out.append(
            ev(
                T.GUARDRAIL_PHASE_START,
                end,
                stream_id,
                ctx,
                {"phase": "post", "ruleCount": guardrail_rules},
            )
        )
        for i in range(guardrail_rules):
            rid = f"rule-{i}"
            out.append(
                ev(
                    T.GUARDRAIL_RULE_START,
                    end,
                    stream_id,
                    ctx,
                    {"index": i, "ruleId": rid, "callbackId": f"cb_{i}"},
                )
            )
            out.append(
                ev(
                    T.GUARDRAIL_RULE_RESULT,
                    end,
                    stream_id,
                    ctx,
                    {"index": i, "ruleId": rid, "passed": True, "violation": None},
                )
            )
            out.append(
                ev(
                    T.GUARDRAIL_RULE_END,
                    end,
                    stream_id,
                    ctx,
                    {
                        "index": i,
                        "ruleId": rid,
                        "passed": True,
                        "callbackId": f"cb_{i}",
                        "durationMs": 0,
                    },
                )
            )
        out.append(
            ev(
                T.GUARDRAIL_PHASE_END,
                end,
                stream_id,
                ctx,
                {"phase": "post", "passed": True, "violations": [], "durationMs": 0},
            )
        )
    out.append(
        ev(
            T.COMPLETE,
            end,
            stream_id,
            ctx,
            {"tokenCount": token_count, "contentLength": content_length},
        )
    )
    return out


def example_events() -> list[ObservabilityEvent]:
    """A small mixed workload: a clean stream, a network retry, a failure, a violation."""
    return [
        *make_stream_events("example-ok", start_ms=1_700_000_000_000.0),
        *make_stream_events("example-retry", start_ms=1_700_000_001_000.0, network_retries=1),
        *make_stream_events(
            "example-failed",
            start_ms=1_700_000_002_000.0,
            outcome="halt",
            model="claude-3-5-sonnet",
        ),
        *make_stream_events(
            "example-violation",
            start_ms=1_700_000_003_000.0,
            violations=[{"rule": "pii", "message": "email address", "severity": "error"}],
        ),
    ]


class CaptureSink:
    """A thread-safe in-memory handler that keeps every event (or batch) it is given.

    Example:
        >>> sink = CaptureSink()
        >>> sink("anything")
        >>> sink.items
        ['anything']
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Any] = []

    def __call__(self, item: Any) -> None:
        """Record one item."""
        with self._lock:
            self.items.append(item)

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            return iter(list(self.items))

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)

    def clear(self) -> None:
        """Forget everything captured."""
        with self._lock:
            self.items.clear()
