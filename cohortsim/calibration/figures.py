"""Figures of the posterior predictive check (PNG, matplotlib with the Agg backend).

* ``relapse_free.png`` — the band of simulated pilots' Kaplan–Meier relapse-free curves, with the
  reported relapses marked;
* ``sledai.png``, ``proteinuria.png`` — the simulated pilots' mean trajectories (median and 95%
  band; lighter: the 95% range of individual patients) with the reported means and SDs.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from cohortsim.calibration.predictive import KM_GRID, ValidationResult
from cohortsim.calibration.targets import Target, TargetSet

_COLOURS = {"A": "#b2182b", "P": "#2166ac"}
_BAND = "#7f7f7f"


def _quantiles(values: np.ndarray, levels: list[float], min_share: float = 0.0) -> np.ndarray:
    """Column quantiles ignoring NaN; NaN where fewer than ``min_share`` of rows have a value."""
    out = np.full((len(levels), values.shape[1]), np.nan)
    share = np.mean(np.isfinite(values), axis=0)
    for j in range(values.shape[1]):
        column = values[:, j][np.isfinite(values[:, j])]
        if len(column) and share[j] >= min_share:
            out[:, j] = np.quantile(column, levels)
    return out


def relapse_free_figure(result: ValidationResult, targets: TargetSet, path: Path) -> Path:
    """Kaplan–Meier band of the simulated pilots with the reported relapse times marked."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    q = _quantiles(result.km, [0.025, 0.25, 0.5, 0.75, 0.975], min_share=0.2)
    ax.fill_between(KM_GRID, q[0], q[4], step="post", color=_BAND, alpha=0.25,
                    label="simulated pilots, 95% band")
    ax.fill_between(KM_GRID, q[1], q[3], step="post", color=_BAND, alpha=0.35,
                    label="simulated pilots, 50% band")
    ax.step(KM_GRID, q[2], where="post", color="black", lw=1.5, label="simulated median")
    times = [t for t in targets if t.statistic == "event_times"]
    for target in times:
        assert isinstance(target.value, tuple)
        colour = _COLOURS["A" if target.from_abstract else "P"]
        for k, month in enumerate(target.value):
            ax.axvline(month, color=colour, ls=":", lw=1)
            y = np.interp(month, KM_GRID, np.nan_to_num(q[2], nan=0.0))
            ax.plot([month], [y], marker="v", ms=9, color=colour, ls="none",
                    label=f"reported relapse ({target.describe().split(' (')[0]})"
                    if k == 0 else None)
    counts = [t for t in targets if t.quantity == "relapse" and t.among == "all"]
    note = "; ".join(f"reported: {int(float(t.value))} of {t.n} relapsed [{', '.join(t.source)}]"
                     for t in counts)
    ax.set_title("Relapse-free (first relapse observed), pilot replayed\n" + note, fontsize=10)
    ax.set_xlabel("months since treatment start")
    ax.set_ylabel("Kaplan–Meier relapse-free probability")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, KM_GRID[-1])
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _reported_points(targets: TargetSet, quantity: str) -> list[tuple[Target, Target | None]]:
    means = [t for t in targets if t.quantity == quantity and t.statistic == "mean"
             and isinstance(t.time, float)]
    out = []
    for mean in means:
        sd = next((t for t in targets if t.quantity == quantity and t.statistic == "sd"
                   and t.time == mean.time and t.n == mean.n and t.source == mean.source), None)
        out.append((mean, sd))
    return out


def trajectory_figure(
    result: ValidationResult,
    targets: TargetSet,
    quantity: str,
    means: np.ndarray,
    patients: np.ndarray,
    ylabel: str,
    path: Path,
    count_quantity: str | None = None,
) -> Path:
    """Median and 95% band of the pilots' mean trajectory, the patients' 95% range, and the
    reported means ± SD; counts of ``count_quantity`` (e.g. SLEDAI = 0) are noted with their
    predictive interval."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    months = result.months
    pq = _quantiles(patients, [0.025, 0.975])
    mq = _quantiles(means, [0.025, 0.5, 0.975])
    ax.fill_between(months, pq[0], pq[1], color=_BAND, alpha=0.15,
                    label="simulated patients, 95% range")
    ax.fill_between(months, mq[0], mq[2], color=_BAND, alpha=0.4,
                    label="simulated pilot mean, 95% band")
    ax.plot(months, mq[1], color="black", lw=1.5, marker=".", label="simulated pilot mean, median")
    for mean, sd in _reported_points(targets, quantity):
        source = "A" if mean.from_abstract else "P"
        offset = 0.15 if source == "P" else -0.15
        label = f"reported [{', '.join(mean.source)}], n = {mean.n or '?'}" + (
            " (mean ± SD)" if sd is not None else " (mean)")
        ax.errorbar(
            [float(mean.time) + offset], [float(mean.value)],  # type: ignore[arg-type]
            yerr=None if sd is None else [[float(sd.value)], [float(sd.value)]],  # type: ignore[arg-type]
            fmt="o" if source == "A" else "s", color=_COLOURS[source], capsize=4, ms=6,
            label=label,
        )
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper right")
    ax.set_xlabel("months since treatment start")
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.5, months[-1] + 0.5)
    ax.set_ylim(bottom=0)
    ax.set_title(f"{ylabel}: pilot replayed {result.replicates} times "
                 f"({result.draws} posterior draws)", fontsize=10)
    notes = [
        f"{row.description.split(' (')[0]}, month {float(t.time):g} [{row.source}]: "
        f"simulated median {row.median:g} (95% {row.lower:g}–{row.upper:g})"
        for row in result.rows
        for t in targets
        if t.name == row.target and t.quantity == count_quantity and isinstance(t.time, float)
    ]
    if notes:
        ax.text(0.02, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=8, va="bottom",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_figures(result: ValidationResult, targets: TargetSet, out: Path) -> list[Path]:
    """Write the three PNG figures to directory ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        relapse_free_figure(result, targets, out / "relapse_free.png"),
        trajectory_figure(result, targets, "sledai", result.sledai_means, result.sledai_patients,
                          "SLEDAI-2K", out / "sledai.png", "sledai_zero"),
        trajectory_figure(result, targets, "proteinuria_mg_per_day", result.proteinuria_means,
                          result.proteinuria_patients, "24-h proteinuria, mg",
                          out / "proteinuria.png", "proteinuria_fell"),
    ]
