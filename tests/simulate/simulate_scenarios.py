"""Small scenarios built in code for the tests in tests/simulate (each test states what matters).

``lupus_trial`` is a two-arm lupus trial with stratified permuted blocks (every random component
switched on); ``plain_time_to_event`` a one-process scenario whose outcomes have closed forms.
Both return :class:`Scenario` objects; keyword tables are merged over the sections (a ``None``
value deletes a key).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from cohortsim.scenario import Scenario, scenario_from_dict

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
PILOT = SCENARIO_DIR / "liang2010_pilot.toml"


ATOMIC = ("hazard", "dropout", "death")
"""Hazard specs are replaced whole (one spec may not mix forms), never merged."""


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in, tables recursively (hazard specs replaced whole);
    a ``None`` value deletes the key."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ATOMIC:
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


LUPUS_TRIAL: dict[str, Any] = {
    "study": {"name": "two_arm_lupus", "n_patients": 40, "max_duration_months": 60.0},
    "accrual": {
        "kind": "window",
        "start_month": 0.0,
        "end_month": 12.0,
        "density_ratio_end_to_start": 3.0,
    },
    "randomisation": {
        "method": "permuted_block",
        "block_size": 4,
        "strata": ["nephritis", "sledai_above_10"],
    },
    "population": {"manifestation_prevalence": {"nephritis": 0.6}},
    "visits": {
        "schedule_months": [1.0, 3.0, 6.0],
        "window_months": 0.5,
        "repeat_every_months": 3.0,
    },
    "dropout": {"probability": 0.1, "by_months": 12.0},
    "death": {"rate_per_month": 0.002},
    "disease": {"relapse": {"hazard": {"rate_per_month": 0.04}}},
    "cutoff": {"calendar_month": 30.0},
    "arms": {
        "soc": {"disease": {"response": {"probability_complete": 0.2}}},
        "msc": {
            "cells_per_kg": 1.0e6,
            "disease": {"relapse": {"hazard": {"hazard_ratio": 0.6, "reference_arm": "soc"}}},
        },
    },
}


def lupus_trial(**overrides: Any) -> Scenario:
    return scenario_from_dict(_merge(LUPUS_TRIAL, overrides))


PLAIN_TIME_TO_EVENT: dict[str, Any] = {
    "study": {"name": "plain_tte", "n_patients": 400, "max_duration_months": 240.0},
    "accrual": {"kind": "window", "start_month": 0.0, "end_month": 12.0},
    "randomisation": {"method": "simple"},
    "disease": {
        "model": "time_to_event",
        "relapse": {
            "hazard": {"rate_per_month": 0.05},
            "frailty_variance": 0.0,
            "recurrent": False,
            "detection": "immediate",
        },
    },
    "dropout": {"rate_per_month": 0.0},
    "death": {"rate_per_month": 0.0},
    "maintenance": {"enabled": False},
    "cutoff": {"max_follow_up_months": 30.0},
    "arms": {"control": {}},
}


def plain_time_to_event(**overrides: Any) -> Scenario:
    return scenario_from_dict(_merge(PLAIN_TIME_TO_EVENT, overrides))
