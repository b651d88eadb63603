"""Random streams: every draw in cohortsim comes from here.

A stream is named after its purpose (``"enrolment"``, ``"relapse/gaps"``, …). Its generator for a
block of replicates is rebuilt from integers alone::

    SeedSequence(entropy, spawn_key=(replicate_block, stream_id(name)))

so the numbers do not depend on the number of workers, the order shards are run in, or restarts.
Every random quantity has its own stream, so adding a component never shifts existing draws.

Replicates are grouped in blocks of :data:`REPLICATES_PER_BLOCK` so that one generator serves
many replicates (building a generator costs ~15 µs; one per replicate per stream would dominate
the vectorised engine). Replicate ``r`` is row ``r % REPLICATES_PER_BLOCK`` of block
``r // REPLICATES_PER_BLOCK``. Draws are generated patient-major (shape ``(patients, …,
block)``), so patient ``i`` of a larger trial receives exactly the numbers patient ``i`` of a
smaller trial received: common random numbers across sample sizes.
"""

from __future__ import annotations

import zlib
from typing import cast

import numpy as np

REPLICATES_PER_BLOCK = 256
"""Replicates sharing one generator per stream. Part of the seeding scheme: changing it changes
every result, so it is a constant, recorded in manifests, not a setting."""

SEEDING_SCHEME = (
    f"SeedSequence(entropy, spawn_key=(block, crc32(stream))), block={REPLICATES_PER_BLOCK}"
)


def stream_id(name: str) -> int:
    """Stable integer id of a stream name (CRC-32 of its UTF-8 bytes)."""
    return zlib.crc32(name.encode("utf-8"))


def generator(entropy: int, block: int, stream: str) -> np.random.Generator:
    """The generator of ``stream`` for replicate block ``block``."""
    sequence = np.random.SeedSequence(entropy, spawn_key=(block, stream_id(stream)))
    return np.random.Generator(np.random.PCG64(sequence))


def fresh_entropy() -> int:
    """New seed entropy from the operating system (printed and recorded by callers)."""
    # Without an entropy argument, SeedSequence draws an int from the OS.
    return int(cast(int, np.random.SeedSequence().entropy)) % (2**63)


def blocks_for(replicates: np.ndarray) -> np.ndarray:
    """Sorted unique blocks that hold the given replicate indices."""
    return np.unique(np.asarray(replicates) // REPLICATES_PER_BLOCK)
