"""Shared paths and small calibration settings for the calibration tests."""

from __future__ import annotations

import pytest
from calibration_paths import PILOT, TARGETS


@pytest.fixture(scope="session")
def pilot_without_calibration():  # type: ignore[no-untyped-def]
    from cohortsim.calibration import without_calibration

    return without_calibration(PILOT)


@pytest.fixture(scope="session")
def pilot_targets():  # type: ignore[no-untyped-def]
    from cohortsim.calibration import load_targets

    return load_targets(TARGETS)
