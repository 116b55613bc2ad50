"""A real OTLP/gRPC receiver on 127.0.0.1, built from opentelemetry-proto's servicers."""

from __future__ import annotations

import threading
import time
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Receiver(
    trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer
):
    """Collects every ExportTrace/MetricsServiceRequest with the request metadata."""

    def __init__(self, status: grpc.StatusCode | None = None, delay: float = 0.0) -> None:
        self.traces: list[Any] = []
        self.metrics: list[Any] = []
        self.metadata: list[dict[str, str]] = []
        self.status = status
        self.delay = delay
        self.lock = threading.Lock()
        self.server: grpc.Server | None = None
        self.port = 0

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        with self.lock:
            self.metadata.append(dict(context.invocation_metadata()))
        if self.delay:
            time.sleep(self.delay)
        if self.status is not None:
            context.abort(self.status, "test receiver refuses")
        with self.lock:
            if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                self.traces.append(request)
                return trace_service_pb2.ExportTraceServiceResponse()
            self.metrics.append(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    def start(self) -> Receiver:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=None)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spans(self) -> list[tuple[Any, Any]]:
        """(resource, span) pairs received so far."""
        out = []
        with self.lock:
            for req in self.traces:
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        out.extend((rs.resource, span) for span in ss.spans)
        return out

    def metric_names(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with self.lock:
            for req in self.metrics:
                for rm in req.resource_metrics:
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            out[m.name] = m
        return out

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False


def attrs(kv_list: Any) -> dict[str, Any]:
    """Protobuf KeyValue list to a dict of Python values."""
    out = {}
    for kv in kv_list:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return out
