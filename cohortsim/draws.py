"""Per-stream random draws for a set of replicates, shaped ``(replicates, patients, …)``.

Each call names a stream; the numbers for replicate ``r`` depend only on the seed entropy, the
stream name, ``r`` and the array shape beyond the patient axis (see :mod:`cohortsim.seeding`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from itertools import combinations, permutations

import numpy as np

from cohortsim.seeding import REPLICATES_PER_BLOCK, generator

Sampler = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]

MAX_CODED_BLOCK = 6
"""Largest permuted block ordered through a table of comparison codes (:func:`_coding`). Its
table has up to ``2 ** 15`` rows for 6 (1.7 ms to build, once) and would have ``2 ** 21`` for 7;
larger blocks sort packed keys (:func:`_orders_by_sort`), about twice as slow."""

_TRANSPOSE_ROWS = 32
"""Generated rows (patients × …) per piece of the transposed copy in :meth:`DrawSource._draw`."""


def _uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # random() is in [0, 1); shift off 0 so inverse CDFs never see an exact 0 (in place: the
    # same 1 − x, without a second array).
    values = rng.random(shape)
    return np.subtract(1.0, values, out=values)


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _exponential(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_exponential(shape)


# -- permuted blocks ------------------------------------------------------------------------------
#
# A permuted block is the stable ascending order of ``block`` uniforms ``_uniform(rng, shape)``
# along axis 1 of ``shape = (n_blocks, block, replicates)``. ``random()`` is ``(x >> 11) · 2⁻⁵³``
# of the generator's raw 64-bit outputs ``x`` (the same outputs, in the same order, as
# ``random_raw``), so ``_uniform`` is ``1 − (x >> 11) · 2⁻⁵³``, which ascends as ``x >> 11``
# descends, exactly: the order is computed from the raw integers without forming the uniforms.


@cache
def _coding(values: tuple[int, ...], dtype: str) -> tuple[tuple[tuple[int, int], ...], np.ndarray]:
    """The comparisons that decide ``values[order]`` for an order of a block, and the table of
    ``values[order]`` by the code of those comparisons.

    Returns ``(pairs, table)``. ``pairs`` are the pairs of items ``i < j`` with different
    values, in :func:`itertools.combinations` order; the code of an order has bit ``(i, j)`` set
    when item ``i`` comes before item ``j``, the first pair in the highest bit (as
    :func:`_order_codes` builds it). Items of equal value can trade places without changing
    ``values[order]``, so the pairs between them are left out: for arms 0, 0, 1, 1 that is 4
    comparisons and 16 codes instead of 6 and 64. Row ``code`` of ``table`` (dtype ``dtype``)
    is ``values[order]`` for the orders with that code (codes no order has are left 0).
    """
    block = len(values)
    pairs = tuple((i, j) for i, j in combinations(range(block), 2) if values[i] != values[j])
    table = np.zeros((1 << len(pairs), block), dtype=dtype)
    seen: dict[int, list[int]] = {}
    for order in permutations(range(block)):
        place = {item: p for p, item in enumerate(order)}
        code = 0
        for i, j in pairs:
            code = 2 * code + (place[i] < place[j])
        row = [values[item] for item in order]
        # Every order with this code gives the same values (the claim above, checked).
        assert code not in seen or seen[code] == row
        seen[code] = table[code] = row
    table.flags.writeable = False
    return pairs, table


def _order_codes(
    rng: np.random.Generator, shape: tuple[int, ...], pairs: tuple[tuple[int, int], ...]
) -> np.ndarray:
    """Codes (:func:`_coding`) over ``pairs`` of the stable ascending orders along axis 1 of the
    uniforms ``_uniform(rng, shape)`` would return, replicate axis first: ``(shape[2],
    shape[0])``.

    Item ``i < j`` comes first when ``uᵢ ≤ uⱼ``, i.e. ``xᵢ >> 11 ≥ xⱼ >> 11``, i.e.
    ``xᵢ | 0x7FF ≥ xⱼ | 0x7FF``: ties keep the earlier item first, as a stable sort does. Arms
    of a block of 4 then cost 4 whole-column comparisons and a table lookup — under half of
    sorting packed keys, even with a sorting network.
    """
    n_blocks, _, width = shape
    keys = rng.bit_generator.random_raw(shape)
    assert isinstance(keys, np.ndarray)
    # In place, and compared where they are (item i of every block is ``keys[:, i]``, runs of
    # 256): an items-first copy makes each comparison read contiguous columns, but writing it
    # costs more than that saves, most of all into memory not in cache (in a power run the
    # copy took a third of the time of the whole stream).
    np.bitwise_or(keys, np.uint64(0x7FF), out=keys)
    code = np.zeros((n_blocks, width), dtype=np.uint8 if len(pairs) <= 8 else np.uint16)
    before = np.empty((n_blocks, width), dtype=bool)
    for i, j in pairs:
        np.greater_equal(keys[:, i], keys[:, j], out=before)
        # code = 2 · code + before, by add and or: a uint8 shift is several times slower.
        np.add(code, code, out=code)
        np.bitwise_or(code, before.view(np.uint8), out=code)
    return np.ascontiguousarray(code.T)


def _orders_by_sort(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The stable ascending orders along axis 1 of ``_uniform(rng, shape)``, replicate axis
    first (``(shape[2], shape[0], shape[1])``, int16), by sorting packed integer keys.

    ``(~x) >> 11 = (2⁵³ − 1) − (x >> 11)`` ascends as the uniforms do; shifted left, it has
    room for the position in its low bits, so sorting the packed keys sorts the uniforms with
    ties broken by position (a stable argsort), and the low bits are the order.
    """
    block = shape[1]
    bits = max(1, (block - 1).bit_length())
    if 53 + bits > 64:
        raise ValueError(f"blocks of {block} are too large for packed sort keys")
    keys = rng.bit_generator.random_raw(shape)
    assert isinstance(keys, np.ndarray)
    np.invert(keys, out=keys)
    keys >>= np.uint64(11)
    keys <<= np.uint64(bits)
    keys |= np.arange(block, dtype=np.uint64).reshape(1, block, 1)
    keys.sort(axis=1)
    keys &= np.uint64((1 << bits) - 1)
    return np.moveaxis(keys, -1, 0).astype(np.int16, order="C")


def _permuted(rng: np.random.Generator, shape: tuple[int, ...], values: np.ndarray) -> np.ndarray:
    """``values[order]``, replicate axis first (``(shape[2], shape[0], shape[1])``), where
    ``order`` is the stable ascending order along axis 1 of ``_uniform(rng, shape)``.

    Too few ``values`` for a block fail (or not) as that indexing does.
    """
    block = shape[1]
    if block <= MAX_CODED_BLOCK and len(values) >= block:
        # Orders never reach values past the block.
        pairs, table = _coding(tuple(values[:block].tolist()), values.dtype.str)
        return np.take(table, _order_codes(rng, shape, pairs), axis=0)
    return values[_orders_by_sort(rng, shape)]


def _block_orders(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Stable ascending order along axis 1 of the uniforms ``_uniform(rng, shape)`` would
    return, without forming them; replicate axis first: ``(shape[2], shape[0], shape[1])``."""
    return _permuted(rng, shape, np.arange(shape[1], dtype=np.int16))


def _as_slice(index: np.ndarray) -> slice | np.ndarray:
    """``index`` as a slice when it is a run of consecutive integers, else unchanged."""
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


def _copy_transposed(
    out: np.ndarray, here: slice | np.ndarray, values: np.ndarray, rows: slice | np.ndarray
) -> None:
    """``out[here] = np.moveaxis(values, -1, 0)[rows]``.

    When ``here`` is a slice, ``out[here]`` is a contiguous slab and the copy goes in pieces of
    :data:`_TRANSPOSE_ROWS` generated rows. The same values land in the same places, but the
    piecewise copy takes about half the time of one transposed copy at 200 patients (float64,
    256 replicates) and a ninth at 2,000: one copy reads down whole columns whose elements are
    2 KiB apart, and cache lines that far apart compete for the same few cache sets.
    """
    if not isinstance(here, slice):
        out[here] = np.moveaxis(values, -1, 0)[rows]
        return
    target = out[here]
    cells = math.prod(values.shape[:-1])
    slab = target.reshape(target.shape[0], cells)  # a view: `out` is C-contiguous
    generated = values.reshape(cells, values.shape[-1])
    for start in range(0, cells, _TRANSPOSE_ROWS):
        stop = start + _TRANSPOSE_ROWS
        slab[:, start:stop] = generated[start:stop, rows].T


Layout = list[tuple[int, slice | np.ndarray, slice | np.ndarray]]
"""Per seeding block: the block, where its rows go in the result, which of its rows."""


def _general_layout(replicates: np.ndarray) -> Layout:
    """The :data:`Layout` of any replicates (any order, repeats allowed), ascending blocks."""
    blocks = replicates // REPLICATES_PER_BLOCK
    rows = replicates % REPLICATES_PER_BLOCK
    return [
        (int(block), _as_slice(np.flatnonzero(blocks == block)), _as_slice(rows[blocks == block]))
        # sorted(set()) rather than np.unique, which imports numpy.ma (≈ 7 ms) on first use
        for block in sorted(set(blocks.tolist()))
    ]


def _run_layout(first: int, stop: int) -> Layout:
    """:func:`_general_layout` of ``arange(first, stop)`` (non-empty), by
    arithmetic: each block's share of a run is one slice of the result and one of its rows.
    The general computation costs a few masks and comparisons per block (~15 µs for one block,
    as much as drawing a small stream); a power chunk is one run.
    """
    layout: Layout = []
    for block in range(first // REPLICATES_PER_BLOCK, (stop - 1) // REPLICATES_PER_BLOCK + 1):
        low = max(first, block * REPLICATES_PER_BLOCK)
        high = min(stop, (block + 1) * REPLICATES_PER_BLOCK)
        offset = block * REPLICATES_PER_BLOCK
        layout.append((block, slice(low - first, high - first), slice(low - offset, high - offset)))
    return layout


class DrawSource:
    """Draws for the replicates ``replicates`` (any order) of one seed.

    Parameters
    ----------
    entropy : int
        Seed entropy of the run.
    replicates : array of int
        Replicate indices wanted; row ``j`` of every result belongs to ``replicates[j]``.
    """

    def __init__(self, entropy: int, replicates: np.ndarray) -> None:
        self.entropy = int(entropy)
        self.replicates = np.asarray(replicates, dtype=np.int64)
        # Where each block's rows go, and which rows of the block: slices when contiguous (the
        # usual run of consecutive replicates), so copying a block is one strided copy rather
        # than a gather and a masked assignment.
        run = _as_slice(self.replicates)
        if isinstance(run, slice):
            self._layout = _run_layout(run.start, run.stop)
        else:
            self._layout = _general_layout(self.replicates)

    def _draw(
        self,
        stream: str,
        shape: tuple[int, ...],
        sampler: Sampler,
        dtype: type = np.float64,
        replicates_first: bool = False,
    ) -> np.ndarray:
        """Array of shape ``(len(replicates), *shape)``; generated as ``(*shape, block)``.

        ``sampler(rng, (*shape, block))`` returns that generated array, or, with
        ``replicates_first``, the same numbers already laid out as ``(block, *shape)``.
        """
        out: np.ndarray = np.empty((len(self.replicates), *shape), dtype=dtype)
        for block, here, rows in self._layout:
            rng = generator(self.entropy, block, stream)
            values = sampler(rng, (*shape, REPLICATES_PER_BLOCK))
            if replicates_first:
                out[here] = values[rows]
            else:
                _copy_transposed(out, here, values, rows)
        return out

    def uniform(self, stream: str, *shape: int) -> np.ndarray:
        """Uniforms in (0, 1]."""
        return self._draw(stream, shape, _uniform)

    def normal(self, stream: str, *shape: int) -> np.ndarray:
        """Standard normals."""
        return self._draw(stream, shape, _normal)

    def exponential(self, stream: str, *shape: int) -> np.ndarray:
        """Unit exponentials."""
        return self._draw(stream, shape, _exponential)

    def block_orders(self, stream: str, n_blocks: int, block: int) -> np.ndarray:
        """Random orders of ``0 … block − 1``, shape ``(len(replicates), n_blocks, block)``:
        exactly ``np.argsort(self.uniform(stream, n_blocks, block), axis=2, kind="stable")``
        (same stream, same numbers), computed from the raw integers behind those uniforms
        (:func:`_order_codes`, or :func:`_orders_by_sort` for blocks over
        :data:`MAX_CODED_BLOCK`).
        """
        return self._draw(
            stream, (n_blocks, block), _block_orders, np.int16, replicates_first=True
        )

    def block_values(
        self, stream: str, n_blocks: int, block: int, values: np.ndarray
    ) -> np.ndarray:
        """``values[self.block_orders(stream, n_blocks, block)]``, dtype of ``values``: each
        block a random permutation of ``values`` (e.g. the arms of a permuted block), gathered
        per replicate block from a table of every order, without the order arrays."""

        def sampler(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
            return _permuted(rng, shape, values)

        return self._draw(
            stream, (n_blocks, block), sampler, values.dtype.type, replicates_first=True
        )
