"""Make the package importable when it is not installed (``pip install -e .`` makes that part a
no-op) and put ``tests/`` on ``sys.path`` so that ``import strategies`` works."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("cohortsim") is None:  # pragma: no cover - depends on the install
    sys.path.insert(0, str(_TESTS.parent))
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))
