"""The validated, frozen scenario: what the engines, analyses and reports read.

Built only by :mod:`cohortsim.scenario.load` from TOML; every field has been checked there. Times
are months, rates are per month. Calendar month 0 is ``study.start_date``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from cohortsim.distributions import CovariateDistribution
from cohortsim.hazards import Hazard
from cohortsim.scenario.canonical import FrozenDict

MANIFESTATIONS: tuple[str, ...] = (
    "constitutional",
    "cutaneous",
    "arthritis",
    "serositis",
    "neurologic",
    "hypertension",
    "nephritis",
)
"""The pilot's clinical manifestations, in the order used for every per-manifestation array."""

RESPONSE_CLASSES: tuple[str, ...] = ("complete", "partial", "none")
"""Latent response classes, coded 0, 1, 2 in arrays."""

STRATIFICATION_FACTORS: tuple[str, ...] = ("nephritis", "sledai_above_10", "female")
"""Baseline factors a randomisation may be stratified by."""

ENDPOINTS: tuple[str, ...] = (
    "sri4",
    "remission",
    "time_to_relapse",
    "sledai_change",
    "flare_rate",
)
"""Endpoints a simulated trial can be analysed on (``docs/planning.md``): SRI-4-like responder
and complete remission at the assessment visit, time to first relapse, SLEDAI-2K change from
baseline at the assessment visit, and the flare rate."""


@dataclass(frozen=True)
class Study:
    """Identity and calendar of the study.

    Attributes
    ----------
    name, description : str
    start_date : datetime.date
        Calendar month 0 (first possible enrolment).
    n_patients : int
        Patients to enrol (the trial size N).
    max_duration_months : float
        Hard end of the study, months after ``start_date``; follow-up never runs past it.
    """

    name: str
    description: str
    start_date: date
    n_patients: int
    max_duration_months: float


@dataclass(frozen=True)
class Simulation:
    """Replication settings: number of simulated trials and the seed entropy (None = fresh)."""

    replicates: int
    seed: int | None


@dataclass(frozen=True)
class Population:
    """Distributions of baseline covariates (shared by all arms; randomisation balances them).

    ``manifestation_prevalence`` maps each name in :data:`MANIFESTATIONS` to the probability it is
    present at baseline.
    """

    age_years: CovariateDistribution
    female_probability: float
    disease_duration_months: CovariateDistribution
    sledai: CovariateDistribution
    proteinuria_mg_per_day: CovariateDistribution
    anti_dsdna_iu_per_ml: CovariateDistribution
    treg_percent: CovariateDistribution
    manifestation_prevalence: Mapping[str, float]


@dataclass(frozen=True)
class Accrual:
    """When patients enrol.

    ``kind == "window"``: each patient's enrolment month is an independent draw on
    ``[window_start_month, window_end_month]`` with a linear density whose value at the end is
    ``density_ratio_end_to_start`` times its value at the start (1 = uniform).
    ``kind == "piecewise"``: a Poisson process with ``rates_per_month`` (patients per month) on
    consecutive periods of ``durations_months`` (the last period open-ended).
    """

    kind: Literal["window", "piecewise"]
    window_start_month: float = 0.0
    window_end_month: float = 0.0
    density_ratio_end_to_start: float = 1.0
    rates_per_month: tuple[float, ...] = ()
    durations_months: tuple[float, ...] = ()


@dataclass(frozen=True)
class Randomisation:
    """Allocation method: ``permuted_block`` (optionally stratified) or ``simple``."""

    method: Literal["permuted_block", "simple"]
    block_size: int
    strata: tuple[str, ...]


@dataclass(frozen=True)
class Visits:
    """Scheduled visits, months after treatment start.

    ``schedule_months[i]`` is done at ``nominal ± U(window_months[i])``; after the last listed
    visit, visits repeat every ``repeat_every_months`` (None = no repeats) with
    ``repeat_window_months``. Each scheduled visit is missed with ``missed_probability``.
    """

    schedule_months: tuple[float, ...]
    window_months: tuple[float, ...]
    repeat_every_months: float | None
    repeat_window_months: float
    missed_probability: float


@dataclass(frozen=True)
class Response:
    """Latent response class and its timing.

    Class probabilities: ``probability_complete``, ``probability_partial`` (non-response is the
    rest). Disease activity declines linearly from baseline to its residual level over the
    patient's time to response, exponential with mean ``mean_time_to_response_months``.
    Residual fraction of baseline SLEDAI: complete 0; partial Beta(mean
    ``partial_residual_fraction``, concentration ``residual_concentration``); none Beta(mean
    ``nonresponder_residual_fraction``, same concentration).
    """

    probability_complete: float
    probability_partial: float
    mean_time_to_response_months: float
    partial_residual_fraction: float
    nonresponder_residual_fraction: float
    residual_concentration: float


@dataclass(frozen=True)
class Sledai:
    """Visit-level SLEDAI-2K: how a visit's score scatters around the expected activity.

    ``visit_distribution`` is ``"binomial"`` (each baseline point still present with the
    probability of the share of activity left; flare points added) or ``"negative_binomial"``
    (around the expected activity, size ``visit_dispersion``: variance μ + μ²/k; ``inf`` gives
    Poisson).
    """

    visit_distribution: str
    visit_dispersion: float


@dataclass(frozen=True)
class Biomarker:
    """A log-scale biomarker trajectory (proteinuria, anti-dsDNA) or an additive one (Treg %).

    The change from baseline is ``early_change·(1 − exp(−t/early_time_constant_months))`` plus
    ``(class_change[c] − early_change)·g(t)`` with ``g`` the response progress (0 → 1 over the
    time to response); a patient effect N(0, ``patient_sd``) is added to the class change, and
    N(0, ``visit_sd``) noise to every measurement. For log-scale markers the changes are natural
    log ratios.
    """

    early_change: float
    early_time_constant_months: float
    class_change: tuple[float, float, float]
    patient_sd: float
    visit_sd: float


@dataclass(frozen=True)
class ManifestationCourse:
    """Resolution of one baseline manifestation: it resolves with ``probability_resolves``,
    after an exponential time with mean ``mean_time_to_resolution_months``."""

    probability_resolves: float
    mean_time_to_resolution_months: float


@dataclass(frozen=True)
class Relapse:
    """Relapse (flare) process.

    Onsets follow ``hazard`` (time since treatment start, or since the previous flare resolved
    when ``clock == "gap"``) multiplied by a patient frailty Gamma(mean 1, variance
    ``frailty_variance``). A flare is detected at the next completed visit (``detection ==
    "next_visit"``), or at an unscheduled symptomatic visit (probability
    ``symptomatic_visit_probability``, delay exponential with mean ``symptomatic_delay_months``),
    or at onset (``detection == "immediate"``). It raises SLEDAI by ``sledai_increase_min`` +
    Poisson(``sledai_increase_mean − sledai_increase_min``) and log proteinuria by
    ``proteinuria_log_increase`` until it resolves, ``rescue_resolution_months`` after detection
    (``untreated_resolution_months`` after onset if never detected). Detected flares get rescue
    therapy (prednisone ``rescue_prednisone_mg_per_day``). ``recurrent == False`` stops the process
    after the first flare.
    """

    hazard: Hazard
    hazard_as_entered: Mapping[str, Any]
    frailty_variance: float
    recurrent: bool
    clock: Literal["gap", "treatment"]
    detection: Literal["next_visit", "immediate"]
    symptomatic_visit_probability: float
    symptomatic_delay_months: float
    sledai_increase_min: int
    sledai_increase_mean: float
    proteinuria_log_increase: float
    rescue_resolution_months: float
    untreated_resolution_months: float
    rescue_prednisone_mg_per_day: float


@dataclass(frozen=True)
class Disease:
    """The disease course of one arm (see ``docs/model.md``).

    ``model == "sle"`` is the full lupus model; ``model == "time_to_event"`` keeps only the
    relapse process (the event of a plain time-to-event trial) — no covariates, no measurements.
    """

    model: Literal["sle", "time_to_event"]
    response: Response
    sledai: Sledai
    proteinuria: Biomarker
    anti_dsdna: Biomarker
    treg: Biomarker
    manifestations: Mapping[str, ManifestationCourse]
    relapse: Relapse


@dataclass(frozen=True)
class Arm:
    """One treatment arm.

    Attributes
    ----------
    name : str
        Key in the scenario (``[arms.<name>]``), used in outputs.
    label : str
        Human-readable description.
    allocation : int
        Allocation ratio weight (1:1 → both 1).
    cells_per_kg : float
        MSC dose infused at treatment start (cells/kg); 0 for no infusion.
    disease, dropout_hazard, death_hazard
        This arm's disease course and competing hazards (per month).
    prior : mapping of str to CovariateDistribution
        Uncertain disease parameters for assurance: dotted keys relative to the arm's disease
        (``"response.probability_complete"``, ``"relapse.hazard.rate_per_month"``) and the
        distribution each is drawn from. Empty = the point values are taken as known.
    response_effect : mapping, optional
        The response effect as entered (``{ difference = 0.2, reference_arm = "soc" }``); the
        arm's ``disease.response`` already holds the normalised class probabilities.
    """

    name: str
    label: str
    allocation: int
    cells_per_kg: float
    disease: Disease
    dropout_hazard: Hazard
    death_hazard: Hazard
    prior: Mapping[str, CovariateDistribution] = field(default_factory=FrozenDict)
    response_effect: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Maintenance:
    """Background therapy from ``start_month`` (both arms, as in the pilot).

    Prednisone dose ~ U(``prednisone_mg_per_day``); cyclophosphamide infusions of
    U(``cyclophosphamide_g``) grams every U(``cyclophosphamide_interval_months``) months.
    """

    enabled: bool
    start_month: float
    prednisone_mg_per_day: tuple[float, float]
    cyclophosphamide_g: tuple[float, float]
    cyclophosphamide_interval_months: tuple[float, float]


@dataclass(frozen=True)
class Cutoff:
    """Data cut-off rules (calendar months since ``study.start_date``).

    Any of ``calendar_month``, ``months_after_last_enrolment`` and ``events`` (number of patients
    with a first relapse, counted by ``event_time``: "observed" = detection, "true" = onset) may
    be set; ``combine`` says whether the cut happens at the first or the last rule to fire.
    ``max_follow_up_months`` caps each patient's follow-up (fixed follow-up design).
    """

    calendar_month: float | None
    months_after_last_enrolment: float | None
    events: int | None
    event_time: Literal["observed", "true"]
    combine: Literal["first", "last"]
    max_follow_up_months: float | None


@dataclass(frozen=True)
class ResponderAnalysis:
    """The responder endpoints at the assessment visit (``[analysis.responder]``).

    ``assessment_month``: nominal month of the assessment visit (the scheduled visit nearest to
    it, within its window). SRI-4-like responder: SLEDAI-2K fell by ``sledai_reduction`` or more
    and, when ``require_no_relapse``, no flare was detected up to the assessment. Complete
    remission: SLEDAI-2K 0 at the assessment. ``missing``: a patient without the assessment
    (visit missed, or dropout/death before it) is a non-responder, excluded, or carried forward
    from their last scheduled visit (``"locf"``). ``min_expected``: Fisher's exact test replaces
    chi-square when an expected cell count is below it.
    """

    assessment_month: float = 12.0
    sledai_reduction: int = 4
    require_no_relapse: bool = True
    missing: Literal["non_responder", "exclude", "locf"] = "non_responder"
    min_expected: float = 5.0


@dataclass(frozen=True)
class InterimAnalysis:
    """Interim looks at the primary endpoint with Lan-DeMets alpha spending.

    ``information_fractions``: the interim looks (the final analysis is at 1); ``timing``: what
    the fractions are of — observed first relapses (``"events"``, of ``cutoff.events`` or else of
    the final count), calendar time to the final analysis (``"calendar"``), or patients past the
    assessment visit (``"assessments"``). ``futility_z``: non-binding futility thresholds on the
    standardised statistic (benefit positive) at each interim look (one-sided designs only).
    """

    information_fractions: tuple[float, ...] = ()
    timing: Literal["events", "calendar", "assessments"] = "events"
    spending: Literal["obrien-fleming", "pocock"] = "obrien-fleming"
    futility_z: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Analysis:
    """How every simulated trial is analysed (``[analysis]``, read by ``cohortsim power``).

    Attributes
    ----------
    endpoints : tuple of str
        Endpoints analysed (names from :data:`ENDPOINTS`).
    primary : str
        The endpoint that sizes the trial and is monitored at interim looks.
    alpha : float
        Type I error of each test (total over both sides when ``sides == 2``).
    sides : {1, 2}
        1: one-sided tests in the direction of benefit; 2: two-sided tests.
    control_arm : str
        The comparator.
    treatment_arms : tuple of str
        Arms compared with the control arm, each on its own (no multiplicity adjustment).
    stratified : bool
        Stratify the log-rank test and use Cochran–Mantel–Haenszel by the randomisation strata.
    target_power : float
        Power the sample-size search aims for.
    responder : ResponderAnalysis
    sledai_change_missing : {"exclude", "locf"}
        Patients without the assessment in the ANCOVA of SLEDAI change: left out, or carried
        forward from their last scheduled visit.
    hazard_ratio_estimate : {"cox", "peto"}
        How the hazard ratio reported beside the log-rank test is estimated.
    flare_model : {"auto", "poisson", "negbin"}
        Rate-ratio model; "auto" uses the negative binomial when Dean's test finds
        overdispersion at ``overdispersion_level``.
    overdispersion_level : float
    interim : InterimAnalysis
    replicates_per_draw : int
        Assurance: replicates that share one draw of the uncertain parameters (divides 256).
    """

    endpoints: tuple[str, ...]
    primary: str
    alpha: float = 0.05
    sides: int = 2
    control_arm: str = ""
    treatment_arms: tuple[str, ...] = ()
    stratified: bool = False
    target_power: float = 0.8
    responder: ResponderAnalysis = field(default_factory=ResponderAnalysis)
    sledai_change_missing: Literal["exclude", "locf"] = "exclude"
    hazard_ratio_estimate: Literal["cox", "peto"] = "cox"
    flare_model: Literal["auto", "poisson", "negbin"] = "auto"
    overdispersion_level: float = 0.05
    interim: InterimAnalysis = field(default_factory=InterimAnalysis)
    replicates_per_draw: int = 16

    @property
    def confidence(self) -> float:
        """Level of the two-sided intervals that match the tests: 1 − alpha (two-sided tests)
        or 1 − 2·alpha (one-sided)."""
        return 1.0 - self.alpha * (2.0 / self.sides)


@dataclass(frozen=True)
class Scenario:
    """A complete, validated scenario.

    ``resolved`` holds the fully-resolved key/value tree (defaults filled, overrides applied),
    which is what is stored with outputs; ``sha256`` is the hash of its canonical JSON.
    """

    study: Study
    simulation: Simulation
    population: Population
    arms: tuple[Arm, ...]
    randomisation: Randomisation
    accrual: Accrual
    visits: Visits
    maintenance: Maintenance
    cutoff: Cutoff
    resolved: Mapping[str, Any] = field(repr=False)
    sha256: str = ""
    source_path: str | None = None
    analysis: Analysis | None = None

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(arm.name for arm in self.arms)

    @property
    def is_sle(self) -> bool:
        return any(arm.disease.model == "sle" for arm in self.arms)
