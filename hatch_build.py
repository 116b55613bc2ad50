"""Hatchling build hook: schemas into the wheel and sdist; the mypyc-compiled hot path.

Compiling (``L0_MONITORING_COMPILE``, read when a wheel is built):

* unset, empty or ``auto`` (the default): compile :data:`COMPILED` with mypyc
  into a platform wheel when mypyc and a C compiler work; otherwise build the
  pure-Python wheel and give the reason in one line on stderr (``pip install
  -v`` shows it). ``pip install .`` thus gets the compiled hot path wherever
  it can be built, and still installs where it cannot;
* ``1``: compile, and fail the build if mypyc or a C compiler is missing;
* ``0``: the pure-Python wheel, without asking for mypy at build time.

The extension modules are built in a temporary directory and only copied into
the wheel: nothing is written next to the sources, where a ``.so`` would
shadow the ``.py`` being edited. Editable installs are never compiled (a
warning says so when ``L0_MONITORING_COMPILE`` is set).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# The per-event path: the stream table, the fold rules, facts, meta coercion and
# the recent-id ring. Everything they import stays interpreted.
COMPILED = (
    "l0_monitoring/_internal/lifecycle.py",
    "l0_monitoring/_internal/fold.py",
    "l0_monitoring/_internal/derive.py",
    "l0_monitoring/_internal/meta.py",
    "l0_monitoring/_internal/recent.py",
)
ENV = "L0_MONITORING_COMPILE"
# What compiling needs in the build environment (pip's isolated one included).
COMPILE_REQUIRES = ["mypy>=1.10", "mypy_extensions>=1.0", "setuptools>=65"]
COMPILE_TIMEOUT = 900.0  # seconds; past it ``auto`` builds the pure wheel (``1`` fails)

_SETUP = """\
import sys
from setuptools import setup
from mypyc.build import mypycify

setup(
    name="l0_monitoring_mypyc",
    ext_modules=mypycify(
        ["--config-file", {config!r}, "--follow-imports=silent", *{paths!r}],
        opt_level="3",
        target_dir={target!r},
    ),
)
"""


def _mode() -> str:
    value = os.environ.get(ENV, "").strip().lower()
    if value in {"", "auto"}:
        return "auto"
    if value in {"0", "no", "false", "off"}:
        return "off"
    if value in {"1", "yes", "true", "on"}:
        return "on"
    raise ValueError(f"{ENV} must be 0, 1 or auto, not {value!r}")


def _reason(exc: BaseException) -> str:
    """One line saying why compiling failed (the compiler's error line when there is one)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    line = (errors or lines or [type(exc).__name__])[-1 if errors else 0]
    return line if len(line) <= 300 else line[:297] + "..."


def _warn(message: str) -> None:
    print(f"l0-monitoring build: {message}", file=sys.stderr, flush=True)


class SchemaBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Writes ``schemas/`` fresh from the models at build time; compiles on request."""

    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        if self.target_name == "wheel" and _mode() != "off":
            return list(COMPILE_REQUIRES)
        return []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        sys.path.insert(0, self.root)
        try:
            from l0_monitoring.schemas import write_schemas
        finally:
            sys.path.remove(self.root)
        out = self._temp_dir("l0-monitoring-schemas-")
        write_schemas(out)
        # Wheel: inside the package, so installed code can read them; sdist: the
        # top-level folder consumers know from the repository.
        target = "l0_monitoring/_schemas" if self.target_name == "wheel" else "schemas"
        build_data["force_include"][str(out)] = target
        if self.target_name == "wheel":
            self._maybe_compile(version, build_data)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        for path in getattr(self, "_temp_dirs", ()):
            shutil.rmtree(path, ignore_errors=True)

    def _temp_dir(self, prefix: str) -> Path:
        """A temporary directory removed once the build's artifact is written."""
        path = Path(tempfile.mkdtemp(prefix=prefix))
        if not hasattr(self, "_temp_dirs"):
            self._temp_dirs: list[Path] = []
        self._temp_dirs.append(path)
        return path

    def _maybe_compile(self, version: str, build_data: dict[str, Any]) -> None:
        mode = _mode()
        if mode == "off":
            return
        if version == "editable":
            if os.environ.get(ENV, "").strip():
                _warn(
                    f"{ENV}={os.environ[ENV]} ignored for an editable install: it runs the "
                    "pure-Python sources (build a wheel to get the compiled hot path)"
                )
            return
        try:
            modules = self._compile()
        except Exception as exc:
            if mode == "on":
                raise
            _warn(f"building the pure-Python wheel (mypyc build failed: {_reason(exc)})")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["force_include"].update(modules)
        _warn(f"compiled with mypyc: {', '.join(COMPILED)}")

    def _compile(self) -> dict[str, str]:
        """Build the extension modules out of tree; returns {built file: path in the wheel}."""
        import mypyc  # noqa: F401  # fail early (and clearly) without mypyc

        if not sysconfig.get_config_var("CC") and sys.platform != "win32":
            raise RuntimeError("no C compiler configured for this Python")
        work = self._temp_dir("l0-monitoring-mypyc-")
        lib = work / "lib"
        setup = work / "setup.py"
        setup.write_text(
            _SETUP.format(
                config=str(Path(self.root) / "pyproject.toml"),
                paths=[str(Path(self.root) / p) for p in COMPILED],
                target=str(work / "c"),
            ),
            encoding="utf-8",
        )
        # Run from the work directory: setuptools must not read our pyproject.toml.
        result = subprocess.run(  # noqa: S603  # our own interpreter, our own script
            [
                sys.executable,
                str(setup),
                "build_ext",
                "--build-lib",
                str(lib),
                "--build-temp",
                str(work / "tmp"),
            ],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"mypyc failed:\n{result.stdout}\n{result.stderr}")
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        built = {str(p): p.relative_to(lib).as_posix() for p in lib.rglob(f"*{suffix}")}
        expected = {p.removesuffix(".py") + suffix for p in COMPILED}
        missing = expected - set(built.values())
        if missing:
            raise RuntimeError(f"mypyc built no {sorted(missing)}")
        return built
