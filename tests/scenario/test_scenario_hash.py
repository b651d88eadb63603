"""The resolved tree, its canonical JSON and hash; overrides."""

from __future__ import annotations

import copy
import json
import pickle
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from scenario_testutil import SCENARIOS, minimal_dict

from cohortsim.scenario import ScenarioError, canonical_json, load_scenario, scenario_from_dict
from cohortsim.scenario.canonical import sha256_of, thaw

PILOT = SCENARIOS / "liang2010_pilot.toml"
LOGRANK = SCENARIOS / "reference_logrank.toml"


def test_hash_is_sha256_of_canonical_json() -> None:
    s = load_scenario(PILOT)
    text = canonical_json(s)
    assert text == canonical_json(s.resolved)
    assert json.loads(text) == json.loads(json.dumps(s.resolved))
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert s.sha256 == sha256_of(s.resolved)
    import hashlib

    assert s.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_hash_is_stable_across_loads() -> None:
    assert load_scenario(PILOT).sha256 == load_scenario(PILOT).sha256
    assert load_scenario(PILOT) == load_scenario(PILOT)


def _reverse_keys(tree: Any, keep_arm_order: bool = True) -> Any:
    """The same tree with every table's keys in reverse order (the arms' order kept)."""
    if isinstance(tree, dict):
        items = list(tree.items())[::-1]
        out = {k: _reverse_keys(v) for k, v in items}
        if keep_arm_order and "arms" in tree:
            out["arms"] = {k: _reverse_keys(v) for k, v in tree["arms"].items()}
        return out
    return tree


def _dump(tree: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer (tables as [headers], values inline) for re-laid-out files."""
    lines, tables = [], []
    for key, value in tree.items():
        if isinstance(value, dict) and not _is_inline(key, value):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_value(value)}")
    text = (f"[{prefix[:-1]}]\n" if prefix and lines else "") + "\n".join(lines) + "\n"
    for key, value in tables:
        text += "\n" + _dump(value, f"{prefix}{key}.")
    return text


def _is_inline(key: str, value: dict[str, Any]) -> bool:
    return key in {"hazard", "dropout", "death", "class_change"} or "distribution" in value


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()


@pytest.mark.parametrize("path", [PILOT, LOGRANK])
def test_hash_ignores_layout_key_order_and_comments(tmp_path: Path, path: Path) -> None:
    raw = tomllib.loads(path.read_text())
    if (path.parent / "calibrated").is_dir():  # the pilot includes its calibrated parameters
        shutil.copytree(path.parent / "calibrated", tmp_path / "calibrated")
    shuffled = tmp_path / "shuffled.toml"
    shuffled.write_text("# a comment\n" + _dump(_reverse_keys(raw)))
    assert tomllib.loads(shuffled.read_text()) == raw
    assert load_scenario(shuffled).sha256 == load_scenario(path).sha256


def test_equal_values_written_differently_hash_equally() -> None:
    a, b = minimal_dict(), minimal_dict()
    a["study"]["max_duration_months"] = 240
    b["study"]["max_duration_months"] = 240.0
    a["study"]["start_date"] = "2025-01-01"
    assert scenario_from_dict(a).sha256 == scenario_from_dict(b).sha256  # defaults included


def test_arm_order_is_part_of_the_hash() -> None:
    a = minimal_dict()
    b = minimal_dict()
    b["arms"] = {"treatment": {}, "control": {}}
    sa, sb = scenario_from_dict(a), scenario_from_dict(b)
    assert sa.arm_names == ("control", "treatment")
    assert sb.arm_names == ("treatment", "control")
    assert sa.sha256 != sb.sha256


def test_override_changes_value_and_hash() -> None:
    base = load_scenario(LOGRANK)
    changed = load_scenario(LOGRANK, ["study.n_patients=300"])
    assert changed.study.n_patients == 300
    assert changed.resolved["study"]["n_patients"] == 300
    assert changed.sha256 != base.sha256
    same = load_scenario(LOGRANK, ["study.n_patients=200"])
    assert same.sha256 == base.sha256


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ("simulation.seed=42", lambda s: s.simulation.seed == 42),
        ("study.start_date=2026-01-01", lambda s: s.study.start_date.isoformat() == "2026-01-01"),
        ("study.description=just words", lambda s: s.study.description == "just words"),
        ("cutoff.event_time=observed", lambda s: s.cutoff.event_time == "observed"),
        ("visits.window_months=0.2", lambda s: s.visits.window_months == (0.2,) * 6),
        (
            "arms.treatment.disease.relapse.hazard="
            "{ hazard_ratio = 0.7, reference_arm = 'control' }",
            lambda s: s.arms[1].disease.relapse.hazard_as_entered["hazard_ratio"] == 0.7,
        ),
        ("arms.treatment.label=New", lambda s: s.arms[1].label == "New"),
        ("cutoff.max_follow_up_months=24", lambda s: s.cutoff.max_follow_up_months == 24.0),
        (
            "disease.sledai.visit_dispersion=inf",
            lambda s: s.arms[0].disease.sledai.visit_dispersion == float("inf"),
        ),
    ],
)
def test_overrides(override: str, check: Any) -> None:
    base = load_scenario(LOGRANK)
    scenario = load_scenario(LOGRANK, [override])
    assert check(scenario)
    assert scenario.sha256 != base.sha256


def test_schedule_override_needs_matching_windows() -> None:
    with pytest.raises(ScenarioError, match="this is the default"):
        load_scenario(LOGRANK, ["visits.schedule_months=[1, 3, 6, 12]"])
    s = load_scenario(LOGRANK, ["visits.schedule_months=[1, 3, 6, 12]", "visits.window_months=0.5"])
    assert s.visits.schedule_months == (1.0, 3.0, 6.0, 12.0)
    assert s.visits.window_months == (0.5,) * 4


def test_overrides_apply_in_order_and_create_tables() -> None:
    s = load_scenario(
        LOGRANK,
        ["arms.third.allocation=2", "arms.third.allocation=1", "randomisation.block_size=6"],
    )
    assert s.arm_names == ("control", "treatment", "third")
    assert s.randomisation.block_size == 6


def test_overrides_do_not_touch_the_file(tmp_path: Path) -> None:
    copy_path = tmp_path / "p.toml"
    copy_path.write_bytes(PILOT.read_bytes())
    shutil.copytree(PILOT.parent / "calibrated", tmp_path / "calibrated")
    load_scenario(copy_path, ["study.n_patients=30"])
    assert copy_path.read_bytes() == PILOT.read_bytes()


def test_resolved_fills_defaults_and_dates_as_iso() -> None:
    resolved = scenario_from_dict(minimal_dict()).resolved
    assert resolved["study"]["start_date"] == "2025-01-01"
    assert resolved["study"]["max_duration_months"] == 240.0
    assert resolved["randomisation"]["block_size"] == 4
    assert resolved["arms"]["control"]["label"] == "control"
    assert resolved["arms"]["control"]["disease"]["relapse"]["hazard"] == {"rate_per_month": 0.0078}
    assert resolved["death"] == {"rate_per_month": 0.0008}
    assert resolved["population"]["sledai"]["integer"] is True
    assert "seed" not in resolved["simulation"]
    pilot = load_scenario(PILOT).resolved
    assert pilot["accrual"]["start_date"] == "2007-03-11"
    assert pilot["cutoff"]["calendar_date"] == "2009-12-01"
    months = pilot["derived"]["calendar_months"]
    assert months["cutoff_calendar_month"] == pytest.approx(32.72, abs=0.01)


def test_scenario_is_read_only_and_picklable() -> None:
    s = load_scenario(PILOT)
    with pytest.raises(TypeError):
        s.resolved["study"]["n_patients"] = 3  # type: ignore[index]
    with pytest.raises(TypeError):
        s.population.manifestation_prevalence["nephritis"] = 0.5  # type: ignore[index]
    with pytest.raises(AttributeError):
        s.study.n_patients = 3  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(s))
    assert again == s and again.sha256 == s.sha256
    assert copy.deepcopy(s) == s
    assert hash(s) == hash(again)


@pytest.mark.parametrize("path", [PILOT, LOGRANK])
def test_resolved_without_derived_reloads_to_the_same_scenario(path: Path) -> None:
    s = load_scenario(path)
    tree = thaw(s.resolved)
    del tree["derived"]
    again = scenario_from_dict(tree)
    # The resolved tree holds the included parameters merged in; only the record of where they
    # came from (derived.includes, part of the hash) is not carried by the tree itself.
    expected = thaw(s.resolved)
    again_tree = thaw(again.resolved)
    expected["derived"].pop("includes", None)
    again_tree["derived"].pop("includes", None)
    assert again_tree == expected
    if not s.resolved["derived"].get("includes"):
        assert again.sha256 == s.sha256
    assert again.arms == s.arms
    assert (again.study, again.accrual, again.visits, again.cutoff) == (
        s.study,
        s.accrual,
        s.visits,
        s.cutoff,
    )
