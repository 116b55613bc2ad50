"""Break-it review of the verified mark (issue 17): what every fast path must still refuse.

Each format, alone and in a batch, on marked records (validated, then changed
in place) and unmarked ones (``model_construct``), writes exactly what it
writes for ``coerce(record)``, or raises the ValueError coerce raises:

* a write (another thread, a host hook) between a fast path's check and its
  output: the output is discarded (``test_a_write_between_*``);
* a violation's declared keys: severity of any type (unhashable too), rule and
  message of a type the schema does not allow;
* date-times whose UTC offset is not whole minutes (the serializer writes the
  offset cut to minutes: the instant would be wrong).
"""

from __future__ import annotations

import json
import pathlib
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import jsonschema
import pytest

from l0_monitoring import Telemetry, TelemetryExporter
from l0_monitoring._internal.contract import ERROR_CATEGORIES
from l0_monitoring.exporters import _current
from l0_monitoring.exporters._coerce import coerce
from l0_monitoring.telemetry import ErrorInfo, GuardrailInfo, TimingInfo

E = TelemetryExporter
_SCHEMA = json.loads(
    (pathlib.Path(__file__).parent.parent / "schemas" / "Telemetry.schema.json").read_text()
)
_VALIDATOR = jsonschema.validators.validator_for(_SCHEMA)(
    _SCHEMA, format_checker=jsonschema.FormatChecker()
)


def _ok() -> Telemetry:
    return Telemetry(stream_id="ok", model="m")


def _formats() -> dict[str, Callable[[Telemetry], Any]]:
    """Every format, alone and in a batch, as JSON data (CSV: the record read back)."""
    return {
        "json": lambda t: json.loads(E.to_json(t)),
        "json_compact": lambda t: json.loads(E.to_json(t, indent=None)),
        "dict": lambda t: json.loads(json.dumps(E.to_dict(t), allow_nan=False)),
        "jsonl": lambda t: json.loads(E.to_jsonl([t])),
        "jsonl_batch": lambda t: json.loads(E.to_jsonl([_ok(), t, _ok()]).splitlines()[1]),
        "csv": lambda t: E.to_dict(E.from_csv(E.to_csv([t]))[0]),
        "csv_batch": lambda t: E.to_dict(E.from_csv(E.to_csv([_ok(), t, _ok()]))[1]),
        "log": E.to_log_format,
        "metrics": lambda t: json.loads(json.dumps(E.to_metrics(t), allow_nan=False)),
    }


def _outcome(f: Callable[[Telemetry], Any], t: Telemetry) -> tuple[str, Any]:
    try:
        return "ok", f(t)
    except ValueError:
        return "ValueError", None


def _assert_as_coerced(t: Telemetry, shown: tuple[str, ...] | None = None) -> None:
    """Every format writes ``t`` as it writes ``coerce(t)`` (or raises ValueError as coerce).

    ``shown``: the formats that show the odd value (log and metrics show few
    fields: a record coerce refuses for a field they do not show is written).
    """
    try:
        fixed: Telemetry | None = coerce(t)
    except ValueError:
        fixed = None
    for name, f in _formats().items():
        got = _outcome(f, t)
        if fixed is not None:
            assert got == ("ok", f(fixed)), name
            if name.startswith(("json", "dict")):
                _VALIDATOR.validate(got[1])
        elif shown is None or name in shown:
            assert got[0] == "ValueError", name


_DOC_FORMATS = ("json", "json_compact", "dict", "jsonl", "jsonl_batch", "csv", "csv_batch")


def _marked_with_violation() -> Telemetry:
    t = Telemetry(
        stream_id="v",
        model="m",
        guardrails={"violations": [{"rule": "r", "message": "x", "severity": "warning"}]},
        metadata={"k": "v"},
    )
    assert _current(t)
    return t


def _constructed_with_violation(violation: dict[str, Any]) -> Telemetry:
    return Telemetry.model_construct(
        stream_id="v",
        model="m",
        guardrails=GuardrailInfo.model_construct(violations=[violation], passed=False),
    )


# ---------------------------------------------------------------- severities

_ODD_SEVERITIES = [["x"], {"a": 1}, {"x"}, 3, None, "WARNING", "bogus", True]


@pytest.mark.parametrize("severity", _ODD_SEVERITIES, ids=repr)
def test_an_unhashable_or_unknown_severity_of_a_marked_record_is_written_as_coerce_writes_it(
    severity,
):
    t = _marked_with_violation()
    E.to_json(t)
    t.guardrails.violations[0]["severity"] = severity  # in place: the mark stays
    _assert_as_coerced(t)


@pytest.mark.parametrize("severity", _ODD_SEVERITIES, ids=repr)
def test_an_unhashable_or_unknown_severity_of_a_constructed_record_is_written_as_coerce_writes_it(
    severity,
):
    t = _constructed_with_violation({"rule": "r", "severity": severity})
    for _ in range(3):  # first export, full check, marked
        _assert_as_coerced(t)


# ------------------------------------------------------------- rule, message

_ODD_TEXT = [5, 1.5, True, ["x"], {"a": "b"}]


@pytest.mark.parametrize("key", ["rule", "message"])
@pytest.mark.parametrize("value", _ODD_TEXT, ids=repr)
def test_a_violation_rule_or_message_that_is_not_text_is_refused_by_every_document_format(
    key, value
):
    for t in (_marked_with_violation(), _constructed_with_violation({"rule": "r"})):
        for _ in range(3):
            t.guardrails.violations[0][key] = value
            with pytest.raises(ValueError, match=f"violations.0.{key}"):
                coerce(t)
            _assert_as_coerced(t, shown=_DOC_FORMATS)


@pytest.mark.parametrize("key", ["rule", "message"])
def test_a_violation_rule_or_message_of_null_is_kept(key):
    t = _marked_with_violation()
    t.guardrails.violations[0][key] = None
    assert E.to_dict(t)["guardrails"]["violations"][0][key] is None
    _assert_as_coerced(t)


# --------------------------------------------------------------- date-times

_ODD_OFFSETS = [
    timedelta(seconds=30),
    timedelta(seconds=-30),
    timedelta(hours=5, minutes=30, seconds=1),
    timedelta(microseconds=1),
    timedelta(minutes=-1, microseconds=-5),
]


@pytest.mark.parametrize("offset", _ODD_OFFSETS, ids=str)
@pytest.mark.parametrize("field", ["started_at", "completed_at"])
def test_a_utc_offset_that_is_not_whole_minutes_is_written_as_the_utc_instant(offset, field):
    stamp = datetime(2024, 1, 1, tzinfo=timezone(offset))
    instant = stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
    validated = Telemetry(stream_id="d", timing={field: stamp})
    constructed = Telemetry.model_construct(
        stream_id="d", timing=TimingInfo.model_construct(**{field: stamp})
    )
    assigned = Telemetry(stream_id="d")
    assigned.timing.__setattr__(field, stamp)
    for t in (validated, constructed, assigned):
        for _ in range(3):  # first export, full check, marked (or not)
            assert E.to_dict(t)["timing"][field] == instant
            _assert_as_coerced(t)


@pytest.mark.parametrize("offset", [timedelta(hours=5, minutes=30), timedelta(hours=-8)], ids=str)
def test_a_utc_offset_of_whole_minutes_is_kept(offset):
    stamp = datetime(2024, 1, 1, tzinfo=timezone(offset))
    t = Telemetry(stream_id="d", timing={"started_at": stamp})
    for _ in range(3):
        assert E.to_dict(t)["timing"]["started_at"] == stamp.isoformat()
        _assert_as_coerced(t)


# ------------------------------------------- a write between check and output


class _Hook:
    """One write to a record, made when armed at the next call of fire() (a host hook)."""

    def __init__(self, write: Callable[[], None]) -> None:
        self.write: Callable[[], None] | None = None
        self._pending = write

    def arm(self) -> None:
        self.write = self._pending

    def fire(self) -> None:
        write, self.write = self.write, None
        if write is not None:
            write()


class _HookZone(tzinfo):
    """UTC, with a hook in utcoffset() (the JSON and CSV checks call it on a non-UTC zone)."""

    def __init__(self, hook: _Hook) -> None:
        self.hook = hook

    def utcoffset(self, dt: datetime | None) -> timedelta:
        self.hook.fire()
        return timedelta(0)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)


class _HookText(str):
    """Text with a hook in __hash__ (logfmt's and to_metrics' checks hash it)."""

    hook: _Hook

    def __hash__(self) -> int:
        self.hook.fire()
        return str.__hash__(self)


def _hooked(write: Callable[[Telemetry], None], name: str) -> tuple[Telemetry, _Hook]:
    """A constructed record whose check by format ``name`` runs the hook."""
    holder: list[Telemetry] = []
    hook = _Hook(lambda: write(holder[0]))
    stamp = datetime(2024, 1, 1, tzinfo=_HookZone(hook))
    text = _HookText("network")
    text.hook = hook
    t = Telemetry.model_construct(
        stream_id="w",
        model=_HookText("m") if name == "log" else "m",
        timing=TimingInfo.model_construct(started_at=stamp),
        error=ErrorInfo.model_construct(category=text if name == "metrics" else None),
    )
    if name == "log":
        t.model.hook = hook  # type: ignore[union-attr]
    holder.append(t)
    return t, hook


def _negative_count(t: Telemetry) -> None:
    t.metrics.token_count = -1


def _unknown_severity(t: Telemetry) -> None:
    t.guardrails.violations = [{"rule": "r", "severity": "bogus"}]


def _unknown_category(t: Telemetry) -> None:
    t.error = ErrorInfo.model_construct(occurred=True, category="bogus", message="m")


_WRITES = [_negative_count, _unknown_severity, _unknown_category]


@pytest.mark.parametrize("write", _WRITES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", list(_formats()))
def test_a_write_between_a_fast_paths_check_and_its_output_is_not_written(name, write):
    # The hook writes while the format's checks run: what is written is the
    # record as it was before the write (a snapshot read before it) or as it
    # is after it (coerce's output or its ValueError), never the written value
    # unchecked. Exported 0, 1, 2 times before: unmarked (seen), fully
    # checked, marked.
    f = _formats()[name]
    for before in range(3):
        t, hook = _hooked(write, name)
        unwritten = _outcome(f, _hooked(write, name)[0])
        for _ in range(before):
            f(t)
        hook.arm()
        got = _outcome(f, t)
        assert hook.write is None  # the hook fired during that export
        written = _outcome(f, coerce_or_self(t))
        assert _outcome(f, t) == written
        assert got in (unwritten, written), (name, before)
        if got[0] == "ok" and name.startswith(("json", "dict")):
            _VALIDATOR.validate(got[1])


def coerce_or_self(t: Telemetry) -> Telemetry:
    try:
        return coerce(t)
    except ValueError:
        return t  # the format raises the same ValueError on the record itself


def test_a_write_between_the_metrics_check_and_its_labels_is_not_written():
    # to_metrics checks the error category, then reads it again for the labels:
    # a category whose hashing (the check) writes another one must not leak.
    holder: list[Telemetry] = []

    class Category(str):
        __slots__ = ()

        def __hash__(self) -> int:
            if holder:
                holder.pop().error = ErrorInfo.model_construct(
                    occurred=True, category="bogus", message="m"
                )
            return str.__hash__(self)

    t = Telemetry.model_construct(
        stream_id="c",
        model="m",
        error=ErrorInfo.model_construct(occurred=True, category=Category("network")),
    )
    holder.append(t)
    labels = E.to_metrics(t)["l0_errors_total"]["labels"]
    assert not holder
    assert labels.get("category") in ERROR_CATEGORIES
    assert E.to_metrics(t) == E.to_metrics(coerce(t))


def test_threads_writing_counts_while_another_exports_never_leak_an_invalid_count():
    # The reviewer's race, bounded: another thread flips a count between -1
    # and 3 by assignment; every export is the record with 3, or ValueError.
    t = Telemetry(stream_id="r")
    stop = threading.Event()

    def flip() -> None:
        m = t.metrics
        while not stop.is_set():
            m.token_count = -1
            m.token_count = 3

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    writer = threading.Thread(target=flip, daemon=True)
    writer.start()
    bad: list[str] = []
    try:
        for _ in range(2000):
            for name in ("json", "dict", "jsonl_batch"):
                kind, data = _outcome(_formats()[name], t)
                if kind == "ok" and data["metrics"]["token_count"] != 3:
                    bad.append(name)
    finally:
        stop.set()
        writer.join(timeout=10)
        sys.setswitchinterval(interval)
    assert not writer.is_alive()
    assert not bad


@pytest.mark.parametrize("severity", _ODD_SEVERITIES, ids=repr)
def test_an_odd_severity_is_counted_by_to_prometheus_of_records(severity):
    t = _marked_with_violation()
    t.guardrails.violations[0]["severity"] = severity
    text = E.to_prometheus([t, _constructed_with_violation({"severity": severity})])
    counted = [
        line
        for line in text.splitlines()
        if line.startswith("l0_guardrail_violations_total{") and not line.endswith(" 0")
    ]
    assert len(counted) in (1, 2)
    assert sum(int(line.rsplit(" ", 1)[1]) for line in counted) == 2
