"""The package type-checks: ``mypy cohortsim`` with the project's configuration reports nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_reports_no_errors(tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.mktemp("mypy_cache")
    stdout, stderr, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            str(ROOT / "cohortsim"),
        ]
    )
    assert status == 0, f"mypy exit status {status}:\n{stdout}{stderr}"
