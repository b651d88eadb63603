"""The sample-size decision: the smallest N on the grid that reaches the target power.

The answer is given with its bracketing design points — the largest N below the target and the
first N at or above it — and their Monte Carlo intervals, so a planner sees how firm it is. A
linear interpolation between the two is offered as a guide to where a finer grid should look;
it is not itself a simulated design.

Power is not always monotone in N: a test on counts (chi-square, Fisher) has a lattice of
attainable statistics that shifts with N, and its power saw-tooths by a few points from one N
to the next (exact binomial enumeration shows the same teeth). So the answer also gives the
*stable* N: the smallest N on the grid from which every larger N on the grid reaches the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DesignPoint:
    """One simulated trial size: N, power, its MC SE and interval."""

    n_total: int
    power: float
    mcse: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class SampleSize:
    """The smallest N on the grid reaching ``target_power`` for one endpoint and comparison.

    Attributes
    ----------
    endpoint, comparison : str
    target_power : float
    recommended : DesignPoint or None
        The first grid point whose power is at least the target (None: none is).
    below : DesignPoint or None
        The grid point before it (None when the smallest N already reaches the target).
    interpolated_n : float or None
        N where the straight line between ``below`` and ``recommended`` crosses the target.
    firm : bool
        The recommended point's Monte Carlo interval lies above the target and the point below
        has its interval below it: more replicates would not move the answer on this grid.
    stable : DesignPoint or None
        The smallest grid point from which every larger grid point reaches the target (None
        when the largest does not).
    """

    endpoint: str
    comparison: str
    target_power: float
    recommended: DesignPoint | None
    below: DesignPoint | None
    interpolated_n: float | None
    firm: bool
    stable: DesignPoint | None = None

    def summary(self) -> str:
        """One line for people."""
        target = f"{self.target_power:.0%}"
        if self.recommended is None:
            best = self.below
            tail = f" (largest N {best.n_total}: power {best.power:.3f})" if best else ""
            return f"{self.endpoint}: no N on the grid reaches {target} power{tail}"
        r = self.recommended
        text = (
            f"{self.endpoint}: N = {r.n_total} reaches {target} power "
            f"(power {r.power:.3f}, 95% MC interval {r.ci_low:.3f}-{r.ci_high:.3f})"
        )
        if self.below is not None:
            b = self.below
            text += (
                f"; N = {b.n_total} does not ({b.power:.3f}, {b.ci_low:.3f}-{b.ci_high:.3f}); "
                f"interpolated N ≈ {self.interpolated_n:.0f}"
            )
        else:
            text += "; it is the smallest N on the grid, so a smaller N may also do"
        if self.stable is not None and self.stable.n_total != r.n_total:
            text += (
                f"; power dips below the target again above it: every N from "
                f"{self.stable.n_total} on reaches it"
            )
        if not self.firm:
            text += " — not firm at this Monte Carlo precision: add replicates (--mcse)"
        return text


def find_n(
    rows: Sequence[dict[str, Any]], endpoint: str, comparison: str, target_power: float
) -> SampleSize:
    """The sample-size answer for ``endpoint`` from summary rows (see the module docstring)."""
    points = sorted(
        (
            DesignPoint(r["n_total"], r["power"], r["power_mcse"], r["ci_low"], r["ci_high"])
            for r in rows
            if r["endpoint"] == endpoint and r["comparison"] == comparison
        ),
        key=lambda p: p.n_total,
    )
    if not points:
        raise ValueError(f"no summary rows for {endpoint!r} / {comparison!r}")
    first = next((i for i, p in enumerate(points) if p.power >= target_power), None)
    if first is None:
        return SampleSize(endpoint, comparison, target_power, None, points[-1], None, False)
    stable_index = len(points)
    while stable_index > 0 and points[stable_index - 1].power >= target_power:
        stable_index -= 1
    stable = points[stable_index] if stable_index < len(points) else None
    recommended = points[first]
    below = points[first - 1] if first > 0 else None
    interpolated = None
    if below is not None:
        gain = recommended.power - below.power
        fraction = (target_power - below.power) / gain if gain > 0 else 1.0
        interpolated = below.n_total + fraction * (recommended.n_total - below.n_total)
    firm = recommended.ci_low >= target_power and (below is None or below.ci_high < target_power)
    return SampleSize(
        endpoint, comparison, target_power, recommended, below, interpolated, firm, stable
    )
