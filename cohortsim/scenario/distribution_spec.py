"""Distribution tables for baseline covariates: ``{ distribution = "normal", mean = .., sd = .. }``.

Each family (:data:`FAMILIES`) says which keys it needs and which it allows; a key that does not
belong to the family is an error. A checked table becomes a
:class:`~cohortsim.distributions.CovariateDistribution` through :func:`to_distribution`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cohortsim.distributions import CovariateDistribution
from cohortsim.scenario.errors import Ctx, describe_type
from cohortsim.scenario.fields import (
    REQUIRED,
    Bool,
    Choice,
    Float,
    Key,
    ValueType,
    unknown_key_message,
)


@dataclass(frozen=True)
class Family:
    """A distribution family: the keys it requires and the keys it also allows."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    meaning: str


FAMILIES: tuple[Family, ...] = (
    Family("normal", ("mean", "sd"), ("min", "max", "integer"), "normal, truncated to [min, max]"),
    Family(
        "lognormal",
        ("mean", "sd"),
        ("min", "max", "integer"),
        "log-normal with this arithmetic mean and sd (moment matching); mean > 0",
    ),
    Family(
        "gamma",
        ("mean", "sd"),
        ("min", "max", "integer"),
        "gamma with this mean and sd; mean > 0",
    ),
    Family("uniform", ("min", "max"), ("integer",), "uniform on [min, max]"),
    Family("fixed", ("value",), ("integer",), "always `value`"),
)

DISTRIBUTION_KEYS: tuple[Key, ...] = (
    Key("distribution", Choice(tuple(f.name for f in FAMILIES)), REQUIRED, "the family"),
    Key("mean", Float("a mean"), meaning="mean of the untruncated distribution"),
    Key("sd", Float("a standard deviation", gt=0), meaning="standard deviation (untruncated)"),
    Key("min", Float("a lower bound"), meaning="lower truncation bound (uniform: support)"),
    Key("max", Float("an upper bound"), meaning="upper truncation bound (uniform: support)"),
    Key("value", Float("a value"), meaning="the constant of `fixed`"),
    Key("integer", Bool(), default=False, meaning="round draws to the nearest integer"),
)

_KEYS = {k.name: k for k in DISTRIBUTION_KEYS}
_FAMILIES = {f.name: f for f in FAMILIES}


@dataclass(frozen=True)
class DistributionType(ValueType):
    """A covariate distribution table."""

    unit: str = ""
    type_name: str = "distribution"

    def allowed(self) -> str:
        return "see Distribution tables"

    def expected(self) -> str:
        return "a distribution table"

    def _normalise_keys(self, value: Any, ctx: Ctx) -> dict[str, Any]:
        """The table's keys checked and normalised (everything but the quantile probe)."""
        if not isinstance(value, Mapping):
            ctx.error(f"expected a distribution table, not {describe_type(value)}", value)
        for name in value:
            if name not in _KEYS:
                ctx.child(str(name)).error(
                    unknown_key_message(str(name), list(_KEYS)), value[name], show_value=False
                )
        if "distribution" not in value:
            ctx.child("distribution").error(
                "required key missing (one of " + _KEYS["distribution"].type.allowed() + ")"
            )
        kind = _KEYS["distribution"].normalise(value["distribution"], ctx.child("distribution"))
        family = _FAMILIES[kind]
        for name in value:
            if name != "distribution" and name not in family.required + family.optional:
                allowed = ", ".join(family.required + family.optional)
                ctx.child(name).error(
                    f"does not belong to a {kind} distribution (it takes {allowed})", value[name]
                )
        for name in family.required:
            if name not in value:
                ctx.child(name).error(f"required key missing for a {kind} distribution")
        out: dict[str, Any] = {"distribution": kind}
        for key in DISTRIBUTION_KEYS[1:]:
            if key.name in value:
                out[key.name] = key.normalise(value[key.name], ctx.child(key.name))
        out.setdefault("integer", False)
        if kind in ("lognormal", "gamma") and not out["mean"] > 0:
            ctx.child("mean").error(f"expected a mean > 0 for a {kind} distribution", out["mean"])
        if "min" in out and "max" in out and not out["max"] > out["min"]:
            ctx.child("max").error(f"expected max > min ({out['min']!r})", out["max"])
        if (
            out["integer"]
            and "min" in out
            and "max" in out
            and math.ceil(out["min"]) > math.floor(out["max"])
        ):
            ctx.error("expected an integer between min and max", out)
        return out

    def normalise(self, value: Any, ctx: Ctx) -> dict[str, Any]:
        out = self._normalise_keys(value, ctx)
        try:
            dist = to_distribution(out)
            with np.errstate(all="ignore"):
                probes = dist.ppf(np.array([1e-6, 0.5, 1 - 1e-6]))
        except (ValueError, ArithmeticError) as error:
            ctx.error(f"expected a valid distribution ({error})", out)
        if not np.all(np.isfinite(probes)):
            ctx.error("expected [min, max] to hold some probability of the distribution", out)
        return out

    def normalise_default(self, value: Any, ctx: Ctx) -> dict[str, Any]:
        """A default distribution, without the quantile probe of :meth:`normalise`: the
        defaults are fixed, and a test probes every one of them, so loading a scenario need
        not import scipy.special (≈ 0.12 s) for distributions it may never draw from."""
        return self._normalise_keys(value, ctx)


def to_distribution(spec: Mapping[str, Any]) -> CovariateDistribution:
    """The :class:`CovariateDistribution` of a checked distribution table."""
    return CovariateDistribution(
        kind=spec["distribution"],
        mean=spec.get("mean"),
        sd=spec.get("sd"),
        minimum=spec.get("min"),
        maximum=spec.get("max"),
        value=spec.get("value"),
        integer=bool(spec.get("integer", False)),
    )
