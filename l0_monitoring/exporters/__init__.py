"""Pure, deterministic formatting of telemetry: JSON, dict, CSV, JSONL, logfmt, Prometheus.

No I/O happens here. Column names, JSON keys and log keys come from the
:class:`~l0_monitoring.Telemetry` model definition (see ``_layout``).
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

import pydantic_core
from pydantic import ValidationError

from .._internal.contract import (
    ERROR_CATEGORIES,
    MAX_SAFE_INT,
    category_of,
    is_blank,
    loads,
)
from .._internal.safe import (
    MAX_STR,
    clean_data,
    clean_text,
    json_line,
    safe_repr,
    safe_str,
)
from .._internal.verified import EPOCH as _EPOCH
from .._internal.verified import WRITING as _WRITING
from .._internal.verified import containers_ok as _containers_ok
from .._internal.verified import json_ok as _json_ok
from .._internal.verified import json_value_ok as _json_value_ok
from .._internal.verified import stamp_ok as _stamp_ok
from .._internal.verified import text_ok as _text_ok
from .._internal.verified import violations_ok as _violations_ok
from ..prometheus import text as prometheus_text
from ..prometheus.series import SeriesSet
from ..telemetry import (
    _ERROR_TEXTS,
    _SECTION_NAMES,
    _SECTIONS,
    _TEXTS,
    SCHEMA_VERSION,
    Outcome,
    Telemetry,
    _get_mark,
    _mark,
    _mark_failed,
    _set_mark,
)
from ._coerce import coerce
from ._layout import CSV_COLUMNS, LOG_FIELDS, Column, LogField, _kind

# Line breaks for str.splitlines() that JSON may leave raw in strings (as in safe.json_line).
_TEXT_LINE_BREAKS = tuple((chr(c), f"\\u{c:04x}") for c in (0x85, 0x2028, 0x2029))

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
    # Only what _csv_escape escaped: an apostrophe before a formula start or
    # before another apostrophe. "'2.0.0" was not written by us: kept as is.
    if len(text) > 1 and text[0] == "'" and text[1] in _ESCAPE_START:
        return text[1:]
    return text


def _column_indexes(kind: str) -> tuple[int, ...]:
    return tuple(i for i, c in enumerate(CSV_COLUMNS) if c.kind == kind)


# One C call per record reads every column (dotted paths reach into sections).
_CSV_ROW = attrgetter(*(".".join(c.path) for c in CSV_COLUMNS))


def _compile_csv_row() -> Callable[[Telemetry], list[Any]]:
    """Generate the CSV row reader: every column's value, in column order, as a list.

    Reads each section's ``__dict__`` with one ``itemgetter`` per run of columns
    (C-level dict lookups), about twice as fast as the dotted ``attrgetter``,
    which walks from the record for every column. A record or section of
    another class (a subclass may compute a field) is read by ``_CSV_ROW``;
    a missing field raises AttributeError there, as before.
    """
    runs = [
        (section, [c.path[-1] for c in group])
        for section, group in itertools.groupby(
            CSV_COLUMNS, key=lambda c: c.path[0] if len(c.path) > 1 else ""
        )
    ]
    sections = sorted({section for section, _ in runs if section})
    namespace: dict[str, Any] = {"_record": Telemetry, "_slow": _CSV_ROW}
    lines = ["def row(t):", "    d = t.__dict__", "    try:"]
    lines += [f"        s_{name} = d[{name!r}]" for name in sections]
    checks = ["t.__class__ is _record"]
    for name in sections:
        namespace[f"_class_{name}"] = Telemetry.model_fields[name].annotation
        checks.append(f"s_{name}.__class__ is _class_{name}")
    parts = []
    for i, (section, names) in enumerate(runs):
        source = f"s_{section}.__dict__" if section else "d"
        if len(names) == 1:
            parts.append(f"{source}[{names[0]!r}]")
            continue
        namespace[f"_get_{i}"] = itemgetter(*names)
        parts.append(f"*_get_{i}({source})")
    lines += [
        f"        if {' and '.join(checks)}:",
        f"            return [{', '.join(parts)}]",
        "    except KeyError:  # a field missing from a record built without it",
        "        pass",
        "    return list(_slow(t))",
    ]
    exec(compile("\n".join(lines), "<l0_monitoring csv row>", "exec"), namespace)  # noqa: S102
    function: Callable[[Telemetry], list[Any]] = namespace["row"]
    return function


_CSV_ROW_LIST = _compile_csv_row()
_CSV_STR = _column_indexes("str")
_CSV_DT = _column_indexes("datetime")
_CSV_JSON = _column_indexes("json")
_CSV_STR_CELLS = itemgetter(*_CSV_STR)
# A text cell (after the NUL to_csv puts before each) starting as _csv_escape escapes.
_CSV_NEEDS_ESCAPE = re.compile("\0[" + re.escape("".join(sorted(_ESCAPE_START))) + "]").search


# A character a logfmt value may not hold unquoted (searching for one is a C
# loop, about 3x faster than a fullmatch of the allowed set).
_LOGFMT_NEEDS_QUOTES = re.compile(r"[^A-Za-z0-9\-_.:/+@,;()\[\]{}!?*#%&^~<>|$']").search


# Escapes inside a quoted value: quote, backslash, the usual control characters
# by name, every other C0/C1 control and the Unicode line separators as \uXXXX.
_LOGFMT_ESCAPES: dict[int, str] = {
    c: f"\\u{c:04x}" for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
}
_LOGFMT_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
                        ord("\t"): "\\t"})  # fmt: skip


def _logfmt_value(text: str) -> str:
    """Quote a logfmt value when it could be misread; escape so it can't forge keys/lines."""
    if text and _LOGFMT_NEEDS_QUOTES(text) is None:
        return text
    return '"' + text.translate(_LOGFMT_ESCAPES) + '"'


def _logfmt_text(key: str, value: object, unit: str, cache: dict[str, str]) -> str:
    """``key=value`` for a text value (capped, quoted if needed); short texts are cached."""
    if isinstance(value, str) and len(value) <= MAX_STR:
        # clean_text: a host-built record's lone surrogate becomes U+FFFD (one
        # check; valid text is returned as is), so the line always encodes.
        part = key + _logfmt_value(clean_text(value) + unit)
        # Model names and error messages repeat: each is checked and quoted once.
        # Bounded: the first 1024 short texts per key are kept, nothing after.
        if len(value) <= 256 and len(cache) < 1024 and value.__class__ is str:
            cache[value] = part
        return part
    return key + _logfmt_value(safe_str(value) + unit)


def _annotation(path: tuple[str, ...]) -> Any:
    model: Any = Telemetry
    annotation: Any = None
    for part in path:
        annotation = model.model_fields[part].annotation
        model = annotation
    return annotation


def _log_kind(f: LogField) -> str:
    """``text``, ``int``, ``float``, ``bool`` or ``count`` for one logfmt key."""
    if f.fmt == "count":
        return "count"
    annotation = _annotation(f.path)
    kind = _kind(annotation)
    if kind == "scalar":
        return "int" if annotation in (int, int | None) else "float"
    return "bool" if kind == "bool" else "text"


def _log_field_code(f: LogField, v: str, caches: dict[str, dict[str, str]]) -> list[str]:
    """Lines (indented 4) appending one key's ``key=value`` when it is shown."""
    key, unit, kind = repr(f.key + "="), repr(f.unit), _log_kind(f)
    out = []
    if kind == "count":
        out.append(f"{v} = len({v}) if {v}.__class__ is list else 0")
    guard = v if f.omit == "falsy" else f"{v} is not None"
    if kind == "float":  # NaN and +-inf are not shown, like None (x - x is 0 only for finite x)
        # Not a float (a host-built record): the slow path (coerce) decides.
        guard = f"{guard} and ({v}.__class__ is float or _slow()) and {v} - {v} == 0"
    if f.path == ("error", "message"):
        guard += " and s_error.occurred"
    out.append(f"if {guard}:")
    if kind == "int":  # not an int (e.g. "5 evil=1"), or out of range: coerce decides
        out.append(f"    {v}.__class__ is int and 0 <= {v} <= _MAX or _slow()")
    if kind in ("int", "count"):
        out.append(f"    a(f{f.key + '={' + v + '}' + f.unit!r})")
    elif kind == "bool":
        out.append(f"    {v} is True or {v} is False or _slow()")
        yes, no = repr(f"{f.key}=true{f.unit}"), repr(f"{f.key}=false{f.unit}")
        out.append(f"    a({yes} if {v} else {no})")
    elif kind == "float":
        fstr = repr(f"{f.key}={{{v}:.{f.precision}f}}{f.unit}")
        out.append(f"    a(f{fstr})")
    else:  # text: capped, quoted when it could be misread (see _logfmt_text)
        cache = f"_cache_{len(caches)}"
        caches[cache] = {}
        out += [
            "    try:",
            f"        p = {cache}.get({v})",
            "    except TypeError:  # not hashable: not a str",
            "        p = None",
            f"    a(p if p is not None else _text({key}, {v}, {unit}, {cache}))",
        ]
    return ["    " + line for line in out]


def _log_groups(fields: tuple[LogField, ...]) -> list[list[LogField]]:
    """Runs of consecutive keys that can share one f-string in the common case."""

    def group_kind(f: LogField) -> str | None:
        if f.omit == "falsy" or f.path == ("error", "message"):
            return None
        kind = _log_kind(f)
        if kind == "text":
            return "text" if not f.unit else None
        return "number" if kind in ("int", "float", "bool") else None

    groups: list[list[LogField]] = []
    last: str | None = None
    for f in fields:
        kind = group_kind(f)
        if kind is not None and kind == last:
            groups[-1].append(f)
        else:
            groups.append([f])
        last = kind
    return groups


class _NotPlain(Exception):  # noqa: N818 - internal signal, never raised to the host
    """Raised by a generated fast path: the record takes the slow path (coerce)."""


def _slow() -> bool:
    raise _NotPlain


def _compile_log_format() -> Callable[[Telemetry], str]:
    """Generate the logfmt formatter from ``LOG_FIELDS`` (as dataclasses generates ``__init__``).

    The keys, their order, units, precision and omission rules all come from the
    model's ``x-logfmt`` metadata; generating straight-line code from them makes
    one record cost a few attribute reads and f-strings (as fast as the
    reference's hand-written formatter) without a hand-written field list. Runs
    of keys that are usually all present (the ids; the timings and counts) are
    written by one f-string when they are, with one quoting check for the ids.
    """
    if not all(f.key.isidentifier() and (not f.unit or f.unit.isalnum()) for f in LOG_FIELDS):
        raise ValueError("x-logfmt keys must be identifiers and units letters")
    lines = [
        "def to_log_format(telemetry, _slow_path=True):",
        "  try:",
        "    t = telemetry",
        "    parts = []",
        "    a = parts.append",
    ]
    caches: dict[str, dict[str, str]] = {}
    sections = sorted({f.path[0] for f in LOG_FIELDS if len(f.path) > 1})
    lines += [f"    s_{name} = t.{name}" for name in sections]
    n = 0
    for group in _log_groups(LOG_FIELDS):
        names = []
        for f in group:
            names.append(f"v{n}")
            read = f"s_{f.path[0]}.{f.path[1]}" if len(f.path) > 1 else f"t.{f.path[0]}"
            lines.append(f"    v{n} = {read}")
            n += 1
        if len(group) == 1:
            lines += _log_field_code(group[0], names[0], caches)
            continue
        checks, pieces, floats = [], [], []
        for f, v in zip(group, names, strict=True):
            kind = _log_kind(f)
            if kind == "text":
                checks.append(f"{v}.__class__ is str and {v}")
                pieces.append(f"{f.key}={{{v}}}")
            elif kind == "float":
                checks.append(f"{v}.__class__ is float")
                floats.append(v)
                pieces.append(f"{f.key}={{{v}:.{f.precision}f}}{f.unit}")
            elif kind == "int":
                checks.append(f"{v}.__class__ is int and 0 <= {v} <= _MAX")
                pieces.append(f"{f.key}={{{v}}}{f.unit}")
            else:  # bool
                checks.append(f"({v} is True or {v} is False)")
                pieces.append(f"{f.key}={{'true' if {v} else 'false'}}{f.unit}")
        if floats:  # all finite: one check of their sum (NaN or +-inf in it is not finite)
            checks.append(f"(x := {' + '.join(floats)}) - x == 0")
        texts = [v for f, v in zip(group, names, strict=True) if _log_kind(f) == "text"]
        if texts:
            checks.append(f"len(j := {' + '.join(texts)}) <= _LIMIT and not _nq(j)")
        lines.append(f"    if {' and '.join(checks)}:")
        lines.append(f'        a(f"{" ".join(pieces)}")')
        lines.append("    else:")
        for f, v in zip(group, names, strict=True):
            lines += ["    " + line for line in _log_field_code(f, v, caches)]
    # A host-built record may hold lone surrogates: the line is made valid UTF-8
    # (one isascii check for the usual line), as every other exporter does.
    lines.append("    line = ' '.join(parts)")
    lines.append("    return line if line.isascii() else _clean(line)")
    # Anything unexpected (a host-built record): the one slow path, then this
    # same code on the record it returns (never a second time through here).
    lines.append("  except Exception:")
    lines.append("    if not _slow_path:")
    lines.append("        raise")
    lines.append("    return to_log_format(_coerce(telemetry), False)")
    namespace: dict[str, Any] = {
        "_slow": _slow,
        "_coerce": coerce,
        "_clean": clean_text,
        "_text": _logfmt_text,
        "_nq": _LOGFMT_NEEDS_QUOTES,
        "_LIMIT": MAX_STR,
        "_MAX": MAX_SAFE_INT,
        **caches,
    }
    source = "\n".join(lines)
    exec(compile(source, "<l0_monitoring logfmt>", "exec"), namespace)  # noqa: S102
    formatter: Callable[[Telemetry], str] = namespace["to_log_format"]
    formatter.__source__ = source  # type: ignore[attr-defined]  # for readers and debuggers
    return formatter


_LOG_FORMAT = _compile_log_format()
_LOG_FORMAT.__doc__ = """Return one logfmt line: ``stream_id=abc model=gpt-4o duration=1.234s ...``.

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

    Raises:
        ValueError: A field the line shows holds a value no rule can represent
            (e.g. a count that is not a number), naming the stream_id and field.
    """

# What to_metrics reports, in order: (name suffix, value expression over the
# record's sections, type, left out when None or not finite). Both formatters below are
# generated from this one table.
_METRIC_SPECS: tuple[tuple[str, str, str, bool], ...] = (
    ("tokens_total", "m.token_count", "counter", False),
    ("tokens_per_second", "m.tokens_per_second", "gauge", True),
    ("duration_seconds", "t.timing.duration", "gauge", True),
    ("time_to_first_token_seconds", "m.time_to_first_token", "gauge", True),
    ("inter_token_latency_seconds", "m.avg_inter_token_latency", "gauge", True),
    ("retries_total", "r.total_retries", "counter", False),
    ("network_retries_total", "r.network_retries", "counter", False),
    ("model_retries_total", "r.model_retries", "counter", False),
    ("guardrail_violations_total", "t.guardrails.total", "counter", False),
    ("errors_total", "1 if error.occurred else 0", "counter", False),
    ("completed_total", "1 if t.completed else 0", "counter", False),
    ("aborted_total", "1 if t.aborted else 0", "counter", False),
)
_METRIC_SUFFIXES = tuple(spec[0] for spec in _METRIC_SPECS)


def _error_labels(base: dict[str, str], category: str | None) -> dict[str, str]:
    """``base`` plus the record's error category, keys still sorted."""
    if not category:
        return base.copy()
    if "category" in base:  # the record's category wins, in its sorted place
        return {**base, "category": category}
    if not base or next(iter(base)) > "category":  # already in sorted order
        return {"category": category, **base}
    return dict(sorted({**base, "category": category}.items()))


def _compile_metrics(labels: str, error_labels: str) -> Callable[..., dict[str, dict[str, Any]]]:
    """Generate straight-line ``to_metrics`` code: one fresh labels dict per metric."""
    lines = [
        "def metrics(t, names, base, model):",
        "    m, r, error = t.metrics, t.retries, t.error",
        "    out = {}",
    ]
    for i, (suffix, expr, kind, optional) in enumerate(_METRIC_SPECS):
        lab = error_labels if suffix == "errors_total" else labels
        item = f"{{'value': v, 'type': {kind!r}, 'labels': {lab}}}"
        lines.append(f"    v = {expr}")
        if optional:  # NaN and +-inf left out; not a float: the slow path (coerce)
            lines.append(
                "    if v is not None and (v.__class__ is float or _slow()) and v - v == 0:"
            )
            lines.append(f"        out[names[{i}]] = {item}")
        else:
            if not expr.startswith("1 if"):  # a count: an int as coerce leaves it
                lines.append("    v.__class__ is int and 0 <= v <= _MAX or _slow()")
            lines.append(f"    out[names[{i}]] = {item}")
    lines.append("    return out")
    namespace: dict[str, Any] = {"_error_labels": _error_labels, "_slow": _slow,
                                 "_MAX": MAX_SAFE_INT}  # fmt: skip
    exec(compile("\n".join(lines), "<l0_monitoring to_metrics>", "exec"), namespace)  # noqa: S102
    function: Callable[..., dict[str, dict[str, Any]]] = namespace["metrics"]
    return function


# The common case (labels: the model only) builds each labels dict as a literal,
# cheaper than copying; any other label set copies one sorted base dict.
_METRICS_MODEL_ONLY = _compile_metrics(
    "{'model': model}",
    "{'category': error.category, 'model': model} if error.category else {'model': model}",
)
_METRICS_ANY_LABELS = _compile_metrics("base.copy()", "_error_labels(base, error.category)")
_METRIC_NAMES: dict[str, tuple[str, ...]] = {}


def _metrics(
    telemetry: Telemetry, names: tuple[str, ...], labels: dict[str, str], include_stream_id: bool
) -> dict[str, dict[str, Any]]:
    """to_metrics on checked arguments; raises on a record that is not plain."""
    model = telemetry.model
    if (  # not a str (bytes too), or a lone surrogate: the slow path (coerce: str() of it)
        model is not None
        and (model.__class__ is not str or (not model.isascii() and clean_text(model) is not model))
    ):
        _slow()
    # The category label as the other formats write it: a known category or
    # None, else the slow path (coerce normalizes it: normalize_error_category).
    telemetry.error.category in _CATEGORIES or _slow()
    if not labels and not include_stream_id and model:
        return _METRICS_MODEL_ONLY(telemetry, names, None, model)
    base = labels.copy()
    if model and "model" not in base:
        base["model"] = model
    if include_stream_id:
        stream_id = telemetry.stream_id
        if stream_id.__class__ is not str or clean_text(stream_id) is not stream_id:
            _slow()
        base["stream_id"] = stream_id
    if len(base) > 1:
        base = dict(sorted(base.items()))
    return _METRICS_ANY_LABELS(telemetry, names, base, model)


def _metric_names(prefix: str) -> tuple[str, ...]:
    """The ``to_metrics`` names for a validated prefix (cached, at most 64 prefixes)."""
    names = tuple(f"{prefix}_{suffix}" for suffix in _METRIC_SUFFIXES)
    if len(_METRIC_NAMES) >= 64:
        _METRIC_NAMES.clear()
    _METRIC_NAMES[prefix] = names
    return names


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
        r"""Return the record as JSON (``indent=None`` for compact output).

        U+0085, U+2028 and U+2029 in strings are written as ``\u0085``,
        ``\u2028``, ``\u2029`` (as ``safe.json_line`` writes them), so
        ``indent=None`` output is one line even for ``str.splitlines()``; the
        data read back is unchanged.

        Args:
            telemetry: The record.
            indent: Spaces per indentation level, or None for one line.

        Returns:
            The JSON text; ``Telemetry.model_validate_json`` parses it back.

        Raises:
            ValueError: A record no rule can represent (a section or another
                non-nullable field set to None, a negative count), naming its
                stream_id and the field. Any other record built by the host is
                normalized first (see ``exporters/_coerce.py`` and the README).
        """
        # The model's serializer directly: model_dump_json adds a Python layer of
        # keyword handling per call (about 10% of a record's cost). Warnings as
        # errors: a value of another type (a host-built record) raises, and
        # the record takes the one slow path (coerce), as every format does.
        text = None
        # A verified record (see _internal/verified.py): the serializer alone;
        # the output stands only if no record was written to meanwhile.
        token = start = _EPOCH[0]
        if _current(telemetry) or (token := _verify(telemetry)) is not None:
            try:
                text = _SERIALIZER.to_json(telemetry, indent=indent, warnings=False).decode()
            except Exception:
                text = None
            if _EPOCH[0] is not token:
                text = None
        # Checked, then written: a write between the two (another thread, a
        # host hook the check calls) discards the output (see _internal/verified.py).
        if text is None and start is not _WRITING and _shape_ok(telemetry):
            try:
                text = _SERIALIZER.to_json(telemetry, indent=indent, warnings="error").decode()
            except Exception:
                text = None
            if _EPOCH[0] is not start:
                text = None
        if text is None:
            text = _SERIALIZER.to_json(coerce(telemetry), indent=indent).decode()
        if not text.isascii():
            for raw, escaped in _TEXT_LINE_BREAKS:
                text = text.replace(raw, escaped)
        return text

    @staticmethod
    def to_dict(telemetry: Telemetry) -> dict[str, Any]:
        """Return the record as plain JSON data (datetimes as ISO 8601 strings).

        The same data :meth:`to_json` writes (``json.loads(to_json(t))``): a
        host-built record is normalized first (see :meth:`to_json`).

        Raises:
            ValueError: The record cannot be represented (see :meth:`to_json`).
        """
        data: dict[str, Any]
        token = start = _EPOCH[0]
        if _current(telemetry) or (token := _verify(telemetry)) is not None:
            try:  # verified (see to_json): nothing left to check
                data = _SERIALIZER.to_python(telemetry, mode="json", warnings=False)
                if _EPOCH[0] is token:
                    return data
            except Exception:  # noqa: S110 - any failure: the checked paths decide
                pass
        if start is not _WRITING and _shape_ok(telemetry):  # checked, then written (see to_json)
            try:
                data = _SERIALIZER.to_python(telemetry, mode="json", warnings="error")
                if _dict_ok(data) and _EPOCH[0] is start:
                    return data
            except Exception:  # noqa: S110 - any failure: the slow path (coerce) decides
                pass
        return _SERIALIZER.to_python(coerce(telemetry), mode="json")  # type: ignore[no-any-return]

    @staticmethod
    def to_jsonl(telemetry_list: Iterable[Telemetry]) -> str:
        r"""Return one compact JSON object per line, each line ending with a newline.

        Args:
            telemetry_list: The records.

        Returns:
            JSON Lines text ("" for no records). Newlines inside values are
            escaped by JSON, and U+0085, U+2028, U+2029 (line breaks to
            ``str.splitlines()``) as ``\u`` escapes, like the event recorder
            writes them, so each record is exactly one line for every reader.

        Raises:
            ValueError: A record no rule can represent (a section or another
                non-nullable field set to None, a negative count), naming its
                stream_id and the field. Any other record built by the host is
                normalized first (see ``exporters/_coerce.py`` and the README).
        """
        # One small serializer buffer per record, joined once: faster than one
        # growing buffer for the whole list (which reallocates and copies as it
        # grows) and than joining str lines. A record the fast path cannot
        # write as is (see to_json) takes the slow path alone: each line is
        # the record's own, whatever else is in the batch.
        records = telemetry_list if isinstance(telemetry_list, list) else list(telemetry_list)
        if not records:
            return ""
        # Every record verified at this epoch (see to_json): no checks, no warnings.
        start = _EPOCH[0]
        text = _jsonl_verified(records)
        # Else the common batch: one serializer call for the whole list
        # (warnings as errors cost a fixed ~1 us per call), each record checked
        # and no record written to between the checks and the output (see to_json).
        if text is None and start is not _WRITING and all(map(_shape_ok, records)):
            try:
                body = _list_serializer().to_json(records, warnings="error")[1:-1]
                text = _jsonl_lines(body + b"\n", len(records))
                if text is not None and not text.isascii():
                    text.decode("utf-8")  # the serializer's text is valid UTF-8
            except Exception:  # rare: each record on its own
                text = None
            if _EPOCH[0] is not start:
                text = None
        if text is None:
            parts = list(map(_record_json, records))
            parts.append(b"")
            text = b"\n".join(parts)
        if not text.isascii():  # U+2028 and friends as escapes: one record, one line
            text = json_line(text[:-1])
        return text.decode("utf-8")

    @staticmethod
    def from_jsonl(lines: str | Iterable[str]) -> list[Telemetry]:
        """Parse JSON Lines back into records (blank lines are skipped).

        Args:
            lines: The whole text, or an iterable of lines (e.g. an open file).

        Returns:
            The records, in order.

        Raises:
            ValueError: Naming the line number and the field when a line is
                invalid, not UTF-8, or longer than
                :data:`~l0_monitoring.recording.MAX_LINE_BYTES` (a line of an
                open file is never read whole then). A UTF-8 byte order mark
                at the start is accepted and dropped.
        """
        from ..recording import _BadLine, numbered_lines

        # Split on "\n" only: str.splitlines() also splits on U+0085 and U+2028,
        # which JSON leaves unescaped inside strings.
        source = lines.split("\n") if isinstance(lines, str) else lines
        out: list[Telemetry] = []
        validate = Telemetry.model_validate
        # The one reading rule of every JSON Lines reader (a line longer than
        # MAX_LINE_BYTES is never held whole from a file; a UTF-8 BOM at the
        # start is dropped): here a bad line is an error, as any invalid line.
        for number, line in numbered_lines(source):
            if line.__class__ is _BadLine:
                raise ValueError(f"line {number}: {line}")
            if is_blank(line):  # JSON whitespace only; a line of U+00A0 is invalid
                continue
            # Strict JSON (no NaN/Infinity), then the record contract: the same
            # documents the published Telemetry schema accepts.
            try:
                data = loads(line)
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"line {number}: invalid JSON: {safe_str(exc, 200)}") from None
            if not isinstance(data, dict):
                raise ValueError(f"line {number}: record: must be a JSON object")
            try:
                out.append(validate(data))
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

        Raises:
            ValueError: A record no rule can represent (a section or another
                non-nullable field set to None, a negative count), naming its
                stream_id and the field. Any other record built by the host is
                normalized first (see ``exporters/_coerce.py`` and the README).
        """
        records = list(telemetry_list)
        if not records:
            return ""
        out = io.StringIO()
        # RFC 4180 line ends; with "\r\n" as terminator the writer also quotes
        # any cell holding a lone "\r", so every record stays one CSV row.
        writer = csv.writer(out)
        writer.writerow([c.name for c in CSV_COLUMNS])
        dt_idx, json_idx = _CSV_DT, _CSV_JSON
        to_json = pydantic_core.to_json
        try:
            # Every record verified at this epoch (and none written to while
            # the rows were read): nothing to check; else the batch's checks.
            token = _EPOCH[0]
            verified = _csv_rows_verified(records)
            if verified is not None and _EPOCH[0] is token:
                rows, ok = verified, True
            else:
                rows = list(map(_CSV_ROW_LIST, records))
                ok = _rows_ok(rows)
        except Exception:
            ok = False
        if not ok:
            # Rare (a host-built record): each record decided alone, so its row
            # is the same in any batch; an odd one takes the slow path (coerce).
            rows = list(map(_csv_row, records))
        chain = itertools.chain.from_iterable
        # One check over the whole batch, one C-level pass, leaves the per-cell
        # loop to the rare batch that needs it: a text cell a spreadsheet could
        # run (its first character after the separator in the joined text).
        try:
            texts = "\0" + "\0".join(filter(None, chain(map(_CSV_STR_CELLS, rows))))
        except TypeError:  # a text cell that is not a str (a host-built record)
            texts = "\0="
        if _CSV_NEEDS_ESCAPE(texts):
            bad = _ESCAPE_START
            for row in rows:
                for i in _CSV_STR:
                    v = row[i]
                    if v and v[0] in bad:
                        row[i] = "'" + v
        for row in rows:
            for i in json_idx:
                v = row[i]
                if v:
                    try:
                        row[i] = to_json(v, inf_nan_mode="null").decode("utf-8")
                    except pydantic_core.PydanticSerializationError:  # lone surrogates
                        row[i] = to_json(clean_data(v), inf_nan_mode="null").decode("utf-8")
                elif v is not None:
                    row[i] = "[]" if v.__class__ is list else "{}"
        # datetime.isoformat costs ~2 us; one Rust call formats every datetime
        # of the batch (as ISO 8601, exactly as the JSON export spells them).
        if dt_idx:
            stamps = json.loads(to_json([row[i] for row in rows for i in dt_idx]))
            it = iter(stamps)
            for row in rows:
                for i in dt_idx:
                    row[i] = next(it)
        writer.writerows(rows)
        # Text cells of host-built records may hold lone surrogates: one check
        # of the whole text, cleaned only when needed (per character, so every
        # other cell and record is untouched).
        return clean_text(out.getvalue())

    @staticmethod
    def from_csv(text: str | Iterable[str]) -> list[Telemetry]:
        """Parse CSV written by :meth:`to_csv` back into records.

        Empty cells read as None for nullable fields (so an empty string and
        None both come back as None) and as "" for text fields that cannot be
        null. Cells are read exactly as :meth:`to_csv` writes them, never by the
        host's locale: integers and numbers in JSON syntax, ``True``/``False``,
        RFC 3339 date-times. Every column of the record is required; unknown
        columns (from a newer release) are ignored. A leading UTF-8 byte order
        mark (Excel's "CSV UTF-8") is skipped. Only the apostrophes :meth:`to_csv`
        adds are removed (before ``= + - @``, tab, carriage return or another
        apostrophe, in text columns); any other leading apostrophe is part of
        the value, and JSON, number, date-time and enumeration cells are never
        unescaped.

        Args:
            text: The CSV text, or an iterable of its lines.

        Returns:
            The records, in order.

        Raises:
            ValueError: Naming the row and the column when a cell is invalid.
        """
        # A UTF-8 byte order mark (Excel's "CSV UTF-8") is not part of the header.
        if isinstance(text, str):
            source: Iterable[str] = io.StringIO(text.removeprefix("\ufeff"), newline="")
        else:
            lines = iter(text)
            first = next(lines, None)
            source = [] if first is None else itertools.chain([first.removeprefix("\ufeff")], lines)
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None:
            return []
        by_name = {c.name: c for c in CSV_COLUMNS}
        columns: list[Column | None] = [by_name.get(name) for name in header]
        missing = [c.name for c in CSV_COLUMNS if c.name not in header]
        if missing:
            raise ValueError(f"CSV header: missing column(s) {', '.join(missing)}")
        out: list[Telemetry] = []
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(columns):
                raise ValueError(f"CSV row {number}: {len(row)} cells for {len(columns)} columns")
            nested: dict[str, Any] = {}
            for column, cell in zip(columns, row, strict=True):
                if column is None:
                    continue
                try:
                    value = _csv_cell(column, cell)
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

    # The generated formatter itself (see _compile_log_format), documented here:
    # one call per record, not a wrapper around it.
    to_log_format = staticmethod(_LOG_FORMAT)

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
        not scale). Each metric gets its own labels dict, keys sorted. A gauge
        whose value is unknown (None) or not finite (NaN, +-inf: only in a
        record built by the host) is left out, as the other formats write it
        as null or empty, so every value is a finite number (``json.dumps``
        with ``allow_nan=False`` accepts the result).

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
        names = _METRIC_NAMES.get(prefix)
        if names is None:
            names = _metric_names(prometheus_text.check_metric_name(prefix))
        checked = prometheus_text.check_labels(labels) if labels else {}
        # Checked while written: a record write meanwhile (another thread, a host
        # hook the checks call) discards the result (see to_json).
        start = _EPOCH[0]
        try:
            out = _metrics(telemetry, names, checked, include_stream_id)
            if start is not _WRITING and _EPOCH[0] is start:
                return out
        except Exception:  # noqa: S110 - any failure: the slow path (coerce) decides
            pass
        return _metrics(coerce(telemetry), names, checked, include_stream_id)

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
        :mod:`l0_monitoring.prometheus.text` for names and buckets).
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
            _severities(t),
            category_of(t.error.category) if t.error.occurred else None,
            t.metrics.time_to_first_token,
            t.timing.duration,
            t.metrics.tokens_per_second,
            t.timing.inter_token_latencies,
        )
    return series


def _severities(t: Telemetry) -> dict[Any, int]:
    """A record's violations by severity (for the Prometheus series of records).

    The listed ones by their severity; those past the list (``violation_count``
    beyond the 100 listed), and any whose severity is not text (a list, in a
    host-built record), under ``_other``.
    """
    counts: dict[Any, int] = {}
    listed = t.guardrails.violations
    for v in listed:
        severity = v.get("severity") if isinstance(v, Mapping) else None
        try:
            counts[severity] = counts.get(severity, 0) + 1
        except TypeError:  # unhashable (a host-built record): not a severity, so _other
            counts[None] = counts.get(None, 0) + 1
    unlisted = t.guardrails.total - len(listed)
    if unlisted > 0:
        counts[None] = counts.get(None, 0) + unlisted
    return counts


_RECORD_SEP = b'},{"stream_id":'
_RECORD_NL = b'}\n{"stream_id":'
# Records per serializer call on the verified path: a block checked just before
# it is written stays in the CPU caches (a batch of 10,000 does not, and then
# checking and writing each miss the same memory).
_JSONL_BLOCK = 256


def _jsonl_lines(body: bytes, count: int) -> bytes | None:
    """Compact JSON of ``count`` records, one per line, from a list's JSON body and a newline.

    Every record's JSON starts with its stream_id key, so each boundary is
    ``},{"stream_id":``; nested data holding the same bytes (a metadata list of
    objects keyed stream_id) makes more lines than records: then None (each
    record is written alone). Compact JSON holds no raw newline of its own.
    """
    text = body.replace(_RECORD_SEP, _RECORD_NL)
    return text if text.count(b"\n") == count else None


def _jsonl_verified(records: list[Any]) -> bytes | None:
    """to_jsonl's text when every record is verified at this epoch (else None).

    Blocks of records are checked (:func:`_current`) and then written by the
    list serializer without warnings; the output stands only if no record
    was written to meanwhile.
    """
    token = _EPOCH[0]
    serialize = _list_serializer().to_json
    parts = []
    plain = True
    try:
        for start in range(0, len(records), _JSONL_BLOCK):
            block = records[start : start + _JSONL_BLOCK]
            kinds = [*map(_current, block)]
            if 0 in kinds:
                return None
            plain = plain and 1 not in kinds
            parts.append(serialize(block, warnings=False)[1:-1])
    except Exception:  # any failure: the checked paths decide
        return None
    if _EPOCH[0] is not token:
        return None
    parts.append(b"")
    text = b"\n".join(parts)
    if plain:  # record boundaries only: no count needed (see _current)
        return text.replace(_RECORD_SEP, _RECORD_NL)
    return _jsonl_lines(text, len(records))


@functools.cache
def _list_serializer() -> Any:
    """The serializer of ``list[Telemetry]`` (built on first use: a fast import)."""
    from pydantic import TypeAdapter

    return TypeAdapter(list[Telemetry]).serializer


def _record_json(telemetry: Telemetry) -> bytes:
    """One record's compact JSON: the fast path, else the slow path (coerce)."""
    start = _EPOCH[0]
    if start is not _WRITING and _shape_ok(telemetry):  # checked, then written (see to_json)
        try:
            out = _SERIALIZER.to_json(telemetry, warnings="error")
            if not out.isascii():
                out.decode("utf-8")
            if _EPOCH[0] is start:
                return out
        except Exception:  # noqa: S110 - any failure: the slow path (coerce) decides
            pass
    return _SERIALIZER.to_json(coerce(telemetry))


_TIMING_CHECKED = itemgetter("started_at", "completed_at", "inter_token_latencies")
_TOP_CHECKED = itemgetter(
    "stream_id",
    "outcome",
    "schema_version",
    "completed",
    "aborted",
    "abandoned",
    "metadata",
    "content_length",
)
_OUTCOMES = frozenset(typing.get_args(Outcome))
_CATEGORIES = ERROR_CATEGORIES | {None}
_RETRY_CATEGORIES = frozenset({"network", "model", None})
_ERROR_CHECKED = itemgetter("occurred", "category", "recoverable")
_DRIFT_CHECKED = itemgetter("detected", "types")
_GUARD_CHECKED = itemgetter("violations", "passed", "violation_count", "rules_checked")
_STR_ONLY = frozenset({str})
_FIELD_COUNTS = (
    len(Telemetry.model_fields),
    *(len(_annotation((name,)).model_fields) for name in _SECTION_NAMES),
)


_RETRY_COUNTS = itemgetter(
    "attempt", "max_attempts", "model_retries", "network_retries", "total_retries"
)


def _shape_ok(t: Any) -> bool:
    """Whether the serializer (warnings as errors) writes ``t`` as :func:`coerce` leaves it.

    The serializer checks each value's type, except None (written null
    anywhere) and everything about values: so this checks the record's class
    (a subclass is exported as the Telemetry it is), no None where the schema
    forbids it (a section set to None has no ``__dict__``), enumerations and
    ``schema_version``, counts in range, aware date-times (UTC offsets of whole
    minutes: the serializer cuts seconds off an offset), finite inter-token
    gaps, and metadata and violations as JSON data. Reads by C-level
    itemgetters; anything unexpected answers False (the slow path).
    """
    if t.__class__ is not Telemetry:
        return False
    try:
        d = t.__dict__
        timing, retries, guardrails, error, metrics, drift = _SECTIONS(d)
        occurred, category, recoverable = _ERROR_CHECKED(error.__dict__)
        detected, drift_types = _DRIFT_CHECKED(drift.__dict__)
        g = guardrails.__dict__
        violations, passed, violation_count, rules_checked = _GUARD_CHECKED(g)
        started, ended, gaps = _TIMING_CHECKED(timing.__dict__)
        r = retries.__dict__
        stream_id, outcome, version, done, aborted, abandoned, metadata, length = _TOP_CHECKED(d)
        counts = (*_RETRY_COUNTS(r), rules_checked, metrics.__dict__["token_count"], length)
        sizes = (len(d), len(timing.__dict__), len(r), len(g), len(error.__dict__),
                 len(metrics.__dict__), len(drift.__dict__))  # fmt: skip
        if (
            sizes != _FIELD_COUNTS  # a field deleted (del t.model): coerce names it
            or stream_id is None
            or done is None
            or aborted is None
            or abandoned is None
            or metadata is None
            or occurred is None
            or recoverable is None
            or detected is None
            or passed is None
            or drift_types is None
            or (drift_types and {*map(type, drift_types)} != _STR_ONLY)
            or gaps is None
            or (started is not None and started.tzinfo is not UTC and not _stamp_ok(started))
            or (ended is not None and ended.tzinfo is not UTC and not _stamp_ok(ended))
            or (gaps and (x := sum(gaps, 0.0)) - x != 0)
            or max(counts) > MAX_SAFE_INT
            or min(counts) < 0
            or outcome not in _OUTCOMES
            or version != SCHEMA_VERSION
            or category not in _CATEGORIES
            or r["last_error_category"] not in _RETRY_CATEGORIES
            or (violation_count is not None and not 0 <= violation_count <= MAX_SAFE_INT)
            or (violations and not _violations_ok(violations))
        ):  # fmt: skip
            return False
        if not metadata:
            return True
        try:  # text keys and values, ASCII: two C-level joins (the usual metadata)
            if "".join(metadata).isascii() and "".join(metadata.values()).isascii():
                return True
        except TypeError:  # a value that is not text: each value decides
            pass
        return _json_value_ok(metadata, 64)
    except Exception:
        return False


def _dict_ok(data: dict[str, Any]) -> bool:
    """Whether the serializer's data needs nothing of the slow path (see to_dict).

    Every float leaf finite (one C-level sum; NaN or +-inf makes it non-finite,
    so may two huge values: then the slow path, which changes nothing) and the
    text leaves valid UTF-8 (to_python keeps lone surrogates; to_json raises).
    """
    timing = data["timing"]
    total = sum(filter(None, data["metrics"].values()), timing["duration"] or 0.0)
    total += (timing["time_to_first_token"] or 0.0) + (data["drift"]["score"] or 0.0)
    if total - total != 0:
        return False
    text = "".join(
        filter(
            None,
            (
                *_TEXTS(data),
                *_ERROR_TEXTS(data["error"]),
                data["retries"]["last_error"],
                *data["drift"]["types"],
            ),
        )
    )
    if text.isascii():
        return True
    return clean_text(text) is text


_CSV_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_CSV_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _leaf_type(path: tuple[str, ...]) -> tuple[Any, bool]:
    """The field's type at ``path`` (Optional and Annotated removed) and whether it is nullable."""
    model: Any = Telemetry
    annotation: Any = None
    for part in path:
        annotation = model.model_fields[part].annotation
        model = annotation
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation, nullable


_CSV_TYPES = {c.path: _leaf_type(c.path) for c in CSV_COLUMNS}

# Float leaves: a record built without validation (model_construct, or the
# Monitor's fast build) may hold +-inf or NaN there, which every reader of ours
# rejects; every writer turns them into null / an empty cell / no key.
_FLOAT_PATHS = tuple(p for p, (base, _) in _CSV_TYPES.items() if base is float)
_CSV_FLOAT = tuple(i for i, c in enumerate(CSV_COLUMNS) if c.path in _FLOAT_PATHS)
# The float fields of a record, read in one C call: from the model, and from a CSV row.
_FLOAT_VALUES = attrgetter(*(".".join(p) for p in _FLOAT_PATHS))
_CSV_FLOAT_CELLS = itemgetter(*_CSV_FLOAT)


# to_dict's finiteness check reads the metrics section whole (every leaf a
# number) and these leaves of other sections; a float leaf added elsewhere
# must be added there too (this fails at import until it is).
_DICT_FLOAT_LEAVES = {("timing", "duration"), ("timing", "time_to_first_token"), ("drift", "score")}
if any(p not in _DICT_FLOAT_LEAVES and p[0] != "metrics" for p in _FLOAT_PATHS) or any(
    p[0] == "metrics" and base not in (int, float) for p, (base, _) in _CSV_TYPES.items()
):  # pragma: no cover - a model change without the exporter change
    raise RuntimeError("TelemetryExporter.to_dict: update its finiteness check for the new fields")


def _all_finite(values: Iterable[Any]) -> bool:
    """Whether no value is NaN or +-inf, in one C-level sum for the usual record.

    A non-finite value makes the sum NaN or infinite; so may two huge finite
    ones (then the caller's exact per-value check runs, which changes nothing).
    """
    try:
        total = sum(filter(None, values))  # None and 0.0 add nothing
    except TypeError:  # a value that is not a number: let the exact check decide
        return False
    return bool(total - total == 0)


def _csv_rows_verified(records: list[Telemetry]) -> list[list[Any]] | None:
    """Every record's row when all are verified at this epoch (see to_jsonl's blocks), else None."""
    rows: list[list[Any]] = []
    for start in range(0, len(records), _JSONL_BLOCK):
        block = records[start : start + _JSONL_BLOCK]
        if not all(map(_current, block)):
            return None
        rows += map(_CSV_ROW_LIST, block)
    return rows


def _csv_row(record: Telemetry) -> list[Any]:
    """One record's row: the fast reader when the row is as :func:`coerce` leaves it."""
    try:
        row = _CSV_ROW_LIST(record)
        if _rows_ok([row]):
            return row
    except Exception:  # noqa: S110 - any failure: the slow path (coerce) decides
        pass
    return _CSV_ROW_LIST(coerce(record))


def _columns_where(test: Callable[[Any, bool, Column], bool]) -> tuple[int, ...]:
    return tuple(
        i
        for i, c in enumerate(CSV_COLUMNS)
        if test(_CSV_TYPES[c.path][0], _CSV_TYPES[c.path][1], c)
    )


def _cells(indexes: tuple[int, ...]) -> Callable[[list[Any]], Any]:
    # itemgetter of one index returns the cell itself, not a tuple of one.
    if len(indexes) == 1:
        i = indexes[0]
        return lambda row: (row[i],)
    return itemgetter(*indexes)


_NONE = type(None)
_ROW_FLOAT = _cells(_CSV_FLOAT)
_ROW_COUNT = _cells(_columns_where(lambda base, null, c: base is int and not null))
_ROW_NCOUNT = _cells(_columns_where(lambda base, null, c: base is int and null))
_ROW_DT = _cells(_CSV_DT)
_ROW_LITERALS = tuple(
    (_cells((i,)), frozenset({*typing.get_args(_CSV_TYPES[c.path][0]), None}))
    for i, c in enumerate(CSV_COLUMNS)
    if typing.get_origin(_CSV_TYPES[c.path][0]) is typing.Literal
)
_ROW_GAPS = _cells(
    _columns_where(lambda base, null, c: c.path == ("timing", "inter_token_latencies"))
)
_TZINFO = attrgetter("tzinfo")
_UTC_ONLY = frozenset({UTC})
_ROW_DRIFT_TYPES = _cells(_columns_where(lambda base, null, c: c.path == ("drift", "types")))
_ROW_VERSION = _cells(_columns_where(lambda base, null, c: c.path == ("schema_version",)))
_ROW_META = _cells(_columns_where(lambda base, null, c: c.path == ("metadata",)))
_ROW_VIOLATIONS = _cells(
    _columns_where(lambda base, null, c: c.path == ("guardrails", "violations"))
)


def _column_types(base: Any, nullable: bool, column: Column) -> frozenset[type]:
    """The classes a cell of ``column`` holds in a record as :func:`coerce` leaves it."""
    origin = typing.get_origin(base)
    if base is float or base is int or base is bool or base is str or base is datetime:
        kinds: set[type] = {base}
    elif origin is typing.Literal:
        kinds = {str}
    elif origin is list or origin is dict:
        kinds = {origin}
    else:  # pragma: no cover - a model change without the exporter change
        raise RuntimeError(f"to_csv: no cell rule for column {column.name}")
    return frozenset(kinds | {_NONE} if nullable else kinds)


_COLUMN_TYPES = tuple(_column_types(*_CSV_TYPES[c.path], c) for c in CSV_COLUMNS)
_SIGNATURES: dict[tuple[type, ...], bool] = {}  # row type signatures seen, and whether plain
_TYPE = itertools.repeat(type)


def _signature_ok(signature: tuple[type, ...]) -> bool:
    ok = _SIGNATURES.get(signature)
    if ok is None:
        ok = len(signature) == len(_COLUMN_TYPES) and all(
            kind in allowed for kind, allowed in zip(signature, _COLUMN_TYPES, strict=False)
        )
        if len(_SIGNATURES) >= 4096:  # bounded: host records can vary without end
            _SIGNATURES.clear()
        _SIGNATURES[signature] = ok
    return ok


def _rows_ok(rows: list[list[Any]]) -> bool:
    """Whether every cell of every row is as :func:`coerce` leaves it (C-level passes).

    A conjunction over the rows: the batch passes only when each row alone
    would, so the rows :func:`_csv_row` decides one by one are the same. The
    classes of a row's cells (its signature, one C call per row) are checked
    once per distinct signature; then the values: floats finite, counts in
    range, enumerations known, date-times aware, inter-token gaps finite.
    """
    chain = itertools.chain.from_iterable
    try:
        if not all(map(_signature_ok, {*map(tuple, map(map, _TYPE, rows))})):
            return False
        # NaN or +-inf, or two huge values (then each value decides exactly)
        if not _all_finite(chain(map(_ROW_FLOAT, rows))) and not all(
            v is None or v - v == 0 for v in chain(map(_ROW_FLOAT, rows))
        ):
            return False
        counts = [*chain(map(_ROW_COUNT, rows)), *filter(None, chain(map(_ROW_NCOUNT, rows)))]
        if min(counts) < 0 or max(counts) > MAX_SAFE_INT:
            return False
        for cells, allowed in _ROW_LITERALS:
            if not {*chain(map(cells, rows))} <= allowed:
                return False
        # Aware date-times: UTC (the usual, one set), else an offset of whole
        # minutes (a tzinfo may answer None: then the date-time is naive).
        stamps = [*filter(None, chain(map(_ROW_DT, rows)))]
        if not {*map(_TZINFO, stamps)} <= _UTC_ONLY and not all(map(_stamp_ok, stamps)):
            return False
        types = [*chain(chain(map(_ROW_DRIFT_TYPES, rows)))]  # items: text, valid UTF-8
        if types and not ({*map(type, types)} <= _STR_ONLY and _text_ok("".join(types))):
            return False
        gaps = [*chain(chain(map(_ROW_GAPS, rows)))]
        if gaps and not ({*map(type, gaps)} <= {float} and all(v - v == 0 for v in gaps)):
            return False
        if {*chain(map(_ROW_VERSION, rows))} != {SCHEMA_VERSION}:  # another: coerce checks it
            return False
        meta = [*filter(None, chain(map(_ROW_META, rows)))]
        if meta:
            # The usual metadata (text keys and values, ASCII): two C-level joins
            # for the batch; else each dict decides exactly.
            try:
                texts = "".join(chain(meta)) + "".join(chain(map(dict.values, meta)))
                plain = texts.isascii()
            except TypeError:
                plain = False
            if not plain and not all(map(_json_ok, meta)):
                return False
        listed = [*filter(None, chain(map(_ROW_VIOLATIONS, rows)))]
        if listed and not all(map(_violations_ok, listed)):
            return False
    except Exception:
        return False
    return True


_PLAIN = 2  # _current: verified, and no nested object can follow a record's "},{"


def _current(t: Any) -> int:
    """Whether ``t`` carries the verified mark of the current epoch, containers unchanged.

    Then every fast path writes it as is, without checks (see
    ``_internal/verified.py``); the caller re-reads the epoch after writing.
    The usual record (no gaps, violations or drift types listed; metadata of
    ASCII text) costs one join, inline here; anything else ``containers_ok``.

    Returns:
        0 when not; :data:`_PLAIN` when verified and holding no nested object
        besides its sections (no violations, metadata of text): its compact
        JSON holds ``},{"stream_id":`` nowhere; else 1.
    """
    try:
        mark = _get_mark(t)
    except Exception:  # no mark (a copy), another class
        return 0
    if mark.__class__ is not tuple or len(mark) != 5:  # none, seen once, failed
        return 0
    token, metadata, gaps, violations, types = mark
    if token is not _EPOCH[0]:
        return 0
    if gaps or violations or types or metadata.__class__ is not dict:
        if not _containers_ok(metadata, gaps, violations, types):
            return 0
        return 1 if violations else _current_metadata(metadata)
    return _current_metadata(metadata)


def _current_metadata(metadata: dict[Any, Any]) -> int:
    """:func:`_current` for a verified record's metadata (the other containers are fine)."""
    if not metadata:
        return _PLAIN
    try:
        if "".join([*metadata, *metadata.values()]).isascii():
            return _PLAIN
    except TypeError:  # a key or value that is not text: each value decides
        pass
    return 1 if _json_value_ok(metadata, 64) else 0


_ROW_TYPES = itertools.repeat(type)


def _leaves_ok(t: Telemetry) -> bool:
    """What the full check adds to :func:`_shape_ok`: every leaf exactly as coerce leaves it.

    The classes of all leaves (one signature, as to_csv checks a row), float
    leaves finite and text leaves (drift types too) valid UTF-8.
    """
    row = _CSV_ROW_LIST(t)
    if not _signature_ok(tuple(map(type, row))):
        return False
    floats = _ROW_FLOAT(row)
    if not _all_finite(floats) and not all(v is None or v - v == 0 for v in floats):
        return False
    text = "".join(filter(None, _CSV_STR_CELLS(row)))
    types = t.drift.types
    return _text_ok(text) and (not types or _text_ok("".join(types)))


def _verify(t: Any) -> object | None:
    """For an unmarked ``t``: the full check at its second export at one epoch.

    The first export of a record at an epoch only remembers it ("seen") and
    takes the formats' own checks, as without marks: a record exported once
    (or a record in a world whose epoch keeps moving) costs what it did. At
    the second, the full check (:func:`_shape_ok` and :func:`_leaves_ok`, what
    every format's fast path needs) runs once: a record that passes is marked
    and the epoch token returned; one that fails is remembered as failed and
    not checked again at this epoch. The token is read before checking, so a
    write during the check leaves the mark stale.

    Returns:
        The epoch token when ``t`` is now marked; else None.
    """
    token = _EPOCH[0]
    if token is _WRITING:  # a record write under way: the formats' own checks decide
        return None
    mark: Any
    try:
        mark = _get_mark(t)
    except AttributeError:  # a copy: no mark yet
        mark = None
    except Exception:  # another class: never marked
        return None
    try:
        if mark is not token:  # first export at this epoch, or failed at it
            if mark.__class__ is not tuple or len(mark) != 1 or mark[0] is not token:
                _set_mark(t, token)
            return None
        if _shape_ok(t) and _leaves_ok(t):
            _mark(t, token)
            return _EPOCH[0] if _EPOCH[0] is token else None
        _mark_failed(t, token)
    except Exception:  # noqa: S110 - any failure: not verified
        pass
    return None


def _csv_cell(column: Column, cell: str) -> Any:
    """One CSV cell as the JSON value the record contract expects (locale-independent)."""
    base, nullable = _CSV_TYPES[column.path]
    if cell == "":
        if nullable:
            return None
        if base is str:
            return ""
        raise ValueError("empty cell")
    if column.kind == "json":  # never escaped: JSON objects and arrays start with { or [
        return loads(cell)
    if column.kind == "str":
        return _csv_unescape(cell)
    if base is bool:
        if cell not in ("True", "False"):
            raise ValueError(f"must be True or False, got {safe_repr(cell)}")
        return cell == "True"
    if base is int:
        if not _CSV_INT.fullmatch(cell):
            raise ValueError(f"must be an integer, got {safe_repr(cell)}")
        return int(cell)
    if base is float:
        if not _CSV_NUMBER.fullmatch(cell):
            raise ValueError(f"must be a number, got {safe_repr(cell)}")
        return float(cell)
    return cell  # date-times and enumerations: checked by the record's validators


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "record"
    return f"{where}: {err.get('msg', 'invalid')}"
