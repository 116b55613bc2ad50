"""Moved to :mod:`l0_monitoring.prometheus.text`; kept so existing imports work."""

from __future__ import annotations

from ..prometheus.text import *  # noqa: F403
from ..prometheus.text import __all__  # noqa: F401
