"""The power runner: common random numbers, chunking, workers, Monte Carlo precision, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cohortsim.cohort import LatentCohort
from cohortsim.engine import simulate_course_vector
from cohortsim.power import PowerSettings, run_power
from cohortsim.power.cohorts import prefix_cohort
from cohortsim.power.trials import ChunkJob, run_chunk
from cohortsim.scenario import load_scenario
from cohortsim.scenario.vary import with_values

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
RCT = SCENARIOS / "rct_msc_vs_soc.toml"
REFERENCE = SCENARIOS / "reference_logrank.toml"


@pytest.mark.parametrize("name", ["rct_msc_vs_soc.toml", "reference_logrank.toml"])
def test_prefix_cohort_is_the_smaller_trial(name: str) -> None:
    scenario = load_scenario(SCENARIOS / name)
    replicates = np.arange(250, 262)  # crosses a seeding block boundary
    big = LatentCohort(scenario, 4, replicates, n_patients=90)
    simulate_course_vector(big)  # fills the cache that the prefix slices
    for n in (90, 47, 5):
        small = simulate_course_vector(prefix_cohort(big, n))
        fresh = simulate_course_vector(LatentCohort(scenario, 4, replicates, n_patients=n))
        assert small.differences(fresh) == []


def test_crn_a_smaller_trial_is_the_start_of_a_larger_one() -> None:
    scenario = load_scenario(RCT)
    small = LatentCohort(scenario, 4, np.arange(8), n_patients=40)
    large = LatentCohort(scenario, 4, np.arange(8), n_patients=100)
    for name in ("enrol_month", "arm", "baseline_sledai", "response_class", "frailty"):
        np.testing.assert_array_equal(getattr(large, name)[:, :40], getattr(small, name))


def _rows(job: ChunkJob) -> dict[str, np.ndarray]:
    return run_chunk(job).rows


def test_results_do_not_depend_on_chunking() -> None:
    scenario = load_scenario(RCT)
    grid = (40, 60)
    whole = _rows(ChunkJob(scenario, 7, 0, 512, grid))
    parts = [_rows(ChunkJob(scenario, 7, a, a + 256, grid)) for a in (0, 256)]
    for key, value in whole.items():
        joined = np.concatenate([p[key] for p in parts])
        # reorder both by (N, replicate, comparison, endpoint)
        order_w = np.lexsort((whole["endpoint"], whole["replicate"], whole["n_total"]))
        order_j = np.lexsort((
            np.concatenate([p["endpoint"] for p in parts]),
            np.concatenate([p["replicate"] for p in parts]),
            np.concatenate([p["n_total"] for p in parts]),
        ))
        np.testing.assert_array_equal(value[order_w], joined[order_j], err_msg=key)


def test_rows_one_per_n_replicate_comparison_endpoint() -> None:
    scenario = load_scenario(RCT)
    rows = _rows(ChunkJob(scenario, 7, 256, 300, (40, 80)))
    endpoints = len(scenario.analysis.endpoints)
    assert rows["n_total"].size == 2 * 44 * endpoints
    keys = set(zip(rows["n_total"], rows["replicate"], rows["endpoint"], strict=True))
    assert len(keys) == rows["n_total"].size
    assert set(rows["replicate"]) == set(range(256, 300))


@pytest.mark.slow
def test_workers_give_identical_files(tmp_path: Path) -> None:
    scenario = load_scenario(RCT)
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        out.mkdir()
        run_power(scenario, PowerSettings((40, 80), 768, 3, workers=workers), out)
        outputs.append(out)
    for name in ("replicates.parquet", "summary.parquet"):
        a = pq.read_table(outputs[0] / name)
        b = pq.read_table(outputs[1] / name)
        assert a.column_names == b.column_names
        for column in a.column_names:
            x = a[column].to_numpy(zero_copy_only=False)
            y = b[column].to_numpy(zero_copy_only=False)
            if x.dtype.kind == "f":
                np.testing.assert_array_equal(x, y, err_msg=f"{name}: {column}")
            else:
                assert (x == y).all(), f"{name}: {column}"


def test_two_workers_same_summary_as_one() -> None:
    scenario = load_scenario(REFERENCE)
    one = run_power(scenario, PowerSettings((100, 200), 1024, 3, workers=1))
    two = run_power(scenario, PowerSettings((100, 200), 1024, 3, workers=2))
    assert one.rows == two.rows


def test_mcse_target_adds_replicates_until_met() -> None:
    scenario = load_scenario(REFERENCE)
    result = run_power(
        scenario, PowerSettings((120, 200), 256, 3, target_mcse=0.01, max_replicates=50_000)
    )
    assert result.mcse_met
    assert all(r["power_mcse"] <= 0.01 for r in result.rows)
    assert result.replicates % 256 == 0 and result.replicates > 256
    # the rule needs p(1 - p) / E² replicates for the worst point, no more than a block over
    p = max(r["power"] * (1 - r["power"]) for r in result.rows)
    assert result.replicates <= p / 0.01**2 * 1.2 + 256


def test_mcse_cap_is_reported() -> None:
    scenario = load_scenario(REFERENCE)
    result = run_power(
        scenario, PowerSettings((200,), 256, 3, target_mcse=0.002, max_replicates=512)
    )
    assert not result.mcse_met
    assert result.replicates == 512


def test_output_files(tmp_path: Path) -> None:
    scenario = load_scenario(RCT)
    result = run_power(scenario, PowerSettings((40, 60), 300, 2), tmp_path)
    replicates = pq.read_table(tmp_path / "replicates.parquet")
    endpoints = len(scenario.analysis.endpoints)
    assert replicates.num_rows == 2 * 300 * endpoints
    for column in ("n_total", "replicate", "endpoint", "estimate", "se", "statistic", "pvalue",
                   "rejected", "events", "duration_months"):
        assert column in replicates.column_names
    meta = replicates.schema.metadata
    assert meta[b"cohortsim.scenario_sha256"].decode() == scenario.sha256
    assert meta[b"cohortsim.seed_entropy"] == b"2"
    summary = pq.read_table(tmp_path / "summary.parquet").to_pylist()
    assert len(summary) == 2 * endpoints
    for column in ("n_total", "endpoint", "power", "power_mcse", "ci_low", "ci_high",
                   "replicates"):
        assert column in summary[0]
    # the summary is the replicates, aggregated
    table = replicates.to_pandas()
    for row in summary:
        sel = table[(table.n_total == row["n_total"]) & (table.endpoint == row["endpoint"])]
        assert len(sel) == row["replicates"] == 300
        assert sel.rejected.mean() == pytest.approx(row["power"])
        assert sel.duration_months.mean() == pytest.approx(row["mean_duration_months"])
    assert result.files["summary"] == tmp_path / "summary.parquet"


def test_three_arms_each_compared_with_control() -> None:
    scenario = with_values(
        load_scenario(REFERENCE),
        {
            "arms.weaker": {
                "label": "weaker",
                "disease": {"relapse": {"hazard": {"hazard_ratio": 0.75,
                                                   "reference_arm": "control"}}},
            },
            "randomisation.block_size": 6,
            "analysis.treatment_arms": ["treatment", "weaker"],
        },
    )
    result = run_power(scenario, PowerSettings((300,), 1024, 2))
    by_arm = {r["comparison"]: r for r in result.rows}
    assert set(by_arm) == {"treatment", "weaker"}
    assert by_arm["treatment"]["power"] > by_arm["weaker"]["power"] + 0.2
    # each comparison analyses its two arms only: 2/3 of the patients enrolled by the cut
    for row in by_arm.values():
        assert 180 < row["expected_n_analysed"] <= 200
    assert {s.comparison for s in result.sample_sizes} == {"treatment", "weaker"}


@pytest.mark.parametrize("name", ["reference_logrank.toml", "rct_msc_vs_soc.toml"])
def test_des_engine_gives_the_same_rows(name: str) -> None:
    scenario = load_scenario(SCENARIOS / name)
    vector = _rows(ChunkJob(scenario, 5, 0, 8, (20, 30), engine="vector"))
    des = _rows(ChunkJob(scenario, 5, 0, 8, (20, 30), engine="des"))
    for key, value in vector.items():
        np.testing.assert_array_equal(des[key], value, err_msg=key)
