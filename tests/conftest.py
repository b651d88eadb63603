"""Shared set-up for the whole test tree.

* Puts ``tests/`` on ``sys.path`` so that every test directory can ``import strategies`` (the
  Hypothesis scenario strategies), and makes the package importable when it is not installed
  (``pip install -e .`` makes that part a no-op). tests/scenario/conftest.py does the same for
  that directory alone; doing it here as well is harmless.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent
if importlib.util.find_spec("cohortsim") is None:  # pragma: no cover - depends on the install
    sys.path.insert(0, str(_TESTS.parent))
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))
