"""Each endpoint's analysis in the power runner, redone trial by trial with external libraries
on the patients it should use: the right patients, the right groups, the right direction.

References (the calls are in each test):
* scipy.stats.chi2_contingency(table, correction=False) / scipy.stats.fisher_exact(table);
* statsmodels StratifiedTable(tables).test_null_odds(correction=False) (Cochran-Mantel-Haenszel);
* lifelines.statistics.logrank_test and lifelines.CoxPHFitter (no ties: Breslow = Efron);
* statsmodels OLS ``change ~ 1 + group + baseline`` (ANCOVA);
* statsmodels GLM Poisson with offset log(exposure) (rate ratio).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cohortsim.cohort import LatentCohort
from cohortsim.endpoints import derive_endpoints, responders, sledai_change
from cohortsim.engine import simulate_course_vector
from cohortsim.power.analyses import BENEFIT, analyse, decisions
from cohortsim.power.trials import comparisons
from cohortsim.scenario import load_scenario
from cohortsim.scenario.vary import with_values

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
ROWS = 4


def _setup(name: str, values: dict | None = None, n: int = 80):  # type: ignore[no-untyped-def]
    scenario = load_scenario(SCENARIOS / name)
    if values:
        scenario = with_values(scenario, values)
    cohort = LatentCohort(scenario, 13, np.arange(ROWS), n_patients=n)
    course = simulate_course_vector(cohort)
    endpoints = derive_endpoints(cohort, course, 12.0)
    return scenario, endpoints, comparisons(scenario)[0]


@pytest.fixture(scope="module")
def rct():
    return _setup("rct_msc_vs_soc.toml", {"analysis.flare_rate.model": "poisson"})


def test_responders_against_scipy(rct) -> None:
    scenario, e, pair = rct
    result = analyse("sri4", e, pair, scenario.analysis)
    outcome = responders(e, "sri4")
    for r in range(ROWS):
        m = outcome.mask[r]
        group = e.arm[r][m] == pair.treatment
        response = outcome.response[r][m]
        table = np.array(
            [[np.sum(response & group), np.sum(~response & group)],
             [np.sum(response & ~group), np.sum(~response & ~group)]]
        )
        expected = stats.contingency.expected_freq(table)
        if expected.min() < 5:
            p = stats.fisher_exact(table).pvalue
        else:
            p = stats.chi2_contingency(table, correction=False).pvalue
        assert result.pvalue[r] == pytest.approx(p, rel=1e-9)
        difference = response[group].mean() - response[~group].mean()
        assert result.estimate[r] == pytest.approx(difference)
        assert result.n_analysed[r] == m.sum()


def test_stratified_responders_against_statsmodels_cmh() -> None:
    from statsmodels.stats.contingency_tables import StratifiedTable

    scenario, e, pair = _setup("rct_msc_vs_soc_stratified.toml")
    assert scenario.analysis.stratified
    result = analyse("remission", e, pair, scenario.analysis)
    outcome = responders(e, "remission")
    for r in range(ROWS):
        m = outcome.mask[r]
        group = e.arm[r][m] == pair.treatment
        response = outcome.response[r][m]
        strata = e.stratum[r][m]
        tables = []
        for s in np.unique(strata):
            h = strata == s
            t = np.array(
                [[np.sum(response[h] & group[h]), np.sum(~response[h] & group[h])],
                 [np.sum(response[h] & ~group[h]), np.sum(~response[h] & ~group[h])]],
                dtype=float,
            )
            if t.sum() >= 2:
                tables.append(t)
        reference = StratifiedTable(tables).test_null_odds(correction=False)
        assert result.pvalue[r] == pytest.approx(reference.pvalue, rel=1e-7)


def test_time_to_relapse_against_lifelines(rct) -> None:
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    scenario, e, pair = rct
    result = analyse("time_to_relapse", e, pair, scenario.analysis)
    for r in range(ROWS):
        m = e.included[r]
        t, d, g = e.relapse_time[r][m], e.relapse_observed[r][m], e.arm[r][m] == pair.treatment
        lr = logrank_test(t[g], t[~g], event_observed_A=d[g], event_observed_B=d[~g])
        assert result.pvalue[r] == pytest.approx(lr.p_value, rel=1e-6)
        if d[g].sum() and d[~g].sum():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cox = CoxPHFitter().fit(
                    pd.DataFrame({"t": t, "d": d, "g": g.astype(float)}), "t", "d"
                )
            # lifelines stops Newton-Raphson at a looser tolerance than cohortsim (1e-10)
            assert result.estimate[r] == pytest.approx(cox.params_["g"], abs=2e-4)
        # benefit = fewer relapses on treatment: z > 0 when the log-rank O - E is negative
        assert np.sign(result.z[r]) == -np.sign(result.statistic[r])


def test_sledai_change_against_statsmodels_ols(rct) -> None:
    import statsmodels.api as sm

    scenario, e, pair = rct
    result = analyse("sledai_change", e, pair, scenario.analysis)
    outcome = sledai_change(e)
    for r in range(ROWS):
        m = outcome.mask[r]
        g = (e.arm[r][m] == pair.treatment).astype(float)
        x = sm.add_constant(np.column_stack([g, outcome.baseline[r][m]]))
        fit = sm.OLS(outcome.change[r][m], x).fit()
        assert result.estimate[r] == pytest.approx(fit.params[1], rel=1e-9)
        assert result.pvalue[r] == pytest.approx(fit.pvalues[1], rel=1e-7)


def test_flare_rate_against_statsmodels_poisson(rct) -> None:
    import statsmodels.api as sm

    scenario, e, pair = rct
    assert scenario.analysis.flare_model == "poisson"
    result = analyse("flare_rate", e, pair, scenario.analysis)
    for r in range(ROWS):
        m = e.included[r] & (e.exposure[r] > 0)
        g = (e.arm[r][m] == pair.treatment).astype(float)
        fit = sm.GLM(
            e.flares[r][m], sm.add_constant(g), family=sm.families.Poisson(),
            offset=np.log(e.exposure[r][m]),
        ).fit(tol=1e-14)
        assert result.estimate[r] == pytest.approx(fit.params[1], rel=1e-6)
        assert result.pvalue[r] == pytest.approx(fit.pvalues[1], rel=1e-6)


def test_one_sided_tests_point_to_benefit() -> None:
    scenario, e, pair = _setup(
        "rct_msc_vs_soc.toml", {"analysis.sides": 1, "analysis.alpha": 0.025}
    )
    _, e2, _ = _setup("rct_msc_vs_soc.toml")
    two_sided = load_scenario(SCENARIOS / "rct_msc_vs_soc.toml").analysis
    for endpoint in BENEFIT:
        one = analyse(endpoint, e, pair, scenario.analysis)
        two = analyse(endpoint, e2, pair, two_sided)
        # the one-sided p-value towards benefit is half the two-sided one when the estimate
        # points to benefit (normal and chi-square tests)
        ok = (two.z > 0) & np.isfinite(two.pvalue) & (two.pvalue < 1)
        if endpoint in ("sri4", "remission"):
            continue  # Fisher's exact test is not symmetric
        np.testing.assert_allclose(one.pvalue[ok], two.pvalue[ok] / 2, rtol=1e-6)
        rejected, significant = decisions(one, 0.025)
        assert np.all(rejected == significant)
