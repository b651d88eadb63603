"""Calibrate a single-arm pilot scenario's disease parameters to the figures the pilot reported.

Writes a calibrated parameter file (TOML, docs/calibration.md): [calibration] (method, seed,
targets file and its SHA-256, diagnostics, which parameters the pilot identified), [disease]
(posterior medians, in the scenario's disease layout) and [posterior] (posterior draws, one row
per draw). A scenario uses it through its arm's parameters_from = "<path>".

The scenario's own parameters_from is ignored while calibrating (calibration starts from the
scenario's stated values), so rerunning with the same --seed rewrites the same file.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

from cohortsim.calibration.pipeline import CalibrationSettings, calibrate, steps
from cohortsim.calibration.posterior import calibrated_file_text
from cohortsim.calibration.targets import load_targets
from cohortsim.calibration.variants import without_calibration
from cohortsim.commands.common import UsageError, positive_int, resolve_seed, seed_int
from cohortsim.progress import Progress

_DEFAULTS = CalibrationSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", type=Path, help="pilot scenario file (TOML, one arm)")
    parser.add_argument("--targets", type=Path, required=True,
                        help="targets file: the pilot's reported figures (TOML)")
    parser.add_argument("--out", type=Path, required=True,
                        help="calibrated parameter file to write (TOML; replaced if it exists)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a scenario key (repeatable)")
    parser.add_argument("--seed", type=seed_int,
                        help="seed entropy (default: the scenario's simulation.seed)")
    parser.add_argument("--draws", type=positive_int, default=_DEFAULTS.n_draws,
                        help=f"posterior draws to write (default {_DEFAULTS.n_draws})")
    parser.add_argument("--simulations", type=positive_int, default=_DEFAULTS.abc_simulations,
                        help="simulated pilots for the ABC of the aggregate figures "
                        f"(default {_DEFAULTS.abc_simulations})")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="worker processes (results do not depend on it; default 1)")


def _command(args: argparse.Namespace, seed: int) -> str:
    parts = ["cohortsim", "calibrate", str(args.scenario), "--targets", str(args.targets),
             "--out", str(args.out), "--seed", str(seed)]
    for item in args.overrides:
        parts += ["--set", item]
    if args.draws != _DEFAULTS.n_draws:
        parts += ["--draws", str(args.draws)]
    if args.simulations != _DEFAULTS.abc_simulations:
        parts += ["--simulations", str(args.simulations)]
    return shlex.join(parts)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; give a normal file's mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    for item in args.overrides:
        if "=" not in item:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. study.n_patients=40")
    scenario = without_calibration(args.scenario, args.overrides)
    targets = load_targets(args.targets)
    if len(scenario.arms) != 1:
        raise UsageError(
            f"{args.scenario}: calibration needs a single-arm pilot scenario (arms: "
            f"{', '.join(scenario.arm_names)})"
        )
    if args.out.is_dir():
        raise UsageError(f"--out {args.out}: expected a file path, not a directory")
    seed = resolve_seed(args, scenario)
    settings = CalibrationSettings(
        n_draws=args.draws, abc_simulations=args.simulations, workers=args.workers
    )
    progress = Progress("calibrate", steps(settings))
    result = calibrate(scenario, targets, seed, settings, on_step=progress.advance)
    progress.close()
    command = _command(args, seed)
    text = calibrated_file_text(
        result, scenario.sha256, args.scenario, targets, args.out, command
    )
    _write_atomically(args.out, text)

    print(f"{scenario.study.name}: calibrated to {len(targets)} targets in {targets.path}, "
          f"seed {seed}")
    print(result.summary())
    unused = [u for u in result.uses if u.role == "validation"]
    used = len(result.uses) - len(unused)
    print(f"targets: {used} used in calibration, {len(unused)} kept for validation only "
          "(see [calibration.targets_used])")
    abc = result.diagnostics.get("abc")
    if abc:
        print(f"ABC: {abc['simulations']} simulated pilots, {abc['eligible']} matched the counts "
              f"exactly, {abc['accepted']} accepted (tolerance {abc['tolerance']:.3g})")
    rec = result.diagnostics.get("reconstruction")
    if rec:
        print(f"follow-up reconstruction: {rec['accepted']} of {rec['simulations']} kept "
              f"(tolerance {rec['tolerance']:.3g})")
    print(f"wrote {args.out} ({len(result.draws)} posterior draws) in {result.seconds:.1f} s")
    if result.seconds > 60:
        print("note: slower than a minute; --workers uses more cores", file=sys.stderr)
    return 0
