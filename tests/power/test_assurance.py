"""Assurance: per-replicate parameters without changing the engines, posterior and prior draws,
and the cluster-aware Monte Carlo error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cohortsim.cohort import LatentCohort
from cohortsim.engine import simulate_course_des, simulate_course_vector
from cohortsim.power import PowerSettings, run_power
from cohortsim.power.assurance import (
    AssuranceCohort,
    assurance_design,
    cluster_mcse,
    draw_parameter_sets,
    read_posterior,
)
from cohortsim.scenario import ScenarioError, load_scenario
from cohortsim.scenario.vary import with_values

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "scenarios" / "reference_logrank.toml"
RCT = ROOT / "scenarios" / "rct_msc_vs_soc.toml"
DATA = Path(__file__).resolve().parent / "data"


_TREATMENT = """[arms.treatment]
label = "Treatment"
allocation = 1

[arms.treatment.disease.relapse]
hazard = { hazard_ratio = 0.5, reference_arm = "control" }  # halves the control hazard
"""


def _with_posterior(where: Path, extra: str = "", posterior: str | None = None):  # type: ignore[no-untyped-def]
    """The reference scenario, its treatment arm taking parameters from a posterior file, written
    to ``where`` (includes are relative to the scenario file)."""
    text = REFERENCE.read_text()
    assert _TREATMENT in text
    arm = '[arms.treatment]\nlabel = "Treatment"\nparameters_from = "posterior_treatment.toml"\n'
    (where / "scenario.toml").write_text(text.replace(_TREATMENT, arm + extra))
    source = DATA / "posterior_treatment.toml"
    (where / "posterior_treatment.toml").write_text(
        source.read_text() if posterior is None else posterior
    )
    return load_scenario(where / "scenario.toml")


@pytest.mark.parametrize("engine", [simulate_course_vector, simulate_course_des])
def test_virtual_arms_with_the_base_parameters_change_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario(RCT)
    replicates = np.arange(250, 260)
    plain = LatentCohort(scenario, 6, replicates, n_patients=30)
    sets = np.array([0, 0, 1, 1, 2, 2, 0, 1, 2, 0])
    virtual = AssuranceCohort(
        scenario, (scenario,) * 3, sets, 6, replicates, 30, plain.n_flares
    )
    np.testing.assert_array_equal(virtual.real_arm, plain.arm)
    np.testing.assert_array_equal(virtual.arm, sets[:, None] * 2 + plain.arm)
    assert engine(virtual).differences(engine(plain)) == []


def test_each_replicate_uses_its_own_parameter_set() -> None:
    scenario = load_scenario(REFERENCE)
    never = with_values(scenario, {"arms.control.disease.relapse.hazard": {"rate_per_month": 0.0}})
    often = with_values(scenario, {"arms.control.disease.relapse.hazard": {"rate_per_month": 2.0}})
    sets = np.repeat([0, 1], 8)
    cohort = AssuranceCohort(scenario, (never, often), sets, 1, np.arange(16), 100, 1)
    course = simulate_course_vector(cohort)
    control = cohort.real_arm == 0
    events = np.isfinite(course.flare_onset[..., 0]) & control
    assert not events[sets == 0].any()  # rate 0 in set 0 (and HR × 0 in treatment)
    assert events[sets == 1].sum() > 0.5 * control[sets == 1].sum()


def test_fixed_prior_gives_assurance_equal_to_power() -> None:
    scenario = with_values(
        load_scenario(REFERENCE),
        {"arms.treatment.prior": {
            "relapse.hazard.hazard_ratio": {"distribution": "fixed", "value": 0.5}
        }},
    )
    result = run_power(scenario, PowerSettings((120, 200), 512, 4, assurance=True))
    for row in result.rows:
        assert row["assurance"] == row["power"]
    assert result.draws["arms.treatment.disease.relapse.hazard.hazard_ratio"].tolist() == [0.5] * 32


def test_posterior_draws_are_rows_of_the_posterior(tmp_path: Path) -> None:
    scenario = _with_posterior(tmp_path)
    posterior = read_posterior(scenario, "treatment")
    assert posterior is not None and posterior.parameters == ("relapse.hazard.hazard_ratio",)
    design = assurance_design(scenario)
    assert [p.source.startswith("posterior") for p in design.parameters] == [True]
    sets = draw_parameter_sets(design, 3, 0)
    assert len(sets.scenarios) == 256 // 16
    drawn = [v["arms.treatment.disease.relapse.hazard.hazard_ratio"] for v in sets.values]
    assert set(drawn) <= {0.35, 0.5, 0.65, 0.8} and len(set(drawn)) > 1
    for values, variant in zip(sets.values, sets.scenarios, strict=True):
        hr = values["arms.treatment.disease.relapse.hazard.hazard_ratio"]
        control, treatment = variant.arms
        ratio = treatment.disease.relapse.hazard.rates_per_month[0] / (
            control.disease.relapse.hazard.rates_per_month[0]
        )
        assert ratio == pytest.approx(hr)
    # the same draws at every call (a function of seed and block only)
    again = draw_parameter_sets(design, 3, 0)
    assert again.values == sets.values


def test_posterior_wins_over_a_prior_on_the_same_key(tmp_path: Path) -> None:
    prior = (
        '[arms.treatment.prior]\n'
        '"relapse.hazard.hazard_ratio" = { distribution = "fixed", value = 9.0 }\n'
    )
    design = assurance_design(_with_posterior(tmp_path, prior))
    assert len(design.parameters) == 1 and design.parameters[0].source.startswith("posterior")


def test_assurance_is_below_power_when_the_effect_is_uncertain(tmp_path: Path) -> None:
    result = run_power(_with_posterior(tmp_path), PowerSettings((200,), 2048, 5, assurance=True))
    (row,) = result.rows
    # posterior HR spread 0.35-0.8: assurance averages power over it, and drops well below the
    # power at HR 0.5 (≈ 0.79); its SE is over 128 draws, not 2048 replicates
    assert row["assurance"] < row["power"] - 3 * row["assurance_mcse"]
    assert row["assurance_mcse"] > row["power_mcse"]
    assert row["assurance_draws"] == 2048 // 16


def test_bad_posteriors_are_scenario_errors(tmp_path: Path) -> None:
    good = (DATA / "posterior_treatment.toml").read_text()
    for text, message in [
        (good.replace("[[0.35], [0.5], [0.65], [0.8]]", "[[0.35, 1.0]]"), "hold 1 values"),
        (good.replace('["relapse.hazard.hazard_ratio"]', '["relapse.hazard.hazard_rate"]'),
         "not a number"),
        (good.replace("[[0.35], [0.5], [0.65], [0.8]]", "[]"), "at least one row"),
    ]:
        scenario = _with_posterior(tmp_path, posterior=text)
        with pytest.raises(ScenarioError, match=message):
            assurance_design(scenario)
    scenario = _with_posterior(tmp_path)
    (tmp_path / "posterior_treatment.toml").write_text(good + "\n# edited\n")
    with pytest.raises(ScenarioError, match="changed since"):
        assurance_design(scenario)


def test_invalid_draws_are_drawn_again() -> None:
    scenario = with_values(
        load_scenario(RCT),
        {"arms.soc.prior": {
            "response.probability_complete": {"distribution": "uniform", "min": 0.2, "max": 0.7}
        }},
    )
    design = assurance_design(scenario)
    sets = draw_parameter_sets(design, 1, 0)
    assert sets.rejected > 0  # complete + partial (0.55) > 1 for draws above 0.45
    for variant in sets.scenarios:
        soc = variant.arms[0].disease.response
        assert soc.probability_complete + soc.probability_partial <= 1.0


def test_no_uncertain_parameters_is_an_error() -> None:
    with pytest.raises(ValueError, match="uncertain parameters"):
        assurance_design(load_scenario(REFERENCE))


def test_cluster_mcse_equal_clusters() -> None:
    rng = np.random.default_rng(1)
    counts = np.full(40, 16)
    successes = rng.binomial(16, rng.uniform(0.2, 0.9, 40))
    expected = np.std(successes / 16, ddof=1) / np.sqrt(40)  # SE of a mean of cluster means
    assert cluster_mcse(successes, counts) == pytest.approx(expected)
    assert np.isnan(cluster_mcse(successes[:1], counts[:1]))


def test_the_calibrated_posterior_of_the_shipped_trial() -> None:
    scenario = load_scenario(RCT)
    design = assurance_design(scenario)
    (posterior,) = design.posteriors
    assert posterior.arm == "msc" and posterior.skipped == ()
    assert "response.probability_complete" in posterior.parameters
    sets = draw_parameter_sets(design, 2, 0)
    for values, variant in zip(sets.values, sets.scenarios, strict=True):
        msc = variant.arms[1].disease
        assert msc.response.probability_complete == values[
            "arms.msc.disease.response.probability_complete"
        ]
        assert msc.relapse.hazard.rates_per_month[0] == values[
            "arms.msc.disease.relapse.hazard.rate_per_month"
        ]


def test_a_posterior_parameter_the_scenario_overrides_is_not_drawn() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "rct_msc_vs_soc_event_driven.toml")
    design = assurance_design(scenario)
    (posterior,) = design.posteriors
    assert posterior.skipped == ("relapse.hazard.rate_per_month",)
    sources = {(p.arm, p.key): p.source for p in design.parameters}
    assert sources[("msc", "relapse.hazard.hazard_ratio")] == "prior"
    sets = draw_parameter_sets(design, 2, 0)
    for variant in sets.scenarios:
        soc, msc = variant.arms
        ratio = msc.disease.relapse.hazard.rates_per_month[0] / (
            soc.disease.relapse.hazard.rates_per_month[0]
        )
        assert ratio != pytest.approx(0.5)  # drawn from the prior, relative to the drawn SoC
