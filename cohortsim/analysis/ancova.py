"""Baseline-adjusted comparison of a continuous outcome (ANCOVA).

The model is ordinary least squares of the outcome on an intercept, the treatment indicator
and the baseline value: y = b0 + b_trt * group + b_base * baseline + error. The treatment
coefficient is the baseline-adjusted mean difference (treatment minus control), tested with a
t statistic on n - 3 degrees of freedom.

Whether ``y`` is the follow-up value or the change from baseline does not matter for the
treatment effect: change = follow-up - baseline only shifts the baseline coefficient by -1,
so the treatment estimate, SE, t and p-value are identical.
"""

from __future__ import annotations

import numpy as np

from cohortsim.lazy import stats

from ._common import (
    as_1d,
    as_group,
    as_mask,
    batch_shape,
    broadcast,
    check_alternative,
    check_confidence,
    fill_doc,
    pvalue_from_t,
    same_length,
)
from .results import AncovaBatchResult, AncovaResult

__all__ = ["ancova", "ancova_batch"]

_DOC_ARGS = """
alternative : {"two-sided", "less", "greater"}
    Relative to the adjusted treatment-minus-control difference: ``"greater"`` = the
    treatment mean is higher (choose ``"less"`` when a fall, e.g. in SLEDAI, is a benefit).
confidence : float
    Level of the two-sided t interval.
"""


@fill_doc(args=_DOC_ARGS)
def ancova(
    y: object,
    baseline: object,
    group: object,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> AncovaResult:
    """Treatment effect on a continuous outcome adjusted for its baseline value (one trial).

    Parameters
    ----------
    y : array_like of float, shape (n,)
        Outcome: follow-up value or change from baseline (same unit as ``baseline``,
        e.g. SLEDAI points or mg/day of proteinuria).
    baseline : array_like of float, shape (n,)
        Baseline value of the outcome.
    group : array_like of bool or {0, 1}, shape (n,)
        1 = treatment, 0 = control.
    {args}

    Returns
    -------
    AncovaResult
        Adjusted difference (outcome units), SE, t on n - 3 df, p-value and interval.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    yv = as_1d(y, "y", float)
    xb = as_1d(baseline, "baseline", float)
    g = as_group(as_1d(group, "group"))
    n = same_length(y=yv, baseline=xb, group=g)
    design = np.column_stack([np.ones(n), g.astype(float), xb])
    df = n - 3
    coef, _, rank, _ = np.linalg.lstsq(design, yv, rcond=None)
    if rank < 3 or df < 1:  # empty arm, constant baseline or too few patients
        coef, se, resid_sd = np.full(3, np.nan), np.nan, np.nan
    else:
        resid = yv - design @ coef
        resid_sd = float(np.sqrt(resid @ resid / df))
        se = resid_sd * float(np.sqrt(np.linalg.inv(design.T @ design)[1, 1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = coef[1] / se
    tq = stats.t.isf((1 - confidence) / 2, max(df, 1))
    return AncovaResult(
        statistic=float(t),
        df=int(df),
        pvalue=float(pvalue_from_t(t, max(df, 1), alternative)),
        estimate=float(coef[1]),
        se=float(se),
        ci_low=float(coef[1] - tq * se),
        ci_high=float(coef[1] + tq * se),
        baseline_slope=float(coef[2]),
        intercept=float(coef[0]),
        residual_sd=float(resid_sd),
        n=int(n),
        alternative=alternative,
        confidence=confidence,
    )


@fill_doc(args=_DOC_ARGS)
def ancova_batch(
    y: object,
    baseline: object,
    group: object,
    mask: object | None = None,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> AncovaBatchResult:
    """Baseline-adjusted treatment effect for every replicate of a batch.

    Uses the closed form of the three-parameter OLS after centring within replicate
    (Frisch-Waugh: the intercept is partialled out, leaving a 2x2 system per replicate).

    Parameters
    ----------
    y, baseline : array_like of float, shape (replicates, patients)
        Outcome and baseline value; entries outside ``mask`` are ignored (may be NaN).
    group : array_like of bool or {0, 1}
        1 = treatment, 0 = control, broadcastable to ``y``.
    mask : array_like of bool, optional
        True for patients included in that replicate's analysis.
    {args}

    Returns
    -------
    AncovaBatchResult
        One entry per replicate; identical to :func:`ancova` row by row. Replicates with
        fewer than 4 patients or a singular design (e.g. an empty arm) give NaN.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    yv, shape = batch_shape(y, "y")
    xb = broadcast(np.asarray(baseline, dtype=float), shape, "baseline")
    m = as_mask(mask, shape)
    g = as_group(group, shape).astype(float)
    w = m.astype(float)
    yv = np.where(m, yv, 0.0)  # excluded entries may hold NaN; zero them before any sum
    xb = np.where(m, xb, 0.0)
    n = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):

        def centred(x: np.ndarray) -> np.ndarray:
            return (x - (w * x).sum(axis=1, keepdims=True) / n[:, None]) * w

        gc, bc, yc = centred(g), centred(xb), centred(yv)
        s_gg, s_bb, s_yy = (gc * gc).sum(1), (bc * bc).sum(1), (yc * yc).sum(1)
        s_gb, s_gy, s_by = (gc * bc).sum(1), (gc * yc).sum(1), (bc * yc).sum(1)
        det = s_gg * s_bb - s_gb**2
        b_trt = (s_bb * s_gy - s_gb * s_by) / det
        b_base = (s_gg * s_by - s_gb * s_gy) / det
        df = n - 3
        rss = np.maximum(s_yy - b_trt * s_gy - b_base * s_by, 0.0)
        resid_sd = np.sqrt(rss / df)
        se = resid_sd * np.sqrt(s_bb / det)
        # A singular design (empty arm, constant baseline) leaves det ~ 0 up to rounding.
        singular = (df < 1) | ~(det > 1e-12 * np.maximum(s_gg * s_bb, 1e-300))
        b_trt, b_base, se, resid_sd = (
            np.where(singular, np.nan, a) for a in (b_trt, b_base, se, resid_sd)
        )
        t = b_trt / se
        safe_df = np.maximum(df, 1)
        tq = stats.t.isf((1 - confidence) / 2, safe_df)
    return AncovaBatchResult(
        estimate=b_trt,
        se=se,
        statistic=t,
        pvalue=pvalue_from_t(t, safe_df, alternative),
        ci_low=b_trt - tq * se,
        ci_high=b_trt + tq * se,
        df=df.astype(np.int64),
        baseline_slope=b_base,
        residual_sd=resid_sd,
        n=n.astype(np.int64),
        alternative=alternative,
        confidence=confidence,
    )
