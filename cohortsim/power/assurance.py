"""Assurance: power averaged over what is uncertain about the parameters.

With ``cohortsim power --assurance`` every simulated trial first draws the uncertain disease
parameters of each arm, then simulates and analyses as usual; the proportion of successful
trials is the *assurance* (the probability of success, O'Hagan, Stevens & Campbell 2005). The
uncertain parameters come from two places:

* the **posterior** of a calibrated arm: the ``[posterior]`` table of the arm's
  ``parameters_from`` file — ``parameters = ["response.probability_complete", ...]`` (dotted
  keys relative to the arm's disease) and ``draws = [[...], ...]`` (one row per draw); a draw is
  a row chosen uniformly at random. A parameter the scenario itself overrides (its value in the
  arm differs from the file's ``[disease]`` point value, e.g. a relapse hazard replaced by a
  hazard ratio) is not drawn: the scenario's value stands, and the report says so;
* the **prior** stated in the scenario: ``[arms.<name>.prior]`` maps dotted disease keys to
  distribution tables, each drawn independently by inversion.

A key in both is taken from the posterior (the report lists the source of each).

How the draws meet the engine. The engines read one parameter set per arm, so per-replicate
parameters are realised without changing them: replicates are grouped, ``replicates_per_draw``
(G, a divisor of 256) consecutive replicates sharing one draw, and a cohort is built whose arms
are *virtual* — one copy of every arm per parameter set, patient ``i`` of replicate ``r`` being
in the copy of its arm that belongs to ``r``'s draw (:class:`AssuranceCohort`). Draw ``j`` of
seeding block ``b`` covers replicates ``256 b + G j`` to ``256 b + G (j + 1) − 1``; it is a
function of the seed, the block and ``j`` alone (stream ``"assurance/parameters"``), the same
at every trial size. A drawn set that is not a valid scenario (e.g. ``probability_complete +
probability_partial > 1``) is rejected and drawn again — the prior is conditioned on valid
parameter sets; the number of rejections is reported.

Because G replicates share a draw, the replicates are not independent: the Monte Carlo SE of
the assurance is computed over draws (a ratio estimator over clusters, :func:`cluster_mcse`).
Larger G means fewer distinct draws for the same number of replicates (cheaper, noisier).
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from cohortsim.cohort import LatentCohort, follow_up_horizon, max_flares
from cohortsim.distributions import CovariateDistribution
from cohortsim.scenario import ScenarioError
from cohortsim.scenario.types import Scenario
from cohortsim.scenario.vary import with_values
from cohortsim.seeding import REPLICATES_PER_BLOCK, generator

ATTEMPTS = 200
"""Draws tried per parameter set before giving up (a prior that rarely gives a valid scenario
is an error, not a silent distortion)."""


@dataclass(frozen=True)
class Posterior:
    """Posterior draws of one arm: ``draws[d, k]`` is the value of ``parameters[k]``."""

    arm: str
    source: str
    parameters: tuple[str, ...]
    draws: np.ndarray
    skipped: tuple[str, ...] = ()
    """Posterior parameters not drawn because the scenario overrides the calibrated value
    (in ``[arms.<name>.disease]``) — the scenario's value is kept."""


@dataclass(frozen=True)
class UncertainParameter:
    """One uncertain parameter: arm, dotted disease key, and where its draws come from."""

    arm: str
    key: str
    source: str
    """``"posterior (<file>)"`` or ``"prior"``."""
    distribution: CovariateDistribution | None = None

    @property
    def dotted(self) -> str:
        """The key in the resolved scenario tree."""
        return f"arms.{self.arm}.disease.{self.key}"


@dataclass(frozen=True)
class AssuranceDesign:
    """What assurance draws, and how (see the module docstring)."""

    scenario: Scenario
    parameters: tuple[UncertainParameter, ...]
    posteriors: tuple[Posterior, ...]
    replicates_per_draw: int
    n_flares: int

    @property
    def draws_per_block(self) -> int:
        return REPLICATES_PER_BLOCK // self.replicates_per_draw


def _numeric_at(tree: Mapping[str, Any], dotted: str) -> bool:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return isinstance(node, float) and not isinstance(node, bool)


def read_posterior(scenario: Scenario, arm: str) -> Posterior | None:
    """The ``[posterior]`` of ``arm``'s ``parameters_from`` file, or None without one.

    Raises
    ------
    ScenarioError
        The file changed since the scenario was loaded, or its ``[posterior]`` is malformed.
    """
    include = scenario.resolved["derived"]["includes"].get(arm)
    if include is None:
        return None
    base = Path(scenario.source_path).parent if scenario.source_path else Path.cwd()
    path = Path(include["path"])
    path = path if path.is_absolute() else base / path
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ScenarioError(f"cannot read file ({error.strerror})", source=source) from None
    if hashlib.sha256(data).hexdigest() != include["sha256"]:
        raise ScenarioError("changed since the scenario was loaded: load it again", source=source)
    table = tomllib.loads(data.decode("utf-8")).get("posterior")
    if table is None:
        return None
    parameters = table.get("parameters")
    rows = table.get("draws")
    if not isinstance(parameters, list) or not all(isinstance(p, str) for p in parameters):
        raise ScenarioError(
            "expected posterior.parameters = [dotted disease keys]", source=source
        )
    if not isinstance(rows, list) or not rows:
        raise ScenarioError("expected posterior.draws = [[...], ...] (at least one row)",
                            source=source)
    try:
        draws = np.asarray(rows, dtype=float)
    except (TypeError, ValueError):
        raise ScenarioError(
            "expected posterior.draws to be rows of numbers", source=source
        ) from None
    if draws.ndim != 2 or draws.shape[1] != len(parameters):
        raise ScenarioError(
            f"expected every posterior.draws row to hold {len(parameters)} values (one per "
            "posterior.parameters)",
            source=source,
        )
    if not np.all(np.isfinite(draws)):
        raise ScenarioError("expected finite posterior.draws", source=source)
    disease = scenario.resolved["arms"][arm]["disease"]
    point = tomllib.loads(data.decode("utf-8")).get("disease", {})
    keep, skipped = [], []
    for k, key in enumerate(parameters):
        in_arm, in_file = _numeric_at(disease, key), _numeric_at(point, key)
        if not in_arm and not in_file:
            raise ScenarioError(
                f"posterior.parameters: {key!r} is not a number in arm {arm!r}'s disease",
                source=source,
            )
        if in_arm and (not in_file or _value_at(disease, key) == _value_at(point, key)):
            keep.append(k)
        else:
            skipped.append(key)  # the scenario overrides the calibrated value: keep its own
    return Posterior(
        arm, source, tuple(parameters[k] for k in keep), draws[:, keep], tuple(skipped)
    )


def _value_at(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        node = node[part]
    return node


def assurance_design(scenario: Scenario) -> AssuranceDesign:
    """Collect the uncertain parameters of every arm (posterior first, then prior).

    Raises
    ------
    ValueError
        No arm has any uncertain parameter.
    """
    if scenario.analysis is None:
        raise ValueError("the scenario has no analysis settings")
    parameters: list[UncertainParameter] = []
    posteriors = []
    for arm in scenario.arms:
        posterior = read_posterior(scenario, arm.name)
        taken: set[str] = set()
        if posterior is not None:
            posteriors.append(posterior)
            for key in posterior.parameters:
                parameters.append(
                    UncertainParameter(arm.name, key, f"posterior ({posterior.source})")
                )
                taken.add(key)
        for key, distribution in arm.prior.items():
            if key not in taken:
                parameters.append(UncertainParameter(arm.name, key, "prior", distribution))
    if not parameters:
        raise ValueError(
            "assurance needs uncertain parameters: give an arm a [arms.<name>.prior] table, "
            "or a parameters_from file with a [posterior] table"
        )
    return AssuranceDesign(
        scenario=scenario,
        parameters=tuple(parameters),
        posteriors=tuple(posteriors),
        replicates_per_draw=scenario.analysis.replicates_per_draw,
        n_flares=flare_slots(scenario, parameters),
    )


def flare_slots(scenario: Scenario, parameters: list[UncertainParameter]) -> int:
    """Flare slots per patient that no parameter draw can exceed.

    A flare episode lasts at least ``min(rescue, untreated resolution)`` months and the next
    cannot start before it ends, so at most ``⌈horizon / shortest⌉ + 1`` flares fit in
    follow-up whatever the hazard. Uncertain resolution times use their prior's lower bound.
    """
    if not any(arm.disease.relapse.recurrent for arm in scenario.arms):
        return 1
    shortest = math.inf
    for arm in scenario.arms:
        relapse = arm.disease.relapse
        shortest = min(shortest, relapse.rescue_resolution_months,
                       relapse.untreated_resolution_months)
    for p in parameters:
        if p.key in ("relapse.rescue_resolution_months", "relapse.untreated_resolution_months"):
            low = p.distribution.minimum if p.distribution is not None else None
            if low is None or not low > 0:
                raise ValueError(
                    f"arms.{p.arm}.prior.{p.key}: an uncertain resolution time needs a "
                    "distribution with min > 0 (it bounds the number of flares)"
                )
            shortest = min(shortest, low)
    by_time = math.ceil(follow_up_horizon(scenario) / shortest) + 1
    return max(max_flares(scenario), by_time)


@dataclass(frozen=True)
class ParameterSets:
    """The parameter sets of one seeding block: ``values[j]`` (dotted key → value) and the
    scenario built from it, for draws ``j = 0 … 256/G − 1``."""

    block: int
    values: tuple[Mapping[str, float], ...]
    scenarios: tuple[Scenario, ...]
    rejected: int = 0
    posterior_rows: tuple[Mapping[str, int], ...] = field(default=())


def draw_parameter_sets(design: AssuranceDesign, entropy: int, block: int) -> ParameterSets:
    """Draw the parameter sets of seeding block ``block`` (see the module docstring).

    Raises
    ------
    ValueError
        :data:`ATTEMPTS` draws in a row gave no valid scenario.
    """
    rng = generator(entropy, block, "assurance/parameters")
    n_sets = design.draws_per_block
    columns = len(design.parameters) + len(design.posteriors)
    uniforms = 1.0 - rng.random((n_sets, ATTEMPTS, columns))
    values_out, scenarios, rows_out = [], [], []
    rejected = 0
    for j in range(n_sets):
        last_error: Exception | None = None
        for attempt in range(ATTEMPTS):
            u = uniforms[j, attempt]
            values: dict[str, float] = {}
            rows: dict[str, int] = {}
            for k, posterior in enumerate(design.posteriors):
                row = min(int(u[k] * len(posterior.draws)), len(posterior.draws) - 1)
                rows[posterior.arm] = row
                for key, value in zip(posterior.parameters, posterior.draws[row], strict=True):
                    values[f"arms.{posterior.arm}.disease.{key}"] = float(value)
            for k, p in enumerate(design.parameters, start=len(design.posteriors)):
                if p.distribution is not None:
                    values[p.dotted] = float(p.distribution.ppf(np.asarray(u[k])))
            try:
                scenario = with_values(design.scenario, values)
            except ScenarioError as error:
                rejected += 1
                last_error = error
                continue
            values_out.append(values)
            scenarios.append(scenario)
            rows_out.append(rows)
            break
        else:
            raise ValueError(
                f"{ATTEMPTS} parameter draws in a row gave no valid scenario; the last: "
                f"{last_error}"
            )
    return ParameterSets(block, tuple(values_out), tuple(scenarios), rejected, tuple(rows_out))


class AssuranceCohort(LatentCohort):
    """A latent cohort whose replicates use different parameter sets.

    Arms are virtual: arm ``a`` of parameter set ``s`` is ``arms[s * A + a]``; ``arm`` holds the
    virtual index (so the engines and the endpoint code, which look parameters up through
    ``cohort.arms[cohort.arm]``, see each replicate's own parameters) and ``real_arm`` the
    scenario's arm. Every draw is the base cohort's: only the parameters differ.

    Parameters
    ----------
    scenario : Scenario
        The base scenario (design, randomisation, population; its arms' parameters are not used).
    variants : sequence of Scenario
        One scenario per parameter set (same arms, other disease parameters).
    set_of_row : array of int, shape (R,)
        Parameter set of each replicate (row).
    entropy, replicates, n_patients
        As for :class:`LatentCohort`.
    n_flares : int
        Flare slots (enough for every parameter set; see :func:`flare_slots`).
    """

    def __init__(
        self,
        scenario: Scenario,
        variants: tuple[Scenario, ...],
        set_of_row: np.ndarray,
        entropy: int,
        replicates: np.ndarray,
        n_patients: int,
        n_flares: int,
    ) -> None:
        super().__init__(scenario, entropy, replicates, n_patients)
        self.n_flares = int(n_flares)
        self.real_arms = scenario.arms
        self.arms = tuple(arm for variant in variants for arm in variant.arms)
        self.set_of_row = np.asarray(set_of_row, dtype=np.int64)

    @cached_property
    def real_arm(self) -> np.ndarray:
        """The scenario's arm of every patient (allocation does not depend on parameters)."""
        plain = object.__new__(LatentCohort)
        plain.__dict__.update(vars(self))
        plain.__dict__.pop("arm", None)
        plain.arms = self.real_arms
        return plain.arm

    @cached_property
    def arm(self) -> np.ndarray:  # type: ignore[override]
        offset = self.set_of_row[:, None] * len(self.real_arms)
        return (offset + self.real_arm).astype(np.int32)


def cluster_mcse(successes: np.ndarray, counts: np.ndarray) -> float:
    """Monte Carlo SE of ``sum(successes) / sum(counts)`` when each draw's replicates share
    parameters: the ratio-estimator variance over draws,
    ``Σ (s_j − â m_j)² / (J (J − 1) m̄²)``.

    Parameters
    ----------
    successes, counts : array of shape (J,)
        Successful replicates and replicates of each draw.

    Returns
    -------
    float
        NaN with fewer than two draws.
    """
    s = np.asarray(successes, dtype=float)
    m = np.asarray(counts, dtype=float)
    keep = m > 0
    s, m = s[keep], m[keep]
    j = s.size
    if j < 2:
        return math.nan
    estimate = s.sum() / m.sum()
    residual = s - estimate * m
    return float(math.sqrt((residual @ residual) / (j * (j - 1)) / m.mean() ** 2))
