"""Reports of a power run: ``report.md`` (:mod:`.markdown`) and figures (:mod:`.figures`,
matplotlib with the Agg backend). Both read a :class:`~cohortsim.power.PowerResult` only."""

from cohortsim.report.figures import power_curve
from cohortsim.report.markdown import write_report

__all__ = ["power_curve", "write_report"]
