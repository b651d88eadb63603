"""Event-rate ratios: references statsmodels GLM Poisson and discrete NegativeBinomial."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.discrete._diagnostics_count import test_poisson_dispersion
from statsmodels.discrete.discrete_model import NegativeBinomial

from cohortsim.analysis import (
    negbin_rate_ratio,
    negbin_rate_ratio_batch,
    overdispersion_test,
    overdispersion_test_batch,
    poisson_rate_ratio,
    poisson_rate_ratio_batch,
    rate_ratio_test,
    rate_ratio_test_batch,
)

# statsmodels' own function name starts with "test_": keep pytest from collecting it.
poisson_dispersion = test_poisson_dispersion
del test_poisson_dispersion


def _flares(rng, n=150, alpha=0.8, rate_ratio=0.7, shape=None):
    """Flares over 6-12 months of exposure; gamma-Poisson (NB2) with dispersion alpha."""
    shape = shape or (n,)
    group = rng.integers(0, 2, shape)
    exposure = rng.uniform(6.0, 12.0, shape)  # months
    mu = exposure * (0.65 / 12) * 1.5 * np.where(group == 1, rate_ratio, 1.0)
    lam = rng.gamma(1 / alpha, alpha * mu) if alpha > 0 else mu
    return rng.poisson(lam), exposure, group


def _design(group):
    return np.column_stack([np.ones(group.size), group.astype(float)])


def test_poisson_matches_glm_with_offset(rng):
    y, t, g = _flares(rng)
    res = poisson_rate_ratio(y, t, g, alternative="less", confidence=0.9)
    # statsmodels GLM(y, [1, group], family=Poisson(), offset=log(exposure)).fit()
    fit = sm.GLM(y, _design(g), family=sm.families.Poisson(), offset=np.log(t)).fit(tol=1e-12)
    assert res.estimate == pytest.approx(fit.params[1], rel=1e-9)
    assert res.se == pytest.approx(fit.bse[1], rel=1e-7)
    assert res.statistic == pytest.approx(fit.tvalues[1], rel=1e-7)
    assert res.pvalue == pytest.approx(stats.norm.cdf(fit.tvalues[1]), rel=1e-6)
    assert (res.ci_low, res.ci_high) == pytest.approx(tuple(fit.conf_int(0.1)[1]), rel=1e-7)
    assert res.rate_control == pytest.approx(np.exp(fit.params[0]), rel=1e-9)


def test_negbin_matches_statsmodels(rng):
    y, t, g = _flares(rng, n=200)
    res = negbin_rate_ratio(y, t, g)
    # statsmodels NegativeBinomial(y, [1, group], exposure=exposure, loglike_method="nb2")
    fit = NegativeBinomial(y, _design(g), exposure=t, loglike_method="nb2").fit(
        method="newton", maxiter=100, disp=0
    )
    assert res.converged
    assert res.estimate == pytest.approx(fit.params[1], rel=1e-6)
    assert res.dispersion == pytest.approx(fit.params[2], rel=1e-5)
    assert res.se == pytest.approx(fit.bse[1], rel=1e-5)
    assert res.pvalue == pytest.approx(fit.pvalues[1], rel=1e-5)
    assert res.rate_control == pytest.approx(np.exp(fit.params[0]), rel=1e-6)
    assert res.model == "negbin"


def test_negbin_without_overdispersion_falls_back_to_poisson():
    # Everybody has exactly one or two flares: variance far below the mean, so the NB2
    # likelihood is maximised on the boundary alpha = 0, which is the Poisson model.
    y = np.tile([1, 2, 1, 1], 10)
    t = np.linspace(6.0, 12.0, 40)
    g = np.tile([0, 1], 20)
    nb = negbin_rate_ratio(y, t, g)
    po = poisson_rate_ratio(y, t, g)
    assert nb.dispersion == 0.0
    assert nb.estimate == po.estimate and nb.se == po.se and nb.converged
    assert overdispersion_test(y, t, g, method="lr").pvalue == 1.0


def test_dean_score_test_matches_statsmodels(rng):
    y, t, g = _flares(rng)
    res = overdispersion_test(y, t, g, method="score")
    fit = sm.GLM(y, _design(g), family=sm.families.Poisson(), offset=np.log(t)).fit(tol=1e-12)
    # statsmodels test_poisson_dispersion(results): row "Dean B" (two-sided p-value)
    ref = poisson_dispersion(fit)
    row = ref.method.index("Dean B")
    assert res.statistic == pytest.approx(ref.statistic[row], rel=1e-7)
    assert res.pvalue == pytest.approx(ref.pvalue[row] / 2, rel=1e-6)  # one-sided here


def test_likelihood_ratio_test_matches_statsmodels_loglikelihoods(rng):
    y, t, g = _flares(rng, n=200)
    res = overdispersion_test(y, t, g, method="lr")
    poisson = sm.GLM(y, _design(g), family=sm.families.Poisson(), offset=np.log(t)).fit()
    nb = NegativeBinomial(y, _design(g), exposure=t).fit(method="newton", disp=0)
    lr = 2 * (nb.llf - poisson.llf)
    assert res.statistic == pytest.approx(lr, rel=1e-6)
    # chi-bar-square: alpha = 0 is on the boundary, so p = P(chi2_1 >= LR) / 2
    assert res.pvalue == pytest.approx(0.5 * stats.chi2.sf(lr, 1), rel=1e-5)


def test_rate_ratio_test_chooses_model_by_overdispersion(rng):
    over = _flares(rng, n=300, alpha=1.0)
    assert overdispersion_test(*over).pvalue < 0.05
    assert rate_ratio_test(*over).model == "negbin"
    poisson = _flares(rng, n=300, alpha=0.0)
    assert overdispersion_test(*poisson).pvalue >= 0.05
    assert rate_ratio_test(*poisson).model == "poisson"


@pytest.mark.parametrize(
    ("batch_fn", "single_fn"),
    [
        (poisson_rate_ratio_batch, poisson_rate_ratio),
        (negbin_rate_ratio_batch, negbin_rate_ratio),
        (rate_ratio_test_batch, rate_ratio_test),
    ],
)
def test_batch_equals_single_trial(rng, batch_fn, single_fn):
    reps, n = 40, 80
    y, t, g = _flares(rng, shape=(reps, n), alpha=0.6)
    mask = rng.random((reps, n)) < 0.85
    y = np.where(mask, y, -1)  # excluded entries must be ignored, even invalid ones
    res = batch_fn(y, t, g, mask=mask, alternative="less")
    for i in range(reps):
        m = mask[i]
        single = single_fn(y[i][m], t[i][m], g[i][m], alternative="less")
        for field in (
            "estimate",
            "se",
            "statistic",
            "pvalue",
            "ci_low",
            "dispersion",
            "rate_treatment",
            "events_control",
            "exposure_treatment",
        ):
            np.testing.assert_allclose(
                getattr(res, field)[i], getattr(single, field), rtol=1e-7, err_msg=field
            )
        if res.used_negbin is not None:
            assert res.used_negbin[i] == (single.model == "negbin")


@pytest.mark.parametrize("method", ["score", "lr"])
def test_overdispersion_batch_equals_single_trial(rng, method):
    reps, n = 30, 80
    y, t, g = _flares(rng, shape=(reps, n), alpha=0.5)
    res = overdispersion_test_batch(y, t, g, method=method)
    for i in range(reps):
        single = overdispersion_test(y[i], t[i], g[i], method=method)
        assert res.statistic[i] == pytest.approx(single.statistic, rel=1e-7, abs=1e-10)
        assert res.pvalue[i] == pytest.approx(single.pvalue, rel=1e-7)


def test_no_events_in_an_arm_is_not_estimable():
    res = poisson_rate_ratio([0, 0, 1, 2], [6.0, 6.0, 6.0, 6.0], [1, 1, 0, 0])
    assert np.isnan(res.estimate) and np.isnan(res.pvalue)


def test_counts_input_validation():
    with pytest.raises(ValueError, match="counts"):
        poisson_rate_ratio([0.5, 1], [1.0, 1.0], [0, 1])
    with pytest.raises(ValueError, match="exposure"):
        poisson_rate_ratio([0, 1], [0.0, 1.0], [0, 1])


def test_negbin_analytic_derivatives_match_finite_differences(rng):
    # Newton's convergence path depends on the analytic gradient and Hessian in
    # (b0, b1, log alpha); check them away from the optimum by central differences.
    from cohortsim.analysis.counts import _data_single, _nb_data, _nb_derivatives, _nb_loglik

    nb = _nb_data(_data_single(*_flares(rng, n=60)))
    point = np.array([[-2.5, -0.2, np.log(0.3)]])
    grad, hess = _nb_derivatives(nb, point)
    h = 1e-5
    for i in range(3):
        e = np.zeros((1, 3))
        e[0, i] = h
        num_grad = (_nb_loglik(nb, point + e) - _nb_loglik(nb, point - e)) / (2 * h)
        assert grad[0, i] == pytest.approx(num_grad[0], rel=1e-6, abs=1e-8)
        g_plus, _ = _nb_derivatives(nb, point + e)
        g_minus, _ = _nb_derivatives(nb, point - e)
        np.testing.assert_allclose(hess[0, i], (g_plus - g_minus)[0] / (2 * h), rtol=1e-6)
