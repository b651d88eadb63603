"""Simulated power of the reference log-rank design against analytic answers.

scenarios/reference_logrank.toml: 200 patients, 1:1, exponential control median 12 months,
hazard ratio 0.5, uniform accrual over 12 months, analysis at the 66th event.

References:
* Schoenfeld (1981): power = Phi(sqrt(D/4) |log HR| - z_{0.975}) = 0.8039 at D = 66
  (``cohortsim.analysis.schoenfeld_power(66, 0.5)``).
* The same normal approximation with the expected log-rank score and information computed from
  the expected numbers at risk in each arm over calendar time (Lakatos 1988, Stat Med 7:561):
  drift = E[O - E] / sqrt(E[V]), E[O - E] = ∫ n0 n1 (λ1 - λ0) / (n0 + n1) dt,
  E[V] = ∫ (λ0 n0 + λ1 n1) n0 n1 / (n0 + n1)² dt, up to the calendar time of the 66th expected
  event (tests/power/reference_calcs.py, with scipy.integrate).

Schoenfeld's formula holds each arm's share of the risk set at 1/2; with HR 0.5 the treatment
arm's share grows over time and Schoenfeld overstates the power by about 0.013 (0.804 against
0.790). So the simulation is held within 3 Monte Carlo SE of the expected-risk-set power, and
within 3 MC SE *plus that known approximation error* of Schoenfeld's.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from reference_calcs import expected_risk_set_power
from scipy import stats

from cohortsim.analysis import schoenfeld_power
from cohortsim.power import PowerSettings, run_power
from cohortsim.scenario import load_scenario
from cohortsim.scenario.vary import with_values

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
REFERENCE = SCENARIOS / "reference_logrank.toml"


@pytest.fixture(scope="module")
def reference_run():
    scenario = load_scenario(REFERENCE)
    return run_power(scenario, PowerSettings((200,), 10_000, 3))


def test_expected_risk_set_reference_value() -> None:
    # the reference calculation itself: between Freedman (0.773) and Schoenfeld (0.804)
    assert expected_risk_set_power() == pytest.approx(0.7897, abs=5e-4)
    assert schoenfeld_power(66, 0.5) == pytest.approx(0.8039, abs=5e-4)


def test_reference_power_matches_expected_risk_sets(reference_run) -> None:
    (row,) = reference_run.rows
    assert row["replicates"] == 10_000
    assert row["expected_events"] == pytest.approx(66.0)  # the cut is at the 66th event
    target = expected_risk_set_power()
    assert abs(row["power"] - target) <= 3 * row["power_mcse"]


def test_reference_power_agrees_with_schoenfeld(reference_run) -> None:
    (row,) = reference_run.rows
    schoenfeld = schoenfeld_power(66, 0.5)
    assert row["analytic_power"] == pytest.approx(schoenfeld)
    approximation_error = schoenfeld - expected_risk_set_power()  # ≈ 0.014, not Monte Carlo
    assert abs(row["power"] - schoenfeld) <= 3 * row["power_mcse"] + approximation_error
    assert 0.77 < row["power"] < 0.82


def test_reference_effect_is_the_design_hazard_ratio(reference_run) -> None:
    (row,) = reference_run.rows
    # geometric mean of 10,000 Cox estimates; its SE is about 0.26 / sqrt(10,000) on log scale
    assert math.log(row["effect"]) == pytest.approx(math.log(0.5), abs=3 * 0.26 / 100 + 0.01)


def test_type_one_error_with_hazard_ratio_one() -> None:
    scenario = with_values(
        load_scenario(REFERENCE),
        {
            "arms.treatment.disease.relapse.hazard": {
                "hazard_ratio": 1.0, "reference_arm": "control"
            }
        },
    )
    replicates, alpha = 10_000, 0.05
    (row,) = run_power(scenario, PowerSettings((200,), replicates, 17)).rows
    # 99.9% binomial band around alpha for the rejection count
    low = stats.binom.ppf(0.0005, replicates, alpha) / replicates
    high = stats.binom.isf(0.0005, replicates, alpha) / replicates
    assert low <= row["rejection_rate"] <= high
    # success (significant benefit) is one side of it
    half_low = stats.binom.ppf(0.0005, replicates, alpha / 2) / replicates
    half_high = stats.binom.isf(0.0005, replicates, alpha / 2) / replicates
    assert half_low <= row["power"] <= half_high


def test_one_sided_type_one_error() -> None:
    scenario = with_values(
        load_scenario(REFERENCE),
        {
            "arms.treatment.disease.relapse.hazard": {
                "hazard_ratio": 1.0, "reference_arm": "control"
            },
            "analysis.sides": 1,
            "analysis.alpha": 0.025,
        },
    )
    replicates = 10_000
    (row,) = run_power(scenario, PowerSettings((200,), replicates, 21)).rows
    low = stats.binom.ppf(0.0005, replicates, 0.025) / replicates
    high = stats.binom.isf(0.0005, replicates, 0.025) / replicates
    assert low <= row["power"] <= high
    assert row["power"] == row["rejection_rate"]  # one-sided: only benefit rejects


def test_power_increases_with_n() -> None:
    scenario = load_scenario(SCENARIOS / "rct_msc_vs_soc.toml")
    result = run_power(scenario, PowerSettings((40, 80, 160), 512, 5))
    for endpoint in ("sri4", "remission", "sledai_change"):
        power = [r["power"] for r in result.rows if r["endpoint"] == endpoint]
        assert np.all(np.diff(power) > 0), (endpoint, power)
    primary = [r for r in result.rows if r["primary"]]
    # CRN: the per-N differences are far more precise than the SE of each power
    assert primary[1]["power"] - primary[0]["power"] > 3 * primary[1]["power_mcse"]


def test_power_is_flat_in_n_with_a_fixed_number_of_events() -> None:
    scenario = load_scenario(REFERENCE)
    rows = run_power(scenario, PowerSettings((150, 200, 300), 2_560, 8)).rows
    power = np.array([r["power"] for r in rows])
    duration = np.array([r["mean_duration_months"] for r in rows])
    assert np.all(np.diff(duration) < 0)  # more patients: the 66 events come sooner
    se = max(r["power_mcse"] for r in rows)
    assert np.ptp(power) < 4 * se * math.sqrt(2)
