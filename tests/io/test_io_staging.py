"""Staging, refusal, resume, overwrite and comparison of output directories."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest
from iofakes import META, make_identity, make_tables, write_run

from cohortsim import io
from cohortsim import tables as T
from cohortsim.io import DatasetStaging


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


# --- refusing to overwrite ------------------------------------------------------------------------


def test_existing_target_is_refused_before_anything_is_written(tmp_path):
    out = write_run(tmp_path / "out")
    before = _tree(out)
    with pytest.raises(io.OutputExistsError, match="--overwrite"):
        DatasetStaging.open(out, make_identity(seed_entropy=99))
    assert _tree(out) == before
    assert _siblings(out) == ["out"]  # no out.partial


def test_existing_empty_or_foreign_target(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(io.OutputExistsError):
        DatasetStaging.open(empty, make_identity())
    write_run(empty, overwrite=True)  # an empty directory may be replaced
    assert (empty / "manifest.json").is_file()

    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(io.OutputExistsError, match="not a cohortsim output"):
        DatasetStaging.open(foreign, make_identity(), overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "precious"
    assert not (tmp_path / "home.partial").exists()

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(io.OutputExistsError, match="not a directory"):
        DatasetStaging.open(a_file, make_identity(), overwrite=True)


# --- overwrite ------------------------------------------------------------------------------------


def test_overwrite_replaces_only_when_complete(tmp_path):
    out = write_run(tmp_path / "out", seed=1)
    old = io.read_dataset(out, "patients")

    identity = make_identity()
    staging = DatasetStaging.open(out, identity, overwrite=True)
    assert staging.path == tmp_path / "out.partial"
    for k in range(identity.n_shards):
        staging.write_shard(k, make_tables(identity.shard_replicates(k), seed=2))
        # the old dataset is intact while the new one is staged
        assert io.read_dataset(out, "patients").equals(old)
    staging.finalize()

    new = io.read_dataset(out, "patients")
    assert new.equals(make_tables(range(10), seed=2)["patients"])
    assert not new.equals(old)
    assert _siblings(out) == ["out"]  # no staging, no old copy left behind
    assert sorted(p.name for p in out.iterdir()) == [
        "events",
        "manifest.json",
        "patients",
        "trials",
        "visits",
    ]


def test_failed_publish_restores_the_old_dataset(tmp_path, monkeypatch):
    out = write_run(tmp_path / "out", seed=1)
    old = io.read_dataset(out, "patients")
    staging = DatasetStaging.open(out, make_identity(), overwrite=True)
    for k in staging.missing_shards():
        staging.write_shard(k, make_tables(staging.identity.shard_replicates(k), seed=2))

    real_rename = os.rename

    def failing_rename(src, dst):
        if Path(src).name == "out.partial":
            raise OSError("disk on fire")
        real_rename(src, dst)

    monkeypatch.setattr(io.os, "rename", failing_rename)
    with pytest.raises(OSError, match="disk on fire"):
        staging.finalize()
    monkeypatch.undo()
    assert io.read_dataset(out, "patients").equals(old)
    assert _siblings(out) == ["out", "out.partial"]
    # the staged run is complete and still resumable
    again = DatasetStaging.open(out, make_identity(), overwrite=True)
    assert again.resumed and again.missing_shards() == []
    again.finalize()
    assert io.read_dataset(out, "patients").equals(make_tables(range(10), seed=2)["patients"])


def test_target_appearing_during_the_run_is_not_clobbered(tmp_path):
    out = tmp_path / "out"
    staging = DatasetStaging.open(out, make_identity())
    for k in staging.missing_shards():
        staging.write_shard(k, make_tables(staging.identity.shard_replicates(k)))
    out.mkdir()
    with pytest.raises(io.OutputExistsError):
        staging.finalize()
    assert list(out.iterdir()) == []


# --- interruption and resume ----------------------------------------------------------------------


def test_interrupted_run_resumes_with_the_same_identity(tmp_path):
    identity = make_identity()
    out = tmp_path / "out"
    first = DatasetStaging.open(out, identity)
    assert not first.resumed
    assert first.completed_shards() == set()
    first.write_shard(0, make_tables(identity.shard_replicates(0)))
    first.write_shard(2, make_tables(identity.shard_replicates(2)))
    # a crash mid-shard leaves a temporary file and a part file without a marker
    (first.path / "visits" / ".part-00001.parquet.tmp-1-abc").write_bytes(b"junk")
    (first.path / "patients" / "part-00001.parquet").write_bytes(b"half a file")
    del first  # the process dies: no finalize

    assert not out.exists()
    resumed = DatasetStaging.open(out, identity)
    assert resumed.resumed
    assert resumed.completed_shards() == {0, 2}
    assert resumed.missing_shards() == [1]
    assert not (resumed.path / "visits" / ".part-00001.parquet.tmp-1-abc").exists()
    resumed.write_shard(1, make_tables(identity.shard_replicates(1)))
    resumed.finalize()

    reference = write_run(tmp_path / "reference", identity)
    assert io.datasets_equal(out, reference) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"seed_entropy": 4321}, "seed_entropy"),
        ({"scenario_sha256": "6" * 64}, "scenario_sha256"),
        ({"engine": "simpy"}, "engine"),
        ({"shard_size": 5}, "shard_size"),
        ({"extra": {"n_patients": 40}}, "extra.n_patients"),
    ],
)
def test_partial_run_with_another_identity_is_refused(tmp_path, change, named):
    identity = make_identity()
    staging = DatasetStaging.open(tmp_path / "out", identity)
    staging.write_shard(1, make_tables(identity.shard_replicates(1)))
    before = _tree(staging.path)

    with pytest.raises(io.RunMismatchError) as info:
        DatasetStaging.open(tmp_path / "out", make_identity(**change))
    message = str(info.value)
    assert named in message
    assert "delete" in message and "--out" in message
    assert _tree(staging.path) == before  # nothing mixed, nothing removed
    assert DatasetStaging.open(tmp_path / "out", identity).completed_shards() == {1}


def test_resume_false_starts_afresh(tmp_path):
    identity = make_identity()
    staging = DatasetStaging.open(tmp_path / "out", identity)
    staging.write_shard(0, make_tables(identity.shard_replicates(0)))
    fresh = DatasetStaging.open(tmp_path / "out", make_identity(seed_entropy=7), resume=False)
    assert not fresh.resumed
    assert fresh.completed_shards() == set()
    assert io.read_run_identity(fresh.path).seed_entropy == "7"


def test_staging_dir_without_run_json_is_refused(tmp_path):
    stray = tmp_path / "out.partial"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(io.RunMismatchError, match=r"no run\.json"):
        DatasetStaging.open(tmp_path / "out", make_identity())
    assert (stray / "notes.txt").exists()


def test_finalize_refuses_missing_shards(tmp_path):
    identity = make_identity(n_replicates=20, shard_size=4)
    staging = DatasetStaging.open(tmp_path / "out", identity)
    for k in (0, 2):
        staging.write_shard(k, make_tables(identity.shard_replicates(k)))
    with pytest.raises(io.IncompleteRunError, match=r"3 of 5 shards .*shards 1, 3-4"):
        staging.finalize()
    assert not (tmp_path / "out").exists()
    assert staging.completed_shards() == {0, 2}


def test_marker_is_what_makes_a_shard_complete(tmp_path):
    identity = make_identity()
    staging = DatasetStaging.open(tmp_path / "out", identity)
    staging.write_shard(0, make_tables(identity.shard_replicates(0)))
    assert staging.completed_shards() == {0}
    (staging.path / "events" / "part-00000.parquet").unlink()
    assert staging.completed_shards() == set()
    staging.write_shard(0, make_tables(identity.shard_replicates(0)))
    (staging.path / "_shards" / "00000.json").unlink()
    assert staging.completed_shards() == set()


# --- what write_shard accepts ---------------------------------------------------------------------


def test_write_shard_checks_tables_schema_provenance_and_replicates(tmp_path):
    identity = make_identity()
    staging = DatasetStaging.open(tmp_path / "out", identity)
    good = make_tables(identity.shard_replicates(1))

    with pytest.raises(io.ShardError, match="missing: events"):
        staging.write_shard(1, {k: v for k, v in good.items() if k != "events"})
    with pytest.raises(io.ShardError, match=r"replicates 0\.\.3, outside"):
        staging.write_shard(1, make_tables(identity.shard_replicates(0)))
    with pytest.raises(io.ShardError, match=r"outside 0\.\.2"):
        staging.write_shard(3, good)
    other_seed = {**META, "cohortsim.seed_entropy": "1"}
    with pytest.raises(io.ShardError, match="seed_entropy '1'"):
        staging.write_shard(1, make_tables(identity.shard_replicates(1), meta=other_seed))
    wrong_type = dict(good)
    wrong_type["trials"] = good["trials"].set_column(
        1, "n_enrolled", good["trials"]["n_enrolled"].cast(pa.int64())
    )
    with pytest.raises(io.ShardError, match="n_enrolled"):
        staging.write_shard(1, wrong_type)
    short = dict(good)
    short["trials"] = good["trials"].slice(0, 2)
    with pytest.raises(io.ShardError, match="one row per replicate"):
        staging.write_shard(1, short)
    assert staging.completed_shards() == set()
    assert staging.write_shard(1, good) == {t: good[t].num_rows for t in T.TABLE_NAMES}


def test_write_shard_from_worker_processes(tmp_path):
    identity = make_identity(n_replicates=8, shard_size=2)
    staging = DatasetStaging.open(tmp_path / "out", identity)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = [
            pool.submit(io.write_shard, staging.path, k, make_tables(identity.shard_replicates(k)))
            for k in reversed(range(identity.n_shards))
        ]
        rows = [f.result() for f in futures]
    assert all(r["trials"] == 2 for r in rows)
    staging.finalize()
    reference = write_run(tmp_path / "reference", identity)
    assert io.datasets_equal(tmp_path / "out", reference) == []


# --- comparing datasets ---------------------------------------------------------------------------


def test_datasets_equal_ignores_run_fields_and_optionally_layout(tmp_path):
    a = write_run(tmp_path / "a", manifest={"run": {"workers": 1, "elapsed_seconds": 1.0}})
    b = write_run(tmp_path / "b", manifest={"run": {"workers": 8, "elapsed_seconds": 9.0}})
    assert io.datasets_equal(a, b) == []

    c = write_run(tmp_path / "c", make_identity(shard_size=3))
    differences = io.datasets_equal(a, c)
    assert any("identity.shard_size" in d for d in differences)
    assert not any(
        d.startswith(("patients:", "visits:", "events:", "trials:")) for d in differences
    )
    assert io.datasets_equal(a, c, ignore_layout=True) == []


def test_datasets_equal_reports_value_differences(tmp_path):
    a = write_run(tmp_path / "a", seed=0)
    b = write_run(tmp_path / "b", seed=5)
    differences = io.datasets_equal(a, b)
    assert any(d.startswith("patients: column 'follow_up_months'") for d in differences)
    assert any("first at row 0" in d for d in differences)
    assert io.datasets_equal(a, b, ignore_manifest_keys=("run", "scenario")) == differences


def test_identity_round_trip_and_layout():
    identity = make_identity(n_replicates=10, shard_size=4, extra={"n_patients": (1, 2)})
    assert identity.n_shards == 3
    assert identity.shard_replicates(2) == range(8, 10)
    assert identity.shard_of(9) == 2
    again = io.RunIdentity.from_mapping(identity.to_json())
    assert again == identity
    assert again.extra == {"n_patients": [1, 2]}
    loose = io.RunIdentity.from_mapping({**identity.to_json(), "workers_hint": 3})
    assert loose.extra["workers_hint"] == 3
    with pytest.raises(ValueError, match="shard_size"):
        make_identity(shard_size=0)
