"""Result objects: frozen, read-only arrays, readable summaries, package exports."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import cohortsim.analysis as analysis
from cohortsim.analysis import (
    ancova,
    cox_ph,
    lan_demets_boundaries,
    logrank,
    logrank_batch,
    negbin_rate_ratio,
    risk_difference,
)

TIME = np.array([3, 5, 8, 2, 3, 6, 9, 4, 7, 1], dtype=float)
EVENT = np.array([1, 0, 1, 1, 1, 1, 0, 1, 1, 1])
GROUP = np.array([1, 1, 1, 0, 0, 0, 0, 1, 0, 1])


def test_single_results_are_frozen():
    res = logrank(TIME, EVENT, GROUP)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.pvalue = 0.0  # type: ignore[misc]


def test_batch_results_hold_read_only_copies():
    time = np.tile(TIME, (3, 1))
    res = logrank_batch(time, EVENT, GROUP)
    with pytest.raises(ValueError, match="read-only"):
        res.pvalue[0] = 0.0
    before = res.statistic.copy()
    time[:] = 0.0  # the caller's arrays are not aliased by the result
    np.testing.assert_array_equal(res.statistic, before)
    d = res.to_dict()
    assert {"estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "n_events"} <= set(d)
    assert all(v.shape == (3,) for v in d.values())
    assert "3 replicates" in res.summary()


def test_summaries_are_short_and_informative():
    lr = logrank(TIME, EVENT, GROUP)
    assert f"z = {lr.statistic:.3f}" in lr.summary()
    assert "HR" in cox_ph(TIME, EVENT, GROUP).summary()
    rd = risk_difference(EVENT, GROUP)
    assert "newcombe" in rd.summary()
    y = np.linspace(0, 1, 10)
    assert "t(7)" in ancova(y + GROUP, y**2, GROUP).summary()
    nb = negbin_rate_ratio([0, 1, 3, 0, 5, 2, 0, 1], [6.0] * 8, [0, 1] * 4)
    assert "rate ratio" in nb.summary()
    gs = lan_demets_boundaries((0.5, 1.0))
    assert gs.summary().count("look") == 2
    for s in (lr.summary(), rd.summary(), nb.summary()):
        assert len(s) < 300 and "\n" not in s


def test_public_api_is_exported():
    for name in analysis.__all__:
        assert hasattr(analysis, name), name
    assert "logrank_batch" in analysis.__all__ and "lan_demets_boundaries" in analysis.__all__
