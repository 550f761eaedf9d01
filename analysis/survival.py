"""Kaplan–Meier curves and the log-rank test for time to reliable improvement (SPEC 4–5).

Each patient brings one time (sessions or days until reliable improvement, or until their last
treatment assessment) and an event flag (1 = improved, 0 = censored: never improved while
followed). The numbers reproduce R's survival package (Therneau):

- ``kaplan_meier`` is ``survfit(Surv(time, event) ~ 1)`` with its defaults: Greenwood variance,
  95% CI on the log scale (``conf.type = "log"``), near-equal times merged as ``aeqSurv`` does.
- the median and its CI are read as ``print.survfit`` reads them: the first time the curve (or
  the lower / upper CI curve) is at or below 0.5; when the curve sits exactly at 0.5 and drops
  later, the median is halfway between the time it reached 0.5 and the time it left it.
- ``logrank_test`` is ``survdiff(Surv(time, event) ~ group)`` with ``rho = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.numbers import check_ci_level
from data.errors import AnalysisError

#: R's default tolerance for "equal" survival values and times (sqrt of machine epsilon).
_TOL = float(np.sqrt(np.finfo(float).eps))

CURVE_COLUMNS = ["time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_lo", "ci_hi"]
SUMMARY_COLUMNS = ["group", "n", "n_events", "median", "median_ci_lo", "median_ci_hi"]
LONG_CURVE_COLUMNS = ["group", "time", "survival", "ci_lo", "ci_hi", "n_risk", "n_censor"]


@dataclass(frozen=True, eq=False)
class KMResult:
    """One Kaplan–Meier curve (R: ``survfit``) with its median as ``print.survfit`` shows it.

    ``curve`` has one row per distinct time (events and censorings), columns ``CURVE_COLUMNS``;
    ``std_err`` is the Greenwood standard error of the survival (as R's ``summary`` prints it).
    ``median`` is None when the curve never reaches 0.5; either CI end is None when its CI curve
    never reaches 0.5 (R prints NA).
    """

    curve: pd.DataFrame
    median: float | None
    median_ci: tuple[float | None, float | None]
    n: int
    n_events: int
    ci_level: float = 0.95


@dataclass(frozen=True, eq=False)
class LogRankResult:
    """Log-rank test (R: ``survdiff``, rho = 0): chi², degrees of freedom and p-value.

    ``table`` has one row per group: ``group``, ``n``, ``observed``, ``expected`` events.
    """

    chi2: float
    df: int
    p: float
    table: pd.DataFrame

    @property
    def observed(self) -> pd.Series:
        """Observed events per group."""
        return self.table.set_index("group")["observed"]

    @property
    def expected(self) -> pd.Series:
        """Expected events per group under no difference between groups."""
        return self.table.set_index("group")["expected"]


# --------------------------------------------------------------------------- input checks


def _as_times(time: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
    s = time if isinstance(time, pd.Series) else pd.Series(np.asarray(time))
    try:
        t = pd.to_numeric(s, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(
            "Some times to reliable improvement are not numbers. Each patient needs a time in "
            "sessions or days; check the session and day columns."
        ) from exc
    bad = int(np.count_nonzero(~np.isfinite(t)))
    if bad:
        raise AnalysisError(
            f"{bad} patient(s) have no usable time to reliable improvement (missing or infinite). "
            "Leave out patients without a baseline or treatment assessment before the survival "
            "analysis, or fill in their session or day."
        )
    if np.any(t < 0):
        raise AnalysisError(
            f"{int(np.count_nonzero(t < 0))} patient(s) have a negative time to reliable "
            "improvement. Times count sessions or days after baseline and must be 0 or more; "
            "check the session and day columns for these patients."
        )
    return t


def _as_events(event: Sequence[object] | np.ndarray | pd.Series, n: int) -> np.ndarray:
    e = event if isinstance(event, pd.Series) else pd.Series(np.asarray(event))
    if len(e) != n:
        raise AnalysisError(
            f"There are {n} times but {len(e)} event flags; each patient needs exactly one of each."
        )
    if e.isna().any():
        raise AnalysisError(
            f"{int(e.isna().sum())} patient(s) have no event flag. Mark each patient 1 (reached "
            "reliable improvement) or 0 (did not, while followed)."
        )
    e = e.infer_objects()
    ok = pd.api.types.is_bool_dtype(e.dtype) or pd.api.types.is_numeric_dtype(e.dtype)
    values = e.to_numpy(dtype=float) if ok else np.array([np.nan])
    if not np.isin(values, (0.0, 1.0)).all():
        raise AnalysisError(
            "The event flag must be 1 / True (reached reliable improvement) or 0 / False "
            "(censored). Recode other values (for example R's 1 = censored, 2 = event) first."
        )
    return values.astype(bool)


def _timefix(t: np.ndarray) -> np.ndarray:
    """Merge times that differ only by rounding error (R: ``aeqSurv``, the ``timefix`` default)."""
    u = np.unique(t)
    if u.size < 2:
        return t
    dy = np.diff(u)
    scale = np.mean(np.abs(u))
    with np.errstate(divide="ignore", invalid="ignore"):
        tied = (dy <= _TOL) | (dy / scale <= _TOL)
    if not tied.any():
        return t
    cuts = u[np.concatenate(([True], ~tied))]
    return cuts[np.searchsorted(cuts, t, side="right") - 1]


def _z(ci_level: float) -> float:
    check_ci_level(ci_level)
    return float(stats.norm.ppf(1 - (1 - ci_level) / 2))


# --------------------------------------------------------------------------- Kaplan–Meier


def _first_below_half(y: np.ndarray, x: np.ndarray) -> float | None:
    """First x where y ≤ 0.5, halfway to the next drop when y is exactly 0.5.

    R: the ``minmin`` helper of ``survival:::survmean`` (used by ``print.survfit``).
    """
    keep = ~np.isnan(y) & (y < 0.5 + _TOL)
    if not keep.any():
        return None
    i = int(np.argmax(keep))
    if abs(y[i] - 0.5) < _TOL:
        lower = np.flatnonzero(y[i + 1 :] < y[i])  # NaN compares False
        if lower.size:
            return float((x[i] + x[i + 1 + lower[0]]) / 2)
    return float(x[i])


def _km(t: np.ndarray, e: np.ndarray, z: float, ci_level: float) -> KMResult:
    """Kaplan–Meier on checked, time-fixed arrays (vectorised; one sort)."""
    if t.size == 0:
        raise AnalysisError("There are no patients to draw a survival curve for.")
    times, inv = np.unique(t, return_inverse=True)
    total = np.bincount(inv, minlength=times.size)
    n_event = np.bincount(inv, weights=e, minlength=times.size).astype(np.int64)
    n_risk = np.cumsum(total[::-1])[::-1]
    surv = np.cumprod(1.0 - n_event / n_risk)
    # Greenwood: var(log S) = Σ d / (n (n − d)); infinite once everyone left has the event.
    left = n_risk - n_event
    term = np.divide(n_event, n_risk * left, out=np.full(times.size, np.inf), where=left > 0)
    se_log = np.sqrt(np.cumsum(term))
    alive = surv > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        log_s = np.where(alive, np.log(np.where(alive, surv, 1.0)), np.nan)
        std_err = np.where(alive, surv * se_log, np.nan)
        ci_lo = np.where(alive, np.exp(log_s - z * se_log), np.nan)
        ci_hi = np.where(alive, np.minimum(np.exp(log_s + z * se_log), 1.0), np.nan)
    curve = pd.DataFrame(
        {
            "time": times,
            "n_risk": n_risk,
            "n_event": n_event,
            "n_censor": total - n_event,
            "survival": surv,
            "std_err": std_err,
            "ci_lo": ci_lo,
            "ci_hi": ci_hi,
        }
    )
    return KMResult(
        curve=curve,
        median=_first_below_half(surv, times),
        median_ci=(_first_below_half(ci_lo, times), _first_below_half(ci_hi, times)),
        n=int(t.size),
        n_events=int(n_event.sum()),
        ci_level=ci_level,
    )


def kaplan_meier(
    time: Sequence[float] | np.ndarray | pd.Series,
    event: Sequence[object] | np.ndarray | pd.Series,
    *,
    ci_level: float = 0.95,
) -> KMResult:
    """Kaplan–Meier estimate S(t) = Π (1 − dᵢ/nᵢ) with Greenwood log-scale CIs.

    Reproduces R ``survfit(Surv(time, event) ~ 1)`` (conf.type = "log"); censorings tied with
    events count as still at risk at that time. The median is the first time with S(t) ≤ 0.5,
    read as ``print.survfit`` does (see the module notes).
    """
    z = _z(ci_level)
    t = _as_times(time)
    e = _as_events(event, t.size)
    return _km(_timefix(t), e, z, ci_level)


def survival_at(km: KMResult, times: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """The curve read at given times (R: ``summary(fit, times = ...)``).

    Columns: time, n_risk (still followed at that time), survival, std_err, ci_lo, ci_hi. Times
    after the last follow-up give NaN survival (R leaves such rows out).
    """
    c = km.curve
    grid = c["time"].to_numpy()
    asked = np.asarray(times, dtype=float)
    step = np.searchsorted(grid, asked, side="right") - 1
    after = np.searchsorted(grid, asked, side="left")
    risk = np.append(c["n_risk"].to_numpy(), 0)[after]
    out = {"time": asked, "n_risk": risk}
    start = {"survival": 1.0, "std_err": 0.0, "ci_lo": 1.0, "ci_hi": 1.0}
    for col, first in start.items():
        values = np.append(c[col].to_numpy(float), first)[step]  # step −1 → before any time
        out[col] = np.where(asked > grid[-1], np.nan, values)
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- by group


def _grouped(
    frame: pd.DataFrame, group_col: str, time_col: str, event_col: str
) -> tuple[list[object], np.ndarray, np.ndarray, np.ndarray]:
    """Group labels (sorted; empty categories kept), codes, time-fixed times and events."""
    missing = [c for c in (group_col, time_col, event_col) if c not in frame.columns]
    if missing:
        raise AnalysisError(
            f"The survival table has no column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(str, frame.columns))}."
        )
    groups = frame[group_col]
    if groups.isna().any():
        raise AnalysisError(
            f"{int(groups.isna().sum())} patient(s) have no {group_col}. Give every patient a "
            f"{group_col} (for example intensive or weekly) before comparing groups."
        )
    t = _as_times(frame[time_col].reset_index(drop=True))
    e = _as_events(frame[event_col].reset_index(drop=True), t.size)
    if isinstance(groups.dtype, pd.CategoricalDtype):
        labels = list(groups.cat.categories)
        codes = groups.cat.codes.to_numpy()
    else:
        codes, uniques = pd.factorize(groups, sort=True)
        labels = list(uniques)
    return labels, np.asarray(codes, dtype=np.int64), _timefix(t), e


def _fit_groups(
    frame: pd.DataFrame, group_col: str, time_col: str, event_col: str, ci_level: float
) -> list[tuple[object, KMResult | None]]:
    z = _z(ci_level)
    labels, codes, t, e = _grouped(frame, group_col, time_col, event_col)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    fits: list[tuple[object, KMResult | None]] = []
    for k, label in enumerate(labels):  # a handful of protocols
        idx = order[bounds[k] : bounds[k + 1]]
        fits.append((label, _km(t[idx], e[idx], z, ci_level) if idx.size else None))
    return fits


def km_by_group(
    frame: pd.DataFrame,
    group_col: str = "protocol",
    time_col: str = "time",
    event_col: str = "event",
    *,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Per-group n, events, median and its CI (R: ``print(survfit(Surv(t, e) ~ group))``).

    One row per group, columns ``SUMMARY_COLUMNS``; a missing median or CI end is NaN. An
    unused category of a categorical group column gives a row with n = 0 and NaN medians.
    """
    rows = []
    for label, km in _fit_groups(frame, group_col, time_col, event_col, ci_level):
        if km is None:
            rows.append((label, 0, 0, np.nan, np.nan, np.nan))
            continue
        lo, hi = km.median_ci
        rows.append((label, km.n, km.n_events, _nan(km.median), _nan(lo), _nan(hi)))
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return out.astype({"n": "int64", "n_events": "int64"})


def km_curves(
    frame: pd.DataFrame,
    group_col: str = "protocol",
    time_col: str = "time",
    event_col: str = "event",
    *,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """Long table of the step curves for charts: one row per group and time, from time 0.

    Columns ``LONG_CURVE_COLUMNS``; each group starts with a row at time 0 (survival 1, everyone
    at risk) so the chart draws the first step. Empty groups have no rows.
    """
    parts = []
    for label, km in _fit_groups(frame, group_col, time_col, event_col, ci_level):
        if km is None:
            continue
        c = km.curve
        start = pd.DataFrame(
            {"time": [0.0], "survival": 1.0, "ci_lo": 1.0, "ci_hi": 1.0, "n_risk": km.n}
        )
        part = pd.concat([start, c[["time", "survival", "ci_lo", "ci_hi", "n_risk", "n_censor"]]])
        part["n_censor"] = part["n_censor"].fillna(0)
        part.insert(0, "group", label)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=LONG_CURVE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"n_risk": "int64", "n_censor": "int64"})[LONG_CURVE_COLUMNS]


def _nan(x: float | None) -> float:
    return np.nan if x is None else x


# --------------------------------------------------------------------------- log-rank


def logrank_test(
    time: Sequence[float] | np.ndarray | pd.Series,
    event: Sequence[object] | np.ndarray | pd.Series,
    group: Sequence[object] | np.ndarray | pd.Series,
) -> LogRankResult:
    """Log-rank test of equal survival across 2 or more groups (R: ``survdiff``, rho = 0).

    At each event time, group j expects d·nⱼ/n events, with hypergeometric covariance
    Vⱼₖ = d (n − d)/(n − 1) · (nⱼ/n)(δⱼₖ − nₖ/n). chi² = (O − E)ᵀ V⁻ (O − E) over the groups with
    any expected events, one group left out (generalised inverse), df = that number of groups − 1.
    With df = 0 (no events, or events in one group only) chi² = 0 and p = 1, as R reports.
    """
    t = _as_times(time)
    e = _as_events(event, t.size)
    g = group.reset_index(drop=True) if isinstance(group, pd.Series) else pd.Series(group)
    if len(g) != t.size:
        raise AnalysisError(
            f"There are {t.size} times but {len(g)} group labels; each patient needs one."
        )
    frame = pd.DataFrame({"group": g, "t": t, "e": e})
    labels, codes, t, e = _grouped(frame, "group", "t", "e")
    size = np.bincount(codes, minlength=len(labels))
    used = np.flatnonzero(size > 0)
    if used.size < 2:
        raise AnalysisError(
            "The log-rank test compares at least two groups with patients; only "
            f"{used.size} group had any. Add patients from another protocol or skip the test."
        )
    remap = np.full(len(labels), -1)
    remap[used] = np.arange(used.size)
    codes, labels = remap[codes], [labels[i] for i in used]
    k = len(labels)
    times, inv = np.unique(t, return_inverse=True)
    cell = inv * k + codes
    total = np.bincount(cell, minlength=times.size * k).reshape(times.size, k)
    deaths = np.bincount(cell, weights=e, minlength=times.size * k).reshape(times.size, k)
    at_risk = np.cumsum(total[::-1], axis=0)[::-1]
    d = deaths.sum(axis=1)
    hit = d > 0
    n_t, d_t = at_risk[hit].sum(axis=1).astype(float), d[hit]
    share = at_risk[hit] / n_t[:, None]
    observed = deaths.sum(axis=0)
    expected = (d_t[:, None] * share).sum(axis=0)
    w = np.divide(d_t * (n_t - d_t), n_t - 1, out=np.zeros_like(n_t), where=n_t > 1)
    var = np.diag((w[:, None] * share).sum(axis=0)) - share.T @ (w[:, None] * share)
    keep = np.flatnonzero(expected > 0)
    df = int(keep.size) - 1
    if df < 1:
        chi2 = 0.0
    else:
        diff = (observed - expected)[keep][1:]
        vv = var[np.ix_(keep, keep)][1:, 1:]
        chi2 = float(diff @ np.linalg.pinv(vv) @ diff)
    p = 1.0 if df < 1 else float(stats.chi2.sf(chi2, df))
    table = pd.DataFrame(
        {"group": labels, "n": size[used], "observed": observed, "expected": expected}
    )
    return LogRankResult(chi2=chi2, df=max(df, 0), p=p, table=table)
