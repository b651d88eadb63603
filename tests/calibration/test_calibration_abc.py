"""Rejection ABC and regression adjustment against analytic posteriors.

References: the conjugate Beta posterior of a binomial proportion (scipy.stats.beta) for exact
count matching, and the normal posterior of a normal mean with known variance under a flat prior
for the regression adjustment (Beaumont, Zhang & Balding 2002, whose Fig. 1 uses the same
example); scipy.stats.median_abs_deviation for the scaling.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from cohortsim.calibration.abc import mad_scale, regression_adjust, reject
from cohortsim.calibration.priors import Beta, LogNormal, LogUniform, PowerLaw, Uniform, contraction


def test_mad_scale_matches_scipy() -> None:
    x = np.random.default_rng(0).standard_normal((1000, 3)) * [1.0, 5.0, 0.1]
    expected = stats.median_abs_deviation(x, axis=0, scale="normal")
    np.testing.assert_allclose(mad_scale(x), expected, rtol=1e-12)
    np.testing.assert_array_equal(mad_scale(np.zeros((5, 2))), [1.0, 1.0])


def test_reject_keeps_the_nearest_eligible() -> None:
    summaries = np.array([[0.0], [3.0], [1.0], [-0.5], [np.nan], [0.2]])
    eligible = np.array([True, True, True, False, True, True])
    result = reject(summaries, np.array([0.0]), 3, eligible, scale=np.array([1.0]))
    np.testing.assert_array_equal(result.index, [0, 5, 2])
    assert result.tolerance == 1.0
    assert (result.n_simulated, result.n_eligible) == (6, 4)


def test_exact_count_matching_gives_the_conjugate_beta_posterior() -> None:
    # p ~ Uniform(0, 1); k ~ Binomial(12, p); keep p whenever k == 4: the kept values are exact
    # draws from Beta(1 + 4, 1 + 8) = stats.beta(5, 9).
    rng = np.random.default_rng(2)
    p = rng.random(200_000)
    k = rng.binomial(12, p)
    result = reject(np.zeros((len(p), 0)), np.zeros(0), len(p), k == 4)
    kept = p[result.index]
    reference = stats.beta(5, 9)
    se_mean = reference.std() / math.sqrt(len(kept))
    assert len(kept) == result.n_eligible > 14_000
    assert abs(kept.mean() - reference.mean()) < 4 * se_mean
    # SD of the sample SD ≈ SD · sqrt((kurtosis + 2) / (4 n)), kurtosis < 1 here
    assert abs(kept.std() - reference.std()) < 4 * reference.std() * math.sqrt(3 / (4 * len(kept)))


def test_regression_adjustment_recovers_the_normal_posterior() -> None:
    # μ ~ Uniform(−5, 5) (flat over the posterior's range); x̄ ~ N(μ, σ² / n) with σ = 1, n = 25.
    # Observed x̄ = 0.3 → posterior N(0.3, 0.2²). Accepting the nearest 20% (|x̄ − 0.3| < 1, a
    # loose tolerance: plain rejection gives SD ≈ 0.6), the adjusted draws have the analytic mean
    # and SD.
    rng = np.random.default_rng(3)
    prior = Uniform(-5.0, 5.0)
    mu = prior.ppf(rng.random(100_000))
    xbar = rng.normal(mu, 0.2)
    result = reject(xbar[:, None], np.array([0.3]), 20_000)
    accepted = mu[result.index]
    assert accepted.std() > 0.5  # the tolerance alone is far too loose
    adjusted, slopes = regression_adjust(
        prior.to_unbounded(accepted)[:, None], xbar[result.index][:, None], np.array([0.3]),
        result.scale,
    )
    draws = prior.from_unbounded(adjusted[:, 0])
    n = len(draws)
    assert abs(draws.mean() - 0.3) < 4 * 0.2 / math.sqrt(n)
    assert abs(draws.std() - 0.2) < 4 * 0.2 * math.sqrt(1 / (2 * n)) + 0.005  # + logit curvature
    assert slopes.shape == (1, 1)


def test_weighted_regression_equals_repeated_rows() -> None:
    rng = np.random.default_rng(4)
    theta = rng.standard_normal((50, 2))
    s = theta @ np.array([[1.0], [0.5]]) + rng.standard_normal((50, 1))
    weights = rng.integers(1, 4, 50)
    adjusted, slopes = regression_adjust(theta, s, np.zeros(1), np.ones(1), weights)
    repeated = np.repeat(np.arange(50), weights)
    _, slopes_rep = regression_adjust(theta[repeated], s[repeated], np.zeros(1), np.ones(1))
    np.testing.assert_allclose(slopes, slopes_rep, rtol=1e-10)
    np.testing.assert_allclose(adjusted, theta - s @ slopes, rtol=1e-12)


@pytest.mark.parametrize(
    ("prior", "reference"),
    [
        (Uniform(0.05, 0.7), stats.uniform(0.05, 0.65)),
        (Beta(1.0, 2.0), stats.beta(1, 2)),
        (LogNormal(0.5, 0.75), stats.lognorm(0.75, scale=0.5)),
        (LogUniform(1.0, 9.0), stats.loguniform(1.0, 9.0)),
    ],
)
def test_priors_match_scipy(prior, reference) -> None:  # type: ignore[no-untyped-def]
    u = np.array([0.01, 0.3, 0.5, 0.9])
    np.testing.assert_allclose(prior.ppf(u), reference.ppf(u), rtol=1e-10)
    x = reference.ppf(u)
    np.testing.assert_allclose(prior.logpdf(x), reference.logpdf(x), rtol=1e-10)
    np.testing.assert_allclose(prior.from_unbounded(prior.to_unbounded(x)), x, rtol=1e-12)
    assert prior.median == pytest.approx(reference.median())


def test_jeffreys_power_law_prior() -> None:
    prior = PowerLaw(-0.5, 1e-4, 0.2)
    x = prior.ppf(np.array([0.25, 0.5, 0.75]))
    # density ∝ x^−½ on [a, b]: CDF (√x − √a) / (√b − √a)
    cdf = (np.sqrt(x) - math.sqrt(1e-4)) / (math.sqrt(0.2) - math.sqrt(1e-4))
    np.testing.assert_allclose(cdf, [0.25, 0.5, 0.75], rtol=1e-10)
    total = np.trapezoid(np.exp(prior.logpdf(np.linspace(1e-4, 0.2, 200_001))),
                         np.linspace(1e-4, 0.2, 200_001))
    assert total == pytest.approx(1.0, rel=1e-3)


def test_contraction() -> None:
    prior = Uniform(0.0, 1.0)
    rng = np.random.default_rng(5)
    assert contraction(prior, rng.random(100_000)) == pytest.approx(0.0, abs=0.02)
    assert contraction(prior, rng.normal(0.5, 0.01, 10_000)) > 0.99


class _NormalModel:
    """Data sets of one summary: the mean of ``n`` N(θ₀ + θ₁, 1) observations. Only θ₀ + θ₁ is
    identified (a ridge), as class shares and residual fractions trade off in the pilot."""

    def __init__(self, seed: int, n: int = 12) -> None:
        self.rng = np.random.default_rng(seed)
        self.n = n

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        mean = rows[:, 0] + rows[:, 1]
        return (mean + self.rng.standard_normal(len(rows)) / math.sqrt(self.n))[:, None]


def test_representative_point_is_the_centre_of_the_best_fitting_draws() -> None:
    """Draws spread along the ridge θ₀ + θ₁ = 1 (and off it): the point fits the observation in
    expectation (θ₀ + θ₁ ≈ 1 within its Monte Carlo error) and sits at the ridge's centre, the
    same from seed to seed — unlike the single nearest draw, which wanders along the ridge."""
    from cohortsim.calibration.abc import representative_point

    draws_rng = np.random.default_rng(7)
    along = draws_rng.uniform(-2.0, 2.0, 4000)
    off = 0.3 * draws_rng.standard_normal(4000)
    candidates = np.column_stack([0.5 + along + off / 2, 0.5 - along + off / 2])  # centre (½, ½)
    points = []
    for seed in range(3):
        result = representative_point(
            _NormalModel(seed), candidates, candidates, lambda z: z, np.array([1.0]), 32,
            check_replicates=4096,
        )
        points.append(result.values)
        # fresh-data fit: expected summary within 4 MC SE of the observation's own mean
        se = 1 / math.sqrt(12) / math.sqrt(4096)
        assert abs(result.expected[0] - (result.values[0] + result.values[1])) < 4 * se
        assert result.near_best == 400
        assert abs(result.values.sum() - 1.0) < 0.05
    # the centre of the ridge: the 400 best draws are spread symmetrically around (½, ½); their
    # median's SE is ≈ 1.25 × 1.15 / √400 ≈ 0.07 per coordinate
    for point in points:
        np.testing.assert_allclose(point, [0.5, 0.5], atol=0.25)
    assert np.ptp(np.array(points)[:, 0]) < 0.3


def test_representative_point_needs_a_usable_candidate() -> None:
    from cohortsim.calibration.abc import representative_point

    def nothing(rows: np.ndarray) -> np.ndarray:
        return np.full((len(rows), 1), np.nan)

    rows = np.zeros((10, 2))
    with pytest.raises(ValueError, match="no candidate"):
        representative_point(nothing, rows, rows, lambda z: z, np.array([1.0]), 4)
    with pytest.raises(ValueError, match="two replicates"):
        representative_point(_NormalModel(0), rows, rows, lambda z: z, np.array([1.0]), 1)
