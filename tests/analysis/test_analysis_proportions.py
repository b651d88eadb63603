"""Binary-response comparisons: references scipy, statsmodels and Newcombe (1998)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from cohortsim.analysis import (
    binary_test,
    binary_test_batch,
    chi_square_batch,
    chi_square_test,
    cmh_batch,
    cmh_test,
    fisher_exact_batch,
    fisher_exact_test,
    risk_difference,
    risk_difference_batch,
)


def _patients(x1: int, n1: int, x0: int, n0: int) -> tuple[np.ndarray, np.ndarray]:
    """Patient-level arrays for a 2x2 table."""
    response = np.r_[np.ones(x1), np.zeros(n1 - x1), np.ones(x0), np.zeros(n0 - x0)]
    group = np.r_[np.ones(n1), np.zeros(n0)].astype(int)
    return response.astype(int), group


def _table(x1, n1, x0, n0) -> np.ndarray:
    return np.array([[x1, n1 - x1], [x0, n0 - x0]])


# --------------------------------------------------------------------------- risk difference


@pytest.mark.parametrize(
    ("table", "published"),
    [
        # Newcombe RG (1998) Stat Med 17:873-890, Table II, method 10 (hybrid score, no CC)
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_newcombe_interval_published_examples(table, published):
    res = risk_difference(*_patients(*table))
    assert (res.ci_low, res.ci_high) == pytest.approx(published, abs=5e-5)
    # statsmodels confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
    ref = confint_proportions_2indep(*table, method="newcomb", compare="diff")
    assert (res.ci_low, res.ci_high) == pytest.approx(ref, rel=1e-12)


def test_wald_interval_and_pooled_z_match_statsmodels():
    x1, n1, x0, n0 = 34, 60, 22, 58
    res = risk_difference(*_patients(x1, n1, x0, n0), ci_method="wald", alternative="greater")
    # statsmodels confint_proportions_2indep(..., method="wald", compare="diff")
    ref = confint_proportions_2indep(x1, n1, x0, n0, method="wald", compare="diff")
    assert (res.ci_low, res.ci_high) == pytest.approx(ref, rel=1e-12)
    assert res.estimate == pytest.approx(x1 / n1 - x0 / n0, rel=1e-14)
    # statsmodels proportions_ztest([x1, x0], [n1, n0], alternative="larger") (pooled variance)
    z, p = proportions_ztest([x1, x0], [n1, n0], alternative="larger")
    assert res.statistic == pytest.approx(z, rel=1e-12)
    assert res.pvalue == pytest.approx(p, rel=1e-12)


# --------------------------------------------------------------------------- chi-square


@pytest.mark.parametrize("correction", [False, True])
def test_chi_square_matches_scipy(rng, correction):
    for _ in range(30):
        n1, n0 = rng.integers(5, 60, 2)
        x1, x0 = rng.integers(0, n1 + 1), rng.integers(0, n0 + 1)
        if x1 + x0 in (0, n1 + n0):
            continue
        res = chi_square_test(*_patients(x1, n1, x0, n0), correction=correction)
        # scipy.stats.chi2_contingency(table, correction=correction)
        ref = stats.chi2_contingency(_table(x1, n1, x0, n0), correction=correction)
        assert res.statistic == pytest.approx(ref.statistic, rel=1e-10, abs=1e-12)
        assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-9)


def test_chi_square_one_sided_uses_signed_root():
    x1, n1, x0, n0 = 30, 50, 20, 50
    two = chi_square_test(*_patients(x1, n1, x0, n0))
    greater = chi_square_test(*_patients(x1, n1, x0, n0), alternative="greater")
    less = chi_square_test(*_patients(x1, n1, x0, n0), alternative="less")
    # Uncorrected X^2 equals the pooled z squared: proportions_ztest(..., alternative="larger")
    z, p = proportions_ztest([x1, x0], [n1, n0], alternative="larger")
    assert two.statistic == pytest.approx(z**2, rel=1e-12)
    assert greater.pvalue == pytest.approx(p, rel=1e-12)
    assert less.pvalue == pytest.approx(1 - p, rel=1e-12)


def test_degenerate_table_gives_p_one():
    res = chi_square_test(*_patients(10, 10, 20, 20))
    assert np.isnan(res.statistic) and res.pvalue == 1.0
    # scipy.stats.fisher_exact returns (nan, 1.0) for a zero margin, as we do everywhere
    assert fisher_exact_test(*_patients(0, 10, 0, 20)).pvalue == 1.0


# --------------------------------------------------------------------------- Fisher


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_fisher_batch_matches_scipy_on_many_tables(rng, alternative):
    reps, n = 400, 24
    response = rng.random((reps, n)) < rng.uniform(0.05, 0.6, (reps, 1))
    group = np.broadcast_to(np.arange(n) % 2, (reps, n))  # equal arms: many symmetric ties
    mask = rng.random((reps, n)) < 0.9
    res = fisher_exact_batch(response, group, mask=mask, alternative=alternative)
    for i in range(reps):
        m = mask[i]
        g = group[i][m] == 1
        r = response[i][m]
        table = _table(np.sum(r & g), np.sum(g), np.sum(r & ~g), np.sum(~g))
        # scipy.stats.fisher_exact(table, alternative=alternative)
        ref = stats.fisher_exact(table, alternative=alternative)
        assert res.pvalue[i] == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-14), table
        if np.isfinite(ref.statistic):
            assert res.statistic[i] == pytest.approx(ref.statistic, rel=1e-12)


def test_fisher_single_uses_treatment_vs_control_orientation():
    # Treatment responds more: "greater" must be the small one-sided p-value.
    resp, grp = _patients(9, 10, 2, 10)
    greater = fisher_exact_test(resp, grp, alternative="greater")
    less = fisher_exact_test(resp, grp, alternative="less")
    ref = stats.fisher_exact([[9, 1], [2, 8]], alternative="greater")
    assert greater.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert greater.pvalue < 0.01 < less.pvalue
    assert greater.statistic == pytest.approx(9 * 8 / (1 * 2))


# --------------------------------------------------------------------------- automatic choice


def test_binary_test_switches_to_fisher_below_expected_five():
    # Smallest expected count: min(n1, n0) * min(m1, m0) / N.
    small = binary_test(*_patients(4, 20, 1, 20))  # 20 * 5 / 40 = 2.5 < 5
    large = binary_test(*_patients(12, 20, 6, 20))  # 20 * 18 / 40 = 9 >= 5
    assert small.method == "fisher"
    assert small.pvalue == pytest.approx(stats.fisher_exact([[4, 16], [1, 19]]).pvalue)
    assert large.method == "chi-square"
    ref = stats.chi2_contingency([[12, 8], [6, 14]], correction=False)
    assert large.pvalue == pytest.approx(ref.pvalue, rel=1e-10)


# --------------------------------------------------------------------------- batches


@pytest.mark.parametrize(
    ("batch_fn", "single_fn", "kwargs"),
    [
        (risk_difference_batch, risk_difference, {"ci_method": "newcombe"}),
        (risk_difference_batch, risk_difference, {"ci_method": "wald"}),
        (chi_square_batch, chi_square_test, {"correction": True}),
        (chi_square_batch, chi_square_test, {"alternative": "less"}),
        (fisher_exact_batch, fisher_exact_test, {"alternative": "greater"}),
        (binary_test_batch, binary_test, {}),
    ],
)
def test_batch_equals_single_trial(rng, batch_fn, single_fn, kwargs):
    reps, n = 60, 40
    response = rng.random((reps, n)) < rng.uniform(0.05, 0.7, (reps, 1))
    group = rng.integers(0, 2, (reps, n))
    mask = rng.random((reps, n)) < rng.uniform(0.3, 1.0, (reps, 1))
    res = batch_fn(response, group, mask=mask, **kwargs)
    for i in range(reps):
        m = mask[i]
        single = single_fn(response[i][m], group[i][m], **kwargs)
        for field in ("statistic", "pvalue", "estimate", "se", "ci_low", "ci_high"):
            np.testing.assert_allclose(
                getattr(res, field)[i], getattr(single, field), rtol=1e-9, atol=1e-14
            )
        assert res.n_treatment[i] == single.n_treatment
        assert res.responders_control[i] == single.responders_control
        if batch_fn is binary_test_batch:
            assert res.used_fisher[i] == (single.method == "fisher")


# --------------------------------------------------------------------------- CMH


def _strata_data(rng, n=240, k=4):
    strata = rng.integers(0, k, n)
    group = rng.integers(0, 2, n)
    logit = -0.5 + 0.3 * strata + 0.6 * group
    response = rng.random(n) < 1 / (1 + np.exp(-logit))
    return response.astype(int), group, strata


@pytest.mark.parametrize("correction", [False, True])
def test_cmh_matches_statsmodels_stratified_table(rng, correction):
    response, group, strata = _strata_data(rng)
    res = cmh_test(response, group, strata, correction=correction)
    tables = np.stack(
        [
            _table(
                np.sum(response[(strata == s) & (group == 1)]),
                np.sum((strata == s) & (group == 1)),
                np.sum(response[(strata == s) & (group == 0)]),
                np.sum((strata == s) & (group == 0)),
            )
            for s in range(4)
        ],
        axis=2,
    )
    # statsmodels StratifiedTable(tables): test_null_odds(correction), oddsratio_pooled,
    # logodds_pooled_se, logodds_pooled_confint()
    st = StratifiedTable(tables)
    ref = st.test_null_odds(correction=correction)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
    assert res.odds_ratio == pytest.approx(st.oddsratio_pooled, rel=1e-12)
    assert res.se == pytest.approx(st.logodds_pooled_se, rel=1e-12)
    assert (res.ci_low, res.ci_high) == pytest.approx(st.logodds_pooled_confint(), rel=1e-10)
    assert res.n_strata == 4


def test_cmh_single_stratum_equals_uncorrected_chi_square_up_to_n_over_n_minus_1():
    resp, grp = _patients(30, 50, 20, 50)
    cmh = cmh_test(resp, grp, np.zeros(100))
    pearson = chi_square_test(resp, grp)
    # CMH uses the hypergeometric variance: X^2_CMH = X^2_Pearson (N - 1) / N.
    assert cmh.statistic == pytest.approx(pearson.statistic * 99 / 100, rel=1e-12)
    assert cmh.z > 0
    greater = cmh_test(resp, grp, np.zeros(100), alternative="greater")
    assert greater.pvalue == pytest.approx(stats.norm.sf(cmh.z), rel=1e-12)


def test_cmh_batch_equals_single_trial(rng):
    reps, n = 40, 80
    strata = rng.integers(0, 3, (reps, n))
    group = rng.integers(0, 2, (reps, n))
    response = rng.random((reps, n)) < 0.3 + 0.1 * strata + 0.15 * group
    mask = rng.random((reps, n)) < 0.9
    res = cmh_batch(response, group, strata, mask=mask, alternative="greater")
    for i in range(reps):
        m = mask[i]
        single = cmh_test(response[i][m], group[i][m], strata[i][m], alternative="greater")
        for field in ("statistic", "z", "pvalue", "estimate", "se", "ci_low", "ci_high"):
            np.testing.assert_allclose(getattr(res, field)[i], getattr(single, field), rtol=1e-10)


def test_cmh_ignores_single_patient_strata(rng):
    # A stratum with one patient has zero hypergeometric variance and no MH contribution:
    # the result must equal the CMH test on the other strata alone.
    response, group, strata = _strata_data(rng)
    full = cmh_test(np.r_[response, 1], np.r_[group, 1], np.r_[strata, 99])
    ref = cmh_test(response, group, strata)
    assert full.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert full.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert full.se == pytest.approx(ref.se, rel=1e-12)
    assert full.n_strata == 4
