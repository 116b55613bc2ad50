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
    assert c.signal_endpoint("traces") == "http://traces:4317"  # per-signal: as is
    assert c.signal_endpoint("metrics") == "http://collector:4317/v1/metrics"  # HTTP path rule
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
    ("var", "value", "expected", "field", "default"),
    [
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "abc", "integer milliseconds", "timeout", 10.0),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5", "positive integer milliseconds", "timeout", 10.0),
        ("OTEL_EXPORTER_OTLP_INSECURE", "maybe", "true or false", "insecure", False),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "deflate", "gzip or none", "compression", "none"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "grpc or http/protobuf", "protocol", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign", "key=value", "headers", {}),
        ("OTEL_SDK_DISABLED", "foo", "true or false", "enabled", True),
        ("OTEL_BSP_SCHEDULE_DELAY", "soon", "integer milliseconds", "bsp_schedule_delay", 5.0),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0", "positive", "metric_export_interval", 60.0),
    ],
)
def test_bad_otel_values_warn_once_naming_the_variable_and_are_ignored(
    env, caplog, var, value, expected, field, default
):
    env.setenv(var, value)
    c = Otel.from_env()
    assert getattr(c, field) == default
    (record,) = [r for r in caplog.records if r.name == "l0_monitoring"]
    assert record.levelname == "WARNING"
    assert f"{var}: " in record.getMessage() and expected in record.getMessage()


@pytest.mark.parametrize(
    ("value", "disabled"),
    [("true", True), ("TRUE", True), ("false", False), ("1", False), ("yes", False)],
)
def test_sdk_disabled_is_a_specification_boolean(env, value, disabled):
    env.setenv("OTEL_SDK_DISABLED", value)
    assert Otel.from_env().enabled is not disabled


def test_every_option_has_a_per_signal_form_that_wins(env):
    env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=generic")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=traces")
    env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "3000")
    env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
    env.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none")
    env.setenv("OTEL_EXPORTER_OTLP_INSECURE", "false")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "true")
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")  # gRPC only: metrics
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/v1/traces")
    env.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/key.pem")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", "/cert.pem")
    c = Otel.from_env()
    t, m = c.signal("traces"), c.signal("metrics")
    assert t.headers["authorization"].get_secret_value() == "traces"
    assert m.headers["authorization"].get_secret_value() == "generic"
    assert (t.timeout, m.timeout) == (1.0, 3.0)
    assert (t.protocol, m.protocol) == ("http/protobuf", "grpc")
    assert (t.compression, m.compression) == ("gzip", "none")
    assert t.endpoint == "http://traces:4318/v1/traces" and m.endpoint == "collector:4317"
    assert m.tls is False  # no scheme: insecure decides (gRPC only)
    assert (t.certificate, m.certificate) == ("/ca.pem", "/ca.pem")
    assert (t.client_key, m.client_key) == ("/key.pem", None)
    assert (t.client_certificate, m.client_certificate) == (None, "/cert.pem")


@pytest.mark.parametrize(
    ("endpoint", "insecure", "tls"),
    [
        ("http://collector:4317", None, False),
        ("http://collector:4317", "false", False),  # the scheme wins over insecure
        ("https://collector:4317", "true", True),
        ("collector:4317", None, True),
        ("collector:4317", "true", False),
        (None, None, False),  # the default endpoint is http://localhost:4317
    ],
)
def test_the_scheme_decides_tls_and_insecure_only_matters_without_one(env, endpoint, insecure,
                                                                       tls):  # fmt: skip
    if endpoint:
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    if insecure:
        env.setenv("OTEL_EXPORTER_OTLP_INSECURE", insecure)
    s = Otel.from_env().signal("traces")
    assert s.tls is tls
    assert s.endpoint == (endpoint or "http://localhost:4317")


def test_http_endpoints_follow_the_per_signal_path_rule(env):
    env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert Otel.from_env().signal("traces").endpoint == "http://localhost:4318/v1/traces"
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://gw.example:4318/otlp/")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://m.example/custom/path")
    c = Otel.from_env()
    assert c.signal("traces").endpoint == "https://gw.example:4318/otlp/v1/traces"
    assert c.signal("metrics").endpoint == "https://m.example/custom/path"  # as is


def test_batch_and_metric_reader_variables(env):
    env.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    env.setenv("OTEL_BSP_EXPORT_TIMEOUT", "4000")
    env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100")
    env.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10")
    env.setenv("OTEL_METRIC_EXPORT_INTERVAL", "1500")
    env.setenv("OTEL_METRIC_EXPORT_TIMEOUT", "700")
    c = Otel.from_env()
    assert (c.bsp_schedule_delay, c.bsp_export_timeout) == (0.25, 4.0)
    assert (c.bsp_max_queue_size, c.bsp_max_export_batch_size) == (100, 10)
    assert (c.metric_export_interval, c.metric_export_timeout) == (1.5, 0.7)
    assert (c.span_schedule_delay, c.metric_interval) == (0.25, 1.5)


def test_a_bad_header_variable_never_echoes_its_secret(env, caplog):
    env.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Bad Name={SECRET}")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"x={SECRET}%zz%ff")
    env.setenv("SENTRY_DSN", f"not-a-dsn-{SECRET}")
    Otel.from_env()
    SentryCfg.from_env()
    assert len(caplog.records) == 3
    assert SECRET not in caplog.text


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
    ("var", "value", "expected", "field", "default"),
    [
        ("SENTRY_SAMPLE_RATE", "2", "a number between 0.0 and 1.0", "sample_rate", 1.0),
        ("SENTRY_SAMPLE_RATE", "lots", "a number", "sample_rate", 1.0),
        ("SENTRY_TRACES_SAMPLE_RATE", "nan", "between 0.0 and 1.0", "traces_sample_rate", 0.0),
        ("SENTRY_DEBUG", "verbose", "true or false", "debug", False),
    ],
)
def test_bad_sentry_values_warn_naming_the_variable_and_are_ignored(
    env, caplog, var, value, expected, field, default
):
    env.setenv(var, value)
    assert getattr(SentryCfg.from_env(), field) == default
    assert f"{var}: " in caplog.text and expected in caplog.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(v, True) for v in ("true", "t", "y", "yes", "on", "1", "T", "YES")]
    + [(v, False) for v in ("false", "f", "n", "no", "off", "0", "Off")],
)
def test_sentry_booleans_read_as_sentry_sdk_reads_them(env, value, expected):
    from sentry_sdk.utils import env_to_bool

    env.setenv("SENTRY_DEBUG", value)
    assert SentryCfg.from_env().debug is expected
    assert env_to_bool(value, strict=True) is expected  # the SDK agrees


@pytest.mark.parametrize(
    "value", ["yes ", " 1", "TRUE\n", "\ton", "1", "Yes", "OFF", "no ", "f", "2", "truee", "y"]
)
def test_sentry_debug_is_read_exactly_as_sentry_sdk_reads_it(env, caplog, value):
    # r14 finding 6: " 1" or "TRUE\n" were stripped and read as True; sentry_sdk
    # (Client options: env_to_bool(SENTRY_DEBUG, strict=True) or False) does not strip.
    import sentry_sdk

    from l0_monitoring.settings import _env_to_bool

    env.setenv("SENTRY_DEBUG", value)
    ours = SentryCfg.from_env().debug
    sdk_client = sentry_sdk.Client()  # no DSN: reads SENTRY_DEBUG, sends nothing
    try:
        assert ours is sdk_client.options["debug"]
    finally:
        sdk_client.close()
    # The copy used without sentry_sdk installed agrees with the SDK's function.
    from sentry_sdk.utils import env_to_bool

    assert _env_to_bool(value) is env_to_bool(value, strict=True)
    # A value sentry_sdk does not recognise is also reported (it stays False).
    assert ("SENTRY_DEBUG: " in caplog.text) is (env_to_bool(value, strict=True) is None)


def test_bad_explicit_values_name_the_field():
    with pytest.raises(ValueError, match="sample_rate"):
        SentryCfg.from_env({}, sample_rate=3)
    with pytest.raises(ValueError, match="timeout"):
        Otel.from_env({}, timeout="abc")
    with pytest.raises(ValueError, match="traces_endpoint"):
        Otel(traces_endpoint="ftp://x")
    with pytest.raises(ValueError, match="protocol"):
        Otel.from_env({}, metrics_protocol="http/json")
    with pytest.raises(ValueError, match="unknown_field|Extra inputs"):
        SentryCfg(unknown_field=1)


def test_secrets_never_appear_in_repr_str_or_dumps(env):
    env.setenv("SENTRY_DSN", f"https://{SECRET}@o1.ingest.example/1")
    env.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{SECRET}")
    for cfg in (SentryCfg.from_env(), Otel.from_env()):
        for text in (repr(cfg), str(cfg), cfg.model_dump_json(), str(cfg.model_dump())):
            assert SECRET not in text


def test_the_readme_tables_document_every_variable():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for cls in (Otel, SentryCfg):
        for var in cls.env_variables().values():
            generic = var.replace("_TRACES_", "_").replace("_METRICS_", "_")
            assert f"| `{generic}` |" in readme or f"| `{var}` |" in readme, var


def test_a_bad_endpoint_warning_never_echoes_its_credentials(env, caplog):
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://user:{SECRET}@collector:notaport")
    assert Otel.from_env().endpoint is None
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in caplog.text and SECRET not in caplog.text
