"""Recording events to JSON Lines and replaying them into a Monitor.

``EventRecorder`` (``Monitoring.record(...)``) appends one JSON object per event
through a bounded in-memory queue drained by a background writer thread.
``replay`` / ``iter_events`` stream a recorded log back, line by line, so memory
stays flat however long the log is. Timing comes from the events' own ``ts``,
so a replay yields the same telemetry as the live run.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import select
import stat
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import pydantic_core

from ._internal.contract import JSON_WHITESPACE, loads
from ._internal.guard import ErrorReporter
from ._internal.safe import (
    MAX_ITEMS,
    MAX_JSON_INT,
    MAX_STR,
    clean_text,
    finite_ms,
    json_line,
    json_safe,
    safe_str,
)
from ._internal.workers import register_exit, register_fork_aware
from .events import ObservabilityEvent, event_type_value

__all__ = [
    "CONTENT_KEYS",
    "MAX_LINE_BYTES",
    "EventRecorder",
    "ReplayResult",
    "iter_events",
    "replay",
]

logger = logging.getLogger("l0_monitoring")
_errors = ErrorReporter()

CONTENT_KEYS = frozenset({"token", "text", "content", "checkpoint", "delta"})
"""Meta keys holding generated text: masked in recordings unless opted in."""


def _content(raw: Any, keep: bool) -> Any:
    """A meta content value as recorded: what the live Monitor counts, and only that.

    The Monitor counts the length of a content value only when it is exactly a
    ``str`` (not bytes, a str subclass or a str-Enum), and tells "no token" from
    "an empty one" by ``None`` and truthiness. So text is kept whole (``keep``;
    not cut at ``MAX_STR``, lone surrogates as U+FFFD one for one) or masked
    with ``*`` of the same length; any other value is recorded as its
    truthiness (``true``/``false``) and ``None`` as ``null``: never its
    content, and replay counts exactly what the live Monitor counted.
    """
    if raw.__class__ is str:
        return clean_text(raw) if keep else "*" * len(raw)
    return None if raw is None else bool(raw)


MAX_LINE_BYTES = 1 << 20
"""Longest event line (bytes, newline included) the recorder writes and replay reads: 1 MiB.

The recorder drops (and counts) an event whose line would be longer; replay
skips (and counts) a longer line without holding it in memory.
"""

_TO_JSON = pydantic_core.to_json
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_SIMPLE = frozenset({bool, type(None)})


def _plain(value: Any) -> Any:
    """``json_safe(value)``, with a fast path for the usual flat dict of short ASCII text."""
    if value.__class__ is dict and len(value) <= MAX_ITEMS:
        for k, v in value.items():
            c = v.__class__
            if k.__class__ is not str or not k.isascii() or len(k) > 200:
                break
            if c is str:
                if len(v) > MAX_STR or not v.isascii():
                    break
            elif c is float:
                if v - v != 0:  # NaN or +-inf: json_safe makes it null
                    break
            elif c is int:
                if not -MAX_JSON_INT <= v <= MAX_JSON_INT:  # json_safe writes a string
                    break
            elif c not in _SIMPLE:
                break
        else:
            return dict(value)
    return json_safe(value)


def _event_fields(event: Any) -> tuple[Any, Any, Any, Any, Any]:
    if isinstance(event, dict):
        return (event.get("type"), event.get("ts"), event.get("stream_id"),
                event.get("context"), event.get("meta"))  # fmt: skip
    return event.type, event.ts, event.stream_id, event.context, event.meta


def event_to_json(event: Any, *, record_token_content: bool = False) -> str | None:
    """Serialise one event to a JSON line (no newline); never raises.

    See :func:`event_line` (this is its text, without the newline).
    """
    line = event_line(event, record_token_content=record_token_content)
    return None if line is None else line[:-1].decode("utf-8")


def event_line(event: Any, *, record_token_content: bool = False) -> bytes | None:
    r"""Serialise one event to one UTF-8 JSON line, newline included; never raises.

    Meta values that are not JSON (exceptions, enums, violation objects) become
    safe JSON; text under :data:`CONTENT_KEYS` is masked with ``*`` of the same
    length unless ``record_token_content``; lone surrogates become U+FFFD (see
    ``clean_text``) and U+0085, U+2028, U+2029 are written as ``\\u`` escapes.

    Returns:
        The line, valid against the published ``ObservabilityEvent`` schema; or
        None for an event that is not one (no type, an empty or missing
        ``stream_id``, a ``ts`` that is not a finite real number by the one
        rule of ``finite_ms``: numpy scalars and ``Decimal`` are converted,
        NaN, +-inf, ``bool`` and ``10**400`` are not): the live Monitor counts
        such an event as malformed and replay would skip its line.
    """
    try:
        etype, ts, sid, ctx, meta = _event_fields(event)
        try:
            type_text = clean_text(event_type_value(etype))
        except ValueError:
            return None
        ms = ts if ts.__class__ is float and ts - ts == 0 else finite_ms(ts)
        if not type_text or ms is None or not isinstance(sid, str) or not sid:
            return None
        meta_out = _plain(meta) if meta else {}
        if not isinstance(meta_out, dict):
            meta_out = {"value": meta_out}
        if meta.__class__ is dict or isinstance(meta, Mapping):
            for key in CONTENT_KEYS.intersection(meta_out):
                meta_out[key] = _content(meta.get(key), record_token_content)
        ctx_out = _plain(ctx) if ctx else {}
        if not isinstance(ctx_out, dict):
            ctx_out = {"value": ctx_out}
        data = {
            "type": type_text,
            "ts": ms,
            "stream_id": clean_text(sid),
            "context": ctx_out,
            "meta": meta_out,
        }
        try:
            line = _TO_JSON(data)  # Rust: ~4x the stdlib encoder's speed
        except (ValueError, TypeError):  # pragma: no cover - json_safe data always encodes
            line = _ENCODE(data).encode("utf-8")
        return json_line(line)
    except Exception as exc:  # a host object we could not read: counted as malformed
        _errors.report("record", "l0_monitoring: event could not be serialised", exc)
        return None


class _Control(Protocol):
    """What a target needs from its recorder while it writes (see ``EventRecorder``).

    ``io`` is held around every step that touches the target (one write
    system call, a rotation, a truncation); a step first checks ``stopped()``
    under it, so once ``close`` has set that flag while holding ``io``,
    nothing of ours touches the files again. ``commit(n)`` counts ``n`` more
    lines stored whole; ``give_up()`` says when to stop waiting for a pipe.
    """

    io: threading.Lock

    def stopped(self) -> bool: ...

    def give_up(self) -> bool: ...

    def commit(self, lines: int) -> None: ...


class _Target:
    """Where lines go; only the writer thread calls ``write`` (one at a time)."""

    pending_error: BaseException | None = None

    def write(self, data: bytes, ends: list[int], ctl: _Control) -> None:
        """Write ``data`` (whole lines; ``ends`` are their end offsets).

        Calls ``ctl.commit(n)`` (under ``ctl.io``) as lines are stored whole;
        lines not committed when it returns are not stored at all (a partly
        written line is removed where the target allows it). A failure is
        left in ``pending_error``.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release the target (idempotent)."""

    def after_fork_in_child(self) -> None:
        """Forget inherited state (the parent keeps writing its own lines)."""


class _FdTarget(_Target):
    """Raw ``os.write`` to a file descriptor, with exact line accounting.

    A short or failed write on a regular file is truncated back to the end of
    the last whole line, so a full disk never leaves a torn line and space
    freed later is used again. A FIFO, pipe or other non-regular file is
    written without ever blocking (``O_NONBLOCK`` + ``poll``), in groups of
    whole lines of at most ``PIPE_BUF`` bytes (which a pipe stores
    atomically), so a reader that stops reading stalls the writer only until
    ``give_up()`` says so, and only a line longer than ``PIPE_BUF`` can be left
    partly written then.
    """

    max_bytes: int | None = None

    def __init__(self) -> None:
        self.fd: int | None = None
        self.regular = True
        self.size = 0  # regular file: offset of the end of the last whole line

    def _open(self) -> int:
        raise NotImplementedError

    def _rotate(self) -> None:
        raise NotImplementedError

    def _group(self, ends: list[int], done: int, start: int) -> int | None:
        """End (exclusive) of the next run of lines to write; None after a rotation."""
        stop = len(ends)
        if not self.regular:
            # A pipe stores a write of at most PIPE_BUF bytes whole or not at
            # all: lines go in such groups, so giving up (a reader that stopped)
            # never leaves part of a line unless it is longer.
            stop = done + 1
            while stop < len(ends) and ends[stop] - start <= _PIPE_BUF:
                stop += 1
        elif self.max_bytes is not None:
            if self.size and self.size + ends[done] - start > self.max_bytes:
                self._rotate()
                return None
            # The run of lines that fits before the next rotation (at least one).
            limit = self.max_bytes - self.size + start
            stop = done + 1
            while stop < len(ends) and ends[stop] <= limit:
                stop += 1
        return stop

    def write(self, data: bytes, ends: list[int], ctl: _Control) -> None:
        view = memoryview(data)
        done = 0  # lines stored whole (committed)
        start = 0  # offset in data where line `done` begins
        sent = 0  # bytes of the current group already written (a pipe that blocked)
        stop = 0
        while done < len(ends):
            blocked = False
            with ctl.io:
                if ctl.stopped():  # close() counted the rest; never touch the file again
                    return
                if not sent:
                    try:
                        fd = self._open()
                        group = self._group(ends, done, start)
                    except OSError as exc:
                        self.pending_error = exc
                        return
                    if group is None:  # rotated: plan again on the new file
                        continue
                    stop = group
                else:
                    fd = self._open()
                end = ends[stop - 1]
                error: OSError | None = None
                while start + sent < end:
                    try:
                        sent += os.write(fd, view[start + sent : end])
                    except BlockingIOError:
                        blocked = True
                        break
                    except InterruptedError:
                        continue
                    except OSError as exc:
                        error = exc
                        break
                whole = bisect_right(ends, start + sent, done, stop) - done
                if whole:
                    new_start = ends[done + whole - 1]
                    if self.regular:
                        self.size += new_start - start
                    sent -= new_start - start
                    done += whole
                    start = new_start
                    ctl.commit(whole)
                if error is not None:
                    if sent and self.regular:
                        # Remove the torn tail: a line is written whole or not at all.
                        with contextlib.suppress(OSError):
                            os.ftruncate(fd, self.size)
                            os.lseek(fd, self.size, os.SEEK_SET)
                    self.pending_error = error
                    return
            if blocked:  # a pipe nobody reads: wait a little, never for ever
                if ctl.give_up():
                    self.pending_error = TimeoutError("writer abandoned at close")
                    return
                _wait_writable(fd, 0.05)


class _PathTarget(_FdTarget):
    """A file the recorder owns, opened ``O_APPEND | O_NONBLOCK``; rotated by size."""

    def __init__(self, path: Path, max_bytes: int | None, backups: int) -> None:
        super().__init__()
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups

    def _open(self) -> int:
        if self.fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
            fd = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
            st = os.fstat(fd)
            self.regular = stat.S_ISREG(st.st_mode)
            self.size = st.st_size if self.regular else 0
            self.fd = fd
        return self.fd

    def _rotate(self) -> None:
        # Another writer of the same path (a forked child, another process) may
        # rotate it at the same moment: a file gone between our look and our
        # rename was moved by that writer, never a reason to lose lines.
        self.close()
        path = self.path
        if self.backups == 0:
            path.unlink(missing_ok=True)
        else:
            for i in range(self.backups - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    path.with_name(f"{path.name}.{i}").replace(
                        path.with_name(f"{path.name}.{i + 1}")
                    )
            with contextlib.suppress(FileNotFoundError):
                path.replace(path.with_name(f"{path.name}.1"))

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def after_fork_in_child(self) -> None:
        self.close()  # the child's copy of the descriptor; the parent keeps its own


def _wait_writable(fd: int, timeout: float) -> None:
    try:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        poller.poll(timeout * 1000)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - no poll()
        time.sleep(timeout)


class _HostFdTarget(_FdTarget):
    """A host's open file that has a descriptor: written like a path, never blocking.

    The host's own buffer is flushed once, before our first line. A regular
    file is written at its current offset (the host's position, which moves
    on) and truncated back on a failed write. A pipe, FIFO or terminal is
    opened again through ``/proc/self/fd`` with ``O_NONBLOCK`` (our own open
    file description: the host's descriptor stays blocking), so a reader that
    stops never blocks the writer past ``close``'s timeout. The host's
    descriptor is never closed here.
    """

    def __init__(self, file: IO[Any], fd: int) -> None:
        super().__init__()
        self.file = file
        self.host_fd = fd
        self.own = False
        self.flushed = False

    @staticmethod
    def usable(file: IO[Any]) -> int | None:
        """The descriptor to write to, or None when the file has none we can use."""
        try:
            fd = file.fileno()
            st = os.fstat(fd)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
        if stat.S_ISREG(st.st_mode):
            return fd
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
            return fd if os.path.exists(f"/proc/self/fd/{fd}") else None
        return None  # a socket or anything else: the file's own write()

    def _open(self) -> int:
        if self.fd is None:
            if not self.flushed:
                self.flushed = True
                with contextlib.suppress(Exception):
                    self.file.flush()
            st = os.fstat(self.host_fd)
            self.regular = stat.S_ISREG(st.st_mode)
            if self.regular:
                self.size = os.lseek(self.host_fd, 0, os.SEEK_CUR)
                self.fd = self.host_fd
            else:
                flags = os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
                self.fd = os.open(f"/proc/self/fd/{self.host_fd}", flags)
                self.own = True
        elif self.regular:  # the host may have written (or moved) in between
            self.size = os.lseek(self.fd, 0, os.SEEK_CUR)
        return self.fd

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None and self.own:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.own = False

    def after_fork_in_child(self) -> None:
        self.close()


class _FileTarget(_Target):
    """An open file object without a usable descriptor: its own ``write``/``flush``.

    Text files get ``str``, binary ones ``bytes``. When a write fails on a
    seekable file, the file is truncated back to where the batch began, so
    the failed lines are not stored at all.
    """

    def __init__(self, file: IO[Any]) -> None:
        self.file = file
        mode = getattr(file, "mode", "")
        self.binary = isinstance(file, io.RawIOBase | io.BufferedIOBase) or (
            isinstance(mode, str) and "b" in mode
        )

    def write(self, data: bytes, ends: list[int], ctl: _Control) -> None:
        f = self.file
        with ctl.io:
            if ctl.stopped():
                return
            try:
                pos = f.tell() if f.seekable() else None
            except (OSError, ValueError, AttributeError):
                pos = None
            try:
                f.write(data if self.binary else data.decode("utf-8"))
                f.flush()
            except Exception as exc:
                if pos is not None:
                    with contextlib.suppress(Exception):
                        f.seek(pos)
                        f.truncate(pos)
                self.pending_error = exc
                return
            ctl.commit(len(ends))


class EventRecorder:
    """A handler that appends every event as one JSON line to a file.

    The caller's thread turns the event into one line of bytes (so what is
    recorded is the event as it was when emitted, and the queue is bounded
    exactly in bytes); a background daemon thread writes the lines, so the
    stream never waits on disk. ``flush(timeout)`` waits until everything
    accepted so far is written; ``close(timeout)`` (also run at interpreter
    exit, with ``exit_timeout``) flushes and stops within its timeout whatever
    the target does: a writer still stuck after the timeout is abandoned, and
    what it held is counted.

    Every event handed to the recorder ends in exactly one counter of
    :meth:`stats`: ``written`` (equal to the lines a reader finds: a line is
    written whole or not at all), ``dropped`` (queue full by lines or bytes,
    recorder closed, line over :data:`MAX_LINE_BYTES`), ``malformed`` (not an
    event: no valid type, stream id or finite ``ts``; never written, so every
    line validates against the ``ObservabilityEvent`` schema), ``lost_to_errors``
    (a write failed or the writer was abandoned at ``close``) or, for now,
    ``queued`` / ``writing``.

    Args:
        target: A path (opened for appending; a FIFO is written non-blocking)
            or an open text or binary file. A file with a descriptor gets the
            same guarantees as a path: its buffer is flushed once, then lines
            go straight to the descriptor (a regular file at its current
            position; a pipe or FIFO through its own non-blocking opening of
            ``/proc/self/fd/N``, so the host's descriptor is unchanged). A file
            object without one (``io.StringIO``) gets whole batches through
            its own ``write``.
        max_bytes: Rotate a path target when it would exceed this size:
            ``events.jsonl`` -> ``events.jsonl.1`` ... ``.{backup_count}``.
        backup_count: Rotated files kept.
        max_queue: Lines waiting to be written at most; beyond, new events are dropped.
        max_queue_bytes: Bytes of lines waiting (or being written) at most,
            default 8 MiB; beyond, new events are dropped.
        record_token_content: Keep token text (``token``, ``text``, ``content``,
            ``checkpoint``, ``delta`` in meta). Off by default: the text is masked
            with ``*`` of the same length, so replayed content lengths still match.
        exit_timeout: Seconds the interpreter-exit hook waits for the writer.

    Raises:
        ValueError: On a non-positive bound.
        TypeError: If ``target`` is neither a path nor a file.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[Any],
        *,
        max_bytes: int | None = None,
        backup_count: int = 3,
        max_queue: int = 100_000,
        max_queue_bytes: int = 8 << 20,
        record_token_content: bool = False,
        exit_timeout: float = 2.0,
    ) -> None:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
        if backup_count < 0:
            raise ValueError(f"backup_count must be >= 0, got {backup_count!r}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue!r}")
        if max_queue_bytes < 1:
            raise ValueError(f"max_queue_bytes must be >= 1, got {max_queue_bytes!r}")
        self._target: _Target
        if isinstance(target, str | os.PathLike):
            self._target = _PathTarget(Path(target), max_bytes, backup_count)
            self._owns_file = True
        elif hasattr(target, "write"):
            fd = _HostFdTarget.usable(target)
            self._target = _FileTarget(target) if fd is None else _HostFdTarget(target, fd)
            self._owns_file = False
        else:
            raise TypeError(f"target must be a path or a file, got {type(target).__name__}")
        self._max_queue = max_queue
        self._max_bytes = max_queue_bytes
        self._content = record_token_content
        self._exit_timeout = exit_timeout
        self._reset_state()
        register_fork_aware(self)
        register_exit(self, exit_timeout)  # closed at exit alongside every other worker

    def _reset_state(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.io = threading.Lock()  # held around each step that touches the target
        self._queue: deque[bytes] = deque()
        self._bytes = 0  # queued + being written
        self._writing = 0  # lines taken by the writer, not yet committed
        self._writing_bytes = 0
        self._written = 0
        self._dropped = 0
        self._malformed = 0
        self._write_errors = 0
        self._lost = 0
        self._closing = False
        self._abandoned = False
        self._give_up_at = math.inf
        self._thread: threading.Thread | None = None

    # -- hot path -------------------------------------------------------------

    def __call__(self, event: Any) -> None:
        """Queue ``event`` for writing (never blocks on the target, never raises)."""
        data = b"" if self._closing else event_line(event, record_token_content=self._content)
        with self._lock:
            if data is None:
                self._malformed += 1
                return
            n = len(data)
            if (
                self._closing
                or len(self._queue) >= self._max_queue
                or self._bytes + n > self._max_bytes
                or n > MAX_LINE_BYTES
            ):
                self._dropped += 1
                return
            self._queue.append(data)
            self._bytes += n
            if self._thread is None:
                self._start_locked()
            elif len(self._queue) == 1:
                self._cond.notify()

    # -- writer thread --------------------------------------------------------

    def _start_locked(self) -> None:
        thread = threading.Thread(target=self._run, name="l0-monitoring-recorder", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: close() writes inline
            return
        self._thread = thread

    # -- _Control: what the target calls while it writes ---------------------

    def stopped(self) -> bool:
        """Whether ``close`` has stopped the writer (read under ``io``)."""
        return self._abandoned

    def give_up(self) -> bool:
        """Whether to stop waiting for a target that does not take data."""
        return self._abandoned or time.monotonic() > self._give_up_at

    def commit(self, lines: int) -> None:
        """Count ``lines`` more lines stored whole (called under ``io``)."""
        with self._lock:
            self._written += lines
            if self._writing >= lines:
                self._writing -= lines
            else:  # pragma: no cover - a step that outlived close's grace: counted lost there
                self._lost -= lines - self._writing
                self._writing = 0

    def _take_locked(self) -> tuple[bytes, list[int]]:
        queue = self._queue
        parts: list[bytes] = []
        ends: list[int] = []
        size = 0
        while queue and (size < _CHUNK_BYTES and len(parts) < 1000):
            line = queue.popleft()
            parts.append(line)
            size += len(line)
            ends.append(size)
        self._writing = len(parts)
        self._writing_bytes = size
        return b"".join(parts), ends

    def _run(self) -> None:
        target = self._target
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._abandoned or not self._queue:
                    break
                data, ends = self._take_locked()
            self._write_batch(target, data, ends)
        with self.io, self._cond:
            if not self._abandoned:  # else close() has closed it (never touch it again)
                target.close()
            self._cond.notify_all()

    def _write_batch(self, target: _Target, data: bytes, ends: list[int]) -> None:
        try:
            target.write(data, ends, self)  # commits lines as they are stored whole
            error, target.pending_error = target.pending_error, None
        except Exception as exc:  # pragma: no cover - targets keep their errors
            error = exc
        if error is not None:  # before the counters: flush() returns after the report
            _errors.report("record.write", "l0_monitoring: event log write failed", error)
        with self._cond:
            # What was not committed is not stored (close() may have counted it).
            if self._writing:
                self._lost += self._writing
                self._writing = 0
                self._write_errors += 1
            elif error is not None and not self._abandoned:
                self._write_errors += 1
            self._bytes -= self._writing_bytes
            self._writing_bytes = 0
            self._cond.notify_all()

    # -- control --------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every accepted event is written (or lost to a counted error).

        Args:
            timeout: Seconds to wait at most.

        Returns:
            True if nothing is left queued or being written.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._writing:
                if self._thread is None or not self._thread.is_alive():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return not self._queue and not self._writing

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, stop the writer and close the file (if opened here).

        Returns within about ``timeout`` seconds whatever the target does (a
        full disk, a pipe nobody reads, a rotation in progress): a writer still
        busy then is stopped. After ``close`` returns, nothing of this recorder
        touches the target again (no write, rotation or rename), and the
        counters are final: what was not stored whole is in
        ``lost_to_errors``. The one exception is a single write system call
        that is itself stuck for longer than 0.25 s (a hung network file
        system, or the ``write`` of a host file object without a descriptor):
        it may still complete, and its lines then move from ``lost_to_errors``
        to ``written``. Idempotent; later events are dropped.

        Args:
            timeout: Seconds to wait for the writer at most.
        """
        with self._cond:
            if self._abandoned:
                return
            self._closing = True
            self._give_up_at = time.monotonic() + max(0.0, timeout)
            self._cond.notify_all()
            thread = self._thread
            batch = self._take_locked() if thread is None and self._queue else None
        if batch is not None:  # no writer thread could be started: one inline attempt
            self._write_batch(self._target, *batch)
        elif thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, self._give_up_at - time.monotonic()))
        # Stop the writer between two steps: a step never blocks (non-blocking
        # descriptors), so it ends within the grace; the writer checks the flag
        # under `io` before every write, rotation and truncation.
        got_io = self.io.acquire(timeout=_IO_GRACE)
        try:
            with self._cond:
                self._abandoned = True
                # Lines still queued or taken but not stored: lost, counted now.
                self._lost += len(self._queue) + self._writing
                if self._writing:
                    self._write_errors += 1
                self._writing = 0
                self._bytes -= sum(map(len, self._queue)) + self._writing_bytes
                self._writing_bytes = 0
                self._queue.clear()
                self._cond.notify_all()
            if got_io:
                target = self._target
                if self._owns_file and isinstance(target, _PathTarget):
                    with contextlib.suppress(OSError):  # an empty log still exists after close
                        target._open()
                target.close()  # our own descriptors only (never the host's)
        finally:
            if got_io:
                self.io.release()

    def stats(self) -> dict[str, int]:
        """Return the counters.

        Keys: ``received`` (events handed to the recorder) = ``written`` +
        ``dropped`` + ``malformed`` + ``lost_to_errors`` + ``queued`` +
        ``writing``; ``accepted`` (taken into the queue) = ``written`` +
        ``lost_to_errors`` + ``queued`` + ``writing``; ``write_errors`` (failed
        writes); ``queued_bytes`` (bytes queued or being written, at most
        ``max_queue_bytes``).
        """
        with self._lock:
            queued = len(self._queue)
            accepted = self._written + self._lost + queued + self._writing
            return {
                "received": accepted + self._dropped + self._malformed,
                "accepted": accepted,
                "written": self._written,
                "dropped": self._dropped,
                "malformed": self._malformed,
                "write_errors": self._write_errors,
                "lost_to_errors": self._lost,
                "queued": queued,
                "writing": self._writing,
                "queued_bytes": self._bytes,
            }

    def __enter__(self) -> EventRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _after_fork_in_child(self) -> None:
        # The parent writes what it had queued; the child starts empty, with its
        # own writer thread on first use and its own file descriptor.
        closed = self._closing
        self._reset_state()
        self._closing = self._abandoned = closed  # closed in the parent: closed here
        if self._owns_file:
            self._target.after_fork_in_child()


_PIPE_BUF = getattr(select, "PIPE_BUF", 512)
_IO_GRACE = 0.25  # seconds close() waits, past its timeout, for one write step to end
_CHUNK_BYTES = 1 << 20  # bytes the writer takes per write at most (besides one long line)


# -- replay -----------------------------------------------------------------------


@dataclass
class ReplayResult:
    """What a replay did: events fed, lines skipped, and the first errors (line, message)."""

    events: int = 0
    skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


class _BadLine(str):
    """A line that could not be read: its text is the reason."""

    __slots__ = ()


_BOM = "\ufeff"
_BOM_BYTES = _BOM.encode("utf-8")


def _too_long(text: str) -> bool:
    """Whether ``text`` is longer than :data:`MAX_LINE_BYTES` as UTF-8."""
    n = len(text)
    if n <= MAX_LINE_BYTES // 4:  # at most 4 bytes per character: cannot be
        return False
    if n > MAX_LINE_BYTES:
        return True
    return not text.isascii() and len(text.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES


def _long_line(size: int | None = None) -> _BadLine:
    shown = f" ({size} bytes)" if size is not None else ""
    return _BadLine(f"line longer than {MAX_LINE_BYTES} bytes{shown}; skipped")


def _read_lines(f: IO[Any]) -> Iterator[str]:
    """Lines of an open binary or text file, at most :data:`MAX_LINE_BYTES` held in memory.

    The line-length rule of every reader here: a longer line is read on in
    pieces of 64 KiB and skipped (a ``_BadLine`` naming its size), never held
    whole. A UTF-8 byte order mark at the start of the file is dropped.
    """
    limit = MAX_LINE_BYTES
    readline = f.readline
    first = True
    decode_errors = 0
    while True:
        try:
            chunk = readline(limit + 1)
        except UnicodeDecodeError as exc:  # a text file that is not valid in its encoding
            decode_errors += 1
            if decode_errors > 100:  # the file's decoder cannot recover: stop, never raise
                yield _BadLine("text not valid in the file's encoding; rest of the file skipped")
                return
            yield _BadLine(f"not valid {exc.encoding} (byte {exc.start}); skipped")
            continue
        decode_errors = 0
        if not chunk:
            return
        if first:
            first = False
            if isinstance(chunk, str):
                if chunk.startswith(_BOM):
                    chunk = chunk[1:]
            elif chunk.startswith(_BOM_BYTES):
                chunk = chunk[3:]
        if isinstance(chunk, str):  # a text file: decoded by the file itself
            if len(chunk) > limit:
                size = len(chunk)
                while not chunk.endswith("\n"):  # skip the rest without holding it
                    chunk = readline(1 << 16)
                    if not chunk:
                        break
                    size += len(chunk)
                yield _BadLine(f"line longer than {limit} bytes ({size} characters); skipped")
            elif _too_long(chunk):
                yield _long_line()
            else:
                yield chunk
            continue
        if len(chunk) > limit:
            size = len(chunk)
            while not chunk.endswith(b"\n"):  # skip the rest without holding it
                chunk = readline(1 << 16)
                if not chunk:
                    break
                size += len(chunk)
            yield _long_line(size)
            continue
        try:
            yield chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _BadLine(f"not valid UTF-8 (byte {exc.start}: {chunk[exc.start]:#04x}); skipped")


_UTF8_NAMES = frozenset({"utf-8", "utf8", "utf_8", "u8", "utf-8-sig", "utf_8_sig"})


def _binary_buffer(f: IO[Any]) -> IO[bytes] | None:
    """The binary file under a UTF-8 text file whose position it shares, else ``None``.

    Reading the bytes (the binary-file rules: a line that is not valid UTF-8
    is one bad line) instead of the text keeps one bad byte from raising
    ``UnicodeDecodeError`` out of the text file. Used only when nothing is
    held decoded in the text file: a seekable file whose text and byte
    positions agree, or a stream that cannot seek (a pipe, stdin).
    """
    if not isinstance(f, io.TextIOWrapper):
        return None
    if str(f.encoding).lower().replace("-", "_") not in {n.replace("-", "_") for n in _UTF8_NAMES}:
        return None
    buffer = getattr(f, "buffer", None)
    if buffer is None or not callable(getattr(buffer, "readline", None)):
        return None
    try:
        seekable = f.seekable()
        if seekable and f.tell() != buffer.tell():
            return None
    except (OSError, ValueError):
        return None
    return buffer  # type: ignore[no-any-return]


def numbered_lines(
    source: str | os.PathLike[str] | IO[Any] | Iterable[str | bytes],
) -> Iterator[tuple[int, str]]:
    """The lines of a JSON Lines source with their numbers: one reading rule for every reader.

    Used by replay, :func:`iter_events`, ``TelemetryExporter.from_jsonl`` and
    ``l0-monitoring validate``. A path is read as bytes, line by line; an open
    file (binary or text) through its ``readline``; any other iterable item
    by item. Everywhere: a line longer than :data:`MAX_LINE_BYTES` (UTF-8
    bytes) or not valid UTF-8 comes back as a ``_BadLine`` (a ``str`` whose
    text is the reason), which readers skip and count (strict readers raise);
    a UTF-8 byte order mark (U+FEFF) at the start of the source is dropped.

    Args:
        source: A path, an open file, or an iterable of lines.

    Yields:
        ``(line_number, line)`` from 1; lines keep their line ending.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as f:
            yield from enumerate(_read_lines(f), start=1)
        return
    if callable(getattr(source, "readline", None)):
        raw_file = _binary_buffer(source)  # type: ignore[arg-type]
        yield from enumerate(_read_lines(raw_file or source), start=1)  # type: ignore[arg-type]
        return
    for number, raw in enumerate(source, start=1):
        line: str
        if raw.__class__ is _BadLine:
            line = raw
        elif isinstance(raw, bytes | bytearray):
            data = raw[3:] if number == 1 and raw.startswith(_BOM_BYTES) else raw
            if len(data) > MAX_LINE_BYTES:
                line = _long_line(len(data))
            else:
                try:
                    line = bytes(data).decode("utf-8")
                except UnicodeDecodeError as exc:
                    line = _BadLine(f"not valid UTF-8 (byte {exc.start}); skipped")
        elif _too_long(raw):
            line = _long_line()
        else:
            line = raw[1:] if number == 1 and raw.startswith(_BOM) else raw
        yield number, line


def iter_events(
    source: str | os.PathLike[str] | IO[Any] | Iterable[str | bytes],
    *,
    strict: bool = False,
    result: ReplayResult | None = None,
) -> Iterator[ObservabilityEvent]:
    """Yield the events of a recorded JSON Lines log, streaming (flat memory).

    Args:
        source: A path (read as bytes, line by line), an open text or binary
            file (read with ``readline``), or an iterable of lines (a list of
            strings or bytes).
        strict: Raise on the first malformed line instead of skipping it.
        result: Filled with counts and the first 100 errors, if given.

    Lines are read by :func:`numbered_lines`, whatever the source: a line that
    is not valid UTF-8, or longer than :data:`MAX_LINE_BYTES` (from a path or
    a file: skipped without reading it into memory whole), is malformed like a
    line that is not JSON: skipped and counted with its line number. A UTF-8
    byte order mark at the start of the log is dropped (the first event is
    read, not skipped).

    Yields:
        Validated events, in file order.

    Raises:
        ValueError: With ``strict``, naming the line number and the problem.
    """
    res = result if result is not None else ReplayResult()
    for number, line in numbered_lines(source):
        # Only JSON's own whitespace: a line ending in U+00A0 or U+2028 is not JSON.
        text = line.strip(JSON_WHITESPACE)
        if not text:
            continue
        try:
            if line.__class__ is _BadLine:
                raise ValueError(line)
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
    source: str | os.PathLike[str] | IO[Any] | Iterable[str | bytes],
    monitor: Any,
    *,
    strict: bool = False,
) -> ReplayResult:
    """Feed a recorded event log into ``monitor`` (anything with ``handle_event``).

    Args:
        source: A path, an open file, or an iterable of JSON lines (read as
            :func:`iter_events` reads them).
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
