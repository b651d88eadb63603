"""Options and helpers shared by the commands."""

# UsageError is re-exported here for the commands' convenience.

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cohortsim.errors import UsageError
from cohortsim.scenario import load_scenario
from cohortsim.scenario.types import Scenario
from cohortsim.seeding import fresh_entropy


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", type=Path, help="scenario file (TOML)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set study.n_patients=40 (repeatable; "
        "VALUE is a TOML value)",
    )
    parser.add_argument(
        "--seed",
        type=seed_int,
        help="seed entropy (default: the scenario's simulation.seed, else a fresh one, printed)",
    )
    parser.add_argument(
        "--replicates",
        type=positive_int,
        help="simulated trials (default: the scenario's simulation.replicates)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help=(
            "processes computing in all — locally this one and N − 1 spawned workers; with "
            "--executor dask, the local cluster's workers (results do not depend on it; "
            "default 1)"
        ),
    )


def load(args: argparse.Namespace) -> Scenario:
    for item in args.overrides:
        if "=" not in item:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. study.n_patients=40")
    return load_scenario(args.scenario, args.overrides)


def resolve_seed(args: argparse.Namespace, scenario: Scenario) -> int:
    """The seed to use: --seed, else the scenario's, else a fresh one (announced on stderr)."""
    if args.seed is not None:
        return int(args.seed)
    if scenario.simulation.seed is not None:
        return int(scenario.simulation.seed)
    entropy = fresh_entropy()
    print(f"seed: {entropy} (generated; pass --seed {entropy} to reproduce)", file=sys.stderr)
    return entropy


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local: worker processes on this machine (default); dask: a dask.distributed "
        "cluster (needs cohortsim[dask]); results are identical",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --executor dask: scheduler address (default: start a local cluster on "
        "127.0.0.1); workers must see the output directory",
    )
