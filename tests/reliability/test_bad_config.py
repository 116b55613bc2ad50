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
    **dict.fromkeys(OpenTelemetryExporterConfig.env_variables().values(), "expected"),
    **dict.fromkeys(SentryExporterConfig.env_variables().values(), "expected"),
    "OTEL_SERVICE_NAME": None,  # any string is a valid name
    "L0_OTEL_PROVIDER_NAME": None,
    "OTEL_RESOURCE_ATTRIBUTES": "percent-encoded",
    "SENTRY_ENVIRONMENT": None,
    "SENTRY_RELEASE": None,
    "SENTRY_SERVER_NAME": None,
    **{var: None for var in OpenTelemetryExporterConfig.env_variables().values()
       if var.endswith(("CERTIFICATE", "CLIENT_KEY"))},  # a path is checked when opened
}  # fmt: skip


@pytest.mark.parametrize(("var", "expected"), ENV.items())
def test_every_variable_warns_on_garbage_naming_the_variable_and_ignores_it(var, expected, caplog):
    cls = SentryExporterConfig if var.startswith("SENTRY") else OpenTelemetryExporterConfig
    garbage = "g@rb age;=%zz"
    cfg = cls.from_env({var: garbage})  # never raises: the specification says warn and ignore
    warnings = [r.getMessage() for r in caplog.records if r.name == "l0_monitoring"]
    if expected is None:
        assert warnings == []  # free-form values are accepted as they are
        return
    (message,) = warnings
    assert f"{var}: " in message and expected in message, message
    assert cfg == cls.from_env({})  # the value was ignored: the defaults
