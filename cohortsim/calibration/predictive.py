"""Posterior predictive validation: replay the pilot under the calibrated model, many times.

Each simulated pilot draws one row of the posterior (disease parameters and the follow-up
reconstruction that goes with it), then simulates the pilot's own design — its n, enrolment
window and cut-off — with the engine and reads every target's statistic from the simulated
tables (:mod:`.pilot_statistics`). A target is *inside* when the reported value lies within the
central 95% of its predictive distribution.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import pyarrow as pa

from cohortsim.calibration.pilot_statistics import (
    StatisticRow,
    patient_values,
    pilot_data,
    relapse_free_curves,
    statistic_rows,
    visit_means,
)
from cohortsim.calibration.posterior import Posterior
from cohortsim.calibration.targets import TargetSet
from cohortsim.calibration.variants import variant
from cohortsim.cohort import visit_schedule
from cohortsim.scenario.types import Scenario

KM_GRID = np.linspace(0.0, 36.0, 145)
"""Months at which relapse-free curves are evaluated (every week, to 3 years)."""

TRAJECTORY_MONTHS_MAX = 24.0
"""Trajectories are drawn to this month."""

LEVEL = 0.95
"""Central predictive interval."""


@dataclass(frozen=True)
class ValidationRow:
    """One target's posterior predictive check.

    Attributes
    ----------
    label : str
        Target name (``name[k]`` for the k-th event time).
    target : str
    description : str
    source : str
        ``"A"``, ``"P"`` or ``"A, P"``.
    reported : float
        The reported value (1 for a reported significant change).
    median, lower, upper : float
        Median and central 95% interval of the simulated statistic.
    inside : bool
    probability_exact : float
        Share of simulated pilots showing exactly what was reported (at the reported precision),
        among pilots where the statistic exists.
    reported_quantile : float
        Where the reported value falls in the predictive distribution, ``P(X < r) + ½ P(X = r)``
        (a posterior predictive p-value: near 0 or 1 means the model strains to reproduce it).
    pilots : int
        Simulated pilots where the statistic exists (e.g. with n patients at the visit).
    """

    label: str
    target: str
    description: str
    source: str
    reported: float
    median: float
    lower: float
    upper: float
    inside: bool
    probability_exact: float
    reported_quantile: float
    pilots: int

    @property
    def from_abstract(self) -> bool:
        return "A" in self.source


@dataclass(frozen=True)
class ValidationResult:
    """The posterior predictive check of every target, and the data for the figures.

    Attributes
    ----------
    rows : tuple of ValidationRow
    replicates : int
        Simulated pilots.
    draws : int
        Distinct posterior draws used.
    seed : int
    seconds : float
    km : (R, G) array
        Each pilot's Kaplan–Meier relapse-free curve on :data:`KM_GRID`.
    months : (1 + V,) array
        Baseline (0) and the scheduled visits for the trajectories.
    sledai_means, proteinuria_means : (R, 1 + V) arrays
        Each pilot's mean at those months.
    sledai_patients, proteinuria_patients : (R·N, 1 + V) arrays
        Every simulated patient's values.
    """

    rows: tuple[ValidationRow, ...]
    replicates: int
    draws: int
    seed: int
    seconds: float
    km: np.ndarray
    months: np.ndarray
    sledai_means: np.ndarray
    proteinuria_means: np.ndarray
    sledai_patients: np.ndarray
    proteinuria_patients: np.ndarray

    @property
    def abstract_failures(self) -> tuple[ValidationRow, ...]:
        """[A] targets outside their predictive interval (validate exits 1 when any)."""
        return tuple(r for r in self.rows if r.from_abstract and not r.inside)

    def to_arrow(self) -> pa.Table:
        """The table, one row per target (Parquet-ready)."""
        columns = {
            "target": [r.label for r in self.rows],
            "description": [r.description for r in self.rows],
            "source": [r.source for r in self.rows],
            "reported": [r.reported for r in self.rows],
            "simulated_median": [r.median for r in self.rows],
            "lower_95": [r.lower for r in self.rows],
            "upper_95": [r.upper for r in self.rows],
            "inside": [r.inside for r in self.rows],
            "probability_exact": [r.probability_exact for r in self.rows],
            "reported_quantile": [r.reported_quantile for r in self.rows],
            "pilots": [r.pilots for r in self.rows],
        }
        metadata = {
            "cohortsim.validation.replicates": str(self.replicates),
            "cohortsim.validation.posterior_draws": str(self.draws),
            "cohortsim.validation.seed": str(self.seed),
            "cohortsim.validation.level": str(LEVEL),
        }
        return pa.table(columns).replace_schema_metadata(metadata)

    def to_markdown(self) -> str:
        """The table in Markdown."""
        lines = [
            "| target | source | reported | simulated median | 95% predictive interval | inside "
            "| P(exactly as reported) | quantile of reported | pilots |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.label} | {r.source} | {_fmt(r.reported)} | {_fmt(r.median)} "
                f"| [{_fmt(r.lower)}, {_fmt(r.upper)}] | {'yes' if r.inside else '**no**'} "
                f"| {r.probability_exact:.3f} | {r.reported_quantile:.2f} | {r.pilots} |"
            )
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """A fixed-width table for the terminal."""
        lines = [
            f"{'target':<30} {'src':<5} {'reported':>9} {'median':>9} {'95% interval':>21} "
            f"{'in':>3} {'P(exact)':>9} {'quantile':>8}"
        ]
        for r in self.rows:
            interval = f"[{_fmt(r.lower)}, {_fmt(r.upper)}]"
            lines.append(
                f"{r.label:<30} {r.source:<5} {_fmt(r.reported):>9} {_fmt(r.median):>9} "
                f"{interval:>21} {'yes' if r.inside else 'NO':>3} {r.probability_exact:>9.3f} "
                f"{r.reported_quantile:>8.2f}"
            )
        return "\n".join(lines)


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    if float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


@dataclass(frozen=True)
class _Job:
    scenario: Scenario
    targets: TargetSet
    entropy: int
    first_draw: int
    disease: tuple[dict[str, float], ...]
    design: tuple[dict[str, float], ...]
    pilots_per_draw: int
    visit_months: np.ndarray


@dataclass(frozen=True)
class _JobResult:
    rows: list[StatisticRow]
    km: np.ndarray
    sledai_means: np.ndarray
    proteinuria_means: np.ndarray
    sledai_patients: np.ndarray
    proteinuria_patients: np.ndarray


def _run(job: _Job) -> _JobResult:
    from cohortsim.simulate import simulate_tables  # deferred: a heavy import for workers

    parts: list[_JobResult] = []
    for i, (disease, design) in enumerate(zip(job.disease, job.design, strict=True)):
        scenario = variant(job.scenario, disease=disease, design=design)
        first = (job.first_draw + i) * job.pilots_per_draw
        replicates = np.arange(first, first + job.pilots_per_draw)
        tables = simulate_tables(scenario, job.entropy, replicates, engine="vector")
        data = pilot_data(
            tables, first, job.pilots_per_draw, scenario.study.n_patients, job.visit_months
        )
        rows = [row for t in job.targets for row in statistic_rows(data, t, job.targets)]
        parts.append(
            _JobResult(
                rows,
                relapse_free_curves(data, KM_GRID),
                visit_means(data, "sledai", "baseline_sledai"),
                visit_means(data, "proteinuria_mg_per_day", "baseline_proteinuria_mg_per_day"),
                patient_values(data, "sledai", "baseline_sledai"),
                patient_values(data, "proteinuria_mg_per_day", "baseline_proteinuria_mg_per_day"),
            )
        )
    return _concatenate(parts)


def _concatenate(parts: list[_JobResult]) -> _JobResult:
    rows = [
        StatisticRow(
            first.label,
            first.target,
            first.reported,
            np.concatenate([p.rows[k].values for p in parts]),
            np.concatenate([p.rows[k].matches for p in parts]),
        )
        for k, first in enumerate(parts[0].rows)
    ]
    return _JobResult(
        rows,
        *(np.concatenate([getattr(p, name) for p in parts]) for name in (
            "km", "sledai_means", "proteinuria_means", "sledai_patients", "proteinuria_patients"
        )),
    )


def _draws_per_job(n_draws: int, workers: int) -> int:
    return max(1, min(25, -(-n_draws // max(workers, 1))))


def job_count(replicates: int, pilots_per_draw: int, workers: int) -> int:
    """Jobs :func:`predictive_check` runs (for a progress bar)."""
    n_draws = -(-replicates // pilots_per_draw)
    return -(-n_draws // _draws_per_job(n_draws, workers))


def predictive_check(
    scenario: Scenario,
    targets: TargetSet,
    posterior: Posterior | None,
    replicates: int,
    seed: int,
    pilots_per_draw: int = 4,
    workers: int = 1,
    on_job: Callable[[], None] | None = None,
) -> ValidationResult:
    """Simulate ``replicates`` pilots from the posterior predictive and check every target.

    Parameters
    ----------
    scenario : Scenario
        The pilot scenario (its disease values are the point estimates; each draw overrides the
        posterior's parameters).
    targets : TargetSet
    posterior : Posterior or None
        Posterior draws; None simulates the scenario's fixed parameters (a plain predictive).
    replicates : int
        Simulated pilots (rounded up to whole draws).
    seed : int
        Seed entropy of the simulated pilots; posterior rows are taken in file order.
    pilots_per_draw : int
        Pilots simulated per posterior draw (each draw builds a scenario; a few pilots per draw
        make that cost small without changing the predictive distribution).
    workers : int
        Processes (results do not depend on it).
    on_job : callable, optional
        Called after each job (for a progress bar).
    """
    start = time.monotonic()
    n_draws = -(-replicates // pilots_per_draw)
    if posterior is not None:
        rows = [i % len(posterior) for i in range(n_draws)]
        disease = [posterior.disease_values(i) for i in rows]
        design = [posterior.design_values(i) for i in rows]
        distinct = len(set(rows))
    else:
        disease = [{} for _ in range(n_draws)]
        design = [{} for _ in range(n_draws)]
        distinct = 1
    nominal, _ = visit_schedule(scenario)
    per_job = _draws_per_job(n_draws, workers)
    jobs = [
        _Job(
            scenario=scenario,
            targets=targets,
            entropy=seed,
            first_draw=k,
            disease=tuple(disease[k : k + per_job]),
            design=tuple(design[k : k + per_job]),
            pilots_per_draw=pilots_per_draw,
            visit_months=nominal,
        )
        for k in range(0, n_draws, per_job)
    ]
    results: list[_JobResult] = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(_run(job))
            if on_job:
                on_job()
    else:
        with ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=get_context("spawn")
        ) as pool:
            for future in [pool.submit(_run, job) for job in jobs]:
                results.append(future.result())
                if on_job:
                    on_job()
    merged = _concatenate(results)
    by_name = {t.name: t for t in targets}
    out = []
    for row in merged.rows:
        target = by_name[row.target]
        finite = np.isfinite(row.values)
        values = row.values[finite]
        if len(values):
            lower, median, upper = np.quantile(
                values, [(1 - LEVEL) / 2, 0.5, (1 + LEVEL) / 2], method="inverted_cdf"
            )
            exact = float(np.mean(row.matches[finite]))
            quantile = float(np.mean(values < row.reported) + 0.5 * np.mean(values == row.reported))
        else:
            lower = median = upper = exact = quantile = float("nan")
        out.append(
            ValidationRow(
                label=row.label,
                target=row.target,
                description=target.describe(),
                source=", ".join(target.source),
                reported=row.reported,
                median=float(median),
                lower=float(lower),
                upper=float(upper),
                inside=bool(len(values)) and bool(lower <= row.reported <= upper),
                probability_exact=exact,
                reported_quantile=quantile,
                pilots=int(finite.sum()),
            )
        )
    shown = 1 + int(np.sum(nominal <= TRAJECTORY_MONTHS_MAX))
    return ValidationResult(
        rows=tuple(out),
        replicates=n_draws * pilots_per_draw,
        draws=distinct,
        seed=seed,
        seconds=time.monotonic() - start,
        km=merged.km,
        months=np.concatenate([[0.0], nominal])[:shown],
        sledai_means=merged.sledai_means[:, :shown],
        proteinuria_means=merged.proteinuria_means[:, :shown],
        sledai_patients=merged.sledai_patients[:, :shown],
        proteinuria_patients=merged.proteinuria_patients[:, :shown],
    )
