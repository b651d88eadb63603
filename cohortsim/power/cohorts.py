"""Common random numbers across trial sizes, without drawing twice.

Patient ``i`` has the same draws in a trial of any size (patient-major streams,
:mod:`cohortsim.seeding`), so the latent cohort of a smaller trial is the first ``n`` patients of
a larger one. :func:`prefix_cohort` makes that cohort by slicing the arrays the larger cohort
has already computed (everything it has not computed is drawn lazily at size ``n``, which gives
the same numbers). The power runner simulates the largest trial first and the smaller ones from
its prefixes; a test holds the result equal to a freshly drawn cohort.
"""

from __future__ import annotations

import copy

import numpy as np

from cohortsim.cohort import LatentCohort


def prefix_cohort(cohort: LatentCohort, n_patients: int) -> LatentCohort:
    """The latent cohort of the first ``n_patients`` patients of ``cohort``.

    Parameters
    ----------
    cohort : LatentCohort
        A cohort of ``cohort.n_patients >= n_patients`` patients (any subclass).
    n_patients : int
        The smaller trial size.

    Returns
    -------
    LatentCohort
        Same class, replicates and parameters; cached per-patient arrays sliced to
        ``[:, :n_patients]``.
    """
    if n_patients > cohort.n_patients:
        raise ValueError(f"cannot grow a cohort ({cohort.n_patients} -> {n_patients} patients)")
    small = copy.copy(cohort)
    shape = cohort.shape
    for name, value in list(vars(cohort).items()):
        if isinstance(value, np.ndarray) and value.ndim >= 2 and value.shape[:2] == shape:
            setattr(small, name, value[:, :n_patients])
    small.n_patients = int(n_patients)
    return small
