"""The scenario keys added for planning: [analysis], [arms.<name>.prior], response_effect."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from cohortsim.scenario import ScenarioError, load_scenario, scenario_from_dict
from cohortsim.scenario.canonical import thaw
from cohortsim.scenario.vary import with_values

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
RCT = SCENARIOS / "rct_msc_vs_soc.toml"
SHIPPED = sorted(SCENARIOS.glob("rct_msc_vs_soc*.toml"))


def _rct(**changes: Any) -> dict[str, Any]:
    raw = tomllib.loads(RCT.read_text())
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return raw


def _load(raw: dict[str, Any]):  # type: ignore[no-untyped-def]
    return scenario_from_dict(raw, source="t.toml", base_dir=SCENARIOS)


def _error(raw: dict[str, Any]) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        _load(raw)
    return info.value


def test_defaults() -> None:
    pilot = load_scenario(SCENARIOS / "liang2010_pilot.toml").analysis
    assert pilot.treatment_arms == () and pilot.control_arm == "msc"
    assert pilot.endpoints == ("sri4", "remission", "time_to_relapse", "sledai_change",
                               "flare_rate")
    reference = load_scenario(SCENARIOS / "reference_logrank.toml").analysis
    assert reference.endpoints == ("time_to_relapse",)
    assert reference.primary == "time_to_relapse"
    assert (reference.control_arm, reference.treatment_arms) == ("control", ("treatment",))
    assert (reference.alpha, reference.sides, reference.confidence) == (0.05, 2, 0.95)
    assert not reference.stratified


def test_confidence_matches_the_test() -> None:
    one = with_values(load_scenario(RCT), {"analysis.sides": 1, "analysis.alpha": 0.025})
    assert one.analysis.confidence == pytest.approx(0.95)


def test_shipped_rct_scenarios() -> None:
    names = {path.stem for path in SHIPPED}
    assert {"rct_msc_vs_soc", "rct_msc_vs_soc_event_driven", "rct_msc_vs_soc_stratified",
            "rct_msc_vs_soc_pessimistic"} <= names
    for path in SHIPPED:
        scenario = load_scenario(path)
        assert scenario.analysis.treatment_arms == ("msc",)
        assert scenario.arms[0].prior, path  # assurance priors for the control arm
        # the resolved tree (without what was derived) loads to the same scenario (the same
        # hash when nothing was included)
        tree = thaw(scenario.resolved)
        included = bool(tree.pop("derived")["includes"])
        again = scenario_from_dict(tree)
        assert again.arms == scenario.arms and again.analysis == scenario.analysis, path
        assert included or again.sha256 == scenario.sha256, path
    stratified = load_scenario(SCENARIOS / "rct_msc_vs_soc_stratified.toml")
    assert stratified.analysis.stratified and stratified.randomisation.strata
    event = load_scenario(SCENARIOS / "rct_msc_vs_soc_event_driven.toml")
    assert event.cutoff.events and event.analysis.interim.information_fractions == (0.5,)


def test_endpoints_default_to_what_can_be_measured() -> None:
    raw = _rct(visits__schedule_months=[1.0, 3.0, 6.0], visits__window_months=0.25)
    del raw["analysis"]
    analysis = _load(raw).analysis
    assert analysis.endpoints == ("time_to_relapse", "flare_rate")
    assert analysis.primary == "time_to_relapse"


@pytest.mark.parametrize(
    ("changes", "key", "text"),
    [
        ({"analysis__primary": "remission", "analysis__endpoints": ["sri4"]},
         "analysis.primary", "expected one of analysis.endpoints"),
        ({"analysis__control_arm": "placebo"}, "analysis.control_arm", "expected one of"),
        ({"analysis__treatment_arms": ["soc"]}, "analysis.treatment_arms", "other than"),
        ({"analysis__stratified": True}, "analysis.stratified", "randomisation.strata"),
        ({"analysis__responder": {"assessment_month": 18.0}}, "analysis.endpoints",
         "no scheduled visit has month 18"),
        ({"cutoff__max_follow_up_months": 12.0}, "analysis.endpoints", "window closes"),
        ({"analysis__interim": {"information_fractions": [0.5], "futility_z": 0.0}},
         "analysis.interim.futility_z", "one-sided"),
        ({"analysis__assurance": {"replicates_per_draw": 10}},
         "analysis.assurance.replicates_per_draw", "divisor of 256"),
        ({"analysis__interim": {"information_fractions": [0.6, 0.4]}},
         "analysis.interim.information_fractions", "increasing"),
    ],
)
def test_analysis_errors(changes: dict[str, Any], key: str, text: str) -> None:
    error = _error(_rct(**changes))
    assert error.key == key, error
    assert text in str(error), error


def test_assessment_endpoints_need_the_lupus_model() -> None:
    raw = tomllib.loads((SCENARIOS / "reference_logrank.toml").read_text())
    raw["analysis"] = {"endpoints": ["time_to_relapse", "sri4"]}
    error = _error(raw)
    assert error.key == "analysis.endpoints" and 'disease.model = "sle"' in str(error)


def test_prior_keys_are_checked() -> None:
    error = _error(_rct(arms__soc__prior={
        "response.probability_complet": {"distribution": "fixed", "value": 0.1}
    }))
    assert error.key == "arms.soc.prior.response.probability_complet"
    assert "did you mean 'response.probability_complete'" in str(error)
    error = _error(_rct(arms__soc__prior={
        "relapse.sledai_increase_min": {"distribution": "fixed", "value": 3.0}
    }))
    assert "real number" in str(error)
    error = _error(_rct(arms__soc__prior={"response": {"distribution": "fixed", "value": 3.0}}))
    assert "dotted key" in str(error)
    error = _error(_rct(arms__soc__prior={
        "relapse.hazard.rate_per_month": {"distribution": "normal", "mean": 0.05}
    }))
    assert "sd" in str(error)


def test_response_effect_difference_and_odds_ratio() -> None:
    raw = _rct()
    raw["arms"]["msc"]["response_effect"] = {"difference": 0.15, "reference_arm": "soc"}
    soc, msc = _load(raw).arms
    assert soc.disease.response.probability_complete == 0.15
    q = msc.disease.response.probability_complete + msc.disease.response.probability_partial
    soc_responds = 0.15 + 0.62  # the shipped SoC arm: complete 0.15, partial 0.62
    assert q == pytest.approx(soc_responds + 0.15)
    # the reference arm's complete : partial split is kept
    assert msc.disease.response.probability_complete / q == pytest.approx(0.15 / soc_responds)
    assert dict(msc.response_effect) == {"difference": 0.15, "reference_arm": "soc"}
    raw["arms"]["msc"]["response_effect"] = {"odds_ratio": 2.0, "reference_arm": "soc"}
    msc = _load(raw).arms[1]
    q = msc.disease.response.probability_complete + msc.disease.response.probability_partial
    assert q / (1 - q) == pytest.approx(2.0 * soc_responds / (1 - soc_responds))


def test_response_effect_errors() -> None:
    raw = _rct()
    raw["arms"]["msc"]["response_effect"] = {"difference": 0.4, "reference_arm": "soc"}
    assert "within [0, 1]" in str(_error(raw))
    raw["arms"]["msc"]["response_effect"] = {"difference": 0.1, "reference_arm": "msc"}
    assert "own reference" in str(_error(raw))
    raw["arms"]["msc"]["response_effect"] = {"difference": 0.1, "odds_ratio": 2.0,
                                             "reference_arm": "soc"}
    assert "give only one of" in str(_error(raw))
    raw["arms"]["msc"]["response_effect"] = {"difference": 0.1, "reference_arm": "soc"}
    raw["arms"]["msc"]["prior"] = {
        "response.probability_complete": {"distribution": "fixed", "value": 0.3}
    }
    assert "response_effect" in str(_error(raw))


def test_response_effect_follows_the_reference_arm() -> None:
    pessimistic = load_scenario(SCENARIOS / "rct_msc_vs_soc_pessimistic.toml")
    varied = with_values(pessimistic, {"arms.soc.disease.response.probability_partial": 0.45})
    soc, msc = varied.arms
    q_soc = soc.disease.response.probability_complete + soc.disease.response.probability_partial
    q_msc = msc.disease.response.probability_complete + msc.disease.response.probability_partial
    assert q_msc == pytest.approx(q_soc + 0.15)


def _leaf_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        path = prefix + key
        if path.startswith("arms.") and path.count(".") == 1:
            path = "arms.<name>"
        leaf = path.endswith(("hazard", "dropout", "death", ".prior")) or (
            path.startswith("arms.<name>.disease")
        )
        if isinstance(value, dict) and not leaf:
            out += _leaf_paths(value, path + ".")
        else:
            out.append(path)
    return out


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_keys_used_by_the_rct_scenarios_are_documented(path: Path) -> None:
    docs = (ROOT / "docs" / "scenarios.md").read_text()
    for key in _leaf_paths(tomllib.loads(path.read_text())):
        if key.startswith("population.manifestation_prevalence."):
            continue
        assert f"`{key}`" in docs, key
