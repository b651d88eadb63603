"""Simulate a scenario's trials and write the synthetic patient timelines as Parquet.

Writes OUT/patients/, OUT/visits/, OUT/events/, OUT/trials/ (Parquet datasets) and
OUT/manifest.json (resolved scenario, its hash, seed, versions, row counts). The output appears
only when complete: work goes to OUT.partial/ first, and rerunning an interrupted command resumes
it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cohortsim.commands.common import (
    add_executor_arguments,
    add_scenario_arguments,
    load,
    positive_int,
    resolve_seed,
)
from cohortsim.progress import Progress
from cohortsim.simulate import default_shard_size, run_simulation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--engine",
        choices=("des", "vector"),
        default="des",
        help="des: SimPy discrete-event engine (default); vector: vectorised "
        "engine (same output, faster)",
    )
    add_executor_arguments(parser)
    parser.add_argument(
        "--shard-size",
        type=positive_int,
        help="replicates per shard (advanced; default from the trial size)",
    )


def run(args: argparse.Namespace) -> int:
    scenario = load(args)
    replicates = args.replicates or scenario.simulation.replicates
    seed = resolve_seed(args, scenario)
    shard_size = args.shard_size or default_shard_size(scenario, replicates)
    progress = Progress("simulate", -(-replicates // shard_size))
    result = run_simulation(
        scenario,
        args.out,
        replicates,
        seed,
        engine=args.engine,
        workers=args.workers,
        overwrite=args.overwrite,
        shard_size=shard_size,
        on_shard=progress.advance,
        executor=args.executor,
        scheduler=args.scheduler,
    )
    progress.close()
    resumed = (
        f", {result.shards_reused} reused from an interrupted run" if result.shards_reused else ""
    )
    print(
        f"{scenario.study.name}: {replicates} trials x {scenario.study.n_patients} patients, "
        f"seed {seed}, engine {args.engine}"
    )
    for table, rows in result.rows.items():
        print(f"  {table:<9}{rows:>12,} rows   {args.out / table}/")
    print(f"  manifest   {args.out / 'manifest.json'}")
    print(f"done in {result.seconds:.1f} s ({result.shards_run} shards{resumed})")
    return 0
