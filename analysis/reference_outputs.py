"""The published benchmarks in ReliefCheck's outputs: the summary JSON's ``references`` list,
the researcher exports' "references" and "benchmark_sources" tables (formula-safe and
small-cell suppressed like every other table, through ``analysis.tables.prepare_for_export``).

When no ``Benchmarks`` object is passed, the built-in file is used
(``data.benchmarks.default_benchmarks``), as ``default_registry()`` is for instruments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from analysis.references import practice_references, to_records
from analysis.tables import ResearchTable
from data.benchmarks import Benchmarks, default_benchmarks

__all__ = [
    "benchmark_sources_table",
    "benchmark_table",
    "claim_effects",
    "figures_references",
    "references_research_table",
    "summary_references",
]

_EFFECT_COLUMNS = ["instrument", "n", "g_av", "g_av_ci_lo", "g_av_ci_hi"]


def claim_effects(claims: Iterable[object]) -> pd.DataFrame:
    """The g_av (and CI) each large-improvement verdict carries in its details, as effect rows
    (instrument, n, g_av, g_av_ci_lo, g_av_ci_hi) for ``practice_references``; n is the
    claim's number of paired patients. Claims without a g_av are left out."""
    rows = []
    for c in claims:  # a handful of claim results, not patients
        details = getattr(c, "details", None) or {}
        if getattr(c, "id", None) != "large-improvement" or details.get("g_av") is None:
            continue
        rows.append(
            {
                "instrument": c.instrument,
                "n": int(c.n),
                **{k: details.get(k) for k in ("g_av", "g_av_ci_lo", "g_av_ci_hi")},
            }
        )
    frame = pd.DataFrame(rows, columns=_EFFECT_COLUMNS)
    for col in _EFFECT_COLUMNS[2:]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def figures_references(fig: object, benchmarks: Benchmarks | None = None) -> pd.DataFrame:
    """``practice_references`` for a ``Figures`` bundle: its outcomes, the g_av of its
    large-improvement verdicts, its confidence level and claim settings."""
    cfg = fig.config  # type: ignore[attr-defined]
    return practice_references(
        fig.outcomes,  # type: ignore[attr-defined]
        benchmarks if benchmarks is not None else default_benchmarks(),
        effects=claim_effects(fig.claims),  # type: ignore[attr-defined]
        ci_level=cfg.ci_level,
        config=cfg,
    )


def summary_references(fig: object, benchmarks: Benchmarks | None = None) -> list[dict]:
    """The summary JSON's ``references`` list: one object per ``practice_references`` row."""
    return to_records(figures_references(fig, benchmarks))


def references_research_table(frame: pd.DataFrame, *, name: str = "references") -> ResearchTable:
    """``practice_references`` rows as a downloadable table, each with its full citation."""
    frame = frame.copy()
    for col in ("practice_n", "practice_of"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    frame["reference_checked"] = frame["reference_checked"].astype("boolean")
    frame["better_than_reference"] = frame["better_than_reference"].astype("boolean")
    values = ("practice_value", "practice_ci_lo", "practice_ci_hi")
    diffs = ("difference", "difference_ci_lo", "difference_ci_hi", "better_than_reference")
    return ResearchTable(
        name=name,
        title="Published references beside the claims",
        frame=frame.reset_index(drop=True),
        notes=(
            "One row per instrument, claim and published reference: the practice's figure on "
            "the reference's measure, the reference, and the difference practice - reference.",
            "The reference is treated as a fixed number: the difference's CI is the practice's "
            "CI shifted by the reference value. A difference is given only when the practice "
            "figure is on the same measure; 'comparable' says how close the match is.",
            "Shares and percent changes are percentages (0-100, Wilson intervals for shares); "
            "a percent change is negative when scores fell; 'd' rows compare the practice's "
            "g_av with a published pre-post d. Full citations are in reference_citation and on "
            "the benchmark_sources sheet.",
        ),
        count_cols=("practice_n", "practice_of"),
        derived={"practice_n": values + diffs, "practice_of": values + diffs},
        decimals={c: 2 if c.endswith(("value", "lo", "hi")) else 1 for c in (*values, *diffs[:3])},
    )


def benchmark_table(benchmarks: Benchmarks, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Every benchmark (or those in ``ids``) with its full citation, in file order."""
    keep = set(ids) if ids is not None else None
    rows = [
        {
            "id": b.id,
            "group": b.group,
            "measure": b.measure,
            "value": float(b.value),
            "unit": b.unit,
            "instrument": b.instrument,
            "population": b.population,
            "timeframe": b.timeframe,
            "n": b.n,
            "claims": ", ".join(b.claims),
            "shown_for": ", ".join(b.applies_to),
            "citation": b.citation.full,
            "where_in_source": b.location,
            "checked": b.checked,
            "how_checked": b.check_note,
            "comparability": b.comparability,
            "note": b.note,
        }
        for b in benchmarks
        if keep is None or b.id in keep
    ]
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["n"] = pd.to_numeric(frame["n"], errors="coerce").astype("Int64")
        frame["value"] = frame["value"].astype(np.float64)
    return frame


def benchmark_sources_table(benchmarks: Benchmarks | None = None) -> ResearchTable:
    """The benchmark file as a downloadable table: every figure with its full citation, where
    in the source it is and how it was checked. ``n`` here is the source's sample size, not a
    practice count, so it is not suppressed."""
    frame = benchmark_table(benchmarks if benchmarks is not None else default_benchmarks())
    return ResearchTable(
        name="benchmark_sources",
        title="Published benchmarks and their sources",
        frame=frame,
        notes=(
            "Shares and percent changes in percent; d = standardised pre-post change; days = "
            "median time. 'checked' is true where the figure, population and timeframe were "
            "read in the source itself; 'how_checked' says where.",
            "docs/benchmarks.md explains why each figure sits beside which claim.",
        ),
        decimals={"value": 3},
    )
