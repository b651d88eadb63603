"""Binomial summaries of Monte Carlo results: power estimates, their MC error and intervals.

A simulated power (or type I error) is a binomial proportion: ``successes`` rejections out of
``n`` independent replicates. All functions are vectorised: pass arrays to summarise many
design points at once.
"""

from __future__ import annotations

import numpy as np

from cohortsim.lazy import stats

from ._common import check_confidence, z_critical
from .results import PowerEstimate

__all__ = ["clopper_pearson_interval", "power_estimate", "power_mcse", "wilson_interval"]

_METHODS = ("wilson", "clopper-pearson")


def _counts(successes: object, n: object) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(successes, dtype=float)
    m = np.asarray(n, dtype=float)
    if np.any(m <= 0):
        raise ValueError("n must be positive")
    if np.any((x < 0) | (x > m)):
        raise ValueError("successes must lie between 0 and n")
    return x, m


def power_mcse(successes: object, n: object) -> np.ndarray | float:
    """Monte Carlo standard error of a simulated rejection rate.

    Parameters
    ----------
    successes : array_like of int
        Number of replicates that rejected the null hypothesis.
    n : array_like of int
        Number of replicates (> 0).

    Returns
    -------
    float or ndarray
        sqrt(p (1 - p) / n) with p = successes / n (a proportion, no unit).
    """
    x, m = _counts(successes, n)
    p = x / m
    return np.sqrt(p * (1.0 - p) / m)[()]


def wilson_interval(
    successes: object, n: object, confidence: float = 0.95
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes, n : array_like of int
        Successes out of n trials (broadcast together).
    confidence : float
        Two-sided confidence level.

    Returns
    -------
    (low, high) : tuple of float or ndarray
        Interval limits (proportions in [0, 1]).
    """
    x, m = _counts(successes, n)
    z = z_critical(confidence)
    p = x / m
    centre = (x + z**2 / 2.0) / (m + z**2)
    half = z * np.sqrt(m) / (m + z**2) * np.sqrt(p * (1.0 - p) + z**2 / (4.0 * m))
    return np.clip(centre - half, 0.0, 1.0)[()], np.clip(centre + half, 0.0, 1.0)[()]


def clopper_pearson_interval(
    successes: object, n: object, confidence: float = 0.95
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Clopper-Pearson ("exact") interval for a binomial proportion.

    Uses the beta-quantile form: low = B(a/2; x, n - x + 1), high = B(1 - a/2; x + 1, n - x),
    with low = 0 when x = 0 and high = 1 when x = n.

    Parameters
    ----------
    successes, n : array_like of int
        Successes out of n trials (broadcast together).
    confidence : float
        Two-sided confidence level.

    Returns
    -------
    (low, high) : tuple of float or ndarray
        Interval limits (proportions in [0, 1]).
    """
    x, m = _counts(successes, n)
    a = 1.0 - check_confidence(confidence)
    with np.errstate(invalid="ignore"):
        low = np.where(x > 0, stats.beta.ppf(a / 2.0, np.maximum(x, 1.0), m - x + 1.0), 0.0)
        high = np.where(x < m, stats.beta.ppf(1.0 - a / 2.0, x + 1.0, np.maximum(m - x, 1.0)), 1.0)
    return low[()], high[()]


def power_estimate(
    successes: int, n: int, confidence: float = 0.95, method: str = "wilson"
) -> PowerEstimate:
    """Summarise a simulated rejection rate with its MC standard error and interval.

    Parameters
    ----------
    successes : int
        Replicates that rejected the null hypothesis.
    n : int
        Replicates simulated.
    confidence : float
        Level of the interval.
    method : {"wilson", "clopper-pearson"}
        Interval method. Wilson is recommended for reporting (close to nominal coverage);
        Clopper-Pearson is conservative.

    Returns
    -------
    PowerEstimate
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    interval = wilson_interval if method == "wilson" else clopper_pearson_interval
    low, high = interval(successes, n, confidence)
    return PowerEstimate(
        estimate=float(successes) / float(n),
        mcse=float(power_mcse(successes, n)),
        ci_low=float(low),
        ci_high=float(high),
        successes=int(successes),
        n=int(n),
        method=method,
        confidence=confidence,
    )
