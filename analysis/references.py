"""Published benchmarks beside a practice's own figures (issue 11; docs/benchmarks.md).

Pure: takes a ``data.benchmarks.Benchmarks`` object and the per-patient outcomes
(``analysis.outcomes.patient_outcomes``), never reads a file.

``practice_references`` gives one row per (instrument, claim, reference): the practice's figure
on the reference's measure (with its Wilson or bootstrap CI), the reference, and the "beyond
expected" difference practice − reference. **The reference is treated as a fixed number**: the
difference's CI is the practice's CI shifted by the reference value, ignoring the reference's
own uncertainty (most sources give none, and a pooled or national figure rests on far more
people than one practice). A difference is only computed when the practice figure is on the
same measure as the reference; otherwise the row is context only.

Which reference sits beside which claim is the benchmark file's ``claims`` field; claims with
no published reference get one row saying so (``NO_REFERENCE``).
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.claims.config import ClaimsConfig
from analysis.numbers import json_value
from analysis.reference_measures import FIGURE_COLUMNS, bool_flag, practice_figure
from data.benchmarks import UNTREATED_PERCENT_CHANGE, Benchmark, Benchmarks

__all__ = [
    "COLUMNS",
    "NO_REFERENCE",
    "PER_INSTRUMENT_CLAIMS",
    "expected_untreated_change",
    "practice_references",
    "regression_to_mean_caveat",
    "to_records",
]

#: Claims tested on each instrument (analysis.claims); the others are tested once.
PER_INSTRUMENT_CLAIMS = (
    "rapid-onset",
    "intensive-faster",
    "large-improvement",
    "lasting",
    "treatment-resistant",
)
ONCE_CLAIMS = ("suicidal-ideation", "initial-anxiety")

#: What is said where no published reference applies to a claim at all.
NO_REFERENCE = {
    "intensive-faster": (
        "No published reference applies: this claim compares the practice's own protocols "
        "(intensive against weekly), so the weekly patients are the comparison; no published "
        "study compares these schedules of ketamine-assisted therapy."
    ),
    "suicidal-ideation": (
        "No published reference applies: no untreated, placebo or routine-care figure for "
        "PHQ-9 item 9 returning to 0 after one session is in the benchmark file; the share "
        "stands alone."
    ),
    "initial-anxiety": (
        "No published reference applies: no published rate of reliable GAD-7 worsening after "
        "a first ketamine session is in the benchmark file; the share is reported alone."
    ),
}

COLUMNS = [
    "instrument",
    "claim",
    "measure",
    "practice_population",
    "practice_measure",
    "practice_n",
    "practice_of",
    "practice_value",
    "practice_ci_lo",
    "practice_ci_hi",
    "practice_unit",
    "unit",
    "reference_id",
    "reference_group",
    "reference_instrument",
    "reference_value",
    "reference_ci_lo",
    "reference_ci_hi",
    "reference_timeframe",
    "reference_population",
    "reference_label",
    "reference_citation",
    "reference_checked",
    "difference",
    "difference_ci_lo",
    "difference_ci_hi",
    "better_than_reference",
    "comparable",
    "comparability",
    "ci_level",
]

_NA = float("nan")


def _comparable(ref: Benchmark, instrument: str, practice_measure: str) -> str:
    same_measure = practice_measure == ref.measure or (
        ref.measure == "pre-post d" and practice_measure == "g_av"
    )
    if ref.measure == "percent change" and practice_measure.startswith("percent change"):
        same_measure = True
    if ref.measure == "response share" and practice_measure.startswith("response share"):
        same_measure = True
    if not same_measure:
        return "context only: different measure"
    if instrument in ref.instrument:
        return "close: same measure and instrument"
    return f"rough: same measure on {ref.instrument}, not {instrument}"


def _better(diff_lo: float, diff_hi: float, measure: str) -> object:
    """True when the CI of the difference lies wholly on the better side, False wholly on the
    worse side, <NA> otherwise (a percent change is better when more negative)."""
    if not (math.isfinite(diff_lo) and math.isfinite(diff_hi)):
        return pd.NA
    lo, hi = (-diff_hi, -diff_lo) if measure == "percent change" else (diff_lo, diff_hi)
    if lo > 0:
        return True
    if hi < 0:
        return False
    return pd.NA


def _reference_row(instrument, claim, ref: Benchmark, practice: dict, ci_level: float) -> dict:
    comparable = _comparable(ref, instrument, practice["practice_measure"])
    value = float(ref.value)
    diff = lo = hi = _NA
    if not comparable.startswith("context"):
        diff = practice["practice_value"] - value
        lo = practice["practice_ci_lo"] - value
        hi = practice["practice_ci_hi"] - value
    return {
        "instrument": instrument,
        "claim": claim,
        "measure": ref.measure,
        **practice,
        "unit": ref.unit,
        "reference_id": ref.id,
        "reference_group": ref.group,
        "reference_instrument": ref.instrument,
        "reference_value": value,
        "reference_ci_lo": ref.ci[0] if ref.ci else _NA,
        "reference_ci_hi": ref.ci[1] if ref.ci else _NA,
        "reference_timeframe": ref.timeframe,
        "reference_population": ref.population,
        "reference_label": ref.citation.short,
        "reference_citation": ref.citation.full,
        "reference_checked": ref.checked,
        "difference": diff,
        "difference_ci_lo": lo,
        "difference_ci_hi": hi,
        "better_than_reference": _better(lo, hi, ref.measure),
        "comparable": comparable,
        "comparability": ref.comparability,
        "ci_level": ci_level,
    }


def _empty_row(instrument, claim: str, why: str, ci_level: float) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(
        instrument=instrument,
        claim=claim,
        comparable="no reference",
        comparability=why,
        ci_level=ci_level,
        better_than_reference=pd.NA,
    )
    return row


def practice_references(
    outcomes: pd.DataFrame,
    benchmarks: Benchmarks,
    *,
    effects: pd.DataFrame | None = None,
    ci_level: float = 0.95,
    config: ClaimsConfig | None = None,
) -> pd.DataFrame:
    """One row per (instrument, claim, reference) with the practice's own figure beside it.

    ``outcomes``: ``patient_outcomes(tidy, registry)``. ``effects``: rows of
    ``paired_effects_by_group(..., by=["instrument"])`` (or ``within_effects``) giving the g_av
    set beside pre-post d references; without it those rows have no practice figure.
    ``config`` supplies the rapid-onset window and the lasting follow-up window (defaults).
    Columns: ``COLUMNS``. Claims or instruments no published reference applies to get one row
    with ``comparable = "no reference"`` and the reason in ``comparability``.
    """
    cfg = config or ClaimsConfig()
    eff = {} if effects is None else {r["instrument"]: r for r in effects.to_dict("records")}
    present = sorted(outcomes["instrument"].dropna().astype(str).unique())
    # every practice figure is of paired patients: narrow the wide table once, not per figure
    wanted = [c for c in (*FIGURE_COLUMNS, f"sustained{cfg.lasting_window}") if c in outcomes]
    outcomes = outcomes.loc[bool_flag(outcomes, "paired"), wanted]
    by_ins = {ins: outcomes[outcomes["instrument"] == ins] for ins in present}
    rows: list[dict] = []
    for ins in present:
        for claim in PER_INSTRUMENT_CLAIMS:
            refs = [b for b in benchmarks.for_claim(claim) if ins in b.applies_to]
            if not refs:
                why = NO_REFERENCE.get(claim) or (
                    f"No published reference in the benchmark file applies to {ins} for this "
                    "claim; figures from other scales are not stretched to it."
                )
                rows.append(_empty_row(ins, claim, why, ci_level))
                continue
            for ref in refs:
                got = practice_figure(by_ins[ins], claim, ref, eff.get(ins), cfg, ci_level)
                rows.append(_reference_row(ins, claim, ref, got, ci_level))
    for claim in ONCE_CLAIMS:
        if not benchmarks.for_claim(claim):
            rows.append(_empty_row(None, claim, NO_REFERENCE[claim], ci_level))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["better_than_reference"] = frame["better_than_reference"].astype("boolean")
    return frame


# -- regression to the mean ------------------------------------------------------------------


def expected_untreated_change(
    outcomes: pd.DataFrame, instrument: str, benchmarks: Benchmarks
) -> dict:
    """What untreated people would be expected to change at this practice's baseline severity.

    Uses the no-treatment percent-change benchmarks shown beside ``instrument`` (the headline is
    ``UNTREATED_PERCENT_CHANGE`` when it applies; the range spans every such benchmark). Points
    = mean baseline of the paired patients × percent / 100 (negative = scores fall). Keys:
    instrument, applies, benchmark_id, percent, percent_range, timeframe, citation, mean_baseline,
    n_paired, points, points_range, observed_change (mean EOT − baseline of the same patients),
    beyond_expected (observed − expected points). ``applies`` is False (and the numbers None)
    when no benchmark applies or there are no paired patients.
    """
    refs = benchmarks.find(group="no treatment", measure="percent change", instrument=instrument)
    part = outcomes[(outcomes["instrument"] == instrument) & bool_flag(outcomes, "paired")]
    part = part[part["baseline"].notna() & part["eot"].notna()]
    out: dict = {
        "instrument": instrument,
        "applies": False,
        "benchmark_id": None,
        "percent": None,
        "percent_range": None,
        "timeframe": None,
        "citation": None,
        "mean_baseline": None,
        "n_paired": int(len(part)),
        "points": None,
        "points_range": None,
        "observed_change": None,
        "beyond_expected": None,
    }
    if not refs:
        return out
    head = next((b for b in refs if b.id == UNTREATED_PERCENT_CHANGE), refs[0])
    pcts = sorted(float(b.value) for b in refs)
    out.update(
        benchmark_id=head.id,
        percent=float(head.value),
        percent_range=[pcts[0], pcts[-1]],
        timeframe=head.timeframe,
        citation=head.citation.short,
    )
    if part.empty:
        return out
    mb = float(part["baseline"].mean())
    observed = float((part["eot"] - part["baseline"]).mean())
    points = mb * float(head.value) / 100.0
    out.update(
        applies=True,
        mean_baseline=mb,
        points=points,
        points_range=[mb * pcts[0] / 100.0, mb * pcts[-1] / 100.0],
        observed_change=observed,
        beyond_expected=observed - points,
    )
    return out


def regression_to_mean_caveat(
    outcomes: pd.DataFrame, instrument: str, benchmarks: Benchmarks
) -> str:
    """The regression-to-the-mean caveat with this practice's numbers (or saying plainly that
    no published untreated figure applies to the instrument)."""
    base = (
        "Regression to the mean: people often start treatment when symptoms peak, so some "
        "improvement is expected without any treatment."
    )
    e = expected_untreated_change(outcomes, instrument, benchmarks)
    if e["benchmark_id"] is None:
        return (
            f"{base} No published untreated figure in the benchmark file applies to "
            f"{instrument}, so its size cannot be given here."
        )
    lo, hi = e["percent_range"]
    spread = f"about {abs(hi):g}%" if lo == hi else f"about {abs(hi):g}% to {abs(lo):g}%"
    text = (
        f"{base} Untreated people with depression on trial wait-lists improved {spread} over "
        f"{e['timeframe'].removesuffix(' on the wait-list')} ({e['citation']})."
    )
    if not e["applies"]:
        return text + f" No paired {instrument} patients to apply it to."
    plo, phi = (abs(x) for x in e["points_range"])
    pts = (
        f"{plo:.1f}"
        if round(plo, 1) == round(phi, 1)
        else f"{min(plo, phi):.1f} to {max(plo, phi):.1f}"
    )
    text += (
        f" At this practice's mean {instrument} baseline of {e['mean_baseline']:.1f} "
        f"({e['n_paired']} paired patients) that is {pts} points without treatment"
    )
    obs = e["observed_change"]
    moved = "fell" if obs < 0 else "rose"
    return text + f"; scores here {moved} {abs(obs):.1f} points on average."


# -- outputs -----------------------------------------------------------------------------------


def to_records(frame: pd.DataFrame) -> list[dict]:
    """``practice_references`` rows as JSON-ready dicts (NaN and <NA> as None)."""
    return [{k: json_value(v) for k, v in row.items()} for row in frame.to_dict("records")]
