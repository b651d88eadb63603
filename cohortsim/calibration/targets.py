"""Calibration targets: the figures a pilot reported, each with its statistic, n, time and source.

A targets file is TOML (``scenarios/targets/*.toml``; format in ``docs/calibration.md``)::

    [design]
    n_patients = { value = 15, source = ["A", "P"] }

    [[targets]]
    name = "sledai_12m_mean"
    quantity = "sledai"
    statistic = "mean"
    value = 3.2
    n = 12
    time_months = 12
    source = "A"

It is validated like a scenario: every problem is a :class:`TargetsError` (a
:class:`~cohortsim.scenario.ScenarioError`, so the command line exits with status 2) naming the
file, the key, the value and what was expected.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cohortsim.scenario.errors import MISSING, ScenarioError, describe_type, format_value
from cohortsim.scenario.types import MANIFESTATIONS

SOURCE_LABELS: Mapping[str, str] = {
    "A": "the published abstract (verified)",
    "P": "a press report of the paper (MedPage Today, 29 Jul 2010)",
}
"""Source labels a figure may carry."""

STATISTICS: tuple[str, ...] = ("mean", "sd", "count", "event_times", "p_value_below")
"""What a reported figure is: a mean, a standard deviation, ``value`` patients of ``n`` (count),
individual event times (months), or a reported significance ``p < value`` of the change from
baseline (paired comparison)."""

BASELINE = "baseline"
"""Time code of quantities measured only at baseline (the same as ``time_months = 0``)."""
FOLLOW_UP = "follow_up"
"""Time code of quantities counted over each patient's whole follow-up."""
UNKNOWN = "unknown"
"""Time or n not reported."""

AMONG = ("all", "followed_12_months")
"""Which patients a count refers to: all enrolled, or those followed >= 12 months."""


@dataclass(frozen=True)
class Quantity:
    """What a target measures, and which statistics and times make sense for it.

    Attributes
    ----------
    statistics : tuple of str
        Allowed statistics.
    unit : str
        Unit of the value (counts are patients).
    times : str
        ``"baseline"`` (time must be 0), ``"follow_up"`` (time must be ``"follow_up"``) or
        ``"visit"`` (a visit month >= 0, or ``"unknown"``).
    meaning : str
        One line for documentation and reports.
    """

    statistics: tuple[str, ...]
    unit: str
    times: str
    meaning: str


QUANTITIES: Mapping[str, Quantity] = {
    "female": Quantity(("count",), "patients", "baseline", "women enrolled"),
    "age_years": Quantity(("mean", "sd"), "years", "baseline", "age at enrolment"),
    "disease_duration_months": Quantity(
        ("mean", "sd"), "months", "baseline", "disease duration at enrolment"
    ),
    "follow_up_months": Quantity(
        ("mean", "sd"), "months", "follow_up", "months from treatment start to end of follow-up"
    ),
    "followed_12_months": Quantity(
        ("count",), "patients", "follow_up", "patients followed for at least 12 months"
    ),
    "sledai": Quantity(("mean", "sd", "p_value_below"), "SLEDAI-2K points", "visit",
                       "SLEDAI-2K score at a visit"),
    "sledai_zero": Quantity(("count",), "patients", "visit", "patients with SLEDAI-2K = 0"),
    "proteinuria_mg_per_day": Quantity(
        ("mean", "sd", "p_value_below"), "mg/day", "visit", "24-h proteinuria at a visit"
    ),
    "proteinuria_fell": Quantity(
        ("count",), "patients", "visit", "patients whose 24-h proteinuria fell below baseline"
    ),
    "anti_dsdna_iu_per_ml": Quantity(
        ("mean", "sd", "p_value_below"), "IU/ml", "visit", "anti-dsDNA titre at a visit"
    ),
    "treg_percent": Quantity(
        ("mean", "sd", "p_value_below"), "%", "visit", "Foxp3+ CD4+ Treg percentage at a visit"
    ),
    "relapse": Quantity(
        ("count",), "patients", "follow_up", "patients with an observed relapse (first flare)"
    ),
    "relapse_time": Quantity(
        ("event_times",), "months", "follow_up", "months from treatment start to each relapse"
    ),
    "serious_adverse_events": Quantity(
        ("count",), "patients", "follow_up",
        "patients with a serious adverse event (in the model: deaths)",
    ),
    **{
        f"{name}_resolved": Quantity(
            ("count",), "patients", "visit",
            f"patients whose baseline {name} manifestation had resolved",
        )
        for name in MANIFESTATIONS
    },
}
"""Every quantity a target may name."""

_TARGET_KEYS = {
    "name": "a unique identifier, e.g. \"sledai_12m_mean\"",
    "quantity": "what was measured (see docs/calibration.md)",
    "statistic": "one of " + ", ".join(f'"{s}"' for s in STATISTICS),
    "value": "the reported number (a list of months for event_times)",
    "n": 'patients the figure is based on (an integer >= 1, or "unknown")',
    "time_months": 'months after treatment start (0 = baseline), "follow_up" or "unknown"',
    "source": 'source label(s): "A", "P" or ["A", "P"]',
    "among": 'for counts: "all" (default) or "followed_12_months"',
    "direction": 'for p_value_below: "decrease" or "increase" (the reported change)',
    "calibrate": "false keeps the target out of calibration (validation only); default true",
    "note": "free text",
}
_DESIGN_KEYS = {
    "n_patients": "patients enrolled (integer >= 1)",
    "enrolment_start": "date of the first enrolment",
    "enrolment_end": "date of the last enrolment",
    "maintenance_start_month": "months after treatment start",
    "prednisone_mg_per_day": "[low, high]",
    "cyclophosphamide_g": "[low, high]",
    "cyclophosphamide_interval_months": "[low, high]",
}


class TargetsError(ScenarioError):
    """A targets file could not be read or is invalid (exit status 2 on the command line)."""


@dataclass(frozen=True)
class DesignFact:
    """A reported design figure (not simulated, but checked against the scenario)."""

    value: Any
    source: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    """One reported figure.

    Attributes
    ----------
    name : str
        Unique identifier within the file.
    quantity : str
        Key of :data:`QUANTITIES`.
    statistic : str
        One of :data:`STATISTICS`.
    value : float or tuple of float
        The reported number; for ``count`` the number of patients ``k`` (of ``n``); for
        ``event_times`` the individual times in months; for ``p_value_below`` the p threshold.
    n : int or None
        Patients the figure is based on; None when not reported.
    time : float or str
        Months after treatment start (0 = baseline), or ``"follow_up"`` or ``"unknown"``.
    source : tuple of str
        Source labels (keys of :data:`SOURCE_LABELS`).
    among : str
        For counts: ``"all"`` or ``"followed_12_months"``.
    direction : str
        For ``p_value_below``: ``"decrease"`` or ``"increase"``, the reported change; else "".
    calibrate : bool
        False keeps the figure out of calibration (used for validation only).
    note : str
    text : str
        The value as written (keeps the reported precision: ``858.0`` has one decimal).
    """

    name: str
    quantity: str
    statistic: str
    value: float | tuple[float, ...]
    n: int | None
    time: float | str
    source: tuple[str, ...]
    among: str = "all"
    direction: str = ""
    calibrate: bool = True
    note: str = ""
    text: str = ""

    @property
    def from_abstract(self) -> bool:
        """The figure is in the published abstract ([A]): validation must reproduce it."""
        return "A" in self.source

    @property
    def unit(self) -> str:
        return QUANTITIES[self.quantity].unit

    @property
    def decimals(self) -> int:
        """Decimal places the value was reported with (0 for integers and counts)."""
        if self.statistic in ("count", "event_times") or "." not in self.text:
            return 0
        mantissa = self.text.split("e")[0].split("E")[0]
        return len(mantissa.split(".")[1]) if "." in mantissa else 0

    @property
    def visit_month(self) -> float | None:
        """The visit the figure refers to (0 = baseline), or None (follow-up, unknown)."""
        return float(self.time) if isinstance(self.time, float) else None

    def describe(self) -> str:
        """Short human-readable form, e.g. ``sledai mean = 3.2 (n = 12, month 12) [A]``."""
        n = "n unknown" if self.n is None else f"n = {self.n}"
        if isinstance(self.time, float):
            when = "baseline" if self.time == 0 else f"month {self.time:g}"
        else:
            when = {"follow_up": "over follow-up", "unknown": "time unknown"}[self.time]
        if self.statistic == "count":
            what = f"{self.quantity}: {format_number(self.value)} of {self.n or '?'}"
        elif self.statistic == "event_times":
            assert isinstance(self.value, tuple)
            what = f"{self.quantity} at " + ", ".join(f"{v:g}" for v in self.value) + " months"
        elif self.statistic == "p_value_below":
            what = (f"{self.quantity}: {self.direction} from baseline, "
                    f"p < {format_number(self.value)}")
        else:
            what = f"{self.quantity} {self.statistic} = {self.text}"
        return f"{what} ({n}, {when}) [{', '.join(self.source)}]"


def format_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class TargetSet:
    """The targets of one pilot, loaded and validated.

    Attributes
    ----------
    targets : tuple of Target
    design : mapping of str to DesignFact
    citation : str
    path : str
        Where the file was read from (``"<dict>"`` when built in memory).
    sha256 : str
        SHA-256 of the file's bytes (of the canonical text when built in memory).
    """

    targets: tuple[Target, ...]
    design: Mapping[str, DesignFact]
    citation: str
    path: str
    sha256: str

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def by_name(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)

    @property
    def n_patients(self) -> int | None:
        fact = self.design.get("n_patients")
        return None if fact is None else int(fact.value)


# -- loading -------------------------------------------------------------------------------------
def load_targets(path: str | os.PathLike[str]) -> TargetSet:
    """Read and validate a targets file.

    Raises
    ------
    TargetsError
        Unreadable file, TOML syntax error or an invalid target (the message names the file, the
        key, the value and what was expected).
    """
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TargetsError(f"cannot read file ({error.strerror or error})", source=source) from None
    try:
        tree = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise TargetsError("cannot read file (not UTF-8 text)", source=source) from None
    except tomllib.TOMLDecodeError as error:
        raise TargetsError(f"invalid TOML: {error}", source=source) from None
    return targets_from_dict(tree, source, hashlib.sha256(data).hexdigest())


def targets_from_dict(
    tree: Mapping[str, Any], source: str = "<dict>", sha256: str | None = None
) -> TargetSet:
    """Validate a targets tree (as ``tomllib`` returns it) and freeze it."""
    _only_keys(tree, {"source", "design", "targets"}, source, "")
    citation = ""
    if "source" in tree:
        table = _table(tree["source"], source, "source")
        _only_keys(table, {"citation", "labels"}, source, "source")
        citation = _string(table.get("citation", ""), source, "source.citation")
    design = _design(tree.get("design", {}), source)
    raw_targets = tree.get("targets", MISSING)
    if raw_targets is MISSING:
        raise TargetsError("expected at least one [[targets]] entry", source=source, key="targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise TargetsError(
            "expected an array of tables ([[targets]]) with at least one entry",
            source=source, key="targets", value=raw_targets,
        )
    targets = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_targets):
        target = _target(raw, source, f"targets[{i}]")
        if target.name in seen:
            raise TargetsError(
                "expected a unique name (another target already uses it)",
                source=source, key=f"targets[{i}].name", value=target.name,
            )
        seen.add(target.name)
        targets.append(target)
    result = TargetSet(tuple(targets), design, citation, source, "")
    digest = sha256 if sha256 is not None else hashlib.sha256(
        targets_to_toml(result).encode()
    ).hexdigest()
    return TargetSet(result.targets, result.design, citation, source, digest)


def _fail(expected: str, source: str, key: str, value: Any = MISSING) -> TargetsError:
    return TargetsError(expected, source=source, key=key or None, value=value)


def _table(value: Any, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(f"expected a table, got {describe_type(value)}", source, key, value)
    return value


def _only_keys(table: Mapping[str, Any], allowed: set[str], source: str, key: str) -> None:
    for name in table:
        if name not in allowed:
            where = f"{key}.{name}" if key else name
            raise _fail(
                "unknown key; expected one of " + ", ".join(sorted(allowed)), source, where,
                table[name],
            )


def _string(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str):
        raise _fail(f"expected a string, got {describe_type(value)}", source, key, value)
    return value


def _number(value: Any, source: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(f"expected a finite number, got {describe_type(value)}", source, key, value)
    return float(value)


def _sources(value: Any, source: str, key: str) -> tuple[str, ...]:
    labels = [value] if isinstance(value, str) else value
    if not isinstance(labels, list) or not labels:
        raise _fail('expected "A", "P" or a list of them, e.g. ["A", "P"]', source, key, value)
    for label in labels:
        if label not in SOURCE_LABELS:
            raise _fail(
                'expected source labels "A" (abstract) or "P" (press report)', source, key, value
            )
    if len(set(labels)) != len(labels):
        raise _fail("expected each source label once", source, key, value)
    return tuple(sorted(labels))


def _design(value: Any, source: str) -> dict[str, DesignFact]:
    table = _table(value, source, "design")
    _only_keys(table, set(_DESIGN_KEYS), source, "design")
    facts = {}
    for name, raw in table.items():
        key = f"design.{name}"
        entry = _table(raw, source, key)
        _only_keys(entry, {"value", "source"}, source, key)
        if "value" not in entry:
            raise _fail("expected a value (e.g. { value = 15, source = \"A\" })", source,
                        f"{key}.value")
        if "source" not in entry:
            raise _fail('expected a source label ("A" or "P")', source, f"{key}.source")
        item = entry["value"]
        if name == "n_patients" and (
            isinstance(item, bool) or not isinstance(item, int) or item < 1
        ):
            raise _fail("expected an integer >= 1", source, f"{key}.value", item)
        if name.startswith("enrolment_") and (
            not isinstance(item, _dt.date) or isinstance(item, _dt.datetime)
        ):
            raise _fail("expected a date (YYYY-MM-DD)", source, f"{key}.value", item)
        if isinstance(item, list):
            numbers = [_number(v, source, f"{key}.value") for v in item]
            if len(numbers) != 2 or numbers[0] > numbers[1]:
                raise _fail("expected [low, high] with low <= high", source, f"{key}.value", item)
            item = tuple(numbers)
        facts[name] = DesignFact(item, _sources(entry["source"], source, f"{key}.source"))
    if (
        "enrolment_start" in facts
        and "enrolment_end" in facts
        and facts["enrolment_end"].value < facts["enrolment_start"].value
    ):
            raise _fail("expected a date on or after design.enrolment_start", source,
                        "design.enrolment_end.value", facts["enrolment_end"].value)
    return facts


def _target(raw: Any, source: str, key: str) -> Target:
    table = _table(raw, source, key)
    _only_keys(table, set(_TARGET_KEYS), source, key)
    for required in ("name", "quantity", "statistic", "value", "n", "time_months", "source"):
        if required not in table:
            raise _fail(f"missing; expected {_TARGET_KEYS[required]}", source,
                        f"{key}.{required}")
    name = _string(table["name"], source, f"{key}.name")
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise _fail("expected letters, digits, '_' or '-'", source, f"{key}.name", name)
    quantity = _string(table["quantity"], source, f"{key}.quantity")
    if quantity not in QUANTITIES:
        raise _fail("unknown quantity; expected one of " + ", ".join(sorted(QUANTITIES)),
                    source, f"{key}.quantity", quantity)
    spec = QUANTITIES[quantity]
    statistic = _string(table["statistic"], source, f"{key}.statistic")
    if statistic not in spec.statistics:
        raise _fail(
            f"expected a statistic of {quantity}: " + ", ".join(f'"{s}"' for s in spec.statistics),
            source, f"{key}.statistic", statistic,
        )
    n = _n(table["n"], source, f"{key}.n")
    time = _time(table["time_months"], spec, source, f"{key}.time_months")
    value, text = _value(table["value"], statistic, n, source, f"{key}.value")
    among = table.get("among", "all")
    if among not in AMONG:
        raise _fail('expected "all" or "followed_12_months"', source, f"{key}.among", among)
    if among != "all" and statistic != "count":
        raise _fail("among applies to counts only", source, f"{key}.among", among)
    direction = table.get("direction", "")
    if statistic == "p_value_below":
        if direction not in ("decrease", "increase"):
            raise _fail('expected "decrease" or "increase" (the direction of the reported change)',
                        source, f"{key}.direction", table.get("direction", MISSING))
    elif "direction" in table:
        raise _fail("direction applies to p_value_below only", source, f"{key}.direction",
                    direction)
    calibrate = table.get("calibrate", True)
    if not isinstance(calibrate, bool):
        raise _fail(f"expected true or false, got {describe_type(calibrate)}", source,
                    f"{key}.calibrate", calibrate)
    note = _string(table.get("note", ""), source, f"{key}.note")
    return Target(
        name=name,
        quantity=quantity,
        statistic=statistic,
        value=value,
        n=n,
        time=time,
        source=_sources(table["source"], source, f"{key}.source"),
        among=among,
        direction=direction,
        calibrate=calibrate,
        note=note,
        text=text,
    )


def _n(value: Any, source: str, key: str) -> int | None:
    if value == UNKNOWN:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail('expected an integer >= 1 or "unknown"', source, key, value)
    return int(value)


def _time(value: Any, spec: Quantity, source: str, key: str) -> float | str:
    if spec.times == "baseline":
        if value in (0, BASELINE) and not isinstance(value, bool):
            return 0.0
        raise _fail("expected 0 (measured at baseline)", source, key, value)
    if spec.times == "follow_up":
        if value == FOLLOW_UP:
            return FOLLOW_UP
        raise _fail('expected "follow_up" (counted over each patient\'s follow-up)', source, key,
                    value)
    if value == UNKNOWN:
        return UNKNOWN
    if value == BASELINE:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise _fail('expected months >= 0 (0 = baseline) or "unknown"', source, key, value)
    return float(value)


def _value(
    value: Any, statistic: str, n: int | None, source: str, key: str
) -> tuple[float | tuple[float, ...], str]:
    if statistic == "event_times":
        if not isinstance(value, list) or not value:
            raise _fail("expected a list of event times in months, e.g. [6, 24]", source, key,
                        value)
        times = tuple(_number(v, source, key) for v in value)
        if any(t < 0 for t in times):
            raise _fail("expected event times >= 0 months", source, key, value)
        if n is not None and len(times) > n:
            raise _fail(f"expected at most n = {n} event times", source, key, value)
        return tuple(sorted(times)), format_value(sorted(times), None)
    number = _number(value, source, key)
    text = format_value(value, None)
    if statistic == "count":
        if not float(number).is_integer() or number < 0:
            raise _fail("expected a whole number of patients >= 0", source, key, value)
        if n is not None and number > n:
            raise _fail(f"expected at most n = {n} patients", source, key, value)
        text = str(int(number))
    elif statistic == "sd" and number < 0:
        raise _fail("expected a standard deviation >= 0", source, key, value)
    elif statistic == "p_value_below" and not 0 < number <= 1:
        raise _fail("expected a p-value threshold in (0, 1]", source, key, value)
    return number, text


# -- writing -------------------------------------------------------------------------------------
def targets_to_toml(targets: TargetSet) -> str:
    """The targets as TOML text that :func:`load_targets` reads back to an equal TargetSet."""
    lines = []
    if targets.citation:
        lines += ["[source]", f"citation = {format_value(targets.citation, None)}", ""]
    if targets.design:
        lines.append("[design]")
        for name, fact in targets.design.items():
            value = list(fact.value) if isinstance(fact.value, tuple) else fact.value
            lines.append(
                f"{name} = {{ value = {format_value(value, None)}, "
                f"source = {format_value(list(fact.source), None)} }}"
            )
        lines.append("")
    for target in targets.targets:
        lines.append("[[targets]]")
        value_text = target.text
        entries = {
            "name": target.name,
            "quantity": target.quantity,
            "statistic": target.statistic,
            "n": UNKNOWN if target.n is None else target.n,
            "time_months": target.time,
            "source": list(target.source),
        }
        for field, item in entries.items():
            lines.append(f"{field} = {format_value(item, None)}")
        lines.append(f"value = {value_text}")
        if target.among != "all":
            lines.append(f"among = {format_value(target.among, None)}")
        if target.direction:
            lines.append(f"direction = {format_value(target.direction, None)}")
        if not target.calibrate:
            lines.append("calibrate = false")
        if target.note:
            lines.append(f"note = {format_value(target.note, None)}")
        lines.append("")
    return "\n".join(lines)
