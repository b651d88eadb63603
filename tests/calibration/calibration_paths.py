"""Paths and the seed shared by the calibration tests (a plain module: conftest modules of
different test folders share one import name, so constants are not imported from them)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
PILOT = SCENARIOS / "liang2010_pilot.toml"
TARGETS = SCENARIOS / "targets" / "liang2010.toml"
CALIBRATED = SCENARIOS / "calibrated" / "liang2010_msc.toml"
SEED = 20100723
