"""Counting how well "not on track" flags foretell the end of a course: the arithmetic of
``analysis.expected_recovery.flag_hit_rate`` (pure, vectorised over courses)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.rates import wilson_ci


def first_flag_before_end(track: pd.DataFrame, courses: pd.DataFrame) -> pd.Series:
    """Per course (row of ``courses``): the first flagged session before its last session
    (NaN when never flagged before the end)."""
    flags = track.loc[track["not_on_track"].fillna(False).to_numpy(dtype=bool)]
    flags = flags[["patient_id", "instrument", "session"]].astype({"patient_id": str})
    m = flags.merge(courses[["patient_id", "instrument", "eot_session"]], how="inner")
    m = m.loc[m["session"] < m["eot_session"]]
    first = m.groupby(["patient_id", "instrument"])["session"].min().rename("first")
    got = courses[["patient_id", "instrument"]].merge(first.reset_index(), how="left")
    return got["first"].astype(float)


def hit_table(
    track: pd.DataFrame,
    outcomes: pd.DataFrame,
    instruments: Sequence[str],
    by_sessions: Sequence[int],
    ci_level: float,
) -> pd.DataFrame:
    """The hit-rate rows of some instruments from on-track rows and per-patient outcomes."""
    o = outcomes.loc[
        outcomes["instrument"].astype(str).isin(instruments).to_numpy()
        & outcomes["completer"].fillna(False).to_numpy(dtype=bool)
        & outcomes["reliable_improvement"].notna().to_numpy()
    ]
    courses = pd.DataFrame(
        {
            "patient_id": o["patient_id"].astype(str).to_numpy(),
            "instrument": o["instrument"].astype(str).to_numpy(),
            "eot_session": o["eot_session"].to_numpy(dtype=float, na_value=np.nan),
            "not_improved": ~o["reliable_improvement"].to_numpy(dtype=bool),
        }
    )
    first = first_flag_before_end(track, courses).to_numpy()
    frames = []
    for k in [*by_sessions, None]:  # a few cut-offs, each vectorised over every course
        flagged = np.isfinite(first) & (first <= (np.inf if k is None else k))
        tp = flagged & courses["not_improved"].to_numpy()
        fp = flagged & ~courses["not_improved"].to_numpy()
        parts = courses.assign(n=1, flagged=flagged, tp=tp, fp=fp)
        sums = parts.groupby("instrument")[["n", "not_improved", "flagged", "tp", "fp"]].sum()
        frames.append(sums.reset_index().assign(by_session=k))
    t = pd.concat(frames, ignore_index=True)
    t["by_session"] = t["by_session"].astype("Int64")
    out = pd.DataFrame(
        {
            "instrument": t["instrument"],
            "by_session": t["by_session"],
            "n_courses": t["n"].astype(int),
            "n_not_improved": t["not_improved"].astype(int),
            "n_flagged": t["flagged"].astype(int),
        }
    )
    for name, k, n in (
        ("base_rate", t["not_improved"], t["n"]),
        ("ppv", t["tp"], t["flagged"]),
        ("sensitivity", t["tp"], t["not_improved"]),
        ("false_alarm", t["fp"], t["n"] - t["not_improved"]),
    ):
        k, n = k.to_numpy(dtype=np.int64), n.to_numpy(dtype=np.int64)
        lo, hi = wilson_ci(k, n, ci_level)
        out[f"{name}_n"], out[f"{name}_of"] = k, n
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{name}_pct"] = np.where(n > 0, 100.0 * k / np.maximum(n, 1), np.nan)
        out[f"{name}_ci_lo"], out[f"{name}_ci_hi"] = 100.0 * np.asarray(lo), 100.0 * np.asarray(hi)
    return out


def fold_of(ids: pd.Series, folds: int) -> np.ndarray:
    """A fold number per row from the patient id alone (same patient, same fold)."""
    return (pd.util.hash_array(ids.astype(str).to_numpy(dtype=object)) % folds).astype(int)
