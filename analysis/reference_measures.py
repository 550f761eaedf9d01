"""The practice's own figure on a benchmark's measure (``analysis.references``).

Per instrument and claim: the population the claim tests (paired patients; the treatment-resistant
ones; end-of-treatment responders with a follow-up; patients reassessed early) and the figure on
the reference's measure: a share with its Wilson interval (``analysis.rates``), the percent change
of the mean score with a t interval, or g_av from the effect-size rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from analysis.claims.config import ClaimsConfig
from analysis.rates import proportion
from data.benchmarks import Benchmark

# Benchmark measure -> outcome flag column giving the practice's share on that measure.
_FLAG_OF_MEASURE = {
    "response share": "response",
    "reliable improvement share": "reliable_improvement",
    "remission share": "remission",
    "recovery share": "recovery",
}
_NA = float("nan")


def bool_flag(frame: pd.DataFrame, col: str) -> pd.Series:
    """A nullable yes/no column as plain booleans (missing = False); all False when absent."""
    if col not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[col].fillna(False).astype(bool)


def _higher_is_worse(part: pd.DataFrame) -> bool:
    """Direction of an instrument read from the outcomes themselves: ``change`` is improvement,
    so it equals baseline − EOT when higher scores are worse. True when nothing tells."""
    need = {"change", "baseline", "eot"}
    if not need <= set(part.columns):
        return True
    b, e, c = (part[k].to_numpy(dtype=float) for k in ("baseline", "eot", "change"))
    moved = np.isfinite(c) & np.isfinite(b) & np.isfinite(e) & (b != e)
    if not moved.any():
        return True
    return bool(np.mean(np.isclose(c[moved], (b - e)[moved])) >= 0.5)


def _share(k: int, n: int, ci_level: float) -> tuple[int, int, float, float, float]:
    rate = proportion(k, n, ci_level)
    lo, hi = rate.ci if rate.ci is not None else (_NA, _NA)
    return k, n, _NA if rate.pct is None else rate.pct, lo, hi


def _flag_share(pop: pd.DataFrame, col: str, ci_level: float) -> tuple:
    if col not in pop.columns:
        return 0, 0, _NA, _NA, _NA
    known = pop[col].notna()
    return _share(int(bool_flag(pop, col)[known].sum()), int(known.sum()), ci_level)


def _percent_change(pop: pd.DataFrame, ci_level: float) -> tuple:
    """Percent change of the mean score, 100 · (mean EOT − mean baseline) / mean baseline
    (negative = scores fell), with the t interval of the mean change over the mean baseline."""
    ok = pop["baseline"].notna() & pop["eot"].notna() & (pop["baseline"] > 0)
    b = pop.loc[ok, "baseline"].to_numpy(dtype=float)
    e = pop.loc[ok, "eot"].to_numpy(dtype=float)
    n = len(b)
    if n == 0:
        return 0, 0, _NA, _NA, _NA
    mb, diff = b.mean(), e - b
    value = 100.0 * diff.mean() / mb
    if n < 2:
        return n, n, value, _NA, _NA
    half = student_t.ppf(0.5 + ci_level / 2, n - 1) * diff.std(ddof=1) / math.sqrt(n)
    return n, n, value, 100.0 * (diff.mean() - half) / mb, 100.0 * (diff.mean() + half) / mb


def _rapid_response(pop: pd.DataFrame, rapid_days: float, ci_level: float) -> tuple:
    """Share of paired patients with a first reassessment whose first reassessment came within
    ``rapid_days`` days and showed a fall of at least 50% (the claim's denominator)."""
    if "first_post_day" not in pop.columns or "first_post_score" not in pop.columns:
        return 0, 0, _NA, _NA, _NA
    pop = pop[pop["first_post_day"].notna()]
    sign = 1.0 if _higher_is_worse(pop) else -1.0
    b = pop["baseline"].to_numpy(dtype=float)
    f = pop["first_post_score"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        fell_half = sign * (b - f) >= 0.5 * np.abs(b)
    hit = fell_half & (b != 0) & (pop["first_post_day"].to_numpy(dtype=float) <= rapid_days)
    return _share(int(np.nansum(hit)), len(pop), ci_level)


#: The per-patient outcome columns the practice figures read (besides sustained<window>).
FIGURE_COLUMNS = (
    "instrument",
    "paired",
    "treatment_resistant",
    "baseline",
    "eot",
    "change",
    "first_post_day",
    "first_post_score",
    "response",
    "remission",
    "recovery",
    "reliable_improvement",
)


def _population(part: pd.DataFrame, claim: str, cfg: ClaimsConfig) -> tuple[pd.DataFrame, str]:
    paired = part[bool_flag(part, "paired")]
    if claim == "treatment-resistant":
        return paired[
            bool_flag(paired, "treatment_resistant")
        ], "paired treatment-resistant patients"
    if claim == "lasting":
        return paired, f"end-of-treatment responders with a {cfg.lasting_window}-day follow-up"
    if claim == "rapid-onset":
        return (
            paired,
            f"paired patients reassessed (first reassessment within {cfg.rapid_days:g} days)",
        )
    return paired, "paired patients (baseline and end of treatment)"


def practice_figure(
    part: pd.DataFrame,
    claim: str,
    ref: Benchmark,
    effect: dict | None,
    cfg: ClaimsConfig,
    ci_level: float,
) -> dict:
    """The practice's figure on the reference's measure, for one instrument and claim: a dict of
    practice_unit, practice_population, practice_measure, practice_n, practice_of,
    practice_value, practice_ci_lo, practice_ci_hi (NaN where the practice has no such figure).
    """
    pop, label = _population(part, claim, cfg)
    measure = ref.measure
    if claim == "lasting":
        col = f"sustained{cfg.lasting_window}"
        got = _flag_share(pop, col, ci_level)
        what = f"share still responding at {cfg.lasting_window} days"
    elif claim == "rapid-onset" and measure == "response share":
        got = _rapid_response(pop, cfg.rapid_days, ci_level)
        what = f"response share at a first reassessment within {cfg.rapid_days:g} days"
    elif measure in _FLAG_OF_MEASURE:
        got = _flag_share(pop, _FLAG_OF_MEASURE[measure], ci_level)
        what = measure
        if measure == "recovery share":
            label = "paired patients in the clinical range at baseline"
    elif measure == "percent change":
        got = _percent_change(pop, ci_level)
        what = "percent change of the mean score"
    elif measure == "pre-post d" and claim == "large-improvement" and effect is not None:
        n = int(effect.get("n") or 0)
        got = (n, n, *(float(effect.get(k, _NA)) for k in ("g_av", "g_av_ci_lo", "g_av_ci_hi")))
        what = "g_av"
    else:
        got = (0, int(len(pop)), _NA, _NA, _NA)
        what = "g_av" if measure == "pre-post d" else measure
    k, n, value, lo, hi = got
    return {
        "practice_unit": "d" if what == "g_av" else "%",
        "practice_population": label,
        "practice_measure": what,
        "practice_n": k,
        "practice_of": n,
        "practice_value": value,
        "practice_ci_lo": lo,
        "practice_ci_hi": hi,
    }
