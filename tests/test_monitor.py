from __future__ import annotations

import asyncio
import gc
import logging
import math
import threading
import tracemalloc
from datetime import UTC, datetime

import pytest

from l0_monitoring import MetricsConfig, Monitor, MonitoringConfig, SamplingConfig, Telemetry
from l0_monitoring.testing import make_runtime_events, make_stream_events

from .conftest import T0, T, ev


def feed(monitor: Monitor, events) -> Monitor:
    for e in events:
        monitor.handle_event(e)
    return monitor


def strict(config: MonitoringConfig | None = None, **kw) -> Monitor:
    return Monitor(config, raise_internal_errors=True, **kw)


# -- timing --------------------------------------------------------------------------


def test_timing_comes_from_event_timestamps():
    m = feed(strict(), [ev(T.SESSION_START, 0), ev(T.TOKEN, 300, token="a"), ev(T.COMPLETE, 1234)])
    t = m.get_telemetry("s1")
    assert t.timing.started_at == datetime.fromtimestamp(T0 / 1000, tz=UTC)
    assert t.timing.completed_at == datetime.fromtimestamp((T0 + 1234) / 1000, tz=UTC)
    assert t.timing.duration == pytest.approx(1.234)
    assert t.timing.time_to_first_token == pytest.approx(0.3)
    assert t.metrics.time_to_first_token == pytest.approx(0.3)


def test_started_at_falls_back_to_the_first_event():
    m = feed(strict(), [ev(T.STREAM_INIT, 10), ev(T.TOKEN, 60, token="a"), ev(T.COMPLETE, 110)])
    t = m.get_telemetry("s1")
    assert t.timing.duration == pytest.approx(0.1)
    assert t.timing.time_to_first_token == pytest.approx(0.05)


def test_ttft_uses_timeout_reset_inter_when_there_are_no_token_events():
    events = make_runtime_events("r1", duration_ms=1500)
    t = feed(strict(), events).get_telemetry("r1")
    assert t.timing.time_to_first_token == pytest.approx(0.25)
    assert t.metrics.token_count == 120 and t.content_length == 480


def test_stream_ready_is_never_a_first_token():
    m = feed(
        strict(),
        [
            ev(T.SESSION_START, 0),
            ev(T.STREAM_READY, 5),
            ev(T.TIMEOUT_RESET, 7, timeoutType="initial"),
            ev(T.COMPLETE, 900),
        ],
    )
    t = m.get_telemetry("s1")
    assert t.timing.time_to_first_token is None
    assert t.metrics.time_to_first_token is None


def test_ttft_spans_retries_from_the_start_of_the_request():
    events = make_stream_events("s1", ttft_ms=700, network_retries=2)
    t = feed(strict(), events).get_telemetry("s1")
    assert t.timing.time_to_first_token == pytest.approx(0.7)


# -- tokens --------------------------------------------------------------------------


def test_token_count_and_content_length_from_token_events():
    t = feed(strict(), make_stream_events("s1", tokens=["ab", "cde", "f"])).get_telemetry("s1")
    assert t.metrics.token_count == 3 and t.content_length == 6


@pytest.mark.parametrize("key", ["token", "text", "content"])
def test_token_text_is_read_from_any_of_the_usual_keys(key):
    m = feed(strict(), [ev(T.SESSION_START, 0), ev(T.TOKEN, 1, **{key: "abcd"}), ev(T.COMPLETE, 2)])
    assert m.get_telemetry("s1").content_length == 4


def test_runtime_counts_win_over_counted_tokens():
    events = make_stream_events("s1", tokens=["a"] * 4)
    events[-1].meta.update(tokenCount=10, contentLength=99)
    t = feed(strict(), events).get_telemetry("s1")
    assert t.metrics.token_count == 10 and t.content_length == 99


def test_snake_case_counts_are_understood():
    m = feed(
        strict(), [ev(T.SESSION_START, 0), ev(T.COMPLETE, 100, token_count=7, content_length=21)]
    )
    t = m.get_telemetry("s1")
    assert t.metrics.token_count == 7 and t.content_length == 21


def test_counted_tokens_describe_the_final_attempt_only():
    events = [
        ev(T.SESSION_START, 0),
        ev(T.TOKEN, 10, token="xx"),
        ev(T.TOKEN, 20, token="yy"),
        ev(T.ERROR, 30, error="reset", failureType="network", recoveryStrategy="retry"),
        ev(T.RETRY_ATTEMPT, 30, attempt=1, reason="reset", isNetwork=True),
        ev(T.ATTEMPT_START, 40, attempt=2, isRetry=True),
        ev(T.TOKEN, 50, token="abc"),
        ev(T.COMPLETE, 60),
    ]
    t = feed(strict(), events).get_telemetry("s1")
    assert t.metrics.token_count == 1 and t.content_length == 3
    assert t.timing.time_to_first_token == pytest.approx(0.01)  # the user saw the first one


def test_tokens_per_second_is_tokens_after_the_first_over_first_to_last_token():
    # Rule 8. 11 tokens, first at 200 ms, 10 ms apart (last at 300 ms), complete at 301 ms:
    events = make_stream_events("s1", tokens=["x"] * 11, ttft_ms=200, gap_ms=10)
    t = feed(strict(), events).get_telemetry("s1")
    assert t.timing.duration == pytest.approx(0.301)
    assert t.metrics.tokens_per_second == pytest.approx(10 / 0.1)


def test_tokens_per_second_is_none_without_a_first_token_signal():
    # Rule 8: no first token, no rate (never a guess from the whole duration).
    m = feed(strict(), [ev(T.SESSION_START, 0), ev(T.COMPLETE, 2000, tokenCount=100)])
    assert m.get_telemetry("s1").metrics.tokens_per_second is None


def test_tokens_per_second_without_token_events_runs_to_the_terminal_event():
    # Rule 8: the runtime's first-token signal at 500 ms, COMPLETE at 2000 ms, 100 tokens.
    m = feed(
        strict(),
        [
            ev(T.SESSION_START, 0),
            ev(T.TIMEOUT_RESET, 500, timeoutType="inter"),
            ev(T.COMPLETE, 2000, tokenCount=100),
        ],
    )
    assert m.get_telemetry("s1").metrics.tokens_per_second == pytest.approx(99 / 1.5)


# -- inter-token latency --------------------------------------------------------------


def itl_monitor() -> Monitor:
    return strict(MonitoringConfig(metrics=MetricsConfig(inter_token_latency=True)))


def test_inter_token_latency_percentiles():
    gaps = list(range(1, 101))  # ms
    events = [ev(T.SESSION_START, 0)]
    ts = 100.0
    events.append(ev(T.TOKEN, ts, token="t"))
    for g in gaps:
        ts += g
        events.append(ev(T.TOKEN, ts, token="t"))
    events.append(ev(T.COMPLETE, ts + 1))
    t = feed(itl_monitor(), events).get_telemetry("s1")
    assert t.metrics.avg_inter_token_latency == pytest.approx(0.0505)
    assert t.metrics.p50_inter_token_latency == pytest.approx(0.050)
    assert t.metrics.p90_inter_token_latency == pytest.approx(0.090)
    assert t.metrics.p99_inter_token_latency == pytest.approx(0.099)
    assert t.timing.inter_token_latencies[:3] == pytest.approx([0.001, 0.002, 0.003])


def test_one_gap_fills_every_percentile():
    events = [
        ev(T.SESSION_START, 0),
        ev(T.TOKEN, 10, token="a"),
        ev(T.TOKEN, 30, token="b"),
        ev(T.COMPLETE, 31),
    ]
    m = feed(itl_monitor(), events).get_telemetry("s1").metrics
    assert m.avg_inter_token_latency == m.p50_inter_token_latency == pytest.approx(0.02)
    assert m.p90_inter_token_latency == m.p99_inter_token_latency == pytest.approx(0.02)


def test_inter_token_latency_is_off_by_default():
    t = feed(strict(), make_stream_events("s1")).get_telemetry("s1")
    assert t.metrics.p50_inter_token_latency is None and t.timing.inter_token_latencies == []


def test_long_streams_keep_bounded_memory_and_accurate_percentiles():
    m = itl_monitor()
    m.handle_event(ev(T.SESSION_START, 0))
    n = 200_000
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    ts = 0.0
    for i in range(n):
        ts += 1 + (i % 7)  # gaps 1..7 ms, uniform
        m.handle_event(ev(T.TOKEN, ts, token="t"))
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert held < 1_000_000, held  # 200k floats in a list would be > 1.6 MB
    m.handle_event(ev(T.COMPLETE, ts + 1))
    t = m.get_telemetry("s1")
    assert t.metrics.token_count == n
    assert t.metrics.avg_inter_token_latency == pytest.approx(0.004, rel=1e-3)
    assert t.metrics.p50_inter_token_latency == pytest.approx(0.004, rel=0.011)
    assert t.metrics.p90_inter_token_latency == pytest.approx(0.007, rel=0.011)
    assert len(t.timing.inter_token_latencies) == 1024


# -- retries, guardrails, errors, drift ------------------------------------------------


def test_retries_are_split_network_and_model():
    events = make_stream_events("s1", network_retries=2, model_retries=1)
    t = feed(strict(), events).get_telemetry("s1")
    r = t.retries
    assert (r.network_retries, r.model_retries, r.total_retries) == (2, 1, 3)
    assert r.max_attempts == 3 and r.attempt == 4
    assert r.last_error == "model refused" and r.last_error_category == "model"


def test_snake_case_retry_meta():
    events = [
        ev(T.SESSION_START, 0),
        ev(T.RETRY_START, 1, max_attempts=5),
        ev(T.RETRY_ATTEMPT, 2, category="network", error="dns"),
        ev(T.COMPLETE, 3),
    ]
    r = feed(strict(), events).get_telemetry("s1").retries
    assert r.max_attempts == 5 and r.network_retries == 1 and r.last_error == "dns"
    assert r.last_error_category == "network"


def test_guardrail_violations_singular_plural_and_deduplicated():
    v = {"rule": "pii", "message": "email found", "severity": "error", "recoverable": False}
    events = [
        ev(T.SESSION_START, 0),
        ev(T.GUARDRAIL_RULE_START, 1, index=0, ruleId="pii"),
        ev(T.GUARDRAIL_RULE_RESULT, 1, index=0, ruleId="pii", passed=False, violation=v),
        ev(T.GUARDRAIL_RULE_START, 2, index=1, ruleId="len"),
        ev(
            T.GUARDRAIL_RULE_RESULT,
            2,
            violations=[v, {"rule": "len", "message": "long", "severity": "warning"}],
        ),
        ev(T.COMPLETE, 3),
    ]
    g = feed(strict(), events).get_telemetry("s1").guardrails
    assert g.rules_checked == 2 and g.passed is False
    assert [x["rule"] for x in g.violations] == ["pii", "len"]


def test_violation_objects_are_converted():
    from dataclasses import dataclass

    @dataclass
    class Violation:
        rule: str
        message: str
        severity: str

    events = [
        ev(T.SESSION_START, 0),
        ev(T.GUARDRAIL_RULE_RESULT, 1, violation=Violation("r", "m", "warning")),
        ev(T.COMPLETE, 2),
    ]
    g = feed(strict(), events).get_telemetry("s1").guardrails
    assert g.violations == [{"rule": "r", "message": "m", "severity": "warning"}]


def test_error_fields_from_runtime_meta():
    try:
        raise ConnectionError("socket closed")
    except ConnectionError as exc:
        err = exc
    events = [
        ev(T.SESSION_START, 0),
        ev(
            T.ERROR,
            5,
            error=err,
            errorCode="ECONNRESET",
            failureType="network",
            recoveryStrategy="retry",
        ),
        ev(T.COMPLETE, 9),
    ]
    e = feed(strict(), events).get_telemetry("s1").error
    assert e.occurred and e.message == "socket closed" and e.code == "ECONNRESET"
    assert e.category == "network" and e.recoverable is True
    assert "ConnectionError: socket closed" in e.stack


def test_halt_is_terminal_and_not_recoverable():
    events = make_stream_events("s1", outcome="halt")
    seen: list[Telemetry] = []
    m = feed(strict(on_complete=seen.append), events)
    assert len(seen) == 1
    t = seen[0]
    assert t.error.occurred and t.error.recoverable is False and t.error.code == "FATAL"
    assert t.completed is False and t.outcome == "failed"
    assert m.stats()["late_events"] == 1  # the RETRY_GIVE_UP after the halt


def test_drift_is_recorded():
    events = [
        ev(T.SESSION_START, 0),
        ev(
            T.DRIFT_CHECK_RESULT,
            1,
            detected=True,
            score=0.7,
            metrics={"repetition": True, "tone": False},
            threshold=0.5,
        ),
        ev(T.COMPLETE, 2),
    ]
    d = feed(strict(), events).get_telemetry("s1").drift
    assert d.detected and d.types == ["repetition"] and d.score == 0.7


# -- terminal events and outcomes -------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "completed", "aborted", "error"),
    [
        ("complete", True, False, False),
        ("abort", False, True, False),
        ("halt", False, False, True),
        ("give_up", False, False, True),
    ],
)
def test_every_terminal_event_finalizes_exactly_once(outcome, completed, aborted, error):
    seen: list[Telemetry] = []
    events = make_stream_events("s1", outcome=outcome)
    m = feed(strict(on_complete=seen.append), events + events[-1:])  # duplicated terminal
    assert len(seen) == 1
    t = seen[0]
    assert (t.completed, t.aborted, t.error.occurred) == (completed, aborted, error)
    agg = m.get_aggregate_metrics()
    assert agg["count"] == 1 and m.get_all_telemetry() == [t]


def test_session_end_finalizes():
    m = feed(strict(), [ev(T.SESSION_START, 0), ev(T.SESSION_END, 50)])
    t = m.get_telemetry("s1")
    assert t.completed and t.timing.duration == pytest.approx(0.05)


def test_failed_streams_reach_buffer_callback_and_aggregates():
    seen: list[Telemetry] = []
    m = strict(on_complete=seen.append)
    feed(m, make_stream_events("ok"))
    feed(m, make_stream_events("bad", outcome="give_up"))
    assert [t.stream_id for t in seen] == ["ok", "bad"]
    agg = m.get_aggregate_metrics()
    assert agg["count"] == 2 and agg["failed_count"] == 1 and agg["error_count"] == 1
    assert agg["error_rate"] == 0.5 and agg["completion_rate"] == 0.5


# -- model, metadata -----------------------------------------------------------------


def test_model_from_meta_or_context_and_context_into_metadata():
    m = strict()
    feed(m, make_stream_events("a", model="claude"))
    feed(m, make_stream_events("b", model=None, context={"model": "gpt-4o-mini", "tenant": "t1"}))
    assert m.get_telemetry("a").model == "claude"
    b = m.get_telemetry("b")
    assert b.model == "gpt-4o-mini" and b.metadata == {"model": "gpt-4o-mini", "tenant": "t1"}


def test_metadata_set_in_on_complete_is_kept():
    def on_complete(t: Telemetry) -> None:
        t.metadata["user_id"] = "u-1"

    m = feed(strict(on_complete=on_complete), make_stream_events("s1"))
    assert m.get_telemetry("s1").metadata["user_id"] == "u-1"
    assert m.get_all_telemetry()[0].metadata["user_id"] == "u-1"


def test_get_telemetry_of_a_stream_in_flight_is_a_snapshot():
    m = strict()
    feed(m, make_stream_events("s1")[:-1])
    t = m.get_telemetry("s1")
    assert t.metrics.token_count == 5 and t.timing.completed_at is None and not t.completed
    assert m.get_telemetry("nope") is None


# -- sampling, buffer, aggregates ---------------------------------------------------------


def sampled(**sampling) -> Monitor:
    return strict(MonitoringConfig(sampling=SamplingConfig(**sampling)))


def test_errors_are_kept_when_sampling_drops_the_rest():
    m = sampled(rate=0.0)
    for i in range(20):
        feed(m, make_stream_events(f"ok{i}"))
    feed(m, make_stream_events("bad", outcome="halt"))
    assert [t.stream_id for t in m.get_all_telemetry()] == ["bad"]
    agg = m.get_aggregate_metrics()
    assert agg["count"] == 21 and agg["error_rate"] == pytest.approx(1 / 21)
    assert m.stats()["records_sampled_out"] == 20


def test_errors_are_dropped_when_sample_errors_is_off():
    m = sampled(rate=0.0, sample_errors=False)
    feed(m, make_stream_events("bad", outcome="halt"))
    assert m.get_all_telemetry() == []


def test_slow_streams_are_kept():
    m = sampled(rate=0.0, slow_threshold=1.0)
    feed(m, make_stream_events("fast", tokens=["a"] * 3, gap_ms=10))
    feed(m, make_stream_events("slow", tokens=["a"] * 3, gap_ms=1000))
    assert [t.stream_id for t in m.get_all_telemetry()] == ["slow"]


def test_short_streams_are_dropped_unless_errored():
    m = sampled(min_duration=1.0)
    feed(m, make_stream_events("short"))
    feed(m, make_stream_events("short-bad", outcome="give_up"))
    feed(m, make_stream_events("long", tokens=["a"] * 3, gap_ms=600))
    assert [t.stream_id for t in m.get_all_telemetry()] == ["short-bad", "long"]


def test_rate_sampling_is_deterministic_per_stream_id_and_close_to_the_rate():
    def kept(rate: float) -> set[str]:
        m = Monitor(MonitoringConfig(sampling=SamplingConfig(rate=rate), buffer_size=5000))
        for i in range(2000):
            feed(m, make_stream_events(f"stream-{i}", tokens=["a"]))
        return {t.stream_id for t in m.get_all_telemetry()}

    first, second = kept(0.25), kept(0.25)
    assert first == second
    assert 400 < len(first) < 600


def test_buffer_keeps_the_newest_records():
    m = strict(MonitoringConfig(buffer_size=3))
    for i in range(10):
        feed(m, make_stream_events(f"s{i}"))
    assert [t.stream_id for t in m.get_all_telemetry()] == ["s7", "s8", "s9"]
    assert m.get_aggregate_metrics()["count"] == 10


def test_empty_aggregates_are_zeros():
    agg = Monitor().get_aggregate_metrics()
    assert agg["count"] == 0 and agg["error_rate"] == 0.0 and agg["avg_tokens"] == 0.0
    for key in [
        "total_tokens",
        "total_duration",
        "total_retries",
        "error_count",
        "completed_count",
        "completion_rate",
        "avg_duration",
    ]:
        assert agg[key] == 0
    assert agg["avg_ttft"] is None and agg["p50_ttft"] is None


def test_avg_duration_is_the_mean_of_the_streams_with_a_duration():
    from l0_monitoring import TelemetryExporter

    m = strict()
    # Stream "a" completes before it starts: no duration. Stream "b": 0.3 s.
    feed(m, [ev(T.SESSION_START, 0, "a"), ev(T.COMPLETE, -400, "a")])
    feed(m, [ev(T.SESSION_START, 0, "b"), ev(T.COMPLETE, 300, "b")])
    assert [t.timing.duration for t in m.get_all_telemetry()] == [None, 0.3]
    agg = m.get_aggregate_metrics()
    assert agg["count"] == 2 and agg["avg_duration"] == pytest.approx(0.3)
    prom = {
        line.split("{")[0]: float(line.rsplit(" ", 1)[1])
        for line in TelemetryExporter.to_prometheus(m).splitlines()
        if line.startswith("l0_stream_duration_seconds_")
    }
    assert prom["l0_stream_duration_seconds_count"] == 1
    assert agg["avg_duration"] == pytest.approx(
        prom["l0_stream_duration_seconds_sum"] / prom["l0_stream_duration_seconds_count"]
    )


def test_avg_duration_of_streams_without_a_duration_is_zero():
    m = strict()
    feed(m, [ev(T.SESSION_START, 0, "a"), ev(T.COMPLETE, -400, "a")])
    agg = m.get_aggregate_metrics()
    # The published AggregateMetrics schema has no null for avg_duration.
    assert agg["count"] == 1 and agg["avg_duration"] == 0.0


def test_aggregate_percentiles_within_one_percent():
    cfg = MonitoringConfig(metrics=MetricsConfig(percentiles=[0.5, 0.95, 0.999]))
    m = strict(cfg)
    for i in range(1, 1001):
        feed(m, make_stream_events(f"s{i}", ttft_ms=float(i), tokens=["a"]))
    agg = m.get_aggregate_metrics()
    assert agg["p50_ttft"] == pytest.approx(0.5, rel=0.011)
    assert agg["p95_ttft"] == pytest.approx(0.95, rel=0.011)
    assert agg["p99.9_ttft"] == pytest.approx(0.999, rel=0.011)
    assert {"p50_duration", "p95_tokens_per_sec", "p99.9_duration"} <= set(agg)
    assert agg["avg_ttft"] == pytest.approx(0.5005)


def test_aggregate_percentiles_include_every_stream_between_reads():
    # Sketch values are buffered and bucketed in batches: every read sees them all.
    m = strict()
    for i in range(1, 301):
        feed(m, make_stream_events(f"a{i}", ttft_ms=100.0, tokens=["a"]))
    assert m.get_aggregate_metrics()["p50_ttft"] == pytest.approx(0.1, rel=0.011)
    for i in range(1, 1001):  # crosses the 512-value batch twice
        feed(m, make_stream_events(f"b{i}", ttft_ms=900.0, tokens=["a"]))
    agg = m.get_aggregate_metrics()
    assert agg["count"] == 1300
    assert agg["p50_ttft"] == pytest.approx(0.9, rel=0.011)
    assert agg["p95_ttft"] == pytest.approx(0.9, rel=0.011)


def test_collect_flags_blank_their_sections():
    m = strict(MonitoringConfig.minimal().model_copy(update={"sampling": SamplingConfig(rate=1.0)}))
    feed(m, make_stream_events("s1", network_retries=1, violations=[{"rule": "r"}]))
    t = m.get_telemetry("s1")
    assert t.metrics.token_count == 0 and t.timing.time_to_first_token is None
    assert t.retries.total_retries == 0 and t.guardrails.violations == []
    assert t.error.occurred and t.error.message == "connection reset"


def test_disabled_monitor_ignores_everything():
    m = feed(Monitor(MonitoringConfig(enabled=False)), make_stream_events("s1"))
    assert m.get_telemetry() is None and m.stats()["streams_started"] == 0


# -- memory bounds -----------------------------------------------------------------------


def test_in_flight_table_is_bounded_and_evicts_the_idlest_as_abandoned():
    seen: list[Telemetry] = []
    m = strict(MonitoringConfig(max_in_flight=10), on_complete=seen.append)
    for i in range(25):
        m.handle_event(ev(T.SESSION_START, i, sid=f"s{i}"))
    assert m.stats()["in_flight"] == 10
    assert m.stats()["streams_abandoned"] == 15
    assert seen[0].stream_id == "s0" and seen[0].abandoned and seen[0].outcome == "abandoned"


def test_evicted_streams_that_are_sampled_out_skip_on_complete():
    seen: list[Telemetry] = []
    cfg = MonitoringConfig(max_in_flight=2, sampling=SamplingConfig(rate=0.0, sample_errors=False))
    m = strict(cfg, on_complete=seen.append)
    for i in range(5):
        m.handle_event(ev(T.SESSION_START, i, sid=f"s{i}"))
    assert m.stats()["streams_abandoned"] == 3 and m.stats()["records_sampled_out"] == 3
    assert seen == []


def test_finished_streams_leave_memory():
    m = Monitor()
    events = [e for i in range(3000) for e in make_runtime_events(f"r{i}")]
    gc.collect()
    tracemalloc.start()
    feed(m, events[:15000])
    mid = tracemalloc.get_traced_memory()[0]
    feed(m, events[15000:])
    end = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert m.stats()["in_flight"] == 0
    assert end - mid < 200_000  # twice the streams, roughly the same memory


def test_close_finalizes_silent_streams():
    seen: list[Telemetry] = []
    m = strict(on_complete=seen.append)
    feed(m, make_stream_events("s1", outcome="none"))
    m.close()
    m.close()
    assert len(seen) == 1 and seen[0].abandoned


# -- never hurt the host -------------------------------------------------------------------


def test_failing_on_complete_is_logged_and_the_record_survives(caplog):
    def boom(t: Telemetry) -> None:
        raise RuntimeError("callback broke")

    m = Monitor(on_complete=boom)
    with caplog.at_level(logging.WARNING, logger="l0_monitoring"):
        for i in range(50):
            feed(m, make_stream_events(f"s{i}"))
    assert len(m.get_all_telemetry()) == 50
    assert m.stats()["callback_errors"] == 50
    lines = [r for r in caplog.records if "on_complete" in r.getMessage()]
    assert len(lines) == 1  # rate-limited


def test_raise_internal_errors_switch_re_raises():
    def boom(t: Telemetry) -> None:
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        feed(Monitor(on_complete=boom, raise_internal_errors=True), make_stream_events("s"))


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        "TOKEN",
        {"type": "TOKEN"},
        {"type": "TOKEN", "ts": "x", "stream_id": "s"},
        ev(T.TOKEN, math.nan, token=None),
        ev(T.TOKEN, 1, token=12345),
    ],
)
def test_malformed_events_never_raise(bad):
    m = Monitor()
    m.handle_event(bad)
    m.handle_event(ev(T.COMPLETE, 2))
    assert m.stats()["internal_errors"] == 0


def test_mappings_and_l0_events_are_accepted():
    l0_events = pytest.importorskip("l0.events")
    m = strict()
    m.handle_event({"type": "SESSION_START", "ts": T0, "stream_id": "s1", "meta": {}})
    m.handle_event(
        l0_events.ObservabilityEvent(
            l0_events.ObservabilityEventType.TOKEN, T0 + 100, "s1", {}, {"token": "hey"}
        )
    )
    m.handle_event(
        {"type": l0_events.ObservabilityEventType.COMPLETE, "ts": T0 + 200, "stream_id": "s1"}
    )
    t = m.get_telemetry("s1")
    assert t.completed and t.metrics.token_count == 1 and t.content_length == 3
    assert t.timing.time_to_first_token == pytest.approx(0.1)


def test_many_threads_many_streams_exact_counts():
    m = Monitor(MonitoringConfig(buffer_size=10_000))
    per_thread = 300

    def work(k: int) -> None:
        for i in range(per_thread):
            for e in make_stream_events(f"t{k}-{i}", tokens=["ab"] * 7):
                m.handle_event(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    agg = m.get_aggregate_metrics()
    assert agg["count"] == 8 * per_thread and agg["total_tokens"] == 8 * per_thread * 7
    assert len({t.stream_id for t in m.get_all_telemetry()}) == 8 * per_thread


async def test_interleaved_asyncio_streams():
    m = Monitor(MonitoringConfig(buffer_size=1000))

    async def stream(i: int) -> None:
        for e in make_stream_events(f"a{i}", tokens=["x"] * 5):
            m.handle_event(e)
            await asyncio.sleep(0)

    await asyncio.gather(*(stream(i) for i in range(200)))
    assert m.get_aggregate_metrics()["total_tokens"] == 1000
    assert m.stats()["in_flight"] == 0


def test_on_flush_receives_records_from_a_background_thread():
    got: list[list[Telemetry]] = []
    done = threading.Event()

    def on_flush(records: list[Telemetry]) -> None:
        got.append(records)
        done.set()

    m = Monitor(MonitoringConfig(flush_interval=0.05), on_flush=on_flush)
    feed(m, make_stream_events("s1"))
    assert done.wait(2.0)
    assert [t.stream_id for t in got[0]] == ["s1"]
    feed(m, make_stream_events("s2"))
    assert m.flush() == 1 and m.flush() == 0
    m.close()
    assert sum(len(b) for b in got) == 2  # nothing delivered twice


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
@pytest.mark.parametrize("kind", ["monitor", "opentelemetry", "sentry"])
def test_a_monitor_or_handler_refuses_copy_and_pickle_alike_in_both_builds(how, kind):
    # Compiled-build review: copy.copy(monitor) and pickle gave an empty Monitor
    # whose handle_event raised AttributeError into the host (the interpreted
    # build aliased the live table on copy.copy). One rule in both: TypeError.
    import copy
    import pickle

    import sentry_sdk

    from l0_monitoring import Monitoring

    monitor = Monitor()
    monitor.handle_event(ev(T.SESSION_START, 0, "s"))
    listener = {
        "monitor": lambda: monitor,
        "opentelemetry": Monitoring.opentelemetry,
        "sentry": lambda: Monitoring.sentry(sentry_sdk),
    }[kind]()
    do = {"copy": copy.copy, "deepcopy": copy.deepcopy, "pickle": pickle.dumps}[how]
    with pytest.raises(TypeError, match="cannot be copied or pickled"):
        do(listener)
    monitor.handle_event(ev(T.COMPLETE, 5, "s", tokenCount=1))
    assert monitor.get_telemetry("s").completed
