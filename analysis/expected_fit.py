"""The arithmetic behind ``analysis.expected_recovery``: course rows, the per-session regressions
on a practice's history, and the published reference curve. Pure and vectorised (no loop over
rows or patients); docs/expected_recovery.md states the model in words.

History (per instrument × protocol × session, and pooled over protocols): ordinary least squares
of the score at that session on the baseline score, from each patient's last assessment at that
session. The band is the prediction interval of a new patient with baseline b:
``a + slope·b ± t(df = n − 2) · σ · √(1 + 1/n + (b − mean b)² / Sxx)``.

Reference: the routine-care pre–post change ``d · SD`` (points), scaled by the patient's
distance from the best score relative to the cohort's mean distance (so sicker patients are
expected to move more points, as in routine-care data), capped at that distance, and spread over
the course with a log-shaped dose–response curve ``f(s) = log(1 + s) / log(1 + S)`` (S = the
course's usual number of sessions, f = 1 from then on). The band is ± the reliable-change
threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from analysis.assessments import Assessments, take
from data.errors import ReliefCheckError
from data.instruments import Instrument

#: The pooled fit (every protocol together): the fallback of a protocol with too few patients.
ALL = "(all protocols)"
#: Baselines needed before the cohort's own baseline SD scales the published effect size.
MIN_SD_BASELINES = 10
#: Course length of the reference curve when the data give none (sessions).
FALLBACK_COURSE_SESSIONS = 6


def course_rows(tidy: pd.DataFrame | Assessments) -> pd.DataFrame:
    """Every scored assessment with a session (baseline and treatment; no follow-up), in
    assessment order, with the patient's baseline on that instrument and their protocol.

    Columns: row (position in ``tidy``), group, patient_id, instrument, protocol, session, day,
    score, baseline (NaN without one), last_in_session (the last assessment of the group at
    that session: the one the fits use).
    """
    a = Assessments.build(tidy)
    ok = np.isfinite(a.session) & np.isfinite(a.score) & ~a.follow_up
    baseline = take(a.score, a.first(ok & (a.session == 0)))
    patients = a.patients_frame()
    idx = np.flatnonzero(ok)
    group, session = a.group[idx], a.session[idx]
    last = np.r_[(group[1:] != group[:-1]) | (session[1:] != session[:-1]), True]
    patient = a.group_patient[group]
    protocol = patients["protocol"].astype("string").fillna(ALL).to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "row": a.row[idx],
            "group": group,
            "patient_id": patients["patient_id"].to_numpy(dtype=object)[patient],
            "instrument": np.asarray(a.instruments, dtype=object)[a.group_instrument[group]],
            "protocol": protocol[patient],
            "session": session,
            "day": a.day[idx],
            "score": a.score[idx],
            "baseline": baseline[group] if len(idx) else np.zeros(0),
            "last_in_session": last if len(idx) else np.zeros(0, dtype=bool),
        }
    )


def history_counts(rows: pd.DataFrame) -> pd.Series:
    """Per instrument: patients with a baseline and at least one treatment score."""
    treated = rows.loc[(rows["session"] >= 1) & rows["baseline"].notna()]
    return treated.groupby("instrument")["patient_id"].nunique()


def usual_course(rows: pd.DataFrame) -> pd.DataFrame:
    """The usual number of treatment sessions per instrument × protocol (and pooled, protocol
    ``ALL``): the most common last session among patients with a baseline, ties → the larger."""
    treated = rows.loc[(rows["session"] >= 1) & rows["baseline"].notna()]
    last = treated.groupby("group", sort=False).agg(
        instrument=("instrument", "first"), protocol=("protocol", "first"), S=("session", "max")
    )
    both = pd.concat([last, last.assign(protocol=ALL)], ignore_index=True)
    counts = both.groupby(["instrument", "protocol", "S"]).size().rename("k").reset_index()
    counts = counts.sort_values(["instrument", "protocol", "k", "S"], ascending=False)
    return counts.drop_duplicates(["instrument", "protocol"])[["instrument", "protocol", "S"]]


def fit_history(rows: pd.DataFrame, *, min_per_session: int, level: float) -> pd.DataFrame:
    """Per instrument × protocol (and ``ALL``) × session with at least ``min_per_session``
    patients: n, mean_b, sxx, intercept, slope, sigma and the t quantile of the band."""
    cols = ["instrument", "group", "session", "n", "mean_b", "sxx", "intercept", "slope", "sigma"]
    use = rows.loc[
        (rows["session"] >= 1) & rows["baseline"].notna() & rows["last_in_session"],
        ["instrument", "protocol", "session", "baseline", "score"],
    ]
    if use.empty:
        return pd.DataFrame(columns=[*cols, "tq"])
    pooled_only = use["protocol"].eq(ALL).all()
    both = use if pooled_only else pd.concat([use, use.assign(protocol=ALL)], ignore_index=True)
    keys = [both["instrument"], both["protocol"], both["session"]]
    g = both.groupby(keys, sort=True)
    db = both["baseline"] - g["baseline"].transform("mean")
    dy = both["score"] - g["score"].transform("mean")
    parts = pd.DataFrame(
        {
            "n": 1,
            "b": both["baseline"],
            "y": both["score"],
            "sxx": db * db,
            "sxy": db * dy,
            "syy": dy * dy,
        }
    )
    s = parts.groupby(keys, sort=True).agg(
        n=("n", "sum"),
        mean_b=("b", "mean"),
        mean_y=("y", "mean"),
        sxx=("sxx", "sum"),
        sxy=("sxy", "sum"),
        syy=("syy", "sum"),
    )
    s.index.names = ["instrument", "group", "session"]
    s = s.reset_index()
    s = s.loc[(s["n"] >= max(min_per_session, 3)) & (s["sxx"] > 0)].copy()
    s["slope"] = s["sxy"] / s["sxx"]
    s["intercept"] = s["mean_y"] - s["slope"] * s["mean_b"]
    rss = np.maximum(s["syy"] - s["sxy"] ** 2 / s["sxx"], 0.0)
    s["sigma"] = np.sqrt(rss / (s["n"] - 2))
    s["tq"] = student_t.ppf((1.0 + level) / 2.0, s["n"] - 2) if len(s) else []
    return s[[*cols, "tq"]].reset_index(drop=True)


def _asof(query: pd.DataFrame, fits: pd.DataFrame, group: str, direction: str) -> pd.DataFrame:
    """Each query row's fit of ``group`` (a column of ``query`` or the pooled ``ALL``) at the
    nearest fitted session (at or below it for ``backward``); NaN where none."""
    left = pd.DataFrame(
        {
            "_i": np.arange(len(query)),
            "instrument": query["instrument"].astype(str).to_numpy(),
            "group": query[group].astype(str).to_numpy() if group in query else ALL,
            "session": query["session"].to_numpy(dtype=float),
        }
    ).sort_values("session", kind="stable")
    right = fits.assign(
        instrument=fits["instrument"].astype(str),
        group=fits["group"].astype(str),
        session=fits["session"].astype(float),
        fit_session=fits["session"].astype(float),
    ).sort_values("session", kind="stable")
    got = pd.merge_asof(left, right, on="session", by=["instrument", "group"], direction=direction)
    return got.sort_values("_i").reset_index(drop=True)


def predict_history(query: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """Expected score and band for query rows (instrument, protocol, session, baseline) from
    the fits: the patient's protocol at that session or the nearest session below it, else the
    pooled fit at the nearest session. Columns: expected, half, fit_group, fit_session, fit_n."""
    if fits.empty or query.empty:
        return pd.DataFrame(
            {c: np.full(len(query), np.nan) for c in ("expected", "half", "fit_session", "fit_n")}
        ).assign(fit_group=None)
    own = _asof(query, fits, "protocol", "backward")
    pooled = _asof(query, fits, ALL, "nearest")
    got = own.copy()
    fall_back = own["slope"].isna().to_numpy()
    got.loc[fall_back] = pooled.loc[fall_back]
    b = query["baseline"].to_numpy(dtype=float)
    n, sxx = got["n"].to_numpy(dtype=float), got["sxx"].to_numpy(dtype=float)
    lev = 1.0 + 1.0 / n + (b - got["mean_b"].to_numpy(dtype=float)) ** 2 / sxx
    return pd.DataFrame(
        {
            "expected": got["intercept"].to_numpy(dtype=float) + got["slope"].to_numpy(float) * b,
            "half": got["tq"].to_numpy(dtype=float) * got["sigma"].to_numpy(float) * np.sqrt(lev),
            "fit_group": got["group"].where(got["slope"].notna()).to_numpy(dtype=object),
            "fit_session": got["fit_session"].to_numpy(dtype=float),
            "fit_n": n,
        }
    )


def dose_fraction(session: np.ndarray, course: np.ndarray) -> np.ndarray:
    """Share of the course's expected change reached by ``session``: log(1 + s) / log(1 + S),
    1 from session S on (Lambert-style: most change early)."""
    s = np.clip(np.asarray(session, dtype=float), 0.0, None)
    big_s = np.maximum(np.asarray(course, dtype=float), 1.0)
    return np.minimum(np.log1p(s) / np.log1p(big_s), 1.0)


def predict_reference(
    query: pd.DataFrame, params: pd.DataFrame, course: pd.DataFrame
) -> np.ndarray:
    """Expected score of query rows (instrument, protocol, session, baseline) on the reference
    curve; ``params`` per instrument: d, sd, mean_severity (NaN: no scaling), best, sign (+1
    when higher is worse)."""
    q = query[["instrument", "protocol", "session", "baseline"]].astype(
        {"instrument": str, "protocol": str}
    )
    p = params.set_index("instrument")
    cs = course.assign(instrument=course["instrument"].astype(str))
    own = q.merge(cs, on=["instrument", "protocol"], how="left")["S"].to_numpy(dtype=float)
    pooled = cs.loc[cs["protocol"] == ALL].set_index("instrument")["S"]
    s_all = q["instrument"].map(pooled).to_numpy(dtype=float)
    big_s = np.where(np.isnan(own), s_all, own)
    big_s = np.where(np.isnan(big_s), FALLBACK_COURSE_SESSIONS, big_s)
    ins = q["instrument"]
    b = q["baseline"].to_numpy(dtype=float)
    sign = ins.map(p["sign"]).to_numpy(dtype=float)
    severity = np.abs(b - ins.map(p["best"]).to_numpy(dtype=float))
    mean_sev = ins.map(p["mean_severity"]).to_numpy(dtype=float)
    scale = np.where(np.isfinite(mean_sev) & (mean_sev > 0), severity / mean_sev, 1.0)
    full = ins.map(p["d"] * p["sd"]).to_numpy(dtype=float) * scale
    change = np.minimum(full, severity) * dose_fraction(q["session"].to_numpy(float), big_s)
    return b - sign * change


def reference_params(
    ins: Instrument,
    ref: tuple[float, str, str, str] | None,
    baselines: np.ndarray,
    why_none: str,
) -> dict[str, object]:
    """The published-reference parameters of one instrument: d, SD (the practice's baseline SD
    from ``MIN_SD_BASELINES`` baselines, else the one implied by the reliable-change threshold),
    mean distance from the best score (scaling), band half-width (reliable change). ``ref`` is
    (d, short citation, full citation, note), or None when the history is used."""
    row: dict[str, object] = {"d": np.nan, "reference": "", "citation": "", "note": why_none}
    best = ins.min if ins.higher_is_worse else ins.max
    row.update(best=best, sign=1.0 if ins.higher_is_worse else -1.0, mean_severity=np.nan)
    sd, sd_from = np.nan, ""
    if baselines.size >= MIN_SD_BASELINES:
        sd, sd_from = float(np.std(baselines, ddof=1)), "the practice's baseline SD"
        row["mean_severity"] = float(np.mean(np.abs(baselines - best)))
    elif ins.reliability is not None and ins.reliable_change is not None:
        # the SD implied by the threshold: RC = 1.96 · SD · √(2(1 − r)) (Jacobson & Truax 1991)
        sd = ins.reliable_change / (1.96 * np.sqrt(2.0 * (1.0 - ins.reliability)))
        sd_from = "the SD implied by the reliable-change threshold and reliability"
    try:
        rc = ins.reliable_change_threshold(sd if np.isfinite(sd) and sd > 0 else None)
    except ReliefCheckError:
        rc = np.nan
    row.update(sd=sd, sd_from=sd_from, rc=rc)
    if ref is None:
        return row
    row.update(d=ref[0], reference=ref[1], citation=ref[2], note=ref[3])
    if not (np.isfinite(sd) and np.isfinite(rc)):
        row["note"] = "too few baselines to put the published effect size into points"
    return row
