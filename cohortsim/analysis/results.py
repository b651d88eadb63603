"""Frozen result objects returned by the analysis functions.

Single-trial results hold Python floats; batch results hold read-only 1-D NumPy arrays with
one entry per replicate. Every result has ``statistic`` and ``pvalue`` (as in
:mod:`scipy.stats`) and a ``summary()`` method giving one or two human-readable lines.

Ratio measures (hazard, odds and rate ratios) are stored on the log scale in ``estimate``,
``se``, ``ci_low`` and ``ci_high``, because that is the scale on which the Wald test and the
interval are computed; properties such as ``hazard_ratio`` give the exponentiated values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ._common import fmt_p, freeze


def _pct(confidence: float) -> str:
    return f"{100 * confidence:g}%"


def _side(alternative: str) -> str:
    return {"two-sided": "two-sided", "less": "one-sided (less)", "greater": "one-sided (greater)"}[
        alternative
    ]


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Per-replicate results of one analysis applied to a batch of simulated trials.

    Attributes
    ----------
    estimate, se : ndarray
        Treatment effect estimate (treatment minus control, or log of treatment/control)
        and its standard error, one per replicate.
    statistic, pvalue : ndarray
        Test statistic and p-value for ``alternative``.
    ci_low, ci_high : ndarray
        Two-sided ``confidence`` interval for ``estimate``.
    alternative : str
        ``"two-sided"``, ``"less"`` or ``"greater"``, relative to treatment minus control.
    confidence : float
        Confidence level of the interval.
    """

    estimate: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    alternative: str
    confidence: float

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value = np.array(value, copy=True)
                freeze(value)
                object.__setattr__(self, f.name, value)

    def __len__(self) -> int:
        return int(self.pvalue.shape[0])

    def rejection_rate(self, level: float = 0.05) -> float:
        """Fraction of replicates with ``pvalue < level``; NaN p-values count as no rejection."""
        with np.errstate(invalid="ignore"):
            return float(np.mean(self.pvalue < level))

    def to_dict(self) -> dict[str, np.ndarray]:
        """The per-replicate arrays, keyed by field name (for building a results table)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }

    def summary(self) -> str:
        with np.errstate(invalid="ignore"):
            est = float(np.nanmean(self.estimate)) if np.any(np.isfinite(self.estimate)) else np.nan
        return (
            f"{type(self).__name__}: {len(self)} replicates, mean estimate {est:.4g}, "
            f"{_side(self.alternative)} rejection rate at 0.05 = {self.rejection_rate(0.05):.4f}"
        )


# --------------------------------------------------------------------------- survival


@dataclass(frozen=True)
class LogrankResult:
    """Log-rank test of treatment versus control (optionally stratified).

    Attributes
    ----------
    statistic : float
        Standardised z = (O - E) / sqrt(V) for the treatment arm; negative when the treatment
        arm has fewer events than expected under equal hazards.
    pvalue : float
        p-value for ``alternative`` ("less" = treatment hazard lower).
    chisq : float
        ``statistic ** 2``, the usual 1-df log-rank chi-square.
    estimate, se, ci_low, ci_high : float
        Peto one-step log hazard ratio (O - E) / V, its SE 1 / sqrt(V) and CI (log scale).
    observed_treatment, expected_treatment, observed_control, expected_control : float
        Observed and expected (under the null) number of events per arm, summed over strata.
    variance : float
        Hypergeometric variance V of O - E (with the ties correction).
    n_treatment, n_control, n_strata : int
        Patients per arm and number of strata.
    """

    statistic: float
    pvalue: float
    chisq: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    observed_treatment: float
    expected_treatment: float
    observed_control: float
    expected_control: float
    variance: float
    n_treatment: int
    n_control: int
    n_strata: int
    alternative: str
    confidence: float

    @property
    def hazard_ratio(self) -> float:
        """Peto estimate of the hazard ratio (treatment / control)."""
        return float(np.exp(self.estimate))

    @property
    def hazard_ratio_ci(self) -> tuple[float, float]:
        return float(np.exp(self.ci_low)), float(np.exp(self.ci_high))

    def summary(self) -> str:
        lo, hi = self.hazard_ratio_ci
        strata = f", {self.n_strata} strata" if self.n_strata > 1 else ""
        return (
            f"Log-rank test (n = {self.n_treatment} + {self.n_control}{strata}): "
            f"events O/E treatment {self.observed_treatment:g}/{self.expected_treatment:.1f}, "
            f"control {self.observed_control:g}/{self.expected_control:.1f}; "
            f"z = {self.statistic:.3f}, {_side(self.alternative)} {fmt_p(self.pvalue)}; "
            f"Peto HR {self.hazard_ratio:.3f} ({_pct(self.confidence)} CI {lo:.3f} to {hi:.3f})"
        )


@dataclass(frozen=True, eq=False)
class LogrankBatchResult(BatchResult):
    """Batched log-rank results; see :class:`LogrankResult` for the meaning of each field.

    ``estimate``/``se``/``ci_*`` are the Peto log hazard ratio, ``statistic`` is z.
    """

    chisq: np.ndarray
    observed_treatment: np.ndarray
    expected_treatment: np.ndarray
    observed_control: np.ndarray
    expected_control: np.ndarray
    variance: np.ndarray
    n_events: np.ndarray
    n_treatment: np.ndarray
    n_control: np.ndarray

    @property
    def hazard_ratio(self) -> np.ndarray:
        return np.exp(self.estimate)


@dataclass(frozen=True)
class CoxResult:
    """Cox proportional-hazards model with a single binary treatment covariate.

    Attributes
    ----------
    estimate, se : float
        Log hazard ratio (treatment / control) and its SE from the observed information.
    statistic, pvalue : float
        Wald z = estimate / se and its p-value ("less" = treatment hazard lower).
    ci_low, ci_high : float
        Wald interval for the log hazard ratio.
    loglik : float
        Maximised log partial likelihood.
    n, n_events, n_strata : int
        Patients, events and strata.
    ties : str
        ``"breslow"`` or ``"efron"``.
    converged : bool
        False when Newton-Raphson did not converge, typically because all events fall in one
        arm and the estimate diverges (then the Wald test is uninformative: use the log-rank).
    iterations : int
        Newton-Raphson iterations used.
    """

    statistic: float
    pvalue: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    loglik: float
    n: int
    n_events: int
    n_strata: int
    ties: str
    converged: bool
    iterations: int
    alternative: str
    confidence: float

    @property
    def hazard_ratio(self) -> float:
        return float(np.exp(self.estimate))

    @property
    def hazard_ratio_ci(self) -> tuple[float, float]:
        return float(np.exp(self.ci_low)), float(np.exp(self.ci_high))

    def summary(self) -> str:
        lo, hi = self.hazard_ratio_ci
        note = "" if self.converged else " [NOT CONVERGED]"
        return (
            f"Cox PH ({self.ties} ties, n = {self.n}, {self.n_events} events): "
            f"HR {self.hazard_ratio:.3f} ({_pct(self.confidence)} CI {lo:.3f} to {hi:.3f}), "
            f"log HR {self.estimate:.4f} (SE {self.se:.4f}); Wald z = {self.statistic:.3f}, "
            f"{_side(self.alternative)} {fmt_p(self.pvalue)}{note}"
        )


@dataclass(frozen=True, eq=False)
class CoxBatchResult(BatchResult):
    """Batched Cox results; see :class:`CoxResult` for the meaning of each field."""

    loglik: np.ndarray
    n_events: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    ties: str

    @property
    def hazard_ratio(self) -> np.ndarray:
        return np.exp(self.estimate)


# --------------------------------------------------------------------------- proportions


@dataclass(frozen=True)
class BinaryComparisonResult:
    """Comparison of response proportions, treatment versus control.

    Attributes
    ----------
    method : str
        The test: ``"z"`` (pooled-variance z), ``"chi-square"``, ``"chi-square-yates"`` or
        ``"fisher"``.
    statistic : float
        z for ``"z"``; Pearson X^2 for the chi-square tests; the sample odds ratio
        (treatment odds / control odds, as :func:`scipy.stats.fisher_exact`) for ``"fisher"``.
    pvalue : float
        p-value for ``alternative`` ("greater" = treatment responds more).
    estimate, se : float
        Risk difference p_treatment - p_control and its unpooled (Wald) standard error.
    ci_low, ci_high : float
        Interval for the risk difference by ``ci_method`` (``"newcombe"`` or ``"wald"``).
    responders_treatment, n_treatment, responders_control, n_control : int
        The 2x2 table.
    """

    method: str
    statistic: float
    pvalue: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    responders_treatment: int
    n_treatment: int
    responders_control: int
    n_control: int
    ci_method: str
    alternative: str
    confidence: float

    @property
    def p_treatment(self) -> float:
        return self.responders_treatment / self.n_treatment if self.n_treatment else np.nan

    @property
    def p_control(self) -> float:
        return self.responders_control / self.n_control if self.n_control else np.nan

    def summary(self) -> str:
        name = {
            "z": "z",
            "chi-square": "X^2",
            "chi-square-yates": "X^2 (Yates)",
            "fisher": "sample OR",
        }[self.method]
        return (
            f"{self.method} test: responders {self.responders_treatment}/{self.n_treatment} "
            f"vs {self.responders_control}/{self.n_control}; difference {self.estimate:.4f} "
            f"({_pct(self.confidence)} {self.ci_method} CI {self.ci_low:.4f} to "
            f"{self.ci_high:.4f}); {name} = {self.statistic:.4g}, "
            f"{_side(self.alternative)} {fmt_p(self.pvalue)}"
        )


@dataclass(frozen=True, eq=False)
class BinaryComparisonBatchResult(BatchResult):
    """Batched comparison of proportions; see :class:`BinaryComparisonResult`.

    ``method`` is ``"auto"`` for :func:`binary_test_batch`, whose ``used_fisher`` says, per
    replicate, whether Fisher's exact test (rather than Pearson's chi-square) was used; it is
    None for the other functions.
    """

    method: str
    ci_method: str
    responders_treatment: np.ndarray
    n_treatment: np.ndarray
    responders_control: np.ndarray
    n_control: np.ndarray
    used_fisher: np.ndarray | None = None


@dataclass(frozen=True)
class CMHResult:
    """Cochran-Mantel-Haenszel test with the Mantel-Haenszel common odds ratio.

    Attributes
    ----------
    statistic : float
        CMH chi-square (1 df), with the 0.5 continuity correction if ``correction``.
    z : float
        Signed root of ``statistic`` (positive = more treatment responders than expected);
        used for one-sided alternatives.
    pvalue : float
        p-value for ``alternative`` ("greater" = treatment responds more).
    estimate, se, ci_low, ci_high : float
        Log Mantel-Haenszel odds ratio (treatment odds / control odds), its
        Robins-Breslow-Greenland standard error and Wald interval (log scale).
    n_strata : int
        Strata that carry information (at least two patients).
    """

    statistic: float
    z: float
    pvalue: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n_strata: int
    correction: bool
    alternative: str
    confidence: float

    @property
    def odds_ratio(self) -> float:
        return float(np.exp(self.estimate))

    @property
    def odds_ratio_ci(self) -> tuple[float, float]:
        return float(np.exp(self.ci_low)), float(np.exp(self.ci_high))

    def summary(self) -> str:
        lo, hi = self.odds_ratio_ci
        return (
            f"CMH test ({self.n_strata} strata): X^2 = {self.statistic:.3f}, "
            f"{_side(self.alternative)} {fmt_p(self.pvalue)}; MH odds ratio "
            f"{self.odds_ratio:.3f} ({_pct(self.confidence)} CI {lo:.3f} to {hi:.3f})"
        )


@dataclass(frozen=True, eq=False)
class CMHBatchResult(BatchResult):
    """Batched CMH results; see :class:`CMHResult`. ``statistic`` is the CMH chi-square."""

    z: np.ndarray
    n_strata: np.ndarray

    @property
    def odds_ratio(self) -> np.ndarray:
        return np.exp(self.estimate)


# --------------------------------------------------------------------------- ANCOVA


@dataclass(frozen=True)
class AncovaResult:
    """Baseline-adjusted treatment effect from OLS of outcome on treatment and baseline.

    Attributes
    ----------
    estimate, se : float
        Adjusted mean difference, treatment minus control (units of the outcome).
    statistic, df, pvalue : float
        t = estimate / se on ``df`` = n - 3 degrees of freedom and its p-value
        ("greater" = treatment mean higher).
    ci_low, ci_high : float
        t-based interval for ``estimate``.
    baseline_slope, intercept : float
        The other two OLS coefficients.
    residual_sd : float
        Root mean squared error, sqrt(RSS / df).
    n : int
        Patients analysed.
    """

    statistic: float
    df: int
    pvalue: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    baseline_slope: float
    intercept: float
    residual_sd: float
    n: int
    alternative: str
    confidence: float

    def summary(self) -> str:
        return (
            f"ANCOVA (n = {self.n}): adjusted difference {self.estimate:.4g} (SE {self.se:.4g}, "
            f"{_pct(self.confidence)} CI {self.ci_low:.4g} to {self.ci_high:.4g}); "
            f"t({self.df}) = {self.statistic:.3f}, {_side(self.alternative)} {fmt_p(self.pvalue)}; "
            f"baseline slope {self.baseline_slope:.3f}"
        )


@dataclass(frozen=True, eq=False)
class AncovaBatchResult(BatchResult):
    """Batched ANCOVA results; see :class:`AncovaResult`."""

    df: np.ndarray
    baseline_slope: np.ndarray
    residual_sd: np.ndarray
    n: np.ndarray


# --------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class RateRatioResult:
    """Event-rate ratio (treatment / control) from a Poisson or negative-binomial model.

    Attributes
    ----------
    model : str
        ``"poisson"`` or ``"negbin"`` (NB2: variance mu + alpha mu^2).
    estimate, se, ci_low, ci_high : float
        Log rate ratio, its SE and Wald interval (log scale).
    statistic, pvalue : float
        Wald z and its p-value ("less" = treatment rate lower).
    rate_treatment, rate_control : float
        Model-based event rates per unit of exposure (e.g. per patient-month).
    events_treatment, events_control : int
        Total events per arm.
    exposure_treatment, exposure_control : float
        Total exposure per arm (same unit as the input exposure).
    dispersion : float
        NB2 alpha (0 for the Poisson model).
    converged : bool
        Whether the fit converged; the closed-form Poisson fit is False only when an arm has
        no events (then the rate ratio is not estimable and the estimate is NaN).
    """

    model: str
    statistic: float
    pvalue: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    rate_treatment: float
    rate_control: float
    events_treatment: int
    events_control: int
    exposure_treatment: float
    exposure_control: float
    dispersion: float
    converged: bool
    alternative: str
    confidence: float

    @property
    def rate_ratio(self) -> float:
        return float(np.exp(self.estimate))

    @property
    def rate_ratio_ci(self) -> tuple[float, float]:
        return float(np.exp(self.ci_low)), float(np.exp(self.ci_high))

    def summary(self) -> str:
        lo, hi = self.rate_ratio_ci
        disp = f", alpha = {self.dispersion:.3g}" if self.model == "negbin" else ""
        return (
            f"{self.model} rate ratio{disp}: {self.events_treatment} events / "
            f"{self.exposure_treatment:.4g} vs {self.events_control} / "
            f"{self.exposure_control:.4g}; RR {self.rate_ratio:.3f} ({_pct(self.confidence)} CI "
            f"{lo:.3f} to {hi:.3f}); z = {self.statistic:.3f}, "
            f"{_side(self.alternative)} {fmt_p(self.pvalue)}"
        )


@dataclass(frozen=True, eq=False)
class RateRatioBatchResult(BatchResult):
    """Batched rate-ratio results; see :class:`RateRatioResult`.

    ``model`` is ``"auto"`` for :func:`rate_ratio_test_batch`, whose ``used_negbin`` records
    the per-replicate model choice; it is None for the other functions.
    """

    model: str
    rate_treatment: np.ndarray
    rate_control: np.ndarray
    events_treatment: np.ndarray
    events_control: np.ndarray
    exposure_treatment: np.ndarray
    exposure_control: np.ndarray
    dispersion: np.ndarray
    converged: np.ndarray
    used_negbin: np.ndarray | None = None

    @property
    def rate_ratio(self) -> np.ndarray:
        return np.exp(self.estimate)


@dataclass(frozen=True)
class OverdispersionResult:
    """Test of Poisson variance against NB2 overdispersion (one-sided: overdispersion).

    Attributes
    ----------
    method : str
        ``"score"`` (Dean's P_B score test) or ``"lr"`` (likelihood ratio, chi-bar-square).
    statistic : float
        Dean's standard-normal statistic, or the likelihood-ratio statistic 2(l_NB - l_P).
    pvalue : float
        One-sided p-value for overdispersion.
    dispersion : float
        NB2 alpha estimate (ML for ``"lr"``, the moment estimate behind the score for
        ``"score"``).
    """

    method: str
    statistic: float
    pvalue: float
    dispersion: float

    def summary(self) -> str:
        name = "Dean's score z" if self.method == "score" else "LR chi-bar-square"
        return (
            f"Overdispersion test: {name} = {self.statistic:.3f}, {fmt_p(self.pvalue)} "
            f"(alpha estimate {self.dispersion:.3g})"
        )


@dataclass(frozen=True, eq=False)
class OverdispersionBatchResult:
    """Batched overdispersion tests; see :class:`OverdispersionResult`."""

    method: str
    statistic: np.ndarray
    pvalue: np.ndarray
    dispersion: np.ndarray

    def __post_init__(self) -> None:
        for name in ("statistic", "pvalue", "dispersion"):
            value = np.array(getattr(self, name), dtype=float, copy=True)
            freeze(value)
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.pvalue.shape[0])

    def summary(self) -> str:
        with np.errstate(invalid="ignore"):
            frac = float(np.mean(self.pvalue < 0.05))
        return f"Overdispersion ({self.method}): {len(self)} replicates, {frac:.3f} with p < 0.05"


# --------------------------------------------------------------------------- Monte Carlo


@dataclass(frozen=True)
class PowerEstimate:
    """A Monte Carlo rejection-rate (power or type I error) estimate.

    Attributes
    ----------
    estimate : float
        successes / n.
    mcse : float
        Monte Carlo standard error sqrt(p (1 - p) / n).
    ci_low, ci_high : float
        ``confidence`` interval by ``method`` (``"wilson"`` or ``"clopper-pearson"``).
    successes, n : int
        Rejections and replicates.
    """

    estimate: float
    mcse: float
    ci_low: float
    ci_high: float
    successes: int
    n: int
    method: str
    confidence: float

    def summary(self) -> str:
        return (
            f"{self.estimate:.4f} (MC SE {self.mcse:.4f}; {_pct(self.confidence)} {self.method} "
            f"CI {self.ci_low:.4f} to {self.ci_high:.4f}; {self.successes}/{self.n})"
        )


# --------------------------------------------------------------------------- group sequential


@dataclass(frozen=True)
class GroupSequentialBoundaries:
    """Efficacy (and optional futility) boundaries of a group-sequential design.

    Boundaries are on the standardised z scale, oriented so that large positive z favours
    the treatment (negate a log-rank z before comparing when a lower hazard is the benefit).

    Attributes
    ----------
    information_fractions : tuple of float
        t_k in (0, 1], increasing, last equal to 1.
    efficacy : tuple of float
        Efficacy critical values c_k: stop for efficacy at look k if z_k >= c_k
        (two-sided designs: if |z_k| >= c_k).
    futility : tuple of float or None
        Non-binding futility values: stopping for futility is allowed if z_k < futility_k.
        They were not used to compute ``efficacy`` (non-binding), so ignoring them keeps the
        type I error at ``alpha``.
    cumulative_alpha : tuple of float
        Alpha spent by each look, alpha(t_k).
    nominal_pvalues : tuple of float
        One-sided nominal p-value at each efficacy boundary, 1 - Phi(c_k) (doubled for
        two-sided designs).
    alpha : float
        Total type I error (one-sided if ``sides == 1``, two-sided if ``sides == 2``).
    sides : int
        1 or 2.
    spending : str
        ``"obrien-fleming"`` or ``"pocock"`` (Lan-DeMets types).
    """

    information_fractions: tuple[float, ...]
    efficacy: tuple[float, ...]
    futility: tuple[float, ...] | None
    cumulative_alpha: tuple[float, ...]
    nominal_pvalues: tuple[float, ...]
    alpha: float
    sides: int
    spending: str

    def summary(self) -> str:
        lines = [
            f"Lan-DeMets {self.spending} spending, {'one' if self.sides == 1 else 'two'}-sided "
            f"alpha = {self.alpha:g}, {len(self.efficacy)} analyses"
        ]
        for k, t in enumerate(self.information_fractions):
            fut = "" if self.futility is None else f", futility z < {self.futility[k]:.3f}"
            lines.append(
                f"  look {k + 1}: t = {t:.3f}, efficacy z >= {self.efficacy[k]:.3f} "
                f"(nominal p {self.nominal_pvalues[k]:.5f}, cumulative alpha "
                f"{self.cumulative_alpha[k]:.5f}){fut}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class BoundaryCrossing:
    """Per-look stopping probabilities of a group-sequential design at a given drift.

    Attributes
    ----------
    efficacy : tuple of float
        P(stop at look k rejecting the null).
    futility : tuple of float
        P(stop at look k without rejecting): a futility stop at an interim look, or ending
        the trial without rejection at the last look.
    drift : float
        Expected z at full information.
    information_fractions : tuple of float
        The looks.
    """

    efficacy: tuple[float, ...]
    futility: tuple[float, ...]
    drift: float
    information_fractions: tuple[float, ...]

    @property
    def power(self) -> float:
        """Overall probability of rejecting the null (type I error when drift = 0)."""
        return float(sum(self.efficacy))

    @property
    def expected_information(self) -> float:
        """Expected information fraction at stopping (e.g. x final events = expected events)."""
        stop = np.add(self.efficacy, self.futility)
        return float(np.dot(stop, self.information_fractions))

    def summary(self) -> str:
        return (
            f"drift {self.drift:.3f}: P(reject) = {self.power:.4f}, expected information "
            f"fraction {self.expected_information:.3f}; by look: "
            + ", ".join(f"{e:.4f}" for e in self.efficacy)
        )
