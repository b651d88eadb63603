"""Write a dataset and read it back with pyarrow.dataset, DuckDB and polars."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from iofakes import ARMS, make_identity, make_tables, write_run

from cohortsim import io
from cohortsim import tables as T

pl = pytest.importorskip("polars")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rt") / "out"
    return write_run(out, manifest={"scenario": {"name": "fake"}, "run": {"workers": 2}})


@pytest.fixture(scope="module")
def expected() -> dict[str, pa.Table]:
    return make_tables(range(10))


def _sql(dataset: Path, table: str) -> str:
    return f"SELECT * FROM read_parquet('{dataset.as_posix()}/{table}/*.parquet')"


@pytest.mark.parametrize("table", T.TABLE_NAMES)
def test_pyarrow_dataset_round_trip(dataset, expected, table):
    got = io.read_dataset(dataset, table)
    assert got.schema.equals(expected[table].schema, check_metadata=True)
    assert got.equals(expected[table])
    # dictionary columns keep the full category list in declared order
    for field in got.schema:
        if pa.types.is_dictionary(field.type):
            chunk = got[field.name].chunk(0)
            assert chunk.dictionary.equals(expected[table][field.name].chunk(0).dictionary)


@pytest.mark.parametrize("table", T.TABLE_NAMES)
def test_duckdb_round_trip(dataset, expected, table):
    relation = duckdb.sql(_sql(dataset, table))
    assert relation.columns == list(T.TABLES[table].names)
    rows = relation.fetchall()
    want = [tuple(r.values()) for r in expected[table].to_pylist()]
    assert rows == want
    types = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
    duck = {"int16": "SMALLINT", "int32": "INTEGER", "double": "DOUBLE", "bool": "BOOLEAN"}
    duck |= {"date32[day]": "DATE"}
    for field in expected[table].schema:
        want_type = "VARCHAR" if pa.types.is_dictionary(field.type) else duck[str(field.type)]
        assert types[field.name] == want_type, field.name


@pytest.mark.parametrize("table", T.TABLE_NAMES)
def test_polars_round_trip(dataset, expected, table):
    frame = pl.scan_parquet(f"{dataset.as_posix()}/{table}/*.parquet").collect()
    assert frame.columns == list(T.TABLES[table].names)
    assert frame.rows() == [tuple(r.values()) for r in expected[table].to_pylist()]
    plt = {"int16": pl.Int16, "int32": pl.Int32, "double": pl.Float64, "bool": pl.Boolean}
    plt |= {"date32[day]": pl.Date}
    for field in expected[table].schema:
        want_type = pl.Categorical if pa.types.is_dictionary(field.type) else plt[str(field.type)]
        assert frame.schema[field.name] == want_type, field.name


def test_metadata_survives_in_every_file(dataset, expected):
    for table in T.TABLE_NAMES:
        files = sorted((dataset / table).glob("*.parquet"))
        assert files
        for f in files:
            meta = T.read_provenance(pq.read_schema(f))
            assert meta["table"] == table
            assert meta["scenario_sha256"] == "5" * 64
            assert meta["seed_entropy"] == "1234"
            assert meta["engine"] == "fake"
            assert meta["start_date"] == "2024-03-01"
            assert meta["schema_version"] == T.SCHEMA_VERSION
        read = io.read_dataset(dataset, table)
        assert read.schema.metadata == expected[table].schema.metadata
    kv = duckdb.sql(
        "SELECT value FROM parquet_kv_metadata("
        f"'{(dataset / 'patients' / 'part-00000.parquet').as_posix()}') "
        "WHERE key = 'cohortsim.engine'"
    ).fetchall()
    assert kv == [(b"fake",)]


def test_files_are_per_shard_not_per_replicate(dataset):
    manifest = io.read_manifest(dataset)
    assert manifest["identity"]["n_replicates"] == 10
    assert manifest["identity"]["shard_size"] == 4
    for table in T.TABLE_NAMES:
        names = sorted(p.name for p in (dataset / table).iterdir())
        assert names == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
        for name in names:
            meta = pq.ParquetFile(dataset / table / name).metadata
            assert meta.num_row_groups == 1
            assert meta.row_group(0).column(0).compression == "ZSTD"
    assert sorted(p.name for p in dataset.iterdir()) == [
        "events",
        "manifest.json",
        "patients",
        "trials",
        "visits",
    ]


def test_manifest_content(dataset, expected):
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["format"] == io.FORMAT
    assert manifest["schema_version"] == T.SCHEMA_VERSION
    assert manifest["identity"] == make_identity().to_json()
    assert manifest["scenario"] == {"name": "fake"}
    assert manifest["run"]["workers"] == 2
    assert "finalized_utc" in manifest["run"]
    for table in T.TABLE_NAMES:
        assert manifest["tables"][table]["rows"] == expected[table].num_rows
        assert manifest["tables"][table]["files"] == [
            f"{table}/part-0000{k}.parquet" for k in range(3)
        ]
    assert [s["replicates"] for s in manifest["shards"]] == [[0, 4], [4, 8], [8, 10]]
    assert sum(s["rows"]["trials"] for s in manifest["shards"]) == 10


def test_read_dataset_columns_and_filter(dataset):
    got = io.read_dataset(
        dataset, "visits", columns=["replicate", "sledai"], filter=pc.field("replicate") >= 8
    )
    assert got.column_names == ["replicate", "sledai"]
    assert set(got["replicate"].to_pylist()) == {8, 9}


def test_row_groups_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "ROW_GROUP_ROWS", 50)
    identity = make_identity(n_replicates=10, shard_size=10)
    out = write_run(tmp_path / "out", identity)
    meta = pq.ParquetFile(out / "visits" / "part-00000.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [50, 50, 50, 30]


def test_documented_queries_run(dataset):
    """The DuckDB and polars examples of docs/outputs.md, on the synthetic data."""
    x = dataset.as_posix()
    relapses = duckdb.sql(
        f"""
        SELECT replicate, arm,
               count(*) AS n,
               count(*) FILTER (WHERE relapse_observed) AS relapses,
               sum(follow_up_months) AS patient_months
        FROM read_parquet('{x}/patients/*.parquet')
        GROUP BY replicate, arm
        ORDER BY replicate, arm
        """
    ).fetchall()
    assert len(relapses) == 10 * len(ARMS)
    sledai = duckdb.sql(
        f"""
        SELECT v.replicate, v.arm, avg(v.sledai) AS sledai_12,
               avg(v.sledai - p.baseline_sledai) AS change_12
        FROM read_parquet('{x}/visits/*.parquet') AS v
        JOIN read_parquet('{x}/patients/*.parquet') AS p USING (replicate, patient_id)
        WHERE v.visit_type = 'scheduled' AND v.nominal_months = 12
        GROUP BY v.replicate, v.arm
        ORDER BY v.replicate, v.arm
        """
    ).fetchall()
    assert len(sledai) == 10 * len(ARMS)

    by_polars = (
        pl.scan_parquet(f"{x}/patients/*.parquet")
        .group_by("replicate", "arm")
        .agg(
            n=pl.len(),
            relapses=pl.col("relapse_observed").sum(),
            patient_months=pl.col("follow_up_months").sum(),
        )
        .sort("replicate", "arm")
        .collect()
    )
    assert by_polars["relapses"].to_list() == [r[3] for r in relapses]
    sledai_pl = (
        pl.scan_parquet(f"{x}/visits/*.parquet")
        .filter((pl.col("visit_type") == "scheduled") & (pl.col("nominal_months") == 12))
        .group_by("replicate", "arm")
        .agg(pl.col("sledai").mean())
        .sort("replicate", "arm")
        .collect()
    )
    assert np.allclose(sledai_pl["sledai"].to_numpy(), [r[2] for r in sledai])


def test_json_default_handles_numpy_dates_and_paths():
    payload = {
        "d": date(2024, 1, 2),
        "i": np.int64(3),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "a": np.arange(3),
        "p": Path("/x/y"),
        "s": {2, 1},
        "inf": float("inf"),
        "nan": np.float64("nan"),
    }
    text = json.dumps(payload, default=io.json_default)
    assert json.loads(text)["d"] == "2024-01-02"
    strict = json.loads(io.dumps_json(payload))
    assert strict == {
        "d": "2024-01-02",
        "i": 3,
        "f": 0.5,
        "b": True,
        "a": [0, 1, 2],
        "p": "/x/y",
        "s": [1, 2],
        "inf": "inf",
        "nan": "nan",
    }
    with pytest.raises(TypeError, match="not JSON serialisable"):
        io.json_default(object())
