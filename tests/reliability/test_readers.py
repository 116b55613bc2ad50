"""One reading rule for every JSON Lines reader (r13 #4, #10).

replay and iter_events (of a path, an open binary or text file, or an iterable
of lines), ``TelemetryExporter.from_jsonl`` and ``l0-monitoring validate`` all
read lines through ``recording.numbered_lines``: a line longer than
``MAX_LINE_BYTES`` is skipped and counted (strict readers: an error naming the
line) without ever being held whole, and a UTF-8 byte order mark at the start
of a file is dropped, so the first record is read like any other.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from l0_monitoring import Monitor, Telemetry, TelemetryExporter, replay
from l0_monitoring.cli import main
from l0_monitoring.recording import MAX_LINE_BYTES, iter_events
from l0_monitoring.testing import make_stream_events

BIG = 16  # MiB: 16 times the limit


@pytest.fixture(scope="module")
def long_log(tmp_path_factory) -> Path:
    """Three events; between the first and the second, one line of 16 MiB."""
    path = tmp_path_factory.mktemp("long") / "events.jsonl"
    good = [json.dumps(e.to_dict()) for e in make_stream_events("s1", tokens=["a"])][:3]
    with path.open("w", encoding="utf-8") as f:
        f.write(good[0] + "\n")
        f.write('{"type": "TOKEN", "meta": {"token": "')
        chunk = "y" * (1 << 20)
        for _ in range(BIG):
            f.write(chunk)
        f.write('"}}\n')
        f.write(good[1] + "\n" + good[2] + "\n")
    return path


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("mode", ["path", "rb", "text"])
def test_every_replay_source_skips_an_over_long_line_without_holding_it(long_log, mode):
    """r13 #4: replay(open(p, "rb"), ...) read a 300 MiB line whole (1.27 GB RSS)."""
    seen = []

    def run():
        if mode == "path":
            return replay(long_log, seen.append)
        with open(
            long_log, mode="rb" if mode == "rb" else "r", encoding=None if mode == "rb" else "utf-8"
        ) as f:
            return replay(f, seen.append)

    result, peak = _peak(run)
    assert len(seen) == 3
    assert result.skipped == 1 and result.errors[0][0] == 2
    assert "longer than" in result.errors[0][1]
    assert peak < 6 * MAX_LINE_BYTES, peak  # not 16 MiB


@pytest.mark.parametrize("kind", [str, bytes])
def test_an_iterable_of_lines_gets_the_same_length_rule(kind):
    """r13 #4: lines from any iterable were never length-checked."""
    good = json.dumps(make_stream_events("s1", tokens=["a"])[0].to_dict())
    long = '{"type": "TOKEN", "ts": 1, "stream_id": "s", "context": {}, "meta": {"t": "'
    long += "\u00e9" * (MAX_LINE_BYTES // 2) + '"}}'  # fewer characters than bytes
    lines = [good, long, good]
    if kind is bytes:
        lines = [line.encode() for line in lines]
    result = replay(lines, Monitor())
    assert result.events == 2 and result.skipped == 1 and "longer than" in result.errors[0][1]
    with pytest.raises(ValueError, match="line 2: line longer than"):
        list(iter_events(lines, strict=True))


def test_validate_streams_the_file_and_counts_the_line_replay_skips(long_log, capsys):
    """r13 #4: validate read the whole file (963 MB RSS) and called such a line valid."""
    code, peak = _peak(lambda: main(["validate", str(long_log), "--schema", "ObservabilityEvent"]))
    out = capsys.readouterr().out
    assert code == 1
    assert "line 2: invalid JSON: line longer than" in out
    assert "3 valid, 1 invalid" in out
    assert peak < 6 * MAX_LINE_BYTES, peak


def test_from_jsonl_of_a_file_refuses_an_over_long_line_naming_it(tmp_path):
    record = Telemetry(stream_id="s1")
    path = tmp_path / "telemetry.jsonl"
    with path.open("w", encoding="utf-8") as f:
        f.write(TelemetryExporter.to_jsonl([record]))
        f.write('{"stream_id": "' + "z" * (4 * MAX_LINE_BYTES) + '"}\n')
    with path.open(encoding="utf-8") as f, pytest.raises(ValueError, match="line 2: line longer"):
        TelemetryExporter.from_jsonl(f)


# -- a UTF-8 byte order mark (r13 #10) --------------------------------------------------


def test_a_byte_order_mark_costs_no_event_in_replay_or_validate(tmp_path, capsys):
    events = make_stream_events("s1", tokens=["a", "b"])
    text = "".join(json.dumps(e.to_dict()) + "\n" for e in events)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    plain = Monitor()
    replay(text.splitlines(), plain)
    lines = text.splitlines()
    lines[0] = "\ufeff" + lines[0]
    with path.open("rb") as binary, path.open(encoding="utf-8") as textual:
        sources = [path, binary, textual, lines]
        results = [(replay(source, m := Monitor(), strict=True), m) for source in sources]
    for result, monitor in results:
        assert result.events == len(events) and result.skipped == 0
        assert monitor.get_all_telemetry() == plain.get_all_telemetry()
    assert main(["validate", str(path), "--schema", "ObservabilityEvent"]) == 0
    assert f"{len(events)} valid, 0 invalid" in capsys.readouterr().out


def test_a_byte_order_mark_costs_no_record_in_from_jsonl_or_validate(tmp_path, capsys):
    records = [Telemetry(stream_id="s1"), Telemetry(stream_id="s2")]
    text = "\ufeff" + TelemetryExporter.to_jsonl(records)
    assert TelemetryExporter.from_jsonl(text) == records
    path = tmp_path / "telemetry.jsonl"
    path.write_text(text, encoding="utf-8")
    with path.open(encoding="utf-8") as f:
        assert TelemetryExporter.from_jsonl(f) == records
    assert main(["validate", str(path)]) == 0
    assert "2 valid, 0 invalid" in capsys.readouterr().out
    single = tmp_path / "one.json"
    single.write_text("\ufeff" + TelemetryExporter.to_json(records[0]), encoding="utf-8")
    assert main(["validate", str(single)]) == 0


# -- an invalid UTF-8 byte in a file opened in text mode (r13c #1) ----------------------


def _log_with_a_bad_byte(tmp_path: Path) -> tuple[Path, int]:
    events = make_stream_events("s1")
    lines = [json.dumps(e.to_dict()).encode() for e in events]
    lines.insert(1, b'{"type": "TOKEN", "ts": 1, "stream_id": "s1", "meta": {"token": "\xff"}}')
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, len(events)


def test_replay_of_a_text_mode_file_skips_only_the_undecodable_line(tmp_path):
    path, count = _log_with_a_bad_byte(tmp_path)
    monitor = Monitor()
    with open(path, encoding="utf-8") as f:  # text mode: the reader takes the bytes
        result = replay(f, monitor)
    assert result.events == count and result.skipped == 1
    assert result.errors[0][0] == 2 and "not valid UTF-8" in result.errors[0][1]
    assert monitor.get_telemetry("s1").completed


def test_iter_events_of_a_text_mode_file_skips_only_the_undecodable_line(tmp_path):
    path, count = _log_with_a_bad_byte(tmp_path)
    with open(path, encoding="utf-8") as f:
        assert len(list(iter_events(f))) == count
    with open(path, encoding="utf-8") as f, pytest.raises(ValueError, match="line 2") as info:
        list(iter_events(f, strict=True))
    assert not isinstance(info.value, UnicodeDecodeError)


def test_from_jsonl_of_a_text_mode_file_names_the_undecodable_line(tmp_path):
    path = tmp_path / "telemetry.jsonl"
    good = TelemetryExporter.to_jsonl([Telemetry(stream_id="s1")]).encode()
    path.write_bytes(good + b'{"stream_id": "s\xff"}\n')
    with open(path, encoding="utf-8") as f, pytest.raises(ValueError, match="line 2") as info:
        TelemetryExporter.from_jsonl(f)
    assert not isinstance(info.value, UnicodeDecodeError)


def test_a_text_file_without_a_usable_buffer_counts_a_decode_error_and_never_raises(tmp_path):
    """A file already read from (text held decoded) or not UTF-8 keeps its readline."""
    path, count = _log_with_a_bad_byte(tmp_path)
    with open(path, encoding="ascii") as f:  # not UTF-8: read as text, errors caught
        result = replay(f, Monitor())
    assert result.skipped >= 1 and "not valid ascii" in result.errors[0][1]
    head = b"".join(json.dumps(e.to_dict()).encode() + b"\n" for e in make_stream_events("s0"))
    path.write_bytes(head * 100 + path.read_bytes())  # the bad byte beyond the first read
    with open(path, encoding="utf-8") as f:
        f.readline()  # the wrapper now holds decoded text ahead of its buffer
        result = replay(f, Monitor())
    assert result.skipped >= 1 and "not valid utf-8" in result.errors[0][1]
