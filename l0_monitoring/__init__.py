"""l0_monitoring: typed, low-overhead telemetry for L0 LLM token streams.

The public API mirrors ``l0.monitoring`` (ai2070-l0); event types live in
:mod:`l0_monitoring.events`.
"""

from ._version import __version__
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
