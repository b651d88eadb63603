"""Variants of a loaded scenario with some values changed (calibration, assurance, power grids).

Works on the resolved tree, so the variant is validated exactly like a file would be and gets its
own hash.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cohortsim.scenario.canonical import thaw
from cohortsim.scenario.load import scenario_from_dict
from cohortsim.scenario.types import Scenario


def resolved_tree(scenario: Scenario) -> dict[str, Any]:
    """A mutable copy of the scenario's resolved tree, loadable again (``derived`` removed)."""
    tree = thaw(scenario.resolved)
    tree.pop("derived", None)
    return tree


def set_dotted(tree: dict[str, Any], dotted_key: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict, creating tables on the way."""
    *parents, leaf = dotted_key.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def with_values(scenario: Scenario, values: Mapping[str, Any]) -> Scenario:
    """The scenario with each dotted key in ``values`` set (validated; new hash)."""
    tree = resolved_tree(scenario)
    for key, value in values.items():
        # A copy: the varied scenario must not share (and later mutate) the caller's tables.
        set_dotted(tree, key, copy.deepcopy(value))
    source = scenario.source_path or "<scenario>"
    base = Path(source).parent if scenario.source_path else None
    return scenario_from_dict(tree, source=f"{source} (varied)", base_dir=base)
