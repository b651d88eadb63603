"""Plan a trial: simulate it at every N of a grid, and find the N that gives the target power.

For every trial size N on the grid, REPLICATES trials are simulated (replicate r uses the same
random streams at every N, and larger trials extend smaller ones) and every endpoint of the
scenario's [analysis] is analysed. Prints the power per N and endpoint with its Monte Carlo
error and the smallest N reaching the target power; with --out also writes

  DIR/replicates.parquet   one row per N × replicate × endpoint
  DIR/summary.parquet      one row per N × endpoint (power, MC SE, interval, events, ...)
  DIR/power_curve.png      power against N, duration and events
  DIR/report.md            the decision written out, with analytic cross-checks

and with --assurance DIR/assurance_replicates.parquet and DIR/assurance_draws.parquet.

DIR appears only when complete: the work goes to DIR.partial/ first, shard by shard (run.json
and _shards/), and rerunning an interrupted command computes only the missing shards. A
different scenario, seed, grid or setting with DIR.partial/ present is refused (exit 2).

N grids: --n 40:200:20 (start:stop:step, stop included), --n 60,80,100, or --n 120.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from cohortsim.commands.common import (
    UsageError,
    add_executor_arguments,
    add_scenario_arguments,
    load,
    resolve_seed,
)
from cohortsim.io import SHARDS_DIR, staging_path
from cohortsim.power import PowerSettings, run_power
from cohortsim.power.runner import remove_shards
from cohortsim.progress import Progress

MIN_N = 2


def parse_n_grid(text: str) -> tuple[int, ...]:
    """``"40:200:20"``, ``"60,80,100"`` or ``"120"`` → sorted distinct trial sizes."""
    problem = (
        f"--n {text}: expected N, N1,N2,... or START:STOP:STEP (whole numbers, N >= {MIN_N}), "
        "e.g. --n 40:200:20"
    )
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) != 3 or parts[2] < 1 or parts[1] < parts[0]:
                raise UsageError(problem)
            start, stop, step = parts
            values = list(range(start, stop + 1, step))
        else:
            values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UsageError(problem) from None
    if not values or min(values) < MIN_N:
        raise UsageError(problem)
    return tuple(sorted(set(values)))


def _probability(name: str):  # type: ignore[no-untyped-def]
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
        if not 0 < value < 1:
            raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
        return value

    parse.__name__ = name
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario_arguments(parser)
    parser.add_argument("--n", dest="n_grid", metavar="GRID",
                        help="trial sizes: START:STOP:STEP, N1,N2,... or N "
                        "(default: the scenario's study.n_patients)")
    parser.add_argument("--alpha", type=_probability("alpha"),
                        help="type I error (default: the scenario's analysis.alpha)")
    parser.add_argument("--target-power", type=_probability("power"),
                        help="power the sample-size search aims for "
                        "(default: the scenario's analysis.target_power)")
    parser.add_argument("--mcse", type=_probability("mcse"), metavar="E",
                        help="add replicates until every reported power (and assurance) has "
                        "Monte Carlo SE <= E")
    parser.add_argument("--max-replicates", type=int, default=200_000, metavar="R",
                        help="cap on replicates with --mcse (default 200000)")
    parser.add_argument("--assurance", action="store_true",
                        help="also compute assurance: parameters drawn from the calibrated "
                        "posterior / the scenario's priors for every replicate")
    parser.add_argument("--engine", choices=("vector", "des"), default="vector",
                        help="vector: vectorised engine (default); des: SimPy engine (same "
                        "results, slower)")
    add_executor_arguments(parser)
    parser.add_argument("--out", type=Path, help="output directory (default: write nothing); "
                        "an interrupted run resumes from DIR.partial/ when rerun")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--json", action="store_true",
                        help="print the summary rows as a JSON list on stdout (nothing else)")


def _prepare_out(out: Path, overwrite: bool) -> tuple[Path, bool]:
    """The staging directory ``DIR.partial`` (created unless it exists: it may be resumed), and
    whether this call created it."""
    if out.exists() and not overwrite:
        raise UsageError(f"--out {out}: already exists (pass --overwrite to replace it)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    staging = staging_path(out)
    if staging.exists() and not staging.is_dir():
        raise UsageError(f"--out {out}: {staging} exists and is not a directory; remove it")
    if staging.is_dir():
        return staging, False
    try:
        staging.mkdir(parents=True)
    except OSError as error:
        raise UsageError(f"--out {out}: cannot create it ({error.strerror})") from None
    return staging, True


def _finish_out(staging: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    # The shards go only once the output is in place: a kill before this point still resumes.
    remove_shards(out)


def _abandon(staging: Path, created: bool) -> None:
    """After a failure: keep completed shards for a rerun; remove a staging directory this run
    created and wrote no shard into (nothing worth resuming)."""
    shards = staging / SHARDS_DIR
    has_shards = shards.is_dir() and any(p.suffix == ".parquet" for p in shards.iterdir())
    if created and not has_shards:
        shutil.rmtree(staging, ignore_errors=True)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(args: argparse.Namespace) -> int:
    if args.alpha is not None:
        args.overrides.append(f"analysis.alpha={args.alpha!r}")
    if args.target_power is not None:
        args.overrides.append(f"analysis.target_power={args.target_power!r}")
    if args.max_replicates < 1:
        raise UsageError("--max-replicates: expected a whole number >= 1")
    scenario = load(args)
    analysis = scenario.analysis
    if analysis is None or not analysis.treatment_arms:
        raise UsageError(
            f"{args.scenario}: power needs a control arm and at least one treatment arm "
            "(this scenario has one arm)"
        )
    grid = parse_n_grid(args.n_grid) if args.n_grid else (scenario.study.n_patients,)
    replicates = args.replicates or scenario.simulation.replicates
    seed = resolve_seed(args, scenario)
    settings = PowerSettings(
        n_grid=grid,
        replicates=replicates,
        entropy=seed,
        engine=args.engine,
        workers=args.workers,
        target_mcse=args.mcse,
        max_replicates=max(args.max_replicates, replicates),
        assurance=args.assurance,
        executor=args.executor,
        scheduler=args.scheduler,
    )
    staging, created = (
        _prepare_out(args.out, args.overwrite) if args.out is not None else (None, False)
    )
    progress = Progress("power", 1)

    def on_chunk(done: int, total: int) -> None:
        progress.total = max(total, 1)
        progress.advance(done - progress.done)

    try:
        try:
            result = run_power(scenario, settings, staging, on_chunk, keep_shards=True)
        except ValueError as error:
            raise UsageError(f"{args.scenario}: {error}") from None
        progress.close()
        if result.shards_reused:
            # stderr: with --json, stdout carries the JSON only.
            print(f"resumed {staging}: {result.shards_reused} shards reused, "
                  f"{result.shards_run} computed", file=sys.stderr)
        if staging is not None:
            # The report (and its figure code) is imported only when there is one to write.
            from cohortsim.report import power_curve, write_report

            power_curve(result, staging / "power_curve.png")
            write_report(result, staging / "report.md", command=_command(args, seed, replicates))
            _finish_out(staging, args.out)
    except BaseException:
        if staging is not None:
            _abandon(staging, created)
        raise
    if args.json:
        rows = [{k: _json_value(v) for k, v in row.items()} for row in result.rows]
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    _print_summary(result, args)
    return 0


def _command(args: argparse.Namespace, seed: int, replicates: int) -> str:
    parts = ["cohortsim", "power", str(args.scenario)]
    if args.n_grid:
        parts += ["--n", args.n_grid]
    parts += ["--replicates", str(replicates), "--seed", str(seed)]
    for item in args.overrides:
        parts += ["--set", item]
    if args.mcse is not None:
        parts += ["--mcse", f"{args.mcse:g}"]
    if args.assurance:
        parts.append("--assurance")
    if args.engine != "vector":
        parts += ["--engine", args.engine]
    if args.executor != "local":
        parts += ["--executor", args.executor]
    if args.out is not None:
        parts += ["--out", str(args.out)]
    return " ".join(shlex.quote(p) for p in parts)


def _print_summary(result: Any, args: argparse.Namespace) -> None:
    from cohortsim.report.figures import LABELS

    a = result.scenario.analysis
    assurance = result.assurance is not None
    print(f"{result.scenario.study.name}: {result.replicates:,} trials per N, seed "
          f"{result.settings.entropy}, engine {result.settings.engine}, "
          f"{'two' if a.sides == 2 else 'one'}-sided alpha {a.alpha:g}, "
          f"{result.seconds:.1f} s")
    for comparison in a.treatment_arms:
        print(f"\n{comparison} vs {a.control_arm}" if len(a.treatment_arms) > 1 else "")
        header = f"{'N':>6}  {'endpoint':<34}{'power':>7}{'MC SE':>8}  {'95% MC interval':<15}"
        header += f"{'assurance':>10}" if assurance else ""
        print(header)
        for row in result.rows:
            if row["comparison"] != comparison:
                continue
            star = "*" if row["primary"] else " "
            line = (f"{row['n_total']:>6} {star}{LABELS[row['endpoint']]:<34}"
                    f"{row['power']:>7.3f}{row['power_mcse']:>8.3f}  "
                    f"{row['ci_low']:.3f}-{row['ci_high']:.3f}    ")
            if assurance:
                line += f"{row['assurance']:>10.3f}"
            print(line)
    print()
    print("* primary. " + result.primary.summary())
    if not result.mcse_met:
        print(f"note: --mcse {result.settings.target_mcse:g} not met within "
              f"{result.settings.max_replicates:,} replicates")
    if args.out is not None:
        print(f"wrote {args.out}/: report.md, power_curve.png, summary.parquet, "
              "replicates.parquet" + (", assurance_*.parquet" if assurance else ""))
