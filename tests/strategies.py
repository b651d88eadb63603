"""Hypothesis strategies that generate VALID scenarios, for property tests.

Every dict drawn from :func:`scenario_dicts` loads with
:func:`cohortsim.scenario.scenario_from_dict` (tests/scenario checks it). The draws cover small
trials (1-40 patients), 1-3 arms with random allocation, both accrual kinds (window by months or
by dates, piecewise Poisson), random visit schedules with non-overlapping windows (with and
without repeats), hazards in every form (hazard ratios between arms included, without cycles),
dropout and death, every cut-off rule and both combine modes, both disease models, and
stratification.

Usage in a property test::

    from hypothesis import given, settings
    from strategies import scenarios      # tests/ is on sys.path (see tests/scenario/conftest.py)

    @settings(max_examples=50, deadline=None)
    @given(scenarios())
    def test_visits_are_ordered(scenario): ...
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from cohortsim.scenario import Scenario, scenario_from_dict
from cohortsim.scenario.types import MANIFESTATIONS, STRATIFICATION_FACTORS

ARM_NAMES = ("control", "treatment", "msc", "soc", "low_dose", "high_dose", "arm_3")

DAYS_PER_MONTH = 365.25 / 12


def _floats(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def _steps(low: int, high: int, step: float = 0.05) -> st.SearchStrategy[float]:
    """Multiples of ``step`` (rounded), so that sums of them keep clear margins."""
    return st.integers(low, high).map(lambda k: round(k * step, 6))


# -- hazards -----------------------------------------------------------------------------------
HAZARD_FORMS = (
    "rate",
    "median",
    "mean",
    "event_free",
    "probability",
    "piecewise",
    "weibull",
    "weibull_median",
)


@st.composite
def hazard_specs(
    draw: st.DrawFn,
    reference_arms: Sequence[str] | None = None,
    forms: Sequence[str] = HAZARD_FORMS,
) -> dict[str, Any]:
    """A hazard spec table in a random form.

    With ``reference_arms`` (a list, possibly empty) the hazard-ratio form is possible too,
    relative to one of those arms or (without ``reference_arm``) to the scenario-level hazard.
    """
    choices = list(forms) + (["ratio"] if reference_arms is not None else [])
    form = draw(st.sampled_from(choices))
    if form == "rate":
        return {"rate_per_month": draw(_floats(0.0, 0.5))}
    if form == "median":
        return {"median_months": draw(_floats(0.5, 120.0))}
    if form == "mean":
        return {"mean_months": draw(_floats(0.5, 120.0))}
    if form == "event_free":
        return {
            "event_free_probability": draw(_floats(0.01, 1.0)),
            "at_months": draw(_floats(1.0, 60.0)),
        }
    if form == "probability":
        return {"probability": draw(_floats(0.0, 0.95)), "by_months": draw(_floats(1.0, 60.0))}
    if form == "piecewise":
        n = draw(st.integers(1, 4))
        spec: dict[str, Any] = {
            "rates_per_month": draw(st.lists(_floats(0.0, 0.5), min_size=n, max_size=n))
        }
        if n > 1 or draw(st.booleans()):
            spec["durations_months"] = draw(
                st.lists(_floats(0.5, 24.0), min_size=n - 1, max_size=n - 1)
            )
        return spec
    if form == "weibull":
        return {
            "weibull_shape": draw(_floats(0.3, 4.0)),
            "weibull_scale_months": draw(_floats(1.0, 120.0)),
        }
    if form == "weibull_median":
        return {
            "weibull_shape": draw(_floats(0.3, 4.0)),
            "median_months": draw(_floats(1.0, 120.0)),
        }
    spec = {"hazard_ratio": draw(_floats(0.1, 5.0))}
    if reference_arms and draw(st.booleans()):
        spec["reference_arm"] = draw(st.sampled_from(list(reference_arms)))
    return spec


# -- sections ----------------------------------------------------------------------------------
@st.composite
def visit_tables(draw: st.DrawFn) -> dict[str, Any]:
    """A visit schedule whose windows never overlap (also with repeats)."""
    n = draw(st.integers(1, 6))
    single = draw(st.booleans())
    if single:
        w = draw(_steps(0, 10))
        windows = [w] * n
    else:
        windows = draw(st.lists(_steps(0, 10), min_size=n, max_size=n))
    gaps = draw(st.lists(_steps(1, 40), min_size=n, max_size=n))
    t = windows[0] + gaps[0]
    nominal = [t]
    for i in range(1, n):
        t = t + windows[i - 1] + gaps[i] + windows[i]
        nominal.append(t)
    table: dict[str, Any] = {
        "schedule_months": [round(x, 4) for x in nominal],
        "window_months": windows[0] if single else windows,
        "missed_probability": draw(_floats(0.0, 0.5)),
    }
    if draw(st.booleans()):
        repeat_window = draw(_steps(0, 10))
        floor = max(2 * repeat_window, windows[-1] + repeat_window)
        table["repeat_every_months"] = round(floor + draw(_steps(1, 120)), 4)
        table["repeat_window_months"] = repeat_window
    return table


@st.composite
def accrual_tables(draw: st.DrawFn, start_date: _dt.date) -> dict[str, Any]:
    """Accrual of either kind, ending well within 36 months (the shortest study drawn)."""
    kind = draw(st.sampled_from(["window", "piecewise"]))
    if kind == "piecewise":
        n = draw(st.integers(1, 3))
        return {
            "kind": "piecewise",
            "rates_per_month": draw(st.lists(_floats(0.5, 10.0), min_size=n, max_size=n)),
            "durations_months": draw(st.lists(_floats(0.5, 12.0), min_size=n - 1, max_size=n - 1)),
        }
    table: dict[str, Any] = {"kind": "window"}
    if draw(st.booleans()):
        first = start_date + _dt.timedelta(days=draw(st.integers(0, 180)))
        last = first + _dt.timedelta(days=draw(st.integers(15, 700)))
        table["start_date"] = first
        table["end_date"] = last.isoformat() if draw(st.booleans()) else last
    else:
        start = draw(_floats(0.0, 6.0))
        if draw(st.booleans()):
            table["start_month"] = start
        table["end_month"] = start + draw(_floats(0.5, 24.0))
    if draw(st.booleans()):
        table["density_ratio_end_to_start"] = draw(_floats(0.1, 10.0))
    return table


@st.composite
def cutoff_tables(draw: st.DrawFn, start_date: _dt.date, n_patients: int) -> dict[str, Any]:
    """Any subset of the cut-off rules (each within a 36-month study), either combine mode."""
    table: dict[str, Any] = {}
    calendar = draw(st.sampled_from([None, "date", "month"]))
    if calendar == "date":
        table["calendar_date"] = start_date + _dt.timedelta(days=draw(st.integers(1, 1080)))
    elif calendar == "month":
        table["calendar_month"] = draw(_floats(0.1, 36.0))
    if draw(st.booleans()):
        table["months_after_last_enrolment"] = draw(_floats(0.0, 24.0))
    if draw(st.booleans()):
        table["events"] = draw(st.integers(1, n_patients))
    if draw(st.booleans()):
        table["event_time"] = draw(st.sampled_from(["observed", "true"]))
    if draw(st.booleans()):
        table["combine"] = draw(st.sampled_from(["first", "last"]))
    if draw(st.booleans()):
        table["max_follow_up_months"] = draw(_floats(1.0, 60.0))
    return table


@st.composite
def response_tables(draw: st.DrawFn) -> dict[str, Any]:
    complete = draw(_floats(0.0, 1.0))
    return {
        "probability_complete": complete,
        "probability_partial": draw(_floats(0.0, 1.0 - complete)),
        "mean_time_to_response_months": draw(_floats(0.1, 12.0)),
    }


@st.composite
def relapse_tables(draw: st.DrawFn) -> dict[str, Any]:
    """Scenario-level relapse settings (no hazard ratio)."""
    optional: dict[str, Any] = {
        "frailty_variance": draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])),
        "recurrent": draw(st.booleans()),
        "clock": draw(st.sampled_from(["gap", "treatment"])),
        "detection": draw(st.sampled_from(["next_visit", "immediate"])),
    }
    table = {"hazard": draw(hazard_specs())}
    table.update({k: v for k, v in optional.items() if draw(st.booleans())})
    if draw(st.booleans()):  # the pair is checked together (mean >= min)
        low = draw(st.integers(0, 5))
        table["sledai_increase_min"] = low
        table["sledai_increase_mean"] = low + draw(_floats(0.0, 5.0))
    return table


@st.composite
def population_tables(draw: st.DrawFn) -> dict[str, Any]:
    table: dict[str, Any] = {}
    if draw(st.booleans()):
        table["age_years"] = draw(
            st.sampled_from(
                [
                    {"distribution": "uniform", "min": 18, "max": 65},
                    {"distribution": "normal", "mean": 40.0, "sd": 12.0, "min": 18, "max": 80},
                    {"distribution": "gamma", "mean": 35.0, "sd": 10.0},
                    {"distribution": "fixed", "value": 30.0},
                ]
            )
        )
    if draw(st.booleans()):
        table["female_probability"] = draw(_floats(0.0, 1.0))
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(MANIFESTATIONS), unique=True, max_size=3))
        table["manifestation_prevalence"] = {name: draw(_floats(0.0, 1.0)) for name in names}
    return table


@st.composite
def maintenance_tables(draw: st.DrawFn) -> dict[str, Any]:
    def pair(low: float, high: float) -> list[float]:
        return sorted(draw(st.lists(_floats(low, high), min_size=2, max_size=2)))

    return {
        "enabled": draw(st.booleans()),
        "start_month": draw(_floats(0.0, 3.0)),
        "prednisone_mg_per_day": pair(0.0, 20.0),
        "cyclophosphamide_g": pair(0.0, 1.0),
        "cyclophosphamide_interval_months": pair(0.5, 6.0),
    }


# -- whole scenarios ---------------------------------------------------------------------------
@st.composite
def scenario_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scenario as a key/value tree (dates as ``datetime.date`` or ISO strings)."""
    start_date = draw(st.dates(_dt.date(2000, 1, 1), _dt.date(2030, 12, 31)))
    n_patients = draw(st.integers(1, 40))
    model = draw(st.sampled_from(["sle", "time_to_event"]))
    names = draw(st.lists(st.sampled_from(ARM_NAMES), min_size=1, max_size=3, unique=True))

    scenario: dict[str, Any] = {
        "study": {
            "name": draw(st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)),
            "start_date": start_date if draw(st.booleans()) else start_date.isoformat(),
            "n_patients": n_patients,
            "max_duration_months": draw(_floats(36.0, 240.0)),
        },
        "simulation": {"replicates": draw(st.integers(1, 1000))},
        "accrual": draw(accrual_tables(start_date)),
        "disease": {"model": model, "relapse": draw(relapse_tables())},
        "cutoff": draw(cutoff_tables(start_date, n_patients)),
        "arms": {},
    }
    if draw(st.booleans()):
        scenario["simulation"]["seed"] = draw(st.integers(0, 2**32))
    if draw(st.booleans()):
        scenario["visits"] = draw(visit_tables())
    if model == "sle":
        if draw(st.booleans()):
            scenario["disease"]["response"] = draw(response_tables())
        if draw(st.booleans()):
            scenario["population"] = draw(population_tables())
        if draw(st.booleans()):
            scenario["maintenance"] = draw(maintenance_tables())
        if draw(st.booleans()):
            scenario["disease"]["sledai"] = {
                "visit_distribution": "negative_binomial",
                "visit_dispersion": draw(st.one_of(_floats(0.5, 50.0), st.just("inf"))),
            }
    for process in ("dropout", "death"):
        if draw(st.booleans()):
            scenario[process] = draw(hazard_specs())

    allocations = {}
    for i, name in enumerate(names):
        arm: dict[str, Any] = {}
        allocations[name] = draw(st.integers(1, 3))
        if allocations[name] != 1 or draw(st.booleans()):
            arm["allocation"] = allocations[name]
        if draw(st.booleans()):
            arm["label"] = name.replace("_", " ").title()
        if draw(st.booleans()):
            arm["cells_per_kg"] = draw(st.sampled_from([0.0, 1.0e6, 2.0e6]))
        earlier = list(names[:i])  # hazard ratios refer only to earlier arms: no cycles
        disease: dict[str, Any] = {}
        if draw(st.booleans()):
            disease["relapse"] = {"hazard": draw(hazard_specs(reference_arms=earlier))}
        if model == "sle" and draw(st.booleans()):
            disease["response"] = draw(response_tables())
        if draw(st.booleans()):
            disease["model"] = model
        if disease:
            arm["disease"] = disease
        for process in ("dropout", "death"):
            if draw(st.booleans()):
                arm[process] = draw(hazard_specs(reference_arms=earlier))
        scenario["arms"][name] = arm

    method = draw(st.sampled_from(["permuted_block", "simple"]))
    randomisation: dict[str, Any] = {"method": method}
    if method == "permuted_block":
        if draw(st.booleans()):
            randomisation["block_size"] = sum(allocations.values()) * draw(st.integers(1, 3))
        if model == "sle":
            randomisation["strata"] = draw(
                st.lists(st.sampled_from(STRATIFICATION_FACTORS), unique=True, max_size=3)
            )
    scenario["randomisation"] = randomisation
    return scenario


def scenarios() -> st.SearchStrategy[Scenario]:
    """Valid, loaded :class:`Scenario` objects."""
    return scenario_dicts().map(scenario_from_dict)
