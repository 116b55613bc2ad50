from __future__ import annotations

import io
import json
import logging
import math
import subprocess
import sys
import textwrap
import tracemalloc
from enum import Enum

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l0_monitoring import (
    EventRecorder,
    MetricsConfig,
    Monitor,
    Monitoring,
    MonitoringConfig,
    ObservabilityEvent,
    iter_events,
    replay,
)
from l0_monitoring.events import ObservabilityEventType as T
from l0_monitoring.recording import CONTENT_KEYS
from l0_monitoring.testing import make_runtime_events, make_stream_events

from .conftest import ev


class Color(Enum):
    RED = "red"


class Unprintable:
    __slots__ = ()

    def __str__(self):
        raise RuntimeError("no")


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_event_becomes_one_json_line_in_the_event_schema(tmp_path):
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path)
    try:
        raise ValueError("bad gateway")
    except ValueError as exc:
        err = exc
    rec(
        ev(
            T.ERROR,
            1,
            error=err,
            code=Color.RED,
            weird=Unprintable(),
            nan=math.nan,
            violation={"rule": "r", "nested": {"x": [1, 2]}},
        )
    )
    rec({"type": "COMPLETE", "ts": 5.0, "stream_id": "s1", "meta": {"tokenCount": 3}})
    rec.close()
    lines = read_lines(path)
    assert [line["type"] for line in lines] == ["ERROR", "COMPLETE"]
    meta = lines[0]["meta"]
    assert meta["error"] == "ValueError: bad gateway" and meta["code"] == "red"
    assert meta["weird"] == "<unprintable Unprintable>" and meta["nan"] is None
    assert meta["violation"]["nested"] == {"x": [1, 2]}
    for line in lines:
        ObservabilityEvent.from_dict(line)  # the published event shape
    assert rec.stats()["written"] == 2 and rec.stats()["dropped"] == 0


def test_token_content_is_masked_unless_opted_in(tmp_path):
    events = make_stream_events("s1", tokens=["secret", " words"])
    events.append(ev(T.CHECKPOINT_SAVED, 9, checkpoint="secret words", tokenCount=2))
    masked, kept = tmp_path / "masked.jsonl", tmp_path / "kept.jsonl"
    with Monitoring.record(masked) as r1, Monitoring.record(kept, record_token_content=True) as r2:
        for e in events:
            r1(e)
            r2(e)
    assert "secret" not in masked.read_text() and "words" not in masked.read_text()
    assert "secret" in kept.read_text()
    tokens = [line["meta"]["token"] for line in read_lines(masked) if line["type"] == "TOKEN"]
    assert tokens == ["******", "******"]
    # Lengths survive, so replayed content_length matches the live run.
    live = Monitor()
    for e in events:
        live.handle_event(e)
    again = Monitor()
    replay(masked, again)
    assert again.get_telemetry("s1").content_length == live.get_telemetry("s1").content_length


def test_rotation_by_size(tmp_path):
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path, max_bytes=2000, backup_count=2)
    for i in range(100):
        rec(ev(T.TOKEN, i, sid=f"s{i}", token="x"))
    rec.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 2000
    newest = read_lines(path)
    assert newest[-1]["stream_id"] == "s99"


class FullDisk(io.StringIO):
    def write(self, s):
        raise OSError(28, "No space left on device")


def test_a_failing_disk_is_counted_and_never_raises(caplog):
    rec = EventRecorder(FullDisk())
    with caplog.at_level(logging.WARNING, logger="l0_monitoring"):
        for i in range(50):
            rec(ev(T.TOKEN, i))
        assert rec.flush(2.0)
        rec.close()
    stats = rec.stats()
    assert stats["written"] == 0 and stats["lost_to_errors"] == 50 and stats["write_errors"] >= 1
    assert sum("write failed" in r.getMessage() for r in caplog.records) == 1


def test_queue_is_bounded_and_drops_are_counted():
    buf = io.StringIO()
    rec = EventRecorder(buf, max_queue=10)
    rec._thread = object()  # type: ignore[assignment]  # pretend the writer is busy elsewhere
    for i in range(25):
        rec(ev(T.TOKEN, i))
    assert rec.stats()["dropped"] == 15 and rec.stats()["queued"] == 10
    rec._thread = None
    rec.close()
    assert len(buf.getvalue().splitlines()) == 10


def test_close_flushes_and_later_events_are_dropped(tmp_path):
    path = tmp_path / "e.jsonl"
    rec = Monitoring.record(path)
    for i in range(1000):
        rec(ev(T.TOKEN, i))
    rec.close()
    rec(ev(T.TOKEN, 1))
    rec.close()
    assert len(path.read_text().splitlines()) == 1000
    assert rec.stats()["dropped"] == 1


def test_lines_are_flushed_at_interpreter_exit(tmp_path):
    path = tmp_path / "exit.jsonl"
    script = textwrap.dedent(f"""
        from l0_monitoring import Monitoring, ObservabilityEvent
        rec = Monitoring.record({str(path)!r})
        for i in range(5000):
            rec(ObservabilityEvent("TOKEN", float(i), "s", {{}}, {{"token": "x"}}))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert len(path.read_text().splitlines()) == 5000


# -- replay ---------------------------------------------------------------------------


def test_malformed_lines_are_reported_with_their_number_and_skipped(caplog):
    good = json.dumps(ev(T.SESSION_START, 0).to_dict())
    done = json.dumps(ev(T.COMPLETE, 10).to_dict())
    lines = [good, "{not json", '{"type": "TOKEN"}', "", done]
    m = Monitor()
    with caplog.at_level(logging.WARNING, logger="l0_monitoring"):
        result = replay(lines, m)
    assert result.events == 2 and result.skipped == 2
    assert [n for n, _ in result.errors] == [2, 3]
    assert "event.ts" in result.errors[1][1]
    assert m.get_telemetry("s1").completed
    assert "line 2" in caplog.text
    with pytest.raises(ValueError, match="line 2"):
        replay(lines, Monitor(), strict=True)


def test_replay_memory_stays_flat_as_the_log_grows(tmp_path):
    def write_log(path, streams):
        with path.open("w") as f:
            for s in range(streams):
                for e in make_runtime_events(f"r{s}", start_ms=1e12 + s):
                    f.write(json.dumps(e.to_dict()) + "\n")

    peaks = []
    for streams in (500, 4000):
        path = tmp_path / f"log{streams}.jsonl"
        write_log(path, streams)
        seen = []
        tracemalloc.start()
        result = replay(path, lambda e: seen.append(None) if len(seen) < 1 else None)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert result.events == streams * len(make_runtime_events("x"))
    assert peaks[1] < peaks[0] * 1.2 + 20_000, peaks  # 8x the log, the same peak


def test_iter_events_streams_lazily():
    def lines():
        yield json.dumps(ev(T.SESSION_START, 0).to_dict())
        raise AssertionError("read too far")

    it = iter_events(lines())
    assert next(it).type is T.SESSION_START


meta_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
events = st.builds(
    ObservabilityEvent,
    st.sampled_from(list(T)),
    st.floats(min_value=0, max_value=4e12, allow_nan=False),
    st.text(min_size=1, max_size=12),
    st.dictionaries(st.text(max_size=5), meta_values, max_size=2),
    st.dictionaries(st.text(max_size=8), meta_values, max_size=4),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(events, max_size=30))
def test_record_then_replay_round_trips_any_event_sequence(tmp_path_factory, seq):
    path = tmp_path_factory.mktemp("rt") / "events.jsonl"
    with Monitoring.record(path, record_token_content=True) as rec:
        for e in seq:
            rec(e)
    assert list(iter_events(path, strict=True)) == [as_recorded(e) for e in seq]


def as_recorded(e: ObservabilityEvent) -> ObservabilityEvent:
    """The documented content rule: a content key's non-str value is recorded as its
    truthiness (None as None), never its content, even with record_token_content."""
    meta = dict(e.meta)
    for key in CONTENT_KEYS & meta.keys():
        value = meta[key]
        if value.__class__ is not str:
            meta[key] = None if value is None else bool(value)
    return ObservabilityEvent(e.type, e.ts, e.stream_id, e.context, meta)


def test_a_non_text_content_value_is_recorded_as_its_truthiness() -> None:
    """Found by the round-trip property: ``{"delta": []}`` replays as ``{"delta": False}``."""
    buf = io.StringIO()
    with Monitoring.record(buf, record_token_content=True) as rec:
        rec(ev(T.SESSION_START, 0, delta=[], token=5, text=None, x=[]))
    (line,) = buf.getvalue().splitlines()
    assert json.loads(line)["meta"] == {"delta": False, "token": True, "text": None, "x": []}


async def test_a_real_l0_run_recorded_and_replayed_gives_the_same_telemetry(tmp_path):
    from .l0_streams import Retry, Timeout, banned_word_rule, flaky, run_l0, tokens

    path = tmp_path / "live.jsonl"
    cfg = MonitoringConfig(metrics=MetricsConfig(inter_token_latency=True))
    live = Monitor(cfg, raise_internal_errors=True)
    rec = Monitoring.record(path)
    on_event = Monitoring.combine(live.handle_event, rec)
    texts = ["a", "bb", "ccc", "dddd"]
    await run_l0(
        on_event,
        stream=lambda: tokens(texts),
        context={"model": "gpt-4o"},
        timeout=Timeout(initial_token=5000, inter_token=5000),
    )
    await run_l0(
        on_event,
        stream=flaky(texts, ConnectionError("connection reset")),
        retry=Retry(attempts=3, base_delay=0.01),
    )
    await run_l0(on_event, stream=lambda: tokens(texts), guardrails=[banned_word_rule("ccc")])
    await run_l0(
        on_event,
        stream=lambda: tokens(texts, fail_at=1, exc=ValueError("x")),
        retry=Retry(attempts=1, base_delay=0.001),
    )
    rec.close()
    replayed = Monitor(cfg, raise_internal_errors=True)
    result = replay(path, replayed, strict=True)
    assert result.skipped == 0 and result.events > 40
    assert replayed.get_all_telemetry() == live.get_all_telemetry()
    assert len(live.get_all_telemetry()) == 4
    assert replayed.get_aggregate_metrics() == live.get_aggregate_metrics()


def _live_and_replayed(tmp_path, seq):
    """One live Monitor and the Monitor that replays the recorder's log of ``seq``."""
    path = tmp_path / "events.jsonl"
    live = Monitor(raise_internal_errors=True)
    with Monitoring.record(path) as rec:
        for e in seq:
            live.handle_event(e)
            rec(e)
    live.close()
    replayed = Monitor(raise_internal_errors=True)
    result = replay(path, replayed, strict=True)
    replayed.close()
    return live, replayed, result, read_lines(path)


def test_numpy_decimal_and_fraction_meta_replay_as_the_live_run_read_them(tmp_path):
    import decimal
    import fractions

    import numpy as np

    seq = [
        ev(T.SESSION_START, 0, ctx={"model": "gpt"}),
        # retry number 3: the next try is attempt 4
        ev(T.RETRY_ATTEMPT, 10, attempt=fractions.Fraction(3, 1), isNetwork=np.bool_(True)),
        ev(T.TOKEN, 100, token="a"),
        ev(T.TOKEN, 200, token="b"),
        ev(T.COMPLETE, 300, tokenCount=np.int64(7), contentLength=decimal.Decimal("12")),
        ev(T.SESSION_START, 400, "s2", ctx={"model": "gpt"}),
        ev(T.TOKEN, 500, "s2", token="a"),
        ev(
            T.COMPLETE,
            600,
            "s2",
            tokenCount=np.float64(5.0),
            contentLength=decimal.Decimal("NaN"),
        ),
    ]
    live, replayed, result, lines = _live_and_replayed(tmp_path, seq)
    # Written as the JSON numbers/booleans the number rule reads them as.
    assert lines[1]["meta"] == {"attempt": 3.0, "isNetwork": True}
    assert lines[4]["meta"] == {"tokenCount": 7, "contentLength": 12.0}
    assert lines[7]["meta"] == {"tokenCount": 5.0, "contentLength": None}
    assert result.skipped == 0 and result.events == len(seq)
    records = live.get_all_telemetry()
    assert [r.metrics.token_count for r in records] == [7, 5]
    assert records[0].content_length == 12
    assert records[0].retries.attempt == 4 and records[0].retries.network_retries == 1
    assert replayed.get_all_telemetry() == records
    assert replayed.get_aggregate_metrics() == live.get_aggregate_metrics()


def test_an_integer_beyond_the_float_range_is_ignored_live_and_replayed(tmp_path):
    seq = [
        ev(T.SESSION_START, 0, ctx={"model": "gpt"}),
        ev(T.TOKEN, 100, token="a"),
        ev(T.TOKEN, 200, token="b"),
        ev(T.COMPLETE, 300, tokenCount=10**400, contentLength=-(10**5000)),
    ]
    live, replayed, result, lines = _live_and_replayed(tmp_path, seq)
    meta = lines[3]["meta"]
    assert isinstance(meta["tokenCount"], str) and meta["tokenCount"].startswith("1000")
    assert isinstance(meta["contentLength"], str)
    assert result.skipped == 0 and result.events == len(seq)
    [record] = live.get_all_telemetry()
    assert record.completed and record.metrics.token_count == 2  # the tokens seen
    assert replayed.get_all_telemetry() == live.get_all_telemetry()
    assert live.stats()["malformed_events"] == replayed.stats()["malformed_events"]


def test_a_file_another_writer_rotated_away_meanwhile_loses_no_line(tmp_path, monkeypatch):
    # CI fork storm: 30 children and the parent rotate one path; a file that
    # existed when one looked was renamed by another before its own rename,
    # FileNotFoundError failed the write and its lines were lost. Here every
    # rename finds its file gone, as when another writer always rotates first.
    import pathlib

    real_replace = pathlib.Path.replace

    def another_writer_got_there_first(self, target):
        self.unlink(missing_ok=True)
        return real_replace(self, target)

    monkeypatch.setattr(pathlib.Path, "replace", another_writer_got_there_first)
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path, max_bytes=2000, backup_count=2)
    for i in range(100):
        rec(ev(T.TOKEN, i, sid=f"s{i}", token="x"))
    rec.close(5)
    stats = rec.stats()
    assert stats["lost_to_errors"] == 0 and stats["written"] == 100, stats
    assert read_lines(path)[-1]["stream_id"] == "s99"
