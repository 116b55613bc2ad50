"""Developer sessions: ``nox -s tests lint typecheck bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite with every extra installed."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def tests_compiled(session: nox.Session) -> None:
    """Run the suite against the mypyc-compiled build (a wheel install, not editable).

    ``--import-mode=append`` keeps the checkout's ``l0_monitoring`` behind the
    installed one; test_compiled_build.py fails if the hot path is not compiled.
    """
    env = {"L0_MONITORING_COMPILE": "1"}
    session.install("--no-cache-dir", ".[dev]", env=env)
    session.run("pytest", "--import-mode=append", *session.posargs,
                env={"L0_MONITORING_EXPECT_COMPILED": "1"})  # fmt: skip


@nox.session
def tests_minimal(session: nox.Session) -> None:
    """Run the suite with only the core dependencies (integration tests skip)."""
    session.install("-e", ".", "pytest", "pytest-asyncio", "hypothesis", "jsonschema")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", "l0_monitoring", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "l0_monitoring", "tests", "benchmarks")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "l0_monitoring")


@nox.session
def schemas(session: nox.Session) -> None:
    """Regenerate the committed JSON Schemas in schemas/ from the models."""
    session.install("-e", ".")
    session.run("python", "-m", "l0_monitoring.schemas", "--out", "schemas")


@nox.session
def slo(session: nox.Session) -> None:
    """Regenerate deploy/ (Prometheus rules, Grafana dashboard) from the SLO targets."""
    session.install("-e", ".")
    session.run("python", "-m", "l0_monitoring", "slo", "generate", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Side-by-side benchmarks against the reference l0.monitoring (ai2070-l0)."""
    session.install("-e", ".[dev]")
    session.run("python", "benchmarks/bench_monitor.py", *session.posargs)
    session.run("python", "benchmarks/bench_exporters.py")
    session.run("python", "benchmarks/bench_otel.py")
    session.run("python", "benchmarks/bench_combined.py")
    session.run("python", "benchmarks/bench_replay.py")
    session.run("python", "benchmarks/bench_prometheus.py")
    session.run("python", "benchmarks/bench_import.py")
