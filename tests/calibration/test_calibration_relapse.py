"""The gamma-frailty relapse likelihood against external references.

References: the gamma Laplace transform by numerical integration (scipy.integrate.quad), the
conjugate gamma posterior of an exponential rate (scipy.stats.gamma), brute-force enumeration of
assignments (itertools), and maximum likelihood on data simulated by the engine.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats

from cohortsim.calibration.priors import LogNormal, PowerLaw
from cohortsim.calibration.relapse import (
    RelapseData,
    RelapseGrid,
    assignment_sums,
    detection_interval,
    individual_log_likelihood,
    last_visit,
    log_interval_probability,
    log_likelihood_grid,
    log_survival,
    sample_posterior,
)


@pytest.mark.parametrize(("rate", "theta", "t"), [(0.01, 0.5, 24.0), (0.05, 2.0, 6.0),
                                                  (0.2, 0.1, 30.0), (0.003, 1.0, 100.0)])
def test_marginal_survival_is_the_gamma_laplace_transform(
    rate: float, theta: float, t: float
) -> None:
    # Reference: E[exp(−Z λ t)] with Z ~ Gamma(shape 1/θ, scale θ), integrated numerically:
    # integrate.quad(lambda z: exp(-z*rate*t) * gamma.pdf(z, 1/theta, scale=theta), 0, inf)
    shape, scale = 1.0 / theta, theta
    reference, _ = integrate.quad(
        lambda z: math.exp(-z * rate * t) * stats.gamma.pdf(z, shape, scale=scale), 0, np.inf
    )
    assert math.exp(float(log_survival(t, rate, theta))) == pytest.approx(reference, rel=1e-8)


def test_no_frailty_is_exponential() -> None:
    t = np.array([0.0, 3.0, 24.0])
    np.testing.assert_allclose(log_survival(t, 0.02, 0.0), -0.02 * t, rtol=0, atol=0)
    np.testing.assert_allclose(log_survival(t, 0.02, 1e-9), -0.02 * t, rtol=1e-8)


def test_interval_probability() -> None:
    a, b, rate, theta = 3.0, 6.0, 0.01, 0.5
    expected = math.exp(float(log_survival(a, rate, theta))) - math.exp(
        float(log_survival(b, rate, theta)))
    assert math.exp(float(log_interval_probability(a, b, rate, theta))) == pytest.approx(expected)


def test_visit_rounding() -> None:
    visits = np.array([0.25, 1, 3, 6, 9, 12, 15, 18, 21, 24, 27])
    assert detection_interval(6.0, visits) == (3.0, 6.0)
    assert detection_interval(24.0, visits) == (21.0, 24.0)
    np.testing.assert_array_equal(last_visit(np.array([0.1, 5.9, 6.0, 17.2]), visits),
                                  [0.0, 3.0, 6.0, 15.0])


@pytest.mark.parametrize("n_events", [0, 1, 2, 3])
def test_assignment_sums_match_brute_force(n_events: int) -> None:
    rng = np.random.default_rng(n_events)
    for _ in range(20):
        n = int(rng.integers(3, 7))
        weights = rng.uniform(0.5, 3.0, n)
        eligible = rng.integers(0, n_events + 1, n)
        brute = sum(
            np.prod(weights[list(chosen)])
            for chosen in itertools.permutations(range(n), n_events)
            if all(eligible[p] > e for e, p in enumerate(chosen))
        )
        assert assignment_sums(weights, eligible, n_events) == pytest.approx(brute, rel=1e-12)


def test_grid_posterior_matches_the_conjugate_gamma_posterior() -> None:
    # With θ ≈ 0, relapses observed at (almost) exact times and the relapsers identifiable (only
    # one patient was followed past 24 months, one other past 6), the likelihood is
    # λ^2 exp(−λ T) with T the total exposure, so under the Jeffreys prior λ^(−1/2) the posterior
    # is Gamma(2.5, rate T): stats.gamma(2.5, scale=1 / T).
    visits = np.arange(0.01, 60.0, 0.01)
    follow_up = np.array([[30.0, 10.0, 5.5, 4.0, 2.0, 5.0]])
    grid = RelapseGrid.build(PowerLaw(-0.5, 1e-4, 0.5), LogNormal(1e-9, 1e-3), 1200, 1)
    data = RelapseData((6.0, 24.0), visits, follow_up)
    draws = sample_posterior(log_likelihood_grid(data, grid), grid, 40_000,
                             np.random.default_rng(1))
    exposure = 6.0 + 24.0 + 5.5 + 4.0 + 2.0 + 5.0
    reference = stats.gamma(2.5, scale=1.0 / exposure)
    levels = np.array([0.1, 0.5, 0.9])
    # 40,000 draws: quantile MC error < 1%; grid cells and visit spacing add < 1%.
    np.testing.assert_allclose(np.quantile(draws.rate, levels), reference.ppf(levels), rtol=0.03)


def test_unidentified_relapsers_sum_over_assignments() -> None:
    # Two vectors, one where the assignment is forced and one where it is not: the log-likelihood
    # difference must equal the log of the enumerated assignment sums.
    visits = np.array([0.25, 1, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30])
    follow_up = np.array([[30.0, 12.5, 3.0], [30.0, 26.0, 3.0]])
    grid = RelapseGrid.build(n_rate=4, n_theta=3)
    ll = log_likelihood_grid(RelapseData((6.0, 24.0), visits, follow_up), grid)
    rate, theta = grid.rates[:, None], grid.thetas[None, :]
    s = {c: np.exp(log_survival(last_visit(np.array(c), visits), rate, theta)) for c in
         (30.0, 12.5, 26.0, 3.0)}
    events = np.exp(log_interval_probability(3, 6, rate, theta)
                    + log_interval_probability(21, 24, rate, theta))
    forced = events * s[3.0]  # 30 → 24-month relapse, 12.5 → 6-month relapse
    free = events * s[3.0] * 2  # either of 30 and 26 can take either relapse
    np.testing.assert_allclose(np.exp(ll[0]), forced, rtol=1e-10)
    np.testing.assert_allclose(np.exp(ll[1]), free, rtol=1e-10)


def test_likelihood_recovers_the_engine_relapse_rate() -> None:
    """Parameter recovery: simulate 3,000 patients of the pilot design with the engine (known
    λ, θ; relapses detected at visits, a third at symptomatic visits), fit the interval-censored
    likelihood to the individual data, and find λ̂ and θ̂ within 3 standard errors (from the
    observed information) of the truth."""
    from calibration_paths import PILOT

    from cohortsim.calibration import variant, without_calibration
    from cohortsim.cohort import LatentCohort
    from cohortsim.engine.vector import simulate_course_vector

    rate, theta = 0.03, 0.5
    scenario = variant(
        without_calibration(PILOT),
        disease={"relapse.hazard.rate_per_month": rate, "relapse.frailty_variance": theta},
        other={"study.n_patients": 3000, "cutoff": {"calendar_month": 40.0}},
    )
    cohort = LatentCohort(scenario, 7, np.arange(1))
    course = simulate_course_vector(cohort)
    done = course.visit_done[0]
    visit_time = np.where(done, cohort.visit_time[0], np.nan)
    detected = course.flare_detected[0, :, 0]
    relapsed = np.isfinite(detected)
    follow_up = course.follow_up[0]
    previous = np.where(visit_time < np.where(relapsed, detected, 0.0)[:, None], visit_time, -1)
    start = np.maximum(np.nanmax(np.where(np.isnan(previous), -1, previous), axis=1), 0.0)
    censor = np.nanmax(np.where(visit_time <= follow_up[:, None], visit_time, 0.0), axis=1)
    end = np.where(relapsed, detected, 1.0)

    rates = np.exp(np.linspace(np.log(0.018), np.log(0.045), 61))
    thetas = np.linspace(0.1, 1.3, 61)
    ll = individual_log_likelihood(rates[:, None], thetas[None, :], start, end, censor, relapsed)
    i, j = np.unravel_index(np.argmax(ll), ll.shape)
    # observed information by finite differences at the maximum (on the grid); the standard
    # errors are the square roots of the diagonal of its inverse (λ and θ are correlated)
    dr, dt = rates[i + 1] - rates[i], thetas[1] - thetas[0]
    h_rr = (ll[i + 1, j] - 2 * ll[i, j] + ll[i - 1, j]) / dr**2
    h_tt = (ll[i, j + 1] - 2 * ll[i, j] + ll[i, j - 1]) / dt**2
    h_rt = (ll[i + 1, j + 1] - ll[i + 1, j - 1] - ll[i - 1, j + 1] + ll[i - 1, j - 1]) / (
        4 * dr * dt)
    covariance = np.linalg.inv(-np.array([[h_rr, h_rt], [h_rt, h_tt]]))
    se_rate, se_theta = np.sqrt(np.diag(covariance))
    assert relapsed.sum() > 400
    assert 0 < i < len(rates) - 1 and 0 < j < len(thetas) - 1  # an interior maximum
    assert abs(rates[i] - rate) < 3 * se_rate, (rates[i], se_rate)
    assert abs(thetas[j] - theta) < 3 * se_theta, (thetas[j], se_theta)
