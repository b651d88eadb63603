"""The sample-size decision on the grid, and the analytic cross-checks' inputs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cohortsim.analysis import two_proportions_n
from cohortsim.power.analytic import (
    _proportions,
    add_analytic_power,
    cross_checks,
    design_hazard_ratio,
)
from cohortsim.power.search import find_n
from cohortsim.scenario import load_scenario
from cohortsim.scenario.vary import with_values

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _row(n: int, power: float, se: float = 0.01, endpoint: str = "sri4") -> dict:
    return {"n_total": n, "endpoint": endpoint, "comparison": "msc", "power": power,
            "power_mcse": se, "ci_low": power - 2 * se, "ci_high": power + 2 * se}


def test_find_n_brackets_the_target() -> None:
    rows = [_row(40, 0.5), _row(60, 0.72), _row(80, 0.86), _row(100, 0.93)]
    answer = find_n(rows, "sri4", "msc", 0.8)
    assert answer.recommended.n_total == 80 and answer.below.n_total == 60
    assert answer.interpolated_n == pytest.approx(60 + 20 * (0.08 / 0.14))
    assert answer.firm
    assert "N = 80 reaches 80% power" in answer.summary()


def test_find_n_not_firm_when_an_interval_straddles_the_target() -> None:
    rows = [_row(60, 0.79, 0.02), _row(80, 0.81, 0.02)]
    answer = find_n(rows, "sri4", "msc", 0.8)
    assert answer.recommended.n_total == 80 and not answer.firm
    assert "not firm" in answer.summary()


def test_find_n_when_no_or_every_n_reaches_the_target() -> None:
    low = find_n([_row(40, 0.3), _row(80, 0.6)], "sri4", "msc", 0.8)
    assert low.recommended is None and low.below.n_total == 80
    assert "no N on the grid" in low.summary()
    high = find_n([_row(40, 0.9), _row(80, 0.99)], "sri4", "msc", 0.8)
    assert high.recommended.n_total == 40 and high.below is None
    assert "smaller N may also do" in high.summary()


def test_design_hazard_ratio() -> None:
    reference = load_scenario(SCENARIOS / "reference_logrank.toml")
    assert design_hazard_ratio(*reference.arms) == pytest.approx(0.5)
    rct = load_scenario(SCENARIOS / "rct_msc_vs_soc.toml")
    assert design_hazard_ratio(*rct.arms) is None  # frailty: first relapses are not PH
    weibull = with_values(
        reference,
        {"arms.control.disease.relapse.hazard": {"weibull_shape": 1.5, "median_months": 12.0}},
    )
    assert design_hazard_ratio(*weibull.arms) == pytest.approx(0.5)


def test_rebiolup_worked_example() -> None:
    # ReBioLup protocol: complete response 40% vs 60%, two-sided alpha 0.05, power 0.80 →
    # 98 per arm (the pooled normal approximation gives 96.9 → 97; the protocol rounds up).
    row = {"n_total": 200, "endpoint": "remission", "comparison": "msc",
           "expected_events": 100.0, "expected_n_analysed": 200.0, "mean_estimate": 0.2}
    check = _proportions([row], 0.05, 2, 1.0, 0.8)
    assert "0.400 (control) vs 0.600" in check["inputs"]
    per_arm = check["required_n"] / 2
    assert per_arm == pytest.approx(two_proportions_n(0.4, 0.6), rel=1e-12)
    assert math.ceil(per_arm) == 97 and abs(math.ceil(per_arm) - 98) <= 1
    assert check["power_by_n"][200] == pytest.approx(0.8, abs=0.02)


def test_cross_checks_and_analytic_power_column() -> None:
    scenario = load_scenario(SCENARIOS / "reference_logrank.toml")
    rows = [{"n_total": 200, "endpoint": "time_to_relapse", "comparison": "treatment",
             "expected_events": 66.0, "effect": 0.5, "mean_estimate": math.log(0.5)}]
    (check,) = cross_checks(scenario, rows, 0.8)
    assert check.required_events == pytest.approx(65.3, abs=0.1)
    assert check.power_by_n[200] == pytest.approx(0.8039, abs=1e-4)
    assert "Freedman: 70.6 events" in check.notes[0]
    (with_power,) = add_analytic_power(rows, [check])
    assert with_power["analytic_power"] == check.power_by_n[200]


def test_find_n_stable_answer_under_a_sawtooth() -> None:
    # the chi-square test's power saw-tooths with N (exact enumeration gives the same teeth)
    powers = {66: 0.805, 67: 0.780, 68: 0.767, 69: 0.800, 70: 0.777, 71: 0.818, 72: 0.796,
              73: 0.835, 74: 0.813, 75: 0.851}
    rows = [_row(n, p, 0.001) for n, p in powers.items()]
    answer = find_n(rows, "sri4", "msc", 0.8)
    assert answer.recommended.n_total == 66
    assert answer.stable.n_total == 73
    assert "every N from 73 on" in answer.summary()
