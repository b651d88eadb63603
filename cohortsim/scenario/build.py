"""From a raw key/value tree to a validated, frozen :class:`~cohortsim.scenario.types.Scenario`.

1. every table is validated against :data:`~cohortsim.scenario.spec.SCENARIO` (keys, types,
   ranges, defaults, checks within a table);
2. each arm's disease is assembled: ``[disease]``, then the ``[disease]`` of its
   ``parameters_from`` include, then ``[arms.<name>.disease]`` (deep merge), and validated whole;
3. checks across sections (calendar, cut-off, randomisation, models);
4. hazards are normalised, hazard ratios followed to their reference arm;
5. the dataclasses, the resolved tree and its hash.

No file is read here: includes come through the ``read_include`` callable (see
:mod:`cohortsim.scenario.load`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cohortsim.hazards import Hazard
from cohortsim.scenario.canonical import FrozenDict, freeze, jsonable, sha256_of
from cohortsim.scenario.distribution_spec import to_distribution
from cohortsim.scenario.errors import Ctx, format_value
from cohortsim.scenario.fields import deep_merge
from cohortsim.scenario.hazard_spec import (
    EnteredHazard,
    hazard_to_dict,
    resolve_hazards,
    to_hazard,
)
from cohortsim.scenario.spec import DAYS_PER_MONTH, DISEASE, HAZARD_PROCESSES, SCENARIO
from cohortsim.scenario.types import (
    MANIFESTATIONS,
    RESPONSE_CLASSES,
    Accrual,
    Arm,
    Biomarker,
    Cutoff,
    Disease,
    Maintenance,
    ManifestationCourse,
    Population,
    Randomisation,
    Relapse,
    Response,
    Scenario,
    Simulation,
    Sledai,
    Study,
    Visits,
)


@dataclass(frozen=True)
class Included:
    """An included file's ``[disease]`` table, where it came from, and its SHA-256."""

    source: str
    sha256: str
    disease: Any


IncludeReader = Callable[[str, Ctx], Included]


def build_scenario(
    raw: Mapping[str, Any],
    source: str,
    read_include: IncludeReader,
    source_path: str | None = None,
) -> Scenario:
    """Validate ``raw`` and build the scenario (see the module docstring for the steps)."""
    ctx = Ctx(source)
    tree = SCENARIO.normalise(raw, ctx)
    study = tree["study"]

    _reject_scenario_level_ratio(tree, ctx)
    arm_trees, includes = _assemble_arms(tree, ctx, read_include)
    _check_models(arm_trees, tree, ctx)
    calendar = _calendar(tree, ctx)
    block_size = _block_size(tree, arm_trees, ctx)
    hazards = _hazards(tree, arm_trees, ctx)

    # -- the resolved tree ------------------------------------------------------------------
    resolved = dict(tree)
    resolved["arms"] = arm_trees
    if tree["randomisation"]["method"] == "permuted_block":
        resolved["randomisation"] = {**tree["randomisation"], "block_size": block_size}
    resolved["derived"] = {
        "arm_order": list(arm_trees),
        "calendar_months": calendar,
        "hazards": {
            arm: {process: hazard_to_dict(h) for process, h in by_process.items()}
            for arm, by_process in hazards.items()
        },
        "includes": includes,
    }
    frozen = freeze(jsonable(resolved))

    # -- the dataclasses --------------------------------------------------------------------
    arms = tuple(_arm(name, arm, hazards[name]) for name, arm in arm_trees.items())
    return Scenario(
        study=Study(
            name=study["name"],
            description=study["description"],
            start_date=study["start_date"],
            n_patients=study["n_patients"],
            max_duration_months=study["max_duration_months"],
        ),
        simulation=_simulation(tree["simulation"]),
        population=_population(tree["population"]),
        arms=arms,
        randomisation=Randomisation(
            method=tree["randomisation"]["method"],
            block_size=block_size,
            strata=tuple(tree["randomisation"]["strata"]),
        ),
        accrual=_accrual(tree["accrual"], calendar),
        visits=_visits(tree["visits"]),
        maintenance=Maintenance(**tree["maintenance"]),
        cutoff=_cutoff(tree["cutoff"], calendar),
        resolved=frozen,
        sha256=sha256_of(frozen),
        source_path=source_path,
    )


# -- assembling arms ---------------------------------------------------------------------------
def _reject_scenario_level_ratio(tree: dict[str, Any], ctx: Ctx) -> None:
    spec = tree["disease"]["relapse"]["hazard"]
    if "hazard_ratio" in spec:
        ctx.child("disease", "relapse", "hazard", "hazard_ratio").error(
            "a hazard ratio is allowed only inside an arm ([arms.<name>.disease.relapse])",
            spec["hazard_ratio"],
        )


def _assemble_arms(
    tree: dict[str, Any], ctx: Ctx, read_include: IncludeReader
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """Each arm's fully resolved table (label, disease, hazards as entered) and its include."""
    arm_trees: dict[str, dict[str, Any]] = {}
    includes: dict[str, dict[str, str]] = {}
    for name, arm in tree["arms"].items():
        arm_ctx = ctx.child("arms", name)
        disease = tree["disease"]
        if "parameters_from" in arm:
            path = arm["parameters_from"]
            included = read_include(path, arm_ctx.child("parameters_from"))
            partial = DISEASE.normalise(
                included.disease, Ctx(included.source, ("disease",)), partial=True
            )
            disease = deep_merge(DISEASE, disease, partial)
            includes[name] = {"path": path, "sha256": included.sha256}
        if "disease" in arm:
            disease = deep_merge(DISEASE, disease, arm["disease"])
        arm_trees[name] = {
            "label": arm.get("label", name),
            "allocation": arm["allocation"],
            "cells_per_kg": arm["cells_per_kg"],
            "disease": DISEASE.normalise(disease, arm_ctx.child("disease")),
            "dropout": arm.get("dropout", tree["dropout"]),
            "death": arm.get("death", tree["death"]),
        }
    return arm_trees, includes


def _check_models(arm_trees: dict[str, dict[str, Any]], tree: dict[str, Any], ctx: Ctx) -> None:
    names = list(arm_trees)
    first = arm_trees[names[0]]["disease"]["model"]
    for name in names[1:]:
        model = arm_trees[name]["disease"]["model"]
        if model != first:
            ctx.child("arms", name, "disease", "model").error(
                f"expected every arm to use the same disease model "
                f"(arm '{names[0]}' uses {format_value(first)})",
                model,
            )
    strata = tree["randomisation"]["strata"]
    if first == "time_to_event" and strata:
        ctx.child("randomisation", "strata").error(
            'stratification needs disease.model = "sle" (a time-to-event model has no '
            "baseline covariates)",
            strata,
        )


def _block_size(tree: dict[str, Any], arm_trees: dict[str, dict[str, Any]], ctx: Ctx) -> int:
    total = sum(arm["allocation"] for arm in arm_trees.values())
    randomisation = tree["randomisation"]
    if "block_size" not in randomisation:
        return 2 * total
    size = randomisation["block_size"]
    if size % total:
        ctx.child("randomisation", "block_size").error(
            f"expected a multiple of the sum of arm allocations ({total})", size
        )
    return size


def _hazards(
    tree: dict[str, Any], arm_trees: dict[str, dict[str, Any]], ctx: Ctx
) -> dict[str, dict[str, Hazard]]:
    defaults: dict[str, Hazard] = {}
    entered: dict[str, dict[str, EnteredHazard]] = {name: {} for name in arm_trees}
    for process, path in HAZARD_PROCESSES.items():
        defaults[process] = to_hazard(_get(tree, path))
        for name, arm in arm_trees.items():
            entered[name][process] = EnteredHazard(_get(arm, path), ctx.child("arms", name, *path))
    return resolve_hazards(entered, defaults)


def _get(tree: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for name in path:
        tree = tree[name]
    return tree


# -- calendar ----------------------------------------------------------------------------------
def _months_since(start: _dt.date, day: _dt.date) -> float:
    return (day - start).days / DAYS_PER_MONTH + 0.0


def _calendar(tree: dict[str, Any], ctx: Ctx) -> dict[str, float]:
    """Calendar months of the accrual window and the cut-off date; checks they fit the study."""
    study = tree["study"]
    start, horizon = study["start_date"], study["max_duration_months"]
    out: dict[str, float] = {}
    accrual = tree["accrual"]
    if accrual["kind"] == "window":
        for end in ("start", "end"):
            if f"{end}_date" in accrual:
                day = accrual[f"{end}_date"]
                month = _months_since(start, day)
                if month < 0:
                    ctx.child("accrual", f"{end}_date").error(
                        f"expected a date on or after study.start_date ({start.isoformat()})", day
                    )
                out[f"accrual_{end}_month"] = month
            else:
                out[f"accrual_{end}_month"] = accrual[f"{end}_month"]
        key = "end_date" if "end_date" in accrual else "end_month"
        if not out["accrual_end_month"] > out["accrual_start_month"]:
            ctx.child("accrual", key).error(
                f"expected the accrual window to end after it starts "
                f"(month {out['accrual_start_month']:g})",
                accrual[key],
            )
        if out["accrual_end_month"] > horizon:
            ctx.child("accrual", key).error(
                f"expected the accrual window to end by study.max_duration_months ({horizon:g})",
                accrual[key],
            )
    cutoff = tree["cutoff"]
    if "calendar_date" in cutoff:
        day = cutoff["calendar_date"]
        month = _months_since(start, day)
        if not 0 < month <= horizon:
            ctx.child("cutoff", "calendar_date").error(
                f"expected a date after study.start_date ({start.isoformat()}) and within "
                f"study.max_duration_months ({horizon:g} months)",
                day,
            )
        out["cutoff_calendar_month"] = month
    elif "calendar_month" in cutoff:
        month = cutoff["calendar_month"]
        if month > horizon:
            ctx.child("cutoff", "calendar_month").error(
                f"expected a month within study.max_duration_months ({horizon:g})", month
            )
        out["cutoff_calendar_month"] = month
    events = cutoff.get("events")
    if events is not None and events > study["n_patients"]:
        ctx.child("cutoff", "events").error(
            f"expected at most study.n_patients ({study['n_patients']}) events "
            f"(patients with a first relapse)",
            events,
        )
    return out


# -- dataclasses -------------------------------------------------------------------------------
def _simulation(table: dict[str, Any]) -> Simulation:
    return Simulation(replicates=table["replicates"], seed=table.get("seed"))


def _population(table: dict[str, Any]) -> Population:
    distributions = {
        name: to_distribution(table[name])
        for name in (
            "age_years",
            "disease_duration_months",
            "sledai",
            "proteinuria_mg_per_day",
            "anti_dsdna_iu_per_ml",
            "treg_percent",
        )
    }
    prevalence = table["manifestation_prevalence"]
    return Population(
        female_probability=table["female_probability"],
        manifestation_prevalence=FrozenDict((m, prevalence[m]) for m in MANIFESTATIONS),
        **distributions,
    )


def _accrual(table: dict[str, Any], calendar: dict[str, float]) -> Accrual:
    if table["kind"] == "window":
        return Accrual(
            kind="window",
            window_start_month=calendar["accrual_start_month"],
            window_end_month=calendar["accrual_end_month"],
            density_ratio_end_to_start=table["density_ratio_end_to_start"],
        )
    return Accrual(
        kind="piecewise",
        rates_per_month=tuple(table["rates_per_month"]),
        durations_months=tuple(table["durations_months"]),
    )


def _visits(table: dict[str, Any]) -> Visits:
    schedule = tuple(table["schedule_months"])
    windows = table["window_months"]
    if not isinstance(windows, tuple):
        windows = (windows,) * len(schedule)
    return Visits(
        schedule_months=schedule,
        window_months=tuple(windows),
        repeat_every_months=table.get("repeat_every_months"),
        repeat_window_months=table["repeat_window_months"],
        missed_probability=table["missed_probability"],
    )


def _cutoff(table: dict[str, Any], calendar: dict[str, float]) -> Cutoff:
    return Cutoff(
        calendar_month=calendar.get("cutoff_calendar_month"),
        months_after_last_enrolment=table.get("months_after_last_enrolment"),
        events=table.get("events"),
        event_time=table["event_time"],
        combine=table["combine"],
        max_follow_up_months=table.get("max_follow_up_months"),
    )


def _biomarker(table: dict[str, Any]) -> Biomarker:
    change = table["class_change"]
    return Biomarker(
        early_change=table["early_change"],
        early_time_constant_months=table["early_time_constant_months"],
        class_change=tuple(change[c] for c in RESPONSE_CLASSES),  # type: ignore[arg-type]
        patient_sd=table["patient_sd"],
        visit_sd=table["visit_sd"],
    )


def _disease(table: dict[str, Any], relapse_hazard: Hazard) -> Disease:
    relapse = dict(table["relapse"])
    entered = relapse.pop("hazard")
    return Disease(
        model=table["model"],
        response=Response(**table["response"]),
        sledai=Sledai(**table["sledai"]),
        proteinuria=_biomarker(table["proteinuria"]),
        anti_dsdna=_biomarker(table["anti_dsdna"]),
        treg=_biomarker(table["treg"]),
        manifestations=FrozenDict(
            (m, ManifestationCourse(**table["manifestations"][m])) for m in MANIFESTATIONS
        ),
        relapse=Relapse(hazard=relapse_hazard, hazard_as_entered=freeze(entered), **relapse),
    )


def _arm(name: str, arm: dict[str, Any], hazards: Mapping[str, Hazard]) -> Arm:
    return Arm(
        name=name,
        label=arm["label"],
        allocation=arm["allocation"],
        cells_per_kg=arm["cells_per_kg"],
        disease=_disease(arm["disease"], hazards["relapse"]),
        dropout_hazard=hazards["dropout"],
        death_hazard=hazards["death"],
    )
