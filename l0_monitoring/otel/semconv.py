"""OpenTelemetry GenAI semantic conventions: attribute names, version choice, bucket advice.

By default the older GenAI names are emitted (``gen_ai.system`` for the
provider); with ``OTEL_SEMCONV_STABILITY_OPT_IN`` containing
``gen_ai_latest_experimental`` the latest ones (``gen_ai.provider.name``).
"""

from __future__ import annotations

import os

__all__ = ["DURATION_BUCKETS", "TOKEN_BUCKETS", "SemanticAttributes", "latest_semconv"]

DURATION_BUCKETS = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
]  # fmt: skip
TOKEN_BUCKETS = [
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
]  # fmt: skip


def latest_semconv() -> bool:
    """True when ``OTEL_SEMCONV_STABILITY_OPT_IN`` opts in to the latest GenAI names."""
    opt_in = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
    return "gen_ai_latest_experimental" in {v.strip() for v in opt_in.split(",")}


class SemanticAttributes:
    """Attribute names: the spec's constants (values kept) plus the current GenAI names."""

    LLM_SYSTEM = "gen_ai.system"
    LLM_REQUEST_MODEL = "gen_ai.request.model"
    LLM_RESPONSE_MODEL = "gen_ai.response.model"
    LLM_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
    LLM_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
    LLM_REQUEST_TOP_P = "gen_ai.request.top_p"
    LLM_RESPONSE_FINISH_REASON = "gen_ai.response.finish_reasons"
    LLM_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
    LLM_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
    GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
    GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
    GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
    GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
    ERROR_TYPE = "error.type"
    L0_SESSION_ID = "l0.session_id"
    L0_STREAM_COMPLETED = "l0.stream.completed"
    L0_FALLBACK_INDEX = "l0.fallback.index"
    L0_RETRY_COUNT = "l0.retry.count"
    L0_NETWORK_ERROR_COUNT = "l0.network.error_count"
    L0_GUARDRAIL_VIOLATION_COUNT = "l0.guardrail.violation_count"
    L0_DRIFT_DETECTED = "l0.drift.detected"
    L0_TIME_TO_FIRST_TOKEN = "l0.time_to_first_token_ms"
    L0_TOKENS_PER_SECOND = "l0.tokens_per_second"
    L0_SERVICE_NAME = "l0.service_name"
    L0_OUTCOME = "l0.outcome"
