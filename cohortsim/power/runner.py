"""The ``power`` job: simulate a design at every N, stream the results, summarise, decide N.

Replicates are processed in chunks of whole seeding blocks (:mod:`cohortsim.power.trials`),
one chunk per task, in worker processes when asked. Chunks are written and tallied in replicate
order whatever order they finish in, and each replicate's result depends only on its own draws,
so the output is the same for any number of workers. Only the running tallies and the chunks
in flight are in memory.

With a Monte Carlo precision target (``target_mcse``) replicates are added in rounds: after
each round the replicates needed for every reported power (and assurance) to reach the target
are worked out from the estimates so far (``p (1 − p) / E²``, or the cluster-aware SE for
assurance), rounded up to whole blocks, and simulated — until the target is met or
``max_replicates`` is reached. The rule depends only on the results, so it too is the same for
any number of workers.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from cohortsim import __version__
from cohortsim.analysis import GroupSequentialBoundaries
from cohortsim.cohort import max_flares, visit_schedule
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
from cohortsim.scenario.types import Scenario
from cohortsim.seeding import REPLICATES_PER_BLOCK, SEEDING_SCHEME
from cohortsim.tables import provenance

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
    """

    n_grid: tuple[int, ...]
    replicates: int
    entropy: int
    engine: str = "vector"
    workers: int = 1
    target_mcse: float | None = None
    max_replicates: int = 200_000
    assurance: bool = False


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


def run_power(
    scenario: Scenario,
    settings: PowerSettings,
    out: Path | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> PowerResult:
    """Simulate and analyse ``scenario`` at every N of ``settings.n_grid``.

    Parameters
    ----------
    scenario : Scenario
        With at least one comparison (two arms).
    settings : PowerSettings
    out : Path, optional
        Existing directory for ``replicates.parquet``, ``summary.parquet`` (and the assurance
        files); None writes nothing.
    on_chunk : callable, optional
        Called as ``on_chunk(done, total)`` after each chunk (progress).

    Returns
    -------
    PowerResult
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
    try:
        with _Executor(settings.workers) as executor:
            while True:
                jobs = _jobs(scenario, settings, grid, assurance, done, target)
                total = chunks_done + len(jobs)
                for kind, result in executor.ordered(jobs):
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
    )


def _run_metadata(settings: PowerSettings, replicates: int) -> dict[str, str]:
    return {
        "cohortsim.replicates": str(replicates),
        "cohortsim.workers": str(settings.workers),
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
    """The chunks of replicates ``first`` to ``stop − 1``: power ones, then assurance ones."""
    jobs = []
    for a, b in _chunks(first, stop, blocks_per_chunk(scenario, grid[-1], False)):
        jobs.append(("power", ChunkJob(scenario, settings.entropy, a, b, grid, settings.engine)))
    if assurance is not None:
        for a, b in _chunks(first, stop, 1):
            jobs.append(
                ("assurance",
                 ChunkJob(scenario, settings.entropy, a, b, grid, settings.engine, assurance))
            )
    return jobs


class _Executor:
    """Runs chunk jobs in this process or in a pool, yielding results in submission order with
    a bounded number in flight."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _Executor:
        if self.workers > 1:
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=get_context("spawn")
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def ordered(self, jobs: list[tuple[str, ChunkJob]]) -> Iterator[tuple[str, ChunkResult]]:
        if self.pool is None:
            for kind, job in jobs:
                yield kind, run_chunk(job)
            return
        in_flight: list[tuple[str, Future[ChunkResult]]] = []
        queue = list(jobs)
        limit = 2 * self.workers
        while queue or in_flight:
            while queue and len(in_flight) < limit:
                kind, job = queue.pop(0)
                in_flight.append((kind, self.pool.submit(run_chunk, job)))
            kind, future = in_flight.pop(0)
            yield kind, future.result()
