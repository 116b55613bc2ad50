"""l0_monitoring: typed, low-overhead telemetry for L0 LLM token streams.

The public API mirrors ``l0.monitoring`` (ai2070-l0); event types live in
:mod:`l0_monitoring.events`.

Names are imported on first use (PEP 562 module ``__getattr__``): ``from
l0_monitoring import Monitor`` loads the monitor and its models, not the
OpenTelemetry and Sentry integrations or pydantic-settings, so a program (and
the ``l0-monitoring`` command) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; keep in step with _LAZY below
    from .config import MetricsConfig, MonitoringConfig, SamplingConfig
    from .events import ObservabilityEvent, ObservabilityEventType
    from .exceptions import L0ExecutionError, L0NetworkError
    from .exporters import TelemetryExporter
    from .handlers import BatchHandler, DebouncedHandler, EventHandler, Monitoring
    from .monitor import Monitor
    from .otel import (
        NoOpSpan,
        OpenTelemetry,
        OpenTelemetryConfig,
        OpenTelemetryExporter,
        OpenTelemetryHandler,
        SemanticAttributes,
        create_opentelemetry_handler,
        with_opentelemetry,
    )
    from .recording import EventRecorder, ReplayResult, iter_events, replay
    from .sentry import (
        Sentry,
        SentryConfig,
        SentryExporter,
        SentryHandler,
        create_sentry_handler,
        with_sentry,
    )
    from .settings import OpenTelemetryExporterConfig, SentryExporterConfig
    from .telemetry import (
        AggregateMetrics,
        DriftInfo,
        ErrorInfo,
        GuardrailInfo,
        Metrics,
        RetryInfo,
        Telemetry,
        TimingInfo,
    )

# Where each public name lives (a tuple: the first module that exists wins).
_OTEL = (".otel",)
_SENTRY = (".sentry",)
_LAZY: dict[str, tuple[str, ...]] = {
    "AggregateMetrics": (".telemetry",),
    "BatchHandler": (".handlers",),
    "DebouncedHandler": (".handlers",),
    "DriftInfo": (".telemetry",),
    "ErrorInfo": (".telemetry",),
    "EventHandler": (".handlers",),
    "EventRecorder": (".recording",),
    "GuardrailInfo": (".telemetry",),
    "L0ExecutionError": (".exceptions",),
    "L0NetworkError": (".exceptions",),
    "Metrics": (".telemetry",),
    "MetricsConfig": (".config",),
    "Monitor": (".monitor",),
    "Monitoring": (".handlers",),
    "MonitoringConfig": (".config",),
    "NoOpSpan": _OTEL,
    "ObservabilityEvent": (".events",),
    "ObservabilityEventType": (".events",),
    "OpenTelemetry": _OTEL,
    "OpenTelemetryConfig": _OTEL,
    "OpenTelemetryExporter": _OTEL,
    "OpenTelemetryExporterConfig": (".settings",),
    "OpenTelemetryHandler": _OTEL,
    "ReplayResult": (".recording",),
    "RetryInfo": (".telemetry",),
    "SamplingConfig": (".config",),
    "SemanticAttributes": _OTEL,
    "Sentry": _SENTRY,
    "SentryConfig": _SENTRY,
    "SentryExporter": _SENTRY,
    "SentryExporterConfig": (".settings",),
    "SentryHandler": _SENTRY,
    "Telemetry": (".telemetry",),
    "TelemetryExporter": (".exporters",),
    "TimingInfo": (".telemetry",),
    "create_opentelemetry_handler": _OTEL,
    "create_sentry_handler": _SENTRY,
    "iter_events": (".recording",),
    "replay": (".recording",),
    "with_opentelemetry": _OTEL,
    "with_sentry": _SENTRY,
}


def __getattr__(name: str) -> Any:
    """Import a public name on first use and cache it in the module namespace."""
    modules = _LAZY.get(name)
    if modules is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for i, relative in enumerate(modules):
        try:
            module = importlib.import_module(relative, __name__)
        except ModuleNotFoundError as exc:
            # Only "this location does not exist" moves on to the next one; a
            # missing optional dependency inside the module is the user's error.
            if exc.name != __name__ + relative or i == len(modules) - 1:
                raise
            continue
        if hasattr(module, name):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "AggregateMetrics",
    "BatchHandler",
    "DebouncedHandler",
    "DriftInfo",
    "ErrorInfo",
    "EventHandler",
    "EventRecorder",
    "GuardrailInfo",
    "L0ExecutionError",
    "L0NetworkError",
    "Metrics",
    "MetricsConfig",
    "Monitor",
    "Monitoring",
    "MonitoringConfig",
    "NoOpSpan",
    "ObservabilityEvent",
    "ObservabilityEventType",
    "OpenTelemetry",
    "OpenTelemetryConfig",
    "OpenTelemetryExporter",
    "OpenTelemetryExporterConfig",
    "OpenTelemetryHandler",
    "ReplayResult",
    "RetryInfo",
    "SamplingConfig",
    "SemanticAttributes",
    "Sentry",
    "SentryConfig",
    "SentryExporter",
    "SentryExporterConfig",
    "SentryHandler",
    "Telemetry",
    "TelemetryExporter",
    "TimingInfo",
    "__version__",
    "create_opentelemetry_handler",
    "create_sentry_handler",
    "iter_events",
    "replay",
    "with_opentelemetry",
    "with_sentry",
]
