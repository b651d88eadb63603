"""A simulated dataset read back with DuckDB and polars, as docs/outputs.md tells users to.

One run of a two-arm lupus trial (several shards, so several files per table) is written with
``run_simulation``; DuckDB's ``read_parquet('X/<table>/*.parquet')`` and polars' ``scan_parquet``
must see the row counts the manifest records, the categorical columns as strings, and the same
aggregates pyarrow computes from the same files.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from simulate_scenarios import lupus_trial

from cohortsim.io import read_dataset, read_manifest
from cohortsim.simulate import run_simulation
from cohortsim.tables import TABLE_NAMES

pl = pytest.importorskip("polars")

REPLICATES, SHARD_SIZE = 12, 5


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("query") / "trial"
    result = run_simulation(
        lupus_trial(), out, REPLICATES, 2024, engine="vector", shard_size=SHARD_SIZE
    )
    assert result.shards_run == 3
    return result.out


def _glob(dataset: Path, table: str) -> str:
    return f"{dataset.as_posix()}/{table}/*.parquet"


def _sql(dataset: Path, table: str) -> str:
    return f"read_parquet('{_glob(dataset, table)}')"


def _one(sql: str) -> tuple:
    """The single row a query returns."""
    (row,) = duckdb.sql(sql).fetchall()
    return row


def _dictionary_columns(dataset: Path, table: str) -> list[str]:
    schema = read_dataset(dataset, table).schema
    return [f.name for f in schema if pa.types.is_dictionary(f.type)]


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_row_counts_match_the_manifest(dataset: Path, table: str) -> None:
    manifest = read_manifest(dataset)
    expected = manifest["tables"][table]["rows"]
    assert expected > 0
    assert expected == sum(s["rows"][table] for s in manifest["shards"])
    assert len(manifest["tables"][table]["files"]) == 3
    (count,) = _one(f"SELECT count(*) FROM {_sql(dataset, table)}")
    assert count == expected
    assert pl.scan_parquet(_glob(dataset, table)).select(pl.len()).collect().item() == expected
    assert read_dataset(dataset, table).num_rows == expected


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_categorical_columns_come_back_as_strings(dataset: Path, table: str) -> None:
    names = _dictionary_columns(dataset, table)
    assert names, f"{table} has categorical columns"
    relation = duckdb.sql(f"SELECT * FROM {_sql(dataset, table)}")
    types = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
    frame = pl.read_parquet(_glob(dataset, table))
    for name in names:
        assert types[name] == "VARCHAR", (name, types[name])
        assert frame.schema[name] == pl.Categorical, (name, frame.schema[name])
        values = set(frame[name].cast(pl.String).drop_nulls().to_list())
        expected = set(
            pc.unique(read_dataset(dataset, table)[name].cast(pa.string())).drop_null().to_pylist()
        )
        assert values == expected
    if "arm" in names:
        arms = duckdb.sql(f"SELECT DISTINCT arm FROM {_sql(dataset, table)}").fetchall()
        assert {a for (a,) in arms} == {"soc", "msc"}


def test_aggregates_agree_with_pyarrow(dataset: Path) -> None:
    patients = read_dataset(dataset, "patients")
    events = read_dataset(dataset, "events")
    visits = read_dataset(dataset, "visits")

    mean_follow_up, relapses, n_dropout = _one(
        f"SELECT avg(follow_up_months), sum(relapse_observed::INT), "
        f"count(*) FILTER (WHERE end_reason = 'dropout') FROM {_sql(dataset, 'patients')}"
    )
    assert mean_follow_up == pytest.approx(pc.mean(patients["follow_up_months"]).as_py(), rel=1e-12)
    assert relapses == pc.sum(patients["relapse_observed"].cast(pa.int64())).as_py()
    assert (
        n_dropout
        == pc.sum(
            pc.equal(patients["end_reason"].cast(pa.string()), "dropout").cast(pa.int64())
        ).as_py()
    )

    by_arm = dict(
        duckdb.sql(
            f"SELECT arm, count(*) FROM {_sql(dataset, 'events')} "
            "WHERE event = 'flare' GROUP BY arm"
        ).fetchall()
    )
    flares = events.filter(pc.equal(events["event"].cast(pa.string()), "flare"))
    for arm in ("soc", "msc"):
        n = pc.sum(pc.equal(flares["arm"].cast(pa.string()), arm).cast(pa.int64())).as_py() or 0
        assert by_arm.get(arm, 0) == n

    (mean_sledai,) = _one(
        f"SELECT avg(sledai) FROM {_sql(dataset, 'visits')} WHERE visit_number = 3"
    )
    at_6 = visits.filter(pc.equal(visits["visit_number"], 3))
    assert mean_sledai == pytest.approx(pc.mean(at_6["sledai"]).as_py(), rel=1e-12)

    polars_mean = (
        pl.scan_parquet(_glob(dataset, "patients"))
        .group_by("arm")
        .agg(pl.col("time_to_relapse_months").mean())
        .collect()
    )
    for arm, value in zip(
        polars_mean["arm"].cast(pl.String), polars_mean["time_to_relapse_months"], strict=True
    ):
        mine = patients.filter(pc.equal(patients["arm"].cast(pa.string()), arm))
        assert value == pytest.approx(pc.mean(mine["time_to_relapse_months"]).as_py(), rel=1e-12)


def test_rows_come_back_in_replicate_order(dataset: Path) -> None:
    """The files, read in manifest order, hold the rows sorted by replicate then patient: what
    DuckDB returns when asked to sort."""
    ours = read_dataset(dataset, "patients", columns=["replicate", "patient_id", "enrol_month"])
    theirs = duckdb.sql(
        f"SELECT replicate, patient_id, enrol_month FROM {_sql(dataset, 'patients')} "
        "ORDER BY replicate, patient_id"
    ).fetchnumpy()
    assert np.array_equal(theirs["replicate"], ours["replicate"].to_numpy())
    assert np.array_equal(theirs["patient_id"], ours["patient_id"].to_numpy())
    assert np.array_equal(theirs["enrol_month"], ours["enrol_month"].to_numpy())
    replicate = ours["replicate"].to_numpy()
    assert (np.diff(replicate) >= 0).all() and set(replicate) == set(range(REPLICATES))
