"""Per-patient endpoints (cohortsim.endpoints) against the tables the simulator writes, and the
course at an earlier look against the engines' own cut-off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cohortsim.cohort import LatentCohort
from cohortsim.course import END_CUTOFF, END_DEATH, END_DROPOUT
from cohortsim.endpoints import (
    ASSESSED,
    MISSING,
    NOT_REACHED,
    PatientEndpoints,
    assessment_visit,
    course_at,
    derive_endpoints,
    responders,
    sledai_change,
)
from cohortsim.engine import simulate_course_des, simulate_course_vector
from cohortsim.scenario import load_scenario
from cohortsim.scenario.vary import with_values
from cohortsim.timeline import build_tables

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
RCT = SCENARIOS / "rct_msc_vs_soc.toml"
REFERENCE = SCENARIOS / "reference_logrank.toml"


@pytest.fixture(scope="module")
def rct():
    scenario = load_scenario(RCT)
    cohort = LatentCohort(scenario, 11, np.arange(6), n_patients=80)
    course = simulate_course_vector(cohort)
    return scenario, cohort, course, build_tables(cohort, course)


def _visit_sledai(tables, visit_number: int) -> dict[tuple[int, int], float]:
    v = tables["visits"]
    sel = (v["visit_number"] == visit_number) & (v["visit_type"] == 1)
    return {
        (int(r), int(p)): float(x)
        for r, p, x in zip(v["row"][sel], v["patient_id"][sel], v["sledai"][sel], strict=True)
    }


def test_assessment_sledai_is_the_visits_table_value(rct) -> None:
    _, cohort, course, tables = rct
    e = derive_endpoints(cohort, course, 12.0)
    v = assessment_visit(cohort, 12.0)
    recorded = _visit_sledai(tables, v + 1)
    rows, patients = np.nonzero(e.assessment == ASSESSED)
    assert rows.size > 300
    assert set(zip(rows.tolist(), patients.tolist(), strict=True)) == set(recorded)
    for r, p in zip(rows, patients, strict=True):
        assert e.sledai[r, p] == recorded[(r, p)]
    assert np.isnan(e.sledai[e.assessment != ASSESSED]).all()


def test_carried_forward_value_is_the_last_visit_done(rct) -> None:
    _, cohort, course, tables = rct
    e = derive_endpoints(cohort, course, 12.0)
    v = assessment_visit(cohort, 12.0)
    rows, patients = np.nonzero(e.assessment == MISSING)
    assert rows.size > 10
    for r, p in zip(rows, patients, strict=True):
        done = np.nonzero(course.visit_done[r, p, :v])[0]
        if done.size == 0:
            assert e.sledai_carried[r, p] == cohort.baseline_sledai[r, p]
        else:
            assert e.sledai_carried[r, p] == _visit_sledai(tables, done[-1] + 1)[(r, p)]


def test_relapse_and_flares_are_the_patients_table_columns(rct) -> None:
    _, cohort, course, tables = rct
    e = derive_endpoints(cohort, course, 12.0)
    t = tables["patients"]
    at = (t["row"], t["patient_id"])
    np.testing.assert_array_equal(e.relapse_time[at], t["time_to_relapse_months"])
    np.testing.assert_array_equal(e.relapse_observed[at], t["relapse_observed"])
    np.testing.assert_array_equal(e.flares[at], t["flares_observed"])
    np.testing.assert_array_equal(e.exposure[at], t["follow_up_months"])
    assert e.included.sum() == len(t["row"])


def test_assessment_status_follows_its_rules(rct) -> None:
    _, cohort, course, _ = rct
    e = derive_endpoints(cohort, course, 12.0)
    v = assessment_visit(cohort, 12.0)
    assert cohort.visit_nominal[v] == 12.0
    inc = e.included
    np.testing.assert_array_equal(e.assessment[inc] == ASSESSED, course.visit_done[..., v][inc])
    window_end = cohort.visit_nominal[v] + cohort.visit_window[v]
    own_end = np.isin(course.end_reason, (END_DROPOUT, END_DEATH))
    missing = inc & (e.assessment == MISSING)
    # missing: a patient's own end before the visit, or a missed visit with follow-up past it
    assert np.all(own_end[missing] | (course.follow_up[missing] >= window_end))
    assert np.all(~(inc & own_end & ~course.visit_done[..., v]) | (e.assessment == MISSING))
    # this design follows everyone to the end of the window: nobody is "not reached"
    assert not np.any(inc & (e.assessment == NOT_REACHED))


def test_not_reached_when_the_cut_comes_first() -> None:
    scenario = with_values(
        load_scenario(RCT),
        {"cutoff": {"calendar_month": 20.0}},
    )
    cohort = LatentCohort(scenario, 5, np.arange(4), n_patients=120)
    course = simulate_course_vector(cohort)
    e = derive_endpoints(cohort, course, 12.0)
    late = e.included & (20.0 - cohort.enrol_month < 12.0 - 0.5)
    late &= course.end_reason == END_CUTOFF  # not those who dropped out or died before
    assert late.sum() > 50
    assert np.all(e.assessment[late] == NOT_REACHED)
    outcome = responders(e, "sri4", missing="non_responder")
    assert not outcome.mask[late].any()  # not reached: never analysed, whatever the rule


def _synthetic() -> PatientEndpoints:
    """Five patients: assessed responder, assessed relapsed, assessed small fall, missing with a
    carried responder value, not reached."""
    one = np.ones((1, 5), dtype=bool)
    return PatientEndpoints(
        included=one,
        arm=np.zeros((1, 5), np.int8),
        stratum=np.zeros((1, 5), np.int16),
        relapse_time=np.full((1, 5), 6.0),
        relapse_observed=np.array([[False, True, False, False, False]]),
        flares=np.zeros((1, 5)),
        exposure=np.full((1, 5), 12.0),
        cutoff_month=np.array([30.0]),
        assessment=np.array([[ASSESSED, ASSESSED, ASSESSED, MISSING, NOT_REACHED]], np.int8),
        baseline_sledai=np.array([[12.0, 12.0, 12.0, 12.0, 12.0]]),
        sledai=np.array([[0.0, 4.0, 9.0, np.nan, np.nan]]),
        relapse_by_assessment=np.array([[False, True, False, False, False]]),
        sledai_carried=np.array([[np.nan, np.nan, np.nan, 6.0, np.nan]]),
        relapse_by_carried=np.array([[False, False, False, False, False]]),
    )


@pytest.mark.parametrize(
    ("kind", "missing", "response", "mask"),
    [
        ("sri4", "non_responder", [1, 0, 0, 0, 0], [1, 1, 1, 1, 0]),
        ("sri4", "exclude", [1, 0, 0, 0, 0], [1, 1, 1, 0, 0]),
        ("sri4", "locf", [1, 0, 0, 1, 0], [1, 1, 1, 1, 0]),
        ("remission", "non_responder", [1, 0, 0, 0, 0], [1, 1, 1, 1, 0]),
    ],
)
def test_responder_rules(kind: str, missing: str, response: list, mask: list) -> None:
    out = responders(_synthetic(), kind, missing=missing)
    np.testing.assert_array_equal(out.response[0], np.array(response, bool))
    np.testing.assert_array_equal(out.mask[0], np.array(mask, bool))


def test_responder_without_the_relapse_rule_counts_the_relapsed_patient() -> None:
    out = responders(_synthetic(), "sri4", require_no_relapse=False)
    np.testing.assert_array_equal(out.response[0], [True, True, False, False, False])


def test_sledai_change_rules() -> None:
    e = _synthetic()
    out = sledai_change(e, "exclude")
    np.testing.assert_array_equal(out.mask[0], [True, True, True, False, False])
    np.testing.assert_array_equal(out.change[0, :3], [-12.0, -8.0, -3.0])
    out = sledai_change(e, "locf")
    np.testing.assert_array_equal(out.mask[0], [True, True, True, True, False])
    assert out.change[0, 3] == -6.0


_PATIENT_FIELDS = (
    "enrolled",
    "follow_up",
    "end_reason",
    "flare_onset",
    "flare_detected",
    "detection_kind",
    "flare_resolved",
    "visit_done",
    "unscheduled_done",
    "response_observed",
    "manifestation_observed",
)


def _same_patients(a, b) -> None:  # type: ignore[no-untyped-def]
    for name in _PATIENT_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if name != "enrolled":
            x = np.where(_expand(a.enrolled, x), x, 0)
            y = np.where(_expand(b.enrolled, y), y, 0)
        np.testing.assert_array_equal(x, y, err_msg=name)


def _expand(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape(mask.shape + (1,) * (like.ndim - mask.ndim))


@pytest.mark.parametrize("engine", [simulate_course_vector, simulate_course_des])
def test_course_at_a_calendar_look_is_the_engines_cut(engine) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario(RCT)
    final = LatentCohort(scenario, 2, np.arange(3), n_patients=60)
    course = engine(final)
    look = 18.0
    early = with_values(scenario, {"cutoff.calendar_month": look})
    cut = engine(LatentCohort(early, 2, np.arange(3), n_patients=60))
    _same_patients(course_at(final, course, np.full(3, look)), cut)


def test_course_at_the_mth_event_is_the_event_driven_cut() -> None:
    scenario = load_scenario(REFERENCE)
    cohort = LatentCohort(scenario, 9, np.arange(300))
    course = simulate_course_vector(cohort)
    first = np.where(course.enrolled, cohort.enrol_month + course.flare_detected[..., 0], np.inf)
    at = np.sort(np.where(np.isnan(first), np.inf, first), axis=1)[:, 32]  # the 33rd event
    looked = course_at(cohort, course, at)
    cut = simulate_course_vector(
        LatentCohort(with_values(scenario, {"cutoff.events": 33}), 9, np.arange(300))
    )
    _same_patients(looked, cut)
    assert np.all(np.isfinite(looked.flare_detected[..., 0]).sum(axis=1) == 33)


def test_course_at_or_after_the_final_cut_changes_nothing(rct) -> None:
    _, cohort, course, _ = rct
    same = course_at(cohort, course, np.full(6, np.inf))
    assert same.differences(course) == []
