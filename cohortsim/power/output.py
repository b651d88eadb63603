"""The files ``cohortsim power`` writes: Arrow schemas and writers, in one place.

* ``replicates.parquet`` — one row per N × replicate × comparison × endpoint, written chunk by
  chunk as the run goes (never held whole in memory);
* ``assurance_replicates.parquet`` — the same for the assurance run, with the parameter draw;
* ``assurance_draws.parquet`` — each parameter set drawn for assurance;
* ``summary.parquet`` — one row per N × comparison × endpoint.

Provenance (scenario hash, seed, seeding scheme, engine, versions, the command's settings) is
stored as schema metadata under ``cohortsim.`` keys, as for the simulate outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cohortsim.lazy import pa, pq
from cohortsim.power.sequential import STOPS

REPLICATE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("n_total", "int32", "patients in the trial (the design's N)"),
    ("replicate", "int64", "simulated trial index (same streams at every N)"),
    ("comparison", "dictionary", "treatment arm compared with control"),
    ("endpoint", "dictionary", "endpoint analysed"),
    ("estimate", "float64", "treatment effect (summary.effect_measure; ratios on log scale)"),
    ("se", "float64", "standard error of the estimate"),
    ("statistic", "float64", "test statistic (as the test reports it)"),
    ("pvalue", "float64", "p-value (one-sided towards benefit when sides = 1)"),
    ("ci_low", "float64", "lower confidence limit of the estimate"),
    ("ci_high", "float64", "upper confidence limit of the estimate"),
    ("rejected", "bool_", "success: significant in the direction of benefit"),
    ("significant", "bool_", "significant in either direction"),
    ("events", "float64", "events behind the analysis (responders, relapses, flares, n)"),
    ("n_analysed", "int64", "patients in the analysis"),
    ("duration_months", "float64", "calendar month of the analysis (study duration)"),
    ("look", "int8", "analysis at which the trial ended (1-based; the final one if none)"),
    ("stop", "dictionary", "final, or stopped for efficacy/futility/harm"),
)
"""Columns of ``replicates.parquet``: name, Arrow type (a ``pyarrow`` type factory's name, or
``"dictionary"`` for int8-coded strings) and meaning. Names, not types, so that importing this
module does not import pyarrow."""


def _arrow_type(kind: str) -> pa.DataType:
    if kind == "dictionary":
        return pa.dictionary(pa.int8(), pa.string())
    return getattr(pa, kind)()


def replicate_schema(
    metadata: Mapping[str, str] | None = None, with_draw: bool = False
) -> pa.Schema:
    """The schema of ``replicates.parquet`` (``assurance_replicates.parquet`` with a draw)."""
    fields = [
        pa.field(name, _arrow_type(kind), metadata={"meaning": doc})
        for name, kind, doc in REPLICATE_COLUMNS
    ]
    if with_draw:
        fields.append(pa.field("draw", pa.int64(), metadata={"meaning": "parameter draw"}))
    return pa.schema(fields, metadata=dict(metadata or {}))


def _dictionary(codes: np.ndarray, labels: Sequence[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(codes, type=pa.int8()), pa.array(list(labels), type=pa.string())
    )


def replicate_table(
    rows: Mapping[str, np.ndarray],
    comparisons: Sequence[str],
    endpoints: Sequence[str],
    schema: pa.Schema,
    draw: np.ndarray | None = None,
) -> pa.Table:
    """A chunk's rows as an Arrow table of ``schema``."""
    labels = {"comparison": comparisons, "endpoint": endpoints, "stop": STOPS}
    arrays = []
    for field in schema:
        if field.name == "draw":
            arrays.append(pa.array(draw, type=pa.int64()))
        elif field.name in labels:
            arrays.append(_dictionary(rows[field.name], labels[field.name]))
        else:
            arrays.append(pa.array(rows[field.name], type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class ReplicateWriter:
    """Appends chunks to a Parquet file (zstd), in the order given."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._writer = pq.ParquetWriter(str(path), schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table, row_group_size=1 << 20)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()


def write_table(path: Path, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
                metadata: Mapping[str, str]) -> None:
    """Write a small table (a list of row dicts, or columns) to Parquet with ``metadata``."""
    table = pa.table(dict(rows)) if isinstance(rows, Mapping) else pa.Table.from_pylist(list(rows))
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    pq.write_table(table, str(path), compression="zstd")


def metadata_json(value: Any) -> str:
    """A metadata value as compact JSON."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
