"""Turn a simulated :class:`Course` into the four output tables (as column arrays).

Row order is canonical — replicate, patient, time, then event type — so that output depends only
on what happened, not on the order an engine produced it in. Categorical columns are integer codes
into the category tuples of :mod:`cohortsim.tables`.

Rows are located by flat indices: a patient by ``row · n_patients + patient_id`` (its position in
the cohort's ``(R, N)`` arrays), an event or visit slot by its position in an ``(R, N, k)`` array.
One flat index gathers several times faster than a tuple of per-axis indices, and the canonical
sort needs the patient as one integer anyway.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np

from cohortsim.cohort import LatentCohort
from cohortsim.course import (
    DETECTION_KINDS,
    END_DEATH,
    END_DROPOUT,
    END_REASONS,
    Course,
)
from cohortsim.measurements import VisitMeasurer, per_patient
from cohortsim.scenario.types import MANIFESTATIONS
from cohortsim.tables import DETAIL_CATEGORIES as DETAILS
from cohortsim.tables import EVENT_TYPES

NO_CODE = -1

Columns = dict[str, np.ndarray | None]


def _event_code(name: str) -> int:
    return EVENT_TYPES.index(name)


def _gather(x: np.ndarray, flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``np.broadcast_to(x, shape)[np.unravel_index(flat, shape)]``: the entries of ``x``,
    broadcast to ``shape``, at the C-order positions ``flat``.

    When ``x`` has the full shape, or varies along the trailing axes only (a per-slot code) or
    the leading axes only (a per-patient value), that is one gather from ``x`` by a flat index.
    """
    x = np.asarray(x)
    full = (1,) * (len(shape) - x.ndim) + x.shape
    if full == shape:
        return np.take(x.reshape(-1), flat)
    for split in range(len(shape) + 1):
        inner = math.prod(shape[split:])
        if full == (1,) * split + shape[split:]:
            return np.take(x.reshape(-1), flat % inner)
        if full == shape[:split] + (1,) * (len(shape) - split):
            return np.take(x.reshape(-1), flat // inner)
    return np.broadcast_to(x, shape)[np.unravel_index(flat, shape)]


class _EventRows:
    """Accumulates event rows from masked arrays, then sorts them canonically."""

    def __init__(self, cohort: LatentCohort) -> None:
        self.cohort = cohort
        self.parts: list[Columns] = []

    def add(
        self,
        event: str,
        mask: np.ndarray,
        true: np.ndarray | float,
        observed: np.ndarray | None = None,
        value: np.ndarray | float | None = None,
        detail: np.ndarray | int = NO_CODE,
        sequence: np.ndarray | int = 1,
    ) -> None:
        """Add a row of ``event`` for every true entry of ``mask`` (``(R, N)`` or
        ``(R, N, k)``); the other arguments broadcast against ``mask``."""
        flat = np.flatnonzero(mask)
        n = len(flat)
        if n == 0:
            return
        shape = mask.shape

        def pick(x: np.ndarray | float | int | None, fill: float, dtype: type) -> np.ndarray:
            # A scalar (or no value) is the same in every row: fill rather than gather.
            # astype(copy=False) keeps the gathered array when it has the column's dtype.
            if x is None:
                x = fill
            if np.ndim(x) == 0:
                return np.full(n, x, dtype=dtype)
            return _gather(np.asarray(x), flat, shape).astype(dtype, copy=False)

        patient = flat // math.prod(shape[2:]) if len(shape) > 2 else flat
        seq = pick(sequence, 1, np.int16)
        if np.ndim(sequence) and not _ascending_within(patient, seq):
            # columns() relies on each part listing a patient's rows in sequence order (see
            # there); reorder this part stably so that it does.
            order = np.lexsort((seq, patient))
            flat, patient, seq = flat[order], patient[order], seq[order]
        true_months = pick(true, np.nan, np.float64)
        self.parts.append(
            {
                "patient": patient,
                "event": np.full(n, _event_code(event), dtype=np.int8),
                "sequence": seq,
                "true_months": true_months,
                "observed_months": true_months
                if observed is None
                else pick(observed, np.nan, np.float64),
                "value": pick(value, np.nan, np.float64),
                "detail": pick(detail, NO_CODE, np.int8),
            }
        )

    def columns(self) -> Columns:
        if not self.parts:
            keys = ("row", "patient_id", "event", "sequence", "true_months", "observed_months")
            empty: Columns = {k: np.zeros(0) for k in (*keys, "value", "detail")}
            return empty
        # Canonical order: replicate row, patient, true time, event type, sequence (then the
        # order the rows were added in). Each part holds one event type and lists a patient's
        # rows in sequence order (np.flatnonzero order, see add()), so with the parts laid end
        # to end in event-type order, the position of a row already orders a patient's rows by
        # event type and sequence: a stable sort by (patient, true time) gives the canonical
        # order (the same as a lexsort on all five keys).
        parts = sorted(self.parts, key=lambda p: int(cast(np.ndarray, p["event"])[0]))  # stable
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        patient = merged.pop("patient")
        rows, n_patients = self.cohort.shape
        order = canonical_order(patient, merged["true_months"], rows * n_patients)
        return _with_patient(patient[order], n_patients, {k: v[order] for k, v in merged.items()})


def _with_patient(patient: np.ndarray, n_patients: int, columns: Columns) -> Columns:
    """``columns`` preceded by ``row`` and ``patient_id`` of the flat patient indices."""
    row, patient_id = np.divmod(patient, n_patients)
    return {"row": row, "patient_id": patient_id, **columns}


def _ascending_within(patient: np.ndarray, sequence: np.ndarray) -> bool:
    """Whether ``sequence`` never decreases between consecutive rows of the same patient (rows
    grouped by ``patient``, as np.nonzero lists them)."""
    same = patient[1:] == patient[:-1]
    return not bool(np.any(same & (sequence[1:] < sequence[:-1])))


def canonical_order(patient: np.ndarray, time: np.ndarray, n_codes: int) -> np.ndarray:
    """The stable order of rows by ``(patient, time)``: exactly ``np.lexsort((time, patient))``.

    Parameters
    ----------
    patient : (n,) int array
        Dense patient codes in ``[0, n_codes)`` (``row · n_patients + patient_id``).
    time : (n,) float array
        Months; equal times keep their row order.
    n_codes : int
        Number of possible patient codes.

    Returns
    -------
    (n,) intp array
        Row indices in canonical order.

    Notes
    -----
    ``np.lexsort`` sorts each key in a separate stable (merge/tim) sort. Here the patient code,
    the time mapped to an integer ``q`` and the row index are packed into one ``uint64`` key per
    row, sorted with NumPy's (SIMD) unstable sort — the row index in the low bits makes every
    key distinct, so the sort is stable in effect — and the row index is read back from the low
    bits. ``q = floor((time − min) · scale)`` is a non-decreasing function of the time, so
    rows of a patient with ``q₁ < q₂`` have ``t₁ < t₂`` and are in the right order; rows with
    equal ``q`` are in row order, which is right unless two *different* times of one patient
    share a ``q`` (closer than about ``span / 2^bits``, e.g. 3e-9 months for a shard of 128
    trials of 120 patients). That is checked after the sort, and in that rare case (and when
    the bits do not suffice or there are NaN times) the result comes from ``np.lexsort``
    itself. Either way the result is exactly ``np.lexsort``'s.
    """
    n = len(time)
    index_bits = max(1, (n - 1).bit_length())
    patient_bits = max(1, (n_codes - 1).bit_length())
    # At most 53 bits, so that the largest ``q`` (2^bits − 1) is a float64 exactly and cannot
    # spill into the patient bits.
    time_bits = min(64 - index_bits - patient_bits, 53)
    if n > 1 and time_bits >= 16:
        lo, hi = float(time.min()), float(time.max())  # NaN if any time is NaN
        top = float(2**time_bits - 1)
        scale = top / (hi - lo) if hi > lo else 0.0
        if np.isfinite(lo) and np.isfinite(hi) and np.isfinite(scale):
            q = time - lo
            q *= scale
            np.minimum(q, top, out=q)
            key = patient.astype(np.uint64) << np.uint64(time_bits + index_bits)
            key |= q.astype(np.uint64) << np.uint64(index_bits)
            key |= np.arange(n, dtype=np.uint64)
            key.sort()
            code = key >> np.uint64(time_bits + index_bits)
            key &= np.uint64((1 << index_bits) - 1)
            order = key.astype(np.intp)
            ordered_time = time[order]
            misordered = (ordered_time[1:] < ordered_time[:-1]) & (code[1:] == code[:-1])
            if not misordered.any():
                return order
    return np.lexsort((time, patient))


def build_tables(cohort: LatentCohort, course: Course) -> dict[str, Columns]:
    """Column arrays of ``patients``, ``visits``, ``events`` and ``trials`` for one shard."""
    replicate = cohort.replicates
    enrolled = course.enrolled
    fu = course.follow_up
    events = _EventRows(cohort)
    arms = cohort.arms

    # -- events -----------------------------------------------------------------------------
    events.add("enrolment", enrolled, 0.0, value=cohort.enrol_month)
    cells = np.asarray([arm.cells_per_kg for arm in arms])[cohort.arm]
    events.add("msc_infusion", enrolled & (cells > 0), 0.0, value=cells)
    maintenance = cohort.scenario.maintenance
    if maintenance.enabled and cohort.is_sle:
        start = float(maintenance.start_month)
        events.add(
            "prednisone_start", enrolled & (start <= fu), start, value=cohort.prednisone_dose
        )
        times = cohort.cyclophosphamide_time
        sequence = np.arange(1, times.shape[-1] + 1)
        events.add(
            "cyclophosphamide",
            enrolled[..., None] & (times <= fu[..., None]),
            times,
            value=cohort.cyclophosphamide_dose,
            sequence=sequence,
        )
    if cohort.is_sle:
        responds = enrolled & (cohort.response_class < 2) & (cohort.time_to_response <= fu)
        events.add("response", responds, cohort.time_to_response, course.response_observed)
        resolution = cohort.manifestation_resolution
        resolved = (
            enrolled[..., None] & cohort.baseline_manifestations & (resolution <= fu[..., None])
        )
        manifestation_codes = np.array([DETAILS.index(m) for m in MANIFESTATIONS])
        events.add(
            "manifestation_resolved",
            resolved,
            resolution,
            course.manifestation_observed,
            detail=manifestation_codes,
        )
    flare_seen = np.isfinite(course.flare_detected)
    flare_codes = np.array([DETAILS.index(k) for k in DETECTION_KINDS], dtype=np.int8)
    detail = np.where(
        course.detection_kind >= 0, flare_codes[np.maximum(course.detection_kind, 0)], NO_CODE
    )
    flare_sequence = np.arange(1, course.flare_onset.shape[-1] + 1)
    rise = cohort.flare_sledai_rise if cohort.is_sle else None
    events.add(
        "flare",
        np.isfinite(course.flare_onset),
        course.flare_onset,
        course.flare_detected,
        value=rise,
        detail=detail,
        sequence=flare_sequence,
    )
    if cohort.is_sle:
        rescue_dose = np.asarray(
            [arm.disease.relapse.rescue_prednisone_mg_per_day for arm in arms]
        )[cohort.arm]
        events.add(
            "rescue",
            flare_seen,
            course.flare_detected,
            value=rescue_dose[..., None],
            sequence=flare_sequence,
        )
    events.add("dropout", enrolled & (course.end_reason == END_DROPOUT), fu)
    events.add("death", enrolled & (course.end_reason == END_DEATH), fu)
    events.add(
        "end_of_follow_up",
        enrolled,
        fu,
        detail=np.asarray([DETAILS.index(r) for r in END_REASONS])[
            np.maximum(course.end_reason, 0)
        ],
    )
    event_columns = events.columns()

    # -- patients -----------------------------------------------------------------------------
    patient = np.flatnonzero(enrolled)
    first_detected = course.first_detection()
    first_onset = course.flare_onset[..., 0]
    observed = np.isfinite(first_detected)

    def at(x: np.ndarray) -> np.ndarray:
        return per_patient(x, patient)

    patient_columns: Columns = _with_patient(
        patient,
        cohort.n_patients,
        {
            "arm": at(cohort.arm),
            "stratum": at(cohort.stratum),
            "enrol_month": at(cohort.enrol_month),
            "age_years": at(cohort.age_years),
            "female": at(cohort.female),
            "disease_duration_months": at(cohort.disease_duration_months),
            "baseline_sledai": at(cohort.baseline_sledai),
            "baseline_proteinuria_mg_per_day": at(cohort.baseline_proteinuria),
            "baseline_anti_dsdna_iu_per_ml": at(cohort.baseline_anti_dsdna),
            "baseline_treg_percent": at(cohort.baseline_treg),
            "response_class": at(cohort.response_class),
            "time_to_response_months": np.where(
                at(cohort.response_class) >= 0, at(cohort.time_to_response), np.nan
            )
            if cohort.is_sle
            else np.full(len(patient), np.nan),
            "follow_up_months": at(fu),
            "end_reason": at(course.end_reason),
            "relapse_observed": at(observed),
            "time_to_relapse_months": at(np.where(observed, first_detected, fu)),
            "first_relapse_onset_months": at(
                np.where(np.isfinite(first_onset), first_onset, np.nan)
            ),
            "flares_observed": at(np.isfinite(course.flare_detected).sum(axis=-1)),
            "flares_onset": at(np.isfinite(course.flare_onset).sum(axis=-1)),
        },
    )
    manifestations = at(cohort.baseline_manifestations)
    for m, name in enumerate(MANIFESTATIONS):
        patient_columns[f"baseline_{name}"] = np.ascontiguousarray(manifestations[:, m])
    if not cohort.is_sle:
        # A plain time-to-event trial has no covariates: null, not a drawn or default value.
        patient_columns["female"] = None
        for name in MANIFESTATIONS:
            patient_columns[f"baseline_{name}"] = None

    # -- visits ---------------------------------------------------------------------------------
    visit_columns = _visits(cohort, course) if cohort.is_sle else _no_visits()

    # -- trials -------------------------------------------------------------------------------
    enrol_masked = np.where(enrolled, cohort.enrol_month, np.nan)
    trial_columns: Columns = {
        "row": np.arange(len(replicate)),
        "n_enrolled": enrolled.sum(axis=1),
        "last_enrolment_month": np.fmax.reduce(enrol_masked, axis=1),
        "cutoff_month": course.cutoff_month,
        "cutoff_reason": course.cutoff_reason,
        "first_relapses_observed": (observed & enrolled).sum(axis=1),
        "flares_observed": flare_seen.sum(axis=(1, 2)),
    }
    return {
        "patients": patient_columns,
        "visits": visit_columns,
        "events": event_columns,
        "trials": trial_columns,
    }


def _no_visits() -> Columns:
    empty_float = np.zeros(0)
    columns: Columns = {
        "row": np.zeros(0, dtype=np.int64),
        "patient_id": np.zeros(0, dtype=np.int64),
        "visit_number": np.zeros(0, dtype=np.int16),
        "visit_type": np.zeros(0, dtype=np.int8),
        "nominal_months": empty_float,
        "actual_months": empty_float,
        "sledai": empty_float,
        "proteinuria_mg_per_day": empty_float,
        "anti_dsdna_iu_per_ml": empty_float,
        "treg_percent": empty_float,
        "flare_active": np.zeros(0, dtype=bool),
    }
    for name in MANIFESTATIONS:
        columns[name] = np.zeros(0, dtype=bool)
    return columns


def _visits(cohort: LatentCohort, course: Course) -> Columns:
    # The residual SLEDAI fraction (a costly Beta quantile) is needed only for patients with a
    # visit after baseline.
    measured = np.any(course.visit_done, axis=-1) | np.any(course.unscheduled_done, axis=-1)
    measurer = VisitMeasurer(
        cohort,
        course.flare_onset,
        course.flare_resolved,
        residual_fraction=cohort.residual_fraction_where(measured),
    )
    parts: list[Columns] = []

    # Baseline visit: the baseline covariates themselves.
    patient = np.flatnonzero(course.enrolled)
    n = len(patient)
    baseline: Columns = {
        "patient": patient,
        "visit_number": np.zeros(n, dtype=np.int16),
        "visit_type": np.zeros(n, dtype=np.int8),
        "nominal_months": np.zeros(n),
        "actual_months": np.zeros(n),
        "sledai": per_patient(cohort.baseline_sledai, patient),
        "proteinuria_mg_per_day": per_patient(cohort.baseline_proteinuria, patient),
        "anti_dsdna_iu_per_ml": per_patient(cohort.baseline_anti_dsdna, patient),
        "treg_percent": per_patient(cohort.baseline_treg, patient),
        "flare_active": np.zeros(n, dtype=bool),
    }
    manifestations = per_patient(cohort.baseline_manifestations, patient)
    for m, name in enumerate(MANIFESTATIONS):
        baseline[name] = manifestations[:, m]
    parts.append(baseline)

    markers = ("sledai", "proteinuria", "anti_dsdna", "treg")
    done = course.visit_done
    flat = np.flatnonzero(done)
    if len(flat):
        patient, v = np.divmod(flat, done.shape[-1])
        t = _gather(cohort.visit_time, flat, done.shape)
        noise = {m: _gather(cohort.visit_noise(m), flat, done.shape) for m in markers}
        parts.append(
            _visit_part(
                patient,
                (v + 1).astype(np.int16),
                1,
                cohort.visit_nominal[v],
                t,
                measurer.measure(patient, t, noise),
            )
        )
    done = course.unscheduled_done
    flat = np.flatnonzero(done)
    if len(flat):
        patient = flat // done.shape[-1]
        t = _gather(course.flare_detected, flat, done.shape)
        noise = {m: _gather(cohort.unscheduled_noise(m), flat, done.shape) for m in markers}
        parts.append(
            _visit_part(
                patient,
                np.full(len(flat), -1, np.int16),
                2,
                np.full(len(flat), np.nan),
                t,
                measurer.measure(patient, t, noise),
            )
        )
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    # Canonical order: replicate, patient, time (then baseline, scheduled, unscheduled).
    patient = merged.pop("patient")
    rows, n_patients = cohort.shape
    order = canonical_order(patient, merged["actual_months"], rows * n_patients)
    return _with_patient(patient[order], n_patients, {k: v[order] for k, v in merged.items()})


def _visit_part(
    patient: np.ndarray,
    number: np.ndarray,
    visit_type: int,
    nominal: np.ndarray,
    t: np.ndarray,
    measured: dict[str, np.ndarray],
) -> Columns:
    part: Columns = {
        "patient": patient,
        "visit_number": number,
        "visit_type": np.full(len(patient), visit_type, dtype=np.int8),
        "nominal_months": nominal,
        "actual_months": t,
        "sledai": measured["sledai"],
        "proteinuria_mg_per_day": measured["proteinuria"],
        "anti_dsdna_iu_per_ml": measured["anti_dsdna"],
        "treg_percent": measured["treg"],
        "flare_active": measured["flare_active"],
    }
    for name in MANIFESTATIONS:
        part[name] = measured[name]
    return part
