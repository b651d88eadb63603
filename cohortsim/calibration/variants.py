"""Variants of a one-arm pilot scenario with some disease or design values changed.

Calibration and validation simulate the pilot under many parameter sets. Each set becomes a
scenario variant built from the resolved tree (:func:`cohortsim.scenario.vary.resolved_tree`),
so it is validated exactly like a scenario file.

Disease keys are dotted paths relative to the arm's disease table
(``"relapse.hazard.rate_per_month"``); design keys are the follow-up reconstruction's
(:data:`DESIGN_KEYS`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cohortsim.scenario.errors import ScenarioError
from cohortsim.scenario.load import apply_overrides, parse_override, scenario_from_dict
from cohortsim.scenario.types import Scenario
from cohortsim.scenario.vary import resolved_tree, set_dotted

DENSITY_RATIO = "accrual.density_ratio_end_to_start"
CUTOFF_MONTH = "cutoff.calendar_month"
EARLY_DROPOUT = "dropout.early_rate_per_month"
DESIGN_KEYS: tuple[str, ...] = (DENSITY_RATIO, CUTOFF_MONTH, EARLY_DROPOUT)
"""The follow-up reconstruction: enrolment shape, calendar cut-off (months after the study
start) and the early loss-to-follow-up rate (per month, during the first
:func:`early_dropout_months` months; none later)."""


def single_arm(scenario: Scenario) -> str:
    """The name of the pilot's only arm (calibration is for single-arm pilots)."""
    if len(scenario.arms) != 1:
        raise ValueError(
            f"calibration needs a single-arm pilot scenario; this one has arms "
            f"{', '.join(scenario.arm_names)}"
        )
    return scenario.arms[0].name


def early_dropout_months(scenario: Scenario) -> float:
    """Length of the early-dropout period: the first period of a two-period piecewise dropout
    hazard whose second rate is 0 (as in the pilot scenario); else 3 months."""
    tree = scenario.resolved["arms"][single_arm(scenario)]["dropout"]
    rates = tree.get("rates_per_month")
    durations = tree.get("durations_months", ())
    if rates is not None and len(rates) == 2 and rates[1] == 0 and len(durations) == 1:
        return float(durations[0])
    return 3.0


def design_values(scenario: Scenario) -> dict[str, float]:
    """The scenario's own follow-up reconstruction (values of :data:`DESIGN_KEYS`)."""
    arm = single_arm(scenario)
    tree = scenario.resolved["arms"][arm]["dropout"]
    rates = tree.get("rates_per_month")
    early = float(rates[0]) if rates is not None and len(rates) == 2 and rates[1] == 0 else 0.0
    cutoff = scenario.cutoff.calendar_month
    return {
        DENSITY_RATIO: scenario.accrual.density_ratio_end_to_start,
        CUTOFF_MONTH: float("nan") if cutoff is None else cutoff,
        EARLY_DROPOUT: early,
    }


def variant(
    scenario: Scenario,
    disease: Mapping[str, float] | None = None,
    design: Mapping[str, float] | None = None,
    other: Mapping[str, Any] | None = None,
) -> Scenario:
    """The scenario with some values changed.

    Parameters
    ----------
    scenario : Scenario
        A single-arm scenario.
    disease : mapping, optional
        Dotted keys relative to the arm's disease table and their values.
    design : mapping, optional
        Values of :data:`DESIGN_KEYS` (any subset).
    other : mapping, optional
        Dotted keys of the whole scenario tree (e.g. ``"study.n_patients"``); a value of None
        removes the key.
    """
    arm = single_arm(scenario)
    tree = resolved_tree(scenario)
    for key, value in (disease or {}).items():
        *parents, leaf = key.split(".")
        if parents and parents[-1] == "hazard":
            # A hazard is entered in one of several forms: replace the whole table.
            set_dotted(tree, f"arms.{arm}.disease.{'.'.join(parents)}", {leaf: float(value)})
        else:
            set_dotted(tree, f"arms.{arm}.disease.{key}", float(value))
    for key, value in (design or {}).items():
        if key == DENSITY_RATIO:
            tree["accrual"]["density_ratio_end_to_start"] = float(value)
        elif key == CUTOFF_MONTH:
            tree["cutoff"].pop("calendar_date", None)
            tree["cutoff"]["calendar_month"] = float(value)
        elif key == EARLY_DROPOUT:
            tree["arms"][arm]["dropout"] = {
                "rates_per_month": [float(value), 0.0],
                "durations_months": [early_dropout_months(scenario)],
            }
        else:
            raise KeyError(f"not a design key: {key}")
    for key, value in (other or {}).items():
        if value is None:
            *parents, leaf = key.split(".")
            node = tree
            for part in parents:
                node = node.get(part, {})
            node.pop(leaf, None)
        else:
            set_dotted(tree, key, value)
    source = scenario.source_path or "<scenario>"
    base = Path(source).parent if scenario.source_path else None
    return scenario_from_dict(tree, source=f"{source} (calibration variant)", base_dir=base)


def without_calibration(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Scenario:
    """The scenario in ``path`` as if its arms had no ``parameters_from`` include.

    Calibration must not depend on an earlier calibration's values (nor on the calibrated file
    existing), so it starts from the scenario's own stated values. Errors are reported as by
    :func:`~cohortsim.scenario.load_scenario`.
    """
    path = Path(path)
    source = str(path)
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as error:
        reason = error.strerror or str(error)
        raise ScenarioError(f"cannot read file ({reason})", source=source) from None
    except UnicodeDecodeError:
        raise ScenarioError("cannot read file (not UTF-8 text)", source=source) from None
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"invalid TOML: {error}", source=source) from None
    arms = raw.get("arms")
    if isinstance(arms, dict):
        for arm in arms.values():
            if isinstance(arm, dict):
                arm.pop("parameters_from", None)
    raw = apply_overrides(raw, [parse_override(o, source) for o in overrides], source)
    return scenario_from_dict(raw, source=source, base_dir=path.parent)
