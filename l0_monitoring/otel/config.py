"""Options of the OpenTelemetry event handler and the :class:`OpenTelemetry` facade."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["OpenTelemetryConfig"]


class OpenTelemetryConfig(BaseModel):
    """Options of the OpenTelemetry event handler and :class:`OpenTelemetry`."""

    model_config = ConfigDict(extra="forbid")

    service_name: str = Field(
        default="l0", description="Set on every span as l0.service_name (the handler does not "
        "own the tracer's resource)."
    )  # fmt: skip
    trace_tokens: bool = Field(default=False, description="One span event per token.")
    record_token_content: bool = Field(
        default=False, description="Put token text in token events (privacy: off by default)."
    )
    record_guardrail_violations: bool = Field(
        default=True, description="Span events for guardrail violations."
    )
    default_attributes: dict[str, Any] = Field(
        default_factory=dict, description="Attributes set on every span the handler creates."
    )
    operation_name: str = Field(default="chat", description="gen_ai.operation.name.")
    provider_name: str | None = Field(
        default=None,
        description="gen_ai.provider.name (gen_ai.system with older conventions), when not "
        "given by the events' meta or context 'provider'.",
    )
    record_chunk_timing: bool = Field(
        default=False,
        description="Record gen_ai.client.operation.time_per_output_chunk, one measurement per "
        "token gap (about 10 us each in the Python SDK), at the end of each stream.",
    )
    max_streams: int = Field(
        default=10_000, ge=1, description="Open spans at most; the oldest is ended past it."
    )
