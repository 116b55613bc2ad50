"""Sentry: breadcrumbs and captured failures from the event stream, and an exporter.

``sentry_sdk`` is imported lazily (extra ``sentry``). Modules: ``client``
(:class:`SentryConfig`, :class:`Sentry`, :func:`with_sentry`), ``handler``
(:class:`SentryHandler`) and ``exporter`` (:class:`SentryExporter`).
"""

from .client import Sentry, SentryConfig, telemetry_context, with_sentry
from .exporter import SentryExporter
from .handler import SentryHandler, create_sentry_handler

__all__ = [
    "Sentry",
    "SentryConfig",
    "SentryExporter",
    "SentryHandler",
    "create_sentry_handler",
    "telemetry_context",
    "with_sentry",
]
