"""Figures of a power run (matplotlib, Agg backend: no display needed).

``power_curve.png``: left, power against N for every endpoint with 95% Monte Carlo intervals,
the target power, the recommended N for the primary endpoint, the analytic power of the primary
(dotted) and — when run — the assurance (dashed); right, what a larger trial costs and buys for
the primary endpoint: study duration and expected events.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cohortsim.power.runner import PowerResult

LABELS = {
    "sri4": "SRI-4-like response",
    "remission": "complete remission (SLEDAI-2K 0)",
    "time_to_relapse": "time to first relapse (log-rank)",
    "sledai_change": "SLEDAI-2K change (ANCOVA)",
    "flare_rate": "flare rate (rate ratio)",
}


def _series(result: PowerResult, endpoint: str, comparison: str, key: str) -> np.ndarray:
    rows = sorted(
        (r for r in result.rows if r["endpoint"] == endpoint and r["comparison"] == comparison),
        key=lambda r: r["n_total"],
    )
    return np.array([r[key] for r in rows], dtype=float)


def _yerr(value: np.ndarray, low: np.ndarray, high: np.ndarray) -> list[np.ndarray]:
    """Error-bar lengths (never negative: rounding can put an interval end a hair inside)."""
    return [np.maximum(value - low, 0.0), np.maximum(high - value, 0.0)]


def power_curve(result: PowerResult, path: Path) -> Path:
    """Draw ``power_curve.png`` at ``path`` (see the module docstring)."""
    # Imported here, not with the module: matplotlib takes ~0.3 s to import, and a power run
    # without --out draws nothing.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = result.scenario.analysis
    assert a is not None
    comparisons = list(a.treatment_arms)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 6), gridspec_kw={"width_ratios": [1.6, 1]}, constrained_layout=True
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for c_index, comparison in enumerate(comparisons):
        style = ["-", "-.", ":"][c_index % 3]
        for e_index, endpoint in enumerate(a.endpoints):
            n = _series(result, endpoint, comparison, "n_total")
            power = _series(result, endpoint, comparison, "power")
            low = _series(result, endpoint, comparison, "ci_low")
            high = _series(result, endpoint, comparison, "ci_high")
            primary = endpoint == a.primary
            colour = colours[e_index % len(colours)]
            label = LABELS[endpoint] + (" — primary" if primary else "")
            if len(comparisons) > 1:
                label += f" ({comparison})"
            left.errorbar(
                n, power, yerr=_yerr(power, low, high), fmt=style, marker="o",
                ms=5 if primary else 3, lw=2.6 if primary else 1.2, elinewidth=1,
                capsize=3 if primary else 2, color=colour, label=label,
                alpha=1.0 if primary else 0.75,
            )
            if primary and "assurance" in result.rows[0]:
                value = _series(result, endpoint, comparison, "assurance")
                a_low = _series(result, endpoint, comparison, "assurance_ci_low")
                a_high = _series(result, endpoint, comparison, "assurance_ci_high")
                left.errorbar(
                    n, value, yerr=_yerr(value, a_low, a_high), fmt="--", marker="D",
                    ms=4, color=colour, lw=2, elinewidth=1, capsize=3,
                    label="assurance, " + LABELS[endpoint],
                )
            if primary:
                analytic = _series(result, endpoint, comparison, "analytic_power")
                if np.isfinite(analytic).any():
                    left.plot(n, analytic, ":", marker="x", ms=6, color="black", lw=1.2,
                              label="analytic (normal approximation), primary")
    left.axhline(a.target_power, color="grey", lw=1, ls="--")
    left.text(left.get_xlim()[0], a.target_power + 0.01, f" target {a.target_power:.0%}",
              color="grey", fontsize=8, va="bottom")
    answer = result.primary
    if answer.recommended is not None:
        n_rec = answer.recommended.n_total
        left.axvline(n_rec, color="black", lw=0.8, ls=":")
        left.annotate(
            f"N = {n_rec}", (n_rec, answer.recommended.power), xytext=(8, -18),
            textcoords="offset points", fontsize=9, bbox={"fc": "white", "lw": 0, "alpha": 0.8},
        )
    if (
        answer.recommended is not None
        and answer.stable is not None
        and answer.stable.n_total != answer.recommended.n_total
    ):
        left.axvline(answer.stable.n_total, color="black", lw=0.8, ls="--")
        left.annotate(
            f"every N ≥ {answer.stable.n_total}", (answer.stable.n_total, a.target_power),
            xytext=(6, -30), textcoords="offset points", fontsize=9,
            bbox={"fc": "white", "lw": 0, "alpha": 0.8},
        )
    left.set_xlabel("patients randomised (N, both arms)")
    left.set_ylabel("power (bars: 95% Monte Carlo interval)")
    lowest = min(min(r["ci_low"] for r in result.rows), a.target_power)
    # zoom in when every curve is high (a fine grid near the answer), else show 0-1
    left.set_ylim(0 if lowest < 0.4 else np.floor((lowest - 0.05) * 20) / 20, 1.02)
    sides = "two-sided" if a.sides == 2 else "one-sided"
    left.set_title(
        f"{result.scenario.study.name}: power by N "
        f"({sides} α = {a.alpha:g}, {result.replicates:,} trials per N)",
        fontsize=10,
    )
    left.grid(alpha=0.3)
    left.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                frameon=False)

    comparison = comparisons[0]
    n = _series(result, a.primary, comparison, "n_total")
    duration = _series(result, a.primary, comparison, "mean_duration_months")
    events = _series(result, a.primary, comparison, "expected_events")
    right.plot(n, duration, "o-", color="tab:purple", label="study duration (months)")
    right.set_xlabel("patients randomised (N)")
    right.set_ylabel("mean study duration, months", color="tab:purple")
    right.grid(alpha=0.3)
    twin = right.twinx()
    rows = [r for r in result.rows if r["endpoint"] == a.primary]
    meaning = rows[0]["events_meaning"] if rows else "events"
    twin.plot(n, events, "s--", color="tab:green", ms=4, label=f"expected {meaning}")
    twin.set_ylabel(f"expected {meaning} (primary)", color="tab:green")
    handles = right.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    right.legend(handles=handles, fontsize=8, loc="upper left")
    right.set_title("what N costs: duration and events (primary endpoint)", fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
