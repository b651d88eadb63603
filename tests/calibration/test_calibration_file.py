"""The calibrated parameter file: TOML writer, reader, the shipped file and its use by the pilot
scenario, and regeneration with the same seed."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from calibration_paths import CALIBRATED, PILOT, SEED, TARGETS

from cohortsim.calibration import (
    CalibrationFileError,
    CalibrationSettings,
    calibrate,
    read_posterior,
    variant,
    without_calibration,
)
from cohortsim.calibration.posterior import calibrated_file_text, nest, toml_text
from cohortsim.scenario import load_scenario


def test_toml_writer_round_trip() -> None:
    tree = {
        "a": {"x": 1, "y": [1.5, 2.0], "inline": {"k": 0.123456789}, "s": 'quote " and \\',
              "long": {f"key{i}": "a value long enough to need its own section" for i in range(4)}},
        "b": {"matrix": [[1.0, 2.0], [3.0, 4.25e-7]], "flag": True},
        "dotted": {"response.probability_complete": {"median": 0.25}},
    }
    parsed = tomllib.loads(toml_text(tree))
    assert parsed["a"]["inline"]["k"] == 0.123457  # 6 significant digits
    assert parsed["a"]["s"] == 'quote " and \\'
    assert parsed["a"]["long"]["key3"].startswith("a value")
    assert parsed["b"]["matrix"] == [[1.0, 2.0], [3.0, 4.25e-7]]
    assert parsed["dotted"]["response.probability_complete"]["median"] == 0.25
    assert nest({"a.b": 1, "a.c.d": 2}) == {"a": {"b": 1, "c": {"d": 2}}}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[disease]\n", "posterior"),
        ("[posterior]\nparameters = []\ndraws = [[1.0]]\n", "posterior.parameters"),
        ('[posterior]\nparameters = ["a", "b"]\ndraws = [[1.0, 2.0], [1.0]]\n',
         "posterior.draws[1]"),
        ('[posterior]\nparameters = ["a"]\ndraws = [["x"]]\n', "posterior.draws[0]"),
    ],
)
def test_reader_rejects_bad_layouts(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(CalibrationFileError) as caught:
        read_posterior(path)
    assert caught.value.key == key
    assert caught.value.source == str(path)


def test_shipped_file_layout() -> None:
    posterior = read_posterior(CALIBRATED)
    tree = tomllib.loads(CALIBRATED.read_text(encoding="utf-8"))
    calibration = tree["calibration"]
    assert calibration["seed"] == SEED
    assert calibration["targets"] == "../targets/liang2010.toml"
    assert calibration["scenario"] == "../liang2010_pilot.toml"
    assert set(calibration["identified"]) | set(calibration["unidentified"]) == set(
        posterior.parameters)
    assert "relapse.hazard.rate_per_month" in calibration["identified"]
    assert "relapse.frailty_variance" in calibration["unidentified"]
    assert 1000 <= len(posterior) <= 4000
    assert posterior.draws.shape == (len(posterior), len(posterior.parameters))
    assert posterior.design_draws.shape == (len(posterior), 3)
    # [disease], in the scenario's disease layout: for the ABC block the centre of the
    # best-fitting draws (inside the posterior's range, its own fit recorded), the posterior
    # medians for the other blocks; and the visit distribution the posterior is conditional on.
    blocks = {k: v["block"] for k, v in calibration["parameters"].items()}
    abc_keys = [k for k in posterior.parameters if blocks[k] == "ABC"]
    assert "response.probability_complete" in abc_keys

    def point(key: str) -> float:
        node = tree["disease"]
        for part in key.split("."):
            node = node[part]
        return float(node)

    for key in posterior.parameters:
        column = posterior.column(key)
        if blocks[key] == "ABC":
            assert column.min() <= point(key) <= column.max(), key
        else:
            assert point(key) == pytest.approx(np.median(column), rel=1e-5), key
    complete = point("response.probability_complete")
    assert complete >= 0 and complete + point("response.probability_partial") <= 1
    assert tree["disease"]["sledai"] == {"visit_distribution": "binomial"}
    fit = calibration["diagnostics"]["point"]
    assert fit["check_pilots"] >= 1000 and fit["near_best"] >= 8
    assert set(fit["expected_summaries"]) == set(calibration["diagnostics"]["abc"]["summaries"])
    rate = np.median(posterior.column("relapse.hazard.rate_per_month"))
    assert tree["disease"]["relapse"]["hazard"] == {
        "rate_per_month": pytest.approx(rate, rel=1e-5)}
    # the targets file it was calibrated to is the shipped one
    import hashlib

    assert calibration["targets_sha256"] == hashlib.sha256(TARGETS.read_bytes()).hexdigest()


def test_pilot_scenario_uses_the_calibrated_file() -> None:
    scenario = load_scenario(PILOT)
    include = scenario.resolved["derived"]["includes"]["msc"]
    assert include["path"] == "calibrated/liang2010_msc.toml"
    posterior = read_posterior(CALIBRATED)
    disease = scenario.arms[0].disease
    assert disease.response.probability_complete == posterior.disease["response"][
        "probability_complete"]
    assert disease.relapse.hazard.rates_per_month == (
        posterior.disease["relapse"]["hazard"]["rate_per_month"],)
    # keys the calibration does not touch keep the scenario's stated values
    assert disease.relapse.untreated_resolution_months == 6.0
    # every posterior row is a valid scenario
    for row in (0, len(posterior) - 1):
        varied = variant(scenario, disease=posterior.disease_values(row),
                         design=posterior.design_values(row))
        assert varied.arms[0].disease.response.probability_partial == pytest.approx(
            posterior.disease_values(row)["response.probability_partial"])


def test_calibration_is_reproducible_with_a_seed(pilot_without_calibration, pilot_targets) -> None:  # type: ignore[no-untyped-def]
    settings = CalibrationSettings(n_draws=300, abc_simulations=6400,
                                   reconstruction_simulations=25_600, reconstruction_draws=100)
    first = calibrate(pilot_without_calibration, pilot_targets, 1, settings)
    again = calibrate(pilot_without_calibration, pilot_targets, 1,
                      CalibrationSettings(**{**vars(settings), "workers": 2}))
    other = calibrate(pilot_without_calibration, pilot_targets, 2, settings)
    np.testing.assert_array_equal(first.draws, again.draws)
    np.testing.assert_array_equal(first.design_draws, again.design_draws)
    assert first.parameters == again.parameters
    assert not np.array_equal(first.draws, other.draws)


def test_shipped_file_regenerates_with_its_seed() -> None:
    """Recalibrating with the recorded seed and settings rewrites the committed file (numbers to
    their written precision, 6 significant digits). Fails when a change to the model or engine
    makes the committed file stale."""
    shipped = tomllib.loads(CALIBRATED.read_text(encoding="utf-8"))
    settings = CalibrationSettings(**shipped["calibration"]["settings"], workers=2)
    scenario = without_calibration(PILOT)
    from cohortsim.calibration import load_targets

    targets = load_targets(TARGETS)
    result = calibrate(scenario, targets, shipped["calibration"]["seed"], settings)
    out = CALIBRATED  # the same relative paths as the shipped file
    text = calibrated_file_text(result, scenario.sha256, PILOT, targets, out,
                                shipped["calibration"]["command"])
    fresh = tomllib.loads(text)
    try:
        _assert_same(fresh, shipped)
    except AssertionError as error:
        pytest.fail(f"{CALIBRATED} is stale (the code now calibrates differently); regenerate "
                    f"it with\n  {shipped['calibration']['command']}\n{error}")


def _assert_same(a, b, path: str = "") -> None:  # type: ignore[no-untyped-def]
    assert type(a) is type(b) or {type(a), type(b)} <= {int, float}, path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        if a and isinstance(a[0], list | float | int) and not isinstance(a[0], bool):
            np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=2e-6,
                                       atol=0, err_msg=path)
        else:
            assert a == b, path
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=2e-6), path
    else:
        assert a == b, path
