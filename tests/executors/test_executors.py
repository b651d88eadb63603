"""Executors give identical datasets: in-process, local worker processes, a Dask LocalCluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohortsim.errors import UsageError
from cohortsim.executors import run_jobs
from cohortsim.io import datasets_equal
from cohortsim.scenario import load_scenario
from cohortsim.simulate import run_simulation

ROOT = Path(__file__).resolve().parents[2]


def _square(x: int) -> int:
    return x * x


def test_local_pool_runs_every_job_once() -> None:
    assert sorted(run_jobs(_square, list(range(7)), workers=2)) == [x * x for x in range(7)]


def test_unknown_executor_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="expected one of"):
        list(run_jobs(_square, [1], executor="spark"))


def test_dask_local_cluster_matches_in_process(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    scenario = load_scenario(ROOT / "scenarios" / "liang2010_pilot.toml")
    serial = run_simulation(scenario, tmp_path / "serial", 60, entropy=11, shard_size=20)
    on_dask = run_simulation(
        scenario, tmp_path / "dask", 60, entropy=11, shard_size=20, workers=2, executor="dask"
    )
    assert serial.shards_run == on_dask.shards_run == 3
    assert datasets_equal(serial.out, on_dask.out) == []
