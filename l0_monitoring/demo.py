"""Simulated LLM traffic for ``l0-monitoring demo``.

Each stream gets a scenario drawn from a seeded RNG: a model with its own
time-to-first-token and token-rate distributions, and an outcome (clean, a
network error recovered by a retry, a retried model error, a terminal failure,
a guardrail violation, an abort).

Two drivers produce the same observability events:

* :func:`run_with_l0`: the real L0 runtime (``l0.run``) over fake provider
  streams. Provider delays are compressed ``speed`` times; the events'
  timestamps are dilated back by the same factor before they reach the
  handler, so the telemetry shows simulated (realistic) times.
* :func:`run_simulated`: this package's own event emitter (one TOKEN event per
  token, virtual clock), used when ``l0`` is not installed; fully deterministic.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from .events import ObservabilityEvent
from .events import ObservabilityEventType as T

__all__ = ["MODELS", "Scenario", "make_scenarios", "run_simulated", "run_with_l0"]


@dataclass(frozen=True)
class ModelProfile:
    """Latency profile of a simulated model: median TTFT (s), its spread, tokens per second."""

    name: str
    provider: str
    ttft_median: float
    ttft_sigma: float
    tokens_per_second: float


MODELS = (
    ModelProfile("gpt-4o", "openai", 0.45, 0.45, 75.0),
    ModelProfile("claude-3-5-sonnet", "anthropic", 0.70, 0.40, 55.0),
    ModelProfile("llama-3.1-70b", "aws.bedrock", 0.30, 0.60, 110.0),
)

OUTCOMES = (
    ("clean", 0.80),
    ("network_retry", 0.07),
    ("model_retry", 0.04),
    ("terminal_failure", 0.03),
    ("guardrail_violation", 0.03),
    ("abort", 0.03),
)

WORDS = ("stream", "token", "model", "latency", "answer", "context", "reliable", "fast")


@dataclass(frozen=True)
class Scenario:
    """Everything random about one simulated stream, fixed by the seed."""

    index: int
    model: ModelProfile
    outcome: str
    ttft: float
    gaps: tuple[float, ...]
    fail_at: int

    @property
    def tokens(self) -> int:
        """Tokens the provider will produce."""
        return len(self.gaps) + 1

    def text(self, i: int) -> str:
        """The i-th token's text (the guardrail scenario's last token is banned)."""
        if self.outcome == "guardrail_violation" and i == self.tokens - 1:
            return " FORBIDDEN"
        return " " + WORDS[(self.index + i) % len(WORDS)]


def make_scenarios(n: int, seed: int) -> list[Scenario]:
    """Draw ``n`` scenarios deterministically from ``seed``."""
    rng = random.Random(seed)  # noqa: S311  # simulation, not cryptography
    names, weights = zip(*OUTCOMES, strict=True)
    out = []
    for i in range(n):
        model = rng.choices(MODELS, weights=(5, 3, 2))[0]
        outcome = rng.choices(names, weights=weights)[0]
        if n >= 20 and i % (n // len(names)) == 0 and i // (n // len(names)) < len(names):
            # Spread one of each outcome over the run, so every scenario shows up.
            outcome = names[i // (n // len(names))]
        ttft = min(8.0, rng.lognormvariate(0, model.ttft_sigma) * model.ttft_median)
        tokens = max(4, int(rng.lognormvariate(0, 0.6) * 60))
        rate = model.tokens_per_second * rng.uniform(0.7, 1.3)
        gaps = tuple(max(0.001, rng.expovariate(rate)) for _ in range(tokens - 1))
        out.append(Scenario(i, model, outcome, ttft, gaps, fail_at=rng.randint(1, 3)))
    return out


# -- the package's own emitter (virtual time, no sleeping) ------------------------------


def run_simulated(
    scenarios: list[Scenario], on_event: Callable[[Any], None], start_ms: float,
    progress: Callable[[int], None] | None = None,
) -> None:  # fmt: skip
    """Emit every scenario's events with virtual timestamps (fully deterministic)."""
    for sc in scenarios:
        sid = f"demo-{sc.index:06d}"
        ctx = {"model": sc.model.name, "provider": sc.model.provider,
               "request_id": f"req-{sc.index:06d}"}  # fmt: skip
        ts = start_ms + sc.index * 137.0  # streams start 137 ms apart

        def emit(t: T, at: float, sid: str = sid, ctx: dict[str, Any] = ctx, **meta: Any) -> None:
            on_event(ObservabilityEvent(t, at, sid, dict(ctx), meta))

        emit(T.SESSION_START, ts, attempt=1, isRetry=False, isFallback=False)
        emit(T.STREAM_INIT, ts)
        attempt = 1
        if sc.outcome in ("network_retry", "model_retry", "terminal_failure"):
            network = sc.outcome == "network_retry"
            at = ts + sc.ttft * 1000
            for k in range(sc.fail_at):
                emit(T.TOKEN, at, token=sc.text(k))
                at += sc.gaps[k] * 1000
            if network:
                emit(T.NETWORK_ERROR, at, error="connection reset", code="econnreset",
                     retryable=True)  # fmt: skip
            final = sc.outcome == "terminal_failure"
            emit(T.ERROR, at, error="connection reset" if network else "model returned garbage",
                 errorCode=None, failureType="network" if network else "unknown",
                 recoveryStrategy="halt" if final else "retry")  # fmt: skip
            if final:
                emit(T.RETRY_GIVE_UP, at, attempts=0, lastError="model returned garbage")
                if progress:
                    progress(1)
                continue
            emit(T.RETRY_START, at, attempt=1, maxAttempts=3)
            emit(T.RETRY_ATTEMPT, at, attempt=1, reason="retry", isNetwork=network)
            attempt = 2
            ts = at + 200  # back-off
            emit(T.ATTEMPT_START, ts, attempt=attempt, isRetry=True, isFallback=False)
        at = ts + sc.ttft * 1000
        count = sc.tokens if sc.outcome != "abort" else max(1, sc.tokens // 3)
        for k in range(count):
            emit(T.TOKEN, at, token=sc.text(k))
            if k < len(sc.gaps):
                at += sc.gaps[k] * 1000
        if sc.outcome == "guardrail_violation":
            violation = {"rule": "no-forbidden", "message": "found FORBIDDEN",
                         "severity": "error", "recoverable": False}  # fmt: skip
            emit(T.GUARDRAIL_RULE_START, at, index=0, ruleId="no-forbidden")
            emit(T.GUARDRAIL_RULE_RESULT, at, index=0, ruleId="no-forbidden", passed=False,
                 violation=violation)  # fmt: skip
            emit(T.ERROR, at, error="Fatal guardrail violation: found FORBIDDEN",
                 errorCode="FATAL_GUARDRAIL_VIOLATION", failureType="unknown",
                 recoveryStrategy="halt")  # fmt: skip
        elif sc.outcome == "abort":
            emit(T.ABORT_REQUESTED, at, source="user")
            emit(T.ABORT_COMPLETED, at, tokenCount=count,
                 contentLength=sum(len(sc.text(k)) for k in range(count)))  # fmt: skip
        else:
            emit(T.COMPLETE, at, tokenCount=count,
                 contentLength=sum(len(sc.text(k)) for k in range(count)))  # fmt: skip
        if progress:
            progress(1)


# -- the real L0 runtime ----------------------------------------------------------------


async def run_with_l0(
    scenarios: list[Scenario], on_event: Callable[[Any], None], *, concurrency: int,
    speed: float, progress: Callable[[int], None] | None = None,
) -> None:  # fmt: skip
    """Drive ``l0.run`` over fake provider streams, ``concurrency`` at a time."""
    import l0
    from l0.guardrails import GuardrailRule, GuardrailViolation
    from l0.types import Event, EventType, Retry, Timeout

    origin = time.time() * 1000.0

    def dilate(event: Any) -> None:
        # Provider delays were divided by `speed`; stretch the timeline back.
        on_event(ObservabilityEvent(event.type, origin + (event.ts - origin) * speed,
                                    event.stream_id, event.context, event.meta))  # fmt: skip

    rule = GuardrailRule(
        name="no-forbidden",
        check=lambda state: [GuardrailViolation(rule="no-forbidden", message="found FORBIDDEN",
                                                severity="error", recoverable=False)]
        if "FORBIDDEN" in state.content else [],
    )  # fmt: skip

    async def provider(sc: Scenario, attempt: list[int]) -> AsyncIterator[Any]:
        attempt[0] += 1
        first_try = attempt[0] == 1
        await asyncio.sleep(sc.ttft / speed)
        debt = 0.0
        for k in range(sc.tokens):
            if first_try and k == sc.fail_at:
                if sc.outcome == "network_retry":
                    raise ConnectionError("connection reset")
                if sc.outcome == "model_retry":
                    raise ValueError("model returned garbage")
            if sc.outcome == "terminal_failure" and k == sc.fail_at:
                raise ValueError("model returned garbage")
            yield Event(type=EventType.TOKEN, text=sc.text(k))
            if k < len(sc.gaps):
                # Sleep in slices of >= 4 ms: many sub-millisecond sleeps would
                # add scheduling overhead that the dilation would multiply.
                debt += sc.gaps[k] / speed
                if debt >= 0.004:
                    await asyncio.sleep(debt)
                    debt = 0.0
        await asyncio.sleep(debt)
        yield Event(type=EventType.COMPLETE)

    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(sc: Scenario) -> None:
        async with limit:
            attempt = [0]
            retries = 0 if sc.outcome == "terminal_failure" else 2
            try:
                result = await l0.run(
                    stream=lambda: provider(sc, attempt),
                    on_event=dilate,
                    retry=Retry(attempts=retries + 1, max_retries=retries, base_delay=0.01),
                    timeout=Timeout(initial_token=60_000, inter_token=60_000),
                    guardrails=[rule] if sc.outcome == "guardrail_violation" else None,
                    context={"model": sc.model.name, "provider": sc.model.provider,
                             "request_id": f"req-{sc.index:06d}"},
                )  # fmt: skip
                if sc.outcome == "abort":
                    n = 0
                    async for _ in result:
                        n += 1
                        if n >= max(1, sc.tokens // 3):
                            result.abort()
                else:
                    await result.read()
            except Exception:  # noqa: S110  # terminal failures are the point of the demo
                pass
            if progress:
                progress(1)

    await asyncio.gather(*(one(sc) for sc in scenarios))
