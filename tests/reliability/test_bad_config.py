"""Bad configuration: garbage in any field or variable names it and the expected form."""

from __future__ import annotations

import re

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


SENTRY_CLIENT_REJECTS = [
    "https://public:SECRET@host/42/",  # trailing slash: not a project id
    "https://pub@host/my-project",  # a project name, not its numeric id
    "https://pub@host:70000/42",  # port out of range
    "https://pub:SECRET/42",  # no '@': the SDK's message would quote SECRET as the port
    "https://pub:SECRET@host:abc/42",  # a port that is not a number
    "ftp://pub:SECRET@host/42",  # an unsupported scheme
]


@pytest.mark.parametrize("dsn", SENTRY_CLIENT_REJECTS)
def test_a_dsn_the_sentry_client_rejects_fails_at_construction_never_echoing_it(dsn, caplog):
    utils = pytest.importorskip("sentry_sdk.utils")
    BadDsn, Dsn = utils.BadDsn, utils.Dsn  # noqa: N806

    with pytest.raises((BadDsn, ValueError)):
        Dsn(dsn)  # the premise: sentry_sdk.init() would refuse it
    # From the environment: one warning naming SENTRY_DSN, the value ignored
    # (so the exporter stays off and the host starts); explicitly: an error.
    caplog.clear()
    cfg = SentryExporterConfig.from_env({"SENTRY_DSN": dsn})
    assert cfg.dsn is None
    (env_text,) = [r.getMessage() for r in caplog.records if r.name == "l0_monitoring"]
    with pytest.raises(ValidationError) as direct:
        SentryExporterConfig(dsn=dsn)
    direct_text = str(direct.value)
    assert "SENTRY_DSN: " in env_text and "dsn" in direct_text
    for text in (env_text, direct_text):
        assert "SECRET" not in text and dsn not in text, text
        assert re.search(r"\bpub\b", text) is None, text  # nor the public key


def test_what_the_config_accepts_init_accepts_and_init_never_raises(monkeypatch):
    pytest.importorskip("sentry_sdk")
    from l0_monitoring import SentryExporter

    from ..sentry_ingest import Ingest

    ingest = Ingest().start()
    try:
        for dsn in (ingest.dsn(), "https://pub@o1.ingest.sentry.io/42", "http://k@[::1]:9/7"):
            exporter = SentryExporter(SentryExporterConfig.from_env({"SENTRY_DSN": dsn}))
            exporter.init()
            assert exporter.active and exporter.stats()["errors"] == 0, dsn
            exporter.close(timeout=0.5)
        # A client that fails anyway (here: the SDK refuses an option) is counted, not raised.
        import sentry_sdk

        def refuse(*args, **kwargs):
            raise ValueError("client refused")

        monkeypatch.setattr(sentry_sdk, "Client", refuse)
        exporter = SentryExporter(SentryExporterConfig.from_env({"SENTRY_DSN": ingest.dsn()}))
        exporter.init()  # never raises into the host
        assert not exporter.active and exporter.stats()["errors"] == 1
    finally:
        ingest.stop()


@pytest.mark.parametrize("dsn", SENTRY_CLIENT_REJECTS)
def test_without_sentry_sdk_the_same_dsns_are_rejected_by_the_same_rules(monkeypatch, dsn):
    import sys

    monkeypatch.setitem(sys.modules, "sentry_sdk.utils", None)  # import fails: fallback rules
    with pytest.raises(ValidationError) as info:
        SentryExporterConfig(dsn=dsn)
    assert "dsn" in str(info.value) and "SECRET" not in str(info.value)
    assert re.search(r"\bpub\b", str(info.value)) is None, str(info.value)
    SentryExporterConfig.from_env({"SENTRY_DSN": "https://pub@o1.ingest.sentry.io/42"})
