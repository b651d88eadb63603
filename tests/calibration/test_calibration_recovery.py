"""Parameter recovery: simulate a pilot from known parameters at a larger n, calibrate it, and
find the known values within the posterior's own sampling error (slow, opt-in: -m slow)."""

from __future__ import annotations

import numpy as np
import pytest

from cohortsim.calibration import CalibrationSettings, calibrate, variant
from cohortsim.calibration.pilot_statistics import pilot_data, statistic_rows
from cohortsim.calibration.surrogate import _disease_value
from cohortsim.calibration.targets import targets_from_dict
from cohortsim.cohort import visit_schedule

N = 150
FIGURES = [  # (quantity, statistic, month, n)
    ("sledai", "mean", 12.0, 120),
    ("sledai", "sd", 12.0, 120),
    ("sledai_zero", "count", 12.0, 120),
    ("proteinuria_mg_per_day", "mean", 12.0, 120),
    ("proteinuria_mg_per_day", "sd", 12.0, 120),
    ("proteinuria_mg_per_day", "mean", 0.25, 140),
    ("proteinuria_fell", "count", 0.25, 140),
]


@pytest.mark.slow
def test_abc_recovers_known_response_parameters(pilot_without_calibration) -> None:  # type: ignore[no-untyped-def]
    from cohortsim.simulate import simulate_tables

    truth = variant(pilot_without_calibration, other={"study.n_patients": N})
    tables = simulate_tables(truth, 99, np.arange(1), engine="vector")
    nominal, _ = visit_schedule(truth)
    data = pilot_data(tables, 0, 1, N, nominal)
    entries = []
    for i, (quantity, statistic, month, n) in enumerate(FIGURES):
        entry = {"name": f"f{i}", "quantity": quantity, "statistic": statistic, "value": 1,
                 "n": n, "time_months": month, "source": "A"}
        probe = targets_from_dict({"targets": [entry]})
        (row,) = statistic_rows(data, probe.targets[0], probe)
        assert np.isfinite(row.values[0])
        entry["value"] = float(row.values[0]) if statistic != "count" else int(row.values[0])
        entries.append(entry)
    targets = targets_from_dict({"design": {"n_patients": {"value": N, "source": "A"}},
                                 "targets": entries})
    result = calibrate(truth, targets, 5, CalibrationSettings(abc_simulations=51_200, workers=2))
    identified = [s for s in result.summaries if s.identified]
    assert {s.key for s in identified} >= {"response.probability_complete",
                                           "proteinuria.early_change"}
    for s in result.summaries:
        known = _disease_value(truth, s.key)
        sd = float(np.std(result.draws[:, result.parameters.index(s.key)]))
        if s.identified:
            assert abs(s.median - known) <= 3 * sd, (s.key, s.median, known, sd)
        low, high = np.quantile(result.draws[:, result.parameters.index(s.key)], [0.001, 0.999])
        assert low <= known <= high, (s.key, low, known, high)
