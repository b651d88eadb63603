"""Summaries of simulated pilots when every replicate has its own response parameters.

ABC needs one simulated pilot per parameter set, for ~10⁵ parameter sets: building a scenario
per set would cost more than the simulation. Response and measurement parameters, however, do not
change what the engine computes (enrolment, visits, flares, follow-up): they only change what a
visit measures. So one engine run serves a whole batch of replicates, and each replicate's visit
measurements are recomputed here with its own parameters — using the model's own measurement
functions (:mod:`cohortsim.measurements`) and the cohort's own random streams. With the
scenario's parameters the result equals the engine's ``visits`` table exactly (tested), so this is
the model, not an approximation of it.

Parameters handled per replicate (:data:`PER_REPLICATE_KEYS`) are dotted keys of the arm's
disease table. Relapse parameters change the engine's flares and are set per batch instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cohortsim.cohort import LatentCohort
from cohortsim.course import Course
from cohortsim.discrete import count_quantile
from cohortsim.lazy import special, stats
from cohortsim.measurements import flare_state, marker_change, response_progress, sledai_at
from cohortsim.scenario.types import Scenario

PER_REPLICATE_KEYS: tuple[str, ...] = (
    "response.probability_complete",
    "response.probability_partial",
    "response.mean_time_to_response_months",
    "response.partial_residual_fraction",
    "response.nonresponder_residual_fraction",
    "response.residual_concentration",
    "sledai.visit_dispersion",
    "proteinuria.early_change",
    "proteinuria.early_time_constant_months",
    "proteinuria.class_change.complete",
    "proteinuria.class_change.partial",
    "proteinuria.class_change.none",
    "proteinuria.patient_sd",
    "proteinuria.visit_sd",
)
"""Disease keys that may vary between the replicates of one engine run."""

SUMMARY_QUANTITIES = {
    ("sledai", "mean"),
    ("sledai", "sd"),
    ("sledai_zero", "count"),
    ("proteinuria_mg_per_day", "mean"),
    ("proteinuria_mg_per_day", "sd"),
    ("proteinuria_fell", "count"),
}
"""(quantity, statistic) pairs this module can summarise at a visit after baseline."""


EXACT_COUNT_MAX_N = 30
"""Largest n whose counts ABC matches exactly (a pilot's "4 of 12")."""


@dataclass(frozen=True)
class SummarySpec:
    """One summary of a simulated pilot: a statistic over the first ``n`` patients with the
    visit done.

    Attributes
    ----------
    name : str
        The target's name.
    quantity, statistic : str
        A pair in :data:`SUMMARY_QUANTITIES`.
    visit_month : float
        Nominal month of the visit (> 0).
    n : int
        Patients the statistic is computed over.
    """

    name: str
    quantity: str
    statistic: str
    visit_month: float
    n: int

    @property
    def exact(self) -> bool:
        """Counts out of at most :data:`EXACT_COUNT_MAX_N` patients are matched exactly; larger
        ones (where an exact match becomes too rare to simulate) by distance, like means."""
        return self.statistic == "count" and self.n <= EXACT_COUNT_MAX_N


def _disease_value(scenario: Scenario, key: str) -> float:
    node = scenario.resolved["arms"][scenario.arm_names[0]]["disease"]
    for part in key.split("."):
        node = node[part]
    return float(node)


class ReplicateParameters:
    """Per-replicate values of :data:`PER_REPLICATE_KEYS` (the scenario's value where absent).

    Parameters
    ----------
    scenario : Scenario
        Single-arm scenario the engine ran.
    values : mapping of str to (R,) array
    """

    def __init__(self, scenario: Scenario, values: Mapping[str, np.ndarray]) -> None:
        unknown = set(values) - set(PER_REPLICATE_KEYS)
        if unknown:
            raise KeyError(f"not per-replicate keys: {sorted(unknown)}")
        self.scenario = scenario
        self.values = {k: np.asarray(v, dtype=float) for k, v in values.items()}

    def __getitem__(self, key: str) -> np.ndarray:
        """``(R, 1)`` array (broadcasts over patients), or the scenario's scalar value."""
        if key in self.values:
            return self.values[key][:, None]
        return np.asarray(_disease_value(self.scenario, key))


def response_class(u: np.ndarray, complete: np.ndarray, partial: np.ndarray) -> np.ndarray:
    """0 complete, 1 partial, 2 none, from the class uniform (as the cohort does)."""
    cls = np.where(u <= complete, 0, np.where(u <= complete + partial, 1, 2))
    return cls.astype(np.int8)


def residual_fraction(
    u: np.ndarray,
    cls: np.ndarray,
    partial: np.ndarray,
    nonresponder: np.ndarray,
    concentration: np.ndarray,
) -> np.ndarray:
    """Residual fraction of baseline activity: 0 (complete) or Beta(mean·κ, (1 − mean)·κ)."""
    mean = np.where(cls == 1, partial, nonresponder)
    a = mean * concentration
    b = np.maximum((1.0 - mean) * concentration, 1e-300)
    residual = np.where(mean >= 1.0, 1.0, special.betaincinv(a, b, u))
    return np.where(cls == 0, 0.0, residual)


@dataclass(frozen=True)
class PatientResponse:
    """Per-patient response quantities under per-replicate parameters (visit independent)."""

    cls: np.ndarray
    residual: np.ndarray
    time_to_response: np.ndarray
    proteinuria_class_change: np.ndarray
    proteinuria_patient_effect: np.ndarray


def patient_response(cohort: LatentCohort, params: ReplicateParameters) -> PatientResponse:
    """Response class, residual fraction, time to response and proteinuria plateau of every
    patient, from the cohort's own streams (as :class:`~cohortsim.cohort.LatentCohort` draws
    them)."""
    draws = cohort.draws
    n = cohort.n_patients
    cls = response_class(
        draws.uniform("response/class", n),
        params["response.probability_complete"],
        params["response.probability_partial"],
    )
    residual = residual_fraction(
        draws.uniform("response/residual", n),
        cls,
        params["response.partial_residual_fraction"],
        params["response.nonresponder_residual_fraction"],
        params["response.residual_concentration"],
    )
    time_to_response = params["response.mean_time_to_response_months"] * draws.exponential(
        "response/time", n
    )
    change_by_class = np.stack(
        np.broadcast_arrays(
            params["proteinuria.class_change.complete"],
            params["proteinuria.class_change.partial"],
            params["proteinuria.class_change.none"],
        ),
        axis=-1,
    )
    class_change = np.take_along_axis(
        np.broadcast_to(change_by_class, (*cohort.shape, 3)), cls[..., None].astype(np.int64), -1
    )[..., 0]
    patient_effect = params["proteinuria.patient_sd"] * draws.normal("proteinuria/patient", n)
    return PatientResponse(cls, residual, time_to_response, class_change, patient_effect)


@dataclass(frozen=True)
class VisitValues:
    """Measurements at one scheduled visit for every patient (NaN where not done)."""

    done: np.ndarray
    sledai: np.ndarray
    proteinuria: np.ndarray
    baseline_proteinuria: np.ndarray


def measure_visit(
    cohort: LatentCohort,
    course: Course,
    visit: int,
    params: ReplicateParameters,
    response: PatientResponse | None = None,
) -> VisitValues:
    """SLEDAI and proteinuria at scheduled visit ``visit`` with per-replicate parameters.

    Mirrors :class:`cohortsim.measurements.VisitMeasurer` operation for operation (so that
    scenario values reproduce the engine's numbers bit for bit). ``response`` may be passed to
    reuse :func:`patient_response` across visits.
    """
    response = response or patient_response(cohort, params)
    done = course.visit_done[..., visit]
    t = cohort.visit_time[..., visit]
    progress = response_progress(t, response.time_to_response)
    active, rise = flare_state(
        t, course.flare_onset, course.flare_resolved, flare_rise_if_active(cohort, course, t)
    )
    sledai = sledai_at(
        cohort.visit_noise("sledai")[..., visit],
        cohort.baseline_sledai,
        response.residual,
        progress,
        rise,
        params["sledai.visit_dispersion"] + np.zeros(cohort.shape),
        np.asarray(cohort.arms[0].disease.sledai.visit_distribution == "binomial"),
    )
    change = marker_change(
        t,
        progress,
        params["proteinuria.early_change"],
        params["proteinuria.early_time_constant_months"],
        response.proteinuria_class_change,
        response.proteinuria_patient_effect,
    )
    increase = np.asarray(_disease_value(cohort.scenario, "relapse.proteinuria_log_increase"))
    change = change + np.where(active, increase, 0.0)
    base = np.log(cohort.baseline_proteinuria)
    noise = cohort.visit_noise("proteinuria")[..., visit]
    proteinuria = np.exp(base + change + params["proteinuria.visit_sd"] * noise)
    return VisitValues(
        done=done,
        sledai=np.where(done, sledai, np.nan),
        proteinuria=np.where(done, proteinuria, np.nan),
        baseline_proteinuria=cohort.baseline_proteinuria,
    )


def flare_rise_if_active(cohort: LatentCohort, course: Course, t: np.ndarray) -> np.ndarray:
    """``cohort.flare_sledai_rise`` where flare k is active at ``t``, 0 elsewhere.

    The same draws and formula as the cohort (min + Poisson(mean − min) by inversion of stream
    ``relapse/sledai_rise``), evaluated only for the few flares under way at the visit: the
    inversion for every flare slot would cost a third of a batch.
    """
    active = (course.flare_onset <= t[..., None]) & (t[..., None] < course.flare_resolved)
    rise = np.zeros(active.shape)
    if active.any():
        low = _disease_value(cohort.scenario, "relapse.sledai_increase_min")
        mean = _disease_value(cohort.scenario, "relapse.sledai_increase_mean")
        u = cohort.draws.uniform("relapse/sledai_rise", cohort.n_patients, cohort.n_flares)
        rise[active] = low + count_quantile(u[active], np.maximum(mean - low, 0.0), np.inf)
    return rise


def first_n(done: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` patients (by id) with ``done``, and whether a replicate has ``n`` of them."""
    rank = np.cumsum(done, axis=1)
    return done & (rank <= n), rank[:, -1] >= n


def statistic(values: np.ndarray, selected: np.ndarray, n: int, kind: str) -> np.ndarray:
    """Mean, SD (n − 1) or count (of ``values`` true) over selected patients, per replicate."""
    if kind == "count":
        return np.sum(np.where(selected, values, False), axis=1).astype(float)
    x = np.where(selected, values, 0.0)
    mean = x.sum(axis=1) / n
    if kind == "mean":
        return mean
    squares = np.where(selected, (values - mean[:, None]) ** 2, 0.0).sum(axis=1)
    return np.sqrt(squares / max(n - 1, 1))


def pilot_summaries(
    cohort: LatentCohort,
    course: Course,
    specs: tuple[SummarySpec, ...],
    params: ReplicateParameters,
) -> np.ndarray:
    """``(R, S)`` summaries of each simulated pilot (NaN where a pilot lacks ``n`` patients with
    the visit done).

    Parameters
    ----------
    cohort, course : the engine's input and output for the batch
    specs : tuple of SummarySpec
    params : ReplicateParameters
    """
    out = np.full((len(cohort.replicates), len(specs)), np.nan)
    response = patient_response(cohort, params)
    by_visit: dict[int, VisitValues] = {}
    for s, spec in enumerate(specs):
        visit = visit_index(cohort, spec.visit_month)
        if visit not in by_visit:
            by_visit[visit] = measure_visit(cohort, course, visit, params, response)
        values = by_visit[visit]
        selected, enough = first_n(values.done, spec.n)
        if spec.quantity == "sledai":
            result = statistic(values.sledai, selected, spec.n, spec.statistic)
        elif spec.quantity == "sledai_zero":
            result = statistic(values.sledai == 0, selected, spec.n, "count")
        elif spec.quantity == "proteinuria_mg_per_day":
            result = statistic(values.proteinuria, selected, spec.n, spec.statistic)
        elif spec.quantity == "proteinuria_fell":
            fell = values.proteinuria < values.baseline_proteinuria
            result = statistic(fell, selected, spec.n, "count")
        else:  # pragma: no cover - specs are checked on construction
            raise ValueError(f"cannot summarise {spec.quantity}")
        out[:, s] = np.where(enough, result, np.nan)
    return out


def visit_index(cohort: LatentCohort, month: float) -> int:
    """Index of the scheduled visit with nominal month ``month``."""
    match = np.flatnonzero(np.isclose(cohort.visit_nominal, month))
    if len(match) == 0:
        raise ValueError(
            f"no scheduled visit at month {month:g} (visits: "
            + ", ".join(f"{m:g}" for m in cohort.visit_nominal)
            + ")"
        )
    return int(match[0])


def patients_needed(n: int, missed_probability: float, risk: float = 0.01) -> int:
    """Patients to simulate so that ``n`` have a given visit done with probability ≥ 1 − risk."""
    total = n
    while stats.binom.cdf(n - 1, total, 1.0 - missed_probability) > risk:
        total += 1
    return total
