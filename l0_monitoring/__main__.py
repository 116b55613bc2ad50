"""``python -m l0_monitoring``: the ``l0-monitoring`` command."""

from .cli import main

raise SystemExit(main())
