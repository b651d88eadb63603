"""Invariants every simulated dataset must satisfy, whatever the scenario.

:func:`check_timeline` takes a scenario and the four tables that
:func:`cohortsim.simulate.simulate_tables` returned for it, and asserts the rules of
``docs/model.md`` and ``docs/outputs.md`` that hold for every draw: per-patient ordering, nothing
recorded after the end of follow-up, detection after onset, visits inside their windows, the
cut-off, the allocation, and the patients table agreeing with the events table. Expected values
(visit windows, block counts, ...) are worked out here from the scenario itself, not with the
package's helpers, so a bug there cannot hide a bug in the engines.

Each check is a separate function so that a failure names the rule that broke.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from cohortsim.scenario import Scenario

EPS = 1e-9
"""Slack for ``enrol + (cut − enrol) ≤ cut`` and similar round trips through calendar time."""


def frames(tables: Mapping[str, pa.Table]) -> dict[str, pd.DataFrame]:
    """The tables as pandas frames, categoricals as plain strings."""
    out = {}
    for name, table in tables.items():
        df = table.to_pandas()
        for column in df.columns:
            if isinstance(df[column].dtype, pd.CategoricalDtype):
                df[column] = df[column].astype(object)
        out[name] = df
    return out


def _fail(rule: str, rows: pd.DataFrame) -> None:
    if len(rows):
        raise AssertionError(
            f"{rule}: {len(rows)} offending rows, e.g.\n{rows.head(8).to_string()}"
        )


def _with_patient(df: pd.DataFrame, patients: pd.DataFrame, *columns: str) -> pd.DataFrame:
    keep = ["replicate", "patient_id", *columns]
    return df.merge(patients[keep], on=["replicate", "patient_id"], how="left", validate="m:1")


# -- schedule worked out from the scenario -------------------------------------------------------
def nominal_and_window(
    scenario: Scenario, visit_number: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nominal month and half-width of scheduled visit ``visit_number`` (1-based)."""
    visits = scenario.visits
    listed = len(visits.schedule_months)
    n = np.asarray(visit_number, dtype=np.int64)
    nominal = np.empty(len(n))
    window = np.empty(len(n))
    in_list = n <= listed
    nominal[in_list] = np.asarray(visits.schedule_months)[n[in_list] - 1]
    window[in_list] = np.asarray(visits.window_months)[n[in_list] - 1]
    if (~in_list).any():
        assert visits.repeat_every_months is not None, "visit number past the schedule, no repeats"
        extra = n[~in_list] - listed
        nominal[~in_list] = visits.schedule_months[-1] + extra * visits.repeat_every_months
        window[~in_list] = visits.repeat_window_months
    return nominal, window


# -- the checks --------------------------------------------------------------------------------
def check_events_ordered(p: pd.DataFrame, e: pd.DataFrame) -> None:
    """Per patient, events are in time order and ``end_of_follow_up`` is the last one."""
    same_patient = (e["replicate"].diff() == 0) & (e["patient_id"].diff() == 0)
    backwards = same_patient & (e["true_months"].diff() < 0)
    _fail(
        "events out of time order within a patient",
        e[backwards | backwards.shift(-1, fill_value=False)],
    )
    last = e.groupby(["replicate", "patient_id"], sort=False).tail(1)
    _fail(
        "last event of a patient is not end_of_follow_up", last[last["event"] != "end_of_follow_up"]
    )
    # each replicate, and each patient within it, is one contiguous run; patients in id order
    keys = e[["replicate", "patient_id"]].drop_duplicates()
    assert len(keys) == len(e.groupby(["replicate", "patient_id"])), "a patient's events are split"
    runs = keys["replicate"].to_numpy()
    assert len(np.unique(runs)) == min(len(runs), 1 + np.count_nonzero(np.diff(runs))), (
        "replicates interleaved"
    )
    in_replicate = keys["replicate"].diff() == 0
    _fail("patients out of id order", keys[in_replicate & (keys["patient_id"].diff() <= 0)])


def check_end_of_follow_up(p: pd.DataFrame, e: pd.DataFrame) -> None:
    """Exactly one end_of_follow_up per patient, at follow_up_months, detail = end_reason; no
    event (true or observed) after it; dropout/death events match the end reason."""
    ends = e[e["event"] == "end_of_follow_up"]
    counts = ends.groupby(["replicate", "patient_id"]).size()
    assert (counts == 1).all(), f"patients with several end_of_follow_up: {counts[counts != 1]}"
    assert len(ends) == len(p), f"{len(ends)} end_of_follow_up events for {len(p)} patients"
    merged = _with_patient(ends, p, "follow_up_months", "end_reason")
    _fail(
        "end_of_follow_up time != follow_up_months",
        merged[merged["true_months"] != merged["follow_up_months"]],
    )
    _fail(
        "end_of_follow_up observed != true",
        merged[merged["observed_months"] != merged["true_months"]],
    )
    _fail("end_of_follow_up detail != end_reason", merged[merged["detail"] != merged["end_reason"]])

    everything = _with_patient(e, p, "follow_up_months", "end_reason")
    after = (everything["true_months"] > everything["follow_up_months"]) | (
        everything["observed_months"] > everything["follow_up_months"]
    )
    _fail("event after the end of follow-up", everything[after])
    _fail("event before treatment start", everything[everything["true_months"] < 0])

    for process in ("dropout", "death"):
        rows = everything[everything["event"] == process]
        _fail(
            f"{process} event for a patient whose end_reason differs",
            rows[rows["end_reason"] != process],
        )
        _fail(
            f"{process} event not at the end of follow-up",
            rows[rows["true_months"] != rows["follow_up_months"]],
        )
        expected = (p["end_reason"] == process).sum()
        assert len(rows) == expected, f"{len(rows)} {process} events, {expected} {process} ends"


def check_observed_after_true(e: pd.DataFrame) -> None:
    """Detection is never before onset; directly observed events are observed when they happen."""
    known = e[e["observed_months"].notna()]
    _fail("observed_months < true_months", known[known["observed_months"] < known["true_months"]])
    direct = e["event"].isin(
        [
            "enrolment",
            "msc_infusion",
            "prednisone_start",
            "cyclophosphamide",
            "rescue",
            "dropout",
            "death",
            "end_of_follow_up",
        ]
    )
    _fail(
        "directly observed event with observed != true",
        e[direct & (e["observed_months"] != e["true_months"])],
    )
    start = e[e["event"] == "enrolment"]
    _fail("enrolment not at patient time 0", start[start["true_months"] != 0.0])


def check_visits(scenario: Scenario, p: pd.DataFrame, v: pd.DataFrame, e: pd.DataFrame) -> None:
    """Visits inside follow-up and inside their windows, numbers unique, one baseline each."""
    if not scenario.is_sle:
        assert len(v) == 0, "time-to-event scenarios have no visits"
        return
    merged = _with_patient(v, p, "follow_up_months")
    _fail(
        "visit after the end of follow-up",
        merged[merged["actual_months"] > merged["follow_up_months"]],
    )
    _fail("visit before treatment start", merged[merged["actual_months"] < 0])

    baseline = v[v["visit_type"] == "baseline"]
    assert len(baseline) == len(p), f"{len(baseline)} baseline visits for {len(p)} patients"
    _fail(
        "baseline visit not number 0 at month 0",
        baseline[
            (baseline["visit_number"] != 0)
            | (baseline["actual_months"] != 0.0)
            | (baseline["nominal_months"] != 0.0)
        ],
    )

    scheduled = v[v["visit_type"] == "scheduled"]
    _fail("scheduled visit with number < 1", scheduled[scheduled["visit_number"] < 1])
    nominal, window = nominal_and_window(scenario, scheduled["visit_number"].to_numpy())
    _fail(
        "nominal_months does not match the schedule",
        scheduled[np.abs(scheduled["nominal_months"].to_numpy() - nominal) > EPS],
    )
    _fail(
        "scheduled visit outside its window",
        scheduled[np.abs(scheduled["actual_months"].to_numpy() - nominal) > window + EPS],
    )

    unscheduled = v[v["visit_type"] == "unscheduled"]
    _fail(
        "unscheduled visit with a number or a nominal time",
        unscheduled[(unscheduled["visit_number"] != -1) | unscheduled["nominal_months"].notna()],
    )

    numbered = v[v["visit_number"] >= 0]
    dup = numbered.duplicated(["replicate", "patient_id", "visit_number"], keep=False)
    _fail("visit number repeated within a patient", numbered[dup])
    # rows are in time order per patient, and (windows do not overlap) so are the numbers
    same = (v["replicate"].diff() == 0) & (v["patient_id"].diff() == 0)
    _fail("visits out of time order", v[same & (v["actual_months"].diff() < 0)])
    numbered_same = (numbered["replicate"].diff() == 0) & (numbered["patient_id"].diff() == 0)
    _fail(
        "visit numbers not increasing with time",
        numbered[numbered_same & (numbered["visit_number"].diff() <= 0)],
    )

    # Unscheduled visits are exactly the symptomatic detections.
    symptomatic = e[(e["event"] == "flare") & (e["detail"] == "symptomatic")]
    left = (
        unscheduled[["replicate", "patient_id", "actual_months"]]
        .sort_values(["replicate", "patient_id", "actual_months"])
        .reset_index(drop=True)
    )
    right = (
        symptomatic[["replicate", "patient_id", "observed_months"]]
        .rename(columns={"observed_months": "actual_months"})
        .sort_values(["replicate", "patient_id", "actual_months"])
        .reset_index(drop=True)
    )
    assert left.equals(right), f"unscheduled visits {left} != symptomatic detections {right}"


def check_detection(scenario: Scenario, e: pd.DataFrame, v: pd.DataFrame) -> None:
    """Flares are detected as the model says: immediately at onset, at a done scheduled visit
    (the first one at or after onset), or at a symptomatic visit; responses and resolutions are
    seen at the first done scheduled visit at or after they happen."""
    flares = e[e["event"] == "flare"]
    seen = flares[flares["observed_months"].notna()]
    _fail("detected flare without a detection kind", seen[seen["detail"].isna()])
    _fail(
        "undetected flare with a detection kind",
        flares[flares["observed_months"].isna() & flares["detail"].notna()],
    )
    immediate = seen[seen["detail"] == "immediate"]
    _fail(
        "immediate detection not at onset",
        immediate[immediate["observed_months"] != immediate["true_months"]],
    )
    arm_detection = {arm.name: arm.disease.relapse.detection for arm in scenario.arms}
    expected_immediate = seen["arm"].map(arm_detection) == "immediate"
    _fail(
        "detection kind does not follow the arm's detection rule",
        seen[expected_immediate != (seen["detail"] == "immediate")],
    )

    done = v[v["visit_type"] == "scheduled"][["replicate", "patient_id", "actual_months"]]
    visit_times = {
        key: np.sort(group["actual_months"].to_numpy())
        for key, group in done.groupby(["replicate", "patient_id"])
    }

    def first_visit_at_or_after(row: pd.Series) -> float:
        times = visit_times.get((row["replicate"], row["patient_id"]), np.zeros(0))
        later = times[times >= row["true_months"]]
        return float(later[0]) if len(later) else math.inf

    untreated = {arm.name: arm.disease.relapse.untreated_resolution_months for arm in scenario.arms}
    _fail(
        "flare detected after it would have resolved untreated",
        seen[seen["observed_months"] >= seen["true_months"] + seen["arm"].map(untreated)],
    )
    at_visit = seen[seen["detail"] == "scheduled"]
    if len(at_visit):
        first = at_visit.apply(first_visit_at_or_after, axis=1)
        _fail(
            "flare detected at a scheduled visit that is not the first done one after onset",
            at_visit[at_visit["observed_months"] != first],
        )
    symptomatic = seen[seen["detail"] == "symptomatic"]
    if len(symptomatic):
        first = symptomatic.apply(first_visit_at_or_after, axis=1)
        _fail(
            "symptomatic detection after a done scheduled visit could have detected the flare",
            symptomatic[first < symptomatic["observed_months"]],
        )

    # Rescue: one per detected flare, at its detection, same sequence.
    rescue = e[e["event"] == "rescue"]
    if scenario.is_sle:
        a = seen[["replicate", "patient_id", "sequence", "observed_months"]].reset_index(drop=True)
        b = (
            rescue[["replicate", "patient_id", "sequence", "true_months"]]
            .rename(columns={"true_months": "observed_months"})
            .reset_index(drop=True)
        )
        a = a.sort_values(["replicate", "patient_id", "sequence"]).reset_index(drop=True)
        b = b.sort_values(["replicate", "patient_id", "sequence"]).reset_index(drop=True)
        assert a.equals(b), "rescue events do not match the detected flares"
    else:
        assert len(rescue) == 0

    if scenario.is_sle:
        for event in ("response", "manifestation_resolved"):
            rows = e[(e["event"] == event)]
            if not len(rows):
                continue
            first = rows.apply(first_visit_at_or_after, axis=1)
            expected = first.where(np.isfinite(first), np.nan)
            got = rows["observed_months"]
            mismatch = ~((got == expected) | (got.isna() & expected.isna()))
            _fail(
                f"{event} not observed at the first done scheduled visit at or after it",
                rows[mismatch],
            )


def check_cutoff(scenario: Scenario, p: pd.DataFrame, t: pd.DataFrame) -> None:
    """Everyone's follow-up ends by the cut-off; end reasons agree with their times."""
    merged = p.merge(
        t[["replicate", "cutoff_month", "cutoff_reason"]], on="replicate", validate="m:1"
    )
    calendar_end = merged["enrol_month"] + merged["follow_up_months"]
    _fail(
        "enrol_month + follow_up_months > cutoff_month",
        merged[calendar_end > merged["cutoff_month"] + EPS],
    )
    _fail(
        "patient enrolled after the cut-off", merged[merged["enrol_month"] > merged["cutoff_month"]]
    )
    _fail("follow_up_months < 0", merged[merged["follow_up_months"] < 0])
    cut = merged[merged["end_reason"] == "cutoff"]
    _fail(
        "end_reason cutoff but follow-up does not end at the cut-off",
        cut[(cut["enrol_month"] + cut["follow_up_months"] - cut["cutoff_month"]).abs() > EPS],
    )
    max_fu = scenario.cutoff.max_follow_up_months
    capped = merged[merged["end_reason"] == "max_follow_up"]
    if max_fu is None:
        assert len(capped) == 0, "end_reason max_follow_up without a maximum follow-up"
    else:
        _fail(
            "end_reason max_follow_up at another time", capped[capped["follow_up_months"] != max_fu]
        )
        _fail("follow-up longer than the maximum", merged[merged["follow_up_months"] > max_fu])
    ended = merged[merged["end_reason"] == "study_end"]
    _fail(
        "end_reason study_end away from the study's end",
        ended[
            (
                ended["enrol_month"]
                + ended["follow_up_months"]
                - scenario.study.max_duration_months
            ).abs()
            > EPS
        ],
    )
    _fail(
        "follow-up past the study's end",
        merged[calendar_end > scenario.study.max_duration_months + EPS],
    )

    rules = scenario.cutoff
    per_trial = p.groupby("replicate")
    trials = t.set_index("replicate")
    assert (trials["n_enrolled"] == per_trial.size().reindex(trials.index, fill_value=0)).all()
    calendar = trials[trials["cutoff_reason"] == "calendar"]
    assert rules.calendar_month is not None or not len(calendar)
    if len(calendar):
        assert np.allclose(calendar["cutoff_month"], rules.calendar_month, rtol=0, atol=EPS)
    after = trials[trials["cutoff_reason"] == "after_last_enrolment"]
    if len(after):
        assert rules.months_after_last_enrolment is not None
        expected = after["last_enrolment_month"] + rules.months_after_last_enrolment
        assert np.allclose(after["cutoff_month"], expected, rtol=0, atol=EPS)
    events = trials[trials["cutoff_reason"] == "events"]
    if len(events):
        assert rules.events is not None
        if rules.event_time == "observed":
            first = p["time_to_relapse_months"].where(p["relapse_observed"])
        else:
            first = p["first_relapse_onset_months"]
        when = p["enrol_month"] + first
        for replicate, row in events.iterrows():
            times = np.sort(when[p["replicate"] == replicate].dropna().to_numpy())
            assert len(times) >= rules.events, (
                f"replicate {replicate}: cut at {rules.events} events"
            )
            assert abs(times[rules.events - 1] - row["cutoff_month"]) <= EPS, (
                f"replicate {replicate}: event cut-off {row['cutoff_month']} is not the "
                f"{rules.events}-th first relapse ({times[: rules.events]})"
            )
    administrative = ("calendar", "after_last_enrolment", "events")
    natural = trials[~trials["cutoff_reason"].isin(administrative)]
    for replicate, row in natural.iterrows():
        # the trial ended because every patient's own follow-up had ended: at the last end of
        # follow-up, or at the study's end when some drawn patients would only have enrolled
        # after it (they are not in the data; the reason is then still max_follow_up/study_end)
        mine = p[p["replicate"] == replicate]
        assert not (mine["end_reason"] == "cutoff").any(), f"replicate {replicate}"
        assert row["cutoff_reason"] == ("max_follow_up" if max_fu is not None else "study_end")
        last_end = (mine["enrol_month"] + mine["follow_up_months"]).max()
        if not abs(last_end - row["cutoff_month"]) <= EPS:
            assert row["n_enrolled"] < scenario.study.n_patients, (replicate, last_end, row)
            assert abs(row["cutoff_month"] - scenario.study.max_duration_months) <= EPS, row

    last = per_trial["enrol_month"].max()
    assert np.array_equal(
        trials.loc[last.index, "last_enrolment_month"].to_numpy(), last.to_numpy()
    )
    first_relapses = per_trial["relapse_observed"].sum()
    assert np.array_equal(
        trials.loc[first_relapses.index, "first_relapses_observed"].to_numpy(),
        first_relapses.to_numpy(),
    )
    flares = per_trial["flares_observed"].sum()
    assert np.array_equal(trials.loc[flares.index, "flares_observed"].to_numpy(), flares.to_numpy())


def check_patients_match_events(p: pd.DataFrame, e: pd.DataFrame) -> None:
    """relapse_observed, time_to_relapse_months, first_relapse_onset_months and the flare counts
    follow from the flare events: the first relapse *observed* is the earliest detected flare
    (flare 1 may resolve unseen); the first *onset* is flare number 1."""
    flares = e[e["event"] == "flare"]
    keys = ["replicate", "patient_id"]
    first = flares[flares["sequence"] == 1].set_index(keys)
    pp = p.set_index(keys)
    first = first.reindex(pp.index)
    earliest_seen = flares.groupby(keys)["observed_months"].min().reindex(pp.index)
    observed = earliest_seen.notna()
    mismatch = observed != pp["relapse_observed"]
    _fail("relapse_observed disagrees with the flares' observed times", p[mismatch.to_numpy()])
    expected = earliest_seen.where(observed, pp["follow_up_months"])
    _fail(
        "time_to_relapse_months is not the earliest detection or the follow-up",
        p[(expected != pp["time_to_relapse_months"]).to_numpy()],
    )
    onset = first["true_months"]
    same_onset = (onset == pp["first_relapse_onset_months"]) | (
        onset.isna() & pp["first_relapse_onset_months"].isna()
    )
    _fail("first_relapse_onset_months is not flare 1's onset", p[~same_onset.to_numpy()])
    n_onset = flares.groupby(keys).size().reindex(pp.index, fill_value=0)
    n_seen = (
        flares[flares["observed_months"].notna()]
        .groupby(keys)
        .size()
        .reindex(pp.index, fill_value=0)
    )
    _fail("flares_onset != number of flare events", p[(n_onset != pp["flares_onset"]).to_numpy()])
    _fail(
        "flares_observed != number of detected flares",
        p[(n_seen != pp["flares_observed"]).to_numpy()],
    )
    # flare numbers are 1..n in time order
    for _, group in flares.groupby(keys):
        assert list(group["sequence"]) == list(range(1, len(group) + 1)), group

    # the latent response: a response event iff a responder responded within follow-up, at the
    # patients table's time to response
    responses = e[e["event"] == "response"].set_index(keys)["true_months"].reindex(pp.index)
    responder = pp["response_class"].isin(["complete", "partial"])
    within = responder & (pp["time_to_response_months"] <= pp["follow_up_months"])
    _fail(
        "response event iff a responder's time to response lies within follow-up",
        p[(responses.notna() != within).to_numpy()],
    )
    _fail(
        "response event time != time_to_response_months",
        p[(within & (responses != pp["time_to_response_months"])).to_numpy()],
    )


def check_allocation(scenario: Scenario, p: pd.DataFrame, t: pd.DataFrame) -> None:
    """Arm counts follow the allocation (exactly, within complete permuted blocks per stratum).

    Blocks are consumed in patient-id order, and patients enrolled after the cut-off are not in
    the table, so the block checks use the replicates in which every patient was enrolled.
    """
    arms = scenario.arm_names
    assert set(p["arm"]) <= set(arms), f"unknown arms {set(p['arm']) - set(arms)}"
    if len(arms) == 1 or scenario.randomisation.method != "permuted_block":
        return
    weights = np.array([arm.allocation for arm in scenario.arms])
    block = scenario.randomisation.block_size
    assert block % weights.sum() == 0
    per_block = dict(zip(arms, weights * (block // weights.sum()), strict=True))
    n = scenario.study.n_patients
    full = t.loc[t["n_enrolled"] == n, "replicate"]
    n_strata = 2 ** len(scenario.randomisation.strata)
    for replicate in full:
        mine = p[p["replicate"] == replicate].sort_values("patient_id")
        assert list(mine["patient_id"]) == list(range(n))
        for stratum, group in mine.groupby("stratum"):
            labels = group["arm"].to_numpy()
            for start in range(0, len(labels) - block + 1, block):
                counts = pd.Series(labels[start : start + block]).value_counts().to_dict()
                assert counts == {a: c for a, c in per_block.items() if c}, (
                    f"replicate {replicate}, stratum {stratum}, block at {start}: {counts} "
                    f"(expected {per_block})"
                )
        counts = mine["arm"].value_counts()
        for arm, w in zip(arms, weights, strict=True):
            expected = n * w / weights.sum()
            assert abs(counts.get(arm, 0) - expected) <= block * n_strata, (
                f"replicate {replicate}: {counts.get(arm, 0)} in {arm}, expected ≈ {expected}"
            )


def check_timeline(scenario: Scenario, tables: Mapping[str, pa.Table]) -> None:
    """Every invariant above, on one engine's tables."""
    f = frames(tables)
    p, v, e, t = f["patients"], f["visits"], f["events"], f["trials"]
    check_events_ordered(p, e)
    check_end_of_follow_up(p, e)
    check_observed_after_true(e)
    check_visits(scenario, p, v, e)
    check_detection(scenario, e, v)
    check_cutoff(scenario, p, t)
    check_patients_match_events(p, e)
    check_allocation(scenario, p, t)
