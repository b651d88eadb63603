"""Comparison of response proportions between two arms (binary endpoints).

Every function works from the 2x2 table of responders by arm. The tests differ; each result
also carries the risk difference p_treatment - p_control with an interval (Newcombe's hybrid
score interval by default, or Wald), so that a power simulation always has an effect estimate.

Conventions: ``response`` is 1 for a responder; ``group`` is 1 for treatment, 0 for control.
``alternative`` refers to the treatment response probability relative to control:
``"greater"`` means the treatment arm responds more.

Degenerate tables: if an arm is empty, or nobody (or everybody) responded, there is no
information about a difference; the statistic is NaN and the p-value 1, as
:func:`scipy.stats.fisher_exact` returns for such tables.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cohortsim.lazy import special, stats

from ._common import (
    as_1d,
    as_group,
    as_indicator,
    as_mask,
    broadcast,
    check_alternative,
    check_confidence,
    fill_doc,
    pvalue_from_z,
    same_length,
    z_critical,
)
from .binomial import wilson_interval
from .results import (
    BinaryComparisonBatchResult,
    BinaryComparisonResult,
    CMHBatchResult,
    CMHResult,
)

__all__ = [
    "binary_test",
    "binary_test_batch",
    "chi_square_batch",
    "chi_square_test",
    "cmh_batch",
    "cmh_test",
    "fisher_exact_batch",
    "fisher_exact_test",
    "risk_difference",
    "risk_difference_batch",
]

_CI_METHODS = ("newcombe", "wald")
# Tables whose probability is within this relative distance of the observed table's count as
# "as extreme" in the two-sided Fisher p-value (the tolerance R's fisher.test uses), so that
# mathematically equal probabilities computed with rounding error are treated as equal.
_FISHER_RTOL = 1e-7


class _Table(NamedTuple):
    """2x2 tables as float arrays of shape (replicates,)."""

    x1: np.ndarray  # treatment responders
    n1: np.ndarray  # treatment patients
    x0: np.ndarray  # control responders
    n0: np.ndarray  # control patients

    @property
    def degenerate(self) -> np.ndarray:
        m = self.x1 + self.x0
        return (self.n1 == 0) | (self.n0 == 0) | (m == 0) | (m == self.n1 + self.n0)


# --------------------------------------------------------------------------- tables


def _table_single(response: object, group: object) -> _Table:
    r = as_indicator(as_1d(response, "response"), "response")
    g = as_group(as_1d(group, "group"))
    same_length(response=r, group=g)
    return _Table(
        x1=np.array([np.count_nonzero(r & g)], dtype=float),
        n1=np.array([np.count_nonzero(g)], dtype=float),
        x0=np.array([np.count_nonzero(r & ~g)], dtype=float),
        n0=np.array([np.count_nonzero(~g)], dtype=float),
    )


def _batch_arrays(
    response: object, group: object, mask: object | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = np.asarray(response)
    if r.ndim != 2:
        raise ValueError(f"response must be two-dimensional (replicates, patients), got {r.shape}")
    shape = (r.shape[0], r.shape[1])
    return as_indicator(r, "response"), as_group(group, shape), as_mask(mask, shape)


def _table_batch(r: np.ndarray, g: np.ndarray, m: np.ndarray) -> _Table:
    trt, ctl = g & m, ~g & m
    return _Table(
        x1=np.count_nonzero(r & trt, axis=1).astype(float),
        n1=np.count_nonzero(trt, axis=1).astype(float),
        x0=np.count_nonzero(r & ctl, axis=1).astype(float),
        n0=np.count_nonzero(ctl, axis=1).astype(float),
    )


# --------------------------------------------------------------------------- estimates


def _risk_difference_fields(tab: _Table, ci_method: str, confidence: float) -> dict:
    if ci_method not in _CI_METHODS:
        raise ValueError(f"ci_method must be one of {_CI_METHODS}, got {ci_method!r}")
    check_confidence(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = tab.x1 / tab.n1, tab.x0 / tab.n0
        diff = p1 - p0
        se = np.sqrt(p1 * (1 - p1) / tab.n1 + p0 * (1 - p0) / tab.n0)
    if ci_method == "wald":
        zc = z_critical(confidence)
        low, high = diff - zc * se, diff + zc * se
    else:
        # Newcombe (1998) method 10: combine the two Wilson intervals' distances.
        ok = (tab.n1 > 0) & (tab.n0 > 0)
        n1, n0 = np.where(ok, tab.n1, 1.0), np.where(ok, tab.n0, 1.0)
        l1, u1 = wilson_interval(np.minimum(tab.x1, n1), n1, confidence)
        l0, u0 = wilson_interval(np.minimum(tab.x0, n0), n0, confidence)
        with np.errstate(invalid="ignore"):
            low = diff - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
            high = diff + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return {"estimate": diff, "se": se, "ci_low": low, "ci_high": high}


# --------------------------------------------------------------------------- tests


def _pooled_z(tab: _Table) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        pbar = (tab.x1 + tab.x0) / (tab.n1 + tab.n0)
        z = (tab.x1 / tab.n1 - tab.x0 / tab.n0) / np.sqrt(
            pbar * (1 - pbar) * (1 / tab.n1 + 1 / tab.n0)
        )
    return np.where(tab.degenerate, np.nan, z)


def _pearson(tab: _Table, correction: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pearson X^2 of the 2x2 table and its signed root (sign of p_treatment - p_control).

    Yates' correction shrinks |O - E| (equal in all four cells) by 0.5, but never past 0,
    as :func:`scipy.stats.chi2_contingency` does.
    """
    n = tab.n1 + tab.n0
    m1 = tab.x1 + tab.x0
    dev = tab.x1 * (tab.n0 - tab.x0) - (tab.n1 - tab.x1) * tab.x0  # (ad - bc) = N (O - E)
    absdev = np.abs(dev)
    if correction:
        absdev = absdev - np.minimum(n / 2.0, absdev)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = n * absdev**2 / (tab.n1 * tab.n0 * m1 * (n - m1))
    chi2 = np.where(tab.degenerate, np.nan, chi2)
    return chi2, np.sign(dev) * np.sqrt(chi2)


def _fisher(tab: _Table, alternative: str) -> tuple[np.ndarray, np.ndarray]:
    """Sample odds ratio and Fisher exact p-value for each table, vectorised.

    The number of treatment responders is hypergeometric given the margins; its
    probabilities are evaluated on the whole support for every table at once.
    """
    x1, n1, x0, n0 = tab
    m = x1 + x0
    with np.errstate(divide="ignore", invalid="ignore"):
        odds_ratio = np.where((x0 > 0) & (n1 - x1 > 0), x1 * (n0 - x0) / ((n1 - x1) * x0), np.inf)
    k = np.arange(int(n1.max(initial=0)) + 1, dtype=float)[None, :]
    n1c, n0c, mc = n1[:, None], n0[:, None], m[:, None]
    support = (k >= np.maximum(0.0, mc - n0c)) & (k <= np.minimum(n1c, mc))
    kk = np.where(support, k, 0.0)  # keep gammaln arguments valid off the support

    def log_choose(n: np.ndarray, r: np.ndarray) -> np.ndarray:
        return special.gammaln(n + 1) - special.gammaln(r + 1) - special.gammaln(n - r + 1)

    log_pmf = (
        log_choose(n1c, kk)
        + log_choose(n0c, np.where(support, mc - kk, 0.0))
        - log_choose(n1c + n0c, mc)
    )
    pmf = np.where(support, np.exp(log_pmf), 0.0)
    observed = k == x1[:, None]
    if alternative == "less":
        p = np.sum(np.where(k <= x1[:, None], pmf, 0.0), axis=1)
    elif alternative == "greater":
        p = np.sum(np.where(k >= x1[:, None], pmf, 0.0), axis=1)
    else:
        p_obs = np.sum(np.where(observed, pmf, 0.0), axis=1)[:, None]
        p = np.sum(np.where(pmf <= p_obs * (1 + _FISHER_RTOL), pmf, 0.0), axis=1)
    p = np.minimum(p, 1.0)
    degenerate = tab.degenerate
    return np.where(degenerate, np.nan, odds_ratio), np.where(degenerate, 1.0, p)


def _z_pvalue(z: np.ndarray, alternative: str) -> np.ndarray:
    return np.where(np.isnan(z), 1.0, pvalue_from_z(z, alternative))


def _chi2_pvalue(chi2: np.ndarray, signed: np.ndarray, alternative: str) -> np.ndarray:
    if alternative == "two-sided":
        return np.where(np.isnan(chi2), 1.0, stats.chi2.sf(chi2, 1))
    return _z_pvalue(signed, alternative)


def _min_expected(tab: _Table) -> np.ndarray:
    n = tab.n1 + tab.n0
    m1 = tab.x1 + tab.x0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            n > 0, np.minimum(tab.n1, tab.n0) * np.minimum(m1, n - m1) / np.where(n > 0, n, 1), 0
        )


# --------------------------------------------------------------------------- packaging


def _single(
    method: str,
    statistic: np.ndarray,
    pvalue: np.ndarray,
    tab: _Table,
    ci_method: str,
    alternative: str,
    confidence: float,
) -> BinaryComparisonResult:
    rd = _risk_difference_fields(tab, ci_method, confidence)
    return BinaryComparisonResult(
        method=method,
        statistic=float(statistic[0]),
        pvalue=float(pvalue[0]),
        **{k: float(v[0]) for k, v in rd.items()},
        responders_treatment=int(tab.x1[0]),
        n_treatment=int(tab.n1[0]),
        responders_control=int(tab.x0[0]),
        n_control=int(tab.n0[0]),
        ci_method=ci_method,
        alternative=alternative,
        confidence=confidence,
    )


def _batch(
    method: str,
    statistic: np.ndarray,
    pvalue: np.ndarray,
    tab: _Table,
    ci_method: str,
    alternative: str,
    confidence: float,
    used_fisher: np.ndarray | None = None,
) -> BinaryComparisonBatchResult:
    return BinaryComparisonBatchResult(
        **_risk_difference_fields(tab, ci_method, confidence),
        statistic=statistic,
        pvalue=pvalue,
        method=method,
        ci_method=ci_method,
        responders_treatment=tab.x1.astype(np.int64),
        n_treatment=tab.n1.astype(np.int64),
        responders_control=tab.x0.astype(np.int64),
        n_control=tab.n0.astype(np.int64),
        used_fisher=used_fisher,
        alternative=alternative,
        confidence=confidence,
    )


_DOC_COMMON = """
Parameters
----------
response : array_like of bool or {0, 1}
    1 = responder. Shape (n,) for one trial, (replicates, patients) for a batch.
group : array_like of bool or {0, 1}
    1 = treatment, 0 = control (batch: broadcastable to ``response``).
mask : array_like of bool, optional (batch only)
    True for patients included in the analysis of that replicate; others are ignored.
alternative : {"two-sided", "less", "greater"}
    Relative to the treatment response probability: ``"greater"`` = treatment responds
    more than control.
confidence : float
    Level of the two-sided interval for the risk difference.
ci_method : {"newcombe", "wald"}
    Interval for the risk difference: Newcombe's hybrid score interval (method 10 of
    Newcombe 1998, from the two Wilson intervals) or the Wald interval.
"""


@fill_doc(common=_DOC_COMMON)
def risk_difference(
    response: object,
    group: object,
    ci_method: str = "newcombe",
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> BinaryComparisonResult:
    """Risk difference p_treatment - p_control with an interval and the pooled z test.

    The test is the score (pooled-variance) z test of equal proportions,
    z = (p1 - p0) / sqrt(pbar (1 - pbar) (1/n1 + 1/n0)), whatever ``ci_method``; z^2 equals
    Pearson's X^2 without continuity correction.

    {common}
    Returns
    -------
    BinaryComparisonResult
        ``method`` = "z"; ``statistic`` = z; ``estimate`` = risk difference (proportion).
    """
    check_alternative(alternative)
    tab = _table_single(response, group)
    z = _pooled_z(tab)
    return _single("z", z, _z_pvalue(z, alternative), tab, ci_method, alternative, confidence)


@fill_doc(common=_DOC_COMMON)
def risk_difference_batch(
    response: object,
    group: object,
    mask: object | None = None,
    ci_method: str = "newcombe",
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> BinaryComparisonBatchResult:
    """Batched :func:`risk_difference`, one entry per replicate (row).

    {common}
    """
    check_alternative(alternative)
    tab = _table_batch(*_batch_arrays(response, group, mask))
    z = _pooled_z(tab)
    return _batch("z", z, _z_pvalue(z, alternative), tab, ci_method, alternative, confidence)


@fill_doc(common=_DOC_COMMON)
def chi_square_test(
    response: object,
    group: object,
    correction: bool = False,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    ci_method: str = "newcombe",
) -> BinaryComparisonResult:
    """Pearson chi-square test of the 2x2 table, optionally with Yates' correction.

    For ``alternative="two-sided"`` the p-value is the upper tail of chi-square(1); for the
    one-sided alternatives it comes from the signed root of X^2 (sign of p1 - p0) referred
    to the standard normal.

    {common}
    correction : bool
        Apply Yates' continuity correction.

    Returns
    -------
    BinaryComparisonResult
        ``statistic`` = X^2; ``method`` = "chi-square" or "chi-square-yates".
    """
    check_alternative(alternative)
    tab = _table_single(response, group)
    chi2, signed = _pearson(tab, correction)
    method = "chi-square-yates" if correction else "chi-square"
    p = _chi2_pvalue(chi2, signed, alternative)
    return _single(method, chi2, p, tab, ci_method, alternative, confidence)


@fill_doc(common=_DOC_COMMON)
def chi_square_batch(
    response: object,
    group: object,
    mask: object | None = None,
    correction: bool = False,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    ci_method: str = "newcombe",
) -> BinaryComparisonBatchResult:
    """Batched :func:`chi_square_test`, one entry per replicate (row).

    {common}
    """
    check_alternative(alternative)
    tab = _table_batch(*_batch_arrays(response, group, mask))
    chi2, signed = _pearson(tab, correction)
    method = "chi-square-yates" if correction else "chi-square"
    p = _chi2_pvalue(chi2, signed, alternative)
    return _batch(method, chi2, p, tab, ci_method, alternative, confidence)


@fill_doc(common=_DOC_COMMON)
def fisher_exact_test(
    response: object,
    group: object,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    ci_method: str = "newcombe",
) -> BinaryComparisonResult:
    """Fisher's exact test of the 2x2 table (via :func:`scipy.stats.fisher_exact`).

    The table is [[treatment responders, treatment non-responders], [control responders,
    control non-responders]], so scipy's odds-ratio alternatives coincide with ours.
    The two-sided p-value sums the probabilities of all tables no more likely than the
    observed one.

    {common}
    Returns
    -------
    BinaryComparisonResult
        ``statistic`` = sample odds ratio (treatment odds / control odds).
    """
    check_alternative(alternative)
    tab = _table_single(response, group)
    table = np.array([[tab.x1[0], tab.n1[0] - tab.x1[0]], [tab.x0[0], tab.n0[0] - tab.x0[0]]])
    res = stats.fisher_exact(table.astype(np.int64), alternative=alternative)
    statistic = np.array([np.nan if tab.degenerate[0] else float(res.statistic)])
    return _single(
        "fisher", statistic, np.array([res.pvalue]), tab, ci_method, alternative, confidence
    )


@fill_doc(common=_DOC_COMMON)
def fisher_exact_batch(
    response: object,
    group: object,
    mask: object | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    ci_method: str = "newcombe",
) -> BinaryComparisonBatchResult:
    """Batched Fisher exact test, computed from the hypergeometric distribution directly.

    Gives the same p-values as :func:`scipy.stats.fisher_exact` (two-sided: tables with
    probability at most the observed one's, to a relative tolerance of 1e-7).

    {common}
    """
    check_alternative(alternative)
    tab = _table_batch(*_batch_arrays(response, group, mask))
    odds_ratio, p = _fisher(tab, alternative)
    return _batch("fisher", odds_ratio, p, tab, ci_method, alternative, confidence)


@fill_doc(common=_DOC_COMMON)
def binary_test(
    response: object,
    group: object,
    alternative: str = "two-sided",
    min_expected: float = 5.0,
    confidence: float = 0.95,
    ci_method: str = "newcombe",
) -> BinaryComparisonResult:
    """Fisher's exact test if any expected cell count is below ``min_expected``, else Pearson.

    The rule (Cochran's: the chi-square approximation is trusted only when every expected
    count n_arm * n_outcome / N is at least 5) is applied to the observed margins; Pearson's
    test is used without continuity correction.

    {common}
    min_expected : float
        Threshold on the smallest expected cell count.

    Returns
    -------
    BinaryComparisonResult
        ``method`` says which test was used.
    """
    tab = _table_single(response, group)
    if _min_expected(tab)[0] < min_expected:
        return fisher_exact_test(response, group, alternative, confidence, ci_method)
    return chi_square_test(response, group, False, alternative, confidence, ci_method)


@fill_doc(common=_DOC_COMMON)
def binary_test_batch(
    response: object,
    group: object,
    mask: object | None = None,
    alternative: str = "two-sided",
    min_expected: float = 5.0,
    confidence: float = 0.95,
    ci_method: str = "newcombe",
) -> BinaryComparisonBatchResult:
    """Batched :func:`binary_test`; ``used_fisher`` records the choice per replicate.

    ``statistic`` is the sample odds ratio where Fisher's test was used and X^2 elsewhere.

    {common}
    """
    check_alternative(alternative)
    tab = _table_batch(*_batch_arrays(response, group, mask))
    use_fisher = _min_expected(tab) < min_expected
    chi2, signed = _pearson(tab, correction=False)
    p = _chi2_pvalue(chi2, signed, alternative)
    statistic = chi2
    if use_fisher.any():
        sub = _Table(*(a[use_fisher] for a in tab))
        odds_ratio, p_fisher = _fisher(sub, alternative)
        p = p.copy()
        statistic = chi2.copy()
        p[use_fisher] = p_fisher
        statistic[use_fisher] = odds_ratio
    return _batch("auto", statistic, p, tab, ci_method, alternative, confidence, use_fisher)


# --------------------------------------------------------------------------- stratified


def _cmh(tables: list[_Table], correction: bool, alternative: str, confidence: float) -> dict:
    """CMH chi-square and Mantel-Haenszel odds ratio with the Robins-Breslow-Greenland SE."""
    rows = tables[0].x1.shape[0] if tables else 0
    dev: np.ndarray | float
    var: np.ndarray | float
    r_sum: np.ndarray | float
    s_sum: np.ndarray | float
    v_rr: np.ndarray | float
    v_rs: np.ndarray | float
    v_ss: np.ndarray | float
    dev = var = r_sum = s_sum = 0.0
    v_rr = v_rs = v_ss = 0.0
    informative = np.zeros(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        for tab in tables:
            a, b = tab.x1, tab.n1 - tab.x1
            c, d = tab.x0, tab.n0 - tab.x0
            n = tab.n1 + tab.n0
            use = n >= 2  # a stratum of one patient carries no information
            ns = np.where(use, n, 2.0)
            m1 = a + c
            dev = dev + np.where(use, a - tab.n1 * m1 / ns, 0.0)
            var = var + np.where(use, tab.n1 * tab.n0 * m1 * (n - m1) / (ns**2 * (ns - 1)), 0.0)
            r_k = np.where(use, a * d / ns, 0.0)
            s_k = np.where(use, b * c / ns, 0.0)
            p_k = np.where(use, (a + d) / ns, 0.0)
            r_sum, s_sum = r_sum + r_k, s_sum + s_k
            v_rr = v_rr + p_k * r_k
            v_rs = v_rs + p_k * s_k + (1 - p_k) * r_k
            v_ss = v_ss + (1 - p_k) * s_k
            informative += use
        absdev = np.abs(dev)
        if correction:
            absdev = np.maximum(absdev - 0.5, 0.0)
        chi2 = np.where(var > 0, absdev**2 / var, np.nan)
        z = np.sign(dev) * np.sqrt(chi2)
        log_or = np.log(r_sum) - np.log(s_sum)
        se = np.sqrt(v_rr / (2 * r_sum**2) + v_rs / (2 * r_sum * s_sum) + v_ss / (2 * s_sum**2))
    if alternative == "two-sided":
        p = np.where(np.isnan(chi2), 1.0, stats.chi2.sf(chi2, 1))
    else:
        p = _z_pvalue(z, alternative)
    zc = z_critical(confidence)
    return {
        "statistic": np.broadcast_to(chi2, (rows,)),
        "z": np.broadcast_to(z, (rows,)),
        "pvalue": np.broadcast_to(p, (rows,)),
        "estimate": np.broadcast_to(log_or, (rows,)),
        "se": np.broadcast_to(se, (rows,)),
        "ci_low": np.broadcast_to(log_or - zc * se, (rows,)),
        "ci_high": np.broadcast_to(log_or + zc * se, (rows,)),
        "n_strata": informative,
    }


def cmh_test(
    response: object,
    group: object,
    strata: object,
    correction: bool = False,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> CMHResult:
    """Cochran-Mantel-Haenszel test and Mantel-Haenszel common odds ratio across strata.

    Parameters
    ----------
    response, group : array_like of bool or {0, 1}, shape (n,)
        Responder indicator and arm (1 = treatment).
    strata : array_like, shape (n,)
        Stratum labels (e.g. randomisation strata).
    correction : bool
        Subtract 0.5 from |sum(O - E)| (never below 0) before squaring.
    alternative : {"two-sided", "less", "greater"}
        ``"greater"`` = treatment odds of response higher (common OR > 1); one-sided
        p-values use the signed root of the statistic.
    confidence : float
        Level of the Wald interval for the log common odds ratio.

    Returns
    -------
    CMHResult
        CMH chi-square (hypergeometric variances), the log MH odds ratio with the
        Robins-Breslow-Greenland SE and interval. Strata with fewer than two patients are
        ignored.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    r = as_indicator(as_1d(response, "response"), "response")
    g = as_group(as_1d(group, "group"))
    s = as_1d(strata, "strata")
    same_length(response=r, group=g, strata=s)
    tables = [_table_single(r[s == level], g[s == level]) for level in np.unique(s)]
    out = _cmh(tables, correction, alternative, confidence)
    return CMHResult(
        **{k: float(v[0]) for k, v in out.items() if k != "n_strata"},
        n_strata=int(out["n_strata"][0]),
        correction=correction,
        alternative=alternative,
        confidence=confidence,
    )


def cmh_batch(
    response: object,
    group: object,
    strata: object,
    mask: object | None = None,
    correction: bool = False,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> CMHBatchResult:
    """Batched :func:`cmh_test`, one entry per replicate (row).

    ``strata`` is broadcastable to ``response``; ``mask`` excludes patients entirely. The loop
    runs over stratum labels only.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    r, g, m = _batch_arrays(response, group, mask)
    s = broadcast(np.asarray(strata), r.shape, "strata")
    tables = [_table_batch(r, g, m & (s == level)) for level in np.unique(s[m])]
    return CMHBatchResult(
        **_cmh(tables, correction, alternative, confidence),
        alternative=alternative,
        confidence=confidence,
    )
