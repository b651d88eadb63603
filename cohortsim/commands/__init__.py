"""One module per command; each has ``add_arguments(parser)`` and ``run(args) -> int``.

A command's module is imported only when that command is run (or its ``--help`` asked for):
importing every command up front would load the calibration pipeline and ``scipy.stats`` —
about 0.7 s — on every start, including a ``power`` run that needs neither.
"""

from __future__ import annotations

import importlib
from types import ModuleType

COMMANDS: dict[str, str] = {
    "simulate": "simulate trials and write patient timelines (Parquet)",
    "power": "power, sample size and assurance of a randomised trial by simulation",
    "calibrate": "estimate disease parameters from a pilot's reported figures (posterior draws)",
    "validate": "check the calibrated model against every reported figure of the pilot",
}
"""Command name → one-line help."""


def load_command(name: str) -> ModuleType:
    """The module of command ``name`` (imported on first use)."""
    if name not in COMMANDS:
        raise KeyError(name)
    return importlib.import_module(f"cohortsim.commands.{name}")
