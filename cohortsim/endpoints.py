"""Per-patient endpoints of simulated trials, derived from a latent cohort and its course.

Everything here works on ``(replicates, patients)`` arrays with no loop over replicates or
patients. Times are months since the patient's treatment start; ``calendar`` months are since
the study start.

The endpoints, and the rules that define them (``docs/planning.md`` repeats them for planners):

* **Time to first relapse**: the first *detected* flare (what an investigator observes: at a
  scheduled visit, a symptomatic visit, or at onset with ``detection = "immediate"``); censored
  at the end of follow-up.
* **Flares**: the number of flares detected within follow-up; exposure = follow-up (months).
* **The assessment** (month 12 by default): the scheduled visit whose nominal month is nearest
  to ``assessment_month`` among those whose window holds it. Each patient's assessment is

  - ``ASSESSED``: the visit was done within follow-up;
  - ``NOT_REACHED``: the visit was not done and follow-up ended for an administrative reason
    (data cut-off, maximum follow-up, study end) before the visit window closed — the patient
    cannot be assessed yet and is left out of the assessment endpoints whatever the missing-data
    rule;
  - ``MISSING``: otherwise (the visit was missed although follow-up went past its window, or the
    patient dropped out or died before it). The analysis's missing-data rule applies: count as a
    non-responder (the default for responder endpoints), leave out, or carry forward the last
    observation (LOCF: the last scheduled visit done before the assessment, else baseline).

* **SLEDAI-2K** at a visit is the value the visits table records (``cohortsim.measurements``),
  evaluated here only where an endpoint needs it.
* **SRI-4-like responder**: SLEDAI-2K at the assessment ≤ baseline − ``sledai_reduction`` (4),
  and, when ``require_no_relapse``, no flare detected up to the assessment visit.
* **Complete remission**: SLEDAI-2K = 0 at the assessment.
* **SLEDAI-2K change**: value at the assessment minus baseline (analysed by ANCOVA on baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import cast

import numpy as np

from cohortsim.cohort import LatentCohort
from cohortsim.course import END_CUTOFF, END_MAX_FOLLOW_UP, END_STUDY, NOT_DETECTED, Course
from cohortsim.measurements import flare_state, response_progress, sledai_at

ASSESSED, MISSING, NOT_REACHED = 0, 1, 2
"""Assessment status codes (see the module docstring)."""

ADMINISTRATIVE_ENDS = (END_CUTOFF, END_MAX_FOLLOW_UP, END_STUDY)
"""End-of-follow-up reasons that are not the patient's own (dropout or death)."""


# -- the course at an earlier calendar time -----------------------------------------------------
def course_at(cohort: LatentCohort, course: Course, cut_month: np.ndarray) -> Course:
    """The course as it would be recorded by a data cut-off at ``cut_month`` (an earlier look).

    Parameters
    ----------
    cohort : LatentCohort
    course : Course
        The course at the final analysis.
    cut_month : array of float, shape (R,)
        Calendar month of the look, per replicate; at or after the final cut-off it changes
        nothing.

    Returns
    -------
    Course
        Patients enrolled before the look, follow-up ending at the look at the latest (a first
        relapse detected exactly at the look stays inside, as the engines keep the events that
        triggered an event-driven cut-off), and only what happened within it — the same rules
        the engines apply at a cut-off.
    """
    cut = np.asarray(cut_month, dtype=float)
    final = course.cutoff_month
    look = cut < final
    cut = np.where(look, cut, final)[:, None]
    enrol = cohort.enrol_month
    enrolled = course.enrolled & (enrol <= cut)
    first = course.first_detection()
    with np.errstate(invalid="ignore"):
        counted = np.where(enrol + first <= cut, first, -np.inf)
    to_cut = np.maximum(cut - enrol, counted)
    shorter = enrolled & (to_cut < course.follow_up)
    follow_up = np.where(enrolled, np.where(shorter, to_cut, course.follow_up), np.nan)
    end_reason = np.where(shorter, END_CUTOFF, course.end_reason).astype(np.int8)

    fu = follow_up[..., None]
    within = enrolled[..., None] & (course.flare_onset <= fu)
    with np.errstate(invalid="ignore"):
        seen = within & (course.flare_detected <= fu)
    onset = np.where(within, course.flare_onset, np.inf)
    detected = np.where(seen, course.flare_detected, np.nan)
    untreated = _per_arm(cohort, lambda a: a.disease.relapse.untreated_resolution_months)
    rescue = _per_arm(cohort, lambda a: a.disease.relapse.rescue_resolution_months)
    resolved = np.where(seen, detected + rescue[..., None], onset + untreated[..., None])
    resolved = np.where(within, resolved, np.inf)
    if cohort.n_visits:
        visit_done = course.visit_done & (cohort.visit_time <= fu)
    else:
        visit_done = course.visit_done
    visit_done = visit_done & enrolled[..., None]
    with np.errstate(invalid="ignore"):
        response = np.where(course.response_observed <= follow_up, course.response_observed, np.nan)
        manifestation = np.where(
            course.manifestation_observed <= fu, course.manifestation_observed, np.nan
        )
    from cohortsim.course import CUT_CALENDAR

    return Course(
        cutoff_month=np.where(look, cut[:, 0], final),
        cutoff_reason=np.where(look, CUT_CALENDAR, course.cutoff_reason).astype(np.int8),
        enrolled=enrolled,
        follow_up=follow_up,
        end_reason=end_reason,
        flare_onset=onset,
        flare_detected=detected,
        detection_kind=np.where(seen, course.detection_kind, NOT_DETECTED).astype(np.int8),
        flare_resolved=resolved,
        visit_done=visit_done,
        unscheduled_done=course.unscheduled_done & seen,
        response_observed=response,
        manifestation_observed=manifestation,
    )


def _per_arm(cohort: LatentCohort, getter) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray([getter(arm) for arm in cohort.arms], dtype=float)[cohort.arm]


# -- SLEDAI-2K at visits ---------------------------------------------------------------------
def sledai_at_visit(
    cohort: LatentCohort, course: Course, rows: np.ndarray, patients: np.ndarray, visit: np.ndarray
) -> np.ndarray:
    """SLEDAI-2K recorded at scheduled visit ``visit`` of patients ``(rows, patients)``.

    The ``sledai`` column of the visits table, computed only where asked: the same function of
    the same draws as :class:`cohortsim.measurements.VisitMeasurer` (see
    :func:`cohortsim.measurements.sledai_at`), at the visit's own uniform.
    """
    at = (rows, patients)
    t = cohort.visit_time[rows, patients, visit]
    noise = cohort.visit_noise("sledai")[rows, patients, visit]
    progress = response_progress(t, cohort.time_to_response[at])
    _, rise = flare_state(
        t, course.flare_onset[at], course.flare_resolved[at], cohort.flare_sledai_rise[at]
    )
    dispersion = _per_arm(cohort, lambda a: a.disease.sledai.visit_dispersion)[at]
    binomial = _per_arm(cohort, lambda a: a.disease.sledai.visit_distribution == "binomial")[at]
    return sledai_at(
        noise,
        cohort.baseline_sledai[at],
        cohort.residual_fraction[at],
        progress,
        rise,
        dispersion,
        binomial,
    )


def assessment_visit(cohort: LatentCohort, month: float) -> int:
    """Index of the scheduled visit that assesses ``month``: the nearest nominal month among
    visits whose window holds it.

    Raises
    ------
    ValueError
        No visit window holds ``month``.
    """
    nominal, window = cohort.visit_nominal, cohort.visit_window
    distance = np.abs(nominal - month)
    ok = distance <= window
    if not ok.any():
        raise ValueError(f"no scheduled visit has month {month:g} within its window")
    return int(np.argmin(np.where(ok, distance, np.inf)))


# -- the endpoints ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatientEndpoints:
    """Per-patient endpoints of ``R`` trials × ``N`` patients at one analysis.

    Attributes
    ----------
    included : (R, N) bool
        Enrolled by the analysis (in the data).
    arm : (R, N) int8
        Arm index (position in ``scenario.arms``).
    stratum : (R, N) int16
        Randomisation stratum code.
    relapse_time : (R, N) float
        Months to the first detected flare, or to the end of follow-up (NaN if not included).
    relapse_observed : (R, N) bool
        The first flare was detected within follow-up.
    flares : (R, N) float
        Flares detected within follow-up.
    exposure : (R, N) float
        Follow-up, months (NaN if not included).
    cutoff_month : (R,) float
        Calendar month of the analysis.
    assessment : (R, N) int8 or None
        :data:`ASSESSED`, :data:`MISSING` or :data:`NOT_REACHED` (None without an assessment).
    baseline_sledai : (R, N) float or None
    sledai : (R, N) float or None
        SLEDAI-2K at the assessment (NaN unless assessed).
    relapse_by_assessment : (R, N) bool or None
        A flare was detected at or before the assessment visit.
    sledai_carried : (R, N) float or None
        SLEDAI-2K at the last scheduled visit done before the assessment visit (baseline if
        none), for patients whose assessment is missing (NaN elsewhere).
    relapse_by_carried : (R, N) bool or None
        A flare was detected at or before that visit.
    """

    included: np.ndarray
    arm: np.ndarray
    stratum: np.ndarray
    relapse_time: np.ndarray
    relapse_observed: np.ndarray
    flares: np.ndarray
    exposure: np.ndarray
    cutoff_month: np.ndarray
    assessment: np.ndarray | None = None
    baseline_sledai: np.ndarray | None = None
    sledai: np.ndarray | None = None
    relapse_by_assessment: np.ndarray | None = None
    sledai_carried: np.ndarray | None = None
    relapse_by_carried: np.ndarray | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

    @property
    def shape(self) -> tuple[int, int]:
        return self.included.shape  # type: ignore[return-value]

    def select(self, rows: np.ndarray) -> PatientEndpoints:
        """The endpoints of replicates ``rows`` only."""
        return replace(
            self,
            **{
                f.name: getattr(self, f.name)[rows]
                for f in fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)
            },
        )


def derive_endpoints(
    cohort: LatentCohort, course: Course, assessment_month: float | None = None
) -> PatientEndpoints:
    """The endpoints of every patient of ``course``.

    Parameters
    ----------
    cohort : LatentCohort
    course : Course
        The course at the analysis (see :func:`course_at` for an earlier look).
    assessment_month : float, optional
        Nominal month of the assessment visit (lupus model only); None skips the assessment
        endpoints (SRI-4-like, remission, SLEDAI change).

    Returns
    -------
    PatientEndpoints
    """
    included = course.enrolled
    first = course.first_detection()
    observed = included & np.isfinite(first)
    follow_up = course.follow_up
    relapse_time = np.where(observed, first, follow_up)
    flares = np.isfinite(course.flare_detected).sum(axis=-1).astype(float)
    base = {
        "included": included,
        "arm": cohort.arm,
        "stratum": cohort.stratum,
        "relapse_time": np.where(included, relapse_time, np.nan),
        "relapse_observed": observed,
        "flares": np.where(included, flares, 0.0),
        "exposure": np.where(included, follow_up, np.nan),
        "cutoff_month": course.cutoff_month,
    }
    if assessment_month is None or not cohort.is_sle or not cohort.n_visits:
        return PatientEndpoints(**base)

    v = assessment_visit(cohort, assessment_month)
    done = course.visit_done[..., v] & included
    window_end = cohort.visit_nominal[v] + cohort.visit_window[v]
    administrative = np.isin(course.end_reason, ADMINISTRATIVE_ENDS)
    with np.errstate(invalid="ignore"):
        not_reached = included & ~done & administrative & (follow_up < window_end)
    status = np.where(done, ASSESSED, np.where(not_reached, NOT_REACHED, MISSING))
    status = np.where(included, status, NOT_REACHED).astype(np.int8)

    sledai = np.full(cohort.shape, np.nan)
    rows, patients = np.nonzero(done)
    sledai[rows, patients] = sledai_at_visit(
        cohort, course, rows, patients, np.full(rows.size, v)
    )
    visit_time = cohort.visit_time[..., v]
    with np.errstate(invalid="ignore"):
        relapse_by = observed & (first <= visit_time)

    # Last observation carried forward, for patients whose assessment is missing.
    missing = status == MISSING
    earlier = course.visit_done[..., :v] & missing[..., None]
    has_earlier = earlier.any(axis=-1)
    last = v - 1 - np.argmax(earlier[..., ::-1], axis=-1) if v else np.zeros(cohort.shape, int)
    baseline = cohort.baseline_sledai
    carried = np.where(missing, baseline, np.nan)
    rows, patients = np.nonzero(missing & has_earlier)
    carried[rows, patients] = sledai_at_visit(cohort, course, rows, patients, last[rows, patients])
    if v:
        last_time = np.take_along_axis(cohort.visit_time, last[..., None], axis=-1)[..., 0]
        last_time = np.where(has_earlier, last_time, 0.0)
    else:
        last_time = np.zeros(cohort.shape)
    with np.errstate(invalid="ignore"):
        relapse_by_carried = missing & observed & (first <= last_time)
    return PatientEndpoints(
        **base,
        assessment=status,
        baseline_sledai=baseline,
        sledai=sledai,
        relapse_by_assessment=relapse_by,
        sledai_carried=carried,
        relapse_by_carried=relapse_by_carried,
    )


@dataclass(frozen=True)
class BinaryOutcome:
    """Responder indicators and who is analysed, ``(R, N)``."""

    response: np.ndarray
    mask: np.ndarray


def responders(
    endpoints: PatientEndpoints,
    kind: str,
    missing: str = "non_responder",
    sledai_reduction: int = 4,
    require_no_relapse: bool = True,
) -> BinaryOutcome:
    """SRI-4-like responders (``kind = "sri4"``) or complete remissions (``"remission"``).

    Parameters
    ----------
    endpoints : PatientEndpoints
        With the assessment (``derive_endpoints(..., assessment_month=...)``).
    kind : {"sri4", "remission"}
    missing : {"non_responder", "exclude", "locf"}
        What a missing assessment counts as (not-reached patients are always left out).
    sledai_reduction : int
        SRI-4-like: the fall in SLEDAI-2K points required.
    require_no_relapse : bool
        SRI-4-like: no flare detected up to the assessment.

    Returns
    -------
    BinaryOutcome
    """
    e = endpoints
    if e.assessment is None:
        raise ValueError("these endpoints were derived without an assessment visit")
    # The assessment fields are set together (derive_endpoints): arrays from here on.

    def rule(value: np.ndarray, relapsed: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            if kind == "remission":
                return value == 0
            ok = value <= cast(np.ndarray, e.baseline_sledai) - sledai_reduction
        return ok & ~relapsed if require_no_relapse else ok

    if kind not in ("sri4", "remission"):
        raise ValueError(f"kind must be 'sri4' or 'remission', got {kind!r}")
    assessed = e.assessment == ASSESSED
    missing_now = e.assessment == MISSING
    response = assessed & rule(
        cast(np.ndarray, e.sledai), cast(np.ndarray, e.relapse_by_assessment)
    )
    if missing == "non_responder":
        mask = assessed | missing_now
    elif missing == "exclude":
        mask = assessed
    elif missing == "locf":
        mask = assessed | missing_now
        response = response | (
            missing_now
            & rule(cast(np.ndarray, e.sledai_carried), cast(np.ndarray, e.relapse_by_carried))
        )
    else:
        raise ValueError(f"missing must be non_responder, exclude or locf, got {missing!r}")
    return BinaryOutcome(response=response & mask, mask=mask & e.included)


@dataclass(frozen=True)
class ChangeOutcome:
    """SLEDAI-2K change from baseline, the baseline, and who is analysed, ``(R, N)``."""

    change: np.ndarray
    baseline: np.ndarray
    mask: np.ndarray


def sledai_change(endpoints: PatientEndpoints, missing: str = "exclude") -> ChangeOutcome:
    """SLEDAI-2K at the assessment minus baseline.

    Parameters
    ----------
    endpoints : PatientEndpoints
    missing : {"exclude", "locf"}
        Missing assessments are left out, or carried forward from the last scheduled visit
        (baseline if none, i.e. a change of 0).
    """
    e = endpoints
    if e.assessment is None:
        raise ValueError("these endpoints were derived without an assessment visit")
    # The assessment fields are set together (derive_endpoints): arrays from here on.
    baseline = cast(np.ndarray, e.baseline_sledai)
    assessed = e.assessment == ASSESSED
    value = np.where(assessed, cast(np.ndarray, e.sledai), np.nan)
    if missing == "locf":
        carried = e.assessment == MISSING
        value = np.where(carried, cast(np.ndarray, e.sledai_carried), value)
        mask = assessed | carried
    elif missing == "exclude":
        mask = assessed
    else:
        raise ValueError(f"missing must be exclude or locf, got {missing!r}")
    change = np.where(mask, value - baseline, np.nan)
    return ChangeOutcome(change=change, baseline=baseline, mask=mask & e.included)
