"""Per-stream random draws for a set of replicates, shaped ``(replicates, patients, …)``.

Each call names a stream; the numbers for replicate ``r`` depend only on the seed entropy, the
stream name, ``r`` and the array shape beyond the patient axis (see :mod:`cohortsim.seeding`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cohortsim.seeding import REPLICATES_PER_BLOCK, generator

Sampler = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def _uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # random() is in [0, 1); shift off 0 so inverse CDFs never see an exact 0 (in place: the
    # same 1 − x, without a second array).
    values = rng.random(shape)
    return np.subtract(1.0, values, out=values)


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _exponential(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_exponential(shape)


def _block_orders(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Stable ascending order, along axis 1, of the uniforms ``_uniform(rng, shape)`` would
    return, without forming them.

    ``random()`` is ``(x >> 11) · 2⁻⁵³`` of the generator's raw 64-bit outputs ``x`` (the same
    outputs, in the same order, as ``random_raw``), so ``_uniform`` is ``1 − (x >> 11) · 2⁻⁵³``,
    which ascends as ``(~x) >> 11 = (2⁵³ − 1) − (x >> 11)`` does, exactly. That 53-bit integer,
    shifted left, has room for the position in its low bits: sorting the packed keys sorts the
    uniforms with ties broken by position (a stable argsort), and the low bits are the order.
    Integer keys let a block of 4 be sorted by a 5-comparator network on whole columns
    (``minimum``/``maximum``) — NumPy's per-row sort of a 4-element row costs several times more.
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
    keys |= np.arange(block, dtype=np.uint64).reshape(1, block, *([1] * (len(shape) - 2)))
    if block == 4:
        _sort_four(keys)
    elif block == 2:
        _compare_exchange(keys[:, 0], keys[:, 1], np.empty_like(keys[:, 0]))
    else:
        keys.sort(axis=1)
    keys &= np.uint64((1 << bits) - 1)
    return keys.astype(np.int16)


def _compare_exchange(low: np.ndarray, high: np.ndarray, scratch: np.ndarray) -> None:
    """Put the elementwise minimum in ``low`` and maximum in ``high``, in place."""
    np.minimum(low, high, out=scratch)
    np.maximum(low, high, out=high)
    low[...] = scratch


def _sort_four(keys: np.ndarray) -> None:
    """Sort distinct keys along axis 1 (length 4) in place with the optimal 5-comparator
    network (Knuth, TAOCP vol. 3, §5.3.4): (0,1), (2,3), (0,2), (1,3), (1,2)."""
    columns = [keys[:, i] for i in range(4)]
    scratch = np.empty_like(columns[0])
    for i, j in ((0, 1), (2, 3), (0, 2), (1, 3), (1, 2)):
        _compare_exchange(columns[i], columns[j], scratch)


def _as_slice(index: np.ndarray) -> slice | np.ndarray:
    """``index`` as a slice when it is a run of consecutive integers, else unchanged."""
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


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
        self._blocks = self.replicates // REPLICATES_PER_BLOCK
        self._rows = self.replicates % REPLICATES_PER_BLOCK
        # Where each block's rows go, and which rows of the block: slices when contiguous (the
        # usual run of consecutive replicates), so copying a block is one strided copy rather
        # than a gather and a masked assignment.
        self._layout = [
            (int(block), _as_slice(np.flatnonzero(self._blocks == block)),
             _as_slice(self._rows[self._blocks == block]))
            # sorted(set()) rather than np.unique, which imports numpy.ma (≈ 7 ms) on first use
            for block in sorted(set(self._blocks.tolist()))
        ]

    def _draw(
        self, stream: str, shape: tuple[int, ...], sampler: Sampler, dtype: type = np.float64
    ) -> np.ndarray:
        """Array of shape ``(len(replicates), *shape)``; generated as ``(*shape, block)``."""
        out: np.ndarray = np.empty((len(self.replicates), *shape), dtype=dtype)
        for block, here, rows in self._layout:
            rng = generator(self.entropy, block, stream)
            values = sampler(rng, (*shape, REPLICATES_PER_BLOCK))
            values = np.moveaxis(values, -1, 0)
            out[here] = values[rows]
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
        (same stream, same numbers), computed from packed integer keys (:func:`_block_orders`).
        """
        return self._draw(stream, (n_blocks, block), _block_orders, np.int16)
