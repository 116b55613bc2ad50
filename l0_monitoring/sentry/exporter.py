"""SentryExporter: captures telemetry errors through its own ``sentry_sdk.Client``."""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from .._internal.guard import ErrorReporter
from .._internal.optional import require
from .._internal.safe import json_safe
from ..exceptions import L0ExecutionError
from ..settings import SentryExporterConfig
from ..telemetry import Telemetry
from .client import telemetry_context

__all__ = ["SentryExporter"]

_errors = ErrorReporter()


class SentryExporter:
    """Captures telemetry errors into Sentry through its own client and its own scope.

    ``init()`` creates a ``sentry_sdk.Client`` from the config; it does not
    replace the application's global Sentry client. Events are built on a scope
    of the exporter's own (never a fork of the application's), so they carry
    only what was given to this exporter: its tags, user, breadcrumbs and the
    record's context, never the application's user, tags or breadcrumbs.
    Every method is a no-op without a DSN or when disabled, and never raises
    into the caller. :meth:`stats` says what the ingest confirmed.
    """

    def __init__(self, config: SentryExporterConfig | None = None, *, _transport: Any = None):
        self.config = config or SentryExporterConfig.from_env()
        self._client: Any = None
        self._transport = _transport
        self._user: dict[str, Any] | None = None
        self._stats = {"captured": 0, "sent": 0, "lost": 0, "not_sent": 0, "errors": 0}
        self._lock = threading.Lock()
        self._closed = False
        self._breadcrumbs: deque[dict[str, Any]] = deque(maxlen=max(self.config.max_breadcrumbs, 1))
        self._sdk_client: Any = None

    @property
    def active(self) -> bool:
        """True once ``init()`` created a client (a DSN was configured)."""
        return self._client is not None

    def init(self) -> None:
        """Create the client (no-op without a DSN, when disabled, or twice).

        Never raises into the host: a failure (a missing ``sentry_sdk``, a
        client that refuses an option) is counted in ``stats()["errors"]`` and
        logged once; the exporter then stays inactive (every call a no-op).
        """
        try:
            self._init()
        except Exception as exc:
            self._client = None
            self._stats["errors"] += 1
            _errors.report("sentry.init", "l0_monitoring: Sentry client not created", exc)

    def _init(self) -> None:
        cfg = self.config
        if self._client is not None or not cfg.enabled or cfg.dsn is None:
            return
        sentry_sdk = require("sentry_sdk", "sentry")
        options: dict[str, Any] = {
            "dsn": cfg.dsn.get_secret_value(),
            "environment": cfg.environment,
            "release": cfg.release,
            "server_name": cfg.server_name,
            "sample_rate": cfg.sample_rate,
            "traces_sample_rate": cfg.traces_sample_rate,
            "profiles_sample_rate": cfg.profiles_sample_rate,
            "debug": cfg.debug,
            "attach_stacktrace": cfg.attach_stacktrace,
            "max_breadcrumbs": cfg.max_breadcrumbs,
            "default_integrations": False,
        }
        if importlib.util.find_spec("sentry_sdk.data_collection") is not None:
            # Newer sentry-sdk deprecates send_default_pii for data_collection.
            options["data_collection"] = {"user_info": cfg.send_default_pii}
        else:  # pragma: no cover - older sentry-sdk 2.x
            options["send_default_pii"] = cfg.send_default_pii
        options["transport"] = (
            self._transport if self._transport is not None else _counting_transport(self)
        )
        self._client = sentry_sdk.Client(**{k: v for k, v in options.items() if v is not None})
        self._sdk_client = self._client  # kept after close() for the transport's last sends

    def _capture(self, build: Callable[[Any, Any], Any], fingerprint: list[str],
                 telemetry: Telemetry | None) -> str | None:  # fmt: skip
        if self._client is None:
            return None
        try:
            import sentry_sdk

            # A scope of our own, not sentry_sdk.new_scope(): that forks the
            # application's scopes (its user, tags, breadcrumbs), and
            # Scope.capture_* merges them in again; Client.capture_event applies
            # exactly the scope it is given. It also runs no event processor of
            # the application (its integrations' sys.argv, runtime context, request
            # data), and its fresh propagation context is this client's (DSC with
            # this DSN's public key and this environment).
            scope = _own_scope(self._client)
            for key, value in self.config.tags.items():
                scope.set_tag(key, value)
            scope.fingerprint = fingerprint
            if telemetry is not None:
                scope.set_context("l0", telemetry_context(telemetry))
                if telemetry.model:
                    scope.set_tag("l0.model", telemetry.model)
            if self._user is not None:
                scope.set_user(self._user)
            for crumb in self._breadcrumbs:
                scope.add_breadcrumb(**crumb)
            # Current while capturing: sentry_sdk.get_client() (which builds the
            # dynamic sampling context) is then this exporter's client, not the
            # application's.
            with _current(scope, self._client):
                event, hint = build(sentry_sdk, self._client)
                result = self._client.capture_event(event, hint=hint, scope=scope)
            with self._lock:
                if isinstance(result, str):
                    self._stats["captured"] += 1
                else:
                    self._stats["not_sent"] += 1  # sampled out or refused by the SDK
            return result if isinstance(result, str) else None
        except Exception as exc:
            with self._lock:
                self._stats["errors"] += 1
            _errors.report("sentry.capture", "l0_monitoring: Sentry capture failed", exc)
            return None

    def _delivery(self, sent: int, lost: int) -> None:
        with self._lock:
            if not self._closed:
                self._stats["sent"] += sent
                self._stats["lost"] += lost

    def capture_error(self, error: BaseException, telemetry: Telemetry | None = None) -> str | None:
        """Capture an exception with the stream's telemetry as context ``l0``.

        Returns:
            The event id, or None (no DSN, not initialised, or dropped).
        """
        category = telemetry.error.category if telemetry else None
        code = telemetry.error.code if telemetry else None
        return self._capture(
            lambda sdk, client: _exception_event(sdk, client, error),
            ["l0", type(error).__name__, category or "unknown", code or "none"], telemetry,
        )  # fmt: skip

    def capture_telemetry_error(self, telemetry: Telemetry) -> str | None:
        """Capture a record's error (if it has one) as an :class:`L0ExecutionError`."""
        if not telemetry.error.occurred:
            return None
        exc = L0ExecutionError(telemetry.error.message or "L0 execution failed",
                               telemetry.error.category, telemetry.error.code)  # fmt: skip
        return self._capture(
            lambda sdk, client: _exception_event(sdk, client, exc),
            ["l0", "execution-failure", telemetry.error.category or "unknown",
             telemetry.error.code or "none"], telemetry,
        )  # fmt: skip

    def capture_message(self, message: str, level: str = "info",
                        telemetry: Telemetry | None = None) -> str | None:  # fmt: skip
        """Capture a message (grouped by its level)."""
        return self._capture(lambda sdk, client: ({"message": message, "level": level}, None),
                             ["l0", "message", level], telemetry)  # fmt: skip

    def add_breadcrumb(self, message: str, category: str = "l0", level: str = "info",
                       data: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        """Remember a breadcrumb for this exporter's next captured events (bounded)."""
        if self._client is None:
            return
        self._breadcrumbs.append({
            "message": message, "category": category, "level": level,
            "data": json_safe(dict(data)) if data else None,
            "timestamp": datetime.now(UTC),
        })  # fmt: skip

    def set_user(self, user_id: str | None = None, email: str | None = None,
                 username: str | None = None, ip_address: str | None = None,
                 **other: Any) -> None:  # fmt: skip
        """Set the user on this exporter's events (only on this exporter's).

        Data passed explicitly is sent, as sentry-sdk sends it (``send_default_pii``
        governs what the SDK would collect by itself).
        """
        if self._client is None:
            return
        user: dict[str, Any] = {k: v for k, v in {"id": user_id, "username": username,
                                                  "email": email, "ip_address": ip_address,
                                                  **other}.items() if v is not None}  # fmt: skip
        self._user = user or None

    def stats(self) -> dict[str, int]:
        """Return the exporter's counters.

        Keys: ``captured`` (handed to sentry-sdk with an event id), ``sent`` (the
        ingest answered 2xx), ``lost`` (sentry-sdk gave up on it: network error,
        error status, rate limit, full queue; after :meth:`close`, also what was
        still unconfirmed), ``pending`` (captured, fate not known yet),
        ``not_sent`` (sampled out or refused by the SDK), ``errors`` (capture raised).
        With a transport passed in for tests, ``sent``/``lost`` stay 0.
        """
        with self._lock:
            s = dict(self._stats)
        counted = self._transport is None
        pending = s["captured"] - s["sent"] - s["lost"] if counted else 0
        return {**s, "pending": max(0, pending)}

    def flush(self, timeout: float = 2.0) -> None:
        """Send what is queued, waiting at most ``timeout`` seconds."""
        if self._client is not None:
            try:
                self._client.flush(timeout=timeout)
            except Exception as exc:
                _errors.report("sentry.flush", "l0_monitoring: Sentry flush failed", exc)

    def close(self, timeout: float = 2.0) -> None:
        """Flush and close the client (idempotent), waiting at most ``timeout`` seconds.

        Afterwards the counts are final: events not confirmed by then count as ``lost``.
        """
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=timeout)
            except Exception as exc:
                _errors.report("sentry.close", "l0_monitoring: Sentry close failed", exc)
            with self._lock:
                if self._transport is None:
                    s = self._stats
                    s["lost"] += max(0, s["captured"] - s["sent"] - s["lost"])
                self._closed = True


_SCOPE_CLASS: type[Any] | None = None


def _own_scope(client: Any, isolation: bool = False) -> Any:
    """A new, empty scope bound to ``client`` that applies nothing but its own data."""
    global _SCOPE_CLASS  # noqa: PLW0603 - built once, on first use (sentry_sdk is optional)
    if _SCOPE_CLASS is None:
        from sentry_sdk.scope import Scope

        class OwnScope(Scope):
            def run_event_processors(self, event: Any, hint: Any) -> Any:
                # Scope.run_event_processors also runs the global processors and
                # those of the application's global, isolation and current
                # scopes (its integrations'); this scope has none of its own.
                return event

        _SCOPE_CLASS = OwnScope
    from sentry_sdk.scope import ScopeType

    return _SCOPE_CLASS(ty=ScopeType.ISOLATION if isolation else None, client=client)


@contextlib.contextmanager
def _current(scope: Any, client: Any) -> Iterator[None]:
    """Make ``scope`` (and a fresh isolation scope) current: get_client() is ``client``."""
    from sentry_sdk.scope import use_isolation_scope, use_scope

    with use_isolation_scope(_own_scope(client, isolation=True)), use_scope(scope):
        yield


def _exception_event(sdk: Any, client: Any, error: BaseException) -> tuple[Any, Any]:
    """The event and hint sentry-sdk builds for an exception, with this client's options."""
    from sentry_sdk.utils import event_from_exception

    return event_from_exception(error, client_options=client.options)


def _counting_transport(owner: SentryExporter) -> type[Any]:
    """sentry-sdk's HTTP transport, telling ``owner`` what the ingest confirmed or lost."""
    from sentry_sdk.transport import HttpTransport

    def events(envelope: Any) -> int:
        return sum(1 for item in getattr(envelope, "items", ()) if item.type == "event")

    class CountingTransport(HttpTransport):
        def _send_request(self, *args: Any, **kwargs: Any) -> None:
            # On the transport's worker thread the application's client is current:
            # its stdlib integration would add sentry-trace/baggage headers (with
            # the application's public key) to this exporter's own requests.
            client = owner._sdk_client
            if client is None:  # pragma: no cover - the client exists before any send
                super()._send_request(*args, **kwargs)
                return
            with _current(_own_scope(client), client):
                super()._send_request(*args, **kwargs)

        def _handle_response(self, response: Any, envelope: Any) -> None:
            super()._handle_response(response=response, envelope=envelope)
            if envelope is not None and 200 <= response.status < 300:
                owner._delivery(events(envelope), 0)
            elif envelope is not None and response.status == 429:
                owner._delivery(0, events(envelope))  # the SDK records no loss for 429

        def record_lost_event(
            self, reason: str, data_category: Any = None, item: Any = None, *, quantity: int = 1
        ) -> None:
            super().record_lost_event(reason, data_category, item, quantity=quantity)
            if (item is not None and item.type == "event") or (
                item is None and data_category == "error"
            ):
                owner._delivery(0, quantity)

    return CountingTransport
