"""A loopback Sentry ingest: accepts (gzip) envelopes on POST /api/<project>/envelope/."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sentry_sdk.transport


class Ingest:
    """Collects envelope items; ``status`` and ``delay`` simulate a struggling Sentry."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with ingest.lock:
                    ingest.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                if ingest.delay:
                    time.sleep(ingest.delay)
                self.send_response(ingest.status)
                if ingest.status == 429:
                    self.send_header("Retry-After", "60")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Ingest:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def dsn(self, key: str = "public") -> str:
        return f"http://{key}@127.0.0.1:{self.server.server_address[1]}/1"

    def raw(self) -> str:
        with self.lock:
            return "\n".join(
                r["body"].decode("utf-8", "replace") + json.dumps(r["headers"])
                for r in self.requests
            )

    def items(self, kind: str = "event") -> list[dict[str, Any]]:
        """Payloads of envelope items of one type (event, transaction...)."""
        out = []
        with self.lock:
            bodies = [r["body"] for r in self.requests]
        for body in bodies:
            lines = body.split(b"\n")
            i = 1
            while i + 1 < len(lines):
                header = json.loads(lines[i])
                payload = lines[i + 1]
                if header.get("type") == kind:
                    out.append(json.loads(payload))
                i += 2
        return out

    def wait_for(self, n: int, kind: str = "event", timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.items(kind)) >= n:
                return True
            time.sleep(0.02)
        return False


class MemoryTransport(sentry_sdk.transport.Transport):
    """An in-memory transport: envelopes are kept, nothing leaves the process."""

    envelopes: list[Any] = []

    def capture_envelope(self, envelope: Any) -> None:
        MemoryTransport.envelopes.append(envelope)

    @classmethod
    def items(cls, kind: str = "event") -> list[dict[str, Any]]:
        out = []
        for env in cls.envelopes:
            for item in env.items:
                if item.type == kind:
                    out.append(item.payload.json)
        return out
