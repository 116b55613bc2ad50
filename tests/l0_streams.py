"""Fake provider streams for driving the real L0 runtime (ai2070-l0) in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

l0 = pytest.importorskip("l0")
from l0.guardrails import GuardrailRule, GuardrailViolation  # noqa: E402
from l0.types import Event, EventType, Retry, Timeout  # noqa: E402

__all__ = ["Retry", "Timeout", "banned_word_rule", "flaky", "run_l0", "tokens"]


async def tokens(
    texts: list[str],
    *,
    fail_at: int | None = None,
    exc: Exception | None = None,
    delay: float = 0.001,
) -> AsyncIterator[Any]:
    """A provider stream yielding one token event per text, optionally failing."""
    for i, text in enumerate(texts):
        if fail_at is not None and i == fail_at:
            assert exc is not None
            raise exc
        await asyncio.sleep(delay)
        yield Event(type=EventType.TOKEN, text=text)
    yield Event(type=EventType.COMPLETE)


def flaky(
    texts: list[str], exc: Exception, failures: int = 1, fail_at: int = 1
) -> Callable[[], Any]:
    """A stream factory whose first `failures` calls fail at token `fail_at`."""
    calls = {"n": 0}

    def factory() -> Any:
        calls["n"] += 1
        if calls["n"] <= failures:
            return tokens(texts, fail_at=fail_at, exc=exc)
        return tokens(texts)

    return factory


def banned_word_rule(word: str, *, recoverable: bool = False) -> Any:
    """A guardrail rule that reports one violation when `word` appears."""
    return GuardrailRule(
        name=f"no-{word}",
        check=lambda state: (
            [
                GuardrailViolation(
                    rule=f"no-{word}",
                    message=f"found {word}",
                    severity="error",
                    recoverable=recoverable,
                )
            ]
            if word in state.content
            else []
        ),
    )


async def run_l0(
    on_event: Callable[[Any], None], *, abort_after: int | None = None, **kwargs: Any
) -> tuple[str | None, BaseException | None]:
    """Run l0.run to completion; return (text, raised exception)."""
    try:
        result = await l0.run(on_event=on_event, **kwargs)
        if abort_after is None:
            return await result.read(), None
        n = 0
        async for _ in result:
            n += 1
            if n == abort_after:
                result.abort()
        return None, None
    except Exception as exc:  # the runtime raises terminal failures
        return None, exc
