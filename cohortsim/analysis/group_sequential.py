"""Group-sequential boundaries by Lan-DeMets alpha spending.

The standardised statistics Z_1, ..., Z_K at information fractions t_1 < ... < t_K = 1 follow
the canonical joint distribution: Z_k ~ N(drift sqrt(t_k), 1) with
Corr(Z_j, Z_k) = sqrt(t_j / t_k), where ``drift`` is the expected z at full information.
Boundary-crossing probabilities are computed by the recursive numerical integration of
Armitage, McPherson & Rowe (1969) in the form given by Jennison & Turnbull (2000, ch. 19):
the sub-density of Z_k on the continuation region is carried from look to look on a grid
that is dense near the mean, and integrated with Simpson's rule.

Orientation: large positive z favours the treatment. For a log-rank or Cox z where a lower
hazard is the benefit, compare -z with the boundaries.

Spending functions (``alpha`` = total type I error to spend, one-sided for ``sides=1``,
two-sided for ``sides=2``):

* O'Brien-Fleming type: alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)).
* Pocock type: alpha(t) = alpha log(1 + (e - 1) t).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np

from cohortsim.lazy import optimize, stats

from .results import BoundaryCrossing, GroupSequentialBoundaries

__all__ = [
    "crossing_probabilities",
    "lan_demets_boundaries",
    "obrien_fleming_spending",
    "pocock_spending",
]

_SPENDING = ("obrien-fleming", "pocock")


def obrien_fleming_spending(t: object, alpha: float) -> float | np.ndarray:
    """Lan-DeMets O'Brien-Fleming-type spending function.

    Parameters
    ----------
    t : array_like of float
        Information fractions in [0, 1].
    alpha : float
        Total alpha spent at t = 1.

    Returns
    -------
    float or ndarray
        Cumulative alpha spent, 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)) (0 at t = 0).
    """
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore"):
        spent = 2.0 * stats.norm.sf(stats.norm.isf(alpha / 2.0) / np.sqrt(t))
    return np.where(t > 0, spent, 0.0)[()]


def pocock_spending(t: object, alpha: float) -> float | np.ndarray:
    """Lan-DeMets Pocock-type spending function, alpha log(1 + (e - 1) t).

    Parameters
    ----------
    t : array_like of float
        Information fractions in [0, 1].
    alpha : float
        Total alpha spent at t = 1.

    Returns
    -------
    float or ndarray
        Cumulative alpha spent.
    """
    t = np.asarray(t, dtype=float)
    return (alpha * np.log1p((np.e - 1.0) * t))[()]


# --------------------------------------------------------------------------- integration


def _grid(mean: float, low: float, high: float, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Simpson nodes and weights on (low, high) for a density centred at ``mean``.

    Jennison & Turnbull (2000) section 19.2.1: 6r - 1 points, evenly spaced within 3 SD of
    the mean and spreading out logarithmically to about 3 + 4 log r SD, trimmed to the
    interval, with midpoints added for Simpson's rule.
    """
    i = np.arange(1, r)
    x = np.concatenate(
        [
            mean - 3.0 - 4.0 * np.log(r / i),
            mean - 3.0 + 3.0 * np.arange(4 * r + 1) / (2.0 * r),
            mean + 3.0 + 4.0 * np.log(r / i[::-1]),
        ]
    )
    if x[0] < low:
        x = np.concatenate([[low], x[x > low]])
    if x[-1] > high:
        x = np.concatenate([x[x < high], [high]])
    if x.size < 2:
        return x, np.zeros_like(x)
    nodes = np.empty(2 * x.size - 1)
    nodes[0::2] = x
    nodes[1::2] = (x[1:] + x[:-1]) / 2.0
    widths = np.diff(x)
    weights = np.zeros_like(nodes)
    weights[0:-1:2] += widths / 6.0
    weights[1::2] += 4.0 * widths / 6.0
    weights[2::2] += widths / 6.0
    return nodes, weights


class _Recursion:
    """Sub-density of Z_k on the continuation region, advanced one look at a time."""

    def __init__(self, fractions: np.ndarray, drift: float, r: int) -> None:
        self.t = fractions
        self.drift = drift
        self.r = r
        self.k = -1
        self.nodes = np.empty(0)
        self.density = np.empty(0)  # sub-density times Simpson weights

    def _conditional(self, z_grid: np.ndarray, k: int) -> tuple[np.ndarray, float]:
        """Standardised location of z_grid at look k given each previous node, and its scale."""
        t_prev, t_now = self.t[k - 1], self.t[k]
        delta = t_now - t_prev
        mean = self.nodes * np.sqrt(t_prev) + self.drift * delta
        return (z_grid[None, :] * np.sqrt(t_now) - mean[:, None]) / np.sqrt(delta), delta

    def cross(self, k: int, upper: float, lower: float) -> tuple[float, float]:
        """P(continue to look k, then Z_k >= upper) and P(..., Z_k <= lower)."""
        if k == 0:
            mean = self.drift * np.sqrt(self.t[0])
            return float(stats.norm.sf(upper - mean)), float(stats.norm.cdf(lower - mean))
        std_up, _ = self._conditional(np.array([upper]), k)
        std_low, _ = self._conditional(np.array([lower]), k)
        return (
            float(self.density @ stats.norm.sf(std_up[:, 0])),
            float(self.density @ stats.norm.cdf(std_low[:, 0])),
        )

    def advance(self, k: int, lower: float, upper: float) -> None:
        """Move to look k, keeping the sub-density on the continuation region (lower, upper)."""
        mean = self.drift * np.sqrt(self.t[k])
        nodes, weights = _grid(mean, lower, upper, self.r)
        if k == 0:
            dens = stats.norm.pdf(nodes - mean)
        else:
            std, delta = self._conditional(nodes, k)
            dens = self.density @ stats.norm.pdf(std) * np.sqrt(self.t[k] / delta)
        self.k, self.nodes, self.density = k, nodes, dens * weights


def _check_fractions(information_fractions: Sequence[float]) -> np.ndarray:
    t = np.asarray(information_fractions, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError("information_fractions must be a non-empty 1-D sequence")
    if np.any(t <= 0) or np.any(np.diff(t) <= 0) or not np.isclose(t[-1], 1.0):
        raise ValueError("information_fractions must increase strictly from > 0 to 1")
    t[-1] = 1.0
    return t


@overload
def _futility_bounds(futility: None, efficacy: np.ndarray) -> None: ...
@overload
def _futility_bounds(futility: float | Sequence[float], efficacy: np.ndarray) -> np.ndarray: ...
def _futility_bounds(
    futility: float | Sequence[float] | None, efficacy: np.ndarray
) -> np.ndarray | None:
    if futility is None:
        return None
    k = efficacy.size
    f = np.broadcast_to(np.asarray(futility, dtype=float), (k - 1,)) if k > 1 else np.empty(0)
    if np.any(f >= efficacy[:-1]):
        raise ValueError("futility thresholds must lie below the efficacy boundaries")
    return np.concatenate([f, efficacy[-1:]])  # at the last look the two coincide


def lan_demets_boundaries(
    information_fractions: Sequence[float],
    alpha: float = 0.025,
    sides: int = 1,
    spending: str = "obrien-fleming",
    futility: float | Sequence[float] | None = None,
    grid_r: int = 32,
) -> GroupSequentialBoundaries:
    """Efficacy boundaries from a Lan-DeMets spending function.

    At look k the boundary c_k solves P(no crossing before k, Z_k >= c_k) =
    alpha(t_k) - alpha(t_{k-1}) under the null (for ``sides=2``, crossing either +/- c_k).

    Parameters
    ----------
    information_fractions : sequence of float
        t_1 < ... < t_K = 1 (e.g. events at each look / events at the final analysis).
    alpha : float
        Total type I error: one-sided for ``sides=1``, two-sided for ``sides=2``.
    sides : {1, 2}
        One-sided (upper boundary only) or symmetric two-sided boundaries.
    spending : {"obrien-fleming", "pocock"}
        Lan-DeMets spending-function type.
    futility : float or sequence of float, optional
        Non-binding futility thresholds on z at the interim looks (one value for all, or one
        per interim look); the final futility value equals the final efficacy boundary.
        Non-binding: they do not change the efficacy boundaries, so the type I error stays
        at most ``alpha`` whether or not they are obeyed. One-sided designs only.
    grid_r : int
        Grid-size parameter r of the numerical integration (6r - 1 points; 16 or more gives
        boundaries accurate to about 1e-6).

    Returns
    -------
    GroupSequentialBoundaries

    Examples
    --------
    One-sided alpha 0.025, O'Brien-Fleming type, looks at t = (0.5, 1): z = (2.963, 1.969).
    """
    t = _check_fractions(information_fractions)
    if sides not in (1, 2):
        raise ValueError(f"sides must be 1 or 2, got {sides}")
    if spending not in _SPENDING:
        raise ValueError(f"spending must be one of {_SPENDING}, got {spending!r}")
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie strictly between 0 and 1")
    if futility is not None and sides != 1:
        raise ValueError("futility thresholds are supported for one-sided designs only")
    spend = obrien_fleming_spending if spending == "obrien-fleming" else pocock_spending
    cumulative = np.asarray(spend(t, alpha), dtype=float)
    increments = np.diff(np.concatenate([[0.0], cumulative]))

    rec = _Recursion(t, drift=0.0, r=grid_r)
    bounds = np.empty(t.size)
    for k in range(t.size):

        def excess(c: float, k: int = k) -> float:
            up, low = rec.cross(k, c, -c)
            return (up + (low if sides == 2 else 0.0)) - increments[k]

        bounds[k] = optimize.brentq(excess, 0.0, 40.0, xtol=1e-12, rtol=1e-12)
        rec.advance(k, -bounds[k] if sides == 2 else -np.inf, bounds[k])

    nominal = stats.norm.sf(bounds) * sides
    return GroupSequentialBoundaries(
        information_fractions=tuple(float(x) for x in t),
        efficacy=tuple(float(x) for x in bounds),
        futility=None
        if futility is None
        else tuple(float(x) for x in _futility_bounds(futility, bounds)),
        cumulative_alpha=tuple(float(x) for x in cumulative),
        nominal_pvalues=tuple(float(x) for x in nominal),
        alpha=float(alpha),
        sides=sides,
        spending=spending,
    )


def crossing_probabilities(
    design: GroupSequentialBoundaries, drift: float = 0.0, grid_r: int = 32
) -> BoundaryCrossing:
    """Probabilities of stopping at each look of a design, for a given drift.

    Parameters
    ----------
    design : GroupSequentialBoundaries
        Boundaries from :func:`lan_demets_boundaries`. Futility thresholds, if present, are
        taken as obeyed (so the result is the power of a design that stops for futility).
    drift : float
        Expected z at full information (t = 1), e.g. sqrt(D p (1 - p)) |log HR| for a
        log-rank test with D events at the final analysis. 0 gives the null hypothesis.
    grid_r : int
        Grid-size parameter of the numerical integration.

    Returns
    -------
    BoundaryCrossing
        Per-look probabilities of rejecting the null (crossing the efficacy boundary; for
        two-sided designs either side) and of stopping without rejecting it (a futility stop
        at an interim look; not crossing at the last look). Together they sum to 1.
    """
    t = np.asarray(design.information_fractions)
    upper = np.asarray(design.efficacy)
    if design.sides == 2:
        lower = -upper
    elif design.futility is not None:
        lower = np.asarray(design.futility)
    else:
        lower = np.full(t.size, -np.inf)
    rec = _Recursion(t, drift=float(drift), r=grid_r)
    efficacy = np.empty(t.size)
    futility = np.zeros(t.size)
    for k in range(t.size):
        up, low = rec.cross(k, upper[k], lower[k])
        if k + 1 == t.size:
            efficacy[k] = up + (low if design.sides == 2 else 0.0)
            futility[k] = 1.0 - efficacy.sum() - futility[:k].sum()
            break
        if design.sides == 2:
            efficacy[k] = up + low
        else:
            efficacy[k], futility[k] = up, low
        rec.advance(k, lower[k], upper[k])
    return BoundaryCrossing(
        efficacy=tuple(float(x) for x in efficacy),
        futility=tuple(float(x) for x in futility),
        drift=float(drift),
        information_fractions=tuple(float(x) for x in t),
    )
