"""The Arrow schemas of cohortsim's outputs: the one place where column names, types and units live.

Four tables describe a simulation run:

* ``patients`` — one row per enrolled patient per replicate (baseline, outcome summary);
* ``visits`` — one row per visit actually done, the baseline visit included;
* ``events`` — the timeline in long format, one row per event (as hesim's ``disprog``);
* ``trials`` — one row per replicate (size, data cut-off, event counts).

Every column is declared once, in :data:`TABLES`, as a :class:`Column` (name, Arrow type, unit,
nullability, meaning). The ``pa.schema`` objects (:func:`schema_for`), the validation done by
:func:`to_table` and the data dictionary in ``docs/outputs.md`` (:func:`render_data_dictionary`;
regenerate with ``python -m cohortsim.tables --write docs/outputs.md``) are all derived from it.

Conventions
-----------
* Time is in months (1 month = 365.25 / 12 days). *Calendar* months count from the study start
  date; *patient* months count from the patient's treatment start, which is enrolment.
* Categorical columns are ``dictionary<int8|int16, string>``. The engine hands over integer codes:
  code ``i`` is the ``i``-th entry of the column's category tuple (:data:`EVENT_TYPES`,
  :data:`VISIT_TYPES`, ...), a negative code is null (nullable columns only). The ``arm``
  categories are the scenario's arm names, in scenario order; the ``stratum`` categories are given
  per run.
* Nullable columns may be given as float arrays with NaN for null (also for integer and boolean
  columns), as NumPy masked arrays, or as ``None`` when the whole column is null (for example the
  covariates of a time-to-event scenario). NaN in a column that is not nullable is an error.
* Calendar dates (``enrol_date``, ``cutoff_date``) are not passed in: they are derived from their
  month column and the study start date in the metadata (:func:`months_to_dates`).
* Provenance travels in the schema metadata of every table and file (:func:`schema_for`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from cohortsim import __version__, course
from cohortsim.provenance import (
    REQUIRED_METADATA,
    SCHEMA_VERSION,
    TABLE_NAMES,
    provenance,
    read_provenance,
)
from cohortsim.provenance import metadata_key as _metadata_key
from cohortsim.provenance import metadata_value as _metadata_value
from cohortsim.scenario import types as scenario_types

DAYS_PER_MONTH = 365.25 / 12
"""Days in one month (the unit of time throughout cohortsim)."""

# --- fixed categories (code i = position i) ---------------------------------------------------

EVENT_TYPES: tuple[str, ...] = (
    "enrolment",
    "msc_infusion",
    "prednisone_start",
    "cyclophosphamide",
    "response",
    "manifestation_resolved",
    "flare",
    "rescue",
    "dropout",
    "death",
    "end_of_follow_up",
)
"""Categories of ``events.event``."""

VISIT_TYPES: tuple[str, ...] = ("baseline", "scheduled", "unscheduled")
"""Categories of ``visits.visit_type``."""

# Codes the engines produce: the category tuples are defined once, where the codes are made
# (cohortsim.course for ends, cut-offs and detections; cohortsim.scenario.types for response
# classes and manifestations), and re-exported here as the tables' categories.
END_REASONS: tuple[str, ...] = course.END_REASONS
"""Why a patient's follow-up ended (``patients.end_reason``)."""

RESPONSE_CLASSES: tuple[str, ...] = scenario_types.RESPONSE_CLASSES
"""Latent response classes (``patients.response_class``); same order as the scenario's codes."""

CUTOFF_REASONS: tuple[str, ...] = course.CUTOFF_REASONS
"""Which rule set the data cut-off (``trials.cutoff_reason``)."""

MANIFESTATIONS: tuple[str, ...] = scenario_types.MANIFESTATIONS
"""Clinical manifestations, in the scenario's order."""

FLARE_DETECTIONS: tuple[str, ...] = course.DETECTION_KINDS
"""How a flare was detected: at a scheduled visit, at an unscheduled symptomatic visit, at onset."""

DETAIL_CATEGORIES: tuple[str, ...] = END_REASONS + MANIFESTATIONS + FLARE_DETECTIONS
"""Categories of ``events.detail``."""

CategorySource = tuple[str, ...] | Literal["arms", "per_run"]
"""Where a dictionary column's categories come from: a fixed tuple, the scenario's arm names, or
a list given with each call of :func:`to_table` (``categories=``)."""


# --- the declarative structure ------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One output column.

    Attributes
    ----------
    name : str
        Column name.
    type : pyarrow.DataType
        Arrow type.
    unit : str
        Unit of the values ("" when dimensionless or categorical).
    nullable : bool
        Whether the column may hold nulls.
    meaning : str
        What the value is, in one or two sentences (Markdown).
    categories : tuple of str or "arms" or "per_run" or None
        Categories of a dictionary column (see :data:`CategorySource`); None otherwise.
    derived_from : str or None
        For date columns: the calendar-month column they are computed from (not passed in).
    """

    name: str
    type: pa.DataType
    unit: str
    nullable: bool
    meaning: str
    categories: CategorySource | None = None
    derived_from: str | None = None

    def field(self) -> pa.Field:
        """The Arrow field of this column."""
        return pa.field(self.name, self.type, nullable=self.nullable)


@dataclass(frozen=True)
class TableSpec:
    """One output table: its grain (what a row is) and its columns, in file order."""

    name: str
    grain: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        """The column called ``name`` (KeyError if there is none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def input_names(self) -> tuple[str, ...]:
        """Columns the engine passes to :func:`to_table` (all but the derived dates)."""
        return tuple(column.name for column in self.columns if column.derived_from is None)


_DICT8 = pa.dictionary(pa.int8(), pa.string())
_DICT16 = pa.dictionary(pa.int16(), pa.string())

_CALENDAR = "months (calendar)"
_PATIENT = "months (patient)"


def _categories_text(categories: tuple[str, ...]) -> str:
    return "Categories: " + ", ".join(f"`{c}`" for c in categories) + "."


_REPLICATE = Column(
    "replicate",
    pa.int32(),
    "",
    False,
    "Simulated trial (replicate), 0-based; the key shared by all four tables.",
)
_PATIENT_ID = Column(
    "patient_id",
    pa.int32(),
    "",
    False,
    "Patient within the replicate, 0-based index of the draw; patient *k* is the same draw "
    "whatever the trial size, so the id is stable when the trial grows.",
)
_ARM = Column(
    "arm",
    _DICT8,
    "",
    False,
    "Randomised arm. Categories: the scenario's arm names, in scenario order.",
    categories="arms",
)


def _baseline_manifestation(name: str) -> Column:
    return Column(
        f"baseline_{name}",
        pa.bool_(),
        "",
        True,
        f"Manifestation *{name}* present at baseline; null when the scenario does not model "
        "manifestations.",
    )


def _visit_manifestation(name: str) -> Column:
    return Column(
        name,
        pa.bool_(),
        "",
        True,
        f"Manifestation *{name}* present at the visit; null when not modelled.",
    )


PATIENTS = TableSpec(
    "patients",
    "One row per enrolled patient per replicate.",
    (
        _REPLICATE,
        _PATIENT_ID,
        _ARM,
        Column(
            "stratum",
            _DICT16,
            "",
            False,
            "Randomisation stratum, the stratification factors as `factor=level` joined by `|` "
            "(e.g. `nephritis=1|sledai_above_10=0`); `all` when randomisation is unstratified. "
            "Categories: given per run.",
            categories="per_run",
        ),
        Column(
            "enrol_month",
            pa.float64(),
            _CALENDAR,
            False,
            "Enrolment, which is also the start of treatment (patient time 0).",
        ),
        Column(
            "enrol_date",
            pa.date32(),
            "date",
            False,
            "Calendar date of enrolment: study start date + ⌊`enrol_month` × 365.25/12⌋ days.",
            derived_from="enrol_month",
        ),
        Column(
            "age_years",
            pa.float64(),
            "years",
            True,
            "Age at enrolment; null in time-to-event scenarios (no covariates).",
        ),
        Column("female", pa.bool_(), "", True, "Sex is female; null when not modelled."),
        Column(
            "disease_duration_months",
            pa.float64(),
            "months",
            True,
            "Time from diagnosis to enrolment; null when not modelled.",
        ),
        Column(
            "baseline_sledai",
            pa.int16(),
            "points",
            True,
            "SLEDAI-2K score at the baseline visit; null when not modelled.",
        ),
        Column(
            "baseline_proteinuria_mg_per_day",
            pa.float64(),
            "mg/day",
            True,
            "24-hour urine protein at baseline; null when not modelled.",
        ),
        Column(
            "baseline_anti_dsdna_iu_per_ml",
            pa.float64(),
            "IU/mL",
            True,
            "Anti-double-stranded-DNA antibody titre at baseline; null when not modelled.",
        ),
        Column(
            "baseline_treg_percent",
            pa.float64(),
            "%",
            True,
            "Regulatory T-cell frequency at baseline; null when not modelled.",
        ),
        *(_baseline_manifestation(name) for name in MANIFESTATIONS),
        Column(
            "response_class",
            _DICT8,
            "",
            True,
            "Latent response class (true state, never observed directly); null when not "
            "modelled. " + _categories_text(RESPONSE_CLASSES),
            categories=RESPONSE_CLASSES,
        ),
        Column(
            "time_to_response_months",
            pa.float64(),
            _PATIENT,
            True,
            "Latent time over which disease activity falls to its residual level (may exceed "
            "follow-up); null when not modelled.",
        ),
        Column(
            "follow_up_months",
            pa.float64(),
            _PATIENT,
            False,
            "Length of follow-up: from enrolment to the end of follow-up (`end_reason`).",
        ),
        Column(
            "end_reason",
            _DICT8,
            "",
            False,
            "Why follow-up ended. " + _categories_text(END_REASONS),
            categories=END_REASONS,
        ),
        Column(
            "relapse_observed",
            pa.bool_(),
            "",
            False,
            "The first relapse (flare) was detected within follow-up: the event indicator.",
        ),
        Column(
            "time_to_relapse_months",
            pa.float64(),
            _PATIENT,
            False,
            "Detection time of the first relapse if `relapse_observed`, else `follow_up_months` "
            "(censoring time): the usual time/indicator pair.",
        ),
        Column(
            "first_relapse_onset_months",
            pa.float64(),
            _PATIENT,
            True,
            "True onset of the first relapse if it began during follow-up (detected or not), "
            "else null.",
        ),
        Column(
            "flares_observed",
            pa.int16(),
            "count",
            False,
            "Flares detected within follow-up.",
        ),
        Column(
            "flares_onset",
            pa.int16(),
            "count",
            False,
            "Flares that began within follow-up, detected or not.",
        ),
    ),
)

VISITS = TableSpec(
    "visits",
    "One row per visit actually done (missed visits have no row), the baseline visit included.",
    (
        _REPLICATE,
        _PATIENT_ID,
        _ARM,
        Column(
            "visit_number",
            pa.int16(),
            "",
            False,
            "0 = baseline; scheduled visits 1, 2, … by position in the schedule (repeats "
            "included), so a missed visit leaves a gap; −1 for unscheduled visits.",
        ),
        Column(
            "visit_type",
            _DICT8,
            "",
            False,
            "Kind of visit. " + _categories_text(VISIT_TYPES),
            categories=VISIT_TYPES,
        ),
        Column(
            "nominal_months",
            pa.float64(),
            _PATIENT,
            True,
            "Scheduled time of the visit (0 at baseline); null for unscheduled visits.",
        ),
        Column(
            "actual_months",
            pa.float64(),
            _PATIENT,
            False,
            "Time the visit was done (nominal time ± the visit window).",
        ),
        Column(
            "sledai",
            pa.int16(),
            "points",
            True,
            "SLEDAI-2K score measured at the visit; null when not modelled.",
        ),
        Column(
            "proteinuria_mg_per_day",
            pa.float64(),
            "mg/day",
            True,
            "24-hour urine protein measured at the visit; null when not modelled.",
        ),
        Column(
            "anti_dsdna_iu_per_ml",
            pa.float64(),
            "IU/mL",
            True,
            "Anti-dsDNA titre measured at the visit; null when not modelled.",
        ),
        Column(
            "treg_percent",
            pa.float64(),
            "%",
            True,
            "Regulatory T-cell frequency measured at the visit; null when not modelled.",
        ),
        Column(
            "flare_active",
            pa.bool_(),
            "",
            False,
            "A flare episode is under way at the visit (true state, whether or not detected).",
        ),
        *(_visit_manifestation(name) for name in MANIFESTATIONS),
    ),
)

EVENTS = TableSpec(
    "events",
    "One row per event of a patient's timeline (long format, as hesim's `disprog`); see the "
    "event types below for what each column holds per event.",
    (
        _REPLICATE,
        _PATIENT_ID,
        _ARM,
        Column(
            "event",
            _DICT8,
            "",
            False,
            "Event type. " + _categories_text(EVENT_TYPES),
            categories=EVENT_TYPES,
        ),
        Column(
            "sequence",
            pa.int16(),
            "",
            False,
            "1-based count of this event type for the patient (flare number, infusion number, …).",
        ),
        Column(
            "true_months",
            pa.float64(),
            _PATIENT,
            False,
            "When the event happened.",
        ),
        Column(
            "observed_months",
            pa.float64(),
            _PATIENT,
            True,
            "When the event became known: the visit of detection for flares, responses and "
            "resolutions; equal to `true_months` for directly observed events; null if never "
            "observed within follow-up.",
        ),
        Column(
            "value",
            pa.float64(),
            "per event",
            True,
            "Event-specific amount (dose, SLEDAI rise, …; see the event types below); null when "
            "the event has none.",
        ),
        Column(
            "detail",
            _DICT8,
            "",
            True,
            "Event-specific qualifier (end reason, manifestation, how a flare was detected; see "
            "the event types below); null when the event has none. "
            + _categories_text(DETAIL_CATEGORIES),
            categories=DETAIL_CATEGORIES,
        ),
    ),
)

TRIALS = TableSpec(
    "trials",
    "One row per replicate (simulated trial).",
    (
        _REPLICATE,
        Column("n_enrolled", pa.int32(), "count", False, "Patients enrolled."),
        Column(
            "last_enrolment_month",
            pa.float64(),
            _CALENDAR,
            True,
            "Enrolment of the last patient enrolled (null when the cut-off came before anyone "
            "enrolled).",
        ),
        Column(
            "cutoff_month",
            pa.float64(),
            _CALENDAR,
            False,
            "Data cut-off: no follow-up past this time.",
        ),
        Column(
            "cutoff_date",
            pa.date32(),
            "date",
            False,
            "Calendar date of the cut-off: study start date + ⌊`cutoff_month` × 365.25/12⌋ days.",
            derived_from="cutoff_month",
        ),
        Column(
            "cutoff_reason",
            _DICT8,
            "",
            False,
            "The cut-off rule that fired. " + _categories_text(CUTOFF_REASONS),
            categories=CUTOFF_REASONS,
        ),
        Column(
            "first_relapses_observed",
            pa.int32(),
            "count",
            False,
            "Patients whose first relapse was detected by the cut-off.",
        ),
        Column(
            "flares_observed",
            pa.int32(),
            "count",
            False,
            "Flares detected by the cut-off, all patients.",
        ),
    ),
)

TABLES: Mapping[str, TableSpec] = {t.name: t for t in (PATIENTS, VISITS, EVENTS, TRIALS)}
"""All output tables by name, in the order they are documented and written."""

if tuple(TABLES) != TABLE_NAMES:  # declared twice (see cohortsim.provenance): must agree
    raise AssertionError(f"cohortsim.provenance.TABLE_NAMES is not {tuple(TABLES)}")


@dataclass(frozen=True)
class EventSpec:
    """What the columns of ``events`` hold for one event type (documentation of the contract)."""

    meaning: str
    observed: str
    value: str
    detail: str


EVENT_SPECS: Mapping[str, EventSpec] = {
    "enrolment": EventSpec("Enrolment and start of treatment (time 0).", "= true", "null", "null"),
    "msc_infusion": EventSpec(
        "Mesenchymal stem cell infusion (arms with a cell dose).", "= true", "cells/kg", "null"
    ),
    "prednisone_start": EventSpec(
        "Start of maintenance prednisone.", "= true", "dose, mg/day", "null"
    ),
    "cyclophosphamide": EventSpec(
        "One maintenance cyclophosphamide infusion (`sequence` = infusion number).",
        "= true",
        "dose, g",
        "null",
    ),
    "response": EventSpec(
        "Disease activity reaches its residual level (complete and partial responders).",
        "first visit at or after the true time; null if none within follow-up",
        "null",
        "null",
    ),
    "manifestation_resolved": EventSpec(
        "A baseline manifestation resolves.",
        "first visit at or after the true time; null if none within follow-up",
        "null",
        "manifestation name",
    ),
    "flare": EventSpec(
        "Onset of a flare (relapse); `sequence` = flare number, 1 = the first relapse.",
        "detection time; null if not detected within follow-up",
        "SLEDAI rise, points",
        "how it was detected: `scheduled`, `symptomatic` or `immediate`",
    ),
    "rescue": EventSpec(
        "Rescue therapy for a detected flare, at its detection.",
        "= true",
        "prednisone dose, mg/day",
        "null",
    ),
    "dropout": EventSpec("Withdrawal from the study.", "= true", "null", "null"),
    "death": EventSpec("Death.", "= true", "null", "null"),
    "end_of_follow_up": EventSpec(
        "End of the patient's follow-up (`true_months` = `follow_up_months`); always the last "
        "event.",
        "= true",
        "null",
        "end reason (`cutoff`, `dropout`, `death`, `max_follow_up`, `study_end`)",
    ),
}
"""Per event type: what ``true_months``, ``observed_months``, ``value`` and ``detail`` hold."""


# --- schemas and metadata ---------------------------------------------------------------------


class TableError(ValueError):
    """Columns handed to :func:`to_table` do not fit the declared schema."""


def _spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; the tables are {', '.join(TABLE_NAMES)}") from None


def schema_for(name: str, metadata: Mapping[str, Any] | None = None) -> pa.Schema:
    """The Arrow schema of table ``name`` with provenance attached as schema metadata.

    Parameters
    ----------
    name : str
        One of :data:`TABLE_NAMES`.
    metadata : mapping of str to str, optional
        Provenance. Keys may be given with or without the ``cohortsim.`` prefix (it is added);
        when given, :data:`REQUIRED_METADATA` must all be present. Without it the schema carries
        only ``cohortsim.schema_version``, ``cohortsim.table`` and ``cohortsim.version`` (the form
        used to validate or read data).

    Returns
    -------
    pyarrow.Schema
        Fields in file order; metadata keys ``cohortsim.schema_version``, ``cohortsim.table``,
        ``cohortsim.version`` plus the provenance (``cohortsim.scenario_sha256``,
        ``cohortsim.seed_entropy``, ``cohortsim.engine``, ``cohortsim.start_date``, ...).
    """
    spec = _spec(name)
    fixed = {
        _metadata_key("schema_version"): SCHEMA_VERSION,
        _metadata_key("table"): name,
        _metadata_key("version"): __version__,
    }
    meta = dict(fixed)
    if metadata is not None:
        given = {_metadata_key(k): _metadata_value(v) for k, v in metadata.items()}
        missing = [k for k in REQUIRED_METADATA if _metadata_key(k) not in given]
        if missing:
            raise TableError(
                f"metadata for table {name!r} lacks {', '.join(missing)} (build it with "
                "cohortsim.tables.provenance(...))"
            )
        for key, value in fixed.items():
            if key in given and given[key] != value:
                raise TableError(
                    f"metadata key {key!r} is set by cohortsim.tables ({value!r}); "
                    f"got {given[key]!r}"
                )
        meta.update(given)
    return pa.schema([c.field() for c in spec.columns], metadata=meta)


def months_to_dates(months: Any, start_date: date | str | np.datetime64) -> np.ndarray:
    """Calendar dates of calendar-month times.

    Parameters
    ----------
    months : array_like of float
        Months since ``start_date`` (1 month = 365.25/12 days). NaN gives NaT.
    start_date : datetime.date, ISO str or numpy.datetime64
        Calendar month 0.

    Returns
    -------
    numpy.ndarray of datetime64[D]
        ``start_date + floor(months × 365.25/12)`` days: the day in which that instant falls,
        month 0 being the start of ``start_date``.
    """
    m = np.asarray(months, dtype=np.float64)
    # NumPy's stubs lack the (datetime64, unit) overload that the runtime accepts.
    start = np.datetime64(start_date, "D")  # type: ignore[call-overload]
    finite = np.isfinite(m)
    days = np.zeros(m.shape, dtype=np.int64)
    days[finite] = np.floor(m[finite] * DAYS_PER_MONTH).astype(np.int64)
    out = start + days.astype("timedelta64[D]")
    out[~finite] = np.datetime64("NaT")
    return out


# --- NumPy → Arrow ------------------------------------------------------------------------------


def _categories(
    column: Column,
    arm_names: Sequence[str],
    categories: Mapping[str, Sequence[str]],
) -> tuple[str, ...]:
    source = column.categories
    if source == "arms":
        cats = tuple(arm_names)
    elif source == "per_run":
        if column.name not in categories:
            raise TableError(
                f"column {column.name!r} takes its categories per run: pass "
                f"categories={{{column.name!r}: [...]}}"
            )
        cats = tuple(categories[column.name])
    else:
        assert source is not None
        cats = source
    if not cats:
        raise TableError(f"column {column.name!r} has no categories")
    if len(set(cats)) != len(cats):
        raise TableError(f"categories of column {column.name!r} are not unique: {cats}")
    index_type = column.type.index_type
    if len(cats) > np.iinfo(index_type.to_pandas_dtype()).max + 1:
        raise TableError(
            f"column {column.name!r}: {len(cats)} categories do not fit {index_type} codes"
        )
    return cats


def _split_mask(column: Column, values: Any, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The values as a 1-D NumPy array and the null mask (None when there are no nulls)."""
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        arr = np.ma.getdata(values)
    else:
        arr = np.asarray(values)
        mask = None
    if arr.ndim != 1 or arr.shape[0] != n:
        raise TableError(f"column {column.name!r} has shape {arr.shape}; expected ({n},)")
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        if nan.any():
            if not column.nullable:
                raise TableError(
                    f"column {column.name!r} is not nullable but has {int(nan.sum())} NaN values"
                )
            mask = nan if mask is None else (mask | nan)
    if mask is not None and not mask.any():
        mask = None
    if mask is not None and not column.nullable:
        raise TableError(f"column {column.name!r} is not nullable but has masked values")
    return arr, mask


def _integers(column: Column, arr: np.ndarray, mask: np.ndarray | None, dtype: Any) -> np.ndarray:
    """Integer values of ``arr`` (nulls filled with 0) as ``dtype``, range- and type-checked."""
    info = np.iinfo(dtype)
    if arr.dtype.kind == "f":
        valid = arr if mask is None else arr[~mask]
        if not np.all(np.isfinite(valid)) or not np.all(valid == np.round(valid)):
            raise TableError(f"column {column.name!r} has non-integer values")
    elif arr.dtype.kind not in "iu":
        raise TableError(f"column {column.name!r} needs integers, got dtype {arr.dtype}")
    filled = arr if mask is None else np.where(mask, 0, arr)
    if filled.size and (filled.min() < info.min or filled.max() > info.max):
        raise TableError(
            f"column {column.name!r} has values outside the {np.dtype(dtype).name} range "
            f"[{info.min}, {info.max}]"
        )
    return filled.astype(dtype)


def _dictionary(
    column: Column, arr: np.ndarray, mask: np.ndarray | None, cats: tuple[str, ...]
) -> pa.Array:
    index_dtype = column.type.index_type.to_pandas_dtype()
    if mask is None and arr.dtype.kind in "iu" and arr.size:
        lowest, highest = arr.min(), arr.max()
        if lowest >= 0 and highest < len(cats):
            # Valid integer codes without nulls (the usual case): what the general path below
            # gives, without its int64 copy and masks.
            indices = pa.array(arr.astype(index_dtype, copy=False))
            return pa.DictionaryArray.from_arrays(indices, pa.array(cats, type=pa.string()))
    if arr.dtype.kind in "US" or arr.dtype == object:
        # Labels: encode against the categories; None is null.
        if arr.dtype == object:
            none = np.array([v is None for v in arr], dtype=bool)
            labels = np.where(none, cats[0], arr).astype(str)
            if none.any():
                mask = none if mask is None else (mask | none)
        else:
            labels = arr.astype(str)
        lookup = {c: i for i, c in enumerate(cats)}
        uniques, inverse = np.unique(labels, return_inverse=True)
        unknown = [u for u in uniques.tolist() if u not in lookup]
        if unknown:
            raise TableError(
                f"column {column.name!r} has values outside its categories: {unknown[:5]}"
            )
        codes = np.array([lookup[u] for u in uniques.tolist()], dtype=np.int64)[inverse]
    elif arr.dtype.kind in "iu" or arr.dtype.kind == "f":
        codes = _integers(column, arr, mask, np.int64)
        negative = codes < 0
        if negative.any():
            if not column.nullable:
                raise TableError(
                    f"column {column.name!r} is not nullable but has negative (null) codes"
                )
            mask = negative if mask is None else (mask | negative)
            codes = np.where(negative, 0, codes)
    else:
        raise TableError(
            f"column {column.name!r} needs integer codes or labels, got dtype {arr.dtype}"
        )
    if mask is not None and not mask.any():
        mask = None
    if mask is not None and not column.nullable:
        raise TableError(f"column {column.name!r} is not nullable but has null values")
    if codes.size and codes.max() >= len(cats):
        raise TableError(
            f"column {column.name!r} has code {int(codes.max())} but only {len(cats)} "
            f"categories {cats}"
        )
    indices = pa.array(codes.astype(index_dtype), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(cats, type=pa.string()))


def _to_arrow(
    column: Column,
    values: Any,
    n: int,
    cats: tuple[str, ...] | None,
) -> pa.Array:
    if values is None:
        if not column.nullable:
            raise TableError(f"column {column.name!r} is not nullable; None is not allowed")
        if cats is not None:
            indices = pa.nulls(n, type=column.type.index_type)
            return pa.DictionaryArray.from_arrays(indices, pa.array(cats, type=pa.string()))
        return pa.nulls(n, type=column.type)
    arr, mask = _split_mask(column, values, n)
    t = column.type
    if cats is not None:
        return _dictionary(column, arr, mask, cats)
    if pa.types.is_integer(t):
        return pa.array(_integers(column, arr, mask, t.to_pandas_dtype()), type=t, mask=mask)
    if pa.types.is_floating(t):
        if arr.dtype.kind not in "iuf":
            raise TableError(f"column {column.name!r} needs numbers, got dtype {arr.dtype}")
        data = arr.astype(np.float64, copy=False)
        return pa.array(data, type=t, mask=mask)
    if pa.types.is_boolean(t):
        if arr.dtype.kind == "b":
            data = arr
        elif arr.dtype.kind in "iuf":
            filled = arr if mask is None else np.where(mask, 0, arr)
            if not np.all((filled == 0) | (filled == 1)):
                raise TableError(f"column {column.name!r} needs booleans (0/1), got other values")
            data = filled.astype(bool)
        else:
            raise TableError(f"column {column.name!r} needs booleans, got dtype {arr.dtype}")
        return pa.array(data, type=t, mask=mask)
    if pa.types.is_date32(t):
        data = arr.astype("datetime64[D]")
        nat = np.isnat(data)
        if nat.any():
            if not column.nullable:
                raise TableError(f"column {column.name!r} is not nullable but has NaT dates")
            mask = nat if mask is None else (mask | nat)
        return pa.array(data, type=t, mask=mask)
    raise TypeError(f"no conversion for Arrow type {t}")  # pragma: no cover - schema is fixed


def to_table(
    name: str,
    columns: Mapping[str, Any],
    arm_names: Sequence[str],
    metadata: Mapping[str, Any],
    *,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> pa.Table:
    """Turn the engine's NumPy columns into an Arrow table of the declared schema.

    Parameters
    ----------
    name : str
        One of :data:`TABLE_NAMES`.
    columns : mapping of str to numpy.ndarray
        Exactly the table's columns except the derived dates (``TABLES[name].input_names``), all
        of the same length. Categorical columns as integer codes into their categories (negative
        = null) or as labels; nullable columns may use NaN (float arrays), a masked array or
        ``None`` (all null) for nulls.
    arm_names : sequence of str
        The scenario's arm names, in order (categories of ``arm``).
    metadata : mapping of str to str
        Provenance (see :func:`provenance`); must include :data:`REQUIRED_METADATA`. Its
        ``start_date`` is calendar month 0 for the derived date columns.
    categories : mapping of str to sequence of str, optional
        Categories of the columns whose categories are given per run (``stratum``).

    Returns
    -------
    pyarrow.Table
        With the schema ``schema_for(name, metadata)``.

    Raises
    ------
    TableError
        If columns are missing or unexpected (all are named), lengths differ, a value does not
        fit its type, or a non-nullable column has nulls (NaN included).
    """
    spec = _spec(name)
    schema = schema_for(name, metadata)
    expected = spec.input_names
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if extra:
            parts.append("unexpected columns: " + ", ".join(extra))
        derived = [c.name for c in spec.columns if c.derived_from is not None and c.name in extra]
        if derived:
            parts.append(
                "(" + ", ".join(derived) + " are derived from the month columns and the "
                "start_date metadata; do not pass them)"
            )
        raise TableError(f"to_table({name!r}): " + "; ".join(parts))

    lengths = {c: len(np.ma.asarray(v)) for c, v in columns.items() if v is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{c}={n}" for c, n in lengths.items())
        raise TableError(f"to_table({name!r}): columns differ in length: {detail}")
    if not lengths:
        raise TableError(f"to_table({name!r}): every column is None; the length is unknown")
    n = next(iter(lengths.values()))

    start_date = schema.metadata[_metadata_key("start_date").encode()].decode()
    given_categories = categories or {}
    arrays = []
    for column in spec.columns:
        if column.derived_from is not None:
            values: Any = months_to_dates(columns[column.derived_from], start_date)
        else:
            values = columns[column.name]
        cats = None
        if column.categories is not None:
            cats = _categories(column, arm_names, given_categories)
        arrays.append(_to_arrow(column, values, n, cats))
    return pa.Table.from_arrays(arrays, schema=schema)


# --- documentation ------------------------------------------------------------------------------

DOCS_BEGIN = (
    "<!-- BEGIN GENERATED DATA DICTIONARY (python -m cohortsim.tables --write docs/outputs.md; "
    "do not edit by hand) -->"
)
DOCS_END = "<!-- END GENERATED DATA DICTIONARY -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def type_name(t: pa.DataType) -> str:
    """Short, readable name of an Arrow type for the data dictionary."""
    if pa.types.is_dictionary(t):
        return f"dictionary<{t.index_type}, {t.value_type}>"
    if pa.types.is_float64(t):
        return "float64"
    if pa.types.is_date32(t):
        return "date32"
    return str(t)


def render_data_dictionary() -> str:
    """The generated part of ``docs/outputs.md``: every table, every column, every event type.

    Returns
    -------
    str
        Markdown, starting with :data:`DOCS_BEGIN` and ending with :data:`DOCS_END` and a newline.
    """
    lines = [DOCS_BEGIN, "", f"Schema version {SCHEMA_VERSION}.", ""]
    for spec in TABLES.values():
        lines += [
            f"### `{spec.name}`",
            "",
            _cell(spec.grain),
            "",
            "| column | type | unit | nullable | meaning |",
            "|---|---|---|---|---|",
        ]
        for c in spec.columns:
            unit = c.unit or "—"
            nullable = "yes" if c.nullable else "no"
            lines.append(
                f"| `{c.name}` | {type_name(c.type)} | {_cell(unit)} | {nullable} | "
                f"{_cell(c.meaning)} |"
            )
        lines.append("")
    lines += [
        "### Event types",
        "",
        "What `events` holds for each `event` (times in months since enrolment).",
        "",
        "| event | meaning | observed_months | value | detail |",
        "|---|---|---|---|---|",
    ]
    for event in EVENT_TYPES:
        e = EVENT_SPECS[event]
        lines.append(
            f"| `{event}` | {_cell(e.meaning)} | {_cell(e.observed)} | {_cell(e.value)} | "
            f"{_cell(e.detail)} |"
        )
    lines += ["", DOCS_END, ""]
    return "\n".join(lines)


def generated_block(text: str) -> str | None:
    """The generated block of a document (markers included, with trailing newline), or None."""
    start = text.find(DOCS_BEGIN)
    end = text.find(DOCS_END)
    if start < 0 or end < start:
        return None
    return text[start : end + len(DOCS_END)] + "\n"


def update_docs(path: str | Path, *, check: bool = False) -> bool:
    """Replace the generated block of ``path`` with :func:`render_data_dictionary`.

    Parameters
    ----------
    path : str or Path
        A Markdown file holding the :data:`DOCS_BEGIN` / :data:`DOCS_END` markers.
    check : bool
        Only compare, do not write.

    Returns
    -------
    bool
        True when the file was (``check``: is) up to date before the call.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    block = generated_block(text)
    if block is None:
        raise ValueError(f"{p} has no generated-block markers ({DOCS_BEGIN!r} … {DOCS_END!r})")
    fresh = render_data_dictionary()
    if block == fresh:
        return True
    if not check:
        start = text.find(DOCS_BEGIN)
        p.write_text(text[:start] + fresh + text[start + len(block) :], encoding="utf-8")
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cohortsim.tables``: print, write or check the data dictionary.

    Returns the exit code: 0 on success, 1 when ``--check`` finds the document stale.
    """
    parser = argparse.ArgumentParser(
        prog="python -m cohortsim.tables",
        description="Print the generated data dictionary of cohortsim's output tables.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="PATH", help="update the generated block in PATH")
    group.add_argument("--check", metavar="PATH", help="exit 1 if PATH's block is stale")
    args = parser.parse_args(argv)
    if args.write:
        update_docs(args.write)
        return 0
    if args.check:
        if update_docs(args.check, check=True):
            return 0
        print(f"{args.check} is stale: run python -m cohortsim.tables --write {args.check}")
        return 1
    sys.stdout.write(render_data_dictionary())
    return 0


__all__ = [
    "CUTOFF_REASONS",
    "DAYS_PER_MONTH",
    "DETAIL_CATEGORIES",
    "END_REASONS",
    "EVENT_SPECS",
    "EVENT_TYPES",
    "FLARE_DETECTIONS",
    "MANIFESTATIONS",
    "REQUIRED_METADATA",
    "RESPONSE_CLASSES",
    "SCHEMA_VERSION",
    "TABLES",
    "TABLE_NAMES",
    "VISIT_TYPES",
    "Column",
    "EventSpec",
    "TableError",
    "TableSpec",
    "generated_block",
    "main",
    "months_to_dates",
    "provenance",
    "read_provenance",
    "render_data_dictionary",
    "schema_for",
    "to_table",
    "update_docs",
]


if __name__ == "__main__":
    raise SystemExit(main())
