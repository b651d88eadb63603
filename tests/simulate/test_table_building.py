"""The shortcuts that make table building fast give exactly what the plain computations give.

* ``canonical_order`` (packed-key sort) is ``np.lexsort((time, patient))`` — with ties, times
  closer than its resolution in the wrong row order, NaN, infinite and negative times, and codes
  too large to pack (the last three fall back to ``np.lexsort`` itself);
* ``_gather`` (one flat index) is indexing the broadcast array with the unravelled index;
* the residual SLEDAI fraction evaluated on a subset equals the full array there;
* the rows of the events and visits tables are in canonical order.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simulate_scenarios import lupus_trial

from cohortsim.cohort import LatentCohort
from cohortsim.engine import simulate_course_vector
from cohortsim.timeline import _gather, build_tables, canonical_order


def _check(patient: np.ndarray, time: np.ndarray, n_codes: int) -> None:
    got = canonical_order(patient, time, n_codes)
    want = np.lexsort((time, patient))
    assert got.dtype == np.intp
    np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 400),
    n_codes=st.integers(1, 50),
    n_times=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_canonical_order_is_lexsort_with_many_ties(n, n_codes, n_times, seed) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    patient = rng.integers(0, n_codes, n)
    time = rng.choice(rng.random(n_times) * 12, n)  # few distinct times: many exact ties
    _check(patient, time, n_codes)


def test_canonical_order_near_ties_in_the_wrong_row_order() -> None:
    """Times one ulp apart share a packed key; rows listed later-time-first must still come out
    in time order (the check after the sort sends this case to np.lexsort)."""
    rng = np.random.default_rng(1)
    base = rng.random(500) * 12
    time = np.concatenate([np.nextafter(base, np.inf), base])  # later time first, per patient
    patient = np.concatenate([np.arange(500), np.arange(500)])
    _check(patient, time, 500)


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf, -3.0, -0.0, 1e300, 5e-324], ids=repr)
def test_canonical_order_special_times(special: float) -> None:
    rng = np.random.default_rng(2)
    time = rng.random(300) * 10
    time[::7] = special
    time[::11] = 0.0
    _check(rng.integers(0, 20, 300), time, 20)


def test_canonical_order_codes_too_large_to_pack() -> None:
    rng = np.random.default_rng(3)
    n_codes = 2**60
    patient = rng.integers(0, n_codes, 200)
    patient[::3] = patient[0]
    _check(patient, rng.random(200), n_codes)


def test_canonical_order_tiny_inputs() -> None:
    _check(np.zeros(0, dtype=np.int64), np.zeros(0), 1)
    _check(np.array([0]), np.array([1.5]), 1)
    _check(np.array([1, 0]), np.array([2.0, 2.0]), 2)
    # Few rows and codes leave many bits for the time: its largest value must not reach the
    # patient bits (it did when the time had 62 bits and 2^62 − 1 rounded up to 2^62).
    _check(np.array([1, 0]), np.array([0.0, 5.0]), 2)


@settings(max_examples=200, deadline=None)
@given(
    patient=st.lists(st.integers(0, 3), min_size=1, max_size=12),
    seed=st.integers(0, 2**32 - 1),
)
def test_canonical_order_small_inputs(patient, seed) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    time = rng.choice(np.array([0.0, 1.0, 2.5, 12.5]), len(patient))
    _check(np.array(patient), time, 4)


@pytest.mark.parametrize(
    "x_shape", [(4, 5, 3), (3,), (1, 3), (1, 1, 3), (4, 5, 1), (4, 1, 1), (4, 1, 3), (1, 5, 1), ()]
)
def test_gather_is_broadcast_indexing(x_shape: tuple[int, ...]) -> None:
    shape = (4, 5, 3)
    rng = np.random.default_rng(4)
    x = rng.random(x_shape)
    flat = np.flatnonzero(rng.random(shape) < 0.4)
    want = np.broadcast_to(x, shape)[np.unravel_index(flat, shape)]
    np.testing.assert_array_equal(_gather(x, flat, shape), want)


def test_residual_fraction_on_a_subset() -> None:
    scenario = lupus_trial()
    where = np.random.default_rng(5).random((30, scenario.study.n_patients)) < 0.3
    partial = LatentCohort(scenario, 9, np.arange(30)).residual_fraction_where(where)
    cohort = LatentCohort(scenario, 9, np.arange(30))
    full = cohort.residual_fraction
    np.testing.assert_array_equal(partial[where], full[where])
    assert np.isnan(partial[~where]).all()
    # once the full array exists, it is used as is
    np.testing.assert_array_equal(cohort.residual_fraction_where(where), partial)


def test_tables_rows_are_in_canonical_order() -> None:
    scenario = lupus_trial()
    cohort = LatentCohort(scenario, 11, np.arange(40))
    tables = build_tables(cohort, simulate_course_vector(cohort))
    e = tables["events"]
    keys = (e["sequence"], e["event"], e["true_months"], e["patient_id"], e["row"])
    np.testing.assert_array_equal(np.lexsort(keys), np.arange(len(e["row"])))  # type: ignore[arg-type]
    v = tables["visits"]
    keys = (v["actual_months"], v["patient_id"], v["row"])
    np.testing.assert_array_equal(np.lexsort(keys), np.arange(len(v["row"])))  # type: ignore[arg-type]
    for table in (e, v):
        assert table["row"].dtype == np.int64 and table["patient_id"].dtype == np.int64  # type: ignore[union-attr]
