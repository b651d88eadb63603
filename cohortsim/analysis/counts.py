"""Event counts with per-patient exposure (e.g. flares over months of follow-up).

Two log-linear models for patient i with ``exposure`` t_i and arm g_i (1 = treatment):
log E[y_i] = log t_i + b0 + b1 g_i, so exp(b1) is the rate ratio, treatment / control.

* Poisson: with a single binary covariate the maximum-likelihood fit has a closed form,
  the arm rates Y_arm / T_arm (total events over total exposure), and
  SE(log RR) = sqrt(1/Y_1 + 1/Y_0); this is exactly what a Poisson GLM with a log-exposure
  offset gives.
* Negative binomial (NB2, Var y = mu + alpha mu^2): joint maximum likelihood of (b0, b1,
  log alpha) by Newton-Raphson with step halving, vectorised over replicates; the SE of b1
  comes from the observed information.

``alternative`` refers to the treatment rate relative to control: ``"less"`` = the treatment
arm has fewer events per unit exposure (a benefit for flares). Rates are per unit of the
exposure supplied (per patient-month if exposure is in months).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cohortsim.lazy import special, stats

from ._common import (
    as_1d,
    as_group,
    as_mask,
    batch_shape,
    broadcast,
    check_alternative,
    check_confidence,
    fill_doc,
    pvalue_from_z,
    same_length,
    z_critical,
)
from .results import (
    OverdispersionBatchResult,
    OverdispersionResult,
    RateRatioBatchResult,
    RateRatioResult,
)

__all__ = [
    "negbin_rate_ratio",
    "negbin_rate_ratio_batch",
    "overdispersion_test",
    "overdispersion_test_batch",
    "poisson_rate_ratio",
    "poisson_rate_ratio_batch",
    "rate_ratio_test",
    "rate_ratio_test_batch",
]

# Below this alpha the NB2 fit is taken to be on the boundary alpha = 0 (the Poisson model).
_ALPHA_FLOOR = 1e-8


class _Data(NamedTuple):
    """Counts, exposures, arm and inclusion weight; arrays of shape (replicates, patients)."""

    y: np.ndarray
    t: np.ndarray
    g: np.ndarray  # 1.0 treatment, 0.0 control
    w: np.ndarray  # 1.0 included, 0.0 excluded


def _data_single(counts: object, exposure: object, group: object) -> _Data:
    y = as_1d(counts, "counts", float)
    t = as_1d(exposure, "exposure", float)
    g = as_group(as_1d(group, "group"))
    same_length(counts=y, exposure=t, group=g)
    return _check(_Data(y[None], t[None], g[None].astype(float), np.ones((1, y.size))))


def _data_batch(counts: object, exposure: object, group: object, mask: object | None) -> _Data:
    y, shape = batch_shape(counts, "counts")
    t = broadcast(np.asarray(exposure, dtype=float), shape, "exposure")
    g = as_group(group, shape).astype(float)
    w = as_mask(mask, shape)
    # Excluded entries get harmless values so that they can be carried through every sum.
    return _check(_Data(np.where(w, y, 0.0), np.where(w, t, 1.0), g, w.astype(float)))


def _check(d: _Data) -> _Data:
    if np.any((d.y < 0) | (d.y != np.round(d.y))) or not np.all(np.isfinite(d.y)):
        raise ValueError("counts must be non-negative integers")
    if not np.all(np.isfinite(d.t)) or np.any(d.t <= 0):
        raise ValueError("exposure must be positive and finite")
    return d


class _ArmTotals(NamedTuple):
    y1: np.ndarray
    t1: np.ndarray
    y0: np.ndarray
    t0: np.ndarray


def _totals(d: _Data) -> _ArmTotals:
    w1, w0 = d.w * d.g, d.w * (1 - d.g)
    return _ArmTotals(
        y1=(w1 * d.y).sum(1), t1=(w1 * d.t).sum(1), y0=(w0 * d.y).sum(1), t0=(w0 * d.t).sum(1)
    )


def _poisson_mu(d: _Data, tot: _ArmTotals) -> np.ndarray:
    """Fitted Poisson means: each patient's exposure times the arm's rate."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(d.g > 0, (tot.y1 / tot.t1)[:, None], (tot.y0 / tot.t0)[:, None])
    return rate * d.t


# --------------------------------------------------------------------------- Poisson


def _poisson(d: _Data, alternative: str, confidence: float) -> dict:
    tot = _totals(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate1, rate0 = tot.y1 / tot.t1, tot.y0 / tot.t0
        estimable = (tot.y1 > 0) & (tot.y0 > 0)
        log_rr = np.where(estimable, np.log(rate1) - np.log(rate0), np.nan)
        se = np.where(estimable, np.sqrt(1 / tot.y1 + 1 / tot.y0), np.nan)
    return _wald(
        log_rr, se, rate1, rate0, tot, np.zeros_like(se), estimable, alternative, confidence
    )


def _wald(
    log_rr: np.ndarray,
    se: np.ndarray,
    rate1: np.ndarray,
    rate0: np.ndarray,
    tot: _ArmTotals,
    alpha: np.ndarray,
    converged: np.ndarray,
    alternative: str,
    confidence: float,
) -> dict:
    z = log_rr / se
    zc = z_critical(confidence)
    return {
        "estimate": log_rr,
        "se": se,
        "statistic": z,
        "pvalue": pvalue_from_z(z, alternative),
        "ci_low": log_rr - zc * se,
        "ci_high": log_rr + zc * se,
        "rate_treatment": rate1,
        "rate_control": rate0,
        "events_treatment": tot.y1,
        "events_control": tot.y0,
        "exposure_treatment": tot.t1,
        "exposure_control": tot.t0,
        "dispersion": alpha,
        "converged": converged,
    }


# --------------------------------------------------------------------------- negative binomial


class _NBData(NamedTuple):
    """Inputs of the NB2 likelihood, arrays of shape (replicates, patients) unless noted."""

    y: np.ndarray
    g: np.ndarray
    w: np.ndarray
    log_t: np.ndarray
    exceed: np.ndarray  # (replicates, max count): included patients with y > j, j = 0, 1, ...
    log_fact: np.ndarray  # (replicates,): sum of log(y!) over included patients

    def rows(self, idx: np.ndarray) -> _NBData:
        return _NBData(*(a[idx] for a in self))


def _nb_data(d: _Data) -> _NBData:
    """Precompute the count table that turns the gamma-function terms into short sums.

    For integer y, log Gamma(y + r) - log Gamma(r) = sum_{j < y} log(r + j), and the digamma
    and trigamma differences are sums of 1/(r + j) and -1/(r + j)^2. Summed over patients,
    each j is weighted by the number of patients with y > j, so the per-iteration cost of
    these terms is (replicates x max count) instead of (replicates x patients), and no
    special functions (or their cancellation for large r) are involved.
    """
    rows, _ = d.y.shape
    y = d.y.astype(np.int64)
    top = int(y.max(initial=0))
    flat = (np.arange(rows)[:, None] * (top + 1) + y).ravel()
    table = np.bincount(flat, weights=d.w.ravel(), minlength=rows * (top + 1))
    table = table.reshape(rows, top + 1)
    exceed = np.cumsum(table[:, ::-1], axis=1)[:, ::-1][:, 1:]
    log_fact = (d.w * special.gammaln(d.y + 1)).sum(1)
    return _NBData(d.y, d.g, d.w, np.log(d.t), exceed, log_fact)


def _nb_loglik(nb: _NBData, params: np.ndarray) -> np.ndarray:
    """NB2 log-likelihood per row at ``params`` = (b0, b1, log alpha) per row.

    Written with log1p(mu / r) so that it tends smoothly to the Poisson log-likelihood as
    alpha = 1/r tends to 0.
    """
    eta = nb.log_t + params[:, :1] + params[:, 1:2] * nb.g
    r = np.exp(-params[:, 2])
    j = np.arange(nb.exceed.shape[1])
    gamma_part = (nb.exceed * np.log1p(j / r[:, None])).sum(1)
    log1p_mu_r = np.log1p(np.exp(eta) / r[:, None])
    patient_part = (nb.w * (nb.y * eta - (nb.y + r[:, None]) * log1p_mu_r)).sum(1)
    return gamma_part + patient_part - nb.log_fact


def _nb_derivatives(nb: _NBData, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (rows, 3) and Hessian (rows, 3, 3) in (b0, b1, log alpha)."""
    eta = nb.log_t + params[:, :1] + params[:, 1:2] * nb.g
    mu = np.exp(eta)
    r = np.exp(-params[:, 2])
    rr = r[:, None]
    rpm = rr + mu
    # derivatives with respect to the linear predictor eta and to r = 1/alpha, per patient
    u_eta = nb.w * rr * (nb.y - mu) / rpm
    w_eta = -nb.w * rr * mu * (rr + nb.y) / rpm**2
    cross = nb.w * mu * (nb.y - mu) / rpm**2
    x = rr + np.arange(nb.exceed.shape[1])
    dr = (nb.exceed / x).sum(1) + (nb.w * (-np.log1p(mu / rr) + (mu - nb.y) / rpm)).sum(1)
    d2r = -(nb.exceed / x**2).sum(1) + (nb.w * (mu / (rr * rpm) - (mu - nb.y) / rpm**2)).sum(1)
    # chain rule to theta = log alpha: dr/dtheta = -r
    grad = np.stack([u_eta.sum(1), (u_eta * nb.g).sum(1), -r * dr], axis=1)
    h00, h11 = w_eta.sum(1), (w_eta * nb.g).sum(1)
    h02, h12 = -r * cross.sum(1), -r * (cross * nb.g).sum(1)
    h22 = r**2 * d2r + r * dr
    hess = np.stack(
        [
            np.stack([h00, h11, h02], axis=1),
            np.stack([h11, h11, h12], axis=1),
            np.stack([h02, h12, h22], axis=1),
        ],
        axis=1,
    )
    return grad, hess


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve a[i] x = b[i] for every row; NaN where a[i] is singular or not finite.

    ``np.linalg.solve`` raises if any matrix of the stack is singular, so unusable rows are
    swapped for the identity first.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        usable = np.all(np.isfinite(a), axis=(1, 2))
        usable &= np.abs(np.linalg.det(np.where(usable[:, None, None], a, np.eye(3)))) > 1e-300
        x = np.linalg.solve(np.where(usable[:, None, None], a, np.eye(3)), b[:, :, None])[:, :, 0]
    return np.where(usable[:, None], x, np.nan)


def _newton_step(nb: _NBData, params: np.ndarray, ll: np.ndarray) -> tuple[np.ndarray, ...]:
    """One damped Newton step for each row; returns new params, log-likelihood and step."""
    grad, hess = _nb_derivatives(nb, params)
    step = _solve(-hess, grad)
    # Far from the optimum the Hessian may not be negative definite; then take a
    # diagonally scaled gradient step, which is always an ascent direction.
    ascent = np.all(np.isfinite(step), axis=1) & (np.sum(step * grad, axis=1) > 0)
    fallback = grad / (np.abs(np.diagonal(hess, axis1=1, axis2=2)) + 1.0)
    step = np.where(ascent[:, None], step, fallback)
    new = params + step
    new_ll = _nb_loglik(nb, new)
    for _ in range(40):  # step halving until the log-likelihood does not decrease
        worse = np.flatnonzero(~(new_ll >= ll - 1e-12 * (1 + np.abs(ll))))
        if worse.size == 0:
            break
        step[worse] /= 2
        new[worse] = params[worse] + step[worse]
        new_ll[worse] = _nb_loglik(nb.rows(worse), new[worse])
    return new, new_ll, step


def _negbin(
    d: _Data, alternative: str, confidence: float, max_iter: int = 100, tol: float = 1e-9
) -> dict:
    """NB2 maximum likelihood for every row at once.

    Starts from the Poisson fit and the moment estimate of alpha, and iterates only the rows
    that have not yet converged. If the moment estimate is not positive (no overdispersion
    in the data) or alpha falls below ``_ALPHA_FLOOR``, the maximum is on the boundary
    alpha = 0 and the Poisson fit is returned with alpha = 0.
    """
    tot = _totals(d)
    poisson = _poisson(d, alternative, confidence)
    mu0 = _poisson_mu(d, tot)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha0 = (d.w * ((d.y - mu0) ** 2 - d.y)).sum(1) / (d.w * mu0**2).sum(1)
        estimable = (tot.y1 > 0) & (tot.y0 > 0)
        interior = estimable & (alpha0 > 0)
        params = np.stack(
            [
                np.log(np.where(estimable, tot.y0 / tot.t0, 1.0)),
                np.log(np.where(estimable, (tot.y1 / tot.t1) / (tot.y0 / tot.t0), 1.0)),
                np.log(np.where(interior, alpha0, 1.0)),
            ],
            axis=1,
        )
    nb = _nb_data(d)
    ll = _nb_loglik(nb, params)
    active = interior.copy()
    converged = np.zeros_like(active)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        new, new_ll, step = _newton_step(nb.rows(idx), params[idx], ll[idx])
        params[idx], ll[idx] = new, new_ll
        done = np.max(np.abs(step), axis=1) < tol
        boundary = new[:, 2] < np.log(_ALPHA_FLOOR)
        converged[idx[done & ~boundary]] = True
        interior[idx[boundary]] = False
        active[idx[done | boundary]] = False

    se = np.full(params.shape[0], np.nan)
    idx = np.flatnonzero(interior)
    if idx.size:
        _, hess = _nb_derivatives(nb.rows(idx), params[idx])
        unit = np.broadcast_to(np.array([0.0, 1.0, 0.0]), (idx.size, 3))
        se[idx] = np.sqrt(_solve(-hess, unit)[:, 1])  # sqrt of [inverse information]_11
    b0, b1, alpha = params[:, 0], params[:, 1], np.exp(params[:, 2])
    return _wald(
        np.where(interior, b1, poisson["estimate"]),
        np.where(interior, se, poisson["se"]),
        np.where(interior, np.exp(b0 + b1), poisson["rate_treatment"]),
        np.where(interior, np.exp(b0), poisson["rate_control"]),
        tot,
        np.where(interior, alpha, 0.0),
        np.where(interior, converged, estimable),
        alternative,
        confidence,
    )


# --------------------------------------------------------------------------- overdispersion


def _dean(d: _Data) -> dict:
    """Dean's (1992) P_B score statistic for NB2 overdispersion in the Poisson fit."""
    tot = _totals(d)
    mu = _poisson_mu(d, tot)
    with np.errstate(divide="ignore", invalid="ignore"):
        num = (d.w * ((d.y - mu) ** 2 - d.y)).sum(1)
        mu2 = (d.w * mu**2).sum(1)
        z = num / np.sqrt(2 * mu2)
        alpha = np.maximum(num / mu2, 0.0)
    return {"statistic": z, "pvalue": stats.norm.sf(z), "dispersion": alpha}


def _poisson_loglik(d: _Data) -> np.ndarray:
    mu = _poisson_mu(d, _totals(d))
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d.y > 0, d.y * np.log(np.where(mu > 0, mu, 1.0)), 0.0)
    return (d.w * (term - mu - special.gammaln(d.y + 1))).sum(1)


def _lr(d: _Data) -> dict:
    """Likelihood-ratio test of alpha = 0; the null is on the boundary, so the reference
    distribution is the 50:50 mixture of a point mass at 0 and chi-square(1)."""
    fit = _negbin(d, "two-sided", 0.95)
    alpha = fit["dispersion"]
    estimable = np.isfinite(fit["estimate"])
    with np.errstate(divide="ignore", invalid="ignore"):
        params = np.stack(
            [
                np.log(fit["rate_control"]),
                np.log(fit["rate_treatment"] / fit["rate_control"]),
                np.log(np.where(alpha > 0, alpha, 1.0)),
            ],
            axis=1,
        )
    params = np.where(estimable[:, None], params, 0.0)
    ll_nb = _nb_loglik(_nb_data(d), params)
    lr = np.where(alpha > 0, np.maximum(2 * (ll_nb - _poisson_loglik(d)), 0.0), 0.0)
    lr = np.where(estimable, lr, np.nan)
    p = np.where(lr > 0, 0.5 * stats.chi2.sf(lr, 1), 1.0)
    return {"statistic": lr, "pvalue": np.where(estimable, p, np.nan), "dispersion": alpha}


# --------------------------------------------------------------------------- public API

_DOC_ARGS = """

counts : array_like of int
    Events per patient (e.g. flares). Shape (n,) for one trial, (replicates, patients)
    for a batch.
exposure : array_like of float
    Time at risk per patient (> 0; e.g. months). Batch: broadcastable to ``counts``.
group : array_like of bool or {0, 1}
    1 = treatment, 0 = control. Batch: broadcastable to ``counts``.
"""
_DOC_TEST_ARGS = """

alternative : {"two-sided", "less", "greater"}
    Relative to the rate ratio treatment / control: ``"less"`` = fewer events per unit
    exposure in the treatment arm.
confidence : float
    Level of the two-sided Wald interval for the log rate ratio.
"""
_DOC_MASK = """

mask : array_like of bool, optional
    True for patients included in that replicate's analysis; others are ignored.
"""


def _single_result(model: str, out: dict, alternative: str, confidence: float) -> RateRatioResult:
    return RateRatioResult(
        model=model,
        **{
            k: float(v[0])
            for k, v in out.items()
            if k not in ("converged", "events_treatment", "events_control")
        },
        events_treatment=int(out["events_treatment"][0]),
        events_control=int(out["events_control"][0]),
        converged=bool(out["converged"][0]),
        alternative=alternative,
        confidence=confidence,
    )


def _batch_result(
    model: str, out: dict, alternative: str, confidence: float, used_negbin: np.ndarray | None
) -> RateRatioBatchResult:
    out = dict(out)
    out["events_treatment"] = out["events_treatment"].astype(np.int64)
    out["events_control"] = out["events_control"].astype(np.int64)
    return RateRatioBatchResult(
        model=model,
        **out,
        used_negbin=used_negbin,
        alternative=alternative,
        confidence=confidence,
    )


@fill_doc(args=_DOC_ARGS, mask=_DOC_MASK, test_args=_DOC_TEST_ARGS)
def poisson_rate_ratio(
    counts: object,
    exposure: object,
    group: object,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> RateRatioResult:
    """Poisson rate ratio (treatment / control) with a log-exposure offset, one trial.

    Parameters
    ----------
    {args}
    {test_args}
    Returns
    -------
    RateRatioResult
        Log rate ratio log(Y1/T1) - log(Y0/T0), SE sqrt(1/Y1 + 1/Y0), Wald z and interval.
        NaN if an arm has no events.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    d = _data_single(counts, exposure, group)
    return _single_result("poisson", _poisson(d, alternative, confidence), alternative, confidence)


@fill_doc(args=_DOC_ARGS, mask=_DOC_MASK, test_args=_DOC_TEST_ARGS)
def poisson_rate_ratio_batch(
    counts: object,
    exposure: object,
    group: object,
    mask: object | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> RateRatioBatchResult:
    """Batched :func:`poisson_rate_ratio`, one entry per replicate (row).

    Parameters
    ----------
    {args}
    {mask}
    {test_args}
    """
    check_alternative(alternative)
    check_confidence(confidence)
    d = _data_batch(counts, exposure, group, mask)
    return _batch_result(
        "poisson", _poisson(d, alternative, confidence), alternative, confidence, None
    )


@fill_doc(args=_DOC_ARGS, mask=_DOC_MASK, test_args=_DOC_TEST_ARGS)
def negbin_rate_ratio(
    counts: object,
    exposure: object,
    group: object,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> RateRatioResult:
    """Negative-binomial (NB2) rate ratio by maximum likelihood, one trial.

    Parameters
    ----------
    {args}
    {test_args}
    Returns
    -------
    RateRatioResult
        ``dispersion`` is the ML alpha (Var y = mu + alpha mu^2). When the data show no
        overdispersion the maximum is at alpha = 0 and the Poisson fit is returned with
        ``dispersion = 0``.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    d = _data_single(counts, exposure, group)
    return _single_result("negbin", _negbin(d, alternative, confidence), alternative, confidence)


@fill_doc(args=_DOC_ARGS, mask=_DOC_MASK, test_args=_DOC_TEST_ARGS)
def negbin_rate_ratio_batch(
    counts: object,
    exposure: object,
    group: object,
    mask: object | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> RateRatioBatchResult:
    """Batched :func:`negbin_rate_ratio` (Newton-Raphson run for all replicates together).

    Parameters
    ----------
    {args}
    {mask}
    {test_args}
    """
    check_alternative(alternative)
    check_confidence(confidence)
    d = _data_batch(counts, exposure, group, mask)
    return _batch_result(
        "negbin", _negbin(d, alternative, confidence), alternative, confidence, None
    )


@fill_doc(args=_DOC_ARGS, mask=_DOC_MASK, test_args=_DOC_TEST_ARGS)
def overdispersion_test(
    counts: object, exposure: object, group: object, method: str = "score"
) -> OverdispersionResult:
    """Test the Poisson model against NB2 overdispersion (one-sided), one trial.

    Parameters
    ----------
    {args}
    method : {"score", "lr"}
        ``"score"``: Dean's P_B statistic sum((y - mu)^2 - y) / sqrt(2 sum mu^2) from the
        Poisson fit, referred to N(0, 1) in the upper tail (Dean 1992). ``"lr"``: likelihood
        ratio 2(l_NB - l_Poisson) with the boundary-corrected p-value 0.5 P(chi2_1 >= LR).

    Returns
    -------
    OverdispersionResult
    """
    d = _data_single(counts, exposure, group)
    out = _overdispersion(d, method)
    return OverdispersionResult(method=method, **{k: float(v[0]) for k, v in out.items()})


@fill_doc(args=_DOC_ARGS, mask=_DOC_MASK, test_args=_DOC_TEST_ARGS)
def overdispersion_test_batch(
    counts: object,
    exposure: object,
    group: object,
    mask: object | None = None,
    method: str = "score",
) -> OverdispersionBatchResult:
    """Batched :func:`overdispersion_test`, one entry per replicate (row).

    Parameters
    ----------
    {args}
    {mask}
    method : {"score", "lr"}
        As for :func:`overdispersion_test`.
    """
    d = _data_batch(counts, exposure, group, mask)
    return OverdispersionBatchResult(method=method, **_overdispersion(d, method))


def _overdispersion(d: _Data, method: str) -> dict:
    if method == "score":
        return _dean(d)
    if method == "lr":
        return _lr(d)
    raise ValueError(f"method must be 'score' or 'lr', got {method!r}")


@fill_doc(args=_DOC_ARGS, mask=_DOC_MASK, test_args=_DOC_TEST_ARGS)
def rate_ratio_test(
    counts: object,
    exposure: object,
    group: object,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    overdispersion_level: float = 0.05,
) -> RateRatioResult:
    """Rate ratio from the negative-binomial model if overdispersed, else from Poisson.

    The rule: run Dean's score test for overdispersion (:func:`overdispersion_test`,
    ``method="score"``); if its one-sided p-value is below ``overdispersion_level`` use
    :func:`negbin_rate_ratio`, otherwise :func:`poisson_rate_ratio`. (Flare counts are
    usually overdispersed; the Poisson Wald test is anti-conservative when they are.)

    Parameters
    ----------
    {args}
    {test_args}
    overdispersion_level : float
        Significance level of the overdispersion pre-test.

    Returns
    -------
    RateRatioResult
        ``model`` says which model was used.
    """
    d = _data_single(counts, exposure, group)
    if _dean(d)["pvalue"][0] < overdispersion_level:
        return negbin_rate_ratio(counts, exposure, group, alternative, confidence)
    return poisson_rate_ratio(counts, exposure, group, alternative, confidence)


@fill_doc(args=_DOC_ARGS, mask=_DOC_MASK, test_args=_DOC_TEST_ARGS)
def rate_ratio_test_batch(
    counts: object,
    exposure: object,
    group: object,
    mask: object | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    overdispersion_level: float = 0.05,
) -> RateRatioBatchResult:
    """Batched :func:`rate_ratio_test`; ``used_negbin`` records the choice per replicate.

    Parameters
    ----------
    {args}
    {mask}
    {test_args}
    overdispersion_level : float
        Significance level of the overdispersion pre-test.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    d = _data_batch(counts, exposure, group, mask)
    use_nb = _dean(d)["pvalue"] < overdispersion_level
    out = _poisson(d, alternative, confidence)
    if use_nb.any():
        nb = _negbin(_Data(*(a[use_nb] for a in d)), alternative, confidence)
        out = {k: v.copy() for k, v in out.items()}
        for k, v in nb.items():
            out[k][use_nb] = v
    return _batch_result("auto", out, alternative, confidence, use_nb)
