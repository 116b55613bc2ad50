"""OTLP export of finished Telemetry records: own providers, bounded queue, counted failures."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from .._internal.guard import ErrorReporter
from .._internal.metahelpers import ms_to_ns
from .._internal.optional import require
from ..settings import OpenTelemetryExporterConfig
from ..telemetry import Telemetry
from .config import OpenTelemetryConfig
from .facade import NoOpSpan, OpenTelemetry

__all__ = ["OpenTelemetryExporter"]

_errors = ErrorReporter()


class _Counting:
    """Wraps an SDK exporter, counting failed exports instead of letting them pass silently."""

    def __init__(self, inner: Any, owner: OpenTelemetryExporter, signal: str) -> None:
        self._inner = inner
        self._owner = owner
        self._signal = signal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def export(self, batch: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = self._inner.export(batch, *args, **kwargs)
        except Exception as exc:
            self._owner._failed(self._signal, exc)
            raise
        if getattr(result, "name", "SUCCESS") != "SUCCESS":
            self._owner._failed(self._signal, None)
        return result


class OpenTelemetryExporter:
    """Exports finished Telemetry records as spans and metrics over OTLP.

    Uses its own ``TracerProvider`` and ``MeterProvider`` (never the process-wide
    globals). ``export()`` only enqueues (bounded) and returns at once; a daemon
    worker builds the span and metric points and, with ``batch_export=False``,
    flushes them right away. Failed and dropped exports are counted in
    :meth:`stats` and logged once per interval. ``shutdown()`` is idempotent and
    bounded by the configured timeout.

    Args:
        config: The exporter config (see ``OpenTelemetryExporterConfig.from_env``).
        max_queue: Records waiting for the worker at most; beyond, dropped and counted.
    """

    def __init__(
        self, config: OpenTelemetryExporterConfig | None = None, *, max_queue: int = 10_000,
        _span_exporter: Any = None, _metric_exporter: Any = None,
    ) -> None:  # fmt: skip
        self.config = config or OpenTelemetryExporterConfig.from_env()
        self._queue: queue.Queue[Telemetry | None] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._stats = {"exported": 0, "dropped": 0, "failed_exports": 0, "errors": 0}
        self._closed = False
        self._worker: threading.Thread | None = None
        self._tracer_provider: Any = None
        self._meter_provider: Any = None
        self._otel: OpenTelemetry | None = None
        self._span_exporter = _span_exporter
        self._metric_exporter = _metric_exporter
        if self.config.enabled:
            self._setup()

    def _setup(self) -> None:
        require("opentelemetry.sdk.trace", "otel")
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        cfg = self.config
        resource = Resource.create({**cfg.resource_attributes, "service.name": cfg.service_name})
        otel_cfg = OpenTelemetryConfig(service_name=cfg.service_name)
        tracer = meter = None
        if cfg.trace_enabled:
            span_exporter = self._span_exporter or self._make_exporter("traces")
            self._tracer_provider = TracerProvider(resource=resource)
            self._tracer_provider.add_span_processor(
                BatchSpanProcessor(
                    cast(Any, _Counting(span_exporter, self, "traces")),
                    schedule_delay_millis=cfg.export_interval * 1000,
                    export_timeout_millis=cfg.timeout * 1000,
                )
            )
            tracer = self._tracer_provider.get_tracer("l0_monitoring")
        if cfg.metrics_enabled:
            metric_exporter = self._metric_exporter or self._make_exporter("metrics")
            reader = PeriodicExportingMetricReader(
                cast(Any, _Counting(metric_exporter, self, "metrics")),
                export_interval_millis=cfg.export_interval * 1000,
                export_timeout_millis=cfg.timeout * 1000,
            )
            self._meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
            meter = self._meter_provider.get_meter("l0_monitoring")
        self._otel = OpenTelemetry(tracer, meter, otel_cfg)

    def _make_exporter(self, signal: str) -> Any:
        cfg = self.config
        endpoint = cfg.signal_endpoint("traces" if signal == "traces" else "metrics")
        headers = {k: v.get_secret_value() for k, v in cfg.headers.items()}
        if cfg.protocol == "grpc":
            from grpc import Compression

            compression = (
                Compression.Gzip if cfg.compression == "gzip" else Compression.NoCompression
            )
            if signal == "traces":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

                return OTLPSpanExporter(endpoint=endpoint, insecure=cfg.insecure,
                                        headers=headers or None, timeout=cfg.timeout,
                                        compression=compression)  # fmt: skip
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            return OTLPMetricExporter(endpoint=endpoint, insecure=cfg.insecure,
                                      headers=headers or None, timeout=cfg.timeout,
                                      compression=compression)  # fmt: skip
        from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

        http_compression = HttpCompression.Gzip if cfg.compression == "gzip" else (
            HttpCompression.NoCompression)  # fmt: skip
        if endpoint and signal == "traces" and not cfg.traces_endpoint:
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        if endpoint and signal == "metrics" and not cfg.metrics_endpoint:
            endpoint = endpoint.rstrip("/") + "/v1/metrics"
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpSpanExporter,
            )

            return HttpSpanExporter(endpoint=endpoint, headers=headers or None,
                                    timeout=cfg.timeout, compression=http_compression)  # fmt: skip
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpMetricExporter,
        )

        return HttpMetricExporter(endpoint=endpoint, headers=headers or None,
                                  timeout=cfg.timeout, compression=http_compression)  # fmt: skip

    def _failed(self, signal: str, exc: BaseException | None) -> None:
        with self._lock:
            self._stats["failed_exports"] += 1
        _errors.report(f"otlp.{signal}", f"l0_monitoring: OTLP {signal} export failed", exc)

    def export(self, telemetry: Telemetry) -> None:
        """Queue one record for export; returns at once and never raises."""
        if self._closed or self._otel is None:
            return
        try:
            self._queue.put_nowait(telemetry)
        except queue.Full:
            with self._lock:
                self._stats["dropped"] += 1
            _errors.report("otlp.queue", "l0_monitoring: OTLP export queue full, record dropped")
            return
        if self._worker is None or not self._worker.is_alive():
            with self._lock:
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(
                        target=self._run, name="l0-monitoring-otlp", daemon=True
                    )
                    self._worker.start()

    __call__ = export

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._emit(item)
                with self._lock:
                    self._stats["exported"] += 1
                if not self.config.batch_export:
                    self._flush_providers(self.config.timeout)
            except Exception as exc:
                with self._lock:
                    self._stats["errors"] += 1
                _errors.report("otlp.emit", "l0_monitoring: building OTLP data failed", exc)

    def _emit(self, t: Telemetry) -> None:
        otel = self._otel
        assert otel is not None
        start = ms_to_ns(t.timing.started_at.timestamp() * 1000) if t.timing.started_at else None
        end = ms_to_ns(t.timing.completed_at.timestamp() * 1000) if t.timing.completed_at else None
        if otel._tracer is not None:
            span = otel.create_span(otel.span_name(t.model), start_time=start)
            otel.record_telemetry(t, span)
            span.end(end_time=end)
        else:
            otel.record_telemetry(t)

    def _flush_providers(self, timeout: float) -> None:
        millis = int(timeout * 1000)
        if self._tracer_provider is not None:
            self._tracer_provider.force_flush(millis)
        if self._meter_provider is not None:
            self._meter_provider.force_flush(millis)

    def flush(self, timeout: float | None = None) -> bool:
        """Export everything queued so far; bounded by ``timeout`` (default: config.timeout)."""
        limit = self.config.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        return _bounded(lambda: self._flush_providers(max(0.0, deadline - time.monotonic())),
                        max(0.0, deadline - time.monotonic()) + 0.5)  # fmt: skip

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush and stop; idempotent, returns within about ``timeout`` (default config.timeout)."""
        if self._closed:
            return
        self._closed = True
        limit = self.config.timeout if timeout is None else timeout
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        worker = self._worker
        if worker is not None:
            worker.join(limit / 2)

        def stop() -> None:
            if self._tracer_provider is not None:
                self._tracer_provider.shutdown()
            if self._meter_provider is not None:
                self._meter_provider.shutdown(timeout_millis=limit * 1000)

        _bounded(stop, limit / 2 + 0.5)

    def stats(self) -> dict[str, int]:
        """Counters: exported, dropped (queue full), failed_exports (OTLP), errors, queued."""
        with self._lock:
            return {**self._stats, "queued": self._queue.qsize()}

    def create_span(self, name: str, **attributes: Any) -> Any:
        """Start a span on this exporter's own tracer (NoOpSpan when traces are off)."""
        if self._otel is None:
            return NoOpSpan()
        return self._otel.create_span(name, attributes)


def _bounded(fn: Callable[[], object], timeout: float) -> bool:
    """Run ``fn`` on a daemon thread, waiting at most ``timeout`` seconds for it."""
    done = threading.Event()

    def run() -> None:
        try:
            fn()
        except Exception as exc:
            _errors.report("otlp.shutdown", "l0_monitoring: OTLP flush/shutdown failed", exc)
        finally:
            done.set()

    threading.Thread(target=run, name="l0-monitoring-otlp-stop", daemon=True).start()
    return done.wait(timeout)
