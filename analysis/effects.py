"""Standardised effect sizes: within a group (paired patients) and between two protocols.

SPEC section 5. Within a group, change = baseline − EOT (positive = better on a higher-is-worse
instrument) and every figure is on the paired patients only:

- d_z = mean(change) / sd(change), CI from the noncentral t (R ``effectsize::cohens_d(x, y,
  paired = TRUE)``; Lakens 2013, eq. 6);
- d_av = mean(change) / ((sd_baseline + sd_EOT) / 2) (Lakens 2013, eq. 10);
- g_av = d_av · J, J = 1 − 3 / (4·(n − 1) − 1) (Hedges' approximate small-sample factor), CI by
  BCa bootstrap (``analysis.bootstrap``). **g_av is the headline figure**;
- d_rm = d_z · √(2·(1 − r)), r the baseline–EOT correlation (Lakens 2013, eq. 9).

Between protocols, on change scores: Hedges' g with the pooled SD and J on df = n_a + n_b − 2,
CI from the noncentral t with the bounds for d multiplied by J (as R ``effectsize::hedges_g``
does; effectsize uses the exact gamma-function J, SPEC the approximation, which differs by less
than 0.1 % from 10 patients per arm); Welch's t-test and the Welch CI of the mean difference
(R ``t.test(var.equal = FALSE)``).

Undefined figures are NaN (``None`` in ``to_dict()``), never an error: fewer than 2 pairs gives
no SD and no d; g_av needs 3 pairs (J is 0 at 2), its bootstrap interval 4; r (and so d_rm)
needs 3 pairs, since two points always correlate ±1, and spread on both sides; a zero SD (every
patient changed by the same amount, or every score identical) gives no standardised effect, and
is exact: equal values give SD 0, not a rounding residue. Between protocols, g needs
n_a + n_b ≥ 4 and Welch needs 2 per arm. Sample SDs use ddof = 1.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from analysis.bootstrap import DEFAULT_N_BOOT, DEFAULT_SEED, paired_bca
from analysis.numbers import check_ci_level, json_value
from data.errors import AnalysisError

HEADLINE = "g_av"
"""The within-group effect size shown first in every view."""

METHODS = {
    "d_z": "Cohen's d_z = mean(change) / SD(change); 95% CI from the noncentral t distribution",
    "d_av": "Cohen's d_av = mean(change) / mean of baseline and EOT SDs",
    "g_av": "Hedges' g_av = d_av x (1 - 3 / (4(n - 1) - 1)); 95% CI by BCa bootstrap",
    "d_rm": "Cohen's d_rm = d_z x sqrt(2(1 - r)), r the baseline-EOT correlation",
    "g": "Hedges' g on change scores, pooled SD; 95% CI from the noncentral t",
    "welch": "Welch's t-test; mean difference with Welch 95% CI",
}
"""Plain-words method for each figure, for table footnotes and the methods sheet."""


@dataclass(frozen=True)
class PairedEffects:
    """Within-group effect sizes on n paired patients (change = baseline − EOT)."""

    n: int
    baseline_mean: float
    baseline_sd: float
    eot_mean: float
    eot_sd: float
    mean_change: float
    sd_change: float
    r: float
    d_z: float
    d_z_ci: tuple[float, float]
    d_av: float
    g_av: float
    g_av_ci: tuple[float, float]
    d_rm: float
    n_boot_used: int
    n_boot_dropped: int
    ci_level: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: CIs as [lo, hi], NaN as None."""
        return {k: json_value(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class BetweenEffects:
    """Protocol a versus protocol b on one measure (a − b: positive = a improved more)."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    sd_a: float
    sd_b: float
    mean_diff: float
    mean_diff_ci: tuple[float, float]
    g: float
    g_ci: tuple[float, float]
    welch_t: float
    welch_df: float
    welch_p: float
    ci_level: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: CIs as [lo, hi], NaN as None."""
        return {k: json_value(v) for k, v in asdict(self).items()}


def _as_float_array(values: object, what: str) -> np.ndarray:
    """1-D float array with NaN for missing; a clinician-readable error for anything else."""
    try:
        if isinstance(values, pd.Series | pd.Index):
            arr = pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
        else:
            arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"The {what} scores must be numbers ({exc}).") from exc
    if arr.ndim != 1:
        raise AnalysisError(f"The {what} scores must be a single column of numbers.")
    if np.isinf(arr).any():
        raise AnalysisError(f"The {what} scores contain an infinite value; check the export.")
    return arr


def _sd(x: np.ndarray) -> float:
    """Sample SD (ddof = 1); exactly 0 when all values are equal; NaN below 2 values."""
    if x.size < 2:
        return np.nan
    return 0.0 if np.ptp(x) == 0 else float(np.std(x, ddof=1))


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when the denominator is 0 or undefined."""
    return float(num / den) if np.isfinite(den) and den != 0 else np.nan


def hedges_j(df: float | np.ndarray) -> float | np.ndarray:
    """Hedges' small-sample factor J = 1 − 3 / (4·df − 1) (Hedges 1981, approximation).

    NaN below df = 2: at df = 1 the factor is 0 and would report every effect as none.
    """
    df = np.asarray(df, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.where(df >= 2, 1.0 - 3.0 / (4.0 * df - 1.0), np.nan)
    return float(j) if j.ndim == 0 else j


def noncentral_t_ci(t: float, df: float, ci_level: float = 0.95) -> tuple[float, float]:
    """Noncentrality parameters putting ``t`` at the upper and lower (1 − ci)/2 tails.

    Solves P(T ≤ t | df, ncp) = 1 − α/2 (lower) and α/2 (upper) with Brent's method, as
    R ``effectsize:::.get_ncp_t`` and ``MBESS::conf.limits.nct`` do. NaN if t or df is not
    finite or df < 1.
    """
    if not (np.isfinite(t) and np.isfinite(df) and df >= 1):
        return np.nan, np.nan
    alpha = 1.0 - ci_level

    def solve(target: float, direction: float) -> float:
        def f(ncp: float) -> float:
            # the noncentral t CDF (what stats.nct.cdf calls, without its per-call overhead)
            return float(special.nctdtr(df, ncp, t)) - target

        step = 2.0 + abs(t) * 0.5
        inner, outer = t, t + direction * step
        while f(outer) * f(inner) > 0:
            inner, step = outer, step * 2.0
            outer = t + direction * step
            if step > 1e6:
                return np.nan
        return float(optimize.brentq(f, min(inner, outer), max(inner, outer), xtol=1e-12))

    return solve(1.0 - alpha / 2.0, -1.0), solve(alpha / 2.0, 1.0)


def _g_av_statistic(mean_b, var_b, mean_e, var_e, n):
    """g_av from moments, vectorised; NaN where there is no spread."""
    spread = (np.sqrt(var_b) + np.sqrt(var_e)) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        d_av = np.where(spread > 0, (mean_b - mean_e) / spread, np.nan)
    return d_av * hedges_j(n - 1)


def paired_effects(
    baseline: Sequence[float] | np.ndarray | pd.Series,
    eot: Sequence[float] | np.ndarray | pd.Series,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    ci_level: float = 0.95,
) -> PairedEffects:
    """Within-group effect sizes of the change baseline − EOT on paired patients.

    ``baseline[i]`` and ``eot[i]`` belong to the same patient; pairs with either value missing
    are left out and ``n`` counts the complete pairs. The g_av interval is a BCa bootstrap with
    ``n_boot`` resamples from ``seed`` (NaN below 4 pairs); resamples without spread are dropped
    and counted in ``n_boot_dropped``.
    """
    check_ci_level(ci_level)
    if n_boot < 0:
        raise AnalysisError(f"The number of bootstrap resamples cannot be negative ({n_boot}).")
    b = _as_float_array(baseline, "baseline")
    e = _as_float_array(eot, "end-of-treatment")
    if b.size != e.size:
        raise AnalysisError(
            f"Baseline and end-of-treatment scores must come in pairs, one per patient "
            f"(got {b.size} baseline and {e.size} end-of-treatment values)."
        )
    keep = ~(np.isnan(b) | np.isnan(e))
    b, e = b[keep], e[keep]
    n = int(b.size)
    change = b - e
    mean_b = float(b.mean()) if n else np.nan
    mean_e = float(e.mean()) if n else np.nan
    mean_change = float(change.mean()) if n else np.nan
    sd_b, sd_e, sd_change = _sd(b), _sd(e), _sd(change)

    r = np.nan
    if n >= 3 and sd_b > 0 and sd_e > 0:
        r = float(np.clip(np.corrcoef(b, e)[0, 1], -1.0, 1.0))
    d_z = _ratio(mean_change, sd_change)
    d_av = _ratio(mean_change, (sd_b + sd_e) / 2.0)
    g_av = d_av * hedges_j(n - 1)
    d_rm = d_z * math.sqrt(2.0 * (1.0 - r)) if np.isfinite(r) else np.nan

    d_z_ci = (np.nan, np.nan)
    if np.isfinite(d_z):
        lo, hi = noncentral_t_ci(d_z * math.sqrt(n), n - 1, ci_level)
        d_z_ci = (lo / math.sqrt(n), hi / math.sqrt(n))
    boot = paired_bca(b, e, _g_av_statistic, n_boot=n_boot, seed=seed, ci_level=ci_level)
    return PairedEffects(
        n=n,
        baseline_mean=mean_b,
        baseline_sd=sd_b,
        eot_mean=mean_e,
        eot_sd=sd_e,
        mean_change=mean_change,
        sd_change=sd_change,
        r=r,
        d_z=d_z,
        d_z_ci=d_z_ci,
        d_av=d_av,
        g_av=g_av,
        g_av_ci=(boot.lo, boot.hi),
        d_rm=d_rm,
        n_boot_used=boot.n_used,
        n_boot_dropped=boot.n_dropped,
        ci_level=ci_level,
    )


def _flat_row(result: PairedEffects | BetweenEffects) -> dict[str, object]:
    """Dataclass fields as one table row; each CI pair becomes ``<name>_lo`` / ``<name>_hi``."""
    row: dict[str, object] = {}
    for key, value in asdict(result).items():
        if isinstance(value, tuple):
            row[f"{key}_lo"], row[f"{key}_hi"] = value
        else:
            row[key] = value
    return row


def paired_effects_by_group(
    frame: pd.DataFrame,
    by: Sequence[str],
    baseline_col: str = "baseline",
    eot_col: str = "eot",
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """``paired_effects`` for each group of ``frame`` (one row per patient), one row per group.

    Columns: the ``by`` columns, then the PairedEffects fields with each CI split into
    ``_lo`` / ``_hi`` (e.g. ``g_av_ci_lo``). Every group is resampled from the same ``seed``,
    so a group's row equals ``paired_effects`` on that group alone.
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, baseline_col, eot_col] if c not in frame.columns]
    if missing:
        raise AnalysisError(
            f"The paired table has no column {', '.join(repr(c) for c in missing)}; "
            f"it needs {', '.join(repr(c) for c in [*by, baseline_col, eot_col])}."
        )
    groups = frame.groupby(by, sort=True, dropna=False, observed=True) if by else [((), frame)]
    keys, parts = [], []
    for key, part in groups:
        keys.append(key if isinstance(key, tuple) else (key,))
        parts.append((part[baseline_col], part[eot_col]))

    def one(pair: tuple[pd.Series, pd.Series]) -> PairedEffects:
        return paired_effects(pair[0], pair[1], n_boot=n_boot, seed=seed, ci_level=ci_level)

    # The bootstrap's draws and counts let go of Python's lock, so groups resample side by side
    # on a machine's cores; each group keeps its own generator, so the figures do not change.
    workers = min(len(parts), os.cpu_count() or 1) if n_boot > 0 else 1
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, parts))
    else:
        results = [one(pair) for pair in parts]
    rows = [
        {**dict(zip(by, key, strict=True)), **_flat_row(result)}
        for key, result in zip(keys, results, strict=True)
    ]
    return pd.DataFrame(rows, columns=[*by, *_flat_columns(PairedEffects)])


def _flat_columns(cls: type) -> list[str]:
    """Column names ``_flat_row`` gives for a result dataclass."""
    names: list[str] = []
    for f in fields(cls):
        is_pair = str(f.type).startswith("tuple")
        names.extend([f"{f.name}_lo", f"{f.name}_hi"] if is_pair else [f.name])
    return names


def between_effects(
    change_a: Sequence[float] | np.ndarray | pd.Series,
    change_b: Sequence[float] | np.ndarray | pd.Series,
    *,
    ci_level: float = 0.95,
) -> BetweenEffects:
    """Compare two independent samples (e.g. change scores under two protocols), a − b.

    g = (mean_a − mean_b) / SD_pooled · J(n_a + n_b − 2); its CI from the noncentral t at
    t = d·√(n_a·n_b / (n_a + n_b)), df = n_a + n_b − 2, bounds ÷ √(n_a·n_b / (n_a + n_b)) · J.
    Welch: t = diff / √(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite df, two-sided p, and
    diff ± t_(df, 1 − α/2) · SE. Also serves the mean difference at matched days: pass the two
    samples of scores. Missing values are left out; NaN where a figure is undefined.
    """
    check_ci_level(ci_level)
    a = _as_float_array(change_a, "first group's")
    b = _as_float_array(change_b, "second group's")
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n_a, n_b = int(a.size), int(b.size)
    mean_a = float(a.mean()) if n_a else np.nan
    mean_b = float(b.mean()) if n_b else np.nan
    sd_a, sd_b = _sd(a), _sd(b)
    diff = mean_a - mean_b

    df_pooled = n_a + n_b - 2
    g, g_ci = np.nan, (np.nan, np.nan)
    if n_a >= 1 and n_b >= 1 and df_pooled >= 2:
        ss = sum(float(((x - x.mean()) ** 2).sum()) if np.ptp(x) > 0 else 0.0 for x in (a, b))
        d = _ratio(diff, math.sqrt(ss / df_pooled))
        if np.isfinite(d):
            j = float(hedges_j(df_pooled))
            scale = math.sqrt(n_a * n_b / (n_a + n_b))
            lo, hi = noncentral_t_ci(d * scale, df_pooled, ci_level)
            g, g_ci = d * j, (lo / scale * j, hi / scale * j)

    welch_t = welch_df = welch_p = np.nan
    diff_ci = (np.nan, np.nan)
    if n_a >= 2 and n_b >= 2:
        va, vb = sd_a**2 / n_a, sd_b**2 / n_b
        se = math.sqrt(va + vb)
        if se > 0:
            welch_t = diff / se
            welch_df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
            welch_p = float(2.0 * stats.t.sf(abs(welch_t), welch_df))
            half = float(stats.t.ppf((1.0 + ci_level) / 2.0, welch_df)) * se
            diff_ci = (diff - half, diff + half)
    return BetweenEffects(
        n_a=n_a,
        n_b=n_b,
        mean_a=mean_a,
        mean_b=mean_b,
        sd_a=sd_a,
        sd_b=sd_b,
        mean_diff=diff,
        mean_diff_ci=diff_ci,
        g=g,
        g_ci=g_ci,
        welch_t=welch_t,
        welch_df=welch_df,
        welch_p=welch_p,
        ci_level=ci_level,
    )
