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

import math
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


# Read as unsigned integers, the non-negative finite doubles are those below the bits of +inf
# (all but -0.0, whose sign bit puts it above, with the negative numbers, inf and NaN).
_INF_BITS = np.float64(np.inf).view(np.uint64)


def _check_times(time: np.ndarray, included: np.ndarray) -> None:
    # One pass settles the common case (see _INF_BITS); anything else, even a harmless -0.0,
    # takes the checks below, which say what is wrong.
    valid = time if included.all() else np.where(included, time, 0.0)
    if valid.size == 0 or valid.view(np.uint64).max() < _INF_BITS:
        return
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
        o1, _pad_terms(_cox_terms(risk_sets, ties), 1), max_iter, tol, _peto(o1, e1, v),
        one_stratum=n_strata == 1,
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

    a: np.ndarray  # (Efron-weighted) control patients at risk (float64, or uint16 if whole)
    b: np.ndarray  # (Efron-weighted) treatment patients at risk (as ``a``)
    ratio: np.ndarray  # a / b as float64 (inf where b = 0)
    w: np.ndarray | None  # weight, 0 on padding; None: every weight 1 and no padding
    unit: bool  # every real weight is 1 (Breslow without ties): the weights can be skipped

    @staticmethod
    def of(a: np.ndarray, b: np.ndarray, w: np.ndarray | None, unit: bool) -> _Padded:
        with np.errstate(divide="ignore"):
            return _Padded(a, b, a / b, w, unit)

    @property
    def score_weights(self) -> np.ndarray | None:
        """The weights :func:`_score_info` needs: None if every real weight is 1 (the padding
        has p = 0, so its weight 0 changes nothing)."""
        return None if self.unit else self.w


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
    ``n - j`` patients at risk, of whom ``trt_at_event`` treated. The same terms as
    ``_cox_terms(_risk_sets(rows), ties)``, without the detour; the batch itself lays them out
    directly with :func:`_untied_padded`.
    """
    counts = rows.event_counts()
    r, c = np.nonzero((rows.code & 1).view(bool))  # events row by row, in time order
    n1 = counts.trt_at_event[r, c]
    n0 = rows.n[r, 0] - c - n1
    return r, n0.astype(float), n1.astype(float), counts.events


def _untied_padded(blocks: Sequence[_SortedRows]) -> _Padded:
    """The terms of :func:`_untied_terms` of consecutive blocks of rows, laid out by
    :func:`_padded`: identical arrays, written block by block straight into place.

    The width is the most events of any row of the whole batch (it sets the order of NumPy's
    pairwise row sums, hence their bits) and a batch with any shorter row is padded as
    :func:`_padded` pads it. A block whose rows all have that many events is a reshape of its
    events taken in order.
    """
    per_block = [rows.event_counts().events for rows in blocks]
    per_row = np.concatenate(per_block) if per_block else np.zeros(0, dtype=np.intp)
    total = per_row.size
    width = int(per_row.max()) if total else 0
    padded = total == 0 or bool(np.any(per_row != width))
    # Whole numbers of patients: uint16 holds them exactly in a quarter of the memory of the
    # float64 they are converted to wherever they are used (unless rows are that long).
    longest = max((rows.code.shape[1] for rows in blocks), default=0)
    whole = np.dtype(np.uint16 if longest < 1 << 16 else np.float64)
    w: np.ndarray | None = None
    if padded:
        a, b = np.ones((total, width), dtype=whole), np.zeros((total, width), dtype=whole)
        w = (np.arange(width) < per_row[:, None]).astype(float)
    else:
        a, b = np.empty((total, width), dtype=whole), np.empty((total, width), dtype=whole)
    ratio = np.empty((total, width))
    start = 0
    for rows, events in zip(blocks, per_block, strict=True):
        replicates, cols = rows.code.shape
        here = slice(start, start + replicates)
        flat = np.flatnonzero((rows.code & 1).view(bool))  # events row by row, in time order
        n1 = rows.event_counts().trt_at_event.ravel().take(flat)
        # At an event at flat position f = row * cols + j: n - j = (n + row * cols) - f.
        offset = rows.n[:, 0] + np.arange(replicates) * cols
        if bool(np.all(events == width)):
            n1 = n1.reshape(replicates, width)
            n0 = offset[:, None] - flat.reshape(replicates, width)
            n0 -= n1
            a[here], b[here] = n0, n1
        else:
            n0 = np.repeat(offset, events) - flat
            n0 -= n1
            slots = np.arange(width) < events[:, None]  # row by row, as the events come
            a[here][slots], b[here][slots] = n0, n1
        with np.errstate(divide="ignore"):  # the padding's 1 / 0
            np.divide(a[here], b[here], out=ratio[here], dtype=np.float64)
        start = here.stop
    return _Padded(a, b, ratio, w, True)


# Newton iterates are kept within +/- this log hazard ratio so that exp(-|beta|) stays a normal
# double: the scaled risk-set sums below can then never underflow to 0. Such a beta is far
# past _DIVERGED, where a replicate stops anyway.
_BETA_LIMIT = 700.0


def _scales(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(c0, c1)`` with ``c1 / c0 = exp(beta)`` and neither above 1: ``a c0 + b c1`` is
    ``a + b exp(beta)`` scaled by ``exp(-max(beta, 0))``, without overflow for any beta."""
    return np.exp(-np.maximum(beta, 0.0))[:, None], np.exp(np.minimum(beta, 0.0))[:, None]


def _score_info(
    ratio: np.ndarray,
    w: np.ndarray | None,
    o1: np.ndarray,
    beta: np.ndarray,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Score and observed information at ``beta``, one per row of ``ratio`` (``a / b`` of
    :class:`_Padded` rows; ``w`` their :attr:`_Padded.score_weights`).

    With a binary covariate each term needs only ``exp(beta)`` of its replicate: the treatment
    share of the risk set is ``p = b e^beta / (a + b e^beta) = 1 / (1 + (a / b) e^-beta)``
    (0 where ``b = 0``: ``a / b`` is inf). The information ``sum w p (1 - p)`` is taken as
    ``sum w p - sum w p^2``, with the same rounding error as forming each ``1 - p``. ``out``,
    an array of ``ratio``'s shape, takes the one temporary (a fresh one costs page faults).
    """
    x = np.multiply(ratio, np.exp(-beta)[:, None], out=out)
    x += 1.0
    p = np.divide(1.0, x, out=x)  # treatment share of the risk set
    wp = p if w is None else p * w
    sum_wp = wp.sum(axis=1)
    return o1 - sum_wp, sum_wp - np.einsum("ij,ij->i", wp, p)


def _loglik(
    a: np.ndarray,
    b: np.ndarray,
    w: np.ndarray | None,
    o1: np.ndarray,
    beta: np.ndarray,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Log partial likelihood ``beta O1 - sum(w log(a + b e^beta))``, one per row of the
    :class:`_Padded` arrays ``a``, ``b``, ``w``; ``out``, two arrays of their shape, take the
    temporaries."""
    c0, c1 = _scales(beta)
    den = np.multiply(a, c0, out=None if out is None else out[0])
    den += np.multiply(b, c1, out=None if out is None else out[1])
    log_den = np.log(den, out=den)
    # log(a + b e^beta) = log(a c0 + b c1) + max(beta, 0); padding has w = 0.
    if w is None:
        total = log_den.sum(axis=1) + np.maximum(beta, 0.0) * log_den.shape[1]
    else:
        total = np.einsum("ij,ij->i", w, log_den) + np.maximum(beta, 0.0) * w.sum(axis=1)
    return beta * o1 - total


def _loglik_rows(terms: _Padded, o1: np.ndarray, beta: np.ndarray, ws: _Workspace) -> np.ndarray:
    """:func:`_loglik` of every row of ``terms``, its temporaries in ``ws``'s memory."""
    shape = terms.ratio.shape
    temporaries = ws.array("float", shape, np.float64), ws.array("float2", shape, np.float64)
    return _loglik(terms.a, terms.b, terms.w, o1, beta, temporaries)


def _newton_start(start: np.ndarray | None, rows: int) -> np.ndarray:
    """Where Newton-Raphson starts: the Peto estimate (O1 - E1) / V when given and finite
    (without ties it is exactly one Newton step from 0), else 0."""
    if start is None:
        return np.zeros(rows)
    start = np.asarray(start, dtype=float)
    return np.where(np.isfinite(start) & (np.abs(start) < _DIVERGED), start, 0.0)


# The unit roundoff of doubles, and the relative error allowed for NumPy's ``exp`` and ``log``
# of a double in the bounds of :func:`_surely_not_worse`: 64 units in the last place, many times
# what any implementation of them (correctly rounded to a few units) commits.
_U = 2.0**-53
_FN_ERR = 2.0**-46
# A step halving is asked for when the log-likelihood falls by more than this share of 1 + |ll|.
_WORSE = 1e-12


class _LoglikScale(NamedTuple):
    """What :func:`_surely_not_worse` needs to know of a fit's terms, found once per fit."""

    log_high: float  # at least log(a + b) of any term
    events: np.ndarray | None  # per row: sum of the weights (None: every row has width terms)

    @staticmethod
    def of(terms: _Padded) -> _LoglikScale | None:
        """None if the bounds do not apply (a negative count)."""
        a, b, w = terms.a, terms.b, terms.w
        if a.dtype.kind == "f" and (a.min() < 0 or b.min() < 0):
            return None
        # at least max(a + b), without a temporary of the terms' size
        high = max(float(a.max()) + float(b.max()), 1.0) if a.size else 1.0
        # The slack covers the error of math.log (a few units in the last place).
        return _LoglikScale(math.log(high) * (1 + 1e-9), None if w is None else w.sum(axis=1))


def _rounding_bounds(
    events: np.ndarray | float, width: int, log_high: float, big: np.ndarray
) -> tuple[np.ndarray, np.ndarray | float, np.ndarray]:
    """Bounds on the rounding errors of :func:`_loglik` and of the score of :func:`_score_info`
    for rows of ``width`` terms of total weight ``events`` (weights >= 0, ``a, b >= 0``,
    ``a + b`` between 1 and ``exp(log_high)``) at any beta with ``|beta| <= big``; and ``size``,
    at least the sum of the magnitudes the log-likelihood is summed from.

    Each ``log(a c0 + b c1)`` lies within ``log_high + |beta|`` of 0 and is off by at most
    ``_FN_ERR`` (``exp`` in ``c0``, ``c1``; ``log``) relative plus 3 roundings; summing
    ``width`` terms in any order adds ``gamma`` relative to the sum of magnitudes, and the
    ``beta O1`` and scaling terms a few roundings more: all over-counted by a factor 2. Each
    share ``p`` in the score is off by at most ``_FN_ERR`` plus 6 roundings (and lies in
    [0, 1]).
    """
    gamma = width * _U / (1.0 - width * _U)  # any order of summing ``width`` terms
    size = events * (log_high + 3.0 * big + 2.0)
    loglik_err = 2.0 * (_FN_ERR + 4.0 * _U + gamma) * size
    score_err = 2.0 * (_FN_ERR + 8.0 * _U + gamma) * (events + 1.0)
    return loglik_err, score_err, size


def _surely_not_worse(
    score: np.ndarray,
    old: np.ndarray,
    new: np.ndarray,
    events: np.ndarray | float,
    width: int,
    log_high: float,
) -> np.ndarray:
    """True where the step halving test after an overshooting step from ``old`` to ``new`` (with
    ``score`` computed at ``new``) is sure to find the new log-likelihood not worse, so that
    computing both log-likelihoods would change nothing. For the terms of one stratum per row.

    The log-likelihood ``L`` is concave, so ``L(new) - L(old) >= S(new) (new - old)``: a step
    whose score times length is tiny cannot lose more than that. The computed log-likelihoods
    (:func:`_loglik`) and score (:func:`_score_info`) are within ``loglik_err`` and
    ``score_err`` of the exact ones: bounds from the number of terms (``width``), their total
    weight (``events``, the row's events) and the size of each ``|log(a + b e^beta)|`` (at most
    ``log_high + |beta|``), with every rounding counted and NumPy's ``exp`` and ``log`` allowed
    an error of ``_FN_ERR``. The tolerance ``1e-12 (1 + |ll|)`` is bounded from below by
    ``|L(old)| >= sum(w log(a + b)) - events |beta|`` (as ``a + b e^beta >= (a + b) e^-|beta|``
    and O1 <= events) and, as the risk set of an event holds every later event of its stratum,
    ``sum(w log(a + b)) >= log(events!) >= events (log(events) - 1)``. Where the largest
    possible fall of the computed log-likelihood stays below half that tolerance, the comparison
    must find "not worse", whatever the rounding. Everywhere else (longer steps, such as most
    first steps) the log-likelihoods are computed and compared.
    """
    big = np.maximum(np.abs(old), np.abs(new))
    loglik_err, score_err, size = _rounding_bounds(events, width, log_high, big)
    least_sum = events * (np.log(np.maximum(events, 1.0)) - 1.0) * (1.0 - 1e-9)
    least_abs_ll = least_sum - events * np.abs(old) - loglik_err
    tolerance = _WORSE * (1.0 + np.maximum(least_abs_ll, 0.0)) * (1.0 - 8.0 * _U)
    fall = (np.abs(score) + score_err) * np.abs(new - old) * (1.0 + 8.0 * _U)
    return fall + 2.0 * loglik_err + 4.0 * _U * (size + 1.0) <= 0.5 * tolerance


def _fit_binary_cox(
    o1: np.ndarray,
    terms: _Padded,
    max_iter: int,
    tol: float,
    start: np.ndarray | None = None,
    loglik: bool = True,
    ws: _Workspace | None = None,
    one_stratum: bool = False,
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
    exactly as a full comparison would — except those whose step was so short that the
    comparison is sure to find "not worse" (:func:`_surely_not_worse`; near convergence the
    score at the new beta is rounding noise and half the replicates "overshoot"; only with
    ``one_stratum``, each row's terms those of one stratum). The score and information at the
    new beta are those of the next iteration, so each iteration costs one evaluation of them,
    and none for a replicate whose step was too small to change beta at all (it stops there:
    such a step is far below ``tol``). Once a good share of replicates need no evaluation their
    ``a / b`` are cut down to the others (the few rows a log-likelihood is needed for are taken from
    ``terms`` as needed).

    Every number of a replicate comes from its own row of terms alone (row sums of C-ordered
    arrays), so the fit of a replicate does not depend on which others are fitted with it.
    ``ws`` lends the temporaries.
    """
    rows = o1.shape[0]
    width = terms.ratio.shape[1]
    beta = _newton_start(start, rows)
    score_w = terms.score_weights
    ws = _Workspace() if ws is None else ws
    score, info = _score_info(
        terms.ratio, score_w, o1, beta, ws.array("float", terms.ratio.shape, np.float64)
    )
    converged = np.zeros(rows, dtype=bool)
    iterations = np.zeros(rows, dtype=np.int64)
    part_rows = np.arange(rows)  # replicates whose terms are in the part (ascending)
    part_ratio, part_w, part_o1 = terms.ratio, score_w, o1
    scale: _LoglikScale | None = None  # found at the first overshoot
    idx = part_rows
    for _ in range(max_iter):
        if idx.size == 0:
            break
        old = beta[idx]
        info_idx = info[idx]
        # score / info where info > 0, else 0 (as np.where would give, without the warnings)
        step = np.divide(score[idx], info_idx, out=np.zeros(idx.size), where=info_idx > 0)
        new = old + step
        outside = np.abs(new) > _BETA_LIMIT
        if outside.any():
            new = np.clip(new, -_BETA_LIMIT, _BETA_LIMIT)
            step = np.where(outside, new - old, step)
        moving = new != old
        all_moving = bool(moving.all())
        if all_moving or moving.any():
            mv = idx if all_moving else idx[moving]
            # Active replicates (``idx``), and so ``mv``, are always in the part: a replicate
            # that did not move has stopped.
            if mv.size < 0.75 * part_rows.size:
                keep = np.zeros(rows, dtype=bool)
                keep[mv] = True
                keep = keep[part_rows]
                part_rows, part_ratio, part_o1 = mv, part_ratio[keep], part_o1[keep]
                part_w = None if part_w is None else part_w[keep]
            # where the moving replicates are in the part
            if part_rows.size == mv.size:
                at = None  # all of it
            elif part_rows.size == rows:
                at = mv
            else:
                at = np.searchsorted(part_rows, mv)
            if all_moving:
                mv_old, mv_new, mv_step = old, new, step
            else:
                mv_old, mv_new, mv_step = old[moving], new[moving], step[moving]
            if at is None:
                b_part = mv_new
            else:
                b_part = beta[part_rows]
                b_part[at] = mv_new
            temporary = ws.array("float", part_ratio.shape, np.float64)
            s_part, i_part = _score_info(part_ratio, part_w, part_o1, b_part, temporary)
            mv_score, mv_info = (s_part, i_part) if at is None else (s_part[at], i_part[at])
            overshot = np.flatnonzero(mv_score * mv_step < 0)
            if overshot.size and one_stratum:
                if scale is None:
                    scale = _LoglikScale.of(terms)
                if scale is not None:
                    events = width if scale.events is None else scale.events[mv[overshot]]
                    sure = _surely_not_worse(
                        mv_score[overshot], mv_old[overshot], mv_new[overshot], events,
                        width, scale.log_high,
                    )
                    overshot = overshot[~sure]
            if overshot.size:
                sub = mv[overshot]
                sub_a, sub_b, sub_o1 = terms.a[sub], terms.b[sub], o1[sub]
                sub_w = None if terms.w is None else terms.w[sub]
                sub_old, sub_step, sub_new = mv_old[overshot], mv_step[overshot], mv_new[overshot]
                ll = _loglik(sub_a, sub_b, sub_w, sub_o1, sub_old)
                new_ll = _loglik(sub_a, sub_b, sub_w, sub_o1, sub_new)
                halved = np.zeros(overshot.size, dtype=bool)
                for _ in range(60):
                    worse = new_ll < ll - _WORSE * (1.0 + np.abs(ll))
                    if not worse.any():
                        break
                    halved |= worse
                    sub_step = np.where(worse, sub_step / 2.0, sub_step)
                    sub_new = sub_old + sub_step
                    new_ll = np.where(worse, _loglik(sub_a, sub_b, sub_w, sub_o1, sub_new), new_ll)
                if halved.any():
                    if all_moving:  # mv_step, mv_new are step, new: written back below anyway
                        mv_step, mv_new = mv_step.copy(), mv_new.copy()
                    mv_step[overshot], mv_new[overshot] = sub_step, sub_new
                    redo = overshot[halved]
                    mv_score, mv_info = mv_score.copy(), mv_info.copy()
                    mv_score[redo], mv_info[redo] = _score_info(
                        terms.ratio[sub[halved]],
                        None if score_w is None else score_w[sub[halved]],
                        sub_o1[halved],
                        sub_new[halved],
                    )
            beta[mv], score[mv], info[mv] = mv_new, mv_score, mv_info
            if all_moving:
                step = mv_step
            else:
                step[moving] = mv_step
        iterations[idx] += 1
        done = np.abs(step) < tol
        converged[idx[done]] = True
        going = ~done
        going &= np.abs(beta[idx]) < _DIVERGED
        idx = idx[going]
    # ``info`` is the information at each replicate's final beta.
    with np.errstate(divide="ignore"):
        se = np.where(info > 0, 1.0 / np.sqrt(np.where(info > 0, info, 1.0)), np.nan)
    estimable = info > 0
    return _CoxFit(
        beta=np.where(estimable, beta, np.nan),
        se=se,
        # The maximised log-likelihood itself is a result only; the fit never needs it.
        loglik=_loglik_rows(terms, o1, beta, ws) if loglik else np.full(rows, np.nan),
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


class _Workspace:
    """Scratch arrays that the blocks of a batch take turns with.

    A fresh array of a few hundred kB is often fresh memory from the system, whose page faults
    cost more than the arithmetic done in it; each block reuses the same memory instead. One
    array per ``slot`` name: whoever asks for a slot again must be done with its last array.
    """

    def __init__(self) -> None:
        self._slots: dict[str, np.ndarray] = {}

    def array(self, slot: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        """An uninitialised C-ordered array of ``shape`` and ``dtype`` in ``slot``'s memory."""
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        memory = self.memory(slot, nbytes)
        return memory[:nbytes].view(dtype).reshape(shape)

    def memory(self, slot: str, nbytes: int) -> np.ndarray:
        """``slot``'s memory as bytes: at least ``nbytes``, more if it has held more."""
        memory = self._slots.get(slot)
        if memory is None or memory.size < nbytes:
            # float64 storage: 8-byte aligned for any view
            memory = np.empty(-(-nbytes // 8), dtype=np.float64).view(np.uint8)
            self._slots[slot] = memory
        return memory


class _EventCounts(NamedTuple):
    """What the untied log-rank test and Cox fit need of a block of sorted rows."""

    trt_at_event: np.ndarray  # (replicates, patients), C order: treatment-arm patients at risk
    # at each event's position (those from that position on), 0 where there is no event
    events: np.ndarray  # (replicates,) intp: events per row
    trt_events: np.ndarray  # (replicates,) intp: treatment-arm events per row
    n1: np.ndarray  # (replicates,) intp: treatment-arm patients per row


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
    n, n1 : (replicates, 1) intp
        Patients, and treatment-arm patients, included.
    tied : bool
        Any two included patients of a row share a time.

    Rows sorted by packed keys keep, instead of their sorted times, the unsorted ones
    (``unsorted``, +inf for excluded patients) to sort again if the times are ever needed, and
    come with their :class:`_EventCounts` (``counts``).
    """

    __slots__ = ("_counts", "_time", "_unsorted", "code", "n", "n1", "tied")

    def __init__(
        self,
        time: np.ndarray | None,
        code: np.ndarray,
        n: np.ndarray,
        n1: np.ndarray,
        tied: bool,
        unsorted: np.ndarray | None = None,
        counts: _EventCounts | None = None,
    ) -> None:
        self._time, self._unsorted = time, unsorted
        self.code, self.n, self.n1, self.tied = code, n, n1, tied
        self._counts = counts

    @property
    def time(self) -> np.ndarray:
        if self._time is None:
            # Rows sorted by packed keys (whose memory went back to the workspace) whose times
            # are needed after all (another block has ties): the keys less the flags, sorted
            # again. No two included times of such a row agree in the order bits, so these sort
            # as the keys did.
            assert self._unsorted is not None
            unsorted = np.ascontiguousarray(self._unsorted)
            bits = np.bitwise_and(unsorted.view(np.uint64), _ORDER_BITS)
            bits.view(np.float64).sort(axis=1)
            self._time = bits.view(np.float64)
        return self._time

    def event_counts(self) -> _EventCounts:
        """The rows' :class:`_EventCounts` (computed once for the log-rank test and the Cox
        fit; read them, don't write)."""
        if self._counts is None:
            self._counts = _event_counts(self.code)
        return self._counts


# 16-bit lanes of a 64-bit word: multiplying a word by this adds each lane into every lane
# above it; the top lane (bits 48-63) then holds the word's total.
_LANES = np.uint64(0x0001_0001_0001_0001)
_TOP_LANE = np.uint64(48)


def _lane_totals(lanes: np.ndarray, work: np.ndarray) -> np.ndarray:
    """Row sums, as intp, of a (rows >= 1, multiple of 4) uint16 array of counts of at most 1;
    ``work``: uint64 scratch of ``lanes``' size in bytes."""
    words = np.multiply(lanes.view(np.uint64), _LANES, out=work)
    words >>= _TOP_LANE
    # reduceat: one call for all rows (a sum along axis 1 is an inner loop per row)
    per_row = words.shape[1]
    return np.add.reduceat(words.ravel(), np.arange(0, words.size, per_row)).astype(np.intp)


def _event_counts(code: np.ndarray, ws: _Workspace | None = None) -> _EventCounts:
    """:class:`_EventCounts` of sorted rows from their flags (``code``).

    The treatment-arm patients at risk at position j are those from j on: a cumulative count
    along the row, which as ``np.cumsum`` is the costliest step of the untied log-rank test.
    Here the flags are 16-bit lanes of 64-bit words, four positions to a word: one
    multiplication leaves in each lane the count over its word up to that lane (at most 4,
    no carries), so only the words' totals need a cumulative sum, a quarter as long. The
    counts are whole numbers, exactly those of a plain cumulative sum. Lanes count up to
    65,535, so longer rows take ``np.cumsum``. ``ws`` lends the temporaries.
    """
    rows, cols = code.shape
    if rows == 0 or cols == 0 or cols >= 1 << 16:
        ev = code & 1
        trt = code >> 1
        before = np.cumsum(trt, axis=1, dtype=np.intp)
        n1 = before[:, -1].copy() if cols else np.zeros(rows, dtype=np.intp)
        before -= trt
        at_risk = np.subtract(n1[:, None], before, out=before)
        at_risk *= ev
        return _EventCounts(
            at_risk, np.count_nonzero(ev, axis=1), np.count_nonzero(ev & trt, axis=1), n1
        )
    ws = _Workspace() if ws is None else ws
    width = -(-cols // 4) * 4  # whole words; the padding has no flags
    ev = ws.array("ev", (rows, width), np.uint16)
    ev[:, :cols] = code
    ev[:, cols:] = 0
    trt = np.right_shift(ev, np.uint16(1), out=ws.array("trt", (rows, width), np.uint16))
    ev &= np.uint16(1)
    words = trt.view(np.uint64)
    upto = np.multiply(words, _LANES, out=ws.array("upto", words.shape, np.uint64))
    # each lane of ``upto``: the treated in its word up to and including it
    word_total = np.right_shift(upto, _TOP_LANE, out=ws.array("total", words.shape, np.uint64))
    # Treated from each word's start to the end of the row: a cumulative sum from the end.
    from_end = np.cumsum(
        word_total[:, ::-1], axis=1, out=ws.array("from_end", words.shape, np.uint64)
    )
    n1 = from_end[:, -1].astype(np.intp)
    # Each lane: treated from its word's start on, less those in the lanes before it. No lane
    # ever goes negative or past 65,535, so no borrow or carry crosses lanes.
    from_word = np.multiply(from_end[:, ::-1], _LANES)
    from_word -= upto
    from_word += words
    at_risk = from_word.view(np.uint16)
    at_risk *= ev
    events = _lane_totals(ev, upto)
    ev &= trt
    trt_events = _lane_totals(ev, upto)
    if width != cols:
        at_risk = np.ascontiguousarray(at_risk[:, :cols])
    return _EventCounts(at_risk, events, trt_events, n1)


_ONE = np.uint64(1)
_CODE_BITS = np.uint64(3)
# The bits of a non-negative double that order it, less the two lowest mantissa bits (where
# the flags go) and the sign bit (set only by -0.0, which equals +0.0).
_ORDER_BITS = np.uint64(0x7FFF_FFFF_FFFF_FFFC)
_INF_KEY = np.float64(np.inf).view(np.uint64) & _ORDER_BITS


def _sort_rows(
    time: np.ndarray,
    event: np.ndarray,
    group: np.ndarray,
    mask: np.ndarray,
    ws: _Workspace | None = None,
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

    The keys (and other temporaries) are in ``ws``'s memory, if given, and go back to it: the
    sorted times are sorted again from ``time`` only if they are ever asked for.
    """
    ws = _Workspace() if ws is None else ws
    everyone = bool(mask.all())
    t = time if everyone else np.where(mask, time, np.inf)
    if not everyone:
        event = event & mask
        group = group & mask
    g8 = group.view(np.uint8)
    code = np.add(g8, g8)  # bit 1: treatment arm (an add is cheaper than a uint8 shift)
    code |= event.view(np.uint8)
    keys = ws.array("keys", t.shape, np.uint64)
    np.bitwise_and(np.ascontiguousarray(t).view(np.uint64), _ORDER_BITS, out=keys)
    np.bitwise_or(keys, code, out=keys)
    # Sorted as the doubles these bit patterns are (non-negative, finite or +inf): the same
    # order as the unsigned integers, and NumPy's vectorised float sort is faster.
    keys.view(np.float64).sort(axis=1)
    rows, cols = keys.shape
    near = False
    if cols > 1 and rows > 0:
        # Neighbours whose order bits agree differ in the two flag bits at most. The flat
        # view takes one pass for all rows; the pairs that straddle two rows don't count, nor
        # do pairs of excluded patients (the +inf keys at the end of a row, flags cleared).
        flat = keys.ravel()
        apart = ws.array("apart", (flat.size - 1,), np.uint64)
        np.bitwise_xor(flat[1:], flat[:-1], out=apart)
        apart[cols - 1 :: cols] = 4
        if not everyone:
            apart[flat[:-1] == _INF_KEY] = 4
        near = bool(apart.min() < 4)
    if near:
        return _sort_rows_exact(t, event, group, mask, everyone)
    low = 0 if np.little_endian else 7  # the flags are in each key's lowest byte
    flags = (keys.view(np.uint8)[:, low::8] & np.uint8(3)).view(np.int8)
    counts = _event_counts(flags, ws)  # needed by the log-rank test anyway; gives n1 too
    return _SortedRows(
        time=None, code=flags, n=_included(mask, everyone), n1=counts.n1[:, None],
        tied=False, unsorted=t, counts=counts,
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
    rows: _SortedRows, ws: _Workspace | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """O1, E1, V and events per row when no two included times in a row are equal.

    Without ties the j-th sorted patient has exactly n - j patients at risk, so only the
    treatment count at risk needs a cumulative sum (:func:`_event_counts`), and V reduces to
    sum(p1 (1 - p1)) over events; written to keep to one float temporary of the block's size,
    in ``ws``'s memory.
    """
    cols = rows.code.shape[1]
    counts = rows.event_counts()
    same_n = rows.n.size > 0 and bool(np.all(rows.n == rows.n[0]))
    n = rows.n[:1] if same_n else rows.n  # one row of 1/(n - j) serves all rows if n is equal
    # Past the included block nobody is at risk; the clamp only avoids dividing by zero there.
    inv_at_risk = 1.0 / np.maximum(n - np.arange(cols), 1)
    # Zero where there is no event: (n1 e) / n = (n1 / n) e, both exact where e is 0 or 1.
    # (Converting first and multiplying doubles is cheaper than one mixed-type multiply.)
    p1 = (ws or _Workspace()).array("float", counts.trt_at_event.shape, np.float64)
    p1[...] = counts.trt_at_event
    p1 *= inv_at_risk
    e1 = p1.sum(axis=1)
    v = e1 - np.einsum("ij,ij->i", p1, p1)
    return counts.trt_events.astype(float), e1, v, counts.events.astype(float)


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
        self,
        blocks: list[list[_SortedRows]],
        n_treatment: np.ndarray,
        n_control: np.ndarray,
        ws: _Workspace,
    ) -> None:
        self.blocks = blocks
        self.ws = ws  # the scratch memory the blocks were sorted in, for what follows
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
    ws = _Workspace()
    stratified = any(s is not None for *_, s in checked)
    if stratified:
        # Strata are given for every block or for none (see logrank_cox_blocks).
        labels = np.unique(
            np.concatenate([np.unique(cast(np.ndarray, s)[m]) for _, _, _, m, s in checked])
        )
        masks = [[m & (s == label) for label in labels] for _, _, _, m, s in checked]
    else:
        masks = [[m] for _, _, _, m, _ in checked]
    sorted_blocks = [
        [_sort_rows(t, e, g, stratum_mask, ws) for stratum_mask in block_masks]
        for (t, e, g, _, _), block_masks in zip(checked, masks, strict=True)
    ]
    if stratified:
        n_treatment = np.concatenate([np.count_nonzero(g & m, axis=1) for _, _, g, m, _ in checked])
        n_control = np.concatenate([np.count_nonzero(~g & m, axis=1) for _, _, g, m, _ in checked])
    else:
        # The one stratum of each block has counted its patients and treated patients.
        whole = [block[0] for block in sorted_blocks]
        n_treatment = np.concatenate([rows.n1[:, 0] for rows in whole])
        n_control = np.concatenate([rows.n[:, 0] - rows.n1[:, 0] for rows in whole])
    return _SortedBatch(sorted_blocks, n_treatment, n_control, ws)


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
            parts = [_logrank_sums_untied(rows, batch.ws) for rows in batch.stratum(s)]
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
        terms = _untied_padded(batch.stratum(0))
    else:
        risk_sets = _RiskSets.concat(
            [_NO_EVENTS, *(batch.risk_sets(s) for s in range(batch.n_strata))]
        )
        terms = _pad_terms(_cox_terms(risk_sets, ties), batch.rows)
    # Whole numbers of events, hence the same floats however they were summed.
    o1 = np.asarray(logrank.observed_treatment, dtype=float)
    fit = _fit_binary_cox(
        o1, terms, max_iter, tol, logrank.estimate, loglik, batch.ws, batch.n_strata == 1
    )
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
