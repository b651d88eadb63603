"""The vectorised engine: a :class:`Course` for many replicates at once, with array operations.

There is no Python loop over patients or replicates: the loops here run over flare slots
(``K``, a handful), arms and cut-off rules. The SimPy engine (:mod:`cohortsim.engine.des`) is the
readable reference; tests hold the two to identical output.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

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
from cohortsim.engine.rules import (
    cut_follow_up,
    follow_up_at_cut,
    next_onset,
    next_onset_exponential,
    own_end,
    own_end_month,
)
from cohortsim.hazards import PiecewiseConstantHazard, is_zero
from cohortsim.scenario.types import MANIFESTATIONS


def _arm_exponential_rates(cohort: LatentCohort) -> list[float] | None:
    """Each arm's relapse rate per month when every arm's hazard is exponential with one
    clock, else None."""
    relapses = [arm.disease.relapse for arm in cohort.arms]
    rates = []
    for r in relapses:
        if not (isinstance(r.hazard, PiecewiseConstantHazard)
                and len(r.hazard.rates_per_month) == 1):
            return None
        rates.append(r.hazard.rates_per_month[0])
    return rates if len({r.clock for r in relapses}) == 1 else None


def _exponential_rates(cohort: LatentCohort) -> np.ndarray | None:
    """Per-patient relapse rates when every arm's hazard is exponential with one clock, else
    None (then each arm's hazard is inverted on its own patients)."""
    rates = _arm_exponential_rates(cohort)
    if rates is None:
        return None
    return _arm_values(cohort, rates)


class _NextVisit:
    """First done visit at or after a time: ``inf`` if none. Visits are sorted in time, so the
    answer is a suffix minimum of the done visits' times, computed once per set of visits."""

    def __init__(self, visit_time: np.ndarray, done: np.ndarray) -> None:
        self.visit_time = visit_time
        done_time = np.where(done, visit_time, np.inf)
        later_min = np.minimum.accumulate(done_time[..., ::-1], axis=-1)[..., ::-1]
        pad = np.full((*later_min.shape[:-1], 1), np.inf)
        self.later_min = np.concatenate([later_min, pad], axis=-1)

    def at(self, t: np.ndarray) -> np.ndarray:
        if self.visit_time.shape[-1] == 0:
            return np.full(t.shape, np.inf)
        first = np.sum(self.visit_time < t[..., None], axis=-1)
        return np.take_along_axis(self.later_min, first[..., None], axis=-1)[..., 0]


def _per_arm(cohort: LatentCohort, getter) -> np.ndarray:  # type: ignore[no-untyped-def]
    """An arm-level parameter per patient; a 0-d array (broadcasts) when all arms agree."""
    return _arm_values(cohort, [getter(arm) for arm in cohort.arms])


def _arm_values(cohort: LatentCohort, arm_values: list[float]) -> np.ndarray:
    """Per patient, the value of their arm (``arm_values`` in the order of the arms); a 0-d
    array (broadcasts) when all arms agree."""
    values = np.asarray(arm_values, dtype=float)
    if (values == values[0]).all():
        return values[0:1].reshape(())
    if len(values) == 2 and _two_values_by_step(values.tobytes()):
        # Two arms, coded 0 and 1: value 0 + code × (value 1 − value 0) is the arm's value
        # itself (checked), from a conversion and two in-place passes instead of an index
        # conversion and a gather.
        per_patient = cohort.arm.astype(float)
        per_patient *= values[1] - values[0]
        per_patient += values[0]
        return per_patient
    # Indexing with intp is several times faster than with the int8 codes themselves, and
    # np.take faster still than indexing (the same values).
    return np.take(values, cohort.arm.astype(np.intp))


@functools.lru_cache(maxsize=64)
def _two_values_by_step(values_bytes: bytes) -> bool:
    """Whether ``v0 + c × (v1 − v0)``, computed as :func:`_arm_values` does (float64 product,
    then sum), gives ``v0`` for ``c = 0`` and ``v1`` for ``c = 1``, bit for bit: it does for
    most pairs (Sterbenz: the difference is exact when the values are within a factor 2 of
    each other), not for all. Checked with those very operations on the two codes; keyed by
    the values' bytes, so ``-0.0`` and NaN payloads count."""
    values = np.frombuffer(values_bytes, dtype=np.float64)
    codes = np.array([0.0, 1.0])
    codes *= values[1] - values[0]
    codes += values[0]
    return bool(np.array_equal(codes.view(np.int64), values.view(np.int64)))


def _flare_start(
    cohort: LatentCohort,
    k: int,
    previous: np.ndarray,
    exponential_rate: np.ndarray | None,
    frailty: np.ndarray | None,
    recurrent: np.ndarray,
) -> np.ndarray:
    """Onset of flare ``k`` (months since treatment start) ignoring follow-up, given the
    resolution of flare ``k - 1`` (0 for the first flare); ``inf`` after a non-recurrent one.

    ``exponential_rate`` is :func:`_exponential_rates`; ``frailty`` is None without frailty.
    """
    units = cohort.relapse_units
    if exponential_rate is not None:
        clock = cohort.arms[0].disease.relapse.clock
        positive = all(rate > 0 for rate in _arm_exponential_rates(cohort) or ())
        start = next_onset_exponential(
            exponential_rate, clock, previous, units[..., k], frailty, positive
        )
    else:
        start = np.full(cohort.shape, np.inf)
        for a, arm in enumerate(cohort.arms):
            here = cohort.arm == a
            relapse = arm.disease.relapse
            start[here] = next_onset(
                relapse.hazard,
                relapse.clock,
                previous[here],
                units[..., k][here],
                cohort.frailty[here],
            )
    if k > 0:
        start = np.where(recurrent, start, np.inf)
    return start


def _flares(cohort: LatentCohort, own_end_month: np.ndarray, visit_ok: np.ndarray):  # type: ignore[no-untyped-def]
    """Flare onsets, detections and resolutions, ignoring the data cut-off."""
    shape = (*cohort.shape, cohort.n_flares)
    onset = np.full(shape, np.inf)
    detected = np.full(shape, np.inf)
    kind = np.full(shape, NOT_DETECTED, dtype=np.int8)
    resolved = np.full(shape, np.inf)
    symptomatic_visit = np.zeros(shape, dtype=bool)

    untreated = _per_arm(cohort, lambda a: a.disease.relapse.untreated_resolution_months)
    rescue = _per_arm(cohort, lambda a: a.disease.relapse.rescue_resolution_months)
    immediate = _per_arm(cohort, lambda a: a.disease.relapse.detection == "immediate") > 0
    recurrent = _per_arm(cohort, lambda a: a.disease.relapse.recurrent) > 0
    # Without frailty every multiplier is 1 and x / 1 is x exactly: skip the array of ones.
    no_frailty = all(a.disease.relapse.frailty_variance == 0 for a in cohort.arms)
    frailty = None if no_frailty else cohort.frailty
    visit_time = cohort.visit_time if cohort.n_visits else np.zeros((*cohort.shape, 0))
    exponential_rate = _exponential_rates(cohort)

    next_visit = _NextVisit(visit_time, visit_ok)
    previous = np.zeros(cohort.shape)
    for k in range(cohort.n_flares):
        start = _flare_start(cohort, k, previous, exponential_rate, frailty, recurrent)
        live = start <= own_end_month
        if immediate.all():
            onset[..., k] = np.where(live, start, np.inf)
            detected[..., k] = onset[..., k]
            kind[..., k] = np.where(live, DETECTED_IMMEDIATELY, NOT_DETECTED)
            end_of_episode = start + rescue
            resolved[..., k] = np.where(live, end_of_episode, np.inf)
            previous = np.where(live, end_of_episode, np.inf)
            continue
        active_until = start + untreated
        symptomatic, delay = cohort.symptomatic, cohort.symptomatic_delay
        scheduled = next_visit.at(start)
        scheduled = np.where(
            (scheduled < active_until) & (scheduled <= own_end_month), scheduled, np.inf
        )
        symptom_visit = start + delay[..., k]
        use_symptom = (
            symptomatic[..., k]
            & (symptom_visit < active_until)
            & (symptom_visit <= own_end_month)
            & (symptom_visit < scheduled)
        )
        found = np.where(use_symptom, symptom_visit, scheduled)
        how = np.where(use_symptom, DETECTED_SYMPTOMATIC, DETECTED_SCHEDULED)
        found = np.where(immediate, start, found)
        how = np.where(immediate, DETECTED_IMMEDIATELY, how)
        is_detected = live & np.isfinite(found)
        onset[..., k] = np.where(live, start, np.inf)
        detected[..., k] = np.where(is_detected, found, np.inf)
        kind[..., k] = np.where(is_detected, how, NOT_DETECTED)
        symptomatic_visit[..., k] = live & use_symptom & ~immediate
        end_of_episode = np.where(is_detected, found + rescue, active_until)
        resolved[..., k] = np.where(live, end_of_episode, np.inf)
        # A flare that starts after follow-up ends stops the chain; inf propagates from here.
        previous = np.where(live, end_of_episode, np.inf)
    return onset, detected, kind, resolved, symptomatic_visit


def _cutoff(
    cohort: LatentCohort,
    own_end_month: np.ndarray,
    first_event_calendar: np.ndarray,
    own_end_above_minus_inf: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calendar cut-off per replicate, its reason, and whether it is administrative.

    ``own_end_above_minus_inf=True`` tells that ``own_end_month`` holds neither NaN nor
    ``-inf`` (the caller checked; see :func:`_administrative_cut`).
    """
    rules = cohort.scenario.cutoff
    replicates = len(cohort.replicates)
    fired: list[tuple[int, np.ndarray]] = []
    if rules.calendar_month is not None:
        fired.append((CUT_CALENDAR, np.full(replicates, rules.calendar_month)))
    if rules.months_after_last_enrolment is not None:
        last = cohort.enrol_month.max(axis=1)
        fired.append((CUT_AFTER_LAST, last + rules.months_after_last_enrolment))
    if rules.events is not None:
        if rules.events <= cohort.n_patients:
            kth = rules.events - 1
            # The k-th smallest by a full sort: the same value as np.partition's, and
            # NumPy's vectorised sort of short rows is faster than its partition.
            at = np.sort(first_event_calendar, axis=1)[:, kth]
        else:
            at = np.full(replicates, np.inf)
        fired.append((CUT_EVENTS, at))
    done_reason = CUT_MAX_FOLLOW_UP if rules.max_follow_up_months is not None else CUT_STUDY_END
    if not fired:
        return (
            _everyone_done(cohort.enrol_month, own_end_month),
            np.full(replicates, done_reason, dtype=np.int8),
            np.zeros(replicates, bool),
        )
    if len(fired) == 1:  # one rule: it is the rule's time (no stacking, no arg-minimum)
        rule_code, rule_time = fired[0]
        rule_codes: np.ndarray | int = rule_code
    else:
        times = np.stack([t for _, t in fired])
        codes = np.array([c for c, _ in fired], dtype=np.int8)
        which = np.argmin(times, axis=0) if rules.combine == "first" else np.argmax(times, axis=0)
        rule_time = times[which, np.arange(replicates)]
        rule_codes = codes[which]
    administrative, cut = _administrative_cut(
        rule_time, cohort.enrol_month, own_end_month, own_end_above_minus_inf
    )
    reason = np.where(administrative, rule_codes, done_reason).astype(np.int8)
    return cut, reason, administrative


def _everyone_done(enrol: np.ndarray, own_end_month: np.ndarray) -> np.ndarray:
    """Per replicate, the calendar month when the last patient's own follow-up ends."""
    return (enrol + own_end_month).max(axis=1)


def _administrative_cut(
    rule_time: np.ndarray,
    enrol: np.ndarray,
    own_end_month: np.ndarray,
    own_end_above_minus_inf: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``administrative = rule_time < everyone_done`` and ``cut = where(administrative,
    rule_time, everyone_done)``, with :func:`_everyone_done` computed only where it is needed.

    Rounding is monotone, so every patient's ``enrol + own_end`` is at most the row's maximum:
    a rule time below patient 0's one is below ``everyone_done`` — unless the row holds a NaN,
    which the maximum propagates (``x < NaN`` is False). Hence the shortcut needs both arrays
    free of NaN and of ``-inf`` (``+inf + -inf`` is NaN; any other sum of such values is not),
    which two minima check (one when the caller has checked ``own_end_month``:
    ``own_end_above_minus_inf``). Rows the bound leaves undecided (and rows where ``cut`` is
    ``everyone_done``) get the maximum itself, over their own patients only.
    """
    ends = (
        own_end_month
        if own_end_month.shape == enrol.shape
        else np.broadcast_to(own_end_month, enrol.shape)
    )
    if (
        enrol.ndim != 2
        or enrol.shape[1] == 0
        or not _above_minus_inf(enrol)
        or not (own_end_above_minus_inf or _above_minus_inf(ends))
    ):
        everyone_done = _everyone_done(enrol, ends)
        administrative = rule_time < everyone_done
        return administrative, np.where(administrative, rule_time, everyone_done)
    administrative = rule_time < enrol[:, 0] + ends[:, 0]
    cut = np.array(rule_time, dtype=np.result_type(rule_time, enrol, ends), copy=True)
    undecided = np.flatnonzero(~administrative)
    if undecided.size:
        done = _everyone_done(enrol[undecided], ends[undecided])
        administrative[undecided] = rule_time[undecided] < done
        cut[undecided] = np.where(administrative[undecided], rule_time[undecided], done)
    return administrative, cut


def _above_minus_inf(x: np.ndarray) -> bool:
    """Whether ``x`` has neither NaN nor ``-inf`` (the minimum propagates NaN): one pass."""
    return bool(np.minimum.reduce(x, axis=None, initial=np.inf) > -np.inf)


def _competing_month(cohort: LatentCohort, pick: str, attribute: str) -> np.ndarray:
    """The cohort's dropout or death months; a 0-d ``inf`` when no arm has the hazard (the
    cohort's array would be all ``inf``: same minima in :func:`own_end`, no full-size work)."""
    if all(is_zero(getattr(arm, pick)) for arm in cohort.arms):
        return np.asarray(np.inf)
    return getattr(cohort, attribute)


def _own_end_arguments(
    cohort: LatentCohort,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Arguments of :func:`own_end` (dropout, death, maximum follow-up, months left in the
    study), shared by both vectorised paths."""
    max_follow_up = cohort.scenario.cutoff.max_follow_up_months
    return (
        _competing_month(cohort, "dropout_hazard", "dropout_month"),
        _competing_month(cohort, "death_hazard", "death_month"),
        np.inf if max_follow_up is None else max_follow_up,
        cohort.scenario.study.max_duration_months - cohort.enrol_month,
    )


def simulate_course_vector(cohort: LatentCohort) -> Course:
    """Simulate every replicate of ``cohort`` with array operations."""
    scenario = cohort.scenario
    enrol = cohort.enrol_month
    own_end_month, own_reason = own_end(*_own_end_arguments(cohort))
    if cohort.n_visits:
        visit_time = cohort.visit_time
        visit_ok = ~cohort.visit_missed & (visit_time <= own_end_month[..., None])
    else:
        visit_time = np.zeros((*cohort.shape, 0))
        visit_ok = np.zeros((*cohort.shape, 0), dtype=bool)

    onset, detected, kind, resolved, symptomatic_visit = _flares(cohort, own_end_month, visit_ok)

    # The first relapse observed is the earliest detected flare (flare 1 may resolve unseen).
    first = detected.min(axis=-1) if scenario.cutoff.event_time == "observed" else onset[..., 0]
    first_calendar = np.where(np.isfinite(first), enrol + first, np.inf)
    cut, cut_reason, administrative = _cutoff(cohort, own_end_month, first_calendar)

    enrolled = enrol <= cut[:, None]
    follow_up, end_reason = follow_up_at_cut(
        own_end_month,
        own_reason,
        enrol,
        cut[:, None],
        administrative[:, None],
        np.where(np.isfinite(first), first, np.inf),
    )
    follow_up = np.where(enrolled, follow_up, np.nan)
    end_reason = np.where(enrolled, end_reason, np.int8(-1)).astype(np.int8)  # as the DES engine

    within = (onset <= follow_up[..., None]) & enrolled[..., None]
    onset = np.where(within, onset, np.inf)
    seen = within & (detected <= follow_up[..., None])
    detected = np.where(seen, detected, np.nan)
    kind = np.where(seen, kind, NOT_DETECTED).astype(np.int8)
    # Episodes not detected within follow-up are recorded as running their untreated course
    # (a detection after the cut-off is not part of the data); both engines use this rule.
    untreated = _per_arm(cohort, lambda a: a.disease.relapse.untreated_resolution_months)
    rescue = _per_arm(cohort, lambda a: a.disease.relapse.rescue_resolution_months)
    resolved = np.where(seen, detected + rescue[..., None], onset + untreated[..., None])
    resolved = np.where(within, resolved, np.inf)
    unscheduled_done = symptomatic_visit & seen

    visit_done = visit_ok & (visit_time <= follow_up[..., None])
    response_observed, manifestation_observed = _first_seen(cohort, visit_time, visit_done)
    return Course(
        cutoff_month=cut,
        cutoff_reason=cut_reason,
        enrolled=enrolled,
        follow_up=follow_up,
        end_reason=end_reason,
        flare_onset=onset,
        flare_detected=detected,
        detection_kind=kind,
        flare_resolved=resolved,
        visit_done=visit_done,
        unscheduled_done=unscheduled_done,
        response_observed=response_observed,
        manifestation_observed=manifestation_observed,
    )


def _first_seen(
    cohort: LatentCohort, visit_time: np.ndarray, visit_done: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First done visit at or after the time to response and each manifestation's resolution
    (NaN when never seen). Outside the lupus model there is neither: constant views, no work."""
    if not cohort.is_sle:
        return (
            np.broadcast_to(np.nan, cohort.shape),
            np.broadcast_to(np.nan, (*cohort.shape, len(MANIFESTATIONS))),
        )
    done_visit = _NextVisit(visit_time, visit_done)
    response_at = done_visit.at(cohort.time_to_response)
    responds = cohort.response_class < 2
    response_observed = np.where(responds & np.isfinite(response_at), response_at, np.nan)
    resolution = cohort.manifestation_resolution
    manifestation_at = np.stack(
        [done_visit.at(resolution[..., m]) for m in range(resolution.shape[-1])], axis=-1
    )
    present = cohort.baseline_manifestations & np.isfinite(resolution)
    manifestation_observed = np.where(
        present & np.isfinite(manifestation_at), manifestation_at, np.nan
    )
    return response_observed, manifestation_observed


# --------------------------------------------------------------------------- relapses only


class Relapses(NamedTuple):
    """What the per-patient endpoints of the time-to-event model take from a :class:`Course`:
    the same arrays, without the rest of it (see :func:`simulate_relapses_vector`)."""

    cutoff_month: np.ndarray
    """(R,) ``Course.cutoff_month``."""
    enrolled: np.ndarray
    """(R, N) ``Course.enrolled``."""
    follow_up: np.ndarray
    """(R, N) ``Course.follow_up`` (NaN when not enrolled)."""
    observed: np.ndarray
    """(R, N) bool: a flare was detected within follow-up (``enrolled &
    isfinite(Course.first_detection())``)."""
    relapse_time: np.ndarray
    """(R, N): the first detection if ``observed``, else ``follow_up``."""
    flares: np.ndarray
    """(R, N) float: flares detected within follow-up (``isfinite(flare_detected).sum(-1)``)."""


def relapses_only(cohort: LatentCohort) -> bool:
    """Whether :func:`simulate_relapses_vector` applies: the time-to-event model (no lupus
    parts, so nothing else is measured) with every arm's flares detected when they start."""
    return not cohort.is_sle and all(
        arm.disease.relapse.detection == "immediate" for arm in cohort.arms
    )


def simulate_relapses_vector(cohort: LatentCohort) -> Relapses:
    """The relapse part of :func:`simulate_course_vector`, for a cohort where
    :func:`relapses_only` holds: identical arrays, from fewer operations.

    With immediate detection a flare is detected at its onset, so the detection times, kinds and
    resolutions of the general path add nothing; end reasons, visits and the lupus quantities
    are not needed either. What remains is computed by the same functions with the same
    arguments (:func:`_flare_start`, :func:`_cutoff`, the rules of
    :mod:`cohortsim.engine.rules`), or by shortcuts that do the same floating-point operations
    on the same operands (:func:`_relapse_own_end`, :func:`_relapse_onsets`,
    :func:`_started_within`), so every float is the same; tests compare the two paths on every
    shipped scenario where this applies and on generated ones, and each shortcut with the
    formula it replaces (``tests/engine/test_engine_fast_paths.py``).
    """
    if not relapses_only(cohort):
        raise ValueError(
            "simulate_relapses_vector needs the time-to-event model with "
            "immediate detection in every arm"
        )
    scenario = cohort.scenario
    enrol = cohort.enrol_month
    own_end_at, own_end_above_minus_inf = _relapse_own_end(cohort)
    onsets = _relapse_onsets(cohort, own_end_at)

    # The first relapse: the earliest detected flare (= earliest onset) or flare 1's onset.
    # min over a single flare is that flare's value: no stacking needed.
    if scenario.cutoff.event_time == "observed" and len(onsets) > 1:
        first = np.stack(onsets, axis=-1).min(axis=-1)
    else:
        first = onsets[0]
    # Onsets are finite or +inf (never NaN: a NaN start is not <= own_end_at), and enrolment is
    # finite or +inf, so the general path's where(isfinite(first), …, inf) selects change
    # nothing here: the same floats from fewer passes.
    first_calendar = enrol + first
    cut, _, administrative = _cutoff(
        cohort, own_end_at, first_calendar, own_end_above_minus_inf
    )

    to_cut = cut[:, None] - enrol
    enrolled = _enrolled(enrol, cut, to_cut)
    everyone_enrolled = bool(enrolled.all())
    follow_up, _ = cut_follow_up(
        own_end_at, enrol, cut[:, None], administrative[:, None], first, first_calendar, to_cut
    )
    if not everyone_enrolled:
        follow_up = np.where(enrolled, follow_up, np.nan)
    # A flare is seen when it starts within follow-up (its detection is its onset).
    if len(onsets) == 1:
        onset = onsets[0]
        # The first detection is the onset where the flare is seen, NaN elsewhere; what the
        # endpoints take from it, without building it: observed = enrolled & isfinite(first
        # detection), and the relapse time where(observed, first detection, follow_up), which is
        # the smaller of onset and follow-up (NaN, propagated, when not enrolled).
        observed = _started_within(onset, follow_up)
        if not everyone_enrolled:
            observed &= enrolled
        relapse_time = np.minimum(onset, follow_up)
        flares = observed.astype(float)
    else:
        detected = [np.where((onset <= follow_up) & enrolled, onset, np.nan) for onset in onsets]
        stacked = np.stack(detected, axis=-1)
        first_detection = np.fmin.reduce(stacked, axis=-1)
        flares = np.isfinite(stacked).sum(axis=-1).astype(float)
        observed = enrolled & np.isfinite(first_detection)
        relapse_time = np.where(observed, first_detection, follow_up)
    return Relapses(cut, enrolled, follow_up, observed, relapse_time, flares)


def _enrolled(enrol: np.ndarray, cut: np.ndarray, to_cut: np.ndarray) -> np.ndarray:
    """``enrol <= cut[:, None]``, given ``to_cut = cut[:, None] - enrol``.

    When no cut-off is infinite (``inf - inf`` is NaN) that is ``to_cut >= 0``: the difference
    of two finite floats is 0 only for equal ones and otherwise has the sign of the exact
    difference (gradual underflow, monotone rounding), and an infinite or NaN enrolment gives
    ``-inf``, ``+inf`` or NaN, which compare as the enrolment does. A comparison of two
    (R, N) arrays, which NumPy does several times faster than one against a broadcast column.
    """
    if np.isinf(cut).any():
        return enrol <= cut[:, None]
    return np.greater_equal(to_cut, 0.0)


def _started_within(onset: np.ndarray, follow_up: np.ndarray) -> np.ndarray:
    """``(onset <= follow_up) & isfinite(onset)``, a fresh array.

    An infinite onset is within an infinite follow-up only: without one (the largest follow-up
    is finite; a NaN, propagated by the maximum, takes the long way) the comparison alone
    already leaves out every flare that never starts, and the finiteness pass is skipped.
    """
    observed = np.less_equal(onset, follow_up)
    if not _max_below_inf(follow_up):
        observed &= np.isfinite(onset)
    return observed


def _max_below_inf(x: np.ndarray) -> bool:
    """Whether ``x`` has neither NaN nor ``+inf`` (the maximum propagates NaN): one pass."""
    return bool(np.maximum.reduce(x, axis=None, initial=-np.inf) < np.inf)


def _relapse_own_end(cohort: LatentCohort) -> tuple[np.ndarray, bool]:
    """:func:`own_end_month` of the cohort, and whether it holds neither NaN nor ``-inf``.

    Without dropout, death or a maximum follow-up, :func:`own_end_month` returns the months
    left in the study when they hold no NaN: here one minimum both checks that and tells
    whether they reach ``-inf`` (for :func:`_administrative_cut`), where otherwise the two
    functions would each make a pass.
    """
    dropout, death, max_follow_up, left = _own_end_arguments(cohort)
    if (
        dropout.ndim == 0
        and death.ndim == 0
        and dropout == np.inf
        and death == np.inf
        and max_follow_up == np.inf
        and left.dtype == np.float64
    ):
        low = np.minimum.reduce(left, axis=None, initial=np.inf)
        if not np.isnan(low):
            return left, bool(low > -np.inf)
    return own_end_month(dropout, death, max_follow_up, left), False


def _relapse_onsets(cohort: LatentCohort, own_end_at: np.ndarray) -> list[np.ndarray]:
    """Each flare's onset where it starts within the patient's own follow-up, ``inf``
    otherwise: ``_flares``' onsets when every flare is detected as it starts."""
    rates = _arm_exponential_rates(cohort)
    no_frailty = all(a.disease.relapse.frailty_variance == 0 for a in cohort.arms)
    frailty = None if no_frailty else cohort.frailty
    if (
        cohort.n_flares == 1
        and rates is not None
        and all(rate > 0 for rate in rates)
        and cohort.arms[0].disease.relapse.clock == "gap"
    ):
        # One flare, exponential hazards with positive rates, the gap clock: the onset is
        # next_onset_exponential's gap itself (its previous resolution is 0, and 0 + gap is
        # gap), the unit exponential over the rate, here divided into the per-patient rates'
        # own fresh array instead of a new one.
        rate = _arm_values(cohort, rates)
        units = cohort.relapse_units[..., 0]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scaled = units if frailty is None else units / frailty
            if rate.shape == cohort.shape:
                start = np.divide(scaled, rate, out=rate)
            else:
                start = np.asarray(scaled / rate)
        return [_within_own_follow_up(cohort, start, own_end_at)]

    if cohort.n_flares > 1:
        rescue = _per_arm(cohort, lambda a: a.disease.relapse.rescue_resolution_months)
        recurrent = _per_arm(cohort, lambda a: a.disease.relapse.recurrent) > 0
    else:  # used from a second flare on only: spare the per-arm lookups
        rescue, recurrent = np.zeros(()), np.zeros((), dtype=bool)
    exponential_rate = None if rates is None else _arm_values(cohort, rates)
    onsets = []
    # With exponential hazards a 0-d 0 serves as the first flare's "previous resolution" of
    # everyone (0 + gap is gap exactly); other hazards index it per arm.
    previous = np.zeros(() if exponential_rate is not None else cohort.shape)
    for k in range(cohort.n_flares):
        start = _flare_start(cohort, k, previous, exponential_rate, frailty, recurrent)
        live = start <= own_end_at
        onsets.append(_within_own_follow_up(cohort, start, own_end_at, live))
        if k + 1 < cohort.n_flares:
            previous = np.where(live, start + rescue, np.inf)
    return onsets


def _within_own_follow_up(
    cohort: LatentCohort,
    start: np.ndarray,
    own_end_at: np.ndarray,
    live: np.ndarray | None = None,
) -> np.ndarray:
    """``where(live, start, inf)`` with ``live = start <= own_end_at``, written into ``start``
    when it is a fresh full-size array (the caller no longer needs its values where not
    live), into a copy otherwise. A ``live`` given is left as it is."""
    if live is None:  # a mask of this call's own: inverted in place
        live = start <= own_end_at
        not_live = np.logical_not(live, out=live)
    else:
        not_live = ~live
    onset = start if start.shape == cohort.shape else np.broadcast_to(start, cohort.shape)
    onset = onset if onset.flags.writeable else onset.copy()
    np.copyto(onset, np.inf, where=not_live)
    return onset
