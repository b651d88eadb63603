"""Monte Carlo power summaries: reference statsmodels proportion_confint."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from cohortsim.analysis import (
    clopper_pearson_interval,
    power_estimate,
    power_mcse,
    wilson_interval,
)

SUCCESSES = np.array([0, 1, 7, 50, 399, 800, 999, 1000])
N = 1000


@pytest.mark.parametrize(
    ("ours", "method"), [(wilson_interval, "wilson"), (clopper_pearson_interval, "beta")]
)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_intervals_match_statsmodels(ours, method, confidence):
    low, high = ours(SUCCESSES, N, confidence)
    # statsmodels proportion_confint(count, nobs, alpha=1 - confidence, method=method)
    ref_low, ref_high = proportion_confint(SUCCESSES, N, alpha=1 - confidence, method=method)
    np.testing.assert_allclose(low, ref_low, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(high, ref_high, rtol=1e-10, atol=1e-15)


def test_scalar_inputs_give_scalars():
    low, high = wilson_interval(40, 100)
    assert np.ndim(low) == 0 and low < 0.4 < high


def test_power_mcse_analytic():
    # sqrt(0.8 * 0.2 / 1000) = 0.012649...
    assert power_mcse(800, 1000) == pytest.approx(np.sqrt(0.8 * 0.2 / 1000), rel=1e-14)
    np.testing.assert_allclose(power_mcse([0, 500], [100, 1000]), [0.0, np.sqrt(0.25 / 1000)])


def test_power_estimate_summary_fields():
    est = power_estimate(800, 1000, method="clopper-pearson")
    ref = proportion_confint(800, 1000, method="beta")
    assert est.estimate == 0.8
    assert (est.ci_low, est.ci_high) == pytest.approx(ref, rel=1e-10)
    assert "0.8000" in est.summary()


def test_invalid_counts_rejected():
    with pytest.raises(ValueError):
        power_mcse(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
