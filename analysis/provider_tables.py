"""Researcher tables of the site and clinician comparison (``analysis.provider_compare``):
``site_comparison`` and ``clinician_comparison``, one row per instrument × unit shown, the
units below the small-cell threshold left out and counted in the notes."""

from __future__ import annotations

import pandas as pd

from analysis.provider_compare import UNIT_COLUMNS, compare_units, patient_units
from analysis.tables import DEFAULT_MIN_N, ResearchTable
from data.errors import AnalysisError

OUTCOME = "reliable_improvement"
"""The outcome compared in the downloads (the dashboard also offers the others)."""
_FIGURES = (
    "observed_rate",
    "oe_ratio",
    "adjusted_rate",
    "adjusted_ci_lo",
    "adjusted_ci_hi",
    "shrunken_rate",
    "flag",
)
_RATES = (
    "observed_rate",
    "adjusted_rate",
    "adjusted_ci_lo",
    "adjusted_ci_hi",
    "shrunken_rate",
    "overall_rate",
    "limit95_lo",
    "limit95_hi",
    "limit998_lo",
    "limit998_hi",
)
METHOD = (
    "indirect standardisation: logistic regression on baseline, protocol and treatment "
    "resistance; exact binomial funnel limits (Spiegelhalter 2005); DerSimonian-Laird "
    "empirical-Bayes shrinkage of log O/E"
)


def unit_comparison_table(
    tidy: pd.DataFrame,
    outcomes: pd.DataFrame,
    unit_column: str,
    *,
    min_n: int = DEFAULT_MIN_N,
) -> ResearchTable | None:
    """The comparison of every ``unit_column`` label (site or clinician) on reliable improvement,
    per instrument with one; None when the data has no such labels or no instrument has two
    units to compare. Units with fewer than ``min_n`` patients are not in the table."""
    if unit_column not in tidy.columns or not tidy[unit_column].notna().any():
        return None
    units = patient_units(tidy, unit_column)
    parts, notes = [], []
    for ins in sorted(outcomes["instrument"].astype(str).unique()):
        try:
            res = compare_units(
                outcomes, units, ins, outcome=OUTCOME, unit_column=unit_column, min_n=min_n
            )
        except AnalysisError as err:
            notes.append(f"{ins}: not compared ({err})")
            continue
        u = res.units
        parts.append(
            pd.DataFrame(
                {
                    "instrument": ins,
                    "unit_type": unit_column,
                    "unit": u["unit"].astype(str),
                    "outcome": OUTCOME,
                    "n_patients": u["n_patients"],
                    "observed": u["observed"],
                    "expected": u["expected"],
                    "oe_ratio": u["oe_ratio"],
                    "observed_rate": u["raw"],
                    "adjusted_rate": u["adjusted"],
                    "adjusted_ci_lo": u["adjusted_ci_lo"],
                    "adjusted_ci_hi": u["adjusted_ci_hi"],
                    "shrunken_rate": u["shrunken"],
                    "overall_rate": res.overall,
                    "limit95_lo": u["limit95_lo"],
                    "limit95_hi": u["limit95_hi"],
                    "limit998_lo": u["limit998_lo"],
                    "limit998_hi": u["limit998_hi"],
                    "flag": u["flag"],
                    "tau2": res.tau2,
                    "adjusted_for": "; ".join(res.covariates) or "nothing (crude)",
                    "method": METHOD,
                }
            )
        )
        notes.append(
            f"{ins}: {_count(res.n_patients, 'paired patient')} in "
            f"{_count(res.n_units, unit_column)}; {_count(res.n_suppressed_units, unit_column)} "
            f"with fewer than {min_n} patients suppressed"
            + (
                f"; {_count(res.n_unlabelled, 'patient')} without a {unit_column} left out"
                if res.n_unlabelled
                else ""
            )
            + "."
        )
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    return ResearchTable(
        name=f"{unit_column}_comparison",
        title=f"{unit_column.capitalize()}s compared: case-mix-adjusted reliable improvement",
        frame=frame,
        notes=(
            "Paired patients; each patient counted under the "
            f"{unit_column} on most of their assessments. observed and expected: patients "
            "with reliable improvement, expected = sum of each patient's probability from a "
            "logistic model on baseline score, protocol and treatment resistance fitted on all "
            "patients. adjusted_rate = O/E x overall rate (%), its 95% CI the Wilson interval "
            "of O/n scaled the same way. limits: exact binomial 95% and 99.8% funnel limits "
            "around the overall rate at the unit's n (Spiegelhalter 2005, Stat Med 24:1185). "
            "shrunken_rate: empirical-Bayes estimate, log O/E pulled toward the mean by "
            "v/(v + tau2), tau2 by DerSimonian & Laird (1986). A flag outside the limits asks "
            "for a closer look at that unit's patients and records, not a verdict.",
            *notes,
        ),
        count_cols=("n_patients", "observed"),
        derived={"n_patients": _FIGURES, "observed": _FIGURES},
        decimals={"expected": 1, "oe_ratio": 2, "tau2": 4, **dict.fromkeys(_RATES, 1)},
    )


def _count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless n is 1: "1 site", "3 sites"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def unit_comparison_tables(
    tidy: pd.DataFrame, outcomes: pd.DataFrame, *, min_n: int = DEFAULT_MIN_N
) -> list[ResearchTable]:
    """``site_comparison`` and ``clinician_comparison``, those the data allows."""
    tables = (unit_comparison_table(tidy, outcomes, c, min_n=min_n) for c in UNIT_COLUMNS)
    return [t for t in tables if t is not None]
