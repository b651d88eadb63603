"""``cohortsim calibrate`` → ``cohortsim validate`` end to end, in-process (fast settings), the
shipped calibration passing validation, and validate's exit status."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from calibration_paths import PILOT, SEED, TARGETS

from cohortsim.calibration import read_posterior
from cohortsim.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def _scenario_using(tmp_path: Path, calibrated: Path) -> Path:
    text = PILOT.read_text(encoding="utf-8").replace(
        'parameters_from = "calibrated/liang2010_msc.toml"', f'parameters_from = "{calibrated}"')
    path = tmp_path / "pilot.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def quick_calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("calibrated") / "quick.toml"
    code = main(["calibrate", str(PILOT), "--targets", str(TARGETS), "--out", str(out),
                 "--seed", "7", "--draws", "400", "--simulations", "12800"])
    assert code == 0
    return out


def test_calibrate_writes_the_documented_file(quick_calibration: Path) -> None:
    tree = tomllib.loads(quick_calibration.read_text(encoding="utf-8"))
    assert set(tree) == {"calibration", "disease", "posterior"}
    assert tree["calibration"]["seed"] == 7
    assert tree["calibration"]["command"].endswith("--seed 7 --draws 400 --simulations 12800")
    posterior = read_posterior(quick_calibration)
    # 18 calibrated parameters less the negative-binomial size: the pilot scores SLEDAI-2K
    # binomially, which has no free spread.
    assert posterior.draws.shape == (400, 17)
    assert "sledai.visit_dispersion" not in posterior.parameters
    assert tree["disease"]["sledai"]["visit_distribution"] == "binomial"
    assert posterior.parameters[0] == "response.probability_complete"
    assert "relapse.hazard.rate_per_month" in posterior.parameters
    assert np.all(posterior.column("relapse.hazard.rate_per_month") > 0)
    complete = posterior.column("response.probability_complete")
    partial = posterior.column("response.probability_partial")
    assert np.all((complete >= 0) & (partial >= 0) & (complete + partial <= 1))
    used = tree["calibration"]["targets_used"]
    assert used["relapse_times"].startswith("relapse")
    assert used["sledai_12m_zero"].startswith("abc")
    assert used["serositis_resolved"].startswith("validation: n not reported")


def test_calibrate_then_validate(tmp_path: Path, quick_calibration: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _scenario_using(tmp_path, quick_calibration)
    out = tmp_path / "validation"
    capsys.readouterr()
    code = main(["validate", str(scenario), "--replicates", "200", "--out", str(out),
                 "--seed", "3"])
    printed = capsys.readouterr().out
    table = pq.read_table(out / "validation.parquet")
    assert table.column_names == [
        "target", "description", "source", "reported", "simulated_median", "lower_95",
        "upper_95", "inside", "probability_exact", "reported_quantile", "pilots"]
    assert table.num_rows == 37  # 36 targets, the two relapse times as two rows
    rows = {r["target"]: r for r in table.to_pylist()}
    assert rows["relapse_count"]["reported"] == 2
    assert rows["sledai_12m_zero"]["reported"] == 4
    failures = [r for r in rows.values() if "A" in r["source"] and not r["inside"]]
    assert code == (1 if failures else 0)
    markdown = (out / "validation.md").read_text(encoding="utf-8")
    assert all(f"| {name} |" in markdown for name in rows)
    for figure in ("relapse_free.png", "sledai.png", "proteinuria.png"):
        assert (out / figure).read_bytes().startswith(PNG)
    assert "sledai_12m_mean" in printed


def test_validate_exits_1_when_an_abstract_figure_is_outside(
    tmp_path: Path, quick_calibration: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _scenario_using(tmp_path, quick_calibration)
    targets = tmp_path / "targets.toml"
    targets.write_text(TARGETS.read_text(encoding="utf-8").replace(
        'name = "sledai_12m_mean"\nquantity = "sledai"\nstatistic = "mean"\nvalue = 3.2',
        'name = "sledai_12m_mean"\nquantity = "sledai"\nstatistic = "mean"\nvalue = 30.2'))
    code = main(["validate", str(scenario), "--targets", str(targets), "--replicates", "80"])
    captured = capsys.readouterr()
    assert code == 1
    assert "outside (abstract): sledai_12m_mean" in captured.err
    assert "SHA-256 mismatch" in captured.err


def test_shipped_calibration_passes_validation(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(PILOT), "--replicates", "1000", "--seed", str(SEED)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "0 abstract [A] figures outside" in printed
