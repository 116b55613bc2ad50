"""One fold, many views: the Monitor, the OpenTelemetry span and the Sentry transaction
agree on every shared fact, used alone, combined, and after record -> replay.

Each row of issue #12's disagreement table is a named test here; the
differential property test feeds Hypothesis event logs (hostile ones included)
and logs recorded from the real ``l0.run`` to every sink.
"""

from __future__ import annotations

import enum
import json
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")
sentry_sdk = pytest.importorskip("sentry_sdk")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from l0_monitoring import (  # noqa: E402
    MetricsConfig,
    Monitor,
    Monitoring,
    MonitoringConfig,
    ObservabilityEvent,
    OpenTelemetry,
    OpenTelemetryConfig,
    Sentry,
    SentryConfig,
    TelemetryExporter,
)
from l0_monitoring.otel import OpenTelemetryHandler  # noqa: E402
from l0_monitoring.recording import event_to_json, replay  # noqa: E402
from l0_monitoring.sentry import SentryHandler  # noqa: E402
from l0_monitoring.testing import ManualClock, make_runtime_events  # noqa: E402

from .conftest import T0, T, ev  # noqa: E402
from .sentry_ingest import MemoryTransport  # noqa: E402
from .test_otel import Sdk  # noqa: E402


@pytest.fixture
def sdk():
    s = Sdk()
    yield s
    s.tp.shutdown()
    s.mp.shutdown()


@pytest.fixture
def sentry():
    MemoryTransport.envelopes = []
    sentry_sdk.get_isolation_scope().clear()
    sentry_sdk.get_current_scope().clear()
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        transport=MemoryTransport,
        traces_sample_rate=1.0,
        default_integrations=False,
    )
    yield MemoryTransport
    sentry_sdk.get_client().close(timeout=1)
    sentry_sdk.init(default_integrations=False)
    sentry_sdk.get_isolation_scope().clear()
    sentry_sdk.get_current_scope().clear()


# -- reading each sink's facts ------------------------------------------------------------


def record_facts(t) -> dict[str, Any]:
    return {
        "outcome": t.outcome,
        "model": t.model,
        "tokens": t.metrics.token_count,
        "ttft": t.metrics.time_to_first_token,
        "tps": t.metrics.tokens_per_second,
        # a span lasts the duration, or 0 where it is None (Facts.span_end_ms)
        "duration": t.timing.duration or 0.0,
        "violations": t.guardrails.total,
        "network_retries": t.retries.network_retries,
        "retries": t.retries.total_retries,
    }


def span_facts(span) -> dict[str, Any]:
    a = span.attributes
    return {
        "outcome": a["l0.outcome"],
        "model": a.get("gen_ai.response.model"),
        "tokens": a.get("gen_ai.usage.output_tokens", 0),
        "ttft": a.get("gen_ai.response.time_to_first_chunk"),
        "tps": a.get("l0.tokens_per_second"),
        "duration": (span.end_time - span.start_time) / 1e9,
        "violations": a["l0.guardrail.violation_count"],
        "network_retries": a["l0.network.error_count"],
        "retries": a["l0.retry.count"],
    }


def sentry_facts(sentry) -> list[dict[str, Any]]:
    """The Sentry handler's facts: each stream's "L0 execution completed" breadcrumb
    (read from a real captured event), checked against its transaction."""
    sentry_sdk.capture_message("probe")
    sentry_sdk.flush(2)
    (probe,) = [e for e in sentry.items("event") if e.get("message") == "probe"]
    crumbs = [
        c["data"]
        for c in probe["breadcrumbs"]["values"]
        if c["message"] == "L0 execution completed"
    ]
    txs = sentry.items("transaction")
    assert len(txs) == len(crumbs)
    out = []
    for c, tx in zip(crumbs, txs, strict=True):
        assert tx["tags"]["l0.outcome"] == c["outcome"]
        duration = _iso(tx["timestamp"]) - _iso(tx["start_timestamp"])
        if c["duration_s"] is not None:
            assert duration == pytest.approx(c["duration_s"], abs=2e-6)
        out.append(context_facts(c))
    sentry_sdk.get_isolation_scope().clear()
    sentry_sdk.get_current_scope().clear()
    return out


def _iso(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def context_facts(c) -> dict[str, Any]:
    return {
        "outcome": c["outcome"],
        "model": c["model"],
        "tokens": c["token_count"],
        "ttft": c["time_to_first_token_s"],
        "tps": c["tokens_per_second"],
        "duration": c["duration_s"] or 0.0,
        "violations": c["guardrail_violations"],
        "network_retries": c["network_retries"],
        "retries": c["retries"],
    }


def same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, float) or isinstance(y, float):
            assert x is not None and y is not None, (key, a, b)
            assert x == pytest.approx(y, rel=1e-6, abs=1e-6), (key, a, b)
        else:
            assert x == y, (key, a, b)


def every_view(events, sdk, sentry) -> dict[str, list[dict[str, Any]]]:
    """Feed ``events`` to each sink alone, to the combined pipeline and to record -> replay."""
    out: dict[str, dict[str, Any]] = {}
    monitor = Monitor()
    for e in events:
        monitor.handle_event(e)
    monitor.close()
    out["monitor"] = [record_facts(r) for r in monitor.get_all_telemetry()]

    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    for e in events:
        otel(e)
    otel.close()
    out["otel"] = [span_facts(s) for s in sdk.finished()]
    sdk.spans.clear()

    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()))
    for e in events:
        handler(e)
    handler.close()
    sentry_sdk.flush(2)
    out["sentry"] = sentry_facts(sentry)
    sentry.envelopes = []

    combined_monitor = Monitor()
    otel2 = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    sentry2 = SentryHandler(Sentry(sentry_sdk, SentryConfig()))
    combined = Monitoring.combine(combined_monitor.handle_event, otel2, sentry2)
    for e in events:
        combined(e)
    combined.close()
    sentry_sdk.flush(2)
    out["combined.monitor"] = [record_facts(r) for r in combined_monitor.get_all_telemetry()]
    out["combined.otel"] = [span_facts(s) for s in sdk.finished()]
    out["combined.sentry"] = sentry_facts(sentry)
    sdk.spans.clear()
    sentry.envelopes = []

    # record -> replay, when the log is representable in JSON (NaN and infinities in
    # meta or context are not: a recorded log cannot carry them, so its input differs).
    lines = [event_to_json(e) for e in events]
    if all(
        (json.loads(line)["meta"], json.loads(line)["context"]) == (dict(e.meta), dict(e.context))
        for line, e in zip(lines, events, strict=True)
    ):
        replayed = Monitor()
        replay(lines, replayed)
        replayed.close()
        out["replay"] = [record_facts(r) for r in replayed.get_all_telemetry()]
    return out


def agree(views: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every sink saw the same streams, in the same order, with the same facts."""
    reference = views["monitor"]
    for name, facts in views.items():
        assert len(facts) == len(reference), (name, facts, reference)
        for a, b in zip(reference, facts, strict=True):
            try:
                same(a, b)
            except AssertionError as exc:
                raise AssertionError(f"view {name!r} disagrees with the Monitor: {exc}") from None
    return reference[0] if reference else {}


# -- the disagreement table, row by row ---------------------------------------------------


def test_retry_with_failure_type_network_is_a_network_retry_everywhere(sdk, sentry):
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.RETRY_ATTEMPT, 10, attempt=1, failureType="network"),
        ev(T.COMPLETE, 20),
    ]
    facts = agree(every_view(events, sdk, sentry))
    assert facts["network_retries"] == 1 and facts["retries"] == 1


def test_recoverable_error_then_silence_is_failed_everywhere_when_closed(sdk, sentry):
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.ERROR, 10, error="boom", recoveryStrategy="retry"),
    ]
    facts = agree(every_view(events, sdk, sentry))
    assert facts["outcome"] == "failed"


def test_fallback_model_is_the_record_model_and_the_span_response_model(sdk, sentry):
    events = [
        ev(T.SESSION_START, 0, model="gpt"),
        ev(T.ERROR, 10, error="down", recoveryStrategy="fallback"),
        ev(T.FALLBACK_START, 11),
        ev(T.FALLBACK_MODEL_SELECTED, 12, model="claude", index=1),
        ev(T.COMPLETE, 30),
    ]
    views = every_view(events, sdk, sentry)
    assert agree(views)["model"] == "claude"
    span_monitor = Monitor()
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    combined = Monitoring.combine(span_monitor.handle_event, otel)
    for e in events:
        combined(e)
    (span,) = sdk.finished()
    assert span.attributes["gen_ai.request.model"] == "gpt"  # as first requested
    assert span.attributes["gen_ai.response.model"] == "claude"  # the model that answered
    assert span.name == "chat gpt"


def test_the_same_violation_twice_counts_once_everywhere(sdk, sentry):
    v = {"rule": "pii", "message": "email", "severity": "error"}
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.GUARDRAIL_RULE_RESULT, 5, violation=v),
        ev(T.GUARDRAIL_RULE_RESULT, 6, violations=[v, dict(v)]),
        ev(T.COMPLETE, 20),
    ]
    assert agree(every_view(events, sdk, sentry))["violations"] == 1


def test_integral_float_token_count_counts_everywhere(sdk, sentry):
    events = [ev(T.SESSION_START, 0, model="m"), ev(T.COMPLETE, 20, tokenCount=12.0)]
    assert agree(every_view(events, sdk, sentry))["tokens"] == 12


@pytest.mark.parametrize("bad", [-1, 12.5, math.inf, math.nan, True, "12"])
def test_malformed_token_counts_are_ignored_everywhere(sdk, sentry, bad):
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.TOKEN, 5, token="a"),
        ev(T.COMPLETE, 20, tokenCount=bad),
    ]
    assert agree(every_view(events, sdk, sentry))["tokens"] == 1  # the TOKEN events counted


def test_ttft_is_measured_from_session_start_everywhere(sdk, sentry):
    events = [
        ev(T.STREAM_INIT, 0, model="m"),
        ev(T.SESSION_START, 1000),
        ev(T.TOKEN, 1500, token="a"),
        ev(T.COMPLETE, 1600),
    ]
    assert agree(every_view(events, sdk, sentry))["ttft"] == pytest.approx(0.5)


def test_tokens_per_second_is_the_final_attempts_rate_everywhere(sdk, sentry):
    # Attempt 1: two tokens, then 2 s of backoff; attempt 2: 56 tokens, 18 ms apart.
    events = [ev(T.SESSION_START, 0, model="m"), ev(T.TOKEN, 100), ev(T.TOKEN, 150)]
    events += [ev(T.RETRY_ATTEMPT, 200, attempt=1, isNetwork=False)]
    events += [ev(T.TOKEN, 2200 + 18 * i) for i in range(56)]
    events += [ev(T.COMPLETE, 2200 + 18 * 55 + 5)]
    facts = agree(every_view(events, sdk, sentry))
    assert facts["tps"] == pytest.approx(55 / (18 * 55 / 1000))  # ~55.6 tok/s
    assert facts["tokens"] == 56


def test_negative_ttft_is_none_never_clamped_everywhere(sdk, sentry):
    events = [
        ev(T.STREAM_INIT, 0, model="m"),
        ev(T.TOKEN, 10, token="a"),
        ev(T.SESSION_START, 50),
        ev(T.COMPLETE, 100),
    ]
    assert agree(every_view(events, sdk, sentry))["ttft"] is None


def test_event_types_of_another_enum_class_are_the_same_events(sdk, sentry):
    Foreign = enum.Enum("Foreign", {t.value: t.value for t in T})  # not a str subclass
    events = [
        ObservabilityEvent(Foreign.SESSION_START, T0, "s1", {}, {"model": "m"}),
        ObservabilityEvent(Foreign.TOKEN, T0 + 10, "s1", {}, {"token": "ab"}),
        ObservabilityEvent(Foreign.TOKEN, T0 + 20, "s1", {}, {"token": "cd"}),
        ObservabilityEvent(Foreign.COMPLETE, T0 + 30, "s1", {}, {}),
    ]
    facts = agree(every_view(events, sdk, sentry))
    assert facts["outcome"] == "completed" and facts["tokens"] == 2


# -- one fold in combine --------------------------------------------------------------------


def test_combine_folds_each_event_once_on_the_monitors_table(sdk, sentry):
    monitor = Monitor()
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    sentry_handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()))
    own_tables = (otel.table, sentry_handler.table)
    combined = Monitoring.combine(monitor.handle_event, otel, sentry_handler)
    assert otel.table is monitor.table and sentry_handler.table is monitor.table
    assert monitor.table.listeners == (monitor, otel, sentry_handler)
    for e in make_runtime_events("a") + make_runtime_events("b"):
        combined(e)
    assert monitor.stats()["streams_finished"] == 2
    assert [t.stats()["streams_started"] for t in own_tables] == [0, 0]
    assert len(sdk.finished()) == 2


def test_combine_shares_the_monitors_table_whatever_the_order(sdk, sentry):
    monitor = Monitor()
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    sentry_handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()))
    combined = Monitoring.combine(otel, sentry_handler, monitor)
    assert otel.table is monitor.table and sentry_handler.table is monitor.table
    for e in make_runtime_events("a"):
        combined(e)
    assert monitor.stats()["streams_finished"] == 1 and len(sdk.finished()) == 1


def test_a_handler_that_already_saw_events_keeps_its_own_table(sdk):
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    otel(ev(T.SESSION_START, 0, sid="early"))
    monitor = Monitor()
    combined = Monitoring.combine(monitor.handle_event, otel)
    assert otel.table is not monitor.table
    combined(ev(T.COMPLETE, 5, sid="early"))
    assert len(sdk.finished()) == 1  # its own stream ended on its own table


# -- collect_* flags switch a section off everywhere ---------------------------------------


def test_collect_flags_blank_records_aggregates_and_prometheus_alike():
    cfg = MonitoringConfig(
        metrics=MetricsConfig(
            collect_tokens=False,
            collect_timing=False,
            collect_errors=False,
            collect_retries=False,
            collect_guardrails=False,
        )
    )
    monitor = Monitor(cfg)
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.RETRY_ATTEMPT, 5, attempt=1, isNetwork=True),
        ev(T.GUARDRAIL_RULE_RESULT, 6, violation={"rule": "r", "severity": "error"}),
        ev(T.TOKEN, 10, token="a"),
        ev(T.TOKEN, 20, token="b"),
        ev(T.ERROR, 30, error="bad", failureType="model", recoveryStrategy="halt"),
    ]
    for e in events:
        monitor.handle_event(e)
    (t,) = monitor.get_all_telemetry()
    assert t.metrics.token_count == 0 and t.content_length == 0
    assert t.metrics.time_to_first_token is None and t.metrics.tokens_per_second is None
    assert t.error.occurred is False and t.error.message is None
    assert t.retries.total_retries == 0 and t.guardrails.violations == []
    agg = monitor.get_aggregate_metrics()
    assert agg["total_tokens"] == 0 and agg["avg_ttft"] is None
    assert agg["error_count"] == 0 and agg["total_retries"] == 0
    assert TelemetryExporter.to_prometheus(monitor) == TelemetryExporter.to_prometheus([t])


def test_a_non_finite_timestamp_never_poisons_a_stream_or_the_totals():
    monitor = Monitor()
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ObservabilityEvent(T.TOKEN, -math.inf, "s1", {}, {}),
        ObservabilityEvent(T.TOKEN, math.nan, "s1", {}, {}),
        ObservabilityEvent(T.TOKEN, "soon", "s1", {}, {}),  # type: ignore[arg-type]
        ev(T.TOKEN, 10),
        ev(T.COMPLETE, 20),
    ]
    for e in events:
        monitor.handle_event(e)
    stats = monitor.stats()
    assert stats["malformed_events"] == 3 and stats["streams_finished"] == 1
    (t,) = monitor.get_all_telemetry()
    assert t.timing.duration == pytest.approx(0.02) and t.metrics.token_count == 1
    agg = monitor.get_aggregate_metrics()
    assert agg["count"] == 1 and math.isfinite(agg["total_duration"])
    monitor.close()


# -- idle streams end in every sink ----------------------------------------------------------


def test_an_idle_stream_ends_as_abandoned_in_every_sink_within_idle_timeout_plus_one(sdk, sentry):
    clock = ManualClock(100.0)
    monitor = Monitor(MonitoringConfig(idle_timeout=5.0), _clock=clock)
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    sentry_handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()))
    combined = Monitoring.combine(monitor.handle_event, otel, sentry_handler)
    combined(ev(T.SESSION_START, 0, model="m"))
    combined(ev(T.TOKEN, 10, token="a"))
    clock.advance(4.9)
    assert monitor.stats()["in_flight"] == 1 and sdk.finished() == []
    clock.advance(1.1)  # idle_timeout + 1 s after the last event
    stats = monitor.stats()
    assert stats["in_flight"] == 0 and stats["streams_idle"] == 1
    (t,) = monitor.get_all_telemetry()
    assert t.outcome == "abandoned"
    (span,) = sdk.finished()
    assert span.attributes["l0.outcome"] == "abandoned"
    sentry_sdk.flush(2)
    (tx,) = sentry.items("transaction")
    assert tx["contexts"]["trace"]["status"] == "cancelled"
    assert clock.pending == 0  # the sweep stops while nothing is in flight


def test_an_active_stream_is_not_ended_by_the_idle_sweep():
    clock = ManualClock()
    monitor = Monitor(MonitoringConfig(idle_timeout=2.0), _clock=clock)
    monitor.handle_event(ev(T.SESSION_START, 0))
    for i in range(20):
        clock.advance(0.5)
        monitor.handle_event(ev(T.TOKEN, 500 * i + 1))
    assert monitor.stats()["in_flight"] == 1
    clock.advance(3.0)
    assert monitor.stats()["in_flight"] == 0


def test_handlers_alone_take_an_idle_timeout_keyword(sdk, sentry):
    clock = ManualClock()
    otel = OpenTelemetryHandler(
        OpenTelemetry(sdk.tracer, sdk.meter, OpenTelemetryConfig()), idle_timeout=1.0, _clock=clock
    )
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()), idle_timeout=1.0, _clock=clock)
    for h in (otel, handler):
        h(ev(T.SESSION_START, 0, sid="quiet"))
    clock.advance(2.0)
    assert len(sdk.finished()) == 1
    sentry_sdk.flush(2)
    assert len(sentry.items("transaction")) == 1
    assert Monitoring.opentelemetry(sdk.tracer, idle_timeout=7.0).idle_timeout == 7.0
    assert Monitoring.sentry(sentry_sdk, idle_timeout=8.0).idle_timeout == 8.0


def test_session_end_finishes_the_sentry_transaction(sentry):
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()))
    handler(ev(T.SESSION_START, 0, model="m"))
    handler(ev(T.SESSION_END, 50))
    sentry_sdk.flush(2)
    (tx,) = sentry.items("transaction")
    assert tx["contexts"]["trace"]["status"] == "ok"
    assert handler.stats()["open_streams"] == 0


# -- differential property test ------------------------------------------------------------

_TYPES = [
    T.SESSION_START, T.STREAM_INIT, T.ATTEMPT_START, T.TOKEN, T.TOKEN, T.TOKEN,
    T.TIMEOUT_RESET, T.RETRY_ATTEMPT, T.FALLBACK_START, T.FALLBACK_MODEL_SELECTED,
    T.GUARDRAIL_RULE_START, T.GUARDRAIL_RULE_RESULT, T.DRIFT_CHECK_RESULT, T.ERROR,
    T.NETWORK_ERROR, T.COMPLETE, T.ABORT_COMPLETED, T.SESSION_END, T.RETRY_GIVE_UP,
]  # fmt: skip
_np = pytest.importorskip("numpy")
_hostile = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 50), st.floats(allow_nan=True),
    st.text(max_size=5), st.sampled_from(["network", "halt", "retry", "inter", "m1", "m2"]),
    # r12b: huge ints, numpy numbers and bools, Decimal and Fraction
    st.integers(2**53 - 2, 2**53 + 2), st.just(10**400), st.just(-(10**400)),
    st.integers(-5, 50).map(_np.int64), st.floats(allow_nan=True).map(_np.float64),
    st.booleans().map(_np.bool_), st.decimals(allow_nan=True, places=1),
    st.fractions(max_denominator=3),
)  # fmt: skip
_many_violations = st.integers(0, 130).map(
    lambda n: [{"rule": f"r{i}", "message": "m", "severity": ("warning", "error")[i % 2]}
               for i in range(n)]
)  # fmt: skip
_meta = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["m1", "m2", ""]) | _hostile,
        "tokenCount": _hostile,
        "isNetwork": _hostile,
        "failureType": _hostile,
        "recoveryStrategy": st.sampled_from(["retry", "halt", "fallback"]) | _hostile,
        "timeoutType": st.sampled_from(["inter", "initial"]),
        "violation": st.fixed_dictionaries(
            {"rule": st.sampled_from(["a", "b"]), "severity": st.sampled_from(["error", "warning"])}
        ),
        "violations": _many_violations,
        "detected": st.booleans() | st.booleans().map(_np.bool_),
        "attempt": _hostile,
        "maxAttempts": _hostile,
        "contentLength": _hostile,
        "token": st.text(max_size=3),
    },
)
_ctx = st.fixed_dictionaries({}, optional={"model": st.sampled_from(["c1", "c2", ""]) | _hostile})
# Steps may go back in time (out-of-order terminal events included).
_step = st.tuples(st.sampled_from(_TYPES), st.floats(-300, 500), _meta, _ctx)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_step, min_size=1, max_size=14))
def test_every_sink_agrees_on_hostile_event_logs(sdk, sentry, steps):
    sdk.spans.clear()  # a previous (failing) example's leftovers
    sentry.envelopes = []
    _clear_scopes()
    events = []
    ts = 1000.0
    for t, dt, meta, ctx in steps:
        ts += dt
        events.append(ev(t, ts, ctx=ctx, **meta))
    agree(every_view(events, sdk, sentry))
    # every stream's requested model (the span's) is the first model known
    monitor = Monitor()
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    combined = Monitoring.combine(monitor.handle_event, otel)
    for e in events:
        combined(e)
    combined.close()
    spans = sdk.finished()
    lifetimes = _lifetimes(events)
    assert len(spans) == len(lifetimes)
    for span, lifetime in zip(spans, lifetimes, strict=True):
        assert span.end_time >= span.start_time
        requested = span.attributes.get("gen_ai.request.model")
        assert requested == _first_model(lifetime), (requested, lifetime)
    sdk.spans.clear()
    assert monitor.stats()["internal_errors"] == 0


_MODEL_TYPES = {"SESSION_START", "ATTEMPT_START", "STREAM_INIT", "FALLBACK_START",
                "FALLBACK_MODEL_SELECTED", "COMPLETE"}  # fmt: skip


def _clear_scopes() -> None:
    sentry_sdk.get_isolation_scope().clear()
    sentry_sdk.get_current_scope().clear()


def _lifetimes(events) -> list[list[Any]]:
    """One stream id's events split into its lifetimes (a stream ends at a terminal event
    or a halting ERROR; after that only SESSION_START opens the id again)."""
    from l0_monitoring._internal.fold import TERMINAL_TYPES
    from l0_monitoring._internal.meta import recovery_strategy

    out: list[list[Any]] = []
    current: list[Any] | None = None
    for e in events:
        t = e.type.value
        if current is None:
            if out and t != "SESSION_START":
                continue  # a late event
            current = []
            out.append(current)
        current.append(e)
        if t in TERMINAL_TYPES or (t == "ERROR" and recovery_strategy(e.meta) == "halt"):
            current = None
    return out


def _first_model(events) -> str | None:
    """The first model an event names in its context or meta (rule 5)."""
    from l0_monitoring._internal.fold import RULES
    from l0_monitoring._internal.meta import text  # names: as the recorder writes them

    for e in events:
        if e.type.value == "TOKEN" or e.type.value not in RULES:
            continue  # context and meta models are read from lifecycle events
        reads_meta = e.type.value in _MODEL_TYPES  # the rules that read meta's model
        for source in (e.context, e.meta) if reads_meta else (e.context,):
            model = text(source.get("model"), 200)
            if model is not None:
                return model
    return None


_FLAGS = ("collect_tokens", "collect_timing", "collect_retries", "collect_guardrails",
          "collect_errors")  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(_step, min_size=1, max_size=10),
    flags=st.fixed_dictionaries({f: st.booleans() for f in _FLAGS}),
)
def test_every_sink_applies_the_collect_flags_alike(sdk, sentry, steps, flags):
    sdk.spans.clear()  # a previous (failing) example's leftovers
    sentry.envelopes = []
    _clear_scopes()
    events = []
    ts = 1000.0
    for t, dt, meta, ctx in steps:
        ts += dt
        events.append(ev(t, ts, ctx=ctx, **meta))
    monitor = Monitor(MonitoringConfig(metrics=MetricsConfig(**flags)))
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()))
    combined = Monitoring.combine(monitor.handle_event, otel, handler)
    for e in events:
        combined(e)
    combined.close()
    sentry_sdk.flush(2)
    records = [record_facts(r) for r in monitor.get_all_telemetry()]
    spans = sdk.finished()
    for a, b in zip(records, [span_facts(s) for s in spans], strict=True):
        same(a, b)
    for a, b in zip(records, sentry_facts(sentry), strict=True):
        same(a, b)
    names = {e.name for s in spans for e in s.events}
    if not flags["collect_retries"]:
        assert not names & {"l0.retry", "l0.network_error"}
    if not flags["collect_timing"]:
        assert "l0.first_token" not in names
    if not flags["collect_guardrails"]:
        assert "l0.guardrail_violation" not in names
    if not flags["collect_errors"]:
        assert not [s for s in spans if "error.type" in s.attributes]
    sdk.spans.clear()
    sentry.envelopes = []


@pytest.mark.parametrize("scenario", ["normal", "retry", "halt", "guardrail", "timeout"])
async def test_every_sink_agrees_on_logs_recorded_from_the_real_l0_run(sdk, sentry, scenario):
    from .l0_streams import Retry, Timeout, banned_word_rule, flaky, run_l0, tokens

    log: list[Any] = []
    texts = ["Hello", " there", ",", " friend", "!"]
    kwargs: dict[str, Any] = {"stream": lambda: tokens(texts, delay=0.002)}
    if scenario == "retry":
        kwargs = {
            "stream": flaky(texts, ConnectionError("connection reset")),
            "retry": Retry(attempts=3, base_delay=0.001),
        }
    elif scenario == "halt":
        kwargs = {
            "stream": lambda: tokens(texts, fail_at=1, exc=ValueError("boom")),
            "retry": Retry(attempts=2, base_delay=0.001),
        }
    elif scenario == "guardrail":
        kwargs["guardrails"] = [banned_word_rule("friend")]
    elif scenario == "timeout":
        kwargs["timeout"] = Timeout(initial_token=5000, inter_token=5000)
    await run_l0(log.append, context={"model": "gpt-4o"}, **kwargs)
    assert log, "the runtime emitted events"
    agree(every_view(log, sdk, sentry))


async def test_a_consumer_breaking_out_of_l0_run_early_leaves_no_span_open(sdk):
    import l0

    from .l0_streams import tokens

    clock = ManualClock()
    otel = OpenTelemetryHandler(
        OpenTelemetry(sdk.tracer, sdk.meter), idle_timeout=30.0, _clock=clock
    )
    result = await l0.run(stream=lambda: tokens(["a", "b", "c", "d"] * 50), on_event=otel)
    async for _ in result:
        break  # the consumer walks away; the runtime emits nothing more
    assert otel.open_streams == 1 and sdk.finished() == []
    clock.advance(31.0)
    (span,) = sdk.finished()
    assert span.attributes["l0.outcome"] == "abandoned" and otel.open_streams == 0


_garbage_type = st.one_of(
    st.sampled_from(_TYPES), st.text(max_size=4), st.integers(), st.none(),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers()),
)  # fmt: skip
_garbage_ts = st.one_of(
    st.floats(0, 1e3), st.floats(allow_nan=True), st.text(max_size=3), st.none(), st.booleans()
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(_garbage_type, _garbage_ts, st.sampled_from(["s1", "s2", "", None]), _meta),
        max_size=12,
    )
)
def test_garbage_events_never_raise_through_the_combined_pipeline_in_strict_mode(
    sdk, sentry, steps
):
    sdk.spans.clear()  # a failed earlier example must not count here
    monitor = Monitor()
    combined = Monitoring.combine(
        monitor.handle_event,
        OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter)),
        SentryHandler(Sentry(sentry_sdk, SentryConfig())),
    )
    for t, ts, sid, meta in steps:
        combined(ObservabilityEvent(t, T0 + ts if isinstance(ts, float) else ts, sid, {}, meta))
    combined.close()
    stats = monitor.stats()
    assert stats["internal_errors"] == 0 and stats["listener_errors"] == 0
    assert stats["in_flight"] == 0
    assert len(sdk.finished()) == stats["streams_finished"]
    sdk.spans.clear()


def test_eviction_ends_the_span_and_finishes_the_transaction(sdk, sentry):
    otel = OpenTelemetryHandler(
        OpenTelemetry(sdk.tracer, sdk.meter, OpenTelemetryConfig(max_streams=2))
    )
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()), max_streams=2)
    for h in (otel, handler):
        for i in range(3):
            h(ev(T.SESSION_START, i, sid=f"s{i}", model="m"))
    (span,) = sdk.finished()
    assert span.attributes["l0.outcome"] == "abandoned"
    sentry_sdk.flush(2)
    (tx,) = sentry.items("transaction")
    assert tx["contexts"]["trace"]["status"] == "cancelled"
    assert otel.open_streams == 2 and handler.stats()["open_streams"] == 2


# -- review r12b: numbers, meta, models, violations, flags --------------------------------

np = pytest.importorskip("numpy")


def _stats_of(events) -> dict[str, int]:
    monitor = Monitor()
    for e in events:
        monitor.handle_event(e)
    monitor.close()
    assert monitor.get_aggregate_metrics() is not None  # read APIs never raise
    TelemetryExporter.to_prometheus(monitor)
    return monitor.stats()


@pytest.mark.parametrize(
    "field", ["tokenCount", "contentLength"], ids=["token_count", "content_length"]
)
@pytest.mark.parametrize("huge", [10**400, 2**53, float(2**60)], ids=["1e400", "2**53", "2**60."])
def test_a_huge_count_is_malformed_counted_and_ignored_everywhere(sdk, sentry, field, huge):
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.TOKEN, 5, token="a"),
        ev(T.COMPLETE, 20, **{field: huge}),
    ]
    assert agree(every_view(events, sdk, sentry))["tokens"] == 1
    assert _stats_of(events)["malformed_events"] == 1


def test_the_largest_count_is_max_count_and_it_is_exported_as_read(sdk, sentry):
    from l0_monitoring._internal.meta import MAX_COUNT

    assert MAX_COUNT == 2**53 - 1
    events = [ev(T.SESSION_START, 0, model="m"), ev(T.COMPLETE, 20, tokenCount=MAX_COUNT)]
    assert agree(every_view(events, sdk, sentry))["tokens"] == MAX_COUNT
    assert _stats_of(events)["malformed_events"] == 0


@pytest.mark.parametrize("key", ["attempt", "maxAttempts"])
def test_huge_attempt_numbers_are_malformed_and_ignored(key):
    monitor = Monitor()
    for e in [
        ev(T.SESSION_START, 0, model="m", **{key: 10**400}),
        ev(T.RETRY_START, 1, **{key: 10**400}),
        ev(T.RETRY_ATTEMPT, 2, **{key: -3}),
        ev(T.COMPLETE, 20),
    ]:
        monitor.handle_event(e)
    (t,) = monitor.get_all_telemetry()
    assert t.retries.attempt < 10 and t.retries.max_attempts < 10
    stats = monitor.stats()
    # attempt is read by SESSION_START and RETRY_ATTEMPT, maxAttempts by RETRY_START
    assert stats["malformed_events"] == {"attempt": 2, "maxAttempts": 1}[key]
    assert stats["internal_errors"] == 0


def _numbers():
    return [
        np.int64(7), np.int32(7), np.uint8(7), np.float64(7.0), np.float32(7.0),
        Decimal("7"), Decimal("7.0"), Fraction(14, 2), 7, 7.0,
    ]  # fmt: skip


@pytest.mark.parametrize("seven", _numbers(), ids=repr)
def test_one_number_rule_for_token_counts_numpy_and_decimal_count_alike(sdk, sentry, seven):
    events = [ev(T.SESSION_START, 0, model="m"), ev(T.COMPLETE, 20, tokenCount=seven)]
    assert agree(every_view(events, sdk, sentry))["tokens"] == 7
    assert _stats_of(events)["malformed_events"] == 0


@pytest.mark.parametrize(
    "bad", [np.float64(7.5), np.bool_(True), np.float64("nan"), Decimal("NaN")], ids=repr
)
def test_numbers_the_rule_rejects_are_counted_malformed(sdk, sentry, bad):
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.TOKEN, 5, token="a"),
        ev(T.COMPLETE, 20, tokenCount=bad),
    ]
    assert agree(every_view(events, sdk, sentry))["tokens"] == 1
    assert _stats_of(events)["malformed_events"] == 1


@pytest.mark.parametrize(
    "conv",
    [np.int64, np.float64, Decimal, Fraction],
    ids=["np.int64", "np.float64", "Decimal", "Fraction"],
)
def test_numpy_and_decimal_timestamps_are_the_same_stream_everywhere(sdk, sentry, conv):
    plain = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.TOKEN, 100, token="a"),
        ev(T.TOKEN, 150, token="b"),
        ev(T.COMPLETE, 400, tokenCount=2),
    ]
    odd = [ObservabilityEvent(e.type, conv(int(e.ts)), e.stream_id, {}, e.meta) for e in plain]
    expected = agree(every_view(plain, sdk, sentry))
    got = agree(every_view(odd, sdk, sentry))
    same(expected, got)
    assert got["duration"] == pytest.approx(0.4) and _stats_of(odd)["malformed_events"] == 0


def test_numpy_bool_is_network_is_a_network_retry_everywhere(sdk, sentry):
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.RETRY_ATTEMPT, 10, attempt=np.int64(1), isNetwork=np.bool_(True)),
        ev(T.COMPLETE, 20),
    ]
    facts = agree(every_view(events, sdk, sentry))
    assert facts["network_retries"] == 1 and facts["retries"] == 1


@pytest.mark.parametrize("meta", [None, ["a"], "abc", 7], ids=repr)
def test_a_token_with_non_mapping_meta_counts_as_an_empty_one(sdk, sentry, meta):
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.TOKEN, 5, token="a"),
        ObservabilityEvent(T.TOKEN, T0 + 6, "s1", {}, meta),  # type: ignore[arg-type]
        ObservabilityEvent(T.TOKEN, T0 + 7, "s1", {}, meta),  # type: ignore[arg-type]
        ev(T.COMPLETE, 20),
    ]
    monitor = Monitor(raise_internal_errors=True)
    for e in events:
        monitor.handle_event(e)
    (t,) = monitor.get_all_telemetry()
    assert t.metrics.token_count == 3 and t.content_length == 1
    assert monitor.stats()["internal_errors"] == 0
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    sentry_handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()))
    combined = Monitoring.combine(Monitor().handle_event, otel, sentry_handler)
    for e in events:
        combined(e)
    (span,) = sdk.finished()
    assert span.attributes["gen_ai.usage.output_tokens"] == 3


def test_the_requested_model_is_the_first_known_from_context_or_meta_everywhere(sdk, sentry):
    ctx = {"model": "gpt"}
    events = [
        ev(T.SESSION_START, 0, ctx=ctx),
        ev(T.ERROR, 10, ctx=ctx, error="down", recoveryStrategy="fallback"),
        ev(T.FALLBACK_START, 11, ctx=ctx),
        ev(T.FALLBACK_MODEL_SELECTED, 12, ctx=ctx, model="claude", index=1),
        ev(T.COMPLETE, 30, ctx=ctx),
    ]
    assert agree(every_view(events, sdk, sentry))["model"] == "claude"
    monitor = Monitor()
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig(enable_tracing=True)))
    combined = Monitoring.combine(monitor.handle_event, otel, handler)
    for e in events:
        combined(e)
    (span,) = sdk.finished()
    assert span.attributes["gen_ai.request.model"] == "gpt"
    assert span.attributes["gen_ai.response.model"] == "claude"
    assert span.name == "chat gpt"
    sentry_sdk.flush(2)
    (tx,) = sentry.items("transaction")
    assert tx["transaction"] == "l0.stream gpt"


@pytest.mark.parametrize("terminal", [T.COMPLETE, T.ABORT_COMPLETED, T.SESSION_END])
def test_a_terminal_event_before_the_start_ends_spans_and_transactions_at_the_start(
    sdk, sentry, terminal
):
    events = [
        ev(T.SESSION_START, 1000, model="m"),
        ev(T.TOKEN, 1100, token="a"),
        ev(terminal, 600),  # out of order: 0.4 s before the start
    ]
    # every view: a span lasts the record's duration, or 0 where it is None
    assert agree(every_view(events, sdk, sentry))["duration"] == 0.0
    monitor = Monitor()
    for e in events:
        monitor.handle_event(e)
    (record,) = monitor.get_all_telemetry()
    assert record.timing.duration is None
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig(enable_tracing=True)))
    for e in events:
        handler(e)
    sentry_sdk.flush(2)
    (tx,) = sentry.items("transaction")
    assert _iso(tx["timestamp"]) == _iso(tx["start_timestamp"])
    # the record -> OpenTelemetry exporter path ends its span at the start too
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from l0_monitoring.otel.exporter import OpenTelemetryExporter, OpenTelemetryExporterConfig

    monitor = Monitor()
    for e in events:
        monitor.handle_event(e)
    sink = InMemorySpanExporter()
    exporter = OpenTelemetryExporter(
        OpenTelemetryExporterConfig.from_env({}, metrics_enabled=False, batch_export=False),
        _span_exporter=sink,
    )
    exporter.export(monitor.get_all_telemetry()[0])
    exporter.shutdown(5)
    (span,) = sink.get_finished_spans()
    assert span.end_time == span.start_time


def _flagged_run(sdk, metrics: MetricsConfig, events) -> Any:
    """Feed ``events`` through combine(Monitor(metrics), otel, sentry); the stream's span."""
    monitor = Monitor(MonitoringConfig(metrics=metrics))
    otel = OpenTelemetryHandler(
        OpenTelemetry(sdk.tracer, sdk.meter, OpenTelemetryConfig(trace_tokens=True))
    )
    handler = SentryHandler(
        Sentry(sentry_sdk, SentryConfig(enable_tracing=True, breadcrumbs_for_tokens=True))
    )
    combined = Monitoring.combine(monitor.handle_event, otel, handler)
    for e in events:
        combined(e)
    combined.close()
    sentry_sdk.capture_message("probe")
    sentry_sdk.flush(2)
    (span,) = sdk.finished()
    return span


_FLAG_EVENTS = [
    ev(T.SESSION_START, 0, model="m"),
    ev(T.TOKEN, 5, token="secret-ish"),
    ev(T.RETRY_ATTEMPT, 10, attempt=1, reason="rate limited by upstream", isNetwork=False),
    ev(T.NETWORK_ERROR, 11, error="reset by 10.0.0.7", code="ECONNRESET", retryable=False),
    ev(T.TOKEN, 20, token="b"),
    ev(T.ERROR, 30, error=RuntimeError("db password=hunter2"), errorCode="E1",
       failureType="model", recoveryStrategy="halt"),
]  # fmt: skip


def _crumbs(sentry) -> list[dict[str, Any]]:
    (probe,) = [e for e in sentry.items("event") if e.get("message") == "probe"]
    return probe["breadcrumbs"]["values"]


def test_collect_retries_off_leaves_no_retry_or_network_trace_in_any_sink(sdk, sentry):
    span = _flagged_run(sdk, MetricsConfig(collect_retries=False), _FLAG_EVENTS)
    names = [e.name for e in span.events]
    assert "l0.retry" not in names and "l0.network_error" not in names
    assert "l0.first_token" in names  # other sections stay on
    crumbs = _crumbs(sentry)
    assert not [c for c in crumbs if c.get("category") in ("l0.retry", "l0.network")]
    assert "rate limited" not in json.dumps(sentry.items("event"))
    assert "10.0.0.7" not in json.dumps(sentry.items("event"))


def test_collect_errors_off_captures_a_failure_without_any_error_text(sdk, sentry):
    span = _flagged_run(sdk, MetricsConfig(collect_errors=False), _FLAG_EVENTS)
    assert "error.type" not in span.attributes
    events = [e for e in sentry.items("event") if e.get("message") != "probe"]
    dumped = json.dumps(events)
    assert "hunter2" not in dumped and "10.0.0.7" not in dumped and "E1" not in dumped
    failures = [e for e in events if "execution-failure" in e.get("fingerprint", [])]
    assert len(failures) == 1
    (exc,) = failures[0]["exception"]["values"]
    assert exc["value"] == "L0 execution failed"  # the documented generic capture


def test_collect_timing_and_tokens_off_leave_no_first_token_or_token_events(sdk, sentry):
    span = _flagged_run(
        sdk, MetricsConfig(collect_timing=False, collect_tokens=False), _FLAG_EVENTS
    )
    names = {e.name for e in span.events}
    assert "l0.first_token" not in names and "l0.token" not in names
    assert not [c for c in _crumbs(sentry) if c.get("category") == "l0.token"]


@pytest.mark.parametrize(("distinct", "counted"), [(150, 150), (2000, 1024)])
def test_one_violation_count_everywhere_past_the_hundred_listed(sdk, sentry, distinct, counted):
    from prometheus_client.parser import text_string_to_metric_families

    severities = ["warning", "error", "fatal"]
    vs = [{"rule": f"r{i}", "message": "m", "severity": severities[i % 3]} for i in range(distinct)]
    events = [ev(T.SESSION_START, 0, model="m")]
    events += [
        ev(T.GUARDRAIL_RULE_RESULT, 1 + i // 50, violations=vs[i : i + 50])
        for i in range(0, distinct, 50)
    ]
    events.append(ev(T.COMPLETE, 100))
    monitor = Monitor()
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig(enable_tracing=True)))
    combined = Monitoring.combine(monitor.handle_event, otel, handler)
    for e in events:
        combined(e)
    (t,) = monitor.get_all_telemetry()
    assert len(t.guardrails.violations) == 100 and t.guardrails.violation_count == counted
    (span,) = sdk.finished()
    assert span.attributes["l0.guardrail.violation_count"] == counted
    assert context_facts(_crumbs_completed(sentry))["violations"] == counted

    def by_severity(text: str) -> dict[str, float]:
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        return {
            s.labels["severity"]: s.value
            for s in fams["l0_guardrail_violations"].samples
            if s.name == "l0_guardrail_violations_total" and s.value
        }

    live = by_severity(TelemetryExporter.to_prometheus(monitor))
    assert sum(live.values()) == counted
    expected = {s: sum(1 for i in range(counted) if severities[i % 3] == s) for s in severities}
    assert live == expected  # exact per severity, up to the cap
    from_records = by_severity(TelemetryExporter.to_prometheus([t]))
    assert sum(from_records.values()) == counted  # the total agrees; past the list: _other
    assert from_records.get("_other", 0) == counted - 100
    again = type(t).model_validate_json(t.model_dump_json())
    assert again.guardrails.total == counted


def _crumbs_completed(sentry) -> dict[str, Any]:
    sentry_sdk.capture_message("probe")
    sentry_sdk.flush(2)
    (probe,) = [e for e in sentry.items("event") if e.get("message") == "probe"]
    (crumb,) = [
        c for c in probe["breadcrumbs"]["values"] if c["message"] == "L0 execution completed"
    ]
    return crumb["data"]


def test_a_capture_made_mid_stream_claims_no_outcome(sdk, sentry):
    events = [
        ev(T.SESSION_START, 0, model="m"),
        ev(T.TOKEN, 5, token="a"),
        ev(
            T.GUARDRAIL_RULE_RESULT,
            6,
            violation={"rule": "pii", "message": "x", "severity": "fatal"},
        ),
        ev(T.NETWORK_ERROR, 7, error="reset", code="ECONNRESET", retryable=False),
        ev(T.TOKEN, 8, token="b"),
        ev(T.COMPLETE, 20),
    ]
    monitor = Monitor()
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig(capture_network_errors=True)))
    combined = Monitoring.combine(monitor.handle_event, handler)
    for e in events:
        combined(e)
    sentry_sdk.flush(2)
    captured = [e for e in sentry.items("event") if "l0" in e.get("contexts", {})]
    assert len(captured) == 2  # the violation and the unretried network error
    for event in captured:
        l0 = event["contexts"]["l0"]
        assert l0["outcome"] == "in_progress" and l0["in_flight"] is True
        assert l0["completed"] is None and l0["aborted"] is None and l0["duration_s"] is None
    (t,) = monitor.get_all_telemetry()
    assert t.outcome == "completed"
    final = _crumbs_completed(sentry)
    assert final["outcome"] == "completed"


@pytest.mark.parametrize("terminal", ["halt", "give_up"])
def test_a_missing_error_category_is_unknown_in_every_sink(sdk, sentry, terminal):
    events = [ev(T.SESSION_START, 0, model="m")]
    if terminal == "halt":
        events.append(ev(T.ERROR, 10, error="boom", recoveryStrategy="halt"))
    else:
        events.append(ev(T.RETRY_GIVE_UP, 10, lastError="boom"))
    monitor = Monitor()
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig()))
    combined = Monitoring.combine(monitor.handle_event, otel, handler)
    for e in events:
        combined(e)
    (t,) = monitor.get_all_telemetry()
    assert t.error.occurred and t.error.category == "unknown"
    assert monitor.get_aggregate_metrics()["error_count"] == 1  # a give-up is an error
    (span,) = sdk.finished()
    assert span.attributes["error.type"] == "unknown"
    text = TelemetryExporter.to_prometheus(monitor)
    assert 'category="unknown"' in text
    assert 'category="unknown"' in TelemetryExporter.to_prometheus([t])
    sentry_sdk.flush(2)
    (failure,) = [e for e in sentry.items("event") if "execution-failure" in e["fingerprint"]]
    assert failure["fingerprint"][2] == "unknown"


@pytest.mark.parametrize("which", ["otel", "sentry"])
def test_closing_one_attached_handler_ends_only_its_own_view(sdk, sentry, which):
    monitor = Monitor()
    otel = OpenTelemetryHandler(OpenTelemetry(sdk.tracer, sdk.meter))
    handler = SentryHandler(Sentry(sentry_sdk, SentryConfig(enable_tracing=True)))
    combined = Monitoring.combine(monitor.handle_event, otel, handler)
    combined(ev(T.SESSION_START, 0, model="m"))
    combined(ev(T.TOKEN, 5, token="a"))
    closed, other = (otel, handler) if which == "otel" else (handler, otel)
    closed.close()
    assert monitor.stats()["in_flight"] == 1  # the Monitor keeps its stream
    combined(ev(T.TOKEN, 6, token="b"))
    combined(ev(T.COMPLETE, 20))
    (t,) = monitor.get_all_telemetry()
    assert t.outcome == "completed" and t.metrics.token_count == 2
    spans = sdk.finished()
    sentry_sdk.flush(2)
    txs = sentry.items("transaction")
    assert len(spans) == 1 and len(txs) == 1  # each view ended exactly once
    if which == "otel":
        assert spans[0].attributes["l0.outcome"] == "abandoned"
        assert txs[0]["tags"]["l0.outcome"] == "completed"
    else:
        assert txs[0]["tags"]["l0.outcome"] == "abandoned"
        assert spans[0].attributes["l0.outcome"] == "completed"
    assert other.stats()["open_streams"] == 0 and closed.stats()["open_streams"] == 0
    closed(ev(T.SESSION_START, 30, sid="s2"))  # a closed handler ignores events
    assert monitor.stats()["streams_started"] == 1


def _start_naming(model: object, where: str):
    """A SESSION_START naming ``model`` in its meta or in its context."""
    if where == "meta":
        return ev(T.SESSION_START, 0, model=model)
    return ev(T.SESSION_START, 0, ctx={"model": model})


@pytest.mark.parametrize(
    "model", [_np.float64("inf"), float("inf"), Decimal("Infinity"), float("nan")]
)
@pytest.mark.parametrize("where", ["meta", "context"])
def test_a_non_finite_number_as_model_reads_alike_in_every_sink(sdk, sentry, model, where):
    """Found by the hostile-log property: ``context={"model": float64(inf)}`` was replayed
    from a log that cannot carry it (the recorder writes null), and compared anyway."""
    _clear_scopes()
    views = every_view([_start_naming(model, where)], sdk, sentry)
    assert "replay" not in views  # the log cannot carry the number: nothing to compare
    agree(views)
    assert views["monitor"][0]["model"] is None  # a number with no JSON value names nothing


@pytest.mark.parametrize(
    ("model", "read"),
    [(Fraction(0), "0.0"), (Decimal("1.5"), "1.5"), (_np.float64(2), "2.0"), (7, "7"),
     (_np.int64(7), "7"), (True, "True"), ("", None)],
)  # fmt: skip
@pytest.mark.parametrize("where", ["meta", "context"])
def test_a_model_given_as_a_number_reads_the_same_live_and_replayed(
    sdk, sentry, model, read, where
):
    """Found by the hostile-log property: ``Fraction(0)`` read "0" live and "0.0" replayed
    (the recorder writes it as 0.0); a name is read as the JSON value recorded for it."""
    _clear_scopes()
    views = every_view([_start_naming(model, where)], sdk, sentry)
    assert "replay" in views
    agree(views)
    assert views["monitor"][0]["model"] == read
