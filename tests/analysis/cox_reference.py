"""The Cox Newton-Raphson of cohortsim 0.1.0, kept verbatim as a reference for the tests.

The fit in :mod:`cohortsim.analysis.survival` was rewritten for speed (multiplications by
``exp(beta)`` instead of ``logaddexp``/``expit``, a start at the Peto estimate, the
log-likelihood evaluated only when a step overshoots). This is the original algorithm (start at
0, ``logaddexp`` log-likelihood at every step) so that the tests can hold the new fit to it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from cohortsim.analysis.survival import _DIVERGED, _Terms


class _CoxFit(NamedTuple):
    beta: np.ndarray
    se: np.ndarray
    loglik: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def _safe_log(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), -np.inf)


def reference_fit_binary_cox(o1: np.ndarray, terms: _Terms, max_iter: int, tol: float) -> _CoxFit:
    """Newton-Raphson for the log partial likelihood, vectorised over replicates.

    The log-likelihood is concave in beta, so Newton with step halving increases it
    monotonically; a replicate stops when its step falls below ``tol`` or it diverges.
    Per-replicate sums over the flattened terms are ``np.bincount`` calls.

    A replicate that has stopped is a fixed point (step 0, same log-likelihood), so once a
    good share of replicates have stopped the terms are cut down to the active ones. A
    replicate's sums are then taken over the same terms in the same order, so every number
    is the same as without the cut, only cheaper.
    """
    rows = o1.shape[0]
    log_a, log_b = _safe_log(terms.a), _safe_log(terms.b)  # a + b >= 1 for every term
    log_ratio = log_b - log_a  # +/-inf when one arm's risk set is empty: p = 1 or 0 below
    # Without ties (Breslow) every weight is 1; w * x is then x exactly, so skip it.
    unit = bool(np.all(terms.w == 1.0))

    class Part(NamedTuple):
        row: np.ndarray
        w: np.ndarray
        log_a: np.ndarray
        log_b: np.ndarray
        log_ratio: np.ndarray

    part = Part(terms.row, terms.w, log_a, log_b, log_ratio)

    def per_row(t: Part, x: np.ndarray) -> np.ndarray:
        return np.bincount(t.row, weights=x, minlength=rows)

    def loglik(t: Part, beta: np.ndarray) -> np.ndarray:
        term = np.logaddexp(t.log_a, t.log_b + beta[t.row])
        return beta * o1 - per_row(t, term if unit else t.w * term)

    def score_info(t: Part, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = special.expit(t.log_ratio + beta[t.row])  # treatment share of the risk set
        wp = p if unit else t.w * p
        return o1 - per_row(t, wp), per_row(t, wp * (1.0 - p))

    beta = np.zeros(rows)
    ll = loglik(part, beta)
    active = np.ones(rows, dtype=bool)
    in_part = active.copy()  # replicates whose terms are all in ``part``
    converged = np.zeros(rows, dtype=bool)
    iterations = np.zeros(rows, dtype=np.int64)
    for _ in range(max_iter):
        if active.sum() < 0.75 * in_part.sum():
            keep = active[part.row]
            part = Part(*(x[keep] for x in part))
            in_part = active.copy()
        score, info = score_info(part, beta)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(active & (info > 0), score / info, 0.0)
        new_beta = beta + step
        # Replicates outside ``part`` have stopped: beta and the log-likelihood stay put.
        new_ll = np.where(in_part, loglik(part, new_beta), ll)
        for _ in range(60):
            worse = new_ll < ll - 1e-12 * (1.0 + np.abs(ll))
            if not worse.any():
                break
            step = np.where(worse, step / 2.0, step)
            new_beta = beta + step
            new_ll = np.where(worse, loglik(part, new_beta), new_ll)
        beta, ll = new_beta, new_ll
        iterations += active
        done = active & (np.abs(step) < tol)
        converged |= done
        active &= ~done & (np.abs(beta) < _DIVERGED)
        if not active.any():
            break
    _, info = score_info(Part(terms.row, terms.w, log_a, log_b, log_ratio), beta)
    with np.errstate(divide="ignore"):
        se = np.where(info > 0, 1.0 / np.sqrt(np.where(info > 0, info, 1.0)), np.nan)
    estimable = info > 0
    return _CoxFit(
        beta=np.where(estimable, beta, np.nan),
        se=se,
        loglik=ll,
        converged=converged & estimable,
        iterations=iterations,
    )
