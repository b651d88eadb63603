"""The one error a scenario can raise, and the context that locates it.

Every problem found while reading or validating a scenario becomes a :class:`ScenarioError`
whose ``str()`` is one line naming the file, the dotted key, the offending value and what was
expected, e.g. ``scenarios/x.toml: dropout.rate_per_month = -0.1: expected a rate per month >= 0``.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "MISSING"  # pickles as the module-level singleton


MISSING: Any = _Missing()
"""Marks "no value" (a key that is absent) where ``None`` could be confused with a value."""

_MAX_VALUE_CHARS = 80


def format_value(value: Any, limit: int | None = _MAX_VALUE_CHARS) -> str:
    """A TOML-like rendering of ``value`` for messages and docs, cut to ``limit`` characters."""
    text = _format(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k} = {_format(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return repr(value)


def describe_type(value: Any) -> str:
    """What kind of TOML value ``value`` is, with an article ("a string", "a boolean")."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, _dt.datetime):
        return "a date-time"
    if isinstance(value, _dt.date):
        return "a date"
    if isinstance(value, _dt.time):
        return "a time"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


class ScenarioError(Exception):
    """A scenario could not be read or is invalid.

    Attributes
    ----------
    source : str
        The file (or ``"<dict>"``, or a description of an override) the problem is in.
    key : str or None
        Dotted key path, e.g. ``"visits.window_months"``; None for whole-file problems.
    value : Any
        The offending value (:data:`MISSING` when there is none, e.g. a missing key).
    expected : str
        What was expected, or what is wrong.
    line, column : int or None
        Position of a TOML syntax error.
    """

    def __init__(
        self,
        expected: str,
        *,
        source: str = "<dict>",
        key: str | None = None,
        value: Any = MISSING,
        show_value: bool = True,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.expected = expected
        self.source = source
        self.key = key
        self.value = value
        self.show_value = show_value
        self.line = line
        self.column = column
        super().__init__(self._message())

    def _message(self) -> str:
        where = self.source
        if self.key:
            where += f": {self.key}"
            if self.show_value and self.value is not MISSING:
                where += f" = {format_value(self.value)}"
        return f"{where}: {self.expected}".replace("\r", "\\r").replace("\n", "\\n")

    def __str__(self) -> str:
        return self._message()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_error, (self.__dict__.copy(),))

    def with_source(self, source: str) -> ScenarioError:
        """A copy of this error attributed to another source."""
        return ScenarioError(
            self.expected,
            source=source,
            key=self.key,
            value=self.value,
            show_value=self.show_value,
            line=self.line,
            column=self.column,
        )


def _restore_error(state: dict[str, Any]) -> ScenarioError:
    return ScenarioError(
        state["expected"],
        source=state["source"],
        key=state["key"],
        value=state["value"],
        show_value=state["show_value"],
        line=state["line"],
        column=state["column"],
    )


@dataclass(frozen=True)
class Ctx:
    """Where in which file a value sits: builds error messages for validators."""

    source: str
    path: tuple[str, ...] = ()

    def child(self, *names: str) -> Ctx:
        return Ctx(self.source, (*self.path, *names))

    @property
    def key(self) -> str:
        return ".".join(self.path)

    def error(self, expected: str, value: Any = MISSING, *, show_value: bool = True) -> NoReturn:
        raise ScenarioError(
            expected,
            source=self.source,
            key=self.key or None,
            value=value,
            show_value=show_value,
        )
