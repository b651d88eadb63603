"""Simulate and analyse one chunk of replicates at every trial size: the power runner's unit of
work.

A chunk is a run of whole seeding blocks (256 replicates each). For every trial size N on the
grid — largest first, the smaller ones being prefixes of it (:mod:`cohortsim.power.cohorts`) —
the chunk's trials are simulated by the chosen engine, interim looks are taken on the primary
endpoint, and every endpoint is analysed for every comparison at the analysis where the trial
stopped. Each replicate's result depends only on its own draws, so results do not depend on how
replicates are cut into chunks or spread over workers.

The result is columnar: one row per N × replicate × comparison × endpoint (the
``replicates.parquet`` schema of :mod:`cohortsim.power.output`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cohortsim.cohort import LatentCohort
from cohortsim.endpoints import (
    PatientEndpoints,
    assessment_visit,
    course_at,
    derive_endpoints,
)
from cohortsim.engine import ENGINES
from cohortsim.engine.vector import relapses_only, simulate_relapses_vector
from cohortsim.power.analyses import (
    Comparison,
    EndpointBlocks,
    EndpointResult,
    analyse,
    decisions,
)
from cohortsim.power.assurance import AssuranceCohort, AssuranceDesign, draw_parameter_sets
from cohortsim.power.cohorts import prefix_cohort
from cohortsim.power.sequential import (
    EFFICACY,
    FINAL,
    HARM,
    boundaries,
    final_decision,
    interim_decision,
    look_times,
)
from cohortsim.scenario.types import Scenario
from cohortsim.seeding import REPLICATES_PER_BLOCK

Columns = dict[str, np.ndarray]

ASSURANCE_PREFIX = "arms."


def comparisons(scenario: Scenario) -> tuple[Comparison, ...]:
    """The comparisons of the scenario's analysis (each treatment arm against the control)."""
    names = scenario.arm_names
    a = scenario.analysis
    assert a is not None
    control = names.index(a.control_arm)
    only = len(names) == 2
    return tuple(Comparison(t, control, names.index(t), only) for t in a.treatment_arms)


@dataclass(frozen=True)
class ChunkJob:
    """Replicates ``first`` to ``stop − 1`` (whole blocks) at every N of ``n_grid``.

    With ``assurance`` set, each replicate first draws its parameters (the assurance run);
    otherwise the scenario's point values are used (the power run).
    """

    scenario: Scenario
    entropy: int
    first: int
    stop: int
    n_grid: tuple[int, ...]
    engine: str = "vector"
    assurance: AssuranceDesign | None = None


@dataclass(frozen=True)
class ChunkResult:
    """The rows of one chunk, and for assurance the parameter sets drawn."""

    first: int
    stop: int
    rows: Columns
    draws: Columns | None = None
    rejected_draws: int = 0


def _cohort(job: ChunkJob, n_max: int) -> tuple[LatentCohort, Columns | None, int]:
    replicates = np.arange(job.first, job.stop)
    if job.assurance is None:
        return LatentCohort(job.scenario, job.entropy, replicates, n_patients=n_max), None, 0
    design = job.assurance
    per_draw = design.replicates_per_draw
    variants: list[Scenario] = []
    draw_rows: dict[str, list] = {"draw": [], "block": []}
    rejected = 0
    for block in np.unique(replicates // REPLICATES_PER_BLOCK):
        sets = draw_parameter_sets(design, job.entropy, int(block))
        rejected += sets.rejected
        variants.extend(sets.scenarios)
        for j, values in enumerate(sets.values):
            draw_rows["draw"].append(int(block) * design.draws_per_block + j)
            draw_rows["block"].append(int(block))
            for key, value in values.items():
                draw_rows.setdefault(key, []).append(value)
    first_draw = job.first // per_draw
    set_of_row = replicates // per_draw - first_draw
    cohort = AssuranceCohort(
        job.scenario, tuple(variants), set_of_row, job.entropy, replicates, n_max,
        design.n_flares,
    )
    draws = {k: np.asarray(v) for k, v in draw_rows.items()}
    return cohort, draws, rejected


def _real_arm(cohort: LatentCohort) -> np.ndarray:
    return cohort.real_arm if isinstance(cohort, AssuranceCohort) else cohort.arm


def run_chunk(job: ChunkJob) -> ChunkResult:
    """Simulate and analyse the chunk (see the module docstring)."""
    scenario = job.scenario
    settings = scenario.analysis
    assert settings is not None
    grid = sorted(job.n_grid, reverse=True)
    if job.assurance is None and boundaries(settings) is None:
        return _run_chunk_by_block(job, grid)
    big, draws, rejected = _cohort(job, grid[0])
    parts: list[Columns] = []
    for n in grid:
        cohort = big if n == grid[0] else prefix_cohort(big, n)
        parts.append(_analyse_size(job, n, cohort.replicates, *_simulate_size(job, cohort)))
    return ChunkResult(job.first, job.stop, _by_size(parts), draws, rejected)


def _by_size(parts: list[Columns]) -> Columns:
    order = np.argsort([p["n_total"][0] for p in parts], kind="stable")
    return {k: np.concatenate([parts[i][k] for i in order]) for k in parts[0]}


def _run_chunk_by_block(job: ChunkJob, grid: list[int]) -> ChunkResult:
    """The chunk without interim looks or assurance draws: simulated one seeding block at a
    time, analysed all at once.

    The engine and the endpoints are per replicate, so simulating block by block gives the
    same numbers, and the (256, N) arrays of one block stay in cache (reference_logrank,
    4,096 replicates: 0.064 s by block against 0.095 s in one pass). The analyses still see
    the whole chunk as one batch: a batch-level choice such as the log-rank's tied/untied path
    must not depend on the block. The time-to-relapse analysis takes the blocks as they are
    (:class:`cohortsim.power.analyses.EndpointBlocks`: same numbers, arrays kept in cache,
    nothing stacked); the other endpoints analyse the stacked blocks.
    """
    per_size: dict[int, list[PatientEndpoints]] = {n: [] for n in grid}
    for a in range(job.first, job.stop, REPLICATES_PER_BLOCK):
        b = min((a // REPLICATES_PER_BLOCK + 1) * REPLICATES_PER_BLOCK, job.stop)
        big = LatentCohort(job.scenario, job.entropy, np.arange(a, b), n_patients=grid[0])
        for n in grid:
            cohort = big if n == grid[0] else prefix_cohort(big, n)
            per_size[n].append(_final_endpoints(job, cohort))
    replicates = np.arange(job.first, job.stop)
    r = replicates.size
    parts = []
    for n in grid:
        blocks = EndpointBlocks(tuple(per_size[n]))
        cutoff = np.concatenate([b.cutoff_month for b in blocks.blocks])
        parts.append(
            _analyse_size(
                job, n, replicates, blocks, np.full(r, FINAL, dtype=np.int8),
                np.ones(r, dtype=np.int8), cutoff, None,
            )
        )
    return ChunkResult(job.first, job.stop, _by_size(parts))


def _final_endpoints(job: ChunkJob, cohort: LatentCohort) -> PatientEndpoints:
    """Endpoints at the final analysis of a design without interim looks. For the time-to-event
    model with immediate detection (:func:`cohortsim.engine.vector.relapses_only`) the vector
    engine's relapse-only path gives the same arrays without simulating the whole course."""
    if job.engine == "vector" and relapses_only(cohort):
        return relapse_endpoints(cohort)
    return _simulate_size(job, cohort)[0]


def relapse_endpoints(cohort: LatentCohort) -> PatientEndpoints:
    """``derive_endpoints(cohort, simulate_course_vector(cohort))`` for a cohort where
    :func:`cohortsim.engine.vector.relapses_only` holds, from
    :func:`cohortsim.engine.vector.simulate_relapses_vector` (tests hold the two equal).

    The fields of :func:`cohortsim.endpoints.derive_endpoints` (lupus model aside), less
    three ``np.where(included, x, fill)`` that change nothing here: ``follow_up`` is already
    NaN, and no flare is detected, outside the enrolled patients.
    """
    r = simulate_relapses_vector(cohort)
    return PatientEndpoints(
        included=r.enrolled,
        arm=cohort.arm,
        stratum=cohort.stratum,
        relapse_time=r.relapse_time,
        relapse_observed=r.observed,
        flares=r.flares,
        exposure=r.follow_up,
        cutoff_month=r.cutoff_month,
    )


def _simulate_size(job: ChunkJob, cohort: LatentCohort):  # type: ignore[no-untyped-def]
    """Endpoints at the analysis where each trial stopped: (endpoints, stop code, look,
    stop time, design)."""
    scenario = job.scenario
    settings = scenario.analysis
    assert settings is not None
    course = ENGINES[job.engine](cohort)
    assessed = any(e in ("sri4", "remission", "sledai_change") for e in settings.endpoints)
    month = settings.responder.assessment_month if assessed or (
        settings.interim.timing == "assessments"
    ) else None
    arm = _real_arm(cohort)
    r = cohort.replicates.size
    pairs = comparisons(scenario)

    design = boundaries(settings)
    stop = np.full(r, FINAL, dtype=np.int8)
    look = np.full(r, 1 if design is None else len(design.efficacy), dtype=np.int8)
    stop_time = course.cutoff_month.copy()
    primary_z_stop = np.full(r, np.nan)
    if design is not None:
        if len(pairs) != 1:
            raise ValueError("interim looks need exactly one treatment arm")
        index = assessment_visit(cohort, month) if month is not None and cohort.n_visits else None
        times = look_times(cohort, course, settings, scenario.cutoff.events, index)
        for k in range(times.shape[1]):
            active = (stop == FINAL) & np.isfinite(times[:, k])
            if not active.any():
                continue
            at = course_at(cohort, course, np.where(active, times[:, k], np.inf))
            ep = replace(derive_endpoints(cohort, at, month), arm=arm)
            rows = np.nonzero(active)[0]
            z = analyse(settings.primary, ep.select(rows), pairs[0], settings).z
            code = interim_decision(z, k, design)
            stopped = rows[code != FINAL]
            stop[stopped] = code[code != FINAL]
            look[stopped] = k + 1
            stop_time[stopped] = times[stopped, k]
            primary_z_stop[stopped] = z[code != FINAL]
        course = course_at(cohort, course, stop_time)
    ep = replace(derive_endpoints(cohort, course, month), arm=arm)
    return ep, stop, look, stop_time, design


def _analyse_size(  # type: ignore[no-untyped-def]
    job: ChunkJob,
    n: int,
    replicates: np.ndarray,
    ep: PatientEndpoints | EndpointBlocks,
    stop: np.ndarray,
    look: np.ndarray,
    stop_time: np.ndarray,
    design,
) -> Columns:
    settings = job.scenario.analysis
    assert settings is not None
    pairs = comparisons(job.scenario)
    out: list[Columns] = []
    for c_index, pair in enumerate(pairs):
        for e_index, endpoint in enumerate(settings.endpoints):
            result = analyse(endpoint, ep, pair, settings)
            rejected, significant = decisions(result, settings.alpha)
            if design is not None and endpoint == settings.primary:
                final_rejected, final_significant = final_decision(result.z, design)
                at_final = stop == FINAL
                rejected = np.where(at_final, final_rejected, stop == EFFICACY)
                significant = np.where(
                    at_final, final_significant, (stop == EFFICACY) | (stop == HARM)
                )
            out.append(
                _rows(n, replicates, c_index, e_index, result, rejected, significant,
                      stop_time, look, stop)
            )
    columns = {k: np.concatenate([o[k] for o in out]) for k in out[0]}
    # one row per N × replicate × comparison × endpoint, ordered by replicate within N
    order = np.lexsort((columns["endpoint"], columns["comparison"], columns["replicate"]))
    return {k: v[order] for k, v in columns.items()}


def _rows(
    n: int,
    replicates: np.ndarray,
    comparison: int,
    endpoint: int,
    result: EndpointResult,
    rejected: np.ndarray,
    significant: np.ndarray,
    duration: np.ndarray,
    look: np.ndarray,
    stop: np.ndarray,
) -> Columns:
    r = replicates.size
    return {
        "n_total": np.full(r, n, dtype=np.int32),
        "replicate": replicates.astype(np.int64),
        "comparison": np.full(r, comparison, dtype=np.int8),
        "endpoint": np.full(r, endpoint, dtype=np.int8),
        "estimate": result.estimate.astype(float),
        "se": result.se.astype(float),
        "statistic": result.statistic.astype(float),
        "pvalue": result.pvalue.astype(float),
        "ci_low": result.ci_low.astype(float),
        "ci_high": result.ci_high.astype(float),
        "rejected": np.asarray(rejected, dtype=bool),
        "significant": np.asarray(significant, dtype=bool),
        "events": result.events.astype(float),
        "n_analysed": result.n_analysed.astype(np.int64),
        "duration_months": duration.astype(float),
        "look": look.astype(np.int8),
        "stop": stop.astype(np.int8),
    }
