"""Provenance of cohortsim's outputs: the ``cohortsim.*`` metadata keys every table and file
carries, and the names and schema version of the output tables.

Kept apart from :mod:`cohortsim.tables` (which declares the Arrow schemas, and so imports
pyarrow) so that runs writing no tables — a power run without ``--out`` — never import
pyarrow (≈ 0.1 s per process). :mod:`cohortsim.tables` re-exports everything here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

SCHEMA_VERSION = "1"
"""Version of the output schemas; bumped whenever a column is added, removed or changes meaning."""

TABLE_NAMES: tuple[str, ...] = ("patients", "visits", "events", "trials")
"""The output tables, in the order they are documented and written (the keys of
:data:`cohortsim.tables.TABLES`)."""

METADATA_PREFIX = "cohortsim."
"""Prefix of every provenance key in the Arrow schema metadata."""

REQUIRED_METADATA: tuple[str, ...] = ("scenario_sha256", "seed_entropy", "engine", "start_date")
"""Provenance keys (without prefix) that :func:`cohortsim.tables.to_table` requires in its
``metadata``."""


def metadata_key(key: str) -> str:
    """``key`` with the ``cohortsim.`` prefix (added once)."""
    return key if key.startswith(METADATA_PREFIX) else METADATA_PREFIX + key


def metadata_value(value: Any) -> str:
    """A metadata value as stored: dates in ISO format, bytes decoded, anything else ``str``."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def provenance(
    *,
    scenario_sha256: str,
    seed_entropy: int | str,
    engine: str,
    start_date: date | str,
    **extra: Any,
) -> dict[str, str]:
    """Build the provenance metadata that :func:`cohortsim.tables.to_table` and
    :func:`cohortsim.tables.schema_for` expect.

    Parameters
    ----------
    scenario_sha256 : str
        Hash of the resolved scenario.
    seed_entropy : int or str
        Entropy of the root ``SeedSequence`` (stored as a decimal string).
    engine : str
        Engine that produced the data (e.g. ``"simpy"`` or ``"vectorised"``).
    start_date : datetime.date or str
        Study start date (calendar month 0), ISO format.
    **extra
        Further keys, stored as strings under the ``cohortsim.`` prefix.

    Returns
    -------
    dict of str to str
        Keys with the ``cohortsim.`` prefix.
    """
    items = {
        "scenario_sha256": scenario_sha256,
        "seed_entropy": seed_entropy,
        "engine": engine,
        "start_date": start_date,
        **extra,
    }
    return {metadata_key(k): metadata_value(v) for k, v in items.items()}


def read_provenance(schema: Any) -> dict[str, str]:
    """The ``cohortsim.*`` metadata of a ``pyarrow.Schema``, prefix removed (e.g. from
    ``pq.read_schema``)."""
    metadata: Mapping[bytes, bytes] = schema.metadata or {}
    out: dict[str, str] = {}
    for key, value in metadata.items():
        k = key.decode()
        if k.startswith(METADATA_PREFIX):
            out[k[len(METADATA_PREFIX) :]] = value.decode()
    return out
