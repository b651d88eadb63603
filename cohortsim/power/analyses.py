"""The analysis of each endpoint in a batch of simulated trials, one comparison at a time.

Each endpoint function takes the per-patient endpoints of ``R`` trials (``(R, N)`` arrays), a
comparison (control arm, treatment arm) and the scenario's analysis settings, and returns an
:class:`EndpointResult` with one entry per trial. The tests themselves are those of
:mod:`cohortsim.analysis`; this module decides which test, on which patients, in which
direction.

The direction of benefit is part of each endpoint (:data:`BENEFIT`): more responders and
remissions; fewer, later relapses; a larger fall in SLEDAI-2K; fewer flares. With one-sided
tests (``sides = 1``) the alternative is the benefit; with two-sided tests a trial *succeeds*
(``rejected``) only when it is significant in the direction of benefit, while ``significant``
counts either direction (the rejection rate, which is the type I error under the null).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import NamedTuple, TypedDict

import numpy as np

from cohortsim import analysis as tests
from cohortsim.analysis.survival import logrank_cox_blocks
from cohortsim.endpoints import PatientEndpoints, responders, sledai_change
from cohortsim.scenario.types import Analysis

BENEFIT: dict[str, str] = {
    "sri4": "greater",
    "remission": "greater",
    "time_to_relapse": "less",
    "sledai_change": "less",
    "flare_rate": "less",
}
"""The alternative that means benefit for the treatment arm, per endpoint."""

EFFECT_MEASURE: dict[str, str] = {
    "sri4": "risk_difference",
    "remission": "risk_difference",
    "time_to_relapse": "log_hazard_ratio",
    "sledai_change": "mean_difference",
    "flare_rate": "log_rate_ratio",
}
"""What ``estimate`` is, per endpoint (ratios on the log scale, as the tests compute them)."""

EVENTS_MEANING: dict[str, str] = {
    "sri4": "responders",
    "remission": "remissions",
    "time_to_relapse": "first relapses",
    "sledai_change": "patients analysed",
    "flare_rate": "flares",
}
"""What the ``events`` column counts, per endpoint."""


class EndpointResult(NamedTuple):
    """One endpoint analysed in ``R`` trials (arrays of shape (R,))."""

    estimate: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    events: np.ndarray
    n_analysed: np.ndarray
    z: np.ndarray
    """Standardised statistic, positive = benefit (used for interim boundaries)."""


@dataclass(frozen=True)
class Comparison:
    """Treatment arm ``treatment`` (index) against control arm ``control`` (index).

    ``only_arms``: the trial has no other arm, so every included patient is in the comparison
    (which spares two passes over the patients per endpoint).
    """

    name: str
    control: int
    treatment: int
    only_arms: bool = False


@dataclass(frozen=True)
class EndpointBlocks:
    """The per-patient endpoints of a batch of trials held as consecutive blocks of replicates
    (as simulated, one seeding block at a time).

    The time-to-relapse analysis takes the blocks as they are (identical numbers, see
    :func:`cohortsim.analysis.survival.logrank_cox_blocks`); the other endpoints analyse
    :attr:`whole`, the blocks stacked, built once on first use.
    """

    blocks: tuple[PatientEndpoints, ...]

    @cached_property
    def whole(self) -> PatientEndpoints:
        """The blocks stacked into one batch."""
        first = self.blocks[0]
        if len(self.blocks) == 1:
            return first
        return replace(
            first,
            **{
                f.name: np.concatenate([getattr(b, f.name) for b in self.blocks])
                for f in fields(PatientEndpoints)
                if isinstance(getattr(first, f.name), np.ndarray)
            },
        )


def alternative_for(endpoint: str, sides: int) -> str:
    """The test's ``alternative``: the benefit direction (one-sided), else two-sided."""
    return BENEFIT[endpoint] if sides == 1 else "two-sided"


def _groups(e: PatientEndpoints, c: Comparison) -> tuple[np.ndarray, np.ndarray]:
    if c.only_arms:
        return e.included, e.arm == c.treatment
    in_comparison = e.included & ((e.arm == c.control) | (e.arm == c.treatment))
    return in_comparison, e.arm == c.treatment


def _binary(e: PatientEndpoints, c: Comparison, kind: str, a: Analysis) -> EndpointResult:
    r = a.responder
    outcome = responders(e, kind, r.missing, r.sledai_reduction, r.require_no_relapse)
    included, group = _groups(e, c)
    mask = outcome.mask & included
    alternative = alternative_for(kind, a.sides)
    rd = tests.risk_difference_batch(
        outcome.response, group, mask, alternative=alternative, confidence=a.confidence
    )
    test: tests.CMHBatchResult | tests.BinaryComparisonBatchResult
    if a.stratified:
        test = tests.cmh_batch(
            outcome.response, group, e.stratum, mask, alternative=alternative,
            confidence=a.confidence,
        )
        z = np.asarray(test.z, dtype=float)
    else:
        test = tests.binary_test_batch(
            outcome.response, group, mask, alternative=alternative,
            min_expected=r.min_expected, confidence=a.confidence,
        )
        z = _pooled_z(rd)
    return EndpointResult(
        estimate=rd.estimate,
        se=rd.se,
        statistic=test.statistic,
        pvalue=test.pvalue,
        ci_low=rd.ci_low,
        ci_high=rd.ci_high,
        events=(rd.responders_treatment + rd.responders_control).astype(float),
        n_analysed=(rd.n_treatment + rd.n_control).astype(np.int64),
        z=z,
    )


def _pooled_z(rd: tests.BinaryComparisonBatchResult) -> np.ndarray:
    """Pooled-variance z of the risk difference (the signed root of Pearson's X²)."""
    x1, n1 = rd.responders_treatment.astype(float), rd.n_treatment.astype(float)
    x0, n0 = rd.responders_control.astype(float), rd.n_control.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x1 + x0) / (n1 + n0)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        return np.where(se > 0, (x1 / n1 - x0 / n0) / se, np.nan)


def _time_to_relapse(
    e: PatientEndpoints | EndpointBlocks, c: Comparison, a: Analysis
) -> EndpointResult:
    blocks = []
    for b in e.blocks if isinstance(e, EndpointBlocks) else (e,):
        mask, group = _groups(b, c)
        time = b.relapse_time if mask.all() else np.where(mask, b.relapse_time, 0.0)
        blocks.append((time, b.relapse_observed, group, mask, b.stratum if a.stratified else None))
    # One call sorts each trial once for both the test and the Cox fit.
    lr, cox = logrank_cox_blocks(
        blocks,
        alternative=alternative_for("time_to_relapse", a.sides),
        confidence=a.confidence,
        fit_cox=a.hazard_ratio_estimate == "cox",
        loglik=False,  # only the estimate, SE and interval are reported
    )
    if cox is not None:
        # A diverging fit (e.g. no events in one arm) has no finite estimate: NaN, not a
        # number that would swamp every average.
        ok = np.asarray(cox.converged, dtype=bool)
        estimate, se, low, high = (
            np.where(ok, x, np.nan) for x in (cox.estimate, cox.se, cox.ci_low, cox.ci_high)
        )
    else:
        estimate, se, low, high = lr.estimate, lr.se, lr.ci_low, lr.ci_high
    return EndpointResult(
        estimate=estimate,
        se=se,
        statistic=lr.statistic,
        pvalue=lr.pvalue,
        ci_low=low,
        ci_high=high,
        events=lr.n_events.astype(float),
        n_analysed=(lr.n_treatment + lr.n_control).astype(np.int64),
        z=-np.asarray(lr.statistic, dtype=float),
    )


def _sledai_change(e: PatientEndpoints, c: Comparison, a: Analysis) -> EndpointResult:
    outcome = sledai_change(e, a.sledai_change_missing)
    included, group = _groups(e, c)
    mask = outcome.mask & included
    result = tests.ancova_batch(
        np.where(mask, outcome.change, 0.0),
        np.where(mask, outcome.baseline, 0.0),
        group,
        mask,
        alternative=alternative_for("sledai_change", a.sides),
        confidence=a.confidence,
    )
    n = result.n.astype(np.int64)
    return EndpointResult(
        estimate=result.estimate,
        se=result.se,
        statistic=result.statistic,
        pvalue=result.pvalue,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        events=n.astype(float),
        n_analysed=n,
        z=-np.asarray(result.statistic, dtype=float),
    )


class _RateTestOptions(TypedDict):
    """Keyword arguments shared by the flare-rate tests."""

    alternative: str
    confidence: float


def _flare_rate(e: PatientEndpoints, c: Comparison, a: Analysis) -> EndpointResult:
    included, group = _groups(e, c)
    with np.errstate(invalid="ignore"):
        mask = included & (e.exposure > 0)
    exposure = np.where(mask, e.exposure, 1.0)
    counts = np.where(mask, e.flares, 0.0)
    kwargs: _RateTestOptions = {
        "alternative": alternative_for("flare_rate", a.sides),
        "confidence": a.confidence,
    }
    if a.flare_model == "poisson":
        result = tests.poisson_rate_ratio_batch(counts, exposure, group, mask, **kwargs)
    elif a.flare_model == "negbin":
        result = tests.negbin_rate_ratio_batch(counts, exposure, group, mask, **kwargs)
    else:
        result = tests.rate_ratio_test_batch(
            counts, exposure, group, mask, overdispersion_level=a.overdispersion_level, **kwargs
        )
    return EndpointResult(
        estimate=result.estimate,
        se=result.se,
        statistic=result.statistic,
        pvalue=result.pvalue,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        events=(result.events_treatment + result.events_control).astype(float),
        n_analysed=mask.sum(axis=1).astype(np.int64),
        z=-np.asarray(result.statistic, dtype=float),
    )


def analyse(
    endpoint: str,
    endpoints: PatientEndpoints | EndpointBlocks,
    comparison: Comparison,
    settings: Analysis,
) -> EndpointResult:
    """Analyse ``endpoint`` in every trial of ``endpoints`` for ``comparison``.

    Parameters
    ----------
    endpoint : str
        One of :data:`cohortsim.scenario.types.ENDPOINTS`.
    endpoints : PatientEndpoints or EndpointBlocks
        Per-patient endpoints at the analysis (blocks give the results of their stacking).
    comparison : Comparison
    settings : Analysis
        The scenario's analysis settings (alpha, sides, rules per endpoint).

    Returns
    -------
    EndpointResult
    """
    if endpoint == "time_to_relapse":
        out = _time_to_relapse(endpoints, comparison, settings)
        return EndpointResult(*(np.asarray(x) for x in out))
    if isinstance(endpoints, EndpointBlocks):
        endpoints = endpoints.whole
    if endpoint in ("sri4", "remission"):
        out = _binary(endpoints, comparison, endpoint, settings)
    elif endpoint == "sledai_change":
        out = _sledai_change(endpoints, comparison, settings)
    elif endpoint == "flare_rate":
        out = _flare_rate(endpoints, comparison, settings)
    else:
        raise ValueError(f"unknown endpoint {endpoint!r}")
    return EndpointResult(*(np.asarray(x) for x in out))


def decisions(result: EndpointResult, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``(rejected, significant)``: significant in the direction of benefit, and significant
    at all (``pvalue < alpha``); NaN p-values count as neither."""
    with np.errstate(invalid="ignore"):
        significant = result.pvalue < alpha
        return significant & (result.z > 0), significant
