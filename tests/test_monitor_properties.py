"""Any sequence of events over interleaved streams never raises and yields valid Telemetry."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l0_monitoring import MetricsConfig, Monitor, MonitoringConfig, ObservabilityEvent, Telemetry
from l0_monitoring.events import ObservabilityEventType as T

TYPES = [t.value for t in T] + ["UNKNOWN_FUTURE_TYPE"]
meta_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
META_KEYS = [
    "token",
    "text",
    "tokenCount",
    "token_count",
    "contentLength",
    "violation",
    "violations",
    "isNetwork",
    "category",
    "recoveryStrategy",
    "failureType",
    "error",
    "attempt",
    "maxAttempts",
    "timeoutType",
    "detected",
    "score",
    "metrics",
    "model",
]
events = st.builds(
    ObservabilityEvent,
    st.sampled_from(TYPES),
    st.one_of(
        st.floats(min_value=0, max_value=2e12),
        st.just(math.nan),
        st.integers(min_value=0, max_value=2**40),
    ),
    st.sampled_from(["a", "b", "c", "d"]),
    st.dictionaries(st.sampled_from(["model", "tenant"]), meta_values, max_size=2),
    st.dictionaries(st.sampled_from(META_KEYS), meta_values, max_size=4),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, max_size=60), st.booleans())
def test_any_event_sequence_never_raises_and_records_validate(seq, itl):
    cfg = MonitoringConfig(metrics=MetricsConfig(inter_token_latency=itl), buffer_size=10)
    m = Monitor(cfg, raise_internal_errors=True)
    for e in seq:
        m.handle_event(e)
    m.close()
    records = m.get_all_telemetry()
    assert len(records) <= 10
    for t in records:
        again = Telemetry.model_validate_json(t.model_dump_json())
        assert again == Telemetry.model_validate(t.model_dump())
        d = t.timing.duration
        assert d is None or d >= 0
        ttft = t.timing.time_to_first_token
        assert ttft is None or ttft >= 0
        m_ = t.metrics
        vals = [m_.p50_inter_token_latency, m_.p90_inter_token_latency, m_.p99_inter_token_latency]
        if None not in vals:
            assert vals == sorted(vals)
    agg = m.get_aggregate_metrics()
    stats = m.stats()
    assert agg["count"] == stats["streams_finished"] == stats["streams_started"]
    assert stats["in_flight"] == 0
