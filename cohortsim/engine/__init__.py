"""Simulation engines: the SimPy reference engine and the vectorised engine.

Both turn a :class:`~cohortsim.cohort.LatentCohort` into a :class:`~cohortsim.course.Course`.
Neither touches files.
"""

from cohortsim.engine.des import simulate_course_des
from cohortsim.engine.vector import simulate_course_vector

ENGINES = {"des": simulate_course_des, "vector": simulate_course_vector}

__all__ = ["ENGINES", "simulate_course_des", "simulate_course_vector"]
