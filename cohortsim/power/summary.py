"""From per-replicate results to power: running tallies and the summary rows.

:class:`Tally` accumulates, per design point (N × comparison × endpoint), only counts and sums,
so a run of any length keeps a few kilobytes, chunk after chunk. :meth:`Tally.rows` turns them
into the summary: the power (the proportion of trials that succeed — significant in the
direction of benefit), its Monte Carlo SE ``sqrt(p (1 − p) / R)`` and Wilson 95% interval, the
rejection rate in either direction, the mean estimate, expected events, analysed patients and
study duration, and the probabilities of stopping early.

For assurance the replicates sharing one parameter draw are a cluster; the tally keeps the
successes of each draw so that the assurance's Monte Carlo SE is computed over draws
(:func:`cohortsim.power.assurance.cluster_mcse`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from cohortsim.analysis import power_mcse, wilson_interval
from cohortsim.power.analyses import EFFECT_MEASURE, EVENTS_MEANING
from cohortsim.power.assurance import cluster_mcse
from cohortsim.power.sequential import EFFICACY, FUTILITY, HARM

MC_CONFIDENCE = 0.95
"""Level of the Monte Carlo intervals of power and assurance."""


class Tally:
    """Counts and sums per design point.

    Parameters
    ----------
    n_grid : sequence of int
        Trial sizes, ascending.
    comparisons, endpoints : sequence of str
    replicates_per_draw : int, optional
        For an assurance run: replicates sharing one parameter draw.
    """

    FIELDS = (
        "count",
        "rejected",
        "significant",
        "estimate_sum",
        "estimate_count",
        "se_sum",
        "se_count",
        "events_sum",
        "analysed_sum",
        "duration_sum",
        "early_efficacy",
        "early_futility",
        "early_harm",
    )

    def __init__(
        self,
        n_grid: Sequence[int],
        comparisons: Sequence[str],
        endpoints: Sequence[str],
        replicates_per_draw: int | None = None,
    ) -> None:
        self.n_grid = np.asarray(sorted(n_grid))
        self.comparisons = tuple(comparisons)
        self.endpoints = tuple(endpoints)
        self.shape = (len(self.n_grid), len(self.comparisons), len(self.endpoints))
        self.sums = {name: np.zeros(self.shape) for name in self.FIELDS}
        self.per_draw = replicates_per_draw
        self.draw_successes: list[np.ndarray] = []
        self.draw_counts: list[np.ndarray] = []

    @property
    def replicates(self) -> int:
        """Replicates tallied (per design point)."""
        return int(self.sums["count"].min()) if self.sums["count"].size else 0

    def add(self, rows: Mapping[str, np.ndarray]) -> None:
        """Tally one chunk's rows (columns as in ``replicates.parquet``, codes not labels)."""
        where = (
            np.searchsorted(self.n_grid, rows["n_total"]),
            rows["comparison"].astype(np.int64),
            rows["endpoint"].astype(np.int64),
        )
        estimate = rows["estimate"]
        finite = np.isfinite(estimate)
        stop = rows["stop"]
        adds = {
            "count": np.ones(estimate.size),
            "rejected": rows["rejected"],
            "significant": rows["significant"],
            "estimate_sum": np.where(finite, estimate, 0.0),
            "estimate_count": finite,
            "se_sum": np.where(np.isfinite(rows["se"]), rows["se"], 0.0),
            "se_count": np.isfinite(rows["se"]),
            "events_sum": np.nan_to_num(rows["events"]),
            "analysed_sum": rows["n_analysed"],
            "duration_sum": rows["duration_months"],
            "early_efficacy": stop == EFFICACY,
            "early_futility": stop == FUTILITY,
            "early_harm": stop == HARM,
        }
        for name, values in adds.items():
            np.add.at(self.sums[name], where, np.asarray(values, dtype=float))
        if self.per_draw is not None:
            draw = rows["replicate"] // self.per_draw
            first = int(draw.min())
            index = (draw - first, *where)
            n_draws = int(draw.max()) - first + 1
            successes = np.zeros((n_draws, *self.shape))
            counts = np.zeros((n_draws, *self.shape))
            np.add.at(successes, index, rows["rejected"].astype(float))
            np.add.at(counts, index, 1.0)
            self.draw_successes.append(successes)
            self.draw_counts.append(counts)

    def power(self) -> np.ndarray:
        """Power per design point, shape (N, comparisons, endpoints)."""
        return self.sums["rejected"] / np.maximum(self.sums["count"], 1)

    def mcse(self) -> np.ndarray:
        """Monte Carlo SE per design point (cluster-aware for assurance)."""
        if self.per_draw is None:
            return np.asarray(power_mcse(self.sums["rejected"], np.maximum(self.sums["count"], 1)))
        s = np.concatenate(self.draw_successes)
        m = np.concatenate(self.draw_counts)
        out = np.empty(self.shape)
        for index in np.ndindex(*self.shape):
            out[index] = cluster_mcse(s[(slice(None), *index)], m[(slice(None), *index)])
        return out

    def rows(self, primary: str) -> list[dict[str, Any]]:
        """The summary rows (see the module docstring)."""
        s = self.sums
        count = np.maximum(s["count"], 1)
        power = s["rejected"] / count
        mcse = self.mcse()
        low, high = wilson_interval(s["rejected"], count, MC_CONFIDENCE)
        # the Wilson interval holds the estimate; keep rounding from putting an end inside it
        low, high = np.minimum(np.asarray(low), power), np.maximum(np.asarray(high), power)
        out = []
        for i, j, k in np.ndindex(*self.shape):
            endpoint = self.endpoints[k]
            measure = EFFECT_MEASURE[endpoint]
            n_est = s["estimate_count"][i, j, k]
            mean = s["estimate_sum"][i, j, k] / n_est if n_est else float("nan")
            effect = float(np.exp(mean)) if measure.startswith("log_") else float(mean)
            out.append(
                {
                    "n_total": int(self.n_grid[i]),
                    "comparison": self.comparisons[j],
                    "endpoint": endpoint,
                    "primary": endpoint == primary,
                    "power": float(power[i, j, k]),
                    "power_mcse": float(mcse[i, j, k]),
                    "ci_low": float(low[i, j, k]),
                    "ci_high": float(high[i, j, k]),
                    "replicates": int(s["count"][i, j, k]),
                    "rejection_rate": float(s["significant"][i, j, k] / count[i, j, k]),
                    "effect_measure": measure,
                    "mean_estimate": float(mean),
                    "effect": effect,
                    # (one element: a NumPy float, typed as an array by NumPy's stubs)
                    "mean_se": float(
                        s["se_sum"][i, j, k] / max(cast(float, s["se_count"][i, j, k]), 1)
                    ),
                    "events_meaning": EVENTS_MEANING[endpoint],
                    "expected_events": float(s["events_sum"][i, j, k] / count[i, j, k]),
                    "expected_n_analysed": float(s["analysed_sum"][i, j, k] / count[i, j, k]),
                    "mean_duration_months": float(s["duration_sum"][i, j, k] / count[i, j, k]),
                    "p_stop_efficacy": float(s["early_efficacy"][i, j, k] / count[i, j, k]),
                    "p_stop_futility": float(s["early_futility"][i, j, k] / count[i, j, k]),
                    "p_stop_harm": float(s["early_harm"][i, j, k] / count[i, j, k]),
                }
            )
        return out


def merge_assurance(rows: list[dict[str, Any]], assurance: Tally) -> list[dict[str, Any]]:
    """Add the assurance columns (value, cluster-aware MC SE, interval, draws) to ``rows``."""
    by_key = {(r["n_total"], r["comparison"], r["endpoint"]): r for r in assurance.rows("")}
    mcse = assurance.mcse()
    n_draws = int(sum(len(d) for d in assurance.draw_successes))
    out = []
    for row in rows:
        a = by_key[(row["n_total"], row["comparison"], row["endpoint"])]
        i = int(np.searchsorted(assurance.n_grid, row["n_total"]))
        j = assurance.comparisons.index(row["comparison"])
        k = assurance.endpoints.index(row["endpoint"])
        se = float(mcse[i, j, k])
        out.append(
            {
                **row,
                "assurance": a["power"],
                "assurance_mcse": se,
                "assurance_ci_low": max(0.0, a["power"] - 1.959963984540054 * se),
                "assurance_ci_high": min(1.0, a["power"] + 1.959963984540054 * se),
                "assurance_replicates": a["replicates"],
                "assurance_draws": n_draws,
                "assurance_mean_duration_months": a["mean_duration_months"],
            }
        )
    return out
