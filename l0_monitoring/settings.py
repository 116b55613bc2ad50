"""Exporter settings (pydantic-settings): explicit argument > environment > default.

* :class:`OpenTelemetryExporterConfig` reads the OpenTelemetry SDK environment
  variables and the OTLP exporter variables as the specifications define them:
  ``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
  ``OTEL_EXPORTER_OTLP_*`` with every option overridable per signal
  (``OTEL_EXPORTER_OTLP_TRACES_*``, ``OTEL_EXPORTER_OTLP_METRICS_*``; the
  per-signal value wins), ``OTEL_BSP_*`` and ``OTEL_METRIC_EXPORT_*``.
* :class:`SentryExporterConfig` reads ``SENTRY_DSN``, ``SENTRY_ENVIRONMENT``,
  ``SENTRY_RELEASE``, ``SENTRY_DEBUG`` (booleans as sentry-sdk reads them), and
  this package's own ``SENTRY_SAMPLE_RATE``, ``SENTRY_TRACES_SAMPLE_RATE``,
  ``SENTRY_SERVER_NAME`` (sentry-sdk itself does not read sample rates).

Every variable is declared once, in the annotation of the field it sets
(``Annotated[..., Env("NAME", parser)]``). A malformed value in the environment
is ignored with one warning naming the variable (the OpenTelemetry
specification's rule: warn and use the default); a malformed value passed
explicitly raises ``ValueError`` naming the field. Secrets (the DSN, OTLP header
values) are ``SecretStr``: never in ``repr``, logs, warnings or exported data;
the JSON Schemas mark them ``writeOnly`` without defaults.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "PUBLISHED",
    "Env",
    "OpenTelemetryExporterConfig",
    "SentryExporterConfig",
    "SignalSettings",
]

PUBLISHED = ("OpenTelemetryExporterConfig", "SentryExporterConfig")
"""Settings classes whose JSON Schemas are published in ``schemas/``."""

logger = logging.getLogger("l0_monitoring")


def _secret_schema(schema: dict[str, Any]) -> None:
    # Secrets are write-only and never carry a default in the published schema.
    schema.pop("default", None)
    schema["writeOnly"] = True


# -- parsers: (variable, raw text) -> value, or ValueError("expected ...") ----------------
# A parser's message never repeats a secret: parsers of secret variables do not
# quote the value.


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _text(var: str, raw: str) -> str:
    return raw.strip()


def _otel_bool(var: str, raw: str) -> bool:
    # The specification's Boolean: true only for case-insensitive "true";
    # "false" is false; anything else is false with a warning (the ValueError).
    value = raw.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    raise ValueError(f"expected true or false, got {raw!r:.60}")


def _disabled(var: str, raw: str) -> bool:
    # OTEL_SDK_DISABLED sets ``enabled``: a disabled SDK is not enabled.
    return not _otel_bool(var, raw)


# sentry_sdk.utils' TRUTHY_ENV_VALUES / FALSY_ENV_VALUES: used when sentry_sdk is not
# installed (tests/test_settings.py checks the copy against the SDK).
_SENTRY_TRUE = frozenset({"true", "t", "y", "yes", "on", "1"})
_SENTRY_FALSE = frozenset({"false", "f", "n", "no", "off", "0"})


def _env_to_bool(value: str) -> bool | None:
    """``sentry_sdk.utils.env_to_bool(value, strict=True)``: lower-cased, not stripped."""
    normalized = value.lower()
    if normalized in _SENTRY_FALSE:
        return False
    if normalized in _SENTRY_TRUE:
        return True
    return None


def _sentry_bool(var: str, raw: str) -> bool:
    # Exactly as sentry_sdk reads SENTRY_DEBUG (env_to_bool, strict): no
    # stripping, so " 1" or "yes " is not true. sentry_sdk turns an unknown
    # value into False silently; here it also warns (and the default, False, stays).
    try:
        from sentry_sdk.utils import env_to_bool
    except ImportError:
        value = _env_to_bool(raw)
    else:
        value = env_to_bool(raw, strict=True)
    if value is None:
        raise ValueError(f"expected true or false (t, y, yes, on, 1 / f, n, no, off, 0, "
                         f"without spaces), got {raw!r:.60}")  # fmt: skip
    return value


def _rate(var: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number between 0.0 and 1.0, got {raw!r:.60}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"expected a number between 0.0 and 1.0, got {raw!r:.60}")
    return value


def _millis(var: str, raw: str) -> float:
    # The specification defines durations and timeouts as integer milliseconds.
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"expected integer milliseconds, got {raw!r:.60}") from None
    if value <= 0:
        raise ValueError(f"expected positive integer milliseconds, got {raw!r:.60}")
    return value / 1000.0


def _count(var: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"expected a positive integer, got {raw!r:.60}") from None
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r:.60}")
    return value


def _protocol(var: str, raw: str) -> str:
    value = raw.strip().lower()
    if value == "http/json":
        raise ValueError("http/json is not supported by the Python OTLP exporters; "
                         "expected grpc or http/protobuf")  # fmt: skip
    if value not in ("grpc", "http/protobuf"):
        raise ValueError(f"expected grpc or http/protobuf, got {raw!r:.60}")
    return value


def _compression(var: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("gzip", "none"):
        raise ValueError(f"expected gzip or none, got {raw!r:.60}")
    return value


def _temporality(var: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("cumulative", "delta", "lowmemory"):
        raise ValueError(f"expected cumulative, delta or lowmemory, got {raw!r:.60}")
    return value


def _histogram_aggregation(var: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("explicit_bucket_histogram", "base2_exponential_bucket_histogram"):
        raise ValueError("expected explicit_bucket_histogram or "
                         f"base2_exponential_bucket_histogram, got {raw!r:.60}")  # fmt: skip
    return value


def _pairs(raw: str) -> dict[str, str]:
    """Parse ``k1=v1,k2=v2`` with percent-encoded values (W3C baggage format)."""
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError("expected key=value pairs separated by commas")
        if _BAD_ESCAPE.search(value):
            raise ValueError(f"expected percent-encoded values (value of {key!r:.60})")
        try:
            out[key] = unquote(value.strip(), errors="strict")
        except UnicodeDecodeError:
            raise ValueError(f"expected percent-encoded values (value of {key!r:.60})") from None
    return out


def _resource(var: str, raw: str) -> dict[str, str]:
    # The specification: on a decoding error, discard the whole value.
    return _pairs(raw)


def _headers(var: str, raw: str) -> dict[str, str]:
    headers = _pairs(raw)  # messages name keys, never values (values are secrets)
    for name in headers:
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(
                "expected header names made of letters, digits and !#$%&'*+.^_`|~-, "
                f"got {name!r:.60}"
            )
    return headers


def _mask_url(value: str) -> str:
    """``value`` with the userinfo of its URL (``user:password@``) replaced by ``***``."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc = rest[:end]
    if "@" not in netloc:
        return value
    return f"{scheme}{sep}***@{netloc.rpartition('@')[2]}{rest[end:]}"


def _check_url(value: str) -> str:
    """Check an OTLP endpoint: ``http(s)://host[:port][/path]`` or ``host:port``.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: When it is not such a URL.
    """
    parsed = urlsplit(value if "://" in value else f"http://{value}")
    shown = _mask_url(value)  # never quote credentials a URL may carry (user:password@host)
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or any(c.isspace() for c in value)
    ):
        raise ValueError(
            f"expected a URL like http://localhost:4317 (or host:port), got {shown!r:.80}"
        )
    try:
        parsed.port  # noqa: B018  # raises on a non-numeric port
    except ValueError:
        raise ValueError(f"expected a numeric port in {shown!r:.80}") from None
    return value


def _url(var: str, raw: str) -> str:
    return _check_url(raw.strip())


def _path(var: str, raw: str) -> str:
    return raw.strip()


def _dsn_kind_problem(dsn: str) -> str | None:
    """A fixed reason naming what is wrong with ``dsn`` by kind (None if none is found)."""
    try:
        parsed = urlsplit(dsn)
    except ValueError:
        return "not a URL"
    if parsed.scheme not in ("http", "https"):
        return "unsupported scheme"
    if "@" not in parsed.netloc:
        return "missing public key (no '@' before the host)"
    try:
        _ = parsed.port
    except ValueError:
        return "invalid port (it must be a number from 1 to 65535)"
    if not parsed.hostname:
        return "missing host"
    if not parsed.username:
        return "missing public key (the part before '@')"
    if not parsed.path.rsplit("/", 1)[-1].isdigit():
        return "invalid project id (the last path segment must be a number)"
    return None


def _dsn_problem(dsn: str) -> str | None:
    """Why the Sentry client would reject ``dsn`` (None if it accepts it); never echoes it.

    What the config accepts, ``sentry_sdk.init()`` accepts: the DSN is parsed
    by the SDK's own parser (``sentry_sdk.utils.Dsn``) when it is installed,
    else by the same rules (http/https, a public key, a host, a port in range,
    a numeric project id last in the path). The reason is one of a fixed set
    of texts (or the SDK's exception type name): the SDK's own message is
    never passed on, as it can quote a part of the DSN such as its secret key.
    """
    try:
        sdk_utils: Any = importlib.import_module("sentry_sdk.utils")
    except ImportError:
        sdk_utils = None
    if sdk_utils is None:
        return _dsn_kind_problem(dsn)
    try:
        sdk_utils.Dsn(dsn)
    except Exception as exc:  # the SDK's BadDsn, or ValueError from urllib
        reason = _dsn_kind_problem(dsn) or f"rejected ({type(exc).__name__})"
        return f"the Sentry client rejects this DSN: {reason}"
    return None


def _check_dsn_text(value: str) -> str:
    """Check a Sentry DSN without ever quoting it (it carries a key).

    Raises:
        ValueError: When the Sentry client would reject it (see ``_dsn_problem``).
    """
    problem = _dsn_problem(value)
    if problem is not None:
        raise ValueError(f"{problem}; expected a DSN like https://<public key>@<host>/<project id>")
    return value


def _dsn(var: str, raw: str) -> str:
    return _check_dsn_text(raw.strip())


@dataclass(frozen=True)
class Env:
    """Field metadata: the environment variable that sets the field, and its parser.

    Attributes:
        var: The variable's name (as the OpenTelemetry or Sentry documentation spells it).
        parse: ``parse(var, raw) -> value``; raises ``ValueError("expected ...")``.
    """

    var: str
    parse: Callable[[str, str], Any] = _text


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """The value of ``name``; unset and empty (or blank) are the same, per the specification."""
    value = environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value


class _EnvSource(PydanticBaseSettingsSource):
    """Reads every field's declared variable; a malformed value: one warning, ignored."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Not used: __call__ reads every declared variable at once.
        return None, field_name, False  # pragma: no cover

    def __call__(self) -> dict[str, Any]:
        environ = _ENVIRON.get()
        environ = os.environ if environ is None else environ
        out: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            env = _env_of(field)
            if env is None:
                continue
            raw = _env(environ, env.var)
            if raw is None:
                continue
            try:
                out[name] = env.parse(env.var, raw)
            except ValueError as exc:
                logger.warning("l0_monitoring: %s: %s; the value is ignored", env.var, exc)
        finish = getattr(self.settings_cls, "_finish_env", None)
        out = finish(out) if finish is not None else out
        produced = _FROM_ENV.get()
        if produced is not None:
            produced.update(out)
        return out


def _env_of(field: FieldInfo) -> Env | None:
    for item in field.metadata:
        if isinstance(item, Env):
            return item
    return None


# from_env(environ=...) reads that mapping instead of os.environ; a context
# variable keeps concurrent calls (threads, tasks) apart.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("l0_monitoring_environ", default=None)
# The values the environment gave while a config is being built: a check that
# spans fields (an endpoint and its protocol) warns about and drops a value that
# came from the environment, and raises for one passed explicitly.
_FROM_ENV: ContextVar[dict[str, Any] | None] = ContextVar("l0_monitoring_from_env", default=None)


class _Settings(BaseSettings):
    # hide_input_in_errors: a rejected value may be a secret (a DSN, a header token).
    model_config = SettingsConfigDict(
        extra="forbid", validate_default=True, hide_input_in_errors=True
    )

    def __init__(self, **values: Any) -> None:
        token = _FROM_ENV.set({})
        try:
            super().__init__(**values)
        finally:
            _FROM_ENV.reset(token)

    def _from_env_or_raise(self, field: str, problem: str) -> None:
        """A cross-field problem: the environment's value is dropped, an explicit one raises.

        Raises:
            ValueError: Naming ``field``, when its value was passed explicitly.
        """
        produced = _FROM_ENV.get() or {}
        env = _env_of(type(self).model_fields[field])
        if env is not None and field in produced and produced[field] == getattr(self, field):
            logger.warning("l0_monitoring: %s: %s; the value is ignored", env.var, problem)
            self.__dict__[field] = type(self).model_fields[field].default
            return
        raise ValueError(f"{field}: {problem}")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments win over the environment, which wins over defaults."""
        return init_settings, _EnvSource(settings_cls)

    @classmethod
    def env_variables(cls) -> dict[str, str]:
        """Field name -> the environment variable that sets it."""
        return {
            name: env.var
            for name, field in cls.model_fields.items()
            if (env := _env_of(field)) is not None
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Build the config from the environment (``os.environ`` by default).

        Malformed values in the environment are ignored with one warning naming
        the variable (logger ``l0_monitoring``).

        Args:
            environ: A mapping to read instead of ``os.environ``.
            **overrides: Explicit values, which win over the environment.

        Returns:
            The validated config.

        Raises:
            ValueError: Naming the field when an explicit value is malformed.
        """
        token = _ENVIRON.set(environ)
        try:
            return cls(**overrides)
        except ValidationError as exc:
            err = exc.errors()[0]
            if not err.get("loc"):  # a check across fields names its field itself
                raise ValueError(err["msg"].removeprefix("Value error, ")) from None
            raise ValueError(f"{err['loc'][0]}: {err['msg']}") from None
        finally:
            _ENVIRON.reset(token)


@dataclass(frozen=True)
class SignalSettings:
    """The resolved OTLP options of one signal (per-signal value, else generic, else default).

    Attributes:
        signal: ``traces`` or ``metrics``.
        protocol: ``grpc`` or ``http/protobuf``.
        endpoint: The URL the exporter is given: for HTTP the full signal URL
            (a generic endpoint gets ``/v1/traces`` or ``/v1/metrics`` appended to its
            path; a per-signal endpoint is used as is), for gRPC ``scheme://host:port``.
        tls: Whether the connection uses TLS. The scheme decides (``https``: TLS,
            ``http``: plaintext); ``insecure`` only matters without a scheme.
        headers: Request headers (secret values).
        timeout: Seconds per export request.
        compression: ``gzip`` or ``none``.
        certificate: CA bundle (PEM file) to verify the collector.
        client_key: Client private key (PEM file) for mTLS.
        client_certificate: Client certificate chain (PEM file) for mTLS.
    """

    signal: str
    protocol: str
    endpoint: str
    tls: bool
    headers: dict[str, SecretStr]
    timeout: float
    compression: str
    certificate: str | None
    client_key: str | None
    client_certificate: str | None

    @property
    def shown_endpoint(self) -> str:
        """``endpoint`` with its credentials (``user:password@``) replaced by ``***``."""
        return _mask_url(self.endpoint)

    def __repr__(self) -> str:
        fields = {**self.__dict__, "endpoint": self.shown_endpoint}
        return f"SignalSettings({', '.join(f'{k}={v!r}' for k, v in fields.items())})"


_ENDPOINTS = frozenset({"endpoint", "traces_endpoint", "metrics_endpoint"})
_DEFAULT_ENDPOINT = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}


Protocol = Literal["grpc", "http/protobuf"]
Temporality = Literal["cumulative", "delta", "lowmemory"]
HistogramAggregation = Literal["explicit_bucket_histogram", "base2_exponential_bucket_histogram"]
Compression = Literal["none", "gzip"]
_O = "OTEL_EXPORTER_OTLP_"
_T = "OTEL_EXPORTER_OTLP_TRACES_"
_M = "OTEL_EXPORTER_OTLP_METRICS_"


class OpenTelemetryExporterConfig(_Settings):
    """Where and how :class:`~l0_monitoring.OpenTelemetryExporter` sends OTLP.

    ``from_env()`` follows the OpenTelemetry SDK environment specification and
    the OTLP exporter specification; constructing the class directly also reads
    the environment, with explicit arguments winning. Each per-signal field
    (``traces_*``, ``metrics_*``) wins over its generic field; :meth:`signal`
    resolves one signal's options.
    """

    # -- SDK ------------------------------------------------------------------------------
    enabled: Annotated[bool, Env("OTEL_SDK_DISABLED", _disabled)] = Field(
        default=True,
        description="False disables export (OTEL_SDK_DISABLED=true; a specification Boolean: "
        "only 'true', any case, disables).",
    )
    service_name: Annotated[str, Env("OTEL_SERVICE_NAME")] = Field(
        default="l0",
        description="service.name resource attribute (OTEL_SERVICE_NAME; else service.name "
        "in OTEL_RESOURCE_ATTRIBUTES).",
    )
    resource_attributes: Annotated[dict[str, str], Env("OTEL_RESOURCE_ATTRIBUTES", _resource)] = (
        Field(
            default_factory=dict,
            description="Resource attributes (OTEL_RESOURCE_ATTRIBUTES: k=v pairs, values "
            "percent-decoded; a value that fails to decode discards the whole variable). The "
            "exported resource is exactly these plus service.name and a per-process "
            "service.instance.id.",
        )
    )
    # -- OTLP, generic ------------------------------------------------------------------
    endpoint: Annotated[str | None, Env(_O + "ENDPOINT", _url)] = Field(
        default=None,
        description="OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT). gRPC: used as is (host:port "
        "without a scheme too); HTTP: a URL with a scheme, the base URL, /v1/traces and "
        "/v1/metrics are appended to its path. None: http://localhost:4317 (gRPC) or "
        "http://localhost:4318 (HTTP).",
    )
    protocol: Annotated[Protocol, Env(_O + "PROTOCOL", _protocol)] = Field(
        default="grpc",
        description="OTLP transport (OTEL_EXPORTER_OTLP_PROTOCOL): grpc or http/protobuf "
        "(http/json is not supported by the Python exporters).",
    )
    headers: Annotated[dict[str, SecretStr], Env(_O + "HEADERS", _headers)] = Field(
        default_factory=dict,
        description="Request headers, values secret (OTEL_EXPORTER_OTLP_HEADERS, "
        "percent-decoded; names lower-cased for gRPC).",
        json_schema_extra=_secret_schema,
    )
    insecure: Annotated[bool, Env(_O + "INSECURE", _otel_bool)] = Field(
        default=False,
        description="gRPC without TLS when the endpoint has no scheme "
        "(OTEL_EXPORTER_OTLP_INSECURE); an http:// or https:// scheme decides by itself.",
    )
    compression: Annotated[Compression, Env(_O + "COMPRESSION", _compression)] = Field(
        default="none", description="OTLP compression (OTEL_EXPORTER_OTLP_COMPRESSION)."
    )
    timeout: Annotated[float, Env(_O + "TIMEOUT", _millis)] = Field(
        default=10.0,
        gt=0.0,
        description="Seconds per export request (OTEL_EXPORTER_OTLP_TIMEOUT, in milliseconds "
        "as the specification says).",
    )
    certificate: Annotated[str | None, Env(_O + "CERTIFICATE", _path)] = Field(
        default=None,
        description="CA certificates (PEM file) that verify the collector's TLS certificate "
        "(OTEL_EXPORTER_OTLP_CERTIFICATE). None: the system's roots.",
    )
    client_key: Annotated[str | None, Env(_O + "CLIENT_KEY", _path)] = Field(
        default=None, description="Client private key, PEM file, for mTLS "
        "(OTEL_EXPORTER_OTLP_CLIENT_KEY).",
    )  # fmt: skip
    client_certificate: Annotated[str | None, Env(_O + "CLIENT_CERTIFICATE", _path)] = Field(
        default=None, description="Client certificate chain, PEM file, for mTLS "
        "(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE).",
    )  # fmt: skip
    # -- OTLP, per signal (each wins over the generic option) ----------------------------------
    traces_endpoint: Annotated[str | None, Env(_T + "ENDPOINT", _url)] = Field(
        default=None, description="Traces endpoint, used as is, also for HTTP "
        "(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).",
    )  # fmt: skip
    metrics_endpoint: Annotated[str | None, Env(_M + "ENDPOINT", _url)] = Field(
        default=None, description="Metrics endpoint, used as is, also for HTTP "
        "(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT).",
    )  # fmt: skip
    traces_protocol: Annotated[Protocol | None, Env(_T + "PROTOCOL", _protocol)] = Field(
        default=None, description="Traces transport (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)."
    )
    metrics_protocol: Annotated[Protocol | None, Env(_M + "PROTOCOL", _protocol)] = Field(
        default=None, description="Metrics transport (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL)."
    )
    traces_headers: Annotated[dict[str, SecretStr] | None, Env(_T + "HEADERS", _headers)] = Field(
        default=None, description="Traces headers, replacing the generic ones "
        "(OTEL_EXPORTER_OTLP_TRACES_HEADERS).", json_schema_extra=_secret_schema,
    )  # fmt: skip
    metrics_headers: Annotated[dict[str, SecretStr] | None, Env(_M + "HEADERS", _headers)] = (
        Field(default=None, description="Metrics headers, replacing the generic ones "
              "(OTEL_EXPORTER_OTLP_METRICS_HEADERS).", json_schema_extra=_secret_schema)
    )  # fmt: skip
    traces_insecure: Annotated[bool | None, Env(_T + "INSECURE", _otel_bool)] = Field(
        default=None, description="Traces insecure (OTEL_EXPORTER_OTLP_TRACES_INSECURE)."
    )
    metrics_insecure: Annotated[bool | None, Env(_M + "INSECURE", _otel_bool)] = Field(
        default=None, description="Metrics insecure (OTEL_EXPORTER_OTLP_METRICS_INSECURE)."
    )
    traces_compression: Annotated[Compression | None, Env(_T + "COMPRESSION", _compression)] = (
        Field(default=None, description="Traces compression "
              "(OTEL_EXPORTER_OTLP_TRACES_COMPRESSION).")
    )  # fmt: skip
    metrics_compression: Annotated[Compression | None, Env(_M + "COMPRESSION", _compression)] = (
        Field(default=None, description="Metrics compression "
              "(OTEL_EXPORTER_OTLP_METRICS_COMPRESSION).")
    )  # fmt: skip
    traces_timeout: Annotated[float | None, Env(_T + "TIMEOUT", _millis)] = Field(
        default=None, gt=0.0, description="Traces timeout, seconds "
        "(OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, milliseconds).",
    )  # fmt: skip
    metrics_timeout: Annotated[float | None, Env(_M + "TIMEOUT", _millis)] = Field(
        default=None, gt=0.0, description="Metrics timeout, seconds "
        "(OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, milliseconds).",
    )  # fmt: skip
    traces_certificate: Annotated[str | None, Env(_T + "CERTIFICATE", _path)] = Field(
        default=None, description="Traces CA file (OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE)."
    )
    metrics_certificate: Annotated[str | None, Env(_M + "CERTIFICATE", _path)] = Field(
        default=None, description="Metrics CA file (OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE)."
    )
    traces_client_key: Annotated[str | None, Env(_T + "CLIENT_KEY", _path)] = Field(
        default=None, description="Traces client key (OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY)."
    )
    metrics_client_key: Annotated[str | None, Env(_M + "CLIENT_KEY", _path)] = Field(
        default=None, description="Metrics client key (OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY)."
    )
    traces_client_certificate: Annotated[str | None, Env(_T + "CLIENT_CERTIFICATE", _path)] = (
        Field(default=None, description="Traces client certificate "
              "(OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE).")
    )  # fmt: skip
    metrics_client_certificate: Annotated[str | None, Env(_M + "CLIENT_CERTIFICATE", _path)] = (
        Field(default=None, description="Metrics client certificate "
              "(OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE).")
    )  # fmt: skip
    metrics_temporality_preference: Annotated[
        Temporality, Env(_M + "TEMPORALITY_PREFERENCE", _temporality)
    ] = Field(
        default="cumulative",
        description="Metric temporality (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE): "
        "cumulative, delta or lowmemory, as the OTLP metrics exporter specification defines.",
    )
    metrics_default_histogram_aggregation: Annotated[
        HistogramAggregation, Env(_M + "DEFAULT_HISTOGRAM_AGGREGATION", _histogram_aggregation)
    ] = Field(
        default="explicit_bucket_histogram",
        description="Histogram aggregation "
        "(OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION): "
        "explicit_bucket_histogram or base2_exponential_bucket_histogram.",
    )
    # -- batch span processor and periodic metric reader ---------------------------------
    bsp_schedule_delay: Annotated[float, Env("OTEL_BSP_SCHEDULE_DELAY", _millis)] = Field(
        default=5.0, gt=0.0, description="Seconds between span batch exports "
        "(OTEL_BSP_SCHEDULE_DELAY, milliseconds).",
    )  # fmt: skip
    bsp_export_timeout: Annotated[float, Env("OTEL_BSP_EXPORT_TIMEOUT", _millis)] = Field(
        default=30.0, gt=0.0, description="Seconds a span batch export may take "
        "(OTEL_BSP_EXPORT_TIMEOUT, milliseconds).",
    )  # fmt: skip
    bsp_max_queue_size: Annotated[int, Env("OTEL_BSP_MAX_QUEUE_SIZE", _count)] = Field(
        default=2048, ge=1, description="Spans waiting for export at most "
        "(OTEL_BSP_MAX_QUEUE_SIZE); beyond, dropped and counted.",
    )  # fmt: skip
    bsp_max_export_batch_size: Annotated[int, Env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", _count)] = (
        Field(default=512, ge=1, description="Spans per export request at most "
              "(OTEL_BSP_MAX_EXPORT_BATCH_SIZE).")
    )  # fmt: skip
    metric_export_interval: Annotated[float, Env("OTEL_METRIC_EXPORT_INTERVAL", _millis)] = Field(
        default=60.0, gt=0.0, description="Seconds between metric exports "
        "(OTEL_METRIC_EXPORT_INTERVAL, milliseconds).",
    )  # fmt: skip
    metric_export_timeout: Annotated[float, Env("OTEL_METRIC_EXPORT_TIMEOUT", _millis)] = Field(
        default=30.0, gt=0.0, description="Seconds a metric export may take "
        "(OTEL_METRIC_EXPORT_TIMEOUT, milliseconds).",
    )  # fmt: skip
    # -- this package's own options ---------------------------------------------------------
    provider_name: Annotated[str, Env("L0_OTEL_PROVIDER_NAME")] = Field(
        default="_OTHER",
        min_length=1,
        description="gen_ai.provider.name (gen_ai.system with the older conventions) of records "
        "whose metadata names no provider (L0_OTEL_PROVIDER_NAME; a record's "
        "metadata['provider'] wins). The attribute is Required by the GenAI conventions, which "
        "define no value for an unknown provider: _OTHER is their fallback spelling "
        "(as for error.type).",
    )
    trace_enabled: bool = Field(default=True, description="Export spans.")
    metrics_enabled: bool = Field(default=True, description="Export metrics.")
    batch_export: bool = Field(
        default=True,
        description="Export in the background in batches (False: flushed right after the "
        "records queued so far are built).",
    )
    export_interval: float | None = Field(
        default=None,
        gt=0.0,
        description="Seconds between background exports of both spans and metrics; when set, "
        "it replaces bsp_schedule_delay and metric_export_interval.",
    )

    @field_validator(
        "endpoint", "traces_endpoint", "metrics_endpoint", "certificate", "client_key",
        "client_certificate", "traces_certificate", "metrics_certificate", "traces_client_key",
        "metrics_client_key", "traces_client_certificate", "metrics_client_certificate",
    )  # fmt: skip
    @classmethod
    def _check_endpoint(cls, value: str | None, info: Any) -> str | None:
        if value is None or not info.field_name.endswith("endpoint"):
            return value
        return _check_url(value)

    @field_validator("headers", "traces_headers", "metrics_headers", mode="before")
    @classmethod
    def _lower_header_names(cls, value: Any) -> Any:
        # gRPC metadata keys must be lower case; HTTP header names are
        # case-insensitive, so lower-casing is right for both.
        if isinstance(value, Mapping):
            return {str(k).strip().lower(): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _check_endpoints_for_their_protocol(self) -> Self:
        # OTLP/HTTP needs a URL with a scheme (the specification: "a valid URL with
        # scheme (http or https)"); only gRPC accepts host:port, where insecure
        # decides TLS. A bare host:port for OTLP/HTTP used to be accepted and then
        # every export failed ("No connection adapters").
        users = {
            "endpoint": [sig for sig in ("traces", "metrics")
                         if getattr(self, f"{sig}_endpoint") is None],
            "traces_endpoint": ["traces"], "metrics_endpoint": ["metrics"],
        }  # fmt: skip
        for field, signals in users.items():
            value = getattr(self, field)
            if value is None or not signals:
                continue
            protocols = {getattr(self, f"{sig}_protocol") or self.protocol for sig in signals}
            if "http/protobuf" in protocols and "://" not in value:
                self._from_env_or_raise(
                    field,
                    "expected a URL with a scheme (http:// or https://) for OTLP/HTTP "
                    f"(http/protobuf), got {_mask_url(value)!r:.80}",
                )
            elif "grpc" in protocols and _mask_url(value) != value:
                # A gRPC target cannot carry user:password@ (the SDK would put it
                # in its log lines, and no collector would see it).
                self._from_env_or_raise(
                    field,
                    "expected no user:password@ in a gRPC endpoint (send credentials as "
                    f"headers, e.g. authorization=Basic%20...), got {_mask_url(value)!r:.80}",
                )
        return self

    def __repr_args__(self) -> Any:
        # Credentials in an endpoint URL (user:password@) never appear in repr.
        for name, value in super().__repr_args__():
            yield name, _mask_url(value) if name in _ENDPOINTS and isinstance(value, str) else (
                value)  # fmt: skip

    @field_serializer("endpoint", "traces_endpoint", "metrics_endpoint")
    def _dump_endpoint(self, value: str | None) -> str | None:
        # Dumps (model_dump, model_dump_json) are for showing and logging: the
        # userinfo is write-only, like the SecretStr header values.
        return None if value is None else _mask_url(value)

    @classmethod
    def _finish_env(cls, out: dict[str, Any]) -> dict[str, Any]:
        # OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES.
        if "service_name" not in out:
            name = out.get("resource_attributes", {}).get("service.name")
            if name:
                out["service_name"] = name
        return out

    def signal(self, signal: Literal["traces", "metrics"]) -> SignalSettings:
        """Resolve one signal's options: per-signal value, else generic, else default.

        Args:
            signal: ``traces`` or ``metrics``.

        Returns:
            The options the signal's exporter is built with.
        """

        def pick(name: str) -> Any:
            own = getattr(self, f"{signal}_{name}")
            return getattr(self, name) if own is None else own

        protocol: str = pick("protocol")
        own_endpoint = getattr(self, f"{signal}_endpoint")
        if own_endpoint:
            endpoint = own_endpoint
        else:
            base = self.endpoint or _DEFAULT_ENDPOINT[protocol]
            # gRPC: used as is; HTTP: the specification's per-signal path rule.
            endpoint = base if protocol == "grpc" else f"{base.rstrip('/')}/v1/{signal}"
        scheme = endpoint.split("://", 1)[0].lower() if "://" in endpoint else ""
        if scheme in ("http", "https"):
            tls = scheme == "https"  # the scheme wins over insecure
        else:
            tls = protocol == "grpc" and not pick("insecure")
        return SignalSettings(
            signal=signal, protocol=protocol, endpoint=endpoint, tls=tls,
            headers=dict(pick("headers")), timeout=float(pick("timeout")),
            compression=pick("compression"), certificate=pick("certificate"),
            client_key=pick("client_key"), client_certificate=pick("client_certificate"),
        )  # fmt: skip

    def signal_endpoint(self, signal: Literal["traces", "metrics"]) -> str:
        """The URL one signal is sent to (see :meth:`signal`), credentials included.

        To show it, use ``signal(signal).shown_endpoint`` (credentials masked).
        """
        return self.signal(signal).endpoint

    @property
    def span_schedule_delay(self) -> float:
        """Seconds between span batch exports (``export_interval`` when set)."""
        return self.export_interval or self.bsp_schedule_delay

    @property
    def metric_interval(self) -> float:
        """Seconds between metric exports (``export_interval`` when set)."""
        return self.export_interval or self.metric_export_interval


class SentryExporterConfig(_Settings):
    """How :class:`~l0_monitoring.SentryExporter` initialises its ``sentry_sdk`` client."""

    dsn: Annotated[SecretStr | None, Env("SENTRY_DSN", _dsn)] = Field(
        default=None,
        description="Sentry DSN (SENTRY_DSN); secret. None: every call is a no-op.",
        json_schema_extra=_secret_schema,
    )
    environment: Annotated[str | None, Env("SENTRY_ENVIRONMENT")] = Field(
        default=None, description="Environment (SENTRY_ENVIRONMENT)."
    )
    release: Annotated[str | None, Env("SENTRY_RELEASE")] = Field(
        default=None, description="Release (SENTRY_RELEASE)."
    )
    server_name: Annotated[str | None, Env("SENTRY_SERVER_NAME")] = Field(
        default=None, description="Server name (SENTRY_SERVER_NAME)."
    )
    sample_rate: Annotated[float, Env("SENTRY_SAMPLE_RATE", _rate)] = Field(
        default=1.0, ge=0.0, le=1.0, description="Error event sample rate (SENTRY_SAMPLE_RATE)."
    )
    traces_sample_rate: Annotated[float, Env("SENTRY_TRACES_SAMPLE_RATE", _rate)] = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Transaction sample rate (SENTRY_TRACES_SAMPLE_RATE).",
    )
    profiles_sample_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Profile sample rate."
    )
    enabled: bool = Field(default=True, description="False makes every call a no-op.")
    debug: Annotated[bool, Env("SENTRY_DEBUG", _sentry_bool)] = Field(
        default=False,
        description="sentry_sdk debug logging (SENTRY_DEBUG: true, t, y, yes, on, 1 / false, "
        "f, n, no, off, 0, as sentry_sdk reads it).",
    )
    attach_stacktrace: bool = Field(default=True, description="Attach stack traces to messages.")
    send_default_pii: bool = Field(
        default=False,
        description="Let sentry-sdk collect personal data by itself (IP, request data); data "
        "passed explicitly (set_user email) is always sent.",
    )
    max_breadcrumbs: int = Field(default=100, ge=0, description="Breadcrumbs kept per scope.")
    tags: dict[str, str] = Field(
        default_factory=dict, description="Tags on events captured by this exporter."
    )

    @field_validator("dsn")
    @classmethod
    def _check_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        _check_dsn_text(value.get_secret_value())  # never quotes the value
        return value
