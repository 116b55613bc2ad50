"""The ``l0-monitoring`` command: demo, replay, schemas, validate, report.

Every subcommand has ``--help`` with examples. Bad arguments and unreadable
files print one line (``l0-monitoring: error: ...``) and exit with code 2;
invalid data given to ``validate`` exits with code 1. Output into a pipe its
reader closed (``| head -1``) ends the command quietly and at once, with code 0
in every output format.
"""

from __future__ import annotations

# Only light modules at the top: ``l0-monitoring --help`` builds the parser
# without pydantic, the models or the integrations (each command imports what it
# needs when it runs). See benchmarks/bench_import.py.
import argparse
import codecs
import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TextIO

from ._version import __version__

if TYPE_CHECKING:
    from .config import MonitoringConfig
    from .otel import OpenTelemetryExporter
    from .report import SummaryBuilder
    from .sentry import SentryExporter
    from .telemetry import Telemetry

# MonitoringConfig's preset class methods, by name (tests check they match).
PRESETS = ("default", "development", "minimal", "production")


SIMULATED_EPOCH_MS = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z


class UsageError(Exception):
    """A bad argument or an unreadable file: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


# -- record sinks shared by demo and replay -------------------------------------------


class RecordWriter:
    """Writes each finished record as it arrives (constant memory), in one format."""

    def __init__(self, out: IO[str], fmt: str) -> None:
        self.out = out
        self.fmt = fmt
        self.count = 0

    def __call__(self, t: Telemetry) -> None:
        """Write one record."""
        from .exporters import TelemetryExporter as E

        if self.fmt == "jsonl":
            self.out.write(E.to_jsonl([t]))
        elif self.fmt == "csv":
            text = E.to_csv([t])
            self.out.write(text if self.count == 0 else text.split("\r\n", 1)[1])
        elif self.fmt == "json":
            self.out.write(("[\n" if self.count == 0 else ",\n") + E.to_json(t, indent=None))
        elif self.fmt == "log":
            self.out.write(E.to_log_format(t) + "\n")
        self.count += 1

    def close(self) -> None:
        """Finish the document (closes the JSON array)."""
        if self.fmt == "json":
            self.out.write("[]\n" if self.count == 0 else "\n]\n")


def _config(name: str) -> MonitoringConfig:
    from .config import MonitoringConfig

    preset: Callable[[], MonitoringConfig] = getattr(MonitoringConfig, name)
    return preset()


def _plural(n: int, word: str, plural: str | None = None) -> str:
    """``1 stream``, ``2 streams``."""
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _print_summary(builder: SummaryBuilder, out: TextIO, total: int | None = None) -> None:
    """The per-model table and a TTFT histogram; ``total`` counts sampled-out streams too."""
    from .report import TABLE_HEADER, format_table, streams_note, text_histogram

    summaries = builder.summaries()
    if not summaries:
        # "5 streams, 0 kept by sampling: no records to show", or an empty log.
        out.write(
            f"{streams_note(total, 0)}: no records to show\n" if total else "no finished streams\n"
        )
        return
    kept = builder.all.streams
    if total is not None and total != kept:
        out.write(f"{streams_note(total, kept)}; the table shows the kept records:\n")
    out.write(format_table([s.row() for s in summaries], TABLE_HEADER) + "\n")
    if not builder.all.retries_collected:
        out.write("retries -: not collected by this configuration (collect_retries=False)\n")
    out.write("\n")
    out.write("Time to first token, all models:\n")
    out.write(text_histogram(builder.all.ttft, bins=8, width=36) + "\n")


# At most this many redraws a second (tqdm's mininterval is the reciprocal).
PROGRESS_REDRAWS_PER_SECOND = 10


class _Bar:
    """The progress callback: ``bar(n)`` advances; ``bar.stage(text)`` names the step after."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def __call__(self, n: int) -> None:
        self._bar.update(n)

    def stage(self, text: str) -> None:
        """Say what the command is doing once the counted work is done (writing files...)."""
        self._bar.set_postfix_str(text, refresh=True)


@contextlib.contextmanager
def _progress(
    total: int | None, stream: TextIO, unit: str = "stream", scale: bool = False
) -> Iterator[_Bar]:
    """A progress bar with rate and ETA on a terminal; silent when ``stream`` is not one.

    Without a ``total`` (a log read as a stream) it shows the count and the rate.
    ``scale``: SI prefixes (bytes read: ``12.3MB/40.0MB``). The bar stays up until
    the whole command is done: steps after the count are named with ``stage``.
    """
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        unit=unit,
        unit_scale=total is None or scale,
        unit_divisor=1024 if unit == "B" else 1000,
        file=stream,
        disable=not stream.isatty(),
        mininterval=1 / PROGRESS_REDRAWS_PER_SECOND,
        dynamic_ncols=True,
        leave=True,
    )
    try:
        yield _Bar(bar)
    finally:
        bar.close()


# -- commands ----------------------------------------------------------------------------


def _writable_dir(out_dir: Path) -> None:
    """Check (or create) the output folder before any work starts: UsageError if unusable."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # os.access says yes to root on a read-only mount: write a probe file instead.
        probe = out_dir / f".l0-monitoring-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot write there ({exc.strerror})") from None


def cmd_demo(args: argparse.Namespace) -> int:
    """Run simulated traffic and write events, telemetry, metrics and a report."""
    if args.streams < 1 or args.concurrency < 1 or args.speed <= 0:
        raise UsageError("--streams, --concurrency and --speed must be positive")
    out_dir = Path(args.out)
    _writable_dir(out_dir)

    import asyncio
    import json

    from .demo import make_scenarios, run_simulated, run_with_l0
    from .exporters import TelemetryExporter
    from .handlers import Monitoring
    from .monitor import Monitor
    from .report import SummaryBuilder, render_html

    config = _config(args.config)
    config = config.model_copy(update={"buffer_size": max(config.buffer_size, args.streams),
                                       "flush_interval": 0.0})  # fmt: skip
    exporters = _env_exporters()
    builder = SummaryBuilder(config.metrics)
    records: list[Telemetry] = []
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        jsonl = RecordWriter(stack.enter_context(_open(out_dir / "telemetry.jsonl")), "jsonl")
        csv_w = RecordWriter(stack.enter_context(_open(out_dir / "telemetry.csv")), "csv")

        def on_complete(t: Telemetry) -> None:
            jsonl(t)
            csv_w(t)
            builder.add(t)
            records.append(t)
            exporters(t)

        monitor = Monitor(config, on_complete=on_complete)
        events_path = out_dir / "events.jsonl"
        events_path.write_text("")  # a fresh log per run (the recorder appends)
        recorder = Monitoring.record(events_path, max_queue=10**7)
        on_event = Monitoring.combine(monitor.handle_event, recorder)
        scenarios = make_scenarios(args.streams, args.seed)
        use_l0 = not args.simulate and _has_l0()
        # The bar stays up until every file is written: the report of 5000 streams
        # takes seconds after the last stream, and the screen says so.
        progress = stack.enter_context(_progress(args.streams, sys.stderr))
        if use_l0:
            asyncio.run(run_with_l0(scenarios, on_event, concurrency=args.concurrency,
                                    speed=args.speed, progress=progress))  # fmt: skip
        else:
            # A fixed epoch: the same seed gives byte-identical output files.
            run_simulated(scenarios, on_event, start_ms=SIMULATED_EPOCH_MS,
                          progress=progress)  # fmt: skip
        progress.stage("writing events.jsonl, telemetry.jsonl, telemetry.csv")
        monitor.close()
        recorder.close()
        jsonl.close()
        csv_w.close()
        progress.stage("writing metrics.prom, aggregates.json")
        agg = monitor.get_aggregate_metrics()
        (out_dir / "metrics.prom").write_text(TelemetryExporter.to_prometheus(monitor))
        (out_dir / "aggregates.json").write_text(
            json.dumps(agg, indent=2, sort_keys=True, allow_nan=False) + "\n"
        )
        written = "events.jsonl telemetry.jsonl telemetry.csv aggregates.json metrics.prom"
        progress.stage(f"drawing report.html ({_plural(len(records), 'record')})")
        try:
            page = render_html(records, "l0-monitoring demo", total=agg["count"],
                               aggregates=agg, metrics=config.metrics)  # fmt: skip
        except ImportError as exc:  # the report extra is not installed
            report_error: str | None = f"report.html not written: {exc}"
        else:
            report_error = None
            (out_dir / "report.html").write_text(page, encoding="utf-8")
            written += " report.html"
        progress.stage("done")
    if report_error is not None:
        print(report_error, file=sys.stderr)
    elapsed = time.monotonic() - started
    print(f"l0-monitoring demo: {_plural(args.streams, 'stream')} through "
          f"{'the real L0 runtime (l0.run)' if use_l0 else 'the built-in event simulator'} "
          f"in {elapsed:.1f}s (seed {args.seed}, config {args.config})\n")  # fmt: skip
    _print_summary(builder, sys.stdout, total=agg["count"])
    print(f"\nall streams: {agg['count']}, error rate {agg['error_rate']:.1%}, "
          f"completion rate {agg['completion_rate']:.1%}, retries "
          f"{agg['total_retries'] if config.metrics.collect_retries else 'not collected'}; "
          f"records kept by sampling: {len(records)}")  # fmt: skip
    print(f"\nwrote {out_dir}/: {written}")
    print(f"replay: l0-monitoring replay {out_dir}/events.jsonl --format jsonl")
    exporters.close()
    # The "set X" hints only when X is not set at all: an exporter the
    # environment asked for and that is off has said why already.
    if "otel" not in exporters.asked:
        print(
            "OpenTelemetry: set OTEL_EXPORTER_OTLP_ENDPOINT (and OTEL_SERVICE_NAME, "
            "OTEL_EXPORTER_OTLP_HEADERS) to also export spans and metrics over OTLP."
        )
    if "sentry" not in exporters.asked:
        print("Sentry: set SENTRY_DSN (and SENTRY_ENVIRONMENT) to also capture failed streams.")
    return 0


def _has_l0() -> bool:
    try:
        import l0  # noqa: F401
    except ImportError:
        return False
    return True


_EXPORT_DEADLINE = 3.0  # seconds the demo waits for each exporter at its end


class _EnvExporters:
    """OTLP / Sentry exporters configured from the environment, when it asks for them."""

    def __init__(self) -> None:
        self.exports: dict[str, Callable[[Telemetry], Any]] = {}
        self.closers: list[Callable[[], str]] = []
        self.asked: set[str] = set()  # configured by the environment, active or not

    def __call__(self, t: Telemetry) -> None:
        for export in self.exports.values():
            export(t)

    def close(self) -> None:
        """Stop the exporters side by side (one deadline) and print what each delivered."""
        lines: list[str | None] = [None] * len(self.closers)

        def run(i: int, close: Callable[[], str]) -> None:
            lines[i] = close()

        threads = [threading.Thread(target=run, args=(i, c), daemon=True)
                   for i, c in enumerate(self.closers)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(_EXPORT_DEADLINE + 1.0)
        for line in lines:
            print(line or "an exporter did not stop in time; its delivery is unknown")


def _env_exporters() -> _EnvExporters:
    """Build the exporters the environment asks for (OTLP endpoint, Sentry DSN)."""
    out = _EnvExporters()
    if any(os.environ.get(f"OTEL_EXPORTER_OTLP_{s}ENDPOINT") for s in ("", "TRACES_", "METRICS_")):
        out.asked.add("otel")
        from .otel import OpenTelemetryExporter
        from .settings import OpenTelemetryExporterConfig

        otel_config = OpenTelemetryExporterConfig.from_env()
        if not otel_config.enabled:
            # Nothing is exported, so no delivery summary (not "0 of 0 delivered").
            print("OpenTelemetry: disabled by OTEL_SDK_DISABLED=true; nothing is exported")
        else:
            _add_otel(out, OpenTelemetryExporter(otel_config))
    if os.environ.get("SENTRY_DSN"):
        out.asked.add("sentry")
        from .sentry import SentryExporter
        from .settings import SentryExporterConfig

        sentry = SentryExporter(SentryExporterConfig.from_env())
        sentry.init()
        if not sentry.active:
            # A malformed SENTRY_DSN was reported and ignored; nothing is captured.
            print("Sentry: not active (SENTRY_DSN was not usable); nothing is captured")
        else:
            _add_sentry(out, sentry)
    return out


def _add_otel(out: _EnvExporters, otel: OpenTelemetryExporter) -> None:
    out.exports["otel"] = otel.export
    where = otel.config.signal("traces").shown_endpoint  # never the URL's credentials
    print(f"OpenTelemetry: exporting to {where}")

    def close_otel() -> str:
        # A collector that refuses or never answers costs at most 3 s here.
        otel.shutdown(timeout=min(otel.config.timeout, _EXPORT_DEADLINE))
        s = otel.stats()
        line = f"OpenTelemetry: {s['exported']} of {s['accepted']} records delivered to {where}"
        missing = s["accepted"] - s["exported"]
        if missing or s["failed_exports"]:
            line += (f"; NOT delivered: {missing} ({s['failed']} failed, {s['dropped']} "
                     f"dropped, {s['errors']} errors), {s['failed_exports']} failed "
                     "export request(s)")  # fmt: skip
        return line

    out.closers.append(close_otel)


def _add_sentry(out: _EnvExporters, sentry: SentryExporter) -> None:
    out.exports["sentry"] = sentry.capture_telemetry_error
    print("Sentry: capturing failed streams (DSN from SENTRY_DSN)")

    def close_sentry() -> str:
        sentry.close(timeout=_EXPORT_DEADLINE)
        s = sentry.stats()
        line = f"Sentry: {s['sent']} of {s['captured']} failed-stream events sent"
        if s["lost"] or s["not_sent"] or s["errors"]:
            line += (f"; NOT sent: {s['lost']} lost, {s['not_sent']} refused or sampled "
                     f"out, {s['errors']} errors")  # fmt: skip
        return line

    out.closers.append(close_sentry)


@contextlib.contextmanager
def _open(path: Path, mode: str = "w") -> Iterator[IO[str]]:
    try:
        f = path.open(mode, encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot open {path}: {exc.strerror}") from None
    with f:
        yield f


# Kinds each command refuses, naming the file's kind and the command that reads it
# (l0_monitoring/_internal/filekind.py). Lines a reader cannot parse (plain text,
# odd JSON) are not refused: the readers count and report them.
_NOT_EVENTS = frozenset({"telemetry", "telemetry-array", "aggregates", "prometheus", "csv",
                         "html", "binary"})  # fmt: skip
_EVENT_LOG = "an event log (events.jsonl)"


def _refuse_kind(label: str, kind: Any, command: str, reads: str, refused: Iterable[str]) -> None:
    from ._internal.filekind import wrong_kind

    if kind.key in refused:
        raise UsageError(wrong_kind(label, kind, command, reads))


def _event_source(name: str) -> str | Iterable[str]:
    """The event log ``name`` for iter_events (``-``: standard input), checked to be one.

    A regular file is passed on by path (the recording module reads it, with its
    own handling of bad bytes); standard input and pipes (``<(zcat log.gz)``) can
    only be read once, so their first lines are kept and chained back in front.
    """
    import itertools

    if name == "-":
        # Bytes, through the one line reader of every reader (bounded line
        # length, bad UTF-8 per line, a BOM dropped): never a whole line in memory.
        stdin: Any = getattr(sys.stdin, "buffer", sys.stdin)
        source: Iterator[str] = _bounded_lines(stdin)
        label = "standard input"
    else:
        path = Path(name)
        _readable(path)
        if path.is_file():
            _text_file(path)  # a binary file: one line, exit 2
        source = _file_lines(path)
        label = str(path)
    from ._internal.filekind import sniff_file, sniff_text

    head: list[str] = []
    if name != "-" and Path(name).is_file():
        _refuse_kind(label, sniff_file(Path(name)), "replay", _EVENT_LOG, _NOT_EVENTS)
    else:
        for line in source:
            head.append(line)
            if line.strip():
                _refuse_kind(label, sniff_text(line), "replay", _EVENT_LOG, _NOT_EVENTS)
                break
    if name != "-" and Path(name).is_file():
        close = getattr(source, "close", None)
        if close is not None:
            close()
        return name
    return itertools.chain(head, source)


def _file_lines(path: Path) -> Iterator[str]:
    with path.open("rb") as f:
        yield from _bounded_lines(f)


def _bounded_lines(f: Any) -> Iterator[str]:
    from .recording import numbered_lines

    for _, line in numbered_lines(f):
        yield line


def _quiet_skipped_line_warnings() -> contextlib.ExitStack:
    """Drop the library's per-line warnings during a replay: the command prints one summary."""
    import logging

    class _Filter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            args = record.args if isinstance(record.args, tuple) else ()
            first = str(args[0]) if args else str(record.msg)
            return not first.startswith("l0_monitoring: skipped malformed event log")

    logger = logging.getLogger("l0_monitoring")
    quiet = _Filter()
    logger.addFilter(quiet)
    stack = contextlib.ExitStack()
    stack.callback(logger.removeFilter, quiet)
    return stack


class _LogRead:
    """What feeding an event log did: lines skipped, streams left in flight at its end."""

    def __init__(self) -> None:
        from .recording import ReplayResult

        self.result = ReplayResult()
        self.unfinished = 0

    def notes(self, unfinished_fate: str | None) -> list[str]:
        """The lines every command prints about the log, once each (stderr).

        ``unfinished_fate`` says what the command did with streams still in
        flight (None: the command states it elsewhere).
        """
        out = []
        if self.result.skipped:
            first = self.result.errors[0][1] if self.result.errors else ""
            out.append(f"l0-monitoring: skipped {_plural(self.result.skipped, 'malformed line')}"
                       f"; first: {first}")  # fmt: skip
        if self.unfinished and unfinished_fate is not None:
            out.append(f"l0-monitoring: {_plural(self.unfinished, 'stream')} still in flight at "
                       f"the end of the log (a live or cut log): {unfinished_fate}")  # fmt: skip
        return out


def _lines_counting_bytes(path: Path, progress: Callable[[int], None]) -> Iterator[str]:
    """The lines of an event log, advancing ``progress`` by the bytes read (per 1024 lines)."""
    # The recording module's reader: the same line-length bound and UTF-8 handling
    # as iter_events(path).
    from .recording import _read_lines

    with path.open("rb") as f:
        done = lines = 0
        for line in _read_lines(f):
            yield line
            lines += 1
            if lines == 1024:
                lines = 0
                now = f.tell()
                progress(now - done)
                done = now
        progress(f.tell() - done)


def _feed_log(
    source: Any,
    handle: Callable[[Any], None],
    in_flight: Callable[[], int],
    progress: Callable[[int], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> _LogRead:
    """Feed an event log to ``handle`` (replay and check): one summary of skipped lines.

    The library's per-line warnings are silenced here; the caller prints
    :meth:`_LogRead.notes`. ``progress`` gets the bytes (a file) or events read.
    """
    from .recording import iter_events

    read = _LogRead()
    pending = 0
    with _quiet_skipped_line_warnings():
        for event in iter_events(source, result=read.result):
            handle(event)
            if stop is not None and stop():
                raise BrokenPipeError
            pending += 1
            if progress is not None and pending == 1024:  # one call per 1024 events
                progress(pending)
                pending = 0
    if progress is not None:
        progress(pending)
    read.unfinished = in_flight()
    return read


def cmd_replay(args: argparse.Namespace) -> int:
    """Feed a recorded event log through a Monitor and print the result."""
    lines = _event_source(args.events)
    from .exporters import TelemetryExporter
    from .monitor import Monitor
    from .report import SummaryBuilder

    config = _config(args.config).model_copy(update={"flush_interval": 0.0})
    builder = SummaryBuilder(config.metrics)
    writer = RecordWriter(sys.stdout, args.format) if args.format in (
        "json", "jsonl", "csv", "log") else None  # fmt: skip
    closed = False

    def on_complete(t: Telemetry) -> None:
        nonlocal closed
        builder.add(t)
        if writer is not None and not closed:
            try:
                writer(t)
            except BrokenPipeError:  # the reader went away (`| head -1`): stop at once
                closed = True

    monitor = Monitor(config, on_complete=on_complete)
    # A file's size is known: the bar counts its bytes (percentage and ETA); a pipe
    # or standard input shows the events read and the rate.
    size = Path(lines).stat().st_size if isinstance(lines, str) else None
    with _progress(size, sys.stderr, "B" if size is not None else "event",
                   scale=True) as progress:  # fmt: skip
        per_event: _Bar | None = progress
        if isinstance(lines, str):
            lines, per_event = _lines_counting_bytes(Path(lines), progress), None
        read = _feed_log(lines, monitor.handle_event, lambda: monitor.stats()["in_flight"],
                         per_event, lambda: closed)  # fmt: skip
        monitor.close()
    if closed:
        raise BrokenPipeError
    if writer is not None:
        writer.close()
    elif args.format == "prometheus":
        sys.stdout.write(TelemetryExporter.to_prometheus(monitor))
    else:
        _print_summary(builder, sys.stdout, total=monitor.get_aggregate_metrics()["count"])
    sys.stdout.flush()
    for note in read.notes("ended as abandoned when the replay closed (as a live Monitor's "
                           "close() does)"):  # fmt: skip
        print(note, file=sys.stderr)
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    """Write the JSON Schemas, or check that a folder is up to date."""
    from .schemas import check_schemas, write_schemas

    if args.check:
        problems = check_schemas(args.out)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            print(f"schemas in {args.out} are stale: run l0-monitoring schemas --out {args.out}",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"schemas in {args.out} are up to date")
        return 0
    try:
        paths = write_schemas(args.out)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def _validators() -> dict[str, Callable[[Any], object]]:
    """One validating callable per published schema name (the readers' own contract)."""
    from pydantic import BaseModel

    import l0_monitoring as pkg

    from . import settings
    from .events import ObservabilityEvent
    from .schemas import published_models
    from .telemetry import validate_aggregate_metrics

    def settings_validator(cls: Any) -> Callable[[Any], object]:
        def check(data: Any) -> object:
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            return cls.from_env({}, **data)  # the file alone, not this process's environment

        return check

    def event(data: Any) -> object:
        return ObservabilityEvent.from_dict(data, document=True)

    out: dict[str, Callable[[Any], object]] = {}
    for name in published_models():
        if name == "ObservabilityEvent":
            out[name] = event
        elif name == "AggregateMetrics":
            out[name] = validate_aggregate_metrics
        elif name in settings.PUBLISHED:
            out[name] = settings_validator(getattr(settings, name))
        else:
            model: type[BaseModel] = getattr(pkg, name)
            out[name] = model.model_validate
    return out


def _describe(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(document)"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{loc}: {err.get('msg')}{more}"
    return str(exc)


# Tried, in this order, to say what a rejected document looks like instead.
_LOOKALIKES = ("Telemetry", "ObservabilityEvent", "AggregateMetrics", "MonitoringConfig")


_WHOLE_DOCUMENT_BYTES = 64 << 20  # a file without .jsonl read whole as one JSON document, at most


def _documents(path: Path) -> Iterator[tuple[int, str]]:
    """The documents of a file: one per non-blank line for JSON Lines, else the whole text.

    JSON Lines are streamed by the one line reader of every reader
    (``recording.numbered_lines``: a line longer than ``MAX_LINE_BYTES`` or not
    UTF-8 comes back as a ``_BadLine``; a leading BOM is dropped), so a file of
    any size is validated in flat memory. A ``.json`` file (or a file without
    ``.jsonl`` whose first line is not a JSON document, up to 64 MiB) is one
    JSON document.
    """
    from ._internal.contract import is_blank, loads
    from ._internal.safe import clean_text
    from .recording import _BadLine, numbered_lines

    whole = path.suffix == ".json"
    if not whole and path.suffix != ".jsonl" and path.is_file():
        first = next(((n, t) for n, t in numbered_lines(path) if not is_blank(t)), None)
        if first is not None and first[1].__class__ is not _BadLine:
            try:
                loads(first[1])
            except ValueError:  # not a document alone: one pretty-printed document?
                whole = path.stat().st_size <= _WHOLE_DOCUMENT_BYTES
    if whole:
        text = path.read_bytes().decode("utf-8", "surrogateescape").removeprefix("\ufeff")
        if not is_blank(text):
            # Undecodable bytes became lone surrogates: the document is rejected.
            yield 1, text if clean_text(text) is text else _BadLine("not valid UTF-8")
        return
    for number, line in numbered_lines(path):
        if not is_blank(line):
            yield number, line


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a JSON or JSON Lines file against a published model."""
    from pydantic import ValidationError

    from ._internal.contract import loads

    path = Path(args.file)
    _readable(path)
    _text_file(path)
    validators = _validators()
    check = validators.get(args.schema)
    if check is None:
        raise UsageError(f"unknown schema {args.schema!r}; one of: {', '.join(sorted(validators))}")
    from .recording import _BadLine

    valid = invalid = 0
    lookalikes: dict[str, int] = {}
    empty = True
    for number, raw in _documents(path):
        empty = False
        try:
            if raw.__class__ is _BadLine:  # not UTF-8, or too long: the line replay skips
                raise ValueError(raw.removesuffix("; skipped"))
            data = loads(raw)
        except (ValueError, RecursionError) as exc:
            invalid += 1
            if invalid <= 50:
                print(f"line {number}: invalid JSON: {exc}")
            continue
        # A .json file is one document, as ajv and jsonschema read it: an array
        # is one invalid document for an object schema, never a list of them.
        try:
            check(data)
        except (ValidationError, ValueError) as exc:
            invalid += 1
            if invalid <= 50:
                hint = ""
                if isinstance(data, list):
                    hint = " (a JSON array; one document per line is JSON Lines, .jsonl)"
                print(f"line {number}: {_describe(exc)}{hint}")
            other = _looks_like(data, validators, args.schema)
            if other:
                lookalikes[other] = lookalikes.get(other, 0) + 1
        else:
            valid += 1
    if empty:
        print(f"{path}: empty file, no documents to validate ({args.schema})")
        return 1
    if invalid > 50:
        print(f"... {invalid - 50} more invalid document(s) not shown")
    print(f"{path}: {valid} valid, {invalid} invalid ({args.schema})")
    for other, n in sorted(lookalikes.items(), key=lambda kv: -kv[1]):
        print(f"{n} invalid document(s) are valid {other} documents: "
              f"did you mean --schema {other}?")  # fmt: skip
    return 1 if invalid else 0


def _looks_like(item: Any, validators: dict[str, Callable[[Any], object]], chosen: str) -> str:
    """The other schema ``item`` is a plausible instance of, or ``""``.

    Only a non-empty object is a plausible instance: ``{}`` is a valid
    configuration (every key has a default) but says nothing about what the
    user meant. A record schema also needs each of its required keys, which
    validation checks; a closed configuration needs only known keys.
    """
    from pydantic import ValidationError

    if not isinstance(item, dict) or not item:
        return ""
    for name in _LOOKALIKES:
        if name == chosen:
            continue
        try:
            validators[name](item)
        except (ValidationError, ValueError):
            continue
        return name
    return ""


_TELEMETRY = "telemetry records (telemetry.jsonl)"


def _beside(path: Path, kept: int) -> tuple[int | None, dict[str, Any] | None, Path | None]:
    """Every stream's count and aggregates saved next to telemetry records, when there.

    The demo writes aggregates.json and metrics.prom beside telemetry.jsonl;
    ``check`` reads the same files to tell that records were tail-sampled.

    Returns:
        (streams counted, the aggregates, the file counted from); Nones when
        nothing usable is there (a count below ``kept`` is another run's).
    """
    import json

    agg_path = path.with_name("aggregates.json")
    try:
        agg = json.loads(agg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        agg = None
    if isinstance(agg, dict) and isinstance(agg.get("count"), int) and agg["count"] >= kept:
        return agg["count"], agg, agg_path
    counted = _streams_counted_beside(path)
    if counted is not None and counted[0] >= kept:
        return counted[0], None, counted[1]
    return None, None, None


def cmd_report(args: argparse.Namespace) -> int:
    """Render an HTML report from telemetry JSON Lines."""
    from ._internal.filekind import sniff_file, sniff_text
    from .exporters import TelemetryExporter
    from .report import render_html, streams_note

    refused = _NOT_EVENTS - {"telemetry"} | {"events"}
    if args.telemetry == "-":
        path, label = None, "standard input"
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")  # type: ignore[union-attr]
        text = sys.stdin.read()
        _refuse_kind(label, sniff_text(text[:65536], text), "report", _TELEMETRY, refused)
        source: Any = text
    else:
        path = Path(args.telemetry)
        label = str(path)
        _readable(path)
        if path.is_file():
            _text_file(path)
            _refuse_kind(label, sniff_file(path), "report", _TELEMETRY, refused)
        source = None
    slo = _slo_targets(args)
    metrics = _config(args.config).metrics if args.config else None
    try:
        if source is None:
            with _open(path, "r") as f:  # type: ignore[arg-type]
                records = TelemetryExporter.from_jsonl(f)
        else:
            records = TelemetryExporter.from_jsonl(source)
    except ValueError as exc:
        raise UsageError(f"{label}: {exc}") from None
    total, aggregates, counted_in = (None, None, None) if path is None else _beside(
        path, len(records))  # fmt: skip
    notes = []
    if total is not None and total > len(records) and aggregates is None:
        notes.append(
            f"Warning: {counted_in} counts {total} streams but these are {len(records)} "
            "records kept by tail sampling (errors and slow streams are always kept), and no "
            "aggregates.json is beside them: every SLO value here comes from the kept records "
            "and overstates error and retry rates. Gate on the event log with "
            "`l0-monitoring check events.jsonl`."
        )
    try:
        page = render_html(records, f"l0-monitoring report: {path.name if path else 'stdin'}",
                           total=total, aggregates=aggregates, slo=slo, metrics=metrics,
                           notes=notes)  # fmt: skip
    except ImportError as exc:  # the report extra is not installed
        raise UsageError(str(exc)) from None
    what = streams_note(total, len(records))
    if args.html == "-":
        sys.stdout.write(page)
        sys.stdout.flush()
        print(f"wrote the report to standard output ({what})", file=sys.stderr)
    else:
        out = Path(args.html)
        try:
            out.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror}") from None
        sampled = total is not None and total != len(records)
        print(f"wrote {out} ({what}"
              + (f"; every stream counted in {counted_in}" if sampled else "") + ")")  # fmt: skip
    for note in notes:
        print(f"l0-monitoring: {note}", file=sys.stderr)
    return 0


def _readable(path: Path) -> None:
    # Pipes and devices are fine (`replay <(zcat events.jsonl.gz)`); folders are not.
    if path.is_dir():
        raise UsageError(f"cannot read {path}: it is a directory, not a file")
    if not path.exists():
        raise UsageError(f"cannot read {path}: no such file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {path}: permission denied")


# -- SLO targets: check and generate --------------------------------------------------------


def _slo_targets(args: argparse.Namespace) -> Any:
    from .prometheus.slo import SLOConfig

    if args.slo is not None:
        _readable(Path(args.slo))
    try:
        return SLOConfig.load(args.slo)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


_STREAMS_LINE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*_streams_total\{[^}]*\}\s+(\S+)", re.M)


def _streams_counted_beside(path: Path) -> tuple[int, Path] | None:
    """Streams counted in a ``metrics.prom`` next to a telemetry file (the demo writes both)."""
    prom = path.with_name("metrics.prom")
    try:
        text = prom.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        total = sum(int(float(v)) for v in _STREAMS_LINE.findall(text))
    except ValueError:
        return None
    return (total, prom) if total else None


def _records_result(
    path: Path, records: list[Telemetry], slo: Any, unsampled: bool, metrics: Any = None
) -> tuple[list[Any], str, list[str]]:
    """Telemetry records are what a Monitor kept: refuse or warn about tail sampling."""
    from .prometheus.slo import evaluate_records

    counted = _streams_counted_beside(path)
    if counted is not None and counted[0] > len(records):
        events = path.with_name("events.jsonl")
        instead = f"check {events}" if events.is_file() else "check the event log or aggregates"
        raise UsageError(
            f"{path} holds {len(records)} of the {counted[0]} streams counted in {counted[1]}: "
            "the records were tail-sampled (errors and slow streams are always kept), so "
            f"rates and quantiles from them are biased; {instead} (every stream) instead"
        )
    notes = []
    if not unsampled:
        notes.append(
            "warning: telemetry records are the streams a Monitor kept; with tail sampling "
            "(sampling.rate < 1 or min_duration) errors and slow streams are over-represented "
            "and these rates are biased. Gate on the event log (events.jsonl) or saved "
            "aggregates (Monitor.get_aggregate_metrics()), which count every stream; "
            "--unsampled states that this file holds every stream."
        )
    return (evaluate_records(records, slo, metrics),
            f"{_plural(len(records), 'telemetry record')}", notes)  # fmt: skip


_CHECK_READS = "telemetry records (telemetry.jsonl), an event log or saved aggregates (JSON)"


def _check_results(
    path: Path, slo: Any, unsampled: bool = False, metrics: Any = None
) -> tuple[list[Any], str, list[str]]:
    """Measure a telemetry log, an event log or an aggregates file against the targets.

    Returns:
        The results, what was measured, and notes for stderr.
    """
    import json

    from pydantic import ValidationError

    from .config import MonitoringConfig
    from .exporters import TelemetryExporter
    from .monitor import Monitor
    from .prometheus.slo import evaluate_aggregates, evaluate_records
    from .telemetry import Telemetry

    if path.is_file():
        from ._internal.filekind import sniff_file

        _refuse_kind(str(path), sniff_file(path), "check", _CHECK_READS,
                     {"prometheus", "csv", "html", "binary"})  # fmt: skip
    with _open(path, "r") as f:
        first = ""
        for line in f:
            if line.strip():
                first = line.strip()
                break
    if not first:
        return evaluate_records([], slo), "empty file", []
    try:
        head = json.loads(first)
    except ValueError:
        head = None
    if isinstance(head, dict) and "metrics" not in head and {"type", "stream_id"} <= set(head):
        records: list[Telemetry] = []
        monitor = Monitor(MonitoringConfig(buffer_size=1), on_complete=records.append)
        read = _feed_log(path, monitor.handle_event, lambda: monitor.stats()["in_flight"])
        finished = len(records)
        monitor.close()
        # Streams still in flight at the end of the log (a live or cut log) have no
        # outcome yet: close() would end them as abandoned; they are left out instead.
        del records[finished:]
        what = f"{_plural(finished, 'stream')} replayed from events"
        if read.unfinished:
            what += (f"; {read.unfinished} more still in flight at the end of the log "
                     "(unfinished: excluded from every rate)")  # fmt: skip
        notes = read.notes(None)  # the count is in the heading line
        return evaluate_records(records, slo, metrics), what, notes
    text = path.read_text(encoding="utf-8")
    try:
        if isinstance(head, dict) and "metrics" in head:
            records = TelemetryExporter.from_jsonl(text)
            return _records_result(path, records, slo, unsampled, metrics)
        data = json.loads(text)
        if isinstance(data, list):
            records = [Telemetry.model_validate(item) for item in data]
            return _records_result(path, records, slo, unsampled, metrics)
    except (ValueError, ValidationError) as exc:
        from ._internal.filekind import sniff_text

        kind = sniff_text(first).name if head is None else None
        if kind is not None:
            raise UsageError(
                f"{path}: this looks like {kind}, not JSON; check reads telemetry JSON Lines "
                "(telemetry.jsonl), an event log (events.jsonl) or saved aggregates (JSON)"
            ) from None
        raise UsageError(f"{path}: {_describe(exc)}") from None
    if isinstance(data, dict) and isinstance(data.get("count"), int):
        return (evaluate_aggregates(data, slo, metrics),
                f"aggregates of {_plural(data['count'], 'stream')}", [])  # fmt: skip
    raise UsageError(
        f"{path}: expected telemetry JSON Lines, an event log or saved aggregates (JSON)"
    )


def _show_against(value: float, target: float, unit: str) -> str:
    """A measured value, with as many digits as needed to never print equal to its target."""
    from decimal import Decimal

    from .prometheus.slo import format_number

    ratio = unit == "ratio"
    scale = 100 if ratio else 1
    goal = Decimal(repr(float(target))) * scale
    number = ""
    for digits in range(2 if ratio else 3, 18):
        if ratio:
            number = f"{value * 100:.{digits}f}"
        else:
            number = format_number(float(f"{value:.{digits}g}"))
        if value == target or Decimal(number) != goal:
            break
    return f"{number}%" if ratio else f"{number} {unit}"


def _show_target(target: float, unit: str) -> str:
    from .prometheus.slo import format_number, format_percent

    return format_percent(target) if unit == "ratio" else f"{format_number(target)} {unit}"


def cmd_check(args: argparse.Namespace) -> int:
    """Evaluate records or aggregates against the SLO targets; exit 1 when one is missed."""
    from .report import format_table

    path = Path(args.file)
    _readable(path)
    slo = _slo_targets(args)
    metrics = _config(args.config).metrics if args.config else None
    results, what, notes = _check_results(path, slo, args.unsampled, metrics)
    for note in notes:
        print(note, file=sys.stderr)

    rows = [
        [r.name, ("n/a" if r.collected else "not collected") if r.value is None
         else _show_against(r.value, r.target, r.unit),
         f"{r.direction} {_show_target(r.target, r.unit)}",
         {True: "pass", False: "FAIL", None: "n/a"}[r.passed]]
        for r in results
    ]  # fmt: skip
    print(f"{path}: {what}")
    print(format_table(rows, ["SLO", "value", "target", "result"]))
    evaluated = [r for r in results if r.passed is not None]
    if not evaluated:
        print("nothing to evaluate: no finished streams", file=sys.stderr)
        return 1
    missed = [r.name for r in evaluated if r.passed is False]
    absent = [r.name for r in results if r.passed is None]
    print(f"{len(evaluated)} of {len(results)} targets evaluated, {len(missed)} missed"
          + (f": {', '.join(missed)}" if missed else ""))  # fmt: skip
    if absent:
        print(f"not evaluated (no data for them in this input, not counted as passed): "
              f"{', '.join(absent)}" + ("; --require-all makes this a failure"
                                        if not args.require_all else ""))  # fmt: skip
    return 1 if missed or (absent and args.require_all) else 0


def cmd_slo_generate(args: argparse.Namespace) -> int:
    """Write (or check) the Prometheus rule file and the Grafana dashboard."""
    from .prometheus.slo import check_artifacts, write_artifacts

    slo = _slo_targets(args)
    if args.check:
        problems = check_artifacts(args.out, slo)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            print(f"run: l0-monitoring slo generate --out {args.out}", file=sys.stderr)
            return 1
        print(f"rules and dashboard under {args.out} are up to date")
        return 0
    try:
        paths = write_artifacts(args.out, slo)
    except OSError as exc:
        raise UsageError(f"cannot write under {args.out}: {exc.strerror}") from None
    for path in paths:
        print(f"wrote {path}")
    return 0


def _add_slo_commands(sub: Any) -> None:
    check = sub.add_parser(
        "check", formatter_class=_formatter, help="gate on the SLO targets (exit 1 if missed)",
        description="Measure a telemetry log (telemetry.jsonl), an event log (events.jsonl, "
        "replayed) or saved aggregates (JSON of Monitor.get_aggregate_metrics()) against the "
        "targets: TTFT p90 < 1 s, tokens/s p10 > 20, error rate < 1%%, retry rate < 5%%, "
        "guardrail violations < 1%% by default. Prints value, target and pass/fail per "
        "target; exits 1 when any target is missed (a CI or canary gate).",
        epilog="examples:\n  l0-monitoring check l0-telemetry/telemetry.jsonl\n  "
        "l0-monitoring check aggregates.json --slo slo.toml\n  "
        "L0_SLO_TTFT_SECONDS=0.8 l0-monitoring check telemetry.jsonl",
    )  # fmt: skip
    check.add_argument("file", help="telemetry .jsonl, event log .jsonl or aggregates .json")
    check.add_argument("--slo", help="targets file (.toml or .json) overriding the defaults")
    check.add_argument("--config", choices=sorted(PRESETS),
                       help="the MonitoringConfig preset the data was collected with "
                       "(targets whose data it does not collect are n/a, not passed)")  # fmt: skip
    check.add_argument(
        "--unsampled",
        action="store_true",
        help="the telemetry records hold every stream (no tail sampling): no bias warning",
    )
    check.add_argument(
        "--require-all",
        action="store_true",
        help="exit 1 when a target cannot be evaluated from the input (n/a), not only missed",
    )
    check.set_defaults(func=cmd_check)

    slo = sub.add_parser(
        "slo", formatter_class=_formatter, help="generate Prometheus rules and a Grafana dashboard",
        description="Generate deploy/prometheus/l0-rules.yml (recording and alerting rules) and "
        "deploy/grafana/l0-dashboard.json from the SLO targets (defaults, --slo FILE, "
        "L0_SLO_* variables).",
        epilog="examples:\n  l0-monitoring slo generate\n  l0-monitoring slo generate "
        "--slo slo.toml --out .\n  l0-monitoring slo generate --check",
    )  # fmt: skip
    actions = slo.add_subparsers(dest="slo_command", metavar="ACTION", parser_class=_Parser)
    generate = actions.add_parser(
        "generate", formatter_class=_formatter, help="write (or --check) rules and dashboard"
    )
    generate.add_argument("--out", default=".", help="root folder (default .)")
    generate.add_argument("--slo", help="targets file (.toml or .json)")
    generate.add_argument("--check", action="store_true", help="exit 1 if the files are stale")
    generate.set_defaults(func=cmd_slo_generate)


def _text_file(path: Path) -> None:
    """Refuse (one line, exit 2) a file that is not text.

    Not text: a NUL byte in the first 8 KiB, or most of its lines there not
    UTF-8. A few undecodable lines are skipped and counted by the readers.
    """
    try:
        with path.open("rb") as f:
            head = f.read(8192)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = head.split(b"\n")
    bad = 0
    for i, line in enumerate(lines):
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:  # the last line may be cut inside a character at 8 KiB
            decoder.decode(line, final=i < len(lines) - 1)
        except UnicodeDecodeError:
            bad += 1
    if b"\x00" in head or bad * 2 > len(lines):
        raise UsageError(f"{path} is not a text file (expected UTF-8 JSON Lines)")


# -- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``l0-monitoring``."""
    parser = _Parser(
        prog="l0-monitoring", formatter_class=_formatter,
        description="Telemetry for L0 LLM streams: demo, replay, schemas, validate, report.",
        epilog="examples:\n  l0-monitoring demo\n  l0-monitoring replay l0-telemetry/events.jsonl"
        "\n  l0-monitoring schemas --check\n  l0-monitoring validate telemetry.jsonl\n"
        "  l0-monitoring report l0-telemetry/telemetry.jsonl --html report.html",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo", formatter_class=_formatter, help="run simulated LLM traffic end to end",
        description="Run simulated LLM traffic (several models, retries, failures, guardrail "
        "violations, aborts) through the real L0 runtime when installed, else the built-in "
        "simulator, and write events.jsonl, telemetry.jsonl, telemetry.csv, metrics.prom and "
        "report.html. With OTEL_EXPORTER_OTLP_ENDPOINT or SENTRY_DSN set, also exports there.",
        epilog="examples:\n  l0-monitoring demo\n  l0-monitoring demo --streams 1000 "
        "--concurrency 32 --seed 1 --out /tmp/l0\n  l0-monitoring demo --config production",
    )  # fmt: skip
    demo.add_argument("--streams", type=int, default=200, help="streams to run (default 200)")
    demo.add_argument("--concurrency", type=int, default=16, help="streams at once (default 16)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--out", default="l0-telemetry", help="output folder (default l0-telemetry)")
    demo.add_argument("--config", choices=sorted(PRESETS), default="default",
                      help="MonitoringConfig preset (default: default)")  # fmt: skip
    demo.add_argument(
        "--speed",
        type=float,
        default=10.0,
        help="real-runtime time compression; timestamps are dilated back (10)",
    )
    demo.add_argument("--simulate", action="store_true",
                      help="use the built-in simulator even when l0 is installed "
                      "(fully deterministic, no sleeping)")  # fmt: skip
    demo.set_defaults(func=cmd_demo)

    replay = sub.add_parser(
        "replay", formatter_class=_formatter, help="replay a recorded event log",
        description="Stream a recorded event log (JSON Lines) through a Monitor; memory stays "
        "flat. The telemetry equals the live run's for the same --config.",
        epilog="examples:\n  l0-monitoring replay events.jsonl\n  l0-monitoring replay "
        "events.jsonl --format prometheus\n  l0-monitoring replay events.jsonl --format csv > "
        "t.csv",
    )  # fmt: skip
    replay.add_argument("events", help="the event log (.jsonl); - reads standard input")
    replay.add_argument("--format", choices=["table", "json", "jsonl", "csv", "prometheus", "log"],
                        default="table", help="output format (default table)")  # fmt: skip
    replay.add_argument("--config", choices=sorted(PRESETS), default="default",
                        help="MonitoringConfig preset (default: default)")  # fmt: skip
    replay.set_defaults(func=cmd_replay)

    schemas = sub.add_parser(
        "schemas", formatter_class=_formatter, help="write or check the JSON Schemas",
        description="Write one JSON Schema (draft 2020-12) per published model plus index.json.",
        epilog="examples:\n  l0-monitoring schemas --out schemas\n  l0-monitoring schemas "
        "--check   # exit 1 when the committed schemas are stale",
    )  # fmt: skip
    schemas.add_argument("--out", default="schemas", help="folder (default schemas)")
    schemas.add_argument("--check", action="store_true", help="exit 1 if the folder is stale")
    schemas.set_defaults(func=cmd_schemas)

    validate = sub.add_parser(
        "validate", formatter_class=_formatter, help="validate JSON / JSON Lines data",
        description="Validate a JSON or JSON Lines file against a published model; each "
        "error names the line and the field. Exit 1 when anything is invalid.",
        epilog="examples:\n  l0-monitoring validate l0-telemetry/telemetry.jsonl\n  "
        "l0-monitoring validate l0-telemetry/events.jsonl --schema ObservabilityEvent\n  "
        "l0-monitoring validate config.json --schema MonitoringConfig",
    )  # fmt: skip
    validate.add_argument("file", help="a .json or .jsonl file")
    validate.add_argument("--schema", default="Telemetry", help="model name (default Telemetry)")
    validate.set_defaults(func=cmd_validate)

    report = sub.add_parser(
        "report", formatter_class=_formatter, help="render an HTML report",
        description="Render a self-contained HTML page (plots drawn by matplotlib as inline "
        "SVG) from telemetry JSON Lines: the SLO targets judged as `check` judges them, a "
        "per-model table, TTFT and tokens/s ECDFs and duration box plots per model, TTFT and "
        "error/retry/violation rates over time, errors by category, the slowest and the "
        "failed streams. With aggregates.json (or metrics.prom) beside the file, says how "
        "many streams sampling kept and takes the SLO rates from every stream.",
        epilog="examples:\n  l0-monitoring report l0-telemetry/telemetry.jsonl --html "
        "report.html\n  l0-monitoring report - --html - < telemetry.jsonl > report.html\n  "
        "l0-monitoring report telemetry.jsonl --html r.html --slo slo.toml --config minimal",
    )  # fmt: skip
    report.add_argument("telemetry", help="telemetry .jsonl; - reads standard input")
    report.add_argument("--html", required=True, help="output .html path; - writes standard output")
    report.add_argument("--slo", help="targets file (.toml or .json), as for `check`")
    report.add_argument("--config", choices=sorted(PRESETS),
                        help="the MonitoringConfig preset the records were collected "
                        "with (targets whose data it does not collect show 'not "
                        "collected')")  # fmt: skip
    report.set_defaults(func=cmd_report)
    _add_slo_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``l0-monitoring`` console script."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        return code
    except UsageError as exc:
        print(f"l0-monitoring: error: {exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:  # a binary file given where text is expected
        print(f"l0-monitoring: error: the input is not UTF-8 text ({exc.reason} at byte "
              f"{exc.start})", file=sys.stderr)  # fmt: skip
        return 2
    except BrokenPipeError:
        # The reader closed the pipe (`| head -1`): end quietly and at once, with
        # exit status 0 whatever the format. Whether a write meets the closed pipe
        # depends on timing (output that fits the pipe's buffer never does), so 0
        # is the only status that does not; it is what the reader asked for. As
        # the Python docs advise (signal module, "Note on SIGPIPE"), stdout is
        # pointed at devnull so the interpreter's final flush does not raise again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("l0-monitoring: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"l0-monitoring: error: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
