"""Every hazard-spec form normalises to the hazard it describes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scenario_testutil import error_of, minimal_dict

from cohortsim.hazards import PiecewiseConstantHazard, WeibullHazard, median_months, survival
from cohortsim.scenario import scenario_from_dict

LN2 = math.log(2.0)


def _relapse(spec: dict[str, Any]) -> Any:
    data = minimal_dict()
    data["disease"] = {"relapse": {"hazard": spec}}
    return scenario_from_dict(data).arms[0].disease.relapse


@pytest.mark.parametrize(
    ("spec", "rate"),
    [
        ({"rate_per_month": 0.0078}, 0.0078),
        ({"median_months": 12.0}, LN2 / 12),
        ({"mean_months": 24}, 1 / 24),
        ({"event_free_probability": 0.8, "at_months": 12.0}, -math.log(0.8) / 12),
        ({"event_free_probability": 1.0, "at_months": 12.0}, 0.0),
        ({"probability": 0.1, "by_months": 12.0}, -math.log(0.9) / 12),
        ({"probability": 0.0, "by_months": 12.0}, 0.0),
        ({"rates_per_month": [0.02]}, 0.02),
    ],
)
def test_exponential_forms(spec: dict[str, Any], rate: float) -> None:
    relapse = _relapse(spec)
    assert isinstance(relapse.hazard, PiecewiseConstantHazard)
    assert relapse.hazard.rates_per_month == pytest.approx((rate,), rel=1e-12)
    assert relapse.hazard.breakpoints_months == ()
    assert dict(relapse.hazard_as_entered) == {
        k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()
    }
    assert math.copysign(1.0, relapse.hazard.rates_per_month[0]) == 1.0  # never -0.0


def test_median_12_gives_median_12() -> None:
    assert median_months(_relapse({"median_months": 12.0}).hazard) == pytest.approx(12.0)


def test_event_free_form_gives_that_survival() -> None:
    hazard = _relapse({"event_free_probability": 0.7, "at_months": 6.0}).hazard
    assert float(survival(hazard, 6.0)) == pytest.approx(0.7)


def test_piecewise_form() -> None:
    hazard = _relapse({"rates_per_month": [0.05, 0.0, 0.01], "durations_months": [3, 9]}).hazard
    assert hazard == PiecewiseConstantHazard((0.05, 0.0, 0.01), (3.0, 12.0))
    assert float(hazard.cumulative(20.0)) == pytest.approx(0.05 * 3 + 0.01 * 8)


def test_weibull_forms() -> None:
    assert _relapse({"weibull_shape": 1.5, "weibull_scale_months": 20}).hazard == WeibullHazard(
        1.5, 20.0
    )
    hazard = _relapse({"weibull_shape": 0.8, "median_months": 18.0}).hazard
    assert isinstance(hazard, WeibullHazard)
    assert hazard.shape == 0.8
    assert median_months(hazard) == pytest.approx(18.0)


def _two_arms(control: dict[str, Any], treatment: dict[str, Any]) -> tuple[Any, Any]:
    data = minimal_dict()
    data["arms"]["control"] = {"disease": {"relapse": {"hazard": control}}}
    data["arms"]["treatment"] = {"disease": {"relapse": {"hazard": treatment}}}
    arms = scenario_from_dict(data).arms
    return arms[0].disease.relapse.hazard, arms[1].disease.relapse.hazard


def test_hazard_ratio_halves_the_reference_rate() -> None:
    control, treatment = _two_arms(
        {"median_months": 12.0}, {"hazard_ratio": 0.5, "reference_arm": "control"}
    )
    assert treatment.rates_per_month[0] == pytest.approx(control.rates_per_month[0] / 2)
    assert median_months(treatment) == pytest.approx(24.0)


def test_hazard_ratio_scales_every_piece() -> None:
    _control, treatment = _two_arms(
        {"rates_per_month": [0.1, 0.02], "durations_months": [6.0]},
        {"hazard_ratio": 0.5, "reference_arm": "control"},
    )
    assert treatment == PiecewiseConstantHazard((0.05, 0.01), (6.0,))


def test_weibull_hazard_ratio_scales_lambda_by_hr_to_minus_one_over_k() -> None:
    control, treatment = _two_arms(
        {"weibull_shape": 2.0, "weibull_scale_months": 10.0},
        {"hazard_ratio": 0.25, "reference_arm": "control"},
    )
    assert isinstance(treatment, WeibullHazard)
    assert treatment.shape == 2.0
    assert treatment.scale_months == pytest.approx(10.0 * 0.25 ** (-1 / 2))
    t = np.array([1.0, 5.0, 20.0])
    assert treatment.hazard_per_month(t) == pytest.approx(0.25 * control.hazard_per_month(t))


def test_hazard_ratio_without_reference_arm_uses_the_scenario_default() -> None:
    data = minimal_dict()
    data["dropout"] = {"probability": 0.2, "by_months": 12.0}
    data["arms"]["treatment"]["dropout"] = {"hazard_ratio": 2.0}
    control, treatment = scenario_from_dict(data).arms
    assert treatment.dropout_hazard.rates_per_month[0] == pytest.approx(2 * -math.log(0.8) / 12)
    assert control.dropout_hazard.rates_per_month[0] == pytest.approx(-math.log(0.8) / 12)


def test_hazard_ratio_chains_follow_the_reference_arms_own_ratio() -> None:
    data = minimal_dict()
    data["arms"] = {
        "a": {"death": {"rate_per_month": 0.01}},
        "b": {"death": {"hazard_ratio": 2.0, "reference_arm": "a"}},
        "c": {"death": {"hazard_ratio": 3.0, "reference_arm": "b"}},
    }
    _a, b, c = scenario_from_dict(data).arms
    assert c.death_hazard.rates_per_month[0] == pytest.approx(0.06)
    assert b.death_hazard.rates_per_month[0] == pytest.approx(0.02)


def test_resolved_keeps_entered_and_normalised_hazards() -> None:
    data = minimal_dict()
    data["arms"]["treatment"]["disease"] = {
        "relapse": {"hazard": {"hazard_ratio": 0.5, "reference_arm": "control"}}
    }
    data["disease"] = {"relapse": {"hazard": {"median_months": 12.0}}}
    resolved = scenario_from_dict(data).resolved
    entered = resolved["arms"]["treatment"]["disease"]["relapse"]["hazard"]
    assert dict(entered) == {"hazard_ratio": 0.5, "reference_arm": "control"}
    normalised = resolved["derived"]["hazards"]["treatment"]["relapse"]
    assert normalised["kind"] == "piecewise_constant"
    assert normalised["rates_per_month"][0] == pytest.approx(LN2 / 24)
    assert resolved["arms"]["control"]["disease"]["relapse"]["hazard"] == {"median_months": 12.0}


@pytest.mark.parametrize(
    ("hazards", "message"),
    [
        (
            {"control": {"hazard_ratio": 2.0, "reference_arm": "placebo"}},
            "expected one of the arms",
        ),
        ({"control": {"hazard_ratio": 2.0, "reference_arm": "control"}}, "its own arm"),
        (
            {
                "control": {"hazard_ratio": 2.0, "reference_arm": "treatment"},
                "treatment": {"hazard_ratio": 2.0, "reference_arm": "control"},
            },
            "cycle",
        ),
    ],
)
def test_bad_hazard_ratio_references(hazards: dict[str, Any], message: str) -> None:
    data = minimal_dict()
    for arm, spec in hazards.items():
        data["arms"][arm]["dropout"] = spec
    error = error_of(data)
    assert message in error.expected
    assert error.key is not None and error.key.endswith("dropout.reference_arm")


def test_hazard_ratio_outside_an_arm_is_refused() -> None:
    data = minimal_dict()
    data["death"] = {"hazard_ratio": 0.5}
    assert "only inside an arm" in str(error_of(data))
    data = minimal_dict()
    data["disease"] = {"relapse": {"hazard": {"hazard_ratio": 0.5}}}
    error = error_of(data)
    assert error.key == "disease.relapse.hazard.hazard_ratio"


@pytest.mark.parametrize(
    ("spec", "key", "fragment"),
    [
        ({"rate_per_month": -0.1}, "death.rate_per_month", "expected a rate per month >= 0"),
        ({"rate_per_month": math.inf}, "death.rate_per_month", "finite"),
        ({"median_months": 0}, "death.median_months", "> 0"),
        ({"probability": 1.0, "by_months": 12}, "death.probability", "in [0, 1)"),
        ({"event_free_probability": 0.0, "at_months": 1}, "death.event_free_probability", "(0, 1]"),
        ({"rates_per_month": [0.1, 0.2]}, "death.durations_months", "one duration fewer"),
        (
            {"rates_per_month": [0.1, -0.2], "durations_months": [1]},
            "death.rates_per_month",
            "value 2",
        ),
        ({"rate_per_month": 0.1, "median_months": 3}, "death", "mixes hazard forms"),
        ({"at_months": 3}, "death", "also give event_free_probability"),
        ({}, "death", "expected a hazard"),
        ({"rate": 0.1}, "death.rate", "did you mean 'rate_per_month'"),
        ({"mean_months": 1e-320}, "death", "finite"),
    ],
)
def test_bad_hazard_specs(spec: dict[str, Any], key: str, fragment: str) -> None:
    data = minimal_dict()
    data["death"] = spec
    error = error_of(data)
    assert error.key == key
    assert fragment in str(error)
