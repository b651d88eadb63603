"""Synthetic engine output for the I/O tests: plausible columns, not a disease model.

Each replicate's rows come from its own generator (``default_rng([seed, replicate])``), so a run
cut into shards of any size holds the same data, as the real engines guarantee.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from cohortsim import tables as T
from cohortsim.io import RunIdentity

ARMS = ("msc", "control")
STRATA = ("nephritis=0", "nephritis=1")
SHA = "5" * 64
META = T.provenance(scenario_sha256=SHA, seed_entropy=1234, engine="fake", start_date="2024-03-01")


def replicate_columns_for(r: int, n: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng([seed, r])
    pid = np.arange(n)
    arm = pid % 2
    follow = rng.uniform(6.0, 24.0, n)
    enrol = np.sort(rng.uniform(0.0, 12.0, n))
    relapse = rng.random(n) < 0.4
    onset = np.where(relapse, rng.uniform(0.0, 1.0, n) * follow, np.nan)
    female = (rng.random(n) < 0.9).astype(np.float64)
    female[0] = np.nan  # a nullable boolean given as NaN
    response = rng.integers(0, 3, n)
    response[-1] = -1  # a null category code
    ttr = np.where(response < 2, rng.exponential(3.0, n), np.nan)
    patients: dict[str, Any] = {
        "replicate": np.full(n, r),
        "patient_id": pid,
        "arm": arm,
        "stratum": rng.integers(0, 2, n),
        "enrol_month": enrol,
        "age_years": rng.normal(35.0, 10.0, n),
        "female": female,
        "disease_duration_months": rng.exponential(60.0, n),
        "baseline_sledai": rng.integers(4, 25, n),
        "baseline_proteinuria_mg_per_day": rng.lognormal(7.5, 0.5, n),
        "baseline_anti_dsdna_iu_per_ml": rng.lognormal(5.0, 0.6, n),
        "baseline_treg_percent": rng.normal(2.5, 0.5, n),
        **{f"baseline_{m}": rng.random(n) < 0.5 for m in T.MANIFESTATIONS},
        "response_class": response,
        "time_to_response_months": ttr,
        "follow_up_months": follow,
        "end_reason": rng.integers(0, len(T.END_REASONS), n),
        "relapse_observed": relapse,
        "time_to_relapse_months": np.where(relapse, onset + 0.5, follow),
        "first_relapse_onset_months": onset,
        "flares_observed": relapse.astype(np.int16),
        "flares_onset": relapse.astype(np.int16),
    }
    # Visits: baseline, a scheduled 12-month visit, an unscheduled one.
    k = 3
    vis_pid = np.repeat(pid, k)
    nominal = np.tile([0.0, 12.0, np.nan], n)
    visits: dict[str, Any] = {
        "replicate": np.full(n * k, r),
        "patient_id": vis_pid,
        "arm": np.repeat(arm, k),
        "visit_number": np.tile([0, 1, -1], n),
        "visit_type": np.tile([0, 1, 2], n),
        "nominal_months": nominal,
        "actual_months": np.tile([0.0, 12.3, 5.5], n),
        "sledai": rng.integers(0, 20, n * k),
        "proteinuria_mg_per_day": rng.lognormal(7.0, 0.6, n * k),
        "anti_dsdna_iu_per_ml": rng.lognormal(4.5, 0.6, n * k),
        "treg_percent": rng.normal(3.5, 0.7, n * k),
        "flare_active": rng.random(n * k) < 0.1,
        **{m: rng.random(n * k) < 0.3 for m in T.MANIFESTATIONS},
    }
    # Events: enrolment, a flare (observed or not), end of follow-up.
    ev = T.EVENT_TYPES.index
    events: dict[str, Any] = {
        "replicate": np.full(n * 3, r),
        "patient_id": np.repeat(pid, 3),
        "arm": np.repeat(arm, 3),
        "event": np.tile([ev("enrolment"), ev("flare"), ev("end_of_follow_up")], n),
        "sequence": np.ones(n * 3, dtype=np.int16),
        "true_months": np.column_stack([np.zeros(n), rng.uniform(0, 30, n), follow]).ravel(),
        "observed_months": np.column_stack(
            [np.zeros(n), np.where(relapse, onset + 0.5, np.nan), follow]
        ).ravel(),
        "value": np.column_stack([np.full(n, np.nan), np.full(n, 4.0), np.full(n, np.nan)]).ravel(),
        "detail": np.column_stack(
            [np.full(n, -1), np.full(n, T.DETAIL_CATEGORIES.index("scheduled")), np.zeros(n, int)]
        ).ravel(),
    }
    trials: dict[str, Any] = {
        "replicate": np.array([r]),
        "n_enrolled": np.array([n]),
        "last_enrolment_month": enrol[-1:],
        "cutoff_month": np.array([enrol[-1] + 12.0]),
        "cutoff_reason": np.array([1]),
        "first_relapses_observed": np.array([int(relapse.sum())]),
        "flares_observed": np.array([int(relapse.sum())]),
    }
    return {"patients": patients, "visits": visits, "events": events, "trials": trials}


def make_tables(
    replicates: range, *, n: int = 6, seed: int = 0, meta: dict[str, str] | None = None
) -> dict[str, pa.Table]:
    """The four tables of ``replicates``, built through :func:`cohortsim.tables.to_table`."""
    per_rep = [replicate_columns_for(r, n, seed) for r in replicates]
    out = {}
    for name in T.TABLE_NAMES:
        cols = {c: np.concatenate([p[name][c] for p in per_rep]) for c in per_rep[0][name]}
        out[name] = T.to_table(name, cols, ARMS, meta or META, categories={"stratum": STRATA})
    return out


def make_identity(**changes: Any) -> RunIdentity:
    fields = {
        "scenario_sha256": SHA,
        "seed_entropy": 1234,
        "engine": "fake",
        "n_replicates": 10,
        "shard_size": 4,
    }
    fields.update(changes)
    return RunIdentity(**fields)


def write_run(
    target: Any,
    identity: RunIdentity | None = None,
    *,
    overwrite: bool = False,
    seed: int = 0,
    manifest: dict[str, Any] | None = None,
) -> Any:
    """Open, write every missing shard and finalize; returns the output directory."""
    from cohortsim.io import DatasetStaging

    identity = identity or make_identity()
    staging = DatasetStaging.open(target, identity, overwrite=overwrite)
    for k in staging.missing_shards():
        staging.write_shard(k, make_tables(identity.shard_replicates(k), seed=seed))
    return staging.finalize(manifest)
