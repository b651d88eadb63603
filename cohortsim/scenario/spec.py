"""The scenario file format, declared in one place.

:data:`SCENARIO` lists every accepted key with its type, unit, default, allowed range and a
one-line meaning; the loader (:mod:`cohortsim.scenario.build`) validates against it and
``docs/scenarios.md`` is generated from it (:func:`cohortsim.scenario.docs.render_docs`).

To add a key: add a :class:`Key` to the right table below (and read it where the scenario is
built); to add a section (e.g. ``[analysis]``): declare a :class:`Table` and add it to
:data:`SCENARIO`. Checks that involve several keys of one table go in the table's ``checks``;
checks across sections are in :mod:`cohortsim.scenario.build`. Then regenerate the docs with
``python -m cohortsim.scenario --update-docs docs/scenarios.md``.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from cohortsim.scenario.distribution_spec import DistributionType
from cohortsim.scenario.errors import Ctx, describe_type, format_value
from cohortsim.scenario.fields import (
    OPTIONAL,
    REQUIRED,
    Bool,
    Choice,
    ChoiceList,
    Computed,
    Date,
    Float,
    FloatList,
    FloatOrList,
    Int,
    Key,
    NamedTables,
    OneOf,
    Pair,
    Str,
    Table,
    ValueType,
    walk,
)
from cohortsim.scenario.hazard_spec import ARM_NAME_PATTERN, HazardType
from cohortsim.scenario.types import (
    ENDPOINTS,
    MANIFESTATIONS,
    RESPONSE_CLASSES,
    STRATIFICATION_FACTORS,
)

DAYS_PER_MONTH = 365.25 / 12
"""Calendar dates are converted to months with this many days per month."""


# -- small constructors: one place for each kind of quantity ------------------------------------
def months(*, gt: float | None = None, ge: float | None = None) -> Float:
    return Float("a number of months", "months", gt=gt, ge=ge)


def rate(*, gt: float | None = None, unit: str = "per month") -> Float:
    noun = "a rate per month" if unit == "per month" else f"a rate ({unit})"
    return Float(noun, unit, ge=None if gt is not None else 0.0, gt=gt)


def probability(*, lt: float | None = None, gt: float | None = None) -> Float:
    return Float(
        "a probability",
        ge=None if gt is not None else 0.0,
        gt=gt,
        le=None if lt is not None else 1.0,
        lt=lt,
    )


def sd(unit: str = "") -> Float:
    return Float("a standard deviation", unit, ge=0.0)


# -- consistency checks within one table ------------------------------------------------------
def _check_accrual(table: dict[str, Any], ctx: Ctx) -> None:
    if table["kind"] != "piecewise":
        return
    rates = table["rates_per_month"]
    durations = table.get("durations_months", ())
    if len(durations) != len(rates) - 1:
        ctx.child("durations_months").error(
            f"expected one duration fewer than rates ({len(rates)} rates need "
            f"{len(rates) - 1} durations; the last period is open-ended)",
            durations,
        )
    if not rates[-1] > 0:
        ctx.child("rates_per_month").error(
            "expected the last (open-ended) rate to be > 0, or enrolment might never finish",
            rates,
        )


def _check_randomisation(table: dict[str, Any], ctx: Ctx) -> None:
    if table["method"] == "simple" and table["strata"]:
        ctx.child("strata").error('stratification needs method = "permuted_block"', table["strata"])


def _check_visits(table: dict[str, Any], ctx: Ctx) -> None:
    nominal = table["schedule_months"]
    given = table["window_months"]
    where = ctx.child("window_months")
    if isinstance(given, tuple):
        if len(given) != len(nominal):
            hint = ""
            if given == _DEFAULT_WINDOWS:
                hint = " (this is the default, made for the default schedule: set it too)"
            where.error(
                f"expected one window per visit ({len(nominal)} values) or a single number{hint}",
                given,
            )
        windows = given
    else:
        windows = (given,) * len(nominal)
    if not nominal[0] - windows[0] > 0:
        where.error(
            f"expected the first visit's window to stay after month 0 "
            f"({_m(nominal[0])} - {_m(windows[0])} must be > 0)",
            given,
        )
    for i in range(len(nominal) - 1):
        if not nominal[i] + windows[i] < nominal[i + 1] - windows[i + 1]:
            where.error(
                f"expected visit windows not to overlap (the visit at {_m(nominal[i])} "
                f"± {_m(windows[i])} months overlaps the one at {_m(nominal[i + 1])} "
                f"± {_m(windows[i + 1])})",
                given,
            )
    every = table.get("repeat_every_months")
    if every is None:
        return
    repeat_window = table["repeat_window_months"]
    if not 2 * repeat_window < every:
        ctx.child("repeat_window_months").error(
            f"expected repeated visit windows not to overlap "
            f"(2 × repeat_window_months must be < repeat_every_months = {_m(every)})",
            repeat_window,
        )
    if not nominal[-1] + windows[-1] < nominal[-1] + every - repeat_window:
        ctx.child("repeat_every_months").error(
            f"expected the first repeated visit ({_m(nominal[-1] + every)} ± "
            f"{_m(repeat_window)}) not to overlap the last listed one "
            f"({_m(nominal[-1])} ± {_m(windows[-1])})",
            every,
        )


_DEFAULT_WINDOWS = (0.1, 0.25, 0.5, 0.5, 0.5, 0.5)


def _m(x: float) -> str:
    return f"{x:g}"


def _check_response(table: dict[str, Any], ctx: Ctx) -> None:
    total = table["probability_complete"] + table["probability_partial"]
    if total > 1.0 + 1e-12:
        ctx.child("probability_partial").error(
            f"expected probability_complete + probability_partial <= 1 (here {total:g})",
            table["probability_partial"],
        )


def _check_relapse(table: dict[str, Any], ctx: Ctx) -> None:
    if table["sledai_increase_mean"] < table["sledai_increase_min"]:
        ctx.child("sledai_increase_mean").error(
            f"expected sledai_increase_mean >= sledai_increase_min "
            f"({table['sledai_increase_min']})",
            table["sledai_increase_mean"],
        )


# -- the tables ---------------------------------------------------------------------------------
STUDY = Table(
    meaning="Identity and calendar of the study.",
    keys=(
        Key(
            "name",
            Str("a name", pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]*"),
            REQUIRED,
            "short identifier, safe in file names (used in outputs)",
        ),
        Key("description", Str(), "", "free text"),
        Key(
            "start_date",
            Date(),
            _dt.date(2025, 1, 1),
            "calendar month 0: the first possible enrolment",
        ),
        Key(
            "n_patients",
            Int("a number of patients", "patients", ge=1),
            REQUIRED,
            "patients to enrol (the trial size N)",
        ),
        Key(
            "max_duration_months",
            months(gt=0),
            240.0,
            "hard end of the study, calendar months after start_date",
        ),
    ),
)

SIMULATION = Table(
    meaning="How many trials to simulate, and the seed.",
    keys=(
        Key("replicates", Int("a number of replicates", ge=1), 100, "simulated trials"),
        Key(
            "seed",
            Int("a seed", ge=0),
            OPTIONAL,
            "seed entropy; absent = generated at run time (and recorded with the outputs)",
        ),
    ),
)

_PREVALENCE_DEFAULTS = {
    "constitutional": (0.733, "11/15 [P]"),
    "cutaneous": (0.533, "8/15 [P]"),
    "arthritis": (0.4, "6/15 [P]"),
    "serositis": (0.2, "assumption (2 resolved, n unknown)"),
    "neurologic": (0.067, "assumption (1 cleared)"),
    "hypertension": (0.333, "5/15 [P]"),
    "nephritis": (1.0, "entry criterion"),
}

MANIFESTATION_PREVALENCE = Table(
    meaning="Probability that each manifestation is present at baseline.",
    keys=tuple(
        Key(name, probability(), p, f"present at baseline; pilot: {src}")
        for name, (p, src) in _PREVALENCE_DEFAULTS.items()
    ),
)
if tuple(_PREVALENCE_DEFAULTS) != MANIFESTATIONS:  # pragma: no cover - a spec/types mismatch
    raise RuntimeError("manifestation_prevalence keys must follow types.MANIFESTATIONS")

POPULATION = Table(
    meaning="Baseline covariate distributions (the same for every arm; see Distribution tables).",
    keys=(
        Key(
            "age_years",
            DistributionType("years"),
            {"distribution": "normal", "mean": 28.3, "sd": 8.0, "min": 16.0, "max": 65.0},
            "age at enrolment (pilot mean 28.3 [P])",
        ),
        Key("female_probability", probability(), 0.933, "probability a patient is female (14/15)"),
        Key(
            "disease_duration_months",
            DistributionType("months"),
            {"distribution": "lognormal", "mean": 91.1, "sd": 60.0},
            "disease duration at enrolment (pilot mean 91.1 [P])",
        ),
        Key(
            "sledai",
            DistributionType("SLEDAI-2K points"),
            {
                "distribution": "normal",
                "mean": 12.2,
                "sd": 3.3,
                "min": 6.0,
                "max": 105.0,
                "integer": True,
            },
            "baseline SLEDAI-2K (pilot 12.2 ± 3.3 [A])",
        ),
        Key(
            "proteinuria_mg_per_day",
            DistributionType("mg/day"),
            {"distribution": "lognormal", "mean": 2505.0, "sd": 1323.9},
            "baseline 24-h proteinuria (pilot 2505 ± 1324 [A])",
        ),
        Key(
            "anti_dsdna_iu_per_ml",
            DistributionType("IU/ml"),
            {"distribution": "lognormal", "mean": 150.0, "sd": 150.0},
            "baseline anti-dsDNA (assumption)",
        ),
        Key(
            "treg_percent",
            DistributionType("%"),
            {"distribution": "normal", "mean": 2.56, "sd": 1.0, "min": 0.1},
            "baseline Foxp3+ CD4+ Treg % (pilot mean 2.56 [P])",
        ),
        Key(
            "manifestation_prevalence",
            MANIFESTATION_PREVALENCE,
            {},
            "probability present at baseline, per manifestation",
        ),
    ),
)

_WINDOW = ("kind", ("window",))
_PIECEWISE = ("kind", ("piecewise",))

ACCRUAL = Table(
    meaning=(
        "When patients enrol. Dates are converted to calendar months since study.start_date "
        "(365.25/12 days per month)."
    ),
    keys=(
        Key("kind", Choice(("window", "piecewise")), "window", "enrolment model"),
        Key("start_month", months(ge=0), 0.0, "window: first enrolment month", only_if=_WINDOW),
        Key("start_date", Date(), OPTIONAL, "window: first enrolment date", only_if=_WINDOW),
        Key("end_month", months(gt=0), OPTIONAL, "window: last enrolment month", only_if=_WINDOW),
        Key("end_date", Date(), OPTIONAL, "window: last enrolment date", only_if=_WINDOW),
        Key(
            "density_ratio_end_to_start",
            Float("a ratio", gt=0),
            1.0,
            "window: enrolment density at the end ÷ at the start (1 = uniform)",
            only_if=_WINDOW,
        ),
        Key(
            "rates_per_month",
            FloatList(rate(unit="patients per month"), min_len=1),
            REQUIRED,
            "piecewise: Poisson enrolment rate on each period",
            only_if=_PIECEWISE,
        ),
        Key(
            "durations_months",
            FloatList(months(gt=0)),
            (),
            "piecewise: lengths of all periods but the last (one fewer than rates)",
            only_if=_PIECEWISE,
        ),
    ),
    one_of=(
        OneOf(("start_month", "start_date")),
        OneOf(("end_month", "end_date"), required=True),
    ),
    checks=(_check_accrual,),
)

RANDOMISATION = Table(
    meaning="How patients are allocated to arms.",
    keys=(
        Key("method", Choice(("permuted_block", "simple")), "permuted_block", "allocation method"),
        Key(
            "block_size",
            Int("a block size", "patients", ge=1, le=2048),
            Computed("2 × sum of arm allocations"),
            "permuted-block size; a multiple of the sum of allocations",
            only_if=("method", ("permuted_block",)),
        ),
        Key(
            "strata",
            ChoiceList(STRATIFICATION_FACTORS),
            (),
            "stratification factors (blocks within each stratum; SLE model only)",
        ),
    ),
    checks=(_check_randomisation,),
)

VISITS = Table(
    meaning=(
        "Scheduled visits, months after treatment start; visit i happens at "
        "schedule_months[i] ± U(window_months[i])."
    ),
    keys=(
        Key(
            "schedule_months",
            FloatList(months(gt=0), min_len=1, increasing=True),
            (0.25, 1.0, 3.0, 6.0, 9.0, 12.0),
            "nominal visit times",
        ),
        Key(
            "window_months",
            FloatOrList(months(ge=0)),
            _DEFAULT_WINDOWS,
            "half-width of each visit window (one number for all, or one per visit)",
        ),
        Key(
            "repeat_every_months",
            months(gt=0),
            OPTIONAL,
            "after the last listed visit, visits repeat this often (absent = no more visits)",
        ),
        Key("repeat_window_months", months(ge=0), 0.5, "half-width of repeated visits' windows"),
        Key("missed_probability", probability(lt=1.0), 0.05, "each visit is missed with this"),
    ),
    checks=(_check_visits,),
)

RESPONSE = Table(
    meaning="Latent response class (complete / partial / none) and its timing.",
    keys=(
        Key("probability_complete", probability(), 0.33, "probability of a complete response"),
        Key("probability_partial", probability(), 0.5, "probability of a partial response"),
        Key(
            "mean_time_to_response_months",
            months(gt=0),
            3.0,
            "mean (exponential) time to the response plateau",
        ),
        Key(
            "partial_residual_fraction",
            Float("a fraction", gt=0, lt=1),
            0.3,
            "partial responders: mean residual fraction of baseline SLEDAI",
        ),
        Key(
            "nonresponder_residual_fraction",
            Float("a fraction", gt=0, le=1),
            0.85,
            "non-responders: mean residual fraction of baseline SLEDAI",
        ),
        Key(
            "residual_concentration",
            Float("a concentration", gt=0),
            8.0,
            "Beta concentration of residual fractions",
        ),
    ),
    checks=(_check_response,),
)

SLEDAI = Table(
    meaning="Visit-level SLEDAI-2K: the score recorded at a visit around the expected activity.",
    keys=(
        Key(
            "visit_distribution",
            Choice(("binomial", "negative_binomial")),
            "binomial",
            "binomial: each baseline point is still present with probability equal to the "
            "share of activity left (a patient keeps a subset of her own baseline items), flare "
            "points added; negative_binomial: around the expected activity, size "
            "visit_dispersion (docs/model.md §5)",
        ),
        Key(
            "visit_dispersion",
            Float("a dispersion", gt=0, allow_inf=True),
            5.0,
            'negative-binomial size k (variance μ + μ²/k); "inf" (or very large) = Poisson; '
            "used only when visit_distribution = \"negative_binomial\"",
        ),
    ),
)


def _class_change(defaults: tuple[float, float, float], unit: str) -> Table:
    return Table(
        meaning="Change from baseline by response class.",
        keys=tuple(
            Key(name, Float("a change", unit), value, f"plateau change, {who}")
            for name, value, who in zip(
                RESPONSE_CLASSES,
                defaults,
                ("complete responders", "partial responders", "non-responders"),
                strict=True,
            )
        ),
    )


def _biomarker(
    unit: str,
    early_change: float,
    early_time_constant: float,
    class_change: tuple[float, float, float],
    patient_sd: float,
    visit_sd: float,
    early_note: str,
    meaning: str,
) -> Table:
    return Table(
        meaning=meaning,
        keys=(
            Key("early_change", Float("a change", unit), early_change, early_note),
            Key(
                "early_time_constant_months",
                months(gt=0),
                early_time_constant,
                "time constant of the early change",
            ),
            Key(
                "class_change",
                _class_change(class_change, unit),
                {},
                "change at the response plateau, by class",
            ),
            Key("patient_sd", sd(unit), patient_sd, "between-patient SD of the class change"),
            Key("visit_sd", sd(unit), visit_sd, "measurement noise SD at each visit"),
        ),
    )


_LOG = "log ratio"

PROTEINURIA = _biomarker(
    _LOG,
    -0.574,
    0.1,
    (-1.9, -1.05, -0.36),
    0.5,
    0.25,
    "early change: log(1430/2538), the 1-week fall [P]",
    "24-h proteinuria, natural-log ratios to baseline.",
)
ANTI_DSDNA = _biomarker(
    _LOG,
    -0.3,
    0.5,
    (-1.2, -0.7, -0.2),
    0.4,
    0.2,
    "early change (assumption; fell by 1 month [P])",
    "Anti-dsDNA, natural-log ratios to baseline.",
)
TREG = _biomarker(
    "percentage points",
    1.0,
    0.5,
    (2.5, 2.0, 0.5),
    0.8,
    0.4,
    "early change (assumption; 2.56 → 4.58 overall [P])",
    "Foxp3+ CD4+ Treg %, additive changes in percentage points.",
)

_COURSE_DEFAULTS = {
    "constitutional": (0.8, 1.0),
    "cutaneous": (0.5, 3.0),
    "arthritis": (0.67, 3.0),
    "serositis": (0.8, 3.0),
    "neurologic": (0.5, 3.0),
    "hypertension": (0.7, 3.0),
    "nephritis": (0.3, 9.0),
}
if tuple(_COURSE_DEFAULTS) != MANIFESTATIONS:  # pragma: no cover - a spec/types mismatch
    raise RuntimeError("disease.manifestations keys must follow types.MANIFESTATIONS")


def _course(name: str, p: float, mean: float) -> Table:
    return Table(
        meaning=f"Resolution of {name} manifestations present at baseline.",
        keys=(
            Key("probability_resolves", probability(), p, "probability it resolves"),
            Key(
                "mean_time_to_resolution_months",
                months(gt=0),
                mean,
                "mean (exponential) time to resolution",
            ),
        ),
    )


MANIFESTATION_COURSES = Table(
    meaning="Resolution of each baseline manifestation.",
    keys=tuple(
        Key(name, _course(name, p, mean), {}, f"course of {name} manifestations")
        for name, (p, mean) in _COURSE_DEFAULTS.items()
    ),
)

RELAPSE = Table(
    meaning="The relapse (flare) process: in a time-to-event trial, the event.",
    keys=(
        Key(
            "hazard",
            HazardType(allow_ratio=True),
            {"rate_per_month": 0.0078},
            "relapse hazard (pilot: 2 relapses in ≈ 258 patient-months); hazard_ratio: arms only",
        ),
        Key(
            "frailty_variance",
            Float("a variance", ge=0),
            0.5,
            "variance of the Gamma(mean 1) patient frailty; 0 = none",
        ),
        Key("recurrent", Bool(), True, "false: only the first relapse is simulated"),
        Key(
            "clock",
            Choice(("gap", "treatment")),
            "gap",
            "hazard time: since the previous flare resolved, or since treatment start",
        ),
        Key(
            "detection",
            Choice(("next_visit", "immediate")),
            "next_visit",
            "when a flare is detected",
        ),
        Key(
            "symptomatic_visit_probability",
            probability(),
            0.3,
            "probability a flare prompts an unscheduled visit",
        ),
        Key(
            "symptomatic_delay_months",
            months(gt=0),
            0.5,
            "mean (exponential) delay to that unscheduled visit",
        ),
        Key(
            "sledai_increase_min",
            Int("a SLEDAI increase", "SLEDAI-2K points", ge=0),
            3,
            "minimum SLEDAI rise during a flare (SELENA: >= 3)",
        ),
        Key(
            "sledai_increase_mean",
            Float("a SLEDAI increase", "SLEDAI-2K points", ge=0),
            5.0,
            "mean SLEDAI rise during a flare (>= sledai_increase_min)",
        ),
        Key(
            "proteinuria_log_increase",
            Float("a log ratio", _LOG, ge=0),
            0.92,
            "rise in log proteinuria during a flare (log 2.5)",
        ),
        Key(
            "rescue_resolution_months",
            months(gt=0),
            2.0,
            "a detected flare resolves this long after detection",
        ),
        Key(
            "untreated_resolution_months",
            months(gt=0),
            6.0,
            "an undetected flare resolves this long after onset",
        ),
        Key(
            "rescue_prednisone_mg_per_day",
            Float("a dose", "mg/day", ge=0),
            30.0,
            "rescue prednisone dose for detected flares",
        ),
    ),
    checks=(_check_relapse,),
)

DISEASE = Table(
    meaning=(
        "The disease course: defaults for every arm; [arms.<name>.disease] overrides any key "
        "(deep merge)."
    ),
    keys=(
        Key(
            "model",
            Choice(("sle", "time_to_event")),
            "sle",
            'full lupus model, or only the relapse process ("time_to_event")',
        ),
        Key("response", RESPONSE, {}, "response class and timing"),
        Key("sledai", SLEDAI, {}, "visit-level SLEDAI-2K noise"),
        Key("proteinuria", PROTEINURIA, {}, "24-h proteinuria trajectory"),
        Key("anti_dsdna", ANTI_DSDNA, {}, "anti-dsDNA trajectory"),
        Key("treg", TREG, {}, "Treg % trajectory"),
        Key("manifestations", MANIFESTATION_COURSES, {}, "course of baseline manifestations"),
        Key("relapse", RELAPSE, {}, "relapse process"),
    ),
)

MAINTENANCE = Table(
    meaning="Background therapy for every arm from start_month (as in the pilot).",
    keys=(
        Key("enabled", Bool(), True, "whether maintenance therapy is simulated"),
        Key("start_month", months(ge=0), 1.0, "start, months after treatment start [P]"),
        Key(
            "prednisone_mg_per_day",
            Pair(Float("a dose", "mg/day", ge=0)),
            (5.0, 10.0),
            "prednisone dose range, uniform [P]",
        ),
        Key(
            "cyclophosphamide_g",
            Pair(Float("a dose", "g", ge=0)),
            (0.4, 0.6),
            "cyclophosphamide infusion dose range, uniform [P]",
        ),
        Key(
            "cyclophosphamide_interval_months",
            Pair(months(gt=0)),
            (2.0, 3.0),
            "interval between infusions, uniform [P]",
        ),
    ),
)

CUTOFF = Table(
    meaning=(
        "Data cut-off rules, all optional; when none fires the study ends at "
        "study.max_duration_months."
    ),
    keys=(
        Key(
            "calendar_date",
            Date(),
            OPTIONAL,
            "cut on this date (converted to calendar months since study.start_date)",
        ),
        Key("calendar_month", months(gt=0), OPTIONAL, "cut at this calendar month"),
        Key(
            "months_after_last_enrolment",
            months(ge=0),
            OPTIONAL,
            "cut this long after the last patient enrols",
        ),
        Key(
            "events",
            Int("an event count", "patients", ge=1),
            OPTIONAL,
            "cut when this many patients have had a first relapse",
        ),
        Key(
            "event_time",
            Choice(("observed", "true")),
            "observed",
            "count events at detection (observed) or at onset (true)",
        ),
        Key(
            "combine",
            Choice(("first", "last")),
            "first",
            "cut at the first or the last rule to fire",
        ),
        Key(
            "max_follow_up_months",
            months(gt=0),
            OPTIONAL,
            "per-patient follow-up cap (fixed follow-up design)",
        ),
    ),
    one_of=(OneOf(("calendar_date", "calendar_month")),),
)

def _check_response_effect(table: dict[str, Any], ctx: Ctx) -> None:
    if "difference" in table and not -1.0 < table["difference"] < 1.0:
        ctx.child("difference").error("expected a difference in (-1, 1)", table["difference"])


RESPONSE_EFFECT = Table(
    meaning=(
        "The arm's probability of responding (complete or partial response class) given "
        "relative to another arm's; the reference arm's complete : partial split is kept."
    ),
    keys=(
        Key(
            "difference",
            Float("a difference in probability"),
            OPTIONAL,
            "P(respond) = the reference arm's + difference",
        ),
        Key(
            "odds_ratio",
            Float("an odds ratio", gt=0),
            OPTIONAL,
            "odds of responding = the reference arm's × odds_ratio",
        ),
        Key(
            "reference_arm",
            Str("an arm name", pattern=ARM_NAME_PATTERN),
            REQUIRED,
            "the arm the effect is relative to (it may not have a response_effect itself)",
        ),
    ),
    one_of=(OneOf(("difference", "odds_ratio"), required=True),),
    checks=(_check_response_effect,),
)


_DOTTED_KEY = r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+"


class PriorType(ValueType):
    """A table mapping dotted ``[disease]`` keys to distribution tables (assurance priors).

    Only the keys' form is checked here; that each names a number in the arm's disease is
    checked when the scenario is built.
    """

    type_name = "table of distributions"
    unit = ""

    def allowed(self) -> str:
        return '"dotted.disease.key" = distribution table (see Distribution tables)'

    def expected(self) -> str:
        return "a table of distribution tables"

    def normalise(self, value: Any, ctx: Ctx) -> dict[str, Any]:
        import re

        if not isinstance(value, dict):
            ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)
        out = {}
        for name, spec in value.items():
            if not re.fullmatch(_DOTTED_KEY, str(name)):
                ctx.child(str(name)).error(
                    "expected a quoted dotted key relative to the arm's disease, e.g. "
                    '"response.probability_complete"',
                    show_value=False,
                )
            out[name] = DistributionType().normalise(spec, ctx.child(str(name)))
        return out


ARM = Table(
    meaning="One treatment arm.",
    keys=(
        Key("label", Str("a label"), Computed("the arm name"), "human-readable description"),
        Key("allocation", Int("an allocation weight", ge=1), 1, "allocation ratio weight"),
        Key(
            "cells_per_kg",
            Float("a dose", "cells/kg", ge=0),
            0.0,
            "MSC dose infused at treatment start (0 = no infusion)",
        ),
        Key(
            "parameters_from",
            Str("a path to a .toml file", nonempty=True),
            OPTIONAL,
            "include: its [disease] is merged over [disease] for this arm (see Includes)",
        ),
        Key(
            "disease",
            DISEASE,
            OPTIONAL,
            "any subset of the [disease] keys, merged over [disease] (and parameters_from)",
            partial=True,
        ),
        Key(
            "dropout",
            HazardType(allow_ratio=True),
            Computed("the scenario's [dropout]"),
            "this arm's dropout hazard",
        ),
        Key(
            "death",
            HazardType(allow_ratio=True),
            Computed("the scenario's [death]"),
            "this arm's death hazard",
        ),
        Key(
            "response_effect",
            RESPONSE_EFFECT,
            OPTIONAL,
            "response probability relative to another arm (replaces this arm's "
            "probability_complete and probability_partial; see Treatment effects)",
        ),
        Key(
            "prior",
            PriorType(),
            {},
            "uncertain disease parameters for assurance: dotted [disease] key = distribution",
        ),
    ),
)

class NameList(ValueType):
    """An array of distinct arm names."""

    type_name = "list of string"
    unit = ""

    def allowed(self) -> str:
        return f"distinct names matching `{ARM_NAME_PATTERN}`"

    def expected(self) -> str:
        return "an array of distinct arm names"

    def normalise(self, value: Any, ctx: Ctx) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)
        names = tuple(Str("an arm name", pattern=ARM_NAME_PATTERN).normalise(v, ctx) for v in value)
        if len(set(names)) != len(names):
            ctx.error("expected distinct arm names", value)
        return names


def _check_interim(table: dict[str, Any], ctx: Ctx) -> None:
    fractions = table["information_fractions"]
    futility = table.get("futility_z")
    if futility is None:
        return
    if not fractions:
        ctx.child("futility_z").error("futility thresholds need interim looks", futility)
    if isinstance(futility, tuple) and len(futility) != len(fractions):
        ctx.child("futility_z").error(
            f"expected one threshold per interim look ({len(fractions)}) or a single number",
            futility,
        )


RESPONDER = Table(
    meaning="The responder endpoints (sri4, remission) at the assessment visit.",
    keys=(
        Key(
            "assessment_month",
            months(gt=0),
            12.0,
            "nominal month of the assessment (the scheduled visit whose window holds it)",
        ),
        Key(
            "sledai_reduction",
            Int("a SLEDAI reduction", "SLEDAI-2K points", ge=1),
            4,
            "sri4: SLEDAI-2K must have fallen by at least this much (SRI-4: 4)",
        ),
        Key(
            "require_no_relapse",
            Bool(),
            True,
            "sri4: and no flare detected up to the assessment",
        ),
        Key(
            "missing",
            Choice(("non_responder", "exclude", "locf")),
            "non_responder",
            "a patient without the assessment (missed, dropout, death) counts as a "
            "non-responder, is left out, or is carried forward from the last visit",
        ),
        Key(
            "min_expected",
            Float("an expected count", ge=0),
            5.0,
            "Fisher's exact test replaces chi-square when an expected cell count is below this",
        ),
    ),
)

SLEDAI_CHANGE = Table(
    meaning="SLEDAI-2K change from baseline at the assessment visit (ANCOVA on baseline).",
    keys=(
        Key(
            "missing",
            Choice(("exclude", "locf")),
            "exclude",
            "a patient without the assessment is left out, or carried forward",
        ),
    ),
)

TIME_TO_RELAPSE = Table(
    meaning="Time to first relapse (detected flare): log-rank test.",
    keys=(
        Key(
            "hazard_ratio",
            Choice(("cox", "peto")),
            "cox",
            "hazard ratio reported beside the test: Cox model, or the log-rank (Peto) one-step",
        ),
    ),
)

FLARE_RATE = Table(
    meaning="Number of detected flares per patient over follow-up: rate ratio.",
    keys=(
        Key(
            "model",
            Choice(("auto", "poisson", "negbin")),
            "auto",
            "auto: negative binomial when Dean's test finds overdispersion, else Poisson",
        ),
        Key(
            "overdispersion_level",
            Float("a significance level", gt=0, lt=1),
            0.05,
            "level of the overdispersion pre-test (model = auto)",
        ),
    ),
)

INTERIM = Table(
    meaning="Interim looks at the primary endpoint, with Lan-DeMets alpha spending.",
    keys=(
        Key(
            "information_fractions",
            FloatList(Float("a fraction", gt=0, lt=1), increasing=True),
            (),
            "interim looks as fractions of the final information (none = a single analysis)",
        ),
        Key(
            "timing",
            Choice(("events", "calendar", "assessments")),
            "events",
            "fractions of: observed first relapses (of cutoff.events, else of the final "
            "count), calendar time to the final analysis, or patients past the assessment",
        ),
        Key(
            "spending",
            Choice(("obrien-fleming", "pocock")),
            "obrien-fleming",
            "Lan-DeMets spending function type",
        ),
        Key(
            "futility_z",
            FloatOrList(Float("a z value")),
            OPTIONAL,
            "non-binding futility threshold on z (benefit positive) at each interim look; "
            "one-sided designs only",
        ),
    ),
    checks=(_check_interim,),
)

ASSURANCE = Table(
    meaning="Assurance (cohortsim power --assurance).",
    keys=(
        Key(
            "replicates_per_draw",
            Int("a number of replicates", ge=1, le=256),
            16,
            "replicates sharing one draw of the uncertain parameters (divides 256)",
        ),
    ),
)


def _check_analysis(table: dict[str, Any], ctx: Ctx) -> None:
    if 256 % table["assurance"]["replicates_per_draw"]:
        ctx.child("assurance", "replicates_per_draw").error(
            "expected a divisor of 256 (the replicates of one seeding block)",
            table["assurance"]["replicates_per_draw"],
        )
    if table["interim"].get("futility_z") is not None and table["sides"] != 1:
        ctx.child("interim", "futility_z").error(
            "futility thresholds need one-sided tests (analysis.sides = 1)",
            table["interim"]["futility_z"],
        )
    if "primary" in table and "endpoints" in table and table["primary"] not in table["endpoints"]:
        ctx.child("primary").error(
            "expected one of analysis.endpoints " + format_value(list(table["endpoints"])),
            table["primary"],
        )


ANALYSIS = Table(
    meaning=(
        "How every simulated trial is analysed (read by `cohortsim power`; see "
        "docs/planning.md)."
    ),
    keys=(
        Key(
            "endpoints",
            ChoiceList(ENDPOINTS),
            Computed(
                'what the scenario can measure: time_to_relapse, flare_rate and, with an '
                "assessment visit, sri4, remission, sledai_change (time_to_event: "
                "time_to_relapse)"
            ),
            "endpoints analysed",
        ),
        Key(
            "primary",
            Choice(ENDPOINTS),
            Computed('"sri4" when analysed, else "time_to_relapse"'),
            "the endpoint that sizes the trial (and is monitored at interim looks)",
        ),
        Key(
            "alpha",
            Float("a significance level", gt=0, lt=1),
            0.05,
            "type I error of each test (split over both sides when sides = 2)",
        ),
        Key(
            "sides",
            Int("a number of sides", ge=1, le=2),
            2,
            "2: two-sided tests; 1: one-sided, in the direction of benefit",
        ),
        Key(
            "control_arm",
            Str("an arm name", pattern=ARM_NAME_PATTERN),
            Computed("the first arm"),
            "the comparator",
        ),
        Key(
            "treatment_arms",
            NameList(),
            Computed("every other arm"),
            "arms each compared with the control arm (no multiplicity adjustment)",
        ),
        Key(
            "stratified",
            Bool(),
            Computed("true when randomisation.strata is set"),
            "stratified log-rank and Cochran-Mantel-Haenszel tests by the randomisation strata",
        ),
        Key(
            "target_power",
            Float("a power", gt=0, lt=1),
            0.8,
            "power the sample-size search aims for",
        ),
        Key("responder", RESPONDER, {}, "responder endpoints"),
        Key("sledai_change", SLEDAI_CHANGE, {}, "SLEDAI change endpoint"),
        Key("time_to_relapse", TIME_TO_RELAPSE, {}, "time-to-relapse endpoint"),
        Key("flare_rate", FLARE_RATE, {}, "flare-rate endpoint"),
        Key("interim", INTERIM, {}, "interim analyses"),
        Key("assurance", ASSURANCE, {}, "assurance settings"),
    ),
    checks=(_check_analysis,),
)


SCENARIO = Table(
    meaning="A scenario file.",
    keys=(
        Key("study", STUDY, REQUIRED, "identity and calendar"),
        Key("simulation", SIMULATION, {}, "replicates and seed"),
        Key("population", POPULATION, {}, "baseline covariates"),
        Key("accrual", ACCRUAL, REQUIRED, "enrolment"),
        Key("randomisation", RANDOMISATION, {}, "allocation"),
        Key("visits", VISITS, {}, "visit schedule"),
        Key("disease", DISEASE, {}, "disease course (defaults for every arm)"),
        Key(
            "dropout",
            HazardType(),
            {"rate_per_month": 0.0},
            "dropout (loss to follow-up) hazard, every arm unless overridden",
        ),
        Key(
            "death",
            HazardType(),
            {"rate_per_month": 0.0008},
            "death hazard, every arm unless overridden (≈ 1%/year, assumption)",
        ),
        Key("maintenance", MAINTENANCE, {}, "background therapy"),
        Key("cutoff", CUTOFF, {}, "data cut-off rules"),
        Key("analysis", ANALYSIS, {}, "analysis of each simulated trial (cohortsim power)"),
        Key(
            "arms",
            NamedTables(ARM, ARM_NAME_PATTERN, noun="arm", min_count=1),
            REQUIRED,
            "treatment arms, in order",
        ),
    ),
)
"""The whole scenario file format."""

HAZARD_PROCESSES: dict[str, tuple[str, ...]] = {
    "relapse": ("disease", "relapse", "hazard"),
    "dropout": ("dropout",),
    "death": ("death",),
}
"""Each hazard process and where its scenario-level spec sits (an arm's is at the same path
under ``arms.<name>``)."""


def accepted_keys(*, tables: bool = False) -> list[str]:
    """Every dotted key path the loader accepts that holds a value (arm names as ``<name>``);
    with ``tables`` also the paths of the (sub-)tables that hold them."""
    return [
        path
        for path, key, _table in walk(SCENARIO)
        if tables or key.partial or not isinstance(key.type, Table | NamedTables)
    ]


def describe_default(key: Key) -> str:
    """The default of ``key`` as shown in the docs."""
    if key.default is REQUIRED:
        return "required"
    if key.default is OPTIONAL:
        return "not set"
    if isinstance(key.default, Computed):
        return key.default.doc
    if isinstance(key.type, Table) and key.default == {}:
        return "(table)"
    if isinstance(key.default, float) and math.isinf(key.default):
        return '"inf"'
    return format_value(key.default, limit=None)
