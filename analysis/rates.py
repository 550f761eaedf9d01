"""Proportions with their numerator, denominator and Wilson score interval (SPEC section 5).

Wilson (1927); Newcombe (1998), method 3. With p = k/n and z the normal quantile,
centre = (p + z²/2n) / (1 + z²/n), half-width = z/(1 + z²/n) · √(p(1 − p)/n + z²/4n²).
The same interval as R ``prop.test(k, n, correct = FALSE)$conf.int`` and statsmodels
``proportion_confint(method="wilson")``.

Rates are reported as percentages (0–100) with the interval on the same scale, and as the JSON
object of SPEC section 7: ``{"n": k, "of": n, "pct": .., "ci": [lo, hi]}``. A rate with a zero
denominator has no percentage and no interval (``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import ndtri

from analysis.numbers import check_ci_level
from data.errors import AnalysisError


def _counts(values: object, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"The {what} of a rate must be a whole number ({exc}).") from exc
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise AnalysisError(f"The {what} of a rate must be a whole number of 0 or more.")
    return arr


def wilson_ci(
    k: int | Sequence[int] | np.ndarray, n: int | Sequence[int] | np.ndarray, ci_level: float = 0.95
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Wilson score interval for k successes out of n, as proportions in [0, 1].

    Vectorised: ``k`` and ``n`` broadcast against each other. Where n = 0 both ends are NaN.
    Scalars in, floats out.
    """
    check_ci_level(ci_level)
    kk, nn = np.broadcast_arrays(_counts(k, "numerator"), _counts(n, "denominator"))
    if np.any(kk > nn):
        raise AnalysisError("A rate's numerator cannot be larger than its denominator.")
    z = float(ndtri((1.0 + ci_level) / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = kk / nn
        denom = 1.0 + z * z / nn
        centre = (p + z * z / (2.0 * nn)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / nn + z * z / (4.0 * nn * nn))
    lo = np.where(nn > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    hi = np.where(nn > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # The interval reaches 0 (or 1) exactly when no (or every) patient meets the rate.
    lo = np.where((kk == 0) & (nn > 0), 0.0, lo)
    hi = np.where((kk == nn) & (nn > 0), 1.0, hi)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


@dataclass(frozen=True)
class Rate:
    """n of `of` patients, as a percentage with its Wilson interval (0–100)."""

    n: int
    of: int
    pct: float | None
    ci: tuple[float, float] | None

    def to_dict(self) -> dict[str, object]:
        """The SPEC section 7 rate object: {"n", "of", "pct", "ci": [lo, hi]}."""
        return {
            "n": self.n,
            "of": self.of,
            "pct": self.pct,
            "ci": None if self.ci is None else [self.ci[0], self.ci[1]],
        }


def proportion(k: int, n: int, ci_level: float = 0.95) -> Rate:
    """k of n as a Rate; pct and ci are None when n = 0."""
    lo, hi = wilson_ci(k, n, ci_level)
    k_int, n_int = int(k), int(n)
    if n_int == 0:
        return Rate(n=k_int, of=0, pct=None, ci=None)
    return Rate(n=k_int, of=n_int, pct=100.0 * k_int / n_int, ci=(100.0 * lo, 100.0 * hi))


def _flag_values(series: pd.Series, column: str) -> pd.Series:
    """A yes/no column as nullable booleans; 0/1 numbers are accepted."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("boolean")
    if pd.api.types.is_numeric_dtype(series.dtype):
        bad = series.notna() & ~series.isin([0, 1])
        if bad.any():
            raise AnalysisError(
                f"Column '{column}' must hold yes/no values (True/False or 1/0); "
                f"found {series[bad].iloc[0]!r}."
            )
        return series.astype("Float64").astype("boolean")
    try:
        return series.astype("boolean")
    except (TypeError, ValueError) as exc:
        raise AnalysisError(
            f"Column '{column}' must hold yes/no values (True/False or 1/0)."
        ) from exc


def rates_table(
    frame: pd.DataFrame,
    by: Sequence[str],
    flag_cols: Sequence[str],
    *,
    missing: Literal["exclude", "false"] = "exclude",
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Rates of yes/no flags per group, one row per group and flag.

    ``frame`` has one row per patient. Numerator = patients whose flag is true; denominator =
    patients with a known flag (``missing="exclude"``, e.g. completers) or every patient in the
    group, an unknown flag counting as "no" (``missing="false"``, e.g. everyone who started,
    a patient without EOT counting as not improved). Columns: the ``by`` columns, ``flag``,
    ``numerator``, ``denominator``, ``pct``, ``ci_lo``, ``ci_hi`` (0–100; NaN when the
    denominator is 0).
    """
    by = [by] if isinstance(by, str) else list(by)
    flag_cols = [flag_cols] if isinstance(flag_cols, str) else list(flag_cols)
    if missing not in ("exclude", "false"):
        raise AnalysisError(f"missing must be 'exclude' or 'false' (got {missing!r}).")
    absent = [c for c in [*by, *flag_cols] if c not in frame.columns]
    if absent:
        raise AnalysisError(
            f"The table has no column {', '.join(repr(c) for c in absent)} to count rates by."
        )
    flags = {c: _flag_values(frame[c], c) for c in flag_cols}
    parts = {}
    for c, values in flags.items():
        parts[("numerator", c)] = values.fillna(False).astype(np.int64)
        known = values.notna() if missing == "exclude" else pd.Series(True, index=frame.index)
        parts[("denominator", c)] = known.astype(np.int64)
    counts = pd.DataFrame(parts, index=frame.index)
    if by:
        keys = [frame[c] for c in by]
        sums = counts.groupby(keys, sort=True, dropna=False, observed=True).sum()
    else:
        sums = counts.sum().to_frame().T
    sums.columns = pd.MultiIndex.from_tuples(sums.columns, names=["measure", "flag"])
    long = sums.stack("flag", future_stack=True).reset_index()
    long.columns.name = None
    if not by:
        long = long.drop(columns=long.columns[0])
    long["flag"] = pd.Categorical(long["flag"], categories=flag_cols)
    long = long.sort_values([*by, "flag"], kind="stable").reset_index(drop=True)
    long["flag"] = long["flag"].astype(str)
    k = long["numerator"].to_numpy(dtype=np.int64)
    n = long["denominator"].to_numpy(dtype=np.int64)
    lo, hi = wilson_ci(k, n, ci_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        long["pct"] = np.where(n > 0, 100.0 * k / n, np.nan)
    long["ci_lo"], long["ci_hi"] = 100.0 * np.asarray(lo), 100.0 * np.asarray(hi)
    long["numerator"], long["denominator"] = k, n
    return long[[*by, "flag", "numerator", "denominator", "pct", "ci_lo", "ci_hi"]]
