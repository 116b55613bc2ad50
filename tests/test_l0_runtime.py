"""The real L0 runtime (ai2070-l0) drives the Monitor: every scenario the runtime emits."""

from __future__ import annotations

import pytest

from l0_monitoring import MetricsConfig, Monitor, MonitoringConfig, Telemetry

from .l0_streams import Retry, Timeout, banned_word_rule, flaky, run_l0, tokens

TEXTS = ["Hello", " there", ",", " friend", "!"]
CONTENT = sum(len(t) for t in TEXTS)


def monitor(**kw) -> tuple[Monitor, list[Telemetry]]:
    seen: list[Telemetry] = []
    return Monitor(raise_internal_errors=True, on_complete=seen.append, **kw), seen


async def test_normal_run():
    m, seen = monitor()
    text, exc = await run_l0(
        m.handle_event,
        stream=lambda: tokens(TEXTS),
        context={"model": "gpt-4o", "request_id": "r-1"},
    )
    assert exc is None and text == "".join(TEXTS)
    (t,) = seen
    assert t.completed and not t.error.occurred
    assert t.metrics.token_count == 5 and t.content_length == CONTENT
    assert t.model == "gpt-4o" and t.metadata["request_id"] == "r-1"
    assert t.timing.duration is not None and t.timing.duration > 0.004
    assert t.timing.time_to_first_token is None  # the runtime sent no first-token signal
    assert t.metrics.tokens_per_second is None  # rule 8: no first token, no rate


async def test_ttft_from_the_runtime_timeout_signal():
    m, seen = monitor()
    await run_l0(
        m.handle_event,
        stream=lambda: tokens(TEXTS, delay=0.03),
        timeout=Timeout(initial_token=5000, inter_token=5000),
    )
    (t,) = seen
    ttft = t.timing.time_to_first_token
    assert ttft is not None and 0.02 <= ttft <= t.timing.duration
    assert t.timing.duration >= 0.14  # five tokens 30 ms apart


async def test_network_error_then_retry_succeeds():
    m, seen = monitor()
    text, exc = await run_l0(
        m.handle_event,
        stream=flaky(TEXTS, ConnectionError("connection reset")),
        retry=Retry(attempts=3, base_delay=0.01),
    )
    assert exc is None and text == "".join(TEXTS)
    (t,) = seen
    assert t.completed and t.retries.network_retries == 1 and t.retries.model_retries == 0
    assert t.retries.total_retries == 1 and t.retries.last_error_category == "network"
    assert t.retries.attempt == 2 and t.retries.max_attempts >= 2
    assert t.error.occurred and t.error.category == "network" and t.error.recoverable
    assert t.metrics.token_count == 5 and t.content_length == CONTENT  # final attempt


async def test_model_error_retried():
    m, seen = monitor()
    await run_l0(
        m.handle_event,
        stream=flaky(TEXTS, ValueError("bad output")),
        retry=Retry(attempts=3, base_delay=0.01),
    )
    (t,) = seen
    assert t.completed and t.retries.model_retries == 1 and t.retries.network_retries == 0
    assert t.retries.last_error == "bad output" and t.retries.last_error_category == "model"


async def test_guardrail_violation_is_recorded_and_fails_the_stream():
    m, seen = monitor()
    _, exc = await run_l0(
        m.handle_event, stream=lambda: tokens(TEXTS), guardrails=[banned_word_rule("friend")]
    )
    assert exc is not None
    (t,) = seen
    assert t.guardrails.passed is False and t.guardrails.rules_checked >= 1
    assert len(t.guardrails.violations) == 1  # RULE_RESULT and PHASE_END: kept once
    assert t.guardrails.violations[0]["rule"] == "no-friend"
    assert t.error.occurred and t.error.code == "FATAL_GUARDRAIL_VIOLATION"
    assert not t.completed and t.outcome == "failed"


async def test_terminal_failure_is_a_record():
    m, seen = monitor()
    _, exc = await run_l0(
        m.handle_event,
        stream=lambda: tokens(TEXTS, fail_at=1, exc=ValueError("boom")),
        retry=Retry(attempts=2, base_delay=0.01),
    )
    assert isinstance(exc, ValueError)
    (t,) = seen
    assert t.error.occurred and t.error.message == "boom" and t.error.recoverable is False
    assert t.retries.model_retries == 2 and not t.completed
    agg = m.get_aggregate_metrics()
    assert agg["failed_count"] == 1 and agg["count"] == 1


async def test_abort():
    m, seen = monitor()
    await run_l0(m.handle_event, stream=lambda: tokens(TEXTS * 10), abort_after=3)
    (t,) = seen
    assert t.aborted and not t.completed and t.metrics.token_count == 3


async def test_fallback():
    m, seen = monitor()
    text, exc = await run_l0(
        m.handle_event,
        stream=lambda: tokens(TEXTS, fail_at=1, exc=ValueError("primary down")),
        fallbacks=[lambda: tokens(["ok", "!"])],
        retry=Retry(attempts=1, base_delay=0.01),
    )
    assert exc is None and text is not None and text.endswith("ok!")
    (t,) = seen
    # The runtime's own contentLength wins; it matches what read() returned.
    assert t.completed and t.content_length == len(text) and t.error.recoverable


async def test_many_runs_aggregate_honestly():
    m, _ = monitor(config=MonitoringConfig(metrics=MetricsConfig(inter_token_latency=True)))
    for _ in range(5):
        await run_l0(m.handle_event, stream=lambda: tokens(TEXTS))
    await run_l0(
        m.handle_event,
        stream=lambda: tokens(TEXTS, fail_at=0, exc=ValueError("x")),
        retry=Retry(attempts=1, base_delay=0.001),
    )
    agg = m.get_aggregate_metrics()
    assert agg["count"] == 6 and agg["completed_count"] == 5 and agg["failed_count"] == 1
    assert agg["total_tokens"] == 25


def test_reference_monitor_is_wrong_where_ours_is_right():
    """The defects named in the brief, shown side by side on one real run."""
    import asyncio

    from l0.monitoring import Monitor as RefMonitor

    ref, ours = RefMonitor(), Monitor()

    def both(e):
        ref.handle_event(e)
        ours.handle_event(e)

    asyncio.run(run_l0(both, stream=lambda: tokens(TEXTS)))
    assert ref.get_telemetry().metrics.token_count == 0
    assert ours.get_telemetry().metrics.token_count == 5
    asyncio.run(
        run_l0(
            both,
            stream=lambda: tokens(TEXTS, fail_at=0, exc=ValueError("x")),
            retry=Retry(attempts=1, base_delay=0.001),
        )
    )
    assert len(ref.get_all_telemetry()) == 1  # the failed stream never became a record
    assert len(ours.get_all_telemetry()) == 2
    pytest.importorskip("l0")
