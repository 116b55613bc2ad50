"""The optional mypyc build: what it needs from the code, and the build option itself.

A class compiled by mypyc cannot be weakly referenced, so the stream table
hands a ``WeakAnchor`` to the fork registry and its sweep timer; these tests
hold in the interpreted and the compiled build alike.
"""

from __future__ import annotations

import enum
import gc
import os
import shutil
import subprocess
import sys
import threading
import weakref
import zipfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from l0_monitoring import Monitor
from l0_monitoring._internal import lifecycle, workers
from l0_monitoring._internal.lifecycle import StreamTable
from l0_monitoring._internal.safe import safe_str
from l0_monitoring.config import MetricsConfig
from l0_monitoring.testing import ManualClock, make_stream_events

ROOT = Path(__file__).resolve().parent.parent
COMPILED = ("lifecycle", "fold", "derive", "meta", "recent")


@pytest.mark.skipif(
    not os.environ.get("L0_MONITORING_EXPECT_COMPILED"),
    reason="set by `nox -s tests_compiled`",
)
def test_the_suite_runs_against_the_compiled_hot_path():
    from l0_monitoring._internal import derive, fold, meta, recent

    for module in (lifecycle, fold, derive, meta, recent):
        assert not module.__file__.endswith(".py"), module.__file__


def _open_stream(table: StreamTable, sid: str = "s1") -> None:
    events = make_stream_events(sid, outcome="none")
    for e in events[:3]:  # started, not finished: the idle sweep is scheduled
        table.handle_event(e)


def test_a_dropped_table_is_freed_despite_the_fork_registry_and_a_pending_sweep():
    clock = ManualClock()
    table = StreamTable(clock=clock, idle_timeout=5.0)
    _open_stream(table)
    assert table.in_flight() == 1 and clock.pending == 1
    anchor = weakref.ref(table._anchor)
    assert anchor() in set(workers._FORK_AWARE)
    del table
    gc.collect()  # the table and its anchor form a cycle: freed by the collector
    assert anchor() is None
    clock.advance(60.0)  # the orphaned sweep finds nothing and does not reschedule
    assert clock.pending == 0


def test_the_fork_hook_gives_the_table_a_fresh_lock_and_its_sweep_back():
    clock = ManualClock()
    table = StreamTable(clock=clock, idle_timeout=5.0)
    _open_stream(table)
    held = table._lock
    held.acquire()  # as if a parent thread held it at fork time
    try:
        (anchor,) = [w for w in list(workers._FORK_AWARE) if getattr(w, "target", None) is table]
        anchor._after_fork_in_child()  # what os.register_at_fork runs in the child
        assert table._lock is not held and table._lock.acquire(timeout=1.0)
        table._lock.release()
        assert clock.pending == 2  # the parent's handle (its thread is gone) and a new one
        clock.advance(10.0)
        assert table.in_flight() == 0 and table.stats()["streams_idle"] == 1
    finally:
        held.release()


def test_a_disabled_table_ignores_every_event_malformed_and_mappings_included():
    table = StreamTable(enabled=False)
    for e in make_stream_events("s1"):
        table.handle_event(e)
    table.handle_event({"type": "SESSION_START", "ts": 1.0, "stream_id": "m"})
    table.handle_event(object())
    table.handle_event(make_stream_events("")[0])
    assert table.in_flight() == 0
    assert set(table.stats().values()) == {0}


def test_the_handlers_and_the_monitor_subclass_the_compiled_listener_classes():
    from l0_monitoring.otel.handler import OpenTelemetryHandler
    from l0_monitoring.sentry.handler import SentryHandler

    assert issubclass(Monitor, lifecycle.StreamListener)
    assert issubclass(OpenTelemetryHandler, lifecycle.TableView)
    assert issubclass(SentryHandler, lifecycle.TableView)
    m = Monitor()
    ref = weakref.ref(m)  # an interpreted subclass keeps its weak references
    del m
    gc.collect()
    assert ref() is None


def test_a_view_subclass_that_sets_wants_tokens_is_called_per_token_and_stays_callable():
    # Regression (mypyc build): TableView added __call__ below StreamListener, so
    # the compiled layouts differed and setting wants_tokens overwrote the
    # vectorcall slot: the next call crashed the interpreter.
    seen: list[str] = []

    class View(lifecycle.TableView):
        def __init__(self) -> None:
            self.wants_tokens = True
            self._own_table(MetricsConfig(), max_in_flight=10, idle_timeout=None, clock=None)

        def on_token(self, st, ts, meta):
            seen.append(meta["token"])

    view = View()
    events = make_stream_events("s1", tokens=["a", "b", "c"])
    for e in events:
        view(e)
    assert seen == ["a", "b", "c"]
    assert view.table.stats()["streams_finished"] == 1
    assert lifecycle.StreamListener()(events[0]) is None  # a plain listener ignores calls


def _build(tmp_path: Path, env_value: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``pip wheel`` of the checkout; ``env_value`` None leaves L0_MONITORING_COMPILE unset."""
    env = {k: v for k, v in os.environ.items() if k != "L0_MONITORING_COMPILE"}
    if env_value is not None:
        env["L0_MONITORING_COMPILE"] = env_value
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path), *args, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_the_default_wheel_is_compiled_runs_the_hot_path_and_leaves_no_file_in_the_tree(
    tmp_path,
):
    # What `pip install .` gives: L0_MONITORING_COMPILE unset means auto, and
    # with mypyc and a C compiler present, auto compiles.
    pytest.importorskip("mypyc")
    before = sorted(p for p in (ROOT / "l0_monitoring").rglob("*") if p.suffix in {".so", ".pyd"})
    result = _build(tmp_path / "w", None)
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "w").glob("*.whl")
    assert "-none-any" not in wheel.name  # a platform wheel
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(tmp_path / "site")
    for mod in COMPILED:
        prefix = f"l0_monitoring/_internal/{mod}."
        assert any(n.startswith(prefix) and n.endswith(".so") for n in names)
    after = sorted(p for p in (ROOT / "l0_monitoring").rglob("*") if p.suffix in {".so", ".pyd"})
    assert after == before  # built out of tree: nothing shadows the sources
    script = (
        "import l0_monitoring._internal.lifecycle as l\n"
        "from l0_monitoring import Monitor\n"
        "from l0_monitoring.testing import make_stream_events\n"
        "m = Monitor()\n"
        "for e in make_stream_events('s1'): m.handle_event(e)\n"
        "print(l.__file__.rsplit('.', 1)[-1], m.stats()['streams_finished'])\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["so", "1"]


@pytest.mark.slow
def test_auto_falls_back_to_the_pure_wheel_without_a_working_c_compiler(tmp_path):
    pytest.importorskip("mypyc")
    env = {**os.environ, "L0_MONITORING_COMPILE": "auto", "CC": str(tmp_path / "no-cc")}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "building the pure-Python wheel (mypyc build failed: " in result.stdout + result.stderr
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as z:
        assert not [n for n in z.namelist() if n.endswith((".so", ".pyd"))]


@pytest.mark.parametrize("value", ["1", None])
def test_an_editable_build_is_never_compiled_and_says_so_when_asked(tmp_path, value):
    pytest.importorskip("hatchling")
    code = (
        "import sys\n"
        "from hatchling.build import build_editable\n"
        "print(build_editable(sys.argv[1]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "L0_MONITORING_COMPILE"}
    if value is not None:
        env["L0_MONITORING_COMPILE"] = value
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Asked for explicitly, the warning; by default (auto) an editable build is quiet.
    assert ("ignored for an editable install" in result.stderr) == (value is not None)
    wheel = tmp_path / result.stdout.split()[-1]
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as z:
        assert not [n for n in z.namelist() if n.endswith((".so", ".pyd"))]


def test_compile_0_builds_the_pure_wheel_without_asking_for_mypy(tmp_path):
    result = _build(tmp_path, "0")
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as z:
        assert not [n for n in z.namelist() if n.endswith((".so", ".pyd"))]
    code = "from hatchling.build import get_requires_for_build_wheel as g\nprint(sorted(g()))\n"
    requires = {}
    for value in ("0", None, "auto", "1"):
        env = {k: v for k, v in os.environ.items() if k != "L0_MONITORING_COMPILE"}
        if value is not None:
            env["L0_MONITORING_COMPILE"] = value
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
        requires[value] = run.stdout
    assert "mypy" not in requires["0"]
    assert "'mypy>=" in requires[None] and requires[None] == requires["auto"] == requires["1"]


def test_a_bad_compile_setting_fails_the_build(tmp_path):
    result = _build(tmp_path, "maybe")
    assert result.returncode != 0
    assert "L0_MONITORING_COMPILE must be 0, 1 or auto" in result.stderr + result.stdout


def test_the_lock_of_a_table_is_rebuilt_even_if_another_thread_held_it_at_fork():
    # The lock held by a live other thread (in a child, that thread is gone).
    table = StreamTable(clock=ManualClock(), idle_timeout=None)
    holder_ready, release = threading.Event(), threading.Event()

    def hold() -> None:
        with table._lock:
            holder_ready.set()
            release.wait(5.0)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holder_ready.wait(5.0)
        table._anchor._after_fork_in_child()
        assert table._lock.acquire(timeout=1.0)
        table._lock.release()
    finally:
        release.set()
        t.join(5.0)


# -- hostile input: the same result in both builds ------------------------------------
# Compiled code checks the declared type of every typed local, attribute and
# argument, where the interpreter lets any object through. Each case below is
# an event-derived (or caller-given) value of an unexpected type on its way into
# a typed slot; the suite runs these against both builds (CI: the compiled run).


class _Event:
    """A duck-typed event: any object with the five attributes is accepted."""

    def __init__(self, type_, ts, sid="s", context=None, meta=None):
        self.type, self.ts, self.stream_id = type_, ts, sid
        self.context = {} if context is None else context
        self.meta = {} if meta is None else meta


class _Facts(lifecycle.StreamListener):
    def __init__(self) -> None:
        self.finished = []

    def on_finish(self, st, facts):
        self.finished.append(facts)


def _fold(events, **table_kw):
    """Events through a strict table (an internal error raises); (facts, malformed count)."""
    table = StreamTable(raise_errors=True, clock=ManualClock(), **table_kw)
    sink = _Facts()
    table.attach(sink)
    for e in events:
        table.handle_event(e)
    table.close()
    return sink.finished, table.stats()["malformed_events"]


class _IntLevel(enum.IntEnum):
    TWELVE = 12


_GOOD_TS = [
    5,
    Decimal("5"),
    np.float64(5),
    np.float32(5),
    np.int64(5),
    Fraction(5),
    _IntLevel.TWELVE,
]


@pytest.mark.parametrize("ts", _GOOD_TS, ids=repr)
def test_a_numeric_ts_of_any_real_type_times_the_stream_as_a_plain_float(ts):
    events = [_Event("SESSION_START", 0.0), _Event("TOKEN", ts, meta={"token": "ab"})]
    events += [_Event("TOKEN", ts), _Event("COMPLETE", ts)]
    (f,), malformed = _fold(events)
    ms = float(ts)
    assert malformed == 0
    assert (f.outcome, f.tokens, f.chars) == ("completed", 2, 2)
    assert f.duration == f.ttft == ms / 1000.0 and f.end_ms == ms
    # numpy.float64 is a float subclass: carried as a plain float in both builds.
    assert type(f.duration) is float and type(f.ttft) is float and type(f.end_ms) is float
    (g,), malformed = _fold([_Event("SESSION_START", ts), _Event("COMPLETE", ms + 1.0)])
    assert malformed == 0 and g.start_ms == ms and type(g.start_ms) is float


_BAD_TS = [True, np.bool_(True), "5", None, [1], float("nan"), float("inf"), 10**400, b"5"]


@pytest.mark.parametrize("ts", _BAD_TS, ids=repr)
def test_a_ts_that_is_no_finite_number_is_malformed_and_the_stream_still_ends_once(ts):
    events = [_Event("SESSION_START", 0.0), _Event("TOKEN", ts), _Event("COMPLETE", ts)]
    (f,), malformed = _fold(events)
    assert malformed == 2 and f.outcome == "abandoned" and f.tokens == 0
    finished, malformed = _fold([_Event("SESSION_START", ts), _Event("COMPLETE", 3.0)])
    assert malformed == 1  # no stream opened by the bad event; COMPLETE opens and ends one
    assert [f.outcome for f in finished] == ["completed"]


_GOOD_COUNTS = [12, 12.0, np.float64(12), np.int64(12), Decimal("12"), Fraction(24, 2)]
_GOOD_COUNTS += [_IntLevel.TWELVE]
_BAD_COUNTS = [True, np.bool_(True), "12", -1, 10**30, 12.5, float("inf"), {"a": 1}]
_BAD_COUNTS += [np.array([12, 12]), 12 + 0j]


@pytest.mark.parametrize("value", _GOOD_COUNTS + _BAD_COUNTS, ids=repr)
def test_meta_counts_of_any_type_follow_the_number_rule(value):
    good = any(value is g for g in _GOOD_COUNTS)
    meta = {"tokenCount": value, "contentLength": value}
    events = [_Event("SESSION_START", 0.0, meta={"attempt": value})]
    events += [_Event("RETRY_START", 1.0, meta={"maxAttempts": value})]
    events += [_Event("COMPLETE", 2.0, meta=meta)]
    (f,), malformed = _fold(events)
    assert f.outcome == "completed"
    assert (f.tokens, f.chars, malformed) == ((12, 12, 0) if good else (0, 0, 3))
    assert type(f.tokens) is int


class _PlainTypes(enum.Enum):
    SESSION_START = "SESSION_START"
    TOKEN = "TOKEN"
    COMPLETE = "COMPLETE"


class _StrTypes(str, enum.Enum):
    SESSION_START = "SESSION_START"
    TOKEN = "TOKEN"
    COMPLETE = "COMPLETE"


@pytest.mark.parametrize("kind", [_PlainTypes, _StrTypes, None], ids=repr)
def test_event_types_of_another_enum_class_fold_by_value(kind):
    def t(name):
        return name if kind is None else kind[name]

    events = [_Event(t("SESSION_START"), 0.0), _Event(t("TOKEN"), 1.0, meta={"token": "a"})]
    events += [_Event(t("TOKEN"), 3.0, meta={"token": "bc"}), _Event(t("COMPLETE"), 4.0)]
    (f,), malformed = _fold(events)
    assert malformed == 0
    assert (f.outcome, f.tokens, f.chars, f.ttft, f.duration) == ("completed", 2, 3, 0.001, 0.004)
    assert f.tokens_per_second == pytest.approx(500.0)


_ODD = [np.float64(1.5), np.array([1, 2]), Decimal("NaN"), b"x", object(), {"k": 1}, ["x"]]
_ODD += [3 + 1j, _IntLevel.TWELVE, np.str_("gpt"), float("inf"), np.bool_(False), -7]


@pytest.mark.parametrize("value", _ODD, ids=lambda v: type(v).__name__)
def test_meta_and_context_values_of_odd_types_never_raise_and_name_text_or_nothing(value):
    keys = ("model", "sessionId", "provider", "isNetwork", "failureType", "reason", "error")
    keys += ("errorCode", "recoveryStrategy", "score", "detected", "timeoutType", "code")
    keys += ("error_type", "text", "content", "response_model", "responseModel")
    meta = dict.fromkeys(keys, value)
    violation = {"rule": value, "message": value, "severity": value, "position": value}
    events = [
        _Event("SESSION_START", 0.0, context={"model": value, 1: value, None: value}, meta=meta),
        _Event("RETRY_ATTEMPT", 1.0, meta=meta),
        _Event("TIMEOUT_RESET", 1.0, meta=meta),
        _Event("DRIFT_CHECK_RESULT", 2.0, meta=meta),
        _Event("GUARDRAIL_RULE_RESULT", 2.0, meta={"violation": violation}),
        _Event("GUARDRAIL_RULE_RESULT", 2.0, meta={"violations": [value, violation]}),
        _Event("GUARDRAIL_RULE_RESULT", 2.0, meta={"violations": value}),
        _Event("NETWORK_ERROR", 2.0, context=value, meta=meta),
        _Event("ERROR", 2.5, meta=meta),
        _Event("FALLBACK_MODEL_SELECTED", 2.6, meta=meta),
        _Event("TOKEN", 2.7, meta={**meta, "token": value}),
        _Event("TOKEN", 2.8, meta=meta),  # no `token`: `text`, else `content`
        _Event("COMPLETE", 3.0, context=value, meta=meta),
    ]
    (f,), _ = _fold(events)
    assert f.outcome in {"completed", "failed"} and f.tokens == 2
    for name in ("model", "request_model", "session_id", "provider", "error_code"):
        assert getattr(f, name) is None or type(getattr(f, name)) is str, name
    # Two violation dicts; a list value adds its item as a third, {"message": "x"}.
    assert f.violation_count == (3 if isinstance(value, list) else 2)
    assert all(type(t) is str for t in f.drift_types)
    assert set(f.as_dict()) >= {"model", "outcome", "ttft", "violation_count"}


def test_facts_as_dict_names_every_fact_in_both_builds():
    (f,), _ = _fold(make_stream_events("s1"))
    data = f.as_dict()
    assert len(data) == 26 and data["stream_id"] == "s1" and data["outcome"] == "completed"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(5, 5.0), (np.int64(5), 5.0), (Decimal("2.5"), 2.5), (np.float64(5), 5.0),
     (None, 0.0), (0, 0.0), (float("inf"), 0.0)],
    ids=repr,
)  # fmt: skip
def test_idle_timeout_takes_any_real_number_of_seconds(value, seconds):
    clock = ManualClock()
    table = StreamTable(clock=clock, idle_timeout=value)
    assert table.idle_timeout == seconds and type(table.idle_timeout) is float
    table.handle_event(_Event("SESSION_START", 0.0))
    clock.advance(seconds + 1.0 if seconds else 10_000.0)
    assert table.in_flight() == (0 if seconds else 1)

    class View(lifecycle.TableView):
        def __init__(self) -> None:
            self._own_table(MetricsConfig(), max_in_flight=10, idle_timeout=value, clock=clock)

    assert View().table.idle_timeout == seconds


@pytest.mark.parametrize("value", ["5", True, -1, float("nan"), [5], float("-inf")], ids=repr)
def test_a_bad_idle_timeout_is_a_value_error_naming_it(value):
    with pytest.raises(ValueError, match="idle_timeout must be None or a number of seconds"):
        StreamTable(idle_timeout=value)


@pytest.mark.parametrize("text", [np.array(["a", "b"]), "", None, 0], ids=repr)
def test_token_text_falls_back_to_content_without_truth_testing_text(text):
    meta = {"content": "xyz"} if text is None else {"text": text, "content": "xyz"}
    events = [_Event("SESSION_START", 0.0), _Event("TOKEN", 1.0, meta=meta)]
    (f,), malformed = _fold([*events, _Event("COMPLETE", 2.0)])
    # Absent or empty text: the content's 3 characters; any other text is not str: 0.
    falls_back = text is None or (isinstance(text, str) and not text)
    assert (f.chars, malformed) == ((3, 0) if falls_back else (0, 0))
    from l0_monitoring._internal.meta import token_text

    assert token_text(meta) == ("xyz" if falls_back else None)


def test_an_event_type_or_context_with_no_truth_value_is_malformed_or_ignored_never_raised():
    events = [_Event("SESSION_START", 0.0, context=np.array([1, 2]))]
    events += [_Event(np.array(["TOKEN", "TOKEN"]), 1.0), _Event("TOKEN", 1.5)]
    events += [_Event("COMPLETE", 2.0, context=np.array([3, 4]))]
    (f,), malformed = _fold(events)
    assert malformed == 1  # the array-typed event
    assert (f.outcome, f.tokens) == ("completed", 1)


def test_the_network_error_reader_takes_values_with_no_truth_value():
    from l0_monitoring._internal.meta import network_error

    arr = np.array([1, 2])
    error, kind, retried = network_error({"error": arr, "code": arr})
    assert error is arr and kind == safe_str(arr, 64).strip() and retried is True
    assert network_error({"error": "", "code": "", "error_type": "ETIMEDOUT"})[:2] == (
        "network error",
        "ETIMEDOUT",
    )
    assert network_error({"code": "  "})[1] == "unknown"
