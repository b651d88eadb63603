"""Reference calculations shared by the power tests (not a test module).

``expected_risk_set_drift``: the log-rank test's expected standardised statistic for the
reference design (exponential hazards, uniform accrual, analysis at a number of expected events)
from the expected numbers at risk in each arm over calendar time — Lakatos (1988, Stat Med
7:561), in the deterministic form: E[O - E] = ∫ n0 n1 (λ1 - λ0) / (n0 + n1) dt and
E[V] = ∫ (λ0 n0 + λ1 n1) n0 n1 / (n0 + n1)² dt. Integrals by scipy.integrate.quad.
"""

from __future__ import annotations

import math

from scipy import integrate, optimize, stats


def expected_risk_set_drift(
    median: float = 12.0, hr: float = 0.5, accrual: float = 12.0, n: int = 200, events: int = 66
) -> float:
    """E[O - E] / sqrt(E[V]) at the calendar time of the ``events``-th expected event."""
    lam0 = math.log(2) / median
    lam1 = hr * lam0

    def at_risk(t: float, lam: float) -> float:
        entered = min(accrual, t)
        return (n / 2) / accrual * (1 - math.exp(-lam * entered)) / lam * math.exp(
            -lam * (t - entered)
        )

    def expected_events(tau: float) -> float:
        def rate(t: float) -> float:
            return lam0 * at_risk(t, lam0) + lam1 * at_risk(t, lam1)

        return integrate.quad(rate, 0, tau, limit=200)[0]

    tau = optimize.brentq(lambda x: expected_events(x) - events, 1.0, 500.0)

    def score(t: float) -> float:
        n0, n1 = at_risk(t, lam0), at_risk(t, lam1)
        return n0 * n1 * (lam1 - lam0) / (n0 + n1)

    def information(t: float) -> float:
        n0, n1 = at_risk(t, lam0), at_risk(t, lam1)
        return (lam0 * n0 + lam1 * n1) * n0 * n1 / (n0 + n1) ** 2

    return integrate.quad(score, 0, tau, limit=200)[0] / math.sqrt(
        integrate.quad(information, 0, tau, limit=200)[0]
    )


def expected_risk_set_power(alpha: float = 0.05, **design: float) -> float:
    """Two-sided log-rank power from :func:`expected_risk_set_drift`."""
    drift = expected_risk_set_drift(**design)  # type: ignore[arg-type]
    return float(stats.norm.cdf(abs(drift) - stats.norm.isf(alpha / 2)))
