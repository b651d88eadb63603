"""Scenario files: TOML → validated, frozen, hashed :class:`Scenario`.

>>> from cohortsim.scenario import load_scenario
>>> scenario = load_scenario("scenarios/reference_logrank.toml", ["study.n_patients=300"])
>>> scenario.study.n_patients, len(scenario.sha256)
(300, 64)

Modules: :mod:`~cohortsim.scenario.spec` (every key, declared once), :mod:`.fields` (the
validation machinery the spec is made of), :mod:`.hazard_spec` and :mod:`.distribution_spec`
(hazard and covariate-distribution tables), :mod:`.build` (checks across sections, the
dataclasses), :mod:`.load` (files, overrides, includes), :mod:`.canonical` (resolved tree, JSON,
hash), :mod:`.docs` (``docs/scenarios.md``), :mod:`.types` (the dataclasses).
"""

from typing import TYPE_CHECKING, Any

from cohortsim.scenario.canonical import canonical_json
from cohortsim.scenario.errors import ScenarioError
from cohortsim.scenario.load import load_scenario, scenario_from_dict
from cohortsim.scenario.spec import accepted_keys
from cohortsim.scenario.types import Scenario

if TYPE_CHECKING:
    from cohortsim.scenario.docs import render_docs

__all__ = [
    "Scenario",
    "ScenarioError",
    "accepted_keys",
    "canonical_json",
    "load_scenario",
    "render_docs",
    "scenario_from_dict",
]


def __getattr__(name: str) -> Any:
    # The docs renderer is imported on first use: loading a scenario does not need it.
    if name in ("render_docs", "docs"):
        docs = __import__("cohortsim.scenario.docs", fromlist=["render_docs"])
        return docs if name == "docs" else docs.render_docs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
