"""``cohortsim power --out``: shard-by-shard staging, kill-and-resume, refusal of a different run,
and the Dask executor giving the same results as local runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cohortsim.cli import main
from cohortsim.power import PowerSettings, run_power
from cohortsim.scenario import load_scenario
from cohortsim.scenario.vary import with_values

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = str(ROOT / "scenarios" / "reference_logrank.toml")
# 10 shards of 1280 replicates (5 seeding blocks each, fixed by the scenario's array sizes):
# long enough to kill mid-run, short enough to keep the file within seconds.
REPLICATES = "12800"
SHARDS = 10


def _command(out: Path, *extra: str) -> list[str]:
    return [
        "power",
        REFERENCE,
        "--n",
        "200",
        "--replicates",
        REPLICATES,
        "--seed",
        "3",
        "--out",
        str(out),
        *extra,
    ]


def _assert_same_tables(a: Path, b: Path) -> None:
    for name in ("replicates.parquet", "summary.parquet"):
        left, right = pq.read_table(a / name), pq.read_table(b / name)
        # Table.equals ignores schema metadata, where the run-specific facts (host, pid,
        # workers, executor) live.
        assert left.schema.equals(right.schema, check_metadata=False), name
        assert left.equals(right), name


def _shard_files(staging: Path) -> list[Path]:
    shards = staging / "_shards"
    return sorted(shards.glob("power-*.parquet")) if shards.is_dir() else []


def test_sigkill_then_rerun_resumes_and_matches_uninterrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "killed"
    staging = tmp_path / "killed.partial"
    process = subprocess.Popen(
        [sys.executable, "-m", "cohortsim", *_command(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _shard_files(staging):
            assert process.poll() is None, "the run ended before its first shard was seen"
            assert time.monotonic() < deadline, "no shard file within 60 s"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    # Nothing looks complete: no DIR, only DIR.partial with its identity and some shards.
    assert not out.exists()
    assert (staging / "run.json").is_file()
    kept = len(_shard_files(staging))
    assert 1 <= kept < SHARDS

    assert main(_command(out)) == 0
    err = capsys.readouterr().err
    assert "shards reused" in err
    reused = int(err.split(" shards reused")[0].rsplit(" ", 1)[1])
    assert reused >= kept
    assert out.is_dir() and not staging.exists()
    assert not (out / "_shards").exists() and not (out / "run.json").exists()

    whole = tmp_path / "whole"
    assert main(_command(whole)) == 0
    assert "reused" not in capsys.readouterr().err
    _assert_same_tables(out, whole)
    assert _report(out) == _report(whole)


def _report(out: Path) -> str:
    # Everything but the output path and the run time (facts about the run, not the results).
    text = (out / "report.md").read_text().replace(str(out), "OUT")
    return re.sub(r"\d+\.\d s\. Per-trial", "T s. Per-trial", text)


def test_different_seed_with_partial_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    staging = tmp_path / "run.partial"
    staging.mkdir()
    # An unfinished run of seed 3: what a killed `--seed 3` leaves behind.
    run_power(load_scenario(REFERENCE), PowerSettings((200,), 2560, 3), staging, keep_shards=True)
    shards = _shard_files(staging)
    assert len(shards) == 2

    small = ["power", REFERENCE, "--n", "200", "--replicates", "2560", "--out", str(out)]
    assert main([*small, "--seed", "4"]) == 2
    err = capsys.readouterr().err
    assert "seed_entropy" in err and "'3'" in err and "'4'" in err
    assert not out.exists() and _shard_files(staging) == shards  # left untouched, never mixed

    assert main([*small, "--seed", "3", "--n", "100,200"]) == 2
    assert "n_grid" in capsys.readouterr().err

    assert main([*small, "--seed", "3"]) == 0
    assert "2 shards reused, 0 computed" in capsys.readouterr().err
    assert out.is_dir() and not staging.exists()


def test_dask_two_workers_equals_one_local_worker(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    args = ["power", REFERENCE, "--n", "100,200", "--replicates", "2560", "--seed", "3", "--json"]
    assert main([*args, "--workers", "1", "--out", str(tmp_path / "local")]) == 0
    assert (
        main([*args, "--executor", "dask", "--workers", "2", "--out", str(tmp_path / "dask")]) == 0
    )
    _assert_same_tables(tmp_path / "local", tmp_path / "dask")


def test_written_shards_give_the_same_results_as_in_memory(tmp_path: Path) -> None:
    # Assurance and --mcse rounds go through the shard files too; reading them back must give
    # exactly what the in-memory run tallies.
    scenario = with_values(
        load_scenario(REFERENCE),
        {
            "arms.treatment.prior": {
                "relapse.hazard.hazard_ratio": {"distribution": "uniform", "min": 0.4, "max": 0.7}
            }
        },
    )
    for settings in (
        PowerSettings((120, 200), 512, 4, assurance=True),
        PowerSettings((200,), 256, 3, target_mcse=0.02, max_replicates=5000),
    ):
        out = tmp_path / f"run{settings.entropy}"
        out.mkdir()
        on_disk = run_power(scenario, settings, out)
        in_memory = run_power(scenario, settings)
        assert on_disk.rows == in_memory.rows
        assert on_disk.replicates == in_memory.replicates
        assert on_disk.shards_run > 0 and on_disk.shards_reused == 0
        assert not (out / "_shards").exists()
        if settings.assurance:
            assert on_disk.rejected_draws == in_memory.rejected_draws
            assert on_disk.draws is not None and in_memory.draws is not None
            for key, value in in_memory.draws.items():
                np.testing.assert_array_equal(on_disk.draws[key], value, err_msg=key)
