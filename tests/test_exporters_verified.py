"""The verified mark: a record checked once is exported without checks until it may differ.

See ``l0_monitoring/_internal/verified.py``. Each invalidation below is a
named test that fails without the mechanism: the marked fast path writes a
record as is (no checks, no warnings), so a mark that survived a change would
export NaN, an int where text belongs, or an unknown severity.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pathlib
import pickle
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from l0_monitoring import (
    MetricsConfig,
    Monitor,
    MonitoringConfig,
    ObservabilityEvent,
    Telemetry,
    TelemetryExporter,
)
from l0_monitoring._internal.verified import EPOCH
from l0_monitoring.events import ObservabilityEventType
from l0_monitoring.exporters import _current, _leaves_ok, _shape_ok
from l0_monitoring.exporters._coerce import coerce
from l0_monitoring.telemetry import TimingInfo

from .records import monitor_records

E = TelemetryExporter
_SCHEMA = json.loads(
    (pathlib.Path(__file__).parent.parent / "schemas" / "Telemetry.schema.json").read_text()
)


def _strict(text: str) -> Any:
    def bad(name: str) -> None:
        raise ValueError(name)

    return json.loads(text, parse_constant=bad)


def _full_check(t: Telemetry) -> bool:
    """What a record must pass to be marked (every format's fast-path check)."""
    return bool(_shape_ok(t) and _leaves_ok(t))


def _every_format(t: Telemetry) -> dict[str, object]:
    ok = Telemetry(stream_id="ok", model="m")
    return {
        "json": E.to_json(t),
        "dict": E.to_dict(t),
        "jsonl": E.to_jsonl([t]),
        "jsonl_batch": E.to_jsonl([ok, t, ok]),
        "csv": E.to_csv([t]),
        "csv_batch": E.to_csv([ok, t, ok]),
        "log": E.to_log_format(t),
        "metrics": E.to_metrics(t),
    }


def _marked_record() -> Telemetry:
    t = Telemetry(stream_id="s", model="m", timing={"duration": 1.5}, metadata={"tenant": "t1"})
    assert _current(t)  # validated from keyword arguments: marked at birth
    return t


def _monitor_records(n: int = 4) -> list[Telemetry]:
    return monitor_records(n, MonitoringConfig(metrics=MetricsConfig(inter_token_latency=True)))


# -- marked at birth ------------------------------------------------------------


def test_records_the_monitor_builds_are_marked_at_birth():
    records = _monitor_records()
    assert records and all(map(_current, records))
    for t in records:
        assert _every_format(t) == _every_format(coerce(t))


def test_validated_records_are_marked_at_birth():
    t = _monitor_records(1)[0]
    assert _current(Telemetry.model_validate(t.model_dump()))
    assert _current(Telemetry.model_validate_json(t.model_dump_json()))
    assert _current(Telemetry(stream_id="x", error={"occurred": True, "message": "boom"}))
    assert E.from_jsonl(E.to_jsonl([t]))[0] == t and _current(E.from_jsonl(E.to_jsonl([t]))[0])


def test_a_record_given_a_section_instance_is_marked_at_its_second_export():
    # A section instance is not validated again (it may be host-built): no mark
    # at birth. The first export at an epoch takes the formats' own checks (a
    # record exported once costs what it did without marks); the second runs
    # the full check once and marks it.
    t = Telemetry(stream_id="x", timing=TimingInfo(duration=1.5))
    assert not _current(t)
    first = E.to_json(t)
    assert not _current(t) and t._l0_verified is EPOCH[0]  # seen once at this epoch
    assert E.to_json(t) == first
    assert _current(t)


def test_a_validated_record_whose_text_is_not_utf8_is_not_marked():
    t = Telemetry(stream_id="x\ud800", metadata={"k": "v"})
    assert not _current(t)
    assert E.to_dict(t)["stream_id"] == "x\ufffd"
    assert not _current(t)


@pytest.mark.parametrize(
    "metadata", [{"a": float("nan")}, {"a": 10**400}, {"a": {1, 2}}, {"a": b"x"}], ids=repr
)
def test_a_validated_record_with_non_json_metadata_is_not_marked(metadata):
    t = Telemetry(stream_id="x", metadata=metadata)
    assert not _current(t)
    assert _every_format(t) == _every_format(coerce(t))


def test_a_record_failing_the_full_check_is_not_checked_again_at_the_same_epoch():
    t = Telemetry.model_construct(
        stream_id="n", timing=TimingInfo.model_construct(duration=float("nan"))
    )
    assert E.to_dict(t)["timing"]["duration"] is None  # seen
    assert E.to_dict(t)["timing"]["duration"] is None  # the full check: failed
    assert t._l0_verified == (EPOCH[0],)  # remembered: the formats' own checks decide
    assert E.to_dict(t)["timing"]["duration"] is None
    assert t._l0_verified == (EPOCH[0],)


# -- what invalidates a mark ------------------------------------------------------


def test_assigning_a_field_of_a_marked_record_invalidates_its_mark():
    t = _marked_record()
    t.timing = TimingInfo.model_construct(duration=float("nan"))
    assert not _current(t)
    assert E.to_dict(t)["timing"]["duration"] is None
    t.model = 5  # type: ignore[assignment]
    assert E.to_dict(t)["model"] == "5" and _strict(E.to_json(t))["model"] == "5"


def test_assigning_to_a_section_held_separately_invalidates_the_records_mark():
    t = _marked_record()
    timing = t.timing
    E.to_dict(t)
    timing.duration = float("nan")
    assert E.to_dict(t)["timing"]["duration"] is None
    assert "duration=" not in E.to_log_format(t)
    assert E.from_csv(E.to_csv([t]))[0].timing.duration is None


def test_deleting_a_field_of_a_marked_record_invalidates_its_mark():
    t = _marked_record()
    del t.model
    assert not _current(t)
    with pytest.raises(ValueError, match=r"stream_id='s'.*field model"):
        E.to_json(t)


def test_model_copy_with_update_is_unmarked():
    t = _marked_record()
    u = t.model_copy(update={"model": 5, "timing": TimingInfo.model_construct(duration=math.inf)})
    assert not _current(u) and _current(t)
    data = E.to_dict(u)
    assert data["model"] == "5" and data["timing"]["duration"] is None


def test_model_construct_is_unmarked():
    t = Telemetry.model_construct(stream_id="c", model=7, metadata={"k": math.nan})
    assert not _current(t)
    data = E.to_dict(t)
    assert data["model"] == "7" and data["metadata"] == {"k": None}


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle", "model_copy"], ids=lambda how: how)
def test_copies_and_unpickled_records_are_unmarked(how):
    t = _marked_record()
    u = {
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
        "pickle": lambda r: pickle.loads(pickle.dumps(r)),  # noqa: S301 - our own bytes
        "model_copy": lambda r: r.model_copy(),
    }[how](t)
    assert not _current(u)
    u.__dict__["model"] = 5  # a write that bypasses __setattr__, as model_copy(update=) does
    assert E.to_dict(u)["model"] == "5"
    assert _current(t)


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda t: t.metadata.__setitem__("x", math.nan), lambda d: d["metadata"]["x"] is None),
        (
            lambda t: t.metadata.__setitem__("x", 10**400),
            lambda d: isinstance(d["metadata"]["x"], str),
        ),
        (lambda t: t.metadata.__setitem__("x", "\ud800"), lambda d: d["metadata"]["x"] == "\ufffd"),
        (lambda t: t.metadata.__setitem__(True, "v"), lambda d: d["metadata"]["True"] == "v"),
        (
            lambda t: t.timing.inter_token_latencies.extend([0.5, math.nan, 1]),
            lambda d: d["timing"]["inter_token_latencies"] == [0.5, 1.0],
        ),
        (lambda t: t.drift.types.append(None), lambda d: d["drift"]["types"] == ["None"]),
        (lambda t: t.drift.types.append("\ud800"), lambda d: d["drift"]["types"] == ["\ufffd"]),
        (
            lambda t: t.guardrails.violations.append({"rule": "r", "severity": "weird"}),
            lambda d: d["guardrails"]["violations"][0]["severity"] == "error",
        ),
        (
            lambda t: t.guardrails.violations.append({"rule": "r", "x": [math.inf]}),
            lambda d: d["guardrails"]["violations"][0]["x"] == [None],
        ),
    ],
    ids=[
        "metadata-nan",
        "metadata-huge-int",
        "metadata-surrogate",
        "metadata-bool-key",
        "gaps-nan-and-int",
        "drift-type-none",
        "drift-type-surrogate",
        "violation-severity",
        "violation-inf",
    ],
)
def test_in_place_container_changes_of_a_marked_record_are_checked(change, check):
    t = _marked_record()
    E.to_json(t)
    change(t)  # no attribute write: the mark stays current, the containers are re-checked
    assert check(E.to_dict(t))
    assert check(_strict(E.to_json(t)))
    assert _every_format(t) == _every_format(coerce(t))


class _WritesOnce(tzinfo):
    """A UTC tzinfo whose first utcoffset() call replaces the record's metadata (a write).

    The new metadata holds a lone surrogate: written as is by a path that
    skips the checks, as U+FFFD by every checked path.
    """

    def __init__(self) -> None:
        self.record: Telemetry | None = None

    def utcoffset(self, dt: datetime | None) -> timedelta:
        record, self.record = self.record, None
        if record is not None:
            record.metadata = {"k": "\ud800"}
        return timedelta(0)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)


def test_a_write_during_the_full_check_leaves_the_mark_stale():
    # The full check reads metadata, then a date-time's utcoffset() replaces it
    # (through __setattr__): the check passed on the old value, so the mark it
    # stamps must be stale (the epoch is read before checking) and this export
    # must not use the output of the marked path either (epoch read after).
    zone = _WritesOnce()
    t = Telemetry.model_construct(
        stream_id="w",
        metadata={"k": "v"},
        timing=TimingInfo.model_construct(started_at=datetime(2024, 1, 1, tzinfo=zone)),
    )
    E.to_dict(t)  # seen once: the next export runs the full check
    zone.record = t
    assert E.to_dict(t)["metadata"] == {"k": "\ufffd"}
    assert not _current(t)
    assert E.to_dict(t)["metadata"] == {"k": "\ufffd"}


def test_threads_writing_while_another_exports_never_leak_a_value():
    # One thread flips a marked record's duration between 1.5 and NaN (by
    # assignment); the exporting thread must see 1.5 or null, never NaN.
    t = _marked_record()
    stop = threading.Event()

    def flip() -> None:
        timing = t.timing
        while not stop.is_set():
            timing.duration = math.nan
            timing.duration = 1.5

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    writer = threading.Thread(target=flip, daemon=True)
    writer.start()
    try:
        seen = set()
        for _ in range(3000):
            duration = E.to_dict(t)["timing"]["duration"]
            assert duration in (1.5, None)
            seen.add(duration)
            back = E.from_csv(E.to_csv([t, t]))  # a "nan" cell raises here
            assert {r.timing.duration for r in back} <= {1.5, None}
            assert all(
                line["timing"]["duration"] in (1.5, None)
                for line in map(_strict, E.to_jsonl([t, t]).splitlines())
            )
    finally:
        stop.set()
        writer.join(timeout=10)
        sys.setswitchinterval(interval)
    assert not writer.is_alive()


def test_the_package_writes_no_record_attribute_on_its_own_paths():
    # A write anywhere invalidates every mark: building, validating, reading
    # and exporting records must never write one.
    before = EPOCH[0]
    records = _monitor_records(6)
    text = E.to_jsonl(records)
    again = E.from_jsonl(text) + E.from_csv(E.to_csv(records))
    for t in records + again + [Telemetry(stream_id="x"), coerce(records[0])]:
        _every_format(t)
        E.to_prometheus([t])
    assert EPOCH[0] is before
    assert all(map(_current, records + again))


# -- soundness of marking at birth (properties) --------------------------------

_texts = st.one_of(
    st.text(max_size=6), st.sampled_from(["\ud800", "x\udfff", "é", "=cmd", "a\u2028b"])
)
_meta_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_texts, children, max_size=3),
    max_leaves=8,
)
_META_KEYS = [
    "token", "text", "tokenCount", "token_count", "contentLength", "violation", "violations",
    "isNetwork", "category", "recoveryStrategy", "failureType", "error", "errorCode", "code",
    "attempt", "maxAttempts", "detected", "score", "types", "metrics", "model", "message",
    "severity", "rule", "stack", "reason", "sessionId",
]  # fmt: skip
_events = st.builds(
    ObservabilityEvent,
    st.sampled_from([t.value for t in ObservabilityEventType]),
    st.one_of(
        st.floats(min_value=0, max_value=2e12),
        st.just(math.nan),
        st.integers(min_value=0, max_value=2**60),
    ),
    st.one_of(st.sampled_from(["a", "b", "c"]), _texts),
    st.dictionaries(st.sampled_from(["model", "tenant", "sessionId"]), _meta_values, max_size=3),
    st.dictionaries(st.sampled_from(_META_KEYS), _meta_values, max_size=5),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_events, max_size=50), st.booleans(), st.booleans(), st.booleans())
def test_every_record_the_monitor_builds_passes_the_full_check(seq, itl, collect, snapshot):
    cfg = MonitoringConfig(
        metrics=MetricsConfig(
            inter_token_latency=itl,
            collect_timing=collect,
            collect_retries=collect,
            collect_errors=collect,
            collect_guardrails=collect,
        ),
        buffer_size=20,
    )
    m = Monitor(cfg, raise_internal_errors=True)
    records = []
    for e in seq:
        m.handle_event(e)
        if snapshot:  # in-flight snapshots are built (and marked) the same way
            records += filter(None, [m.get_telemetry(e.stream_id)])
    m.close()
    records += m.get_all_telemetry()
    for t in records:
        assert _current(t)
        assert _full_check(t)


_DOCUMENTS = st.sampled_from([t.model_dump(mode="json") for t in _monitor_records(6)])
_VALID = st.one_of(
    st.tuples(st.sampled_from(["stream_id", "model", "session_id"]), _texts),
    st.tuples(st.just("metadata"), st.dictionaries(_texts, _meta_values, max_size=4)),
    st.tuples(st.just("drift"), st.fixed_dictionaries({"types": st.lists(_texts, max_size=3)})),
    st.tuples(
        st.just("error"),
        st.fixed_dictionaries({"message": _texts, "code": _texts, "stack": _texts}),
    ),
    st.tuples(
        st.just("timing"),
        st.fixed_dictionaries(
            {
                "duration": st.floats(0, 1e9),
                "inter_token_latencies": st.lists(st.floats(0, 10), max_size=4),
            }
        ),
    ),
    st.tuples(
        st.just("guardrails"),
        st.fixed_dictionaries(
            {
                "violations": st.lists(
                    st.dictionaries(
                        st.sampled_from(["rule", "message", "severity", "x"]),
                        st.sampled_from(["error", "fatal", "warning"]) | _meta_values,
                        max_size=3,
                    ),
                    max_size=2,
                )
            }
        ),
    ),
)
_ODD = [
    ("stream_id", "x\ud800"), ("model", "m\udfff"), ("session_id", "\ud800"),
    ("metadata", {"k": math.nan}), ("metadata", {"k": 10**400}), ("metadata", {"k": "\ud800"}),
    ("metadata", {"k": object()}), ("metadata", {"k": {"n": [math.inf]}}),
    ("schema_version", "2.9.0"), ("drift", {"types": ["\ud800"]}),
    ("error", {"message": "\udfff", "occurred": True}),
    ("timing", {"started_at": type("Stamp", (datetime,), {})(2024, 1, 1, tzinfo=UTC)}),
    ("timing", TimingInfo.model_construct(duration=math.nan)),
    ("guardrails", {"violations": [{"severity": "error", "x": math.nan}]}),
]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _DOCUMENTS,
    st.lists(_VALID | st.sampled_from(_ODD), max_size=3),
    st.booleans(),
)
def test_a_validated_record_is_marked_only_when_it_passes_the_full_check(doc, changes, as_json):
    doc = copy.deepcopy(doc)
    for key, value in changes:
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            value = {**doc[key], **value}
        doc[key] = value
    try:
        text = json.dumps(doc, allow_nan=False) if as_json else None
    except (TypeError, ValueError):  # not JSON data: validated from Python
        text = None
    try:
        t = Telemetry.model_validate_json(text) if text else Telemetry.model_validate(doc)
    except ValueError:
        return
    event("marked" if _current(t) else "unmarked")
    if _current(t):
        assert _full_check(t)
        assert _every_format(t) == _every_format(coerce(t))
    data = _strict(E.to_json(t))
    assert not list(jsonschema.validators.validator_for(_SCHEMA)(_SCHEMA).iter_errors(data))


@pytest.mark.parametrize(
    "fields",
    [
        {"metadata": {"k": [{"a": 1}, {"stream_id": "fake"}]}},
        {"guardrails": {"violations": [{"rule": "r"}, {"stream_id": "fake"}]}},
    ],
    ids=["metadata", "violations"],
)
def test_jsonl_of_verified_records_holding_the_record_separator_keeps_one_record_per_line(
    fields,
):
    # '},{"stream_id":' inside nested data is not a record boundary.
    t = Telemetry(stream_id="real", **fields)
    batch = [_marked_record(), t, _marked_record()]
    for _ in range(3):  # unmarked, seen, verified
        lines = E.to_jsonl(batch).splitlines()
        assert [_strict(line)["stream_id"] for line in lines] == ["s", "real", "s"]
    assert all(map(_current, batch))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_child_forked_while_another_thread_writes_can_still_write_records():
    # The write lock held by a thread at fork time is fresh in the child (and
    # every mark there is stale), so a record write in the child never hangs.
    from l0_monitoring._internal.verified import WRITE_LOCK

    t = _marked_record()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with WRITE_LOCK:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: write, export, exit without pytest's teardown
            ok = not _current(t)
            t.model = "child"
            ok = ok and E.to_dict(t)["model"] == "child"
            os._exit(0 if ok else 1)
    finally:
        release.set()
        holder.join(10)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the child hung on a record write")
    assert os.waitstatus_to_exitcode(done[1]) == 0
