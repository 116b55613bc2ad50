"""l0_monitoring: typed, low-overhead telemetry for L0 LLM token streams.

The public API mirrors ``l0.monitoring`` (ai2070-l0); event types live in
:mod:`l0_monitoring.events`.
"""

from ._version import __version__
from .config import MetricsConfig, MonitoringConfig, SamplingConfig
from .events import ObservabilityEvent, ObservabilityEventType
from .exporters import TelemetryExporter
from .handlers import BatchHandler, DebouncedHandler, EventHandler, Monitoring
from .integrations.otel import (
    NoOpSpan,
    OpenTelemetry,
    OpenTelemetryConfig,
    OpenTelemetryExporter,
    OpenTelemetryHandler,
    SemanticAttributes,
    create_opentelemetry_handler,
    with_opentelemetry,
)
from .monitor import Monitor
from .recording import EventRecorder, ReplayResult, iter_events, replay
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
    "SentryExporterConfig",
    "Telemetry",
    "TelemetryExporter",
    "TimingInfo",
    "__version__",
    "create_opentelemetry_handler",
    "iter_events",
    "replay",
    "with_opentelemetry",
]
