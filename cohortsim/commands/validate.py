"""Replay the pilot with the calibrated model and check every reported figure.

Posterior predictive check: each simulated pilot draws a row of the calibrated posterior (the
file the scenario's arm references with parameters_from) and simulates the pilot's own design.
Prints, for every target: the reported value, the simulated median, the 95% predictive
interval, whether the value is inside, and the probability of seeing exactly what was reported.

With --out DIR, writes DIR/validation.parquet, DIR/validation.md and the figures
DIR/relapse_free.png, DIR/sledai.png, DIR/proteinuria.png.

Exit status 1 when a figure from the published abstract [A] lies outside its interval.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.parquet as pq

from cohortsim.calibration.posterior import Posterior, read_posterior
from cohortsim.calibration.predictive import LEVEL, job_count, predictive_check
from cohortsim.calibration.targets import load_targets
from cohortsim.commands.common import UsageError, load, positive_int, resolve_seed, seed_int
from cohortsim.progress import Progress

DEFAULT_REPLICATES = 2000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", type=Path,
                        help="pilot scenario whose arm references a calibrated file")
    parser.add_argument("--targets", type=Path,
                        help="targets file (default: the one recorded in the calibrated file)")
    parser.add_argument("--replicates", type=positive_int, default=DEFAULT_REPLICATES,
                        help=f"simulated pilots (default {DEFAULT_REPLICATES})")
    parser.add_argument("--out", type=Path, help="directory for the table and figures")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a scenario key (repeatable)")
    parser.add_argument("--seed", type=seed_int,
                        help="seed entropy (default: the scenario's simulation.seed)")
    parser.add_argument("--pilots-per-draw", type=positive_int, default=4,
                        help="pilots simulated per posterior draw (default 4)")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="worker processes (results do not depend on it; default 1)")


def _posterior(args: argparse.Namespace, scenario) -> tuple[Posterior | None, Path | None]:  # type: ignore[no-untyped-def]
    includes = scenario.resolved["derived"]["includes"]
    if not includes:
        return None, None
    if len(includes) > 1:
        raise UsageError(f"{args.scenario}: validation needs a single-arm pilot scenario")
    (include,) = includes.values()
    path = Path(include["path"])
    if not path.is_absolute():
        path = Path(args.scenario).parent / path
    return read_posterior(path), path


def run(args: argparse.Namespace) -> int:
    scenario = load(args)
    if len(scenario.arms) != 1:
        raise UsageError(f"{args.scenario}: validation needs a single-arm pilot scenario")
    posterior, path = _posterior(args, scenario)
    targets_path = args.targets
    if targets_path is None:
        recorded = None if posterior is None else posterior.calibration.get("targets")
        if recorded is None:
            raise UsageError(
                f"{args.scenario}: its arm references no calibrated file with a targets file; "
                "pass --targets"
            )
        targets_path = Path(path).parent / recorded  # type: ignore[arg-type]
    targets = load_targets(targets_path)
    if posterior is not None:
        recorded_sha = posterior.calibration.get("targets_sha256")
        if recorded_sha and recorded_sha != targets.sha256:
            print(f"warning: {targets.path} differs from the targets the posterior was "
                  "calibrated to (SHA-256 mismatch)", file=sys.stderr)
    else:
        print("note: the scenario references no calibrated file; simulating its fixed "
              "parameters (no parameter uncertainty)", file=sys.stderr)
    seed = resolve_seed(args, scenario)
    progress = Progress(
        "validate", job_count(args.replicates, args.pilots_per_draw, args.workers)
    )
    result = predictive_check(
        scenario, targets, posterior, args.replicates, seed,
        pilots_per_draw=args.pilots_per_draw, workers=args.workers, on_job=progress.advance,
    )
    progress.close()
    print(f"{scenario.study.name}: {result.replicates} simulated pilots, {result.draws} posterior "
          f"draws{'' if path is None else f' from {path}'}, seed {seed}; "
          f"{int(LEVEL * 100)}% predictive intervals")
    print(result.summary())
    if args.out is not None:
        from cohortsim.calibration.figures import write_figures  # matplotlib only when needed

        args.out.mkdir(parents=True, exist_ok=True)
        pq.write_table(result.to_arrow(), args.out / "validation.parquet")
        (args.out / "validation.md").write_text(result.to_markdown(), encoding="utf-8")
        figures = write_figures(result, targets, args.out)
        print(f"wrote {args.out / 'validation.parquet'}, {args.out / 'validation.md'}, "
              + ", ".join(str(f) for f in figures))
    failures = result.abstract_failures
    outside = [r for r in result.rows if not r.inside]
    print(f"{len(result.rows) - len(outside)} of {len(result.rows)} inside; "
          f"{len(failures)} abstract [A] figures outside; {result.seconds:.1f} s")
    if failures:
        print("outside (abstract): " + ", ".join(r.label for r in failures), file=sys.stderr)
        return 1
    return 0
