"""Run a scenario's replicates through an engine and write the timelines (the ``simulate`` job).

Replicates are cut into shards of a size fixed by the scenario (never by the number of workers);
each shard is simulated from its own seed streams and written atomically by :mod:`cohortsim.io`,
so results are identical for any number of workers and an interrupted run resumes where it
stopped. Only one shard per worker is in memory at a time.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from cohortsim import __version__
from cohortsim.cohort import LatentCohort
from cohortsim.engine import ENGINES
from cohortsim.executors import run_jobs
from cohortsim.io import DatasetStaging, RunIdentity, write_shard
from cohortsim.scenario.types import Scenario
from cohortsim.seeding import SEEDING_SCHEME
from cohortsim.tables import provenance, to_table
from cohortsim.timeline import build_tables

PATIENTS_PER_SHARD = 50_000
"""Target simulated patients per shard: big enough for sensible files, small enough for memory."""


def default_shard_size(scenario: Scenario, replicates: int) -> int:
    """Replicates per shard (depends on the scenario only)."""
    return max(1, min(replicates, PATIENTS_PER_SHARD // max(scenario.study.n_patients, 1)))


def simulate_tables(
    scenario: Scenario,
    entropy: int,
    replicates: np.ndarray,
    engine: str = "des",
    metadata: dict[str, str] | None = None,
) -> dict[str, pa.Table]:
    """Simulate ``replicates`` and return the four Arrow tables (no files)."""
    cohort = LatentCohort(scenario, entropy, np.asarray(replicates))
    course = ENGINES[engine](cohort)
    columns = build_tables(cohort, course)
    meta = metadata or table_metadata(scenario, entropy, engine)
    replicate_ids = cohort.replicates
    tables = {}
    for name, cols in columns.items():
        cols = dict(cols)
        # "row" and "patient_id" are always arrays (only covariate columns may be None).
        rows = np.asarray(cols.pop("row"), dtype=np.int64)  # no copy when int64 already
        cols["replicate"] = replicate_ids[rows]
        if name != "trials":
            # The arm of each row's patient, gathered by the patient's flat index (faster than
            # by a pair of index arrays).
            patient_id = np.asarray(cols["patient_id"], dtype=np.int64)
            cols["arm"] = np.take(cohort.arm.reshape(-1), rows * cohort.n_patients + patient_id)
        tables[name] = to_table(
            name,
            cols,
            scenario.arm_names,
            meta,
            categories={"stratum": cohort.stratum_labels()},
        )
    return tables


def table_metadata(scenario: Scenario, entropy: int, engine: str) -> dict[str, str]:
    return provenance(
        scenario_sha256=scenario.sha256,
        seed_entropy=entropy,
        engine=engine,
        start_date=scenario.study.start_date,
        scenario_name=scenario.study.name,
        seeding=SEEDING_SCHEME,
    )


@dataclass(frozen=True)
class _ShardJob:
    scenario: Scenario
    entropy: int
    engine: str
    staging: str
    shard: int
    first: int
    stop: int


def _run_shard(job: _ShardJob) -> tuple[int, dict[str, int]]:
    tables = simulate_tables(job.scenario, job.entropy, np.arange(job.first, job.stop), job.engine)
    return job.shard, write_shard(job.staging, job.shard, tables)


@dataclass(frozen=True)
class SimulationRun:
    """What :func:`run_simulation` did."""

    out: Path
    rows: dict[str, int]
    shards_run: int
    shards_reused: int
    seconds: float


def run_simulation(
    scenario: Scenario,
    out: Path,
    replicates: int,
    entropy: int,
    engine: str = "des",
    workers: int = 1,
    overwrite: bool = False,
    shard_size: int | None = None,
    on_shard: Callable[[], None] | None = None,
    executor: str = "local",
    scheduler: str | None = None,
) -> SimulationRun:
    """Simulate ``replicates`` trials and write them to ``out`` (atomically, resumably)."""
    start = time.monotonic()
    size = shard_size or default_shard_size(scenario, replicates)
    identity = RunIdentity(
        scenario_sha256=scenario.sha256,
        seed_entropy=entropy,
        engine=engine,
        n_replicates=replicates,
        shard_size=size,
        extra={"seeding": SEEDING_SCHEME},
    )
    staging = DatasetStaging.open(out, identity, overwrite=overwrite)
    todo = staging.missing_shards()
    reused = identity.n_shards - len(todo)
    jobs = [
        _ShardJob(
            scenario,
            entropy,
            engine,
            str(staging.path),
            k,
            identity.shard_replicates(k).start,
            identity.shard_replicates(k).stop,
        )
        for k in todo
    ]
    for _ in run_jobs(_run_shard, jobs, workers, executor, scheduler):
        if on_shard:
            on_shard()
    manifest: dict[str, Any] = {
        "scenario": dict(scenario.resolved),
        "scenario_sha256": scenario.sha256,
        "scenario_source": scenario.source_path,
        "seed_entropy": str(entropy),
        "seeding": SEEDING_SCHEME,
        "engine": engine,
        "replicates": replicates,
        "n_patients_per_trial": scenario.study.n_patients,
        "package_versions": package_versions(),
        "run": {
            "workers": workers,
            "executor": executor,
            "shards_run": len(jobs),
            "shards_reused": reused,
            "seconds": round(time.monotonic() - start, 3),
            "host": platform.node(),
            "pid": os.getpid(),
        },
    }
    path = staging.finalize(manifest)
    from cohortsim.io import read_manifest

    rows = {k: int(v["rows"]) for k, v in read_manifest(path)["tables"].items()}
    return SimulationRun(path, rows, len(jobs), reused, time.monotonic() - start)


def package_versions() -> dict[str, str]:
    """Versions of cohortsim and the libraries whose behaviour shapes the output."""
    import platform as _platform

    import scipy
    import simpy

    return {
        "cohortsim": __version__,
        "python": _platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "simpy": simpy.__version__ if hasattr(simpy, "__version__") else "unknown",
        "pyarrow": pa.__version__,
    }
