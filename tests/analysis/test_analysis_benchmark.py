"""Speed of the batched log-rank test (opt in: pytest -m benchmark tests/analysis)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cohortsim.analysis import logrank_batch

pytestmark = pytest.mark.benchmark

REPLICATES, PATIENTS = 10_000, 200


def _draw(rng):
    group = np.broadcast_to(np.arange(PATIENTS) % 2 == 1, (REPLICATES, PATIENTS))
    hazard = np.log(2) / 12.0 * np.where(group, 0.5, 1.0)  # control median 12 months, HR 0.5
    t_event = rng.exponential(1.0, (REPLICATES, PATIENTS)) / hazard
    follow_up = 36.0 - rng.uniform(0.0, 24.0, (REPLICATES, PATIENTS))
    return np.minimum(t_event, follow_up), t_event <= follow_up, group


def test_draws_plus_logrank_reach_100k_trials_per_second():
    rng = np.random.default_rng(7)
    logrank_batch(*_draw(rng))  # warm up
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        logrank_batch(*_draw(rng))
        best = min(best, time.perf_counter() - start)
    rate = REPLICATES / best
    print(f"draws + logrank_batch: {best * 1e3:.1f} ms per 10,000 trials -> {rate:,.0f}/s")
    assert rate >= 100_000
