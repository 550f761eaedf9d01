"""Days to a confirmed reliable improvement, intensive versus weekly, over a common window: a
description beside the intensive-faster verdict, never its basis.

Days to a *first* reliable improvement favour the protocol assessed more often: improvement is
seen as soon as it is measured, and every extra look at a noisy score is another chance to cross
the threshold by chance. Two rules make the figure fairer, though it stays descriptive:

- **confirmed**: the improvement is met at an assessment and again at the next assessment of the
  same instrument (treatment phase); the event time is the day of the first of the two;
- **common window**: follow-up is cut at W days, the shorter of the two protocols' median day of
  the last treatment assessment, so neither protocol is followed longer than the other (events
  after W are censored at W).

A patient never confirmed is censored at the day of their last treatment assessment (or W).
Kaplan–Meier medians and the log-rank test come from ``analysis.survival`` (R ``survfit``,
``survdiff``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.assessments import Assessments, take
from analysis.matched_time import INTENSIVE, WEEKLY
from analysis.survival import km_by_group, logrank_test

_TOL = 1e-9


def confirmed_times(
    a: Assessments,
    outcomes: pd.DataFrame,
    instrument: str,
    sign: float,
    *,
    unit: str = "days",
    protocols: tuple[str, ...] | None = (INTENSIVE, WEEKLY),
) -> pd.DataFrame:
    """Per patient with a baseline and a reliable-change threshold (of ``protocols``; None:
    every protocol): protocol, time (days or sessions) and event (confirmed improvement), and
    ``last``, the time of their last treatment assessment, before the common window."""
    code = a.instruments.get_loc(instrument)
    if "instrument" in outcomes.columns:
        outcomes = outcomes.loc[(outcomes["instrument"] == instrument).to_numpy(dtype=bool)]
    pid = a.patients_frame()["patient_id"].to_numpy(dtype=object)
    thr_by_pid = outcomes.set_index("patient_id")["rc_threshold"]
    proto_by_pid = outcomes.set_index("patient_id")["protocol"]
    groups = np.flatnonzero(a.group_instrument == code)
    gpid = pid[a.group_patient[groups]]
    thr = np.full(a.n_groups, np.nan)
    thr[groups] = thr_by_pid.reindex(gpid).to_numpy(dtype=float)
    proto = np.full(a.n_groups, None, dtype=object)
    proto[groups] = proto_by_pid.reindex(gpid).to_numpy(dtype=object)
    scored = ~np.isnan(a.score)
    baseline = take(a.score, a.first(scored & (a.session == 0)))
    clock = a.day if unit == "days" else a.session
    treat = np.flatnonzero(scored & (a.session >= 1) & ~np.isnan(clock))
    g = a.group[treat]
    with np.errstate(invalid="ignore"):
        meets = sign * (baseline[g] - a.score[treat]) >= thr[g] - _TOL
    same_next = np.r_[g[1:] == g[:-1], False]
    confirmed = meets & np.r_[meets[1:], False] & same_next
    hit = np.full(a.n_groups, -1, dtype=np.int64)
    first = np.flatnonzero(confirmed)
    if first.size:
        gg = g[first]
        edge = np.r_[True, gg[1:] != gg[:-1]]
        hit[gg[edge]] = treat[first[edge]]
    last = np.full(a.n_groups, -1, dtype=np.int64)
    if treat.size:
        edge = np.r_[g[1:] != g[:-1], True]
        last[g[edge]] = treat[edge]
    keep = (a.group_instrument == code) & ~np.isnan(baseline) & ~np.isnan(thr) & (last >= 0)
    keep &= pd.notna(proto)
    if protocols is not None:
        keep &= np.isin(proto, list(protocols))
    event = hit >= 0
    time = np.where(event, take(clock, hit), take(clock, last))
    return pd.DataFrame(
        {
            "protocol": proto[keep].astype(str),
            "time": time[keep],
            "event": event[keep],
            "last": take(clock, last)[keep],
        }
    )


def in_common_window(times: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Cut follow-up at the shorter of the protocols' median time of the last treatment
    assessment: later events become censored there. Returns the times and the window."""
    window = float(times.groupby("protocol")["last"].median().min())
    late = (times["time"] > window).to_numpy()
    out = times.assign(
        time=np.where(late, window, times["time"].to_numpy(dtype=float)),
        event=times["event"].to_numpy(dtype=bool) & ~late,
    )
    return out, window


def confirmed_improvement(
    tidy: pd.DataFrame | Assessments, outcomes: pd.DataFrame, instrument: str, sign: float
) -> dict[str, float | int | None]:
    """Kaplan–Meier medians of days to confirmed reliable improvement per protocol and the
    log-rank test, within the common window (module docstring). Empty dict when either
    protocol has no such patients."""
    times = confirmed_times(Assessments.build(tidy), outcomes, instrument, sign)
    if times["protocol"].nunique() < 2:
        return {}
    times, window = in_common_window(times)
    km = km_by_group(times.assign(event=times["event"].astype(int))).set_index("group")
    lr = logrank_test(times["time"], times["event"].astype(int), times["protocol"])

    def med(p: str) -> float | None:
        m = float(km.loc[p, "median"])
        return None if math.isnan(m) else m

    return {
        "confirmed_window_days": window,
        "confirmed_median_days_intensive": med(INTENSIVE),
        "confirmed_median_days_weekly": med(WEEKLY),
        "confirmed_events_intensive": int(km.loc[INTENSIVE, "n_events"]),
        "confirmed_events_weekly": int(km.loc[WEEKLY, "n_events"]),
        "confirmed_logrank_chi2": float(lr.chi2),
        "confirmed_logrank_p": float(lr.p),
    }
