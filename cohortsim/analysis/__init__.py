"""Statistical analysis of simulated trials.

Pure functions from NumPy arrays to small frozen results (``statistic``, ``pvalue``, estimate,
interval, ``summary()``). Each test comes in two flavours:

* a single-trial function taking 1-D arrays (e.g. :func:`logrank`), and
* a ``*_batch`` function taking ``(replicates, patients)`` arrays plus a boolean ``mask`` of
  included patients, vectorised over replicates, returning 1-D arrays that equal the
  single-trial results row by row.

Conventions: ``group`` is 1 for the treatment (experimental) arm and 0 for control;
``alternative`` ("two-sided", "less", "greater") always refers to the treatment effect relative
to control (treatment minus control, or treatment / control); intervals are two-sided at
``confidence``.

Modules: :mod:`.survival` (log-rank, Cox), :mod:`.proportions` (binary responses),
:mod:`.ancova` (continuous outcome adjusted for baseline), :mod:`.counts` (event rates),
:mod:`.binomial` (Monte Carlo power summaries), :mod:`.sample_size` (analytic cross-checks),
:mod:`.group_sequential` (alpha-spending boundaries), :mod:`.results` (result classes).
"""

from .ancova import ancova, ancova_batch
from .binomial import clopper_pearson_interval, power_estimate, power_mcse, wilson_interval
from .counts import (
    negbin_rate_ratio,
    negbin_rate_ratio_batch,
    overdispersion_test,
    overdispersion_test_batch,
    poisson_rate_ratio,
    poisson_rate_ratio_batch,
    rate_ratio_test,
    rate_ratio_test_batch,
)
from .group_sequential import (
    crossing_probabilities,
    lan_demets_boundaries,
    obrien_fleming_spending,
    pocock_spending,
)
from .proportions import (
    binary_test,
    binary_test_batch,
    chi_square_batch,
    chi_square_test,
    cmh_batch,
    cmh_test,
    fisher_exact_batch,
    fisher_exact_test,
    risk_difference,
    risk_difference_batch,
)
from .results import (
    AncovaBatchResult,
    AncovaResult,
    BatchResult,
    BinaryComparisonBatchResult,
    BinaryComparisonResult,
    BoundaryCrossing,
    CMHBatchResult,
    CMHResult,
    CoxBatchResult,
    CoxResult,
    GroupSequentialBoundaries,
    LogrankBatchResult,
    LogrankResult,
    OverdispersionBatchResult,
    OverdispersionResult,
    PowerEstimate,
    RateRatioBatchResult,
    RateRatioResult,
)
from .sample_size import (
    freedman_events,
    freedman_power,
    patients_from_events,
    prob_event_exponential,
    schoenfeld_events,
    schoenfeld_power,
    two_means_n,
    two_means_power,
    two_proportions_n,
    two_proportions_power,
)
from .survival import cox_ph, cox_ph_batch, logrank, logrank_batch

__all__ = [
    "AncovaBatchResult",
    "AncovaResult",
    "BatchResult",
    "BinaryComparisonBatchResult",
    "BinaryComparisonResult",
    "BoundaryCrossing",
    "CMHBatchResult",
    "CMHResult",
    "CoxBatchResult",
    "CoxResult",
    "GroupSequentialBoundaries",
    "LogrankBatchResult",
    "LogrankResult",
    "OverdispersionBatchResult",
    "OverdispersionResult",
    "PowerEstimate",
    "RateRatioBatchResult",
    "RateRatioResult",
    "ancova",
    "ancova_batch",
    "binary_test",
    "binary_test_batch",
    "chi_square_batch",
    "chi_square_test",
    "clopper_pearson_interval",
    "cmh_batch",
    "cmh_test",
    "cox_ph",
    "cox_ph_batch",
    "crossing_probabilities",
    "fisher_exact_batch",
    "fisher_exact_test",
    "freedman_events",
    "freedman_power",
    "lan_demets_boundaries",
    "logrank",
    "logrank_batch",
    "negbin_rate_ratio",
    "negbin_rate_ratio_batch",
    "obrien_fleming_spending",
    "overdispersion_test",
    "overdispersion_test_batch",
    "patients_from_events",
    "pocock_spending",
    "poisson_rate_ratio",
    "poisson_rate_ratio_batch",
    "power_estimate",
    "power_mcse",
    "prob_event_exponential",
    "rate_ratio_test",
    "rate_ratio_test_batch",
    "risk_difference",
    "risk_difference_batch",
    "schoenfeld_events",
    "schoenfeld_power",
    "two_means_n",
    "two_means_power",
    "two_proportions_n",
    "two_proportions_power",
    "wilson_interval",
]
