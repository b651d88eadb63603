"""docs/scenarios.md documents every accepted key and its generated part is up to date."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from scenario_testutil import DOCS, SCENARIOS

from cohortsim.scenario import accepted_keys, render_docs, scenario_from_dict
from cohortsim.scenario.distribution_spec import DISTRIBUTION_KEYS, FAMILIES
from cohortsim.scenario.docs import BEGIN, END, generated_part, update_docs
from cohortsim.scenario.hazard_spec import HAZARD_FORMS, HAZARD_KEYS
from cohortsim.scenario.spec import SCENARIO

TEXT = DOCS.read_text(encoding="utf-8")


def test_generated_part_is_up_to_date() -> None:
    assert TEXT.startswith(BEGIN)
    assert generated_part(TEXT) == render_docs(), (
        "docs/scenarios.md is out of date: run "
        "`python -m cohortsim.scenario --update-docs docs/scenarios.md`"
    )


def test_hand_written_prose_follows() -> None:
    prose = TEXT.split(END, 1)[1]
    for heading in (
        "## Hazard specs in practice",
        "## Overrides",
        "## Includes",
        "## Worked examples",
    ):
        assert heading in prose


def test_every_accepted_key_is_documented() -> None:
    keys = accepted_keys()
    assert len(keys) > 100
    missing = [k for k in keys if f"`{k}`" not in TEXT]
    assert not missing
    for key in (*HAZARD_KEYS, *DISTRIBUTION_KEYS):
        assert f"`{key.name}`" in TEXT
    for form in HAZARD_FORMS:
        assert form.example() in TEXT
    for family in FAMILIES:
        assert f'`"{family.name}"`' in TEXT


def _paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        path = prefix + key
        if path.startswith("arms.") and path.count(".") == 1:
            path = "arms.<name>"
        if isinstance(value, dict) and not _is_leaf_table(path):
            out += _paths(value, path + ".")
        else:
            out.append(path)
    return out


_LEAF_TABLES = (
    "hazard",
    "dropout",
    "death",
    "age_years",
    "disease_duration_months",
    "population.sledai",
    "proteinuria_mg_per_day",
    "anti_dsdna_iu_per_ml",
    "treg_percent",
)


def _is_leaf_table(path: str) -> bool:
    """Tables documented as one key: hazard specs, distributions, an arm's partial disease."""
    return path.endswith(_LEAF_TABLES) or path.startswith("arms.<name>.disease")


@pytest.mark.parametrize("name", ["liang2010_pilot.toml", "reference_logrank.toml"])
def test_keys_used_by_shipped_scenarios_are_documented(name: str) -> None:
    raw = tomllib.loads((SCENARIOS / name).read_text())
    for path in _paths(raw):
        assert f"`{path}`" in TEXT, path


def test_the_docs_full_scenario_examples_load() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", TEXT, flags=re.S)
    full = [b for b in blocks if "[study]" in b]
    assert full
    for block in full:
        scenario_from_dict(tomllib.loads(block), source="docs/scenarios.md")


def test_update_docs_keeps_the_prose(tmp_path: Any) -> None:
    target = tmp_path / "scenarios.md"
    target.write_text("stale generated part\n" + END + "\n\n## Prose\n\nkept\n")
    assert update_docs(target)
    text = target.read_text()
    assert text.startswith(render_docs())
    assert text.endswith("\n## Prose\n\nkept\n")
    assert not update_docs(target)


def test_spec_tables_all_have_meanings() -> None:
    from cohortsim.scenario.fields import walk

    for path, key, _table in walk(SCENARIO):
        assert key.meaning, path


def _distribution_keys(table: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """Every key of the spec whose value is a distribution table, with its dotted path."""
    from cohortsim.scenario.distribution_spec import DistributionType
    from cohortsim.scenario.fields import NamedTables, Table

    found = []
    for key in table.keys:
        here = (*path, key.name)
        if isinstance(key.type, DistributionType):
            found.append((".".join(here), key))
        elif isinstance(key.type, Table):
            found.extend(_distribution_keys(key.type, here))
        elif isinstance(key.type, NamedTables):
            found.extend(_distribution_keys(key.type.item, (*here, "<name>")))
    return found


def test_every_default_distribution_passes_the_probe_that_loading_skips() -> None:
    """Loading fills default distributions without probing their quantiles (so it need not
    import scipy.special); here each default gets the full check a user's table gets."""
    from cohortsim.scenario.errors import Ctx

    keys = _distribution_keys(SCENARIO)
    assert len(keys) >= 6  # the population covariates at least
    for dotted, key in keys:
        ctx = Ctx("defaults", tuple(dotted.split(".")))
        checked = key.type.normalise(dict(key.default), ctx)  # probes; raises if invalid
        assert checked == key.normalise_default(ctx), dotted
