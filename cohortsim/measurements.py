"""What a visit measures, as a function of time, the patient's latent state and flares.

See ``docs/model.md`` for the equations. Every function is vectorised; ``t`` is months since
treatment start, broadcast against per-patient arrays.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from cohortsim.cohort import LatentCohort
from cohortsim.discrete import binomial_quantile, count_quantile
from cohortsim.scenario.types import MANIFESTATIONS


def response_progress(t: np.ndarray, time_to_response: np.ndarray) -> np.ndarray:
    """Fraction of the eventual response reached by month ``t`` (linear, then flat)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        progress = np.where(time_to_response > 0, t / time_to_response, 1.0)
    return np.clip(progress, 0.0, 1.0)


def flare_state(
    t: np.ndarray, onset: np.ndarray, resolved: np.ndarray, rise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Whether a flare episode is under way at ``t`` and the SLEDAI points it adds.

    ``onset``, ``resolved``, ``rise`` have a trailing flare axis; ``t`` broadcasts against the
    others without it.
    """
    active = (onset <= t[..., None]) & (t[..., None] < resolved)
    return cast(np.ndarray, active.any(axis=-1)), np.where(active, rise, 0.0).sum(axis=-1)


def sledai_at(
    uniform: np.ndarray,
    baseline: np.ndarray,
    residual_fraction: np.ndarray,
    progress: np.ndarray,
    flare_rise: np.ndarray,
    dispersion: np.ndarray,
    binomial: np.ndarray,
) -> np.ndarray:
    """SLEDAI-2K at a visit, drawn by inversion of the visit's ``uniform``.

    The share of baseline activity still present is ``r = 1 − (1 − residual)·progress``. Where
    ``binomial`` is true the score is ``Binomial(baseline, r) + flare rise``: each baseline point
    is still present with probability ``r``, so a patient keeps a subset of her own baseline
    activity (``baseline`` must hold integers). Elsewhere it is negative binomial (size
    ``dispersion``) around ``baseline·r + flare rise``. Either way an expected activity of 0
    gives exactly 0, and ``r = 1`` without a flare gives the baseline itself under the binomial.
    """
    uniform, baseline, residual_fraction, progress, flare_rise, dispersion, binomial = (
        np.broadcast_arrays(
            uniform, baseline, residual_fraction, progress, flare_rise, dispersion, binomial
        )
    )
    present = 1.0 - (1.0 - residual_fraction) * progress
    out = np.empty(uniform.shape)
    thinned = binomial.astype(bool)
    if thinned.any():
        out[thinned] = (
            binomial_quantile(
                uniform[thinned], baseline[thinned], np.clip(present[thinned], 0.0, 1.0)
            )
            + flare_rise[thinned]
        )
    spread = ~thinned
    if spread.any():
        mean = baseline[spread] * present[spread] + flare_rise[spread]
        out[spread] = count_quantile(uniform[spread], np.maximum(mean, 0.0), dispersion[spread])
    return out


def marker_change(
    t: np.ndarray,
    progress: np.ndarray,
    early_change: np.ndarray,
    early_time_constant: np.ndarray,
    class_change: np.ndarray,
    patient_effect: np.ndarray,
) -> np.ndarray:
    """Change from baseline of a biomarker (log ratio, or points for Treg %), without noise."""
    early = early_change * -np.expm1(-t / early_time_constant)
    return early + (class_change + patient_effect - early_change) * progress


class VisitMeasurer:
    """Evaluates the measurements of a cohort at given visits.

    Parameters
    ----------
    cohort : LatentCohort
    flare_onset, flare_resolved : (R, N, K)
        The engine's flare episodes (from the Course).
    """

    def __init__(
        self, cohort: LatentCohort, flare_onset: np.ndarray, flare_resolved: np.ndarray
    ) -> None:
        self.cohort = cohort
        self.onset = flare_onset
        self.resolved = flare_resolved

    def _arm_value(self, getter, arm):  # type: ignore[no-untyped-def]
        """``getter(disease)`` of each visit's arm (``arm``: the visits' arm indices)."""
        values = np.asarray([getter(a.disease) for a in self.cohort.arms], dtype=float)
        return values[arm]

    def measure(
        self, rows: np.ndarray, patients: np.ndarray, t: np.ndarray, noise: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Measurements at visits ``(rows[j], patients[j])`` at months ``t[j]``.

        ``noise`` holds the visit's own draws: ``sledai`` uniforms and standard normals for
        ``proteinuria``, ``anti_dsdna`` and ``treg``.
        """
        c = self.cohort
        at = (rows, patients)
        arm = c.arm[at]
        cls = c.response_class[at].astype(np.int64)
        progress = response_progress(t, c.time_to_response[at])
        active, rise = flare_state(t, self.onset[at], self.resolved[at], c.flare_sledai_rise[at])
        sledai = sledai_at(
            noise["sledai"],
            c.baseline_sledai[at],
            c.residual_fraction[at],
            progress,
            rise,
            self._arm_value(lambda d: d.sledai.visit_dispersion, arm),
            self._arm_value(lambda d: d.sledai.visit_distribution == "binomial", arm),
        )
        out: dict[str, np.ndarray] = {"sledai": sledai, "flare_active": active}
        baselines = {
            "proteinuria": np.log(c.baseline_proteinuria[at]),
            "anti_dsdna": np.log(c.baseline_anti_dsdna[at]),
            "treg": c.baseline_treg[at],
        }
        for marker, base in baselines.items():
            change = marker_change(
                t,
                progress,
                self._arm_value(lambda d, m=marker: getattr(d, m).early_change, arm),
                self._arm_value(lambda d, m=marker: getattr(d, m).early_time_constant_months, arm),
                np.asarray(
                    [getattr(arm.disease, marker).class_change for arm in c.arms], dtype=float
                )[arm, cls],
                c.biomarker_patient_effect(marker)[at],
            )
            if marker == "proteinuria":
                increase = self._arm_value(lambda d: d.relapse.proteinuria_log_increase, arm)
                change = change + np.where(active, increase, 0.0)
            value = (
                base
                + change
                + self._arm_value(lambda d, m=marker: getattr(d, m).visit_sd, arm) * noise[marker]
            )
            out[marker] = np.exp(value) if marker != "treg" else np.maximum(value, 0.0)
        present = c.baseline_manifestations[at] & (t[..., None] < c.manifestation_resolution[at])
        present[..., MANIFESTATIONS.index("nephritis")] |= active
        for m, name in enumerate(MANIFESTATIONS):
            out[name] = present[..., m]
        return out
