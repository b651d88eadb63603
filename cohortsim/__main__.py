"""Allow ``python -m cohortsim``."""

from cohortsim.cli import entry_point

entry_point()
