"""The vector engine's relapse-only path equals the general path, to the last bit (issue 5).

:func:`cohortsim.engine.vector.simulate_relapses_vector` (what ``power`` uses for the
time-to-event model with immediate detection) must give exactly the arrays that
:func:`~cohortsim.engine.vector.simulate_course_vector` and
:func:`~cohortsim.endpoints.derive_endpoints` give: on every shipped scenario where it applies
(``scenarios/*.toml``, globbed), on variants of the reference design that exercise every rule
it passes through, and on Hypothesis-generated scenarios turned into time-to-event ones.
Floats are compared by their bit patterns, so even NaN payloads and signed zeros must agree.
The rules it shares with both engines (:mod:`cohortsim.engine.rules`) are held to their
earlier formulations on random inputs with ties, infinities and NaN.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import scenario_dicts

from cohortsim.cohort import LatentCohort
from cohortsim.endpoints import derive_endpoints
from cohortsim.engine.rules import cut_follow_up, follow_up_at_cut, own_end, own_end_month
from cohortsim.engine.vector import (
    relapses_only,
    simulate_course_vector,
    simulate_relapses_vector,
)
from cohortsim.power.trials import relapse_endpoints
from cohortsim.scenario import Scenario, load_scenario, scenario_from_dict

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIO_DIR.glob("*.toml"))
REFERENCE = SCENARIO_DIR / "reference_logrank.toml"
REPLICATES = np.array([0, 1, 2, 3, 4, 5, 257, 600])
ENDPOINT_FIELDS = (
    "included", "arm", "stratum", "relapse_time", "relapse_observed", "flares", "exposure",
    "cutoff_month",
)


def _bits(x: np.ndarray) -> np.ndarray:
    """Floats as their bit patterns (NaN payloads and signed zeros count); others unchanged."""
    x = np.ascontiguousarray(x)
    return x.view(np.int64) if x.dtype == np.float64 else x


def assert_same_bits(a: np.ndarray, b: np.ndarray, name: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{name}: shape {a.shape} vs {b.shape}"
    assert a.dtype == b.dtype, f"{name}: dtype {a.dtype} vs {b.dtype}"
    assert np.array_equal(_bits(a), _bits(b)), f"{name} differs"


def assert_paths_agree(scenario: Scenario, entropy: int, replicates: np.ndarray) -> None:
    """The relapse-only path against the general path on the same cohort draws."""
    cohort = LatentCohort(scenario, entropy, replicates)
    assert relapses_only(cohort)
    course = simulate_course_vector(LatentCohort(scenario, entropy, replicates))
    fast = simulate_relapses_vector(LatentCohort(scenario, entropy, replicates))
    assert_same_bits(fast.cutoff_month, course.cutoff_month, "cutoff_month")
    assert_same_bits(fast.enrolled, course.enrolled, "enrolled")
    assert_same_bits(fast.follow_up, course.follow_up, "follow_up")
    flares = np.isfinite(course.flare_detected).sum(axis=-1).astype(float)
    assert_same_bits(fast.flares, flares, "flares")
    general = derive_endpoints(cohort, course)
    endpoints = relapse_endpoints(LatentCohort(scenario, entropy, replicates))
    for name in ENDPOINT_FIELDS:
        assert_same_bits(getattr(endpoints, name), getattr(general, name), name)
    assert_same_bits(fast.observed, general.relapse_observed, "observed")
    assert_same_bits(fast.relapse_time, general.relapse_time, "relapse_time")


def _applies(path: Path) -> bool:
    scenario = load_scenario(path)
    return relapses_only(LatentCohort(scenario, 1, np.arange(1)))


APPLICABLE = [p for p in SHIPPED if _applies(p)]


def test_the_reference_design_takes_the_relapse_only_path() -> None:
    assert REFERENCE in APPLICABLE


def test_the_lupus_model_does_not() -> None:
    for path in SHIPPED:
        scenario = load_scenario(path)
        if scenario.is_sle:
            assert not relapses_only(LatentCohort(scenario, 1, np.arange(1)))
            with pytest.raises(ValueError, match="time-to-event"):
                simulate_relapses_vector(LatentCohort(scenario, 1, np.arange(1)))


@pytest.mark.parametrize("path", APPLICABLE, ids=[p.stem for p in APPLICABLE])
def test_paths_agree_on_shipped_scenario(path: Path) -> None:
    assert_paths_agree(load_scenario(path), 20240601, REPLICATES)
    assert_paths_agree(load_scenario(path), 3, np.arange(512))


REFERENCE_VARIANTS = [
    [],
    ["cutoff.events=200", "disease.relapse.hazard={ median_months = 600.0 }"],  # rarely reached
    ['cutoff.event_time="observed"'],
    ["cutoff.calendar_month=14.0"],
    ["cutoff.calendar_month=30.0", 'cutoff.combine="last"'],
    ["cutoff.months_after_last_enrolment=3.0"],
    ["cutoff.max_follow_up_months=6.0"],
    ["study.max_duration_months=13.0"],  # the study ends before the 66th event
    ["dropout.rate_per_month=0.02", "death.rate_per_month=0.01"],
    ["disease.relapse.frailty_variance=0.5"],
    ["disease.relapse.recurrent=true"],
    ["disease.relapse.recurrent=true", 'disease.relapse.clock="treatment"',
     'cutoff.event_time="observed"'],
    ["disease.relapse.recurrent=true", "disease.relapse.rescue_resolution_months=0.01"],
    ["disease.relapse.hazard={ rate_per_month = 0.0 }"],  # nobody relapses
    ["disease.relapse.hazard={ rates_per_month = [0.1, 0.02], durations_months = [6.0] }"],
    ["disease.relapse.hazard={ weibull_shape = 0.7, median_months = 10.0 }"],  # per-arm inversion
    ["accrual.end_month=0.001"],  # everyone enrolled at once
    ["study.n_patients=3", "cutoff.events=1"],
]


@pytest.mark.parametrize("overrides", REFERENCE_VARIANTS, ids=lambda o: ",".join(o) or "as is")
def test_paths_agree_on_reference_variants(overrides: list[str]) -> None:
    assert_paths_agree(load_scenario(REFERENCE, overrides), 11, np.arange(300))


def _time_to_event(tree: dict[str, Any]) -> dict[str, Any]:
    """A generated scenario turned into the time-to-event model with immediate detection
    (lupus-only sections dropped), keeping everything else it drew."""
    tree = copy.deepcopy(tree)
    tree["disease"]["model"] = "time_to_event"
    tree["disease"]["relapse"]["detection"] = "immediate"
    for section in ("population", "maintenance"):
        tree.pop(section, None)
    tree["disease"].pop("response", None)
    tree.get("randomisation", {}).pop("strata", None)
    for arm in tree["arms"].values():
        disease = arm.get("disease", {})
        disease.pop("response", None)
        if "model" in disease:
            disease["model"] = "time_to_event"
        if "relapse" in disease:
            disease["relapse"]["detection"] = "immediate"
    return tree


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    tree=scenario_dicts(),
    entropy=st.integers(0, 2**63 - 1),
    replicates=st.lists(st.integers(0, 600), min_size=1, max_size=4, unique=True),
)
def test_paths_agree_on_generated_scenarios(
    tree: dict[str, Any], entropy: int, replicates: list[int]
) -> None:
    scenario = scenario_from_dict(_time_to_event(tree))
    assert_paths_agree(scenario, entropy, np.array(replicates))


# --------------------------------------------------------------------------- shared rules


def _random_months(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Months with many exact ties, zeros, infinities and a few NaN."""
    x = rng.choice(np.array([0.0, 0.5, 1.0, 2.0, 3.0, np.inf]), size=shape)
    x = np.where(rng.random(shape) < 0.5, rng.uniform(0.0, 4.0, shape), x)
    return np.where(rng.random(shape) < 0.02, np.nan, x)


def test_own_end_month_is_the_end_of_own_end() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        shape = (7, 9)
        args = [
            np.asarray(np.inf) if rng.random() < 0.3 else _random_months(rng, shape),
            np.asarray(np.inf) if rng.random() < 0.3 else _random_months(rng, shape),
            float(rng.choice([np.inf, 1.0, 2.5])),
            _random_months(rng, shape),
        ]
        end, _ = own_end(*args)
        assert_same_bits(own_end_month(*args), end, "own_end_month")


def _cut_follow_up_as_before(own_end_at, enrol, cut, administrative, first):  # type: ignore[no-untyped-def]
    """``follow_up_at_cut``'s follow-up as cohortsim 0.1.0 wrote it."""
    to_cut = cut - enrol
    counted = np.where(enrol + first <= cut, first, -np.inf)
    to_cut = np.maximum(to_cut, counted)
    is_cut = administrative & (to_cut < own_end_at)
    return np.where(is_cut, to_cut, own_end_at), is_cut


def test_cut_follow_up_equals_its_earlier_formulation() -> None:
    rng = np.random.default_rng(6)
    with np.errstate(invalid="ignore"):
        for _ in range(100):
            shape = (6, 11)
            own_end_at = _random_months(rng, shape)
            enrol = _random_months(rng, shape)
            cut = _random_months(rng, (6, 1))
            administrative = rng.random((6, 1)) < 0.7
            # first events that land exactly on the cut-off after rounding, and others
            first = np.where(rng.random(shape) < 0.3, cut - enrol, _random_months(rng, shape))
            args = (own_end_at, enrol, cut, administrative, first)
            new, is_cut = cut_follow_up(*args)
            old, old_is_cut = _cut_follow_up_as_before(*args)
            assert_same_bits(new, old, "follow_up")
            assert_same_bits(is_cut, old_is_cut, "is_cut")
            follow_up, _ = follow_up_at_cut(
                own_end_at, np.zeros(shape, np.int8), enrol, cut, administrative, first
            )
            assert_same_bits(follow_up, old, "follow_up_at_cut")
