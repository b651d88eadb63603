"""Rules both engines share, written once so they cannot drift apart.

Each function works on NumPy scalars or arrays alike, with the same floating-point operations
(hence ``np.ndarray | float`` arguments: ``np.float64`` is a ``float``).
"""

from __future__ import annotations

import numpy as np

from cohortsim.course import END_DEATH, END_DROPOUT, END_MAX_FOLLOW_UP, END_STUDY
from cohortsim.hazards import Hazard


def next_onset(
    hazard: Hazard,
    clock: str,
    previous_resolution: np.ndarray | float,
    unit_exponential: np.ndarray | float,
    frailty: np.ndarray | float,
) -> np.ndarray:
    """Onset of the next flare, months since treatment start.

    With the ``gap`` clock the hazard restarts when the previous episode resolves; with the
    ``treatment`` clock it continues from where it stood. No hazard accrues during an episode.
    """
    with np.errstate(divide="ignore"):
        scaled = unit_exponential / frailty
    if clock == "gap":
        return previous_resolution + hazard.inverse_cumulative(scaled)
    # After a last flare the previous resolution is inf; H(inf) may be 0·inf for a hazard that
    # ends at rate 0. The onset is inf either way.
    with np.errstate(invalid="ignore"):
        return hazard.inverse_cumulative(hazard.cumulative(previous_resolution) + scaled)


def next_onset_exponential(
    rate_per_month: np.ndarray,
    clock: str,
    previous_resolution: np.ndarray,
    unit_exponential: np.ndarray,
    frailty: np.ndarray | None,
    all_rates_positive: bool = False,
) -> np.ndarray:
    """:func:`next_onset` for exponential hazards given per patient, with the very same
    floating-point operations as the single-period :class:`PiecewiseConstantHazard` path
    (``0 + (h − 0)/λ`` is ``h/λ`` exactly), so results are identical to the last bit.
    ``frailty=None`` means a multiplier of 1 for everyone (``h / 1`` is ``h`` exactly).
    A rate so small that ``h / λ`` overflows gives ``inf``: never, as it should.
    ``all_rates_positive=True`` tells that no rate is 0 (the caller checked the arms' rates,
    which spares a pass over the per-patient ones)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scaled = unit_exponential if frailty is None else unit_exponential / frailty
        if clock == "gap":
            gap = scaled / rate_per_month
            if not all_rates_positive and not np.all(rate_per_month > 0):
                gap = np.where(rate_per_month > 0, gap, np.inf)  # rate 0: never (x / 0: NaN)
            if np.ndim(previous_resolution) == 0 and previous_resolution == 0.0:
                # 0 + gap is gap to the last bit: gap is never -0.0 (a unit exponential, a
                # frailty and a rate are >= +0), and NaN + 0 is NaN.
                return np.asarray(gap)
            return previous_resolution + gap
        total = rate_per_month * previous_resolution + scaled
        return np.where(rate_per_month > 0, total / rate_per_month, np.inf)


def own_end(
    dropout: np.ndarray | float,
    death: np.ndarray | float,
    max_follow_up: float,
    months_left_in_study: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """A patient's end of follow-up ignoring the data cut-off, and its reason code.

    Ties go to the first of dropout, death, maximum follow-up, study end.
    """
    # Successive minima (not a stacked argmin): same result, no (4, R, N) temporary.
    end = np.asarray(dropout, dtype=float)
    reason = np.full(end.shape, END_DROPOUT, dtype=np.int8)
    for code, candidate in (
        (END_DEATH, death),
        (END_MAX_FOLLOW_UP, np.float64(max_follow_up)),
        (END_STUDY, months_left_in_study),
    ):
        earlier = candidate < end
        end = np.where(earlier, candidate, end)
        reason = np.where(earlier, np.int8(code), reason)
    return end, reason


def own_end_month(
    dropout: np.ndarray,
    death: np.ndarray,
    max_follow_up: float,
    months_left_in_study: np.ndarray,
) -> np.ndarray:
    """The end of follow-up of :func:`own_end` without its reason: the same comparisons in the
    same order, so the same floats. A 0-d ``+inf`` candidate is skipped: ``inf < end`` is never
    true, so it could not change ``end``."""
    end = np.asarray(dropout, dtype=float)
    for candidate in (death, np.float64(max_follow_up), months_left_in_study):
        if np.ndim(candidate) == 0 and candidate == np.inf:
            continue
        if np.ndim(end) == 0 and end == np.inf and not _has_nan(candidate):
            # where(candidate < inf, candidate, inf) is the candidate itself when it has no NaN
            # (-inf < inf too): one cheap check instead of a compare and a select.
            end = np.asarray(candidate, dtype=float)
            continue
        end = np.where(candidate < end, candidate, end)
    return end


def _has_nan(x: np.ndarray | float) -> bool:
    """Whether ``x`` holds a NaN: its minimum is NaN then (the minimum propagates NaN), and
    only then. One reduction, without the boolean temporary of ``isnan(x).any()``."""
    return bool(np.isnan(np.minimum.reduce(np.asarray(x), axis=None, initial=np.inf)))


def follow_up_at_cut(
    own_end_month: np.ndarray | float,
    own_reason: np.ndarray | np.integer,
    enrol_month: np.ndarray | float,
    cutoff_month: np.ndarray | float,
    administrative: np.ndarray | np.bool_,
    first_event_month: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Follow-up (months) and end reason once the data cut-off is known.

    An administrative cut ends follow-up at ``cutoff − enrolment`` for patients still followed.
    The first event that counted towards an event-driven cut (calendar time ≤ cut-off) always
    lies within follow-up — rounding in ``(enrol + t) − enrol`` must not push it out.
    """
    from cohortsim.course import END_CUTOFF

    follow_up, is_cut = cut_follow_up(
        own_end_month, enrol_month, cutoff_month, administrative, first_event_month
    )
    reason = np.where(is_cut, END_CUTOFF, own_reason).astype(np.int8)
    return follow_up, reason


def cut_follow_up(
    own_end_month: np.ndarray | float,
    enrol_month: np.ndarray | float,
    cutoff_month: np.ndarray | float,
    administrative: np.ndarray | np.bool_,
    first_event_month: np.ndarray | float,
    first_event_calendar: np.ndarray | float | None = None,
    months_to_cut: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The follow-up of :func:`follow_up_at_cut`, and whether the cut-off ended it (so its
    reason is the cut-off); for callers that need no end reason. ``first_event_calendar``, when
    the caller has it, must be ``enrol_month + first_event_month`` (it is not recomputed);
    likewise ``months_to_cut``, ``cutoff_month - enrol_month`` in an array the caller hands
    over (it is written into and returned as the follow-up)."""
    to_cut = cutoff_month - enrol_month if months_to_cut is None else months_to_cut
    # max(to_cut, the first event if it counted towards the cut) — written as a select on a mask
    # that is almost always False (the rounding case), which NumPy does several times faster
    # than one on the ~random "counted" mask; the same floats, NaN and inf included.
    if first_event_calendar is None:
        first_event_calendar = enrol_month + first_event_month
    later = np.greater(first_event_month, to_cut)
    later &= first_event_calendar <= cutoff_month  # counted towards the cut
    if later.any():  # the method: no np.any dispatch (later is an array or a NumPy bool)
        if isinstance(to_cut, np.ndarray) and to_cut.shape == later.shape and (
            to_cut.dtype == np.result_type(first_event_month, to_cut)
        ):
            # where(later, first, to_cut) written into to_cut, this call's own array: the same
            # floats, and a sparse masked copy costs a fraction of a full select.
            np.copyto(to_cut, first_event_month, where=later)
        else:
            to_cut = np.where(later, first_event_month, to_cut)
    is_cut = np.less(to_cut, own_end_month)
    if not administrative.all():  # usually every cut is administrative
        is_cut = is_cut & administrative
    if isinstance(to_cut, np.ndarray) and to_cut.shape == is_cut.shape:
        # where(is_cut, to_cut, own_end) written into to_cut, an array of this call's own;
        # nothing to write when the cut-off ends everyone's follow-up (the usual case).
        if not is_cut.all():
            np.copyto(to_cut, own_end_month, where=~is_cut)
        return to_cut, is_cut
    return np.where(is_cut, to_cut, own_end_month), np.asarray(is_cut)
