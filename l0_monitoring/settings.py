"""Exporter settings (pydantic-settings): explicit argument > environment > default.

* :class:`OpenTelemetryExporterConfig` reads the OpenTelemetry SDK environment
  variables as the specification defines them (``OTEL_SERVICE_NAME``,
  ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_*`` with per-signal
  variants winning, ``OTEL_SDK_DISABLED``).
* :class:`SentryExporterConfig` reads ``SENTRY_DSN``, ``SENTRY_ENVIRONMENT``,
  ``SENTRY_RELEASE``, ``SENTRY_DEBUG``, and this package's own
  ``SENTRY_SAMPLE_RATE``, ``SENTRY_TRACES_SAMPLE_RATE``, ``SENTRY_SERVER_NAME``
  (sentry-sdk itself does not read sample rates from the environment).

A bad value raises ``ValueError`` naming the variable and the expected form.
Secrets (the DSN, OTLP header values) are ``SecretStr``: never in ``repr``, logs
or exported data; the JSON Schemas mark them ``writeOnly`` without defaults.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["PUBLISHED", "OpenTelemetryExporterConfig", "SentryExporterConfig"]

PUBLISHED = ("OpenTelemetryExporterConfig", "SentryExporterConfig")
"""Settings classes whose JSON Schemas are published in ``schemas/``."""


def _secret_schema(schema: dict[str, Any]) -> None:
    # Secrets are write-only and never carry a default in the published schema.
    schema.pop("default", None)
    schema["writeOnly"] = True


# -- parsing helpers: each names the variable it read ------------------------------


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token


def _bool(var: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{var}: expected true or false, got {raw!r:.60}")


def _float(var: str, raw: str, *, lo: float, hi: float = math.inf) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{var}: expected a number, got {raw!r:.60}") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        bound = f"between {lo} and {hi}" if hi != math.inf else f">= {lo}"
        raise ValueError(f"{var}: expected a number {bound}, got {raw!r:.60}")
    return value


def _millis(var: str, raw: str) -> float:
    # The OpenTelemetry specification defines timeouts as integer milliseconds.
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"{var}: expected integer milliseconds, got {raw!r:.60}") from None
    if value <= 0:
        raise ValueError(f"{var}: expected positive integer milliseconds, got {raw!r:.60}")
    return value / 1000.0


def _pairs(var: str, raw: str) -> dict[str, str]:
    """Parse ``k1=v1,k2=v2`` with percent-encoded values (W3C baggage format)."""
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{var}: expected key=value pairs separated by commas")
        try:
            out[key] = unquote(value.strip(), errors="strict")
        except UnicodeDecodeError:
            raise ValueError(f"{var}: value of {key!r} is not valid percent-encoding") from None
    return out


def _env(environ: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """Return (variable, value) of the first set, non-empty variable among ``names``."""
    for name in names:
        value = environ.get(name)
        if value is not None and value.strip() != "":
            return name, value
    return None


class _EnvSource(PydanticBaseSettingsSource):
    """A settings source that maps environment variables to fields with named errors."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        reader: Callable[[Mapping[str, str]], dict[str, Any]],
    ) -> None:
        super().__init__(settings_cls)
        self._reader = reader

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Not used: __call__ reads everything at once (variables map to fields
        # non-trivially, e.g. per-signal OTLP endpoints).
        return None, field_name, False  # pragma: no cover

    def __call__(self) -> dict[str, Any]:
        environ = _ENVIRON.get()
        return self._reader(os.environ if environ is None else environ)


# from_env(environ=...) reads that mapping instead of os.environ; a context
# variable keeps concurrent calls (threads, tasks) apart.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("l0_monitoring_environ", default=None)


class _Settings(BaseSettings):
    # hide_input_in_errors: a rejected value may be a secret (a DSN, a header token).
    model_config = SettingsConfigDict(
        extra="forbid", validate_default=True, hide_input_in_errors=True
    )

    _ENV_NAMES: ClassVar[dict[str, str]] = {}

    @classmethod
    def _read_env(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        raise NotImplementedError

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
        return init_settings, _EnvSource(settings_cls, cls._read_env)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Build the config from the environment (``os.environ`` by default).

        Args:
            environ: A mapping to read instead of ``os.environ``.
            **overrides: Explicit values, which win over the environment.

        Returns:
            The validated config.

        Raises:
            ValueError: Naming the variable (or the field, for an override)
                when a value is malformed.
        """
        return cls._from(environ, **overrides)

    @classmethod
    def _from(cls, environ: Mapping[str, str] | None, **overrides: Any) -> Self:
        token = _ENVIRON.set(environ)
        try:
            return cls(**overrides)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err.get("loc") else "?"
            where = field if field in overrides else cls._ENV_NAMES.get(field, field)
            raise ValueError(f"{where}: {err['msg']}") from None
        finally:
            _ENVIRON.reset(token)


class OpenTelemetryExporterConfig(_Settings):
    """Where and how :class:`~l0_monitoring.OpenTelemetryExporter` sends OTLP.

    ``from_env()`` follows the OpenTelemetry SDK environment specification;
    constructing the class directly also reads the environment, with explicit
    arguments winning.
    """

    service_name: str = Field(
        default="l0", description="service.name resource attribute (OTEL_SERVICE_NAME)."
    )
    endpoint: str | None = Field(
        default=None,
        description="OTLP endpoint URL, e.g. http://localhost:4317 "
        "(OTEL_EXPORTER_OTLP_ENDPOINT; per-signal variables win). None: the SDK default.",
    )
    traces_endpoint: str | None = Field(
        default=None, description="Traces endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)."
    )
    metrics_endpoint: str | None = Field(
        default=None, description="Metrics endpoint (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT)."
    )
    protocol: Literal["grpc", "http/protobuf"] = Field(
        default="grpc", description="OTLP transport (OTEL_EXPORTER_OTLP_PROTOCOL)."
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Request headers, values secret (OTEL_EXPORTER_OTLP_HEADERS, "
        "percent-decoded; names lower-cased for gRPC).",
        json_schema_extra=_secret_schema,
    )
    insecure: bool = Field(
        default=False,
        description="gRPC without TLS when the endpoint has no scheme "
        "(OTEL_EXPORTER_OTLP_INSECURE).",
    )
    compression: Literal["none", "gzip"] = Field(
        default="none", description="OTLP compression (OTEL_EXPORTER_OTLP_COMPRESSION)."
    )
    timeout: float = Field(
        default=10.0,
        gt=0.0,
        description="Export timeout in seconds (OTEL_EXPORTER_OTLP_TIMEOUT is milliseconds).",
    )
    resource_attributes: dict[str, str] = Field(
        default_factory=dict,
        description="Extra resource attributes (OTEL_RESOURCE_ATTRIBUTES, percent-decoded).",
    )
    enabled: bool = Field(default=True, description="False disables export (OTEL_SDK_DISABLED).")
    trace_enabled: bool = Field(default=True, description="Export spans.")
    metrics_enabled: bool = Field(default=True, description="Export metrics.")
    batch_export: bool = Field(
        default=True, description="Export in the background in batches (False: on export())."
    )
    export_interval: float = Field(
        default=5.0, gt=0.0, description="Seconds between background exports."
    )

    _ENV_NAMES: ClassVar[dict[str, str]] = {
        "service_name": "OTEL_SERVICE_NAME",
        "endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
        "traces_endpoint": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "metrics_endpoint": "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "protocol": "OTEL_EXPORTER_OTLP_PROTOCOL",
        "headers": "OTEL_EXPORTER_OTLP_HEADERS",
        "insecure": "OTEL_EXPORTER_OTLP_INSECURE",
        "compression": "OTEL_EXPORTER_OTLP_COMPRESSION",
        "timeout": "OTEL_EXPORTER_OTLP_TIMEOUT",
        "resource_attributes": "OTEL_RESOURCE_ATTRIBUTES",
        "enabled": "OTEL_SDK_DISABLED",
    }

    @field_validator("endpoint", "traces_endpoint", "metrics_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value if "://" in value else f"http://{value}")
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.hostname
            or any(c.isspace() for c in value)
        ):
            raise ValueError(
                f"expected a URL like http://localhost:4317 (or host:port), got {value!r:.80}"
            )
        try:
            parsed.port  # noqa: B018  # raises on a non-numeric port
        except ValueError:
            raise ValueError(f"expected a numeric port in {value!r:.80}") from None
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _lower_header_names(cls, value: Any) -> Any:
        # gRPC metadata keys must be lower case; HTTP header names are
        # case-insensitive, so lower-casing is right for both.
        if isinstance(value, Mapping):
            return {str(k).strip().lower(): v for k, v in value.items()}
        return value

    @classmethod
    def _read_env(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        found = _env(environ, "OTEL_RESOURCE_ATTRIBUTES")
        if found:
            try:
                out["resource_attributes"] = _pairs(*found)
            except ValueError:
                # The specification: on a decoding error, discard the whole value.
                out["resource_attributes"] = {}
        found = _env(environ, "OTEL_SERVICE_NAME")
        if found:
            out["service_name"] = found[1].strip()
        elif out.get("resource_attributes", {}).get("service.name"):
            out["service_name"] = out["resource_attributes"]["service.name"]
        found = _env(environ, "OTEL_EXPORTER_OTLP_ENDPOINT")
        if found:
            out["endpoint"] = found[1].strip()
        for signal in ("traces", "metrics"):
            found = _env(environ, f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
            if found:
                out[f"{signal}_endpoint"] = found[1].strip()
        found = _env(environ, "OTEL_EXPORTER_OTLP_PROTOCOL")
        if found:
            value = found[1].strip().lower()
            if value not in ("grpc", "http/protobuf"):
                raise ValueError(
                    f"{found[0]}: expected grpc or http/protobuf, got {found[1]!r:.60}"
                )
            out["protocol"] = value
        found = _env(environ, "OTEL_EXPORTER_OTLP_HEADERS")
        if found:
            headers = _pairs(*found)
            for name in headers:
                if not _HEADER_NAME.fullmatch(name):
                    raise ValueError(
                        f"{found[0]}: expected header names made of letters, digits and "
                        f"!#$%&'*+.^_`|~-, got {name!r:.60}"
                    )
            out["headers"] = headers
        found = _env(environ, "OTEL_EXPORTER_OTLP_INSECURE")
        if found:
            out["insecure"] = _bool(*found)
        found = _env(environ, "OTEL_EXPORTER_OTLP_COMPRESSION")
        if found:
            value = found[1].strip().lower()
            if value not in ("gzip", "none"):
                raise ValueError(f"{found[0]}: expected gzip or none, got {found[1]!r:.60}")
            out["compression"] = value
        found = _env(environ, "OTEL_EXPORTER_OTLP_TIMEOUT")
        if found:
            out["timeout"] = _millis(*found)
        found = _env(environ, "OTEL_SDK_DISABLED")
        if found:
            out["enabled"] = not _bool(*found)
        return out

    def signal_endpoint(self, signal: Literal["traces", "metrics"]) -> str | None:
        """The endpoint for one signal: its own variable wins over the shared one."""
        own = self.traces_endpoint if signal == "traces" else self.metrics_endpoint
        return own or self.endpoint


def _dsn_problem(dsn: str) -> str | None:
    """Why the Sentry client would reject ``dsn`` (None if it accepts it); never echoes it.

    What the config accepts, ``sentry_sdk.init()`` accepts: the DSN is parsed
    by the SDK's own parser (``sentry_sdk.utils.Dsn``) when it is installed,
    else by the same rules (http/https, a public key, a host, a port in range,
    a numeric project id last in the path).
    """
    parsed = urlsplit(dsn)
    secrets = [x for x in (dsn, parsed.username, parsed.password) if x]
    try:
        sdk_utils: Any = importlib.import_module("sentry_sdk.utils")
    except ImportError:
        sdk_utils = None
    try:
        if sdk_utils is not None:
            sdk_utils.Dsn(dsn)
            return None
        project = parsed.path.rsplit("/", 1)[-1]
        if parsed.scheme not in ("http", "https"):
            return "unsupported scheme"
        _ = parsed.port  # raises ValueError when out of range
        if not parsed.hostname:
            return "missing host"
        if not parsed.username:
            return "missing public key"
        if not project.isdigit():
            return "invalid project id (the last path segment must be a number)"
        return None
    except Exception as exc:  # the SDK's BadDsn, or ValueError from urllib
        reason = str(exc)
        if any(secret in reason for secret in secrets):
            reason = type(exc).__name__  # never echo the DSN or its key
        return f"the Sentry client rejects this DSN: {reason}"


class SentryExporterConfig(_Settings):
    """How :class:`~l0_monitoring.SentryExporter` initialises ``sentry_sdk``."""

    dsn: SecretStr | None = Field(
        default=None,
        description="Sentry DSN (SENTRY_DSN); secret. None: every call is a no-op.",
        json_schema_extra=_secret_schema,
    )
    environment: str | None = Field(default=None, description="Environment (SENTRY_ENVIRONMENT).")
    release: str | None = Field(default=None, description="Release (SENTRY_RELEASE).")
    server_name: str | None = Field(default=None, description="Server name (SENTRY_SERVER_NAME).")
    sample_rate: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Error event sample rate (SENTRY_SAMPLE_RATE)."
    )
    traces_sample_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Transaction sample rate (SENTRY_TRACES_SAMPLE_RATE).",
    )
    profiles_sample_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Profile sample rate."
    )
    enabled: bool = Field(default=True, description="False makes every call a no-op.")
    debug: bool = Field(default=False, description="sentry_sdk debug logging (SENTRY_DEBUG).")
    attach_stacktrace: bool = Field(default=True, description="Attach stack traces to messages.")
    send_default_pii: bool = Field(
        default=False, description="Send personal data (user email, IP); off by default."
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
        problem = _dsn_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(
                f"{problem}; expected a DSN like https://<public key>@<host>/<project id>"
            )
        return value

    _ENV_NAMES: ClassVar[dict[str, str]] = {
        "dsn": "SENTRY_DSN",
        "environment": "SENTRY_ENVIRONMENT",
        "release": "SENTRY_RELEASE",
        "server_name": "SENTRY_SERVER_NAME",
        "sample_rate": "SENTRY_SAMPLE_RATE",
        "traces_sample_rate": "SENTRY_TRACES_SAMPLE_RATE",
        "debug": "SENTRY_DEBUG",
    }

    @classmethod
    def _read_env(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in ("dsn", "environment", "release", "server_name"):
            found = _env(environ, cls._ENV_NAMES[field])
            if found:
                out[field] = found[1].strip()
        for field in ("sample_rate", "traces_sample_rate"):
            found = _env(environ, cls._ENV_NAMES[field])
            if found:
                out[field] = _float(*found, lo=0.0, hi=1.0)
        found = _env(environ, "SENTRY_DEBUG")
        if found:
            out["debug"] = _bool(*found)
        return out
