"""Analytic sample sizes and powers, used to cross-check the simulation.

Normal-approximation formulas for the three endpoint types. Conventions shared by every
function:

* ``alpha`` is the total type I error and ``sides`` says how it is split: the critical value
  is z_{1 - alpha/sides}. Powers ignore the far rejection region of a two-sided test (its
  probability is negligible for any useful design), so each power function is the exact
  inverse of the matching size function.
* ``allocation`` is the randomisation ratio n_treatment / n_control (1 for 1:1, 2 for 2:1).
* Results are returned unrounded; round required sizes up (``math.ceil``) for a design.

All functions broadcast over array arguments.
"""

from __future__ import annotations

import numpy as np

from cohortsim.analysis.normal import ndtr, normal_quantile

__all__ = [
    "freedman_events",
    "freedman_power",
    "patients_from_events",
    "prob_event_exponential",
    "schoenfeld_events",
    "schoenfeld_power",
    "two_means_n",
    "two_means_power",
    "two_proportions_n",
    "two_proportions_power",
]


def _z_alpha(alpha: float, sides: int) -> np.ndarray:
    if sides not in (1, 2):
        raise ValueError(f"sides must be 1 or 2, got {sides}")
    a = np.asarray(alpha, dtype=float)
    if np.any((a <= 0) | (a >= 1)):
        raise ValueError("alpha must lie strictly between 0 and 1")
    return -_quantile(a / sides)


def _quantile(p: np.ndarray) -> np.ndarray:
    """Φ⁻¹ elementwise, the same doubles as ``scipy.special.ndtri`` (design parameters, a
    handful of values: a loop over them is fine)."""
    values = [normal_quantile(float(x)) for x in np.ravel(p)]
    return np.asarray(values, dtype=float).reshape(np.shape(p))


def _z_power(power: float) -> np.ndarray:
    p = np.asarray(power, dtype=float)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError("power must lie strictly between 0 and 1")
    return _quantile(p)


def _positive(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if np.any(a <= 0):
        raise ValueError(f"{name} must be positive")
    return a


def _hazard_ratio(hr: object) -> np.ndarray:
    h = _positive(hr, "hazard_ratio")
    if np.any(h == 1):
        raise ValueError("hazard_ratio must differ from 1")
    return h


def _treated_fraction(allocation: object) -> np.ndarray:
    k = _positive(allocation, "allocation")
    return k / (1.0 + k)


# --------------------------------------------------------------------------- survival


def schoenfeld_events(
    hazard_ratio: float,
    alpha: float = 0.05,
    power: float = 0.8,
    allocation: float = 1.0,
    sides: int = 2,
) -> float | np.ndarray:
    """Events required for the log-rank test, Schoenfeld's (1981) formula.

    D = (z_{1-alpha/sides} + z_{power})^2 / (p (1 - p) log(HR)^2), with p the fraction
    randomised to treatment.

    Parameters
    ----------
    hazard_ratio : float
        Hazard ratio treatment / control under the alternative (> 0, != 1).
    alpha : float
        Total type I error.
    power : float
        Target power.
    allocation : float
        n_treatment / n_control.
    sides : {1, 2}
        One- or two-sided test.

    Returns
    -------
    float or ndarray
        Required number of events (both arms together), unrounded.

    Examples
    --------
    HR 0.5, 1:1, two-sided alpha 0.05, power 0.8: 65.3, i.e. 66 events.
    """
    p = _treated_fraction(allocation)
    z = _z_alpha(alpha, sides) + _z_power(power)
    return (z**2 / (p * (1 - p) * np.log(_hazard_ratio(hazard_ratio)) ** 2))[()]


def schoenfeld_power(
    events: float,
    hazard_ratio: float,
    alpha: float = 0.05,
    allocation: float = 1.0,
    sides: int = 2,
) -> float | np.ndarray:
    """Power of the log-rank test with ``events`` events (inverse of :func:`schoenfeld_events`).

    power = Phi(sqrt(D p (1 - p)) |log HR| - z_{1-alpha/sides}).

    Parameters
    ----------
    events : float
        Number of events (both arms).
    hazard_ratio, alpha, allocation, sides
        As for :func:`schoenfeld_events`.

    Returns
    -------
    float or ndarray
        Power (probability).
    """
    p = _treated_fraction(allocation)
    drift = np.sqrt(_positive(events, "events") * p * (1 - p)) * np.abs(
        np.log(_hazard_ratio(hazard_ratio))
    )
    return ndtr(drift - _z_alpha(alpha, sides))[()]


def freedman_events(
    hazard_ratio: float,
    alpha: float = 0.05,
    power: float = 0.8,
    allocation: float = 1.0,
    sides: int = 2,
) -> float | np.ndarray:
    """Events required for the log-rank test, Freedman's (1982) formula.

    D = (z_{1-alpha/sides} + z_{power})^2 (1 + k HR)^2 / (k (1 - HR)^2), k = allocation.
    Larger than Schoenfeld's for the same design (e.g. 70.6 vs 65.3 events for HR 0.5).

    Parameters
    ----------
    hazard_ratio, alpha, power, allocation, sides
        As for :func:`schoenfeld_events`.

    Returns
    -------
    float or ndarray
        Required number of events (both arms together), unrounded.
    """
    hr = _hazard_ratio(hazard_ratio)
    k = _positive(allocation, "allocation")
    z = _z_alpha(alpha, sides) + _z_power(power)
    return (z**2 * (1 + k * hr) ** 2 / (k * (1 - hr) ** 2))[()]


def freedman_power(
    events: float,
    hazard_ratio: float,
    alpha: float = 0.05,
    allocation: float = 1.0,
    sides: int = 2,
) -> float | np.ndarray:
    """Power of the log-rank test by Freedman's formula (inverse of :func:`freedman_events`).

    power = Phi(sqrt(k D) |1 - HR| / (1 + k HR) - z_{1-alpha/sides}).

    Returns
    -------
    float or ndarray
        Power (probability).
    """
    hr = _hazard_ratio(hazard_ratio)
    k = _positive(allocation, "allocation")
    drift = np.sqrt(k * _positive(events, "events")) * np.abs(1 - hr) / (1 + k * hr)
    return ndtr(drift - _z_alpha(alpha, sides))[()]


def patients_from_events(events: float, prob_event: float) -> float | np.ndarray:
    """Patients needed so that ``events`` are expected, given each patient's event probability.

    Parameters
    ----------
    events : float
        Required number of events.
    prob_event : float
        Probability that a randomised patient has an observed event by the analysis
        (averaged over arms; see :func:`prob_event_exponential`).

    Returns
    -------
    float or ndarray
        events / prob_event, unrounded.
    """
    p = _positive(prob_event, "prob_event")
    if np.any(p > 1):
        raise ValueError("prob_event must not exceed 1")
    return (_positive(events, "events") / p)[()]


def prob_event_exponential(
    control_median: float,
    hazard_ratio: float,
    accrual: float,
    follow_up: float,
    allocation: float = 1.0,
) -> float | np.ndarray:
    """Probability of an observed event under exponential survival and uniform accrual.

    Patients enter uniformly over ``accrual`` and are analysed ``follow_up`` after the last
    entry (so follow-up runs from ``follow_up`` to ``accrual + follow_up``), without
    dropout. For hazard lambda, P = 1 - (exp(-lambda F) - exp(-lambda (A + F))) / (lambda A).

    Parameters
    ----------
    control_median : float
        Median event time in the control arm (time unit, e.g. months).
    hazard_ratio : float
        Treatment / control hazard ratio.
    accrual, follow_up : float
        Accrual duration A (> 0) and minimum follow-up F (>= 0), same unit as the median.
    allocation : float
        n_treatment / n_control, used to average the two arms.

    Returns
    -------
    float or ndarray
        Probability (both arms pooled).
    """
    a = _positive(accrual, "accrual")
    f = np.asarray(follow_up, dtype=float)
    if np.any(f < 0):
        raise ValueError("follow_up must be non-negative")
    lam_c = np.log(2) / _positive(control_median, "control_median")
    lam_t = lam_c * _positive(hazard_ratio, "hazard_ratio")

    def prob(lam: np.ndarray) -> np.ndarray:
        return 1 - (np.exp(-lam * f) - np.exp(-lam * (a + f))) / (lam * a)

    p = _treated_fraction(allocation)
    return ((1 - p) * prob(lam_c) + p * prob(lam_t))[()]


# --------------------------------------------------------------------------- proportions


def _proportions_terms(p_control: object, p_treatment: object, allocation: object) -> tuple:
    pc = np.asarray(p_control, dtype=float)
    pt = np.asarray(p_treatment, dtype=float)
    if np.any((pc <= 0) | (pc >= 1) | (pt <= 0) | (pt >= 1)):
        raise ValueError("proportions must lie strictly between 0 and 1")
    if np.any(pc == pt):
        raise ValueError("p_treatment must differ from p_control")
    k = _positive(allocation, "allocation")
    pbar = (pc + k * pt) / (1 + k)
    sd_null = np.sqrt(pbar * (1 - pbar) * (1 + 1 / k))  # per sqrt(n_control)
    sd_alt = np.sqrt(pc * (1 - pc) + pt * (1 - pt) / k)
    return np.abs(pt - pc), sd_null, sd_alt


def two_proportions_n(
    p_control: float,
    p_treatment: float,
    alpha: float = 0.05,
    power: float = 0.8,
    allocation: float = 1.0,
    sides: int = 2,
) -> float | np.ndarray:
    """Control-arm size for comparing two proportions (pooled-variance normal approximation).

    n_control = (z_{1-alpha/sides} sqrt(pbar qbar (1 + 1/k)) + z_power
    sqrt(p_c q_c + p_t q_t / k))^2 / (p_t - p_c)^2, with pbar = (p_c + k p_t) / (1 + k)
    (Fleiss, Levin & Paik, without continuity correction); n_treatment = k n_control.

    Parameters
    ----------
    p_control, p_treatment : float
        Response probabilities under the alternative.
    alpha, power, allocation, sides
        As for :func:`schoenfeld_events`.

    Returns
    -------
    float or ndarray
        Patients in the control arm, unrounded.

    Examples
    --------
    40% vs 60%, two-sided alpha 0.05, power 0.8, 1:1: 96.9, i.e. 97 per arm (the ReBioLup
    protocol reports 98).
    """
    diff, sd_null, sd_alt = _proportions_terms(p_control, p_treatment, allocation)
    z = _z_alpha(alpha, sides) * sd_null + _z_power(power) * sd_alt
    return (z**2 / diff**2)[()]


def two_proportions_power(
    n_control: float,
    p_control: float,
    p_treatment: float,
    alpha: float = 0.05,
    allocation: float = 1.0,
    sides: int = 2,
) -> float | np.ndarray:
    """Power of the pooled z test of two proportions (inverse of :func:`two_proportions_n`).

    Parameters
    ----------
    n_control : float
        Control-arm size; the treatment arm has ``allocation * n_control`` patients.
    p_control, p_treatment, alpha, allocation, sides
        As for :func:`two_proportions_n`.

    Returns
    -------
    float or ndarray
        Power (probability).
    """
    diff, sd_null, sd_alt = _proportions_terms(p_control, p_treatment, allocation)
    n = _positive(n_control, "n_control")
    return ndtr((diff * np.sqrt(n) - _z_alpha(alpha, sides) * sd_null) / sd_alt)[()]


# --------------------------------------------------------------------------- means


def two_means_n(
    difference: float,
    sd: float,
    alpha: float = 0.05,
    power: float = 0.8,
    allocation: float = 1.0,
    sides: int = 2,
) -> float | np.ndarray:
    """Control-arm size for comparing two means with known common SD (normal approximation).

    n_control = (z_{1-alpha/sides} + z_power)^2 sd^2 (1 + 1/k) / difference^2.
    For ANCOVA on a baseline with correlation rho, pass the residual SD sd sqrt(1 - rho^2).

    Parameters
    ----------
    difference : float
        Mean difference to detect (outcome units, e.g. SLEDAI points).
    sd : float
        Common standard deviation (same units).
    alpha, power, allocation, sides
        As for :func:`schoenfeld_events`.

    Returns
    -------
    float or ndarray
        Patients in the control arm, unrounded (a t test needs one or two more).
    """
    d = np.abs(np.asarray(difference, dtype=float))
    if np.any(d == 0):
        raise ValueError("difference must be non-zero")
    k = _positive(allocation, "allocation")
    s = _positive(sd, "sd")
    z = _z_alpha(alpha, sides) + _z_power(power)
    return (z**2 * s**2 * (1 + 1 / k) / d**2)[()]


def two_means_power(
    n_control: float,
    difference: float,
    sd: float,
    alpha: float = 0.05,
    allocation: float = 1.0,
    sides: int = 2,
) -> float | np.ndarray:
    """Power of the two-sample z test (inverse of :func:`two_means_n`).

    Returns
    -------
    float or ndarray
        Power (probability).
    """
    d = np.abs(np.asarray(difference, dtype=float))
    k = _positive(allocation, "allocation")
    se = _positive(sd, "sd") * np.sqrt((1 + 1 / k) / _positive(n_control, "n_control"))
    return ndtr(d / se - _z_alpha(alpha, sides))[()]
