"""Recording events to JSON Lines and replaying them into a Monitor.

``EventRecorder`` (``Monitoring.record(...)``) appends one JSON object per event
through a bounded in-memory queue drained by a background writer thread.
``replay`` / ``iter_events`` stream a recorded log back, line by line, so memory
stays flat however long the log is. Timing comes from the events' own ``ts``,
so a replay yields the same telemetry as the live run.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ._internal.contract import loads
from ._internal.guard import ErrorReporter
from ._internal.safe import json_safe, safe_str
from ._internal.workers import register_fork_aware
from .events import ObservabilityEvent, event_type_value

__all__ = ["CONTENT_KEYS", "EventRecorder", "ReplayResult", "iter_events", "replay"]

logger = logging.getLogger("l0_monitoring")
_errors = ErrorReporter()

CONTENT_KEYS = frozenset({"token", "text", "content", "checkpoint", "delta"})
"""Meta keys holding generated text: masked in recordings unless opted in."""


def _mask(value: Any) -> Any:
    # Keep the length (replay computes content_length from it), never the text.
    if isinstance(value, str):
        return "*" * len(value)
    return None


def event_to_json(event: Any, *, record_token_content: bool = False) -> str:
    """Serialise one event to a JSON line (no newline); never raises.

    Meta values that are not JSON (exceptions, enums, violation objects) become
    safe JSON; text under :data:`CONTENT_KEYS` is masked with ``*`` of the same
    length unless ``record_token_content``.
    """
    try:
        if isinstance(event, dict):
            etype, ts, sid = event.get("type"), event.get("ts"), event.get("stream_id")
            ctx, meta = event.get("context"), event.get("meta")
        else:
            etype, ts, sid = event.type, event.ts, event.stream_id
            ctx, meta = event.context, event.meta
        try:
            type_text = event_type_value(etype)
        except ValueError:
            type_text = safe_str(etype, 100)
        meta_out = json_safe(meta) if meta else {}
        if not isinstance(meta_out, dict):
            meta_out = {"value": meta_out}
        if not record_token_content:
            for key in CONTENT_KEYS.intersection(meta_out):
                meta_out[key] = _mask(meta_out[key])
        ctx_out = json_safe(ctx) if ctx else {}
        if not isinstance(ctx_out, dict):
            ctx_out = {"value": ctx_out}
        ts_out = ts if isinstance(ts, int | float) and not isinstance(ts, bool) else None
        data = {
            "type": type_text,
            "ts": json_safe(ts_out),
            "stream_id": safe_str(sid, 500) if sid is not None else None,
            "context": ctx_out,
            "meta": meta_out,
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except Exception as exc:  # last resort: never lose the fact that an event happened
        _errors.report("record", "l0_monitoring: event could not be serialised", exc)
        return json.dumps({"type": "UNSERIALIZABLE", "ts": None, "stream_id": None,
                           "context": {}, "meta": {}})  # fmt: skip


class EventRecorder:
    """A handler that appends every event as one JSON line to a file.

    Writes go through a bounded queue to a background daemon thread, so the
    stream never waits on disk. ``flush(timeout)`` waits until everything
    accepted so far is written; ``close()`` (also run at interpreter exit)
    flushes and stops. Nothing accepted is lost silently: lines the queue
    could not take and lines a failing write (disk full) could not store are
    counted in :meth:`stats`.

    Args:
        target: A path (opened for appending, UTF-8) or an open text file.
        max_bytes: Rotate a path target when it would exceed this size:
            ``events.jsonl`` -> ``events.jsonl.1`` ... ``.{backup_count}``.
        backup_count: Rotated files kept.
        max_queue: Events waiting to be written at most; beyond, new ones are dropped.
        record_token_content: Keep token text (``token``, ``text``, ``content``,
            ``checkpoint``, ``delta`` in meta). Off by default: the text is masked
            with ``*`` of the same length, so replayed content lengths still match.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[str],
        *,
        max_bytes: int | None = None,
        backup_count: int = 3,
        max_queue: int = 100_000,
        record_token_content: bool = False,
    ) -> None:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
        if backup_count < 0:
            raise ValueError(f"backup_count must be >= 0, got {backup_count!r}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue!r}")
        if isinstance(target, str | os.PathLike):
            self._path: Path | None = Path(target)
            self._file: IO[str] | None = None
            self._owns_file = True
        elif hasattr(target, "write"):
            self._path = None
            self._file = target
            self._owns_file = False
        else:
            raise TypeError(f"target must be a path or a text file, got {type(target).__name__}")
        if self._path is not None and max_bytes is not None:
            self._max_bytes: int | None = max_bytes
        else:
            self._max_bytes = None
        self._backups = backup_count
        self._max_queue = max_queue
        self._content = record_token_content
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0
        self._write_lock = threading.Lock()
        self._written = 0
        self._dropped = 0
        self._write_errors = 0
        self._lost_to_errors = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._size = 0
        register_fork_aware(self)
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- hot path -------------------------------------------------------------

    def __call__(self, event: Any) -> None:
        """Queue ``event`` for writing (never blocks, never raises)."""
        if self._closed or len(self._queue) >= self._max_queue:
            with self._idle:  # rare path: exact count under concurrency
                self._dropped += 1
            return
        self._queue.append(event)  # deque.append is atomic: no lock on the hot path
        if self._thread is None:
            self._start()
        self._wake.set()

    # -- writer thread --------------------------------------------------------

    def _start(self) -> None:
        with self._idle:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="l0-monitoring-recorder", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            self._drain()
            if self._closed and not self._queue:
                return

    def _drain(self) -> None:
        queue = self._queue
        with self._idle:
            self._busy += 1
        try:
            lines: list[str] = []
            while queue:
                try:
                    event = queue.popleft()
                except IndexError:  # another drainer took the last one
                    break
                lines.append(event_to_json(event, record_token_content=self._content))
                if len(lines) >= 1000:
                    self._write(lines)
                    lines = []
            if lines:
                self._write(lines)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _open(self) -> IO[str]:
        if self._file is None:
            assert self._path is not None
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("a", encoding="utf-8", newline="\n")
            self._size = self._file.tell()
        return self._file

    def _rotate(self) -> None:
        assert self._path is not None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._backups == 0:
            self._path.unlink(missing_ok=True)
        else:
            for i in range(self._backups - 1, 0, -1):
                older = self._path.with_name(f"{self._path.name}.{i}")
                if older.exists():
                    older.replace(self._path.with_name(f"{self._path.name}.{i + 1}"))
            if self._path.exists():
                self._path.replace(self._path.with_name(f"{self._path.name}.1"))
        self._size = 0

    def _write(self, lines: list[str]) -> None:
        with self._write_lock:
            self._write_locked(lines)

    def _write_locked(self, lines: list[str]) -> None:
        try:
            if self._max_bytes is None:
                f = self._open()
                f.write("".join(line + "\n" for line in lines))
                f.flush()
            else:
                for line in lines:
                    data = line + "\n"
                    n = len(data.encode("utf-8"))
                    if self._size and self._size + n > self._max_bytes:
                        self._rotate()
                    f = self._open()
                    f.write(data)
                    self._size += n
                self._open().flush()
            self._written += len(lines)
        except Exception as exc:  # disk full, closed file, permissions: count, keep going
            self._write_errors += 1
            self._lost_to_errors += len(lines)
            _errors.report("record.write", "l0_monitoring: event log write failed", exc)

    # -- control --------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every accepted event is written (or lost to a counted error).

        Returns:
            True if done within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                alive = self._thread is not None and self._thread.is_alive()
                if remaining <= 0 or not alive:
                    break
                self._idle.wait(min(remaining, 0.05))
                self._wake.set()
        if self._queue and not (self._thread is not None and self._thread.is_alive()):
            # No writer (never started, or gone at interpreter shutdown): write inline.
            self._drain()
        with self._idle:
            return not self._queue and not self._busy

    def close(self, timeout: float = 5.0) -> None:
        """Flush, stop the writer and close the file (if opened here). Idempotent."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._queue:
            self._drain()
        if self._owns_file and self._file is None and self._path is not None:
            with contextlib.suppress(OSError):  # an empty log still exists after close
                self._open()
        if self._owns_file and self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def stats(self) -> dict[str, int]:
        """Return the counters.

        Keys: accepted, written, dropped (queue full or closed), write_errors,
        lost_to_errors (lines a failed write could not store), queued.
        """
        queued = len(self._queue)
        return {
            "accepted": self._written + self._lost_to_errors + queued,
            "written": self._written,
            "dropped": self._dropped,
            "write_errors": self._write_errors,
            "lost_to_errors": self._lost_to_errors,
            "queued": queued,
        }

    def __enter__(self) -> EventRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _after_fork_in_child(self) -> None:
        # The parent writes what it had queued; the child starts empty, with its
        # own writer thread on first use and its own file handle.
        self._queue = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._thread = None
        self._busy = 0
        self._write_lock = threading.Lock()
        self._written = self._lost_to_errors = 0
        if self._owns_file:
            self._file = None


def _close_at_exit(ref: weakref.ref[EventRecorder]) -> None:
    recorder = ref()
    if recorder is not None:
        recorder.close()


# -- replay -----------------------------------------------------------------------


@dataclass
class ReplayResult:
    """What a replay did: events fed, lines skipped, and the first errors (line, message)."""

    events: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _lines(source: str | os.PathLike[str] | Iterable[str]) -> Iterator[tuple[int, str]]:
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8", newline="\n") as f:
            yield from enumerate(f, start=1)
    else:
        yield from enumerate(source, start=1)


def iter_events(
    source: str | os.PathLike[str] | Iterable[str],
    *,
    strict: bool = False,
    result: ReplayResult | None = None,
) -> Iterator[ObservabilityEvent]:
    """Yield the events of a recorded JSON Lines log, streaming (flat memory).

    Args:
        source: A path, or an iterable of lines (an open file, a list of strings).
        strict: Raise on the first malformed line instead of skipping it.
        result: Filled with counts and the first 100 errors, if given.

    Yields:
        Validated events, in file order.

    Raises:
        ValueError: With ``strict``, naming the line number and the problem.
    """
    res = result if result is not None else ReplayResult()
    for number, line in _lines(source):
        text = line.strip()
        if not text:
            continue
        try:
            data = loads(text)
            event = ObservabilityEvent.from_dict(data, document=True)
        except (ValueError, RecursionError) as exc:
            message = f"line {number}: {safe_str(exc, 300)}"
            if strict:
                raise ValueError(message) from None
            res.skipped += 1
            if len(res.errors) < 100:
                res.errors.append((number, message))
            _errors.report("replay", f"l0_monitoring: skipped malformed event log {message}")
            continue
        res.events += 1
        yield event


def replay(
    source: str | os.PathLike[str] | Iterable[str],
    monitor: Any,
    *,
    strict: bool = False,
) -> ReplayResult:
    """Feed a recorded event log into ``monitor`` (anything with ``handle_event``).

    Args:
        source: A path, or an iterable of JSON lines.
        monitor: A :class:`~l0_monitoring.Monitor` (or any handler object).
        strict: Raise on the first malformed line (default: skip, log, count).

    Returns:
        Counts of events fed and lines skipped, with the first errors.
    """
    result = ReplayResult()
    handle = getattr(monitor, "handle_event", monitor)
    for event in iter_events(source, strict=strict, result=result):
        handle(event)
    return result
