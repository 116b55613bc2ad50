"""The input vocabulary: observability event types and the event record.

``ObservabilityEventType`` has exactly the members and values of
``l0.events.ObservabilityEventType`` (ai2070-l0 0.21.1), so events from the L0
runtime, from other emitters and from recorded logs are all understood. Types
are compared by *value* everywhere in this package, never by the identity of
the enum class, so L0's own enum, ours and plain strings are interchangeable.
"""

from __future__ import annotations

import decimal
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ._internal.safe import finite_ms, safe_repr

__all__ = ["ObservabilityEvent", "ObservabilityEventType", "event_type_value"]


class ObservabilityEventType(str, Enum):
    """Every observability event type the L0 runtime can emit (UPPER_CASE values)."""

    # Session
    SESSION_START = "SESSION_START"
    ATTEMPT_START = "ATTEMPT_START"
    SESSION_END = "SESSION_END"
    SESSION_SUMMARY = "SESSION_SUMMARY"
    # Stream
    STREAM_INIT = "STREAM_INIT"
    STREAM_READY = "STREAM_READY"
    TOKEN = "TOKEN"
    # Adapter
    ADAPTER_DETECTED = "ADAPTER_DETECTED"
    ADAPTER_WRAP_START = "ADAPTER_WRAP_START"
    ADAPTER_WRAP_END = "ADAPTER_WRAP_END"
    # Timeout
    TIMEOUT_START = "TIMEOUT_START"
    TIMEOUT_RESET = "TIMEOUT_RESET"
    TIMEOUT_TRIGGERED = "TIMEOUT_TRIGGERED"
    # Network
    NETWORK_ERROR = "NETWORK_ERROR"
    NETWORK_RECOVERY = "NETWORK_RECOVERY"
    CONNECTION_DROPPED = "CONNECTION_DROPPED"
    CONNECTION_RESTORED = "CONNECTION_RESTORED"
    # Abort
    ABORT_REQUESTED = "ABORT_REQUESTED"
    ABORT_COMPLETED = "ABORT_COMPLETED"
    # Tool
    TOOL_REQUESTED = "TOOL_REQUESTED"
    TOOL_START = "TOOL_START"
    TOOL_RESULT = "TOOL_RESULT"
    TOOL_ERROR = "TOOL_ERROR"
    TOOL_COMPLETED = "TOOL_COMPLETED"
    # Guardrail
    GUARDRAIL_PHASE_START = "GUARDRAIL_PHASE_START"
    GUARDRAIL_PHASE_END = "GUARDRAIL_PHASE_END"
    GUARDRAIL_RULE_START = "GUARDRAIL_RULE_START"
    GUARDRAIL_RULE_RESULT = "GUARDRAIL_RULE_RESULT"
    GUARDRAIL_RULE_END = "GUARDRAIL_RULE_END"
    GUARDRAIL_CALLBACK_START = "GUARDRAIL_CALLBACK_START"
    GUARDRAIL_CALLBACK_END = "GUARDRAIL_CALLBACK_END"
    # Drift
    DRIFT_CHECK_RESULT = "DRIFT_CHECK_RESULT"
    DRIFT_CHECK_SKIPPED = "DRIFT_CHECK_SKIPPED"
    # Checkpoint
    CHECKPOINT_SAVED = "CHECKPOINT_SAVED"
    # Resume
    RESUME_START = "RESUME_START"
    # Retry
    RETRY_START = "RETRY_START"
    RETRY_ATTEMPT = "RETRY_ATTEMPT"
    RETRY_END = "RETRY_END"
    RETRY_GIVE_UP = "RETRY_GIVE_UP"
    RETRY_FN_START = "RETRY_FN_START"
    RETRY_FN_RESULT = "RETRY_FN_RESULT"
    RETRY_FN_ERROR = "RETRY_FN_ERROR"
    # Fallback
    FALLBACK_START = "FALLBACK_START"
    FALLBACK_MODEL_SELECTED = "FALLBACK_MODEL_SELECTED"
    FALLBACK_END = "FALLBACK_END"
    # Completion
    FINALIZATION_START = "FINALIZATION_START"
    FINALIZATION_END = "FINALIZATION_END"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"
    # Consensus
    CONSENSUS_START = "CONSENSUS_START"
    CONSENSUS_STREAM_START = "CONSENSUS_STREAM_START"
    CONSENSUS_STREAM_END = "CONSENSUS_STREAM_END"
    CONSENSUS_OUTPUT_COLLECTED = "CONSENSUS_OUTPUT_COLLECTED"
    CONSENSUS_ANALYSIS = "CONSENSUS_ANALYSIS"
    CONSENSUS_RESOLUTION = "CONSENSUS_RESOLUTION"
    CONSENSUS_END = "CONSENSUS_END"
    # Structured output
    PARSE_START = "PARSE_START"
    PARSE_END = "PARSE_END"
    PARSE_ERROR = "PARSE_ERROR"
    SCHEMA_VALIDATION_START = "SCHEMA_VALIDATION_START"
    SCHEMA_VALIDATION_END = "SCHEMA_VALIDATION_END"
    SCHEMA_VALIDATION_ERROR = "SCHEMA_VALIDATION_ERROR"
    AUTO_CORRECT_START = "AUTO_CORRECT_START"
    AUTO_CORRECT_END = "AUTO_CORRECT_END"
    STRUCTURED_PARSE_START = "STRUCTURED_PARSE_START"
    STRUCTURED_PARSE_END = "STRUCTURED_PARSE_END"
    STRUCTURED_PARSE_ERROR = "STRUCTURED_PARSE_ERROR"
    STRUCTURED_VALIDATION_START = "STRUCTURED_VALIDATION_START"
    STRUCTURED_VALIDATION_END = "STRUCTURED_VALIDATION_END"
    STRUCTURED_VALIDATION_ERROR = "STRUCTURED_VALIDATION_ERROR"
    STRUCTURED_AUTO_CORRECT_START = "STRUCTURED_AUTO_CORRECT_START"
    STRUCTURED_AUTO_CORRECT_END = "STRUCTURED_AUTO_CORRECT_END"
    # Continuation
    CONTINUATION_START = "CONTINUATION_START"

    def __str__(self) -> str:
        return self.value


_TYPE_BY_VALUE: dict[str, ObservabilityEventType] = {t.value: t for t in ObservabilityEventType}


def event_type_value(value: object) -> str:
    """Return the string value of an event type given as any enum member or string.

    Args:
        value: An ``ObservabilityEventType`` of this package or of ``l0``, or its string.

    Returns:
        The UPPER_CASE string value.

    Raises:
        ValueError: If ``value`` is neither a string nor a string-valued enum member.
    """
    if isinstance(value, str):
        # A str-Enum member is a str whose value is itself; str() of L0's enum
        # would give "ObservabilityEventType.X", so read ``.value`` when present.
        inner = getattr(value, "value", value)
        return inner if isinstance(inner, str) else str.__str__(value)
    inner = getattr(value, "value", None)
    if isinstance(inner, str):
        return inner
    raise ValueError(
        f"event type must be a string or an ObservabilityEventType, got {safe_repr(value)}"
    )


def _known_type(value: str) -> ObservabilityEventType | str:
    return _TYPE_BY_VALUE.get(value, value)


@dataclass(slots=True)
class ObservabilityEvent:
    """One observability event, field-compatible with ``l0.events.ObservabilityEvent``.

    Attributes:
        type: The event type (an ``ObservabilityEventType``; unknown types from newer
            emitters are kept as plain strings by ``from_dict``).
        ts: Milliseconds since the Unix epoch when the event was emitted.
        stream_id: Identifier shared by every event of one ``l0.run`` call (retries included).
        context: The user context passed to ``l0.run(context=...)``.
        meta: Event-specific data, with camelCase keys from the L0 runtime.
    """

    type: ObservabilityEventType | str
    ts: float
    stream_id: str
    context: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, document: bool = False) -> ObservabilityEvent:
        """Validate a mapping (from a file or another language) into an event.

        Keys other than the five are ignored (events are open to added fields).

        Args:
            data: A mapping with keys ``type``, ``ts``, ``stream_id`` and optionally
                ``context`` and ``meta``. ``type`` may be an enum member or its string
                value; ``ts`` is milliseconds since the epoch (a finite number).
            document: Apply the published ``ObservabilityEvent`` schema exactly, as
                :func:`~l0_monitoring.iter_events` does for a recorded log: ``context``
                and ``meta`` must be present and be objects (the recorder always
                writes them). Without it (events handed to ``handle_event`` as dicts)
                they may be missing or None and read as ``{}``.

        Returns:
            The validated event.

        Raises:
            ValueError: Naming the offending field when the input is malformed.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"event must be a JSON object, got {type(data).__name__}")
        if document:
            for key in ("context", "meta"):
                if key in data and not isinstance(data[key], Mapping):
                    raise ValueError(
                        f"event.{key}: must be an object, got {type(data[key]).__name__}"
                    )
        try:
            raw_type = data["type"]
        except KeyError:
            raise ValueError("event.type: field required") from None
        try:
            type_value = event_type_value(raw_type)
        except ValueError as exc:
            raise ValueError(f"event.type: {exc}") from None
        if not type_value:
            raise ValueError("event.type: must be a non-empty string")
        if "ts" not in data:
            raise ValueError("event.ts: field required (milliseconds since the epoch)")
        ts = data["ts"]
        ms = finite_ms(ts)  # the one rule for a valid ts, shared with the recorder
        if ms is None:
            if isinstance(ts, bool) or not isinstance(ts, numbers.Real | decimal.Decimal):
                raise ValueError(f"event.ts: must be a number of milliseconds, got {safe_repr(ts)}")
            raise ValueError(f"event.ts: must be finite, got {safe_repr(ts, 40)}")
        stream_id = data.get("stream_id")
        if not isinstance(stream_id, str) or not stream_id:
            raise ValueError(
                f"event.stream_id: must be a non-empty string, got {safe_repr(stream_id)}"
            )
        if document:
            missing = [k for k in ("type", "ts", "stream_id", "context", "meta") if k not in data]
            if missing:
                raise ValueError(f"event.{missing[0]}: field required")
        context = data.get("context")
        if context is None:
            context = {}
        elif not isinstance(context, Mapping):
            raise ValueError(f"event.context: must be an object, got {type(context).__name__}")
        meta = data.get("meta")
        if meta is None:
            meta = {}
        elif not isinstance(meta, Mapping):
            raise ValueError(f"event.meta: must be an object, got {type(meta).__name__}")
        return cls(_known_type(type_value), ms, stream_id, dict(context), dict(meta))

    def to_dict(self) -> dict[str, Any]:
        """Return the event as plain data (``type`` as its string value).

        ``context`` and ``meta`` are shallow-copied, not converted; use
        ``l0_monitoring.Monitoring.record`` for JSON-safe serialisation.

        Returns:
            A dict with keys ``type``, ``ts``, ``stream_id``, ``context``, ``meta``.
        """
        return {
            "type": event_type_value(self.type),
            "ts": self.ts,
            "stream_id": self.stream_id,
            "context": dict(self.context),
            "meta": dict(self.meta),
        }
