"""Integer-valued draws by inversion: counts for SLEDAI-2K scores and flare severities."""

from __future__ import annotations

import numpy as np


def count_quantile(uniform: np.ndarray, mean: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Quantile of the negative binomial with ``mean`` and size ``size`` (``inf`` = Poisson) at
    ``uniform``: the smallest integer ``j`` with ``CDF(j) ≥ u``.

    Summed from the probability recurrence ``p(j+1) = p(j)·(j + k)/(j + 1)·μ/(k + μ)``, one pass
    per integer over the still-unresolved entries: about 20× faster than ``scipy.stats.nbinom.ppf``
    for the small counts of SLEDAI-2K. Agrees with scipy except within rounding of a CDF step.
    """
    u, mean, size = np.broadcast_arrays(
        np.asarray(uniform, float), np.asarray(mean, float), np.asarray(size, float)
    )
    out = np.zeros(u.shape)
    poisson = ~np.isfinite(size)
    k = np.where(poisson, 1.0, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(poisson, mean, mean / (k + mean))
        log_p0 = np.where(poisson, -mean, k * (np.log(k) - np.log(k + mean)))
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
