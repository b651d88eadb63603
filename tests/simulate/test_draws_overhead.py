"""The shortcuts that take per-block overhead out of drawing a cohort, against what they replace.

* ``DrawSource`` lays out a run of consecutive replicates by arithmetic: the same layout as
  the general computation, and the same draws as the same replicates in another order, for
  runs inside one seeding block and across several;
* ``cohort_design`` computes a scenario's visit schedule and draw counts once per scenario
  object: equal to computing them afresh, shared read-only, never handed to another scenario;
* ``LatentCohort.enrol_month`` scales the uniforms in place and skips adding a start of 0:
  bit for bit ``start + span · linear_window_ppf(u, ratio)`` for the scenarios that take the
  shortcut and those that do not.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from simulate_scenarios import SCENARIO_DIR, lupus_trial

from cohortsim import cohort as cohort_module
from cohortsim.cohort import (
    LatentCohort,
    cohort_design,
    linear_window_ppf,
    max_cyclophosphamide,
    max_flares,
    visit_schedule,
)
from cohortsim.draws import DrawSource, _general_layout, _run_layout
from cohortsim.scenario import Scenario, load_scenario

SHIPPED = sorted(SCENARIO_DIR.glob("*.toml"))

# -- layouts of runs -----------------------------------------------------------------------------

RUNS = [(0, 256), (0, 1), (255, 256), (255, 257), (3, 700), (256, 512), (250, 530), (0, 1030)]


def _assert_same_layout(got: list, want: list) -> None:
    def plain(part: slice | np.ndarray) -> np.ndarray:
        return np.arange(part.start, part.stop) if isinstance(part, slice) else part

    assert [block for block, *_ in got] == [block for block, *_ in want]
    for (block, here, rows), (_, want_here, want_rows) in zip(got, want, strict=True):
        np.testing.assert_array_equal(plain(here), plain(want_here), err_msg=f"{block=}")
        np.testing.assert_array_equal(plain(rows), plain(want_rows), err_msg=f"{block=}")


@pytest.mark.parametrize(("first", "stop"), RUNS, ids=str)
def test_run_layout_is_the_general_layout(first: int, stop: int) -> None:
    replicates = np.arange(first, stop)
    fast = _run_layout(first, stop)
    _assert_same_layout(fast, _general_layout(replicates))
    assert all(isinstance(part, slice) for _, *parts in fast for part in parts)
    _assert_same_layout(DrawSource(1, replicates)._layout, fast)


@pytest.mark.parametrize(("first", "stop"), RUNS, ids=str)
def test_a_run_draws_what_its_replicates_draw_in_any_order(first: int, stop: int) -> None:
    run = DrawSource(9, np.arange(first, stop))
    backwards = DrawSource(9, np.arange(first, stop)[::-1])  # the general layout
    rows = np.arange(stop - first)[::-1]
    for method in ("uniform", "normal", "exponential"):
        got = getattr(run, method)("s", 7, 2)
        np.testing.assert_array_equal(got, getattr(backwards, method)("s", 7, 2)[rows])
    pattern = np.array([0, 0, 1, 1], dtype=np.int8)
    np.testing.assert_array_equal(
        run.block_values("a", 5, 4, pattern), backwards.block_values("a", 5, 4, pattern)[rows]
    )


@pytest.mark.parametrize(
    "replicates",
    [np.array([700, 3, 255, 256, 9, 511, 0, 1030]), np.array([5, 5, 6]), np.array([], int)],
    ids=["scattered", "repeated", "empty"],
)
def test_other_replicates_keep_the_general_layout(replicates: np.ndarray) -> None:
    _assert_same_layout(DrawSource(2, replicates)._layout, _general_layout(replicates))


# -- per-scenario design ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_cached_design_is_the_recomputed_one(path: object) -> None:
    scenario = load_scenario(path)  # type: ignore[arg-type]
    design = cohort_design(scenario)
    nominal, window = visit_schedule(scenario)
    np.testing.assert_array_equal(design.visit_nominal, nominal)
    np.testing.assert_array_equal(design.visit_window, window)
    assert design.n_flares == max_flares(scenario)
    assert design.n_cyclophosphamide == max_cyclophosphamide(scenario)
    assert design.is_sle == scenario.is_sle
    assert cohort_design(scenario) is design
    assert not design.visit_nominal.flags.writeable and not design.visit_window.flags.writeable
    cohort = LatentCohort(scenario, 1, np.arange(3))
    assert cohort.visit_nominal is design.visit_nominal
    assert cohort.n_flares == design.n_flares and cohort.is_sle == design.is_sle


def test_an_equal_or_changed_scenario_gets_its_own_design() -> None:
    scenario = lupus_trial()
    design = cohort_design(scenario)
    twin = dataclasses.replace(scenario)
    assert cohort_design(twin) is not design
    visits = dataclasses.replace(scenario.visits, repeat_every_months=None)
    fewer = dataclasses.replace(scenario, visits=visits)
    np.testing.assert_array_equal(cohort_design(fewer).visit_nominal, visit_schedule(fewer)[0])
    assert len(cohort_design(fewer).visit_nominal) < len(design.visit_nominal)


def test_designs_stay_right_once_the_cache_starts_again() -> None:
    base = lupus_trial()
    scenarios = [
        dataclasses.replace(
            base, study=dataclasses.replace(base.study, max_duration_months=12.0 + k)
        )
        for k in range(cohort_module._MAX_DESIGNS + 5)
    ]
    for _ in range(2):
        for scenario in scenarios:
            np.testing.assert_array_equal(
                cohort_design(scenario).visit_nominal, visit_schedule(scenario)[0]
            )
            assert cohort_design(scenario).n_flares == max_flares(scenario)
            assert len(cohort_module._DESIGNS) <= cohort_module._MAX_DESIGNS


# -- enrolment -------------------------------------------------------------------------------------


def _with_window(scenario: Scenario, start: float, end: float, ratio: float) -> Scenario:
    accrual = dataclasses.replace(
        scenario.accrual,
        kind="window",
        window_start_month=start,
        window_end_month=end,
        density_ratio_end_to_start=ratio,
    )
    return dataclasses.replace(scenario, accrual=accrual)


WINDOWS = [
    (0.0, 12.0, 1.0),  # the shortcut
    (-0.0, 12.0, 1.0),  # the shortcut, a negative zero start
    (0.0, 1e-310, 1.0),  # the shortcut, products underflowing to +0.0
    (2.5, 14.0, 1.0),
    (0.0, 12.0, 3.0),
    (0.0, 12.0, 0.25),
    (0.0, 0.0, 1.0),
    (0.0, -0.0, 1.0),  # span −0.0: 0.0 + (−0.0) is +0.0, so no shortcut
    (6.0, 6.0, 1.0),
]


@pytest.mark.parametrize(("start", "end", "ratio"), WINDOWS, ids=str)
def test_enrolment_is_the_affine_map_of_the_quantiles(
    start: float, end: float, ratio: float
) -> None:
    base = load_scenario(SCENARIO_DIR / "reference_logrank.toml")
    cohort = LatentCohort(_with_window(base, start, end, ratio), 4, np.arange(250, 530), 57)
    u = cohort.draws.uniform("enrolment", 57)
    want = start + (end - start) * linear_window_ppf(u, ratio)
    got = cohort.enrol_month
    assert got.shape == want.shape and got.dtype == want.dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
