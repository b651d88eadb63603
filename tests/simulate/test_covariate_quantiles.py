"""Covariate quantiles written with scipy.special equal scipy.stats' own, value for value.

``cohortsim.distributions`` evaluates the log-normal and gamma CDF and quantile with
``scipy.special`` (to keep ``scipy.stats`` out of start-up); the reference is the frozen
``scipy.stats.lognorm`` / ``scipy.stats.gamma`` it used before, with the same truncation and
rounding. Equality is exact: seeded outputs must not move.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from cohortsim.distributions import CovariateDistribution


def _reference(kind: str, mean: float, sd: float, low: float | None, high: float | None,
               integer: bool, u: np.ndarray) -> np.ndarray:
    if kind == "lognormal":
        sigma2 = math.log1p((sd / mean) ** 2)
        frozen = stats.lognorm(s=math.sqrt(sigma2), scale=mean * math.exp(-sigma2 / 2))
    else:
        frozen = stats.gamma(a=(mean / sd) ** 2, scale=sd**2 / mean)
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    if integer:
        lo = math.ceil(lo) - 0.5 if math.isfinite(lo) else lo
        hi = math.floor(hi) + 0.5 - 1e-9 if math.isfinite(hi) else hi
    p_low = frozen.cdf(lo) if math.isfinite(lo) else 0.0
    p_high = frozen.cdf(hi) if math.isfinite(hi) else 1.0
    x = np.clip(frozen.ppf(p_low + u * (p_high - p_low)), lo, hi)
    return np.floor(x + 0.5) if integer else x


@pytest.mark.parametrize("kind", ["lognormal", "gamma"])
@pytest.mark.parametrize(("mean", "sd"), [(2505.0, 1323.9), (150.0, 150.0), (0.068, 0.017),
                                          (3.0, 10.0)])
@pytest.mark.parametrize(("low", "high", "integer"), [(None, None, False), (10.0, 5000.0, False),
                                                      (None, 4000.0, True), (0.0, None, False)])
def test_quantiles_equal_scipy_stats(kind: str, mean: float, sd: float, low: float | None,
                                     high: float | None, integer: bool) -> None:
    u = np.random.default_rng(20104).random(50_000)
    u[:2] = [0.0, 0.5]
    dist = CovariateDistribution(kind=kind, mean=mean, sd=sd, minimum=low, maximum=high,
                                 integer=integer)
    with np.errstate(all="ignore"):
        assert np.array_equal(dist.ppf(u), _reference(kind, mean, sd, low, high, integer, u))
