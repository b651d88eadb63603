"""Executors give identical datasets: in-process, local worker processes, a Dask LocalCluster."""

from __future__ import annotations

import time
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


def _fail_first_else_mark(job: tuple[int, str]) -> int:
    import time

    index, directory = job
    if index == 0:
        raise ValueError("job 0 failed")
    time.sleep(0.3)
    (Path(directory) / f"done-{index}").touch()
    return index


def test_a_failing_job_stops_the_run_and_drops_queued_jobs(tmp_path: Path) -> None:
    """The error surfaces, and the jobs still queued are cancelled rather than computed (they
    would be, one after another, if the pool were shut down without cancelling)."""
    jobs = [(i, str(tmp_path)) for i in range(16)]
    with pytest.raises(ValueError, match="job 0 failed"):
        list(run_jobs(_fail_first_else_mark, jobs, workers=2))
    assert len(list(tmp_path.glob("done-*"))) < 15


def _pid(_: int) -> int:
    import os

    return os.getpid()


def test_prestarted_workers_take_the_next_run() -> None:
    from cohortsim import executors

    executors.prestart_local_workers(2, ["cohortsim.power.runner"])
    assert executors._prestarted is not None
    pool = executors._prestarted[1]
    spawned = set(pool._processes)  # started now, before any job (private, but the point)
    assert len(spawned) == 1
    pids = set(run_jobs(_pid, list(range(40)), workers=2))
    assert executors._prestarted is None  # used, then shut down with the run
    assert pids <= spawned | {__import__("os").getpid()}


def test_unused_prestarted_workers_are_stopped() -> None:
    from cohortsim import executors

    executors.prestart_local_workers(3)
    assert executors._prestarted is not None
    processes = list(executors._prestarted[1]._processes.values())
    assert len(processes) == 2
    # a run with another worker count (here: this process alone) does not use them
    assert list(run_jobs(_square, [1, 2], workers=1)) == [1, 4]
    assert executors._prestarted is None
    # Shutting down is asynchronous; join() can return early (seen after a Dask cluster ran
    # in this process), so wait on each worker until it is gone or a deadline passes.
    deadline = time.monotonic() + 30
    for process in processes:
        while process.is_alive() and time.monotonic() < deadline:
            process.join(timeout=0.5)
        assert not process.is_alive()
