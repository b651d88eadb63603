"""Power benchmarks (registered into benchmarks.run): the reference design at N = 200 and the
README main job, as whole processes, with peak memory."""

from __future__ import annotations

import json

import numpy as np

from benchmarks.measure import SCENARIOS, best_of, cohortsim_command, run_process, table


def power_reference(quick: bool) -> str:
    """(ii) reference_logrank power at N = 200: replicates/s per core including the log-rank, and
    whole-process time; (v) 1 versus 2 workers; bounded memory."""
    replicates = 10_000 if quick else 100_000
    rows = []
    # The scenario's default estimates the hazard ratio by a Cox fit besides the log-rank test;
    # "peto" takes the Peto estimate the log-rank already gives (same power, no Cox fit).
    for estimate, workers in (("cox", 1), ("cox", 2), ("peto", 1), ("peto", 2)):
        run = run_process(cohortsim_command(
            "power", str(SCENARIOS / "reference_logrank.toml"), "--n", "200",
            "--replicates", str(replicates), "--seed", "3", "--workers", str(workers), "--json",
            "--set", f"analysis.time_to_relapse.hazard_ratio={estimate}"))
        power = json.loads(run.stdout)
        logrank = next(r for r in power if "rank" in r["endpoint"] or "relapse" in r["endpoint"])
        rows.append((estimate, str(workers), f"{run.seconds:.2f} s",
                     f"{replicates / run.seconds:,.0f}",
                     f"{replicates / run.seconds / workers:,.0f}",
                     f"{run.cpu_seconds:.2f} s", f"{replicates / run.cpu_seconds:,.0f}",
                     f"{run.peak_mib:,.0f} MiB", f"{logrank['power']:.4f}"))
    # "per core" divides by the workers' wall time; "per CPU-second" by the CPU time every
    # process of the run used (the parent and each worker, start-up included).
    return (f"power reference_logrank.toml --n 200 --replicates {replicates:,} (whole process, "
            "incl. start-up)\n\n" + table(rows, ("hazard ratio", "workers", "wall time",
                                                 "replicates/s", "per core (wall)", "CPU time",
                                                 "per CPU-second", "peak RSS",
                                                 "log-rank power")))


def power_breakdown(quick: bool) -> str:
    """Where the in-process time of the reference design goes: 4,096 trials of 200 patients
    (16 seeding blocks) by stage, one core, best of several runs."""
    from cohortsim.analysis.survival import logrank_cox_blocks
    from cohortsim.cohort import LatentCohort
    from cohortsim.power.analyses import EndpointBlocks, _groups
    from cohortsim.power.trials import ChunkJob, comparisons, relapse_endpoints, run_chunk
    from cohortsim.scenario import load_scenario

    scenario = load_scenario(SCENARIOS / "reference_logrank.toml")
    replicates = 1024 if quick else 4096
    starts = range(0, replicates, 256)

    def cohorts() -> list[LatentCohort]:
        out = [LatentCohort(scenario, 3, np.arange(a, a + 256), n_patients=200) for a in starts]
        for c in out:
            c.enrol_month, c.arm, c.relapse_units, c.stratum  # noqa: B018 - draw them
        return out

    drawn = cohorts()
    blocks = EndpointBlocks(tuple(relapse_endpoints(c) for c in drawn))
    pair = comparisons(scenario)[0]

    def inputs() -> list[tuple]:  # type: ignore[type-arg]
        out = []
        for b in blocks.blocks:
            mask, group = _groups(b, pair)
            out.append((np.where(mask, b.relapse_time, 0.0), b.relapse_observed, group, mask,
                        None))
        return out

    batch = inputs()
    stages = {
        "draws (enrolment, allocation, event times)": best_of(cohorts, 5),
        "engine + endpoints (relapse-only path)": best_of(
            lambda: [relapse_endpoints(c) for c in drawn], 5),
        "analysis inputs (mask, group, time)": best_of(inputs, 5),
        "sort + log-rank": best_of(lambda: logrank_cox_blocks(batch, fit_cox=False), 5),
        "sort + log-rank + Cox fit": best_of(lambda: logrank_cox_blocks(batch), 5),
        "run_chunk, all of it": best_of(
            lambda: run_chunk(ChunkJob(scenario, 3, 0, replicates, (200,))), 5),
    }
    rows = [(name, f"{seconds * 1e3:.1f} ms", f"{replicates / seconds:,.0f}")
            for name, seconds in stages.items()]
    return (f"In-process stages, reference_logrank N = 200, {replicates:,} trials, one core\n\n"
            + table(rows, ("stage", "time", "trials/s at this stage alone")))


def power_main_job(quick: bool) -> str:
    """The README main job (power curve over 9 sample sizes, 5 endpoints)."""
    replicates = 500 if quick else 2000
    run = run_process(cohortsim_command(
        "power", str(SCENARIOS / "rct_msc_vs_soc.toml"), "--n", "40:200:20", "--replicates",
        str(replicates), "--seed", "1", "--workers", "2", "--json"))
    rows = [(f"{replicates:,} per N × 9 N", f"{run.seconds:.1f} s", f"{run.peak_mib:,.0f} MiB")]
    return "README main job, rct_msc_vs_soc.toml, 2 workers\n\n" + table(
        rows, ("replicates", "wall time", "peak RSS"))


POWER_BENCHMARKS = {
    "power_reference": power_reference,
    "power_breakdown": power_breakdown,
    "power_main_job": power_main_job,
}
