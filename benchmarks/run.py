"""Run cohortsim's benchmarks and print their figures as Markdown tables.

    python benchmarks/run.py            # full sizes (several minutes on 2 cores)
    python benchmarks/run.py --quick    # small sizes (the opt-in pytest run uses this)
    python benchmarks/run.py engines parquet   # only some

Each benchmark prints one table; docs/performance.md records a full run and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.external import EXTERNAL_BENCHMARKS
from benchmarks.measure import (
    SCENARIOS,
    best_of,
    cohortsim_command,
    run_process,
    table,
)
from benchmarks.power_bench import POWER_BENCHMARKS
from cohortsim.allocator import keep_freed_memory
from cohortsim.cohort import LatentCohort
from cohortsim.engine import simulate_course_des, simulate_course_vector
from cohortsim.io import DatasetStaging, RunIdentity
from cohortsim.scenario import load_scenario
from cohortsim.simulate import simulate_tables


def _trial_scenario():  # type: ignore[no-untyped-def]
    path = SCENARIOS / "rct_msc_vs_soc.toml"
    if path.exists():
        return load_scenario(path), path.name
    return load_scenario(SCENARIOS / "liang2010_pilot.toml", ["study.n_patients=200"]), (
        "liang2010_pilot.toml, N=200"
    )


def engines(quick: bool) -> str:
    """(i) SimPy versus vectorised engine on the same scenario and seed: replicates/s."""
    scenario, name = _trial_scenario()
    n_des = 16 if quick else 128
    n_vector = 256 if quick else 2048
    des = best_of(lambda: simulate_course_des(LatentCohort(scenario, 1, np.arange(n_des))), 1)
    vec = best_of(
        lambda: simulate_course_vector(LatentCohort(scenario, 1, np.arange(n_vector))), 3
    )
    des_tables = best_of(lambda: simulate_tables(scenario, 1, np.arange(n_des), "des"), 1)
    vec_tables = best_of(lambda: simulate_tables(scenario, 1, np.arange(n_des), "vector"), 1)
    rows = [
        ("simulated course (what power uses)", f"{n_des / des:,.0f}", f"{n_vector / vec:,.0f}",
         f"{(n_vector / vec) / (n_des / des):.1f}x"),
        ("course + all four tables (simulate)", f"{n_des / des_tables:,.0f}",
         f"{n_des / vec_tables:,.0f}", f"{des_tables / vec_tables:.1f}x"),
    ]
    return f"Engines on {name} ({scenario.study.n_patients} patients/trial), replicates/s\n\n" + (
        table(rows, ("work", "SimPy (des)", "vectorised", "ratio"))
    )


def parquet(quick: bool) -> str:
    """(iii) Parquet write rows/s (zstd, dictionary-encoded), per table of one shard."""
    scenario = load_scenario(SCENARIOS / "liang2010_pilot.toml")
    replicates = 500 if quick else 3333
    tables = simulate_tables(scenario, 1, np.arange(replicates), "vector")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        identity = RunIdentity(scenario.sha256, 1, "vector", replicates, replicates)
        for attempt in range(2):
            staging = DatasetStaging.open(Path(tmp) / f"out{attempt}", identity)
            seconds = best_of(lambda staging=staging: staging.write_shard(0, tables), 1)
        total = sum(t.num_rows for t in tables.values())
        for name, t in tables.items():
            rows.append((name, f"{t.num_rows:,}", f"{t.num_columns}"))
        rows.append(("all four", f"{total:,}", f"{total / seconds:,.0f} rows/s"))
    return "Parquet write of one shard (zstd, dictionaries)\n\n" + table(
        rows, ("table", "rows", "columns / rate")
    )


def scaling(quick: bool) -> str:
    """(iv) Cost of the vectorised engine as N and replicates grow (should be linear)."""
    scenario = load_scenario(SCENARIOS / "reference_logrank.toml")
    base_r = 512 if quick else 2048
    rows = []
    for n in (50, 100, 200, 400):
        s = load_scenario(SCENARIOS / "reference_logrank.toml", [f"study.n_patients={n}",
                                                                 f"cutoff.events={n // 3}"])
        sec = best_of(lambda s=s: simulate_course_vector(LatentCohort(s, 1, np.arange(base_r))))
        rows.append((f"N={n}, R={base_r}", f"{sec * 1e3:.1f} ms",
                     f"{sec / (n * base_r) * 1e9:.0f} ns"))
    for r in (base_r, 2 * base_r, 4 * base_r):
        sec = best_of(lambda r=r: simulate_course_vector(LatentCohort(scenario, 1, np.arange(r))))
        rows.append((f"N=200, R={r}", f"{sec * 1e3:.1f} ms", f"{sec / (200 * r) * 1e9:.0f} ns"))
    return "Vectorised engine cost on reference_logrank (event-driven cut)\n\n" + table(
        rows, ("size", "time", "per patient-trial")
    )


def workers(quick: bool) -> str:
    """(v) simulate with 1 versus 2 worker processes (whole process, same output)."""
    replicates = 4000 if quick else 40000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w in (1, 2):
            run = run_process(cohortsim_command(
                "simulate", str(SCENARIOS / "liang2010_pilot.toml"), "--engine", "vector",
                "--replicates", str(replicates), "--seed", "5", "--workers", str(w),
                "--shard-size", str(replicates // 8), "--out", f"{tmp}/w{w}"))
            rows.append((str(w), f"{run.seconds:.1f} s", f"{replicates * 15 / run.seconds:,.0f}",
                         f"{run.peak_mib:,.0f} MiB"))
    return (f"simulate liang2010_pilot, {replicates:,} replicates (vector engine), by workers\n\n"
            + table(rows, ("workers", "wall time", "patients/s", "peak RSS (largest process)")))


def memory(quick: bool) -> str:
    """Bounded memory: simulate 10 million patients (pilot × 666,667 replicates)."""
    replicates = 20_000 if quick else 666_667
    with tempfile.TemporaryDirectory() as tmp:
        run = run_process(cohortsim_command(
            "simulate", str(SCENARIOS / "liang2010_pilot.toml"), "--engine", "vector",
            "--replicates", str(replicates), "--seed", "9", "--workers", "2",
            "--out", f"{tmp}/big"))
    rows = [(f"{replicates * 15:,} patients", f"{run.seconds:.0f} s", f"{run.peak_mib:,.0f} MiB")]
    return "simulate, peak memory\n\n" + table(rows, ("size", "wall time", "peak RSS"))


BENCHMARKS: dict[str, Callable[[bool], str]] = {
    "engines": engines,
    "parquet": parquet,
    "scaling": scaling,
    "workers": workers,
    "memory": memory,
    **POWER_BENCHMARKS,
    **EXTERNAL_BENCHMARKS,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        choices = ", ".join(BENCHMARKS)
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {choices}")
    # In-process benchmarks run under the allocator settings of the command line.
    keep_freed_memory()
    print(f"# cohortsim benchmarks ({'quick' if args.quick else 'full'})")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}\n")
    for name in args.names or list(BENCHMARKS):
        print(f"## {name}\n")
        print(BENCHMARKS[name](args.quick), end="\n\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
