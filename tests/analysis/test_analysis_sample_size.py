"""Analytic sample sizes: references statsmodels power classes, lifelines, published examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lifelines.statistics import power_under_cph, sample_size_necessary_under_cph
from scipy import integrate
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
)

from cohortsim.analysis import (
    freedman_events,
    freedman_power,
    patients_from_events,
    prob_event_exponential,
    schoenfeld_events,
    schoenfeld_power,
    two_means_n,
    two_means_power,
    two_proportions_n,
    two_proportions_power,
)


def test_schoenfeld_worked_example():
    # HR 0.5, 1:1, two-sided alpha 0.05, power 0.8: (1.95996 + 0.84162)^2 / (0.25 ln(2)^2)
    # = 65.35 -> 66 events (the shipped reference design's cut).
    d = schoenfeld_events(0.5)
    assert d == pytest.approx(65.35, abs=0.01)
    assert math.ceil(d) == 66
    assert schoenfeld_power(d, 0.5) == pytest.approx(0.8, rel=1e-12)
    assert schoenfeld_power(66, 0.5) == pytest.approx(0.804, abs=5e-4)


@pytest.mark.parametrize(("hr", "allocation", "sides"), [(0.5, 1, 2), (0.7, 2, 2), (1.4, 0.5, 1)])
def test_schoenfeld_matches_normal_power_one_sample(hr, allocation, sides):
    # Schoenfeld's D solves sqrt(D p (1 - p)) |log HR| = z_{1-a/s} + z_power, i.e. a one-sample
    # z test with effect size |log HR| sqrt(p (1 - p)):
    # statsmodels NormalIndPower().solve_power(effect_size, alpha, power, ratio=0)
    p = allocation / (1 + allocation)
    es = abs(np.log(hr)) * np.sqrt(p * (1 - p))
    # (one-sided at alpha / sides, since the far tail of a two-sided test is neglected)
    ref = NormalIndPower().solve_power(
        es, alpha=0.05 / sides, power=0.9, ratio=0, alternative="larger"
    )
    assert schoenfeld_events(hr, 0.05, 0.9, allocation, sides) == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize(("hr", "allocation"), [(0.5, 1.0), (0.7, 2.0), (0.6, 0.5)])
def test_freedman_matches_lifelines(hr, allocation):
    # lifelines sample_size_necessary_under_cph(power, ratio, p_exp=1, p_con=1, hr) gives the
    # per-arm numbers when everybody has an event: their sum is Freedman's number of events.
    n_exp, n_con = sample_size_necessary_under_cph(0.8, allocation, 1.0, 1.0, hr, alpha=0.05)
    d = freedman_events(hr, allocation=allocation)
    assert math.ceil(d * allocation / (1 + allocation)) == n_exp
    assert math.ceil(d / (1 + allocation)) == n_con
    # lifelines power_under_cph(n_exp, n_con, p_exp, p_con, hr, alpha)
    ref = power_under_cph(60 * allocation, 60, 1.0, 1.0, hr, alpha=0.05)
    assert freedman_power(60 * (1 + allocation), hr, allocation=allocation) == pytest.approx(
        ref, rel=1e-12
    )


def test_freedman_is_larger_than_schoenfeld_for_hr_half():
    # (1.95996 + 0.84162)^2 (1.5)^2 / 0.5^2 = 70.64
    assert freedman_events(0.5) == pytest.approx(70.64, abs=0.01)


def test_event_probability_and_patients_by_numerical_integration():
    median, hr, accrual, follow_up = 12.0, 0.5, 18.0, 12.0

    def prob(lam):
        # Entry uniform on (0, A); follow-up A + F - entry; P(event) = 1 - exp(-lam * fu).
        # scipy.integrate.quad of the event probability over the entry density
        val, _ = integrate.quad(lambda e: 1 - np.exp(-lam * (accrual + follow_up - e)), 0, accrual)
        return val / accrual

    lam_c = np.log(2) / median
    ref = (prob(lam_c) + prob(lam_c * hr)) / 2
    p = prob_event_exponential(median, hr, accrual, follow_up)
    assert p == pytest.approx(ref, rel=1e-10)
    assert patients_from_events(66, p) == pytest.approx(66 / ref, rel=1e-10)


def test_two_proportions_rebiolup_example():
    # ReBioLup protocol: complete response 40% vs 60%, two-sided alpha 0.05, power 0.80
    # -> 98 per arm (published); the pooled-variance formula gives 96.9 -> 97.
    n = two_proportions_n(0.4, 0.6)
    assert 97 <= math.ceil(n) <= 98
    # statsmodels samplesize_proportions_2indep_onetail(diff, prop2, power, ratio, alpha)
    ref = samplesize_proportions_2indep_onetail(-0.2, 0.6, 0.8, ratio=1, alpha=0.05)
    assert n == pytest.approx(ref, rel=1e-10)
    # statsmodels NormalIndPower with Cohen's h (arcsine) agrees to within a patient
    h = proportion_effectsize(0.6, 0.4)
    assert n == pytest.approx(NormalIndPower().solve_power(h, alpha=0.05, power=0.8), abs=1.0)


@pytest.mark.parametrize("allocation", [1.0, 2.0])
def test_two_proportions_power_matches_statsmodels(allocation):
    n = two_proportions_n(0.3, 0.45, power=0.9, allocation=allocation)
    # statsmodels: sample 1 = control (prop1 = prop2 + diff), ratio = nobs2 / nobs1
    ref_n = samplesize_proportions_2indep_onetail(-0.15, 0.45, 0.9, ratio=allocation)
    assert n == pytest.approx(ref_n, rel=1e-10)
    pw = two_proportions_power(150, 0.3, 0.45, allocation=allocation)
    ref = power_proportions_2indep(-0.15, 0.45, 150, ratio=allocation, return_results=False)
    assert pw == pytest.approx(ref, abs=1e-5)  # statsmodels adds the (tiny) far tail
    assert two_proportions_power(n, 0.3, 0.45, allocation=allocation) == pytest.approx(0.9)


@pytest.mark.parametrize("allocation", [1.0, 2.0])
def test_two_means_match_normal_ind_power(allocation):
    # Our two-sided formulas neglect the far tail, i.e. they are the one-sided computation at
    # alpha / 2: statsmodels NormalIndPower().solve_power(effect_size=diff / sd,
    # alpha=0.025, power=0.8, ratio=n2 / n1, alternative="larger")
    es = 2.0 / 4.5
    ref = NormalIndPower().solve_power(
        es, alpha=0.025, power=0.8, ratio=allocation, alternative="larger"
    )
    assert two_means_n(2.0, 4.5, allocation=allocation) == pytest.approx(ref, rel=1e-8)
    ref_power = NormalIndPower().power(es, nobs1=60, alpha=0.05, ratio=allocation)
    # ... and the two-sided statsmodels power differs only by the far tail (~6e-6 here)
    assert two_means_power(60, 2.0, 4.5, allocation=allocation) == pytest.approx(
        ref_power, abs=1e-5
    )


def test_vectorised_over_arrays():
    d = schoenfeld_events(np.array([0.5, 0.6, 0.7]))
    assert d.shape == (3,) and np.all(np.diff(d) > 0)


def test_invalid_arguments_rejected():
    with pytest.raises(ValueError):
        schoenfeld_events(1.0)
    with pytest.raises(ValueError):
        schoenfeld_events(0.5, sides=3)
    with pytest.raises(ValueError):
        two_proportions_n(0.4, 0.4)
