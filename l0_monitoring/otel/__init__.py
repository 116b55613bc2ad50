"""OpenTelemetry: spans and GenAI-convention metrics from the event stream, and OTLP export.

``opentelemetry`` is imported lazily (extra ``otel``): this package imports
without it and raises an ImportError naming ``pip install 'l0-monitoring[otel]'``
only when a tracer, meter or exporter is actually needed.

Modules: ``semconv`` (attribute names, convention version, bucket advice),
``config`` (:class:`OpenTelemetryConfig`), ``metrics`` (instruments and the
histogram backlog), ``facade`` (:class:`OpenTelemetry`, :class:`NoOpSpan`,
:func:`with_opentelemetry`), ``handler`` (:class:`OpenTelemetryHandler`) and
``exporter`` (:class:`OpenTelemetryExporter`, OTLP).
"""

from .config import OpenTelemetryConfig
from .exporter import OpenTelemetryExporter
from .facade import NoOpSpan, OpenTelemetry, with_opentelemetry
from .handler import OpenTelemetryHandler, create_opentelemetry_handler
from .semconv import SemanticAttributes, latest_semconv

__all__ = [
    "NoOpSpan",
    "OpenTelemetry",
    "OpenTelemetryConfig",
    "OpenTelemetryExporter",
    "OpenTelemetryHandler",
    "SemanticAttributes",
    "create_opentelemetry_handler",
    "latest_semconv",
    "with_opentelemetry",
]
