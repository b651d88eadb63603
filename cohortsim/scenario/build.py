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
from cohortsim.scenario.fields import deep_merge, suggest
from cohortsim.scenario.hazard_spec import (
    EnteredHazard,
    hazard_to_dict,
    resolve_hazards,
    to_hazard,
)
from cohortsim.scenario.spec import DAYS_PER_MONTH, DISEASE, HAZARD_PROCESSES, SCENARIO
from cohortsim.scenario.types import (
    ENDPOINTS,
    MANIFESTATIONS,
    RESPONSE_CLASSES,
    Accrual,
    Analysis,
    Arm,
    Biomarker,
    Cutoff,
    Disease,
    InterimAnalysis,
    Maintenance,
    ManifestationCourse,
    Population,
    Randomisation,
    Relapse,
    ResponderAnalysis,
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
    _apply_response_effects(arm_trees, ctx)
    _check_priors(arm_trees, ctx)
    calendar = _calendar(tree, ctx)
    block_size = _block_size(tree, arm_trees, ctx)
    hazards = _hazards(tree, arm_trees, ctx)
    analysis_tree = _analysis_tree(tree, arm_trees, ctx)

    # -- the resolved tree ------------------------------------------------------------------
    resolved = dict(tree)
    resolved["arms"] = arm_trees
    resolved["analysis"] = analysis_tree
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
        analysis=_analysis(analysis_tree),
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
            "prior": arm["prior"],
        }
        if "response_effect" in arm:
            arm_trees[name]["response_effect"] = arm["response_effect"]
    return arm_trees, includes


def _apply_response_effects(arm_trees: dict[str, dict[str, Any]], ctx: Ctx) -> None:
    """Normalise each ``response_effect`` to the arm's response-class probabilities.

    P(respond) = P(complete) + P(partial) is set from the reference arm's by the difference or
    the odds ratio; the reference arm's complete : partial split is kept.
    """
    for name, arm in arm_trees.items():
        effect = arm.get("response_effect")
        if effect is None:
            continue
        where = ctx.child("arms", name, "response_effect")
        reference = effect["reference_arm"]
        if reference not in arm_trees:
            where.child("reference_arm").error(
                "expected one of the arms " + format_value(list(arm_trees)), reference
            )
        if reference == name:
            where.child("reference_arm").error("an arm cannot be its own reference", reference)
        if "response_effect" in arm_trees[reference]:
            where.child("reference_arm").error(
                "the reference arm may not have a response_effect itself", reference
            )
        ref = arm_trees[reference]["disease"]["response"]
        q_ref = ref["probability_complete"] + ref["probability_partial"]
        if "difference" in effect:
            q = q_ref + effect["difference"]
            key, value = "difference", effect["difference"]
        else:
            odds = effect["odds_ratio"] * q_ref
            q = odds / (1.0 - q_ref + odds) if q_ref < 1.0 else 1.0
            key, value = "odds_ratio", effect["odds_ratio"]
        if not 0.0 <= q <= 1.0:
            where.child(key).error(
                f"expected P(respond) to stay within [0, 1] (reference arm '{reference}' has "
                f"{q_ref:g}, which gives {q:g})",
                value,
            )
        if q_ref <= 0.0 and q > 0.0:
            where.child(key).error(
                f"the reference arm '{reference}' never responds, so the complete : partial "
                "split is undefined: give this arm's probabilities directly",
                value,
            )
        complete = q * ref["probability_complete"] / q_ref if q_ref > 0 else 0.0
        response = arm["disease"]["response"]
        response["probability_complete"] = complete + 0.0
        response["probability_partial"] = max(q - complete, 0.0) + 0.0


def _prior_target(disease: Mapping[str, Any], dotted: str) -> tuple[bool, str]:
    """Whether ``dotted`` names a real number in ``disease``; otherwise why not."""
    node: Any = disease
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, Mapping) or part not in node:
            here = ".".join(parts[:i])
            options = list(node) if isinstance(node, Mapping) else []
            guess = suggest(part, options) if options else None
            hint = f"; did you mean '{'.'.join([*parts[:i], guess])}'?" if guess else ""
            where = f" (in {here})" if here else ""
            return False, f"no such key in the arm's disease{where}{hint}"
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, float):
        return False, f"expected a key that holds a real number (it holds {format_value(node)})"
    return True, ""


def _check_priors(arm_trees: dict[str, dict[str, Any]], ctx: Ctx) -> None:
    for name, arm in arm_trees.items():
        for dotted in arm["prior"]:
            where = ctx.child("arms", name, "prior", dotted)
            ok, why = _prior_target(arm["disease"], dotted)
            if not ok:
                where.error(why, show_value=False)
            if "response_effect" in arm and dotted in (
                "response.probability_complete",
                "response.probability_partial",
            ):
                where.error(
                    "this arm's response probabilities come from its response_effect: put the "
                    "prior on the reference arm's instead",
                    show_value=False,
                )


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
    _check_sledai_distribution(arm_trees, tree, ctx)
    strata = tree["randomisation"]["strata"]
    if first == "time_to_event" and strata:
        ctx.child("randomisation", "strata").error(
            'stratification needs disease.model = "sle" (a time-to-event model has no '
            "baseline covariates)",
            strata,
        )


def _check_sledai_distribution(
    arm_trees: dict[str, dict[str, Any]], tree: dict[str, Any], ctx: Ctx
) -> None:
    """One SLEDAI-2K measurement model for every arm (it describes the instrument, not the
    treatment), and integer baseline scores when points are thinned binomially."""
    names = list(arm_trees)
    first = arm_trees[names[0]]["disease"]["sledai"]["visit_distribution"]
    for name in names[1:]:
        other = arm_trees[name]["disease"]["sledai"]["visit_distribution"]
        if other != first:
            ctx.child("arms", name, "disease", "sledai", "visit_distribution").error(
                f"expected every arm to use the same SLEDAI-2K visit distribution "
                f"(arm '{names[0]}' uses {format_value(first)})",
                other,
            )
    baseline = tree["population"]["sledai"]
    if (
        arm_trees[names[0]]["disease"]["model"] == "sle"
        and first == "binomial"
        and not baseline.get("integer", False)
        and not (
            baseline.get("distribution") == "fixed"
            and float(baseline["value"]).is_integer()
        )
    ):
        ctx.child("population", "sledai", "integer").error(
            'expected true: disease.sledai.visit_distribution = "binomial" thins the baseline '
            "score point by point, so baseline SLEDAI-2K must be a whole number",
            baseline.get("integer", False),
        )
    if arm_trees[names[0]]["disease"]["model"] == "sle" and first == "binomial":
        _check_sledai_range(baseline, ctx.child("population", "sledai"))


SLEDAI_MAX = 105
"""Largest SLEDAI-2K score (every descriptor present)."""


def _check_sledai_range(baseline: Mapping[str, Any], ctx: Ctx) -> None:
    """Binomially thinned baseline scores must be SLEDAI-2K scores, 0-105: a number of points."""
    reason = 'disease.sledai.visit_distribution = "binomial" thins a SLEDAI-2K score (0-105)'
    if baseline.get("distribution") == "fixed":
        if not 0 <= baseline["value"] <= SLEDAI_MAX:
            ctx.child("value").error(f"expected 0 to {SLEDAI_MAX}: {reason}", baseline["value"])
        return
    non_negative = baseline.get("distribution") in ("lognormal", "gamma")
    if not non_negative and not baseline.get("min", -1.0) >= 0:
        ctx.child("min").error(f"expected min >= 0: {reason}", baseline.get("min", "not set"))
    if not baseline.get("max", float("inf")) <= SLEDAI_MAX:
        ctx.child("max").error(
            f"expected max <= {SLEDAI_MAX}: {reason}", baseline.get("max", "not set")
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


# -- analysis ----------------------------------------------------------------------------------
def assessment_window(tree: Mapping[str, Any], month: float) -> tuple[float, float] | None:
    """The (nominal, half-width) of the scheduled visit whose window holds ``month`` — the
    nearest such visit, repeats included — or None."""
    visits = tree["visits"]
    nominal = list(visits["schedule_months"])
    given = visits["window_months"]
    windows = list(given) if isinstance(given, tuple | list) else [given] * len(nominal)
    every = visits.get("repeat_every_months")
    if every:
        last = nominal[-1]
        k = max(1, int((month - last) // every))
        for j in (k - 1, k, k + 1):
            if j >= 1:
                nominal.append(last + j * every)
                windows.append(visits["repeat_window_months"])
    best = None
    for t, w in zip(nominal, windows, strict=True):
        if abs(t - month) <= w and (best is None or abs(t - month) < abs(best[0] - month)):
            best = (t, w)
    return best


def _assessment_problem(tree: Mapping[str, Any], month: float) -> str | None:
    """Why the assessment endpoints cannot be measured in this design (None if they can)."""
    window = assessment_window(tree, month)
    if window is None:
        return (
            f"no scheduled visit has month {month:g} within its window (visits.schedule_months, "
            "visits.window_months)"
        )
    cap = tree["cutoff"].get("max_follow_up_months")
    if cap is not None and cap < window[0] + window[1]:
        return (
            f"cutoff.max_follow_up_months = {cap:g} ends follow-up before the assessment "
            f"visit's window closes (month {window[0] + window[1]:g})"
        )
    return None


_ASSESSED = ("sri4", "remission", "sledai_change")


def _analysis_tree(
    tree: dict[str, Any], arm_trees: dict[str, dict[str, Any]], ctx: Ctx
) -> dict[str, Any]:
    """``[analysis]`` with every computed default filled in, checked against the design."""
    out = dict(tree["analysis"])
    where = ctx.child("analysis")
    names = list(arm_trees)
    model = arm_trees[names[0]]["disease"]["model"]
    month = out["responder"]["assessment_month"]
    problem = _assessment_problem(tree, month) if model == "sle" else "the model has no visits"
    if "endpoints" in out:
        for endpoint in out["endpoints"]:
            if model == "time_to_event" and endpoint not in ("time_to_relapse", "flare_rate"):
                where.child("endpoints").error(
                    f'{endpoint} needs disease.model = "sle" (a time-to-event model has only '
                    "the relapse process)",
                    list(out["endpoints"]),
                )
            if endpoint in _ASSESSED and problem is not None:
                where.child("endpoints").error(
                    f"{endpoint} is measured at the assessment visit, but {problem}",
                    list(out["endpoints"]),
                )
    elif model == "time_to_event":
        out["endpoints"] = ("time_to_relapse",)
    else:
        measurable = ENDPOINTS if problem is None else ("time_to_relapse", "flare_rate")
        out["endpoints"] = tuple(e for e in ENDPOINTS if e in measurable)
    if "primary" not in out:
        endpoints = out["endpoints"]
        out["primary"] = next(
            (e for e in ("sri4", "time_to_relapse") if e in endpoints), endpoints[0]
        )
    elif out["primary"] not in out["endpoints"]:
        where.child("primary").error(
            "expected one of analysis.endpoints " + format_value(list(out["endpoints"])),
            out["primary"],
        )
    control = out.setdefault("control_arm", names[0])
    if control not in arm_trees:
        where.child("control_arm").error("expected one of the arms " + format_value(names), control)
    if "treatment_arms" not in out:
        out["treatment_arms"] = tuple(n for n in names if n != control)
    for arm in out["treatment_arms"]:
        if arm not in arm_trees or arm == control:
            others = [n for n in names if n != control]
            where.child("treatment_arms").error(
                "expected arms other than the control arm, from " + format_value(others),
                list(out["treatment_arms"]),
            )
    strata = tree["randomisation"]["strata"]
    out.setdefault("stratified", bool(strata))
    if out["stratified"] and not strata:
        where.child("stratified").error(
            "stratified analyses need randomisation.strata", out["stratified"]
        )
    interim = out["interim"]
    if interim["timing"] == "assessments" and interim["information_fractions"] and problem:
        where.child("interim", "timing").error(
            f"looks timed by assessments need an assessment visit, but {problem}",
            interim["timing"],
        )
    return out


def _analysis(table: Mapping[str, Any]) -> Analysis:
    responder = table["responder"]
    interim = table["interim"]
    futility = interim.get("futility_z")
    if futility is not None and not isinstance(futility, tuple | list):
        futility = (futility,) * len(interim["information_fractions"])
    return Analysis(
        endpoints=tuple(table["endpoints"]),
        primary=table["primary"],
        alpha=table["alpha"],
        sides=table["sides"],
        control_arm=table["control_arm"],
        treatment_arms=tuple(table["treatment_arms"]),
        stratified=table["stratified"],
        target_power=table["target_power"],
        responder=ResponderAnalysis(
            assessment_month=responder["assessment_month"],
            sledai_reduction=responder["sledai_reduction"],
            require_no_relapse=responder["require_no_relapse"],
            missing=responder["missing"],
            min_expected=responder["min_expected"],
        ),
        sledai_change_missing=table["sledai_change"]["missing"],
        hazard_ratio_estimate=table["time_to_relapse"]["hazard_ratio"],
        flare_model=table["flare_rate"]["model"],
        overdispersion_level=table["flare_rate"]["overdispersion_level"],
        interim=InterimAnalysis(
            information_fractions=tuple(interim["information_fractions"]),
            timing=interim["timing"],
            spending=interim["spending"],
            futility_z=None if futility is None else tuple(futility),
        ),
        replicates_per_draw=table["assurance"]["replicates_per_draw"],
    )


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
    effect = arm.get("response_effect")
    return Arm(
        name=name,
        label=arm["label"],
        allocation=arm["allocation"],
        cells_per_kg=arm["cells_per_kg"],
        disease=_disease(arm["disease"], hazards["relapse"]),
        dropout_hazard=hazards["dropout"],
        death_hazard=hazards["death"],
        prior=FrozenDict((k, to_distribution(v)) for k, v in arm["prior"].items()),
        response_effect=None if effect is None else freeze(effect),
    )
