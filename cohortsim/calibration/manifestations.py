"""Exact binomial posterior of a manifestation's resolution probability.

A manifestation present at baseline resolves with probability ``p`` after an exponential time
with mean ``m`` (``docs/model.md`` §7). "k of n had resolved when seen at month t" is binomial with
success probability ``p · F``, ``F = P(resolution time ≤ t)``; ``m`` is not identified by one count
and stays at its stated value, so ``F`` is known and the posterior of ``p`` is computed exactly on
a fine grid. With ``F = 1`` it is the conjugate Beta(1 + k, 1 + n − k) of a uniform prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cohortsim.calibration.priors import Uniform
from cohortsim.lazy import stats

PRIOR = Uniform(0.0, 1.0)
"""Prior of a calibrated resolution probability."""

GRID_CELLS = 4000


def resolved_by(times: np.ndarray, mean_months: float) -> float:
    """``F``: the average probability that an exponential resolution (mean ``mean_months``) has
    happened by each of ``times`` (months)."""
    times = np.asarray(times, dtype=float)
    return float(np.mean(-np.expm1(-times / mean_months)))


def visit_window_times(month: float, half_width: float, points: int = 201) -> np.ndarray:
    """Equally spaced times covering a visit's window ``month ± half_width`` (a visit happens
    uniformly within it)."""
    if half_width == 0:
        return np.array([month])
    return month + half_width * np.linspace(-1.0, 1.0, points)


@dataclass(frozen=True)
class ResolutionPosterior:
    """Posterior draws of ``p`` and what they came from."""

    draws: np.ndarray
    k: int
    n: int
    resolved_by_time: float


def sample_resolution_probability(
    k: int, n: int, resolved_by_time: float, n_draws: int, rng: np.random.Generator
) -> ResolutionPosterior:
    """Draw ``p`` from its posterior given ``k`` of ``n`` resolved, with ``F`` known.

    Parameters
    ----------
    k, n : int
        Resolved, and patients with the manifestation seen at the time.
    resolved_by_time : float
        ``F`` in (0, 1].
    n_draws : int
    rng : numpy Generator
    """
    edges = np.linspace(0.0, 1.0, GRID_CELLS + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    log_like = stats.binom.logpmf(k, n, centres * resolved_by_time)
    weights = np.exp(log_like - log_like.max())
    cdf = np.concatenate([[0.0], np.cumsum(weights)])
    cdf /= cdf[-1]
    u = rng.random(n_draws)
    cell = np.clip(np.searchsorted(cdf, u, side="right") - 1, 0, GRID_CELLS - 1)
    within = (u - cdf[cell]) / (cdf[cell + 1] - cdf[cell])
    draws = edges[cell] + within * (edges[cell + 1] - edges[cell])
    return ResolutionPosterior(draws, k, n, resolved_by_time)
