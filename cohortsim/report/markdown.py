"""``report.md``: the sample-size decision written out for people.

Sections: the answer; the design as simulated (arms, effect sizes as entered and as
normalised, accrual, follow-up, analysis rules); power by N for every endpoint with Monte Carlo
error; operating characteristics (events, duration, early stops); analytic cross-checks beside
the simulation; assurance beside power, with what makes them differ; how to reproduce it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cohortsim.hazards import median_months, survival
from cohortsim.report.figures import LABELS

if TYPE_CHECKING:
    from cohortsim.power.runner import PowerResult
    from cohortsim.scenario.types import Arm, Scenario


def _f(x: float, digits: int = 3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _hazard(arm: Arm) -> str:
    relapse = arm.disease.relapse
    h = relapse.hazard
    entered = ", ".join(f"{k} = {v}" for k, v in relapse.hazard_as_entered.items())
    at12 = float(survival(h, 12.0))
    text = f"{h.describe()}; relapse-free at 12 months {at12:.1%} (without frailty)"
    median = median_months(h)
    if math.isfinite(median):
        text += f"; median {median:.1f} months"
    return f"{text} — entered as `{{ {entered} }}`"


def _arms(scenario: Scenario) -> list[str]:
    rows = []
    for arm in scenario.arms:
        r = arm.disease.response
        effect = ""
        if arm.response_effect is not None:
            effect = " (from `" + ", ".join(
                f"{k} = {v}" for k, v in arm.response_effect.items()
            ) + "`)"
        row = [f"`{arm.name}`", arm.label, str(arm.allocation)]
        if scenario.is_sle:
            row.append(f"{r.probability_complete:.3f} / {r.probability_partial:.3f}{effect}")
        row += [_hazard(arm), f"{arm.disease.relapse.frailty_variance:g}"]
        rows.append(row)
    header = ["arm", "label", "allocation"]
    if scenario.is_sle:
        header.append("P(complete) / P(partial response)")
    return _table([*header, "relapse hazard", "frailty variance"], rows)


def _competing(hazard) -> str:  # type: ignore[no-untyped-def]
    if float(hazard.cumulative(120.0)) == 0.0:
        return "none"
    return f"{hazard.describe()}, {1 - float(survival(hazard, 12.0)):.1%} by month 12"


def _design(scenario: Scenario) -> list[str]:
    s = scenario
    a = s.analysis
    assert a is not None
    accrual = s.accrual
    if accrual.kind == "window":
        acc = (
            f"window months {accrual.window_start_month:g}–{accrual.window_end_month:g} "
            f"(density ratio end/start {accrual.density_ratio_end_to_start:g})"
        )
    else:
        acc = f"Poisson, {list(accrual.rates_per_month)} patients/month on periods " \
              f"{list(accrual.durations_months)} months (last open-ended)"
    cut = s.cutoff
    rules = []
    if cut.calendar_month is not None:
        rules.append(f"calendar month {cut.calendar_month:g}")
    if cut.months_after_last_enrolment is not None:
        rules.append(f"{cut.months_after_last_enrolment:g} months after the last enrolment")
    if cut.events is not None:
        rules.append(f"{cut.events} patients with a first relapse ({cut.event_time})")
    timing = f" ({cut.combine} of: " + "; ".join(rules) + ")" if rules else ""
    follow = (
        f"each patient followed for at most {cut.max_follow_up_months:g} months"
        if cut.max_follow_up_months is not None else "no per-patient follow-up limit"
    )
    strata = ", ".join(s.randomisation.strata) or "none"
    randomisation = s.randomisation.method.replace("_", " ")
    if s.randomisation.method == "permuted_block":
        randomisation += f", blocks of {s.randomisation.block_size}"
    out = ["## The design as simulated", ""]
    out += _arms(s)
    out += [
        "",
        f"- **Randomisation**: {randomisation}; strata: {strata}.",
        f"- **Accrual**: {acc}.",
        f"- **Follow-up and analysis time**: {follow}; data cut-off{timing}; study ends by "
        f"month {s.study.max_duration_months:g} at the latest.",
        f"- **Dropout** (control arm): {_competing(s.arms[0].dropout_hazard)}; "
        f"**death**: {_competing(s.arms[0].death_hazard)}.",
        f"- **Scenario**: `{s.source_path}`, SHA-256 `{s.sha256[:16]}…`.",
    ]
    return out


def _analysis(result: PowerResult) -> list[str]:
    a = result.scenario.analysis
    assert a is not None
    r = a.responder
    sides = "two-sided" if a.sides == 2 else "one-sided (direction of benefit)"
    strat = " (stratified by the randomisation strata)" if a.stratified else ""
    binary_test = "Cochran–Mantel–Haenszel" if a.stratified else (
        f"chi-square, Fisher's exact when an expected count is below {r.min_expected:g}"
    )
    lines = [
        "## The analysis of each simulated trial",
        "",
        f"Control arm `{a.control_arm}`; compared with it: "
        + ", ".join(f"`{t}`" for t in a.treatment_arms)
        + f". Tests are {sides} at α = {a.alpha:g}; intervals at {a.confidence:.0%}. "
        "A trial **succeeds** when its test is significant *in the direction of benefit*; "
        "power is the proportion of simulated trials that succeed.",
        "",
    ]
    rows = []
    for endpoint in a.endpoints:
        primary = " (primary)" if endpoint == a.primary else ""
        if endpoint in ("sri4", "remission"):
            if endpoint == "sri4":
                what = (
                    f"SLEDAI-2K fall ≥ {r.sledai_reduction} at month {r.assessment_month:g}"
                    + (" and no flare detected by then" if r.require_no_relapse else "")
                )
            else:
                what = f"SLEDAI-2K = 0 at month {r.assessment_month:g}"
            missing = {
                "non_responder": "missing = non-responder",
                "exclude": "missing left out",
                "locf": "missing carried forward (LOCF)",
            }[r.missing]
            rows.append([LABELS[endpoint] + primary, f"{what}; {missing}",
                         f"{binary_test}; risk difference (Newcombe CI)"])
        elif endpoint == "time_to_relapse":
            rows.append([LABELS[endpoint] + primary,
                         "first detected flare; censored at end of follow-up",
                         f"log-rank{strat}; hazard ratio by "
                         + ("Cox model" if a.hazard_ratio_estimate == "cox" else "Peto")])
        elif endpoint == "sledai_change":
            rows.append([LABELS[endpoint] + primary,
                         f"SLEDAI-2K at month {r.assessment_month:g} − baseline; missing "
                         + ("left out" if a.sledai_change_missing == "exclude" else "LOCF"),
                         "ANCOVA on baseline SLEDAI-2K"])
        else:
            model = {"auto": "negative binomial if overdispersed (Dean's test), else Poisson",
                     "poisson": "Poisson", "negbin": "negative binomial"}[a.flare_model]
            rows.append([LABELS[endpoint] + primary,
                         "detected flares / follow-up", f"rate ratio, {model}"])
    lines += _table(["endpoint", "definition", "test and estimate"], rows)
    if result.design is not None:
        d = result.design
        lines += [
            "",
            f"**Interim analyses** of the primary endpoint: Lan–DeMets {d.spending} spending, "
            f"looks timed by {a.interim.timing}. Boundaries on the standardised statistic "
            "(positive = benefit):",
            "",
        ]
        look_rows = []
        for k, t in enumerate(d.information_fractions):
            fut = _f(d.futility[k], 3) if d.futility is not None and k + 1 < len(
                d.information_fractions) else "—"
            look_rows.append([k + 1, f"{t:.2f}", _f(d.efficacy[k]), _f(d.nominal_pvalues[k], 4),
                              fut])
        lines += _table(["look", "information", "efficacy z", "nominal p", "futility z"],
                        look_rows)
    return lines


def _answer(result: PowerResult) -> list[str]:
    a = result.scenario.analysis
    assert a is not None
    answer = result.primary
    lines = ["## The answer", ""]
    if answer.recommended is not None:
        r = answer.recommended
        lines.append(
            f"**Recommended N = {r.n_total}** patients (both arms): the smallest N on the grid "
            f"whose simulated power for the primary endpoint, {LABELS[a.primary]}, reaches "
            f"{a.target_power:.0%} — power {r.power:.3f} (Monte Carlo SE {r.mcse:.3f}, 95% "
            f"interval {r.ci_low:.3f}–{r.ci_high:.3f})."
        )
        if answer.below is not None:
            b = answer.below
            lines.append(
                f"The grid point below, N = {b.n_total}, has power {b.power:.3f} "
                f"({b.ci_low:.3f}–{b.ci_high:.3f}); a straight line between the two crosses "
                f"{a.target_power:.0%} near N ≈ {answer.interpolated_n:.0f} — simulate a finer "
                f"grid there (`--n {b.n_total}:{r.n_total}:…`) before settling below "
                f"{r.n_total}."
            )
        else:
            lines.append("It is the smallest N simulated: a smaller trial may also reach the "
                         "target; extend the grid downwards.")
        if answer.stable is not None and answer.stable.n_total != r.n_total:
            lines.append(
                f"Power is not monotone in N here (tests on counts saw-tooth as N changes): "
                f"some larger N on the grid fall below the target again; every N from "
                f"**{answer.stable.n_total}** on reaches it (power {answer.stable.power:.3f})."
            )
        if not answer.firm:
            lines.append("At this Monte Carlo precision the bracketing is not firm (an interval "
                         "straddles the target): rerun with more replicates or `--mcse`.")
    else:
        top = answer.below
        assert top is not None  # find_n: with no N reaching the target, below = the largest N
        lines.append(
            f"**No N on the grid reaches {a.target_power:.0%} power** for the primary endpoint "
            f"({LABELS[a.primary]}); the largest, N = {top.n_total}, has power {top.power:.3f}. "
            "Extend the grid, or revisit the design."
        )
    lines += ["", "Every endpoint, smallest N on the grid reaching the target:", ""]
    for s in result.sample_sizes:
        lines.append(f"- {s.summary()}" + (f" ({s.comparison})" if len(
            a.treatment_arms) > 1 else ""))
    if not result.mcse_met:
        lines += ["", f"*The Monte Carlo target (--mcse {result.settings.target_mcse:g}) was not "
                  f"met within {result.settings.max_replicates:,} replicates.*"]
    return lines


def _power_table(result: PowerResult) -> list[str]:
    a = result.scenario.analysis
    assert a is not None
    lines = ["## Power by N", "", "![power curve](power_curve.png)", ""]
    for comparison in a.treatment_arms:
        header = ["N", *(LABELS[e] + (" ★" if e == a.primary else "") for e in a.endpoints)]
        table_rows = []
        for n in sorted({r["n_total"] for r in result.rows}):
            cells = [str(n)]
            for e in a.endpoints:
                r = next(x for x in result.rows if x["n_total"] == n and x["endpoint"] == e
                         and x["comparison"] == comparison)
                cells.append(f"{r['power']:.3f} ± {r['power_mcse']:.3f}")
            table_rows.append(cells)
        if len(a.treatment_arms) > 1:
            lines += [f"`{comparison}` vs `{a.control_arm}`:", ""]
        lines += _table(header, table_rows)
        lines.append("")
    lines += [
        f"Power ± Monte Carlo SE from {result.replicates:,} simulated trials per N (★ primary). "
        "Replicate r uses the same random streams at every N and a larger trial adds patients "
        "to a smaller one (common random numbers), so differences between N are much more "
        "precise than each value alone.",
    ]
    return lines


def _characteristics(result: PowerResult) -> list[str]:
    a = result.scenario.analysis
    assert a is not None
    lines = ["## Operating characteristics (primary endpoint)", ""]
    header = ["N", "power", "95% MC interval", "mean effect", "expected events",
              "patients analysed", "mean duration (months)"]
    if result.design is not None:
        header += ["P(stop early: efficacy)", "P(futility)", "P(harm)"]
    rows = []
    primary = [r for r in result.rows if r["endpoint"] == a.primary
               and r["comparison"] == a.treatment_arms[0]]
    for r in sorted(primary, key=lambda x: x["n_total"]):
        row = [r["n_total"], _f(r["power"]), f"{_f(r['ci_low'])}–{_f(r['ci_high'])}",
               _f(r["effect"]), _f(r["expected_events"], 1), _f(r["expected_n_analysed"], 1),
               _f(r["mean_duration_months"], 1)]
        if result.design is not None:
            row += [_f(r["p_stop_efficacy"]), _f(r["p_stop_futility"]), _f(r["p_stop_harm"])]
        rows.append(row)
    lines += _table(header, rows)
    measure = primary[0]["effect_measure"] if primary else ""
    lines += ["", f"Mean effect: {measure.replace('log_', '').replace('_', ' ')} "
              "(ratios: geometric mean over trials); events: "
              f"{primary[0]['events_meaning'] if primary else ''}."]
    return lines


def _whole_arms(scenario: Scenario, comparison: str, total: float) -> str:
    """A total N rounded up to whole patients per arm at the allocation ratio."""
    a = scenario.analysis
    assert a is not None
    names = scenario.arm_names
    wc = scenario.arms[names.index(a.control_arm)].allocation
    wt = scenario.arms[names.index(comparison)].allocation
    control = math.ceil(total * wc / (wc + wt) - 1e-9)
    treatment = math.ceil(control * wt / wc - 1e-9)
    return f"{control + treatment} ({treatment} {comparison} + {control} {a.control_arm})"


def _checks(result: PowerResult) -> list[str]:
    lines = ["## Analytic cross-checks", ""]
    if not result.checks:
        return [*lines, "No endpoint of this design has a closed-form check."]
    lines.append(
        "Textbook normal-approximation formulas, fed with the design's effect (or the "
        "simulated one where the model has no closed form), beside the simulation. They agree "
        "within a few Monte Carlo SE when their assumptions hold; where they do not (small "
        "numbers of events, frailty, missing data, interim looks) the simulation is the answer."
    )
    for c in result.checks:
        lines += ["", f"**{LABELS[c.endpoint]}** — {c.method}. Inputs: {c.inputs}."]
        if c.required_events is not None:
            assert result.scenario.analysis is not None  # run_power requires an analysis
            lines.append(f"Required events for {result.scenario.analysis.target_power:.0%} "
                         f"power: {c.required_events:.1f} (round up to "
                         f"{math.ceil(c.required_events)}).")
        if c.required_n is not None:
            lines.append(f"Required N (both arms): {c.required_n:.1f}, i.e. "
                         f"{_whole_arms(result.scenario, c.comparison, c.required_n)}.")
        for note in c.notes:
            lines.append(f"{note}")
        rows = []
        for r in sorted(result.rows, key=lambda x: x["n_total"]):
            if r["endpoint"] != c.endpoint or r["comparison"] != c.comparison:
                continue
            analytic = c.power_by_n.get(r["n_total"], math.nan)
            z = (r["power"] - analytic) / r["power_mcse"] if r["power_mcse"] > 0 else math.nan
            rows.append([r["n_total"], _f(r["power"]), _f(analytic), _f(z, 1)])
        lines += ["", *_table(["N", "simulated power", "analytic power",
                               "difference in MC SE"], rows)]
    return lines


def _assurance(result: PowerResult) -> list[str]:
    if result.assurance is None:
        return []
    a = result.scenario.analysis
    assert a is not None
    design = result.assurance
    lines = [
        "## Assurance",
        "",
        "Power answers *if the parameters are exactly as stated, how often does the trial "
        "succeed?* Assurance answers *given what we know — and do not know — about the "
        "parameters, how often will it succeed?* Each simulated trial first drew its "
        "parameters, then ran as before:",
        "",
    ]
    rows = []
    draws = result.draws or {}
    for p in design.parameters:
        values = draws.get(p.dotted)
        if values is not None and len(values):
            q05, q95 = np.quantile(values, [0.05, 0.95])
            spread = f"{np.mean(values):.4g} ({q05:.4g}–{q95:.4g})"
        else:
            spread = "—"
        rows.append([f"`{p.arm}`", f"`{p.key}`", p.source, spread])
    for posterior in design.posteriors:
        for key in posterior.skipped:
            rows.append([f"`{posterior.arm}`", f"`{key}`",
                         "posterior, not drawn: the scenario overrides it", "—"])
    lines += _table(["arm", "parameter", "source", "drawn: mean (5%–95%)"], rows)
    lines += [
        "",
        f"{design.replicates_per_draw} consecutive replicates share one draw, so "
        f"{result.rows[0].get('assurance_draws', 0):,} distinct draws were used; the Monte "
        "Carlo SE of assurance is computed over draws (clusters), not replicates."
        + (f" {result.rejected_draws} drawn sets were not valid scenarios and were drawn again "
           "(the prior is conditioned on valid parameters)." if result.rejected_draws else ""),
        "",
    ]
    header = ["N", "power (point estimate)", "assurance", "assurance 95% MC interval",
              "difference"]
    rows = []
    primary = [r for r in result.rows if r["endpoint"] == a.primary
               and r["comparison"] == a.treatment_arms[0]]
    for r in sorted(primary, key=lambda x: x["n_total"]):
        rows.append([r["n_total"], _f(r["power"]), _f(r["assurance"]),
                     f"{_f(r['assurance_ci_low'])}–{_f(r['assurance_ci_high'])}",
                     _f(r["assurance"] - r["power"])])
    lines += _table(header, rows)
    lines += [
        "",
        "Why they differ. Power is evaluated at one point of the parameter space; assurance "
        "averages power over the uncertainty. Where power is high and flattening, draws with a "
        "smaller effect lose more power than draws with a larger effect gain, so assurance "
        "falls below power and keeps rising slowly with N (it tends not to 1 but to the "
        "probability that the true effect is large enough to detect at all). Where power is "
        "low, the reverse can happen. A large gap means the decision rests more on the "
        "uncertain parameters than on N: narrowing their uncertainty (a better pilot, "
        "external data) may buy more than extra patients.",
    ]
    return lines


def _reproduce(result: PowerResult, command: str | None) -> list[str]:
    s = result.settings
    lines = ["## Reproducing this run", ""]
    if command:
        lines += ["```", command, "```", ""]
    lines += [
        f"Seed entropy {s.entropy}; {result.replicates:,} replicates per N; engine "
        f"{s.engine}; {s.workers} worker(s) (results do not depend on the number of workers); "
        f"{result.seconds:.1f} s. Per-trial results: `replicates.parquet` (one row per N × "
        "replicate × endpoint); summary: `summary.parquet`.",
    ]
    return lines


def write_report(result: PowerResult, path: Any, command: str | None = None) -> None:
    """Write ``report.md`` for ``result`` at ``path``."""
    scenario = result.scenario
    title = f"# Sample size for {scenario.study.name}"
    lines = [title, ""]
    if scenario.study.description:
        lines += [f"*{scenario.study.description}*", ""]
    for section in (
        _answer(result),
        _power_table(result),
        _characteristics(result),
        _assurance(result),
        _checks(result),
        _design(scenario),
        _analysis(result),
        _reproduce(result, command),
    ):
        if section:
            lines += [*section, ""]
    from pathlib import Path

    Path(path).write_text("\n".join(lines), encoding="utf-8")
