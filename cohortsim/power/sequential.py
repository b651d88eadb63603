"""Interim looks: when they happen, and what the group-sequential boundaries decide.

Looks are placed per simulated trial on the calendar, at an information fraction of the final
analysis (:class:`~cohortsim.scenario.types.InterimAnalysis`):

* ``"events"``: when the ``⌈f·D⌉``-th first relapse is observed (detected), ``D`` being
  ``cutoff.events`` when the trial is event-driven, else the number observed by the final
  analysis of that trial;
* ``"calendar"``: at ``f`` × the calendar month of the final analysis;
* ``"assessments"``: when the ``⌈f·A⌉``-th assessment visit is done, ``A`` being the number done
  by the final analysis.

A look that would fall at or after the final analysis does not happen. Boundaries are those of
a Lan-DeMets spending function at the *planned* fractions (``cohortsim.analysis``); the
standardised statistic ``z`` is oriented so that positive means benefit. At an interim look a
trial stops for efficacy when ``z >= c_k``, for harm (two-sided designs) when ``z <= -c_k``, and
for futility when ``z`` is below the non-binding futility threshold (taken as obeyed here).
"""

from __future__ import annotations

import numpy as np

from cohortsim.analysis import GroupSequentialBoundaries, lan_demets_boundaries
from cohortsim.cohort import LatentCohort
from cohortsim.course import Course
from cohortsim.scenario.types import Analysis

STOPS: tuple[str, ...] = ("final", "efficacy", "futility", "harm")
"""Why a simulated trial ended (codes are positions): it reached its final analysis, or it
stopped at an interim look for efficacy, futility or harm."""
FINAL, EFFICACY, FUTILITY, HARM = range(4)


def boundaries(settings: Analysis) -> GroupSequentialBoundaries | None:
    """The design's boundaries (None without interim looks)."""
    interim = settings.interim
    if not interim.information_fractions:
        return None
    return lan_demets_boundaries(
        (*interim.information_fractions, 1.0),
        alpha=settings.alpha,
        sides=settings.sides,
        spending=interim.spending,
        futility=interim.futility_z,
    )


def _nth(calendar: np.ndarray, counts: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per row, the ``targets[:, k]``-th smallest value of ``calendar`` (inf when the row has
    fewer than that many finite values)."""
    ordered = np.sort(calendar, axis=1)
    m = np.maximum(targets, 1).astype(np.int64)
    index = np.minimum(m, ordered.shape[1]) - 1
    times = np.take_along_axis(ordered, index, axis=1)
    return np.where(m <= counts[:, None], times, np.inf)


def look_times(
    cohort: LatentCohort,
    course: Course,
    settings: Analysis,
    target_events: int | None,
    assessment: int | None,
) -> np.ndarray:
    """Calendar months of the interim looks, ``(R, looks)``; ``inf`` where a look does not
    happen (before the final analysis).

    Parameters
    ----------
    cohort, course
        The trials at their final analysis.
    settings : Analysis
    target_events : int, optional
        ``cutoff.events`` of an event-driven design.
    assessment : int, optional
        Index of the assessment visit (for ``timing = "assessments"``).
    """
    interim = settings.interim
    fractions = np.asarray(interim.information_fractions, dtype=float)
    final = course.cutoff_month
    if interim.timing == "calendar":
        times = final[:, None] * fractions
    elif interim.timing == "events":
        first = course.first_detection()
        seen = course.enrolled & np.isfinite(first)
        calendar = np.where(seen, cohort.enrol_month + np.where(seen, first, 0.0), np.inf)
        counts = seen.sum(axis=1)
        total = np.full(counts.shape, target_events) if target_events else counts
        targets = np.ceil(fractions * total[:, None] - 1e-9)
        times = _nth(calendar, counts, targets)
    else:
        if assessment is None:
            raise ValueError("looks timed by assessments need the assessment visit")
        done = course.visit_done[..., assessment] & course.enrolled
        calendar = np.where(
            done, cohort.enrol_month + cohort.visit_time[..., assessment], np.inf
        )
        counts = done.sum(axis=1)
        targets = np.ceil(fractions * counts[:, None] - 1e-9)
        times = _nth(calendar, counts, targets)
    return np.where(times < final[:, None], times, np.inf)


def interim_decision(
    z: np.ndarray, look: int, design: GroupSequentialBoundaries
) -> np.ndarray:
    """Stop code at interim look ``look`` (0-based) for statistics ``z`` (benefit positive):
    :data:`EFFICACY`, :data:`HARM`, :data:`FUTILITY` or :data:`FINAL` (= continue)."""
    bound = design.efficacy[look]
    with np.errstate(invalid="ignore"):
        code = np.where(z >= bound, EFFICACY, FINAL)
        if design.sides == 2:
            code = np.where(z <= -bound, HARM, code)
        if design.futility is not None:
            code = np.where((code == FINAL) & (z < design.futility[look]), FUTILITY, code)
    return code.astype(np.int8)


def final_decision(
    z: np.ndarray, design: GroupSequentialBoundaries
) -> tuple[np.ndarray, np.ndarray]:
    """``(rejected, significant)`` at the final look: ``z`` beyond the last boundary in the
    direction of benefit, and beyond it in either direction (two-sided designs)."""
    bound = design.efficacy[-1]
    with np.errstate(invalid="ignore"):
        rejected = z >= bound
        significant = rejected | ((z <= -bound) if design.sides == 2 else False)
    return rejected, significant
