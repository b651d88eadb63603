"""Time-to-event comparisons of two arms: the log-rank test and the Cox model.

Both are built from the same risk-set summary: at each distinct event time (within a
stratum), the numbers at risk ``n`` (``n1`` of them in the treatment arm) just before that
time and the numbers of events ``d`` (``d1`` in the treatment arm). Patients censored at an
event time are still at risk at that time, and tied events are all counted at risk before any
of them is removed.

The single-trial functions build that summary in a readable way (``np.unique`` and
``searchsorted`` on one trial); the batch functions build it for a whole
``(replicates, patients)`` matrix from one sort along rows plus cumulative sums (a batch may be
given in blocks of rows, :func:`logrank_cox_blocks`, with identical results). The two
constructions are independent and are tested against each other and against lifelines and
statsmodels. The batched Cox fit is held to the original Newton-Raphson (kept in the tests).

Conventions: ``group`` is 1 for the treatment arm and 0 for control; ``event`` is 1 for an
observed event and 0 for censoring; time units are whatever the caller uses (e.g. months) and
cancel in every result. ``alternative`` refers to the treatment hazard relative to control:
``"less"`` means the treatment hazard is lower (a benefit when the event is harmful).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

import numpy as np

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

__all__ = [
    "cox_ph",
    "cox_ph_batch",
    "logrank",
    "logrank_batch",
    "logrank_cox_batch",
    "logrank_cox_blocks",
]

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
    from the Peto estimate of the log hazard ratio (0 if it is not finite).

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
    o1, e1, v, _ = _logrank_sums(risk_sets, 1)
    fit = _fit_binary_cox(
        o1, _pad_terms(_cox_terms(risk_sets, ties), 1), max_iter, tol, _peto(o1, e1, v)
    )
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


def _logrank_sums(
    rs: _RiskSets, rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-replicate O1, E1, V and total events from a risk-set summary."""
    n, d = rs.n, rs.d
    p1 = rs.n1 / n
    e1 = rs.per_row(d * p1, rows)
    v = rs.per_row(d * p1 * (1.0 - p1) * (n - d) / np.maximum(n - 1.0, 1.0), rows)
    return rs.per_row(rs.d1, rows), e1, v, rs.per_row(d, rows)


def _peto(o1: np.ndarray, e1: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The Peto log hazard ratio (O1 - E1) / V, NaN where V = 0 (a start for the Cox fit)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, (o1 - e1) / v, np.nan)


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


class _Padded(NamedTuple):
    """Terms of the log partial likelihood, one replicate per row, ``(replicates, width)``.

    A replicate with fewer terms than ``width`` is padded with terms that contribute nothing:
    ``a = 1``, ``b = 0`` (the treatment share of the risk set is then 0, so the score and
    information terms are 0) and ``w = 0`` (so the log-likelihood term is 0). Row-wise sums over
    a contiguous 2-D array are several times cheaper than ``np.bincount`` over flat terms.
    """

    a: np.ndarray  # (Efron-weighted) control patients at risk
    b: np.ndarray  # (Efron-weighted) treatment patients at risk
    ratio: np.ndarray  # a / b (inf where b = 0)
    w: np.ndarray | None  # weight, 0 on padding; None: every weight 1 and no padding
    unit: bool  # every real weight is 1 (Breslow without ties): the weights can be skipped

    @staticmethod
    def of(a: np.ndarray, b: np.ndarray, w: np.ndarray | None, unit: bool) -> _Padded:
        with np.errstate(divide="ignore"):
            return _Padded(a, b, a / b, w, unit)

    def rows(self, index: np.ndarray) -> _Padded:
        w = None if self.w is None else self.w[index]
        return _Padded(self.a[index], self.b[index], self.ratio[index], w, self.unit)


def _padded(
    rows: int,
    row: np.ndarray,
    w: np.ndarray | None,
    a: np.ndarray,
    b: np.ndarray,
    counts: np.ndarray | None = None,
) -> _Padded:
    """Lay flat terms, ``row`` non-decreasing, out as a :class:`_Padded` of ``rows`` rows.

    ``w=None`` means every weight is 1; ``counts``, the terms per row, if already known.
    """
    if counts is None:
        counts = np.bincount(row, minlength=rows)
    width = int(counts.max()) if counts.size else 0
    unit = w is None or bool(np.all(w == 1.0))
    if unit and counts.size and bool(np.all(counts == width)):
        # The same number of terms in every replicate: no padding, just a reshape.
        return _Padded.of(a.reshape(rows, width), b.reshape(rows, width), None, True)
    # Flat position of each term in the (rows, width) array: its index among all terms moved
    # from the start of its row's run of terms to the start of its row.
    shift = np.arange(rows) * width - (np.cumsum(counts) - counts)
    at = np.arange(row.size) + np.repeat(shift, counts)
    pa, pb, pw = np.ones((rows, width)), np.zeros((rows, width)), np.zeros((rows, width))
    pa.ravel()[at] = a
    pb.ravel()[at] = b
    pw.ravel()[at] = 1.0 if w is None else w
    return _Padded.of(pa, pb, pw, unit)


def _pad_terms(terms: _Terms, rows: int) -> _Padded:
    """The flat terms (any order of replicates, e.g. stratum by stratum) as a :class:`_Padded`;
    within a replicate the terms keep their order."""
    row, w, a, b = terms
    if row.size > 1 and np.any(row[1:] < row[:-1]):
        order = np.argsort(row, kind="stable")
        row, w, a, b = row[order], w[order], a[order], b[order]
    return _padded(rows, row, w, a, b)


def _untied_terms(rows: _SortedRows) -> tuple[np.ndarray, ...]:
    """The Cox terms of sorted rows without ties, flat: ``(row, n0, n1, per_row)``.

    Each event is its own risk set (Breslow and Efron agree): the j-th sorted patient has
    ``n - j`` patients at risk, of whom ``trt_at_risk`` treated. The same terms as
    ``_cox_terms(_risk_sets(rows), ties)``, without the detour.
    """
    replicates, cols = rows.code.shape
    ev = (rows.code & 1).view(bool)
    per_row = np.count_nonzero(ev, axis=1)
    flat = np.flatnonzero(ev)  # events row by row, in time order within a row
    r = np.repeat(np.arange(replicates), per_row)
    n1 = rows.trt_at_risk().ravel()[flat]
    # n - column = (n + row · cols) - flat position; repeat is a cheap 1-d gather.
    n0 = np.repeat(rows.n[:, 0] + np.arange(replicates) * cols, per_row) - flat
    n0 -= n1
    return r, n0.astype(float), n1.astype(float), per_row


# Newton iterates are kept within +/- this log hazard ratio so that exp(-|beta|) stays a normal
# double: the scaled risk-set sums below can then never underflow to 0. Such a beta is far
# past _DIVERGED, where a replicate stops anyway.
_BETA_LIMIT = 700.0


def _scales(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(c0, c1)`` with ``c1 / c0 = exp(beta)`` and neither above 1: ``a c0 + b c1`` is
    ``a + b exp(beta)`` scaled by ``exp(-max(beta, 0))``, without overflow for any beta."""
    return np.exp(-np.maximum(beta, 0.0))[:, None], np.exp(np.minimum(beta, 0.0))[:, None]


def _score_info(t: _Padded, o1: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score and observed information at ``beta``, one per row of ``t``.

    With a binary covariate each term needs only ``exp(beta)`` of its replicate: the treatment
    share of the risk set is ``p = b e^beta / (a + b e^beta) = 1 / (1 + (a / b) e^-beta)``
    (0 where ``b = 0``: ``a / b`` is inf). The information ``sum w p (1 - p)`` is taken as
    ``sum w p - sum w p^2``, with the same rounding error as forming each ``1 - p``.
    """
    x = np.multiply(t.ratio, np.exp(-beta)[:, None])
    x += 1.0
    p = np.divide(1.0, x, out=x)  # treatment share of the risk set
    wp = p if t.unit else p * t.w
    sum_wp = wp.sum(axis=1)
    return o1 - sum_wp, sum_wp - np.einsum("ij,ij->i", wp, p)


def _loglik(t: _Padded, o1: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Log partial likelihood ``beta O1 - sum(w log(a + b e^beta))``, one per row of ``t``."""
    c0, c1 = _scales(beta)
    den = np.multiply(t.a, c0)
    den += np.multiply(t.b, c1)
    log_den = np.log(den, out=den)
    # log(a + b e^beta) = log(a c0 + b c1) + max(beta, 0); padding has w = 0.
    if t.w is None:
        total = log_den.sum(axis=1) + np.maximum(beta, 0.0) * log_den.shape[1]
    else:
        total = np.einsum("ij,ij->i", t.w, log_den) + np.maximum(beta, 0.0) * t.w.sum(axis=1)
    return beta * o1 - total


def _newton_start(start: np.ndarray | None, rows: int) -> np.ndarray:
    """Where Newton-Raphson starts: the Peto estimate (O1 - E1) / V when given and finite
    (without ties it is exactly one Newton step from 0), else 0."""
    if start is None:
        return np.zeros(rows)
    start = np.asarray(start, dtype=float)
    return np.where(np.isfinite(start) & (np.abs(start) < _DIVERGED), start, 0.0)


def _fit_binary_cox(
    o1: np.ndarray,
    terms: _Padded,
    max_iter: int,
    tol: float,
    start: np.ndarray | None = None,
    loglik: bool = True,
) -> _CoxFit:
    """Newton-Raphson for the log partial likelihood, vectorised over replicates.

    The log-likelihood is concave in beta, so Newton with step halving increases it
    monotonically; a replicate stops when its step falls below ``tol`` or it diverges
    (``|beta|`` reaches ``_DIVERGED``). Starting at the Peto estimate saves the first step.

    The log-likelihood is only needed to decide on step halving, and only after a step that
    overshoots the maximum: if the score at the new beta still has the sign of the step, the
    score (the slope, which only decreases) kept that sign along the whole step, so the
    log-likelihood rose and the step stands, as a comparison of the two log-likelihoods would
    find. Only overshooting replicates have theirs computed, compared and, if worse, halved
    exactly as a full comparison would. The score and information at the new beta are those of
    the next iteration, so each iteration costs one evaluation of them, and none for a
    replicate whose step was too small to change beta at all (it stops there: such a step is
    far below ``tol``). Once a good share of replicates need no evaluation the terms are cut
    down to the others.
    """
    rows = o1.shape[0]
    beta = _newton_start(start, rows)
    score, info = _score_info(terms, o1, beta)
    active = np.ones(rows, dtype=bool)
    converged = np.zeros(rows, dtype=bool)
    iterations = np.zeros(rows, dtype=np.int64)
    part_rows = np.arange(rows)  # replicates whose terms are in ``part`` (ascending)
    part, part_o1 = terms, o1
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        old = beta[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(info[idx] > 0, score[idx] / info[idx], 0.0)
        new = old + step
        outside = np.abs(new) > _BETA_LIMIT
        if outside.any():
            new = np.clip(new, -_BETA_LIMIT, _BETA_LIMIT)
            step = np.where(outside, new - old, step)
        moving = new != old
        if moving.any():
            mv = idx[moving]
            if mv.size < 0.75 * part_rows.size:
                keep = np.isin(part_rows, mv, assume_unique=True)
                part_rows, part, part_o1 = part_rows[keep], part.rows(keep), part_o1[keep]
            at = np.searchsorted(part_rows, mv)  # where the moving replicates are in ``part``
            b_part = beta[part_rows]
            mv_old, mv_new, mv_step = old[moving], new[moving], step[moving]
            b_part[at] = mv_new
            s_part, i_part = _score_info(part, part_o1, b_part)
            mv_score, mv_info = s_part[at], i_part[at]
            overshot = np.flatnonzero(mv_score * mv_step < 0)
            if overshot.size:
                sub, sub_o1 = part.rows(at[overshot]), part_o1[at[overshot]]
                sub_old, sub_step, sub_new = mv_old[overshot], mv_step[overshot], mv_new[overshot]
                ll = _loglik(sub, sub_o1, sub_old)
                new_ll = _loglik(sub, sub_o1, sub_new)
                halved = np.zeros(overshot.size, dtype=bool)
                for _ in range(60):
                    worse = new_ll < ll - 1e-12 * (1.0 + np.abs(ll))
                    if not worse.any():
                        break
                    halved |= worse
                    sub_step = np.where(worse, sub_step / 2.0, sub_step)
                    sub_new = sub_old + sub_step
                    new_ll = np.where(worse, _loglik(sub, sub_o1, sub_new), new_ll)
                if halved.any():
                    mv_step[overshot], mv_new[overshot] = sub_step, sub_new
                    redo = overshot[halved]
                    mv_score[redo], mv_info[redo] = _score_info(
                        sub.rows(halved), sub_o1[halved], sub_new[halved]
                    )
            beta[mv], score[mv], info[mv] = mv_new, mv_score, mv_info
            step[moving] = mv_step
        iterations[idx] += 1
        done = np.abs(step) < tol
        converged[idx[done]] = True
        active[idx] = ~done & (np.abs(beta[idx]) < _DIVERGED)
    # ``info`` is the information at each replicate's final beta.
    with np.errstate(divide="ignore"):
        se = np.where(info > 0, 1.0 / np.sqrt(np.where(info > 0, info, 1.0)), np.nan)
    estimable = info > 0
    return _CoxFit(
        beta=np.where(estimable, beta, np.nan),
        se=se,
        # The maximised log-likelihood itself is a result only; the fit never needs it.
        loglik=_loglik(terms, o1, beta) if loglik else np.full(rows, np.nan),
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


class _SortedRows:
    """Each row sorted by time, excluded patients last (at +inf).

    Attributes
    ----------
    time : (replicates, patients) float
        The sorted times; for rows sorted by packed keys (see :func:`_sort_rows`) the times with
        their two lowest mantissa bits cleared, which are equal exactly where the times are
        (such rows have no near-equal times): all that the risk sets use them for.
    code : (replicates, patients) int8
        Bit 0 = event, bit 1 = treatment arm (0 for excluded patients).
    n, n1 : (replicates, 1) int
        Patients, and treatment-arm patients, included.
    tied : bool
        Any two included patients of a row share a time.
    """

    __slots__ = ("_keys", "_time", "_trt_at_risk", "code", "n", "n1", "tied")

    def __init__(
        self,
        time: np.ndarray | None,
        code: np.ndarray,
        n: np.ndarray,
        n1: np.ndarray,
        tied: bool,
        keys: np.ndarray | None = None,
    ) -> None:
        self._time, self._keys = time, keys
        self.code, self.n, self.n1, self.tied = code, n, n1, tied
        self._trt_at_risk: np.ndarray | None = None

    @property
    def time(self) -> np.ndarray:
        if self._time is None:
            assert self._keys is not None
            self._time = (self._keys & ~_CODE_BITS).view(np.float64)
        return self._time

    def trt_at_risk(self) -> np.ndarray:
        """(replicates, patients) int32: treatment-arm patients not yet passed at each sorted
        position (at risk there, without ties). Computed once for the log-rank and the Cox fit;
        read-only."""
        if self._trt_at_risk is None:
            trt = self.code >> 1
            before = np.cumsum(trt, axis=1, dtype=np.int32)
            before -= trt
            self._trt_at_risk = np.subtract(self.n1, before, out=before)
            self._trt_at_risk.flags.writeable = False
        return self._trt_at_risk


_ONE = np.uint64(1)
_CODE_BITS = np.uint64(3)
# The bits of a non-negative double that order it, less the two lowest mantissa bits (where
# the flags go) and the sign bit (set only by -0.0, which equals +0.0).
_ORDER_BITS = np.uint64(0x7FFF_FFFF_FFFF_FFFC)
_INF_KEY = np.float64(np.inf).view(np.uint64) & _ORDER_BITS


def _sort_rows(
    time: np.ndarray, event: np.ndarray, group: np.ndarray, mask: np.ndarray
) -> _SortedRows:
    """Sort each row by time, carrying the event and arm flags along.

    Times are >= 0 (or +inf for excluded patients), so their bit patterns, read as unsigned
    integers, sort as the times do. With the two lowest mantissa bits replaced by the flags
    (bit 0 event, bit 1 arm), one integer sort of those keys orders the row and carries the
    flags — several times cheaper than an argsort and gathers. It is exact whenever no two
    included times of a row agree in all the other bits: distinct keys then order as the times
    do. Such near-equal times (equal ones, or a few units in the last place apart) are rare
    and are handled by :func:`_sort_rows_exact`, the two-sort/argsort path, which also
    decides whether the row has real ties.
    """
    everyone = bool(mask.all())
    t = time if everyone else np.where(mask, time, np.inf)
    if not everyone:
        event = event & mask
        group = group & mask
    code = event.view(np.uint8) | (group.view(np.uint8) << np.uint8(1))
    keys = np.bitwise_and(np.ascontiguousarray(t).view(np.uint64), _ORDER_BITS)
    np.bitwise_or(keys, code, out=keys)
    # Sorted as the doubles these bit patterns are (non-negative, finite or +inf): the same
    # order as the unsigned integers, and NumPy's vectorised float sort is faster.
    keys.view(np.float64).sort(axis=1)
    order_bits = keys >> np.uint64(2)
    near = order_bits[:, 1:] == order_bits[:, :-1]
    if not everyone:
        near &= order_bits[:, 1:] != (_INF_KEY >> np.uint64(2))  # excluded patients, last
    if near.any():
        return _sort_rows_exact(t, event, group, mask, everyone)
    low = 0 if np.little_endian else 7  # the flags are in each key's lowest byte
    flags = keys.view(np.uint8)[:, low::8] & np.uint8(3)
    return _SortedRows(
        time=None, code=flags.view(np.int8), n=_included(mask, everyone),
        n1=np.count_nonzero(group, axis=1)[:, None], tied=False, keys=keys,
    )


def _included(mask: np.ndarray, everyone: bool) -> np.ndarray:
    """(replicates, 1): patients included in each row."""
    if everyone:
        return np.full((mask.shape[0], 1), mask.shape[1], dtype=np.intp)
    return np.count_nonzero(mask, axis=1)[:, None]


def _sort_rows_exact(
    t: np.ndarray, event: np.ndarray, group: np.ndarray, mask: np.ndarray, everyone: bool
) -> _SortedRows:
    """:func:`_sort_rows` for rows with near-equal times: exact times, shifted left by one, carry
    one flag at a time through two sorts; with real ties the two orders within a tied group
    may differ, and the rows are gathered by an argsort instead. (The shift drops the sign bit:
    -0.0 sorts, and reads back, as +0.0, which compares equal.) ``event`` and ``group`` are
    already masked."""
    bits = np.ascontiguousarray(t).view(np.uint64) << _ONE
    with_event = bits | event.astype(np.uint64)
    with_event.sort(axis=1)
    t_sorted = (with_event >> _ONE).view(np.float64)
    same_as_next = t_sorted[:, 1:] == t_sorted[:, :-1]
    if not everyone:
        same_as_next &= np.isfinite(t_sorted[:, 1:])  # the +inf block is excluded patients
    tied = bool(same_as_next.any())
    code: np.ndarray
    if tied:
        # One int8 code carries both flags through a single gather.
        code = event.view(np.int8) | (group.view(np.int8) << 1)
        code = np.take_along_axis(code, np.argsort(t, axis=1), axis=1)
    else:
        bits |= group.astype(np.uint64)
        bits.sort(axis=1)
        low = 0 if np.little_endian else 7
        code = with_event.view(np.uint8)[:, low::8] & np.uint8(1)
        code |= (bits.view(np.uint8)[:, low::8] & np.uint8(1)) << np.uint8(1)
        code = code.view(np.int8)
    return _SortedRows(
        time=t_sorted, code=code, n=_included(mask, everyone),
        n1=np.count_nonzero(group, axis=1)[:, None], tied=tied,
    )


def _logrank_sums_untied(
    rows: _SortedRows,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """O1, E1, V and events per row when no two included times in a row are equal.

    Without ties the j-th sorted patient has exactly n - j patients at risk, so only the
    treatment count at risk needs a cumulative sum, and V reduces to sum(p1 (1 - p1)) over
    events; written to keep to one float temporary of the batch's size.
    """
    cols = rows.code.shape[1]
    ev = rows.code & 1
    trt_at_risk = rows.trt_at_risk()
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


class _SortedBatch:
    """A batch sorted row by row, stratum by stratum, held in consecutive blocks of rows.

    ``blocks[b][s]`` is stratum ``s`` (in the order of the batch's stratum labels) of block
    ``b``. Whether a stratum takes the untied or the tied path is decided once for the whole
    batch (a tie in any block makes it tied) and written into every block; everything else is
    computed row by row, so a batch held in blocks gives exactly the numbers of the same batch
    in one piece — without ever building the whole batch's arrays.
    """

    def __init__(
        self, blocks: list[list[_SortedRows]], n_treatment: np.ndarray, n_control: np.ndarray
    ) -> None:
        self.blocks = blocks
        self.n_strata = len(blocks[0]) if blocks else 0
        self.n_treatment, self.n_control = n_treatment, n_control
        self.rows = n_treatment.shape[0]
        for s in range(self.n_strata):
            tied = any(block[s].tied for block in blocks)
            for block in blocks:
                block[s].tied = tied

    def stratum(self, s: int) -> list[_SortedRows]:
        """Stratum ``s`` of every block, in row order."""
        return [block[s] for block in self.blocks]

    def tied(self, s: int) -> bool:
        return self.blocks[0][s].tied

    def risk_sets(self, s: int) -> _RiskSets:
        """Risk sets of stratum ``s`` over the whole batch (rows numbered across blocks)."""
        parts, offset = [], 0
        for rows in self.stratum(s):
            rs = _risk_sets(rows)
            parts.append(rs._replace(row=rs.row + offset))
            offset += rows.code.shape[0]
        return _RiskSets.concat([_NO_EVENTS, *parts])


Batch = tuple[object, object, object, object, object]
"""One block of a batch: ``(time, event, group, mask, strata)`` as :func:`logrank_batch` takes
them (``mask`` and ``strata`` may be None)."""


def _sort_batch(blocks: Sequence[Batch]) -> _SortedBatch:
    """Check and sort every block of a batch, each stratum on its own.

    The strata are the labels present among included patients anywhere in the batch.
    """
    checked = [_batch_inputs(*block) for block in blocks]
    if any(s is not None for *_, s in checked):
        # Strata are given for every block or for none (see logrank_cox_blocks).
        labels = np.unique(
            np.concatenate([np.unique(cast(np.ndarray, s)[m]) for _, _, _, m, s in checked])
        )
        masks = [[m & (s == label) for label in labels] for _, _, _, m, s in checked]
    else:
        masks = [[m] for _, _, _, m, _ in checked]
    return _SortedBatch(
        [
            [_sort_rows(t, e, g, stratum_mask) for stratum_mask in block_masks]
            for (t, e, g, _, _), block_masks in zip(checked, masks, strict=True)
        ],
        np.concatenate([np.count_nonzero(g & m, axis=1) for _, _, g, m, _ in checked]),
        np.concatenate([np.count_nonzero(~g & m, axis=1) for _, _, g, m, _ in checked]),
    )


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
    batch = _sort_batch([(time, event, group, mask, strata)])
    return _logrank_batch_sorted(batch, alternative, confidence)


def _logrank_batch_sorted(
    batch: _SortedBatch, alternative: str, confidence: float
) -> LogrankBatchResult:
    totals = np.zeros((4, batch.rows))  # O1, E1, V, events: summed over strata
    for s in range(batch.n_strata):
        if batch.tied(s):
            totals += np.stack(_logrank_sums(batch.risk_sets(s), batch.rows))
        else:
            parts = [_logrank_sums_untied(rows) for rows in batch.stratum(s)]
            totals += np.stack([np.concatenate(x) for x in zip(*parts, strict=True)])
    o1, e1, v, d = totals
    out = _logrank_finish(o1, e1, v, d, alternative, confidence)
    return LogrankBatchResult(
        **out,
        n_events=d.astype(np.int64),
        n_treatment=batch.n_treatment,
        n_control=batch.n_control,
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
    its step is below ``tol``), starting from the Peto estimate of the log-rank test. Arguments
    are as for :func:`logrank_batch` and :func:`cox_ph`; ``alternative`` refers to the log
    hazard ratio (treatment / control).

    Returns
    -------
    CoxBatchResult
        One entry per replicate; identical to :func:`cox_ph` applied row by row (to the
        convergence tolerance).
    """
    return logrank_cox_batch(
        time, event, group, mask, strata, alternative, confidence, ties, max_iter, tol
    )[1]


def _cox_batch_sorted(
    batch: _SortedBatch,
    ties: str,
    alternative: str,
    confidence: float,
    max_iter: int,
    tol: float,
    logrank: LogrankBatchResult,
    loglik: bool = True,
) -> CoxBatchResult:
    """The Cox fit of a sorted batch; ``logrank``, the same batch's log-rank result, supplies
    O1, the events and the Peto start. ``loglik=False`` leaves the log-likelihood NaN."""
    if batch.n_strata == 1 and not batch.tied(0):
        parts, offset = [], 0
        for rows in batch.stratum(0):
            r, n0, n1, per_row = _untied_terms(rows)
            parts.append((r + offset, n0, n1, per_row))
            offset += rows.code.shape[0]
        r, n0, n1, per_row = (np.concatenate(x) for x in zip(*parts, strict=True))
        terms = _padded(batch.rows, r, None, n0, n1, per_row)
    else:
        risk_sets = _RiskSets.concat(
            [_NO_EVENTS, *(batch.risk_sets(s) for s in range(batch.n_strata))]
        )
        terms = _pad_terms(_cox_terms(risk_sets, ties), batch.rows)
    # Whole numbers of events, hence the same floats however they were summed.
    o1 = np.asarray(logrank.observed_treatment, dtype=float)
    fit = _fit_binary_cox(o1, terms, max_iter, tol, logrank.estimate, loglik)
    return CoxBatchResult(
        **_wald(fit.beta, fit.se, alternative, confidence),
        loglik=fit.loglik,
        n_events=np.asarray(logrank.n_events),
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
    lr, cox = logrank_cox_blocks(
        [(time, event, group, mask, strata)], alternative, confidence, ties, max_iter, tol
    )
    assert cox is not None
    return lr, cox


def logrank_cox_blocks(
    blocks: Sequence[Batch],
    alternative: str = "two-sided",
    confidence: float = 0.95,
    ties: str = "breslow",
    max_iter: int = 50,
    tol: float = 1e-10,
    fit_cox: bool = True,
    loglik: bool = True,
) -> tuple[LogrankBatchResult, CoxBatchResult | None]:
    """:func:`logrank_cox_batch` of a batch given as consecutive blocks of replicates.

    Parameters
    ----------
    blocks : list of (time, event, group, mask, strata)
        The batch's rows, block by block, each as :func:`logrank_batch` takes them (``mask``
        and ``strata`` may be None, ``strata`` for every block or none).
    alternative, confidence, ties, max_iter, tol
        As for :func:`logrank_cox_batch`.
    fit_cox : bool
        False skips the Cox fit (returned as None).
    loglik : bool
        False skips evaluating the maximised log partial likelihood, which the fit itself does
        not need: ``CoxBatchResult.loglik`` is then NaN (for callers that use only the
        estimate, its SE and interval, such as ``power``).

    Returns
    -------
    (LogrankBatchResult, CoxBatchResult or None)
        Exactly the results of :func:`logrank_cox_batch` on the blocks stacked: the batch-level
        choice of the untied or tied path is made over all blocks, and everything else is
        computed row by row. Small blocks keep the arrays in cache and spare the caller the
        stacking.
    """
    check_alternative(alternative)
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {_TIES}, got {ties!r}")
    batch = _sort_batch(blocks)
    lr = _logrank_batch_sorted(batch, alternative, confidence)
    if not fit_cox:
        return lr, None
    return lr, _cox_batch_sorted(batch, ties, alternative, confidence, max_iter, tol, lr, loglik)
