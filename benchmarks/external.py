"""Side by side with an established trial simulator (registered into benchmarks.run): R's rpact
(``getSimulationSurvival``) and cohortsim on the same design, on the same machine, in one run.

The design is scenarios/reference_logrank.toml: 200 patients, 1:1, accrual over months 0-12,
exponential event times with control median 12 months and hazard ratio 0.5, no dropout, one
analysis at the 66th event, log-rank at two-sided alpha 0.05. cohortsim's power counts trials
significant at two-sided 0.05 *in the direction of benefit*, which is rpact's one-sided test at
0.025 (rpact's survival simulation implements one-sided designs only).

Needs ``Rscript`` with rpact (Debian: ``apt-get install r-base-core r-cran-rpact``); without
them the benchmark says so and is skipped.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from dataclasses import dataclass
from statistics import NormalDist

from benchmarks.measure import SCENARIOS, cohortsim_command, run_process, table

INSTALL_HINT = "apt-get install r-base-core r-cran-rpact"

EVENTS = 66
HAZARD_RATIO = 0.5
SEED = 3

# The rpact side. The replicate count comes from the command line (Rscript -e CODE R) so the
# code itself is fixed. Group 1 is the treatment, group 2 the control, as in rpact.
RPACT_CODE = """\
t0 <- proc.time()[["elapsed"]]
suppressPackageStartupMessages(library(rpact))
t_load <- proc.time()[["elapsed"]] - t0
R <- as.integer(commandArgs(trailingOnly = TRUE)[1])
design <- getDesignGroupSequential(kMax = 1, alpha = 0.025, sided = 1)  # fixed design
timing <- system.time(sim <- getSimulationSurvival(
  design = design,
  median2 = 12, hazardRatio = 0.5,    # control median 12 months; lambda1 = 0.5 * lambda2
  directionUpper = FALSE,             # benefit is HR < 1: reject for small log-rank Z
  allocation1 = 1L, allocation2 = 1L, # 1:1 (rpact alternates T, C, T, C, ...)
  accrualTime = c(0, 12), maxNumberOfSubjects = 200,  # 200 over months 0-12 (200/12 a month)
  dropoutRate1 = 0, dropoutRate2 = 0,
  plannedEvents = 66,                 # the single analysis at the 66th event
  maxNumberOfIterations = R, longTimeSimulationAllowed = TRUE, seed = 3))
out <- list(
  r_version = R.version.string, rpact_version = as.character(packageVersion("rpact")),
  load_seconds = t_load, sim_elapsed = timing[["elapsed"]],
  sim_user = timing[["user.self"]] + timing[["user.child"]],
  iterations = sim$iterations[1], overall_reject = sim$overallReject[1],
  reject_per_stage = sim$rejectPerStage[1], critical_value = design$criticalValues[1],
  lambda1 = sim$lambda1[1], lambda2 = sim$lambda2[1],
  accrual_intensity = sim$accrualIntensity[1], analysis_time = sim$analysisTime[1],
  subjects = sim$numberOfSubjects[1], events = sim$expectedNumberOfEvents[1],
  events_not_achieved = sim$eventsNotAchieved[1])
for (k in names(out)) cat(sprintf("%s\\t%s\\n", k, format(out[[k]], digits = 15)))
"""


@dataclass(frozen=True)
class Row:
    tool: str
    replicates: int | None
    wall: float | None  # whole process, seconds
    compute: float | None  # the simulation alone, seconds
    peak_mib: float | None
    power: float
    se: float | None  # Monte Carlo SE, sqrt(p (1 - p) / R)


def mc_se(power: float, replicates: int) -> float:
    return math.sqrt(power * (1.0 - power) / replicates)


def schoenfeld_power(events: int, hazard_ratio: float, alpha_two_sided: float = 0.05) -> float:
    """Φ(√d · |ln HR| / 2 − z_{1−α/2}) for 1:1 allocation."""
    z = NormalDist()
    return z.cdf(math.sqrt(events) * abs(math.log(hazard_ratio)) / 2
                 - z.inv_cdf(1 - alpha_two_sided / 2))


def rpact_available() -> str | None:
    """None when ``Rscript`` and rpact are there, else why not."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "`Rscript` not found on PATH"
    probe = subprocess.run(
        [rscript, "--vanilla", "-e",
         'quit(status = if (requireNamespace("rpact", quietly = TRUE)) 0 else 3)'],
        capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return "the R package rpact is not installed"
    return None


def run_rpact(replicates: int) -> tuple[Row, dict[str, str]]:
    rscript = shutil.which("Rscript")
    assert rscript is not None
    run = run_process([rscript, "--vanilla", "-e", RPACT_CODE, str(replicates)])
    out = dict(line.split("\t", 1) for line in run.stdout.strip().splitlines() if "\t" in line)
    power = float(out["overall_reject"])
    if int(float(out["iterations"])) != replicates:
        raise RuntimeError(f"rpact ran {out['iterations']} iterations, not {replicates}")
    return Row("rpact getSimulationSurvival (Rscript)", replicates, run.seconds,
               float(out["sim_elapsed"]), run.peak_mib, power, mc_se(power, replicates)), out


def run_cohortsim(replicates: int, workers: int) -> Row:
    """The command as a whole process (power from its JSON), and ``run_power`` in this process
    for the compute alone (cohortsim's own timer; same seed, so the same power)."""
    from cohortsim.power.runner import PowerSettings, run_power
    from cohortsim.scenario import load_scenario

    path = SCENARIOS / "reference_logrank.toml"
    run = run_process(cohortsim_command(
        "power", str(path), "--n", "200", "--replicates", str(replicates), "--seed", str(SEED),
        "--workers", str(workers), "--json"))
    rows = json.loads(run.stdout)
    power = float(next(r for r in rows if r["endpoint"] == "time_to_relapse")["power"])
    settings = PowerSettings(n_grid=(200,), replicates=replicates, entropy=SEED, workers=workers)
    scenario = load_scenario(path)
    start = time.perf_counter()
    result = run_power(scenario, settings)
    compute = time.perf_counter() - start
    again = float(next(r for r in result.rows if r["endpoint"] == "time_to_relapse")["power"])
    if again != power:
        raise RuntimeError(f"cohortsim in-process power {again} differs from the command's {power}")
    label = f"cohortsim power, {workers} worker{'s' if workers > 1 else ''}"
    return Row(label, replicates, run.seconds, compute, run.peak_mib, power,
               mc_se(power, replicates))


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{unit}"


def rpact_side_by_side(quick: bool) -> str:
    """(vi) rpact's getSimulationSurvival and cohortsim power on reference_logrank at N = 200:
    time (whole process and the simulation alone) and power with Monte Carlo error."""
    missing = rpact_available()
    if missing is not None:
        return (f"rpact_side_by_side skipped: {missing}; install with `{INSTALL_HINT}`.\n\n"
                + table([("rpact", "skipped")], ("tool", "status")))
    replicates = 10_000 if quick else 100_000
    rpact, info = run_rpact(replicates)
    ours = [run_cohortsim(replicates, w) for w in (1, 2)]
    analytic = Row("Schoenfeld formula (66 events, HR 0.5)", None, None, None, None,
                   schoenfeld_power(EVENTS, HAZARD_RATIO), None)

    def versus(row: Row) -> tuple[str, str]:
        if row is rpact:
            return "(reference)", "–"
        assert rpact.se is not None
        diff = row.power - rpact.power
        se = math.hypot(rpact.se, row.se or 0.0)  # independent runs; the formula has no error
        return f"{diff:+.4f}", f"{diff / se:+.2f}"

    rows: list[tuple[str, ...]] = []
    for row in (rpact, *ours, analytic):
        rate = None if row.compute is None or row.replicates is None else (
            row.replicates / row.compute)
        rows.append((
            row.tool, _fmt(row.replicates, ","), _fmt(row.wall, ".2f"), _fmt(row.compute, ".2f"),
            _fmt(rate, ",.0f"), _fmt(row.peak_mib, ",.0f"),
            f"{row.power:.4f}" + ("" if row.se is None else f" ± {row.se:.4f}"), *versus(row),
        ))
    one = ours[0]
    assert rpact.compute and rpact.wall and one.compute and one.wall
    return (
        f"reference_logrank.toml at N = 200, {replicates:,} replicates each; "
        f"{info['r_version']}, rpact {info['rpact_version']} (one-sided alpha 0.025, critical "
        f"value {float(info['critical_value']):.4f}, directionUpper = FALSE); times in seconds, "
        "power ± Monte Carlo SE √(p(1−p)/R), z = Δ / √(SE₁² + SE₂²)\n\n"
        + table(rows, ("tool", "replicates", "wall, whole process (s)", "simulation (s)",
                       "replicates/s (simulation)", "peak RSS (MiB)", "power ± MC SE",
                       "Δ power vs rpact", "z"))
        + f"\n\nrpact: library(rpact) load {float(info['load_seconds']):.2f} s, simulation CPU "
        f"{float(info['sim_user']):.2f} s, mean analysis month {float(info['analysis_time']):.2f},"
        f" mean subjects at analysis {float(info['subjects']):.4f}, events not achieved "
        f"{float(info['events_not_achieved']):.4f}, rejectPerStage "
        f"{float(info['reject_per_stage']):.4f}.\n"
        f"Speed, cohortsim 1 worker over rpact: simulation {rpact.compute / one.compute:.2f}x, "
        f"whole process {rpact.wall / one.wall:.2f}x."
    )


EXTERNAL_BENCHMARKS = {"rpact_side_by_side": rpact_side_by_side}
