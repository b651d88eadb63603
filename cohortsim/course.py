"""What happened to each patient: the engines' common result, before it becomes tables.

Both engines fill a :class:`Course` from the same :class:`~cohortsim.cohort.LatentCohort`; the
SimPy engine by running events, the vectorised engine with array operations. Everything else
(measurements at visits, tables) is derived from a Course by :mod:`cohortsim.timeline`, so the two
engines agree on the tables exactly when they agree on the Course.

Codes used in the arrays are positions in the category tuples below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

END_REASONS = ("cutoff", "dropout", "death", "max_follow_up", "study_end")
CUTOFF_REASONS = ("calendar", "after_last_enrolment", "events", "max_follow_up", "study_end")
DETECTION_KINDS = ("scheduled", "symptomatic", "immediate")

END_CUTOFF, END_DROPOUT, END_DEATH, END_MAX_FOLLOW_UP, END_STUDY = range(5)
CUT_CALENDAR, CUT_AFTER_LAST, CUT_EVENTS, CUT_MAX_FOLLOW_UP, CUT_STUDY_END = range(5)
DETECTED_SCHEDULED, DETECTED_SYMPTOMATIC, DETECTED_IMMEDIATELY = range(3)
NOT_DETECTED = -1


@dataclass
class Course:
    """Outcome arrays for ``R`` replicates × ``N`` patients (``K`` flare slots, ``V`` visits).

    Attributes
    ----------
    cutoff_month, cutoff_reason : (R,)
        Calendar month of the data cut-off and which rule set it.
    enrolled : (R, N) bool
        Enrolled before the cut-off (patients after it never enter the data).
    follow_up : (R, N)
        Months from treatment start to end of follow-up (NaN when not enrolled).
    end_reason : (R, N) int8
        Index into :data:`END_REASONS`.
    flare_onset : (R, N, K)
        Onset of flare k if it began within follow-up, else ``inf``.
    flare_detected : (R, N, K)
        Month flare k was detected within follow-up, else NaN.
    detection_kind : (R, N, K) int8
        Index into :data:`DETECTION_KINDS`, or :data:`NOT_DETECTED`.
    flare_resolved : (R, N, K)
        Month the flare episode ends (may lie beyond follow-up; ``inf`` with no onset).
    visit_done : (R, N, V) bool
        Scheduled visit v was done within follow-up.
    unscheduled_done : (R, N, K) bool
        The symptomatic visit of flare k was done (at onset + delay).
    response_observed : (R, N)
        First done scheduled visit at or after the time to response (NaN if none, or class none).
    manifestation_observed : (R, N, M)
        First done scheduled visit at or after a manifestation resolved (NaN if none).
    """

    cutoff_month: np.ndarray
    cutoff_reason: np.ndarray
    enrolled: np.ndarray
    follow_up: np.ndarray
    end_reason: np.ndarray
    flare_onset: np.ndarray
    flare_detected: np.ndarray
    detection_kind: np.ndarray
    flare_resolved: np.ndarray
    visit_done: np.ndarray
    unscheduled_done: np.ndarray
    response_observed: np.ndarray
    manifestation_observed: np.ndarray

    def first_detection(self) -> np.ndarray:
        """(R, N) month the first relapse was observed — the earliest detected flare, which need
        not be flare 1 (a flare can resolve unseen) — NaN when none was detected."""
        return np.fmin.reduce(self.flare_detected, axis=-1)

    def differences(self, other: Course) -> list[str]:
        """Names of fields that differ (NaN equal to NaN); empty when identical."""
        out = []
        for name in self.__dataclass_fields__:
            a, b = getattr(self, name), getattr(other, name)
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                out.append(name)
        return out
