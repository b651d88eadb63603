"""Calibration of the disease model to a pilot's reported figures, with its uncertainty.

>>> from cohortsim.calibration import read_posterior, variant
>>> from cohortsim.scenario import load_scenario
>>> posterior = read_posterior("scenarios/calibrated/liang2010_msc.toml")
>>> scenario = load_scenario("scenarios/liang2010_pilot.toml")
>>> draw_0 = variant(scenario, disease=posterior.disease_values(0))

Modules (one concept each; method in ``docs/calibration.md``): :mod:`.targets` (the targets file),
:mod:`.priors`, :mod:`.abc` (rejection ABC, regression adjustment), :mod:`.reconstruction`
(follow-up reconstruction), :mod:`.relapse` (gamma-frailty likelihood), :mod:`.surrogate`
(per-replicate measurement parameters on the engine's output), :mod:`.manifestations`
(binomial posteriors), :mod:`.pipeline` (the pipeline), :mod:`.posterior` (the calibrated file),
:mod:`.variants` (scenario variants), :mod:`.pilot_statistics` and :mod:`.predictive`
(validation), :mod:`.figures`.
"""

from cohortsim.calibration.pipeline import CalibrationResult, CalibrationSettings, calibrate
from cohortsim.calibration.posterior import CalibrationFileError, Posterior, read_posterior
from cohortsim.calibration.predictive import ValidationResult, predictive_check
from cohortsim.calibration.targets import Target, TargetsError, TargetSet, load_targets
from cohortsim.calibration.variants import variant, without_calibration

__all__ = [
    "CalibrationFileError",
    "CalibrationResult",
    "CalibrationSettings",
    "Posterior",
    "Target",
    "TargetSet",
    "TargetsError",
    "ValidationResult",
    "calibrate",
    "load_targets",
    "predictive_check",
    "read_posterior",
    "variant",
    "without_calibration",
]
