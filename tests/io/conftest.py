"""Make the package importable when it is not installed (``pip install -e .`` makes this a no-op).

pytest's default import mode puts ``tests/io`` on ``sys.path`` (which is how the test modules
import :mod:`iofakes`), but not the repository root.
"""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("cohortsim") is None:  # pragma: no cover - depends on the install
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
