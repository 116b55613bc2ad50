"""One ``/metrics`` for several worker processes behind one port.

``prometheus_client``'s multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``)
aggregates its own metric objects across processes but not custom collectors
such as :class:`~l0_monitoring.prometheus.MonitorCollector`. This module does
the same job for the Monitor's series, with the same model:

* each worker runs a :class:`SeriesFileWriter`: a daemon thread that writes the
  worker's series snapshot to its own file,
  ``<directory>/l0-series-<pid>-<start time>-<random>.json``, every
  ``interval`` seconds (atomically: temporary file + rename) and once more at
  :meth:`~SeriesFileWriter.close`. The name is unique per writer instance: a
  restarted worker that gets a recycled pid, or two Monitors of one process,
  never overwrite another writer's file;
* the process that answers ``/metrics`` (any worker, or a sidecar) merges every
  file of the directory at each scrape: :func:`read_series`,
  :class:`DirectoryCollector` (for a ``prometheus_client`` registry) or
  :func:`render_directory` (text, no dependency).

Counters and histogram buckets of all workers add up, exactly as Prometheus
would add them across targets; files of workers that exited stay and keep
counting, and a Monitor's series survive :meth:`~l0_monitoring.Monitor.clear`
(Prometheus counters are cumulative), so merged totals never go backwards (like
multiprocess mode's counters).
Clear the directory when the whole service restarts (as with
``PROMETHEUS_MULTIPROC_DIR``). Scrapes see each worker's series as of its last
write: at most ``interval`` seconds old.

Alternative without a shared directory: every worker serves its own
``MonitorCollector`` on its own port and Prometheus scrapes each one (the
end-to-end test does both).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .series import SeriesSet
from .text import render, render_openmetrics

if TYPE_CHECKING:
    from ..monitor import Monitor

__all__ = ["SeriesFileWriter", "directory_collector", "read_series", "render_directory"]

logger = logging.getLogger("l0_monitoring")

_PATTERN = "l0-series-*.json"


class SeriesFileWriter:
    """Writes a Monitor's series to a shared directory, periodically, in the background.

    Create it in each worker *after* the fork (for example in gunicorn's
    ``post_fork`` hook), with a Monitor created there too.

    Args:
        monitor: The worker's Monitor (or anything with ``_series_snapshot()``).
        directory: The directory shared by the workers (created if missing).
        interval: Seconds between writes (> 0).

    Raises:
        ValueError: ``interval`` is not positive.
    """

    def __init__(
        self, monitor: Monitor, directory: str | os.PathLike[str], interval: float = 1.0
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive seconds, got {interval!r}")
        self._snapshot: Callable[[], SeriesSet] = monitor._series_snapshot
        self.directory = Path(directory)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.writes = 0
        self.errors = 0
        self._pid = 0
        self._name = ""

    @property
    def path(self) -> Path:
        """This writer's own file: ``l0-series-<pid>-<start ns, hex>-<random hex>.json``.

        Chosen at the first use in each process (a forked copy of the writer
        gets a new name), unique to this writer instance, so no writer ever
        replaces the file of another one, even with a recycled pid.
        """
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._name = f"l0-series-{pid}-{time.time_ns():x}-{uuid.uuid4().hex[:16]}.json"
        return self.directory / self._name

    def start(self) -> SeriesFileWriter:
        """Start the background writer (idempotent); returns self."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="l0-series-writer", daemon=True
                )
                self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def write(self) -> bool:
        """Write the snapshot now; returns False (counted, logged) when it failed."""
        try:
            data = json.dumps(self._snapshot().to_dict(), separators=(",", ":"))
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.path
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".l0-series-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except Exception as exc:
            self.errors += 1
            logger.warning("l0_monitoring could not write %s: %s", self.path, exc)
            return False
        self.writes += 1
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the thread (waiting at most ``timeout`` s) and write one last time."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return self.write()


def read_series(directory: str | os.PathLike[str]) -> tuple[SeriesSet, list[str]]:
    """Merge every worker file of ``directory``.

    Each file is parsed and validated (:meth:`SeriesSet.from_json`) before
    anything of it is merged, and any error reading or merging one file skips
    that file only: a scrape never fails because one worker's file is bad.

    Returns:
        The summed series (its ``files`` attribute holds the numbers of files
        read and skipped, exported as the ``<prefix>_series_files`` gauge), and
        one problem per skipped file.
    """
    merged = SeriesSet()
    problems: list[str] = []
    read = 0
    for path in sorted(Path(directory).glob(_PATTERN)):
        try:
            one = SeriesSet.from_json(path.read_bytes())
        except Exception as exc:  # any bad file: skipped and named, never the whole scrape
            problems.append(f"{path.name}: {_first_line(exc)}")
            continue
        try:
            merged.merge(one)  # cannot fail on validated data; guarded all the same
            read += 1
        except Exception as exc:  # any bad file: skipped and named, never the whole scrape
            problems.append(f"{path.name}: {_first_line(exc)}")
    merged.uid = None
    merged.files = (read, len(problems))
    return merged, problems


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {' / '.join(text[:3])}"[:500]


# Problems already logged (bounded): a bad file is logged once, not at every scrape.
_LOGGED: dict[str, None] = {}


def _log(problems: list[str]) -> None:
    for problem in problems:
        if problem not in _LOGGED:
            if len(_LOGGED) >= 1000:
                _LOGGED.clear()
            _LOGGED[problem] = None
            logger.warning("l0_monitoring skipped a series file: %s", problem)


def render_directory(
    directory: str | os.PathLike[str],
    prefix: str = "l0",
    labels: Mapping[str, object] | None = None,
    *,
    openmetrics: bool = False,
) -> str:
    """Render the merged series of every worker (text 0.0.4, or OpenMetrics).

    Bad files are skipped (logged once each) and counted in the
    ``<prefix>_series_files{state="skipped"}`` gauge; this never raises because
    of a file's content.
    """
    series, problems = read_series(directory)
    _log(problems)
    return (render_openmetrics if openmetrics else render)(series, prefix, labels)


def directory_collector(
    directory: str | os.PathLike[str],
    prefix: str = "l0",
    labels: Mapping[str, object] | None = None,
) -> Any:
    """A ``prometheus_client`` collector of the merged series (extra ``prometheus``).

    Example::

        registry = CollectorRegistry()
        registry.register(directory_collector("/run/l0-series"))
        start_http_server(9100, registry=registry)
    """
    from .collector import SeriesCollector

    def source() -> SeriesSet:
        series, problems = read_series(directory)
        _log(problems)
        return series

    return SeriesCollector(source, prefix, labels)
