"""Distributions of baseline covariates, sampled by inversion of uniforms.

Inversion (``x = F⁻¹(u)``) keeps one uniform per patient per covariate, so that truncation is
exact, both engines read the same draws, and a patient keeps their covariates when a trial grows.
Each distribution knows its own mean and variance (after truncation and rounding) so that one
generic test can compare theory with many draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cohortsim.lazy import special

FloatArray = NDArray[np.float64]
DistributionKind = Literal["normal", "lognormal", "gamma", "uniform", "fixed"]


@dataclass(frozen=True)
class CovariateDistribution:
    """A continuous (optionally rounded, optionally truncated) distribution.

    Parameters
    ----------
    kind : {"normal", "lognormal", "gamma", "uniform", "fixed"}
        Family. ``lognormal`` and ``gamma`` are parameterised by their arithmetic ``mean`` and
        ``sd`` (moment matching), as papers report them.
    mean, sd : float, optional
        Untruncated mean and standard deviation (``normal``, ``lognormal``, ``gamma``).
    minimum, maximum : float, optional
        Truncation bounds (for ``uniform``: the support). ``None`` = unbounded.
    value : float, optional
        The constant of ``fixed``.
    integer : bool
        Round to the nearest integer after drawing (bounds are applied first and are rounded
        inwards, so the result stays inside them).
    """

    kind: DistributionKind
    mean: float | None = None
    sd: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    value: float | None = None
    integer: bool = False

    def __post_init__(self) -> None:
        if self.kind in ("normal", "lognormal", "gamma"):
            if self.mean is None or self.sd is None or not self.sd > 0:
                raise ValueError(f"{self.kind} needs mean and sd > 0")
            if self.kind in ("lognormal", "gamma") and not self.mean > 0:
                raise ValueError(f"{self.kind} needs mean > 0")
        elif self.kind == "uniform":
            if self.minimum is None or self.maximum is None or not self.maximum > self.minimum:
                raise ValueError("uniform needs minimum < maximum")
        elif self.kind == "fixed":
            if self.value is None:
                raise ValueError("fixed needs value")
        else:
            raise ValueError(f"unknown distribution {self.kind!r}")
        if (
            self.minimum is not None
            and self.maximum is not None
            and not self.maximum > self.minimum
        ):
            raise ValueError("maximum must exceed minimum")

    # -- the untruncated family -------------------------------------------------------------
    # Log-normal and gamma CDF and quantile written with scipy.special, as scipy.stats.lognorm
    # and scipy.stats.gamma evaluate them (the same values, tested against scipy.stats), so that
    # loading a scenario does not import scipy.stats (~0.4 s).
    def _lognormal(self) -> tuple[float, float]:
        """Log-scale SD and scale (the median) matching the stated mean and SD."""
        assert self.mean is not None and self.sd is not None
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        return math.sqrt(sigma2), self.mean * math.exp(-sigma2 / 2)

    def _gamma(self) -> tuple[float, float]:
        """Shape and scale matching the stated mean and SD."""
        assert self.mean is not None and self.sd is not None
        return (self.mean / self.sd) ** 2, self.sd**2 / self.mean

    def _cdf(self, x: float) -> float:
        if self.kind == "lognormal":
            s, scale = self._lognormal()
            y = x / scale
            return float(special.ndtr(np.log(y) / s)) if y > 0 else 0.0
        shape, scale = self._gamma()
        y = x / scale
        return float(special.gammainc(shape, y)) if y > 0 else 0.0

    def _ppf(self, q: np.ndarray) -> np.ndarray:
        if self.kind == "lognormal":
            s, scale = self._lognormal()
            return np.exp(s * special.ndtri(q)) * scale
        shape, scale = self._gamma()
        return special.gammaincinv(shape, q) * scale

    def _bounds(self) -> tuple[float, float]:
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        if self.integer:
            # Integer k comes from draws in [k − 0.5, k + 0.5): truncate on that scale.
            if math.isfinite(low):
                low = math.ceil(low) - 0.5
            if math.isfinite(high):
                high = math.floor(high) + 0.5 - 1e-9
        return low, high

    def ppf(self, uniforms: ArrayLike) -> FloatArray:
        """Map uniforms in (0, 1) to draws (vectorised)."""
        u = np.asarray(uniforms, dtype=float)
        if self.kind == "fixed":
            assert self.value is not None
            x = np.full(u.shape, float(self.value))
        elif self.kind == "uniform":
            assert self.minimum is not None and self.maximum is not None
            x = self.minimum + u * (self.maximum - self.minimum)
        elif self.kind == "normal":
            assert self.mean is not None and self.sd is not None
            low, high = self._bounds()
            p_low = special.ndtr((low - self.mean) / self.sd)
            p_high = special.ndtr((high - self.mean) / self.sd)
            x = self.mean + self.sd * special.ndtri(p_low + u * (p_high - p_low))
            x = np.clip(x, low, high)
        else:
            low, high = self._bounds()
            p_low = self._cdf(low) if math.isfinite(low) else 0.0
            p_high = self._cdf(high) if math.isfinite(high) else 1.0
            x = np.clip(self._ppf(p_low + u * (p_high - p_low)), low, high)
        if self.integer:
            x = np.floor(x + 0.5)
        return x

    def moments(self) -> tuple[float, float]:
        """Mean and variance after truncation and rounding, by numerical integration."""
        if self.kind == "fixed":
            assert self.value is not None
            v = float(np.floor(self.value + 0.5)) if self.integer else float(self.value)
            return v, 0.0
        # Midpoint rule on the uniform scale is exact enough for tests (error ≪ MC error).
        grid = (np.arange(200_000) + 0.5) / 200_000
        x = self.ppf(grid)
        return float(x.mean()), float(x.var())

    def describe(self) -> str:
        parts = {
            "normal": f"normal(mean {self.mean}, sd {self.sd})",
            "lognormal": f"log-normal(mean {self.mean}, sd {self.sd})",
            "gamma": f"gamma(mean {self.mean}, sd {self.sd})",
            "uniform": f"uniform({self.minimum}, {self.maximum})",
            "fixed": f"fixed {self.value}",
        }
        text = parts[self.kind]
        if self.kind not in ("uniform", "fixed") and (
            self.minimum is not None or self.maximum is not None
        ):
            text += f" truncated to [{self.minimum}, {self.maximum}]"
        return text + (", rounded to integers" if self.integer else "")
