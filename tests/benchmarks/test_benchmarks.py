"""The benchmarks run end to end (opt-in: ``pytest -m benchmark``). They print figures; speed is
never asserted here — see docs/performance.md for measured results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import run

pytestmark = pytest.mark.benchmark


@pytest.mark.parametrize("name", sorted(run.BENCHMARKS))
def test_benchmark_runs_and_reports(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--quick", name]) == 0
    out = capsys.readouterr().out
    assert f"## {name}" in out
    assert "|---" in out  # a table of figures was printed
