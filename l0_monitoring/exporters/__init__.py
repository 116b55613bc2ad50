"""Pure, deterministic formatting of telemetry: JSON, dict, CSV, JSONL, logfmt, Prometheus.

No I/O happens here. Column names, JSON keys and log keys come from the
:class:`~l0_monitoring.Telemetry` model definition (see ``_layout``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import pydantic_core
from pydantic import ValidationError

from .._internal.safe import safe_repr, safe_str
from .._internal.series import SeriesSet
from ..telemetry import Telemetry
from . import prometheus_text
from ._layout import CSV_COLUMNS, LOG_FIELDS, Column

if TYPE_CHECKING:
    from ..monitor import Monitor

__all__ = ["TelemetryExporter"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The models defer their schema build to first use (a fast import); the exporters
# need the real serializer now.
Telemetry.model_rebuild()
_SERIALIZER = Telemetry.__pydantic_serializer__
_ESCAPE_START = frozenset({"=", "+", "-", "@", "\t", "\r", "'"})


def _csv_escape(text: str) -> str:
    # OWASP CSV injection: a cell a spreadsheet would read as a formula gets a
    # leading apostrophe; a cell that already starts with one gets another, so
    # the reader can always strip exactly one.
    if text and (text[0] in _FORMULA_START or text[0] == "'"):
        return "'" + text
    return text


def _csv_unescape(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def _column_indexes(kind: str) -> tuple[int, ...]:
    return tuple(i for i, c in enumerate(CSV_COLUMNS) if c.kind == kind)


# One C call per record reads every column (dotted paths reach into sections).
_CSV_ROW = attrgetter(*(".".join(c.path) for c in CSV_COLUMNS))
_CSV_STR = _column_indexes("str")
_CSV_DT = _column_indexes("datetime")
_CSV_JSON = _column_indexes("json")


_LOGFMT_PLAIN = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/+@,;()[]{}!?*#%&^~<>|$'"
)


def _logfmt_value(text: str) -> str:
    """Quote a logfmt value when it could be misread; escape so it can't forge keys/lines."""
    if text and all(c in _LOGFMT_PLAIN for c in text):
        return text
    out = []
    for c in text:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _get_path(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


class TelemetryExporter:
    """Export telemetry records to text and data formats.

    Every method is a pure function of its arguments and deterministic (sorted
    keys and labels, columns in model order), so output can be golden-tested.

    Example:
        >>> from l0_monitoring import Telemetry
        >>> TelemetryExporter.to_log_format(Telemetry(stream_id="abc", model="gpt-4o"))
        'stream_id=abc model=gpt-4o tokens=0 completed=false'
    """

    # ------------------------------------------------------------------ JSON

    @staticmethod
    def to_json(telemetry: Telemetry, indent: int | None = 2) -> str:
        """Return the record as JSON (``indent=None`` for compact output).

        Args:
            telemetry: The record.
            indent: Spaces per indentation level, or None for one line.

        Returns:
            The JSON text; ``Telemetry.model_validate_json`` parses it back.
        """
        return telemetry.model_dump_json(indent=indent)

    @staticmethod
    def to_dict(telemetry: Telemetry) -> dict[str, Any]:
        """Return the record as plain JSON data (datetimes as ISO 8601 strings)."""
        return telemetry.model_dump(mode="json")

    @staticmethod
    def to_jsonl(telemetry_list: Iterable[Telemetry]) -> str:
        """Return one compact JSON object per line, each line ending with a newline.

        Args:
            telemetry_list: The records.

        Returns:
            JSON Lines text ("" for no records). Newlines inside values are
            escaped by JSON, so each record is exactly one line.
        """
        # One small serializer buffer per record, joined once: faster than one
        # growing buffer for the whole list (which reallocates and copies as it
        # grows) and than joining str lines.
        to_json = _SERIALIZER.to_json
        parts = [to_json(t) for t in telemetry_list]
        if not parts:
            return ""
        parts.append(b"")
        return b"\n".join(parts).decode("utf-8")

    @staticmethod
    def from_jsonl(lines: str | Iterable[str]) -> list[Telemetry]:
        """Parse JSON Lines back into records (blank lines are skipped).

        Args:
            lines: The whole text, or an iterable of lines (e.g. an open file).

        Returns:
            The records, in order.

        Raises:
            ValueError: Naming the line number and the field when a line is invalid.
        """
        # Split on "\n" only: str.splitlines() also splits on U+0085 and U+2028,
        # which JSON leaves unescaped inside strings.
        source = lines.split("\n") if isinstance(lines, str) else lines
        out: list[Telemetry] = []
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                out.append(Telemetry.model_validate_json(line))
            except ValidationError as exc:
                raise ValueError(f"line {number}: {_first_error(exc)}") from None
        return out

    # ------------------------------------------------------------------ CSV

    @staticmethod
    def csv_columns() -> list[str]:
        """Return the CSV column names, derived from the Telemetry model."""
        return [c.name for c in CSV_COLUMNS]

    @staticmethod
    def to_csv(telemetry_list: Iterable[Telemetry]) -> str:
        """Return the records as CSV with a header row (one column per leaf field).

        Lists and dicts are JSON in their cell, None is an empty cell, booleans
        are ``True``/``False`` (as L0's own CSV writes them), floats are exact
        (``repr``), datetimes ISO 8601. Text cells starting
        with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a leading
        apostrophe so spreadsheets do not run them as formulas (OWASP CSV
        injection); :meth:`from_csv` removes it.

        Args:
            telemetry_list: The records.

        Returns:
            The CSV text ("" for no records).
        """
        records = list(telemetry_list)
        if not records:
            return ""
        out = io.StringIO()
        # RFC 4180 line ends; with "\r\n" as terminator the writer also quotes
        # any cell holding a lone "\r", so every record stays one CSV row.
        writer = csv.writer(out)
        writer.writerow([c.name for c in CSV_COLUMNS])
        get_row = _CSV_ROW
        str_idx, dt_idx, json_idx = _CSV_STR, _CSV_DT, _CSV_JSON
        to_json = pydantic_core.to_json
        bad = _ESCAPE_START
        rows = []
        for t in records:
            row = list(get_row(t))
            for i in str_idx:
                v = row[i]
                if v and v[0] in bad:
                    row[i] = "'" + v
            for i in json_idx:
                v = row[i]
                if v:
                    row[i] = to_json(v).decode("utf-8")
                elif v is not None:
                    row[i] = "[]" if v.__class__ is list else "{}"
            rows.append(row)
        # datetime.isoformat costs ~2 us; one Rust call formats every datetime
        # of the batch (as ISO 8601, exactly as the JSON export spells them).
        if dt_idx:
            stamps = json.loads(to_json([row[i] for row in rows for i in dt_idx]))
            it = iter(stamps)
            for row in rows:
                for i in dt_idx:
                    row[i] = next(it)
        writer.writerows(rows)
        return out.getvalue()

    @staticmethod
    def from_csv(text: str | Iterable[str]) -> list[Telemetry]:
        """Parse CSV written by :meth:`to_csv` back into records.

        Empty cells read as None (or the field's default), so an empty string
        and None both come back as None. Unknown columns are an error; missing
        columns take their defaults.

        Args:
            text: The CSV text, or an iterable of its lines.

        Returns:
            The records, in order.

        Raises:
            ValueError: Naming the row and the column when a cell is invalid.
        """
        source = io.StringIO(text, newline="") if isinstance(text, str) else text
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None:
            return []
        by_name = {c.name: c for c in CSV_COLUMNS}
        columns: list[Column] = []
        for name in header:
            column = by_name.get(name)
            if column is None:
                raise ValueError(f"CSV header: unknown column {safe_repr(name)}")
            columns.append(column)
        out: list[Telemetry] = []
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(columns):
                raise ValueError(f"CSV row {number}: {len(row)} cells for {len(columns)} columns")
            nested: dict[str, Any] = {}
            for column, cell in zip(columns, row, strict=True):
                if cell == "":
                    continue
                try:
                    value: Any = _csv_unescape(cell) if column.kind in ("str", "json") else cell
                    if column.kind == "json":
                        value = json.loads(value)
                except ValueError as exc:
                    raise ValueError(f"CSV row {number}, column {column.name}: {exc}") from None
                target = nested
                for part in column.path[:-1]:
                    target = target.setdefault(part, {})
                target[column.path[-1]] = value
            try:
                out.append(Telemetry.model_validate(nested))
            except ValidationError as exc:
                raise ValueError(f"CSV row {number}: {_first_error(exc)}") from None
        return out

    # ------------------------------------------------------------------ logfmt

    @staticmethod
    def to_log_format(telemetry: Telemetry) -> str:
        """Return one logfmt line: ``stream_id=abc model=gpt-4o duration=1.234s ttft=0.456s ...``.

        Keys in order: stream_id, model, duration, ttft, tokens, tokens_per_sec,
        retries (when > 0), violations (count, when any), error (message, when
        an error occurred), completed, aborted (when true). Durations are
        seconds with three decimals and an ``s`` suffix; None values are left
        out. Values with spaces, quotes, ``=`` or control characters are
        double-quoted with backslash escapes, so no value can forge a key or a
        second line.

        Args:
            telemetry: The record.

        Returns:
            The log line (no trailing newline).
        """
        data = telemetry.model_dump(mode="json")
        if not telemetry.error.occurred:
            data["error"]["message"] = None
        parts: list[str] = []
        for f in LOG_FIELDS:
            value = _get_path(data, f.path)
            if f.fmt == "count":
                value = len(value) if isinstance(value, list) else 0
            if value is None or (f.omit == "falsy" and not value):
                continue
            if value is True or value is False:
                text = "true" if value else "false"
            elif isinstance(value, float):
                text = f"{value:.{f.precision}f}" if math.isfinite(value) else "NaN"
            elif isinstance(value, int):
                text = str(value)
            else:
                text = safe_str(value)
            parts.append(f"{f.key}={_logfmt_value(text + f.unit)}")
        return " ".join(parts)

    # ------------------------------------------------------------------ metrics

    @staticmethod
    def to_metrics(
        telemetry: Telemetry,
        prefix: str = "l0",
        labels: Mapping[str, object] | None = None,
        *,
        include_stream_id: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """Return Prometheus-style metrics of one record: ``{name: {value, type, labels}}``.

        Names follow Prometheus conventions (base units, counters end in
        ``_total``). Labels are ``model`` plus ``labels``; the stream id is a
        label only with ``include_stream_id=True`` (one series per stream does
        not scale). Each metric gets its own labels dict, keys sorted.

        Args:
            telemetry: The record.
            prefix: Metric name prefix (a valid Prometheus name).
            labels: Extra constant labels.
            include_stream_id: Opt in to a ``stream_id`` label.

        Returns:
            The metrics, by name.

        Raises:
            ValueError: On an invalid prefix or label name.
        """
        prefix = prometheus_text.check_metric_name(prefix)
        base = prometheus_text.check_labels(labels)
        if telemetry.model:
            base.setdefault("model", telemetry.model)
        if include_stream_id:
            base["stream_id"] = telemetry.stream_id
        m, r, timing = telemetry.metrics, telemetry.retries, telemetry.timing
        items: list[tuple[str, float | int | None, str, dict[str, str]]] = [
            ("tokens_total", m.token_count, "counter", {}),
            ("tokens_per_second", m.tokens_per_second, "gauge", {}),
            ("duration_seconds", timing.duration, "gauge", {}),
            ("time_to_first_token_seconds", m.time_to_first_token, "gauge", {}),
            ("inter_token_latency_seconds", m.avg_inter_token_latency, "gauge", {}),
            ("retries_total", r.total_retries, "counter", {}),
            ("network_retries_total", r.network_retries, "counter", {}),
            ("model_retries_total", r.model_retries, "counter", {}),
            ("guardrail_violations_total", len(telemetry.guardrails.violations), "counter", {}),
            ("errors_total", int(telemetry.error.occurred), "counter",
             {"category": telemetry.error.category} if telemetry.error.category else {}),
            ("completed_total", int(telemetry.completed), "counter", {}),
            ("aborted_total", int(telemetry.aborted), "counter", {}),
        ]  # fmt: skip
        out: dict[str, dict[str, Any]] = {}
        for suffix, value, kind, extra in items:
            if value is None:
                continue
            metric_labels = dict(sorted({**base, **extra}.items()))
            out[f"{prefix}_{suffix}"] = {"value": value, "type": kind, "labels": metric_labels}
        return out

    @staticmethod
    def to_prometheus(
        source: Monitor | Iterable[Telemetry],
        prefix: str = "l0",
        labels: Mapping[str, object] | None = None,
    ) -> str:
        """Render a Monitor's aggregates, or a list of records, as Prometheus text 0.0.4.

        Counters: streams by outcome, tokens, retries by kind, guardrail
        violations by severity, errors by category; histograms: TTFT, duration,
        tokens per second, inter-token latency (see
        :mod:`l0_monitoring.exporters.prometheus_text` for names and buckets).
        Every series is labelled by model only (plus ``labels``).

        Args:
            source: A :class:`~l0_monitoring.Monitor` (all streams finished since
                ``clear()``, sampled or not) or an iterable of records.
            prefix: Metric name prefix.
            labels: Extra constant labels on every series.

        Returns:
            The exposition text.
        """
        snapshot = getattr(source, "_series_snapshot", None)
        series = snapshot() if callable(snapshot) else series_from_records(source)  # type: ignore[arg-type]
        return prometheus_text.render(series, prefix, labels)


def series_from_records(records: Iterable[Telemetry]) -> SeriesSet:
    """Build per-model series from finished records (inter-token gaps: the listed ones)."""
    series = SeriesSet()
    for t in records:
        series.observe(
            t.model,
            t.outcome,
            t.metrics.token_count,
            t.retries.network_retries,
            t.retries.model_retries,
            [v.get("severity") for v in t.guardrails.violations],
            (t.error.category or "unknown") if t.error.occurred else None,
            t.metrics.time_to_first_token,
            t.timing.duration,
            t.metrics.tokens_per_second,
            t.timing.inter_token_latencies,
        )
    return series


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "record"
    return f"{where}: {err.get('msg', 'invalid')}"
