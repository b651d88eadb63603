"""``cohortsim simulate`` end to end: in-process through ``cohortsim.cli.main`` and as a real
subprocess (``python -m cohortsim``), including a run killed with SIGKILL and resumed.

Exit status 2 means bad input: one message on stderr, nothing written (neither OUT nor
OUT.partial).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cohortsim import __version__
from cohortsim.cli import main
from cohortsim.io import datasets_equal, read_manifest, staging_path
from cohortsim.scenario import canonical_json, load_scenario, scenario_from_dict
from cohortsim.tables import TABLE_NAMES, read_provenance

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
PILOT = SCENARIO_DIR / "liang2010_pilot.toml"
PILOT_SEED = 20100723


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["simulate", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_bad_input(code: int, out: str, err: str, target: Path) -> list[str]:
    """Exit 2, one message on stderr, nothing on stdout, nothing written."""
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert out == ""
    assert not os.path.lexists(target)
    assert not os.path.lexists(staging_path(target))
    return lines


def parquet_rows(directory: Path, table: str) -> int:
    return sum(pq.read_metadata(f).num_rows for f in sorted((directory / table).glob("*.parquet")))


def scenario_copy(tmp_path: Path, transform) -> Path:  # type: ignore[no-untyped-def]
    """The pilot, changed by ``transform``, written to ``tmp_path`` (its includes made absolute,
    so that they still resolve from there)."""
    text = re.sub(
        r'(?m)^(\s*parameters_from\s*=\s*)"([^"]+)"',
        lambda m: f'{m[1]}"{(PILOT.parent / m[2]).resolve().as_posix()}"',
        PILOT.read_text(encoding="utf-8"),
    )
    changed = transform(text)
    assert changed != text, "the transformation did not apply"
    path = tmp_path / "scenario.toml"
    path.write_text(changed, encoding="utf-8")
    return path


# -- a successful run ----------------------------------------------------------------------------
def test_simulate_the_pilot(tmp_path: Path, capsys) -> None:
    out = tmp_path / "pilot"
    code, stdout, stderr = run(capsys, PILOT, "--replicates", 4, "--out", out)
    assert code == 0, stderr
    assert stderr == ""
    assert "liang2010_pilot: 4 trials x 15 patients, seed 20100723, engine des" in stdout

    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *TABLE_NAMES])
    assert not staging_path(out).exists()
    manifest = read_manifest(out)
    scenario = load_scenario(PILOT)

    # the resolved scenario, its hash and the seed
    assert manifest["format"] == "cohortsim-dataset"
    assert manifest["scenario"] == json.loads(canonical_json(scenario))
    assert manifest["scenario_sha256"] == scenario.sha256
    assert manifest["identity"]["scenario_sha256"] == scenario.sha256
    digest = hashlib.sha256(canonical_json(manifest["scenario"]).encode("ascii")).hexdigest()
    assert digest == scenario.sha256  # the stored tree is exactly what was hashed
    if not manifest["scenario"]["derived"].get("includes"):  # and it reloads as itself
        stored = {k: v for k, v in manifest["scenario"].items() if k != "derived"}
        assert scenario_from_dict(stored).sha256 == scenario.sha256
    assert manifest["seed_entropy"] == str(PILOT_SEED)
    assert manifest["identity"]["seed_entropy"] == str(PILOT_SEED)
    assert manifest["engine"] == manifest["identity"]["engine"] == "des"
    assert manifest["replicates"] == manifest["identity"]["n_replicates"] == 4

    # package versions
    import numpy
    import pyarrow
    import scipy

    versions = manifest["package_versions"]
    assert versions["cohortsim"] == __version__ == manifest["cohortsim_version"]
    assert versions["numpy"] == numpy.__version__
    assert versions["scipy"] == scipy.__version__
    assert versions["pyarrow"] == pyarrow.__version__
    assert {"python", "simpy"} <= set(versions)

    # row counts: manifest = files = stdout
    for table in TABLE_NAMES:
        rows = manifest["tables"][table]["rows"]
        assert rows == parquet_rows(out, table) > 0, table
        assert re.search(rf"{table}\s+{rows:,} rows", stdout), (table, stdout)
        files = manifest["tables"][table]["files"]
        assert files and all((out / f).is_file() for f in files)
        meta = read_provenance(pq.read_schema(out / files[0]))
        assert meta["scenario_sha256"] == scenario.sha256
        assert meta["seed_entropy"] == str(PILOT_SEED)
    assert manifest["tables"]["patients"]["rows"] == 4 * 15
    assert manifest["tables"]["trials"]["rows"] == 4


def test_set_changes_the_stored_scenario(tmp_path: Path, capsys) -> None:
    overrides = ["study.n_patients=20", "cutoff.max_follow_up_months=12.0"]
    out = tmp_path / "set"
    code, stdout, stderr = run(
        capsys, PILOT, "--set", overrides[0], "--set", overrides[1], "--replicates", 3, "--out", out
    )
    assert code == 0, stderr
    manifest = read_manifest(out)
    assert manifest["scenario"]["study"]["n_patients"] == 20
    assert manifest["scenario"]["cutoff"]["max_follow_up_months"] == 12.0
    assert manifest["n_patients_per_trial"] == 20
    assert manifest["scenario_sha256"] == load_scenario(PILOT, overrides).sha256
    assert manifest["scenario_sha256"] != load_scenario(PILOT).sha256
    assert manifest["tables"]["patients"]["rows"] == 3 * 20
    assert "3 trials x 20 patients" in stdout


def test_a_missing_seed_is_generated_printed_and_recorded(tmp_path: Path, capsys) -> None:
    scenario = scenario_copy(tmp_path, lambda t: re.sub(r"(?m)^seed = .*$", "", t))
    assert load_scenario(scenario).simulation.seed is None
    out = tmp_path / "fresh"
    code, _, stderr = run(capsys, scenario, "--replicates", 2, "--out", out)
    assert code == 0, stderr
    match = re.fullmatch(r"seed: (\d+) \(generated; pass --seed \1 to reproduce\)\n", stderr)
    assert match, stderr
    seed = match[1]
    manifest = read_manifest(out)
    assert manifest["seed_entropy"] == manifest["identity"]["seed_entropy"] == seed
    files = manifest["tables"]["patients"]["files"]
    assert read_provenance(pq.read_schema(out / files[0]))["seed_entropy"] == seed
    # the printed seed reproduces the run
    again = tmp_path / "again"
    code, _, stderr = run(capsys, scenario, "--replicates", 2, "--seed", seed, "--out", again)
    assert code == 0 and stderr == ""
    assert datasets_equal(out, again) == []
    # and a second fresh seed is another one
    other = tmp_path / "other"
    code, _, stderr = run(capsys, scenario, "--replicates", 2, "--out", other)
    assert code == 0
    assert re.match(r"seed: (\d+)", stderr)[1] != seed


# -- bad input: exit 2, one message, nothing written -----------------------------------------------
@pytest.mark.parametrize(
    ("case", "transform", "key"),
    [
        (
            "misspelt key",
            lambda t: t.replace("n_patients = 15 ", "n_patiens = 15 ", 1),
            "study.n_patiens",
        ),
        (
            "negative rate",
            lambda t: t.replace("rates_per_month = [0.05, 0.0]", "rates_per_month = [-0.05, 0.0]"),
            "dropout.rates_per_month",
        ),
        (
            "negative hazard",
            lambda t: t.replace(
                "hazard = { rate_per_month = 0.0078 }", "hazard = { rate_per_month = -0.0078 }"
            ),
            "disease.relapse.hazard",
        ),
    ],
)
def test_an_invalid_scenario_is_refused(tmp_path: Path, capsys, case, transform, key) -> None:
    scenario = scenario_copy(tmp_path, transform)
    out = tmp_path / "out"
    (line,) = assert_bad_input(*run(capsys, scenario, "--out", out), out)
    assert str(scenario.name) in line and key in line, line


def test_an_invalid_override_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    (line,) = assert_bad_input(
        *run(capsys, PILOT, "--set", "death.rate_per_month=-1", "--out", out), out
    )
    assert "death.rate_per_month" in line and "--set" in line


@pytest.mark.parametrize(
    "options",
    [
        ["--replicates", "0"],
        ["--workers", "x"],
        ["--workers", "0"],
        ["--seed", "-1"],
        ["--shard-size", "0"],
        ["--engine", "warp"],
        ["--set", "study.n_patients"],
        ["--no-such-option"],
    ],
    ids=lambda o: " ".join(o),
)
def test_bad_option_values(tmp_path: Path, capsys, options: list[str]) -> None:
    out = tmp_path / "out"
    (line,) = assert_bad_input(*run(capsys, PILOT, "--out", out, *options), out)
    assert options[0] in line


def test_a_missing_scenario_file_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    (line,) = assert_bad_input(*run(capsys, tmp_path / "nope.toml", "--out", out), out)
    assert "nope.toml" in line


# -- existing output directories -----------------------------------------------------------------
def test_an_existing_out_is_not_touched_without_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, stdout, stderr = run(capsys, PILOT, "--replicates", 2, "--out", out)
    assert code == 2 and stdout == ""
    assert "--overwrite" in stderr and str(out) in stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"
    assert not staging_path(out).exists()

    # an earlier cohortsim output is not replaced either
    done = tmp_path / "done"
    assert run(capsys, PILOT, "--replicates", 2, "--out", done)[0] == 0
    before = (done / "manifest.json").read_bytes()
    code, _, stderr = run(capsys, PILOT, "--replicates", 3, "--seed", 5, "--out", done)
    assert code == 2 and "--overwrite" in stderr
    assert (done / "manifest.json").read_bytes() == before
    assert not staging_path(done).exists()


def test_overwrite_replaces_a_previous_output(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert run(capsys, PILOT, "--replicates", 2, "--seed", 1, "--out", out)[0] == 0
    code, _, stderr = run(
        capsys, PILOT, "--replicates", 3, "--seed", 2, "--out", out, "--overwrite"
    )
    assert code == 0, stderr
    manifest = read_manifest(out)
    assert manifest["seed_entropy"] == "2"
    assert manifest["tables"]["trials"]["rows"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .partial, no .replaced-*


def test_overwrite_refuses_a_directory_that_is_not_an_output(tmp_path: Path, capsys) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("do not delete")
    code, _, stderr = run(capsys, PILOT, "--replicates", 2, "--out", out, "--overwrite")
    assert code == 2
    assert "not a cohortsim output" in stderr or str(out) in stderr, stderr
    assert (out / "thesis.tex").read_text() == "do not delete"
    assert not staging_path(out).exists()


# -- as a real process ---------------------------------------------------------------------------
def _command(out: Path, *extra: object) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cohortsim",
        "simulate",
        str(PILOT),
        "--out",
        str(out),
        *(str(e) for e in extra),
    ]


def test_python_dash_m_cohortsim(tmp_path: Path) -> None:
    out = tmp_path / "proc"
    done = subprocess.run(
        _command(out, "--replicates", 3),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "liang2010_pilot: 3 trials x 15 patients" in done.stdout
    assert read_manifest(out)["tables"]["patients"]["rows"] == 45
    bad = subprocess.run(
        _command(out, "--replicates", 0),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("error:") == 1


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_run_resumes_to_the_same_dataset(tmp_path: Path, capsys) -> None:
    """Kill a real run (SIGKILL: no clean-up) once its first shard is complete; nothing may look
    complete; the same command then reuses the finished shards and the result equals an
    uninterrupted run; a different seed is refused while the unfinished run is there."""
    out = tmp_path / "out"
    args = ["--replicates", 1500, "--shard-size", 50, "--seed", 11]  # 30 shards, a few seconds
    process = subprocess.Popen(
        _command(out, *args), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    markers = staging_path(out) / "_shards"
    deadline = time.monotonic() + 120
    try:
        while not (markers.is_dir() and any(markers.glob("*.json"))):
            assert process.poll() is None, "the run ended before its first shard was marked"
            assert time.monotonic() < deadline, "no shard marker appeared"
            time.sleep(0.002)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    done = sorted(markers.glob("*.json"))
    assert 1 <= len(done) < 30, f"{len(done)} shards complete when killed"
    assert not out.exists(), "an interrupted run must not look complete"
    assert (staging_path(out) / "run.json").is_file()

    # another seed into the same OUT is refused while the unfinished run is there
    code, stdout, stderr = run(
        capsys, PILOT, "--out", out, "--replicates", 1500, "--shard-size", 50, "--seed", 12
    )
    assert code == 2 and stdout == ""
    assert "seed_entropy" in stderr, stderr
    assert sorted(markers.glob("*.json")) == done
    assert not out.exists()

    # the same command resumes
    code, stdout, stderr = run(capsys, PILOT, "--out", out, *args)
    assert code == 0, stderr
    assert f"{len(done)} reused from an interrupted run" in stdout, stdout
    assert f"({30 - len(done)} shards," in stdout, stdout
    assert not staging_path(out).exists()

    reference = tmp_path / "reference"
    code, _, stderr = run(capsys, PILOT, "--out", reference, *args)
    assert code == 0, stderr
    assert datasets_equal(out, reference) == []
    shutil.rmtree(reference)
