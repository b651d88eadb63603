"""The vectorised engine's shortcuts give exactly what the formulas they replace give.

Each shortcut of the relapse-only path (and of the helpers it shares with the general path and
the SimPy engine) is held here to a plain transcription of the formula it replaces, on random
inputs built to reach the cases where a shortcut could go wrong: NaN and infinities, rounding
at the cut-off, rows where the cut-off is not administrative, unenrolled patients, pairs of
arm values a shortcut cannot take. Floats are compared by their bit patterns. End to end, the
relapse-only path is held to the general path on cohorts whose enrolment months are replaced
by such values, and on scenario variants that take each branch.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
from test_relapses_path import assert_paths_agree, assert_same_bits

from cohortsim.cohort import LatentCohort
from cohortsim.course import (
    CUT_AFTER_LAST,
    CUT_CALENDAR,
    CUT_EVENTS,
    CUT_MAX_FOLLOW_UP,
    CUT_STUDY_END,
)
from cohortsim.engine import vector
from cohortsim.engine.rules import _has_nan, cut_follow_up, own_end_month
from cohortsim.scenario import load_scenario

REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "reference_logrank.toml"


def _months(rng: np.random.Generator, shape: tuple[int, ...], odd: float = 0.02) -> np.ndarray:
    """Months in 0–30 with exact ties, and a fraction ``odd`` of NaN, +inf and -inf."""
    x = np.where(rng.random(shape) < 0.2, rng.integers(0, 30, shape), rng.uniform(0, 30, shape))
    pick = rng.random(shape)
    x = np.where(pick < odd, np.nan, x)
    x = np.where((pick >= odd) & (pick < 2 * odd), np.inf, x)
    return np.where((pick >= 2 * odd) & (pick < 3 * odd), -np.inf, x)


# --------------------------------------------------------------------------- the cut-off


def _administrative_cut_as_before(
    rule_time: np.ndarray, enrol: np.ndarray, own_end_at: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    everyone_done = (enrol + own_end_at).max(axis=1)
    administrative = rule_time < everyone_done
    return administrative, np.where(administrative, rule_time, everyone_done)


@pytest.mark.parametrize("odd", [0.0, 0.001, 0.02])
def test_administrative_cut_equals_the_full_maximum(odd: float) -> None:
    rng = np.random.default_rng(7)
    with np.errstate(invalid="ignore"):
        for _ in range(200):
            r, n = int(rng.integers(1, 12)), int(rng.integers(1, 9))
            enrol = _months(rng, (r, n), odd)
            own_end_at = _months(rng, (r, n), odd)
            if rng.random() < 0.2:
                own_end_at = np.asarray(rng.choice([np.inf, 20.0]))  # a 0-d own end
            done = (enrol + own_end_at).max(axis=1)
            # rule times below, at and above everyone_done, below patient 0's end, inf, NaN
            rule = np.select(
                [rng.random(r) < p for p in (0.15, 0.3, 0.45, 0.55, 0.65)],
                [done, done - 1.0, enrol[:, 0] - 5.0, np.full(r, np.inf), np.full(r, np.nan)],
                rng.uniform(0, 60, r),
            )
            expected = _administrative_cut_as_before(rule, enrol, own_end_at)
            ends = np.broadcast_to(own_end_at, enrol.shape)
            checked = [False]
            if not np.isnan(ends).any() and not (ends == -np.inf).any():
                checked.append(True)  # what a caller may tell only when it holds
            for flag in checked:
                administrative, cut = vector._administrative_cut(rule, enrol, own_end_at, flag)
                assert_same_bits(administrative, expected[0], "administrative")
                assert_same_bits(cut, expected[1], "cut")


def test_administrative_cut_skips_the_maximum_when_the_bound_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shortcut is taken (no full maximum) when patient 0's end is beyond the rule time,
    and the rows it leaves undecided — and only those — get the maximum."""
    rows: list[int] = []
    full = vector._everyone_done

    def counting(enrol: np.ndarray, own_end_at: np.ndarray) -> np.ndarray:
        rows.append(len(enrol))
        return full(enrol, own_end_at)

    monkeypatch.setattr(vector, "_everyone_done", counting)
    enrol = np.tile(np.linspace(0.0, 12.0, 50), (6, 1))
    own_end_at = 120.0 - enrol
    rule = np.array([20.0, 130.0, 30.0, np.inf, 119.0, np.nan])
    administrative, cut = vector._administrative_cut(rule, enrol, own_end_at)
    assert rows == [3]  # 130, inf and NaN are not below patient 0's end (120)
    expected = _administrative_cut_as_before(rule, enrol, own_end_at)
    assert_same_bits(administrative, expected[0], "administrative")
    assert_same_bits(cut, expected[1], "cut")
    rows.clear()
    enrol[2, 7] = np.nan  # a NaN anywhere: the maximum of every row
    vector._administrative_cut(rule, enrol, own_end_at)
    assert rows == [6]


def _cutoff_as_before(
    cohort: LatentCohort, own_end_at: np.ndarray, first_event_calendar: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_cutoff`` as it was before the shortcut."""
    rules = cohort.scenario.cutoff
    replicates = len(cohort.replicates)
    fired = []
    if rules.calendar_month is not None:
        fired.append((CUT_CALENDAR, np.full(replicates, rules.calendar_month)))
    if rules.months_after_last_enrolment is not None:
        last = cohort.enrol_month.max(axis=1)
        fired.append((CUT_AFTER_LAST, last + rules.months_after_last_enrolment))
    if rules.events is not None:
        if rules.events <= cohort.n_patients:
            at = np.sort(first_event_calendar, axis=1)[:, rules.events - 1]
        else:
            at = np.full(replicates, np.inf)
        fired.append((CUT_EVENTS, at))
    everyone_done = (cohort.enrol_month + own_end_at).max(axis=1)
    done_reason = CUT_MAX_FOLLOW_UP if rules.max_follow_up_months is not None else CUT_STUDY_END
    if not fired:
        return (
            everyone_done,
            np.full(replicates, done_reason, dtype=np.int8),
            np.zeros(replicates, bool),
        )
    times = np.stack([t for _, t in fired])
    codes = np.array([c for c, _ in fired], dtype=np.int8)
    which = np.argmin(times, axis=0) if rules.combine == "first" else np.argmax(times, axis=0)
    rule_time = times[which, np.arange(replicates)]
    administrative = rule_time < everyone_done
    cut = np.where(administrative, rule_time, everyone_done)
    reason = np.where(administrative, codes[which], done_reason).astype(np.int8)
    return cut, reason, administrative


CUTOFF_VARIANTS = [
    [],
    ["cutoff.calendar_month=14.0"],  # one rule, administrative
    ["cutoff.calendar_month=120.0"],  # ties everyone_done, give or take rounding
    ["cutoff.calendar_month=30.0", 'cutoff.combine="last"'],
    ["cutoff.calendar_month=30.0", "cutoff.months_after_last_enrolment=3.0"],
    ["cutoff.months_after_last_enrolment=150.0", 'cutoff.combine="last"'],
    ["cutoff.events=200", "disease.relapse.hazard={ median_months = 600.0 }"],
    ["cutoff.max_follow_up_months=6.0", "dropout.rate_per_month=0.05"],
    ["study.max_duration_months=13.0"],
]


@pytest.mark.parametrize("overrides", CUTOFF_VARIANTS, ids=lambda o: ",".join(o) or "as is")
def test_cutoff_equals_its_earlier_formulation(overrides: list[str]) -> None:
    """On real cohorts (every rule, administrative or not) and on the same cohorts with NaN,
    infinite and late own ends and event times written in."""
    rng = np.random.default_rng(8)
    scenario = load_scenario(REFERENCE, overrides)
    cohort = LatentCohort(scenario, 5, np.arange(64), n_patients=40)
    own_end_at = vector.own_end_month(*vector._own_end_arguments(cohort))
    first = vector.simulate_relapses_vector(cohort)  # draws everything the cohort needs
    del first
    calendar = cohort.enrol_month + np.where(
        rng.random(cohort.shape) < 0.6, rng.uniform(0, 100, cohort.shape), np.inf
    )
    cases = [(own_end_at, calendar)]
    with np.errstate(invalid="ignore"):
        for odd in (0.0, 0.01):
            odd_end = np.where(
                rng.random(cohort.shape) < 0.5, own_end_at, _months(rng, cohort.shape, odd)
            )
            cases.append((odd_end, calendar))
            cases.append((odd_end, np.where(rng.random(cohort.shape) < odd, np.nan, calendar)))
        cases.append((np.asarray(np.inf), calendar))
        for own, cal in cases:
            new = vector._cutoff(cohort, own, cal)
            old = _cutoff_as_before(cohort, own, cal)
            for a, b, name in zip(new, old, ("cut", "reason", "administrative"), strict=True):
                assert_same_bits(a, b, name)


# --------------------------------------------------------------------------- the rules


def test_has_nan_is_isnan_any() -> None:
    rng = np.random.default_rng(9)
    for _ in range(300):
        shape = tuple(int(s) for s in rng.integers(0, 5, rng.integers(0, 3)))
        x = _months(rng, shape, rng.choice([0.0, 0.1, 0.4]))
        if x.ndim == 2 and rng.random() < 0.5:
            x = x[:, ::2]  # a strided view
        assert _has_nan(x) == bool(np.isnan(x).any())
    assert not _has_nan(np.inf) and _has_nan(np.nan) and not _has_nan(np.float64(-np.inf))


def _cut_follow_up_as_before(own_end_at, enrol, cut, administrative, first):  # type: ignore[no-untyped-def]
    """``cut_follow_up`` before its in-place selects."""
    to_cut = cut - enrol
    later = (first > to_cut) & (enrol + first <= cut)
    to_cut = np.where(later, first, to_cut)
    is_cut = (to_cut < own_end_at) & administrative
    return np.where(is_cut, to_cut, own_end_at), is_cut


def test_cut_follow_up_in_place_equals_the_selects() -> None:
    """With first events that land on the cut-off and round past it (the case the in-place
    copy serves), on full-size and column cut-offs, and on the scalars of the SimPy engine."""
    rng = np.random.default_rng(10)
    rounding = 0
    with np.errstate(invalid="ignore"):
        for _ in range(200):
            shape = (5, 13)
            enrol = np.where(
                rng.random(shape) < 0.9, rng.uniform(0, 12, shape), _months(rng, shape)
            )
            cut = np.where(rng.random((5, 1)) < 0.9, rng.uniform(10, 40, (5, 1)), np.inf)
            first = np.where(rng.random(shape) < 0.5, cut - enrol, rng.uniform(0, 40, shape))
            first = np.where(rng.random(shape) < 0.3, np.nextafter(first, np.inf), first)
            first = np.where(rng.random(shape) < 0.05, np.inf, first)
            own_end_at = np.where(rng.random(shape) < 0.7, 120.0 - enrol, _months(rng, shape))
            administrative = rng.random((5, 1)) < 0.8
            rounding += int(((first > cut - enrol) & (enrol + first <= cut)).sum())
            old = _cut_follow_up_as_before(own_end_at, enrol, cut, administrative, first)
            for cut_given in (cut, np.repeat(cut, shape[1], axis=1)):
                new = cut_follow_up(own_end_at, enrol, cut_given, administrative, first)
                assert_same_bits(new[0], old[0], "follow_up")
                assert_same_bits(new[1], old[1], "is_cut")
                new = cut_follow_up(
                    own_end_at, enrol, cut_given, administrative, first, enrol + first
                )
                assert_same_bits(new[0], old[0], "follow_up (calendar given)")
            for i in range(0, shape[1], 4):  # the SimPy engine's scalars
                args = (own_end_at[0, i], enrol[0, i], cut[0, 0], administrative[0, 0], first[0, i])
                new = cut_follow_up(*args)
                old_scalar = _cut_follow_up_as_before(*args)
                assert_same_bits(new[0], old_scalar[0], "scalar follow_up")
                assert_same_bits(new[1], old_scalar[1], "scalar is_cut")
    assert rounding > 50  # the rounding case was exercised


# --------------------------------------------------------------------------- per-arm values


def test_two_arm_values_by_step_equal_the_gather() -> None:
    rng = np.random.default_rng(11)
    arm = rng.integers(0, 2, (7, 31)).astype(np.int8)
    cohort = types.SimpleNamespace(arm=arm)
    specials = [0.0, -0.0, 1.0, 2.0, 0.5, np.inf, -np.inf, np.nan, 5e-324, 1.7e308, 1e-300]
    pairs = [(a, b) for a in specials for b in specials]
    pairs += [tuple(rng.uniform(0, 1, 2)) for _ in range(200)]
    pairs += [(x, x * h) for x in rng.uniform(0.001, 1, 50) for h in (0.5, 0.3, 0.7, 2.0, 3.1)]
    by_step = 0
    with np.errstate(invalid="ignore", over="ignore"):
        for a, b in pairs:
            values = np.array([a, b])
            expected = values[arm.astype(np.intp)]
            got = vector._arm_values(cohort, [a, b])  # type: ignore[arg-type]
            if (values == values[0]).all():
                assert got.shape == ()
                assert_same_bits(got, values[0:1].reshape(()), f"{a}, {b}")
                continue
            by_step += vector._two_values_by_step(values.tobytes())
            assert_same_bits(got, expected, f"{a}, {b}")
    assert by_step > 100
    three = types.SimpleNamespace(arm=rng.integers(0, 3, (4, 9)).astype(np.int8))
    values = np.array([0.1, 0.2, 0.3])
    assert_same_bits(vector._arm_values(three, [0.1, 0.2, 0.3]), values[three.arm], "3 arms")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- end to end


def _with_enrolment(scenario_overrides: list[str], enrol: np.ndarray, entropy: int = 4):  # type: ignore[no-untyped-def]
    """A factory of cohorts whose enrolment months are ``enrol`` (written over the draw)."""
    scenario = load_scenario(REFERENCE, scenario_overrides)

    def make() -> LatentCohort:
        r, n = enrol.shape
        cohort = LatentCohort(scenario, entropy, np.arange(r), n_patients=n)
        cohort.__dict__["enrol_month"] = enrol.copy()  # over the cached property
        return cohort

    return make


def _paths_agree_on(make) -> None:  # type: ignore[no-untyped-def]
    from cohortsim.endpoints import derive_endpoints
    from cohortsim.power.trials import relapse_endpoints

    course = vector.simulate_course_vector(make())
    fast = vector.simulate_relapses_vector(make())
    for name in ("cutoff_month", "enrolled", "follow_up"):
        assert_same_bits(getattr(fast, name), getattr(course, name), name)
    flares = np.isfinite(course.flare_detected).sum(axis=-1).astype(float)
    assert_same_bits(fast.flares, flares, "flares")
    general = derive_endpoints(make(), course)
    assert_same_bits(fast.observed, general.relapse_observed, "observed")
    assert_same_bits(fast.relapse_time, general.relapse_time, "relapse_time")
    endpoints = relapse_endpoints(make())
    assert_same_bits(endpoints.exposure, general.exposure, "exposure")


@pytest.mark.parametrize(
    "overrides",
    [[], ["cutoff.calendar_month=14.0"], ["dropout.rate_per_month=0.05"],
     ["cutoff.events=3"], ["cutoff.max_follow_up_months=6.0"]],
    ids=lambda o: ",".join(o) or "as is",
)
def test_paths_agree_with_odd_enrolment(overrides: list[str]) -> None:
    """Enrolment months with ties, late (never enrolled before the cut-off), +inf and NaN
    ones: the relapse-only path's shortcuts (own end without a select, the bound on the last
    end, the event-time comparisons) must fall back exactly as the general path computes."""
    rng = np.random.default_rng(12)
    r, n = 40, 30
    ties = rng.integers(0, 12, (r, n))
    base = np.where(rng.random((r, n)) < 0.3, ties, rng.uniform(0, 12, (r, n)))
    late = np.where(rng.random((r, n)) < 0.1, rng.uniform(50, 200, (r, n)), base)
    with np.errstate(invalid="ignore"):
        for enrol in (
            base,
            late,
            np.where(rng.random((r, n)) < 0.02, np.inf, late),
            np.where(rng.random((r, n)) < 0.01, np.nan, late),
        ):
            _paths_agree_on(_with_enrolment(overrides, enrol))


def test_the_fast_paths_are_taken_on_the_reference_design(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the speed rests on: no full maximum of the last ends, no own_end_month pass, the
    per-arm rates by step, one flare without _flare_start."""
    calls: list[str] = []
    for name in ("_everyone_done", "own_end_month", "_flare_start"):
        original = getattr(vector, name)

        def spy(*args, _name=name, _original=original):  # type: ignore[no-untyped-def]
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(vector, name, spy)
    cohort = LatentCohort(load_scenario(REFERENCE), 3, np.arange(256))
    vector.simulate_relapses_vector(cohort)
    assert calls == []
    rates = vector._arm_exponential_rates(cohort)
    assert rates is not None
    assert vector._two_values_by_step(np.array(rates).tobytes())


FAST_PATH_VARIANTS = [
    ["arms.treatment.disease.relapse.hazard={ hazard_ratio = 0.3, reference_arm = \"control\" }"],
    ["arms.treatment.disease.relapse.hazard={ hazard_ratio = 0.7, reference_arm = \"control\" }"],
    ["arms.treatment.disease.relapse.hazard={ rate_per_month = 0.0 }"],  # one arm never
    ['disease.relapse.clock="treatment"'],  # one flare, the other clock
    ["disease.relapse.frailty_variance=0.5"],
    ["cutoff.calendar_month=120.0"],  # at the end of the study: rarely administrative
    ["dropout.rate_per_month=0.05", "cutoff.max_follow_up_months=30.0"],
    ["death.rate_per_month=0.02", "cutoff.calendar_month=40.0", 'cutoff.combine="last"'],
    ["accrual.end_month=100.0", "cutoff.events=20"],  # many patients enrolled after the cut
]


@pytest.mark.parametrize("overrides", FAST_PATH_VARIANTS, ids=lambda o: ",".join(o))
def test_paths_agree_where_the_fast_paths_do_not_apply_or_fall_back(overrides: list[str]) -> None:
    assert_paths_agree(load_scenario(REFERENCE, overrides), 13, np.arange(300))


def test_started_within_equals_the_two_masks() -> None:
    rng = np.random.default_rng(14)
    with np.errstate(invalid="ignore"):
        for _ in range(200):
            shape = (4, 9)
            onset = np.where(rng.random(shape) < 0.3, np.inf, rng.uniform(0, 30, shape))
            follow_up = _months(rng, shape, rng.choice([0.0, 0.02, 0.2]))
            if rng.random() < 0.5:
                follow_up = np.where(rng.random(shape) < 0.5, onset, follow_up)  # ties, inf = inf
            expected = (onset <= follow_up) & np.isfinite(onset)
            assert_same_bits(vector._started_within(onset, follow_up), expected, "observed")


@pytest.mark.parametrize(
    "overrides",
    [[], ["dropout.rate_per_month=0.05"], ["cutoff.max_follow_up_months=6.0"]],
    ids=lambda o: ",".join(o) or "as is",
)
def test_relapse_own_end_is_own_end_month(overrides: list[str]) -> None:
    rng = np.random.default_rng(15)
    scenario = load_scenario(REFERENCE, overrides)
    with np.errstate(invalid="ignore"):
        for odd in (0.0, 0.02, 0.3):
            enrol = _months(rng, (20, 15), odd)
            cohort = _with_enrolment(overrides, enrol)()
            assert cohort.scenario == scenario
            own, above = vector._relapse_own_end(cohort)
            expected = own_end_month(*vector._own_end_arguments(cohort))
            assert_same_bits(own, expected, "own end")
            if above:  # only ever claimed when true
                assert not np.isnan(own).any() and not (own == -np.inf).any()
            if odd == 0.0 and not overrides:
                assert above


def test_enrolled_from_the_months_to_the_cut() -> None:
    rng = np.random.default_rng(16)
    with np.errstate(invalid="ignore", over="ignore"):
        for _ in range(300):
            r, n = 4, 11
            enrol = _months(rng, (r, n), rng.choice([0.0, 0.05]))
            enrol = np.where(rng.random((r, n)) < 0.05, 1.7e308, enrol)  # differences overflow
            cut = np.where(rng.random(r) < 0.3, enrol[:, 0], rng.uniform(0, 30, r))
            cut = np.where(rng.random(r) < 0.05, -1.7e308, cut)
            if rng.random() < 0.3:
                cut[rng.integers(r)] = rng.choice([np.inf, -np.inf, np.nan])
            expected = enrol <= cut[:, None]
            got = vector._enrolled(enrol, cut, cut[:, None] - enrol)
            assert_same_bits(got, expected, "enrolled")


def test_cut_follow_up_takes_the_months_to_the_cut() -> None:
    rng = np.random.default_rng(17)
    with np.errstate(invalid="ignore"):
        for _ in range(100):
            shape = (5, 8)
            enrol = _months(rng, shape)
            cut = rng.uniform(0, 30, (5, 1))
            first = np.where(rng.random(shape) < 0.5, cut - enrol, _months(rng, shape))
            own_end_at = _months(rng, shape)
            administrative = rng.random((5, 1)) < 0.8
            args = (own_end_at, enrol, cut, administrative, first, enrol + first)
            expected = cut_follow_up(*args)
            given = cut - enrol
            got = cut_follow_up(*args, given)
            assert got[0] is given  # written into, as documented
            assert_same_bits(got[0], expected[0], "follow_up")
            assert_same_bits(got[1], expected[1], "is_cut")
