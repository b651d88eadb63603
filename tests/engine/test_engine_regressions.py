"""Minimal reproductions of bugs the property tests once found; each failed before its fix and
guards against the bug's return."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cohortsim.scenario import scenario_from_dict
from cohortsim.simulate import simulate_tables

ENGINES = ["des", "vector"]


def _time_to_event(**sections: Any) -> dict[str, Any]:
    scenario: dict[str, Any] = {
        "study": {"name": "regression", "n_patients": 20, "max_duration_months": 60.0},
        "accrual": {"kind": "window", "end_month": 6.0},
        "disease": {
            "model": "time_to_event",
            "relapse": {"hazard": {"rate_per_month": 0.1}, "detection": "immediate"},
        },
        "arms": {"control": {}},
    }
    for name, table in sections.items():
        scenario[name] = {**scenario.get(name, {}), **table}
    return scenario


@pytest.mark.parametrize("engine", ENGINES)
def test_relapse_hazard_ending_in_a_zero_rate_with_the_treatment_clock(engine: str) -> None:
    """Bug: with ``clock = "treatment"``, a recurrent flare process and a piecewise hazard whose
    last rate is 0, the vector engine computes ``H(inf)`` for patients whose flare chain has
    ended; ``PiecewiseConstantHazard.cumulative`` evaluates ``0 · inf`` → RuntimeWarning
    ("invalid value encountered in multiply", an error under this suite's filterwarnings).
    The numbers are right (NaN onsets are discarded), so the fix is an
    ``np.errstate(invalid="ignore")`` around the treatment-clock line of
    ``cohortsim/engine/rules.py::next_onset`` (or H(inf) defined as the finite total in
    ``hazards.py``)."""
    scenario = scenario_from_dict(
        _time_to_event(
            disease={
                "model": "time_to_event",
                "relapse": {
                    "hazard": {"rates_per_month": [0.3, 0.0], "durations_months": [6.0]},
                    "clock": "treatment",
                    "recurrent": True,
                    "detection": "immediate",
                },
            },
        )
    )
    tables = simulate_tables(scenario, 1, np.arange(5), engine=engine)
    flares = tables["events"].to_pandas().query("event == 'flare'")
    assert len(flares) > 0
    assert (flares["true_months"] < 6.0).all()  # no hazard after month 6


def test_engines_agree_on_a_weibull_hazard_with_the_treatment_clock() -> None:
    """Bug: with a Weibull relapse hazard and ``clock = "treatment"`` the engines differ in the
    last bit of flare onsets (and so of detections and resolutions). ``next_onset`` computes
    ``H(previous resolution)`` with ``WeibullHazard.cumulative`` (cohortsim/hazards.py:161,
    ``(t / scale) ** shape``): the SimPy engine passes a scalar, ``np.maximum`` on a 0-d array
    returns a NumPy *scalar*, and scalar ``**`` uses the C library's ``pow``, while the vectorised
    engine's arrays go through NumPy's (here AVX-512) ``power`` loop; the two round differently in
    ~5% of cases. Fix: ``np.power(t / self.scale_months, self.shape)`` (verified to make the
    engines agree); the same pattern elsewhere in hazards.py is safe only while its inputs stay
    arrays."""
    from cohortsim.cohort import LatentCohort
    from cohortsim.engine import ENGINES as RUN

    scenario = scenario_from_dict(
        _time_to_event(
            disease={
                "model": "time_to_event",
                "relapse": {
                    "hazard": {"weibull_shape": 1.5, "weibull_scale_months": 3.0},
                    "clock": "treatment",
                    "detection": "immediate",
                },
            },
        )
    )
    courses = {e: RUN[e](LatentCohort(scenario, 0, np.arange(20))) for e in ENGINES}
    assert courses["des"].differences(courses["vector"]) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_subnormal_hazard_rate_does_not_warn(engine: str) -> None:
    """Bug (cosmetic): a positive but subnormal rate (validation accepts any rate ≥ 0) overflows
    ``(h − H₀) / rate`` in ``PiecewiseConstantHazard.inverse_cumulative`` (cohortsim/hazards.py,
    ``np.errstate`` there ignores divide and invalid but not over) → RuntimeWarning "overflow
    encountered in divide". The result (``inf``: the event never happens) is right."""
    scenario = scenario_from_dict(_time_to_event(dropout={"rate_per_month": 1e-310}))
    tables = simulate_tables(scenario, 1, np.arange(3), engine=engine)
    assert "dropout" not in set(tables["patients"]["end_reason"].to_pylist())


@pytest.mark.parametrize("engine", ENGINES)
def test_cutoff_at_the_last_enrolment_keeps_the_last_patient(engine: str) -> None:
    """Bug: ``cutoff.months_after_last_enrolment = 0`` (allowed: >= 0) puts the cut-off exactly at
    the last enrolment, and both engines keep only patients with ``enrol < cutoff``
    (vector.py ``enrolled = enrol < cut[:, None]``; des.py ``_record``: ``if not p.enrol <
    self.cut_month``), so the last-enrolled patient — the one that defines the cut-off — is
    missing from the data, ``n_enrolled`` is N − 1 and ``trials.last_enrolment_month +
    months_after_last_enrolment != cutoff_month``. With N = 1 the trial is empty and
    ``last_enrolment_month`` is ``-inf``. (Same for any months_after smaller than the rounding
    of the last enrolment month, e.g. 1e-25.) Expected: a patient enrolled at the cut-off is
    in the data with zero follow-up (enrolled *by* the cut-off, docs/model.md §10)."""
    scenario = scenario_from_dict(_time_to_event(cutoff={"months_after_last_enrolment": 0.0}))
    tables = simulate_tables(scenario, 3, np.arange(4), engine=engine)
    trials = tables["trials"].to_pandas()
    assert (trials["n_enrolled"] == scenario.study.n_patients).all(), trials
    assert np.array_equal(trials["cutoff_month"], trials["last_enrolment_month"])


@pytest.mark.parametrize("engine", ENGINES)
def test_a_detected_relapse_is_an_observed_relapse(engine: str) -> None:
    """Bug (endpoint definition): ``relapse_observed`` / ``time_to_relapse_months`` (timeline.py,
    ``first_detected = course.flare_detected[..., 0]``), ``trials.first_relapses_observed`` and
    the event-driven cut-off with ``event_time = "observed"`` all use flare number 1 only. When
    flare 1 is never detected (no done visit while it was active, no symptomatic visit) and a
    later flare is, the trial *has* observed a relapse, but the patient is recorded as censored
    at the end of follow-up — the observed endpoint misses relapses the trial saw. Expected:
    ``relapse_observed`` ⇔ some flare has a non-null ``observed_months``, and
    ``time_to_relapse_months`` = the earliest detection.

    The scenario makes this common: one visit a year, flares that resolve untreated within a
    month, no symptomatic visits.
    """
    scenario = scenario_from_dict(
        {
            "study": {"name": "undetected_first", "n_patients": 40, "max_duration_months": 60.0},
            "accrual": {"kind": "window", "end_month": 1.0},
            "visits": {
                "schedule_months": [12.0, 24.0],
                "window_months": 0.5,
                "missed_probability": 0.0,
            },
            "disease": {
                "relapse": {
                    "hazard": {"rate_per_month": 0.3},
                    "frailty_variance": 0.0,
                    "symptomatic_visit_probability": 0.0,
                    "untreated_resolution_months": 1.0,
                }
            },
            "cutoff": {"max_follow_up_months": 24.5},
            "arms": {"msc": {}},
        }
    )
    tables = simulate_tables(scenario, 2, np.arange(3), engine=engine)
    events = tables["events"].to_pandas()
    patients = tables["patients"].to_pandas().set_index(["replicate", "patient_id"])
    flares = events[events["event"] == "flare"]
    detected = flares[flares["observed_months"].notna()]
    first_detection = detected.groupby(["replicate", "patient_id"])["observed_months"].min()
    assert len(first_detection) > 0
    seen = first_detection.reindex(patients.index)
    assert (patients["relapse_observed"] == seen.notna()).all(), (
        f"{int((seen.notna() & ~patients['relapse_observed']).sum())} patients with a detected "
        "flare are recorded without an observed relapse"
    )
    expected_time = seen.where(seen.notna(), patients["follow_up_months"])
    assert (patients["time_to_relapse_months"] == expected_time).all()
