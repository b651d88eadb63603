"""Power benchmarks (registered into benchmarks.run): the reference design at N = 200 and the
README main job, as whole processes, with peak memory."""

from __future__ import annotations

import json

from benchmarks.measure import SCENARIOS, cohortsim_command, run_process, table


def power_reference(quick: bool) -> str:
    """(ii) reference_logrank power at N = 200: replicates/s per core including the log-rank, and
    whole-process time; (v) 1 versus 2 workers; bounded memory."""
    replicates = 10_000 if quick else 100_000
    rows = []
    for workers in (1, 2):
        run = run_process(cohortsim_command(
            "power", str(SCENARIOS / "reference_logrank.toml"), "--n", "200",
            "--replicates", str(replicates), "--seed", "3", "--workers", str(workers), "--json"))
        power = json.loads(run.stdout)
        logrank = next(r for r in power if "rank" in r["endpoint"] or "relapse" in r["endpoint"])
        rows.append((str(workers), f"{run.seconds:.2f} s", f"{replicates / run.seconds:,.0f}",
                     f"{replicates / run.seconds / workers:,.0f}", f"{run.peak_mib:,.0f} MiB",
                     f"{logrank['power']:.4f}"))
    return (f"power reference_logrank.toml --n 200 --replicates {replicates:,} (whole process, "
            "incl. start-up)\n\n" + table(rows, ("workers", "wall time", "replicates/s",
                                                 "per core", "peak RSS", "log-rank power")))


def power_main_job(quick: bool) -> str:
    """The README main job (power curve over 9 sample sizes, 5 endpoints)."""
    replicates = 500 if quick else 2000
    run = run_process(cohortsim_command(
        "power", str(SCENARIOS / "rct_msc_vs_soc.toml"), "--n", "40:200:20", "--replicates",
        str(replicates), "--seed", "1", "--workers", "2", "--json"))
    rows = [(f"{replicates:,} per N × 9 N", f"{run.seconds:.1f} s", f"{run.peak_mib:,.0f} MiB")]
    return "README main job, rct_msc_vs_soc.toml, 2 workers\n\n" + table(
        rows, ("replicates", "wall time", "peak RSS"))


POWER_BENCHMARKS = {"power_reference": power_reference, "power_main_job": power_main_job}
