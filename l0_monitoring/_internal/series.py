"""Moved to :mod:`l0_monitoring.prometheus.series`; kept so existing imports work."""

from __future__ import annotations

from ..prometheus.series import *  # noqa: F403
from ..prometheus.series import __all__  # noqa: F401
