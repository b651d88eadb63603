"""The calibration's building blocks against references: the binomial posterior (scipy.stats.beta,
scipy.integrate.quad), and the engine itself for the follow-up reconstruction and the
per-replicate measurement surrogate (bit-for-bit equality)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from cohortsim.calibration import variant
from cohortsim.calibration.manifestations import (
    resolved_by,
    sample_resolution_probability,
    visit_window_times,
)
from cohortsim.calibration.pilot_statistics import pilot_data, statistic_rows
from cohortsim.calibration.reconstruction import (
    FollowUpFigures,
    reconstruct,
    simulate_follow_up,
    window_ppf,
)
from cohortsim.calibration.surrogate import (
    ReplicateParameters,
    SummarySpec,
    measure_visit,
    patients_needed,
    pilot_summaries,
)
from cohortsim.calibration.targets import targets_from_dict
from cohortsim.cohort import LatentCohort, linear_window_ppf, visit_schedule
from cohortsim.engine.vector import simulate_course_vector
from cohortsim.timeline import build_tables


# -- manifestations ------------------------------------------------------------------------------
def test_resolution_posterior_is_conjugate_when_resolution_is_certain() -> None:
    draws = sample_resolution_probability(8, 11, 1.0, 50_000, np.random.default_rng(0)).draws
    reference = stats.beta(9, 4)  # Beta(1 + k, 1 + n − k)
    levels = np.array([0.05, 0.5, 0.95])
    # quantile MC error at 50,000 draws < 0.005
    np.testing.assert_allclose(np.quantile(draws, levels), reference.ppf(levels), atol=0.006)


def test_resolution_posterior_mean_with_incomplete_resolution() -> None:
    k, n, f = 4, 8, 0.88
    # posterior mean: ∫ p · Binom(k; n, p f) dp / ∫ Binom(k; n, p f) dp (uniform prior)
    num, _ = integrate.quad(lambda p: p * stats.binom.pmf(k, n, p * f), 0, 1)
    den, _ = integrate.quad(lambda p: stats.binom.pmf(k, n, p * f), 0, 1)
    draws = sample_resolution_probability(k, n, f, 50_000, np.random.default_rng(1)).draws
    assert draws.mean() == pytest.approx(num / den, abs=4 * draws.std() / math.sqrt(len(draws)))


def test_resolved_by_averages_the_exponential_cdf_over_the_window() -> None:
    m, t, w = 1.0, 3.0, 0.5
    exact = 1 - m / (2 * w) * (math.exp(-(t - w) / m) - math.exp(-(t + w) / m))
    assert resolved_by(visit_window_times(t, w, 20_001), m) == pytest.approx(exact, rel=1e-6)


# -- follow-up reconstruction ------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0.3, 1.0, 10.0])
def test_window_ppf_is_the_cohorts(ratio: float) -> None:
    u = np.linspace(0.001, 1.0, 50)
    np.testing.assert_array_equal(window_ppf(u, np.full(50, ratio)), linear_window_ppf(u, ratio))


def test_follow_up_equals_the_engines(pilot_without_calibration) -> None:  # type: ignore[no-untyped-def]
    replicates = np.arange(256, 512)
    for ratio, cutoff, early in [(10.0, 32.7, 0.05), (1.0, 28.0, 0.0), (0.4, 36.5, 0.2)]:
        design = {"accrual.density_ratio_end_to_start": ratio, "cutoff.calendar_month": cutoff,
                  "dropout.early_rate_per_month": early}
        scenario = variant(pilot_without_calibration, design=design)
        course = simulate_course_vector(LatentCohort(scenario, 11, replicates))
        mine = simulate_follow_up(pilot_without_calibration, 11, replicates,
                                  *(np.full(len(replicates), v) for v in design.values()))
        np.testing.assert_array_equal(mine, course.follow_up)


def test_reconstruction_matches_the_count_exactly(pilot_without_calibration) -> None:  # type: ignore[no-untyped-def]
    figures = FollowUpFigures(15, 17.2, 9.5, 13)
    rec = reconstruct(pilot_without_calibration, figures, 3, 102_400, 200)
    assert rec.follow_up.shape == (200, 15)
    assert np.all(rec.summaries[:, 2] == 13)
    # the kept vectors are near the reported mean and SD (within the tolerance, in MAD units)
    scaled = (rec.summaries[:, :2] - [17.2, 9.5]) / rec.acceptance.scale
    assert np.all(np.hypot(*scaled.T) <= rec.acceptance.tolerance + 1e-12)
    assert rec.acceptance.tolerance < 1.5


# -- the measurement surrogate ---------------------------------------------------------------------
def _engine(scenario, replicates):  # type: ignore[no-untyped-def]
    cohort = LatentCohort(scenario, 5, replicates)
    course = simulate_course_vector(cohort)
    return cohort, course, build_tables(cohort, course)["visits"]


def test_surrogate_reproduces_the_engine_visits_bit_for_bit(pilot_without_calibration) -> None:  # type: ignore[no-untyped-def]
    cohort, course, visits = _engine(pilot_without_calibration, np.arange(300))
    params = ReplicateParameters(pilot_without_calibration, {})
    for v in (0, 5, 8):  # 1 week, 12 months, 21 months (flares under way at some)
        values = measure_visit(cohort, course, v, params)
        rows = (visits["visit_type"] == 1) & (visits["visit_number"] == v + 1)
        at = (visits["row"][rows], visits["patient_id"][rows])
        assert rows.sum() == values.done.sum() > 1000
        np.testing.assert_array_equal(values.sledai[at], visits["sledai"][rows])
        np.testing.assert_array_equal(
            values.proteinuria[at], visits["proteinuria_mg_per_day"][rows]
        )
    assert (visits["flare_active"] & (visits["visit_type"] == 1)).sum() > 10


def test_per_replicate_parameters_reproduce_each_variant(pilot_without_calibration) -> None:  # type: ignore[no-untyped-def]
    """Replicates with different response parameters in one engine run give exactly what the
    engine gives for scenarios with those parameters."""
    a = {"response.probability_complete": 0.1, "response.probability_partial": 0.3,
         "sledai.visit_dispersion": 50.0, "proteinuria.class_change.partial": -0.4,
         "proteinuria.visit_sd": 0.05, "response.residual_concentration": 3.0}
    b = {"response.probability_complete": 0.6, "response.probability_partial": 0.1,
         "sledai.visit_dispersion": 1.5, "proteinuria.class_change.partial": -2.0,
         "proteinuria.visit_sd": 0.4, "response.residual_concentration": 30.0}
    replicates = np.arange(200)
    cohort, course, _ = _engine(pilot_without_calibration, replicates)
    which = replicates % 2 == 0
    mixed = ReplicateParameters(
        pilot_without_calibration, {k: np.where(which, a[k], b[k]) for k in a}
    )
    got = measure_visit(cohort, course, 5, mixed)
    for chosen, values in ((which, a), (~which, b)):
        _, _, visits = _engine(variant(pilot_without_calibration, disease=values), replicates)
        rows = (visits["visit_type"] == 1) & (visits["visit_number"] == 6)
        rows &= chosen[visits["row"]]
        at = (visits["row"][rows], visits["patient_id"][rows])
        np.testing.assert_array_equal(got.sledai[at], visits["sledai"][rows])
        np.testing.assert_array_equal(got.proteinuria[at], visits["proteinuria_mg_per_day"][rows])


def test_surrogate_summaries_equal_the_table_statistics(pilot_without_calibration) -> None:  # type: ignore[no-untyped-def]
    """The two code paths — ABC summaries from arrays, validation statistics from the simulated
    tables — agree pilot by pilot."""
    from cohortsim.simulate import simulate_tables

    scenario = variant(pilot_without_calibration,
                       other={"study.n_patients": 19, "cutoff": {"max_follow_up_months": 13.0}})
    specs = (
        SummarySpec("m", "sledai", "mean", 12.0, 12), SummarySpec("s", "sledai", "sd", 12.0, 12),
        SummarySpec("z", "sledai_zero", "count", 12.0, 12),
        SummarySpec("pm", "proteinuria_mg_per_day", "mean", 12.0, 12),
        SummarySpec("ps", "proteinuria_mg_per_day", "sd", 12.0, 12),
        SummarySpec("w", "proteinuria_mg_per_day", "mean", 0.25, 15),
        SummarySpec("f", "proteinuria_fell", "count", 0.25, 15),
    )
    replicates = np.arange(120)
    cohort, course, _ = _engine(scenario, replicates)
    fast = pilot_summaries(cohort, course, specs, ReplicateParameters(scenario, {}))
    tables = simulate_tables(scenario, 5, replicates, engine="vector")
    nominal, _ = visit_schedule(scenario)
    data = pilot_data(tables, 0, len(replicates), 19, nominal)
    targets = targets_from_dict({"targets": [
        {"name": s.name, "quantity": s.quantity, "statistic": s.statistic, "value": 1,
         "n": s.n, "time_months": s.visit_month, "source": "A"} for s in specs]})
    for j, target in enumerate(targets):
        (row,) = statistic_rows(data, target, targets)
        np.testing.assert_allclose(row.values, fast[:, j], rtol=1e-12, equal_nan=True)
    assert np.isfinite(fast).all(axis=1).mean() > 0.9


def test_patients_needed() -> None:
    n = patients_needed(15, 0.05)
    assert stats.binom.cdf(14, n, 0.95) <= 0.01 < stats.binom.cdf(14, n - 1, 0.95)
