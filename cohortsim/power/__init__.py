"""Plan a randomised trial by simulating it: power, sample size and assurance.

``cohortsim power`` simulates a scenario's trial at every N of a grid with common random numbers
(replicate r uses the same streams at every N, and larger trials extend smaller ones), analyses
every endpoint of every simulated trial, and summarises: power with its Monte Carlo error, the
smallest N reaching the target power, analytic cross-checks, and — with ``--assurance`` — the
probability of success averaged over the parameters' uncertainty.

Modules, one concept each: :mod:`.analyses` (which test on which patients, direction of
benefit), :mod:`.sequential` (interim looks and boundaries), :mod:`.cohorts` (CRN prefixes),
:mod:`.assurance` (parameter draws, per-replicate parameters), :mod:`.trials` (one chunk of
replicates at every N), :mod:`.summary` (tallies → power), :mod:`.search` (the N decision),
:mod:`.analytic` (formulas beside the simulation), :mod:`.output` (Parquet), :mod:`.runner`
(the job).
"""

from cohortsim.power.runner import PowerResult, PowerSettings, run_power
from cohortsim.power.search import SampleSize, find_n

__all__ = ["PowerResult", "PowerSettings", "SampleSize", "find_n", "run_power"]
