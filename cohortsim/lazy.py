"""SciPy submodules and pyarrow imported on first use.

``scipy.stats`` takes about 0.4 s to import and ``scipy.optimize`` about 0.15 s more, paid by
every ``cohortsim`` start and by every spawned worker — most of a small run's wall time, and
needless for runs that never call them (a time-to-event power run uses only ``scipy.special``).
Modules therefore write ``from cohortsim.lazy import stats`` instead of ``from scipy import
stats``: the name behaves as the module, which is imported the first time an attribute is read.
The same holds for pyarrow (``from cohortsim.lazy import pa``) in modules on the path of a power
run, which writes no table unless asked to.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name`` and imports it when one of its attributes is first read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)  # a dictionary lookup once imported

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._module(), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


special: Any = LazyModule("scipy.special")
stats: Any = LazyModule("scipy.stats")
optimize: Any = LazyModule("scipy.optimize")

# pyarrow (≈ 0.1 s with its compute and parquet modules) is needed only by runs that read or
# write tables; a power run without --out uses none of it.
pa: Any = LazyModule("pyarrow")
pc: Any = LazyModule("pyarrow.compute")
pq: Any = LazyModule("pyarrow.parquet")
