"""Generated scenario dicts (tests/strategies.py) are all valid."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from strategies import hazard_specs, scenario_dicts, visit_tables

from cohortsim.scenario import scenario_from_dict
from cohortsim.scenario.canonical import thaw

_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_SETTINGS
@given(scenario_dicts())
def test_generated_scenarios_load(data: dict[str, Any]) -> None:
    scenario = scenario_from_dict(data)
    assert scenario.arm_names == tuple(data["arms"])
    assert 1 <= scenario.study.n_patients <= 40
    assert len(scenario.sha256) == 64
    block = scenario.randomisation.block_size
    assert block % sum(arm.allocation for arm in scenario.arms) == 0
    visits = scenario.visits
    assert len(visits.window_months) == len(visits.schedule_months)
    assert visits.schedule_months[0] - visits.window_months[0] > 0
    # the resolved tree (without what was derived from it) is itself a valid scenario
    tree = thaw(scenario.resolved)
    del tree["derived"]
    assert scenario_from_dict(tree).sha256 == scenario.sha256


@settings(max_examples=100, deadline=None, database=None)
@given(visit_tables())
def test_generated_visit_windows_never_overlap(visits: dict[str, Any]) -> None:
    data = {
        "study": {"name": "v", "n_patients": 1},
        "accrual": {"end_month": 1.0},
        "visits": visits,
        "arms": {"a": {}},
    }
    v = scenario_from_dict(data).visits
    ends = [(t - w, t + w) for t, w in zip(v.schedule_months, v.window_months, strict=True)]
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ends))


@settings(max_examples=100, deadline=None, database=None)
@given(hazard_specs(reference_arms=["a"]))
def test_generated_hazards_load_inside_an_arm(spec: dict[str, Any]) -> None:
    data = {
        "study": {"name": "h", "n_patients": 1},
        "accrual": {"end_month": 1.0},
        "arms": {"a": {}, "b": {"dropout": spec}},
    }
    hazard = scenario_from_dict(data).arms[1].dropout_hazard
    assert float(hazard.cumulative(12.0)) >= 0.0
