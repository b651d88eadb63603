"""The fast paths of the batched log-rank and Cox fit give the numbers of the plain ones.

* The Cox Newton-Raphson (multiplications by exp(beta), Peto start, log-likelihood only after an
  overshooting step, padded 2-D terms) agrees with the original algorithm — kept verbatim in
  ``cox_reference.py`` — to 1e-9 in the log hazard ratio on random batches with and without
  ties, Breslow and Efron, with strata, and in degenerate cases (no events, all events in one
  arm, one arm empty, a single event), with the same convergence verdicts.
* Row sorting by packed keys equals an argsort and a gather.
* A batch given in blocks of replicates gives exactly the results of the same batch in one
  piece, log-rank and Cox, with ties or without, with strata.
* The fast building blocks equal their plain constructions bit for bit: the lane-wise counts
  at risk (a cumulative sum), the Cox terms written straight into their padded layout, the
  fit of a replicate alone and among others, the recycled sort keys and the quick time check.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from cox_reference import reference_fit_binary_cox

from cohortsim.analysis import survival as sv
from cohortsim.analysis.survival import logrank_cox_batch, logrank_cox_blocks


def _reference(data: dict, ties: str, with_strata: bool):  # type: ignore[no-untyped-def]
    t, e, g, m, s = sv._batch_inputs(
        data["time"], data["event"], data["group"], data["mask"],
        data["strata"] if with_strata else None,
    )
    batch = sv._sort_batch([(t, e, g, m, s)])
    rows = t.shape[0]
    risk_sets = sv._RiskSets.concat(
        [sv._NO_EVENTS, *(batch.risk_sets(k) for k in range(batch.n_strata))]
    )
    o1 = risk_sets.per_row(risk_sets.d1, rows)
    return reference_fit_binary_cox(o1, sv._cox_terms(risk_sets, ties), 50, 1e-10)


def _assert_fit_matches_reference(data: dict, ties: str, with_strata: bool) -> None:
    ref = _reference(data, ties, with_strata)
    _, cox = logrank_cox_batch(
        data["time"], data["event"], data["group"], data["mask"],
        data["strata"] if with_strata else None, ties=ties,
    )
    estimable = np.isfinite(ref.beta)
    np.testing.assert_array_equal(np.isfinite(cox.estimate), estimable)
    np.testing.assert_array_equal(cox.converged, ref.converged & estimable)
    ok = ref.converged & estimable
    np.testing.assert_allclose(cox.estimate[ok], ref.beta[ok], rtol=0, atol=1e-9)
    np.testing.assert_allclose(cox.se[ok], ref.se[ok], rtol=1e-9)
    np.testing.assert_allclose(cox.loglik[ok], ref.loglik[ok], rtol=1e-12)
    # Diverging fits (all events in one arm) head the same way, past the stopping point.
    gone = estimable & ~ref.converged
    assert np.all(np.sign(cox.estimate[gone]) == np.sign(ref.beta[gone]))
    assert np.all(np.abs(cox.estimate[gone]) >= sv._DIVERGED)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("with_strata", [False, True])
@pytest.mark.parametrize("hazard_ratio", [0.3, 1.0, 2.5])
def test_cox_fit_matches_the_original_algorithm(
    rng, make_survival, ties, tied, with_strata, hazard_ratio
):
    data = make_survival(rng, 300, 70, hazard_ratio=hazard_ratio, tied=tied)
    _assert_fit_matches_reference(data, ties, with_strata)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_cox_fit_matches_the_original_algorithm_in_degenerate_rows(rng, make_survival, ties):
    data = make_survival(rng, 60, 12, tied=True)
    data["event"][0] = False  # no events
    data["event"][1] = data["group"][1] == 0  # every event in control: diverges to -inf
    data["event"][2] = data["group"][2] == 1  # every event on treatment: diverges to +inf
    data["group"][3] = 1  # one arm only: no information
    data["event"][4] = False
    data["event"][4, 0] = True  # a single event
    data["mask"][5] = False  # nobody included
    data["time"][6] = 5.0  # everyone tied at one time
    data["mask"][7, :] = True
    data["event"][7, :] = True  # everyone has an event
    _assert_fit_matches_reference(data, ties, with_strata=False)
    _assert_fit_matches_reference(data, ties, with_strata=True)


def test_cox_fit_far_from_zero_and_extreme_starts() -> None:
    """Huge effects and near-monotone likelihoods: a start far out, steps beyond the clamp."""
    rng = np.random.default_rng(3)
    time = rng.exponential(1.0, (200, 30))
    group = rng.random((200, 30)) < 0.5
    # events nearly only on treatment: beta large and positive, often diverging
    event = np.where(group, rng.random((200, 30)) < 0.9, rng.random((200, 30)) < 0.03)
    data = {"time": time, "event": event, "group": group, "mask": np.ones_like(group),
            "strata": np.zeros((200, 30))}
    for ties in ("breslow", "efron"):
        _assert_fit_matches_reference(data, ties, with_strata=False)


def test_untied_terms_are_the_risk_set_terms(rng, make_survival):
    data = make_survival(rng, 50, 40, tied=False)
    t, e, g, m, _ = sv._batch_inputs(data["time"], data["event"], data["group"], data["mask"],
                                     None)
    rows = sv._sort_rows(t, e, g, m)
    assert not rows.tied
    r, n0, n1, per_row = sv._untied_terms(rows)
    fast = sv._padded(50, r, None, n0, n1, per_row)
    for ties in ("breslow", "efron"):
        slow = sv._pad_terms(sv._cox_terms(sv._risk_sets(rows), ties), 50)
        np.testing.assert_array_equal(fast.a, slow.a)
        np.testing.assert_array_equal(fast.b, slow.b)


def test_padding_changes_no_term(rng):
    """Rows of different lengths: padded terms add nothing to score, information or
    log-likelihood."""
    counts = np.array([3, 0, 5, 1])
    row = np.repeat(np.arange(4), counts)
    a = rng.integers(0, 20, row.size).astype(float)
    b = rng.integers(1, 20, row.size).astype(float)
    w = rng.integers(1, 3, row.size).astype(float)
    padded = sv._padded(4, row, w, a, b)
    beta = np.array([0.3, -1.0, 2.0, 0.0])
    o1 = np.array([1.0, 0.0, 2.0, 1.0])
    score, info = sv._score_info(padded.ratio, padded.score_weights, o1, beta)
    loglik = sv._loglik(padded.a, padded.b, padded.w, o1, beta)
    theta = np.exp(beta[row])
    p = b * theta / (a + b * theta)
    np.testing.assert_allclose(score, o1 - np.bincount(row, w * p, 4), rtol=1e-13)
    np.testing.assert_allclose(info, np.bincount(row, w * p * (1 - p), 4), rtol=1e-12, atol=1e-15)
    expected = beta * o1 - np.bincount(row, w * np.log(a + b * theta), 4)
    np.testing.assert_allclose(loglik, expected, rtol=1e-13)


def _sort_rows_by_argsort(t, e, g, m):  # type: ignore[no-untyped-def]
    t = np.where(m, t, np.inf)
    code = (e & m).view(np.int8) | ((g & m).view(np.int8) << 1)
    order = np.argsort(t, axis=1, kind="stable")
    return np.take_along_axis(t, order, axis=1), np.take_along_axis(code, order, axis=1)


def _without_low_bits(t: np.ndarray) -> np.ndarray:
    return (t.view(np.uint64) & ~np.uint64(3)).view(np.float64)


@pytest.mark.parametrize("masked", [False, True])
def test_packed_key_sort_equals_argsort_and_gather(rng, masked):
    t = rng.exponential(5.0, (64, 50))
    t[0, :3] = [0.0, 1e-300, 1e300]  # zero, extremes
    t[1, 0] = -0.0  # a negative zero (not a tie with anything in its row)
    e = rng.random((64, 50)) < 0.4
    g = rng.random((64, 50)) < 0.5
    m = rng.random((64, 50)) < 0.8 if masked else np.ones((64, 50), bool)
    rows = sv._sort_rows(t, e, g, m)
    assert not rows.tied and rows._unsorted is not None  # the one-sort path
    times, code = _sort_rows_by_argsort(t, e, g, m)
    # The packed path keeps the times less their two lowest bits (-0.0 == 0.0).
    np.testing.assert_array_equal(rows.time, _without_low_bits(times))
    np.testing.assert_array_equal(rows.code, code)
    np.testing.assert_array_equal(rows.n[:, 0], m.sum(axis=1))
    np.testing.assert_array_equal(rows.n1[:, 0], (g & m).sum(axis=1))


@pytest.mark.parametrize("masked", [False, True])
def test_near_equal_times_take_the_exact_path(rng, masked):
    # Times one to three units in the last place apart share a packed key's order bits: the
    # flags would decide their order, so the exact two-sort path is used instead.
    t = rng.exponential(5.0, (64, 50))
    t[3, 7] = np.nextafter(t[3, 6], np.inf)
    t[9, 1] = (t[9, 2].view(np.uint64) ^ np.uint64(2)).view(np.float64)
    t[0, :2] = [0.0, 5e-324]  # the two smallest non-negative doubles
    e = rng.random((64, 50)) < 0.4
    g = rng.random((64, 50)) < 0.5
    m = np.ones((64, 50), bool)
    if masked:
        m = rng.random((64, 50)) < 0.8
        m[[0, 0, 3, 3, 9, 9], [0, 1, 6, 7, 1, 2]] = True
    rows = sv._sort_rows(t, e, g, m)
    assert not rows.tied and rows._unsorted is None
    times, code = _sort_rows_by_argsort(t, e, g, m)
    np.testing.assert_array_equal(rows.time, times)
    np.testing.assert_array_equal(rows.code, code)
    # and the tests built on the rows agree with the row-by-row reference
    lr, _ = logrank_cox_batch(t, e, g, m)
    for i in (0, 3, 9):
        one = sv.logrank(t[i][m[i]], e[i][m[i]], g[i][m[i]])
        assert lr.statistic[i] == pytest.approx(one.statistic, rel=1e-12)


def test_ties_are_detected_and_sorted_by_gather(rng):
    t = np.ceil(rng.exponential(5.0, (64, 50)))
    e, g = rng.random((64, 50)) < 0.4, rng.random((64, 50)) < 0.5
    m = np.ones((64, 50), bool)
    rows = sv._sort_rows(t, e, g, m)
    assert rows.tied
    times, code = _sort_rows_by_argsort(t, e, g, m)
    np.testing.assert_array_equal(rows.time, times)
    # within a tie group the order may differ; the group's flags may not
    for i in range(64):
        for value in np.unique(times[i]):
            here = times[i] == value
            assert sorted(rows.code[i][here]) == sorted(code[i][here])


def _blocks(data: dict, cuts: list[int], with_strata: bool) -> list:  # type: ignore[type-arg]
    edges = [0, *cuts, data["time"].shape[0]]
    return [
        tuple(
            None if (key == "strata" and not with_strata) else data[key][a:b]
            for key in ("time", "event", "group", "mask", "strata")
        )
        for a, b in itertools.pairwise(edges)
    ]


def _bits(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.view(np.int64) if x.dtype == np.float64 else x


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("with_strata", [False, True])
@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_blocks_give_the_numbers_of_the_whole_batch(rng, make_survival, tied, with_strata, ties):
    data = make_survival(rng, 90, 30, tied=tied)
    if not tied:
        # one tie in the last block only: the whole batch takes the tied path
        data["time"][-1, 1] = data["time"][-1, 0]
        data["mask"][-1, :2] = True
    whole = logrank_cox_batch(
        data["time"], data["event"], data["group"], data["mask"],
        data["strata"] if with_strata else None, ties=ties,
    )
    blocks = logrank_cox_blocks(_blocks(data, [7, 40, 41], with_strata), ties=ties)
    for a, b in zip(whole, blocks, strict=True):
        for field in a.__dataclass_fields__:
            x, y = getattr(a, field), getattr(b, field)
            if isinstance(x, np.ndarray):
                assert np.array_equal(_bits(x), _bits(y)), field
            else:
                assert x == y, field


def test_blocks_with_a_stratum_missing_from_some_blocks(rng, make_survival):
    data = make_survival(rng, 40, 20, tied=True)
    data["strata"][:10] = np.where(data["strata"][:10] == 2, 0, data["strata"][:10])
    whole = logrank_cox_batch(data["time"], data["event"], data["group"], data["mask"],
                              data["strata"])
    blocks = logrank_cox_blocks(_blocks(data, [10], with_strata=True))
    for a, b in zip(whole, blocks, strict=True):
        assert np.array_equal(_bits(a.statistic), _bits(b.statistic))
        assert np.array_equal(_bits(a.estimate), _bits(b.estimate))


def test_logrank_only_from_blocks(rng, make_survival):
    data = make_survival(rng, 30, 25, tied=False)
    lr, cox = logrank_cox_blocks(_blocks(data, [11], with_strata=False), fit_cox=False)
    assert cox is None
    whole = sv.logrank_batch(data["time"], data["event"], data["group"], data["mask"])
    assert np.array_equal(_bits(lr.pvalue), _bits(whole.pvalue))


@pytest.mark.parametrize("tied", [False, True])
def test_skipping_the_loglik_changes_nothing_else(rng, make_survival, tied):
    # power asks for loglik=False: the fit (estimate, SE, convergence, iterations) must be the
    # same doubles, only the maximised log-likelihood is left out (NaN).
    data = make_survival(rng, 60, 30, tied=tied)
    full = logrank_cox_blocks(_blocks(data, [20, 40], with_strata=False))[1]
    lean = logrank_cox_blocks(_blocks(data, [20, 40], with_strata=False), loglik=False)[1]
    assert full is not None and lean is not None
    assert np.isfinite(full.loglik).any() and np.isnan(lean.loglik).all()
    for field in full.__dataclass_fields__:
        if field == "loglik":
            continue
        x, y = getattr(full, field), getattr(lean, field)
        if isinstance(x, np.ndarray):
            assert np.array_equal(_bits(x), _bits(y)), field
        else:
            assert x == y, field


# --------------------------------------------------------------------------- building blocks


def _untied_rows(rng: np.random.Generator, replicates: int, patients: int, masked: bool,
                 event_rate: float = 0.4, ws: sv._Workspace | None = None) -> sv._SortedRows:
    t = rng.exponential(5.0, (replicates, patients))
    e = rng.random((replicates, patients)) < event_rate
    g = rng.random((replicates, patients)) < 0.5
    m = rng.random((replicates, patients)) < 0.8 if masked else np.ones_like(e)
    rows = sv._sort_rows(t, e, g, m, ws)
    assert not rows.tied and rows._unsorted is not None
    return rows


@pytest.mark.parametrize("patients", [1, 2, 3, 4, 7, 8, 50, 203, 300])
@pytest.mark.parametrize("masked", [False, True])
def test_lane_counts_are_a_cumulative_sum(rng, patients, masked):
    rows = _untied_rows(rng, 37, patients, masked)
    counts = rows.event_counts()
    ev, trt = rows.code & 1, rows.code >> 1
    from_here = np.cumsum(trt[:, ::-1], axis=1)[:, ::-1]  # treated from each position on
    assert counts.trt_at_event.flags.c_contiguous
    np.testing.assert_array_equal(counts.trt_at_event, from_here * ev)
    np.testing.assert_array_equal(counts.events, ev.sum(axis=1))
    np.testing.assert_array_equal(counts.trt_events, (ev & trt).sum(axis=1))
    np.testing.assert_array_equal(counts.n1, trt.sum(axis=1))
    np.testing.assert_array_equal(rows.n1[:, 0], counts.n1)
    assert counts.n1.dtype == counts.events.dtype == counts.trt_events.dtype == np.intp


def test_lane_counts_of_rows_too_long_for_lanes(rng):
    code = (rng.random((2, 1 << 16)) < 0.5).astype(np.int8)
    code |= (rng.random(code.shape) < 0.5).astype(np.int8) << 1
    wide, narrow = sv._event_counts(code), sv._event_counts(code[:, :65532])
    ev, trt = code & 1, code >> 1
    np.testing.assert_array_equal(wide.trt_at_event, np.cumsum(trt[:, ::-1], axis=1)[:, ::-1] * ev)
    np.testing.assert_array_equal(wide.events, ev.sum(axis=1))
    tail = trt[:, 65532:].sum(axis=1)[:, None]  # the narrow rows lack the last 4 patients
    np.testing.assert_array_equal(narrow.trt_at_event + tail * ev[:, :65532],
                                  wide.trt_at_event[:, :65532])


def _flat_padded(blocks: list[sv._SortedRows]) -> sv._Padded:
    """The untied terms of every block, flat and concatenated, laid out by ``_padded``."""
    parts, offset = [], 0
    for rows in blocks:
        r, n0, n1, per_row = sv._untied_terms(rows)
        parts.append((r + offset, n0, n1, per_row))
        offset += rows.code.shape[0]
    r, n0, n1, per_row = (np.concatenate(x) for x in zip(*parts, strict=True))
    return sv._padded(offset, r, None, n0, n1, per_row)


def _assert_same_terms(fast: sv._Padded, slow: sv._Padded) -> None:
    assert fast.unit == slow.unit
    for name in ("a", "b", "ratio", "w"):
        x, y = getattr(fast, name), getattr(slow, name)
        if y is None:
            assert x is None, name
            continue
        assert x.shape == y.shape, name
        # a and b are whole numbers, held as uint16: exactly the floats once converted
        assert np.array_equal(_bits(x.astype(float)), _bits(y)), name


@pytest.mark.parametrize("layout", ["equal", "unequal", "one_short_block", "empty_rows"])
def test_padded_terms_written_in_place_equal_the_flat_ones(rng, layout):
    """The Cox terms of an untied batch, built block by block in their padded layout, are the
    arrays ``_padded`` makes of the flat terms: same width (the batch's most events), same
    padding, same bits, with or without equal event counts."""
    patients, events = 30, 9
    blocks = []
    for replicates in (5, 17, 1, 8):
        t = rng.exponential(5.0, (replicates, patients))
        g = rng.random((replicates, patients)) < 0.5
        e = np.zeros((replicates, patients), dtype=bool)
        for i in range(replicates):  # exactly ``events`` events per row, as cut at an event
            e[i, rng.choice(patients, events, replace=False)] = True
        m = np.ones_like(e)
        if layout == "unequal":
            e &= rng.random(e.shape) < 0.7
            m = rng.random(e.shape) < 0.9
        blocks.append(sv._sort_rows(t, e, g, m))
    if layout == "one_short_block":  # one row of one block short: the whole batch is padded
        t, e, g = rng.exponential(5.0, (3, patients)), np.zeros((3, patients), bool), None
        e[:, :events] = True
        e[1, 0] = False
        g = rng.random((3, patients)) < 0.5
        blocks.insert(2, sv._sort_rows(t, e, g, np.ones_like(e)))
    if layout == "empty_rows":
        t = rng.exponential(5.0, (4, 7))
        blocks = [sv._sort_rows(t, np.zeros((4, 7), bool), t > 1, np.ones((4, 7), bool)),
                  sv._sort_rows(t[:0], np.zeros((0, 7), bool), t[:0] > 1, np.ones((0, 7), bool))]
    fast, slow = sv._untied_padded(blocks), _flat_padded(blocks)
    _assert_same_terms(fast, slow)
    if layout == "equal":
        assert fast.w is None and fast.a.shape == (31, events)
    elif layout == "one_short_block":
        assert fast.w is not None and fast.w.sum() == 34 * events - 1


def test_padded_terms_of_the_reference_design_take_the_reshape(rng):
    # every row cut at its k-th event, as in power: no padding, one reshape per block
    replicates, patients, k = 64, 40, 12
    enrol = rng.uniform(0, 12, (replicates, patients))
    onset = enrol + rng.exponential(20.0, (replicates, patients))
    cut = np.sort(onset, axis=1)[:, k - 1 : k]
    event, mask = onset <= cut, enrol <= cut
    time = np.where(event, onset - enrol, cut - enrol)
    group = rng.random((replicates, patients)) < 0.5
    blocks = [sv._sort_rows(time[a:b], event[a:b], group[a:b], mask[a:b])
              for a, b in ((0, 20), (20, 21), (21, 64))]
    fast = sv._untied_padded(blocks)
    assert fast.w is None and fast.a.shape == (replicates, k) and fast.a.dtype == np.uint16
    _assert_same_terms(fast, _flat_padded(blocks))


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_each_replicate_is_fitted_on_its_own(rng, make_survival, ties):
    """The fit cuts its terms down to the replicates still moving and evaluates log-likelihoods
    on a few rows taken out of them: every number of a replicate must be that of the replicate
    fitted alone."""
    data = make_survival(rng, 40, 25, tied=ties == "efron")
    data["event"][3] = data["group"][3] == 1  # diverges
    batch = sv._sort_batch([(data["time"], data["event"], data["group"], data["mask"], None)])
    lr = sv._logrank_batch_sorted(batch, "two-sided", 0.95)
    if batch.tied(0):
        terms = sv._pad_terms(sv._cox_terms(batch.risk_sets(0), ties), batch.rows)
    else:
        terms = sv._untied_padded(batch.stratum(0))
    o1 = np.asarray(lr.observed_treatment, dtype=float)
    # one stratum: the fit skips the log-likelihoods after tiny overshoots (a per-row decision)
    together = sv._fit_binary_cox(o1, terms, 50, 1e-10, lr.estimate, one_stratum=True)
    for i in range(batch.rows):
        one = slice(i, i + 1)
        w = None if terms.w is None else terms.w[one]
        alone = sv._fit_binary_cox(
            o1[one], sv._Padded(terms.a[one], terms.b[one], terms.ratio[one], w, terms.unit),
            50, 1e-10, lr.estimate[one], one_stratum=True,
        )
        for x, y in zip(together, alone, strict=True):
            assert np.array_equal(_bits(x[one]), _bits(y)), i


def test_recycled_sort_keys_leave_earlier_rows_intact(rng):
    """Blocks are sorted one after another in the same workspace memory; the rows of an earlier
    block keep their flags and counts, and give their sorted times again when asked."""
    ws = sv._Workspace()
    first = _untied_rows(rng, 20, 30, masked=True, ws=ws)
    code, counts = first.code.copy(), first.event_counts().trt_at_event.copy()
    for _ in range(3):
        _untied_rows(rng, 25, 30, masked=False, ws=ws)
    np.testing.assert_array_equal(first.code, code)
    np.testing.assert_array_equal(first.event_counts().trt_at_event, counts)
    times, _ = _sort_rows_by_argsort(first._unsorted, np.zeros(code.shape, bool),
                                     np.zeros(code.shape, bool), np.isfinite(first._unsorted))
    np.testing.assert_array_equal(first.time, _without_low_bits(times))


def test_equal_times_in_neighbouring_rows_are_not_near(rng):
    # the near check runs over the flattened rows: a row's last time equal to the next row's
    # first must not send the block down the exact path
    t = rng.exponential(5.0, (6, 10))
    t[1] += t[0].max()
    t[1, 4] = t[0].max()  # row 1's first time is row 0's last
    m = np.ones((6, 10), bool)
    m[3, :] = False  # a row of excluded patients, next to included ones
    m[4, ::2] = False
    rows = sv._sort_rows(t, rng.random((6, 10)) < 0.5, rng.random((6, 10)) < 0.5, m)
    assert not rows.tied and rows._unsorted is not None
    t[2, 3] = np.nextafter(t[2, 5], 0.0)  # but near-equal times within a row are
    rows = sv._sort_rows(t, rng.random((6, 10)) < 0.5, rng.random((6, 10)) < 0.5, m)
    assert rows._unsorted is None


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1.0, -1e-300])
def test_time_check_still_names_the_problem(bad):
    time, event, group = np.ones((3, 4)), np.ones((3, 4), bool), np.eye(3, 4, dtype=bool)
    time[1, 2] = bad
    message = "non-negative" if bad < 0 and np.isfinite(bad) else "finite"
    with pytest.raises(ValueError, match=message):
        sv.logrank_batch(time, event, group)
    mask = np.ones((3, 4), bool)
    mask[1, 2] = False  # excluded: ignored whatever it is
    sv.logrank_batch(time, event, group, mask)
    time[1, 2] = -0.0  # equals 0
    sv.logrank_batch(time, event, group)
