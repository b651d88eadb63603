"""The shipped scenarios load and say what their comments say."""

from __future__ import annotations

import math
import tomllib

import pytest
from scenario_testutil import SCENARIOS

from cohortsim.hazards import PiecewiseConstantHazard, survival
from cohortsim.scenario import load_scenario


@pytest.mark.parametrize("name", ["liang2010_pilot.toml", "reference_logrank.toml"])
def test_shipped_scenarios_load(name: str) -> None:
    scenario = load_scenario(SCENARIOS / name)
    assert len(scenario.sha256) == 64
    assert scenario.source_path == str(SCENARIOS / name)
    assert scenario.arms


def test_pilot() -> None:
    s = load_scenario(SCENARIOS / "liang2010_pilot.toml")
    assert s.study.n_patients == 15
    assert s.study.start_date.isoformat() == "2007-03-11"
    assert s.arm_names == ("msc",)
    (arm,) = s.arms
    assert arm.label == "Allogeneic MSC transplantation (pilot)"
    assert arm.cells_per_kg == 1e6
    assert s.accrual.kind == "window"
    assert s.accrual.window_start_month == 0.0
    assert s.accrual.window_end_month == pytest.approx(604 / (365.25 / 12))  # 4 Nov 2008
    assert s.accrual.density_ratio_end_to_start == 10.0
    assert s.cutoff.calendar_month == pytest.approx(32.72, abs=0.01)  # 1 Dec 2009
    assert s.simulation == type(s.simulation)(replicates=100, seed=20100723)
    assert arm.dropout_hazard == PiecewiseConstantHazard((0.05, 0.0), (3.0,))
    # ≈ 2 of 15 leave in the first months, nobody later
    assert 15 * (1 - float(survival(arm.dropout_hazard, 3.0))) == pytest.approx(2.1, abs=0.1)
    assert arm.death_hazard == PiecewiseConstantHazard((0.0,))
    # The relapse rate comes from the calibrated file the pilot includes (parameters_from).
    calibrated = tomllib.loads((SCENARIOS / "calibrated" / "liang2010_msc.toml").read_text())
    rate = calibrated["disease"]["relapse"]["hazard"]["rate_per_month"]
    assert arm.disease.relapse.hazard == PiecewiseConstantHazard((rate,))
    assert s.resolved["derived"]["includes"]["msc"]["path"] == "calibrated/liang2010_msc.toml"
    assert s.is_sle
    assert s.population.sledai.integer
    assert s.population.manifestation_prevalence["nephritis"] == 1.0
    assert s.maintenance.cyclophosphamide_interval_months == (2.0, 3.0)
    assert s.visits.repeat_every_months == 3.0


def test_reference_logrank() -> None:
    s = load_scenario(SCENARIOS / "reference_logrank.toml")
    assert s.study.n_patients == 200
    assert s.arm_names == ("control", "treatment")
    assert [a.allocation for a in s.arms] == [1, 1]
    assert s.randomisation.method == "permuted_block"
    assert s.randomisation.block_size == 4
    assert not s.is_sle
    control, treatment = s.arms
    assert control.disease.relapse.hazard.rates_per_month[0] == pytest.approx(math.log(2) / 12)
    assert treatment.disease.relapse.hazard.rates_per_month[0] == pytest.approx(math.log(2) / 24)
    assert dict(treatment.disease.relapse.hazard_as_entered) == {
        "hazard_ratio": 0.5,
        "reference_arm": "control",
    }
    for arm in s.arms:
        relapse = arm.disease.relapse
        assert (relapse.recurrent, relapse.detection, relapse.frailty_variance) == (
            False,
            "immediate",
            0.0,
        )
        assert arm.dropout_hazard == arm.death_hazard == PiecewiseConstantHazard((0.0,))
    assert (s.accrual.window_start_month, s.accrual.window_end_month) == (0.0, 12.0)
    assert s.accrual.density_ratio_end_to_start == 1.0
    assert not s.maintenance.enabled
    assert (s.cutoff.events, s.cutoff.event_time) == (66, "true")
    assert s.study.max_duration_months == 120.0
    assert (s.simulation.replicates, s.simulation.seed) == (1000, 3)
