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

    def start(self, tls: tuple[bytes, bytes] | None = None) -> Receiver:
        """Listen on 127.0.0.1; ``tls=(key_pem, cert_pem)`` serves TLS only."""
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self.server)
        if tls is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port(
                "127.0.0.1:0", grpc.ssl_server_credentials([tls])
            )
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


def self_signed(tmp_path: Any) -> tuple[bytes, bytes, str]:
    """A self-signed certificate for localhost / 127.0.0.1: (key PEM, cert PEM, cert file)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "collector.pem"
    path.write_bytes(cert_pem)
    return key_pem, cert_pem, str(path)


class HttpReceiver:
    """A real OTLP/HTTP receiver: decodes protobuf bodies (gzip too) and keeps every request."""

    def __init__(self, status: int = 200) -> None:
        import gzip
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.status = status
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                raw_encoding = self.headers.get("Content-Encoding")
                if raw_encoding == "gzip":
                    body = gzip.decompress(body)
                with owner.lock:
                    owner.requests.append(
                        {"path": self.path, "headers": {k.lower(): v for k, v in
                                                        self.headers.items()},
                         "encoding": raw_encoding, "body": body}
                    )  # fmt: skip
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def by_path(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def spans(self, path: str = "/v1/traces") -> list[tuple[Any, Any]]:
        out = []
        for r in self.by_path(path):
            req = trace_service_pb2.ExportTraceServiceRequest.FromString(r["body"])
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    out.extend((rs.resource, span) for span in ss.spans)
        return out

    def metric_requests(self, path: str = "/v1/metrics") -> list[Any]:
        return [metrics_service_pb2.ExportMetricsServiceRequest.FromString(r["body"])
                for r in self.by_path(path)]  # fmt: skip


def streams_total(requests: list[Any]) -> dict[str, int]:
    """Last reported l0.streams sum per service.instance.id (cumulative counters)."""
    out: dict[str, int] = {}
    for req in requests:
        for rm in req.resource_metrics:
            instance = str(attrs(rm.resource.attributes).get("service.instance.id"))
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == "l0.streams":
                        out[instance] = sum(int(p.as_int) for p in m.sum.data_points)
    return out
