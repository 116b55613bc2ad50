"""The verified mark of Telemetry records: checked once, exported many times.

Every ``TelemetryExporter`` format is total on records the host builds (see
``exporters/_coerce.py``): a record is written by a format's fast path only
when it is exactly as ``coerce`` would leave it. Checking that costs about a
third of writing a record, so a record known to pass the full check carries a
*mark*: the epoch token current when its check began.

* The epoch is one object, :data:`EPOCH` ``[0]``. Any attribute write or delete on
  any record model (``_Record.__setattr__`` / ``__delattr__``: a record, or a
  section held on its own) sets it to :data:`WRITING` while the write is under
  way and to a new object after it, which invalidates every mark at once.
  Writes take one lock (:data:`WRITE_LOCK`), so the epoch reads ``WRITING``
  whenever any write is under way. A service rarely mutates records; a host
  that does falls back to the full check per export.
* A mark is valid when it *is* the current token (identity; the mark holds a
  reference, so the token cannot be recycled). Tokens are never reused and no
  mark is ever stamped ``WRITING``, so writers only ever make a mark stale.
* A checker reads the token *before* checking and stamps that token: a write
  during the check leaves the stamp stale. The exporters re-read the token
  after writing a marked record and discard the output when it moved (a write
  began meanwhile: the output may hold part of it).
* The same holds for every fast path that checks the live record and then
  writes it (to_json, to_dict, to_jsonl alone and in a batch, to_metrics): the
  token is read before the check (``WRITING``: no fast path) and re-read after
  the output; when it moved, the record takes the slow path (``coerce``
  validates a copy, so its output is always valid). to_csv and to_log_format
  check the values they have already read (a row, a local) and write those:
  a write meanwhile cannot reach their output.
* Marked at birth: the records the Monitor builds (``derive.telemetry``; every
  one passes the full check, a property test over hostile event logs shows it)
  and records validated from documents or keyword arguments (validation
  guarantees the types, ranges and finiteness; :func:`born_ok` checks the rest).
  ``model_construct``, ``model_copy``, ``copy``/``pickle`` results are unmarked:
  the mark lives in a slot that pydantic neither copies nor pickles.
* What changes in place without an attribute write (the mutable containers:
  ``metadata``, ``guardrails.violations``, ``timing.inter_token_latencies``,
  ``drift.types``) is re-checked on every export by :func:`containers_ok`, with
  C-level passes for the usual contents.

Writes that bypass ``__setattr__`` (``record.__dict__[...] = ...``,
``object.__setattr__``) are not seen: they are outside pydantic's model API.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from typing import Any

from .contract import SEVERITIES
from .safe import MAX_JSON_INT, clean_text

__all__ = [
    "EPOCH",
    "WRITE_LOCK",
    "WRITING",
    "containers_ok",
    "json_ok",
    "json_value_ok",
    "stamp_ok",
    "text_ok",
    "violations_ok",
]

EPOCH: list[object] = [object()]
"""The current epoch token (one item); replaced by every write to a record model."""

WRITING = object()
"""The epoch while a record model is being written to: never a valid mark."""

WRITE_LOCK = threading.RLock()
"""Held by every record model write (reentrant: a host property setter may write again)."""


def _after_fork_in_child() -> None:
    # A thread that held the lock (or was writing) at fork does not exist in the
    # child: a fresh lock, and a new epoch (every mark stale, none trusted).
    WRITE_LOCK._at_fork_reinit()  # type: ignore[attr-defined]  # as logging does for its locks
    EPOCH[0] = object()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)

_STR_ONLY = frozenset({str})
_FLOAT_ONLY = frozenset({float})


def text_ok(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 as is (``coerce`` leaves it unchanged)."""
    return text.isascii() or clean_text(text) is text


def stamp_ok(stamp: datetime) -> bool:
    """Whether a date-time is written as coerce leaves it: aware, its UTC offset whole minutes.

    The serializer writes an offset to the minute (``+00:00:30`` as ``+00:00``:
    the instant 30 s wrong); coerce converts such a date-time to UTC.
    """
    if stamp.tzinfo is UTC:
        return True
    offset = stamp.utcoffset()
    return offset is not None and not offset.seconds % 60 and not offset.microseconds


def json_ok(data: Any) -> bool:
    """Whether open JSON data (metadata, a violation) is written as coerce leaves it.

    The usual case (text values, ASCII) is three C-level passes; anything else
    is checked value by value: text valid UTF-8, integers within the float
    range, floats finite, containers dicts with text keys and lists.
    """
    if data.__class__ is dict:
        try:
            if (
                {*map(type, data.values())} <= _STR_ONLY
                and "".join(data).isascii()
                and "".join(data.values()).isascii()
            ):
                return True
        except TypeError:  # a key that is not text
            return False
    return json_value_ok(data, 64)


def json_value_ok(v: Any, depth: int) -> bool:
    """Whether ``v`` is JSON data as coerce leaves it, at most ``depth`` containers deep."""
    kind = v.__class__
    if v is None or kind is bool:
        return True
    if kind is str:
        return clean_text(v) is v
    if kind is int:
        return bool(-MAX_JSON_INT <= v <= MAX_JSON_INT)
    if kind is float:
        return bool(v - v == 0)
    if depth <= 0:
        return False
    if kind is dict:
        return all(k.__class__ is str and clean_text(k) is k for k in v) and all(
            json_value_ok(x, depth - 1) for x in v.values()
        )
    if kind is list:
        return all(json_value_ok(x, depth - 1) for x in v)
    return False


def violations_ok(violations: list[Any]) -> bool:
    """Whether every listed violation is as coerce leaves it (the schema's GuardrailViolation).

    A JSON object (:func:`json_ok`) whose declared keys hold what the schema
    allows: ``severity`` absent or one of :data:`~.contract.SEVERITIES` (text;
    anything else, unhashable too, is for coerce to normalize), ``rule`` and
    ``message`` absent, null or text (anything else: coerce refuses the record).
    """
    for v in violations:
        if v.__class__ is not dict:
            return False
        severity = v.get("severity", "error")
        if severity.__class__ is not str or severity not in SEVERITIES:
            return False
        rule = v.get("rule")
        message = v.get("message")
        if (rule is not None and rule.__class__ is not str) or (
            message is not None and message.__class__ is not str
        ):
            return False
        if not json_ok(v):
            return False
    return True


def containers_ok(metadata: Any, gaps: Any, violations: Any, types: Any) -> bool:
    """Whether a verified record's mutable containers still hold what the full check accepted.

    The containers a host can change without an attribute write: metadata
    (JSON data), the inter-token gaps (finite floats), the listed violations
    (JSON objects, known severities) and the drift types (valid text). The
    usual contents cost one or two C-level passes; empty ones a truth test.

    Args:
        metadata: The record's ``metadata`` dict.
        gaps: Its ``timing.inter_token_latencies`` list.
        violations: Its ``guardrails.violations`` list.
        types: Its ``drift.types`` list.

    Returns:
        True when every container is as ``coerce`` leaves it.
    """
    if metadata:
        try:  # text keys and values, ASCII: one C-level join (the usual metadata)
            plain = "".join([*metadata, *metadata.values()]).isascii()
        except TypeError:  # a key or value that is not text: each value decides
            plain = False
        if not plain and not json_value_ok(metadata, 64):
            return False
    if gaps and not ({*map(type, gaps)} <= _FLOAT_ONLY and (x := sum(gaps)) - x == 0):
        return False
    if violations and not violations_ok(violations):
        return False
    return not types or ({*map(type, types)} <= _STR_ONLY and text_ok("".join(types)))
