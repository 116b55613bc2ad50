"""Bad configuration: garbage in any field or variable names it and the expected form."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from l0_monitoring import (
    MetricsConfig,
    MonitoringConfig,
    OpenTelemetryConfig,
    SamplingConfig,
    SentryConfig,
)
from l0_monitoring.settings import OpenTelemetryExporterConfig, SentryExporterConfig

MODELS = [MonitoringConfig, SamplingConfig, MetricsConfig, OpenTelemetryConfig, SentryConfig,
          OpenTelemetryExporterConfig, SentryExporterConfig]  # fmt: skip
GARBAGE = object()


def garbage_for(model: type[BaseModel], name: str):
    """A value of the wrong shape for the field."""
    annotation = str(model.model_fields[name].annotation)
    if "dict" in annotation or "list" in annotation:
        return "not a collection"
    if "str" in annotation:
        return ["not", "a", "string"]
    return {"certainly": "not valid"}


CASES = [(m, name) for m in MODELS for name in m.model_fields]


@pytest.mark.parametrize(("model", "field"), CASES,
                         ids=[f"{m.__name__}.{f}" for m, f in CASES])  # fmt: skip
def test_every_field_rejects_garbage_naming_the_field_and_the_form(model, field):
    value = garbage_for(model, field)
    with pytest.raises((ValidationError, ValueError)) as info:
        if issubclass(model, OpenTelemetryExporterConfig | SentryExporterConfig):
            model.from_env({}, **{field: value})
        else:
            model(**{field: value})
    text = str(info.value)
    assert field in text, text
    assert any(word in text for word in ("should be", "expected", "Input", "valid")), text


ENV = {
    "OTEL_SERVICE_NAME": None,  # any string is a valid name
    "OTEL_RESOURCE_ATTRIBUTES": None,  # undecodable values are discarded, per the spec
    "OTEL_EXPORTER_OTLP_ENDPOINT": "expected a URL",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "expected a URL",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "expected a URL",
    "OTEL_EXPORTER_OTLP_HEADERS": "expected header names",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "expected integer milliseconds",
    "OTEL_EXPORTER_OTLP_INSECURE": "expected true or false",
    "OTEL_EXPORTER_OTLP_COMPRESSION": "expected gzip or none",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "expected grpc or http/protobuf",
    "OTEL_SDK_DISABLED": "expected true or false",
    "SENTRY_DSN": "expected a DSN like",
    "SENTRY_SAMPLE_RATE": "expected a number",
    "SENTRY_TRACES_SAMPLE_RATE": "expected a number",
    "SENTRY_DEBUG": "expected true or false",
    "SENTRY_ENVIRONMENT": None,
    "SENTRY_RELEASE": None,
    "SENTRY_SERVER_NAME": None,
}


@pytest.mark.parametrize(("var", "expected"), ENV.items())
def test_every_variable_rejects_garbage_naming_the_variable(var, expected):
    cls = SentryExporterConfig if var.startswith("SENTRY") else OpenTelemetryExporterConfig
    garbage = "g@rb age;=%zz"
    if expected is None:
        cls.from_env({var: garbage})  # free-form values are accepted as they are
        return
    with pytest.raises(ValueError) as info:
        cls.from_env({var: garbage})
    message = str(info.value)
    assert message.startswith(f"{var}: "), message
    assert expected in message, message
