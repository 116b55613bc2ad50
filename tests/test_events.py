from __future__ import annotations

import math

import pytest

from l0_monitoring import ObservabilityEvent, ObservabilityEventType
from l0_monitoring.events import event_type_value


def test_event_types_match_the_l0_runtime_exactly():
    l0_events = pytest.importorskip("l0.events")
    ours = {m.name: m.value for m in ObservabilityEventType}
    theirs = {m.name: m.value for m in l0_events.ObservabilityEventType}
    assert ours == theirs


def test_event_is_positional_in_l0_field_order():
    e = ObservabilityEvent(ObservabilityEventType.TOKEN, 1.5, "s1", {}, {"token": "hi"})
    assert (e.type, e.ts, e.stream_id, e.context, e.meta) == (
        ObservabilityEventType.TOKEN,
        1.5,
        "s1",
        {},
        {"token": "hi"},
    )
    assert not hasattr(e, "__dict__")  # slotted


def test_l0_enum_members_compare_equal_by_value():
    l0_events = pytest.importorskip("l0.events")
    assert l0_events.ObservabilityEventType.TOKEN == ObservabilityEventType.TOKEN
    assert event_type_value(l0_events.ObservabilityEventType.COMPLETE) == "COMPLETE"


@pytest.mark.parametrize("type_", [ObservabilityEventType.COMPLETE, "COMPLETE"])
def test_from_dict_accepts_enum_or_string(type_):
    e = ObservabilityEvent.from_dict({"type": type_, "ts": 5, "stream_id": "a"})
    assert e.type is ObservabilityEventType.COMPLETE
    assert e.ts == 5.0 and e.context == {} and e.meta == {}


def test_from_dict_keeps_unknown_types_as_strings():
    e = ObservabilityEvent.from_dict({"type": "FUTURE_EVENT", "ts": 1, "stream_id": "a"})
    assert e.type == "FUTURE_EVENT"


def test_to_dict_round_trips():
    e = ObservabilityEvent(ObservabilityEventType.ERROR, 3.0, "x", {"a": 1}, {"error": "e"})
    assert ObservabilityEvent.from_dict(e.to_dict()) == e
    assert e.to_dict()["type"] == "ERROR"


@pytest.mark.parametrize(
    ("data", "field", "document"),
    [
        ({"ts": 1, "stream_id": "a"}, "event.type", False),
        ({"type": 3, "ts": 1, "stream_id": "a"}, "event.type", False),
        ({"type": "", "ts": 1, "stream_id": "a"}, "event.type", False),
        ({"type": "TOKEN", "stream_id": "a"}, "event.ts", False),
        ({"type": "TOKEN", "ts": "now", "stream_id": "a"}, "event.ts", False),
        ({"type": "TOKEN", "ts": True, "stream_id": "a"}, "event.ts", False),
        ({"type": "TOKEN", "ts": math.nan, "stream_id": "a"}, "event.ts", False),
        ({"type": "TOKEN", "ts": 1}, "event.stream_id", False),
        ({"type": "TOKEN", "ts": 1, "stream_id": ""}, "event.stream_id", False),
        ({"type": "TOKEN", "ts": 1, "stream_id": "a", "meta": [1]}, "event.meta", False),
        ({"type": "TOKEN", "ts": 1, "stream_id": "a", "context": "x"}, "event.context", False),
        ({"type": "TOKEN", "ts": 1, "stream_id": "a", "meta": None}, "event.meta", True),
        ({"type": "TOKEN", "ts": 1, "stream_id": "a", "meta": {}}, "event.context", True),
    ],
)
def test_from_dict_names_the_bad_field(data, field, document):
    with pytest.raises(ValueError, match=field):
        ObservabilityEvent.from_dict(data, document=document)


def test_events_are_open_to_added_fields():
    data = {"type": "TOKEN", "ts": 1, "stream_id": "a", "context": {}, "meta": {}, "extra": 1}
    assert ObservabilityEvent.from_dict(data, document=True).to_dict() == {
        k: v for k, v in data.items() if k != "extra"
    }


def test_from_dict_rejects_non_mappings():
    with pytest.raises(ValueError, match="JSON object"):
        ObservabilityEvent.from_dict([1, 2])  # type: ignore[arg-type]
