"""Simulation engines: the SimPy reference engine and the vectorised engine.

Both turn a :class:`~cohortsim.cohort.LatentCohort` into a :class:`~cohortsim.course.Course`.
Neither touches files.

The SimPy engine (and SimPy itself, ≈ 20 ms to import) is loaded when first used: ``power``
runs the vectorised engine unless ``--engine des`` is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cohortsim.engine.vector import simulate_course_vector

if TYPE_CHECKING:
    from cohortsim.cohort import LatentCohort
    from cohortsim.course import Course


def simulate_course_des(cohort: LatentCohort) -> Course:
    """:func:`cohortsim.engine.des.simulate_course_des` (imported on first call)."""
    from cohortsim.engine.des import simulate_course_des as simulate

    return simulate(cohort)


ENGINES = {"des": simulate_course_des, "vector": simulate_course_vector}


__all__ = ["ENGINES", "simulate_course_des", "simulate_course_vector"]
