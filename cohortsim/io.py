"""Atomic, sharded, resumable writing of the output dataset; reading and comparing it back.

This module knows the four tables of :mod:`cohortsim.tables` and how to put them on disk. It knows
nothing of hazards or engines: a caller simulates a *shard* (a fixed, contiguous block of
replicates) and hands over its tables.

Layout
------
While a run is in progress everything lives in a staging directory beside the target,
``DIR.partial/`` (never inside ``DIR``)::

    DIR.partial/
        run.json                       identity of the run (written first)
        patients/part-00000.parquet    one file per table per shard
        visits/part-00000.parquet
        events/part-00000.parquet
        trials/part-00000.parquet
        _shards/00000.json             marker: the shard is complete (written last)

A file is written to a hidden temporary name and ``os.replace``-d into place, and a shard is
complete only once its marker exists, so a crash at any moment leaves complete shards and
garbage that is ignored and cleaned. Opening the same target with the same identity resumes;
with a different identity it is refused. :meth:`DatasetStaging.finalize` writes
``manifest.json`` and renames the staging directory to ``DIR``; the bookkeeping (``run.json``,
``_shards/``) is then removed, its content being in the manifest::

    DIR/
        manifest.json
        patients/part-00000.parquet ...
        visits/ events/ trials/

Files are Parquet, zstd-compressed, row groups of up to :data:`ROW_GROUP_ROWS` rows, categorical
columns kept as dictionaries, the provenance in every file's schema metadata.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from cohortsim import __version__
from cohortsim.lazy import pa, pc, pq
from cohortsim.provenance import SCHEMA_VERSION, TABLE_NAMES, read_provenance

FORMAT = "cohortsim-dataset"
"""Value of ``manifest.json``'s ``format`` key: marks a directory as a cohortsim output."""

MANIFEST_NAME = "manifest.json"
RUN_NAME = "run.json"
SHARDS_DIR = "_shards"
STAGING_SUFFIX = ".partial"
COMPRESSION = "zstd"
ROW_GROUP_ROWS = 1_048_576
"""Maximum rows per Parquet row group (a shard's table smaller than this is one row group)."""

RUN_SPECIFIC_MANIFEST_KEYS: tuple[str, ...] = ("run",)
"""Manifest keys that describe one execution (timing, host, workers, timestamps), not the data;
:func:`datasets_equal` ignores them. Callers put such facts under ``manifest["run"]``."""

_RESERVED_MANIFEST_KEYS: tuple[str, ...] = (
    "format", "schema_version", "cohortsim_version", "identity", "tables"
)
_RESERVED_MANIFEST_KEYS += ("shards",)
_TMP_MARK = ".tmp-"


# --- errors ---------------------------------------------------------------------------------------


class OutputError(Exception):
    """Base class of the errors raised while writing an output dataset."""


class OutputExistsError(OutputError, FileExistsError):
    """The output directory exists and may not (or cannot safely) be replaced."""


class RunMismatchError(OutputError):
    """A staging directory belongs to a different run (or is not a cohortsim staging directory)."""


class IncompleteRunError(OutputError):
    """:meth:`DatasetStaging.finalize` was called before every shard was complete."""


class ShardError(OutputError, ValueError):
    """Tables handed to :func:`write_shard` do not fit the run (tables, schema, replicates)."""


# --- JSON -----------------------------------------------------------------------------------------


def json_default(obj: Any) -> Any:
    """``default=`` hook for :func:`json.dumps`: dates, NumPy scalars and arrays, paths, sets, ...

    Dates and times become ISO strings, NumPy scalars Python numbers, arrays lists, paths strings,
    sets sorted lists, enums their value, dataclasses dicts, Arrow types their name.
    """
    if isinstance(obj, datetime | date | time):
        return obj.isoformat()
    if isinstance(obj, np.datetime64):
        return str(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return _json_float(float(obj))
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    # A Decimal exists only once its module is imported (≈ 1 ms, not on a power run's path).
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, pa.DataType):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable: {obj!r}")


def _json_float(x: float) -> float | str:
    # JSON has no NaN or infinity; spell them as TOML does so the manifest stays strict JSON.
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float | np.floating):
        return _json_float(float(obj))
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def dumps_json(obj: Any) -> str:
    """Indented strict JSON; non-finite floats are spelled ``"nan"``, ``"inf"``, ``"-inf"``."""
    return json.dumps(_jsonable(obj), default=_json_hook, indent=2, allow_nan=False) + "\n"


def _json_hook(obj: Any) -> Any:
    return _jsonable(json_default(obj))


# --- atomic file operations -----------------------------------------------------------------------


def _tmp_name(path: Path) -> Path:
    import uuid

    return path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _atomic_write_parquet(path: Path, table: pa.Table) -> int:
    tmp = _tmp_name(path)
    try:
        pq.write_table(
            table,
            tmp,
            compression=COMPRESSION,
            row_group_size=ROW_GROUP_ROWS,
            # Parquet dictionary pages for everything but floats: categorical columns stay
            # dictionaries; continuous floats rarely repeat and would only pay for the attempt.
            use_dictionary=[f.name for f in table.schema if not pa.types.is_floating(f.type)],
            write_statistics=True,
        )
        _fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size


def _is_tmp(path: Path) -> bool:
    return path.name.startswith(".") and _TMP_MARK in path.name


def _remove_tmp_files(root: Path) -> None:
    for directory in (root, root / SHARDS_DIR, *(root / t for t in TABLE_NAMES)):
        if directory.is_dir():
            for p in directory.iterdir():
                if p.is_file() and _is_tmp(p):
                    p.unlink(missing_ok=True)


# --- run identity ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunIdentity:
    """What a run is: two runs with equal identities produce identical datasets.

    Attributes
    ----------
    scenario_sha256 : str
        Hash of the resolved scenario.
    seed_entropy : int or str
        Entropy of the root ``SeedSequence`` (kept as a decimal string).
    engine : str
        Engine name.
    n_replicates : int
        Replicates in the run, numbered ``0 .. n_replicates − 1``.
    shard_size : int
        Replicates per shard; shard ``k`` holds replicates ``k·shard_size`` up to (excluding)
        ``min((k + 1)·shard_size, n_replicates)``. Fixed by the caller, independent of workers.
    cohortsim_version, schema_version : str
        Versions of the code and of the output schema.
    extra : mapping
        Anything else that changes the data (e.g. a trial size overriding the scenario's); must
        be JSON-serialisable.
    """

    scenario_sha256: str
    seed_entropy: int | str
    engine: str
    n_replicates: int
    shard_size: int
    cohortsim_version: str = __version__
    schema_version: str = SCHEMA_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed_entropy", str(self.seed_entropy))
        object.__setattr__(self, "extra", json.loads(dumps_json(dict(self.extra))))
        if int(self.n_replicates) < 1:
            raise ValueError(f"n_replicates must be ≥ 1, got {self.n_replicates}")
        if int(self.shard_size) < 1:
            raise ValueError(f"shard_size must be ≥ 1, got {self.shard_size}")
        object.__setattr__(self, "n_replicates", int(self.n_replicates))
        object.__setattr__(self, "shard_size", int(self.shard_size))

    @property
    def n_shards(self) -> int:
        """Number of shards."""
        return -(-self.n_replicates // self.shard_size)

    def shard_replicates(self, shard: int) -> range:
        """The replicates of ``shard``."""
        if not 0 <= shard < self.n_shards:
            raise ShardError(f"shard {shard} is outside 0..{self.n_shards - 1}")
        start = shard * self.shard_size
        return range(start, min(start + self.shard_size, self.n_replicates))

    def shard_of(self, replicate: int) -> int:
        """The shard holding ``replicate``."""
        return replicate // self.shard_size

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the content of ``run.json`` and ``manifest["identity"]``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)} | {
            "extra": dict(self.extra)
        }

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> RunIdentity:
        """Build from a mapping; keys that are not fields go into ``extra``."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in mapping.items() if k in names and k != "extra"}
        extra = dict(mapping.get("extra") or {})
        extra.update({k: v for k, v in mapping.items() if k not in names})
        return cls(**known, extra=extra)


def _identity_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    def flat(d: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in d.items() if k != "extra"}
        out.update({f"extra.{k}": v for k, v in (d.get("extra") or {}).items()})
        return out

    a, b = flat(old), flat(new)
    return [
        f"{key}: partial run has {a.get(key)!r}, this run has {b.get(key)!r}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


# --- paths ----------------------------------------------------------------------------------------


def staging_path(target: str | Path) -> Path:
    """The staging directory of ``target``: ``DIR.partial`` beside ``DIR``."""
    target = Path(os.path.abspath(target))
    if not target.name:
        raise ValueError(f"{target} cannot be an output directory")
    return target.with_name(target.name + STAGING_SUFFIX)


def shard_file(table: str, shard: int) -> str:
    """Path of a shard's file relative to the dataset root, e.g. ``patients/part-00012.parquet``."""
    return f"{table}/part-{shard:05d}.parquet"


def _marker(staging_dir: Path, shard: int) -> Path:
    return staging_dir / SHARDS_DIR / f"{shard:05d}.json"


def read_run_identity(staging_dir: str | Path) -> RunIdentity | None:
    """The identity recorded in a staging directory's ``run.json`` (None when it has none)."""
    path = Path(staging_dir) / RUN_NAME
    if not path.is_file():
        return None
    try:
        return RunIdentity.from_mapping(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise RunMismatchError(
            f"{path} is unreadable ({exc}); delete {path.parent} to start the run afresh"
        ) from exc


def _require_identity(staging_dir: Path) -> RunIdentity:
    identity = read_run_identity(staging_dir)
    if identity is None:
        raise RunMismatchError(f"{staging_dir} is not a cohortsim staging directory (no run.json)")
    return identity


def _is_cohortsim_dataset(path: Path) -> bool:
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


def _check_target(target: Path, overwrite: bool) -> None:
    """Refuse a target that exists unless overwriting, and never replace a foreign directory."""
    if not os.path.lexists(target):
        return
    if not overwrite:
        raise OutputExistsError(
            f"{target} already exists. Use --overwrite to replace it (the old output is replaced "
            "only when the new run is complete) or choose another --out."
        )
    if target.is_symlink() or not target.is_dir():
        raise OutputExistsError(f"{target} exists and is not a directory; refusing to replace it.")
    if any(target.iterdir()) and not _is_cohortsim_dataset(target):
        raise OutputExistsError(
            f"{target} exists and is not a cohortsim output (no {MANIFEST_NAME} with format "
            f"{FORMAT!r}); refusing to replace it. Remove it yourself or choose another --out."
        )


# --- shards ---------------------------------------------------------------------------------------


def _check_shard_tables(identity: RunIdentity, shard: int, tables: Mapping[str, pa.Table]) -> None:
    missing = [t for t in TABLE_NAMES if t not in tables]
    extra = [t for t in tables if t not in TABLE_NAMES]
    if missing or extra:
        raise ShardError(
            f"shard {shard}: expected tables {', '.join(TABLE_NAMES)}; "
            f"missing: {', '.join(missing) or '-'}; unexpected: {', '.join(extra) or '-'}"
        )
    from cohortsim.tables import schema_for  # imports pyarrow, which a shard's tables are

    replicates = identity.shard_replicates(shard)
    for name in TABLE_NAMES:
        table = tables[name]
        expected = schema_for(name)
        if not table.schema.equals(expected, check_metadata=False):
            got = {f.name: f for f in table.schema}
            wrong = [
                f"{f.name} ({f.type}{'' if f.nullable else ' not null'} expected, got "
                f"{got[f.name].type if f.name in got else 'nothing'})"
                for f in expected
                if f.name not in got or not got[f.name].equals(f)
            ]
            order = " (column order differs)" if not wrong else ""
            raise ShardError(
                f"shard {shard}: table {name!r} does not have the declared schema{order}: "
                + "; ".join(wrong)
                + ". Build it with cohortsim.tables.to_table."
            )
        meta = read_provenance(table.schema)
        for key, want in (
            ("scenario_sha256", identity.scenario_sha256),
            ("seed_entropy", identity.seed_entropy),
            ("engine", identity.engine),
            ("schema_version", identity.schema_version),
        ):
            if meta.get(key) != want:
                raise ShardError(
                    f"shard {shard}: table {name!r} has {key} {meta.get(key)!r} in its metadata "
                    f"but the run has {want!r}"
                )
        if table.num_rows:
            lo_hi = pc.min_max(table["replicate"]).as_py()
            lo, hi = lo_hi["min"], lo_hi["max"]
            if lo < replicates.start or hi >= replicates.stop:
                raise ShardError(
                    f"shard {shard}: table {name!r} holds replicates {lo}..{hi}, outside the "
                    f"shard's {replicates.start}..{replicates.stop - 1}"
                )
    trial_reps = np.sort(tables["trials"]["replicate"].to_numpy())
    if not np.array_equal(trial_reps, np.arange(replicates.start, replicates.stop)):
        raise ShardError(
            f"shard {shard}: table 'trials' must have one row per replicate "
            f"{replicates.start}..{replicates.stop - 1}"
        )


def write_shard(
    staging_dir: str | Path, shard: int, tables: Mapping[str, pa.Table]
) -> dict[str, int]:
    """Write one shard's tables into a staging directory and mark the shard complete.

    A plain module-level function so that worker processes can call it with just the staging
    path: it touches only this shard's files.

    Parameters
    ----------
    staging_dir : str or Path
        The staging directory (``DatasetStaging.path``), holding ``run.json``.
    shard : int
        Shard number, ``0 .. n_shards − 1``.
    tables : mapping of str to pyarrow.Table
        All four tables (:data:`cohortsim.tables.TABLE_NAMES`), built by
        :func:`cohortsim.tables.to_table`, holding only this shard's replicates; ``trials`` has
        one row per replicate of the shard.

    Returns
    -------
    dict of str to int
        Rows written per table.

    Raises
    ------
    ShardError
        If tables are missing or extra, a schema or its provenance does not match the run, or
        replicates lie outside the shard.
    """
    staging_dir = Path(staging_dir)
    identity = _require_identity(staging_dir)
    _check_shard_tables(identity, shard, tables)
    marker = _marker(staging_dir, shard)
    marker.unlink(missing_ok=True)  # rewriting a shard: it is incomplete until the new marker
    rows: dict[str, int] = {}
    sizes: dict[str, int] = {}
    files: dict[str, str] = {}
    for name in TABLE_NAMES:
        rel = shard_file(name, shard)
        path = staging_dir / rel
        path.parent.mkdir(exist_ok=True)
        sizes[name] = _atomic_write_parquet(path, tables[name])
        rows[name] = tables[name].num_rows
        files[name] = rel
    for name in TABLE_NAMES:
        _fsync_dir(staging_dir / name)
    replicates = identity.shard_replicates(shard)
    record = {
        "shard": shard,
        "replicates": [replicates.start, replicates.stop],
        "rows": rows,
        "files": files,
        "bytes": sizes,
    }
    _atomic_write_text(marker, dumps_json(record))
    return rows


def _read_marker(staging_dir: Path, shard: int) -> dict[str, Any] | None:
    path = _marker(staging_dir, shard)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = record.get("files", {})
    if set(files) != set(TABLE_NAMES) or not all(
        (staging_dir / f).is_file() for f in files.values()
    ):
        return None
    return record


def completed_shards(staging_dir: str | Path) -> set[int]:
    """Shards of a staging directory whose marker exists and whose files are all present."""
    staging_dir = Path(staging_dir)
    identity = _require_identity(staging_dir)
    done = set()
    shards_dir = staging_dir / SHARDS_DIR
    if shards_dir.is_dir():
        for p in shards_dir.glob("*.json"):
            if p.stem.isdigit() and int(p.stem) < identity.n_shards:
                shard = int(p.stem)
                if _read_marker(staging_dir, shard) is not None:
                    done.add(shard)
    return done


def _ranges(numbers: Iterable[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` → ``"0-2, 5, 7-8"``."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and runs[-1][1] == n - 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# --- staging --------------------------------------------------------------------------------------


class DatasetStaging:
    """A run being written into ``DIR.partial/``; see the module docstring for the layout.

    Create with :meth:`open`; write shards with :meth:`write_shard` (or the module-level
    :func:`write_shard` from worker processes, given :attr:`path`); publish with :meth:`finalize`.

    Attributes
    ----------
    target : Path
        The final output directory ``DIR``.
    path : Path
        The staging directory ``DIR.partial``.
    identity : RunIdentity
        What the run is.
    overwrite : bool
        Whether an existing ``DIR`` will be replaced by :meth:`finalize`.
    resumed : bool
        True when an existing staging directory of the same run was reopened.
    """

    def __init__(
        self, target: Path, path: Path, identity: RunIdentity, overwrite: bool, resumed: bool
    ) -> None:
        self.target = target
        self.path = path
        self.identity = identity
        self.overwrite = overwrite
        self.resumed = resumed
        self._finalized = False

    def __repr__(self) -> str:
        state = "finalized" if self._finalized else ("resumed" if self.resumed else "new")
        return f"DatasetStaging({str(self.target)!r}, {self.identity.n_shards} shards, {state})"

    @classmethod
    def open(
        cls,
        target: str | Path,
        identity: RunIdentity | Mapping[str, Any],
        overwrite: bool = False,
        resume: bool = True,
    ) -> DatasetStaging:
        """Start or resume writing the dataset ``target``.

        Nothing is written before the checks pass.

        Parameters
        ----------
        target : str or Path
            Output directory ``DIR``. Its parent is created if needed.
        identity : RunIdentity or mapping
            What the run is (a mapping goes through :meth:`RunIdentity.from_mapping`).
        overwrite : bool
            Allow ``DIR`` to exist; it is replaced by :meth:`finalize`, never before. Only an
            empty directory or a cohortsim output (a ``manifest.json``) is replaced.
        resume : bool
            Reuse the complete shards of an existing ``DIR.partial/`` of the same run (default).
            False discards an existing staging directory (one with a ``run.json``, or empty),
            whatever run it belongs to.

        Returns
        -------
        DatasetStaging
            Check :meth:`completed_shards` for the shards left to do.

        Raises
        ------
        OutputExistsError
            ``DIR`` exists and ``overwrite`` is false, or ``DIR`` is not a cohortsim output.
        RunMismatchError
            ``DIR.partial/`` belongs to another run (the message names what differs).
        """
        target_path = Path(os.path.abspath(target))
        staging = staging_path(target_path)
        ident = (
            identity if isinstance(identity, RunIdentity) else RunIdentity.from_mapping(identity)
        )
        _check_target(target_path, overwrite)

        resumed = False
        if os.path.lexists(staging):
            if staging.is_symlink() or not staging.is_dir():
                raise RunMismatchError(f"{staging} exists and is not a directory; remove it")
            existing = read_run_identity(staging) if resume else None
            if not resume:
                if (staging / RUN_NAME).exists() or not any(staging.iterdir()):
                    shutil.rmtree(staging)
                else:
                    raise RunMismatchError(
                        f"{staging} is not a cohortsim staging directory (no run.json); "
                        "refusing to delete it"
                    )
            elif existing is None:
                if any(staging.iterdir()):
                    raise RunMismatchError(
                        f"{staging} exists but has no {RUN_NAME}: it is not a cohortsim staging "
                        f"directory or it is damaged. Delete it or choose another --out."
                    )
            else:
                differences = _identity_differences(existing.to_json(), ident.to_json())
                if differences:
                    raise RunMismatchError(
                        f"{staging} holds an unfinished run that differs from this one:\n  "
                        + "\n  ".join(differences)
                        + f"\nRerun with the original settings to resume it, delete {staging} to "
                        "discard it, or choose another --out."
                    )
                resumed = True
                _remove_tmp_files(staging)

        if not resumed:
            staging.parent.mkdir(parents=True, exist_ok=True)
            staging.mkdir(exist_ok=True)
            _atomic_write_text(staging / RUN_NAME, dumps_json(ident.to_json()))
        for sub in (SHARDS_DIR, *TABLE_NAMES):
            (staging / sub).mkdir(exist_ok=True)
        return cls(target_path, staging, ident, overwrite, resumed)

    def completed_shards(self) -> set[int]:
        """Shards already written and marked complete."""
        return completed_shards(self.path)

    def missing_shards(self) -> list[int]:
        """Shards still to write, in order."""
        done = self.completed_shards()
        return [k for k in range(self.identity.n_shards) if k not in done]

    def write_shard(self, shard: int, tables: Mapping[str, pa.Table]) -> dict[str, int]:
        """Write one shard (see :func:`write_shard`); returns rows per table."""
        if self._finalized:
            raise OutputError(f"{self.target} is already finalized")
        return write_shard(self.path, shard, tables)

    def discard(self) -> None:
        """Delete the staging directory (abandon the run)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def finalize(self, manifest: Mapping[str, Any] | None = None) -> Path:
        """Write ``manifest.json`` and move the dataset into place.

        Parameters
        ----------
        manifest : mapping, optional
            Extra manifest content (scenario, settings, ...), merged at the top level. Facts
            about this execution (timing, host, workers) belong under ``"run"``, which
            :func:`datasets_equal` ignores; ``"run"`` also receives ``finalized_utc``. The keys
            ``format``, ``schema_version``, ``cohortsim_version``, ``identity``, ``tables`` and
            ``shards`` are written here and may not be given.

        Returns
        -------
        Path
            The output directory.

        Raises
        ------
        IncompleteRunError
            Some shards are not complete (they are listed).
        OutputExistsError
            ``DIR`` appeared meanwhile and ``overwrite`` is false.
        """
        if self._finalized:
            raise OutputError(f"{self.target} is already finalized")
        extra = dict(manifest or {})
        clash = [k for k in _RESERVED_MANIFEST_KEYS if k in extra]
        if clash:
            raise ValueError(f"manifest keys {clash} are written by cohortsim.io; do not pass them")
        missing = self.missing_shards()
        if missing:
            raise IncompleteRunError(
                f"{len(missing)} of {self.identity.n_shards} shards are not complete "
                f"(shards {_ranges(missing)}); run again with the same settings to resume."
            )
        _check_target(self.target, self.overwrite)
        _remove_tmp_files(self.path)
        content = self._manifest(extra)
        self._check_no_strays(content)
        _atomic_write_text(self.path / MANIFEST_NAME, dumps_json(content))
        self._publish()
        self._finalized = True
        return self.target

    def _manifest(self, extra: dict[str, Any]) -> dict[str, Any]:
        shards = []
        totals = dict.fromkeys(TABLE_NAMES, 0)
        files: dict[str, list[str]] = {t: [] for t in TABLE_NAMES}
        for k in range(self.identity.n_shards):
            record = _read_marker(self.path, k)
            if record is None:  # pragma: no cover - checked by missing_shards just before
                raise IncompleteRunError(f"shard {k} lost its marker")
            shards.append({"shard": k, "replicates": record["replicates"], "rows": record["rows"]})
            for t in TABLE_NAMES:
                totals[t] += record["rows"][t]
                files[t].append(record["files"][t])
        run = dict(extra.pop("run", None) or {})
        run.setdefault("finalized_utc", datetime.now(UTC).isoformat(timespec="seconds"))
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "cohortsim_version": self.identity.cohortsim_version,
            "identity": self.identity.to_json(),
            "tables": {t: {"rows": totals[t], "files": files[t]} for t in TABLE_NAMES},
            "shards": shards,
            **extra,
            "run": run,
        }

    def _check_no_strays(self, content: Mapping[str, Any]) -> None:
        for t in TABLE_NAMES:
            expected = {Path(f).name for f in content["tables"][t]["files"]}
            strays = sorted(p.name for p in (self.path / t).iterdir() if p.name not in expected)
            if strays:
                raise RunMismatchError(
                    f"{self.path / t} holds files that belong to no shard of this run: "
                    f"{', '.join(strays[:5])}; delete {self.path} and run again."
                )

    def _publish(self) -> None:
        target, staging = self.target, self.path
        aside: Path | None = None
        if os.path.lexists(target):
            import uuid

            aside = target.with_name(f"{target.name}.replaced-{uuid.uuid4().hex[:8]}")
            os.rename(target, aside)
        try:
            os.rename(staging, target)
        except BaseException:
            if aside is not None:
                os.rename(aside, target)
            raise
        _fsync_dir(target.parent)
        # The bookkeeping is in the manifest now; drop it from the published dataset.
        (target / RUN_NAME).unlink(missing_ok=True)
        shutil.rmtree(target / SHARDS_DIR, ignore_errors=True)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


# --- reading and comparing ------------------------------------------------------------------------


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The ``manifest.json`` of a finished dataset."""
    return json.loads((Path(directory) / MANIFEST_NAME).read_text(encoding="utf-8"))


def dataset_files(directory: str | Path, table: str) -> list[Path]:
    """A table's files in replicate order: from the manifest, else ``part-*.parquet`` sorted."""
    directory = Path(directory)
    if table not in TABLE_NAMES:
        raise KeyError(f"unknown table {table!r}; the tables are {', '.join(TABLE_NAMES)}")
    if (directory / MANIFEST_NAME).is_file():
        return [directory / f for f in read_manifest(directory)["tables"][table]["files"]]
    return sorted((directory / table).glob("part-*.parquet"))


def read_dataset(
    directory: str | Path,
    table: str,
    columns: list[str] | None = None,
    filter: pc.Expression | None = None,
) -> pa.Table:
    """Read one table of an output directory with :mod:`pyarrow.dataset`.

    Parameters
    ----------
    directory : str or Path
        A finished output directory. A staging directory can be read too (for debugging): all
        its ``part-*.parquet`` files are read, complete shards or not.
    table : str
        One of :data:`cohortsim.tables.TABLE_NAMES`.
    columns : list of str, optional
        Columns to read (all by default).
    filter : pyarrow.compute.Expression, optional
        Row filter, e.g. ``pc.field("replicate") < 100``.

    Returns
    -------
    pyarrow.Table
        Rows in replicate order (shard by shard), the declared types, the provenance metadata.
    """
    files = dataset_files(directory, table)
    if not files:
        raise FileNotFoundError(f"no {table} files in {directory}")
    # Imported here: pyarrow.dataset pulls in pandas (~0.2 s), which writing runs never need.
    import pyarrow.dataset as ds

    schema = pq.read_schema(files[0])
    dataset = ds.dataset([str(f) for f in files], schema=schema, format="parquet")
    return dataset.to_table(columns=columns, filter=filter)


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _column_difference(name: str, a: pa.ChunkedArray, b: pa.ChunkedArray) -> str | None:
    if a.type != b.type:
        return f"column {name!r}: type {a.type} vs {b.type}"
    if a.equals(b):
        return None
    pa_, pb = _plain(a), _plain(b)
    same = pc.fill_null(pc.equal(pa_, pb), False)
    same = pc.or_(same, pc.and_(pc.is_null(pa_), pc.is_null(pb)))
    if pa.types.is_floating(pa_.type):
        same = pc.or_(same, pc.fill_null(pc.and_(pc.is_nan(pa_), pc.is_nan(pb)), False))
    n_diff = len(a) - pc.sum(same).as_py() if len(a) else 0
    if n_diff == 0:
        return None
    first = pc.index(same, False).as_py()
    return (
        f"column {name!r}: {n_diff} of {len(a)} rows differ (first at row {first}: "
        f"{pa_[first].as_py()!r} vs {pb[first].as_py()!r})"
    )


def _json_differences(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else key
            if key not in a or key not in b:
                where = "dir_b" if key not in a else "dir_a"
                out.append(f"manifest: {sub} only in {where}")
            else:
                out += _json_differences(a[key], b[key], sub)
        return out
    if a != b:
        return [f"manifest: {path}: {a!r} vs {b!r}"]
    return []


def _drop(manifest: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    nodes = [manifest]
    for part in parents:
        if part == "*":
            nodes = [v for n in nodes for v in n.values() if isinstance(v, dict)]
        else:
            nodes = [n[part] for n in nodes if isinstance(n.get(part), dict)]
    for node in nodes:
        node.pop(last, None)


def datasets_equal(
    dir_a: str | Path,
    dir_b: str | Path,
    *,
    ignore_manifest_keys: Iterable[str] = RUN_SPECIFIC_MANIFEST_KEYS,
    ignore_layout: bool = False,
) -> list[str]:
    """Compare two output directories table by table; the differences, empty when equal.

    Parameters
    ----------
    dir_a, dir_b : str or Path
        Finished output directories.
    ignore_manifest_keys : iterable of str
        Manifest keys to ignore, dotted for nested ones (``"tables.*.files"``); by default the
        run-specific :data:`RUN_SPECIFIC_MANIFEST_KEYS`.
    ignore_layout : bool
        Also ignore how the replicates were cut into shards (shard size, per-shard rows, file
        lists), to compare runs with different shard sizes. Table contents are compared in
        replicate order either way.

    Returns
    -------
    list of str
        One line per difference: table rows, column types and values (first differing row),
        provenance metadata, manifest entries.
    """
    out: list[str] = []
    for table in TABLE_NAMES:
        try:
            a = read_dataset(dir_a, table)
            b = read_dataset(dir_b, table)
        except (FileNotFoundError, KeyError) as exc:
            out.append(f"{table}: cannot read ({exc})")
            continue
        meta_a, meta_b = read_provenance(a.schema), read_provenance(b.schema)
        for key in sorted(set(meta_a) | set(meta_b)):
            if meta_a.get(key) != meta_b.get(key):
                out.append(f"{table}: metadata {key}: {meta_a.get(key)!r} vs {meta_b.get(key)!r}")
        if a.column_names != b.column_names:
            out.append(f"{table}: columns {a.column_names} vs {b.column_names}")
            continue
        if a.num_rows != b.num_rows:
            out.append(f"{table}: {a.num_rows} vs {b.num_rows} rows")
            continue
        for name in a.column_names:
            diff = _column_difference(name, a[name], b[name])
            if diff:
                out.append(f"{table}: {diff}")
    try:
        man_a, man_b = read_manifest(dir_a), read_manifest(dir_b)
    except (OSError, ValueError) as exc:
        out.append(f"manifest: cannot read ({exc})")
        return out
    ignored = list(ignore_manifest_keys)
    if ignore_layout:
        ignored += ["identity.shard_size", "shards", "tables.*.files"]
    for key in ignored:
        _drop(man_a, key)
        _drop(man_b, key)
    out += _json_differences(man_a, man_b, "")
    return out


__all__ = [
    "COMPRESSION",
    "FORMAT",
    "MANIFEST_NAME",
    "ROW_GROUP_ROWS",
    "RUN_SPECIFIC_MANIFEST_KEYS",
    "DatasetStaging",
    "IncompleteRunError",
    "OutputError",
    "OutputExistsError",
    "RunIdentity",
    "RunMismatchError",
    "ShardError",
    "completed_shards",
    "dataset_files",
    "datasets_equal",
    "dumps_json",
    "json_default",
    "read_dataset",
    "read_manifest",
    "read_run_identity",
    "shard_file",
    "staging_path",
    "write_shard",
]
