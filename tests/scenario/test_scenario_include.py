"""``parameters_from``: the one include."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cohortsim.scenario import ScenarioError, load_scenario

SCENARIO = """
[study]
name = "inc"
n_patients = 10

[accrual]
end_month = 6.0

[disease.response]
probability_complete = 0.3
probability_partial = 0.4

[disease.relapse]
frailty_variance = 0.5

[arms.msc]
parameters_from = "../calibrated/fit.toml"
[arms.msc.disease.relapse]
frailty_variance = 0.0

[arms.soc]
"""

INCLUDED = """
[calibration]              # ignored by the loader
method = "abc"
draws = 4000

[disease.response]
probability_complete = 0.45

[disease.relapse]
hazard = { median_months = 40.0 }
frailty_variance = 0.9
"""


def _setup(tmp_path: Path, scenario: str = SCENARIO, included: str = INCLUDED) -> Path:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "calibrated").mkdir()
    (tmp_path / "calibrated" / "fit.toml").write_text(included)
    path = tmp_path / "scenarios" / "inc.toml"
    path.write_text(scenario)
    return path


def test_include_merges_between_disease_and_the_arm(tmp_path: Path) -> None:
    s = load_scenario(_setup(tmp_path))
    msc, soc = s.arms
    assert msc.disease.response.probability_complete == 0.45  # from the include
    assert msc.disease.response.probability_partial == 0.4  # scenario [disease]
    assert msc.disease.relapse.frailty_variance == 0.0  # the arm's own override wins
    assert dict(msc.disease.relapse.hazard_as_entered) == {"median_months": 40.0}
    assert soc.disease.response.probability_complete == 0.3  # other arms untouched
    assert soc.disease.relapse.frailty_variance == 0.5


def test_include_is_recorded_with_its_hash(tmp_path: Path) -> None:
    path = _setup(tmp_path)
    s = load_scenario(path)
    data = (tmp_path / "calibrated" / "fit.toml").read_bytes()
    assert s.resolved["derived"]["includes"]["msc"] == {
        "path": "../calibrated/fit.toml",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert "parameters_from" not in s.resolved["arms"]["msc"]
    (tmp_path / "calibrated" / "fit.toml").write_text(INCLUDED + "\n# edited\n")
    assert load_scenario(path).sha256 != s.sha256


def test_errors_inside_the_include_name_the_included_file(tmp_path: Path) -> None:
    misspelt = INCLUDED.replace("probability_complete", "probability_complet")
    path = _setup(tmp_path, included=misspelt)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    error = info.value
    assert Path(error.source) == tmp_path / "calibrated" / "fit.toml"
    assert error.key == "disease.response.probability_complet"
    assert "did you mean 'probability_complete'" in str(error)


def test_toml_errors_inside_the_include_name_it(tmp_path: Path) -> None:
    path = _setup(tmp_path, included="[disease\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert Path(info.value.source) == tmp_path / "calibrated" / "fit.toml"
    assert info.value.line == 1


def test_wrong_values_inside_the_include_name_it(tmp_path: Path) -> None:
    path = _setup(tmp_path, included="[disease.relapse]\nfrailty_variance = -1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert Path(info.value.source) == tmp_path / "calibrated" / "fit.toml"
    assert info.value.key == "disease.relapse.frailty_variance"


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("../calibrated/none.toml", "expected an existing .toml file"),
        ("../calibrated/fit.json", "expected a path to a .toml file"),
        ("../calibrated", "expected a path to a .toml file"),
    ],
)
def test_bad_include_paths(tmp_path: Path, target: str, fragment: str) -> None:
    path = _setup(tmp_path, scenario=SCENARIO.replace("../calibrated/fit.toml", target))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.source == str(path)
    assert info.value.key == "arms.msc.parameters_from"
    assert fragment in str(info.value)


def test_include_needs_a_disease_table(tmp_path: Path) -> None:
    path = _setup(tmp_path, included="[calibration]\nmethod = 'abc'\n")
    with pytest.raises(ScenarioError, match=r"expected a \[disease\] table"):
        load_scenario(path)
