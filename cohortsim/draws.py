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
            for block in np.unique(self._blocks)
        ]

    def _draw(self, stream: str, shape: tuple[int, ...], sampler: Sampler) -> np.ndarray:
        """Array of shape ``(len(replicates), *shape)``; generated as ``(*shape, block)``."""
        out = np.empty((len(self.replicates), *shape))
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
