"""OTLP export of finished Telemetry records: own providers, bounded queue, truthful counts.

Configuration comes only from :class:`~l0_monitoring.OpenTelemetryExporterConfig`:
every option is passed to the SDK exporters explicitly (the SDK would otherwise
re-read ``OTEL_EXPORTER_OTLP_*`` from the process environment for each option
given as None), the providers get an explicit sampler (always on), span limits,
exemplar filter and are never disabled by ``OTEL_SDK_DISABLED`` behind the
config's back, and the resource is built from the config's attributes (never
``Resource.create``, which merges ``OTEL_RESOURCE_ATTRIBUTES`` again).

Delivery accounting: every accepted record ends as exactly one of ``exported``
(its span reached the collector; with traces off, the metric export after it
succeeded), ``failed`` (the export carrying it failed), ``dropped`` (queue full,
or not delivered when ``shutdown()``'s deadline passed) or ``errors`` (building
its span raised). While running, the rest is ``queued``; after ``shutdown()``
nothing is.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any, cast

from .._internal.guard import ErrorReporter
from .._internal.metahelpers import ms_to_ns
from .._internal.optional import require
from ..settings import OpenTelemetryExporterConfig, SignalSettings
from ..telemetry import Telemetry
from .config import OpenTelemetryConfig
from .facade import NoOpSpan, OpenTelemetry

__all__ = ["OpenTelemetryExporter"]

_errors = ErrorReporter()
_SETTLE = 0.3  # seconds given to aborted exports to report before the counts are final
_BATCH = 512  # records built per unbatched flush at most


class _Counting:
    """Wraps an SDK exporter: counts what each export delivered or failed to deliver.

    ``dead`` wrappers (a forked child's inherited providers, or after the
    owner's counts became final) send nothing and report success, so an
    inherited batch is never exported twice and a late result changes nothing.
    """

    def __init__(self, inner: Any, owner: OpenTelemetryExporter, signal: str) -> None:
        self._inner = inner
        self._owner = owner
        self._signal = signal
        self._stopped = False
        self.dead = False
        if signal == "traces":
            from opentelemetry.sdk.trace.export import SpanExportResult

            self._ok: Any = SpanExportResult.SUCCESS
            self._failure: Any = SpanExportResult.FAILURE
        else:
            from opentelemetry.sdk.metrics.export import MetricExportResult

            self._ok = MetricExportResult.SUCCESS
            self._failure = MetricExportResult.FAILURE

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def export(self, batch: Any, *args: Any, **kwargs: Any) -> Any:
        if self.dead:
            return self._ok
        size = len(batch) if self._signal == "traces" else self._owner._take_metric_records()
        if self._stopped:  # aborted at the shutdown deadline: what is left is not sent
            self._owner._result(self._signal, size, ok=False, exc=None)
            return self._failure
        try:
            result = self._inner.export(batch, *args, **kwargs)
        except Exception as exc:
            if not self.dead:
                self._owner._result(self._signal, size, ok=False, exc=exc)
            raise
        if not self.dead:
            self._owner._result(self._signal, size, ok=result == self._ok, exc=None)
        return result

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        if self.dead:
            return True
        return bool(self._inner.force_flush(timeout_millis))

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        # Once: the SDK exporters log a warning when shut down twice.
        if self._stopped:
            return
        self._stopped = True
        self._inner.shutdown(*args, **kwargs)


def _read(path: str | None, what: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        _errors.report("otlp.tls", f"l0_monitoring: cannot read the OTLP {what} file", exc)
        return None


def _make_exporter(s: SignalSettings, cfg: OpenTelemetryExporterConfig) -> Any:
    """Build the SDK exporter of one signal from exactly the resolved settings.

    The SDK exporters read ``OTEL_EXPORTER_OTLP_*`` from ``os.environ`` for every
    option passed as None (or empty); every option is therefore passed with a value,
    and where the SDK has no way to say "none" (no headers, no client key) the
    SDK's reading is replaced after construction.
    """
    headers = {k: v.get_secret_value() for k, v in s.headers.items()}
    metric_options = _metric_options(cfg) if s.signal == "metrics" else {}
    if s.protocol == "grpc":
        import grpc

        compression = grpc.Compression.Gzip if s.compression == "gzip" else (
            grpc.Compression.NoCompression)  # fmt: skip
        credentials = None
        if s.tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(s.certificate, "certificate"),
                private_key=_read(s.client_key, "client key"),
                certificate_chain=_read(s.client_certificate, "client certificate"),
            )
        if s.signal == "traces":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpans,
            )

            cls: Any = GrpcSpans
        else:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter as GrpcMetrics,
            )

            cls = GrpcMetrics
        exporter = cls(
            endpoint=s.endpoint, insecure=not s.tls, credentials=credentials,
            headers=headers or None, timeout=s.timeout, compression=compression,
            **metric_options,
        )  # fmt: skip
        if hasattr(exporter, "_headers"):
            # Without headers the SDK falls back to OTEL_EXPORTER_OTLP_HEADERS from
            # os.environ; the config is the only source.
            exporter._headers = tuple(headers.items())
        return exporter
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

    http_compression = HttpCompression.Gzip if s.compression == "gzip" else (
        HttpCompression.NoCompression)  # fmt: skip
    if s.signal == "traces":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpSpans,
        )

        http_cls: Any = HttpSpans
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpMetrics,
        )

        http_cls = HttpMetrics
    tls: dict[str, Any] = {
        "certificate_file": s.certificate or True, "client_key_file": s.client_key,
        "client_certificate_file": s.client_certificate,
    }  # fmt: skip
    transport = _http_transport(http_cls, s)
    if transport is not None:
        # The SDK reads OTEL_EXPORTER_OTLP_*CLIENT_KEY/_CLIENT_CERTIFICATE/_CERTIFICATE
        # (and a credential-provider session) from os.environ for each file given as
        # None; a transport built here from the config alone replaces that reading.
        tls = {"_transport": transport}
    exporter = http_cls(
        endpoint=s.endpoint, headers=headers, timeout=s.timeout, compression=http_compression,
        **tls, **metric_options,
    )  # fmt: skip
    client = getattr(exporter, "_client", None)
    if client is not None and hasattr(client, "_headers"):
        # The SDK merges OTEL_EXPORTER_OTLP_*HEADERS from os.environ under ours.
        own = ("user-agent", "content-type", "content-encoding")
        base = {k: v for k, v in client._headers.items() if k.lower() in own}
        client._headers = {**base, **headers}
    return exporter


def _http_transport(http_cls: Any, s: SignalSettings) -> Any:
    """A requests transport with exactly the config's TLS files (None: SDK too old)."""
    import inspect

    if "_transport" not in inspect.signature(http_cls.__init__).parameters:
        return None  # pragma: no cover - opentelemetry-exporter-otlp-proto-http < 1.4x
    import requests
    from opentelemetry.exporter.http.transport._requests import RequestsHTTPTransport

    cert: str | tuple[str, str] | None = s.client_certificate
    if s.client_certificate and s.client_key:
        cert = (s.client_certificate, s.client_key)
    return RequestsHTTPTransport(
        verify=s.certificate or True, cert=cert, session=requests.Session()
    )


def _metric_options(cfg: OpenTelemetryExporterConfig) -> dict[str, Any]:
    """Temporality and histogram aggregation from the config, for every instrument kind.

    The SDK metric exporters start from OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE
    and OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION in ``os.environ``
    and let the values passed here replace them; every kind is passed.
    """
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics.export import AggregationTemporality
    from opentelemetry.sdk.metrics.view import (
        ExplicitBucketHistogramAggregation,
        ExponentialBucketHistogramAggregation,
    )

    delta, cumulative = AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE
    # The OTLP metrics exporter specification's table of temporality preferences.
    pref = cfg.metrics_temporality_preference
    temporality = {
        Counter: cumulative if pref == "cumulative" else delta,
        UpDownCounter: cumulative,
        Histogram: cumulative if pref == "cumulative" else delta,
        ObservableCounter: delta if pref == "delta" else cumulative,
        ObservableUpDownCounter: cumulative,
        ObservableGauge: cumulative,
    }
    histogram: Any = (
        ExponentialBucketHistogramAggregation()
        if cfg.metrics_default_histogram_aggregation == "base2_exponential_bucket_histogram"
        else ExplicitBucketHistogramAggregation()
    )
    return {"preferred_temporality": temporality, "preferred_aggregation": {Histogram: histogram}}


class OpenTelemetryExporter:
    """Exports finished Telemetry records as spans and metrics over OTLP.

    Uses its own ``TracerProvider`` and ``MeterProvider`` (never the process-wide
    globals). ``export()`` only enqueues (bounded) and returns at once; a daemon
    worker builds the span and metric points and, with ``batch_export=False``,
    flushes them right away. ``stats()`` says what happened to every record;
    ``shutdown()`` is idempotent, bounded by its timeout, and leaves final counts.
    A span is the child of the span that was current when the record was passed
    to ``export()`` (the stream's own context under ``l0.run``).

    After ``os.fork()`` the child starts afresh: new providers, a new
    ``service.instance.id``, zero counts, an empty queue; nothing inherited from
    the parent is exported again.

    Args:
        config: The exporter config (default: ``OpenTelemetryExporterConfig.from_env()``).
        max_queue: Records waiting for the worker at most; beyond, dropped and counted.
    """

    def __init__(
        self, config: OpenTelemetryExporterConfig | None = None, *, max_queue: int = 10_000,
        _span_exporter: Any = None, _metric_exporter: Any = None,
    ) -> None:  # fmt: skip
        self.config = config or OpenTelemetryExporterConfig.from_env()
        self._max_queue = max_queue
        self._span_exporter = _span_exporter
        self._metric_exporter = _metric_exporter
        self._fresh()
        if self.config.enabled and (self.config.trace_enabled or self.config.metrics_enabled):
            self._setup()
            _LIVE.add(self)

    def _fresh(self) -> None:
        self._queue: queue.Queue[tuple[Telemetry, Any] | None] = queue.Queue(self._max_queue)
        self._lock = threading.Lock()
        self._stats = {"exported": 0, "failed": 0, "dropped": 0, "errors": 0,
                       "failed_exports": 0}  # fmt: skip
        self._accepted = 0
        self._emitted = 0  # records built into the SDK, fate not known yet
        self._metric_records = 0  # built since the last metric export (traces off)
        self._final = False
        self._closed = False
        self._worker: threading.Thread | None = None
        self._tracer_provider: Any = None
        self._meter_provider: Any = None
        self._otel: OpenTelemetry | None = None
        self._wrappers: list[_Counting] = []
        self._current_context: Callable[[], Any] | None = None
        self.instance_id = str(uuid.uuid4())

    def _setup(self) -> None:
        require("opentelemetry.sdk.trace", "otel")
        from opentelemetry import context as otel_context
        from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON

        cfg = self.config
        # Exactly the config's attributes: Resource.create would merge
        # OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME from os.environ again.
        attributes: dict[str, Any] = {
            "service.instance.id": self.instance_id,
            **cfg.resource_attributes,
            "service.name": cfg.service_name,
        }
        resource = Resource(attributes)
        tracer = meter = None
        if cfg.trace_enabled:
            spans = _Counting(self._span_exporter or _make_exporter(cfg.signal("traces"), cfg),
                              self, "traces")  # fmt: skip
            self._wrappers.append(spans)
            # An explicit sampler and explicit limits: given None, the SDK reads
            # OTEL_TRACES_SAMPLER and OTEL_*_LIMIT from os.environ (and raises on a
            # malformed limit). Every record becomes a span (sampling is the Monitor's).
            self._tracer_provider = TracerProvider(
                resource=resource, shutdown_on_exit=False, sampler=ALWAYS_ON,
                span_limits=_span_limits(),
            )  # fmt: skip
            _enable(self._tracer_provider)
            self._tracer_provider.add_span_processor(
                BatchSpanProcessor(
                    cast(Any, spans),
                    max_queue_size=cfg.bsp_max_queue_size,
                    schedule_delay_millis=cfg.span_schedule_delay * 1000,
                    max_export_batch_size=min(cfg.bsp_max_export_batch_size,
                                              cfg.bsp_max_queue_size),
                    export_timeout_millis=cfg.bsp_export_timeout * 1000,
                )
            )  # fmt: skip
            tracer = self._tracer_provider.get_tracer("l0_monitoring")
            self._current_context = otel_context.get_current
        if cfg.metrics_enabled:
            metrics = _Counting(
                self._metric_exporter or _make_exporter(cfg.signal("metrics"), cfg), self, "metrics"
            )
            self._wrappers.append(metrics)
            reader = PeriodicExportingMetricReader(
                cast(Any, metrics),
                export_interval_millis=cfg.metric_interval * 1000,
                export_timeout_millis=cfg.metric_export_timeout * 1000,
            )
            # The specification's default exemplar filter, explicitly: given None,
            # the SDK reads OTEL_METRICS_EXEMPLAR_FILTER from os.environ.
            self._meter_provider = MeterProvider(
                resource=resource, metric_readers=[reader], shutdown_on_exit=False,
                exemplar_filter=TraceBasedExemplarFilter(),
            )  # fmt: skip
            _enable(self._meter_provider)
            meter = self._meter_provider.get_meter("l0_monitoring")
        self._otel = OpenTelemetry(
            tracer, meter,
            OpenTelemetryConfig(service_name=cfg.service_name, provider_name=cfg.provider_name),
        )  # fmt: skip

    # -- accounting ------------------------------------------------------------------

    def _take_metric_records(self) -> int:
        with self._lock:
            n, self._metric_records = self._metric_records, 0
        return n

    def _result(self, signal: str, size: int, *, ok: bool, exc: BaseException | None) -> None:
        counts_records = signal == "traces" or self._tracer_provider is None
        with self._lock:
            if self._final:
                return
            if not ok:
                self._stats["failed_exports"] += 1
            if counts_records:
                size = min(size, self._emitted)
                self._emitted -= size
                self._stats["exported" if ok else "failed"] += size
        if not ok:
            _errors.report(f"otlp.{signal}", f"l0_monitoring: OTLP {signal} export failed", exc)

    # -- the host's side ---------------------------------------------------------------

    def export(self, telemetry: Telemetry) -> None:
        """Queue one record for export; returns at once and never raises."""
        if self._closed or self._otel is None:
            return
        try:
            parent = self._current_context() if self._current_context is not None else None
            self._queue.put_nowait((telemetry, parent))
        except queue.Full:
            with self._lock:
                self._accepted += 1
                self._stats["dropped"] += 1
            _errors.report("otlp.queue", "l0_monitoring: OTLP export queue full, record dropped")
            return
        except Exception as exc:  # never into the host
            _errors.report("otlp.export", "l0_monitoring: OTLP export failed", exc)
            return
        with self._lock:
            self._accepted += 1
        worker = self._worker
        if worker is None or not worker.is_alive():
            with self._lock:
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(
                        target=self._run, name="l0-monitoring-otlp", daemon=True
                    )
                    self._worker.start()

    __call__ = export

    def _run(self) -> None:
        unbatched = not self.config.batch_export
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._build(item)
            if unbatched:
                done = 1
                while done < _BATCH:  # build what is queued, then flush once
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._flush_providers(self.config.timeout)
                        return
                    self._build(more)
                    done += 1
                self._flush_providers(self.config.timeout)

    def _build(self, item: tuple[Telemetry, Any]) -> None:
        try:
            self._emit(*item)
        except Exception as exc:
            with self._lock:
                self._stats["errors"] += 1
            _errors.report("otlp.emit", "l0_monitoring: building OTLP data failed", exc)
            return
        with self._lock:
            self._emitted += 1
            self._metric_records += 1

    def _emit(self, t: Telemetry, parent: Any) -> None:
        otel = self._otel
        assert otel is not None
        start = ms_to_ns(t.timing.started_at.timestamp() * 1000) if t.timing.started_at else None
        end = ms_to_ns(t.timing.completed_at.timestamp() * 1000) if t.timing.completed_at else None
        if start is not None and end is not None and end < start:
            end = start  # as the handler's Facts.span_end_ms: never end before the start
        if otel._tracer is not None:
            span = otel.create_span(otel.span_name(t.model), start_time=start, context=parent)
            otel.record_telemetry(t, span)
            span.end(end_time=end)
        else:
            otel.record_telemetry(t)

    def _flush_providers(self, timeout: float) -> bool:
        millis = int(timeout * 1000)
        ok = True
        try:
            if self._tracer_provider is not None:
                ok = bool(self._tracer_provider.force_flush(millis)) and ok
            if self._meter_provider is not None:
                ok = bool(self._meter_provider.force_flush(millis)) and ok
        except Exception as exc:
            _errors.report("otlp.flush", "l0_monitoring: OTLP flush failed", exc)
            return False
        return ok

    def flush(self, timeout: float | None = None) -> bool:
        """Export everything queued so far, waiting at most ``timeout`` seconds.

        Args:
            timeout: Seconds (default: ``config.timeout``).

        Returns:
            True when everything queued was delivered; False when an export
            failed during the flush, or the deadline passed first.
        """
        if self._otel is None or self._closed:
            return self._otel is None
        limit = self.config.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._lock:
            failures = self._stats["failed_exports"]
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._queue.empty():
            return False
        result: list[bool] = []
        finished = _bounded(
            lambda: result.append(self._flush_providers(max(0.0, deadline - time.monotonic()))),
            max(0.0, deadline - time.monotonic()) + 0.2,
        )
        with self._lock:
            failed = self._stats["failed_exports"] > failures
        return finished and bool(result) and result[0] and not failed

    def shutdown(self, timeout: float | None = None) -> None:
        """Deliver what it can, then stop; idempotent; returns within about ``timeout``.

        Records not delivered by the deadline are counted as ``dropped``; the
        counts in :meth:`stats` are final afterwards (nothing stays ``queued``).

        Args:
            timeout: Seconds (default: ``config.timeout``).
        """
        if self._closed:
            return
        self._closed = True
        if self._otel is None:
            return
        limit = self.config.timeout if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, limit - _SETTLE)
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        worker = self._worker
        if worker is not None:
            worker.join(max(0.0, (deadline - time.monotonic()) / 2))

        def stop() -> None:
            if self._tracer_provider is not None:
                self._tracer_provider.shutdown()
            if self._meter_provider is not None:
                self._meter_provider.shutdown(
                    timeout_millis=max(1.0, (deadline - time.monotonic()) * 1000)
                )

        if not _bounded(stop, max(0.0, deadline - time.monotonic())):
            # The collector does not answer: abort the exports in flight
            # (the SDK exporters stop retrying when shut down).
            for wrapper in self._wrappers:
                _bounded(wrapper.shutdown, 0.1)
            time.sleep(_SETTLE)
        self._finalize()

    def _finalize(self) -> None:
        left = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                left += 1
        with self._lock:
            self._final = True
            self._stats["dropped"] += left + self._emitted  # never delivered
            self._emitted = 0
            self._metric_records = 0
        for wrapper in self._wrappers:
            wrapper.dead = True

    def stats(self) -> dict[str, int]:
        """What happened to the records passed to :meth:`export`.

        Returns:
            ``exported`` (delivered), ``failed`` (the export carrying it failed),
            ``dropped`` (queue full, or undelivered at shutdown), ``errors`` (its
            span could not be built), ``queued`` (fate not known yet; 0 after
            ``shutdown()``), ``failed_exports`` (failed export requests, any
            signal) and ``accepted`` (= exported + failed + dropped + errors + queued).
        """
        with self._lock:
            s = dict(self._stats)
            queued = self._accepted - s["exported"] - s["failed"] - s["dropped"] - s["errors"]
            return {**s, "queued": max(0, queued), "accepted": self._accepted}

    def create_span(self, name: str, **attributes: Any) -> Any:
        """Start a span on this exporter's own tracer (NoOpSpan when traces are off)."""
        if self._otel is None:
            return NoOpSpan()
        return self._otel.create_span(name, attributes)

    def _after_fork(self) -> None:
        # The parent's providers, worker, queue and tallies stay the parent's:
        # their wrappers go dead (an inherited batch is never sent twice) and
        # the child builds its own, with a new service.instance.id.
        old = (self._tracer_provider, self._meter_provider, self._wrappers)
        closed = self._closed
        self._fresh()
        for wrapper in old[2]:
            wrapper.dead = True
        self._closed = closed
        if not closed:
            try:
                self._setup()
            except Exception as exc:
                _errors.report("otlp.fork", "l0_monitoring: OTLP exporter restart failed", exc)

        def retire() -> None:  # stop the inherited threads without exporting anything
            for provider in old[:2]:
                if provider is not None:
                    with contextlib.suppress(Exception):  # inherited: nothing to report
                        provider.shutdown()

        threading.Thread(target=retire, name="l0-monitoring-otlp-retire", daemon=True).start()


def _span_limits() -> Any:
    """The SDK's default span limits, given explicitly (never read from os.environ)."""
    from opentelemetry.sdk.trace import SpanLimits

    count = 128  # the specification's default for every count limit
    return SpanLimits(
        max_attributes=count, max_events=count, max_links=count, max_span_attributes=count,
        max_event_attributes=count, max_link_attributes=count,
        max_attribute_length=SpanLimits.UNSET, max_span_attribute_length=SpanLimits.UNSET,
    )  # fmt: skip


def _enable(provider: Any) -> None:
    # The SDK providers read OTEL_SDK_DISABLED from os.environ and then hand out
    # no-op tracers and meters; this exporter exists only when its config is
    # enabled, and the config is the only source.
    if getattr(provider, "_disabled", False):
        provider._disabled = False


_LIVE: weakref.WeakSet[OpenTelemetryExporter] = weakref.WeakSet()


def _in_child() -> None:
    for exporter in list(_LIVE):
        exporter._after_fork()


_EXIT_BUDGET = 2.0  # seconds interpreter exit waits for all exporters together


def _at_exit() -> None:
    # The SDK providers are built with shutdown_on_exit=False (a second shutdown
    # logs "shutdown can only be called once"): exporters not shut down yet are
    # shut down here side by side, within one budget for all of them (one after
    # the other, each dead collector would add its own 2 s to the exit).
    deadline = time.monotonic() + _EXIT_BUDGET + _SETTLE
    threads = []
    for exporter in list(_LIVE):
        if exporter._closed:
            continue
        timeout = min(exporter.config.timeout, _EXIT_BUDGET)
        thread = threading.Thread(target=exporter.shutdown, args=(timeout,),
                                  name="l0-monitoring-otlp-exit", daemon=True)  # fmt: skip
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
atexit.register(_at_exit)


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
