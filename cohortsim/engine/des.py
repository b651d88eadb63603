"""The SimPy engine: each simulated trial is a discrete-event simulation on calendar time.

One :class:`simpy.Environment` per trial. An enrolment process starts a process per patient; each
patient runs scheduled visits, a flare (relapse) process, symptomatic visits and competing ends
(dropout, death, maximum follow-up, study end) as events; a cut-off process ends the trial at the
first (or last) cut-off rule to fire — calendar date, months after the last enrolment, or a number
of first relapses — or when every patient's follow-up has ended.

This engine is the readable reference. It reads the same :class:`LatentCohort` draws as the
vectorised engine, and times are recorded as computed from those draws (never read back from the
simulation clock), so both engines produce identical numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import simpy

from cohortsim.cohort import LatentCohort
from cohortsim.course import (
    CUT_AFTER_LAST,
    CUT_CALENDAR,
    CUT_EVENTS,
    CUT_MAX_FOLLOW_UP,
    CUT_STUDY_END,
    DETECTED_IMMEDIATELY,
    DETECTED_SCHEDULED,
    DETECTED_SYMPTOMATIC,
    NOT_DETECTED,
    Course,
)
from cohortsim.engine.rules import follow_up_at_cut, next_onset, own_end


@dataclass
class _Patient:
    """One patient's record as the simulation unfolds (patient times in months)."""

    index: int
    enrol: float
    process: simpy.Process | None = None
    children: list[simpy.Process] = field(default_factory=list)
    ended: bool = False
    own_end: float = np.inf
    own_reason: int = -1
    onset: dict[int, float] = field(default_factory=dict)
    detected: dict[int, tuple[float, int]] = field(default_factory=dict)
    resolved: dict[int, float] = field(default_factory=dict)
    resolution_events: dict[int, simpy.Event] = field(default_factory=dict)
    visits_done: list[tuple[int, float]] = field(default_factory=list)
    symptomatic_done: list[int] = field(default_factory=list)
    response_seen: float = np.nan
    manifestation_seen: dict[int, float] = field(default_factory=dict)
    first_event: float = np.inf


class _Trial:
    """Processes of one simulated trial (row ``row`` of the cohort)."""

    def __init__(self, cohort: LatentCohort, row: int) -> None:
        self.c = cohort
        self.row = row
        self.env = simpy.Environment()
        self.rules = cohort.scenario.cutoff
        self.patients: list[_Patient] = []
        self.first_events = 0
        self.ended = 0
        self.own_end_calendar: list[float] = []
        self.events_reached = self.env.event()
        self.after_last = self.env.event()
        self.everyone_done = self.env.event()
        self.cut = self.env.event()
        self.cut_month = np.inf
        self.cut_reason = -1
        self.administrative = False

    # -- helpers --------------------------------------------------------------------------------
    def _at(self, calendar_month: float) -> simpy.Timeout:
        """Wait until a calendar month (never backwards)."""
        return self.env.timeout(max(calendar_month - self.env.now, 0.0))

    def _value(self, array: np.ndarray, patient: int) -> Any:
        """The patient's entry of an ``(R, N, ...)`` cohort array: a NumPy scalar for an
        ``(R, N)`` array, else an array."""
        return array[self.row, patient]

    # -- trial-level processes --------------------------------------------------------------------
    def enrolment(self):  # type: ignore[no-untyped-def]
        enrol = self.c.enrol_month[self.row]
        order = np.argsort(enrol, kind="stable")
        for i in order:
            yield self._at(enrol[i])
            if self.cut.triggered:
                return
            patient = _Patient(int(i), enrol[i])
            self.patients.append(patient)
            patient.process = self.env.process(self.patient(patient))
        if self.rules.months_after_last_enrolment is not None:
            target = enrol.max() + self.rules.months_after_last_enrolment
            yield self._at(target)
            self.after_last.succeed(target)

    def cutoff(self):  # type: ignore[no-untyped-def]
        rules = self.rules
        fired: list[tuple[int, simpy.Event]] = []
        if rules.calendar_month is not None:
            calendar = self.env.timeout(rules.calendar_month, value=rules.calendar_month)
            fired.append((CUT_CALENDAR, calendar))
        if rules.months_after_last_enrolment is not None:
            fired.append((CUT_AFTER_LAST, self.after_last))
        if rules.events is not None:
            fired.append((CUT_EVENTS, self.events_reached))
        done_reason = CUT_MAX_FOLLOW_UP if rules.max_follow_up_months is not None else CUT_STUDY_END
        if fired:
            events = [event for _, event in fired]
            combined = (
                self.env.any_of(events) if rules.combine == "first" else self.env.all_of(events)
            )
            yield self.env.any_of([combined, self.everyone_done])
        else:
            combined = None
            yield self.everyone_done
        if combined is not None and combined.triggered and not self.everyone_done.processed:
            values = [(event.value, code) for code, event in fired if event.triggered]
            pick = min if rules.combine == "first" else max
            self.cut_month, self.cut_reason = pick(values, key=lambda vc: vc[0])
            self.administrative = True
        else:
            self.cut_month, self.cut_reason = self.everyone_done.value, done_reason
        for patient in self.patients:
            if not patient.ended:
                self._stop(patient)
        self.cut.succeed()

    # -- patient processes ------------------------------------------------------------------------
    def patient(self, p: _Patient):  # type: ignore[no-untyped-def]
        c, i = self.c, p.index
        if c.n_visits:
            p.children.append(self.env.process(self.visits(p)))
        p.children.append(self.env.process(self.flares(p)))
        max_fu = c.scenario.cutoff.max_follow_up_months
        # Competing ends, listed in the tie-break order shared with the vectorised engine.
        candidates: list[float] = [
            self._value(c.dropout_month, i),
            self._value(c.death_month, i),
            np.inf if max_fu is None else np.float64(max_fu),
            np.float64(c.scenario.study.max_duration_months) - p.enrol,
        ]
        timers = [self._at(p.enrol + t) for t in candidates if np.isfinite(p.enrol + t)]
        try:
            yield self.env.any_of(timers)
        except simpy.Interrupt:
            return
        end, reason = own_end(*candidates)
        p.own_end, p.own_reason = float(end), int(reason)
        self._stop(p)
        self.ended += 1
        # ``end`` is a 0-d array (the rules work on arrays); plus a float it gives a float.
        self.own_end_calendar.append(cast(float, p.enrol + end))
        if self.ended == c.n_patients and not self.everyone_done.triggered:
            self.everyone_done.succeed(max(self.own_end_calendar))

    def _stop(self, p: _Patient) -> None:
        p.ended = True
        for child in p.children:
            if child.is_alive:
                child.interrupt()
        if (
            p.process is not None
            and p.process.is_alive
            and p.process is not self.env.active_process
        ):
            p.process.interrupt()

    def visits(self, p: _Patient):  # type: ignore[no-untyped-def]
        c, i = self.c, p.index
        times = self._value(c.visit_time, i)
        missed = self._value(c.visit_missed, i)
        try:
            for v, t in enumerate(times):
                if missed[v]:
                    continue
                yield self._at(p.enrol + t)
                p.visits_done.append((v, t))
                for k, onset in p.onset.items():
                    if k not in p.detected and self._still_active(p, k, onset, t):
                        self._detect(p, k, t, DETECTED_SCHEDULED)
                t_response = self._value(c.time_to_response, i)
                responds = c.response_class[self.row, i] < 2
                if np.isnan(p.response_seen) and responds and t_response <= t:
                    p.response_seen = t
                resolution = self._value(c.manifestation_resolution, i)
                present = self._value(c.baseline_manifestations, i)
                for m in np.nonzero(present & (resolution <= t))[0]:
                    p.manifestation_seen.setdefault(int(m), t)
        except simpy.Interrupt:
            return

    def _relapse(self, p: _Patient):  # type: ignore[no-untyped-def]
        return self.c.arms[int(self.c.arm[self.row, p.index])].disease.relapse

    def _still_active(self, p: _Patient, k: int, onset: float, t: float) -> bool:
        return bool(t < onset + self._relapse(p).untreated_resolution_months)

    def _detect(self, p: _Patient, k: int, t: float, how: int) -> None:
        p.detected[k] = (t, how)
        if self.rules.event_time == "observed" and not np.isfinite(p.first_event):
            self._count_first_event(p, t)
        resolution = t + self._relapse(p).rescue_resolution_months
        p.children.append(self.env.process(self._resolve_at(p, k, resolution)))

    def _resolve_at(self, p: _Patient, k: int, resolution: float):  # type: ignore[no-untyped-def]
        try:
            yield self._at(p.enrol + resolution)
        except simpy.Interrupt:
            return
        if not p.resolution_events[k].triggered:
            p.resolved[k] = resolution
            p.resolution_events[k].succeed(resolution)

    def _count_first_event(self, p: _Patient, t: float) -> None:
        p.first_event = t
        self.first_events += 1
        if self.rules.events is not None and self.first_events == self.rules.events:
            self.events_reached.succeed(p.enrol + t)

    def flares(self, p: _Patient):  # type: ignore[no-untyped-def]
        c, i = self.c, p.index
        relapse = self._relapse(p)
        units = self._value(c.relapse_units, i)
        frailty = self._value(c.frailty, i)
        previous = np.float64(0.0)
        try:
            for k in range(c.n_flares):
                if k > 0 and not relapse.recurrent:
                    return
                # A NumPy float or 0-d array (the rules work on arrays), used as a float.
                onset = cast(
                    float, next_onset(relapse.hazard, relapse.clock, previous, units[k], frailty)
                )
                if not np.isfinite(onset):
                    return
                yield self._at(p.enrol + onset)
                p.onset[k] = onset
                p.resolution_events[k] = self.env.event()
                if k == 0 and self.rules.event_time == "true":
                    self._count_first_event(p, onset)
                untreated_end = onset + relapse.untreated_resolution_months
                if relapse.detection == "immediate":
                    self._detect(p, k, onset, DETECTED_IMMEDIATELY)
                else:
                    delay = self._value(c.symptomatic_delay, i)[k]
                    symptom_visit = onset + delay
                    if self._value(c.symptomatic, i)[k] and symptom_visit < untreated_end:
                        p.children.append(
                            self.env.process(self._symptomatic_visit(p, k, symptom_visit))
                        )
                    p.children.append(self.env.process(self._untreated(p, k, untreated_end)))
                previous = yield p.resolution_events[k]
        except simpy.Interrupt:
            return

    def _symptomatic_visit(self, p: _Patient, k: int, t: float):  # type: ignore[no-untyped-def]
        try:
            yield self._at(p.enrol + t)
        except simpy.Interrupt:
            return
        if k not in p.detected:
            p.symptomatic_done.append(k)
            self._detect(p, k, t, DETECTED_SYMPTOMATIC)

    def _untreated(self, p: _Patient, k: int, untreated_end: float):  # type: ignore[no-untyped-def]
        try:
            yield self._at(p.enrol + untreated_end)
        except simpy.Interrupt:
            return
        if k not in p.detected and not p.resolution_events[k].triggered:
            p.resolved[k] = untreated_end
            p.resolution_events[k].succeed(untreated_end)

    # -- run --------------------------------------------------------------------------------------
    def run(self, out: Course) -> None:
        self.env.process(self.enrolment())
        self.env.process(self.cutoff())
        self.env.run(until=self.cut)
        self._record(out)

    def _record(self, out: Course) -> None:
        """Copy this trial's history into row ``row`` of the Course, keeping only what lies
        within each patient's follow-up (decided on the computed times, not the clock)."""
        r, c = self.row, self.c
        out.cutoff_month[r] = self.cut_month
        out.cutoff_reason[r] = self.cut_reason
        for p in self.patients:
            i = p.index
            if not p.enrol <= self.cut_month:
                continue
            own: np.ndarray | float
            reason: np.ndarray | np.integer
            if not p.ended or p.own_reason < 0:
                own, reason = own_end(
                    self._value(c.dropout_month, i),
                    self._value(c.death_month, i),
                    np.inf
                    if c.scenario.cutoff.max_follow_up_months is None
                    else c.scenario.cutoff.max_follow_up_months,
                    np.float64(c.scenario.study.max_duration_months) - p.enrol,
                )
            else:
                own, reason = np.float64(p.own_end), np.int8(p.own_reason)
            follow_up, end_reason = follow_up_at_cut(
                own, reason, p.enrol, self.cut_month, np.bool_(self.administrative), p.first_event
            )
            out.enrolled[r, i] = True
            out.follow_up[r, i] = follow_up
            out.end_reason[r, i] = end_reason
            for k, onset in p.onset.items():
                if onset > follow_up:
                    continue
                out.flare_onset[r, i, k] = onset
                relapse = self._relapse(p)
                if k in p.detected and p.detected[k][0] <= follow_up:
                    t, how = p.detected[k]
                    out.flare_detected[r, i, k] = t
                    out.detection_kind[r, i, k] = how
                    out.unscheduled_done[r, i, k] = k in p.symptomatic_done
                    resolution = t + relapse.rescue_resolution_months
                else:
                    resolution = onset + relapse.untreated_resolution_months
                out.flare_resolved[r, i, k] = resolution
            for v, t in p.visits_done:
                if t <= follow_up:
                    out.visit_done[r, i, v] = True
            if not np.isnan(p.response_seen) and p.response_seen <= follow_up:
                out.response_observed[r, i] = p.response_seen
            for m, t in p.manifestation_seen.items():
                if t <= follow_up:
                    out.manifestation_observed[r, i, m] = t


def empty_course(cohort: LatentCohort) -> Course:
    """A Course with nothing recorded yet (no patient enrolled)."""
    R, N = cohort.shape
    K, V = cohort.n_flares, cohort.n_visits
    M = cohort.baseline_manifestations.shape[-1]
    return Course(
        cutoff_month=np.full(R, np.nan),
        cutoff_reason=np.full(R, -1, dtype=np.int8),
        enrolled=np.zeros((R, N), dtype=bool),
        follow_up=np.full((R, N), np.nan),
        end_reason=np.full((R, N), -1, dtype=np.int8),
        flare_onset=np.full((R, N, K), np.inf),
        flare_detected=np.full((R, N, K), np.nan),
        detection_kind=np.full((R, N, K), NOT_DETECTED, dtype=np.int8),
        flare_resolved=np.full((R, N, K), np.inf),
        visit_done=np.zeros((R, N, V), dtype=bool),
        unscheduled_done=np.zeros((R, N, K), dtype=bool),
        response_observed=np.full((R, N), np.nan),
        manifestation_observed=np.full((R, N, M), np.nan),
    )


def simulate_course_des(cohort: LatentCohort) -> Course:
    """Simulate every replicate of ``cohort``, one SimPy environment per trial."""
    course = empty_course(cohort)
    for row in range(len(cohort.replicates)):
        _Trial(cohort, row).run(course)
    return course
