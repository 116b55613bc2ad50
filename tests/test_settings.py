from __future__ import annotations

import pytest

from l0_monitoring.settings import OpenTelemetryExporterConfig as Otel
from l0_monitoring.settings import SentryExporterConfig as SentryCfg

SECRET = "s3cr3t-T0KEN"


def test_otel_reads_the_specification_variables(env):
    env.setenv("OTEL_SERVICE_NAME", "checkout")
    env.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=llm%20ops")
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317")
    env.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{SECRET},X-Tenant=a%2Cb")
    env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
    env.setenv("OTEL_EXPORTER_OTLP_INSECURE", "TRUE")
    env.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    c = Otel.from_env()
    assert c.service_name == "checkout"
    assert c.resource_attributes == {"deployment.environment": "prod", "team": "llm ops"}
    assert c.signal_endpoint("traces") == "http://traces:4317"
    assert c.signal_endpoint("metrics") == "http://collector:4317"
    assert c.headers["authorization"].get_secret_value() == f"Bearer {SECRET}"
    assert c.headers["x-tenant"].get_secret_value() == "a,b"
    assert c.timeout == 2.5 and c.insecure and c.compression == "gzip"
    assert c.protocol == "http/protobuf" and c.enabled


def test_explicit_arguments_win_over_the_environment(env):
    env.setenv("OTEL_SERVICE_NAME", "from-env")
    env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    assert Otel(service_name="explicit").service_name == "explicit"
    assert Otel(service_name="explicit").timeout == 1.0
    assert Otel.from_env(service_name="explicit").service_name == "explicit"
    assert Otel.from_env({}).service_name == "l0"  # a given mapping replaces os.environ


def test_service_name_falls_back_to_resource_attributes(env):
    env.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-resource")
    assert Otel.from_env().service_name == "from-resource"


def test_undecodable_resource_attributes_are_discarded_whole(env):
    env.setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,b=%ff%fe")
    assert Otel.from_env().resource_attributes == {}


def test_sdk_disabled_and_empty_values(env):
    env.setenv("OTEL_SDK_DISABLED", "true")
    env.setenv("OTEL_SERVICE_NAME", "")
    c = Otel.from_env()
    assert c.enabled is False and c.service_name == "l0"


def test_specs_authorization_example_is_lower_cased_for_grpc():
    c = Otel.from_env({}, headers={"Authorization": "Bearer token"})
    assert list(c.headers) == ["authorization"]


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "abc", "integer milliseconds"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5", "positive integer milliseconds"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "maybe", "true or false"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli", "gzip or none"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon", "grpc or http/protobuf"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign", "key=value"),
        ("OTEL_SDK_DISABLED", "nope", "true or false"),
    ],
)
def test_bad_otel_values_name_the_variable(env, var, value, expected):
    env.setenv(var, value)
    with pytest.raises(ValueError, match=f"{var}: expected {expected}"):
        Otel.from_env()


def test_sentry_reads_its_variables(env):
    env.setenv("SENTRY_DSN", f"http://{SECRET}@127.0.0.1:9/1")
    env.setenv("SENTRY_ENVIRONMENT", "staging")
    env.setenv("SENTRY_RELEASE", "1.2.3")
    env.setenv("SENTRY_DEBUG", "false")
    env.setenv("SENTRY_SAMPLE_RATE", "0.5")
    env.setenv("SENTRY_TRACES_SAMPLE_RATE", "0.25")
    env.setenv("SENTRY_SERVER_NAME", "web-1")
    c = SentryCfg.from_env()
    assert c.dsn is not None and SECRET in c.dsn.get_secret_value()
    assert (
        c.environment,
        c.release,
        c.debug,
        c.sample_rate,
        c.traces_sample_rate,
        c.server_name,
    ) == ("staging", "1.2.3", False, 0.5, 0.25, "web-1")


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("SENTRY_SAMPLE_RATE", "2", "a number between 0.0 and 1.0"),
        ("SENTRY_SAMPLE_RATE", "lots", "a number"),
        ("SENTRY_TRACES_SAMPLE_RATE", "nan", "a number between 0.0 and 1.0"),
        ("SENTRY_DEBUG", "verbose", "true or false"),
    ],
)
def test_bad_sentry_values_name_the_variable(env, var, value, expected):
    env.setenv(var, value)
    with pytest.raises(ValueError, match=f"{var}: expected {expected}"):
        SentryCfg.from_env()


def test_bad_explicit_values_name_the_field():
    with pytest.raises(ValueError, match="sample_rate"):
        SentryCfg.from_env({}, sample_rate=3)
    with pytest.raises(ValueError, match="unknown_field|Extra inputs"):
        SentryCfg(unknown_field=1)


def test_secrets_never_appear_in_repr_str_or_dumps(env):
    env.setenv("SENTRY_DSN", f"https://{SECRET}@o1.ingest.example/1")
    env.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{SECRET}")
    for cfg in (SentryCfg.from_env(), Otel.from_env()):
        for text in (repr(cfg), str(cfg), cfg.model_dump_json(), str(cfg.model_dump())):
            assert SECRET not in text
