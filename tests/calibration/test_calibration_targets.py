"""The targets file: the shipped figures, round trip, and errors reported like a scenario's."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from calibration_paths import PILOT, TARGETS

from cohortsim.calibration.targets import (
    QUANTITIES,
    TargetsError,
    load_targets,
    targets_from_dict,
    targets_to_toml,
)
from cohortsim.cli import main
from cohortsim.scenario import ScenarioError


def test_shipped_targets_hold_every_reported_figure(pilot_targets) -> None:  # type: ignore[no-untyped-def]
    t = {x.name: x for x in pilot_targets}
    assert len(t) == 36
    assert pilot_targets.n_patients == 15
    # the relapse figures: two individual event times, and the count of 15 (abstract and press)
    assert t["relapse_times"].value == (6.0, 24.0)
    assert t["relapse_times"].statistic == "event_times"
    assert (t["relapse_count"].value, t["relapse_count"].n, t["relapse_count"].source) == (
        2.0, 15, ("A", "P"))
    assert (t["relapse_followed_12_months"].n, t["relapse_followed_12_months"].among) == (
        13, "followed_12_months")
    # the two sources are separate targets with their own n and time points
    assert (t["sledai_12m_mean"].value, t["sledai_12m_mean"].n, t["sledai_12m_mean"].source) == (
        3.2, 12, ("A",))
    assert (t["sledai_baseline_mean_press"].value, t["sledai_baseline_mean_press"].source) == (
        12.1, ("P",))
    assert (t["sledai_12m_zero"].value, t["sledai_12m_zero"].n) == (4.0, 12)
    assert (t["proteinuria_1w_mean"].value, t["proteinuria_1w_mean"].n,
            t["proteinuria_1w_mean"].time) == (1430.0, 15, 0.25)
    assert t["proteinuria_12m_sd"].decimals == 1  # reported as 800.7
    assert (t["follow_up_sd"].value, t["followed_12_months"].value) == (9.5, 13.0)
    # figures whose n the report does not give say so
    for name in ("serositis_resolved", "neurologic_resolved", "hypertension_resolved",
                 "treg_after_mean", "anti_dsdna_1m_change_p"):
        assert t[name].n is None, name
    assert t["cutaneous_resolved"].time == "unknown"
    assert {x.source for x in pilot_targets} <= {("A",), ("P",), ("A", "P")}
    assert t["serious_adverse_events"].value == 0.0


def test_round_trip(pilot_targets) -> None:  # type: ignore[no-untyped-def]
    text = targets_to_toml(pilot_targets)
    again = targets_from_dict(tomllib.loads(text))
    assert again.targets == pilot_targets.targets
    assert again.design == pilot_targets.design
    assert again.citation == pilot_targets.citation
    assert targets_to_toml(again) == text


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    return path


ENTRY = """
[[targets]]
name = "x"
quantity = "sledai"
statistic = "mean"
value = 3.2
n = 12
time_months = 12
source = "A"
"""


@pytest.mark.parametrize(
    ("edit", "key", "expected"),
    [
        (("n = 12", "n = 0"), "targets[0].n", 'expected an integer >= 1 or "unknown"'),
        (("n = 12", 'n = "many"'), "targets[0].n", 'expected an integer >= 1 or "unknown"'),
        (('source = "A"', 'source = "X"'), "targets[0].source", "expected source labels"),
        (('statistic = "mean"', 'statistic = "count"'), "targets[0].statistic",
         "expected a statistic of sledai"),
        (('quantity = "sledai"', 'quantity = "sledia"'), "targets[0].quantity",
         "unknown quantity"),
        (("time_months = 12", "time_months = -1"), "targets[0].time_months",
         'expected months >= 0 (0 = baseline) or "unknown"'),
        (("time_months = 12\n", ""), "targets[0].time_months", "missing"),
        (('source = "A"', 'source = "A"\nunit = "points"'), "targets[0].unit", "unknown key"),
        (("value = 3.2", 'value = "3.2"'), "targets[0].value", "expected a finite number"),
    ],
)
def test_errors_name_file_key_value_and_expectation(
    tmp_path: Path, edit: tuple[str, str], key: str, expected: str
) -> None:
    path = _write(tmp_path, ENTRY.replace(*edit))
    with pytest.raises(TargetsError) as caught:
        load_targets(path)
    error = caught.value
    assert isinstance(error, ScenarioError)  # the CLI's exit-2 error
    assert error.source == str(path)
    assert error.key == key
    assert expected in str(error)
    assert str(error).startswith(f"{path}: {key}")


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (ENTRY.replace('quantity = "sledai"', 'quantity = "sledai_zero"')
         .replace('"mean"', '"count"').replace("3.2", "13"), "targets[0].value",
         "expected at most n = 12 patients"),
        (ENTRY + ENTRY, "targets[1].name", "expected a unique name"),
        (ENTRY.replace('quantity = "sledai"', 'quantity = "age_years"'), "targets[0].time_months",
         "expected 0 (measured at baseline)"),
        (ENTRY.replace('"mean"', '"p_value_below"').replace("3.2", "0.05"),
         "targets[0].direction", 'expected "decrease" or "increase"'),
        (ENTRY.replace('quantity = "sledai"', 'quantity = "relapse_time"')
         .replace('"mean"', '"event_times"').replace("3.2", "[6, 24, 30]")
         .replace("time_months = 12", 'time_months = "follow_up"').replace("n = 12", "n = 2"),
         "targets[0].value", "expected at most n = 2 event times"),
        ("[design]\nn_patients = { value = 0, source = \"A\" }\n" + ENTRY,
         "design.n_patients.value", "expected an integer >= 1"),
        ("", "targets", "expected at least one [[targets]] entry"),
    ],
)
def test_errors_across_keys(tmp_path: Path, text: str, key: str, expected: str) -> None:
    with pytest.raises(TargetsError) as caught:
        load_targets(_write(tmp_path, text))
    assert caught.value.key == key
    assert expected in str(caught.value)


def test_syntax_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="invalid TOML"):
        load_targets(_write(tmp_path, "[[targets]\n"))
    with pytest.raises(TargetsError, match="cannot read file"):
        load_targets(tmp_path / "missing.toml")


def test_every_quantity_names_its_statistics_and_times() -> None:
    for name, quantity in QUANTITIES.items():
        assert quantity.statistics, name
        assert quantity.times in ("baseline", "follow_up", "visit"), name


def test_command_line_exits_2_on_a_bad_targets_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, ENTRY.replace("n = 12", "n = 0"))
    out = tmp_path / "calibrated.toml"
    code = main(["calibrate", str(PILOT), "--targets", str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}: targets[0].n = 0: expected an integer >= 1" in err
    assert not out.exists()


def test_design_n_must_match_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = TARGETS.read_text(encoding="utf-8").replace(
        'n_patients = { value = 15,', 'n_patients = { value = 16,')
    path = _write(tmp_path, text)
    code = main(["calibrate", str(PILOT), "--targets", str(path), "--out", str(tmp_path / "c.toml"),
                 "--simulations", "6400"])
    assert code == 2
    assert "design.n_patients.value = 16: expected the scenario's study.n_patients (15)" in (
        capsys.readouterr().err)
