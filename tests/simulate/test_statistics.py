"""The simulator against closed-form values, at fixed seeds.

Each check compares a Monte Carlo estimate from the output tables with its analytic value; the
tolerance is 4 Monte Carlo standard errors computed here from the sample size (never a retry, never
a hand-picked slack). The scenarios switch off everything that would blur the closed form (no
frailty, immediate detection, no dropout, fixed follow-up, ...) unless the formula includes it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from simulate_scenarios import SCENARIO_DIR, lupus_trial, plain_time_to_event

from cohortsim.distributions import CovariateDistribution
from cohortsim.scenario import Scenario, load_scenario, scenario_from_dict
from cohortsim.simulate import simulate_tables

Z = 4.0
"""Tolerance in Monte Carlo standard errors."""


def assert_close(estimate: float, expected: float, se: float, what: str) -> None:
    assert se > 0, what
    z = (estimate - expected) / se
    assert abs(z) <= Z, f"{what}: {estimate:.6g} vs {expected:.6g} (SE {se:.3g}, z = {z:.2f})"


def assert_proportion(successes: int, n: int, p: float, what: str) -> None:
    se = math.sqrt(max(p * (1 - p), 1e-12) / n)
    assert_close(successes / n, p, se, what)


def patients(scenario: Scenario, replicates: int, seed: int) -> pd.DataFrame:
    tables = simulate_tables(scenario, seed, np.arange(replicates), engine="vector")
    df = tables["patients"].to_pandas()
    for column in ("arm", "end_reason", "response_class", "stratum"):
        df[column] = df[column].astype(object)
    return df


# -- relapse: survival of the first flare ------------------------------------------------------
def _piecewise_h(t: float, rates: list[float], durations: list[float]) -> float:
    h, start = 0.0, 0.0
    for rate, end in zip(rates, [*np.cumsum(durations), math.inf], strict=True):
        h += rate * max(0.0, min(t, end) - start)
        start = end
    return h


SURVIVAL_CASES = {
    "exponential": (
        {"hazard": {"rate_per_month": 0.05}},
        lambda t: math.exp(-0.05 * t),
    ),
    "median": (
        {"hazard": {"median_months": 10.0}},
        lambda t: 0.5 ** (t / 10.0),
    ),
    "weibull": (
        {"hazard": {"weibull_shape": 1.5, "weibull_scale_months": 20.0}},
        lambda t: math.exp(-((t / 20.0) ** 1.5)),
    ),
    "piecewise": (
        {"hazard": {"rates_per_month": [0.1, 0.02], "durations_months": [6.0]}},
        lambda t: math.exp(-_piecewise_h(t, [0.1, 0.02], [6.0])),
    ),
    "gamma_frailty": (  # marginal survival under Gamma(1, θ) frailty: (1 + θ H)^(−1/θ)
        {"hazard": {"rate_per_month": 0.05}, "frailty_variance": 0.5},
        lambda t: (1 + 0.5 * 0.05 * t) ** (-1 / 0.5),
    ),
}


@pytest.mark.parametrize("case", list(SURVIVAL_CASES))
def test_relapse_free_fraction_matches_the_survival_function(case: str) -> None:
    relapse, survival = SURVIVAL_CASES[case]
    scenario = plain_time_to_event(disease={"relapse": relapse})
    df = patients(scenario, 50, seed=101)
    n = len(df)
    assert n == 400 * 50
    # fixed follow-up: everyone followed to the 30-month maximum, nobody censored earlier
    assert (df["follow_up_months"] == 30.0).all()
    assert (df["end_reason"] == "max_follow_up").all()
    for t in (1.0, 3.0, 6.0, 12.0, 24.0):
        relapsed = int((df["relapse_observed"] & (df["time_to_relapse_months"] <= t)).sum())
        assert_proportion(n - relapsed, n, survival(t), f"{case}: S({t})")
    # immediate detection: observed = onset
    seen = df[df["relapse_observed"]]
    assert (seen["time_to_relapse_months"] == seen["first_relapse_onset_months"]).all()


def test_hazard_ratio_between_arms() -> None:
    """Treatment arm with hazard_ratio 0.5 against control: S_t(t) = S_c(t)^0.5."""
    scenario = plain_time_to_event(
        arms={
            "control": {},
            "treatment": {
                "disease": {
                    "relapse": {"hazard": {"hazard_ratio": 0.5, "reference_arm": "control"}}
                }
            },
        },
    )
    df = patients(scenario, 60, seed=102)
    for arm, rate in (("control", 0.05), ("treatment", 0.025)):
        mine = df[df["arm"] == arm]
        relapsed = int((mine["relapse_observed"] & (mine["time_to_relapse_months"] <= 12)).sum())
        assert_proportion(len(mine) - relapsed, len(mine), math.exp(-rate * 12), f"{arm}: S(12)")
    # simple randomisation 1:1
    assert_proportion(int((df["arm"] == "treatment").sum()), len(df), 0.5, "P(treatment arm)")


# -- enrolment ---------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [5.0, 0.25, 1.0])
def test_window_enrolment_follows_the_linear_density(ratio: float) -> None:
    """Enrolment on [a, b] with density ∝ 1 + (ρ − 1)x: E[x] = (2ρ + 1) / (3(ρ + 1)),
    E[x²] = (3ρ + 1) / (6(ρ + 1)), F(x) = (x + (ρ − 1)x²/2) / ((ρ + 1)/2)."""
    a, b = 2.0, 14.0
    scenario = plain_time_to_event(
        accrual={"start_month": a, "end_month": b, "density_ratio_end_to_start": ratio},
        disease={"relapse": {"hazard": {"rate_per_month": 0.0}}},
        cutoff={"max_follow_up_months": 1.0},
    )
    df = patients(scenario, 50, seed=103)
    x = ((df["enrol_month"] - a) / (b - a)).to_numpy()
    n = len(x)
    assert n == 400 * 50 and x.min() >= 0 and x.max() <= 1
    mean = (2 * ratio + 1) / (3 * (ratio + 1))
    second = (3 * ratio + 1) / (6 * (ratio + 1))
    variance = second - mean**2
    assert_close(x.mean(), mean, math.sqrt(variance / n), f"ρ={ratio}: mean enrolment fraction")
    for x0 in (0.25, 0.5, 0.75):
        cdf = (x0 + (ratio - 1) * x0**2 / 2) / ((ratio + 1) / 2)
        assert_proportion(int((x <= x0).sum()), n, cdf, f"ρ={ratio}: F({x0})")


def test_piecewise_enrolment_is_a_poisson_process() -> None:
    """Rates 2/month for 6 months, then 5/month: arrivals by month 6 ~ Poisson(12), in (6, 8]
    ~ Poisson(10), and patient i enrols at the i-th arrival (ids in time order)."""
    scenario = plain_time_to_event(
        study={"n_patients": 60},
        accrual={
            "kind": "piecewise",
            "rates_per_month": [2.0, 5.0],
            "durations_months": [6.0],
            "start_month": None,
            "end_month": None,
        },
        disease={"relapse": {"hazard": {"rate_per_month": 0.0}}},
        cutoff={"max_follow_up_months": 1.0},
    )
    replicates = 1000
    df = patients(scenario, replicates, seed=104)
    assert len(df) == 60 * replicates
    per_trial = df.groupby("replicate")["enrol_month"]
    by_6 = per_trial.apply(lambda e: int((e <= 6.0).sum())).to_numpy()
    in_6_8 = per_trial.apply(lambda e: int(((e > 6.0) & (e <= 8.0)).sum())).to_numpy()
    for counts, mean, label in ((by_6, 12.0, "[0, 6]"), (in_6_8, 10.0, "(6, 8]")):
        assert_close(counts.mean(), mean, math.sqrt(mean / replicates), f"arrivals in {label}")
        # Poisson: Var(s²) ≈ (μ₄ − σ⁴)/n = (λ + 2λ²)/n
        assert_close(
            counts.var(ddof=1),
            mean,
            math.sqrt((mean + 2 * mean**2) / replicates),
            f"variance of arrivals in {label}",
        )
    ordered = df.sort_values(["replicate", "patient_id"]).groupby("replicate")["enrol_month"]
    assert ordered.apply(lambda e: bool(np.all(np.diff(e.to_numpy()) >= 0))).all()


# -- dropout and death -------------------------------------------------------------------------
def test_dropout_probability_matches_the_cumulative_hazard() -> None:
    """Piecewise dropout 0.05/month for 3 months then 0.01: P(dropout by t) = 1 − exp(−H(t))."""
    rates, durations = [0.05, 0.01], [3.0]
    scenario = plain_time_to_event(
        disease={"relapse": {"hazard": {"rate_per_month": 0.0}}},
        dropout={"rates_per_month": rates, "durations_months": durations},
        cutoff={"max_follow_up_months": 24.0},
    )
    df = patients(scenario, 50, seed=105)
    n = len(df)
    dropped = df["end_reason"] == "dropout"
    assert set(df.loc[~dropped, "end_reason"]) == {"max_follow_up"}
    for t in (1.0, 3.0, 6.0, 12.0, 23.9):
        k = int((dropped & (df["follow_up_months"] <= t)).sum())
        expected = 1 - math.exp(-_piecewise_h(t, rates, durations))
        assert_proportion(k, n, expected, f"P(dropout by {t})")


def test_competing_dropout_and_death() -> None:
    """Constant dropout λx and death λd compete: P(dropout by t) = λx/λ (1 − e^{−λt})."""
    dropout, death = 0.02, 0.01
    total = dropout + death
    scenario = plain_time_to_event(
        disease={"relapse": {"hazard": {"rate_per_month": 0.0}}},
        dropout={"rate_per_month": dropout},
        death={"rate_per_month": death},
        cutoff={"max_follow_up_months": 24.0},
    )
    df = patients(scenario, 50, seed=106)
    n = len(df)
    for t in (6.0, 12.0, 23.9):
        gone = df["follow_up_months"] <= t
        for reason, rate in (("dropout", dropout), ("death", death)):
            k = int((gone & (df["end_reason"] == reason)).sum())
            expected = rate / total * (1 - math.exp(-total * t))
            assert_proportion(k, n, expected, f"P({reason} by {t})")


# -- visits and the latent response ------------------------------------------------------------
@pytest.fixture(scope="module")
def lupus_run() -> tuple[Scenario, dict[str, pd.DataFrame]]:
    scenario = lupus_trial(
        study={"n_patients": 200},
        visits={
            "schedule_months": [1.0, 3.0, 6.0, 9.0, 12.0],
            "window_months": 0.5,
            "missed_probability": 0.2,
        },
        dropout={"rate_per_month": 0.0},
        death={"rate_per_month": 0.0},
        cutoff={"max_follow_up_months": 13.0},
        arms={
            "soc": {
                "disease": {"response": {"probability_complete": 0.2, "probability_partial": 0.3}}
            },
            "msc": {
                "disease": {
                    "response": {
                        "probability_complete": 0.45,
                        "probability_partial": 0.35,
                        "mean_time_to_response_months": 4.0,
                    }
                }
            },
        },
    )
    tables = simulate_tables(scenario, 107, np.arange(40), engine="vector")
    frames = {}
    for name, table in tables.items():
        df = table.to_pandas()
        for column in df.columns:
            if isinstance(df[column].dtype, pd.CategoricalDtype):
                df[column] = df[column].astype(object)
        frames[name] = df
    return scenario, frames


def test_missed_visit_fraction(lupus_run) -> None:
    _, frames = lupus_run
    p, v = frames["patients"], frames["visits"]
    assert (p["follow_up_months"] == 13.0).all()  # every scheduled visit lies within follow-up
    slots = 5 * len(p)
    done = int(((v["visit_type"] == "scheduled") & v["visit_number"].between(1, 5)).sum())
    assert_proportion(slots - done, slots, 0.2, "fraction of scheduled visits missed")
    for number in range(1, 6):  # and for each visit separately
        k = int((v["visit_number"] == number).sum())
        assert_proportion(len(p) - k, len(p), 0.2, f"visit {number} missed")


def test_response_class_frequencies(lupus_run) -> None:
    _, frames = lupus_run
    p = frames["patients"]
    probabilities = {"soc": (0.2, 0.3, 0.5), "msc": (0.45, 0.35, 0.2)}
    for arm, probs in probabilities.items():
        mine = p[p["arm"] == arm]
        assert len(mine) > 3000
        for cls, prob in zip(("complete", "partial", "none"), probs, strict=True):
            k = int((mine["response_class"] == cls).sum())
            assert_proportion(k, len(mine), prob, f"{arm}: P({cls})")


def test_time_to_response_is_exponential(lupus_run) -> None:
    _, frames = lupus_run
    p = frames["patients"]
    for arm, mean in (("soc", 3.0), ("msc", 4.0)):
        t = p.loc[p["arm"] == arm, "time_to_response_months"].to_numpy()
        assert_close(t.mean(), mean, mean / math.sqrt(len(t)), f"{arm}: mean time to response")
        assert_proportion(int((t <= mean).sum()), len(t), 1 - math.exp(-1), f"{arm}: P(T <= mean)")


def test_stratified_blocks_balance_arms_and_covariates(lupus_run) -> None:
    """Blocks of 4 within each of 4 strata: per trial, |n_soc − n_msc| ≤ 2 per stratum."""
    _, frames = lupus_run
    p = frames["patients"]
    counts = p.groupby(["replicate", "stratum", "arm"]).size().unstack(fill_value=0)
    assert (abs(counts["soc"] - counts["msc"]) <= 2).all()
    # nephritis prevalence 0.6 (the stratification factor)
    assert_proportion(int(p["baseline_nephritis"].sum()), len(p), 0.6, "P(nephritis)")


# -- baseline covariates -----------------------------------------------------------------------
COVARIATE_COLUMNS = {
    "age_years": "age_years",
    "disease_duration_months": "disease_duration_months",
    "sledai": "baseline_sledai",
    "proteinuria_mg_per_day": "baseline_proteinuria_mg_per_day",
    "anti_dsdna_iu_per_ml": "baseline_anti_dsdna_iu_per_ml",
    "treg_percent": "baseline_treg_percent",
}
EXTRA_AGE_DISTRIBUTIONS = [  # the kinds no shipped scenario uses (as tests/strategies.py draws)
    {"distribution": "uniform", "min": 18, "max": 65},
    {"distribution": "gamma", "mean": 35.0, "sd": 10.0},
    {"distribution": "gamma", "mean": 35.0, "sd": 10.0, "min": 20, "max": 50, "integer": True},
    {"distribution": "lognormal", "mean": 30.0, "sd": 20.0, "min": 18, "max": 60},
    {"distribution": "fixed", "value": 30.0},
]


def _shipped_covariates() -> list[tuple[str, str, CovariateDistribution]]:
    """(scenario file, covariate, distribution) for every distinct shipped distribution."""
    seen: dict[tuple[str, CovariateDistribution], str] = {}
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        scenario = load_scenario(path)
        if not scenario.is_sle:
            continue
        for field in COVARIATE_COLUMNS:
            dist = getattr(scenario.population, field)
            seen.setdefault((field, dist), path.name)
    return [(source, field, dist) for (field, dist), source in seen.items()]


SHIPPED_COVARIATES = _shipped_covariates()

_RUNS: dict[str, pd.DataFrame] = {}


def _covariate_sample(source: str) -> pd.DataFrame:
    """Baseline covariates of 50,000 simulated patients of a scenario (follow-up cut short)."""
    if source not in _RUNS:
        if source.startswith("age:"):
            scenario = lupus_trial(
                study={"n_patients": 2000},
                population={"age_years": EXTRA_AGE_DISTRIBUTIONS[int(source[4:])]},
                cutoff={"max_follow_up_months": 0.5},
            )
        else:
            scenario = load_scenario(
                SCENARIO_DIR / source, ["study.n_patients=2000", "cutoff.max_follow_up_months=0.5"]
            )
        _RUNS[source] = patients(scenario, 25, seed=108)
    return _RUNS[source]


COVARIATE_CASES = [(src, field, dist) for src, field, dist in SHIPPED_COVARIATES] + [
    (
        f"age:{i}",
        "age_years",
        scenario_from_dict(
            {
                "study": {"name": "x", "n_patients": 1},
                "accrual": {"end_month": 1.0},
                "population": {"age_years": spec},
                "arms": {"a": {}},
            }
        ).population.age_years,
    )
    for i, spec in enumerate(EXTRA_AGE_DISTRIBUTIONS)
]


@pytest.mark.parametrize(
    ("source", "field", "dist"),
    COVARIATE_CASES,
    ids=[f"{field}-{dist.describe()}" for _, field, dist in COVARIATE_CASES],
)
def test_covariate_sample_moments_match_theory(
    source: str, field: str, dist: CovariateDistribution
) -> None:
    """Sample mean and variance of each covariate over 50,000 simulated patients vs
    ``CovariateDistribution.moments()``: |x̄ − μ| ≤ 4·σ/√n and |s² − σ²| ≤ 4·√((m₄ − s⁴)/n)."""
    x = _covariate_sample(source)[COVARIATE_COLUMNS[field]].to_numpy(dtype=float)
    n = len(x)
    assert n >= 40_000 and np.isfinite(x).all()
    mean, variance = dist.moments()
    if variance == 0:
        assert (x == mean).all()
        return
    assert_close(x.mean(), mean, math.sqrt(variance / n), f"{field} mean")
    s2 = x.var()
    m4 = np.mean((x - x.mean()) ** 4)
    assert_close(s2, variance, math.sqrt((m4 - s2**2) / n), f"{field} variance")
    if dist.minimum is not None:
        assert x.min() >= dist.minimum
    if dist.maximum is not None:
        assert x.max() <= dist.maximum
    if dist.integer:
        assert (x == np.round(x)).all()


def _reference_moments(dist: CovariateDistribution) -> tuple[float, float]:
    """Mean and variance from scipy, independently of ``CovariateDistribution``."""
    if dist.kind == "fixed":
        return float(dist.value), 0.0
    if dist.kind == "uniform":
        frozen = stats.uniform(dist.minimum, dist.maximum - dist.minimum)
    elif dist.kind == "normal":
        frozen = stats.norm(dist.mean, dist.sd)
    elif dist.kind == "lognormal":
        s2 = math.log1p((dist.sd / dist.mean) ** 2)
        frozen = stats.lognorm(math.sqrt(s2), scale=dist.mean * math.exp(-s2 / 2))
    else:
        frozen = stats.gamma((dist.mean / dist.sd) ** 2, scale=dist.sd**2 / dist.mean)
    low = -math.inf if dist.minimum is None else dist.minimum
    high = math.inf if dist.maximum is None else dist.maximum
    if dist.integer:
        # docs/model.md: truncation on the [k − ½, k + ½) scale, k from ⌈min⌉ to ⌊max⌋
        first = math.ceil(max(low, frozen.ppf(1e-15)))
        last = math.floor(min(high, frozen.ppf(1 - 1e-15)))
        k = np.arange(first, last + 1)
        w = frozen.cdf(k + 0.5) - frozen.cdf(k - 0.5)
        w = w / w.sum()
        mean = float(np.sum(w * k))
        return mean, float(np.sum(w * (k - mean) ** 2))
    mass = frozen.cdf(high) - frozen.cdf(low)
    m1 = frozen.expect(lambda x: x, lb=low, ub=high) / mass
    m2 = frozen.expect(lambda x: x * x, lb=low, ub=high) / mass
    return float(m1), float(m2 - m1 * m1)


@pytest.mark.parametrize(
    "dist",
    [d for _, _, d in COVARIATE_CASES],
    ids=[f"{field}-{dist.describe()}" for _, field, dist in COVARIATE_CASES],
)
def test_moments_method_matches_scipy(dist: CovariateDistribution) -> None:
    mean, variance = dist.moments()
    ref_mean, ref_variance = _reference_moments(dist)
    assert mean == pytest.approx(ref_mean, rel=1e-4, abs=1e-9)
    # moments() integrates on the uniform scale: the far tail of an untruncated log-normal
    # (cv 1) is worth ~0.1% of its variance — far below any Monte Carlo error it is used with.
    assert variance == pytest.approx(ref_variance, rel=5e-3, abs=1e-9)


def test_binary_baseline_characteristics() -> None:
    """female ~ Bernoulli(female_probability); manifestations ~ Bernoulli(prevalence)."""
    path = Path(SCENARIO_DIR / "liang2010_pilot.toml")
    df = _covariate_sample(path.name)
    scenario = load_scenario(path)
    population = scenario.population
    n = len(df)
    assert_proportion(int(df["female"].sum()), n, population.female_probability, "P(female)")
    for name, prevalence in population.manifestation_prevalence.items():
        assert_proportion(int(df[f"baseline_{name}"].sum()), n, prevalence, f"P({name})")
