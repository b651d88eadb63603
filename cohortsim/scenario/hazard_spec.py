"""Hazard specifications: the planner's ways of entering a hazard, and their normalisation.

A hazard spec is a TOML table in exactly one of the :data:`HAZARD_FORMS`; it is checked by
:class:`HazardType`, kept as entered (for the record) and normalised to a
:class:`~cohortsim.hazards.PiecewiseConstantHazard` or :class:`~cohortsim.hazards.WeibullHazard`
by :func:`to_hazard`. Hazard ratios (``{ hazard_ratio = h, reference_arm = "soc" }``) refer to
other arms and are resolved once every arm is known, by :func:`resolve_hazards`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cohortsim.hazards import Hazard, PiecewiseConstantHazard, WeibullHazard
from cohortsim.scenario.errors import Ctx, describe_type
from cohortsim.scenario.fields import (
    Float,
    FloatList,
    Key,
    Str,
    ValueType,
    suggest,
    unknown_key_message,
)

ARM_NAME_PATTERN = r"[a-z][a-z0-9_]*"

HAZARD_KEYS: tuple[Key, ...] = (
    Key(
        "rate_per_month",
        Float("a rate per month", "per month", ge=0),
        meaning="constant hazard (exponential time to event)",
    ),
    Key(
        "median_months", Float("a median in months", "months", gt=0), meaning="median time to event"
    ),
    Key(
        "mean_months",
        Float("a mean in months", "months", gt=0),
        meaning="mean time to event (exponential)",
    ),
    Key(
        "event_free_probability",
        Float("a probability", gt=0, le=1),
        meaning="probability of no event by `at_months`",
    ),
    Key(
        "at_months",
        Float("a number of months", "months", gt=0),
        meaning="time point of `event_free_probability`",
    ),
    Key(
        "probability",
        Float("a probability", ge=0, lt=1),
        meaning="probability of the event by `by_months` (natural for dropout)",
    ),
    Key(
        "by_months",
        Float("a number of months", "months", gt=0),
        meaning="time point of `probability`",
    ),
    Key(
        "rates_per_month",
        FloatList(Float("a rate per month", "per month", ge=0), min_len=1),
        meaning="piecewise-constant hazard: the rate on each period",
    ),
    Key(
        "durations_months",
        FloatList(Float("a number of months", "months", gt=0)),
        meaning="lengths of all periods but the last (one fewer than rates; last is open-ended)",
    ),
    Key(
        "weibull_shape",
        Float("a Weibull shape", gt=0),
        meaning="Weibull shape k (> 1 rising hazard, < 1 falling)",
    ),
    Key(
        "weibull_scale_months",
        Float("a number of months", "months", gt=0),
        meaning="Weibull scale λ, H(t) = (t / λ)^k",
    ),
    Key(
        "hazard_ratio",
        Float("a hazard ratio", gt=0),
        meaning="multiplies the reference hazard (arms only)",
    ),
    Key(
        "reference_arm",
        Str("an arm name", pattern=ARM_NAME_PATTERN),
        meaning="arm whose hazard for the same process is the reference",
    ),
)
"""Every key a hazard spec may contain (which combinations are valid: :data:`HAZARD_FORMS`)."""


@dataclass(frozen=True)
class HazardForm:
    """One way of entering a hazard: its keys and what it normalises to."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    normalised: str = ""

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(self.required + self.optional)

    def example(self) -> str:
        keys = list(self.required) + [f"[{k}]" for k in self.optional]
        return "{ " + ", ".join(keys) + " }"


HAZARD_FORMS: tuple[HazardForm, ...] = (
    HazardForm("rate", ("rate_per_month",), normalised="exponential, rate r"),
    HazardForm("median", ("median_months",), normalised="exponential, rate ln 2 / m"),
    HazardForm("mean", ("mean_months",), normalised="exponential, rate 1 / m"),
    HazardForm(
        "event_free",
        ("event_free_probability", "at_months"),
        normalised="exponential, rate −ln p / t",
    ),
    HazardForm(
        "probability", ("probability", "by_months"), normalised="exponential, rate −ln(1 − p) / t"
    ),
    HazardForm(
        "piecewise",
        ("rates_per_month",),
        ("durations_months",),
        normalised="piecewise-constant, breakpoints at the cumulative durations",
    ),
    HazardForm(
        "weibull",
        ("weibull_shape", "weibull_scale_months"),
        normalised="Weibull(k, λ)",
    ),
    HazardForm(
        "weibull_median",
        ("weibull_shape", "median_months"),
        normalised="Weibull(k, λ = m / (ln 2)^(1/k))",
    ),
    HazardForm(
        "ratio",
        ("hazard_ratio",),
        ("reference_arm",),
        normalised="reference hazard × h (Weibull: λ × h^(−1/k)); only inside an arm",
    ),
)

_KEYS = {k.name: k for k in HAZARD_KEYS}


def hazard_form(spec: Mapping[str, Any], ctx: Ctx) -> HazardForm:
    """The form of a hazard spec whose keys are all known; an error unless exactly one fits."""
    given = frozenset(spec)
    for form in HAZARD_FORMS:
        if frozenset(form.required) <= given <= form.allowed:
            return form
    forms = " or ".join(f.example() for f in HAZARD_FORMS if not given or given <= f.allowed)
    if not given:
        ctx.error(f"expected a hazard: one of {forms}", dict(spec))
    incomplete = [f for f in HAZARD_FORMS if given <= f.allowed]
    if incomplete:
        missing = " or ".join(
            ", ".join(k for k in f.required if k not in given) for f in incomplete
        )
        ctx.error(f"incomplete hazard: also give {missing}", dict(spec))
    every = " or ".join(f.example() for f in HAZARD_FORMS)
    ctx.error(f"mixes hazard forms; give exactly one of {every}", dict(spec))


@dataclass(frozen=True)
class HazardType(ValueType):
    """A hazard spec table. ``allow_ratio``: the hazard-ratio form is accepted (inside arms)."""

    allow_ratio: bool = False
    type_name: str = "hazard spec"
    unit: str = "per month"

    def allowed(self) -> str:
        return "see Hazard specs" + ("" if self.allow_ratio else " (no hazard_ratio)")

    def expected(self) -> str:
        return "a hazard spec table"

    def normalise(self, value: Any, ctx: Ctx) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            ctx.error(f"expected a hazard spec table, not {describe_type(value)}", value)
        for name in value:
            if name not in _KEYS:
                ctx.child(str(name)).error(
                    unknown_key_message(str(name), list(_KEYS)), value[name], show_value=False
                )
        form = hazard_form(value, ctx)
        out = {name: _KEYS[name].normalise(v, ctx.child(name)) for name, v in value.items()}
        if form.name == "ratio" and not self.allow_ratio:
            ctx.child("hazard_ratio").error(
                "a hazard ratio is allowed only inside an arm ([arms.<name>...])",
                out["hazard_ratio"],
            )
        if form.name == "piecewise":
            rates, durations = out["rates_per_month"], out.get("durations_months", ())
            if len(durations) != len(rates) - 1:
                ctx.child("durations_months").error(
                    f"expected one duration fewer than rates ({len(rates)} rates need "
                    f"{len(rates) - 1} durations; the last period is open-ended)",
                    durations,
                )
        if form.name != "ratio":
            try:
                hazard = to_hazard(out)
            except (ValueError, ArithmeticError):
                ctx.error("expected a hazard with finite rates (the numbers are too extreme)", out)
            scale = getattr(hazard, "scale_months", 1.0)
            if not (math.isfinite(scale) and scale > 0):
                ctx.error("expected a Weibull scale that is finite and > 0", out)
        return out


def to_hazard(spec: Mapping[str, Any]) -> Hazard:
    """The normalised hazard of a validated spec in any form but ``ratio``."""
    if "rate_per_month" in spec:
        return _exponential(spec["rate_per_month"])
    if "weibull_shape" in spec:
        shape = spec["weibull_shape"]
        if "weibull_scale_months" in spec:
            return WeibullHazard(shape, spec["weibull_scale_months"])
        return WeibullHazard(shape, spec["median_months"] / math.log(2.0) ** (1.0 / shape))
    if "median_months" in spec:
        return _exponential(math.log(2.0) / spec["median_months"])
    if "mean_months" in spec:
        return _exponential(1.0 / spec["mean_months"])
    if "event_free_probability" in spec:
        return _exponential(-math.log(spec["event_free_probability"]) / spec["at_months"])
    if "probability" in spec:
        return _exponential(-math.log1p(-spec["probability"]) / spec["by_months"])
    if "rates_per_month" in spec:
        breakpoints, total = [], 0.0
        for duration in spec.get("durations_months", ()):
            total += duration
            breakpoints.append(total)
        return PiecewiseConstantHazard(tuple(spec["rates_per_month"]), tuple(breakpoints))
    raise ValueError(f"not a direct hazard spec: {dict(spec)}")


def _exponential(rate: float) -> PiecewiseConstantHazard:
    return PiecewiseConstantHazard((rate + 0.0,))  # + 0.0: no -0.0 (from −ln 1)


def hazard_to_dict(hazard: Hazard) -> dict[str, Any]:
    """The normalised hazard as plain data (stored in ``Scenario.resolved``)."""
    if isinstance(hazard, WeibullHazard):
        return {"kind": "weibull", "shape": hazard.shape, "scale_months": hazard.scale_months}
    if isinstance(hazard, PiecewiseConstantHazard):
        return {
            "kind": "piecewise_constant",
            "rates_per_month": list(hazard.rates_per_month),
            "breakpoints_months": list(hazard.breakpoints_months),
        }
    raise TypeError(f"unknown hazard type {type(hazard).__name__}")


@dataclass(frozen=True)
class EnteredHazard:
    """A validated hazard spec of one arm and process, and where it was written."""

    spec: Mapping[str, Any]
    ctx: Ctx


def resolve_hazards(
    entered: Mapping[str, Mapping[str, EnteredHazard]],
    defaults: Mapping[str, Hazard],
) -> dict[str, dict[str, Hazard]]:
    """Normalise every arm's hazards, following hazard ratios to their reference.

    Parameters
    ----------
    entered : {arm: {process: EnteredHazard}}
    defaults : {process: Hazard}
        The scenario-level hazard of each process: the reference of a hazard ratio that names
        no ``reference_arm``.
    """
    resolved: dict[str, dict[str, Hazard]] = {arm: {} for arm in entered}
    arms = list(entered)

    def resolve(arm: str, process: str, chain: tuple[str, ...]) -> Hazard:
        if process in resolved[arm]:
            return resolved[arm][process]
        item = entered[arm][process]
        spec = item.spec
        if "hazard_ratio" not in spec:
            hazard = to_hazard(spec)
        elif "reference_arm" not in spec:
            hazard = defaults[process].scaled(spec["hazard_ratio"])
        else:
            reference = spec["reference_arm"]
            where = item.ctx.child("reference_arm")
            if reference not in entered:
                guess = suggest(reference, arms)
                hint = f'; did you mean "{guess}"?' if guess else ""
                where.error(f"expected one of the arms {', '.join(arms)}{hint}", reference)
            if reference == arm:
                where.error("a hazard ratio cannot refer to its own arm", reference)
            if reference in chain:
                cycle = " -> ".join((*chain[chain.index(reference) :], arm, reference))
                where.error(f"hazard ratios refer to each other in a cycle ({cycle})", reference)
            hazard = resolve(reference, process, (*chain, arm)).scaled(spec["hazard_ratio"])
        resolved[arm][process] = hazard
        return hazard

    for arm in entered:
        for process in entered[arm]:
            resolve(arm, process, ())
    return resolved


__all__ = [
    "HAZARD_FORMS",
    "HAZARD_KEYS",
    "EnteredHazard",
    "HazardForm",
    "HazardType",
    "hazard_form",
    "hazard_to_dict",
    "resolve_hazards",
    "to_hazard",
]
