"""Paths and small helpers shared by the scenario tests (importable: tests/scenario is on
``sys.path`` under pytest's default import mode)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cohortsim.scenario import ScenarioError, scenario_from_dict

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
DOCS = REPO / "docs" / "scenarios.md"

_MINIMAL: dict[str, Any] = {
    "study": {"name": "t", "n_patients": 20},
    "accrual": {"end_month": 12.0},
    "arms": {"control": {}, "treatment": {}},
}


def minimal_dict() -> dict[str, Any]:
    """A fresh, small, valid two-arm scenario tree (everything else at its defaults)."""
    return copy.deepcopy(_MINIMAL)


def error_of(data: dict[str, Any], **kwargs: Any) -> ScenarioError:
    """The ScenarioError that loading ``data`` raises."""
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, **kwargs)
    return info.value
