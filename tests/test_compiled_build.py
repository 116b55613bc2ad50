"""The optional mypyc build: what it needs from the code, and the build option itself.

A class compiled by mypyc cannot be weakly referenced, so the stream table
hands a ``WeakAnchor`` to the fork registry and its sweep timer; these tests
hold in the interpreted and the compiled build alike.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import threading
import weakref
import zipfile
from pathlib import Path

import pytest

from l0_monitoring import Monitor
from l0_monitoring._internal import lifecycle, workers
from l0_monitoring._internal.lifecycle import StreamTable
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
