"""Reconstructing the pilot's follow-up: enrolment shape, cut-off and early loss to follow-up.

The pilot reports mean follow-up 17.2 ± 9.5 months and 13 of 15 followed ≥ 12 months, but no
individual follow-up times — which the relapse likelihood needs (13 patients are censored at
them). Three design values are uncertain (:data:`~cohortsim.calibration.variants.DESIGN_KEYS`):
the enrolment density ratio ρ of the window accrual, the calendar cut-off month C, and the early
dropout rate d (per month, during the first months; none later). They get priors and are
estimated by rejection ABC on the reported follow-up figures, with the count matched exactly.

The accepted simulations' *individual follow-up vectors* are kept: they are draws from the
distribution of the 15 follow-up times given the reported figures, over which the relapse
likelihood is averaged (:mod:`cohortsim.calibration.relapse`).

Follow-up is computed with the engine's own rules and the cohort's own draws (streams
``enrolment``, ``dropout``, ``death``), so for given (ρ, C, d) it equals the engine's
``follow_up_months`` exactly (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cohortsim.calibration.abc import Acceptance, reject
from cohortsim.calibration.priors import LogUniform, Prior, Uniform
from cohortsim.calibration.variants import (
    CUTOFF_MONTH,
    DENSITY_RATIO,
    DESIGN_KEYS,
    EARLY_DROPOUT,
    early_dropout_months,
    single_arm,
)
from cohortsim.draws import DrawSource
from cohortsim.engine.rules import follow_up_at_cut, own_end
from cohortsim.scenario.types import Scenario
from cohortsim.seeding import generator

FOLLOWED_MONTHS = 12.0
"""Threshold of the "followed ≥ 12 months" count."""

CHUNK = 25_600
"""Simulations per chunk (a multiple of the 256-replicate seeding block)."""

DEFAULT_PRIORS: dict[str, Prior] = {
    DENSITY_RATIO: LogUniform(0.1, 30.0),
    CUTOFF_MONTH: Uniform(24.0, 40.0),
    EARLY_DROPOUT: Uniform(0.0, 0.3),
}
"""Priors of the reconstruction. ρ: from front-loaded (0.1) to strongly later-heavy (30)
enrolment; C: between month 24 (a relapse was seen at 24 months) and month 40 (the press report,
29 Jul 2010); d: up to 0.3 per month (≈ 60% lost in the first 3 months)."""


@dataclass(frozen=True)
class FollowUpFigures:
    """The reported follow-up figures (None where not reported).

    Attributes
    ----------
    n : int
        Patients.
    mean, sd : float or None
        Mean and SD of follow-up, months.
    followed_12_months : int or None
        Patients followed ≥ 12 months (matched exactly).
    """

    n: int
    mean: float | None
    sd: float | None
    followed_12_months: int | None

    @property
    def empty(self) -> bool:
        return self.mean is None and self.sd is None and self.followed_12_months is None


@dataclass(frozen=True)
class Reconstruction:
    """Accepted follow-up reconstructions.

    Attributes
    ----------
    keys : tuple of str
        :data:`~cohortsim.calibration.variants.DESIGN_KEYS`.
    draws : (M, 3) array
        Accepted (ρ, C, d).
    follow_up : (M, n) array
        Their simulated follow-up months per patient (NaN: not enrolled by the cut-off).
    summaries : (M, 3) array
        Mean, SD and count ≥ 12 months of each accepted follow-up vector.
    acceptance : Acceptance
    priors : dict
    """

    keys: tuple[str, ...]
    draws: np.ndarray
    follow_up: np.ndarray
    summaries: np.ndarray
    acceptance: Acceptance
    priors: dict[str, Prior]


def window_ppf(u: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Inverse CDF on [0, 1] of a linear density with end/start ratio ``ratio`` (array-valued;
    the same arithmetic as :func:`cohortsim.cohort.linear_window_ppf`)."""
    ratio = np.asarray(ratio, dtype=float)
    c = (ratio + 1.0) / 2.0
    value = 2.0 * c * u / (1.0 + np.sqrt(1.0 + 2.0 * (ratio - 1.0) * c * u))
    return np.where(ratio == 1.0, u, value)


def simulate_follow_up(
    scenario: Scenario,
    entropy: int,
    replicates: np.ndarray,
    density_ratio: np.ndarray,
    cutoff_month: np.ndarray,
    early_dropout: np.ndarray,
) -> np.ndarray:
    """Follow-up months of every patient of each replicate under its own (ρ, C, d).

    Parameters
    ----------
    scenario : Scenario
        Single arm, window accrual; its cut-off rules other than the calendar cut-off are not
        used.
    entropy : int
    replicates : (R,) int
    density_ratio, cutoff_month, early_dropout : (R,) arrays
        ρ, C (calendar months) and d (per month) of each replicate.

    Returns
    -------
    (R, n) array
        Months from enrolment to end of follow-up; NaN for patients not enrolled by the cut-off.
    """
    accrual = scenario.accrual
    if accrual.kind != "window":
        raise ValueError("the follow-up reconstruction needs window accrual")
    arm = scenario.arms[scenario.arm_names.index(single_arm(scenario))]
    n = scenario.study.n_patients
    draws = DrawSource(entropy, np.asarray(replicates))
    rho = np.asarray(density_ratio, dtype=float)[:, None]
    span = accrual.window_end_month - accrual.window_start_month
    enrol = accrual.window_start_month + span * window_ppf(draws.uniform("enrolment", n), rho)
    units = draws.exponential("dropout", n)
    rate = np.asarray(early_dropout, dtype=float)[:, None]
    early = early_dropout_months(scenario)
    with np.errstate(divide="ignore", invalid="ignore"):
        dropout = np.where(units < rate * early, units / rate, np.inf)
    death = arm.death_hazard.inverse_cumulative(draws.exponential("death", n))
    max_follow_up = scenario.cutoff.max_follow_up_months
    end, reason = own_end(
        dropout,
        death,
        np.inf if max_follow_up is None else max_follow_up,
        scenario.study.max_duration_months - enrol,
    )
    cut_rule = np.asarray(cutoff_month, dtype=float)
    everyone_done = (enrol + end).max(axis=1)
    administrative = cut_rule < everyone_done
    cut = np.where(administrative, cut_rule, everyone_done)
    follow_up, _ = follow_up_at_cut(
        end, reason, enrol, cut[:, None], administrative[:, None], np.full(enrol.shape, np.inf)
    )
    return np.where(enrol < cut[:, None], follow_up, np.nan)


def follow_up_summaries(follow_up: np.ndarray) -> np.ndarray:
    """``(R, 3)``: mean, SD (n − 1) and count ≥ 12 months over enrolled patients."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(follow_up, axis=1)
        sd = np.nanstd(follow_up, axis=1, ddof=1)
    count = np.sum(follow_up >= FOLLOWED_MONTHS, axis=1)
    return np.column_stack([mean, sd, count])


def reconstruct(
    scenario: Scenario,
    figures: FollowUpFigures,
    entropy: int,
    n_simulations: int,
    n_accept: int,
    priors: dict[str, Prior] | None = None,
) -> Reconstruction:
    """Rejection ABC for (ρ, C, d) on the reported follow-up figures.

    Parameters
    ----------
    scenario : Scenario
        The pilot scenario (its n must equal ``figures.n``).
    figures : FollowUpFigures
    entropy : int
        Seed entropy (for prior draws and the simulated pilots).
    n_simulations : int
        Simulated pilots (rounded up to a multiple of :data:`CHUNK`).
    n_accept : int
        Reconstructions kept.
    priors : dict, optional
        Priors by design key (default :data:`DEFAULT_PRIORS`).
    """
    priors = dict(DEFAULT_PRIORS if priors is None else priors)
    chunks = max(1, -(-n_simulations // CHUNK))
    all_draws, all_summaries = [], []
    for chunk in range(chunks):
        rng = generator(entropy, chunk, "calibration/reconstruction/prior")
        u = rng.random((CHUNK, len(DESIGN_KEYS)))
        draws = np.column_stack([priors[key].ppf(u[:, j]) for j, key in enumerate(DESIGN_KEYS)])
        replicates = np.arange(chunk * CHUNK, (chunk + 1) * CHUNK)
        follow_up = simulate_follow_up(scenario, entropy, replicates, *draws.T)
        all_draws.append(draws)
        all_summaries.append(follow_up_summaries(follow_up))
    draws = np.concatenate(all_draws)
    summaries = np.concatenate(all_summaries)
    eligible = np.ones(len(draws), dtype=bool)
    if figures.followed_12_months is not None:
        eligible = summaries[:, 2] == figures.followed_12_months
    columns = [j for j, v in enumerate((figures.mean, figures.sd)) if v is not None]
    observed = np.array([(figures.mean, figures.sd)[j] for j in columns], dtype=float)
    acceptance = reject(summaries[:, columns], observed, n_accept, eligible)
    index = acceptance.index
    # Simulation i is replicate i: recompute the kept follow-up vectors (cheaper than storing all).
    exact = simulate_follow_up(scenario, entropy, index, *draws[index].T)
    return Reconstruction(
        keys=DESIGN_KEYS,
        draws=draws[index],
        follow_up=exact,
        summaries=follow_up_summaries(exact),
        acceptance=acceptance,
        priors=priors,
    )
