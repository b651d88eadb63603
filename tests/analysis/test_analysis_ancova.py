"""ANCOVA: reference statsmodels OLS."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from cohortsim.analysis import ancova, ancova_batch


def _trial(rng, n=90, effect=-2.0):
    group = rng.integers(0, 2, n)
    baseline = rng.normal(12.0, 3.3, n)  # SLEDAI-like baseline
    follow_up = 2.0 + 0.5 * baseline + effect * group + rng.normal(0, 2.5, n)
    return follow_up, baseline, group


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_ancova_matches_statsmodels_ols(rng, alternative):
    y, baseline, group = _trial(rng)
    res = ancova(y, baseline, group, alternative=alternative, confidence=0.9)
    # statsmodels OLS(y, [1, group, baseline]).fit(); t_test with the matching alternative
    fit = sm.OLS(y, np.column_stack([np.ones(y.size), group, baseline])).fit()
    assert res.estimate == pytest.approx(fit.params[1], rel=1e-10)
    assert res.se == pytest.approx(fit.bse[1], rel=1e-10)
    assert res.statistic == pytest.approx(fit.tvalues[1], rel=1e-10)
    assert res.df == fit.df_resid == y.size - 3
    assert (res.ci_low, res.ci_high) == pytest.approx(tuple(fit.conf_int(0.1)[1]), rel=1e-10)
    assert res.baseline_slope == pytest.approx(fit.params[2], rel=1e-10)
    assert res.intercept == pytest.approx(fit.params[0], rel=1e-10)
    assert res.residual_sd == pytest.approx(np.sqrt(fit.scale), rel=1e-10)
    two_sided = fit.pvalues[1]
    expected = {
        "two-sided": two_sided,
        "less": two_sided / 2 if fit.tvalues[1] < 0 else 1 - two_sided / 2,
        "greater": two_sided / 2 if fit.tvalues[1] > 0 else 1 - two_sided / 2,
    }[alternative]
    assert res.pvalue == pytest.approx(expected, rel=1e-8)


def test_change_and_follow_up_give_the_same_treatment_effect(rng):
    y, baseline, group = _trial(rng)
    a = ancova(y, baseline, group)
    b = ancova(y - baseline, baseline, group)
    assert b.estimate == pytest.approx(a.estimate, rel=1e-10)
    assert b.se == pytest.approx(a.se, rel=1e-10)
    assert b.pvalue == pytest.approx(a.pvalue, rel=1e-10)
    assert b.baseline_slope == pytest.approx(a.baseline_slope - 1, rel=1e-10)


def test_ancova_batch_equals_single_trial(rng):
    reps, n = 50, 60
    group = rng.integers(0, 2, (reps, n))
    baseline = rng.normal(12.0, 3.3, (reps, n))
    y = 0.6 * baseline - 1.5 * group + rng.normal(0, 2.0, (reps, n))
    mask = rng.random((reps, n)) < rng.uniform(0.4, 1.0, (reps, 1))
    y = np.where(mask, y, np.nan)  # excluded entries must be ignored, even NaN
    res = ancova_batch(y, baseline, group, mask=mask, alternative="less")
    for i in range(reps):
        m = mask[i]
        single = ancova(y[i][m], baseline[i][m], group[i][m], alternative="less")
        for field in (
            "estimate",
            "se",
            "statistic",
            "pvalue",
            "ci_low",
            "ci_high",
            "baseline_slope",
            "residual_sd",
            "df",
            "n",
        ):
            np.testing.assert_allclose(
                getattr(res, field)[i], getattr(single, field), rtol=1e-9, err_msg=field
            )


def test_ancova_singular_design_is_nan():
    y = np.arange(6.0)
    res = ancova(y, np.ones(6), [0, 1, 0, 1, 0, 1])  # constant baseline
    assert np.isnan(res.estimate) and np.isnan(res.pvalue)
    batch = ancova_batch(y[None, :], np.ones((1, 6)), np.zeros((1, 6), dtype=int))  # one arm
    assert np.isnan(batch.estimate[0])
