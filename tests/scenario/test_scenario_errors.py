"""Invalid scenarios fail with one clear line naming the file, the key, the value and what was
expected."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from scenario_testutil import SCENARIOS, error_of, minimal_dict

from cohortsim.scenario import ScenarioError, load_scenario, scenario_from_dict

PILOT = SCENARIOS / "liang2010_pilot.toml"


def _write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[study]
name = "x"
n_patients = 10

[accrual]
end_month = 6.0

[visits]
schedule_months = [1, 3, 6]
window_months = 0.5
missed_probability = 0.05

[arms.control]
[arms.treatment]
"""


def test_misspelt_key_names_file_key_and_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("missed_probability", "missed_probabilty"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    error = info.value
    assert str(error) == (
        f"{path}: visits.missed_probabilty: unknown key; did you mean 'missed_probability'?"
    )
    assert (error.source, error.key, error.value) == (str(path), "visits.missed_probabilty", 0.05)
    assert "\n" not in str(error)


def test_unknown_keys_are_refused_at_every_level() -> None:
    for path, value in [
        (("analysys",), {}),
        (("study", "patients"), 3),
        (("disease", "relapse", "hazzard"), {}),
        (("disease", "proteinuria", "class_change", "partal"), 1.0),
        (("disease", "manifestations", "arthritus"), {}),
        (("arms", "control", "lable"), "x"),
        (("arms", "control", "disease", "response", "probability_complet"), 0.3),
        (("population", "age_years", "sdev"), 1.0),
    ]:
        data = minimal_dict()
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        if path[-1] == "sdev":
            node.update({"distribution": "normal", "mean": 30.0, "sd": 5.0})
        node[path[-1]] = value
        error = error_of(data)
        assert error.key == ".".join(path), error
        assert error.expected.startswith("unknown key"), error


def test_negative_rate_names_key_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + "\n[dropout]\nrate_per_month = -0.1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == (
        f"{path}: dropout.rate_per_month = -0.1: expected a rate per month >= 0"
    )
    assert info.value.value == -0.1


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (("study", "n_patients"), "15", 'study.n_patients = "15": expected a number of patients'),
        (("study", "n_patients"), True, "not a boolean"),
        (("study", "n_patients"), 15.0, "not a float"),
        (("study", "n_patients"), 0, ">= 1"),
        (("study", "max_duration_months"), True, "not a boolean"),
        (("study", "max_duration_months"), "240", "not a string"),
        (("study", "name"), 3, "not an integer"),
        (("study", "start_date"), "11/03/2007", "expected a date"),
        (("study", "start_date"), dt.datetime(2007, 3, 11, 12, 0), "not a date-time"),
        (("study",), "x", "expected a table"),
        (("maintenance", "enabled"), 1, "expected true or false"),
        (("visits", "schedule_months"), 3.0, "not a float"),
        (("visits", "missed_probability"), 1.0, "in [0, 1)"),
        (("disease", "model"), "SLE", 'did you mean "sle"'),
        (("disease", "sledai", "visit_dispersion"), "big", "not a string"),
        (("disease", "relapse", "sledai_increase_mean"), 1.0, "sledai_increase_mean >="),
        (("disease", "response", "probability_partial"), 0.9, "<= 1"),
        (("randomisation", "strata"), ["female", "female"], "distinct"),
        (("randomisation", "strata"), ["age"], 'value "age"'),
        (("maintenance", "cyclophosphamide_interval_months"), [0.0, 1.0], "value 1 (0.0)"),
        (("maintenance", "prednisone_mg_per_day"), [5.0], "exactly 2 values"),
        (("arms",), {}, "expected at least 1 arm"),
        (("simulation", "seed"), -1, ">= 0"),
    ],
)
def test_wrong_types_and_ranges(path: tuple[str, ...], value: Any, fragment: str) -> None:
    data = minimal_dict()
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    error = error_of(data)
    assert fragment in str(error), str(error)
    assert error.source == "<dict>"


def test_missing_required_keys() -> None:
    data = minimal_dict()
    del data["study"]["n_patients"]
    assert str(error_of(data)) == "<dict>: study.n_patients: required key missing"
    data = minimal_dict()
    del data["accrual"]["end_month"]
    assert str(error_of(data)) == (
        "<dict>: accrual.end_month: required key missing (or give end_date)"
    )
    data = minimal_dict()
    del data["arms"]
    assert error_of(data).key == "arms"


@pytest.mark.parametrize(
    ("visits", "key", "fragment"),
    [
        ({"schedule_months": [1, 2], "window_months": 0.6}, "window_months", "overlaps"),
        ({"schedule_months": [1, 2], "window_months": [0.5, 0.5]}, "window_months", "overlaps"),
        (
            {"schedule_months": [0.5, 2], "window_months": [0.5, 0.1]},
            "window_months",
            "after month 0",
        ),
        (
            {"schedule_months": [1, 3], "window_months": [0.1, 0.2, 0.3]},
            "window_months",
            "one window per visit",
        ),
        (
            {
                "schedule_months": [1, 3],
                "window_months": 0.5,
                "repeat_every_months": 1.0,
                "repeat_window_months": 0.5,
            },
            "repeat_window_months",
            "repeated visit windows",
        ),
        (
            {
                "schedule_months": [1, 3],
                "window_months": 0.5,
                "repeat_every_months": 0.7,
                "repeat_window_months": 0.25,
            },
            "repeat_every_months",
            "first repeated visit",
        ),
        ({"schedule_months": [3, 1]}, "schedule_months", "strictly increasing"),
        ({"schedule_months": []}, "schedule_months", "at least 1 value"),
    ],
)
def test_overlapping_visit_windows(visits: dict[str, Any], key: str, fragment: str) -> None:
    data = minimal_dict()
    data["visits"] = visits
    error = error_of(data)
    assert error.key == f"visits.{key}"
    assert fragment in error.expected, str(error)


def test_non_overlapping_windows_touching_is_still_overlap() -> None:
    data = minimal_dict()
    data["visits"] = {"schedule_months": [1, 2], "window_months": 0.5}
    assert "overlap" in str(error_of(data))
    data["visits"] = {"schedule_months": [1, 2], "window_months": 0.49}
    scenario_from_dict(data)


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        (
            {"accrual": {"kind": "piecewise", "end_month": 3.0, "rates_per_month": [1.0]}},
            "accrual.end_month",
            'only allowed when kind = "window"',
        ),
        (
            {
                "accrual": {
                    "kind": "piecewise",
                    "rates_per_month": [1.0, 0.0],
                    "durations_months": [2],
                }
            },
            "accrual.rates_per_month",
            "last (open-ended) rate",
        ),
        (
            {"accrual": {"kind": "piecewise", "rates_per_month": [1.0, 2.0]}},
            "accrual.durations_months",
            "one duration fewer",
        ),
        (
            {"accrual": {"start_month": 1.0, "start_date": "2025-02-01", "end_month": 5.0}},
            "accrual.start_date",
            "only one of start_month, start_date",
        ),
        (
            {"accrual": {"start_month": 6.0, "end_month": 5.0}},
            "accrual.end_month",
            "end after it starts",
        ),
        ({"accrual": {"end_month": 300.0}}, "accrual.end_month", "max_duration_months (240)"),
        (
            {"accrual": {"start_date": "2024-12-31", "end_month": 5.0}},
            "accrual.start_date",
            "on or after study.start_date",
        ),
        (
            {"cutoff": {"calendar_date": "2024-06-01"}},
            "cutoff.calendar_date",
            "after study.start_date",
        ),
        ({"cutoff": {"calendar_month": 241.0}}, "cutoff.calendar_month", "within"),
        (
            {"cutoff": {"calendar_month": 10.0, "calendar_date": "2025-06-01"}},
            "cutoff.calendar_month",
            "only one of",
        ),
        ({"cutoff": {"events": 21}}, "cutoff.events", "at most study.n_patients (20)"),
        (
            {"randomisation": {"block_size": 3}},
            "randomisation.block_size",
            "multiple of the sum of arm allocations (2)",
        ),
        (
            {"randomisation": {"method": "simple", "block_size": 4}},
            "randomisation.block_size",
            'only allowed when method = "permuted_block"',
        ),
        (
            {"randomisation": {"method": "simple", "strata": ["female"]}},
            "randomisation.strata",
            "permuted_block",
        ),
        (
            {"disease": {"model": "time_to_event"}, "randomisation": {"strata": ["female"]}},
            "randomisation.strata",
            'disease.model = "sle"',
        ),
        (
            {"arms": {"control": {}, "treatment": {"disease": {"model": "time_to_event"}}}},
            "arms.treatment.disease.model",
            "same disease model",
        ),
        (
            {"arms": {"control": {"disease": {"response": {"probability_complete": 0.6}}}}},
            "arms.control.disease.response.probability_partial",
            "<= 1",
        ),
        ({"arms": {"Control": {}}}, "arms.Control", "arm name matching"),
        (
            {"population": {"age_years": {"distribution": "uniform", "min": 20}}},
            "population.age_years.max",
            "required key missing for a uniform",
        ),
        (
            {
                "population": {
                    "age_years": {"distribution": "normal", "mean": 1, "sd": 1, "value": 2}
                }
            },
            "population.age_years.value",
            "does not belong to a normal distribution",
        ),
        (
            {"population": {"age_years": {"mean": 30, "sd": 3}}},
            "population.age_years.distribution",
            "required key missing",
        ),
        (
            {"population": {"age_years": {"distribution": "lognormal", "mean": -1, "sd": 3}}},
            "population.age_years.mean",
            "mean > 0",
        ),
        (
            {
                "population": {
                    "age_years": {"distribution": "normal", "mean": 1, "sd": 1, "min": 5, "max": 4}
                }
            },
            "population.age_years.max",
            "max > min",
        ),
        (
            {
                "population": {
                    "age_years": {"distribution": "normal", "mean": 0, "sd": 1, "min": 100}
                }
            },
            "population.age_years",
            "hold some probability",
        ),
    ],
)
def test_inconsistent_combinations(change: dict[str, Any], key: str, fragment: str) -> None:
    data = minimal_dict()
    data.update(change)
    error = error_of(data)
    assert error.key == key, str(error)
    assert fragment in error.expected, str(error)


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, '[study]\nname = "x"\nn_patients = = 3\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    error = info.value
    assert (error.line, error.column) == (3, 14)
    assert str(error).startswith(f"{path}: invalid TOML: ")
    assert "line 3" in str(error)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read file"):
        load_scenario(tmp_path / "missing.toml")
    with pytest.raises(ScenarioError, match="cannot read file"):
        load_scenario(tmp_path)
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(binary)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("study.n_patients", "(--set study.n_patients): expected dotted.key=value"),
        ("=3", "expected dotted.key=value"),
        ("study..n_patients=3", "expected dotted.key=value"),
        ("study.name.first=3", 'study.name = "liang2010_pilot": not a table'),
        (
            "study.n_patients=abc",
            '(--set study.n_patients=abc): study.n_patients = "abc": expected a number of patients',
        ),
        ("visits.missed_probabilty=0.1", "did you mean 'missed_probability'?"),
        (
            "disease.relapse.hazard.median_months=10",
            "(--set disease.relapse.hazard.median_months=10): disease.relapse.hazard = ",
        ),
    ],
)
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(PILOT, [override])
    assert message in str(info.value)
    assert str(info.value).startswith(str(PILOT))


def test_errors_without_override_are_not_blamed_on_one(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + "\n[dropout]\nrate_per_month = -0.1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, ["study.n_patients=12"])
    assert "--set" not in str(info.value)


def test_errors_pickle_with_their_attributes() -> None:
    import pickle

    data = minimal_dict()
    del data["study"]["n_patients"]
    error = error_of(data)
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error)
    assert (again.source, again.key, again.value is error.value) == (
        error.source,
        error.key,
        True,
    )


def test_study_name_must_be_safe_in_file_names() -> None:
    data = minimal_dict()
    data["study"]["name"] = "../x"
    assert error_of(data).key == "study.name"
