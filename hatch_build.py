"""Hatchling build hook: generate the JSON Schemas from the models into the wheel and sdist."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class SchemaBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Writes ``schemas/`` fresh from the models at build time."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        sys.path.insert(0, self.root)
        try:
            from l0_monitoring.schemas import write_schemas
        finally:
            sys.path.remove(self.root)
        out = Path(tempfile.mkdtemp(prefix="l0-monitoring-schemas-"))
        write_schemas(out)
        # Wheel: inside the package, so installed code can read them; sdist: the
        # top-level folder consumers know from the repository.
        target = "l0_monitoring/_schemas" if self.target_name == "wheel" else "schemas"
        build_data["force_include"][str(out)] = target
