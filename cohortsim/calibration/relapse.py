"""Exact likelihood of relapse data under the model's gamma-frailty relapse process.

Model (``docs/model.md`` §8): a patient's first flare begins at ``T = H⁻¹(E / Z)`` with
``E ~ Exp(1)``, ``Z ~ Gamma(mean 1, variance θ)`` and an exponential hazard ``H(t) = λ t``.
Integrating the frailty out (the gamma Laplace transform, e.g. Hougaard 2000, *Analysis of
Multivariate Survival Data*, §7.2; Duchateau & Janssen 2008, *The Frailty Model*, eq. 2.9):

    S(t) = E[exp(−Z λ t)] = (1 + θ λ t)^(−1/θ)        (→ exp(−λ t) as θ → 0)

A relapse is detected at the first visit after its onset, so a relapse reported at visit ``b``
began in ``(a, b]``, ``a`` the previous scheduled visit: it contributes ``S(a) − S(b)``
(interval censoring). A patient without a relapse was relapse-free at her last scheduled visit
within follow-up, ``v(c)``: she contributes ``S(v(c))``. (Symptomatic visits between scheduled
ones are ignored here; the parameter-recovery test bounds the bias this causes.)

The pilot does not say which patients relapsed, and its individual follow-up times ``c`` are
unknown. Given a reconstructed follow-up vector, the likelihood sums over every assignment of the
reported relapses to distinct patients followed at least to the relapse:

    L(λ, θ | c) = Πₑ [S(aₑ) − S(bₑ)] · Σ_{injective i(·)} Π_{k ∉ i(·)} S(v(c_k))

computed by :func:`assignment_sums` in O(n · events). Averaging ``L`` over reconstructed follow-up
vectors (:mod:`cohortsim.calibration.reconstruction`) integrates the reconstruction's uncertainty
out; the joint posterior of (λ, θ, reconstruction) is evaluated on a grid and sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from cohortsim.calibration.priors import LogNormal, PowerLaw, Prior
from cohortsim.lazy import special

_VECTORS_PER_CHUNK = 128
"""Follow-up vectors per step of :func:`log_likelihood_grid` (bounds memory)."""

DEFAULT_RATE_PRIOR = PowerLaw(-0.5, 1e-4, 0.2)
"""Jeffreys prior of an exponential rate (density ∝ λ^−½), truncated to [1e-4, 0.2] per month."""
DEFAULT_FRAILTY_PRIOR = LogNormal(0.5, 0.75)
"""Frailty variance θ: median 0.5 (the model's stated default), 95% between 0.115 and 2.2."""


def log_survival(t: np.ndarray | float, rate: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``log S(t)`` of the first relapse, marginal over the gamma frailty.

    Parameters
    ----------
    t : array
        Months since treatment start (>= 0).
    rate : array
        Hazard λ, per month.
    theta : array
        Frailty variance θ (>= 0; 0 = no frailty).

    Returns
    -------
    array
        ``−log1p(θ λ t) / θ``, or ``−λ t`` where θ = 0; arguments broadcast.
    """
    t, rate, theta = np.broadcast_arrays(
        np.asarray(t, float), np.asarray(rate, float), np.asarray(theta, float)
    )
    cumulative = rate * t
    with np.errstate(divide="ignore", invalid="ignore"):
        frail = -np.log1p(theta * cumulative) / theta
    return np.where(theta > 0, frail, -cumulative)


def log_interval_probability(
    a: np.ndarray | float, b: np.ndarray | float, rate: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    """``log(S(a) − S(b))``: the first relapse began in ``(a, b]`` (months)."""
    log_a = log_survival(a, rate, theta)
    log_b = log_survival(b, rate, theta)
    with np.errstate(divide="ignore"):
        return log_a + np.log(-np.expm1(log_b - log_a))


def last_visit(times: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """The last nominal visit at or before each time (0 = treatment start when none)."""
    grid = np.concatenate([[0.0], np.sort(np.asarray(visits, float))])
    index = np.searchsorted(grid, np.asarray(times, float), side="right") - 1
    return grid[np.clip(index, 0, None)]


def detection_interval(time: float, visits: np.ndarray) -> tuple[float, float]:
    """``(a, b]``: a relapse reported at ``time`` began after the previous nominal visit."""
    grid = np.concatenate([[0.0], np.sort(np.asarray(visits, float))])
    before = grid[grid < time]
    return (float(before[-1]) if len(before) else 0.0, float(time))


def assignment_sums(weights: np.ndarray, eligible_events: np.ndarray, n_events: int) -> np.ndarray:
    """Sum over injective assignments of ``n_events`` events to patients of Π of their weights.

    Event ``e`` (sorted by time) may go to a patient only if she was followed to it; patient
    ``k`` is followed to the first ``m_k`` events. Because these sets are nested, processing
    patients by increasing ``m_k`` leaves ``m_k − j`` events for patient ``k`` when ``j`` have been
    assigned, giving the recursion ``D[j + 1] += D[j] · w_k · (m_k − j)``.

    Parameters
    ----------
    weights : (..., n) array
        Per-patient weight of being a relapser (here ``1 / S(v(c_k))``); leading axes broadcast
        against ``eligible_events``.
    eligible_events : (..., n) int
        ``m_k``, the number of (time-sorted) events patient ``k`` was followed to.
    n_events : int

    Returns
    -------
    (...) array
        The sum (0 when no assignment exists).
    """
    shape = np.broadcast_shapes(np.shape(weights), np.shape(eligible_events))
    w = np.broadcast_to(np.asarray(weights, dtype=float), shape)
    m = np.broadcast_to(np.asarray(eligible_events), shape)
    order = np.argsort(m, axis=-1, kind="stable")
    w_sorted = np.take_along_axis(w, order, axis=-1)
    return _sorted_assignment_sums(
        lambda k: w_sorted[..., k], np.take_along_axis(m, order, axis=-1), n_events
    )


def _sorted_assignment_sums(weight, m_sorted: np.ndarray, n_events: int) -> np.ndarray:
    """The recursion of :func:`assignment_sums` for patients already sorted by ``m``;
    ``weight(k)`` gives the k-th patient's weights."""
    d = cast("list[np.ndarray | float]", [1.0] + [0.0] * n_events)
    for k in range(m_sorted.shape[-1]):
        w, mk = weight(k), m_sorted[..., k]
        for j in range(min(n_events, k + 1) - 1, -1, -1):
            d[j + 1] = d[j + 1] + d[j] * w * np.maximum(mk - j, 0)
    return np.asarray(d[n_events], dtype=float)


@dataclass(frozen=True)
class RelapseGrid:
    """A grid over (λ, θ): cell centres and their prior masses.

    The λ axis is uniform in log λ; the θ axis is uniform in the prior's probability scale, so
    a cell's prior mass is its λ-prior mass times ``1 / n_theta``.
    """

    log_rate_edges: np.ndarray
    theta_quantile_edges: np.ndarray
    rate_prior: Prior
    frailty_prior: Prior

    @classmethod
    def build(
        cls,
        rate_prior: Prior = DEFAULT_RATE_PRIOR,
        frailty_prior: Prior = DEFAULT_FRAILTY_PRIOR,
        n_rate: int = 240,
        n_theta: int = 32,
    ) -> RelapseGrid:
        low, high = _support(rate_prior)
        return cls(
            np.linspace(np.log(low), np.log(high), n_rate + 1),
            np.linspace(0.0, 1.0, n_theta + 1),
            rate_prior,
            frailty_prior,
        )

    @property
    def rates(self) -> np.ndarray:
        return np.exp(0.5 * (self.log_rate_edges[:-1] + self.log_rate_edges[1:]))

    @property
    def thetas(self) -> np.ndarray:
        q = 0.5 * (self.theta_quantile_edges[:-1] + self.theta_quantile_edges[1:])
        return np.asarray(self.frailty_prior.ppf(q), dtype=float)

    def log_prior_mass(self) -> np.ndarray:
        """``(n_rate, n_theta)`` log prior mass of each cell (midpoint rule in log λ)."""
        width = np.diff(self.log_rate_edges)
        log_density = self.rate_prior.logpdf(self.rates) + np.log(self.rates)  # per unit log λ
        log_theta = np.log(np.diff(self.theta_quantile_edges))
        return (log_density + np.log(width))[:, None] + log_theta[None, :]


def _support(prior: Prior) -> tuple[float, float]:
    low = getattr(prior, "low", None)
    high = getattr(prior, "high", None)
    if low is None or high is None or low <= 0:
        return float(prior.ppf(np.array(1e-6))), float(prior.ppf(np.array(1 - 1e-6)))
    return float(low), float(high)


@dataclass(frozen=True)
class RelapseData:
    """Relapse observations of a pilot whose relapsers are not identified.

    Attributes
    ----------
    event_times : tuple of float
        Reported relapse (detection) months, sorted.
    visits : array
        Nominal scheduled visit months (detection happens at visits).
    follow_up : (M, n) array
        Reconstructed follow-up vectors (months; NaN = not enrolled), one per row.
    """

    event_times: tuple[float, ...]
    visits: np.ndarray
    follow_up: np.ndarray


def log_likelihood_grid(data: RelapseData, grid: RelapseGrid) -> np.ndarray:
    """``(M, n_rate, n_theta)`` log-likelihood of the relapse data for each follow-up vector."""
    rates = grid.rates[:, None]
    thetas = grid.thetas[None, :]
    events = sorted(data.event_times)
    log_events = np.zeros((len(grid.rates), len(grid.thetas)))
    for time in events:
        a, b = detection_interval(time, data.visits)
        log_events = log_events + log_interval_probability(a, b, rates, thetas)
    # Censoring happens at nominal visits: tabulate log S once per distinct visit time.
    follow_up = data.follow_up
    enrolled = np.isfinite(follow_up)
    censor_at = last_visit(np.where(enrolled, follow_up, 0.0), data.visits)
    points, index = np.unique(censor_at, return_inverse=True)
    index = index.reshape(censor_at.shape)
    log_s = log_survival(points[:, None, None], rates[None], thetas[None])  # (P, G1, G2)
    counts = np.zeros((len(follow_up), len(points)))
    np.add.at(counts, (np.repeat(np.arange(len(follow_up)), follow_up.shape[1]), index.ravel()),
              enrolled.ravel())
    log_all = np.tensordot(counts, log_s, axes=(1, 0))  # (M, G1, G2)
    # A relapser's own censoring term is replaced by her event: weight 1 / S(v(c_k)).
    eligible = np.sum(
        np.where(enrolled, follow_up, -np.inf)[..., None] >= np.asarray(events)[None, None, :],
        axis=-1,
    )
    out = np.empty_like(log_all)
    for start in range(0, len(follow_up), _VECTORS_PER_CHUNK):
        rows = slice(start, start + _VECTORS_PER_CHUNK)
        order = np.argsort(eligible[rows], axis=1, kind="stable")
        points_sorted = np.take_along_axis(index[rows], order, axis=1)
        m_sorted = np.take_along_axis(eligible[rows], order, axis=1)[:, None, None, :]
        sums = _sorted_assignment_sums(
            lambda k, p=points_sorted: np.exp(-log_s[p[:, k]]), m_sorted, len(events)
        )
        with np.errstate(divide="ignore"):
            out[rows] = log_all[rows] + np.log(sums)
    return out + log_events[None]


@dataclass(frozen=True)
class RelapsePosterior:
    """Draws from the joint posterior of (λ, θ) and the follow-up reconstruction.

    Attributes
    ----------
    rate, theta : (D,) arrays
        λ (per month) and θ.
    reconstruction : (D,) int
        Row of the reconstruction (follow-up vector) each draw goes with.
    reconstruction_ess : float
        Effective number of reconstructions after weighting by the relapse likelihood
        (Kish: (Σw)² / Σw²).
    log_evidence : float
        log of the marginal likelihood (grid sum), for diagnostics.
    """

    rate: np.ndarray
    theta: np.ndarray
    reconstruction: np.ndarray
    reconstruction_ess: float
    log_evidence: float


def sample_posterior(
    log_likelihood: np.ndarray, grid: RelapseGrid, n_draws: int, rng: np.random.Generator
) -> RelapsePosterior:
    """Sample (cell, reconstruction) jointly, then a uniform point within the cell.

    Parameters
    ----------
    log_likelihood : (M, n_rate, n_theta)
        From :func:`log_likelihood_grid`; each reconstruction has prior weight 1/M.
    grid : RelapseGrid
    n_draws : int
    rng : numpy Generator
    """
    log_post = log_likelihood + grid.log_prior_mass()[None] - np.log(len(log_likelihood))
    log_evidence = float(special.logsumexp(log_post))
    p = np.exp(log_post - log_evidence).ravel()
    p /= p.sum()
    flat = rng.choice(p.size, size=n_draws, p=p)
    m, i, j = np.unravel_index(flat, log_post.shape)
    u = rng.random((n_draws, 2))
    edges = grid.log_rate_edges
    rate = np.exp(edges[i] + u[:, 0] * (edges[i + 1] - edges[i]))
    q = grid.theta_quantile_edges
    theta = np.asarray(grid.frailty_prior.ppf(q[j] + u[:, 1] * (q[j + 1] - q[j])), dtype=float)
    weights = np.exp(special.logsumexp(log_post, axis=(1, 2)) - log_evidence)
    ess = float(weights.sum() ** 2 / np.sum(weights**2))
    return RelapsePosterior(rate, theta, m, ess, log_evidence)


def individual_log_likelihood(
    rate: np.ndarray,
    theta: np.ndarray,
    interval_start: np.ndarray,
    interval_end: np.ndarray,
    censored_at: np.ndarray,
    relapsed: np.ndarray,
) -> np.ndarray:
    """Log-likelihood of identified patients (the parameter-recovery check).

    Parameters
    ----------
    rate, theta : arrays (broadcast against each other)
    interval_start, interval_end : (n,) arrays
        ``(a, b]`` of each relapser's onset (ignored for the others).
    censored_at : (n,) array
        Last scheduled visit within follow-up of each patient without a relapse.
    relapsed : (n,) bool

    Returns
    -------
    array
        Shape of ``rate`` and ``theta`` broadcast.
    """
    rate = np.asarray(rate, float)[..., None]
    theta = np.asarray(theta, float)[..., None]
    event = log_interval_probability(interval_start, interval_end, rate, theta)
    censor = log_survival(censored_at, rate, theta)
    return np.sum(np.where(relapsed, event, censor), axis=-1)
