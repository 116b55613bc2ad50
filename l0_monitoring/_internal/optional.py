"""Lazy imports of optional dependencies, with the exact install line on failure."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ImportError with the exact install line.

    Raises:
        ImportError: ``pip install 'l0-monitoring[<extra>]'`` in the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is not installed; install it with: pip install 'l0-monitoring[{extra}]'"
        ) from exc
