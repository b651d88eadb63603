"""What each simulated pilot shows: every target's statistic, computed from the output tables.

Validation reads the simulated ``patients`` and ``visits`` tables the way an analyst would read
the pilot's data, so it checks the whole simulator, not the calibration's shortcuts. Rules
(``docs/calibration.md``, "Validation"):

* a figure at visit month ``t`` with ``n`` patients uses the first ``n`` patients (by id) whose
  scheduled visit at ``t`` was done; a pilot with fewer has no value for it (the predictive
  distribution is conditional on the pilot having the reported n available);
* a baseline figure whose ``n`` equals that of a later figure of the same quantity is computed
  over the later figure's patients (the report's baseline → 12-month comparisons are paired);
* ``n = "unknown"``: every patient with the visit; ``time = "unknown"``: each patient's last
  scheduled visit within follow-up;
* ``p_value_below``: a two-sided paired t-test of the change from baseline, significant in the
  reported direction;
* ``event_times``: the k-th relapse time among pilots with as many relapses as reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import pyarrow as pa

from cohortsim.calibration.targets import UNKNOWN, Target, TargetSet
from cohortsim.lazy import stats
from cohortsim.scenario.types import MANIFESTATIONS

FOLLOWED_MONTHS = 12.0

_VISIT_COLUMN = {
    "sledai": "sledai",
    "sledai_zero": "sledai",
    "proteinuria_mg_per_day": "proteinuria_mg_per_day",
    "proteinuria_fell": "proteinuria_mg_per_day",
    "anti_dsdna_iu_per_ml": "anti_dsdna_iu_per_ml",
    "treg_percent": "treg_percent",
}
_BASELINE_COLUMN = {
    "sledai": "baseline_sledai",
    "proteinuria_mg_per_day": "baseline_proteinuria_mg_per_day",
    "anti_dsdna_iu_per_ml": "baseline_anti_dsdna_iu_per_ml",
    "treg_percent": "baseline_treg_percent",
}


@dataclass(frozen=True)
class PilotData:
    """Dense arrays of ``R`` simulated pilots of up to ``N`` patients (``V`` scheduled visits).

    Attributes
    ----------
    enrolled : (R, N) bool
    patient : mapping of column name to (R, N) array
        Columns of the ``patients`` table (NaN / False where not enrolled).
    visit_months : (V,) array
        Nominal months of the scheduled visits.
    visit_done : (R, N, V) bool
    visit : mapping of column name to (R, N, V) array
        Measurements and manifestation flags at scheduled visits (NaN where not done).
    """

    enrolled: np.ndarray
    patient: Mapping[str, np.ndarray]
    visit_months: np.ndarray
    visit_done: np.ndarray
    visit: Mapping[str, np.ndarray]

    @property
    def shape(self) -> tuple[int, int]:
        return self.enrolled.shape  # type: ignore[return-value]

    def visit_index(self, month: float) -> int | None:
        match = np.flatnonzero(np.isclose(self.visit_months, month))
        return int(match[0]) if len(match) else None

    def last_visit(self) -> np.ndarray:
        """``(R, N)`` index of each patient's last done scheduled visit (−1: none)."""
        v = self.visit_done.shape[-1]
        index = np.where(self.visit_done, np.arange(v), -1)
        return index.max(axis=-1) if v else np.full(self.shape, -1)

    def at_last_visit(self, column: str) -> np.ndarray:
        last = self.last_visit()
        values = np.take_along_axis(self.visit[column], np.maximum(last, 0)[..., None], -1)[..., 0]
        if values.dtype == bool:
            return values
        return np.where(last >= 0, values, np.nan)


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.to_numpy(zero_copy_only=False)


def pilot_data(
    tables: Mapping[str, pa.Table],
    first_replicate: int,
    n_replicates: int,
    n_patients: int,
    visit_months: np.ndarray,
) -> PilotData:
    """Dense arrays from the ``patients`` and ``visits`` tables of replicates
    ``first_replicate … first_replicate + n_replicates − 1``.

    Parameters
    ----------
    tables : mapping
        ``simulate_tables`` output.
    first_replicate, n_replicates, n_patients : int
    visit_months : array
        Nominal months of the scheduled visits to keep.
    """
    shape = (n_replicates, n_patients)
    patients = tables["patients"]
    r = _numpy(patients.column("replicate")).astype(np.int64) - first_replicate
    p = _numpy(patients.column("patient_id")).astype(np.int64)
    enrolled = np.zeros(shape, dtype=bool)
    enrolled[r, p] = True
    patient: dict[str, np.ndarray] = {}
    for name in (
        "female", "age_years", "disease_duration_months", "follow_up_months",
        "relapse_observed", "time_to_relapse_months", "end_reason",
        *_BASELINE_COLUMN.values(), *(f"baseline_{m}" for m in MANIFESTATIONS),
    ):
        values = _numpy(patients.column(name))
        if values.dtype.kind == "b":
            out = np.zeros(shape, dtype=bool)
        elif values.dtype.kind in "OU":
            out = np.full(shape, "", dtype=object)
        else:
            out = np.full(shape, np.nan)
        out[r, p] = values
        patient[name] = out

    visits = tables["visits"]
    kind = _numpy(visits.column("visit_type"))
    scheduled = kind == "scheduled"
    vr = _numpy(visits.column("replicate")).astype(np.int64)[scheduled] - first_replicate
    vp = _numpy(visits.column("patient_id")).astype(np.int64)[scheduled]
    nominal = _numpy(visits.column("nominal_months"))[scheduled]
    months = np.asarray(visit_months, dtype=float)
    vi = np.searchsorted(months, nominal)
    keep = (vi < len(months)) & np.isclose(months[np.minimum(vi, len(months) - 1)], nominal)
    vr, vp, vi = vr[keep], vp[keep], vi[keep]
    done = np.zeros((*shape, len(months)), dtype=bool)
    done[vr, vp, vi] = True
    visit: dict[str, np.ndarray] = {}
    for name in (*sorted(set(_VISIT_COLUMN.values())), *MANIFESTATIONS):
        values = _numpy(visits.column(name))[scheduled][keep]
        if name in MANIFESTATIONS:
            out = np.zeros(done.shape, dtype=bool)
            out[vr, vp, vi] = values.astype(bool)
        else:
            out = np.full(done.shape, np.nan)
            out[vr, vp, vi] = values
        visit[name] = out
    return PilotData(enrolled, patient, months, done, visit)


@dataclass(frozen=True)
class StatisticRow:
    """One row of the validation table for one batch of pilots.

    Attributes
    ----------
    label : str
        Target name (``name[k]`` for the k-th of several event times).
    target : str
    reported : float
    values : (R,) array
        The statistic in each simulated pilot (NaN: not computable in that pilot).
    matches : (R,) bool
        The pilot shows exactly what was reported (at the reported precision).
    """

    label: str
    target: str
    reported: float
    values: np.ndarray
    matches: np.ndarray


def first_n(available: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` available patients by id (all when ``n`` is None) and whether a pilot has
    ``n`` of them (at least one when ``n`` is None)."""
    rank = np.cumsum(available, axis=1)
    if n is None:
        return available, rank[:, -1] >= 1
    return available & (rank <= n), rank[:, -1] >= n


def _mean_sd(values: np.ndarray, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    count = selected.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(selected, values, 0.0).sum(axis=1) / count
        squares = np.where(selected, (values - mean[:, None]) ** 2, 0.0).sum(axis=1)
        sd = np.sqrt(squares / (count - 1))
    return mean, sd


def _rounds_to(values: np.ndarray, reported: float, decimals: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (np.abs(values - reported) <= 0.5 * 10.0**-decimals + 1e-9)


def _paired_significant(
    before: np.ndarray, after: np.ndarray, selected: np.ndarray, threshold: float, direction: str
) -> np.ndarray:
    """1.0 where a two-sided paired t-test of ``after − before`` has p < threshold and the mean
    change has the reported sign, else 0.0 (NaN: fewer than 2 patients)."""
    change = after - before
    mean, sd = _mean_sd(change, selected)
    count = selected.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = mean / (sd / np.sqrt(count))
        p = 2.0 * stats.t.sf(np.abs(t), np.maximum(count - 1, 1))
    sign_ok = mean < 0 if direction == "decrease" else mean > 0
    significant = np.where(np.isfinite(p), (p < threshold) & sign_ok, sd == 0)
    return np.where(count >= 2, significant.astype(float), np.nan)


class _Selector:
    """Which patients a target's statistic is computed over."""

    def __init__(self, data: PilotData, targets: TargetSet) -> None:
        self.data = data
        self.targets = targets

    def visit_values(self, target: Target, column: str) -> tuple[np.ndarray, np.ndarray]:
        """``(values, available)`` at the target's visit (or last visit when time unknown)."""
        data = self.data
        if target.time == UNKNOWN:
            last = data.last_visit()
            return data.at_last_visit(column), last >= 0
        v = data.visit_index(float(target.time))
        if v is None:
            raise ValueError(f"{target.name}: no scheduled visit at month {target.time}")
        return data.visit[column][..., v], data.visit_done[..., v]

    def baseline_selection(self, target: Target) -> tuple[np.ndarray, np.ndarray]:
        """Patients of a baseline figure: paired with a later figure of the same n if any."""
        data = self.data
        family = _VISIT_COLUMN.get(target.quantity)
        if target.n is not None and target.n < data.shape[1]:
            for other in self.targets:
                if (
                    other is not target
                    and _VISIT_COLUMN.get(other.quantity) == family
                    and other.n == target.n
                    and isinstance(other.time, float)
                    and other.time > 0
                ):
                    _, available = self.visit_values(other, family)  # type: ignore[arg-type]
                    return first_n(available, target.n)
        return first_n(data.enrolled, target.n)


def statistic_rows(data: PilotData, target: Target, targets: TargetSet) -> list[StatisticRow]:
    """The statistic of ``target`` in each pilot of ``data`` (one row; one per event time)."""
    select = _Selector(data, targets)
    p = data.patient
    q, kind = target.quantity, target.statistic
    reported = float(target.value) if not isinstance(target.value, tuple) else float("nan")
    values: np.ndarray
    ok: np.ndarray
    column: np.ndarray | str

    if kind == "event_times":
        return _event_time_rows(data, target)
    if q in ("female", "age_years", "disease_duration_months"):
        selected, ok = first_n(data.enrolled, target.n)
        column = p[q].astype(float)
        values = _summary(column, selected, kind)
    elif q == "follow_up_months":
        values = _summary(p[q], data.enrolled, kind)
        ok = cast(np.ndarray, data.enrolled.any(axis=1))  # (R, N) -> (R,): an array
    elif q == "followed_12_months":
        values = np.sum(data.enrolled & (p["follow_up_months"] >= FOLLOWED_MONTHS), axis=1)
        ok = np.ones(len(values), dtype=bool)
    elif q == "relapse":
        among = data.enrolled
        if target.among == "followed_12_months":
            among = among & (p["follow_up_months"] >= FOLLOWED_MONTHS)
        values = np.sum(among & p["relapse_observed"].astype(bool), axis=1)
        ok = np.ones(len(values), dtype=bool)
    elif q == "serious_adverse_events":
        values = np.sum(data.enrolled & (p["end_reason"] == "death"), axis=1)
        ok = np.ones(len(values), dtype=bool)
    elif q.endswith("_resolved"):
        name = q.removesuffix("_resolved")
        present_now, available = select.visit_values(target, name)
        available = available & p[f"baseline_{name}"].astype(bool)
        selected, ok = first_n(available, target.n)
        values = np.sum(selected & ~present_now.astype(bool), axis=1)
    elif target.time == 0.0:
        selected, ok = select.baseline_selection(target)
        values = _summary(p[_BASELINE_COLUMN[q]], selected, kind)
    else:
        column = _VISIT_COLUMN[q]
        measured, available = select.visit_values(target, column)
        selected, ok = first_n(available, target.n)
        baseline = p[_BASELINE_COLUMN.get(q, "baseline_proteinuria_mg_per_day")]
        if q == "sledai_zero":
            values = np.sum(selected & (measured == 0), axis=1)
        elif q == "proteinuria_fell":
            values = np.sum(selected & (measured < baseline), axis=1)
        elif kind == "p_value_below":
            values = _paired_significant(baseline, measured, selected, reported, target.direction)
            reported = 1.0
        else:
            values = _summary(measured, selected, kind)
    values = np.where(ok, values.astype(float), np.nan)
    if kind in ("count", "p_value_below"):
        matches = values == reported
    else:
        matches = _rounds_to(values, reported, target.decimals)
    return [StatisticRow(target.name, target.name, reported, values, matches)]


def _summary(values: np.ndarray, selected: np.ndarray, kind: str) -> np.ndarray:
    if kind == "count":
        return np.sum(selected & (values > 0), axis=1).astype(float)
    mean, sd = _mean_sd(values, selected)
    return mean if kind == "mean" else sd


def _event_time_rows(data: PilotData, target: Target) -> list[StatisticRow]:
    times = target.value
    assert isinstance(times, tuple)
    p = data.patient
    relapsed = data.enrolled & p["relapse_observed"].astype(bool)
    observed = np.where(relapsed, p["time_to_relapse_months"], np.inf)
    ordered = np.sort(observed, axis=1)
    count = relapsed.sum(axis=1)
    same_count = count == len(times)
    rounded = np.round(ordered[:, : len(times)])
    all_match = same_count & np.all(rounded == np.asarray(times), axis=1)
    rows = []
    for k, reported in enumerate(times):
        values = np.where(same_count, ordered[:, k], np.nan)
        label = f"{target.name}[{k + 1}]"
        rows.append(StatisticRow(label, target.name, float(reported), values, all_match))
    return rows


# -- figure data -------------------------------------------------------------------------------
def relapse_free_curves(data: PilotData, grid: np.ndarray) -> np.ndarray:
    """``(R, G)`` Kaplan–Meier relapse-free probability of each pilot on ``grid`` (months;
    NaN beyond the pilot's last follow-up)."""
    p = data.patient
    time = np.where(data.enrolled, p["time_to_relapse_months"], np.nan)
    event = data.enrolled & p["relapse_observed"].astype(bool)
    out = np.empty((len(time), len(grid)))
    for r in range(len(time)):
        t, e = time[r][np.isfinite(time[r])], event[r][np.isfinite(time[r])]
        distinct = np.unique(t[e])
        at_risk = np.array([(t >= u).sum() for u in distinct])
        events = np.array([((t == u) & e).sum() for u in distinct])
        survival = np.cumprod(1.0 - events / at_risk) if len(distinct) else np.zeros(0)
        step = np.searchsorted(distinct, grid, side="right")
        curve = np.concatenate([[1.0], survival])[step]
        out[r] = np.where(grid <= (t.max() if len(t) else 0.0), curve, np.nan)
    return out


def visit_means(data: PilotData, column: str, baseline_column: str) -> np.ndarray:
    """``(R, 1 + V)`` each pilot's mean of ``column`` at baseline and at every scheduled visit."""
    base = np.where(data.enrolled, data.patient[baseline_column], np.nan)
    values = np.concatenate([base[..., None], data.visit[column]], axis=-1)
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite, values, 0.0).sum(axis=1) / count


def patient_values(data: PilotData, column: str, baseline_column: str) -> np.ndarray:
    """``(R·N, 1 + V)`` every patient's value at baseline and at every scheduled visit."""
    base = np.where(data.enrolled, data.patient[baseline_column], np.nan)
    values = np.concatenate([base[..., None], data.visit[column]], axis=-1)
    return values.reshape(-1, values.shape[-1])
