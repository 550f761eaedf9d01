"""Researcher tables from analysis results: outcome rates, effect sizes, protocol comparisons and
the claims scorecard.

Each builder takes the tidy result of an analysis module and returns a ``ResearchTable`` in
long form, one figure per row, naming its method, its n and its CI, so a researcher can filter
and re-plot it without reshaping. Suppression and formula neutralising are applied on export
(``analysis.tables.prepare_for_export``); the builders only say which columns are counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from analysis.effects import METHODS as EFFECT_METHODS
from analysis.tables import ResearchTable
from data.errors import AnalysisError

COMPLETERS = "completers"
ALL_STARTERS = "all starters"

WILSON = "Wilson score interval"

_RATE_COLS = ["numerator", "denominator", "pct", "ci_lo", "ci_hi"]

#: (measure, estimate column, SD column, CI columns or None, method) of paired effects, in the
#: order shown: descriptives, then the headline g_av and the other standardised effects.
_PAIRED_MEASURES: tuple[tuple[str, str, str | None, tuple[str, str] | None, str], ...] = (
    ("baseline_mean", "baseline_mean", "baseline_sd", None, "mean and SD (n - 1) at baseline"),
    ("eot_mean", "eot_mean", "eot_sd", None, "mean and SD (n - 1) at end of treatment"),
    ("mean_change", "mean_change", "sd_change", None, "change = baseline - EOT; mean and SD"),
    ("g_av", "g_av", None, ("g_av_ci_lo", "g_av_ci_hi"), EFFECT_METHODS["g_av"]),
    ("d_z", "d_z", None, ("d_z_ci_lo", "d_z_ci_hi"), EFFECT_METHODS["d_z"]),
    ("d_av", "d_av", None, None, EFFECT_METHODS["d_av"]),
    ("d_rm", "d_rm", None, None, EFFECT_METHODS["d_rm"]),
    ("r", "r", None, None, "Pearson correlation of baseline and EOT scores"),
)
_FIGURES = ("estimate", "sd", "ci_lo", "ci_hi")


def _require(frame: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise AnalysisError(
            f"The {what} table has no column {', '.join(repr(c) for c in missing)}; build it "
            "with the matching analysis function."
        )


def _keys_before(frame: pd.DataFrame, column: str, what: str) -> list[str]:
    """The grouping columns: those before ``column`` (analysis tables put them first)."""
    _require(frame, [column], what)
    return list(frame.columns[: list(frame.columns).index(column)])


def outcome_rates_table(
    completers: pd.DataFrame,
    all_starters: pd.DataFrame | None = None,
    *,
    ci_level: float = 0.95,
    name: str = "outcomes",
) -> ResearchTable:
    """Outcome rates under both denominators, from ``analysis.rates.rates_table`` frames.

    Columns: the grouping columns (e.g. instrument, protocol), ``outcome``, ``denominator_basis``
    (completers: paired patients; all starters: everyone with a baseline, no EOT counting as
    not improved), ``numerator``, ``denominator``, ``pct``, ``ci_lo``, ``ci_hi`` (0–100),
    ``ci_level`` and ``method``.
    """
    by = _keys_before(completers, "flag", "outcome rates")
    parts = []
    for basis, frame in ((COMPLETERS, completers), (ALL_STARTERS, all_starters)):
        if frame is None:
            continue
        _require(frame, [*by, "flag", *_RATE_COLS], "outcome rates")
        part = frame[[*by, "flag", *_RATE_COLS]].rename(columns={"flag": "outcome"})
        part.insert(len(by) + 1, "denominator_basis", basis)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    outcome_order = pd.unique(out["outcome"])
    out["_o"] = pd.Categorical(out["outcome"], categories=outcome_order).codes
    out["_b"] = (out["denominator_basis"] == ALL_STARTERS).astype(int)
    out = out.sort_values([*by, "_o", "_b"], kind="stable").drop(columns=["_o", "_b"])
    out["numerator"] = out["numerator"].astype(np.int64)
    out["denominator"] = out["denominator"].astype(np.int64)
    out["ci_level"] = ci_level
    out["method"] = f"{WILSON} ({ci_level:.0%})"
    level = f"{ci_level:.0%}"
    return ResearchTable(
        name=name,
        title="Outcome rates by protocol",
        frame=out.reset_index(drop=True),
        notes=(
            f"Percentages of the denominator with {level} Wilson score intervals (Wilson 1927), "
            "on the same 0-100 scale.",
            "completers: patients with a baseline and an end-of-treatment assessment. all "
            "starters: everyone with a baseline; a patient without an end-of-treatment "
            "assessment counts as not improved.",
        ),
        count_cols=("numerator", "denominator"),
        derived={"numerator": ("pct", "ci_lo", "ci_hi"), "denominator": ("pct", "ci_lo", "ci_hi")},
        decimals={"pct": 1, "ci_lo": 1, "ci_hi": 1},
    )


def _long(
    frame: pd.DataFrame,
    keys: list[str],
    specs: Iterable[tuple[str, str, str | None, tuple[str, str] | None, str]],
) -> pd.DataFrame:
    """One row per (group, measure): estimate, sd, CI and method from the named columns."""
    parts = []
    for measure, est, sd, ci, method in specs:
        part = frame[keys].copy()
        part["measure"] = measure
        part["estimate"] = frame[est].astype(float)
        part["sd"] = frame[sd].astype(float) if sd else np.nan
        part["ci_lo"] = frame[ci[0]].astype(float) if ci else np.nan
        part["ci_hi"] = frame[ci[1]].astype(float) if ci else np.nan
        part["method"] = method
        part["_order"] = len(parts)
        parts.append(part)
    out = pd.concat(parts)
    out["_row"] = np.tile(np.arange(len(frame)), len(parts))
    return out.sort_values(["_row", "_order"], kind="stable").drop(columns=["_row", "_order"])


def effect_sizes_table(paired: pd.DataFrame, *, name: str = "effect_sizes") -> ResearchTable:
    """Within-group effect sizes, from ``analysis.effects.paired_effects_by_group``.

    One row per group (e.g. instrument × protocol) and measure: ``baseline_mean``,
    ``eot_mean``, ``mean_change`` (with their SD), the headline ``g_av`` (BCa bootstrap CI),
    ``d_z`` (noncentral t CI), ``d_av``, ``d_rm`` and the baseline–EOT correlation ``r``;
    columns ``estimate``, ``sd``, ``ci_lo``, ``ci_hi``, ``n`` (paired patients), ``ci_level``,
    ``method``.
    """
    keys = _keys_before(paired, "n", "effect sizes")
    needed = {c for spec in _PAIRED_MEASURES for c in (spec[1], spec[2], *(spec[3] or ())) if c}
    _require(paired, sorted(needed | {"ci_level", "n_boot_used"}), "effect sizes")
    out = _long(paired, keys, _PAIRED_MEASURES)
    rows = np.repeat(np.arange(len(paired)), len(_PAIRED_MEASURES))
    out["n"] = paired["n"].to_numpy(dtype=np.int64)[rows]
    out["ci_level"] = paired["ci_level"].to_numpy(dtype=float)[rows]
    boot = paired["n_boot_used"].to_numpy()[rows].astype(str)
    is_g = (out["measure"] == "g_av").to_numpy()
    out["method"] = np.where(is_g, out["method"] + "; " + boot + " resamples", out["method"])
    out = out[[*keys, "measure", "estimate", "sd", "ci_lo", "ci_hi", "n", "ci_level", "method"]]
    return ResearchTable(
        name=name,
        title="Within-group effect sizes (paired patients; change = baseline - EOT)",
        frame=out.reset_index(drop=True),
        notes=(
            "Headline figure: g_av. Positive change and effect sizes mean improvement on every "
            "instrument (scores of an instrument where higher is better are negated first; "
            "baseline and EOT means are on the instrument's own scale).",
            "n: paired patients (baseline and end of treatment). SDs use n - 1.",
        ),
        count_cols=("n",),
        derived={"n": _FIGURES},
        decimals=dict.fromkeys(_FIGURES, 2),
    )


ADJUSTED_METHOD = (
    "overlap-weighted regression on protocol and the propensity model's covariates, HC3 "
    "robust CI (Li, Morgan & Zaslavsky 2018)"
)


def between_protocols_table(
    comparisons: pd.DataFrame, *, name: str = "protocol_comparisons"
) -> ResearchTable:
    """Protocol comparisons (a − b), from rows of ``BetweenEffects`` flattened with ``_lo`` /
    ``_hi`` CI columns and preceded by their grouping columns and ``a``, ``b``.

    One row per comparison and measure: Hedges' ``g`` (noncentral t CI) and ``mean_diff``
    (Welch CI, Welch p in ``p``); columns ``n_a``, ``n_b``, ``ci_level``, ``method``.
    """
    keys = _keys_before(comparisons, "n_a", "protocol comparisons")
    _require(
        comparisons,
        ["a", "b", "n_b", "g", "g_ci_lo", "g_ci_hi", "mean_diff"],
        "protocol comparisons",
    )
    _require(
        comparisons,
        ["mean_diff_ci_lo", "mean_diff_ci_hi", "welch_p", "ci_level"],
        "protocol comparisons",
    )
    specs = (
        ("g", "g", None, ("g_ci_lo", "g_ci_hi"), EFFECT_METHODS["g"]),
        (
            "mean_diff",
            "mean_diff",
            None,
            ("mean_diff_ci_lo", "mean_diff_ci_hi"),
            EFFECT_METHODS["welch"],
        ),
    )
    adjusted = "adjusted_diff" in comparisons.columns
    if adjusted:  # the overlap-weighted difference beside the raw one (analysis.balance)
        specs += (
            (
                "mean_diff_adjusted",
                "adjusted_diff",
                None,
                ("adjusted_diff_ci_lo", "adjusted_diff_ci_hi"),
                ADJUSTED_METHOD,
            ),
        )
    out = _long(comparisons, keys, specs).drop(columns="sd")
    rows = np.repeat(np.arange(len(comparisons)), len(specs))
    p = comparisons["welch_p"].to_numpy(dtype=float)[rows]
    out["p"] = np.where((out["measure"] == "mean_diff").to_numpy(), p, np.nan)
    if adjusted:
        p_adj = comparisons["adjusted_p"].to_numpy(dtype=float)[rows]
        out["p"] = np.where((out["measure"] == "mean_diff_adjusted").to_numpy(), p_adj, out["p"])
    for col in ("n_a", "n_b"):
        out[col] = comparisons[col].to_numpy(dtype=np.int64)[rows]
    out["ci_level"] = comparisons["ci_level"].to_numpy(dtype=float)[rows]
    cols = [*keys, "measure", "estimate", "ci_lo", "ci_hi", "p", "n_a", "n_b", "ci_level", "method"]
    figures = ("estimate", "ci_lo", "ci_hi", "p")
    return ResearchTable(
        name=name,
        title="Between protocols (a - b; positive = a improved more)",
        frame=out[cols].reset_index(drop=True),
        notes=(
            "n_a, n_b: paired patients in protocol a and b.",
            "mean_diff_adjusted: the difference after overlap weighting on the baseline score, "
            "treatment resistance, route, site and other instruments' baselines "
            "(docs/adjustment.md).",
        )
        if adjusted
        else ("n_a, n_b: paired patients in protocol a and b.",),
        count_cols=("n_a", "n_b"),
        derived={"n_a": figures, "n_b": figures},
        decimals={"estimate": 2, "ci_lo": 2, "ci_hi": 2, "p": 4},
    )


def _claim_dict(claim: object) -> Mapping[str, object]:
    if isinstance(claim, Mapping):
        return claim
    to_dict = getattr(claim, "to_dict", None)
    if to_dict is None:
        raise AnalysisError("A claim result must be a ClaimResult or its to_dict() form.")
    return to_dict()


def claims_table(
    claims: Iterable[object], *, name: str = "claims", stamp: str | None = None
) -> ResearchTable:
    """The claims scorecard, from ``ClaimResult`` objects (or their ``to_dict()`` form).

    Columns: ``id``, ``claim``, ``instrument``, ``group``, ``verdict``, ``n``, ``estimate``,
    ``ci_lo``, ``ci_hi``, ``role`` (primary or exploratory), ``verdict_unadjusted``, ``p_value``,
    ``p_adjusted`` (Holm), ``test`` and ``caveats`` (joined with " | "). ``stamp``: the claim
    settings' stamp in words (``SettingsStamp.text()``), kept in a ``settings`` column and the
    notes so that a copied table still says which settings made it.
    """
    records = []
    for c in claims:  # a handful of claims: a loop over results, not over patients
        d = _claim_dict(c)
        ci = d.get("ci") or (None, None)
        records.append(
            {
                "id": d.get("id"),
                "claim": d.get("claim"),
                "instrument": d.get("instrument"),
                "group": d.get("group"),
                "verdict": d.get("verdict"),
                "n": int(d.get("n") or 0),
                "estimate": d.get("estimate"),
                "ci_lo": ci[0],
                "ci_hi": ci[1],
                "role": d.get("role"),
                "verdict_unadjusted": d.get("verdict_unadjusted") or d.get("verdict"),
                "p_value": d.get("p_value"),
                "p_adjusted": d.get("p_adjusted"),
                "test": d.get("test"),
                "caveats": " | ".join(str(x) for x in d.get("caveats") or ()),
            }
        )
    cols = [
        "id",
        "claim",
        "instrument",
        "group",
        "verdict",
        "n",
        "estimate",
        "ci_lo",
        "ci_hi",
        "role",
        "verdict_unadjusted",
        "p_value",
        "p_adjusted",
    ]
    frame = pd.DataFrame(records, columns=[*cols, "test", "caveats"])
    if stamp:
        frame["settings"] = stamp
    for col in ("estimate", "ci_lo", "ci_hi", "p_value", "p_adjusted"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["n"] = frame["n"].astype(np.int64)
    return ResearchTable(
        name=name,
        title="Claims scorecard",
        frame=frame,
        notes=(
            "Verdicts: supported, not supported (the CI's upper bound falls short), "
            "inconclusive (the CI straddles the threshold, or too few patients), not testable.",
            "Shares are percentages (0-100) with Wilson score intervals; thresholds are listed "
            "on the Methods sheet.",
            "Multiple claims: the primary claim is tested at one-sided 2.5%; every other claim "
            "is exploratory, its p adjusted by Holm's method, and supported only when the "
            "adjusted p is at most 2.5% (verdict_unadjusted is each test on its own).",
            *((stamp,) if stamp else ()),
        ),
        count_cols=("n",),
        derived={"n": ("estimate", "ci_lo", "ci_hi")},
        decimals={"estimate": 1, "ci_lo": 1, "ci_hi": 1, "p_value": 4, "p_adjusted": 4},
    )
