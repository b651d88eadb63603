"""The fast paths of :mod:`cohortsim.draws` and ``LatentCohort.arm`` against their definitions.

* ``DrawSource.block_values`` (arms gathered from a table of comparison codes, or from sorted
  packed keys for blocks over 6) equals ``values[argsort(uniforms, stable)]`` of the same stream,
  for blocks 1–12, two and three arms, unequal allocations, ties, replicates out of order and
  across seeding blocks;
* unstratified and stratified ``LatentCohort.arm`` equal the permuted-block definition written
  out patient by patient;
* the transposed copy in pieces (``_copy_transposed``) gives, row by row, the numbers each
  replicate's own generator gives.
"""

from __future__ import annotations

import dataclasses
from itertools import permutations
from types import SimpleNamespace

import numpy as np
import pytest
from simulate_scenarios import SCENARIO_DIR, lupus_trial

from cohortsim.cohort import LatentCohort
from cohortsim.draws import (
    MAX_CODED_BLOCK,
    DrawSource,
    _coding,
    _exponential,
    _normal,
    _permuted,
    _uniform,
)
from cohortsim.scenario import Scenario, load_scenario
from cohortsim.seeding import REPLICATES_PER_BLOCK, generator

SCATTERED = np.array([700, 3, 255, 256, 9, 511, 0, 1030])
"""Out of order, not contiguous, over five seeding blocks."""

# Arm patterns of a block (np.repeat of the arms by allocation × block / total), 2 and 3 arms.
PATTERNS = [
    [0, 1],
    [0, 0, 1],
    [0, 1, 1],
    [0, 0, 1, 1],
    [0, 0, 0, 1],
    [0, 1, 2],
    [0, 0, 0, 1, 1],
    [0, 0, 0, 1, 1, 1],
    [0, 0, 0, 0, 1, 1],
    [0, 0, 1, 1, 2, 2],
    [0, 1, 1, 2, 2, 2],
    [0, 0, 0, 0, 1, 1, 1, 1],
    [0, 0, 1, 1, 1, 1, 1, 1, 1],
    [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2],
]


def _stable_order(uniforms: np.ndarray) -> np.ndarray:
    return np.argsort(uniforms, axis=-1, kind="stable")


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: "".join(map(str, p)))
@pytest.mark.parametrize("replicates", [SCATTERED, np.arange(250, 530)], ids=["scattered", "run"])
def test_block_values_are_the_values_in_the_stable_order_of_the_uniforms(
    pattern: list[int], replicates: np.ndarray
) -> None:
    values = np.array(pattern, dtype=np.int8)
    block = values.size
    draws = DrawSource(5, replicates)
    uniforms = draws.uniform("allocation/stratum/1", 13, block)
    got = draws.block_values("allocation/stratum/1", 13, block, values)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, values[_stable_order(uniforms)])


@pytest.mark.parametrize("block", range(1, 13))
def test_block_values_of_positions_are_the_block_orders(block: int) -> None:
    draws = DrawSource(8, SCATTERED)
    positions = np.arange(block, dtype=np.int16)
    orders = draws.block_orders("s", 9, block)
    np.testing.assert_array_equal(draws.block_values("s", 9, block, positions), orders)
    np.testing.assert_array_equal(orders, _stable_order(draws.uniform("s", 9, block)))


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: "".join(map(str, p)))
def test_ties_keep_the_earlier_item_first(pattern: list[int]) -> None:
    # Raw outputs that differ only in their 11 low bits give equal uniforms: many ties.
    block = len(pattern)
    shape = (40, block, 7)
    raw = np.random.Generator(np.random.PCG64(3)).integers(0, 3, size=shape, dtype=np.uint64)
    raw <<= np.uint64(61)
    raw |= np.random.Generator(np.random.PCG64(4)).integers(
        0, 2**11, size=shape, dtype=np.uint64
    )
    fake = SimpleNamespace(bit_generator=SimpleNamespace(random_raw=lambda shape: raw.copy()))
    uniforms = 1.0 - (raw >> np.uint64(11)) * 2.0**-53
    values = np.array(pattern, dtype=np.int8)
    expected = values[np.argsort(uniforms, axis=1, kind="stable")]
    got = _permuted(fake, shape, values)  # type: ignore[arg-type]
    np.testing.assert_array_equal(got, np.moveaxis(expected, -1, 0))


def test_short_values_fail_as_indexing_does() -> None:
    draws = DrawSource(1, np.arange(3))
    with pytest.raises(IndexError):
        draws.block_values("s", 2, 4, np.array([0, 1], dtype=np.int8))


@pytest.mark.parametrize("block", range(1, MAX_CODED_BLOCK + 1))
def test_a_code_table_holds_every_order(block: int) -> None:
    pairs, table = _coding(tuple(range(block)), np.dtype(np.int16).str)
    assert len(pairs) == block * (block - 1) // 2
    orders = set(permutations(range(block)))
    rows = {tuple(row) for row in table.tolist()}
    assert orders <= rows <= orders | {(0,) * block}  # unreachable codes are left 0


# -- LatentCohort.arm ---------------------------------------------------------------------------


def _with_allocation(
    scenario: Scenario, allocation: tuple[int, ...], block: int, strata: tuple[str, ...] = ()
) -> Scenario:
    arms = list(scenario.arms)
    while len(arms) < len(allocation):
        arms.append(dataclasses.replace(arms[-1], name=f"{arms[-1].name}_{len(arms)}"))
    arms = [dataclasses.replace(arm, allocation=w) for arm, w in zip(arms, allocation, strict=True)]
    randomisation = dataclasses.replace(
        scenario.randomisation, method="permuted_block", block_size=block, strata=strata
    )
    return dataclasses.replace(scenario, arms=tuple(arms), randomisation=randomisation)


def _arm_by_definition(cohort: LatentCohort) -> np.ndarray:
    """Permuted blocks patient by patient: the k-th patient of stratum s in a replicate gets
    ``pattern[order[k // block][k % block]]`` of that replicate's stream for stratum s, where
    ``order`` is the stable ascending order of the stream's uniforms."""
    weights = np.array([arm.allocation for arm in cohort.arms])
    block = cohort.scenario.randomisation.block_size
    pattern = np.repeat(np.arange(len(weights)), weights * (block // weights.sum()))
    n_blocks = -(-cohort.n_patients // block)
    stratum = cohort.stratum
    arm = np.full(cohort.shape, -1)
    for code in np.unique(stratum):
        uniforms = cohort.draws.uniform(f"allocation/stratum/{int(code)}", n_blocks, block)
        order = _stable_order(uniforms)
        for r in range(cohort.shape[0]):
            for k, patient in enumerate(np.flatnonzero(stratum[r] == code)):
                arm[r, patient] = pattern[order[r, k // block, k % block]]
    return arm


ALLOCATIONS = [
    ((1, 1), [2, 4, 6, 8, 12]),
    ((2, 1), [3, 6, 9]),
    ((1, 3), [4, 8, 12]),
    ((1, 1, 1), [3, 6, 12]),
    ((2, 1, 1), [4, 8]),
    ((1, 2, 3), [6, 12]),
]


@pytest.mark.parametrize(("allocation", "blocks"), ALLOCATIONS, ids=str)
@pytest.mark.parametrize("n_patients", [37, 48])
def test_unstratified_arms_are_permuted_blocks(
    allocation: tuple[int, ...], blocks: list[int], n_patients: int
) -> None:
    base = load_scenario(SCENARIO_DIR / "reference_logrank.toml")
    for block in blocks:
        cohort = LatentCohort(_with_allocation(base, allocation, block), 6, SCATTERED, n_patients)
        arm = cohort.arm
        assert arm.dtype == np.int8 and arm.flags.c_contiguous
        np.testing.assert_array_equal(arm, _arm_by_definition(cohort), err_msg=f"{block=}")


@pytest.mark.parametrize(("allocation", "blocks"), ALLOCATIONS[:4], ids=str)
def test_stratified_arms_are_permuted_blocks_per_stratum(
    allocation: tuple[int, ...], blocks: list[int]
) -> None:
    base = lupus_trial()
    for block in blocks:
        scenario = _with_allocation(base, allocation, block, ("nephritis", "female"))
        cohort = LatentCohort(scenario, 2, SCATTERED[:5], 30)
        assert len(np.unique(cohort.stratum)) > 1
        np.testing.assert_array_equal(cohort.arm, _arm_by_definition(cohort), err_msg=f"{block=}")


# -- the transposed copy ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(37,), (40, 3), (70,), (5, 0), (0,), (3, 2, 4)], ids=str)
@pytest.mark.parametrize(
    "replicates",
    [SCATTERED, np.arange(200, 300), np.array([9, 8, 7])],
    ids=["scattered", "run", "reversed"],
)
def test_draws_are_each_replicates_own_numbers(
    shape: tuple[int, ...], replicates: np.ndarray
) -> None:
    draws = DrawSource(4, replicates)
    for method, sampler in (
        (draws.uniform, _uniform),
        (draws.normal, _normal),
        (draws.exponential, _exponential),
    ):
        got = method("x", *shape)
        assert got.shape == (replicates.size, *shape) and got.flags.c_contiguous
        for j, r in enumerate(replicates):
            rng = generator(4, int(r) // REPLICATES_PER_BLOCK, "x")
            own = sampler(rng, (*shape, REPLICATES_PER_BLOCK))[..., int(r) % REPLICATES_PER_BLOCK]
            np.testing.assert_array_equal(got[j], own)
