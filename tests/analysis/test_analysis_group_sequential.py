"""Group-sequential boundaries: published values, checked against multivariate normal cdfs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cohortsim.analysis import (
    crossing_probabilities,
    lan_demets_boundaries,
    obrien_fleming_spending,
    pocock_spending,
)


def _corr(t):
    t = np.asarray(t, dtype=float)
    return np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))


def _mvn_cdf(upper, t, mean=None, lower=None):
    """P(lower_k < Z_k < upper_k for all k) under the canonical joint distribution."""
    # scipy.stats.multivariate_normal.cdf(upper, mean, cov, lower_limit=lower) (Genz's method)
    k = len(upper)
    mean = np.zeros(k) if mean is None else mean
    return stats.multivariate_normal.cdf(
        np.asarray(upper),
        mean,
        _corr(t[:k]),
        lower_limit=lower,
        abseps=1e-9,
        releps=1e-9,
        rng=np.random.default_rng(1),
    )


def test_spending_functions():
    assert obrien_fleming_spending(1.0, 0.025) == pytest.approx(0.025, rel=1e-12)
    # 2 - 2 Phi(z_{0.9875} / sqrt(0.5))
    expected = 2 - 2 * stats.norm.cdf(stats.norm.isf(0.0125) / np.sqrt(0.5))
    assert obrien_fleming_spending(0.5, 0.025) == pytest.approx(expected, rel=1e-12)
    assert obrien_fleming_spending(0.0, 0.025) == 0.0
    assert pocock_spending(1.0, 0.05) == pytest.approx(0.05, rel=1e-12)
    assert pocock_spending(0.5, 0.05) == pytest.approx(0.05 * np.log(1 + (np.e - 1) / 2))


@pytest.mark.parametrize(
    ("fractions", "published"),
    [
        # Lan-DeMets O'Brien-Fleming type, one-sided alpha 0.025 (as in gsDesign / rpact)
        ((0.5, 1.0), (2.963, 1.969)),
        ((1 / 3, 2 / 3, 1.0), (3.710, 2.511, 1.993)),
    ],
)
def test_obrien_fleming_published_boundaries(fractions, published):
    design = lan_demets_boundaries(fractions, alpha=0.025, sides=1)
    assert design.efficacy == pytest.approx(published, abs=5e-4)


@pytest.mark.parametrize(
    ("fractions", "spending", "sides", "alpha"),
    [
        ((0.5, 1.0), "obrien-fleming", 1, 0.025),
        ((1 / 3, 2 / 3, 1.0), "obrien-fleming", 1, 0.025),
        ((0.3, 0.6, 1.0), "pocock", 1, 0.025),
        ((0.5, 1.0), "obrien-fleming", 2, 0.05),
        ((0.4, 0.7, 1.0), "pocock", 2, 0.05),
    ],
)
def test_boundaries_spend_alpha_exactly(fractions, spending, sides, alpha):
    """Independent check: P(cross by look k) from the multivariate normal cdf = alpha(t_k)."""
    d = lan_demets_boundaries(fractions, alpha=alpha, sides=sides, spending=spending)
    c = np.array(d.efficacy)
    for k in range(1, len(fractions) + 1):
        lower = -c[:k] if sides == 2 else np.full(k, -np.inf)
        crossed = 1 - _mvn_cdf(c[:k], fractions, lower=lower)
        assert crossed == pytest.approx(d.cumulative_alpha[k - 1], abs=2e-7)
    assert d.cumulative_alpha[-1] == pytest.approx(alpha, rel=1e-12)


def test_crossing_probabilities_with_drift_match_multivariate_normal():
    t = (0.4, 0.7, 1.0)
    d = lan_demets_boundaries(t, alpha=0.025)
    drift = 3.0
    cross = crossing_probabilities(d, drift=drift)
    mean = drift * np.sqrt(np.array(t))
    # P(reject) = 1 - P(Z_k < c_k for all k) with E[Z_k] = drift sqrt(t_k)
    ref = 1 - _mvn_cdf(np.array(d.efficacy), t, mean=mean)
    assert cross.power == pytest.approx(ref, abs=1e-6)
    assert sum(cross.efficacy) + sum(cross.futility) == pytest.approx(1.0, abs=1e-9)
    # first look alone: 1 - Phi(c_1 - drift sqrt(t_1))
    assert cross.efficacy[0] == pytest.approx(stats.norm.sf(d.efficacy[0] - mean[0]), rel=1e-9)


def test_single_look_is_the_fixed_design():
    d = lan_demets_boundaries((1.0,), alpha=0.025)
    assert d.efficacy[0] == pytest.approx(stats.norm.isf(0.025), rel=1e-10)
    # Power of a fixed design: Phi(drift - z_{1-alpha})
    cross = crossing_probabilities(d, drift=2.8)
    assert cross.power == pytest.approx(stats.norm.cdf(2.8 - stats.norm.isf(0.025)), rel=1e-8)


def test_non_binding_futility():
    t = (0.5, 1.0)
    plain = lan_demets_boundaries(t, alpha=0.025)
    with_futility = lan_demets_boundaries(t, alpha=0.025, futility=0.0)
    assert with_futility.efficacy == plain.efficacy  # non-binding: efficacy unchanged
    assert with_futility.futility == (0.0, plain.efficacy[-1])
    null = crossing_probabilities(with_futility, drift=0.0)
    # obeying the futility rule can only lower the type I error; P(stop for futility at the
    # interim) = P(Z_1 < 0) = 0.5 under the null
    assert null.power < 0.025
    assert null.futility[0] == pytest.approx(0.5, abs=1e-9)
    assert null.expected_information == pytest.approx(0.75, abs=1e-3)
    with pytest.raises(ValueError):
        lan_demets_boundaries(t, futility=3.5)


def test_invalid_fractions_rejected():
    with pytest.raises(ValueError):
        lan_demets_boundaries((0.5, 0.9))
    with pytest.raises(ValueError):
        lan_demets_boundaries((0.6, 0.5, 1.0))
