"""Package version (single source for hatchling and ``l0_monitoring.__version__``)."""

__version__ = "0.1.0"
