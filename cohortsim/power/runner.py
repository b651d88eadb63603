"""The ``power`` job: simulate a design at every N, stream the results, summarise, decide N.

Replicates are processed in shards of whole seeding blocks (:mod:`cohortsim.power.trials`),
one shard per task, run by :func:`cohortsim.executors.run_jobs` (this process, local worker
processes or a Dask cluster). A shard's replicate range depends only on the scenario and the
run's settings, never on the workers. Shards are tallied and written in replicate order whatever
order they finish in, and each replicate's result depends only on its own draws, so the output
is the same for any number of workers or executor. Only the running tallies and the shards in
flight are in memory.

With an output directory the run is resumable: ``run.json`` (the run's identity) is written
first, then each shard's per-replicate results go to ``_shards/`` atomically as soon as they
are computed (by the worker itself). A rerun of the same run reads the shards already there and
computes only the missing ones; a run with another identity is refused
(:class:`cohortsim.io.RunMismatchError`), never mixed. The final ``replicates.parquet`` is
always assembled from the shard files, so an interrupted-and-resumed run writes the same bytes
of data as an uninterrupted one.

With a Monte Carlo precision target (``target_mcse``) replicates are added in rounds (more
shards): after
each round the replicates needed for every reported power (and assurance) to reach the target
are worked out from the estimates so far (``p (1 − p) / E²``, or the cluster-aware SE for
assurance), rounded up to whole blocks, and simulated — until the target is met or
``max_replicates`` is reached. The rule depends only on the results, so it too is the same for
any number of workers.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cohortsim import __version__
from cohortsim.analysis import GroupSequentialBoundaries
from cohortsim.cohort import max_flares, visit_schedule
from cohortsim.executors import run_jobs
from cohortsim.io import (
    RUN_NAME,
    SHARDS_DIR,
    RunIdentity,
    RunMismatchError,
    _atomic_write_parquet,
    _atomic_write_text,
    _identity_differences,
    _remove_tmp_files,
    dumps_json,
    read_run_identity,
)
from cohortsim.lazy import pa, pq
from cohortsim.power.analytic import AnalyticCheck, add_analytic_power, cross_checks
from cohortsim.power.assurance import AssuranceDesign, assurance_design
from cohortsim.power.output import (
    ReplicateWriter,
    metadata_json,
    replicate_schema,
    replicate_table,
    write_table,
)
from cohortsim.power.search import SampleSize, find_n
from cohortsim.power.sequential import boundaries
from cohortsim.power.summary import Tally, merge_assurance
from cohortsim.power.trials import ChunkJob, ChunkResult, comparisons, run_chunk
from cohortsim.provenance import provenance
from cohortsim.scenario.types import Scenario
from cohortsim.seeding import REPLICATES_PER_BLOCK, SEEDING_SCHEME

CELLS_PER_CHUNK = 2_000_000
"""Target size of a chunk in patient-array cells (replicates × patients × per-patient slots):
big enough to amortise Python overhead, small enough to keep a worker well under 1 GB."""


@dataclass(frozen=True)
class PowerSettings:
    """What to run.

    Attributes
    ----------
    n_grid : tuple of int
        Trial sizes (total patients), ascending.
    replicates : int
        Simulated trials per N (the starting number when ``target_mcse`` is set).
    entropy : int
        Seed entropy.
    engine : {"vector", "des"}
    workers : int
        Worker processes (results do not depend on it).
    target_mcse : float, optional
        Add replicates until every reported power has Monte Carlo SE <= this.
    max_replicates : int
        Cap on replicates when ``target_mcse`` is set.
    assurance : bool
        Also run the assurance simulation (parameters drawn per replicate).
    executor : {"local", "dask"}
        Where shards run (:func:`cohortsim.executors.run_jobs`; results do not depend on it).
    scheduler : str, optional
        Dask scheduler address (``executor="dask"``); None starts a local cluster.
    """

    n_grid: tuple[int, ...]
    replicates: int
    entropy: int
    engine: str = "vector"
    workers: int = 1
    target_mcse: float | None = None
    max_replicates: int = 200_000
    assurance: bool = False
    executor: str = "local"
    scheduler: str | None = None


@dataclass(frozen=True)
class PowerResult:
    """What :func:`run_power` found (the command writes the report from it)."""

    scenario: Scenario
    settings: PowerSettings
    rows: list[dict[str, Any]]
    sample_sizes: list[SampleSize]
    checks: list[AnalyticCheck]
    replicates: int
    design: GroupSequentialBoundaries | None
    assurance: AssuranceDesign | None = None
    draws: dict[str, np.ndarray] | None = None
    rejected_draws: int = 0
    seconds: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)
    mcse_met: bool = True
    shards_run: int = 0
    shards_reused: int = 0

    @property
    def primary(self) -> SampleSize:
        """The sample-size answer for the primary endpoint (first comparison)."""
        a = self.scenario.analysis
        assert a is not None
        return next(s for s in self.sample_sizes if s.endpoint == a.primary)


def blocks_per_chunk(scenario: Scenario, n_max: int, assurance: bool) -> int:
    """Seeding blocks per chunk, from the size of the per-patient arrays (not the workers)."""
    if assurance:
        return 1
    visits = len(visit_schedule(scenario)[0]) if scenario.is_sle else 0
    slots = 4 + visits + 3 * max_flares(scenario)
    cells = REPLICATES_PER_BLOCK * n_max * slots
    return int(min(16, max(1, CELLS_PER_CHUNK // cells)))


def _chunks(first: int, stop: int, blocks: int) -> list[tuple[int, int]]:
    size = blocks * REPLICATES_PER_BLOCK
    return [(a, min(a + size, stop)) for a in range(first, stop, size)]


def _replicates_needed(tally: Tally, target: float) -> int:
    """Replicates at which every design point's MC SE would reach ``target``."""
    done = tally.replicates
    if tally.per_draw is None:
        p = tally.power()
        return math.ceil(float(np.max(p * (1 - p))) / target**2)
    se = np.nan_to_num(tally.mcse(), nan=1.0)
    return math.ceil(done * float(np.max(se / target)) ** 2)


def power_identity(scenario: Scenario, settings: PowerSettings) -> RunIdentity:
    """What a power run is: two runs with equal identities write identical results.

    Everything that changes a replicate's result or which replicates are run is in it; the
    workers and the executor are not (they change neither).

    Parameters
    ----------
    scenario : Scenario
    settings : PowerSettings

    Returns
    -------
    RunIdentity
        ``shard_size`` is the power shard size in replicates; ``extra`` holds the N grid,
        alpha, sidedness, the assurance flag and shard size, and the ``--mcse`` settings.
    """
    a = scenario.analysis
    assert a is not None
    grid = tuple(sorted(set(settings.n_grid)))
    return RunIdentity(
        scenario_sha256=scenario.sha256,
        seed_entropy=settings.entropy,
        engine=settings.engine,
        n_replicates=settings.replicates,
        shard_size=blocks_per_chunk(scenario, grid[-1], False) * REPLICATES_PER_BLOCK,
        extra={
            "command": "power",
            "seeding": SEEDING_SCHEME,
            "n_grid": list(grid),
            "alpha": a.alpha,
            "sides": a.sides,
            "assurance": settings.assurance,
            "assurance_shard_size": (
                blocks_per_chunk(scenario, grid[-1], True) * REPLICATES_PER_BLOCK
                if settings.assurance
                else None
            ),
            "target_mcse": settings.target_mcse,
            "max_replicates": settings.max_replicates if settings.target_mcse else None,
        },
    )


def open_shards(out: Path, identity: RunIdentity) -> Path:
    """Start or resume the power run ``identity`` in directory ``out``; return its shard folder.

    Parameters
    ----------
    out : Path
        Existing directory the run writes into.
    identity : RunIdentity
        From :func:`power_identity`.

    Returns
    -------
    Path
        ``out/_shards`` (created if needed).

    Raises
    ------
    RunMismatchError
        ``out`` holds shards of another run (the message names what differs), or shards
        without a ``run.json``.
    """
    shards = out / SHARDS_DIR
    existing = read_run_identity(out)
    if existing is None:
        if shards.is_dir() and any(shards.iterdir()):
            raise RunMismatchError(
                f"{out} has shards but no {RUN_NAME}: it is damaged or not a cohortsim power "
                "run. Delete it or choose another --out."
            )
        # The identity goes first: a shard is only ever found next to the run it belongs to.
        _atomic_write_text(out / RUN_NAME, dumps_json(identity.to_json()))
    else:
        differences = _identity_differences(existing.to_json(), identity.to_json())
        if differences:
            raise RunMismatchError(
                f"{out} holds an unfinished power run that differs from this one:\n  "
                + "\n  ".join(differences)
                + f"\nRerun with the original settings to resume it, delete {out} to discard "
                "it, or choose another --out."
            )
        # Temporary files of a killed writer are never complete shards.
        _remove_tmp_files(out)
    shards.mkdir(exist_ok=True)
    return shards


def run_power(
    scenario: Scenario,
    settings: PowerSettings,
    out: Path | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    keep_shards: bool = False,
) -> PowerResult:
    """Simulate and analyse ``scenario`` at every N of ``settings.n_grid``.

    Parameters
    ----------
    scenario : Scenario
        With at least one comparison (two arms).
    settings : PowerSettings
    out : Path, optional
        Existing directory for ``replicates.parquet``, ``summary.parquet`` (and the assurance
        files), and, while the run lasts, ``run.json`` and the shard files ``_shards/``; shards
        already there from an interrupted run of the same identity are reused. None writes
        nothing.
    on_chunk : callable, optional
        Called as ``on_chunk(done, total)`` after each shard (progress).
    keep_shards : bool
        Leave ``run.json`` and ``_shards/`` in ``out`` when done (the command removes them
        only once the whole output is in place); by default they are removed.

    Returns
    -------
    PowerResult

    Raises
    ------
    ValueError
        The scenario cannot be analysed for power.
    RunMismatchError
        ``out`` holds shards of another run.
    """
    start = time.monotonic()
    a = scenario.analysis
    if a is None or not a.treatment_arms:
        raise ValueError("power needs two arms: a control arm and at least one treatment arm")
    pairs = comparisons(scenario)
    names = [p.name for p in pairs]
    grid = tuple(sorted(set(settings.n_grid)))
    design = boundaries(a)
    if design is not None and len(pairs) != 1:
        raise ValueError("interim looks need exactly one treatment arm")
    assurance = assurance_design(scenario) if settings.assurance else None

    tally = Tally(grid, names, a.endpoints)
    a_tally = (
        Tally(grid, names, a.endpoints, assurance.replicates_per_draw) if assurance else None
    )
    meta = provenance(
        scenario_sha256=scenario.sha256,
        seed_entropy=settings.entropy,
        engine=settings.engine,
        start_date=scenario.study.start_date,
        scenario_name=scenario.study.name,
        seeding=SEEDING_SCHEME,
        n_grid=metadata_json(list(grid)),
        analysis=metadata_json(scenario.resolved["analysis"]),
        cohortsim_version=__version__,
    )
    shard_dir = open_shards(out, power_identity(scenario, settings)) if out is not None else None
    writers: dict[str, ReplicateWriter] = {}
    files: dict[str, Path] = {}
    if out is not None:
        files["replicates"] = out / "replicates.parquet"
        writers["power"] = ReplicateWriter(files["replicates"], replicate_schema(meta))
        if assurance is not None:
            files["assurance_replicates"] = out / "assurance_replicates.parquet"
            writers["assurance"] = ReplicateWriter(
                files["assurance_replicates"], replicate_schema(meta, with_draw=True)
            )
    draws: dict[str, list[np.ndarray]] = {}
    rejected = 0
    done = 0
    target = settings.replicates
    met = True
    chunks_done = 0
    counts = {"run": 0, "reused": 0}
    try:
        while True:
            jobs = _jobs(scenario, settings, grid, assurance, done, target)
            total = chunks_done + len(jobs)
            for kind, result in _ordered(jobs, shard_dir, settings, counts):
                if kind == "power":
                    tally.add(result.rows)
                    if "power" in writers:
                        writers["power"].write(
                            replicate_table(result.rows, names, a.endpoints,
                                            writers["power"].schema)
                        )
                else:
                    assert a_tally is not None and assurance is not None
                    a_tally.add(result.rows)
                    rejected += result.rejected_draws
                    for key, value in (result.draws or {}).items():
                        draws.setdefault(key, []).append(value)
                    if "assurance" in writers:
                        writers["assurance"].write(
                            replicate_table(
                                result.rows, names, a.endpoints,
                                writers["assurance"].schema,
                                draw=result.rows["replicate"] // assurance.replicates_per_draw,
                            )
                        )
                chunks_done += 1
                if on_chunk is not None:
                    on_chunk(chunks_done, total)
            done = target
            if settings.target_mcse is None:
                break
            needed = max(
                _replicates_needed(t, settings.target_mcse)
                for t in (tally, a_tally)
                if t is not None
            )
            if needed <= done:
                break
            if done >= settings.max_replicates:
                met = False
                break
            blocks = -(-needed // REPLICATES_PER_BLOCK)
            target = min(settings.max_replicates, blocks * REPLICATES_PER_BLOCK)
    finally:
        for writer in writers.values():
            writer.close()

    rows = tally.rows(a.primary)
    if a_tally is not None:
        rows = merge_assurance(rows, a_tally)
    checks = cross_checks(scenario, rows, a.target_power)
    rows = add_analytic_power(rows, checks)
    sample_sizes = [
        find_n(rows, endpoint, name, a.target_power) for name in names for endpoint in a.endpoints
    ]
    draw_table = {k: np.concatenate(v) for k, v in draws.items()} if draws else None
    if out is not None:
        files["summary"] = out / "summary.parquet"
        write_table(files["summary"], rows, {**meta, **_run_metadata(settings, done)})
        if draw_table is not None:
            files["assurance_draws"] = out / "assurance_draws.parquet"
            write_table(files["assurance_draws"], draw_table, meta)
        if not keep_shards:
            remove_shards(out)
    return PowerResult(
        scenario=scenario,
        settings=settings,
        rows=rows,
        sample_sizes=sample_sizes,
        checks=checks,
        replicates=done,
        design=design,
        assurance=assurance,
        draws=draw_table,
        rejected_draws=rejected,
        seconds=time.monotonic() - start,
        files=files,
        mcse_met=met,
        shards_run=counts["run"],
        shards_reused=counts["reused"],
    )


def remove_shards(out: Path) -> None:
    """Delete a finished run's ``run.json`` and ``_shards/`` from ``out``."""
    shutil.rmtree(out / SHARDS_DIR, ignore_errors=True)
    (out / RUN_NAME).unlink(missing_ok=True)


def _run_metadata(settings: PowerSettings, replicates: int) -> dict[str, str]:
    import platform  # ≈ 1 ms, and only a run that writes tables needs it

    return {
        "cohortsim.replicates": str(replicates),
        "cohortsim.workers": str(settings.workers),
        "cohortsim.executor": settings.executor,
        "cohortsim.host": platform.node(),
        "cohortsim.pid": str(os.getpid()),
    }


def _jobs(
    scenario: Scenario,
    settings: PowerSettings,
    grid: tuple[int, ...],
    assurance: AssuranceDesign | None,
    first: int,
    stop: int,
) -> list[tuple[str, ChunkJob]]:
    """The shards of replicates ``first`` to ``stop − 1``: power ones, then assurance ones."""
    jobs = []
    for a, b in _chunks(first, stop, blocks_per_chunk(scenario, grid[-1], False)):
        jobs.append(("power", ChunkJob(scenario, settings.entropy, a, b, grid, settings.engine)))
    if assurance is not None:
        for a, b in _chunks(first, stop, blocks_per_chunk(scenario, grid[-1], True)):
            jobs.append(
                ("assurance",
                 ChunkJob(scenario, settings.entropy, a, b, grid, settings.engine, assurance))
            )
    return jobs


# --- shards ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardJob:
    """One shard to compute: a chunk job, and where to write it (None: return the rows)."""

    kind: str
    chunk: ChunkJob
    directory: str | None = None


def shard_name(kind: str, first: int, stop: int) -> str:
    """File name of a shard's per-replicate rows, e.g. ``power-000001280-000002560.parquet``.

    Named by replicate range rather than by index: with ``--mcse`` a round may end inside a
    shard-size boundary and the next round's shards start there, so ranges are the stable key.
    """
    return f"{kind}-{first:09d}-{stop:09d}.parquet"


def _draws_name(first: int, stop: int) -> str:
    return f"assurance_draws-{first:09d}-{stop:09d}.parquet"


_REJECTED_KEY = b"cohortsim.rejected_draws"


def run_shard(job: ShardJob) -> tuple[str, ChunkResult]:
    """Compute one shard; with a directory, also write it there atomically.

    Workers write their own shard so that a shard survives the moment it is computed, whatever
    happens to the process collecting results. A power shard's rows are returned as well (the
    same arrays the file gives back: plain columns round-trip exactly), which saves reading
    every shard back; an assurance shard returns none and is read back.
    """
    result = run_chunk(job.chunk)
    if job.directory is None:
        return job.kind, result
    directory = Path(job.directory)
    if job.kind == "assurance":
        # The draws first: the rows file, written last, is what marks the shard complete.
        draws = pa.table(dict(result.draws or {})).replace_schema_metadata(
            {_REJECTED_KEY: str(result.rejected_draws).encode()}
        )
        _atomic_write_parquet(directory / _draws_name(result.first, result.stop), draws)
    # Plain columns (codes, not dictionaries) so reading back gives the very same arrays.
    _atomic_write_parquet(
        directory / shard_name(job.kind, result.first, result.stop), pa.table(dict(result.rows))
    )
    if job.kind == "power":
        return job.kind, result
    return job.kind, ChunkResult(result.first, result.stop, {})


def _shard_done(directory: Path, kind: str, job: ChunkJob) -> bool:
    return (directory / shard_name(kind, job.first, job.stop)).is_file()


def _read_shard(directory: Path, kind: str, job: ChunkJob) -> ChunkResult:
    rows = _columns(pq.read_table(directory / shard_name(kind, job.first, job.stop)))
    if kind != "assurance":
        return ChunkResult(job.first, job.stop, rows)
    table = pq.read_table(directory / _draws_name(job.first, job.stop))
    rejected = int((table.schema.metadata or {}).get(_REJECTED_KEY, b"0"))
    return ChunkResult(job.first, job.stop, rows, _columns(table), rejected)


def _columns(table: pa.Table) -> dict[str, np.ndarray]:
    return {name: table[name].to_numpy() for name in table.column_names}


def _ordered(
    jobs: list[tuple[str, ChunkJob]],
    directory: Path | None,
    settings: PowerSettings,
    counts: dict[str, int],
) -> Iterator[tuple[str, ChunkResult]]:
    """Each job's result in job order: read back when its shard exists, else computed.

    Results arrive from the executor in completion order; they are held until their turn, so
    tallies and files are written in replicate order whatever the workers did. With a
    directory, reused shards and computed assurance shards are read from their files; computed
    power shards come with their rows, the same arrays their files hold.
    """
    todo = [
        ShardJob(kind, job, None if directory is None else str(directory))
        for kind, job in jobs
        if directory is None or not _shard_done(directory, kind, job)
    ]
    waiting: dict[tuple[str, int], ChunkResult] = {}
    results = run_jobs(run_shard, todo, settings.workers, settings.executor, settings.scheduler)
    pending = {(j.kind, j.chunk.first) for j in todo}
    with closing(results):
        for kind, job in jobs:
            key = (kind, job.first)
            if key not in pending:
                assert directory is not None
                counts["reused"] += 1
                yield kind, _read_shard(directory, kind, job)
                continue
            while key not in waiting:
                done_kind, result = next(results)
                waiting[(done_kind, result.first)] = result
            result = waiting.pop(key)
            counts["run"] += 1
            if directory is not None and kind != "power":
                result = _read_shard(directory, kind, job)
            yield kind, result

