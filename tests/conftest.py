"""Shared fixtures: event factories, an environment fixture, log capture."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from l0_monitoring import ObservabilityEvent, ObservabilityEventType
from l0_monitoring._internal import guard

# Strict mode: an internal error the package would swallow (and log) in
# production is re-raised here, so a hidden bug fails the test that hit it.
guard.set_strict(True)

# CI runs the same examples every time (Hypothesis' advice for CI): a red build is
# reproducible and never depends on the draw. Locally the draws are random, and a
# failing example is printed with its reproduce blob.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test sources shadowed by compiled modules left next to them.

    A ``.so`` beside ``lifecycle.py`` (an in-place ``mypyc`` run) is imported
    instead of the ``.py``, so edits would silently not be tested. The
    packaged build never writes there (see hatch_build.py); the compiled
    suite (``nox -s tests_compiled``) sets L0_MONITORING_EXPECT_COMPILED.
    """
    import l0_monitoring

    if os.environ.get("L0_MONITORING_EXPECT_COMPILED"):
        # The compiled run (CI, `nox -s tests_compiled`): refuse to test anything
        # else, e.g. the checkout's sources put first on sys.path by `python -m`.
        import importlib

        hot = ("lifecycle", "fold", "derive", "meta", "recent")
        files = [importlib.import_module(f"l0_monitoring._internal.{m}").__file__ for m in hot]
        interpreted = [f for f in files if f is None or f.endswith(".py")]
        if interpreted:
            raise pytest.UsageError(
                "L0_MONITORING_EXPECT_COMPILED is set but these hot-path modules are "
                f"interpreted (run the installed `pytest` script, not `python -m`): {interpreted}"
            )
        return
    package = Path(l0_monitoring.__file__).parent
    shadows = sorted(
        str(p) for p in package.rglob("*") if p.suffix in {".so", ".pyd"} and p.with_name(
            p.name.split(".", 1)[0] + ".py").exists()
    )  # fmt: skip
    if shadows:
        raise pytest.UsageError(
            "compiled modules shadow the sources under test (remove them, e.g. "
            f"`git clean -X l0_monitoring`): {shadows}"
        )


T = ObservabilityEventType
T0 = 1_700_000_000_000.0


def ev(
    t: ObservabilityEventType | str, ts: float, sid: str = "s1", ctx=None, **meta
) -> ObservabilityEvent:
    """Shorthand for one event at ``T0 + ts`` milliseconds."""
    return ObservabilityEvent(t, T0 + ts, sid, dict(ctx or {}), meta)


def missing_tool(reason: str) -> None:
    """Skip for lack of an external tool; in CI (L0_MONITORING_REQUIRE_TOOLS=1) fail instead."""
    if os.environ.get("L0_MONITORING_REQUIRE_TOOLS") == "1":
        pytest.fail(f"required tool missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Clear every OTEL_/SENTRY_/L0_ variable, then let the test set what it needs."""
    for key in list(os.environ):
        if key.startswith(("OTEL_", "SENTRY_", "L0_")):
            monkeypatch.delenv(key, raising=False)
    yield monkeypatch


@pytest.fixture(autouse=True)
def _fresh_error_rate_limits() -> None:
    """Each test sees the first report of every kind logged (no rate limit left by another)."""
    from l0_monitoring._internal.guard import _REPORTERS

    for reporter in list(_REPORTERS):
        reporter._last.clear()
        reporter._suppressed.clear()


@pytest.fixture(autouse=True)
def _reset_logger_level() -> Iterator[None]:
    logger = logging.getLogger("l0_monitoring")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.fixture
def lenient() -> Iterator[None]:
    """Production behaviour for a test that injects internal failures on purpose."""
    guard.set_strict(False)
    try:
        yield
    finally:
        guard.set_strict(True)
