"""The latent cohort: every patient's random quantities, drawn up front as arrays.

Both engines start from a :class:`LatentCohort`. The SimPy engine walks each patient's
timeline as events; the vectorised engine computes the same outcomes with array operations.
Arrays are shaped ``(replicates, patients)`` or ``(replicates, patients, k)``. Quantities are
drawn lazily (on first use), each from its own stream, so an analysis that never looks at, say,
anti-dsDNA never pays for it — and never shifts any other draw.

Patient times are months since the patient's treatment start (= enrolment); ``enrol_month`` is in
calendar months since the study start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cohortsim.discrete import count_quantile
from cohortsim.draws import DrawSource
from cohortsim.hazards import Hazard, is_zero
from cohortsim.lazy import special, stats
from cohortsim.scenario.types import (
    MANIFESTATIONS,
    STRATIFICATION_FACTORS,
    Arm,
    Scenario,
)

NO_CLASS = -1
"""Response class code for patients outside the lupus model."""


def visit_schedule(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Nominal visit months and their half-widths, up to the longest possible follow-up."""
    visits = scenario.visits
    horizon = follow_up_horizon(scenario)
    nominal = list(visits.schedule_months)
    window = list(visits.window_months)
    if visits.repeat_every_months:
        next_visit = nominal[-1] + visits.repeat_every_months
        while next_visit - visits.repeat_window_months < horizon:
            nominal.append(next_visit)
            window.append(visits.repeat_window_months)
            next_visit += visits.repeat_every_months
    keep = np.array(nominal) - np.array(window) < horizon
    return np.array(nominal)[keep], np.array(window)[keep]


def follow_up_horizon(scenario: Scenario) -> float:
    """Longest follow-up any patient can have, months."""
    horizon = scenario.study.max_duration_months
    if scenario.cutoff.max_follow_up_months is not None:
        horizon = min(horizon, scenario.cutoff.max_follow_up_months)
    return horizon


def max_flares(scenario: Scenario) -> int:
    """Flares drawn per patient: enough that more than this within follow-up has negligible
    probability (< 1e-10 under the negative-binomial count the frailty model implies)."""
    if not any(arm.disease.relapse.recurrent for arm in scenario.arms):
        return 1
    horizon = follow_up_horizon(scenario)
    bound = 1
    for arm in scenario.arms:
        relapse = arm.disease.relapse
        expected = float(relapse.hazard.cumulative(horizon))
        if relapse.frailty_variance > 0:
            size = 1.0 / relapse.frailty_variance
            quantile = stats.nbinom.ppf(1 - 1e-10, size, size / (size + expected))
        else:
            quantile = stats.poisson.ppf(1 - 1e-10, expected)
        shortest_cycle = min(relapse.rescue_resolution_months, relapse.untreated_resolution_months)
        by_time = math.ceil(horizon / shortest_cycle) + 1
        bound = max(bound, min(int(quantile) + 2, by_time))
    return bound


def max_cyclophosphamide(scenario: Scenario) -> int:
    """Cyclophosphamide infusions drawn per patient (enough to cover the horizon)."""
    maintenance = scenario.maintenance
    if not maintenance.enabled or not scenario.is_sle:
        return 0
    span = follow_up_horizon(scenario) - maintenance.start_month
    if span < 0:
        return 0
    return math.floor(span / maintenance.cyclophosphamide_interval_months[0]) + 1


@dataclass(frozen=True)
class CohortDesign:
    """What every :class:`LatentCohort` of a scenario takes from it, whatever its replicates.

    Arrays are read-only: one instance is shared by all the cohorts of a scenario.
    """

    visit_nominal: np.ndarray
    """Nominal visit months (:func:`visit_schedule`)."""
    visit_window: np.ndarray
    """Their half-widths."""
    n_flares: int
    """:func:`max_flares`."""
    n_cyclophosphamide: int
    """:func:`max_cyclophosphamide`."""
    is_sle: bool
    """Whether any arm follows the lupus model."""


_DESIGNS: dict[int, tuple[Scenario, CohortDesign]] = {}
"""Designs by ``id`` of their scenario, which each entry holds (so the ``id`` cannot be reused
while it is here)."""

_MAX_DESIGNS = 32
"""Scenarios remembered before :data:`_DESIGNS` starts again (a run uses one; calibration and
assurance a few)."""


def cohort_design(scenario: Scenario) -> CohortDesign:
    """The :class:`CohortDesign` of ``scenario``, computed once per scenario object.

    A power run builds one cohort per block of 256 replicates, and the visit schedule and the
    flare bound cost about as much as drawing a small stream; scenarios are frozen, so the
    first computation holds for every later cohort of the same object.
    """
    entry = _DESIGNS.get(id(scenario))
    if entry is not None and entry[0] is scenario:
        return entry[1]
    nominal, window = visit_schedule(scenario)
    nominal.flags.writeable = False
    window.flags.writeable = False
    design = CohortDesign(
        visit_nominal=nominal,
        visit_window=window,
        n_flares=max_flares(scenario),
        n_cyclophosphamide=max_cyclophosphamide(scenario),
        is_sle=scenario.is_sle,
    )
    if len(_DESIGNS) >= _MAX_DESIGNS:
        _DESIGNS.clear()
    _DESIGNS[id(scenario)] = (scenario, design)
    return design


def linear_window_ppf(u: np.ndarray, density_ratio_end_to_start: float) -> np.ndarray:
    """Inverse CDF on [0, 1] of a density rising linearly to ``ratio`` × its starting value."""
    ratio = density_ratio_end_to_start
    if ratio == 1.0:
        return u
    c = (ratio + 1.0) / 2.0
    # Root of (ratio−1)/2·x² + x − c·u = 0 in the cancellation-free form.
    return 2.0 * c * u / (1.0 + np.sqrt(1.0 + 2.0 * (ratio - 1.0) * c * u))


def _per_arm(arms: tuple[Arm, ...], arm_index: np.ndarray, values: list[float]) -> np.ndarray:
    """Per-patient values of an arm-level parameter (a scalar when all arms agree)."""
    if all(v == values[0] for v in values):
        return np.full(arm_index.shape, float(values[0]))
    return np.asarray(values, dtype=float)[arm_index]


def _by_arm_hazard(
    arms: tuple[Arm, ...], arm_index: np.ndarray, units: np.ndarray, pick: str
) -> np.ndarray:
    """Invert each arm's cumulative hazard at unit exponentials (patient time, months)."""
    if len(arms) == 1:
        return getattr(arms[0], pick).inverse_cumulative(units)
    out = np.empty(units.shape)
    for a, arm in enumerate(arms):
        hazard: Hazard = getattr(arm, pick)
        here = arm_index == a
        out[here] = hazard.inverse_cumulative(units[here])
    return out


class LatentCohort:
    """All random quantities of ``n_patients`` patients in each of ``replicates``.

    Parameters
    ----------
    scenario : Scenario
    entropy : int
        Seed entropy.
    replicates : array of int
        Replicate indices (rows).
    n_patients : int, optional
        Trial size; defaults to ``scenario.study.n_patients``. Patient ``i`` has the same draws
        whatever the trial size (common random numbers).
    """

    def __init__(
        self,
        scenario: Scenario,
        entropy: int,
        replicates: np.ndarray,
        n_patients: int | None = None,
    ) -> None:
        self.scenario = scenario
        self.entropy = int(entropy)
        self.replicates = np.asarray(replicates, dtype=np.int64)
        self.n_patients = int(n_patients if n_patients is not None else scenario.study.n_patients)
        self.draws = DrawSource(self.entropy, self.replicates)
        self.arms = scenario.arms
        design = cohort_design(scenario)
        self.is_sle = design.is_sle
        self.visit_nominal, self.visit_window = design.visit_nominal, design.visit_window
        self.n_flares = design.n_flares
        self.n_cyclophosphamide = design.n_cyclophosphamide
        self._patient_effects: dict[str, np.ndarray] = {}

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.replicates), self.n_patients)

    def _u(self, stream: str, *extra: int) -> np.ndarray:
        return self.draws.uniform(stream, self.n_patients, *extra)

    def _e(self, stream: str, *extra: int) -> np.ndarray:
        return self.draws.exponential(stream, self.n_patients, *extra)

    def _z(self, stream: str, *extra: int) -> np.ndarray:
        return self.draws.normal(stream, self.n_patients, *extra)

    # -- enrolment and allocation ---------------------------------------------------------------
    @cached_property
    def enrol_month(self) -> np.ndarray:
        """Calendar month of enrolment (= treatment start)."""
        accrual = self.scenario.accrual
        if accrual.kind == "window":
            ratio = accrual.density_ratio_end_to_start
            start = accrual.window_start_month
            span = accrual.window_end_month - start
            # ``start + span · x``, in place: ``x`` is a fresh array (the draws, or the
            # quantiles computed from them), and IEEE products and sums commute exactly.
            x = linear_window_ppf(self._u("enrolment"), ratio)
            np.multiply(x, span, out=x)
            if ratio == 1.0 and start == 0.0 and span > 0.0:
                # x is then the uniforms themselves, all > 0, so every span · x is > 0 or
                # +0.0 (underflow), never −0.0: adding a zero start (of either sign) would
                # return each value unchanged, bit for bit. The usual window from month 0.
                return x
            return np.add(x, start, out=x)
        from cohortsim.hazards import PiecewiseConstantHazard

        intensity = PiecewiseConstantHazard(
            accrual.rates_per_month, tuple(np.cumsum(accrual.durations_months))
        )
        arrivals = np.cumsum(self._e("enrolment"), axis=1)
        return intensity.inverse_cumulative(arrivals)

    @cached_property
    def stratum(self) -> np.ndarray:
        """Stratum code: bit ``j`` set when factor ``strata[j]`` is present."""
        code = np.zeros(self.shape, dtype=np.int16)
        for bit, factor in enumerate(self.scenario.randomisation.strata):
            code |= self.factor(factor).astype(np.int16) << bit
        return code

    def stratum_labels(self) -> list[str]:
        strata = self.scenario.randomisation.strata
        if not strata:
            return ["all"]
        return [
            "|".join(f"{f}={(code >> b) & 1}" for b, f in enumerate(strata))
            for code in range(2 ** len(strata))
        ]

    def factor(self, name: str) -> np.ndarray:
        """A binary stratification factor at baseline."""
        if name not in STRATIFICATION_FACTORS:
            raise ValueError(f"unknown stratification factor {name!r}")
        if not self.is_sle:
            return np.zeros(self.shape, dtype=bool)
        if name == "nephritis":
            return self.baseline_manifestations[..., MANIFESTATIONS.index("nephritis")]
        if name == "sledai_above_10":
            return self.baseline_sledai > 10
        return self.female

    @cached_property
    def arm(self) -> np.ndarray:
        """Arm index (position in ``scenario.arms``), by permuted blocks in patient order."""
        weights = np.array([arm.allocation for arm in self.arms])
        randomisation = self.scenario.randomisation
        if len(self.arms) == 1:
            return np.zeros(self.shape, dtype=np.int8)
        if randomisation.method == "simple":
            cumulative = np.cumsum(weights) / weights.sum()
            u = self._u("allocation/simple")
            return np.searchsorted(cumulative, u, side="left").astype(np.int8)
        block = randomisation.block_size
        pattern = np.repeat(np.arange(len(self.arms)), weights * (block // weights.sum()))
        n_blocks = -(-self.n_patients // block)
        pattern = pattern.astype(np.int8)
        if not randomisation.strata:
            # One stratum: patient j is at position j % block of block j // block, so the arms
            # are the permuted patterns laid end to end (same draws, same arms as the general
            # case, without its (R, N) index arrays and boolean masks, or any order array).
            arms = self.draws.block_values("allocation/stratum/0", n_blocks, block, pattern)
            arms = arms.reshape(len(self.replicates), n_blocks * block)
            return np.ascontiguousarray(arms[:, : self.n_patients])
        arm = np.zeros(self.shape, dtype=np.int8)
        for code in np.unique(self.stratum):
            here = self.stratum == code
            rank = np.cumsum(here, axis=1) - 1
            which_block, position = rank // block, rank % block
            # One random permutation of the pattern per block, per stratum.
            order = self.draws.block_orders(f"allocation/stratum/{int(code)}", n_blocks, block)
            rows = np.broadcast_to(np.arange(len(self.replicates))[:, None], self.shape)
            chosen = order[rows, np.minimum(which_block, n_blocks - 1), position]
            arm[here] = pattern[chosen[here]]
        return arm

    # -- baseline covariates --------------------------------------------------------------------
    def _covariate(self, name: str, stream: str) -> np.ndarray:
        if not self.is_sle:
            return np.full(self.shape, np.nan)
        distribution = getattr(self.scenario.population, name)
        return distribution.ppf(self._u(stream))

    @cached_property
    def age_years(self) -> np.ndarray:
        return self._covariate("age_years", "baseline/age")

    @cached_property
    def female(self) -> np.ndarray:
        return self._u("baseline/female") <= self.scenario.population.female_probability

    @cached_property
    def disease_duration_months(self) -> np.ndarray:
        return self._covariate("disease_duration_months", "baseline/disease_duration")

    @cached_property
    def baseline_sledai(self) -> np.ndarray:
        return self._covariate("sledai", "baseline/sledai")

    @cached_property
    def baseline_proteinuria(self) -> np.ndarray:
        return self._covariate("proteinuria_mg_per_day", "baseline/proteinuria")

    @cached_property
    def baseline_anti_dsdna(self) -> np.ndarray:
        return self._covariate("anti_dsdna_iu_per_ml", "baseline/anti_dsdna")

    @cached_property
    def baseline_treg(self) -> np.ndarray:
        return self._covariate("treg_percent", "baseline/treg")

    @cached_property
    def baseline_manifestations(self) -> np.ndarray:
        """``(R, N, M)`` presence at baseline, in :data:`MANIFESTATIONS` order."""
        prevalence = self.scenario.population.manifestation_prevalence
        present = np.zeros((*self.shape, len(MANIFESTATIONS)), dtype=bool)
        if self.is_sle:
            for m, name in enumerate(MANIFESTATIONS):
                present[..., m] = self._u(f"baseline/manifestation/{name}") <= prevalence[name]
        return present

    # -- response -------------------------------------------------------------------------------
    def _disease(self, getter):  # type: ignore[no-untyped-def]
        return _per_arm(self.arms, self.arm, [getter(arm.disease) for arm in self.arms])

    @cached_property
    def response_class(self) -> np.ndarray:
        """0 complete, 1 partial, 2 none; :data:`NO_CLASS` outside the lupus model."""
        if not self.is_sle:
            return np.full(self.shape, NO_CLASS, dtype=np.int8)
        u = self._u("response/class")
        p_complete = self._disease(lambda d: d.response.probability_complete)
        p_partial = self._disease(lambda d: d.response.probability_partial)
        cls = np.where(u <= p_complete, 0, np.where(u <= p_complete + p_partial, 1, 2))
        return cls.astype(np.int8)

    @cached_property
    def time_to_response(self) -> np.ndarray:
        """Months from treatment start to full response (latent; defined for every class)."""
        mean = self._disease(lambda d: d.response.mean_time_to_response_months)
        return mean * self._e("response/time")

    @cached_property
    def residual_fraction(self) -> np.ndarray:
        """Fraction of baseline SLEDAI activity left after response (0 for complete)."""
        return self.residual_fraction_where(np.ones(self.shape, dtype=bool))

    def residual_fraction_where(self, where: np.ndarray) -> np.ndarray:
        """:attr:`residual_fraction` where ``where`` (an ``(R, N)`` mask) is true, NaN elsewhere.

        The Beta quantile is evaluated only where ``where`` is true — for the visits table,
        the patients with a visit after baseline — and elementwise, so every value is the same
        as in the full array (which is used as is once it has been computed).
        """
        if "residual_fraction" in self.__dict__:
            return np.where(where, self.residual_fraction, np.nan)
        u = self._u("response/residual")
        concentration = self._disease(lambda d: d.response.residual_concentration)
        partial = self._disease(lambda d: d.response.partial_residual_fraction)
        nonresponder = self._disease(lambda d: d.response.nonresponder_residual_fraction)
        cls = self.response_class
        mean = np.where(cls == 1, partial, nonresponder)
        # Beta(mean·c, (1−mean)·c); a mean of exactly 1 is a point mass. The inverse incomplete
        # beta function is the costly part, so it is evaluated only where a value is drawn
        # (elementwise, so the values are the same as over the whole array).
        a = mean * concentration
        b = np.maximum((1.0 - mean) * concentration, 1e-300)
        residual = np.where(mean >= 1.0, 1.0, 0.0)
        drawn = (cls != 0) & (mean < 1.0) & where
        residual[drawn] = special.betaincinv(a[drawn], b[drawn], u[drawn])
        return np.where(where, np.where(cls == 0, 0.0, residual), np.nan)

    def biomarker_patient_effect(self, marker: str) -> np.ndarray:
        """Patient deviation of the class change of ``marker`` (``proteinuria``, ``anti_dsdna``,
        ``treg``): N(0, patient_sd)."""
        if marker not in self._patient_effects:
            sd = self._disease(lambda d: getattr(d, marker).patient_sd)
            self._patient_effects[marker] = sd * self.draws.normal(
                f"{marker}/patient", self.n_patients
            )
        return self._patient_effects[marker]

    @cached_property
    def manifestation_resolution(self) -> np.ndarray:
        """``(R, N, M)`` months to resolution of each manifestation (``inf`` = never)."""
        out = np.full((*self.shape, len(MANIFESTATIONS)), np.inf)
        if not self.is_sle:
            return out
        for m, name in enumerate(MANIFESTATIONS):
            p = self._disease(lambda d, name=name: d.manifestations[name].probability_resolves)
            mean = self._disease(
                lambda d, name=name: d.manifestations[name].mean_time_to_resolution_months
            )
            resolves = self._u(f"manifestation/{name}/resolves") <= p
            time = mean * self._e(f"manifestation/{name}/time")
            out[..., m] = np.where(resolves, time, np.inf)
        return out

    # -- relapse ------------------------------------------------------------------------------
    @cached_property
    def frailty(self) -> np.ndarray:
        """Patient multiplier of the relapse hazard, Gamma(mean 1, variance θ)."""
        if all(arm.disease.relapse.frailty_variance == 0 for arm in self.arms):
            return np.ones(self.shape)
        theta = self._disease(lambda d: d.relapse.frailty_variance)
        u = self._u("relapse/frailty")
        shape = 1.0 / np.where(theta > 0, theta, 1.0)
        gamma = special.gammaincinv(shape, 1.0 - u) / shape
        return np.where(theta > 0, gamma, 1.0)

    @cached_property
    def relapse_units(self) -> np.ndarray:
        """``(R, N, K)`` unit exponentials that drive successive flare onsets."""
        return self._e("relapse/gaps", self.n_flares)

    @cached_property
    def symptomatic(self) -> np.ndarray:
        """``(R, N, K)`` whether flare k prompts an unscheduled (symptomatic) visit."""
        p = self._disease(lambda d: d.relapse.symptomatic_visit_probability)
        return self._u("relapse/symptomatic", self.n_flares) <= p[..., None]

    @cached_property
    def symptomatic_delay(self) -> np.ndarray:
        mean = self._disease(lambda d: d.relapse.symptomatic_delay_months)
        return mean[..., None] * self._e("relapse/symptomatic_delay", self.n_flares)

    @cached_property
    def flare_sledai_rise(self) -> np.ndarray:
        """``(R, N, K)`` SLEDAI points added during flare k: min + Poisson(mean − min)."""
        low = self._disease(lambda d: d.relapse.sledai_increase_min)[..., None]
        mean = self._disease(lambda d: d.relapse.sledai_increase_mean)[..., None]
        u = self._u("relapse/sledai_rise", self.n_flares)
        return low + count_quantile(u, np.maximum(mean - low, 0.0), np.inf)

    # -- competing ends ---------------------------------------------------------------------------
    def _competing(self, stream: str, pick: str) -> np.ndarray:
        if all(is_zero(getattr(arm, pick)) for arm in self.arms):
            # Never happens: skip the draws (other streams are unaffected).
            return np.full(self.shape, np.inf)
        return _by_arm_hazard(self.arms, self.arm, self._e(stream), pick)

    @cached_property
    def dropout_month(self) -> np.ndarray:
        return self._competing("dropout", "dropout_hazard")

    @cached_property
    def death_month(self) -> np.ndarray:
        return self._competing("death", "death_hazard")

    # -- visits ---------------------------------------------------------------------------------
    @property
    def n_visits(self) -> int:
        return len(self.visit_nominal) if self.is_sle else 0

    @cached_property
    def visit_time(self) -> np.ndarray:
        """``(R, N, V)`` actual months of scheduled visits (nominal ± uniform window)."""
        offset = 2.0 * self._u("visits/offset", self.n_visits) - 1.0
        return self.visit_nominal + self.visit_window * offset

    @cached_property
    def visit_missed(self) -> np.ndarray:
        p = self.scenario.visits.missed_probability
        return self._u("visits/missed", self.n_visits) <= p

    def visit_noise(self, marker: str) -> np.ndarray:
        """``(R, N, V)`` measurement noise at scheduled visits: uniforms for ``sledai``,
        standard normals for the biomarkers."""
        if marker == "sledai":
            return self._u("visits/noise/sledai", self.n_visits)
        return self._z(f"visits/noise/{marker}", self.n_visits)

    def unscheduled_noise(self, marker: str) -> np.ndarray:
        """``(R, N, K)`` the same for the symptomatic visit of flare k."""
        if marker == "sledai":
            return self._u("unscheduled/noise/sledai", self.n_flares)
        return self._z(f"unscheduled/noise/{marker}", self.n_flares)

    # -- maintenance ----------------------------------------------------------------------------
    @cached_property
    def prednisone_dose(self) -> np.ndarray:
        low, high = self.scenario.maintenance.prednisone_mg_per_day
        return low + (high - low) * self._u("maintenance/prednisone")

    @cached_property
    def cyclophosphamide_time(self) -> np.ndarray:
        """``(R, N, C)`` months of cyclophosphamide infusions (first at maintenance start)."""
        maintenance = self.scenario.maintenance
        low, high = maintenance.cyclophosphamide_interval_months
        gaps = low + (high - low) * self._u(
            "maintenance/cyclophosphamide_gap", self.n_cyclophosphamide
        )
        gaps[..., :1] = 0.0
        return maintenance.start_month + np.cumsum(gaps, axis=-1)

    @cached_property
    def cyclophosphamide_dose(self) -> np.ndarray:
        low, high = self.scenario.maintenance.cyclophosphamide_g
        u = self._u("maintenance/cyclophosphamide_dose", self.n_cyclophosphamide)
        return low + (high - low) * u
