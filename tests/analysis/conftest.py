"""Shared helpers for the analysis tests.

If ``cohortsim`` is not installed (e.g. no editable install yet), make the repository root
importable so that ``pytest tests/analysis`` works from a fresh checkout.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("cohortsim") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _survival_batch(
    rng: np.random.Generator,
    replicates: int,
    patients: int,
    *,
    hazard_ratio: float = 0.7,
    tied: bool = True,
) -> dict[str, np.ndarray]:
    """Random censored survival data; ``tied`` rounds times to whole months (many ties)."""
    group = rng.integers(0, 2, (replicates, patients))
    rate = np.where(group == 1, hazard_ratio, 1.0) / 12.0
    t_event = rng.exponential(1.0, (replicates, patients)) / rate
    t_cens = rng.uniform(1.0, 30.0, (replicates, patients))
    if tied:
        t_event, t_cens = np.ceil(t_event), np.ceil(t_cens)
    return {
        "time": np.minimum(t_event, t_cens),
        "event": t_event <= t_cens,
        "group": group,
        "mask": rng.random((replicates, patients)) < 0.85,
        "strata": rng.integers(0, 3, (replicates, patients)),
    }


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture
def make_survival():
    """Factory for random (replicates, patients) survival data; see ``_survival_batch``."""
    return _survival_batch
