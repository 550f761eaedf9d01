"""Mean score trajectories by session and by days since baseline, ready to chart (SPEC section 1:
"charts them by session number, by days since baseline and by protocol").

Each point is a mean over patients (each patient counted once per point) with its t-based 95 %
confidence interval: mean ± t(0.975, n − 1) · sd / √n, sd with ddof = 1 (R: ``t.test(x)$conf.int``).
Points with one patient have no sd, se or CI (NaN).

- ``by_session``: baseline and treatment assessments (session 0, 1, 2 …). A patient with two
  assessments at one session contributes the earliest (assessment order). Follow-up
  assessments have no session and appear in ``by_day`` only.
- ``by_day``: every scored assessment with a known day ≥ 0, follow-up included, grouped into day
  bins (``day_bins``); a patient with several assessments in one bin contributes their mean.
- ``matched_days``: per patient × instrument, the change from baseline at the post-baseline
  assessment nearest day 14 (and 28) within ± tol days, for between-protocol comparisons.

The protocol is the patient's protocol (see ``analysis.assessments``). Each function takes the
tidy table or its ``Assessments`` (to share one sort between several calls).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.assessments import Assessments, take
from data.errors import AnalysisError
from data.instruments import Registry, default_registry
from data.schema import STRING

#: Day-bin upper edges up to four weeks: day 0, 1–3, 4–7, 8–14, 15–21, 22–28.
EARLY_DAY_EDGES: tuple[float, ...] = (0, 3, 7, 14, 21, 28)
#: After four weeks, bins end at day 60, 90, 120 … (monthly).
MONTH_DAYS = 30
CONFIDENCE = 0.95
_STATS = ["n", "mean", "sd", "se", "ci_lo", "ci_hi"]


def _summarise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """n, mean, sd (ddof = 1), se and the t-based CI of ``score`` per ``keys``."""
    grouped = frame.groupby(keys, sort=True, dropna=False, observed=True)["score"]
    res = grouped.agg(n="count", mean="mean", sd="std").reset_index()
    n = res["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = res["sd"].to_numpy(dtype=float) / np.sqrt(n)
        tcrit = np.where(n >= 2, stats.t.ppf(0.5 + CONFIDENCE / 2, np.maximum(n - 1, 1)), np.nan)
    res["se"] = se
    res["ci_lo"] = res["mean"] - tcrit * se
    res["ci_hi"] = res["mean"] + tcrit * se
    res["n"] = res["n"].astype(np.int64)
    return res


def _labels(a: Assessments) -> tuple[pd.api.extensions.ExtensionArray, ...]:
    """Instrument and patient protocol of every group."""
    patients = a.patients_frame()
    instrument = pd.array(list(a.instruments), dtype=STRING).take(a.group_instrument)
    return instrument, patients["protocol"].array.take(a.group_patient), patients


def by_session(tidy: pd.DataFrame | Assessments) -> pd.DataFrame:
    """Mean score per instrument × protocol × session (baseline and treatment only).

    Columns: instrument, protocol, session, n, mean, sd, se, ci_lo, ci_hi.
    """
    a = Assessments.build(tidy)
    instrument, protocol, _ = _labels(a)
    idx = np.flatnonzero(~np.isnan(a.score) & ~np.isnan(a.session))
    g, s = a.group[idx], a.scode[idx]
    first = np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1])] if idx.size else idx.astype(bool)
    idx, g = idx[first], g[first]
    frame = pd.DataFrame(
        {
            "instrument": instrument.take(g),
            "protocol": protocol.take(g),
            "session": a.session[idx].astype(np.int64),
            "score": a.score[idx],
        }
    )
    out = _summarise(frame, ["instrument", "protocol", "session"])
    out["session"] = out["session"].astype("Int64")
    return out[["instrument", "protocol", "session", *_STATS]]


def day_bins(max_day: float = 0.0, edges: Sequence[float] | None = None) -> pd.DataFrame:
    """The day bins: label, lo, hi (a bin holds lo < day ≤ hi; the first holds 0 ≤ day ≤ hi)
    and midpoint.

    Default edges: 0, 3, 7, 14, 21, 28, then every MONTH_DAYS days from 60 until ``max_day`` is
    covered. Labels speak in whole days ("1–3" holds 0 < day ≤ 3, so day 0.25 = six hours is in
    "1–3"); the midpoint of a whole-day bin lo < day ≤ hi is (lo + 1 + hi) / 2, e.g. 2 for 1–3.
    """
    if edges is None:
        top = max(float(max_day), EARLY_DAY_EDGES[-1])
        months = np.arange(2 * MONTH_DAYS, np.ceil(top / MONTH_DAYS) * MONTH_DAYS + 1, MONTH_DAYS)
        edges = [*EARLY_DAY_EDGES, *months[months > EARLY_DAY_EDGES[-1]]]
    e = np.asarray(edges, dtype=float)
    if e.size == 0 or np.any(np.diff(e) <= 0) or e[0] < 0:
        raise AnalysisError("Day bins must be increasing day numbers starting at 0 or later.")
    lo = np.r_[0.0, e[:-1]]
    whole = (e == np.round(e)) & (lo == np.round(lo))
    labels, mids = [], []
    for i, (a_, b_) in enumerate(zip(lo, e, strict=True)):
        if i == 0:
            labels.append(f"{b_:g}" if b_ == 0 else f"0–{b_:g}")
            mids.append(b_ / 2)
        elif whole[i]:
            labels.append(f"{a_ + 1:g}–{b_:g}" if b_ > a_ + 1 else f"{b_:g}")
            mids.append((a_ + 1 + b_) / 2)
        else:
            labels.append(f"{a_:g}–{b_:g}")
            mids.append((a_ + b_) / 2)
    return pd.DataFrame({"label": labels, "lo": lo, "hi": e, "midpoint": mids})


def by_day(tidy: pd.DataFrame | Assessments, bins: Sequence[float] | None = None) -> pd.DataFrame:
    """Mean score per instrument × protocol × day bin, follow-up included.

    ``bins``: upper edges (see ``day_bins``); days beyond the last edge are left out.
    Columns: instrument, protocol, bin (label), day_lo, day_hi, midpoint, n, mean, sd, se,
    ci_lo, ci_hi; bins in day order.
    """
    a = Assessments.build(tidy)
    instrument, protocol, _ = _labels(a)
    ok = ~np.isnan(a.score) & (a.day >= 0)
    table = day_bins(float(np.nanmax(a.day[ok])) if ok.any() else 0.0, bins)
    hi = table["hi"].to_numpy()
    idx = np.flatnonzero(ok)
    b = np.searchsorted(hi, a.day[idx], side="left")
    keep = b < len(hi)
    idx, b = idx[keep], b[keep]
    # each patient once per bin: their mean score in that bin
    cell, first, inv = np.unique(a.group[idx] * len(hi) + b, return_index=True, return_inverse=True)
    sums = np.bincount(inv, weights=a.score[idx], minlength=len(cell))
    counts = np.bincount(inv, minlength=len(cell))
    g, bb = a.group[idx][first], b[first]
    frame = pd.DataFrame(
        {
            "instrument": instrument.take(g),
            "protocol": protocol.take(g),
            "bin_index": bb,
            "score": sums / np.maximum(counts, 1),
        }
    )
    out = _summarise(frame, ["instrument", "protocol", "bin_index"])
    pos = out["bin_index"].to_numpy()
    out["bin"] = pd.array(table["label"].to_numpy()[pos], dtype=STRING)
    out["day_lo"] = table["lo"].to_numpy()[pos]
    out["day_hi"] = hi[pos]
    out["midpoint"] = table["midpoint"].to_numpy()[pos]
    return out[["instrument", "protocol", "bin", "day_lo", "day_hi", "midpoint", *_STATS]]


def matched_days(
    tidy: pd.DataFrame | Assessments,
    registry: Registry | None = None,
    *,
    days: Sequence[float] = (14, 28),
    tol: float = 3.0,
) -> pd.DataFrame:
    """Change from baseline at the assessment nearest each target day, within ± ``tol`` days.

    Candidates are post-baseline assessments (any session other than 0, follow-up included)
    with a known day; the nearest to the target wins, ties go to the earlier one. Patients
    without a baseline or without an assessment in the window are left out. ``change`` is
    Instrument.improvement(baseline, score) (positive = better). Columns: patient_id,
    instrument, protocol, target_day, baseline, day, score, change.
    """
    reg = registry if registry is not None else default_registry()
    a = Assessments.build(tidy)
    instrument, protocol, patients = _labels(a)
    scored = ~np.isnan(a.score)
    baseline = take(a.score, a.first(scored & (a.session == 0)))
    sign = np.array([reg.get(k).improvement(1.0, 0.0) for k in a.instruments], dtype=float)
    cand = np.flatnonzero(scored & ~np.isnan(a.day) & (a.session != 0))
    cand = cand[~np.isnan(baseline[a.group[cand]])]
    parts = []
    for target in days:
        dist = np.abs(a.day[cand] - target)
        inside = dist <= tol + 1e-9
        r, gg = cand[inside], a.group[cand[inside]]
        order = np.lexsort((dist[inside], gg))
        r, gg = r[order], gg[order]
        first = np.r_[True, gg[1:] != gg[:-1]] if gg.size else gg.astype(bool)
        r, gg = r[first], gg[first]
        score = a.score[r]
        parts.append(
            pd.DataFrame(
                {
                    "patient_id": patients["patient_id"].array.take(a.group_patient[gg]),
                    "instrument": instrument.take(gg),
                    "protocol": protocol.take(gg),
                    "target_day": np.full(len(r), float(target)),
                    "baseline": baseline[gg],
                    "day": a.day[r],
                    "score": score,
                    "change": sign[a.group_instrument[gg]] * (baseline[gg] - score),
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
