"""Hazard functions for time-to-event processes (relapse, dropout, death).

Every hazard is normalised to one of two shapes, whatever way a planner entered it
(rate, median, "x% event-free at t", hazard ratio against another arm):

* :class:`PiecewiseConstantHazard` — rates per month on consecutive periods; a single period is
  the exponential model;
* :class:`WeibullHazard` — ``h(t) = (k / λ) (t / λ)^(k − 1)``.

Event times are drawn by inversion of the cumulative hazard, ``T = H⁻¹(E)`` with
``E ~ Exp(1)``, so that a given unit exponential always maps to the same time and both engines
consume identical draws. Time ``t`` is months since the patient's treatment start (enrolment).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


class Hazard(Protocol):
    """What the engines need from a hazard: cumulative hazard and its inverse (per month)."""

    def cumulative(self, t_months: ArrayLike) -> FloatArray: ...

    def inverse_cumulative(self, cumulative_hazard: ArrayLike) -> FloatArray: ...

    def hazard_per_month(self, t_months: ArrayLike) -> FloatArray: ...

    def scaled(self, hazard_ratio: float) -> Hazard: ...

    def describe(self) -> str: ...


def is_zero(hazard: Hazard) -> bool:
    """True when the hazard is identically zero (the event never happens)."""
    return isinstance(hazard, PiecewiseConstantHazard) and not any(hazard.rates_per_month)


def survival(hazard: Hazard, t_months: ArrayLike) -> FloatArray:
    """Event-free probability ``S(t) = exp(−H(t))``."""
    return np.exp(-hazard.cumulative(t_months))


def median_months(hazard: Hazard) -> float:
    """Median time to event in months (``inf`` when ``S`` never falls to 0.5)."""
    return float(hazard.inverse_cumulative(math.log(2.0)))


@dataclass(frozen=True)
class PiecewiseConstantHazard:
    """Piecewise-constant hazard.

    Parameters
    ----------
    rates_per_month : tuple of float
        Hazard on each period, events per month, each ≥ 0.
    breakpoints_months : tuple of float
        Ends of all periods but the last (strictly increasing, > 0); the last period is
        open-ended. ``len(breakpoints_months) == len(rates_per_month) - 1``.
    """

    rates_per_month: tuple[float, ...]
    breakpoints_months: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.breakpoints_months) != len(self.rates_per_month) - 1:
            raise ValueError("need exactly one breakpoint fewer than rates")
        if any(r < 0 or not math.isfinite(r) for r in self.rates_per_month):
            raise ValueError("hazard rates must be finite and >= 0")
        edges = (0.0, *self.breakpoints_months)
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("breakpoints must be strictly increasing and > 0")

    @property
    def _starts(self) -> FloatArray:
        return np.array((0.0, *self.breakpoints_months))

    @property
    def _cumulative_at_starts(self) -> FloatArray:
        starts = self._starts
        widths = np.diff(starts)
        rates = np.array(self.rates_per_month)
        return np.concatenate(([0.0], np.cumsum(rates[:-1] * widths)))

    def hazard_per_month(self, t_months: ArrayLike) -> FloatArray:
        t = np.asarray(t_months, dtype=float)
        period = np.searchsorted(self._starts, t, side="right") - 1
        return np.array(self.rates_per_month)[np.clip(period, 0, None)]

    def cumulative(self, t_months: ArrayLike) -> FloatArray:
        t = np.maximum(np.asarray(t_months, dtype=float), 0.0)
        starts = self._starts
        period = np.searchsorted(starts, t, side="right") - 1
        rates = np.array(self.rates_per_month)
        return self._cumulative_at_starts[period] + rates[period] * (t - starts[period])

    def inverse_cumulative(self, cumulative_hazard: ArrayLike) -> FloatArray:
        h = np.asarray(cumulative_hazard, dtype=float)
        at_starts = self._cumulative_at_starts
        rates = np.array(self.rates_per_month)
        # The last period whose starting cumulative hazard is <= h contains the answer;
        # zero-rate periods have equal neighbours and are skipped by side="right".
        period = np.searchsorted(at_starts, h, side="right") - 1
        rate = rates[period]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t = self._starts[period] + (h - at_starts[period]) / rate
        return np.where(rate > 0, t, np.inf)

    def scaled(self, hazard_ratio: float) -> PiecewiseConstantHazard:
        return PiecewiseConstantHazard(
            tuple(r * hazard_ratio for r in self.rates_per_month), self.breakpoints_months
        )

    def describe(self) -> str:
        if len(self.rates_per_month) == 1:
            rate = self.rates_per_month[0]
            median = math.log(2) / rate if rate > 0 else math.inf
            return f"exponential, {rate:.5g}/month (median {median:.4g} months)"
        periods = ", ".join(
            f"{r:.4g}/month from {s:.4g}"
            for r, s in zip(self.rates_per_month, self._starts, strict=True)
        )
        return f"piecewise-constant: {periods}"


@dataclass(frozen=True)
class WeibullHazard:
    """Weibull hazard ``H(t) = (t / scale)^shape``.

    Parameters
    ----------
    shape : float
        Shape ``k`` > 0 (``k > 1`` rising hazard, ``k < 1`` falling).
    scale_months : float
        Scale ``λ`` > 0, months (the time by which 63.2% have had the event).
    """

    shape: float
    scale_months: float

    def __post_init__(self) -> None:
        if not (self.shape > 0 and self.scale_months > 0):
            raise ValueError("Weibull shape and scale must be > 0")

    def hazard_per_month(self, t_months: ArrayLike) -> FloatArray:
        t = np.maximum(np.asarray(t_months, dtype=float), 0.0)
        k, lam = self.shape, self.scale_months
        with np.errstate(divide="ignore"):
            return (k / lam) * (t / lam) ** (k - 1)

    def cumulative(self, t_months: ArrayLike) -> FloatArray:
        t = np.maximum(np.asarray(t_months, dtype=float), 0.0)
        # np.power, not **: a 0-d operand would otherwise go through Python's pow, which rounds
        # differently from NumPy's array loop and would make the engines disagree.
        return np.power(t / self.scale_months, self.shape)

    def inverse_cumulative(self, cumulative_hazard: ArrayLike) -> FloatArray:
        h = np.asarray(cumulative_hazard, dtype=float)
        return self.scale_months * np.power(h, 1.0 / self.shape)

    def scaled(self, hazard_ratio: float) -> Hazard:
        if hazard_ratio == 0:
            return PiecewiseConstantHazard((0.0,))
        return WeibullHazard(self.shape, self.scale_months * hazard_ratio ** (-1.0 / self.shape))

    def describe(self) -> str:
        median = self.scale_months * math.log(2) ** (1 / self.shape)
        return (
            f"Weibull, shape {self.shape:.4g}, scale {self.scale_months:.4g} months "
            f"(median {median:.4g} months)"
        )


NO_HAZARD = PiecewiseConstantHazard((0.0,))
