"""Prior distributions of calibrated parameters: sampling, density, and an unbounded scale.

Each prior knows its support, so that regression adjustment in ABC
(:mod:`cohortsim.calibration.abc`) can work on an unbounded scale — logit of the position in a
bounded support, log for a positive one — as ``abc(..., transf = "logit")`` does in the R package
*abc* (Csilléry, François & Blum 2012).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cohortsim.lazy import special, stats


@dataclass(frozen=True)
class Uniform:
    """Uniform on ``[low, high]``."""

    low: float
    high: float

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) * np.asarray(u)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        inside = (x >= self.low) & (x <= self.high)
        return np.where(inside, -math.log(self.high - self.low), -np.inf)

    def to_unbounded(self, x: np.ndarray) -> np.ndarray:
        return special.logit((np.asarray(x) - self.low) / (self.high - self.low))

    def from_unbounded(self, z: np.ndarray) -> np.ndarray:
        return self.low + (self.high - self.low) * special.expit(z)

    @property
    def median(self) -> float:
        return 0.5 * (self.low + self.high)

    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12.0

    def describe(self) -> str:
        return f"uniform({self.low:g}, {self.high:g})"


@dataclass(frozen=True)
class LogUniform:
    """Log-uniform on ``[low, high]`` (uniform on the log scale), ``0 < low < high``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise ValueError("need 0 < low < high")

    @property
    def _log(self) -> Uniform:
        return Uniform(math.log(self.low), math.log(self.high))

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.exp(self._log.ppf(u))

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return self._log.logpdf(np.log(x)) - np.log(x)

    def to_unbounded(self, x: np.ndarray) -> np.ndarray:
        return self._log.to_unbounded(np.log(x))

    def from_unbounded(self, z: np.ndarray) -> np.ndarray:
        return np.exp(self._log.from_unbounded(z))

    @property
    def median(self) -> float:
        return math.sqrt(self.low * self.high)

    def variance(self) -> float:
        """Variance of ``log x`` (the natural scale of a log-uniform parameter)."""
        return self._log.variance()

    def describe(self) -> str:
        return f"log-uniform({self.low:g}, {self.high:g})"


@dataclass(frozen=True)
class Beta:
    """Beta(``a``, ``b``) on ``[0, 1]``."""

    a: float
    b: float

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return special.betaincinv(self.a, self.b, np.asarray(u, dtype=float))

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        return stats.beta.logpdf(x, self.a, self.b)

    def to_unbounded(self, x: np.ndarray) -> np.ndarray:
        return special.logit(np.asarray(x))

    def from_unbounded(self, z: np.ndarray) -> np.ndarray:
        return special.expit(z)

    @property
    def median(self) -> float:
        return float(self.ppf(np.array(0.5)))

    def variance(self) -> float:
        a, b = self.a, self.b
        return a * b / ((a + b) ** 2 * (a + b + 1))

    def describe(self) -> str:
        return f"beta({self.a:g}, {self.b:g})"


@dataclass(frozen=True)
class LogNormal:
    """Log-normal with median ``median`` and log-scale SD ``sigma``."""

    median_value: float
    sigma: float

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.median_value * np.exp(self.sigma * special.ndtri(np.asarray(u, dtype=float)))

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        return stats.lognorm.logpdf(x, self.sigma, scale=self.median_value)

    def to_unbounded(self, x: np.ndarray) -> np.ndarray:
        return np.log(np.asarray(x))

    def from_unbounded(self, z: np.ndarray) -> np.ndarray:
        return np.exp(z)

    @property
    def median(self) -> float:
        return self.median_value

    def variance(self) -> float:
        """Variance of ``log x``."""
        return self.sigma**2

    def describe(self) -> str:
        return f"log-normal(median {self.median_value:g}, sd of log {self.sigma:g})"


@dataclass(frozen=True)
class PowerLaw:
    """Density proportional to ``x**power`` on ``[low, high]`` (``0 < low``).

    ``power = -0.5`` is the Jeffreys prior of a Poisson (or exponential) rate, truncated.
    """

    power: float
    low: float
    high: float

    def _cdf_terms(self) -> tuple[float, float]:
        p = self.power + 1.0
        return self.low**p, self.high**p

    def ppf(self, u: np.ndarray) -> np.ndarray:
        p = self.power + 1.0
        lo, hi = self._cdf_terms()
        return (lo + np.asarray(u) * (hi - lo)) ** (1.0 / p)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        p = self.power + 1.0
        lo, hi = self._cdf_terms()
        inside = (x >= self.low) & (x <= self.high)
        with np.errstate(divide="ignore"):
            value = math.log(p / (hi - lo)) + self.power * np.log(x)
        return np.where(inside, value, -np.inf)

    def to_unbounded(self, x: np.ndarray) -> np.ndarray:
        return LogUniform(self.low, self.high).to_unbounded(x)

    def from_unbounded(self, z: np.ndarray) -> np.ndarray:
        return LogUniform(self.low, self.high).from_unbounded(z)

    @property
    def median(self) -> float:
        return float(self.ppf(np.array(0.5)))

    def variance(self) -> float:
        """Variance of ``log x`` (by quadrature on a fine grid of the CDF)."""
        u = (np.arange(20_000) + 0.5) / 20_000
        logs = np.log(self.ppf(u))
        return float(np.var(logs))

    def describe(self) -> str:
        return f"density ∝ x^{self.power:g} on [{self.low:g}, {self.high:g}]"


Prior = Uniform | LogUniform | Beta | LogNormal | PowerLaw
"""Any prior of this module."""

LOG_SCALE = (LogUniform, LogNormal, PowerLaw)
"""Priors whose spread is measured on the log scale (see :func:`contraction`)."""


def contraction(prior: Prior, draws: np.ndarray) -> float:
    """Posterior contraction ``1 − Var(posterior) / Var(prior)``.

    On the log scale for log-scale priors. 0: the data told nothing; 1: the parameter is pinned
    down (Schad, Betancourt & Vasishth 2021, *Psychological Methods* 26:103).
    """
    draws = np.asarray(draws, dtype=float)
    values = np.log(draws) if isinstance(prior, LOG_SCALE) else draws
    return float(1.0 - np.var(values) / prior.variance())
