"""The power hot path's shortcuts change no result (issue 5).

* A chunk of the time-to-event model takes the vector engine's relapse-only path
  (:func:`cohortsim.engine.vector.simulate_relapses_vector`); its rows equal, bit for bit, those
  of the general path (engine course + :func:`cohortsim.endpoints.derive_endpoints`), including
  over several N and with the flare-rate endpoint.
* A computed power shard hands its rows to the collector instead of being read back: they are
  the same arrays (dtypes included) as the shard file holds.
* With several local workers this process is one of them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cohortsim.executors import run_jobs
from cohortsim.power import trials
from cohortsim.power.runner import ShardJob, _read_shard, run_shard
from cohortsim.power.trials import ChunkJob, run_chunk
from cohortsim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
REFERENCE = SCENARIOS / "reference_logrank.toml"


def _bits(x: np.ndarray) -> np.ndarray:
    return x.view(np.int64) if x.dtype == np.float64 else x


def _rows_general_path(job: ChunkJob, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    with monkeypatch.context() as patch:
        patch.setattr(trials, "relapses_only", lambda cohort: False)
        return run_chunk(job).rows


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ['analysis.endpoints=["time_to_relapse", "flare_rate"]',
         "disease.relapse.recurrent=true", "dropout.rate_per_month=0.01"],
        ["cutoff.calendar_month=20.0", "analysis.sides=1"],
    ],
    ids=["reference", "recurrent-flare-rate-dropout", "calendar-cut-one-sided"],
)
def test_relapse_only_path_gives_the_same_rows(
    overrides: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario(REFERENCE, overrides)
    job = ChunkJob(scenario, 5, 256, 1024, (60, 200))
    fast = run_chunk(job).rows
    general = _rows_general_path(job, monkeypatch)
    assert fast.keys() == general.keys()
    for key in fast:
        assert fast[key].dtype == general[key].dtype, key
        assert np.array_equal(_bits(fast[key]), _bits(general[key])), key


def test_the_relapse_only_path_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = trials.relapse_endpoints
    monkeypatch.setattr(
        trials, "relapse_endpoints", lambda cohort: calls.append(1) or original(cohort)
    )
    run_chunk(ChunkJob(load_scenario(REFERENCE), 5, 0, 300, (200,)))
    assert len(calls) == 2  # one per seeding block


def test_computed_shard_rows_equal_the_shard_file(tmp_path: Path) -> None:
    scenario = load_scenario(REFERENCE)
    job = ChunkJob(scenario, 3, 256, 768, (100, 200))
    kind, result = run_shard(ShardJob("power", job, str(tmp_path)))
    assert kind == "power"
    from_file = _read_shard(tmp_path, "power", job)
    assert result.rows.keys() == from_file.rows.keys()
    for key, value in result.rows.items():
        back = from_file.rows[key]
        assert value.dtype == back.dtype, key
        assert np.array_equal(_bits(value), _bits(back)), key
    # and the file is the one a reused shard is read from
    shard = pq.read_table(next(tmp_path.glob("power-*.parquet")))
    assert shard.num_rows == len(result.rows["n_total"])


def _pid_of(job: int) -> tuple[int, int]:
    return job, os.getpid()


def test_this_process_is_one_of_the_workers() -> None:
    """With 2 workers, this process runs shards too (while the spawned worker starts), and every
    job runs exactly once."""
    results = list(run_jobs(_pid_of, list(range(12)), workers=2))
    assert sorted(job for job, _ in results) == list(range(12))
    pids = {pid for _, pid in results}
    assert os.getpid() in pids
    assert len(pids) <= 2
