"""The researcher's table set: every table of the downloads page and of ``tables``, from one
``Figures`` bundle, in a fixed order."""

from __future__ import annotations

import pandas as pd

from analysis.day_model import day_model_table
from analysis.figures import Figures
from analysis.growth import growth_table
from analysis.provider_tables import unit_comparison_tables
from analysis.reference_outputs import (
    benchmark_sources_table,
    figures_references,
    references_research_table,
)
from analysis.result_tables import (
    between_protocols_table,
    claims_table,
    effect_sizes_table,
    outcome_rates_table,
)
from analysis.table1 import baseline_characteristics
from analysis.tables import ResearchTable
from data.instruments import Registry


def survival_table(fig: Figures) -> ResearchTable:
    """Kaplan–Meier medians of time to reliable improvement, in sessions and in days."""
    frame = fig.km.rename(columns={"scale": "time_scale"}).reset_index(drop=True)
    return ResearchTable(
        name="time_to_improvement",
        title="Time to reliable improvement (Kaplan-Meier)",
        frame=frame,
        notes=(
            "Median = smallest time with S(t) <= 0.5; 95% CI from the log-transformed Greenwood "
            "interval, as R survival's survfit. Patients who never improve reliably are censored "
            "at their last treatment assessment.",
        ),
        count_cols=("n", "n_events"),
        derived={
            "n": ("median", "median_ci_lo", "median_ci_hi"),
            "n_events": ("median", "median_ci_lo", "median_ci_hi"),
        },
        decimals={"median": 1, "median_ci_lo": 1, "median_ci_hi": 1},
    )


def growth_models_table(fig: Figures) -> ResearchTable:
    """Fixed effects of the growth model of each instrument (``analysis.growth.growth_table``)."""
    frame = growth_table(list(fig.models)).rename(columns={"ci_low": "ci_lo", "ci_high": "ci_hi"})
    return ResearchTable(
        name="growth_models",
        title="Growth models: score ~ session x protocol + (session | patient), REML",
        frame=frame,
        notes=(
            "Session is the dosing-session number (0 = baseline); the reference protocol is "
            "weekly (else the first label alphabetically). 95% Wald intervals.",
        ),
        decimals={"estimate": 3, "se": 3, "ci_lo": 3, "ci_hi": 3},
    )


def day_models_table(fig: Figures) -> ResearchTable:
    """Improvement and protocol contrasts from the day model of each instrument
    (``analysis.day_model.day_model_table``)."""
    frame = day_model_table(fig.day_models).rename(columns={"ci_low": "ci_lo", "ci_high": "ci_hi"})
    return ResearchTable(
        name="growth_by_day",
        title="Growth models over days: fitted improvement and protocol differences",
        frame=frame,
        notes=(
            "score ~ shape(day) x protocol + (f1 | patient), REML; the shape (linear, log1p or a "
            "natural spline in log1p(day)) chosen by the AIC of maximum-likelihood fits. "
            "improvement: fitted score at day 0 minus at the day (positive = better); "
            "difference: a protocol's improvement minus the reference protocol's. "
            "end_of_treatment: each protocol's median day of the last treatment assessment. "
            "extrapolated: the day lies beyond the protocol's own assessments. 95% Wald "
            "intervals.",
        ),
        decimals={"estimate": 3, "se": 3, "ci_lo": 3, "ci_hi": 3},
    )


def protocol_balance_table(fig: Figures) -> ResearchTable | None:
    """Baseline characteristics by protocol with standardised mean differences before and
    after overlap weighting (``analysis.balance``), one block per instrument; None when no
    comparison could be adjusted."""
    parts = []
    for (ins, a, b), res in fig.balance.items():
        if isinstance(res, str):
            continue
        parts.append(res.balance.assign(instrument=ins, a=a, b=b, n_a=res.n_a, n_b=res.n_b))
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    cols = [
        "instrument",
        "a",
        "b",
        "covariate",
        "kind",
        "n_a",
        "n_b",
        "mean_a",
        "mean_b",
        "smd_raw",
        "mean_a_weighted",
        "mean_b_weighted",
        "smd_weighted",
    ]
    figures = ("mean_a", "mean_b", "smd_raw", "mean_a_weighted", "mean_b_weighted", "smd_weighted")
    return ResearchTable(
        name="protocol_balance",
        title="Who got which protocol: balance before and after overlap weighting",
        frame=frame[cols],
        notes=(
            "Paired patients (baseline and last observation) of protocols a and b. mean: mean "
            "score, or share for a yes/no characteristic. smd: standardised mean difference "
            "a - b over the pooled unweighted SD (cobalt's convention); |smd| below 0.1 is the "
            "usual aim. Weighted: overlap weights from a logistic propensity model "
            "(docs/adjustment.md).",
        ),
        count_cols=("n_a", "n_b"),
        derived={"n_a": figures, "n_b": figures},
        decimals=dict.fromkeys(figures, 3),
    )


def research_tables(tidy: pd.DataFrame, fig: Figures, registry: Registry) -> list[ResearchTable]:
    """Table 1, outcome rates, effect sizes, protocol comparisons, time to improvement, growth
    models (when fitted), the site and clinician comparisons (when the data names them), the
    claims, and the published references beside them with their
    sources (``analysis.reference_outputs``)."""
    rates = fig.rates.drop(columns="population")
    done = rates[fig.rates["population"] == "completers"]
    start = rates[fig.rates["population"] == "all starters"]
    comp = fig.comparisons.rename(
        columns={"g_change": "g", "g_change_ci_lo": "g_ci_lo", "g_change_ci_hi": "g_ci_hi"}
    )
    tables = [
        baseline_characteristics(tidy, registry),
        outcome_rates_table(
            done.reset_index(drop=True), start.reset_index(drop=True), ci_level=fig.config.ci_level
        ),
        effect_sizes_table(fig.effects),
    ]
    if len(comp):
        comp = comp[
            [
                "instrument",
                "a",
                "b",
                "n_a",
                "n_b",
                "g",
                "g_ci_lo",
                "g_ci_hi",
                "mean_diff",
                "mean_diff_ci_lo",
                "mean_diff_ci_hi",
                "welch_p",
                "adjusted_diff",
                "adjusted_diff_ci_lo",
                "adjusted_diff_ci_hi",
                "adjusted_p",
            ]
        ].assign(ci_level=fig.config.ci_level)
        tables.append(between_protocols_table(comp))
        balance = protocol_balance_table(fig)
        if balance is not None:
            tables.append(balance)
    tables.append(survival_table(fig))
    if fig.models:
        tables.append(growth_models_table(fig))
    if fig.day_models:
        tables.append(day_models_table(fig))
    tables.extend(unit_comparison_tables(tidy, fig.outcomes))
    tables.append(claims_table(fig.claims, stamp=fig.stamp().text()))
    tables.append(references_research_table(figures_references(fig)))
    tables.append(benchmark_sources_table())
    return tables
