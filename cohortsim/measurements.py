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


def per_patient(x: np.ndarray, patient: np.ndarray) -> np.ndarray:
    """``x[rows, patients]`` of an ``(R, N, …)`` array ``x``, for flat patient indices
    ``patient = rows · N + patients``: one ``take`` by a single index (several times faster
    than indexing with a tuple of index arrays; the same values)."""
    return np.take(x.reshape(-1, *x.shape[2:]), patient, axis=0)


class VisitMeasurer:
    """Evaluates the measurements of a cohort at given visits.

    Parameters
    ----------
    cohort : LatentCohort
    flare_onset, flare_resolved : (R, N, K)
        The engine's flare episodes (from the Course).
    """

    def __init__(
        self,
        cohort: LatentCohort,
        flare_onset: np.ndarray,
        flare_resolved: np.ndarray,
        residual_fraction: np.ndarray | None = None,
    ) -> None:
        self.cohort = cohort
        self.onset = flare_onset
        self.resolved = flare_resolved
        # Patients with a flare slot that can have begun: only at their visits can a flare be
        # under way (+inf, or NaN, is never ≤ a visit time).
        self.flaring = np.any(flare_onset < np.inf, axis=-1)
        self._residual = residual_fraction

    @property
    def residual_fraction(self) -> np.ndarray:
        """``(R, N)`` residual SLEDAI fraction: the one given, else the cohort's."""
        if self._residual is None:
            self._residual = self.cohort.residual_fraction
        return self._residual

    def _arm_value(self, getter, arm):  # type: ignore[no-untyped-def]
        """``getter(disease)`` of each visit's arm (``arm``: the visits' arm indices); a scalar
        when every arm has the same value, bit for bit (which broadcasts to the same results)."""
        values = np.asarray([getter(a.disease) for a in self.cohort.arms], dtype=float)
        if values.tobytes() == values[:1].tobytes() * len(values):
            return values[0]
        return values[arm]

    def flare_state(self, patient: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`flare_state` at visits of patients ``patient`` (flat indices into ``(R, N)``)
        at months ``t``.

        Evaluated only at the visits of patients with a flare (and at any non-finite ``t``);
        elsewhere no flare is under way and the rise is 0, exactly what :func:`flare_state`
        gives there. Each visit's values are computed by the same expression either way.
        """
        active = np.zeros(len(t), dtype=bool)
        rise = np.zeros(len(t))
        some = per_patient(self.flaring, patient) | ~np.isfinite(t)
        if some.any():
            flaring = patient[some]
            active[some], rise[some] = flare_state(
                t[some],
                per_patient(self.onset, flaring),
                per_patient(self.resolved, flaring),
                per_patient(self.cohort.flare_sledai_rise, flaring),
            )
        return active, rise

    def measure(
        self, patient: np.ndarray, t: np.ndarray, noise: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Measurements at visits of patients ``patient`` at months ``t``.

        ``patient`` holds flat indices into the cohort's ``(R, N)`` arrays (``row · N +
        patient_id``). ``noise`` holds the visit's own draws: ``sledai`` uniforms and standard
        normals for ``proteinuria``, ``anti_dsdna`` and ``treg``.
        """
        c = self.cohort

        def at(x: np.ndarray) -> np.ndarray:
            return per_patient(x, patient)

        arm = at(c.arm)
        cls = at(c.response_class).astype(np.int64)
        progress = response_progress(t, at(c.time_to_response))
        active, rise = self.flare_state(patient, t)
        sledai = sledai_at(
            noise["sledai"],
            at(c.baseline_sledai),
            at(self.residual_fraction),
            progress,
            rise,
            self._arm_value(lambda d: d.sledai.visit_dispersion, arm),
            self._arm_value(lambda d: d.sledai.visit_distribution == "binomial", arm),
        )
        out: dict[str, np.ndarray] = {"sledai": sledai, "flare_active": active}
        baselines = {
            "proteinuria": np.log(at(c.baseline_proteinuria)),
            "anti_dsdna": np.log(at(c.baseline_anti_dsdna)),
            "treg": at(c.baseline_treg),
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
                at(c.biomarker_patient_effect(marker)),
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
        present = at(c.baseline_manifestations) & (t[..., None] < at(c.manifestation_resolution))
        present[..., MANIFESTATIONS.index("nephritis")] |= active
        for m, name in enumerate(MANIFESTATIONS):
            out[name] = present[..., m]
        return out
