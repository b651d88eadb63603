"""Time-to-event comparisons of two arms: the log-rank test and the Cox model.

Both are built from the same risk-set summary: at each distinct event time (within a
stratum), the numbers at risk ``n`` (``n1`` of them in the treatment arm) just before that
time and the numbers of events ``d`` (``d1`` in the treatment arm). Patients censored at an
event time are still at risk at that time, and tied events are all counted at risk before any
of them is removed.

The single-trial functions build that summary in a readable way (``np.unique`` and
``searchsorted`` on one trial); the batch functions build it for a whole
``(replicates, patients)`` matrix from one ``argsort`` along rows plus cumulative sums. The two
constructions are independent and are tested against each other and against lifelines and
statsmodels.

Conventions: ``group`` is 1 for the treatment arm and 0 for control; ``event`` is 1 for an
observed event and 0 for censoring; time units are whatever the caller uses (e.g. months) and
cancel in every result. ``alternative`` refers to the treatment hazard relative to control:
``"less"`` means the treatment hazard is lower (a benefit when the event is harmful).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from ._common import (
    as_1d,
    as_group,
    as_indicator,
    as_mask,
    batch_shape,
    broadcast,
    check_alternative,
    pvalue_from_z,
    same_length,
    z_critical,
)
from .results import CoxBatchResult, CoxResult, LogrankBatchResult, LogrankResult

__all__ = ["cox_ph", "cox_ph_batch", "logrank", "logrank_batch", "logrank_cox_batch"]

_TIES = ("breslow", "efron")
# Newton-Raphson is stopped (and marked unconverged) once |log HR| exceeds this: an HR of
# e^30 only arises when the estimate is diverging because all events are in one arm.
_DIVERGED = 30.0


class _RiskSets(NamedTuple):
    """Risk-set summary: one entry per (replicate, distinct event time), flattened.

    ``row`` says which replicate the entry belongs to (always 0 for a single trial).
    """

    row: np.ndarray  # replicate index
    d: np.ndarray  # events at the time
    d1: np.ndarray  # treatment-arm events at the time
    n: np.ndarray  # at risk just before the time
    n1: np.ndarray  # treatment-arm patients at risk just before the time

    @staticmethod
    def concat(parts: list[_RiskSets]) -> _RiskSets:
        return _RiskSets(*(np.concatenate([p[i] for p in parts]) for i in range(5)))

    def per_row(self, x: np.ndarray, rows: int) -> np.ndarray:
        """Sum ``x`` (one value per entry) within each replicate."""
        return np.bincount(self.row, weights=x, minlength=rows)


_NO_EVENTS = _RiskSets(np.zeros(0, dtype=np.intp), *(np.zeros(0) for _ in range(4)))


# --------------------------------------------------------------------------- input checks


def _check_times(time: np.ndarray, included: np.ndarray) -> None:
    if np.any(included & ~np.isfinite(time)):
        raise ValueError("time must be finite for every included patient")
    if np.any(included & (time < 0)):
        raise ValueError("time must be non-negative")


def _stratum_codes(strata: object | None, n: int) -> np.ndarray:
    if strata is None:
        return np.zeros(n, dtype=np.intp)
    s = as_1d(strata, "strata")
    if s.shape[0] != n:
        raise ValueError(f"strata must have length {n}, got {s.shape[0]}")
    return np.unique(s, return_inverse=True)[1]


# --------------------------------------------------------------------------- single trial


def _risk_table(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> _RiskSets:
    """Risk-set summary of one trial (one stratum), one entry per distinct event time."""
    event_times = np.unique(time[event])
    all_sorted = np.sort(time)
    trt_sorted = np.sort(time[group])
    ev_sorted = np.sort(time[event])
    ev_trt_sorted = np.sort(time[event & group])

    def at_or_after(sorted_times: np.ndarray) -> np.ndarray:
        return sorted_times.size - np.searchsorted(sorted_times, event_times, side="left")

    def at(sorted_times: np.ndarray) -> np.ndarray:
        return np.searchsorted(sorted_times, event_times, side="right") - np.searchsorted(
            sorted_times, event_times, side="left"
        )

    return _RiskSets(
        row=np.zeros(event_times.size, dtype=np.intp),
        d=at(ev_sorted).astype(float),
        d1=at(ev_trt_sorted).astype(float),
        n=at_or_after(all_sorted).astype(float),
        n1=at_or_after(trt_sorted).astype(float),
    )


def _single_trial_risk_sets(
    time: object, event: object, group: object, strata: object | None
) -> tuple[_RiskSets, int, int, int]:
    """Risk sets of every stratum of one trial, with the arm sizes and number of strata."""
    t = as_1d(time, "time", float)
    e = as_indicator(as_1d(event, "event"), "event")
    g = as_group(as_1d(group, "group"))
    n = same_length(time=t, event=e, group=g)
    _check_times(t, np.ones(n, dtype=bool))
    codes = _stratum_codes(strata, n)
    n_strata = int(codes.max()) + 1 if n else 0
    tables = [_risk_table(t[codes == s], e[codes == s], g[codes == s]) for s in range(n_strata)]
    return _RiskSets.concat([_NO_EVENTS, *tables]), int(g.sum()), int((~g).sum()), n_strata


def logrank(
    time: object,
    event: object,
    group: object,
    strata: object | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> LogrankResult:
    """Log-rank test comparing the treatment arm with control in one trial.

    Parameters
    ----------
    time : array_like, shape (n,)
        Follow-up time of each patient (any unit, e.g. months); finite and >= 0.
    event : array_like of bool or {0, 1}, shape (n,)
        1 if the event was observed at ``time``, 0 if censored.
    group : array_like of bool or {0, 1}, shape (n,)
        1 = treatment (experimental) arm, 0 = control.
    strata : array_like, shape (n,), optional
        Stratum labels. The stratified test sums O - E and the variances over strata.
    alternative : {"two-sided", "less", "greater"}
        Relative to the treatment hazard: ``"less"`` tests whether it is lower than the
        control hazard (p = Phi(z)), ``"greater"`` whether it is higher.
    confidence : float
        Level of the two-sided interval for the Peto hazard ratio.

    Returns
    -------
    LogrankResult
        ``statistic`` is z = (O1 - E1) / sqrt(V), negative when the treatment arm has fewer
        events than expected; ``estimate`` is the Peto log hazard ratio (O1 - E1) / V.

    Notes
    -----
    With ``d`` tied events among ``n`` at risk, ``n1`` of them treated, the contribution to
    E1 is d n1 / n and to V the hypergeometric d (n1/n)(1 - n1/n)(n - d)/(n - 1). If V = 0
    (no events, or an arm empty at every event time) z and the p-value are NaN.
    """
    check_alternative(alternative)
    risk_sets, n_trt, n_ctl, n_strata = _single_trial_risk_sets(time, event, group, strata)
    out = _logrank_finish(*_logrank_sums(risk_sets, 1), alternative, confidence)
    return LogrankResult(
        **{k: float(val[0]) for k, val in out.items()},
        n_treatment=n_trt,
        n_control=n_ctl,
        n_strata=n_strata,
        alternative=alternative,
        confidence=confidence,
    )


class _Terms(NamedTuple):
    """Terms of the log partial likelihood, flattened over replicates (one entry per term)."""

    row: np.ndarray  # replicate the term belongs to
    w: np.ndarray  # weight
    a: np.ndarray  # (Efron-weighted) control patients at risk
    b: np.ndarray  # (Efron-weighted) treatment patients at risk


def _cox_terms(rs: _RiskSets, ties: str) -> _Terms:
    """Terms of the log partial likelihood of a binary covariate,
    beta * O1 - sum(w * log(a + b * exp(beta))), taken from the risk sets with events.

    Breslow uses one term per tie group with weight d. Efron uses d terms of weight 1 for
    a group of d tied events, the k-th (k = 0, ..., d - 1) with the fraction k/d of the tied
    events removed from each arm's risk set.
    """
    rows, d, d1, n, n1 = rs
    n0, d0 = n - n1, d - d1
    if ties == "breslow":
        return _Terms(rows, d, n0, n1)
    reps = d.astype(np.int64)
    k = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)  # 0..d-1 per group
    frac = k / np.repeat(d, reps)
    return _Terms(
        row=np.repeat(rows, reps),
        w=np.ones(k.size),
        a=np.repeat(n0, reps) - frac * np.repeat(d0, reps),
        b=np.repeat(n1, reps) - frac * np.repeat(d1, reps),
    )


def cox_ph(
    time: object,
    event: object,
    group: object,
    strata: object | None = None,
    ties: str = "breslow",
    alternative: str = "two-sided",
    confidence: float = 0.95,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> CoxResult:
    """Cox proportional-hazards model with a single binary treatment covariate.

    Fitted by Newton-Raphson (with step halving) on the log partial likelihood, starting
    from a log hazard ratio of 0.

    Parameters
    ----------
    time, event, group, strata
        As for :func:`logrank`. A stratified model has a separate baseline hazard per stratum
        and a common hazard ratio.
    ties : {"breslow", "efron"}
        Handling of tied event times.
    alternative : {"two-sided", "less", "greater"}
        For the Wald test of the log hazard ratio (treatment / control); ``"less"`` = the
        treatment hazard is lower.
    confidence : float
        Level of the two-sided Wald interval.
    max_iter : int
        Maximum Newton-Raphson iterations.
    tol : float
        Convergence tolerance on the Newton step in log hazard ratio.

    Returns
    -------
    CoxResult
        Log hazard ratio, SE from the observed information, Wald z, p-value and interval.
        If all events fall in one arm the estimate diverges: ``converged`` is False and the
        Wald test should not be used (the log-rank test remains valid).
    """
    check_alternative(alternative)
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {_TIES}, got {ties!r}")
    risk_sets, n_trt, n_ctl, n_strata = _single_trial_risk_sets(time, event, group, strata)
    o1 = np.array([risk_sets.d1.sum()])
    fit = _fit_binary_cox(o1, _cox_terms(risk_sets, ties), max_iter, tol)
    out = _wald(fit.beta, fit.se, alternative, confidence)
    return CoxResult(
        **{k: float(val[0]) for k, val in out.items()},
        loglik=float(fit.loglik[0]),
        n=n_trt + n_ctl,
        n_events=int(risk_sets.d.sum()),
        n_strata=n_strata,
        ties=ties,
        converged=bool(fit.converged[0]),
        iterations=int(fit.iterations[0]),
        alternative=alternative,
        confidence=confidence,
    )


# --------------------------------------------------------------------------- shared arithmetic


def _logrank_sums(rs: _RiskSets, rows: int) -> tuple[np.ndarray, ...]:
    """Per-replicate O1, E1, V and total events from a risk-set summary."""
    n, d = rs.n, rs.d
    p1 = rs.n1 / n
    e1 = rs.per_row(d * p1, rows)
    v = rs.per_row(d * p1 * (1.0 - p1) * (n - d) / np.maximum(n - 1.0, 1.0), rows)
    return rs.per_row(rs.d1, rows), e1, v, rs.per_row(d, rows)


def _logrank_finish(
    o1: np.ndarray,
    e1: np.ndarray,
    v: np.ndarray,
    d: np.ndarray,
    alternative: str,
    confidence: float,
) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        informative = v > 0
        z = np.where(informative, (o1 - e1) / np.sqrt(v), np.nan)
        estimate = np.where(informative, (o1 - e1) / v, np.nan)
        se = np.where(informative, 1.0 / np.sqrt(v), np.nan)
    zc = z_critical(confidence)
    return {
        "statistic": z,
        "pvalue": pvalue_from_z(z, alternative),
        "chisq": z**2,
        "estimate": estimate,
        "se": se,
        "ci_low": estimate - zc * se,
        "ci_high": estimate + zc * se,
        "observed_treatment": o1,
        "expected_treatment": e1,
        "observed_control": d - o1,
        "expected_control": d - e1,
        "variance": v,
    }


class _CoxFit(NamedTuple):
    beta: np.ndarray
    se: np.ndarray
    loglik: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def _safe_log(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), -np.inf)


def _fit_binary_cox(o1: np.ndarray, terms: _Terms, max_iter: int, tol: float) -> _CoxFit:
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


def _wald(
    beta: np.ndarray, se: np.ndarray, alternative: str, confidence: float
) -> dict[str, np.ndarray]:
    z = beta / se
    zc = z_critical(confidence)
    return {
        "statistic": z,
        "pvalue": pvalue_from_z(z, alternative),
        "estimate": beta,
        "se": se,
        "ci_low": beta - zc * se,
        "ci_high": beta + zc * se,
    }


# --------------------------------------------------------------------------- batches


def _batch_inputs(
    time: object, event: object, group: object, mask: object | None, strata: object | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    t, shape = batch_shape(time, "time")
    m = as_mask(mask, shape)
    e = as_indicator(event, "event", shape)
    g = as_group(group, shape)
    _check_times(t, m)
    s = None if strata is None else broadcast(np.asarray(strata), shape, "strata")
    return t, e, g, m, s


class _SortedRows(NamedTuple):
    """Each row sorted by time, excluded patients last (at +inf)."""

    time: np.ndarray  # (replicates, patients), float
    code: np.ndarray  # int8: bit 0 = event, bit 1 = treatment arm (0 for excluded patients)
    n: np.ndarray  # (replicates, 1): patients included
    n1: np.ndarray  # (replicates, 1): treatment-arm patients included
    tied: bool  # any two included patients of a row share a time


def _sort_rows(
    time: np.ndarray, event: np.ndarray, group: np.ndarray, mask: np.ndarray
) -> _SortedRows:
    everyone = bool(mask.all())
    t = time if everyone else np.where(mask, time, np.inf)
    # One int8 code carries both flags through a single gather.
    code = (event & mask).view(np.int8) | ((group & mask).view(np.int8) << 1)
    code = np.take_along_axis(code, np.argsort(t, axis=1), axis=1)
    t_sorted = np.sort(t, axis=1)  # same values as gathering by the argsort, and faster
    same_as_next = t_sorted[:, 1:] == t_sorted[:, :-1]
    if not everyone:
        same_as_next &= np.isfinite(t_sorted[:, 1:])  # the +inf block is excluded patients
    return _SortedRows(
        time=t_sorted,
        code=code,
        n=np.count_nonzero(mask, axis=1)[:, None],
        n1=np.count_nonzero(group & mask, axis=1)[:, None],
        tied=bool(same_as_next.any()),
    )


def _logrank_sums_untied(rows: _SortedRows) -> tuple[np.ndarray, ...]:
    """O1, E1, V and events per row when no two included times in a row are equal.

    Without ties the j-th sorted patient has exactly n - j patients at risk, so only the
    treatment count at risk needs a cumulative sum, and V reduces to sum(p1 (1 - p1)) over
    events; written to keep to one float temporary of the batch's size.
    """
    cols = rows.code.shape[1]
    trt = rows.code >> 1
    ev = rows.code & 1
    trt_before = np.cumsum(trt, axis=1, dtype=np.int32)
    trt_before -= trt
    trt_at_risk = np.subtract(rows.n1, trt_before, out=trt_before)
    same_n = rows.n.size > 0 and bool(np.all(rows.n == rows.n[0]))
    n = rows.n[:1] if same_n else rows.n  # one row of 1/(n - j) serves all rows if n is equal
    # Past the included block nobody is at risk; the clamp only avoids dividing by zero there.
    inv_at_risk = 1.0 / np.maximum(n - np.arange(cols), 1)
    p1 = trt_at_risk * inv_at_risk
    p1 *= ev
    e1 = p1.sum(axis=1)
    v = e1 - np.einsum("ij,ij->i", p1, p1)
    o1 = np.count_nonzero(rows.code == 3, axis=1).astype(float)
    d = np.count_nonzero(ev, axis=1).astype(float)
    return o1, e1, v, d


def _risk_sets(rows: _SortedRows) -> _RiskSets:
    """Risk sets with events of every row of the sorted batch.

    Without ties each event is its own risk set: the j-th sorted patient has n - j at risk.
    With ties, a group of equal times is one risk set: the patients at risk are those from
    the group's first position on (nobody of the group removed yet), and its events are the
    increase of the cumulative event count over the group. Working at the group ends keeps
    everything proportional to the number of groups.
    """
    ev = rows.code & 1
    trt = rows.code >> 1
    cum_trt = np.cumsum(trt, axis=1, dtype=np.int32)
    if not rows.tied:
        # Flat positions of the events, row by row (as np.nonzero, but 1-d gathers are cheaper).
        flat = np.flatnonzero(ev)
        r, c = np.divmod(flat, ev.shape[1])
        trt_at = trt.ravel()[flat]
        n1 = rows.n1[r, 0] - (cum_trt.ravel()[flat] - trt_at)
        return _RiskSets(
            row=r,
            d=np.ones(r.size),
            d1=trt_at.astype(float),
            n=(rows.n[r, 0] - c).astype(float),
            n1=n1.astype(float),
        )
    ends = np.ones(rows.time.shape, dtype=bool)
    ends[:, :-1] = rows.time[:, 1:] != rows.time[:, :-1]
    r, c = np.nonzero(ends)  # last position of each group of tied times, row by row
    if r.size == 0:
        return _NO_EVENTS
    cum_ev = np.cumsum(ev, axis=1, dtype=np.int32)[r, c]
    cum_ev1 = np.cumsum(ev & trt, axis=1, dtype=np.int32)[r, c]
    cum_trt = cum_trt[r, c]
    # The same totals at the end of the previous group of the row (zero for a first group).
    first_of_row = np.ones(r.size, dtype=bool)
    first_of_row[1:] = r[1:] != r[:-1]

    def before(x: np.ndarray) -> np.ndarray:
        prev = np.empty_like(x)
        prev[0] = 0
        prev[1:] = x[:-1]
        prev[first_of_row] = 0
        return prev

    d = cum_ev - before(cum_ev)
    keep = d > 0
    patients_before = before(c + 1)
    rs = _RiskSets(
        row=r,
        d=d.astype(float),
        d1=(cum_ev1 - before(cum_ev1)).astype(float),
        n=(rows.n[r, 0] - patients_before).astype(float),
        n1=(rows.n1[r, 0] - before(cum_trt)).astype(float),
    )
    return _RiskSets(*(a[keep] for a in rs))


def _batch_strata(mask: np.ndarray, strata: np.ndarray | None) -> list[np.ndarray]:
    if strata is None:
        return [mask]
    return [mask & (strata == s) for s in np.unique(strata[mask])]


def logrank_batch(
    time: object,
    event: object,
    group: object,
    mask: object | None = None,
    strata: object | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> LogrankBatchResult:
    """Log-rank test for every replicate of a batch of simulated trials.

    Parameters
    ----------
    time : array_like, shape (replicates, patients)
        Follow-up times (any unit, e.g. months); finite and >= 0 where ``mask`` is True.
    event : array_like of bool or {0, 1}
        Event indicator, broadcastable to ``time``.
    group : array_like of bool or {0, 1}
        1 = treatment, 0 = control, broadcastable to ``time``.
    mask : array_like of bool, optional
        True for patients included in the analysis of that replicate (e.g. enrolled by the
        data cut-off). Excluded entries are ignored entirely, whatever their values.
    strata : array_like, optional
        Stratum labels broadcastable to ``time``; the test sums O - E and V over strata.
    alternative : {"two-sided", "less", "greater"}
        As in :func:`logrank` (``"less"`` = treatment hazard lower).
    confidence : float
        Level of the interval for the Peto log hazard ratio.

    Returns
    -------
    LogrankBatchResult
        One entry per replicate; identical to :func:`logrank` applied row by row.
    """
    check_alternative(alternative)
    t, e, g, m, s = _batch_inputs(time, event, group, mask, strata)
    return _logrank_batch_sorted(t, g, m, _sorted_strata(t, e, g, m, s), alternative, confidence)


def _sorted_strata(
    t: np.ndarray, e: np.ndarray, g: np.ndarray, m: np.ndarray, s: np.ndarray | None
) -> list[_SortedRows]:
    """Every stratum of the batch sorted (shared by the log-rank and the Cox fit)."""
    return [_sort_rows(t, e, g, stratum_mask) for stratum_mask in _batch_strata(m, s)]


def _logrank_batch_sorted(
    t: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    strata_rows: list[_SortedRows],
    alternative: str,
    confidence: float,
) -> LogrankBatchResult:
    totals = np.zeros((4, t.shape[0]))  # O1, E1, V, events: summed over strata
    for rows in strata_rows:
        if rows.tied:
            totals += np.stack(_logrank_sums(_risk_sets(rows), t.shape[0]))
        else:
            totals += np.stack(_logrank_sums_untied(rows))
    o1, e1, v, d = totals
    out = _logrank_finish(o1, e1, v, d, alternative, confidence)
    return LogrankBatchResult(
        **out,
        n_events=d.astype(np.int64),
        n_treatment=np.count_nonzero(g & m, axis=1),
        n_control=np.count_nonzero(~g & m, axis=1),
        alternative=alternative,
        confidence=confidence,
    )


def cox_ph_batch(
    time: object,
    event: object,
    group: object,
    mask: object | None = None,
    strata: object | None = None,
    ties: str = "breslow",
    alternative: str = "two-sided",
    confidence: float = 0.95,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> CoxBatchResult:
    """Cox model with a binary treatment covariate for every replicate of a batch.

    Newton-Raphson runs simultaneously for all replicates (a replicate stops updating once
    its step is below ``tol``). Arguments are as for :func:`logrank_batch` and
    :func:`cox_ph`; ``alternative`` refers to the log hazard ratio (treatment / control).

    Returns
    -------
    CoxBatchResult
        One entry per replicate; identical to :func:`cox_ph` applied row by row (to the
        convergence tolerance).
    """
    check_alternative(alternative)
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {_TIES}, got {ties!r}")
    t, e, g, m, s = _batch_inputs(time, event, group, mask, strata)
    return _cox_batch_sorted(
        t.shape[0], _sorted_strata(t, e, g, m, s), ties, alternative, confidence, max_iter, tol
    )


def _cox_batch_sorted(
    rows: int,
    strata_rows: list[_SortedRows],
    ties: str,
    alternative: str,
    confidence: float,
    max_iter: int,
    tol: float,
) -> CoxBatchResult:
    risk_sets = _RiskSets.concat([_NO_EVENTS, *(_risk_sets(sr) for sr in strata_rows)])
    o1 = risk_sets.per_row(risk_sets.d1, rows)
    n_events = risk_sets.per_row(risk_sets.d, rows)
    fit = _fit_binary_cox(o1, _cox_terms(risk_sets, ties), max_iter, tol)
    return CoxBatchResult(
        **_wald(fit.beta, fit.se, alternative, confidence),
        loglik=fit.loglik,
        n_events=n_events.astype(np.int64),
        converged=fit.converged,
        iterations=fit.iterations,
        ties=ties,
        alternative=alternative,
        confidence=confidence,
    )


def logrank_cox_batch(
    time: object,
    event: object,
    group: object,
    mask: object | None = None,
    strata: object | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    ties: str = "breslow",
    max_iter: int = 50,
    tol: float = 1e-10,
) -> tuple[LogrankBatchResult, CoxBatchResult]:
    """:func:`logrank_batch` and :func:`cox_ph_batch` of the same batch, with the inputs
    checked and each row sorted once for both (identical results to the two calls)."""
    check_alternative(alternative)
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {_TIES}, got {ties!r}")
    t, e, g, m, s = _batch_inputs(time, event, group, mask, strata)
    sorted_rows = _sorted_strata(t, e, g, m, s)
    return (
        _logrank_batch_sorted(t, g, m, sorted_rows, alternative, confidence),
        _cox_batch_sorted(t.shape[0], sorted_rows, ties, alternative, confidence, max_iter, tol),
    )
