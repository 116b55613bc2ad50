"""What kind of file a command was given: one sniffer for replay, report, check and validate.

Every file the package writes has a recognisable start (the demo writes all of
them side by side, so handing one command another's file is an easy mistake):
an event log and telemetry records are JSON Lines told apart by their keys,
saved aggregates are one JSON object with ``count``, the exposition starts with
``# HELP``, the CSV export with its ``stream_id,`` header, the report with ``<``.
Only light modules are imported (the CLI's ``--help`` path stays fast).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileKind", "sniff_file", "sniff_text", "wrong_kind"]

_SNIFF_BYTES = 1 << 20  # a pretty-printed JSON document is parsed whole up to 1 MiB
_EXPOSITION_LINE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?\s+\S+(\s+\S+)?$")


@dataclass(frozen=True)
class FileKind:
    """A kind of file and the command that reads it.

    Attributes:
        key: ``events``, ``telemetry``, ``telemetry-array``, ``aggregates``,
            ``prometheus``, ``csv``, ``html``, ``json``, ``binary``, ``text``
            or ``empty``.
        name: What it is, for a person (``"an event log (events.jsonl)"``).
        use: What to do with it instead (``"l0-monitoring replay FILE"``).
    """

    key: str
    name: str
    use: str


EVENTS = FileKind(
    "events", "an event log (events.jsonl)", "`l0-monitoring replay FILE` or `check FILE`"
)
TELEMETRY = FileKind(
    "telemetry",
    "telemetry records (JSON Lines, like telemetry.jsonl)",
    "`l0-monitoring report FILE --html report.html` or `check FILE`",
)
TELEMETRY_ARRAY = FileKind(
    "telemetry-array", "a JSON array of telemetry records", "`l0-monitoring check FILE`"
)
AGGREGATES = FileKind(
    "aggregates",
    "saved aggregates (Monitor.get_aggregate_metrics() as JSON, like aggregates.json)",
    "`l0-monitoring check FILE`",
)
PROMETHEUS = FileKind(
    "prometheus",
    "a Prometheus exposition (metrics.prom, /metrics)",
    "serve or scrape it with Prometheus (no l0-monitoring command reads it)",
)
CSV = FileKind(
    "csv",
    "a CSV export (like telemetry.csv)",
    "open it in a spreadsheet; commands read the JSON Lines beside it (telemetry.jsonl)",
)
HTML = FileKind("html", "an HTML page (like report.html)", "open it in a browser")
JSON = FileKind("json", "a JSON document", "`l0-monitoring validate FILE --schema NAME`")
BINARY = FileKind("binary", "a binary file", "")
TEXT = FileKind("text", "plain text (not JSON)", "")
EMPTY = FileKind("empty", "an empty file", "")


def _of_object(data: object) -> FileKind:
    if isinstance(data, dict):
        if "type" in data and "stream_id" in data and "metrics" not in data:
            return EVENTS
        if "stream_id" in data and ("timing" in data or "metrics" in data):
            return TELEMETRY
        if isinstance(data.get("count"), int) and "error_rate" in data:
            return AGGREGATES
    if isinstance(data, list) and data and all(_of_object(d) is TELEMETRY for d in data[:3]):
        return TELEMETRY_ARRAY
    return JSON


def sniff_text(head: str, whole: str | None = None) -> FileKind:
    """The kind of a file from its beginning.

    Args:
        head: The first line(s) of the file (at least the first non-blank one).
        whole: The whole text when it is small, to recognise a pretty-printed
            JSON document (its first line is a lone ``{``).

    Returns:
        The kind (``TEXT`` when nothing matches).
    """
    first = next((line.strip() for line in head.splitlines() if line.strip()), "")
    if not first:
        return EMPTY
    if "\x00" in first:
        # Only a NUL says binary: a line of undecodable bytes in a text log is one
        # malformed line, which the readers skip and count.
        return BINARY
    if first.startswith(("# HELP", "# TYPE", "# EOF")) or _EXPOSITION_LINE.match(first):
        return PROMETHEUS
    if first.startswith("<"):
        return HTML
    if first.startswith("stream_id,"):
        return CSV
    try:
        return _of_object(json.loads(first))
    except ValueError:
        pass
    if first.startswith(("{", "[")) and whole is not None:
        try:
            return _of_object(json.loads(whole))
        except ValueError:
            return TEXT
    if first.startswith(("{", "[")):
        return JSON
    if first.count(",") >= 1:
        return CSV
    return TEXT


def sniff_file(path: Path) -> FileKind:
    """The kind of a regular file (reads at most 1 MiB).

    Raises:
        OSError: When the file cannot be read.
    """
    with path.open("rb") as f:
        data = f.read(_SNIFF_BYTES + 1)
    text = data[:_SNIFF_BYTES].decode("utf-8", "replace")
    return sniff_text(text[:65536], text if len(data) <= _SNIFF_BYTES else None)


def wrong_kind(label: str, kind: FileKind, command: str, reads: str) -> str:
    """The one-line message for a file of the wrong kind.

    Args:
        label: The file as the user named it.
        kind: What it is.
        command: The command given it (``replay``).
        reads: What that command reads (``"an event log (events.jsonl)"``).
    """
    use = f"; for this file: {kind.use.replace('FILE', label)}" if kind.use else ""
    return f"{label} is {kind.name}, not {reads} (what `{command}` reads){use}"
