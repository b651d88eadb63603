"""Interim analyses: look timing, boundaries, stops, and the operating characteristics against
the group-sequential recursion of cohortsim.analysis (Armitage-McPherson-Rowe / Jennison &
Turnbull ch. 19), itself tested against published boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference_calcs import expected_risk_set_drift
from scipy import stats

from cohortsim.analysis import crossing_probabilities
from cohortsim.cohort import LatentCohort
from cohortsim.engine import simulate_course_vector
from cohortsim.power import PowerSettings, run_power
from cohortsim.power.sequential import boundaries, look_times
from cohortsim.scenario import ScenarioError, load_scenario
from cohortsim.scenario.vary import with_values

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
REFERENCE = SCENARIOS / "reference_logrank.toml"
def _interim() -> dict:
    # a fresh dict each time: with_values puts the very object into the tree it edits
    return {"analysis.interim": {"information_fractions": [0.5], "timing": "events"}}


def _scenario(values: dict | None = None):  # type: ignore[no-untyped-def]
    return with_values(load_scenario(REFERENCE), {**_interim(), **(values or {})})


def test_event_looks_fall_at_the_mth_observed_event() -> None:
    scenario = _scenario()
    cohort = LatentCohort(scenario, 2, np.arange(64))
    course = simulate_course_vector(cohort)
    times = look_times(cohort, course, scenario.analysis, 66, None)
    first = np.where(course.enrolled, cohort.enrol_month + course.flare_detected[..., 0], np.inf)
    first = np.where(np.isnan(first), np.inf, first)
    np.testing.assert_array_equal(times[:, 0], np.sort(first, axis=1)[:, 32])
    assert np.all(times[:, 0] < course.cutoff_month)


def test_calendar_looks() -> None:
    scenario = _scenario({"analysis.interim.timing": "calendar"})
    cohort = LatentCohort(scenario, 2, np.arange(8))
    course = simulate_course_vector(cohort)
    times = look_times(cohort, course, scenario.analysis, None, None)
    np.testing.assert_allclose(times[:, 0], 0.5 * course.cutoff_month)


def test_type_one_error_is_kept_with_an_interim_look() -> None:
    scenario = _scenario(
        {"arms.treatment.disease.relapse.hazard": {"hazard_ratio": 1.0, "reference_arm": "control"}}
    )
    replicates = 10_000
    (row,) = run_power(scenario, PowerSettings((200,), replicates, 31)).rows
    low = stats.binom.ppf(0.0005, replicates, 0.05) / replicates
    high = stats.binom.isf(0.0005, replicates, 0.05) / replicates
    assert low <= row["rejection_rate"] <= high


def test_operating_characteristics_against_the_recursion() -> None:
    scenario = _scenario()
    replicates = 10_000
    result = run_power(scenario, PowerSettings((200,), replicates, 12))
    (row,) = result.rows
    design = boundaries(scenario.analysis)
    assert design is not None
    # O'Brien-Fleming type, two-sided: the first look spends 2 - 2 Phi(z_0.975 / sqrt(0.5)), so
    # its boundary is 1.95996 / sqrt(0.5) = 2.7718; the final one is a little above 1.96
    assert design.efficacy[0] == pytest.approx(stats.norm.isf(0.025) / np.sqrt(0.5), abs=1e-6)
    assert 1.96 < design.efficacy[1] < 2.0
    # drift at 66 events from expected risk sets (the analytic reference of the fixed design)
    crossing = crossing_probabilities(design, drift=abs(expected_risk_set_drift()))
    mcse = row["power_mcse"]
    assert abs(row["power"] - sum(crossing.efficacy)) <= 3 * mcse + 0.005
    early = row["p_stop_efficacy"]
    early_se = np.sqrt(early * (1 - early) / replicates)
    assert abs(early - crossing.efficacy[0]) <= 3 * early_se + 0.01
    # stopping early shortens the trial on average
    fixed = run_power(load_scenario(REFERENCE), PowerSettings((200,), 2048, 12)).rows[0]
    assert row["mean_duration_months"] < fixed["mean_duration_months"]


def test_futility_stops_are_recorded() -> None:
    scenario = _scenario(
        {
            "analysis.sides": 1,
            "analysis.alpha": 0.025,
            "analysis.interim.futility_z": 0.5,
            "arms.treatment.disease.relapse.hazard": {
                "hazard_ratio": 1.0, "reference_arm": "control"
            },
        }
    )
    (row,) = run_power(scenario, PowerSettings((200,), 4096, 3)).rows
    # under the null, P(z < 0.5 at the interim) = Phi(0.5) = 0.69
    se = np.sqrt(0.69 * 0.31 / 4096)
    assert row["p_stop_futility"] == pytest.approx(stats.norm.cdf(0.5), abs=3 * se + 0.01)
    assert row["power"] <= 0.025 + 3 * np.sqrt(0.025 * 0.975 / 4096)


def test_futility_needs_one_sided_tests() -> None:
    with pytest.raises(ScenarioError, match="one-sided"):
        _scenario({"analysis.interim.futility_z": 0.0})


def test_interim_needs_a_single_comparison() -> None:
    raw_three_arms = with_values(
        load_scenario(REFERENCE),
        {
            "arms.third": {"label": "third"},
            **_interim(),
            "randomisation.block_size": 6,
            "analysis.treatment_arms": ["treatment", "third"],
        },
    )
    with pytest.raises(ValueError, match="exactly one treatment arm"):
        run_power(raw_three_arms, PowerSettings((60,), 256, 1))
