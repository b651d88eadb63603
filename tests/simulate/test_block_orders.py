"""Permuted-block orders (from comparison codes, or packed integer keys for blocks over 6) equal
a stable argsort of the same uniforms.

Reference: NumPy's own ``argsort(kind="stable")`` on the uniforms ``DrawSource.uniform`` returns
for the same stream; ``Generator.random`` is documented as ``(next_uint64 >> 11) * 2**-53`` for
PCG64 (numpy/random/src/pcg64/pcg64.h, ``pcg64_next_double``), which the tie test relies on.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cohortsim.draws import DrawSource, _block_orders


@pytest.mark.parametrize("block", [2, 3, 4, 5, 6, 7, 8, 12])
def test_block_orders_equal_stable_argsort_of_the_uniforms(block: int) -> None:
    # Replicates across two seeding blocks, out of order and not contiguous.
    replicates = np.array([700, 3, 255, 256, 9, 511, 0])
    draws = DrawSource(11, replicates)
    orders = draws.block_orders("allocation/stratum/0", 13, block)
    uniforms = draws.uniform("allocation/stratum/0", 13, block)
    assert orders.shape == (replicates.size, 13, block)
    np.testing.assert_array_equal(orders, np.argsort(uniforms, axis=2, kind="stable"))


def test_random_is_the_shifted_raw_output() -> None:
    # The identity _block_orders rests on, checked on this NumPy.
    a = np.random.Generator(np.random.PCG64(5)).random(1000)
    raw = np.random.Generator(np.random.PCG64(5)).bit_generator.random_raw(1000)
    np.testing.assert_array_equal(a, (raw >> np.uint64(11)) * 2.0**-53)


@pytest.mark.parametrize("block", [2, 4, 5, 6, 7])
def test_ties_keep_the_earlier_position_first(block: int) -> None:
    # Raw outputs that differ only in the 11 low bits give equal uniforms: the stable order.
    raw = np.random.Generator(np.random.PCG64(1)).integers(
        0, 4, size=(6, block, 3), dtype=np.uint64
    ) << np.uint64(60)
    raw |= np.random.Generator(np.random.PCG64(2)).integers(
        0, 2**11, size=raw.shape, dtype=np.uint64
    )
    fake = SimpleNamespace(bit_generator=SimpleNamespace(random_raw=lambda shape: raw.copy()))
    uniforms = 1.0 - (raw >> np.uint64(11)) * 2.0**-53
    assert (np.diff(np.sort(uniforms, axis=1), axis=1) == 0).any()  # there are ties
    np.testing.assert_array_equal(
        _block_orders(fake, raw.shape),  # type: ignore[arg-type]
        np.moveaxis(np.argsort(uniforms, axis=1, kind="stable"), -1, 0),  # replicates first
    )


def test_blocks_too_large_for_packed_keys_are_refused() -> None:
    rng = np.random.Generator(np.random.PCG64(0))
    with pytest.raises(ValueError, match="too large"):
        _block_orders(rng, (1, 4096, 2))
