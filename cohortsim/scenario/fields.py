"""The building blocks of the declarative scenario specification.

A specification is a tree of :class:`Table` objects whose :class:`Key` entries each carry a
value type (which knows its unit, allowed range and how to check and normalise a value), a
default and a one-line meaning. :meth:`Table.normalise` validates a raw TOML tree against it:
unknown keys (with the nearest valid key suggested), wrong types, out-of-range values, keys that
do not apply, missing required keys; then it fills in defaults and runs the table's consistency
checks. Normalising an already-normalised tree returns it unchanged.

Nothing here knows about lupus or trials: :mod:`cohortsim.scenario.spec` says what the keys are.
"""

from __future__ import annotations

import copy
import datetime as _dt
import difflib
import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cohortsim.scenario.errors import Ctx, ScenarioError, describe_type, format_value


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


REQUIRED: Any = _Marker("REQUIRED")
"""Default of a key that must be given."""

OPTIONAL: Any = _Marker("OPTIONAL")
"""Default of a key that may be absent (the model then reads ``None`` / "not set")."""


@dataclass(frozen=True)
class Computed:
    """Default worked out from other keys when the scenario is built (``doc`` says how)."""

    doc: str


def suggest(name: str, candidates: Sequence[str]) -> str | None:
    """The nearest of ``candidates`` to a misspelt ``name`` (difflib), if any is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if matches:
        return matches[0]
    # A shortened name ("rate" for "rate_per_month"): the closest candidate containing it.
    containing = [c for c in candidates if len(name) >= 3 and name.lower() in c.lower()]
    if containing:
        return max(containing, key=lambda c: difflib.SequenceMatcher(None, name, c).ratio())
    return None


def unknown_key_message(name: str, candidates: Sequence[str]) -> str:
    guess = suggest(name, candidates)
    if guess is not None:
        return f"unknown key; did you mean '{guess}'?"
    return "unknown key; expected one of: " + ", ".join(candidates)


def _num(x: float) -> str:
    return format_value(float(x)).removesuffix(".0") if float(x).is_integer() else format_value(x)


# -- value types -------------------------------------------------------------------------------
class ValueType:
    """Checks and normalises one value. Subclasses set ``type_name`` and ``unit`` for the docs."""

    type_name: str = "value"
    unit: str = ""

    def normalise(self, value: Any, ctx: Ctx) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def normalise_default(self, value: Any, ctx: Ctx) -> Any:
        """:meth:`normalise` for a key's default value (a type may skip checks that a test
        makes once for every default, see :class:`DistributionType`)."""
        return self.normalise(value, ctx)

    def allowed(self) -> str:
        """The allowed range, for the docs (empty when anything of the type is fine)."""
        return ""

    def expected(self) -> str:
        """What a valid value is, for error messages ("a rate per month >= 0")."""
        return self.type_name


def _interval(ge: float | None, gt: float | None, le: float | None, lt: float | None) -> str:
    low = ge if ge is not None else gt
    high = le if le is not None else lt
    if low is not None and high is not None:
        left = "[" if ge is not None else "("
        right = "]" if le is not None else ")"
        return f"in {left}{_num(low)}, {_num(high)}{right}"
    parts = []
    if ge is not None:
        parts.append(f">= {_num(ge)}")
    if gt is not None:
        parts.append(f"> {_num(gt)}")
    if le is not None:
        parts.append(f"<= {_num(le)}")
    if lt is not None:
        parts.append(f"< {_num(lt)}")
    return " and ".join(parts)


@dataclass(frozen=True)
class Float(ValueType):
    """A real number (TOML float or integer; booleans are refused), finite unless ``allow_inf``.

    ``allow_inf`` also accepts the string ``"inf"``, normalised to ``math.inf``.
    """

    noun: str = "a number"
    unit: str = ""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    allow_inf: bool = False
    type_name: str = "float"

    def allowed(self) -> str:
        text = _interval(self.ge, self.gt, self.le, self.lt)
        if self.allow_inf:
            text += ' or "inf"' if text else 'any, or "inf"'
        return text

    def expected(self) -> str:
        return f"{self.noun} {self.allowed()}".strip()

    def normalise(self, value: Any, ctx: Ctx) -> float:
        if isinstance(value, str) and self.allow_inf and value.strip().lower() == "inf":
            return math.inf
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)
        try:
            x = float(value)
        except OverflowError:
            ctx.error(f"expected {self.expected()} (too large)", value)
        if math.isnan(x) or (math.isinf(x) and not (self.allow_inf and x > 0)):
            ctx.error(f"expected {self.expected()} (finite)", value)
        if (
            (self.ge is not None and not x >= self.ge)
            or (self.gt is not None and not x > self.gt)
            or (self.le is not None and not x <= self.le)
            or (self.lt is not None and not x < self.lt)
        ):
            ctx.error(f"expected {self.expected()}", value)
        return x + 0.0  # turns -0.0 into 0.0, so that equal scenarios hash equally


@dataclass(frozen=True)
class Int(ValueType):
    """A TOML integer (floats such as ``15.0`` and booleans are refused)."""

    noun: str = "an integer"
    unit: str = ""
    ge: int | None = None
    le: int | None = None
    type_name: str = "int"

    def allowed(self) -> str:
        return _interval(self.ge, None, self.le, None)

    def expected(self) -> str:
        return f"{self.noun} {self.allowed()}".strip()

    def normalise(self, value: Any, ctx: Ctx) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)
        if (self.ge is not None and value < self.ge) or (self.le is not None and value > self.le):
            ctx.error(f"expected {self.expected()}", value)
        return int(value)


@dataclass(frozen=True)
class Bool(ValueType):
    type_name: str = "bool"

    def allowed(self) -> str:
        return "true, false"

    def expected(self) -> str:
        return "true or false"

    def normalise(self, value: Any, ctx: Ctx) -> bool:
        if not isinstance(value, bool):
            ctx.error(f"expected true or false, not {describe_type(value)}", value)
        return value


@dataclass(frozen=True)
class Str(ValueType):
    """A string, optionally matching ``pattern`` (a full match)."""

    noun: str = "a string"
    pattern: str | None = None
    nonempty: bool = False
    type_name: str = "string"

    def allowed(self) -> str:
        if self.pattern:
            return f"matches `{self.pattern}`"
        return "non-empty" if self.nonempty else ""

    def expected(self) -> str:
        if self.pattern:
            return f"{self.noun} matching {self.pattern}"
        return f"a non-empty {self.noun.removeprefix('a ')}" if self.nonempty else self.noun

    def normalise(self, value: Any, ctx: Ctx) -> str:
        if not isinstance(value, str):
            ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)
        if self.nonempty and not value.strip():
            ctx.error(f"expected {self.expected()}", value)
        if self.pattern and not re.fullmatch(self.pattern, value):
            ctx.error(f"expected {self.expected()}", value)
        return value


@dataclass(frozen=True)
class Choice(ValueType):
    """One of a fixed set of strings."""

    options: tuple[str, ...] = ()
    type_name: str = "string"

    def allowed(self) -> str:
        return ", ".join(f'"{o}"' for o in self.options)

    def expected(self) -> str:
        return "one of " + self.allowed()

    def normalise(self, value: Any, ctx: Ctx) -> str:
        if not isinstance(value, str):
            ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)
        if value not in self.options:
            guess = suggest(value, self.options)
            hint = f'; did you mean "{guess}"?' if guess else ""
            ctx.error(f"expected {self.expected()}{hint}", value)
        return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Date(ValueType):
    """A calendar date: a TOML local date (``2007-03-11``) or an ISO 8601 string."""

    type_name: str = "date"

    def allowed(self) -> str:
        return "YYYY-MM-DD"

    def expected(self) -> str:
        return 'a date (TOML date or "YYYY-MM-DD")'

    def normalise(self, value: Any, ctx: Ctx) -> _dt.date:
        if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
            return value
        if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
            try:
                return _dt.date.fromisoformat(value.strip())
            except ValueError:
                ctx.error(f"expected {self.expected()} (no such day)", value)
        ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)


@dataclass(frozen=True)
class FloatList(ValueType):
    """An array of numbers, each checked by ``item``; normalised to a tuple of floats."""

    item: Float = Float()
    min_len: int = 0
    max_len: int | None = None
    increasing: bool = False
    type_name: str = "list of float"

    @property
    def unit(self) -> str:  # type: ignore[override]
        return self.item.unit

    def _length(self) -> str:
        if self.max_len is not None and self.max_len == self.min_len:
            return f"exactly {self.min_len} values"
        if self.min_len > 0:
            return f"at least {self.min_len} value" + ("s" if self.min_len > 1 else "")
        return ""

    def allowed(self) -> str:
        parts = []
        if self.item.allowed():
            parts.append(f"each {self.item.allowed()}")
        if self.increasing:
            parts.append("strictly increasing")
        if self._length():
            parts.append(self._length())
        return "; ".join(parts)

    def expected(self) -> str:
        parts = [f"each {self.item.expected()}"]
        if self.increasing:
            parts.append("strictly increasing")
        if self._length():
            parts.append(self._length())
        return "an array (" + "; ".join(parts) + ")"

    def normalise(self, value: Any, ctx: Ctx) -> tuple[float, ...]:
        if not isinstance(value, list | tuple):
            ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)
        out = []
        for i, v in enumerate(value):
            try:
                out.append(self.item.normalise(v, ctx))
            except ScenarioError as error:  # re-raised at the list's key, naming the item
                ctx.error(f"value {i + 1} ({format_value(v)}): {error.expected}", value)
        n = len(out)
        if n < self.min_len or (self.max_len is not None and n > self.max_len):
            ctx.error(f"expected {self._length()}, got {n}", value)
        if self.increasing and any(b <= a for a, b in itertools.pairwise(out)):
            ctx.error("expected strictly increasing values", value)
        return tuple(out)


@dataclass(frozen=True)
class Pair(ValueType):
    """``[low, high]`` with ``low <= high``."""

    item: Float = Float()
    type_name: str = "[low, high]"

    @property
    def unit(self) -> str:  # type: ignore[override]
        return self.item.unit

    def allowed(self) -> str:
        each = self.item.allowed()
        return (f"each {each}; " if each else "") + "low <= high"

    def expected(self) -> str:
        return f"[low, high] with low <= high ({self.allowed()})"

    def normalise(self, value: Any, ctx: Ctx) -> tuple[float, float]:
        values = FloatList(self.item, 2, 2).normalise(value, ctx)
        if values[0] > values[1]:
            ctx.error("expected [low, high] with low <= high", value)
        return values[0], values[1]


@dataclass(frozen=True)
class FloatOrList(ValueType):
    """A single number (applies to every item) or an array of numbers."""

    item: Float = Float()
    type_name: str = "float or list of float"

    @property
    def unit(self) -> str:  # type: ignore[override]
        return self.item.unit

    def allowed(self) -> str:
        return self.item.allowed()

    def expected(self) -> str:
        return f"{self.item.expected()}, or an array of them"

    def normalise(self, value: Any, ctx: Ctx) -> float | tuple[float, ...]:
        if isinstance(value, list | tuple):
            return FloatList(self.item).normalise(value, ctx)
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)
        return self.item.normalise(value, ctx)


@dataclass(frozen=True)
class ChoiceList(ValueType):
    """An array of distinct strings, each from ``options``."""

    options: tuple[str, ...] = ()
    type_name: str = "list of string"

    def allowed(self) -> str:
        return "distinct values from " + ", ".join(f'"{o}"' for o in self.options)

    def expected(self) -> str:
        return "an array of " + self.allowed()

    def normalise(self, value: Any, ctx: Ctx) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            ctx.error(f"expected {self.expected()}, not {describe_type(value)}", value)
        choice = Choice(self.options)
        out = []
        for v in value:
            try:
                out.append(choice.normalise(v, ctx))
            except ScenarioError as error:
                ctx.error(f"value {format_value(v)}: {error.expected}", value)
        if len(set(out)) != len(out):
            ctx.error("expected distinct values", value)
        return tuple(out)


# -- tables ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """One accepted key.

    Parameters
    ----------
    name : str
    type : ValueType
        Checks and normalises the value; a :class:`Table` for a sub-table.
    default
        A value (filled in when absent), :data:`REQUIRED`, :data:`OPTIONAL` or :class:`Computed`.
    meaning : str
        One line for the docs.
    only_if : (sibling, values), optional
        The key applies only when an earlier sibling key has one of ``values``; given otherwise
        it is an error.
    partial : bool
        For a table-valued key: the value is a partial override (any subset of the table's keys,
        no defaults filled), merged over another table when the scenario is built.
    """

    name: str
    type: ValueType
    default: Any = OPTIONAL
    meaning: str = ""
    only_if: tuple[str, tuple[Any, ...]] | None = None
    partial: bool = False

    def normalise(self, value: Any, ctx: Ctx, *, partial: bool = False) -> Any:
        if isinstance(self.type, Table | NamedTables):
            return self.type.normalise(value, ctx, partial=partial or self.partial)
        return self.type.normalise(value, ctx)

    def normalise_default(self, ctx: Ctx) -> Any:
        """This key's default, normalised (a fresh copy: callers may change it)."""
        value = copy.deepcopy(self.default)
        if isinstance(self.type, Table | NamedTables):
            return self.type.normalise(value, ctx, partial=self.partial)
        return self.type.normalise_default(value, ctx)


@dataclass(frozen=True)
class OneOf:
    """At most one of ``names`` may be given (exactly one when ``required``)."""

    names: tuple[str, ...]
    required: bool = False


Check = Callable[[dict[str, Any], Ctx], None]


@dataclass(frozen=True)
class Table(ValueType):
    """A TOML table with a fixed set of keys.

    ``checks`` are consistency checks run on the normalised, defaults-filled table (each raises
    through ``ctx.child(key).error(...)``); ``one_of`` lists mutually exclusive alternatives.
    """

    keys: tuple[Key, ...] = ()
    meaning: str = ""
    one_of: tuple[OneOf, ...] = ()
    checks: tuple[Check, ...] = field(default=(), compare=False)
    type_name: str = "table"

    def __post_init__(self) -> None:
        names = [k.name for k in self.keys]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate keys in spec: {names}")
        for i, key in enumerate(self.keys):
            if key.only_if is not None and key.only_if[0] not in names[:i]:
                raise ValueError(f"{key.name}: only_if must refer to an earlier key")

    def key(self, name: str) -> Key | None:
        for k in self.keys:
            if k.name == name:
                return k
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def group_of(self, name: str) -> OneOf | None:
        for group in self.one_of:
            if name in group.names:
                return group
        return None

    def expected(self) -> str:
        return "a table"

    def normalise(self, value: Any, ctx: Ctx, *, partial: bool = False) -> dict[str, Any]:
        """Validate ``value``; with ``partial`` only keys, types and ranges (no defaults,
        no required keys, no conditions, no consistency checks)."""
        if not isinstance(value, Mapping):
            ctx.error(f"expected a table, not {describe_type(value)}", value)
        for name in value:
            if not isinstance(name, str):
                ctx.error(f"expected string keys, not {format_value(name)}", value)
            if self.key(name) is None:
                ctx.child(name).error(
                    unknown_key_message(name, self.names), value[name], show_value=False
                )
        out: dict[str, Any] = {}
        for key in self.keys:
            if key.name in value:
                out[key.name] = key.normalise(value[key.name], ctx.child(key.name), partial=partial)
        if partial:
            return out
        group: OneOf | None
        for group in self.one_of:
            given = [n for n in group.names if n in out]
            if len(given) > 1:
                ctx.child(given[1]).error(
                    f"give only one of {', '.join(group.names)}", out[given[1]]
                )
        result: dict[str, Any] = {}
        for key in self.keys:
            sub = ctx.child(key.name)
            applies = True
            if key.only_if is not None:
                sibling, values = key.only_if
                applies = result.get(sibling) in values
            if key.name in out:
                if not applies:
                    sibling, values = key.only_if  # type: ignore[misc]
                    wanted = " or ".join(format_value(v) for v in values)
                    sub.error(
                        f"only allowed when {sibling} = {wanted} "
                        f"(here {sibling} = {format_value(result.get(sibling))})",
                        out[key.name],
                    )
                result[key.name] = out[key.name]
                continue
            if not applies:
                continue
            group = self.group_of(key.name)
            if group is not None and any(n in out for n in group.names):
                continue
            if group is not None and group.required:
                if key.name == group.names[0]:
                    others = ", ".join(group.names[1:])
                    sub.error(f"required key missing (or give {others})")
                continue
            if key.default is REQUIRED:
                sub.error("required key missing")
            if key.default is OPTIONAL or isinstance(key.default, Computed):
                continue
            result[key.name] = key.normalise_default(sub)
        for check in self.checks:
            check(result, ctx)
        return result


@dataclass(frozen=True)
class NamedTables(ValueType):
    """A table of user-named sub-tables (``[arms.<name>]``), each checked by ``item``."""

    item: Table = Table()
    name_pattern: str = r"[a-z][a-z0-9_]*"
    noun: str = "item"
    placeholder: str = "name"
    min_count: int = 0
    type_name: str = "tables"

    def expected(self) -> str:
        return "a table of tables"

    def normalise(self, value: Any, ctx: Ctx, *, partial: bool = False) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            ctx.error(f"expected a table of tables, not {describe_type(value)}", value)
        if len(value) < self.min_count:
            plural = "" if self.min_count == 1 else "s"
            ctx.error(
                f"expected at least {self.min_count} {self.noun}{plural} "
                f"([{ctx.key}.<{self.placeholder}>])",
                value,
            )
        article = "an" if self.noun[:1] in "aeiou" else "a"
        out = {}
        for name, item in value.items():
            if not isinstance(name, str) or not re.fullmatch(self.name_pattern, name):
                ctx.child(str(name)).error(
                    f"expected {article} {self.noun} name matching {self.name_pattern}",
                    show_value=False,
                )
            out[name] = self.item.normalise(item, ctx.child(name), partial=partial)
        return out


# -- walking and merging -----------------------------------------------------------------------
def walk(table: Table, prefix: str = "") -> Iterator[tuple[str, Key, Table]]:
    """Every key of ``table`` and its sub-tables, depth first, as (dotted path, key, parent)."""
    for key in table.keys:
        path = f"{prefix}{key.name}"
        yield path, key, table
        if key.partial:
            continue
        if isinstance(key.type, Table):
            yield from walk(key.type, path + ".")
        elif isinstance(key.type, NamedTables):
            yield from walk(key.type.item, f"{path}.<{key.type.placeholder}>.")


def deep_merge(table: Table, base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    """``override`` over ``base``: sub-tables of the spec merge key by key; every other value
    (numbers, arrays, hazard and distribution tables) is replaced whole."""
    out = dict(base)
    for name, value in override.items():
        key = table.key(name)
        if (
            key is not None
            and isinstance(key.type, Table)
            and isinstance(out.get(name), Mapping)
            and isinstance(value, Mapping)
        ):
            out[name] = deep_merge(key.type, out[name], value)
        else:
            out[name] = value
    return out
