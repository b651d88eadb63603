"""Turn a simulated :class:`Course` into the four output tables (as column arrays).

Row order is canonical — replicate, patient, time, then event type — so that output depends only
on what happened, not on the order an engine produced it in. Categorical columns are integer codes
into the category tuples of :mod:`cohortsim.tables`.
"""

from __future__ import annotations

import numpy as np

from cohortsim.cohort import LatentCohort
from cohortsim.course import (
    DETECTION_KINDS,
    END_DEATH,
    END_DROPOUT,
    END_REASONS,
    Course,
)
from cohortsim.measurements import VisitMeasurer
from cohortsim.scenario.types import MANIFESTATIONS
from cohortsim.tables import DETAIL_CATEGORIES as DETAILS
from cohortsim.tables import EVENT_TYPES

NO_CODE = -1

Columns = dict[str, np.ndarray | None]


def _event_code(name: str) -> int:
    return EVENT_TYPES.index(name)


class _EventRows:
    """Accumulates event rows from masked arrays, then sorts them canonically."""

    def __init__(self, cohort: LatentCohort) -> None:
        self.cohort = cohort
        self.parts: list[Columns] = []

    def add(
        self,
        event: str,
        mask: np.ndarray,
        true: np.ndarray,
        observed: np.ndarray | None = None,
        value: np.ndarray | float | None = None,
        detail: np.ndarray | int = NO_CODE,
        sequence: np.ndarray | int = 1,
    ) -> None:
        index = np.nonzero(mask)
        if len(index[0]) == 0:
            return
        shape = mask.shape

        def pick(x: np.ndarray | float | int | None, fill: float) -> np.ndarray:
            if x is None:
                return np.full(len(index[0]), fill)
            return np.broadcast_to(np.asarray(x), shape)[index]

        self.parts.append(
            {
                "row": index[0],
                "patient_id": index[1],
                "event": np.full(len(index[0]), _event_code(event), dtype=np.int8),
                "sequence": pick(sequence, 1).astype(np.int16),
                "true_months": pick(true, np.nan).astype(float),
                "observed_months": pick(true if observed is None else observed, np.nan).astype(
                    float
                ),
                "value": pick(value, np.nan).astype(float),
                "detail": pick(detail, NO_CODE).astype(np.int8),
            }
        )

    def columns(self) -> Columns:
        if not self.parts:
            keys = ("row", "patient_id", "event", "sequence", "true_months", "observed_months")
            empty: Columns = {k: np.zeros(0) for k in (*keys, "value", "detail")}
            return empty
        merged = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        # Canonical order: replicate row, patient, true time, event type, sequence. The integer
        # key pairs are packed into one int64 each (both parts are small and non-negative), which
        # is the same lexicographic order with three sort passes instead of five.
        patient = merged["row"].astype(np.int64) * (1 << 32) + merged["patient_id"]
        kind = merged["event"].astype(np.int64) * (1 << 16) + merged["sequence"]
        order = np.lexsort((kind, merged["true_months"], patient))
        return {k: v[order] for k, v in merged.items()}


def build_tables(cohort: LatentCohort, course: Course) -> dict[str, Columns]:
    """Column arrays of ``patients``, ``visits``, ``events`` and ``trials`` for one shard."""
    replicate = cohort.replicates
    enrolled = course.enrolled
    fu = course.follow_up
    events = _EventRows(cohort)
    arms = cohort.arms

    # -- events -----------------------------------------------------------------------------
    zeros = np.zeros(cohort.shape)
    events.add("enrolment", enrolled, zeros, value=cohort.enrol_month)
    cells = np.asarray([arm.cells_per_kg for arm in arms])[cohort.arm]
    events.add("msc_infusion", enrolled & (cells > 0), zeros, value=cells)
    maintenance = cohort.scenario.maintenance
    if maintenance.enabled and cohort.is_sle:
        start = np.full(cohort.shape, maintenance.start_month)
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
    rows, patients = np.nonzero(enrolled)
    at = (rows, patients)
    first_detected = course.first_detection()
    first_onset = course.flare_onset[..., 0]
    observed = np.isfinite(first_detected)
    patient_columns: Columns = {
        "row": rows,
        "patient_id": patients,
        "arm": cohort.arm[at],
        "stratum": cohort.stratum[at],
        "enrol_month": cohort.enrol_month[at],
        "age_years": cohort.age_years[at],
        "female": cohort.female[at],
        "disease_duration_months": cohort.disease_duration_months[at],
        "baseline_sledai": cohort.baseline_sledai[at],
        "baseline_proteinuria_mg_per_day": cohort.baseline_proteinuria[at],
        "baseline_anti_dsdna_iu_per_ml": cohort.baseline_anti_dsdna[at],
        "baseline_treg_percent": cohort.baseline_treg[at],
        "response_class": cohort.response_class[at],
        "time_to_response_months": np.where(
            cohort.response_class[at] >= 0, cohort.time_to_response[at], np.nan
        )
        if cohort.is_sle
        else np.full(len(rows), np.nan),
        "follow_up_months": fu[at],
        "end_reason": course.end_reason[at],
        "relapse_observed": observed[at],
        "time_to_relapse_months": np.where(observed, first_detected, fu)[at],
        "first_relapse_onset_months": np.where(np.isfinite(first_onset), first_onset, np.nan)[at],
        "flares_observed": np.isfinite(course.flare_detected).sum(axis=-1)[at],
        "flares_onset": np.isfinite(course.flare_onset).sum(axis=-1)[at],
    }
    for m, name in enumerate(MANIFESTATIONS):
        patient_columns[f"baseline_{name}"] = cohort.baseline_manifestations[..., m][at]
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
    measurer = VisitMeasurer(cohort, course.flare_onset, course.flare_resolved)
    parts: list[Columns] = []

    # Baseline visit: the baseline covariates themselves.
    rows, patients = np.nonzero(course.enrolled)
    at = (rows, patients)
    baseline: Columns = {
        "row": rows,
        "patient_id": patients,
        "visit_number": np.zeros(len(rows), dtype=np.int16),
        "visit_type": np.zeros(len(rows), dtype=np.int8),
        "nominal_months": np.zeros(len(rows)),
        "actual_months": np.zeros(len(rows)),
        "sledai": cohort.baseline_sledai[at],
        "proteinuria_mg_per_day": cohort.baseline_proteinuria[at],
        "anti_dsdna_iu_per_ml": cohort.baseline_anti_dsdna[at],
        "treg_percent": cohort.baseline_treg[at],
        "flare_active": np.zeros(len(rows), dtype=bool),
    }
    for m, name in enumerate(MANIFESTATIONS):
        baseline[name] = cohort.baseline_manifestations[..., m][at]
    parts.append(baseline)

    markers = ("sledai", "proteinuria", "anti_dsdna", "treg")
    rows, patients, v = np.nonzero(course.visit_done)
    if len(rows):
        t = cohort.visit_time[rows, patients, v]
        noise = {m: cohort.visit_noise(m)[rows, patients, v] for m in markers}
        parts.append(
            _visit_part(
                rows,
                patients,
                (v + 1).astype(np.int16),
                1,
                cohort.visit_nominal[v],
                t,
                measurer.measure(rows, patients, t, noise),
            )
        )
    rows, patients, k = np.nonzero(course.unscheduled_done)
    if len(rows):
        t = course.flare_detected[rows, patients, k]
        noise = {m: cohort.unscheduled_noise(m)[rows, patients, k] for m in markers}
        parts.append(
            _visit_part(
                rows,
                patients,
                np.full(len(rows), -1, np.int16),
                2,
                np.full(len(rows), np.nan),
                t,
                measurer.measure(rows, patients, t, noise),
            )
        )
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    patient = merged["row"].astype(np.int64) * (1 << 32) + merged["patient_id"]
    order = np.lexsort((merged["actual_months"], patient))  # replicate, patient, time
    return {key: value[order] for key, value in merged.items()}


def _visit_part(
    rows: np.ndarray,
    patients: np.ndarray,
    number: np.ndarray,
    visit_type: int,
    nominal: np.ndarray,
    t: np.ndarray,
    measured: dict[str, np.ndarray],
) -> Columns:
    part: Columns = {
        "row": rows,
        "patient_id": patients,
        "visit_number": number,
        "visit_type": np.full(len(rows), visit_type, dtype=np.int8),
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
