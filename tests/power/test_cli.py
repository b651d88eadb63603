"""``cohortsim power`` in-process: options, outputs, and exit status 2 with one message."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cohortsim.cli import main
from cohortsim.commands.common import UsageError
from cohortsim.commands.power import parse_n_grid

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
REFERENCE = str(SCENARIOS / "reference_logrank.toml")
RCT = str(SCENARIOS / "rct_msc_vs_soc.toml")


def test_parse_n_grid() -> None:
    assert parse_n_grid("40:200:20") == tuple(range(40, 201, 20))
    assert parse_n_grid("40:100:25") == (40, 65, 90)
    assert parse_n_grid("80,60,100,60") == (60, 80, 100)
    assert parse_n_grid("120") == (120,)
    for bad in ("200:40:20", "40:200", "40:200:0", "a,b", "1", "", "40:200:20:1"):
        with pytest.raises(UsageError, match="--n"):
            parse_n_grid(bad)


def test_json_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "power"
    code = main(["power", REFERENCE, "--n", "100,200", "--replicates", "256", "--seed", "3",
                 "--json", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    rows = json.loads(captured.out)
    assert [r["n_total"] for r in rows] == [100, 200]
    for key in ("n_total", "endpoint", "power", "power_mcse", "ci_low", "ci_high", "replicates"):
        assert key in rows[0]
    assert captured.err == ""  # no progress bar when stderr is not a terminal
    for name in ("replicates.parquet", "summary.parquet", "power_curve.png", "report.md"):
        assert (out / name).is_file(), name
    assert not (tmp_path / "power.partial").exists()
    assert pq.read_table(out / "replicates.parquet").num_rows == 2 * 256
    assert pq.read_table(out / "summary.parquet").to_pylist()[1]["power"] == rows[1]["power"]
    report = (out / "report.md").read_text()
    assert "## The answer" in report and "Schoenfeld" in report
    assert "--seed 3" in report


def test_text_output_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["power", RCT, "--n", "40,80", "--replicates", "256", "--seed", "1",
                 "--alpha", "0.1", "--target-power", "0.7"])
    out = capsys.readouterr().out
    assert code == 0
    assert "two-sided alpha 0.1" in out
    assert "primary" in out and "70% power" in out


def test_mcse_option(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["power", REFERENCE, "--n", "200", "--replicates", "256", "--seed", "1",
                 "--mcse", "0.015", "--json"])
    (row,) = json.loads(capsys.readouterr().out)
    assert code == 0
    assert row["power_mcse"] <= 0.015 and row["replicates"] > 256


def test_assurance_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a"
    code = main(["power", RCT, "--n", "60", "--replicates", "256", "--seed", "1",
                 "--assurance", "--json", "--out", str(out)])
    (row,) = [r for r in json.loads(capsys.readouterr().out) if r["primary"]]
    assert code == 0
    assert 0 <= row["assurance"] <= 1 and row["assurance_mcse"] > 0
    assert pq.read_table(out / "assurance_replicates.parquet").num_rows == 256 * 5
    assert pq.read_table(out / "assurance_draws.parquet").num_rows == 256 // 16
    assert "## Assurance" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["power", REFERENCE, "--n", "40:20:5"], "--n"),
        (["power", REFERENCE, "--alpha", "1.5"], "alpha"),
        (["power", REFERENCE, "--mcse", "0"], "mcse"),
        (["power", str(SCENARIOS / "liang2010_pilot.toml")], "one arm"),
        (["power", REFERENCE, "--assurance", "--replicates", "16"], "uncertain parameters"),
        (["power", REFERENCE, "--set", "analysis.primary=sri4"], "analysis.primary"),
        (["power", str(SCENARIOS / "no_such.toml")], "cannot read"),
    ],
)
def test_bad_input_exits_2_with_one_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_existing_out_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["power", REFERENCE, "--replicates", "16", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


def test_workers_started_early_give_the_same_answer(capsys: pytest.CaptureFixture[str]) -> None:
    """--workers 2 starts the spawned worker before the scenario is even read (cli
    _prestart_workers); the JSON is the one of --workers 1, and no worker outlives the run."""
    from cohortsim import executors

    args = ["power", str(REFERENCE), "--n", "60", "--replicates", "768", "--seed", "5", "--json"]
    assert main([*args, "--workers", "1"]) == 0
    one = capsys.readouterr().out
    assert main([*args, "--workers", "2"]) == 0
    assert capsys.readouterr().out == one
    assert executors._prestarted is None


def test_bad_input_with_workers_stops_the_early_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cohortsim import executors

    out = tmp_path / "out"
    code = main(["power", str(REFERENCE), "--set", "study.n_patients=-3", "--workers", "2",
                 "--out", str(out)])
    assert code == 2 and "n_patients" in capsys.readouterr().err
    assert executors._prestarted is None
    assert not out.exists() and not Path(f"{out}.partial").exists()
