"""Property tests: timeline invariants of the simulated tables, for generated scenarios.

Hypothesis draws valid scenarios (tests/strategies.py: 1-40 patients, 1-3 arms, every accrual,
hazard, visit, cut-off and randomisation form), a seed and a few replicate indices;
:func:`timeline_checks.check_timeline` then asserts every rule that must hold whatever the draw
(see that module). Both engines are checked, so a failure here names the engine that broke a rule
even when the engine-equality tests also fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import scenarios
from timeline_checks import check_timeline

from cohortsim.cohort import LatentCohort
from cohortsim.scenario import Scenario, load_scenario
from cohortsim.simulate import simulate_tables

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
"""Derandomised: the same examples on every run (fixed seeds, no flaky reruns)."""

replicate_sets = st.lists(st.integers(0, 600), min_size=1, max_size=3, unique=True).map(
    lambda r: np.array(r, dtype=np.int64)
)
seeds = st.integers(0, 2**63 - 1)


@pytest.mark.parametrize("engine", ["vector", "des"])
@PROPERTY_SETTINGS
@given(scenario=scenarios(), entropy=seeds, replicates=replicate_sets)
def test_timeline_invariants(
    engine: str, scenario: Scenario, entropy: int, replicates
) -> None:
    tables = simulate_tables(scenario, entropy, replicates, engine=engine)
    assert sorted(set(tables["trials"]["replicate"].to_pylist())) == sorted(replicates.tolist())
    check_timeline(scenario, tables)


@PROPERTY_SETTINGS
@given(scenario=scenarios(), entropy=seeds, replicates=replicate_sets)
def test_enrolled_patients_are_those_before_the_cutoff(
    scenario: Scenario, entropy: int, replicates
) -> None:
    """The patients table holds exactly the drawn patients enrolled by the cut-off."""
    tables = simulate_tables(scenario, entropy, replicates, engine="vector")
    cohort = LatentCohort(scenario, entropy, replicates)
    patients = tables["patients"].to_pandas()
    cut = tables["trials"].to_pandas().set_index("replicate")["cutoff_month"]
    for row, replicate in enumerate(replicates):
        expected = np.nonzero(cohort.enrol_month[row] <= cut[replicate])[0]
        got = patients.loc[patients["replicate"] == replicate, "patient_id"].to_numpy()
        assert np.array_equal(got, expected)
        mine = patients[patients["replicate"] == replicate]
        assert np.array_equal(mine["enrol_month"].to_numpy(), cohort.enrol_month[row, expected])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(scenario=scenarios(), entropy=seeds, replicates=replicate_sets)
def test_permuted_blocks_are_exact_within_every_stratum(
    scenario: Scenario, entropy: int, replicates
) -> None:
    """On the drawn cohort (all N patients, enrolled or not): in every complete block of every
    stratum, in patient-id order, each arm has exactly its share; overall counts stay within
    block size × number of strata of N·w/Σw."""
    cohort = LatentCohort(scenario, entropy, replicates)
    arm, stratum = cohort.arm, cohort.stratum
    weights = np.array([a.allocation for a in scenario.arms])
    n_arms = len(weights)
    if n_arms == 1:
        assert (arm == 0).all()
        return
    assert arm.min() >= 0 and arm.max() < n_arms
    if scenario.randomisation.method != "permuted_block":
        return
    block = scenario.randomisation.block_size
    share = weights * (block // weights.sum())
    n_strata = 2 ** len(scenario.randomisation.strata)
    for row in range(len(replicates)):
        for code in np.unique(stratum[row]):
            labels = arm[row][stratum[row] == code]
            for start in range(0, len(labels) - block + 1, block):
                counts = np.bincount(labels[start : start + block], minlength=n_arms)
                assert np.array_equal(counts, share), (row, code, start, counts, share)
        counts = np.bincount(arm[row], minlength=n_arms)
        expected = cohort.n_patients * weights / weights.sum()
        assert (np.abs(counts - expected) <= block * n_strata).all(), (counts, expected)


@pytest.mark.parametrize("engine", ["vector", "des"])
def test_shipped_pilot_invariants(engine: str, pilot: Scenario) -> None:
    """The pilot scenario itself (every SLE component switched on), 40 replicates."""
    tables = simulate_tables(pilot, 7, np.arange(40), engine=engine)
    check_timeline(pilot, tables)


def test_stratified_two_arm_lupus_trial_invariants(two_arm_lupus: Scenario) -> None:
    """A two-arm lupus trial with stratified blocks and an after-last-enrolment cut-off: every
    replicate fully enrolled, so the block checks on the output table apply to all of them."""
    tables = simulate_tables(two_arm_lupus, 11, np.arange(30), engine="vector")
    trials = tables["trials"].to_pandas()
    assert (trials["n_enrolled"] == two_arm_lupus.study.n_patients).all()
    check_timeline(two_arm_lupus, tables)


@pytest.fixture(scope="module")
def pilot() -> Scenario:
    from pathlib import Path

    return load_scenario(Path(__file__).resolve().parents[2] / "scenarios/liang2010_pilot.toml")


@pytest.fixture(scope="module")
def two_arm_lupus() -> Scenario:
    from cohortsim.scenario import scenario_from_dict

    return scenario_from_dict(
        {
            "study": {"name": "two_arm", "n_patients": 60, "max_duration_months": 60.0},
            "accrual": {
                "kind": "piecewise",
                "rates_per_month": [2.0, 5.0],
                "durations_months": [6.0],
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
            "disease": {"relapse": {"hazard": {"rate_per_month": 0.05}}},
            "cutoff": {"months_after_last_enrolment": 12.0, "max_follow_up_months": 18.0},
            "arms": {
                "soc": {"disease": {"response": {"probability_complete": 0.2}}},
                "msc": {
                    "cells_per_kg": 1.0e6,
                    "disease": {
                        "relapse": {"hazard": {"hazard_ratio": 0.6, "reference_arm": "soc"}}
                    },
                },
            },
        }
    )
