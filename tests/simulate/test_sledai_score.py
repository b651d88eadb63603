"""The SLEDAI-2K visit score against its closed forms.

* The quantile functions in :mod:`cohortsim.discrete` against ``scipy.stats.binom`` and
  ``scipy.stats.nbinom`` / ``poisson`` (exact up to rounding at a CDF step).
* Simulated visits against the distribution docs/model.md §5 states: with a fixed baseline, a
  (nearly) fixed residual fraction, response complete well before month 12 and no flares, the
  month-12 score is ``Binomial(S₀, ρ)`` (binomial model) or ``NB(mean S₀ρ, size k)``. Frequencies
  are compared with a chi-square goodness-of-fit test at a fixed seed (reject only at p < 0.001).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from simulate_scenarios import lupus_trial

from cohortsim.discrete import binomial_quantile, count_quantile
from cohortsim.simulate import simulate_tables


def _cdf_brackets(x: np.ndarray, u: np.ndarray, cdf) -> None:  # type: ignore[no-untyped-def]
    """x is the quantile at u: CDF(x − 1) < u ≤ CDF(x), up to rounding of the CDF."""
    assert np.all(cdf(x - 1) < u + 1e-12)
    assert np.all(u <= cdf(x) + 1e-12)


def test_binomial_quantile_matches_scipy() -> None:
    rng = np.random.default_rng(20101)
    u = rng.random(100_000)
    n = rng.integers(0, 106, u.size).astype(float)
    p = rng.random(u.size)
    p[:500], p[500:1000], p[1000:1500] = 0.0, 1.0, 1.0 - 1e-12  # edges and near-underflow
    x = binomial_quantile(u, n, p)
    assert np.array_equal(x, stats.binom.ppf(u, n, p))
    _cdf_brackets(x, u, lambda k: stats.binom.cdf(k, n, p))
    assert np.all(x[:500] == 0) and np.array_equal(x[500:1000], n[500:1000])


def test_binomial_quantile_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="integers"):
        binomial_quantile(0.5, 3.5, 0.2)
    with pytest.raises(ValueError, match="probability"):
        binomial_quantile(0.5, 3, 1.2)


@pytest.mark.parametrize("size", [0.7, 5.0, np.inf])
def test_count_quantile_matches_scipy(size: float) -> None:
    rng = np.random.default_rng(20102)
    u = rng.random(50_000)
    mean = rng.uniform(0.0, 20.0, u.size)
    x = count_quantile(u, mean, np.full(u.size, size))
    poisson = np.isinf(size)
    reference = stats.poisson(mean) if poisson else stats.nbinom(size, size / (size + mean))
    _cdf_brackets(x, u, reference.cdf)
    # scipy's own ppf agrees except where u sits within rounding of a CDF step
    assert np.mean(x == reference.ppf(u)) > 0.9999


BASELINE = 12
RESIDUAL = 0.4


def _month_12_scores(distribution: str, seed: int) -> np.ndarray:
    scenario = lupus_trial(
        study={"n_patients": 400},
        randomisation={"method": "simple", "strata": [], "block_size": None},
        population={"sledai": {"distribution": "fixed", "value": float(BASELINE),
                               "integer": True}},
        visits={"schedule_months": [12.0], "window_months": 0.0, "missed_probability": 0.0,
                "repeat_every_months": None},
        dropout={"rate_per_month": 0.0},
        death={"rate_per_month": 0.0},
        cutoff={"calendar_month": 30.0},
        disease={
            "relapse": {"hazard": {"rate_per_month": 0.0}},
            "response": {"probability_complete": 0.0, "probability_partial": 1.0,
                         "mean_time_to_response_months": 0.05,
                         "partial_residual_fraction": RESIDUAL,
                         "residual_concentration": 1e9},
            "sledai": {"visit_distribution": distribution, "visit_dispersion": 3.0},
        },
        arms={"soc": {"disease": {"response": {"probability_complete": 0.0}}},
              "msc": {"cells_per_kg": 1.0e6, "disease": {}}},
    )
    visits = simulate_tables(scenario, seed, np.arange(20), engine="vector")["visits"]
    month = np.asarray(visits.column("nominal_months"))
    score = np.asarray(visits.column("sledai"), dtype=float)
    return score[month == 12.0]


def _chi_square_p(observed_scores: np.ndarray, pmf: np.ndarray) -> float:
    """Pearson chi-square p-value, pooling the tail cells with expected count < 5."""
    counts = np.bincount(observed_scores.astype(int), minlength=pmf.size)[: pmf.size]
    expected = pmf * observed_scores.size
    keep = expected >= 5
    observed = np.append(counts[keep], observed_scores.size - counts[keep].sum())
    expect = np.append(expected[keep], observed_scores.size - expected[keep].sum())
    return float(stats.chisquare(observed, expect, ddof=0).pvalue)


def test_binomial_visit_score_follows_the_binomial() -> None:
    scores = _month_12_scores("binomial", seed=11)
    assert scores.size == 8000
    assert scores.max() <= BASELINE  # a patient keeps a subset of her baseline points
    pmf = stats.binom.pmf(np.arange(BASELINE + 1), BASELINE, RESIDUAL)
    assert _chi_square_p(scores, pmf) > 1e-3


def test_negative_binomial_visit_score_follows_the_negative_binomial() -> None:
    scores = _month_12_scores("negative_binomial", seed=12)
    mean = BASELINE * RESIDUAL
    support = np.arange(200)
    pmf = stats.nbinom.pmf(support, 3.0, 3.0 / (3.0 + mean))
    assert _chi_square_p(scores, pmf) > 1e-3
    assert scores.max() > BASELINE  # unlike the binomial, it is not bounded by the baseline


@pytest.mark.parametrize("size", [0.5, 3.0, np.inf])
@pytest.mark.parametrize("mean", [0.0, 1e-9, 2.0, 17.3])
def test_count_quantile_table_path_equals_the_loop(mean: float, size: float) -> None:
    """Constant parameters take a summed-once CDF table; it must give the loop's exact values
    (the loop is forced by one entry with a different mean)."""
    u = np.random.default_rng(20103).random(5000)
    table = count_quantile(u, np.full(u.size, mean), np.full(u.size, size))
    means = np.append(np.full(u.size, mean), mean + 1.0)
    loop = count_quantile(np.append(u, 0.5), means, np.full(u.size + 1, size))[:-1]
    assert np.array_equal(table, loop)


def test_a_huge_dispersion_is_the_poisson() -> None:
    """"very large" visit_dispersion means Poisson (docs/scenarios.md); the NB's first term is
    computed as −k·log1p(μ/k), which does not cancel to nonsense at k = 1e12."""
    u = np.random.default_rng(20105).random(20_000)
    mean = np.random.default_rng(20106).uniform(0.0, 20.0, u.size)
    huge = count_quantile(u, mean, np.full(u.size, 1e12))
    assert np.array_equal(huge, count_quantile(u, mean, np.full(u.size, np.inf)))


def test_binomial_quantile_rejects_nan_and_underflow() -> None:
    with pytest.raises(ValueError, match="probability"):
        binomial_quantile(0.5, 10, np.nan)
    with pytest.raises(ValueError, match="too large"):
        binomial_quantile(0.5, 2000, 0.5)


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        ({"arms": {"msc": {"disease": {"sledai": {"visit_distribution": "negative_binomial"}}}}},
         "arms.msc.disease.sledai.visit_distribution", "same SLEDAI-2K visit distribution"),
        ({"population": {"sledai": {"distribution": "normal", "mean": 12.0, "sd": 3.0,
                                    "min": 0.0, "max": 105.0}}},
         "population.sledai.integer", "whole number"),
        ({"population": {"sledai": {"distribution": "normal", "mean": 12.0, "sd": 3.0,
                                    "integer": True, "max": 105.0}}},
         "population.sledai.min", "min >= 0"),
        ({"population": {"sledai": {"distribution": "normal", "mean": 12.0, "sd": 3.0,
                                    "integer": True, "min": 0.0, "max": 300.0}}},
         "population.sledai.max", "max <= 105"),
        ({"population": {"sledai": {"distribution": "fixed", "value": 120.0, "integer": True}}},
         "population.sledai.value", "0 to 105"),
    ],
)
def test_binomial_scores_need_sledai_scores_at_baseline(
    overrides: dict, key: str, expected: str
) -> None:
    from cohortsim.scenario import ScenarioError

    with pytest.raises(ScenarioError) as error:
        lupus_trial(**overrides)
    assert error.value.key == key
    assert expected in str(error.value)
