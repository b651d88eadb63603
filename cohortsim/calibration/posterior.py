"""The calibrated parameter file: writing it, and reading its posterior draws.

Layout (``docs/calibration.md``, "The calibrated file")::

    [calibration]            method, seed, targets file and its SHA-256, scenario, draws,
                             diagnostics, identified / unidentified parameters, priors
    [calibration.reconstruction]
                             follow-up reconstruction draws, one row per posterior draw
    [disease]                point estimates in the scenario's disease layout: the centre of the
                             best-fitting posterior draws for the ABC block, posterior medians
                             for the rest, and the SLEDAI-2K visit distribution;
                             the only table a scenario's ``parameters_from`` reads
    [posterior]
    parameters = ["response.probability_complete", ...]   dotted keys relative to the arm's
                                                            disease table
    draws = [[...], ...]                                   one row per posterior draw

:func:`read_posterior` is what power and assurance calculations use to draw parameters.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cohortsim.scenario.errors import ScenarioError, describe_type

if TYPE_CHECKING:
    from cohortsim.calibration.pipeline import CalibrationResult
    from cohortsim.calibration.targets import TargetSet

SIGNIFICANT_DIGITS = 6
"""Digits kept for numbers in the file (posterior draws carry far less information)."""


class CalibrationFileError(ScenarioError):
    """A calibrated parameter file is unreadable or not in the expected layout (exit 2)."""


# -- reading -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Posterior:
    """Posterior draws of calibrated disease parameters.

    Attributes
    ----------
    parameters : tuple of str
        Dotted keys relative to an arm's disease table.
    draws : (D, P) array
        One row per draw, columns in ``parameters`` order.
    design_keys : tuple of str
        Keys of the follow-up reconstruction (empty when the file has none).
    design_draws : (D, len(design_keys)) array
        Reconstruction draw that goes with each posterior row.
    calibration : mapping
        The file's ``[calibration]`` table (method, seed, diagnostics, …).
    disease : mapping
        The file's ``[disease]`` table (point estimates).
    path : str
    """

    parameters: tuple[str, ...]
    draws: np.ndarray
    design_keys: tuple[str, ...] = ()
    design_draws: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    calibration: Mapping[str, Any] = field(default_factory=dict)
    disease: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""

    def __len__(self) -> int:
        return len(self.draws)

    def disease_values(self, row: int) -> dict[str, float]:
        """``{dotted key: value}`` of draw ``row`` (for
        :func:`~cohortsim.calibration.variants.variant`)."""
        return {key: float(v) for key, v in zip(self.parameters, self.draws[row], strict=True)}

    def design_values(self, row: int) -> dict[str, float]:
        """The follow-up reconstruction of draw ``row`` (empty when the file has none)."""
        if not self.design_keys:
            return {}
        return {
            key: float(v) for key, v in zip(self.design_keys, self.design_draws[row], strict=True)
        }

    def column(self, key: str) -> np.ndarray:
        """All draws of one parameter."""
        return self.draws[:, self.parameters.index(key)]


def read_posterior(path: str | os.PathLike[str]) -> Posterior:
    """Read the posterior draws of a calibrated parameter file.

    Raises
    ------
    CalibrationFileError
        Unreadable file or not the documented layout.
    """
    source = str(path)
    try:
        tree = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CalibrationFileError(f"cannot read file ({error.strerror or error})",
                                   source=source) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CalibrationFileError(f"invalid TOML: {error}", source=source) from None
    posterior = tree.get("posterior")
    if not isinstance(posterior, Mapping):
        raise CalibrationFileError("expected a [posterior] table (parameters, draws)",
                                   source=source, key="posterior")
    parameters = _keys(posterior.get("parameters"), source, "posterior.parameters")
    draws = _matrix(posterior.get("draws"), len(parameters), source, "posterior.draws")
    design_keys: tuple[str, ...] = ()
    design_draws = np.zeros((len(draws), 0))
    calibration = tree.get("calibration", {})
    reconstruction = calibration.get("reconstruction") if isinstance(calibration, Mapping) else None
    if isinstance(reconstruction, Mapping) and "draws" in reconstruction:
        key = "calibration.reconstruction"
        design_keys = _keys(reconstruction.get("parameters"), source, f"{key}.parameters")
        design_draws = _matrix(reconstruction["draws"], len(design_keys), source, f"{key}.draws")
        if len(design_draws) != len(draws):
            raise CalibrationFileError(
                f"expected one row per posterior draw ({len(draws)})",
                source=source, key=f"{key}.draws", show_value=False,
            )
    return Posterior(
        parameters=parameters,
        draws=draws,
        design_keys=design_keys,
        design_draws=design_draws,
        calibration=calibration,
        disease=tree.get("disease", {}),
        path=source,
    )


def _keys(value: Any, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CalibrationFileError("expected a non-empty list of dotted keys", source=source,
                                   key=key, value=value)
    if len(set(value)) != len(value):
        raise CalibrationFileError("expected distinct keys", source=source, key=key, value=value)
    return tuple(value)


def _matrix(value: Any, width: int, source: str, key: str) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise CalibrationFileError(
            f"expected a non-empty list of rows, got {describe_type(value)}",
            source=source, key=key, show_value=False,
        )
    for i, row in enumerate(value):
        if (
            not isinstance(row, list)
            or len(row) != width
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
        ):
            raise CalibrationFileError(
                f"expected rows of {width} numbers (one per parameter)",
                source=source, key=f"{key}[{i}]", value=row,
            )
    matrix = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(matrix)):
        raise CalibrationFileError("expected finite numbers", source=source, key=key,
                                   show_value=False)
    return matrix


# -- writing -------------------------------------------------------------------------------------
def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        value = round_significant(float(value))
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_scalar(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _key(key: str) -> str:
    if key and all(c.isalnum() or c in "_-" for c in key):
        return key
    return _scalar(key)


INLINE_WIDTH = 100
"""Tables of scalars up to this many characters are written inline, longer ones as sections."""


def _is_section(value: Any, top: bool = False) -> bool:
    """Top-level tables, tables holding tables or matrices, and long tables become [sections];
    short tables of scalars are written inline."""
    if not isinstance(value, Mapping):
        return False
    if top or any(isinstance(v, Mapping) or _is_matrix(v) for v in value.values()):
        return True
    return len(_scalar(value)) > INLINE_WIDTH


def _is_matrix(value: Any) -> bool:
    return isinstance(value, list | np.ndarray) and len(value) > 0 and all(
        isinstance(row, list | tuple | np.ndarray) for row in value
    )


def toml_text(tree: Mapping[str, Any], header: str = "") -> str:
    """TOML text of ``tree`` (tables, scalars, lists, matrices written one row per line).

    Numbers are rounded to :data:`SIGNIFICANT_DIGITS` significant digits.
    """
    lines = [header.rstrip("\n")] if header else []

    def section(path: tuple[str, ...], table: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in table.items() if not _is_section(v, not path)}
        if path:
            lines.append("")
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        for key, value in scalars.items():
            if _is_matrix(value):
                lines.append(f"{_key(key)} = [")
                for row in value:
                    lines.append("  " + _scalar(list(row)) + ",")
                lines.append("]")
            else:
                lines.append(f"{_key(key)} = {_scalar(value)}")
        for key, value in table.items():
            if _is_section(value, not path):
                section((*path, key), value)

    section((), tree)
    return "\n".join(lines).lstrip("\n") + "\n"


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a.c": 2}`` → ``{"a": {"b": 1, "c": 2}}``."""
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _relative(path: str | os.PathLike[str], start: Path) -> str:
    try:
        return Path(os.path.relpath(Path(path).resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(path).resolve().as_posix()


def calibrated_file_text(
    result: CalibrationResult,
    scenario_sha256: str,
    scenario_path: str | os.PathLike[str],
    targets: TargetSet,
    out: str | os.PathLike[str],
    command: str,
) -> str:
    """The calibrated parameter file for ``result`` (see the module docstring for the layout).

    Paths are written relative to the file's own directory. Nothing in it depends on the time,
    the machine or the number of workers, so the same seed regenerates the same file.
    """
    from cohortsim import __version__

    here = Path(out).parent
    point = result.point()
    complete, partial = "response.probability_complete", "response.probability_partial"
    if complete in point and partial in point and point[complete] + point[partial] > 1.0:
        point[partial] = 1.0 - point[complete]  # guards the simplex if medians are mixed in
    calibration: dict[str, Any] = {
        "method": (
            "modular Bayesian calibration: exact gamma-frailty likelihood for the relapse times "
            "(averaged over the follow-up reconstruction), rejection ABC with regression "
            "adjustment for the aggregate figures (simulated at the reported n), exact binomial "
            "likelihoods for manifestation counts; docs/calibration.md"
        ),
        "command": command,
        "cohortsim_version": __version__,
        "seed": result.seed,
        "scenario": _relative(scenario_path, here),
        "scenario_sha256": scenario_sha256,
        "targets": _relative(targets.path, here),
        "targets_sha256": targets.sha256,
        "draws": len(result.draws),
        "identified": [s.key for s in result.summaries if s.identified],
        "unidentified": [s.key for s in result.summaries if not s.identified],
        "fixed": result.fixed_note,
        "settings": {
            k: v for k, v in vars(result.settings).items() if k not in ("workers",)
        },
        "parameters": {
            s.key: {
                "block": s.block,
                "prior": s.prior,
                "median": s.median,
                "interval_95": [s.lower, s.upper],
                "contraction": s.contraction,
                "identified": s.identified,
            }
            for s in result.summaries
        },
        "targets_used": {u.name: f"{u.role}: {u.note}" for u in result.uses},
        "diagnostics": _plain(result.diagnostics),
    }
    if result.design_priors:
        columns = np.asarray(result.design_draws)
        calibration["reconstruction"] = {
            "description": (
                "follow-up reconstruction that goes with each posterior row: enrolment density "
                "ratio (end/start of the window), calendar cut-off (months after the study start) "
                "and early dropout rate (per month, first months only)"
            ),
            "priors": result.design_priors,
            "medians": {
                k: float(np.median(columns[:, j])) for j, k in enumerate(result.design_keys)
            },
            "parameters": list(result.design_keys),
            "draws": [[float(v) for v in row] for row in columns],
        }
    tree = {
        "calibration": calibration,
        "disease": nest({**point, **result.model_choices}),
        "posterior": {
            "parameters": list(result.parameters),
            "draws": [[float(v) for v in row] for row in result.draws],
        },
    }
    header = (
        "# Calibrated disease parameters, written by `cohortsim calibrate` (do not edit by hand).\n"
        f"# Regenerate: {command}\n"
        "# [disease] holds the point estimates (what `parameters_from` merges into an arm): for\n"
        "# the ABC block the centre of the posterior draws whose expected pilots best match the\n"
        "# reported figures, posterior medians otherwise ([calibration.diagnostics.point]).\n"
        "# [posterior] holds the draws (one row per draw; columns as in `parameters`).\n"
        "# Layout and method: docs/calibration.md\n"
    )
    return toml_text(tree, header)


def _plain(value: Any) -> Any:
    """Diagnostics as TOML-writable values (tuples to lists, numpy scalars to Python)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
