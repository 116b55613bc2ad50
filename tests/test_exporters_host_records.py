"""Every TelemetryExporter format is total on host-built records (issue 17 review).

A record the host builds (model_construct, assignment after construction,
model_copy(update=...), subclasses) either exports as valid output that reads
back, or raises one ValueError naming its stream_id and field.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pathlib
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l0_monitoring import Telemetry, TelemetryExporter
from l0_monitoring.exporters._coerce import coerce
from l0_monitoring.telemetry import DriftInfo, ErrorInfo, Metrics, TimingInfo

E = TelemetryExporter
_SCHEMA = json.loads(
    (pathlib.Path(__file__).parent.parent / "schemas" / "Telemetry.schema.json").read_text()
)
_VALIDATOR = jsonschema.validators.validator_for(_SCHEMA)(_SCHEMA)


def _strict(text: str):
    def bad(name):
        raise ValueError(name)

    return json.loads(text, parse_constant=bad)


def _good(sid: str = "ok") -> Telemetry:
    return Telemetry(stream_id=sid, model="m", timing=TimingInfo(duration=1.5))


def test_csv_a_huge_integer_duration_costs_no_other_row():
    big = Telemetry.model_construct(
        stream_id="big", timing=TimingInfo.model_construct(duration=10**400)
    )
    ok = _good()
    both = E.to_csv([ok, big])
    assert both == E.to_csv([ok]) + E.to_csv([big]).split("\r\n", 1)[1]
    assert E.from_csv(both)[1].timing.duration is None


@pytest.mark.parametrize("value", [np.float32("inf"), np.float16("nan"), np.float32("-inf")])
def test_csv_numpy_non_finite_floats_are_empty_cells(value):
    t = Telemetry.model_construct(stream_id="n", timing=TimingInfo.model_construct(duration=value))
    assert E.from_csv(E.to_csv([t]))[0].timing.duration is None


def test_logfmt_decimal_duration_with_the_group_present():
    t = Telemetry.model_construct(
        stream_id="x",
        timing=TimingInfo.model_construct(duration=Decimal("1.5")),
        metrics=Metrics.model_construct(
            time_to_first_token=0.5, tokens_per_second=1.0, token_count=1
        ),
    )
    assert "duration=1.500s" in E.to_log_format(t)


def test_jsonl_of_a_generator_with_a_lone_surrogate_keeps_every_record():
    bad = Telemetry.model_construct(stream_id="s\ud800", model="m")
    text = E.to_jsonl(iter([_good("a"), _good("b"), bad]))
    assert [json.loads(line)["stream_id"] for line in text.splitlines()] == ["a", "b", "s\ufffd"]


def test_surrogate_and_nan_together_export_cleaned_and_null():
    t = Telemetry.model_construct(
        stream_id="x\ud800", timing=TimingInfo.model_construct(duration=float("nan"))
    )
    for text in (E.to_json(t), E.to_jsonl([_good(), t]).splitlines()[1]):
        data = _strict(text)
        assert data["stream_id"] == "x\ufffd" and data["timing"]["duration"] is None


def test_non_finite_inter_token_latencies_are_dropped_from_the_list():
    t = _good()
    t.timing.inter_token_latencies = [0.1, float("nan"), float("inf"), 0.2]
    assert _strict(E.to_json(t))["timing"]["inter_token_latencies"] == [0.1, 0.2]
    assert E.to_dict(t)["timing"]["inter_token_latencies"] == [0.1, 0.2]
    assert E.from_jsonl(E.to_jsonl([t]))[0].timing.inter_token_latencies == [0.1, 0.2]
    assert E.from_csv(E.to_csv([t]))[0].timing.inter_token_latencies == [0.1, 0.2]


class _Sub(Telemetry):
    team: str = "search"


def test_a_subclass_exports_its_telemetry_fields_alike_in_every_format():
    t = _Sub(stream_id="x", model="m\ud800")
    plain = Telemetry(stream_id="x", model="m\ufffd")
    assert E.to_json(t) == E.to_json(plain)
    assert E.to_dict(t) == E.to_dict(plain)
    assert E.to_jsonl([t]) == E.to_jsonl([plain])
    n = _Sub.model_construct(
        stream_id="y", timing=TimingInfo.model_construct(duration=float("nan"))
    )
    assert E.to_dict(n)["timing"]["duration"] is None and "team" not in E.to_dict(n)


def test_to_dict_cleans_lone_surrogates_as_to_json_does():
    t = Telemetry(stream_id="x")
    t.model = "a\ud800"
    assert E.to_dict(t)["model"] == "a\ufffd" == _strict(E.to_json(t))["model"]


def test_a_non_str_model_is_written_as_its_str_in_csv():
    t = Telemetry.model_construct(stream_id="n", model=123)
    assert E.from_csv(E.to_csv([t]))[0].model == "123"


@pytest.mark.parametrize(
    "value", [10**400, np.float32(1.5), Fraction(1, 4), True, Decimal("2.5")], ids=repr
)
def test_any_real_number_in_a_float_field_exports_in_every_format(value):
    t = Telemetry.model_construct(
        stream_id="x", timing=TimingInfo.model_construct(duration=value, time_to_first_token=0.5)
    )
    expected = None if isinstance(value, int) and value > 10**300 else float(value)
    assert E.to_dict(t)["timing"]["duration"] == expected
    assert _strict(E.to_json(t))["timing"]["duration"] == expected
    assert E.from_csv(E.to_csv([t]))[0].timing.duration == expected
    E.to_log_format(t).encode()
    json.dumps(E.to_metrics(t), allow_nan=False)


def test_a_non_number_in_a_count_never_injects_a_logfmt_key():
    t = Telemetry(stream_id="x")
    t.metrics.token_count = "5 evil=1"
    with pytest.raises(ValueError, match=r"stream_id='x'.*metrics\.token_count"):
        E.to_log_format(t)


def test_a_naive_datetime_is_read_as_utc():
    t = Telemetry.model_construct(
        stream_id="d", timing=TimingInfo.model_construct(started_at=datetime(2024, 1, 1, 12))
    )
    assert _strict(E.to_json(t))["timing"]["started_at"] == "2024-01-01T12:00:00Z"
    assert E.from_csv(E.to_csv([t]))[0].timing.started_at == datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "section", ["timing", "retries", "guardrails", "error", "metrics", "drift"]
)
def test_a_section_set_to_none_is_one_value_error_naming_it(section):
    t = Telemetry(stream_id="s")
    setattr(t, section, None)
    for export in (E.to_json, E.to_dict, lambda r: E.to_jsonl([r]), lambda r: E.to_csv([r])):
        with pytest.raises(ValueError, match=rf"stream_id='s'.*field {section}\b"):
            export(t)


class _NoOffset(tzinfo):
    """A tzinfo whose utcoffset() answers None: the date-time is naive (Python docs)."""

    def utcoffset(self, dt):
        return None

    def dst(self, dt):
        return None


def _every_format(t: Telemetry) -> dict[str, object]:
    return {
        "json": E.to_json(t),
        "dict": E.to_dict(t),
        "jsonl": E.to_jsonl([t]),
        "jsonl_batch": E.to_jsonl([_good("a"), t, _good("b")]),
        "csv": E.to_csv([t]),
        "csv_batch": E.to_csv([_good("a"), t, _good("b")]),
        "log": E.to_log_format(t),
        "metrics": E.to_metrics(t),
    }


def test_none_inside_drift_types_is_written_as_its_str_like_coerce():
    # Finding 1: the serializer writes None inside list[str] as null even with
    # warnings="error"; the fast-path check must send the record to coerce.
    t = _good("d")
    t.drift.types.append(None)
    assert _every_format(t) == _every_format(coerce(t))
    data = _strict(E.to_json(t))
    assert data["drift"]["types"] == ["None"] and not list(_VALIDATOR.iter_errors(data))
    assert E.from_jsonl(E.to_jsonl([t]))[0].drift.types == ["None"]
    assert E.to_dict(t)["drift"]["types"] == ["None"]


@pytest.mark.parametrize(("item", "text"), [(123, "123"), (b"x", "b'x'"), ("\ud800", "\ufffd")])
def test_non_str_drift_type_items_in_csv_are_written_as_coerce_writes_them(item, text):
    # Finding 2: to_csv checked the cell's type (a list), not its items.
    t = _good("d")
    t.drift.types = ["a", item]
    assert E.to_csv([t]) == E.to_csv([coerce(t)])
    assert E.from_csv(E.to_csv([_good("o"), t]))[1].drift.types == ["a", text]


@pytest.mark.parametrize(
    ("category", "label"),
    [("weird", "unknown"), ("NETWORK", "network"), (5, "unknown"), ("\ud800x", "unknown")],
    ids=repr,
)
def test_to_metrics_labels_the_normalized_error_category(category, label):
    # Finding 3: the raw category was the label; the other formats normalize it.
    t = _good("c")
    t.error.occurred = True
    t.error.category = category
    assert E.to_dict(t)["error"]["category"] == label
    for kwargs in ({}, {"labels": {"env": "p"}}, {"include_stream_id": True}):
        metrics = E.to_metrics(t, **kwargs)
        assert metrics["l0_errors_total"]["labels"]["category"] == label
        assert metrics == E.to_metrics(coerce(t), **kwargs)
        json.dumps(metrics, allow_nan=False)


@pytest.mark.parametrize(("model", "label"), [(b"x", "b'x'"), (7, "7"), ("m\ud800", "m\ufffd")])
def test_to_metrics_model_label_is_the_str_of_a_non_str_model(model, label):
    # Finding 4: bytes passed the surrogate check (bytes.isascii) into the labels.
    t = _good("m")
    t.model = model
    for kwargs in ({}, {"labels": {"env": "p"}}):
        metrics = E.to_metrics(t, **kwargs)
        assert {m["labels"]["model"] for m in metrics.values()} == {label}
        json.dumps(metrics)
    assert E.to_dict(t)["model"] == label


@pytest.mark.parametrize("field", ["started_at", "completed_at"])
def test_a_tzinfo_whose_utcoffset_is_none_is_read_as_utc(field):
    # Finding 5: the check was "tzinfo is None"; such a date-time is naive too.
    t = _good("z")
    setattr(t.timing, field, datetime(2024, 1, 1, 12, tzinfo=_NoOffset()))
    assert _every_format(t) == _every_format(coerce(t))
    data = _strict(E.to_json(t))
    assert data["timing"][field] == "2024-01-01T12:00:00Z"
    assert not list(_VALIDATOR.iter_errors(data))
    assert getattr(E.from_jsonl(E.to_jsonl([t]))[0].timing, field) == datetime(
        2024, 1, 1, 12, tzinfo=UTC
    )
    back = E.from_csv(E.to_csv([_good("o"), t]))[1]
    assert getattr(back.timing, field) == datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("field", ["token_count", "total_retries"])
def test_logfmt_count_beyond_the_safe_integer_is_written_as_coerce_writes_it(field):
    # Found by the property once it compared with coerce(t): the logfmt fast
    # path checked a count's class, not its range (JSON writes the clamped value).
    t = _good("n")
    setattr(t.metrics if field == "token_count" else t.retries, field, 2**60)
    line = E.to_log_format(t)
    assert line == E.to_log_format(coerce(t)) and "=9007199254740991" in line
    assert "1152921504606846976" not in line


# -- the property: any host-built record, every format -----------------------------

_text = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.sampled_from(["\ud800", "=x", "a b", "x\u2028y", "é"]),
    st.integers(-5, 5),
)
_number = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**400), 10**400),
    st.sampled_from([True, Decimal("1.5"), Fraction(1, 3), np.float32("inf"), np.float64(2.5)]),
    st.just("1.5"),
)


# One more odd leaf, set by assignment: (section or None, field, value).
_ODD_LEAVES = [
    (None, "stream_id", None), (None, "completed", None), (None, "outcome", "weird"),
    (None, "schema_version", "x"), (None, "metadata", None), (None, "metadata", {"a": 10**400}),
    (None, "metadata", {"a": Decimal("1.5")}), (None, "metadata", {"a": {1, 2}}),
    (None, "metadata", {"\ud800": "\ud800", "n": [float("nan")]}), (None, "metadata", {1: 2}),
    ("error", "category", "weird"), ("guardrails", "violations", [{"severity": "weird"}]),
    ("guardrails", "violations", [5]), ("guardrails", "violation_count", -1),
    ("retries", "last_error", "x\ud800"), ("retries", "last_error_category", "x"),
    ("drift", "types", None), ("drift", "types", ["\ud800", 3]), ("metrics", "token_count", -1),
    ("metrics", "token_count", 2**60), ("metrics", "token_count", 5.0),
    ("metrics", "token_count", "5 evil=1"), ("timing", "started_at", datetime(2024, 1, 1)),
    ("timing", "inter_token_latencies", None), (None, "timing", None),
    # Items inside lists, to_metrics labels, a tzinfo without an offset (review 17b).
    ("drift", "types", [None]), ("drift", "types", ["a", 123]), ("drift", "types", [b"x"]),
    ("error", "category", "NETWORK"), ("error", "category", 5), ("error", "category", "\ud800"),
    (None, "model", b"x"), (None, "model", 7),
    ("timing", "started_at", datetime(2024, 1, 1, tzinfo=_NoOffset())),
    ("timing", "completed_at", datetime(2024, 1, 1, tzinfo=_NoOffset())),
]  # fmt: skip


@st.composite
def _hostile(draw):
    t = draw(_hostile_base())
    if draw(st.booleans()):
        section, name, value = draw(st.sampled_from(_ODD_LEAVES))
        if t.__dict__.get(section or "timing") is None:
            return t
        setattr(getattr(t, section) if section else t, name, value)
    return t


@st.composite
def _hostile_base(draw):
    t = Telemetry(stream_id=draw(st.text(max_size=5)))
    how = draw(st.sampled_from(["assign", "copy", "construct"]))
    duration, tps, score = draw(_number), draw(_number), draw(_number)
    model, message = draw(_text), draw(_text)
    gaps = draw(
        st.lists(_number.filter(lambda v: v is not None and not isinstance(v, str)), max_size=3)
    )
    if how == "construct":
        return Telemetry.model_construct(
            stream_id=t.stream_id, model=model,
            timing=TimingInfo.model_construct(duration=duration, inter_token_latencies=gaps),
            metrics=Metrics.model_construct(tokens_per_second=tps),
            drift=DriftInfo.model_construct(score=score),
            error=ErrorInfo.model_construct(occurred=True, message=message),
        )  # fmt: skip
    if how == "copy":
        return t.model_copy(update={
            "model": model,
            "timing": t.timing.model_copy(
                update={"duration": duration, "inter_token_latencies": gaps}
            ),
            "metrics": t.metrics.model_copy(update={"tokens_per_second": tps}),
        })  # fmt: skip
    t.model = model
    t.timing.duration = duration
    t.timing.inter_token_latencies = gaps
    t.metrics.tokens_per_second = tps
    t.drift.score = score
    t.error.message = message
    return t


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_hostile(), min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_every_format_is_total_on_host_built_records(records, rnd):
    kept = []
    for t in records:
        try:
            text = E.to_json(t)
        except ValueError as exc:  # the one documented error, alike in every format
            assert "stream_id=" in str(exc)
            for export in (E.to_dict, lambda r: E.to_jsonl([r]), lambda r: E.to_csv([r])):
                with pytest.raises(ValueError, match="stream_id="):
                    export(t)
            continue
        kept.append(t)
        data = _strict(text)
        assert not list(_VALIDATOR.iter_errors(data))
        assert E.to_dict(t) == data
        assert json.loads(E.to_jsonl([t])) == data
        assert E.from_jsonl(E.to_jsonl([t]))[0] == Telemetry.model_validate(data)
        rows = list(csv.reader(io.StringIO(E.to_csv([t]), newline="")))
        assert len(rows) == 2
        back = E.from_csv(E.to_csv([t]))[0]
        assert back.timing.duration == data["timing"]["duration"]
        line = E.to_log_format(t)
        assert len(line.splitlines()) == 1 and line.encode()
        metrics = E.to_metrics(t)
        json.dumps(metrics, allow_nan=False)
        # Every format writes what coerce(t) would write.
        plain = coerce(t)
        assert text == E.to_json(plain) and E.to_csv([t]) == E.to_csv([plain])
        assert metrics == E.to_metrics(plain) and line == E.to_log_format(plain)
        assert all(
            isinstance(m["value"], int | float) and math.isfinite(m["value"])
            for m in metrics.values()
        )
    batch = list(kept)
    if not batch:
        return
    rnd.shuffle(batch)
    table = E.to_csv(batch)
    lines = E.to_jsonl(batch).splitlines()
    for t, line in zip(batch, lines, strict=True):
        assert line + "\n" == E.to_jsonl([t])
        assert E.to_csv([t]).split("\r\n", 1)[1] in table


def test_the_slow_path_leaves_a_monitor_record_as_it_is():
    # Fast and slow paths agree: a record the Monitor built is unchanged by coerce,
    # so whichever path writes it, every format writes the same text.
    from .records import monitor_records

    for t in monitor_records(6):
        plain = coerce(t)
        assert plain == t
        assert E.to_json(plain) == E.to_json(t)
        assert E.to_csv([plain]) == E.to_csv([t])
        assert E.to_log_format(plain) == E.to_log_format(t)
