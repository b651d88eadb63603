"""The SimPy engine and the vectorised engine give identical output (issue 5).

For every shipped scenario (``scenarios/*.toml``, globbed, so a new file is covered without
touching this test) and for Hypothesis-generated scenarios: the two engines' :class:`Course`
objects are identical field by field (``Course.differences``), and the four Arrow tables
:func:`simulate_tables` builds are equal — values, types, dictionaries and metadata — apart from
the ``cohortsim.engine`` provenance key.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import scenarios

from cohortsim.cohort import LatentCohort
from cohortsim.engine import ENGINES
from cohortsim.scenario import Scenario, load_scenario
from cohortsim.simulate import simulate_tables

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIO_DIR.glob("*.toml"))
MAX_PATIENTS = 250
"""Shipped scenarios larger than this are run with ``study.n_patients`` overridden (the DES
engine costs ~1 ms per patient-trial); the slow test runs them at full size with more replicates."""
REPLICATES = np.array([0, 1, 2, 3, 4, 5, 257])
"""A few replicates, one from the second seeding block (replicates 256-511)."""
ENGINE_KEY = b"cohortsim.engine"


def assert_tables_equal_but_engine(des: dict[str, pa.Table], vector: dict[str, pa.Table]) -> None:
    assert des.keys() == vector.keys()
    for name in des:
        a, b = des[name], vector[name]
        meta_a, meta_b = dict(a.schema.metadata), dict(b.schema.metadata)
        assert meta_a.pop(ENGINE_KEY) == b"des"
        assert meta_b.pop(ENGINE_KEY) == b"vector"
        assert meta_a == meta_b, f"{name}: metadata differs"
        assert a.schema.equals(b.schema, check_metadata=False), f"{name}: schema differs"
        assert a.num_rows == b.num_rows, f"{name}: {a.num_rows} vs {b.num_rows} rows"
        for column in a.column_names:
            assert a[column].equals(b[column]), (
                f"{name}.{column} differs:\n{a[column].to_pylist()[:20]}\n"
                f"{b[column].to_pylist()[:20]}"
            )
        assert a.equals(b, check_metadata=False)


def assert_engines_agree(scenario: Scenario, entropy: int, replicates: np.ndarray) -> None:
    courses = {
        engine: ENGINES[engine](LatentCohort(scenario, entropy, replicates)) for engine in ENGINES
    }
    differences = courses["des"].differences(courses["vector"])
    assert differences == [], f"Course fields differ between the engines: {differences}"
    tables = {
        engine: simulate_tables(scenario, entropy, replicates, engine=engine) for engine in ENGINES
    }
    assert_tables_equal_but_engine(tables["des"], tables["vector"])


def _shipped(path: Path, max_patients: int | None) -> Scenario:
    scenario = load_scenario(path)
    if max_patients is not None and scenario.study.n_patients > max_patients:
        scenario = load_scenario(path, [f"study.n_patients={max_patients}"])
    return scenario


def test_scenarios_are_shipped() -> None:
    assert len(SHIPPED) >= 2, f"no scenarios found in {SCENARIO_DIR}"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_engines_agree_on_shipped_scenario(path: Path) -> None:
    scenario = _shipped(path, MAX_PATIENTS)
    assert_engines_agree(scenario, 20240601, REPLICATES)


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_engines_agree_on_shipped_scenario_full_size(path: Path) -> None:
    scenario = _shipped(path, None)
    assert_engines_agree(scenario, 7, np.arange(300))


def test_engines_agree_under_every_cutoff_rule(pilot_path: Path) -> None:
    """The pilot with each cut-off rule in turn (calendar, after last enrolment, event-driven on
    observed and on true times, combine first and last, a maximum follow-up)."""
    variants = [
        ["cutoff.months_after_last_enrolment=6.0"],
        ["cutoff.events=3", 'cutoff.event_time="observed"', "study.n_patients=40"],
        ["cutoff.events=3", 'cutoff.event_time="true"', "study.n_patients=40"],
        ["cutoff.events=2", 'cutoff.combine="last"', "study.n_patients=40"],
        ["cutoff.max_follow_up_months=12.0"],
    ]
    for overrides in variants:
        scenario = load_scenario(pilot_path, overrides)
        assert_engines_agree(scenario, 99, np.arange(12))


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    scenario=scenarios(),
    entropy=st.integers(0, 2**63 - 1),
    replicates=st.lists(st.integers(0, 600), min_size=1, max_size=3, unique=True),
)
def test_engines_agree_on_generated_scenarios(
    scenario: Scenario, entropy: int, replicates: list[int]
) -> None:
    assert_engines_agree(scenario, entropy, np.array(replicates))


def test_a_difference_is_detected(pilot_path: Path) -> None:
    """The comparison itself is not vacuous: tables of two seeds, or a Course with one field
    changed, are reported as different."""
    scenario = load_scenario(pilot_path)
    a = simulate_tables(scenario, 1, np.arange(2), engine="des")
    b = simulate_tables(scenario, 2, np.arange(2), engine="vector")
    with pytest.raises(AssertionError):
        assert_tables_equal_but_engine(a, b)
    cohort = LatentCohort(scenario, 1, np.arange(2))
    course = ENGINES["vector"](cohort)
    other = ENGINES["vector"](LatentCohort(scenario, 1, np.arange(2)))
    assert course.differences(other) == []
    other.follow_up = np.nextafter(other.follow_up, np.inf)
    assert course.differences(other) == ["follow_up"]


@pytest.fixture(scope="module")
def pilot_path() -> Path:
    return SCENARIO_DIR / "liang2010_pilot.toml"
