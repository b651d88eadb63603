"""Reading scenarios: TOML files, ``--set`` overrides and the one include, ``parameters_from``.

This is the only module of :mod:`cohortsim.scenario` that touches files. A scenario can read
exactly one kind of other file — the ``.toml`` named by ``arms.<name>.parameters_from`` — and
nothing in it is ever executed.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cohortsim.scenario.build import Included, IncludeReader, build_scenario
from cohortsim.scenario.errors import Ctx, ScenarioError
from cohortsim.scenario.types import Scenario

_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_KEY_PART = re.compile(r"[A-Za-z0-9_-]+")


def load_scenario(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Scenario:
    """Load, validate and freeze the scenario in a TOML file.

    Parameters
    ----------
    path : str or path-like
        The scenario file; ``parameters_from`` includes are relative to its directory.
    overrides : sequence of str
        ``"dotted.key=value"`` strings (the CLI's ``--set``), applied in order to the raw tree
        before validation. The value is parsed as a TOML value (``30``, ``0.5``, ``"x"``,
        ``[1, 2]``, ``{ median_months = 12 }``, ``2009-12-01``), else taken as a bare string.

    Raises
    ------
    ScenarioError
        Unreadable file, TOML syntax error, bad override, or an invalid scenario.
    """
    path = Path(path)
    source = str(path)
    raw = _read_toml(path, source)
    parsed = [parse_override(text, source) for text in overrides]
    raw = apply_overrides(raw, parsed, source)
    try:
        return build_scenario(raw, source, _include_reader(path.parent), source_path=str(path))
    except ScenarioError as error:
        raise _blame_override(error, parsed, source) from None


def scenario_from_dict(
    data: Mapping[str, Any], source: str = "<dict>", base_dir: Path | None = None
) -> Scenario:
    """Validate and freeze a scenario given as a key/value tree (as ``tomllib`` returns it).

    ``source`` names the tree in error messages; ``parameters_from`` paths are relative to
    ``base_dir`` (default: the current directory).
    """
    base = Path.cwd() if base_dir is None else Path(base_dir)
    return build_scenario(data, source, _include_reader(base), source_path=None)


# -- files -------------------------------------------------------------------------------------
def _read_bytes(path: Path, source: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ScenarioError(f"cannot read file ({reason})", source=source) from None


def _parse_toml(data: bytes, source: str) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError("cannot read file (not UTF-8 text)", source=source) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = _POSITION.search(str(error))
        line, column = (int(match[1]), int(match[2])) if match else (None, None)
        raise ScenarioError(
            f"invalid TOML: {error}", source=source, line=line, column=column
        ) from None


def _read_toml(path: Path, source: str) -> dict[str, Any]:
    return _parse_toml(_read_bytes(path, source), source)


def _include_reader(base_dir: Path) -> IncludeReader:
    def read(name: str, ctx: Ctx) -> Included:
        path = Path(name)
        if not path.is_absolute():
            path = base_dir / path
        if path.suffix != ".toml":
            ctx.error("expected a path to a .toml file", name)
        if not path.is_file():
            ctx.error(f"expected an existing .toml file (there is none at {path})", name)
        source = os.path.normpath(path)
        data = _read_bytes(path, source)
        tree = _parse_toml(data, source)
        if "disease" not in tree:
            raise ScenarioError(
                "expected a [disease] table (the only table an include contributes)",
                source=source,
            )
        return Included(source, hashlib.sha256(data).hexdigest(), tree["disease"])

    return read


# -- overrides ---------------------------------------------------------------------------------
def parse_override(text: str, source: str = "--set") -> tuple[tuple[str, ...], Any, str]:
    """Split ``"dotted.key=value"`` into the key path and the parsed value."""
    key, sep, value_text = text.partition("=")
    parts = tuple(part.strip() for part in key.strip().split("."))
    if not sep or not all(_KEY_PART.fullmatch(part) for part in parts):
        raise ScenarioError(
            "expected dotted.key=value (e.g. study.n_patients=30)",
            source=f"{source} (--set {text})",
        )
    return parts, _parse_value(value_text.strip()), text


def _parse_value(text: str) -> Any:
    try:
        parsed = tomllib.loads("v = " + text)
    except tomllib.TOMLDecodeError:
        return text
    if set(parsed) != {"v"}:
        return text
    return parsed["v"]


def apply_overrides(
    raw: Mapping[str, Any],
    overrides: Sequence[tuple[tuple[str, ...], Any, str]],
    source: str = "<dict>",
) -> dict[str, Any]:
    """A copy of ``raw`` with each parsed override set (intermediate tables created)."""
    tree = copy.deepcopy(dict(raw))
    for parts, value, text in overrides:
        node = tree
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ScenarioError(
                    f"not a table, so --set cannot set {'.'.join(parts[i + 1 :])} inside it",
                    source=f"{source} (--set {text})",
                    key=".".join(parts[: i + 1]),
                    value=child,
                )
            node = child
        node[parts[-1]] = value
    return tree


def _blame_override(
    error: ScenarioError, overrides: Sequence[tuple[tuple[str, ...], Any, str]], source: str
) -> ScenarioError:
    """Name the ``--set`` that an error's key came from, if any did."""
    if not error.key or error.source != source:
        return error
    key = error.key
    for parts, _value, text in reversed(overrides):
        dotted = ".".join(parts)
        if key == dotted or key.startswith(dotted + ".") or dotted.startswith(key + "."):
            return error.with_source(f"{error.source} (--set {text})")
    return error
