"""SentryExporter: captures telemetry errors through its own ``sentry_sdk.Client``."""

from __future__ import annotations

import importlib.util
from collections import deque
from collections.abc import Callable, Mapping
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
    """Captures telemetry errors into Sentry through its own client.

    ``init()`` creates a ``sentry_sdk.Client`` from the config; it does not
    replace the application's global Sentry client. Every method is a no-op
    without a DSN or when disabled, and never raises into the caller.
    """

    def __init__(self, config: SentryExporterConfig | None = None, *, _transport: Any = None):
        self.config = config or SentryExporterConfig.from_env()
        self._client: Any = None
        self._transport = _transport
        self._user: dict[str, Any] | None = None
        self._stats = {"captured": 0, "not_sent": 0, "errors": 0}
        self._breadcrumbs: deque[dict[str, Any]] = deque(maxlen=max(self.config.max_breadcrumbs, 1))

    @property
    def active(self) -> bool:
        """True once ``init()`` created a client (a DSN was configured)."""
        return self._client is not None

    def init(self) -> None:
        """Create the client (no-op without a DSN, when disabled, or twice)."""
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
        if self._transport is not None:
            options["transport"] = self._transport
        self._client = sentry_sdk.Client(**{k: v for k, v in options.items() if v is not None})

    def _capture(self, build: Callable[[Any, Any], Any], fingerprint: list[str],
                 telemetry: Telemetry | None) -> str | None:  # fmt: skip
        if self._client is None:
            return None
        try:
            import sentry_sdk

            with sentry_sdk.new_scope() as scope:
                scope.set_client(self._client)
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
                result = build(sentry_sdk, scope)
            if isinstance(result, str):
                self._stats["captured"] += 1
                return result
            self._stats["not_sent"] += 1  # sampled out or refused by the SDK
            return None
        except Exception as exc:
            self._stats["errors"] += 1
            _errors.report("sentry.capture", "l0_monitoring: Sentry capture failed", exc)
            return None

    def capture_error(self, error: BaseException, telemetry: Telemetry | None = None) -> str | None:
        """Capture an exception with the stream's telemetry as context ``l0``.

        Returns:
            The event id, or None (no DSN, not initialised, or dropped).
        """
        category = telemetry.error.category if telemetry else None
        code = telemetry.error.code if telemetry else None
        return self._capture(
            lambda sdk, scope: scope.capture_exception(error),
            ["l0", type(error).__name__, category or "unknown", code or "none"], telemetry,
        )  # fmt: skip

    def capture_telemetry_error(self, telemetry: Telemetry) -> str | None:
        """Capture a record's error (if it has one) as an :class:`L0ExecutionError`."""
        if not telemetry.error.occurred:
            return None
        exc = L0ExecutionError(telemetry.error.message or "L0 execution failed",
                               telemetry.error.category, telemetry.error.code)  # fmt: skip
        return self._capture(
            lambda sdk, scope: scope.capture_exception(exc),
            ["l0", "execution-failure", telemetry.error.category or "unknown",
             telemetry.error.code or "none"], telemetry,
        )  # fmt: skip

    def capture_message(self, message: str, level: str = "info",
                        telemetry: Telemetry | None = None) -> str | None:  # fmt: skip
        """Capture a message (grouped by its level)."""
        return self._capture(lambda sdk, scope: scope.capture_message(message, level=level),
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
        """Set the user on this exporter's events; email and IP only with ``send_default_pii``."""
        if self._client is None:
            return
        user: dict[str, Any] = {k: v for k, v in {"id": user_id, "username": username,
                                                  **other}.items() if v is not None}  # fmt: skip
        if self.config.send_default_pii:
            if email:
                user["email"] = email
            if ip_address:
                user["ip_address"] = ip_address
        self._user = user or None

    def stats(self) -> dict[str, int]:
        """Return the exporter's counters.

        Keys: captured (handed to sentry-sdk with an event id), not_sent (sampled
        out or refused by the SDK), errors (capture raised). Delivery failures after
        hand-over (HTTP 429/5xx) are accounted by sentry-sdk's own client reports.
        """
        return dict(self._stats)

    def flush(self, timeout: float = 2.0) -> None:
        """Send what is queued, waiting at most ``timeout`` seconds."""
        if self._client is not None:
            try:
                self._client.flush(timeout=timeout)
            except Exception as exc:
                _errors.report("sentry.flush", "l0_monitoring: Sentry flush failed", exc)

    def close(self, timeout: float = 2.0) -> None:
        """Flush and close the client (idempotent), waiting at most ``timeout`` seconds."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=timeout)
            except Exception as exc:
                _errors.report("sentry.close", "l0_monitoring: Sentry close failed", exc)
