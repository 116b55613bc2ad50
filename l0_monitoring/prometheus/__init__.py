"""Prometheus: per-model series, text exposition, collector, SLO rules and dashboard.

Modules:

* :mod:`.series`: the per-model counters and fixed-bucket histograms a Monitor
  feeds once per finished stream (no dependency).
* :mod:`.text`: Prometheus text format 0.0.4 and OpenMetrics rendering of the
  series (no dependency; ``TelemetryExporter.to_prometheus`` uses it).
* :mod:`.collector`: :class:`MonitorCollector`, a ``prometheus_client``
  collector (extra ``prometheus``). Imported lazily, so ``import
  l0_monitoring.prometheus`` works without ``prometheus_client``.
* :mod:`.serve`: ``/metrics`` from our own cached rendering (WSGI app and a
  threaded server; OpenMetrics with exemplars when asked).
* :mod:`.multiprocess`: several worker processes behind one ``/metrics``
  (series files in a shared directory, merged at each scrape).
* :mod:`.slo`: the SLO targets (``SLOConfig``) and what is generated from them:
  recording and alerting rules, a Grafana dashboard, the ``check`` evaluation.
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
