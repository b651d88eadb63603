"""Start-up cost: a command imports only what it uses.

``scipy.stats`` (≈ 0.4 s to import) and the calibration pipeline are not needed to load a
scenario or to run a time-to-event power calculation; every ``cohortsim`` start and every spawned
worker would pay for them. A time-to-event power run without ``--out`` needs no SciPy at all
(its normal CDF and quantiles come from :mod:`cohortsim.analysis.normal`), no pyarrow (it writes
no table) and no SimPy (it runs the vectorised engine): ≈ 0.25 s per process together. Checked
in a fresh interpreter, by what ``sys.modules`` holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

LAZY = (
    "concurrent.futures", "multiprocessing", "logging", "decimal", "uuid",
    "cohortsim.report", "cohortsim.scenario.docs",
)
"""Imported only when used (worker processes, --out, the scenario docs)."""


def _modules_after(code: str) -> dict[str, bool]:
    probe = (
        "import json, sys\n"
        f"LAZY = {LAZY!r}\n"
        f"{code}\n"
        "names = ('scipy.stats', 'scipy.optimize', 'pandas', 'matplotlib', "
        "'cohortsim.calibration.pipeline', 'scipy', 'pyarrow', 'simpy') + LAZY\n"
        "print(json.dumps({n: n in sys.modules for n in names}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_power_on_a_time_to_event_design_imports_no_scipy_stats() -> None:
    loaded = _modules_after(
        "from cohortsim.cli import main\n"
        f"code = main(['power', {str(SCENARIOS / 'reference_logrank.toml')!r}, '--n', '200', "
        "'--replicates', '512', '--seed', '3', '--json'])\n"
        "assert code == 0"
    )
    assert loaded == {
        "scipy.stats": False,
        "scipy.optimize": False,
        "pandas": False,
        "matplotlib": False,
        "cohortsim.calibration.pipeline": False,
        "scipy": False,
        "pyarrow": False,
        "simpy": False,
        **dict.fromkeys(LAZY, False),
    }


def test_power_with_out_writes_its_tables(tmp_path: Path) -> None:
    # The lazy pyarrow is imported where tables are written: the same run with --out works.
    out = tmp_path / "run"
    loaded = _modules_after(
        "from cohortsim.cli import main\n"
        f"code = main(['power', {str(SCENARIOS / 'reference_logrank.toml')!r}, '--n', '200', "
        f"'--replicates', '512', '--seed', '3', '--out', {str(out)!r}])\n"
        "assert code == 0"
    )
    assert loaded["pyarrow"]
    assert any(out.rglob("*.parquet"))


def test_loading_the_lupus_scenarios_imports_no_scipy_stats() -> None:
    loaded = _modules_after(
        "from cohortsim.scenario import load_scenario\n"
        f"for name in ('liang2010_pilot.toml', 'rct_msc_vs_soc.toml'):\n"
        f"    load_scenario({str(SCENARIOS)!r} + '/' + name)"
    )
    assert not loaded["scipy.stats"]
    assert not loaded["pandas"]


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    # `cohortsim power ... --json | head -1`: the reader is gone before the JSON is written.
    process = subprocess.Popen(
        [sys.executable, "-m", "cohortsim", "power", str(SCENARIOS / "reference_logrank.toml"),
         "--n", "200", "--replicates", "256", "--seed", "3", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    with process.stderr:
        stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
