from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel, ValidationError

from l0_monitoring import (
    ErrorInfo,
    GuardrailInfo,
    Metrics,
    MetricsConfig,
    Monitor,
    MonitoringConfig,
    RetryInfo,
    SamplingConfig,
    Telemetry,
    TimingInfo,
)


def test_defaults_follow_the_spec():
    c = MonitoringConfig()
    assert c.enabled is True and c.buffer_size == 100 and c.flush_interval == 0.0
    assert c.log_level == "info"
    assert c.sampling == SamplingConfig(
        rate=1.0, min_duration=0.0, sample_errors=True, sample_slow=True, slow_threshold=5.0
    )
    m = c.metrics
    assert (
        m.collect_tokens,
        m.collect_timing,
        m.collect_retries,
        m.collect_guardrails,
        m.collect_errors,
        m.inter_token_latency,
    ) == (True, True, True, True, True, False)
    assert m.percentiles == [0.5, 0.9, 0.95, 0.99]
    assert MonitoringConfig.default() == c


def test_presets():
    p = MonitoringConfig.production()
    assert p.sampling.rate == 0.1 and p.sampling.sample_errors and p.sampling.sample_slow
    assert p.metrics.inter_token_latency is False and p.buffer_size == 1000
    assert p.flush_interval == 30.0
    d = MonitoringConfig.development()
    assert d.sampling.rate == 1.0 and d.metrics.inter_token_latency and d.log_level == "debug"
    m = MonitoringConfig.minimal()
    assert m.sampling.rate == 0.0 and m.sampling.sample_errors and not m.sampling.sample_slow
    assert not (
        m.metrics.collect_tokens
        or m.metrics.collect_timing
        or m.metrics.collect_retries
        or m.metrics.collect_guardrails
    )
    assert m.metrics.collect_errors


@pytest.mark.parametrize("model", [MonitoringConfig, SamplingConfig, MetricsConfig])
def test_unknown_keys_are_rejected_with_the_key_named(model):
    with pytest.raises(ValidationError, match="sample_rate"):
        model(sample_rate=0.5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sampling": {"rate": 1.5}}, "rate"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"log_level": "loud"}, "log_level"),
        ({"metrics": {"percentiles": [0.5, 1.0]}}, "percentiles"),
        ({"flush_interval": -1}, "flush_interval"),
    ],
)
def test_bad_values_name_the_field(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        MonitoringConfig(**kwargs)


@pytest.mark.parametrize(
    "model",
    [
        MonitoringConfig,
        SamplingConfig,
        MetricsConfig,
        Telemetry,
        TimingInfo,
        Metrics,
        RetryInfo,
        GuardrailInfo,
        ErrorInfo,
    ],
)
def test_every_field_has_a_description(model: type[BaseModel]):
    missing = [n for n, f in model.model_fields.items() if not f.description]
    assert missing == []


def test_telemetry_has_every_spec_field():
    t = Telemetry(stream_id="s")
    for path in [
        "stream_id",
        "session_id",
        "model",
        "timing.started_at",
        "timing.completed_at",
        "timing.duration",
        "timing.time_to_first_token",
        "timing.inter_token_latencies",
        "metrics.token_count",
        "metrics.tokens_per_second",
        "metrics.time_to_first_token",
        "metrics.avg_inter_token_latency",
        "metrics.p50_inter_token_latency",
        "metrics.p90_inter_token_latency",
        "metrics.p99_inter_token_latency",
        "retries.attempt",
        "retries.max_attempts",
        "retries.model_retries",
        "retries.network_retries",
        "retries.total_retries",
        "retries.last_error",
        "retries.last_error_category",
        "guardrails.rules_checked",
        "guardrails.violations",
        "guardrails.passed",
        "error.occurred",
        "error.message",
        "error.category",
        "error.code",
        "error.stack",
        "error.recoverable",
        "content_length",
        "completed",
        "aborted",
        "metadata",
    ]:
        obj = t
        for part in path.split("."):
            obj = getattr(obj, part)


def test_log_level_sets_the_package_logger():
    Monitor(MonitoringConfig(log_level="error"))
    assert logging.getLogger("l0_monitoring").level == logging.ERROR
    Monitor(MonitoringConfig.development())
    assert logging.getLogger("l0_monitoring").level == logging.DEBUG
