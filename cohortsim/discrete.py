"""Integer-valued draws by inversion: counts for SLEDAI-2K scores and flare severities."""

from __future__ import annotations

import numpy as np


def count_quantile(
    uniform: np.ndarray, mean: np.ndarray, size: np.ndarray | float
) -> np.ndarray:
    """Quantile of the negative binomial with ``mean`` and size ``size`` (``inf`` = Poisson) at
    ``uniform``: the smallest integer ``j`` with ``CDF(j) ≥ u``.

    Summed from the probability recurrence ``p(j+1) = p(j)·(j + k)/(j + 1)·μ/(k + μ)``, one pass
    per integer over the still-unresolved entries: about 20× faster than ``scipy.stats.nbinom.ppf``
    for the small counts of SLEDAI-2K. Agrees with scipy except within rounding of a CDF step.
    """
    u, mean, size = np.broadcast_arrays(
        np.asarray(uniform, float), np.asarray(mean, float), np.asarray(size, float)
    )
    if u.size > 64 and _constant_number(mean) and _constant_number(size):
        return _count_quantile_by_table(u, mean.flat[0], size.flat[0])
    out = np.zeros(u.shape)
    poisson = ~np.isfinite(size)
    k = np.where(poisson, 1.0, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(poisson, mean, mean / (k + mean))
        log_p0 = np.where(poisson, -mean, -k * np.log1p(mean / k))
    flat_u, flat_k, flat_ratio = u.ravel(), k.ravel(), ratio.ravel()
    flat_poisson, flat_out = poisson.ravel(), out.ravel()
    idx = np.nonzero(mean.ravel() > 0)[0]  # a mean of 0 is a point mass at 0
    pmf = np.exp(log_p0.ravel()[idx])
    cdf = pmf.copy()
    j = 0
    while idx.size:
        done = cdf >= flat_u[idx]
        flat_out[idx[done]] = j
        keep = ~done
        idx, pmf, cdf = idx[keep], pmf[keep], cdf[keep]
        if not idx.size:
            break
        grow = np.where(flat_poisson[idx], 1.0, (j + flat_k[idx]))
        pmf = pmf * grow / (j + 1) * flat_ratio[idx]
        cdf = cdf + pmf
        j += 1
        if j > 100_000:  # unreachable for SLEDAI-sized means; guards against a stuck loop
            raise FloatingPointError("count quantile did not converge")
    return flat_out.reshape(u.shape)


def _constant_number(x: np.ndarray) -> bool:
    """Every entry equals the first, which is not NaN (inf allowed: a Poisson size)."""
    first = x.flat[0]
    return bool(np.isfinite(first) or np.isinf(first)) and bool(np.all(x == first))


def _count_quantile_by_table(u: np.ndarray, mean: float, size: float) -> np.ndarray:
    """:func:`count_quantile` when every entry has the same mean and size (a flare's SLEDAI
    rise): the CDF is summed once, by the same recurrence in the same order (so the same
    floating-point values), and each uniform is located in it with a binary search."""
    if not mean > 0:
        return np.zeros(u.shape)
    poisson = not np.isfinite(size)
    k = 1.0 if poisson else size
    one = np.ones(1)  # arrays, not Python floats, so every step is the same ufunc as above
    m, kk = mean * one, k * one
    if poisson:
        ratio, log_p0 = m, -m
    else:
        ratio, log_p0 = m / (kk + m), -kk * np.log1p(m / kk)
    pmf = np.exp(log_p0)
    cdf = pmf.copy()
    steps = [cdf[0]]
    top = float(u.max())
    j = 0
    while steps[-1] < top:
        grow = one if poisson else (j + kk)
        pmf = pmf * grow / (j + 1) * ratio
        cdf = cdf + pmf
        steps.append(cdf[0])
        j += 1
        if j > 100_000:  # unreachable for SLEDAI-sized means; guards against a stuck loop
            raise FloatingPointError("count quantile did not converge")
    # The smallest j with CDF(j) >= u, as the loop above finds it.
    return np.searchsorted(np.asarray(steps), u, side="left").astype(float)


def binomial_quantile(
    uniform: np.ndarray, trials: np.ndarray, probability: np.ndarray
) -> np.ndarray:
    """Quantile of the binomial with ``trials`` (integers ≥ 0) and success ``probability`` at
    ``uniform``: the smallest integer ``j`` with ``CDF(j) ≥ u``.

    Summed from the recurrence ``p(j+1) = p(j)·(n − j)/(j + 1)·π/(1 − π)``. Where ``π > 1/2``
    the failures are counted instead (``n − F⁻¹(1 − u; n, 1 − π)``), so the first term
    ``(1 − π)ⁿ`` never underflows for SLEDAI-sized ``n``. ``π = 0`` gives 0 and ``π = 1`` gives
    ``n`` exactly. Agrees with ``scipy.stats.binom.ppf`` except within rounding of a CDF step.
    """
    u, n, p = np.broadcast_arrays(
        np.asarray(uniform, float), np.asarray(trials, float), np.asarray(probability, float)
    )
    if np.any(n < 0) or np.any(n != np.floor(n)):
        raise ValueError("binomial trials must be non-negative integers")
    if np.any(~((p >= 0) & (p <= 1))):  # NaN included
        raise ValueError("binomial probability must be in [0, 1]")
    mirror = p > 0.5
    q = np.where(mirror, 1.0 - p, p)  # success probability of the counted outcome, ≤ 1/2
    v = np.where(mirror, 1.0 - u, u)
    # Counting failures inverts the CDF from the other end: the smallest j with
    # P(failures ≤ j) ≥ 1 − u maps back to successes through n − j (ties have probability 0).
    counted = np.zeros(u.shape)
    flat_v, flat_n, flat_q, flat_out = v.ravel(), n.ravel(), q.ravel(), counted.ravel()
    idx = np.nonzero((flat_q > 0) & (flat_n > 0))[0]  # q = 0 or n = 0: a point mass at 0
    odds = flat_q[idx] / (1.0 - flat_q[idx])
    pmf = np.exp(flat_n[idx] * np.log1p(-flat_q[idx]))
    if np.any(pmf == 0):  # (1 − π)ⁿ underflows only for n in the thousands
        raise ValueError("binomial trials too large for the quantile recurrence")
    cdf = pmf.copy()
    j = 0
    while idx.size:
        # The last count n has CDF 1 by definition: stop there whatever the rounding says.
        done = (cdf >= flat_v[idx]) | (j >= flat_n[idx])
        flat_out[idx[done]] = j
        keep = ~done
        idx, pmf, cdf, odds = idx[keep], pmf[keep], cdf[keep], odds[keep]
        if not idx.size:
            break
        pmf = pmf * (flat_n[idx] - j) / (j + 1) * odds
        cdf = cdf + pmf
        j += 1
    return np.where(mirror, n - counted, counted)
