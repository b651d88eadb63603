"""The shortcut of the batched Cox fit that skips the log-likelihoods after a tiny overshoot.

After a Newton step whose score at the new beta has the opposite sign (an "overshoot"), the fit
compares the log-likelihoods at both ends and halves the step if the new one is worse by more
than 1e-12 (1 + |ll|). Near convergence the score is rounding noise and about half the
replicates "overshoot" by steps far too short for that: ``_surely_not_worse`` proves, from
concavity and bounds on the rounding errors, that the comparison would find "not worse", and
the fit skips it. These tests hold the shortcut to that promise:

* wherever it answers "surely not worse", the computed comparison answers "not worse", on
  random terms (Breslow and Efron, padded rows) and steps from tiny to large;
* the rounding bounds it rests on hold against a long-double log-likelihood, and the lower bound
  on |log-likelihood| holds;
* fits with and without the shortcut are the same bits (and it does skip log-likelihoods).
"""

from __future__ import annotations

import numpy as np
import pytest

from cohortsim.analysis import survival as sv


def _terms(rng: np.random.Generator, rows: int, patients: int, ties: str) -> sv._Padded:
    """Padded Cox terms of random one-stratum trials (ties if Efron, so weights and fractions)."""
    time = rng.exponential(5.0, (rows, patients))
    if ties == "efron":
        time = np.ceil(time)
    event = rng.random((rows, patients)) < rng.uniform(0.2, 0.9)
    group = rng.random((rows, patients)) < 0.5
    mask = rng.random((rows, patients)) < 0.9
    batch = sv._sort_batch([(time, event, group, mask, None)])
    if batch.tied(0):
        return sv._pad_terms(sv._cox_terms(batch.risk_sets(0), ties), rows)
    return sv._untied_padded(batch.stratum(0))


def _events(terms: sv._Padded) -> np.ndarray:
    rows, width = terms.ratio.shape
    return np.full(rows, float(width)) if terms.w is None else terms.w.sum(axis=1)


def _exact_loglik(terms: sv._Padded, o1: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The log-likelihood in long double (64-bit mantissa), far closer than the bounds."""
    ld = np.longdouble
    a, b = terms.a.astype(ld), terms.b.astype(ld)
    w = np.ones(a.shape, ld) if terms.w is None else terms.w.astype(ld)
    theta = np.exp(beta.astype(ld))[:, None]
    return beta.astype(ld) * o1.astype(ld) - (w * np.log(a + b * theta)).sum(axis=1)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("patients", [4, 30, 200])
def test_rounding_bounds_hold(rng, ties, patients):
    terms = _terms(rng, 300, patients, ties)
    rows, width = terms.ratio.shape
    scale = sv._LoglikScale.of(terms)
    assert scale is not None
    events = _events(terms)
    o1 = np.round(events * rng.uniform(0, 1, rows))  # treatment events: at most all events
    for spread in (0.1, 2.0, 25.0):
        beta = rng.normal(0.0, spread, rows)
        loglik_err, score_err, _ = sv._rounding_bounds(
            events, width, scale.log_high, np.abs(beta)
        )
        exact = _exact_loglik(terms, o1, beta)
        computed = sv._loglik(terms.a, terms.b, terms.w, o1, beta)
        assert np.all(np.abs(computed - exact) <= loglik_err / 4)
        # |L| >= log(events!) - events |beta| >= events (log(events) - 1) - events |beta|
        least = events * (np.log(np.maximum(events, 1.0)) - 1.0 - np.abs(beta))
        assert np.all(-exact >= least)
        # the score, against its long-double value
        ld = np.longdouble
        a, b = terms.a.astype(ld), terms.b.astype(ld)
        w = np.ones(a.shape, ld) if terms.w is None else terms.w.astype(ld)
        theta = np.exp(beta.astype(ld))[:, None]
        exact_score = o1 - (w * b * theta / (a + b * theta)).sum(axis=1)
        score, _ = sv._score_info(terms.ratio, terms.score_weights, o1, beta)
        assert np.all(np.abs(score - exact_score) <= score_err / 4)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_surely_not_worse_means_not_worse(rng, ties):
    """Overshooting steps of every length: where the shortcut answers "surely not worse", the
    full comparison (two log-likelihoods) must find the new beta not worse; and the shortcut
    answers for the tiny steps near convergence, not for the long ones."""
    terms = _terms(rng, 400, 120, ties)
    rows, width = terms.ratio.shape
    o1 = np.round(_events(terms) * rng.uniform(0.2, 0.8, rows))
    scale = sv._LoglikScale.of(terms)
    assert scale is not None
    events = _events(terms)
    fit = sv._fit_binary_cox(o1, terms, 50, 1e-10)
    top = np.where(np.isfinite(fit.beta), fit.beta, 0.0)  # near each row's maximum
    decided = skipped = worse_seen = 0
    for length in np.logspace(-16, 0, 49):
        for side in (-1.0, 1.0):
            old = top + side * rng.uniform(0, 2, rows) * length
            new = top - side * rng.uniform(0, 2, rows) * length  # across the maximum: overshoots
            score, _ = sv._score_info(terms.ratio, terms.score_weights, o1, new)
            overshot = score * (new - old) < 0
            sure = sv._surely_not_worse(score, old, new, events, width, scale.log_high)
            ll = sv._loglik(terms.a, terms.b, terms.w, o1, old)
            new_ll = sv._loglik(terms.a, terms.b, terms.w, o1, new)
            worse = new_ll < ll - sv._WORSE * (1.0 + np.abs(ll))
            assert not np.any(sure & worse), length
            decided += int(np.sum(sure & overshot))
            skipped += int(np.sum(overshot))
            worse_seen += int(np.sum(worse & overshot))
            if length >= 1e-3:
                assert not np.any(sure & overshot), length
            if length <= 1e-13:
                assert np.mean(sure[overshot]) > 0.5, length  # not rows of very few events
    assert worse_seen > 0  # the comparison did have steps to halve
    assert 0 < decided < skipped


def _fit_both(terms: sv._Padded, o1: np.ndarray, start: np.ndarray, monkeypatch):  # type: ignore[no-untyped-def]
    calls = {"rows": 0}
    loglik = sv._loglik

    def counting(a, b, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["rows"] += a.shape[0]
        return loglik(a, b, *args, **kwargs)

    monkeypatch.setattr(sv, "_loglik", counting)
    full = sv._fit_binary_cox(o1, terms, 50, 1e-10, start, loglik=False, one_stratum=False)
    rows_full, calls["rows"] = calls["rows"], 0
    short = sv._fit_binary_cox(o1, terms, 50, 1e-10, start, loglik=False, one_stratum=True)
    return full, short, rows_full, calls["rows"]


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("patients", [12, 200])
def test_fit_with_and_without_the_shortcut_is_the_same(rng, monkeypatch, ties, patients):
    terms = _terms(rng, 500, patients, ties)
    rows = terms.ratio.shape[0]
    o1 = np.round(_events(terms) * rng.uniform(0.1, 0.9, rows))
    o1[:3] = [0.0, _events(terms)[1], 1.0]  # diverging rows too
    start = np.where(rng.random(rows) < 0.5, rng.normal(0, 1, rows), np.nan)
    full, short, rows_full, rows_short = _fit_both(terms, o1, start, monkeypatch)
    for x, y in zip(full, short, strict=True):
        assert np.array_equal(x.view(np.int64) if x.dtype == float else x,
                              y.view(np.int64) if y.dtype == float else y)
    assert rows_short < rows_full  # the shortcut did skip log-likelihoods


def test_reference_design_skips_most_log_likelihoods(rng, monkeypatch):
    # every row cut at its k-th event, as in power: no padding, no ties
    replicates, patients, k = 512, 200, 66
    enrol = rng.uniform(0, 12, (replicates, patients))
    group = rng.random((replicates, patients)) < 0.5
    onset = enrol + rng.exponential(np.where(group, 28.0, 20.0))
    cut = np.sort(onset, axis=1)[:, k - 1 : k]
    event, mask = onset <= cut, enrol <= cut
    time = np.where(event, onset - enrol, cut - enrol)
    batch = sv._sort_batch([(time, event, group, mask, None)])
    lr = sv._logrank_batch_sorted(batch, "two-sided", 0.95)
    terms = sv._untied_padded(batch.stratum(0))
    assert terms.w is None
    o1 = np.asarray(lr.observed_treatment, dtype=float)
    full, short, rows_full, rows_short = _fit_both(terms, o1, lr.estimate, monkeypatch)
    for x, y in zip(full, short, strict=True):
        assert np.array_equal(x.view(np.int64) if x.dtype == float else x,
                              y.view(np.int64) if y.dtype == float else y)
    assert rows_short < 0.5 * rows_full
    # and the batch functions take it: same bits as the fit without it
    _, cox = sv.logrank_cox_blocks([(time, event, group, mask, None)])
    assert cox is not None
    assert np.array_equal(cox.estimate.view(np.int64), full.beta.view(np.int64))
    assert np.array_equal(cox.se.view(np.int64), full.se.view(np.int64))
    assert np.array_equal(cox.iterations, full.iterations)


def test_stratified_fits_do_not_take_the_shortcut(rng, make_survival, monkeypatch):
    """Terms of several strata per row break the lower bound on |ll|: no shortcut there."""
    data = make_survival(rng, 40, 30, tied=False)
    seen = []
    real = sv._fit_binary_cox

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs.get("one_stratum", args[7] if len(args) > 7 else False))
        return real(*args, **kwargs)

    monkeypatch.setattr(sv, "_fit_binary_cox", spy)
    sv.logrank_cox_batch(data["time"], data["event"], data["group"], data["mask"], data["strata"])
    sv.logrank_cox_batch(data["time"], data["event"], data["group"], data["mask"])
    sv.cox_ph(data["time"][0], data["event"][0], data["group"][0], data["strata"][0])
    sv.cox_ph(data["time"][0], data["event"][0], data["group"][0])
    assert seen == [False, True, False, True]
