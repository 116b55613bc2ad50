"""Telemetry records: one ``Telemetry`` per finished stream, and the aggregates.

All durations are in **seconds**; timestamps are timezone-aware UTC datetimes
taken from the events' own ``ts``, so a replayed log yields the same records.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypedDict

from ._internal.contract import (
    END,
    MAX_SAFE_INT,
    SEMVER_PATTERN,
    Count,
    ErrorCategory,
    JsonBool,
    JsonFloat,
    Severity,
    Timestamp,
    loads,
    normalize_error_category,
    normalize_severity,
)
from ._internal.safe import clean_text
from ._internal.verified import EPOCH, WRITE_LOCK, WRITING, containers_ok, stamp_ok

__all__ = [
    "AggregateMetrics",
    "DriftInfo",
    "ErrorCategory",
    "ErrorInfo",
    "GuardrailInfo",
    "GuardrailViolation",
    "Metrics",
    "Outcome",
    "RetryInfo",
    "SCHEMA_VERSION",
    "Severity",
    "Telemetry",
    "TimingInfo",
    "normalize_error_category",
    "normalize_severity",
    "outcome_of",
    "validate_aggregate_metrics",
]


SCHEMA_VERSION = "2.0.0"
"""Version of the published record schemas (semantic versioning; ``$id`` carries the major)."""

Outcome = Literal["completed", "aborted", "failed", "abandoned"]
"""How a stream ended (see :func:`outcome_of`)."""

# The validation context of documents (model_validate): every key is required.
_DOCUMENT_KEY = "l0_monitoring.document"
_DOCUMENT = {_DOCUMENT_KEY: True}


def _open_and_complete(schema: dict[str, Any], cls: type[Any]) -> None:
    # Published contract of a record: every key present, unknown keys allowed.
    schema["required"] = list(schema.get("properties", {}))
    schema["additionalProperties"] = True


def _no_strict(cls: type[Any], kwargs: dict[str, Any]) -> None:
    # Documents have one contract: pydantic's strict and lax modes both differ from it.
    if kwargs.pop("strict", None) is not None:
        raise TypeError(
            f"{cls.__name__} documents are validated with the published schema's contract: "
            "the 'strict' argument is not supported (leave it unset)"
        )


class _Record(BaseModel):
    # Output records are open (compatibility policy): keys from a newer release
    # are accepted and ignored, so old readers keep working when fields are
    # added. Every key is always written, so a *document* must carry every key
    # (the schema marks them required); only Python construction
    # (``Telemetry(stream_id=...)``) may omit keys and get their defaults.
    # Python re for patterns: they end with contract.END, a lookahead the Rust
    # regex engine does not support (and which means the same in ECMA-262).
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra=_open_and_complete,
        defer_build=True,
        regex_engine="python-re",
    )

    # Flat column names (CSV) are the leaf field names, prefixed for sections
    # whose names are generic ("message", "passed"): as L0's own CSV names them.
    csv_prefix: ClassVar[str] = ""

    if not TYPE_CHECKING:  # mypy and the pydantic plugin keep BaseModel's signatures

        def __setattr__(self, name: str, value: Any) -> None:
            # Any write may make a verified record's export differ: no mark is
            # valid while it is under way, nor after it (see _internal/verified.py).
            with WRITE_LOCK:
                before = EPOCH[0]
                EPOCH[0] = WRITING
                try:
                    super().__setattr__(name, value)
                finally:
                    EPOCH[0] = WRITING if before is WRITING else object()

        def __delattr__(self, name: str) -> None:
            with WRITE_LOCK:
                before = EPOCH[0]
                EPOCH[0] = WRITING
                try:
                    super().__delattr__(name)
                finally:
                    EPOCH[0] = WRITING if before is WRITING else object()

    # The writer builds records with model_construct (no validation): counts it
    # got from event meta (a tokenCount of 1e20) saturate at the schema's maximum
    # there, so every written record passes the published schema.
    _count_fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._count_fields = tuple(
            name
            for name, annotation in cls.__annotations__.items()
            if annotation in ("Count", Count)
        )

    @classmethod
    # The pydantic mypy plugin rewrites the parent signature (_cls, **kwargs): same call.
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Self:  # type: ignore[override]
        """Build a record without validation (the writer's path); counts saturate at 2**53 - 1.

        Args:
            _fields_set: As ``pydantic.BaseModel.model_construct``.
            **values: Field values, trusted except that a count above
                ``MAX_SAFE_INT`` becomes ``MAX_SAFE_INT``.

        Returns:
            The record.
        """
        for name in cls._count_fields:
            value = values.get(name)
            if value.__class__ is int and value > MAX_SAFE_INT:
                values[name] = MAX_SAFE_INT
        record = super().model_construct(_fields_set, **values)
        if "_l0_verified" in cls.__dict__:  # Telemetry: unmarked (see _internal/verified.py)
            _set_mark(record, None)
        return record

    # model_validate / model_validate_json read *documents* (files, other
    # languages): they validate with the document context, which makes every key
    # required. The constructor and model_construct do not.
    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate a document: every key of the published schema must be present.

        Takes the keyword arguments of ``pydantic.BaseModel.model_validate``
        except ``strict``: a document is read with the one contract of every
        reader (the published schema), never pydantic's strict mode (which
        rejects the ISO 8601 timestamps of every record) nor its lax mode
        (which accepts ``"completed": 1``). ``strict=None`` (pydantic's
        default) is accepted; ``True`` or ``False`` raises.

        Raises:
            TypeError: ``strict`` was given as ``True`` or ``False``.
            pydantic.ValidationError: Naming each missing or invalid field.
        """
        _no_strict(cls, kwargs)
        kwargs["context"] = {**(kwargs.get("context") or {}), **_DOCUMENT}
        return super().model_validate(obj, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Validate a JSON document with the contract of every other reader.

        The text is parsed by the strict ``loads`` of ``from_jsonl`` / ``iter_events``
        (no ``NaN`` / ``Infinity``, no number beyond the 64-bit float range,
        lone surrogate escapes kept as ajv and ``json.loads`` keep them, the
        same nesting limit), then validated by :meth:`model_validate`. pydantic's
        own JSON parser differs on each of these, so it is not used.

        Takes the keyword arguments of ``pydantic.BaseModel.model_validate``
        except ``strict`` (see :meth:`model_validate`).

        Raises:
            TypeError: ``strict`` was given as ``True`` or ``False``.
            pydantic.ValidationError: ``json_invalid`` for text that is not JSON;
                otherwise naming each missing or invalid field.
        """
        _no_strict(cls, kwargs)
        try:
            data = loads(bytes(json_data) if isinstance(json_data, bytearray) else json_data)
        except (ValueError, RecursionError) as exc:
            message = "nesting too deep" if isinstance(exc, RecursionError) else str(exc)
            raise ValidationError.from_exception_data(
                cls.__name__,
                [
                    InitErrorDetails(
                        type="json_invalid", loc=(), input=json_data, ctx={"error": message}
                    )
                ],
            ) from None
        return cls.model_validate(data, **kwargs)

    @model_validator(mode="before")
    @classmethod
    def require_every_key(cls, data: Any, info: ValidationInfo) -> Any:
        """A document carries every key; Python construction may omit keys for their defaults."""
        if not isinstance(data, dict) or not (info.context or {}).get(_DOCUMENT_KEY):
            return data
        if data.keys() >= cls.model_fields.keys():
            return data
        missing = [name for name in cls.model_fields if name not in data]
        if missing:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [InitErrorDetails(type="missing", loc=(name,), input=data) for name in missing],
            )
        return data


class TimingInfo(_Record):
    """Timing of one stream, from its events' timestamps."""

    started_at: Timestamp | None = Field(
        default=None, description="When the stream started (SESSION_START, or its first event)."
    )
    completed_at: Timestamp | None = Field(
        default=None, description="When the stream's terminal event was emitted."
    )
    duration: JsonFloat | None = Field(
        default=None,
        description="completed_at - started_at, in seconds.",
        examples=[1.234],
        json_schema_extra={"x-logfmt": {"key": "duration", "order": 2, "unit": "s"}},
    )
    time_to_first_token: JsonFloat | None = Field(
        default=None,
        description="Seconds from started_at to the first token (across retries); "
        "None when no first-token signal was seen.",
        examples=[0.456],
    )
    inter_token_latencies: list[JsonFloat] = Field(
        default_factory=list,
        description="Gaps between consecutive TOKEN events in seconds (at most the first "
        "1024 are listed; the metrics use all of them).",
    )


class RetryInfo(_Record):
    """Retries of one stream."""

    attempt: Count = Field(default=1, description="Last attempt number (1 = first try).")
    max_attempts: Count = Field(default=1, description="Maximum attempts configured.")
    model_retries: Count = Field(default=0, description="Retries after model (non-network) errors.")
    network_retries: Count = Field(default=0, description="Retries after network errors.")
    total_retries: Count = Field(
        default=0,
        description="model_retries + network_retries.",
        json_schema_extra={"x-logfmt": {"key": "retries", "order": 6, "omit": "falsy"}},
    )
    last_error: str | None = Field(default=None, description="Reason given for the last retry.")
    last_error_category: Literal["network", "model"] | None = Field(
        default=None,
        description="Category of the last retried error: network or model; null before a retry.",
        examples=["network"],
    )


class GuardrailViolation(TypedDict, total=False):
    """One guardrail violation, as the L0 runtime reports it (an open object).

    Keys beyond these (``recoverable``, ``position``, ``timestamp``, ``context``,
    ``suggestion``, or a custom rule's own) are kept as reported.
    """

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    rule: Annotated[str | None, Field(description="Name of the rule that reported it.")]
    message: Annotated[str | None, Field(description="What the rule found.")]
    severity: Annotated[
        Severity,
        Field(
            description="warning, error or fatal (the L0 runtime's Severity); any other "
            "reported severity is recorded as error."
        ),
    ]


class GuardrailInfo(_Record):
    """Guardrail checks of one stream."""

    csv_prefix: ClassVar[str] = "guardrail_"

    rules_checked: Count = Field(default=0, description="Number of guardrail rule runs started.")
    violations: list[GuardrailViolation] = Field(
        default_factory=list,
        description="Distinct violations (rule, message, severity, ...), at most 100.",
        json_schema_extra={
            "x-logfmt": {"key": "violations", "order": 7, "omit": "falsy", "format": "count"}
        },
    )
    passed: JsonBool = Field(default=True, description="False when any violation was reported.")
    violation_count: Count | None = Field(
        default=None,
        description="Distinct violations reported (counted up to 1024 per stream); may exceed "
        "the listed violations (at most 100). Absent (older records): the list's length.",
    )

    @property
    def total(self) -> int:
        """Distinct violations: ``violation_count``, else the list's length (older records)."""
        count = self.violation_count
        return len(self.violations) if count is None else count


class ErrorInfo(_Record):
    """The (last) error of one stream."""

    csv_prefix: ClassVar[str] = "error_"

    occurred: JsonBool = Field(default=False, description="Whether any ERROR event was seen.")
    message: str | None = Field(
        default=None,
        description="Error message (truncated to 2000 chars).",
        json_schema_extra={"x-logfmt": {"key": "error", "order": 8, "omit": "none"}},
    )
    category: ErrorCategory | None = Field(
        default=None,
        description="Error category, a closed set: the L0 runtime's ErrorCategory values "
        "(network, transient, model, content, provider, fatal, internal) or unknown (the "
        "runtime's failureType for other errors, any value this version does not know, and "
        "an error that named none, e.g. a give-up without ERROR); null when no error occurred.",
        examples=["network"],
    )
    code: str | None = Field(default=None, description="Error code from meta errorCode/code.")
    stack: str | None = Field(
        default=None, description="Formatted traceback when the event carried an exception."
    )
    recoverable: JsonBool = Field(
        default=False, description="True when L0 chose to retry or fall back, False on halt."
    )


class DriftInfo(_Record):
    """Drift detection results of one stream."""

    csv_prefix: ClassVar[str] = "drift_"

    detected: JsonBool = Field(default=False, description="Whether any drift check detected drift.")
    types: list[str] = Field(default_factory=list, description="Drift types detected.")
    score: JsonFloat | None = Field(default=None, description="Highest drift score reported.")


class Metrics(_Record):
    """Derived per-stream metrics."""

    token_count: Count = Field(
        default=0,
        description="Tokens of the final attempt (at most 2**53 - 1: a larger count read "
        "from an event is malformed and ignored).",
        json_schema_extra={"x-logfmt": {"key": "tokens", "order": 4}},
    )
    tokens_per_second: JsonFloat | None = Field(
        default=None,
        description="token_count / (duration - time_to_first_token): the generation rate once "
        "tokens flow; token_count / duration when no first token was seen.",
        json_schema_extra={
            "x-logfmt": {"key": "tokens_per_sec", "order": 5, "precision": 1, "omit": "none"}
        },
    )
    time_to_first_token: JsonFloat | None = Field(
        default=None,
        description="Same as timing.time_to_first_token, in seconds.",
        json_schema_extra={"x-logfmt": {"key": "ttft", "order": 3, "unit": "s"}},
    )
    avg_inter_token_latency: JsonFloat | None = Field(
        default=None, description="Mean gap between TOKEN events, seconds."
    )
    p50_inter_token_latency: JsonFloat | None = Field(
        default=None, description="Median gap between TOKEN events, seconds."
    )
    p90_inter_token_latency: JsonFloat | None = Field(
        default=None, description="90th percentile gap between TOKEN events, seconds."
    )
    p99_inter_token_latency: JsonFloat | None = Field(
        default=None, description="99th percentile gap between TOKEN events, seconds."
    )


class Telemetry(_Record):
    """Complete telemetry of one stream (one ``l0.run`` call, retries included)."""

    stream_id: str = Field(
        description="Stream identifier shared by all events of the run.",
        json_schema_extra={"x-logfmt": {"key": "stream_id", "order": 0}},
    )
    session_id: str | None = Field(default=None, description="Session identifier, if grouped.")
    model: str | None = Field(
        default=None,
        description="Model name, from meta or context.",
        json_schema_extra={"x-logfmt": {"key": "model", "order": 1, "omit": "none"}},
    )
    timing: TimingInfo = Field(default_factory=TimingInfo, description="Timing information.")
    retries: RetryInfo = Field(default_factory=RetryInfo, description="Retry information.")
    guardrails: GuardrailInfo = Field(
        default_factory=GuardrailInfo, description="Guardrail information."
    )
    error: ErrorInfo = Field(default_factory=ErrorInfo, description="Error information.")
    metrics: Metrics = Field(default_factory=Metrics, description="Derived metrics.")
    drift: DriftInfo = Field(default_factory=DriftInfo, description="Drift detection results.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="The events' context merged, plus user metadata."
    )
    content_length: Count = Field(
        default=0,
        description="Characters of generated content (at most 2**53 - 1, as token_count).",
    )
    completed: JsonBool = Field(
        default=False,
        description="Stream reached COMPLETE.",
        json_schema_extra={"x-logfmt": {"key": "completed", "order": 9}},
    )
    aborted: JsonBool = Field(
        default=False,
        description="Stream was aborted (ABORT_COMPLETED).",
        json_schema_extra={"x-logfmt": {"key": "aborted", "order": 10, "omit": "falsy"}},
    )
    abandoned: JsonBool = Field(
        default=False,
        description="Stream went silent and was finalized by eviction or close(), not by an event.",
    )
    outcome: Outcome = Field(
        default="failed",
        description="How the stream ended: completed (reached COMPLETE), aborted "
        "(ABORT_COMPLETED), abandoned (finalized silent, without an error) or failed "
        "(anything else). When constructing in Python without it, it is computed from "
        "completed, aborted, abandoned and error.occurred.",
        examples=["completed"],
    )
    schema_version: str = Field(
        default=SCHEMA_VERSION,
        pattern=SEMVER_PATTERN,
        description="Version of the published Telemetry schema the writer followed "
        "(semantic versioning; the $id of that schema carries its major version).",
        examples=[SCHEMA_VERSION],
    )

    # The verified mark (see _internal/verified.py): a slot, so copies and
    # pickles (which carry __dict__ and pydantic's own slots) are unmarked.
    __slots__ = ("_l0_verified",)

    @model_validator(mode="wrap")
    @classmethod
    def derive_outcome(cls, data: Any, handler: ModelWrapValidatorHandler[Telemetry]) -> Telemetry:
        """Python construction without ``outcome`` computes it from the flags.

        A record validated from a dict (a document, keyword arguments) is
        marked verified when :func:`_born_ok` holds.
        """
        token = EPOCH[0]  # before the record exists: a write meanwhile makes the mark stale
        record = handler(data)
        if isinstance(data, dict):
            if "outcome" not in data:
                # A new record: the write needs no invalidation (BaseModel's own setattr).
                BaseModel.__setattr__(
                    record,
                    "outcome",
                    outcome_of(
                        record.completed, record.aborted, record.abandoned, record.error.occurred
                    ),
                )
            if record.__class__ is Telemetry:
                if _born_ok(data, record):
                    _mark(record, token)
                else:
                    _set_mark(record, None)  # unmarked (an unset slot costs more to read)
        return record


# The mark slot's own accessors: an unset slot raises AttributeError here
# directly (not through BaseModel.__getattr__), another class TypeError.
_set_mark: Any = Telemetry.__dict__["_l0_verified"].__set__
_get_mark: Any = Telemetry.__dict__["_l0_verified"].__get__


def _mark(record: Telemetry, token: object) -> None:
    """Stamp ``record`` verified at the epoch ``token`` (see ``_internal/verified.py``).

    The mark is ``(token, metadata, gaps, violations, drift types)``: the
    mutable containers the exporters re-check, held by the mark so that
    checking them reads no section (they cannot be replaced while the mark
    is current: that takes an attribute write). Nothing is stamped while a
    write is under way (``token`` is ``WRITING``).
    """
    if token is WRITING:
        return
    d = record.__dict__
    _set_mark(
        record,
        (
            token,
            d["metadata"],
            d["timing"].__dict__["inter_token_latencies"],
            d["guardrails"].__dict__["violations"],
            d["drift"].__dict__["types"],
        ),
    )


def _mark_failed(record: Telemetry, token: object) -> None:
    """Remember that ``record`` failed the full check at the epoch ``token`` (not re-run then)."""
    _set_mark(record, (token,))


_SECTION_NAMES = ("timing", "retries", "guardrails", "error", "metrics", "drift")
_SECTIONS = itemgetter(*_SECTION_NAMES)
_TEXTS = itemgetter("stream_id", "session_id", "model")
_ERROR_TEXTS = itemgetter("message", "code", "stack")
_STAMPS = itemgetter("started_at", "completed_at")
_STAMP_CLASSES = frozenset({datetime, type(None)})


def _born_ok(data: dict[Any, Any], record: Telemetry) -> bool:
    """Whether a record just validated from ``data`` passes the exporters' full check.

    Validation guarantees each leaf's type, range and finiteness when every
    section was validated from a dict here (a section passed as an instance
    is taken as is, so such a record is left unmarked). Left to check: text
    valid UTF-8, ``schema_version`` the current one, date-times of the class
    itself (validation keeps a subclass) with a UTC offset of whole minutes
    (validation keeps a datetime's own offset) and the mutable containers.
    """
    try:
        for name in _SECTION_NAMES:
            section = data.get(name)
            if section is not None and section.__class__ is not dict:
                return False
        d = record.__dict__
        timing, retries, _, error, _, _ = _SECTIONS(d)
        if d["schema_version"] != SCHEMA_VERSION:
            return False
        stamps = _STAMPS(timing.__dict__)
        if not {*map(type, stamps)} <= _STAMP_CLASSES or not all(
            s is None or stamp_ok(s) for s in stamps
        ):
            return False
        last_error = retries.__dict__["last_error"]
        text = "".join(filter(None, (*_TEXTS(d), *_ERROR_TEXTS(error.__dict__), last_error)))
        if not text.isascii() and clean_text(text) is not text:
            return False
        return containers_ok(
            d["metadata"],
            timing.__dict__["inter_token_latencies"],
            d["guardrails"].__dict__["violations"],
            d["drift"].__dict__["types"],
        )
    except Exception:
        return False


def outcome_of(completed: bool, aborted: bool, abandoned: bool, error: bool) -> Outcome:
    """How a stream ended: completed, aborted, abandoned (silent, no error) or failed."""
    if completed:
        return "completed"
    if aborted:
        return "aborted"
    if abandoned and not error:
        return "abandoned"
    return "failed"


class AggregateMetrics(TypedDict):
    """Aggregates over every stream finished since ``clear()`` (sampled or not).

    Besides these keys, ``p<q>_ttft``, ``p<q>_duration`` and ``p<q>_tokens_per_sec``
    are present for each configured percentile q (0.5 -> ``p50``, 0.999 -> ``p99.9``):
    seconds for TTFT and duration, tokens per second for the last, null with no data.
    Every key listed here is always present; the object is open to keys added later.
    """

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    count: Annotated[Count, Field(description="Streams finished since clear().")]
    total_tokens: Annotated[Count, Field(description="Sum of token_count.")]
    total_duration: Annotated[JsonFloat, Field(description="Sum of durations, seconds.")]
    total_retries: Annotated[Count, Field(description="Sum of total_retries.")]
    error_count: Annotated[Count, Field(description="Streams that saw any ERROR.")]
    error_rate: Annotated[JsonFloat, Field(description="error_count / count (0 when empty).")]
    completed_count: Annotated[Count, Field(description="Streams that reached COMPLETE.")]
    completion_rate: Annotated[JsonFloat, Field(description="completed_count / count.")]
    failed_count: Annotated[
        Count, Field(description="Streams that ended neither completed nor aborted.")
    ]
    failure_rate: Annotated[JsonFloat, Field(description="failed_count / count.")]
    aborted_count: Annotated[Count, Field(description="Streams aborted.")]
    abandoned_count: Annotated[
        Count, Field(description="Streams finalized silent (evicted or closed).")
    ]
    avg_tokens: Annotated[JsonFloat, Field(description="total_tokens / count.")]
    avg_duration: Annotated[
        JsonFloat,
        Field(
            description="total_duration / streams with a duration, seconds (0.0 when none has one)."
        ),
    ]
    avg_ttft: Annotated[
        JsonFloat | None, Field(description="Mean TTFT of streams with one, seconds.")
    ]
    avg_tokens_per_sec: Annotated[
        JsonFloat | None, Field(description="Mean tokens_per_second of streams with one.")
    ]


PERCENTILE_KEY_PATTERN = r"^p[0-9]+(\.[0-9]+)?_(ttft|duration|tokens_per_sec)" + END
"""Keys of the per-percentile aggregates: ``p50_ttft``, ``p99.9_duration``..."""

_PERCENTILE_KEY = re.compile(PERCENTILE_KEY_PATTERN)

if TYPE_CHECKING:
    from pydantic import TypeAdapter


@functools.cache
def _adapters() -> tuple[TypeAdapter[AggregateMetrics], TypeAdapter[float | None]]:
    # Built on first use: building a validator at import costs pydantic's plugin
    # scan (importlib.metadata) and a schema build in every importing process.
    from pydantic import TypeAdapter

    return TypeAdapter(AggregateMetrics), TypeAdapter(JsonFloat | None)


def validate_aggregate_metrics(data: Any) -> AggregateMetrics:
    """Validate an aggregates document (what ``get_aggregate_metrics`` returns, as JSON).

    Accepts exactly what the published ``AggregateMetrics`` schema accepts: every
    listed key present, ``p<q>_*`` keys non-negative numbers or null, other keys
    (from newer releases) kept as they are.

    Args:
        data: The parsed JSON document.

    Returns:
        The validated aggregates.

    Raises:
        pydantic.ValidationError: Naming the offending key.
    """
    aggregates, quantile = _adapters()
    result = aggregates.validate_python(data)
    errors: list[InitErrorDetails] = []
    for key, value in data.items():
        if isinstance(key, str) and _PERCENTILE_KEY.search(key):
            try:
                q = quantile.validate_python(value)
            except ValidationError as exc:
                errors += [
                    InitErrorDetails(
                        type=PydanticCustomError("quantile", e["msg"]), loc=(key,), input=value
                    )
                    for e in exc.errors()
                ]
                continue
            if q is not None and q < 0:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError("quantile", "must be >= 0"),
                        loc=(key,),
                        input=value,
                    )
                )
    if errors:
        raise ValidationError.from_exception_data("AggregateMetrics", errors)
    return result
