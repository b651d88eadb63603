"""The calibration pipeline: a pilot's targets → posterior draws of the disease parameters.

Four blocks, each using the method that suits its data (``docs/calibration.md``):

1. **Follow-up reconstruction** — rejection ABC on the reported follow-up figures
   (:mod:`.reconstruction`); keeps individual follow-up vectors.
2. **Relapse** — exact gamma-frailty likelihood of the reported relapse times and the censored
   follow-ups, averaged over the reconstructed follow-up vectors, on a grid (:mod:`.relapse`).
3. **Response and measurements** — rejection ABC with regression adjustment on the aggregate
   figures (12-month SLEDAI mean, SD and zeros; proteinuria), simulating pilots at the reported
   n with the engine (:mod:`.surrogate`, :mod:`.abc`). Relapse parameters are drawn from block
   2's posterior per batch (a modular, "cut" posterior: the aggregates do not inform relapse).
4. **Manifestations** — exact binomial posteriors of resolution probabilities
   (:mod:`.manifestations`).

Blocks are independent given their data, so posterior rows combine one draw of each.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, cast

import numpy as np

from cohortsim.calibration import abc, manifestations, reconstruction
from cohortsim.calibration.priors import Beta, LogUniform, Prior, Uniform, contraction
from cohortsim.calibration.reconstruction import FollowUpFigures, Reconstruction
from cohortsim.calibration.relapse import (
    DEFAULT_FRAILTY_PRIOR,
    DEFAULT_RATE_PRIOR,
    RelapseData,
    RelapseGrid,
    last_visit,
    log_likelihood_grid,
    sample_posterior,
)
from cohortsim.calibration.surrogate import (
    SUMMARY_QUANTITIES,
    ReplicateParameters,
    SummarySpec,
    patients_needed,
    pilot_summaries,
)
from cohortsim.calibration.targets import QUANTITIES, Target, TargetsError, TargetSet
from cohortsim.calibration.variants import DESIGN_KEYS, design_values, single_arm, variant
from cohortsim.cohort import LatentCohort, visit_schedule
from cohortsim.engine.vector import simulate_course_vector
from cohortsim.scenario.types import MANIFESTATIONS, Scenario
from cohortsim.seeding import generator

RATE = "relapse.hazard.rate_per_month"
FRAILTY = "relapse.frailty_variance"
COMPLETE = "response.probability_complete"
PARTIAL = "response.probability_partial"
PARTIAL_SHARE = "response.partial_share"
"""ABC coordinate: probability_partial / (1 − probability_complete), uniform on [0, 1]; with
probability_complete ~ Beta(1, 2) this makes (complete, partial, none) Dirichlet(1, 1, 1)."""

ABC_PRIORS: dict[str, Prior] = {
    COMPLETE: Beta(1.0, 2.0),
    PARTIAL_SHARE: Uniform(0.0, 1.0),
    "response.mean_time_to_response_months": LogUniform(1.0, 9.0),
    "response.partial_residual_fraction": Uniform(0.05, 0.7),
    "response.nonresponder_residual_fraction": Uniform(0.7, 1.0),
    "response.residual_concentration": LogUniform(2.0, 32.0),
    "sledai.visit_dispersion": LogUniform(1.0, 25.0),
    "proteinuria.early_change": Uniform(-1.2, 0.0),
    "proteinuria.class_change.complete": Uniform(-3.5, -0.5),
    "proteinuria.class_change.partial": Uniform(-2.5, 0.0),
    "proteinuria.class_change.none": Uniform(-1.2, 0.5),
    "proteinuria.patient_sd": Uniform(0.0, 1.0),
    "proteinuria.visit_sd": Uniform(0.05, 0.45),
}
"""Priors of the ABC block (on its coordinates). Unidentified parameters get priors whose median
is the model's stated default (docs/model.md), so they keep it as their point estimate."""


def abc_priors(scenario: Scenario) -> dict[str, Prior]:
    """The :data:`ABC_PRIORS` that matter for ``scenario``: the negative-binomial size only when
    its SLEDAI-2K visit score is negative binomial (a binomial score has no free spread)."""
    sledai = scenario.arms[0].disease.sledai
    if sledai.visit_distribution == "negative_binomial":
        return dict(ABC_PRIORS)
    return {k: v for k, v in ABC_PRIORS.items() if k != "sledai.visit_dispersion"}

REPORTED_PRIORS: dict[str, str] = {
    PARTIAL: "beta(1, 2) (the marginal of Dirichlet(1, 1, 1) on complete, partial, none)",
    COMPLETE: "beta(1, 2) (the marginal of Dirichlet(1, 1, 1) on complete, partial, none)",
}


@dataclass(frozen=True)
class CalibrationSettings:
    """How hard to work. Defaults finish in ~15 s on two cores.

    Attributes
    ----------
    n_draws : int
        Posterior draws written (also the ABC acceptances).
    abc_simulations : int
        Pilots simulated for the ABC block (rounded up to whole engine runs of
        :data:`PILOTS_PER_RUN`; each run uses its own relapse-posterior draw).
    reconstruction_simulations, reconstruction_draws : int
        Simulated follow-up vectors, and how many nearest are kept.
    rate_cells, theta_cells : int
        Relapse grid size.
    identified_threshold : float
        A parameter is *identified* when the pilot removed at least this share of its prior
        variance (posterior contraction).
    point_candidates, point_pilots, point_check_pilots : int
        Posterior draws considered for the point estimate of the ABC block, pilots simulated
        for each to estimate its expected summaries, and fresh pilots for the point's reported
        fit (:func:`cohortsim.calibration.abc.representative_point`).
    workers : int
        Processes for the ABC block (results do not depend on it).
    """

    n_draws: int = 2000
    abc_simulations: int = 102_400
    reconstruction_simulations: int = 1_024_000
    reconstruction_draws: int = 1000
    rate_cells: int = 240
    theta_cells: int = 32
    identified_threshold: float = 0.5
    point_candidates: int = 2000
    point_pilots: int = 32
    point_check_pilots: int = 1024
    workers: int = 1


@dataclass(frozen=True)
class TargetUse:
    """How the calibration used one target."""

    name: str
    role: str
    note: str = ""


@dataclass(frozen=True)
class ParameterSummary:
    """Posterior of one calibrated parameter.

    ``lower``/``upper`` bound the central 95% interval; ``contraction`` is
    1 − Var(posterior)/Var(prior) (log scale for log-scale priors).
    """

    key: str
    block: str
    prior: str
    median: float
    lower: float
    upper: float
    contraction: float
    identified: bool


@dataclass(frozen=True)
class CalibrationResult:
    """Everything a calibration produced (see :func:`calibrate`)."""

    parameters: tuple[str, ...]
    draws: np.ndarray
    design_keys: tuple[str, ...]
    design_draws: np.ndarray
    design_priors: dict[str, str]
    summaries: tuple[ParameterSummary, ...]
    uses: tuple[TargetUse, ...]
    diagnostics: dict[str, Any]
    seed: int
    settings: CalibrationSettings
    seconds: float
    fixed_note: str = field(default="")
    abc_point: dict[str, float] = field(default_factory=dict)
    model_choices: dict[str, str] = field(default_factory=dict)
    """Structural choices the posterior is conditional on (e.g. the SLEDAI-2K visit
    distribution), written into ``[disease]`` so that a scenario cannot combine the calibrated
    values with a different choice in another arm."""

    def point(self) -> dict[str, float]:
        """The calibrated file's ``[disease]`` values by key: for the ABC block the centre of the
        best-fitting posterior draws (:func:`cohortsim.calibration.abc.representative_point`;
        it jointly reproduces the reported figures), the posterior median for every other
        parameter."""
        return {s.key: self.abc_point.get(s.key, s.median) for s in self.summaries}

    def summary(self) -> str:
        """A table of the calibrated parameters, for the terminal."""
        lines = [
            f"{'parameter':<52} {'median':>10} {'95% interval':>24} {'contr.':>7}  status",
        ]
        for s in self.summaries:
            interval = f"[{s.lower:.4g}, {s.upper:.4g}]"
            status = "identified" if s.identified else "unidentified (prior)"
            lines.append(
                f"{s.key:<52} {s.median:>10.4g} {interval:>24} {s.contraction:>7.2f}  {status}"
            )
        return "\n".join(lines)


def derived_entropy(seed: int, purpose: str) -> int:
    """Seed entropy of one calibration block: a pure function of the seed and the block's name."""
    sequence = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(purpose.encode()),))
    return int(sequence.generate_state(1, np.uint64)[0])


# -- which target does what ---------------------------------------------------------------------
def classify_targets(targets: TargetSet, scenario: Scenario) -> tuple[TargetUse, ...]:
    """The role of every target in calibration (or why it is only validated)."""
    nominal, _ = visit_schedule(scenario)
    uses: list[TargetUse] = []
    seen: dict[tuple[Any, ...], str] = {}
    ordered = sorted(targets, key=lambda t: not t.from_abstract)  # [A] first among duplicates
    roles: dict[str, TargetUse] = {}
    for t in ordered:
        roles[t.name] = _role(t, nominal, seen)
    for t in targets:
        uses.append(roles[t.name])
    return tuple(uses)


def _role(t: Target, nominal: np.ndarray, seen: dict[tuple[Any, ...], str]) -> TargetUse:
    if not t.calibrate:
        return TargetUse(t.name, "validation", "calibrate = false in the targets file")
    if QUANTITIES[t.quantity].times == "baseline" or t.time == 0.0:
        return TargetUse(t.name, "validation",
                         "describes the baseline population, which is not calibrated")
    key = (t.quantity, t.statistic, t.time, t.n, t.among)
    if key in seen:
        return TargetUse(t.name, "validation", f"same figure as {seen[key]}, used once")
    if t.quantity in ("follow_up_months", "followed_12_months"):
        seen[key] = t.name
        return TargetUse(t.name, "reconstruction", "follow-up reconstruction (rejection ABC)")
    if t.quantity == "relapse_time":
        seen[key] = t.name
        return TargetUse(t.name, "relapse", "exact gamma-frailty likelihood (event times)")
    if t.quantity == "relapse" and t.among == "all":
        seen[key] = t.name
        return TargetUse(t.name, "relapse",
                         "relapse likelihood: patients without a relapse are censored")
    if (t.quantity, t.statistic) in SUMMARY_QUANTITIES:
        if not isinstance(t.time, float) or t.n is None:
            return TargetUse(t.name, "validation", "time or n not reported")
        if not np.any(np.isclose(nominal, t.time)):
            return TargetUse(t.name, "validation",
                             f"no scheduled visit at month {t.time:g} in the scenario")
        seen[key] = t.name
        return TargetUse(t.name, "abc", "simulated at the reported n (ABC summary)")
    if t.quantity.endswith("_resolved") and t.quantity != "nephritis_resolved":
        if t.n is None:
            return TargetUse(t.name, "validation",
                             "n not reported: the resolution probability keeps its stated value")
        seen[key] = t.name
        return TargetUse(t.name, "binomial", "exact binomial likelihood")
    return TargetUse(t.name, "validation",
                     "the model parameters it depends on are not calibrated (stated values)")


def _used(targets: TargetSet, uses: tuple[TargetUse, ...], role: str) -> list[Target]:
    names = {u.name for u in uses if u.role == role}
    return [t for t in targets if t.name in names]


# -- blocks --------------------------------------------------------------------------------------
def _follow_up_figures(targets: list[Target], n: int) -> FollowUpFigures:
    mean = sd = count = None
    for t in targets:
        if t.quantity == "follow_up_months" and t.statistic == "mean":
            mean = float(t.value)  # type: ignore[arg-type]
        elif t.quantity == "follow_up_months" and t.statistic == "sd":
            sd = float(t.value)  # type: ignore[arg-type]
        elif t.quantity == "followed_12_months":
            count = int(t.value)  # type: ignore[arg-type]
    return FollowUpFigures(n, mean, sd, count)


def _reconstruction(
    scenario: Scenario, targets: list[Target], seed: int, settings: CalibrationSettings
) -> tuple[Reconstruction | None, np.ndarray, np.ndarray]:
    """Accepted reconstructions, or the scenario's own design repeated when nothing informs it.

    Returns the Reconstruction (or None), its design draws and follow-up vectors.
    """
    figures = _follow_up_figures(targets, scenario.study.n_patients)
    entropy = derived_entropy(seed, "reconstruction")
    if figures.empty:
        own = design_values(scenario)
        m = settings.reconstruction_draws
        draws = np.tile([own[k] for k in DESIGN_KEYS], (m, 1))
        follow_up = reconstruction.simulate_follow_up(scenario, entropy, np.arange(m), *draws.T)
        return None, draws, follow_up
    rec = reconstruction.reconstruct(
        scenario, figures, entropy, settings.reconstruction_simulations,
        settings.reconstruction_draws,
    )
    return rec, rec.draws, rec.follow_up


PILOTS_PER_RUN = 6400
"""Simulated pilots per engine run of the ABC block (25 seeding blocks)."""


@dataclass(frozen=True)
class _AbcJob:
    scenario: Scenario
    first_replicate: int
    n_patients: int
    max_follow_up: float
    rate: float | None
    theta: float | None
    specs: tuple[SummarySpec, ...]
    entropy: int
    coordinates: tuple[str, ...]
    values: np.ndarray


def _coordinates_to_disease(coords: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    values = {name: coords[:, j] for j, name in enumerate(names)}
    share = values.pop(PARTIAL_SHARE)
    values[PARTIAL] = share * (1.0 - values[COMPLETE])
    return values


def _abc_batch(job: _AbcJob) -> np.ndarray:
    """One engine run: the summaries of the pilots simulated with the job's parameter values."""
    arm = single_arm(job.scenario)
    # rate and theta are set together (_AbcSimulator.__call__).
    relapse = {} if job.rate is None else {RATE: job.rate, FRAILTY: cast(float, job.theta)}
    scenario = variant(
        job.scenario,
        disease=relapse,
        other={
            "study.n_patients": job.n_patients,
            "cutoff": {"max_follow_up_months": job.max_follow_up},
            f"arms.{arm}.dropout": {"rate_per_month": 0.0},
        },
    )
    replicates = np.arange(job.first_replicate, job.first_replicate + len(job.values))
    cohort = LatentCohort(scenario, job.entropy, replicates)
    course = simulate_course_vector(cohort)
    params = ReplicateParameters(scenario, _coordinates_to_disease(job.values, job.coordinates))
    return pilot_summaries(cohort, course, job.specs, params)


def _specs(targets: list[Target]) -> tuple[SummarySpec, ...]:
    return tuple(
        SummarySpec(t.name, t.quantity, t.statistic, float(t.time), int(t.n))  # type: ignore[arg-type]
        for t in targets
    )


def _run_jobs(
    jobs: list[_AbcJob], workers: int, on_done: Callable[[], None] | None
) -> list[np.ndarray]:
    if workers <= 1 or len(jobs) <= 1:
        results = []
        for job in jobs:
            results.append(_abc_batch(job))
            if on_done:
                on_done()
        return results
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)), mp_context=get_context("spawn")
    ) as pool:
        futures = [pool.submit(_abc_batch, job) for job in jobs]
        results = []
        for future in futures:
            results.append(future.result())
            if on_done:
                on_done()
        return results


class _AbcSimulator:
    """Simulates pilots for the ABC rounds: splits parameters into engine runs of
    :data:`PILOTS_PER_RUN`, each with the next relapse-posterior draw and fresh replicates."""

    def __init__(
        self,
        scenario: Scenario,
        specs: tuple[SummarySpec, ...],
        relapse: tuple[np.ndarray, np.ndarray] | None,
        seed: int,
        workers: int,
        on_done: Callable[[], None] | None,
    ) -> None:
        nominal, windows = visit_schedule(scenario)
        last = max(s.visit_month for s in specs)
        self.scenario = scenario
        self.specs = specs
        self.relapse = relapse
        self.entropy = derived_entropy(seed, "abc/pilots")
        self.workers = workers
        self.on_done = on_done
        self.max_follow_up = last + float(windows[np.argmin(np.abs(nominal - last))]) + 0.5
        self.n_patients = max(
            scenario.study.n_patients,
            max(patients_needed(s.n, scenario.visits.missed_probability) for s in specs),
        )
        self.runs = 0

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """``(M, S)`` summaries of pilots simulated with parameter rows ``values`` (columns in
        :func:`abc_priors` order)."""
        names = tuple(abc_priors(self.scenario))
        jobs = []
        for start in range(0, len(values), PILOTS_PER_RUN):
            run = self.runs
            self.runs += 1
            rate = theta = None
            if self.relapse is not None:
                draws = len(self.relapse[0])
                rate = float(self.relapse[0][run % draws])
                theta = float(self.relapse[1][run % draws])
            jobs.append(
                _AbcJob(
                    scenario=self.scenario,
                    first_replicate=run * PILOTS_PER_RUN,
                    n_patients=self.n_patients,
                    max_follow_up=self.max_follow_up,
                    rate=rate,
                    theta=theta,
                    specs=self.specs,
                    entropy=self.entropy,
                    coordinates=names,
                    values=values[start : start + PILOTS_PER_RUN],
                )
            )
        return np.concatenate(_run_jobs(jobs, self.workers, self.on_done))


# -- the pipeline --------------------------------------------------------------------------------
def calibrate(
    scenario: Scenario,
    targets: TargetSet,
    seed: int,
    settings: CalibrationSettings | None = None,
    on_step: Callable[[], None] | None = None,
) -> CalibrationResult:
    """Estimate the disease parameters of a single-arm pilot from its reported figures.

    Parameters
    ----------
    scenario : Scenario
        The pilot (design and stated parameter values); single arm.
    targets : TargetSet
    seed : int
        Seed entropy; the result is a pure function of it, the scenario, the targets and the
        settings (not of ``settings.workers``).
    settings : CalibrationSettings, optional
    on_step : callable, optional
        Called after each step (:func:`steps` of them), for a progress bar.

    Raises
    ------
    TargetsError
        Targets inconsistent with the scenario (n, visit times) or with each other.
    """
    settings = settings or CalibrationSettings()
    start = time.monotonic()
    tick = on_step or (lambda: None)
    single_arm(scenario)
    if targets.n_patients is not None and targets.n_patients != scenario.study.n_patients:
        raise TargetsError(
            f"expected the scenario's study.n_patients ({scenario.study.n_patients}): the "
            "calibration replays the pilot's own design",
            source=targets.path, key="design.n_patients.value", value=targets.n_patients,
        )
    uses = classify_targets(targets, scenario)
    diagnostics: dict[str, Any] = {}
    nominal, windows = visit_schedule(scenario)
    n_draws = settings.n_draws
    rng = generator(derived_entropy(seed, "posterior"), 0, "calibration/posterior")

    # 1. follow-up reconstruction
    rec, design_draws, follow_up = _reconstruction(
        scenario, _used(targets, uses, "reconstruction"), seed, settings
    )
    if rec is not None:
        a = rec.acceptance
        q = np.percentile(rec.summaries, [2.5, 50, 97.5], axis=0)
        diagnostics["reconstruction"] = {
            "method": "rejection ABC, count matched exactly, nearest by MAD-scaled distance",
            "simulations": a.n_simulated,
            "eligible": a.n_eligible,
            "accepted": len(a.index),
            "tolerance": a.tolerance,
            "accepted_mean_follow_up_months": list(q[:, 0]),
            "accepted_sd_follow_up_months": list(q[:, 1]),
            "accepted_followed_12_months": list(q[:, 2]),
        }
    tick()

    # 2. relapse
    relapse_targets = _used(targets, uses, "relapse")
    draws: dict[str, np.ndarray] = {}
    abc_point: dict[str, float] = {}
    blocks: dict[str, str] = {}
    priors: dict[str, Prior] = {}
    design_rows = rng.integers(0, len(design_draws), n_draws)
    times = [t for t in relapse_targets if t.quantity == "relapse_time"]
    counts = [t for t in relapse_targets if t.quantity == "relapse"]
    if counts and not times:
        uses = tuple(
            TargetUse(u.name, "validation", "a relapse count needs the relapse times too")
            if u.name in {t.name for t in counts} else u for u in uses
        )
    if times:
        event_times = times[0].value
        assert isinstance(event_times, tuple)
        for count in counts:
            if int(count.value) != len(event_times):  # type: ignore[arg-type]
                raise TargetsError(
                    f"expected {len(event_times)} relapses, the number of times in "
                    f"{times[0].name}",
                    source=targets.path, key=count.name, value=count.value,
                )
        grid = RelapseGrid.build(n_rate=settings.rate_cells, n_theta=settings.theta_cells)
        data = RelapseData(tuple(event_times), nominal, follow_up)
        posterior = sample_posterior(log_likelihood_grid(data, grid), grid, n_draws, rng)
        draws[RATE], draws[FRAILTY] = posterior.rate, posterior.theta
        design_rows = posterior.reconstruction
        priors[RATE], priors[FRAILTY] = DEFAULT_RATE_PRIOR, DEFAULT_FRAILTY_PRIOR
        blocks[RATE] = blocks[FRAILTY] = "relapse likelihood"
        edge_mass = float(
            np.mean((posterior.rate < grid.rates[1]) | (posterior.rate > grid.rates[-2]))
        )
        diagnostics["relapse"] = {
            "method": "exact gamma-frailty likelihood, interval-censored at visits, averaged "
                      "over reconstructed follow-up; grid posterior",
            "grid": [settings.rate_cells, settings.theta_cells],
            "reconstructions_effective": posterior.reconstruction_ess,
            "draws_in_edge_rate_cells": edge_mass,
            "log_evidence": posterior.log_evidence,
        }
    tick()

    # 3. response and measurements: rejection ABC with regression adjustment
    abc_targets = _used(targets, uses, "abc")
    if abc_targets:
        specs = _specs(abc_targets)
        abc_prior = abc_priors(scenario)
        names = tuple(abc_prior)
        simulator = _AbcSimulator(
            scenario, specs, (draws[RATE], draws[FRAILTY]) if RATE in draws else None, seed,
            settings.workers, tick,
        )
        prior_rng = generator(derived_entropy(seed, "abc/prior"), 0, "calibration/abc/prior")
        u = prior_rng.random((_whole_runs(settings.abc_simulations), len(names)))
        coords = np.column_stack([abc_prior[n].ppf(u[:, j]) for j, n in enumerate(names)])
        summaries = simulator(coords)
        exact = np.array([s.exact for s in specs])
        observed = np.array([float(t.value) for t in abc_targets])  # type: ignore[arg-type]
        eligible = np.all(summaries[:, exact] == observed[exact], axis=1)
        acceptance = abc.reject(summaries[:, ~exact], observed[~exact], n_draws, eligible)
        kept = acceptance.index
        unbounded = np.column_stack(
            [abc_prior[n].to_unbounded(coords[kept, j]) for j, n in enumerate(names)]
        )
        adjusted, _ = abc.regression_adjust(
            unbounded, summaries[kept][:, ~exact], observed[~exact], acceptance.scale
        )
        if len(kept) < n_draws:  # too few eligible simulations: resample (reported)
            adjusted = adjusted[rng.integers(0, len(kept), n_draws)]
        adjusted = adjusted[rng.permutation(n_draws)]  # accepted nearest-first: shuffle
        back = np.column_stack(
            [abc_prior[n].from_unbounded(adjusted[:, j]) for j, n in enumerate(names)]
        )
        for key, values in _coordinates_to_disease(back, names).items():
            draws[key] = values
            blocks[key] = "ABC"
            priors[key] = abc_prior[COMPLETE] if key == PARTIAL else abc_prior[key]
        size = min(settings.point_candidates, n_draws)  # rows are shuffled: a random subset
        candidates = back[:size]

        def to_bounded(centre: np.ndarray) -> np.ndarray:
            return np.array(
                [float(abc_prior[n].from_unbounded(centre[[j]])[0]) for j, n in enumerate(names)]
            )

        point = abc.representative_point(
            simulator, candidates, adjusted[:size], to_bounded, observed, settings.point_pilots,
            check_replicates=settings.point_check_pilots,
        )
        abc_point = {
            k: float(v[0])
            for k, v in _coordinates_to_disease(point.values[None, :], names).items()
        }
        diagnostics["point"] = {
            "method": "the tenth of the posterior draws whose expected ABC summaries are "
                      "nearest the reported ones (each in units of its sampling SD at the "
                      "pilot's n) is kept; the point is their coordinate-wise median on the "
                      "logit/log scale, and its fit (expected_summaries, distance) is estimated "
                      "from fresh pilots; its values are the [disease] point estimate of the "
                      "ABC block",
            "candidates": len(candidates),
            "pilots_per_candidate": settings.point_pilots,
            "near_best": point.near_best,
            "check_pilots": settings.point_check_pilots,
            "distance": point.distance,
            "expected_summaries": {
                s.name: float(v) for s, v in zip(specs, point.expected, strict=True)
            },
        }
        diagnostics["abc"] = {
            "method": "rejection ABC (counts matched exactly, nearest by MAD-scaled distance) "
                      "with local-linear regression adjustment on the logit/log scale",
            "summaries": [s.name for s in specs],
            "exact": [s.name for s in specs if s.exact],
            "simulations": acceptance.n_simulated,
            "eligible": acceptance.n_eligible,
            "accepted": len(kept),
            "tolerance": acceptance.tolerance,
            "patients_simulated_per_pilot": simulator.n_patients,
            "engine_runs": simulator.runs,
        }
    else:
        for _ in range(abc_runs(settings) + point_runs(settings)):
            tick()

    # 4. manifestations: binomial
    for t in _used(targets, uses, "binomial"):
        name = t.quantity.removesuffix("_resolved")
        key = f"manifestations.{name}.probability_resolves"
        mean = float(scenario.resolved["arms"][scenario.arm_names[0]]["disease"][
            "manifestations"][name]["mean_time_to_resolution_months"])
        if isinstance(t.time, float):
            half = float(windows[np.argmin(np.abs(nominal - t.time))])
            f = manifestations.resolved_by(manifestations.visit_window_times(t.time, half), mean)
        else:  # time not reported: the patient's last scheduled visit within follow-up
            seen = follow_up[np.isfinite(follow_up)]
            f = manifestations.resolved_by(last_visit(seen, nominal), mean)
        post = manifestations.sample_resolution_probability(int(t.value), int(t.n), f, n_draws, rng)  # type: ignore[arg-type]
        draws[key] = post.draws
        blocks[key] = "binomial likelihood"
        priors[key] = manifestations.PRIOR
        diagnostics.setdefault("binomial", {})[key] = {
            "k": post.k, "n": post.n, "resolved_by_time_probability": f,
        }
    tick()

    parameters = tuple(k for k in _ORDER if k in draws) + tuple(
        k for k in draws if k not in _ORDER
    )
    matrix = np.column_stack([draws[k] for k in parameters]) if parameters else np.zeros((0, 0))
    summaries_out = []
    for j, key in enumerate(parameters):
        column = matrix[:, j]
        c = contraction(priors[key], column)
        lo, mid, hi = np.percentile(column, [2.5, 50, 97.5])
        summaries_out.append(
            ParameterSummary(
                key=key,
                block=blocks[key],
                prior=REPORTED_PRIORS.get(key, priors[key].describe()),
                median=float(mid),
                lower=float(lo),
                upper=float(hi),
                contraction=c,
                identified=c >= settings.identified_threshold,
            )
        )
    return CalibrationResult(
        parameters=parameters,
        draws=matrix,
        design_keys=DESIGN_KEYS,
        design_draws=design_draws[design_rows],
        design_priors={k: reconstruction.DEFAULT_PRIORS[k].describe() for k in DESIGN_KEYS}
        if rec is not None else {},
        summaries=tuple(summaries_out),
        uses=uses,
        diagnostics=diagnostics,
        seed=seed,
        settings=settings,
        seconds=time.monotonic() - start,
        abc_point=abc_point,
        model_choices={
            "sledai.visit_distribution": scenario.arms[0].disease.sledai.visit_distribution
        },
        fixed_note=(
            "every other disease key keeps the scenario's stated value; keys not informed by the "
            "pilot (anti-dsDNA, Treg, flare course and detection, manifestations with unknown n, "
            "resolution times) are fixed assumptions, not drawn"
        ),
    )


_ORDER = (
    COMPLETE,
    PARTIAL,
    "response.mean_time_to_response_months",
    "response.partial_residual_fraction",
    "response.nonresponder_residual_fraction",
    "response.residual_concentration",
    "sledai.visit_dispersion",
    "proteinuria.early_change",
    "proteinuria.class_change.complete",
    "proteinuria.class_change.partial",
    "proteinuria.class_change.none",
    "proteinuria.patient_sd",
    "proteinuria.visit_sd",
    RATE,
    FRAILTY,
    *(f"manifestations.{m}.probability_resolves" for m in MANIFESTATIONS),
)


def _whole_runs(n: int) -> int:
    return max(1, -(-n // PILOTS_PER_RUN)) * PILOTS_PER_RUN


def abc_runs(settings: CalibrationSettings) -> int:
    """Engine runs of the ABC block."""
    return _whole_runs(settings.abc_simulations) // PILOTS_PER_RUN


def point_runs(settings: CalibrationSettings) -> int:
    """Engine runs of the point-estimate search."""
    pilots = min(settings.point_candidates, settings.n_draws) * settings.point_pilots
    return -(-pilots // PILOTS_PER_RUN) + -(-settings.point_check_pilots // PILOTS_PER_RUN)


def steps(settings: CalibrationSettings) -> int:
    """Progress steps :func:`calibrate` reports."""
    return 3 + abc_runs(settings) + point_runs(settings)

