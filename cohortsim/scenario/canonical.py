"""The resolved tree: read-only, JSON-ready, hashed.

``Scenario.resolved`` is made of :class:`FrozenDict` and tuples holding only JSON scalars (dates
as ISO strings, infinity as the string ``"inf"``), so ``json.dumps`` takes it as it is, it can be
pickled to worker processes, and it cannot change after it has been hashed. :func:`canonical_json`
is its one serialisation (sorted keys, no whitespace) and ``Scenario.sha256`` its SHA-256.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, NoReturn


class FrozenDict(dict):  # type: ignore[type-arg]
    """A read-only dict: a ``Mapping`` that also passes for a dict (``json``, ``isinstance``)."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("scenario values are read-only")

    __setitem__ = __delitem__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]
    __ior__ = _read_only  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def jsonable(value: Any) -> Any:
    """``value`` with dates as ISO strings, ``inf`` as ``"inf"`` and tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            raise ValueError("NaN has no place in a scenario")
        return "inf" if value > 0 else "-inf"
    return value


def freeze(value: Any) -> Any:
    """A read-only deep copy: mappings become :class:`FrozenDict`, sequences tuples."""
    if isinstance(value, Mapping):
        return FrozenDict((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy (dicts and lists) of a frozen tree."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def canonical_json(scenario_or_tree: Any) -> str:
    """Canonical JSON of a scenario's resolved tree (or of a tree): sorted keys, no whitespace,
    ASCII only. Equal scenarios give equal strings."""
    tree = getattr(scenario_or_tree, "resolved", scenario_or_tree)
    return json.dumps(
        jsonable(tree), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def sha256_of(tree: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``tree``."""
    return hashlib.sha256(canonical_json(tree).encode("ascii")).hexdigest()
