"""The recorder under a broken target: full disks, pipes nobody reads, close during rotation.

Every event handed to the recorder ends in exactly one counter, ``written``
equals the whole lines a reader finds, no line is ever torn or merged, and
``close(timeout)`` and interpreter exit stay bounded whatever the target does.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from l0_monitoring import EventRecorder, Monitoring, ObservabilityEvent, replay
from l0_monitoring.recording import MAX_LINE_BYTES, iter_events

from ..conftest import T0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX files and pipes")


def token(i: int, sid: str = "s", pad: int = 0) -> ObservabilityEvent:
    return ObservabilityEvent("TOKEN", T0 + i, sid, {"pad": "p" * pad}, {"token": "x", "i": i})


def whole_lines(*paths: Path) -> list[dict]:
    """Every line of the files, each parsed: a torn or merged line fails here."""
    out = []
    for path in paths:
        data = path.read_bytes() if path.exists() else b""
        assert not data or data.endswith(b"\n"), f"{path.name} ends in a partial line"
        out.extend(json.loads(line) for line in data.split(b"\n") if line)
    return out


def assert_exact(stats: dict[str, int], received: int) -> None:
    parts = ("written", "dropped", "malformed", "lost_to_errors", "queued", "writing")
    assert sum(stats[k] for k in parts) == stats["received"] == received, stats


def test_close_while_the_writer_rotates_loses_nothing_and_counts_everything(tmp_path):
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path, max_bytes=20_000, backup_count=200)
    n = 20_000
    for i in range(n):
        rec(token(i))
    start = time.monotonic()
    rec.close(timeout=1)
    took = time.monotonic() - start
    assert took < 1.5
    stats = rec.stats()
    assert_exact(stats, n)
    files = [path, *sorted(tmp_path.glob("events.jsonl.*"))]
    assert len(files) > 10  # it rotated all along
    lines = whole_lines(*files)
    seen = [line["meta"]["i"] for line in lines]
    assert len(seen) == len(set(seen)) == stats["written"]  # no duplicate, none uncounted
    if stats["written"] == n:  # the usual case on an idle machine: everything, in order
        assert sorted(seen) == list(range(n))
    rec(token(n))
    assert rec.stats()["dropped"] == stats["dropped"] + 1  # later events: dropped, counted


FULL_DISK_SCRIPT = r"""
import json, resource, signal, sys, time
from l0_monitoring import Monitoring, ObservabilityEvent

path, limit = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))  # the disk is full at `limit` bytes

def event(i):
    return ObservabilityEvent("TOKEN", 1e12 + i, "s", {}, {"token": "x" * (i % 37), "i": i})

rec = Monitoring.record(path)
for i in range(4000):
    rec(event(i))
assert rec.flush(30)
full = rec.stats()
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space freed
for i in range(4000, 4100):
    rec(event(i))
rec.close(30)
print(json.dumps({"full": full, "final": rec.stats()}))
"""


def test_a_full_disk_then_freed_space_keeps_whole_lines_and_exact_counts(tmp_path):
    path = tmp_path / "events.jsonl"
    out = subprocess.run(
        [sys.executable, "-c", FULL_DISK_SCRIPT, str(path), "50000"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    counts = json.loads(out.stdout)
    full, final = counts["full"], counts["final"]
    lines = whole_lines(path)
    ids = [line["meta"]["i"] for line in lines]
    assert 0 < full["written"] < 4000 and full["lost_to_errors"] > 0
    assert full["written"] + full["lost_to_errors"] == 4000
    assert final["written"] == len(lines) == full["written"] + 100  # space freed: used again
    assert ids[: full["written"]] == list(range(full["written"]))  # a prefix, nothing torn
    assert ids[full["written"] :] == list(range(4000, 4100))
    assert path.stat().st_size <= 50_000 + sum(len(json.dumps(x)) + 1 for x in lines[-100:])
    assert_exact(final, 4100)


def test_dev_full_loses_every_line_and_counts_each(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    rec = Monitoring.record("/dev/full")
    for i in range(500):
        rec(token(i))
    assert rec.flush(10)
    rec.close(5)
    stats = rec.stats()
    assert stats["written"] == 0 and stats["lost_to_errors"] == 500 and stats["write_errors"] >= 1
    assert_exact(stats, 500)


class TornWrites(io.StringIO):
    """A text file whose every third write stores half its text, then fails (disk full)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def write(self, s):
        self.calls += 1
        if self.calls % 3 == 0:
            super().write(s[: len(s) // 2])
            raise OSError(28, "No space left on device")
        return super().write(s)


def test_a_failed_write_to_a_file_object_is_truncated_back_never_merged():
    target = TornWrites()
    rec = EventRecorder(target)
    for i in range(300):
        rec(token(i))
        if i % 7 == 0:
            rec.flush(5)  # many separate writes
    rec.close(5)
    text = target.getvalue()
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    stats = rec.stats()
    assert stats["written"] == len(lines) and stats["lost_to_errors"] > 0
    assert_exact(stats, 300)


def test_the_queue_is_bounded_in_bytes_as_well_as_lines(tmp_path):
    r, w = os.pipe()  # a pipe nobody reads: the writer is stuck from the start
    stuck = os.fdopen(w, "w")
    try:
        rec = EventRecorder(stuck, max_queue=1_000_000, max_queue_bytes=256 * 1024)
        for i in range(20_000):
            rec(token(i, pad=1000))  # ~1.1 kB per line: 22 MB offered
        stats = rec.stats()
        assert stats["queued_bytes"] <= 256 * 1024
        assert stats["dropped"] > 19_000
        assert_exact(stats, 20_000)
        start = time.monotonic()
        rec.close(timeout=0.5)
        assert time.monotonic() - start < 1.0  # bounded, although the writer is stuck
        stats = rec.stats()
        assert stats["queued"] == 0 and stats["writing"] + stats["lost_to_errors"] > 0
        assert_exact(stats, 20_000)
    finally:
        os.close(r)  # the stuck write fails now; the abandoned writer ends
    deadline = time.monotonic() + 5
    while rec.stats()["writing"] and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = rec.stats()
    assert stats["writing"] == 0
    assert_exact(stats, 20_000)
    with contextlib.suppress(OSError):
        stuck.close()


def test_a_fifo_nobody_reads_never_blocks_close_and_keeps_lines_whole(tmp_path):
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read (until the end)
    try:
        rec = Monitoring.record(fifo)
        for i in range(5000):
            rec(token(i, pad=200))
        start = time.monotonic()
        rec.close(timeout=0.5)
        assert time.monotonic() - start < 1.0
        assert_exact(rec.stats(), 5000)
        deadline = time.monotonic() + 5  # the abandoned writer stops at its next wait
        while rec.stats()["writing"] and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = rec.stats()
        assert_exact(stats, 5000)
        assert stats["written"] > 0 and stats["lost_to_errors"] > 0  # the pipe took ~64 kB
        data = b""
        with contextlib.suppress(BlockingIOError):  # empty, writer not yet gone
            while chunk := os.read(reader, 1 << 16):
                data += chunk
    finally:
        os.close(reader)
    # Whole lines only: lines go to a pipe in atomic (PIPE_BUF) groups, so the
    # writer gives up between lines, and counts exactly what it wrote.
    assert data.endswith(b"\n")
    assert len([json.loads(x) for x in data.split(b"\n") if x]) == stats["written"]


STUCK_EXIT_SCRIPT = r"""
import os, sys
from l0_monitoring import Monitoring, ObservabilityEvent
r, w = os.pipe()
rec = Monitoring.record(os.fdopen(w, "w"))  # a pipe nobody reads
for i in range(100_000):
    rec(ObservabilityEvent("TOKEN", 1e12 + i, "s", {}, {"token": "x" * 50}))
print("fed", flush=True)
"""


def test_interpreter_exit_is_bounded_with_a_stuck_target():
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", STUCK_EXIT_SCRIPT], capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    took = time.monotonic() - start
    assert out.returncode == 0 and out.stdout.strip() == "fed", out.stderr
    assert took < 15  # the exit hook waits exit_timeout (2 s), not for ever


def test_replay_skips_an_over_long_line_without_reading_it_whole(tmp_path):
    path = tmp_path / "events.jsonl"
    good = [json.dumps(token(i).to_dict()) for i in range(3)]
    with path.open("w") as f:
        f.write(good[0] + "\n")
        f.write('{"type": "TOKEN", "meta": {"token": "')
        chunk = "y" * (1 << 20)
        for _ in range(64):  # one 64 MiB line
            f.write(chunk)
        f.write('"}}\n')
        f.write(good[1] + "\n" + good[2] + "\n")
    seen = []
    tracemalloc.start()
    result = replay(path, seen.append)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [e.meta["i"] for e in seen] == [0, 1, 2]
    assert result.skipped == 1 and result.errors[0][0] == 2
    assert "longer than" in result.errors[0][1]
    assert peak < 3 * MAX_LINE_BYTES  # not 64 MiB


def test_the_recorder_drops_a_line_replay_would_skip(tmp_path):
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path)
    huge = {f"k{i}": "v" * 1999 for i in range(100)}
    rec(ObservabilityEvent("TOKEN", T0, "s", dict.fromkeys("abcdef", huge), huge))  # 1.4 MB
    rec(ObservabilityEvent("TOKEN", T0, "s", huge, huge))  # ~400 kB: fits
    rec.close()
    stats = rec.stats()
    assert stats["dropped"] == 1 and stats["written"] == len(whole_lines(path)) == 1
    assert all(len(line) + 1 <= MAX_LINE_BYTES for line in path.read_bytes().split(b"\n"))
    assert len(list(iter_events(path, strict=True))) == stats["written"]


def test_concurrent_callers_and_flushes_keep_exact_counts(tmp_path):
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path, max_queue=500, max_bytes=20_000, backup_count=1000)

    def work(k):
        for i in range(2000):
            rec(token(i, sid=f"t{k}"))
            if i % 500 == 0:
                rec.flush(5)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rec.close(10)
    stats = rec.stats()
    assert_exact(stats, 8000)
    lines = whole_lines(path, *tmp_path.glob("events.jsonl.*"))
    assert len(lines) == stats["written"]


def test_after_close_returns_nothing_writes_or_rotates_and_counts_are_final(tmp_path):
    """r13 #8: close(timeout=0.2) returned while the writer went on writing and renaming."""
    path = tmp_path / "events.jsonl"
    rec = Monitoring.record(path, max_bytes=20_000, backup_count=1000, max_queue_bytes=64 << 20)
    n = 100_000
    for i in range(n):
        rec(token(i))
    writer = rec._thread
    rec.close(timeout=0.2)
    at_close = rec.stats()
    files_at_close = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    writer.join(10)  # whatever the writer still does, it does now
    assert not writer.is_alive()
    assert rec.stats() == at_close  # final when close returned
    assert at_close["queued"] == at_close["writing"] == at_close["queued_bytes"] == 0
    assert_exact(at_close, n)
    assert {p.name: p.stat().st_size for p in tmp_path.iterdir()} == files_at_close
    seen = [line["meta"]["i"] for line in whole_lines(*tmp_path.iterdir())]
    assert len(seen) == len(set(seen)) == at_close["written"]


@pytest.mark.parametrize("mode", ["wb", "w"])
def test_a_host_pipe_file_object_keeps_lines_whole_and_counts_exact(mode):
    """r13 #3: open(pipe_w, "wb"), reader stuck: 0 written, 1000 "writing" for ever, torn line."""
    r, w = os.pipe()
    host = open(w, mode)  # noqa: SIM115 - the host's file, closed below
    try:
        rec = Monitoring.record(host, record_token_content=True)
        for i in range(5000):
            rec(ObservabilityEvent("TOKEN", T0 + i, "s", {"model": "m"}, {"token": "x" * 100}))
        start = time.monotonic()
        rec.close(timeout=0.3)
        assert time.monotonic() - start < 1.0
        stats = rec.stats()
        assert stats["queued"] == stats["writing"] == 0
        assert_exact(stats, 5000)
        assert stats["written"] > 0 and stats["lost_to_errors"] > 0  # the pipe took ~64 kB
        assert os.get_blocking(w)  # the host's descriptor is as the host left it
        os.set_blocking(r, False)
        data = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(r, 1 << 16):
                data += chunk
        assert data.endswith(b"\n")  # no torn tail
        assert len([json.loads(x) for x in data.split(b"\n") if x]) == stats["written"]
        host.write(b"after\n" if "b" in mode else "after\n")  # still the host's, still open
        host.flush()
        assert os.read(r, 100) == b"after\n"
    finally:
        host.close()
        os.close(r)


def test_a_host_regular_file_object_gets_whole_lines_between_its_own_writes(tmp_path):
    path = tmp_path / "log.jsonl"
    with path.open("w", encoding="utf-8") as host:
        host.write('{"host": "before"}\n')  # buffered by the host: flushed before our lines
        rec = Monitoring.record(host)
        for i in range(1000):
            rec(token(i))
        rec.close(5)
        host.write('{"host": "after"}\n')
    lines = whole_lines(path)
    assert lines[0] == {"host": "before"} and lines[-1] == {"host": "after"}
    assert [x["meta"]["i"] for x in lines[1:-1]] == list(range(1000))
    assert rec.stats()["written"] == 1000
