"""Approximate Bayesian computation: rejection with nearest-neighbour tolerance, and local-linear
regression adjustment.

* **Rejection** (Pritchard et al. 1999; Beaumont, Zhang & Balding 2002): simulate data from
  parameters drawn from the prior, keep the ``n_accept`` simulations whose summaries lie nearest
  the observed ones. Summaries that are counts are matched *exactly* (a pilot's "4 of 12" is
  matched as 4 of 12, not as 33%); the others by Euclidean distance after scaling each by its
  median absolute deviation over the eligible simulations (as ``abc::abc`` does).
* **Regression adjustment** (Beaumont, Zhang & Balding 2002, *Genetics* 162:2025): regress the
  accepted parameters, on an unbounded scale, on the summaries' distance from the observed ones
  and remove the fitted trend, ``θ* = θ − (s − s_obs) β̂``. It corrects, to first order, for the
  tolerance not being zero. We use the rejection kernel (equal weights) rather than Beaumont's
  Epanechnikov weights, so the adjusted draws are equally weighted posterior draws.

Functions take arrays and return arrays or small frozen results; nothing here knows about lupus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAD_TO_SD = 1.482602218505602
"""Scale factor making the median absolute deviation a consistent estimate of a normal SD."""


@dataclass(frozen=True)
class Acceptance:
    """The simulations a rejection step kept.

    Attributes
    ----------
    index : (n_accept,) int
        Indices of accepted simulations, nearest first.
    distance : (n_accept,) float
        Their scaled distances from the observed summaries.
    tolerance : float
        The largest accepted distance (the effective ε).
    n_simulated : int
        Simulations offered.
    n_eligible : int
        Simulations whose exactly-matched summaries equalled the observed ones (and whose
        summaries were all finite).
    scale : (S,) float
        Scale of each continuous summary (median absolute deviation × 1.4826 over the eligible
        simulations, or as given).
    """

    index: np.ndarray
    distance: np.ndarray
    tolerance: float
    n_simulated: int
    n_eligible: int
    scale: np.ndarray

    @property
    def acceptance_rate(self) -> float:
        """Accepted ÷ simulated."""
        return len(self.index) / max(self.n_simulated, 1)


def mad_scale(values: np.ndarray) -> np.ndarray:
    """Median absolute deviation × 1.4826 of each column (1 where it is 0 or undefined)."""
    values = np.asarray(values, dtype=float)
    if values.shape[0] == 0:
        return np.ones(values.shape[1])
    centre = np.median(values, axis=0)
    scale = MAD_TO_SD * np.median(np.abs(values - centre), axis=0)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def reject(
    summaries: np.ndarray,
    observed: np.ndarray,
    n_accept: int,
    eligible: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> Acceptance:
    """Keep the ``n_accept`` simulations nearest the observed summaries.

    Parameters
    ----------
    summaries : (N, S) array
        Continuous summaries of each simulation (S may be 0: then every eligible simulation is
        at distance 0 and the first ``n_accept`` eligible ones are kept).
    observed : (S,) array
        The observed summaries.
    n_accept : int
        How many to keep (fewer if fewer are eligible).
    eligible : (N,) bool, optional
        Simulations whose exactly-matched summaries (counts) equal the observed ones.
    scale : (S,) array, optional
        Scale of each summary; default :func:`mad_scale` over the eligible simulations.

    Returns
    -------
    Acceptance
    """
    summaries = np.asarray(summaries, dtype=float).reshape(len(summaries), -1)
    observed = np.asarray(observed, dtype=float).reshape(-1)
    n = summaries.shape[0]
    ok = np.all(np.isfinite(summaries), axis=1)
    if eligible is not None:
        ok &= np.asarray(eligible, dtype=bool)
    candidates = np.flatnonzero(ok)
    if scale is None:
        scale = mad_scale(summaries[candidates])
    scale = np.asarray(scale, dtype=float)
    distance = np.sqrt(np.sum(((summaries[candidates] - observed) / scale) ** 2, axis=1))
    keep = min(int(n_accept), len(candidates))
    # Stable: ties are broken by simulation index, so results do not depend on sort internals.
    order = np.lexsort((candidates, distance))[:keep]
    return Acceptance(
        index=candidates[order],
        distance=distance[order],
        tolerance=float(distance[order][-1]) if keep else float("nan"),
        n_simulated=n,
        n_eligible=len(candidates),
        scale=scale,
    )


def regression_adjust(
    parameters: np.ndarray,
    summaries: np.ndarray,
    observed: np.ndarray,
    scale: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Local-linear regression adjustment of accepted parameters (Beaumont et al. 2002, eq. 5).

    Parameters
    ----------
    parameters : (n, P) array
        Accepted parameters on an unbounded scale.
    summaries : (n, S) array
        Their continuous summaries.
    observed : (S,) array
    scale : (S,) array
        Summary scales (as used for the distance).
    weights : (n,) array, optional
        Importance weights of the particles (weighted least squares); default equal.

    Returns
    -------
    adjusted : (n, P) array
        ``θ − ((s − s_obs) / scale) β̂``, on the same scale as ``parameters``.
    slopes : (S, P) array
        The fitted β̂ (per unit of scaled summary).
    """
    parameters = np.asarray(parameters, dtype=float)
    x = (np.asarray(summaries, dtype=float) - observed) / scale
    if x.shape[1] == 0 or len(x) <= x.shape[1] + 1:
        return parameters.copy(), np.zeros((x.shape[1], parameters.shape[1]))
    design = np.column_stack([np.ones(len(x)), x])
    root = np.ones(len(x)) if weights is None else np.sqrt(np.asarray(weights, dtype=float))
    coef, *_ = np.linalg.lstsq(design * root[:, None], parameters * root[:, None], rcond=None)
    slopes = coef[1:]
    return parameters - x @ slopes, slopes


@dataclass(frozen=True)
class Representative:
    """The posterior draw chosen as a point estimate by :func:`representative_draw`.

    Attributes
    ----------
    index : int
        Row of the candidates.
    distance : float
        Scaled distance of its expected summaries from the observed ones.
    expected : (S,) float
        Its expected summaries (means over the simulated data sets).
    """

    index: int
    distance: float
    expected: np.ndarray


def representative_draw(
    simulate: Callable[[np.ndarray], np.ndarray],
    candidates: np.ndarray,
    observed: np.ndarray,
    replicates: int,
) -> Representative:
    """The candidate parameter row whose *expected* summaries lie nearest the observed ones.

    A posterior is summarised for simulation by one parameter vector. Marginal medians do not
    make a coherent vector: correlated parameters (class probabilities that share a simplex,
    a residual fraction traded against a class share) can combine into a point whose simulated
    data miss the observations that every posterior draw reproduces. Choosing among posterior
    draws the one whose expected summaries match the observed ones keeps the point inside the
    posterior and makes simulating at it reproduce the data, in expectation.

    Parameters
    ----------
    simulate : callable
        ``(M, P)`` parameter rows → ``(M, S)`` summaries of one simulated data set per row.
    candidates : (C, P) float
        Posterior draws to choose from.
    observed : (S,) float
        Observed summaries.
    replicates : int
        Data sets simulated per candidate (≥ 2); the expected summaries are their means (NaN, a
        summary a data set could not give, is left out).

    Notes
    -----
    Each summary's distance is measured in its own sampling standard deviation (pooled over the
    candidates' simulated data sets), so the distance reads as how many standard errors of one
    data set the expected summary is from the observed one, whatever the summary's units.
    """
    if replicates < 2 or len(candidates) == 0:
        raise ValueError("expected at least one candidate and two replicates")
    simulated = simulate(np.repeat(candidates, replicates, axis=0))
    per_candidate = simulated.reshape(len(candidates), replicates, -1)
    finite = np.isfinite(per_candidate)
    counted = finite.sum(axis=1)
    values = np.where(finite, per_candidate, 0.0)
    expected = np.where(counted > 0, values.sum(axis=1) / np.maximum(counted, 1), np.nan)
    squares = np.where(finite, (per_candidate - expected[:, None, :]) ** 2, 0.0).sum(axis=(0, 1))
    pooled_df = np.maximum(counted - 1, 0).sum(axis=0)
    scale = np.sqrt(squares / np.maximum(pooled_df, 1))
    scale = np.where(scale > 0, scale, 1.0)  # a summary that never varies: plain difference
    distance = np.sqrt(np.sum(((expected - observed) / scale) ** 2, axis=1))
    distance = np.where(np.isfinite(distance), distance, np.inf)
    best = int(np.argmin(distance))
    return Representative(index=best, distance=float(distance[best]), expected=expected[best])
