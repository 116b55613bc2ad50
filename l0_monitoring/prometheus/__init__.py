"""Prometheus: per-model series, text exposition, collector, SLO rules and dashboard.

Modules:

* :mod:`.series`: the per-model counters and fixed-bucket histograms a Monitor
  feeds once per finished stream (no dependency).
* :mod:`.text`: Prometheus text format 0.0.4 and OpenMetrics rendering of the
  series (no dependency; ``TelemetryExporter.to_prometheus`` uses it).
* :mod:`.collector`: :class:`MonitorCollector`, a ``prometheus_client``
  collector (extra ``prometheus``). Imported lazily, so ``import
  l0_monitoring.prometheus`` works without ``prometheus_client``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .collector import MonitorCollector

__all__ = ["MonitorCollector"]


def __getattr__(name: str) -> Any:
    # The collector needs prometheus_client; series and text do not.
    if name == "MonitorCollector":
        from .collector import MonitorCollector

        return MonitorCollector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
