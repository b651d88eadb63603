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
    """The point estimate chosen by :func:`representative_point`.

    Attributes
    ----------
    values : (P,) float
        The point, in the candidates' coordinates.
    distance : float
        Scaled distance of its expected summaries from the observed ones, estimated from fresh
        simulated data sets.
    expected : (S,) float
        Its expected summaries, from the same fresh data sets.
    near_best : int
        Candidates that fitted best, whose centre the point is.
    """

    values: np.ndarray
    distance: float
    expected: np.ndarray
    near_best: int


def _expected_summaries(
    simulate: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, replicates: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean summaries of ``replicates`` data sets per row (NaN left out), and the summaries'
    sampling SD at one data set (pooled over the rows)."""
    simulated = simulate(np.repeat(rows, replicates, axis=0))
    per_row = simulated.reshape(len(rows), replicates, -1)
    finite = np.isfinite(per_row)
    counted = finite.sum(axis=1)
    total = np.where(finite, per_row, 0.0).sum(axis=1)
    expected = np.where(counted > 0, total / np.maximum(counted, 1), np.nan)
    squares = np.where(finite, (per_row - expected[:, None, :]) ** 2, 0.0).sum(axis=(0, 1))
    pooled_df = np.maximum(counted - 1, 0).sum(axis=0)
    scale = np.sqrt(squares / np.maximum(pooled_df, 1))
    return expected, np.where(scale > 0, scale, 1.0)  # never varies: plain difference


def _distance(expected: np.ndarray, observed: np.ndarray, scale: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.sum(((expected - observed) / scale) ** 2, axis=-1))
    return np.where(np.isfinite(d), d, np.inf)


def representative_point(
    simulate: Callable[[np.ndarray], np.ndarray],
    candidates: np.ndarray,
    unbounded: np.ndarray,
    to_bounded: Callable[[np.ndarray], np.ndarray],
    observed: np.ndarray,
    replicates: int,
    near_share: float = 0.1,
    check_replicates: int = 1024,
) -> Representative:
    """A point estimate that reproduces the observed summaries in expectation: the centre of the
    posterior draws that fit them best.

    A posterior is summarised for simulation by one parameter vector. Marginal medians do not
    make a coherent vector: correlated parameters (class probabilities that share a simplex, a
    residual fraction traded against a class share) combine into a point whose simulated data
    miss the observations the draws reproduce. Nor does the single best-fitting draw: with small
    data many draws fit about equally well, and which one looks best is Monte Carlo luck (its
    values then change with the seed). So:

    1. each candidate's expected summaries are estimated from ``replicates`` data sets, and its
       distance from the observed ones measured in each summary's sampling SD (pooled);
    2. the best-fitting share ``near_share`` of candidates (at least 8) is kept;
    3. the point is their coordinate-wise median on the unbounded scale, mapped back by
       ``to_bounded`` — stable from seed to seed, since it is a median of many draws;
    4. its expected summaries and distance are estimated from ``check_replicates`` fresh data
       sets, so the reported fit is the point's own, not that of the draws it came from.

    Parameters
    ----------
    simulate : callable
        ``(M, P)`` parameter rows → ``(M, S)`` summaries of one simulated data set per row; each
        call must simulate fresh data sets.
    candidates : (C, P) float
        Posterior draws.
    unbounded : (C, P) float
        The same draws on an unbounded scale (e.g. logit/log).
    to_bounded : callable
        ``(P,)`` unbounded point → ``(P,)`` point in the candidates' coordinates.
    observed : (S,) float
        Observed summaries.
    replicates : int
        Data sets per candidate (≥ 2).
    near_share : float
        Share of candidates kept as the best-fitting.
    check_replicates : int
        Fresh data sets for the point's reported fit.

    Raises
    ------
    ValueError
        No candidate, fewer than two replicates, or no candidate gives every summary.
    """
    candidates = np.asarray(candidates, dtype=float)
    unbounded = np.asarray(unbounded, dtype=float)
    if replicates < 2 or len(candidates) == 0 or check_replicates < 1:
        raise ValueError("expected candidates, at least two replicates and one check replicate")
    if unbounded.shape != candidates.shape:
        raise ValueError("candidates and their unbounded coordinates must have the same shape")
    expected, scale = _expected_summaries(simulate, candidates, replicates)
    distance = _distance(expected, observed, scale)
    finite = int(np.isfinite(distance).sum())
    if finite == 0:
        raise ValueError("no candidate gives every summary: cannot choose a point estimate")
    size = min(max(8, round(near_share * len(candidates))), finite)
    near = np.argsort(distance, kind="stable")[:size]
    point = np.asarray(to_bounded(np.median(unbounded[near], axis=0)), dtype=float)
    fresh, _ = _expected_summaries(simulate, point[None, :], check_replicates)
    return Representative(
        values=point,
        distance=float(_distance(fresh[0], observed, scale)),
        expected=fresh[0],
        near_best=size,
    )
