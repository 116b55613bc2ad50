"""The public surface: ``__all__``, lazy resolution, and what type checkers see."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import l0_monitoring

INIT = Path(l0_monitoring.__file__)


def test_all_is_sorted_and_every_name_resolves():
    names = l0_monitoring.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(l0_monitoring, name) is not None, name
    assert set(names) <= set(dir(l0_monitoring))


def test_the_lazy_mapping_covers_exactly_the_public_names():
    assert set(l0_monitoring._LAZY) == set(l0_monitoring.__all__) - {"__version__"}


def test_type_checkers_see_the_same_names_as_the_lazy_mapping():
    tree = ast.parse(INIT.read_text())
    checked: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    checked |= {alias.asname or alias.name for alias in stmt.names}
    assert checked == set(l0_monitoring._LAZY)


def test_each_name_is_the_object_of_its_module():
    for name, modules in l0_monitoring._LAZY.items():
        found = []
        for relative in modules:
            try:
                module = importlib.import_module(relative, "l0_monitoring")
            except ModuleNotFoundError:
                continue
            if hasattr(module, name):
                found.append(getattr(module, name))
        assert found and getattr(l0_monitoring, name) is found[0], name


def test_an_unknown_name_is_an_attribute_error():
    try:
        l0_monitoring.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_package_alone_loads_no_models():
    r = subprocess.run(
        [sys.executable, "-c", "import sys, l0_monitoring; print(sorted(sys.modules))"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "pydantic" not in r.stdout and "l0_monitoring.telemetry" not in r.stdout


def test_the_typical_import_builds_no_validator_and_loads_no_integration():
    # Building any pydantic validator at import costs its plugin scan
    # (importlib.metadata, ~20 ms) and a schema build in every process that
    # imports us; the models and adapters build on first use instead.
    code = (
        "import sys\n"
        "from l0_monitoring import Monitor, MonitoringConfig, Telemetry\n"
        "from l0_monitoring.telemetry import TimingInfo\n"
        "built = [c.__name__ for c in (Telemetry, TimingInfo, MonitoringConfig)\n"
        "         if c.__pydantic_complete__]\n"
        "print(' '.join(sorted(sys.modules)))\n"
        "print('built:', built)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules, built = r.stdout.splitlines()
    loaded = set(modules.split())
    not_wanted = (
        "importlib.metadata",
        "pydantic.plugin._loader",
        "pydantic.type_adapter",
        "pydantic_settings",
        "opentelemetry",
        "sentry_sdk",
        "l0_monitoring.exporters",
    )
    for name in not_wanted:
        assert name not in loaded, name
    assert built == "built: []"
    # First use still works: the deferred models and adapters build then.
    from l0_monitoring import Telemetry
    from l0_monitoring.telemetry import validate_aggregate_metrics

    assert Telemetry(stream_id="s").outcome == "failed"
    try:
        validate_aggregate_metrics({"count": 1})
    except ValueError as exc:  # pydantic.ValidationError: the missing keys are named
        assert "total_tokens" in str(exc)
    else:
        raise AssertionError("expected a ValidationError")
