"""Expected recovery per patient (issue 11): the score band a patient is expected to be in at
each treatment session given their baseline, and a "not on track" flag when a score is worse
than the band's worse edge (after Lambert's expected-recovery curves, as OQ-Analyst uses them).

Two sources, per instrument (docs/expected_recovery.md):

- **practice history**, once at least ``min_history`` patients have a baseline and a treatment
  score on the instrument: per session (and protocol, where it has enough patients), the score
  regressed on the baseline score; the band is the ``level`` prediction interval
  (``analysis.expected_fit``);
- **published reference** until then: the routine-care pre–post change (Wakefield et al. 2021,
  from ``data.benchmarks``), spread over the course with most change early, ± the instrument's
  reliable-change threshold. A rough prior, and the output says so.

``flag_hit_rate`` reports how often a flag came before a course that ended without reliable
improvement: cross-fitted on the practice's history, or on a simulated cohort when the history
is too short. Pure: no file reading here (the default reference comes from ``data.benchmarks``,
as the default registry comes from ``data.instruments``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.assessments import Assessments
from analysis.expected_fit import (
    ALL,
    course_rows,
    fit_history,
    history_counts,
    predict_history,
    predict_reference,
    reference_params,
    usual_course,
)
from analysis.expected_hits import fold_of, hit_table
from analysis.outcomes import patient_outcomes
from data.errors import AnalysisError
from data.instruments import Instrument, Registry

__all__ = [
    "ALL",
    "HISTORY",
    "LEVEL",
    "MIN_HISTORY",
    "MIN_PER_SESSION",
    "NO_BAND",
    "REFERENCE",
    "ExpectedModel",
    "Reference",
    "expected_bands",
    "first_flags",
    "flag_hit_rate",
    "on_track",
    "reference_for",
]

HISTORY = "practice history"
REFERENCE = "published reference"
NO_BAND = "none"
#: Patients with a baseline and a treatment score before a practice's own history is used.
MIN_HISTORY = 50
#: Patients a protocol needs at a session for its own fit (else the pooled fit is used).
MIN_PER_SESSION = 20
#: Seed of the simulated cohort that judges the published-reference flags.
SIMULATION_SEED = 20240917
#: Coverage of the band: 0.8 leaves 10% of patients on the expected path above its worse edge.
LEVEL = 0.8


#: Columns of ``ExpectedModel.sources`` (then min_history and level).
SOURCE_COLUMNS = [
    "instrument",
    "source",
    "n_history",
    "d",
    "reference",
    "citation",
    "note",
    "best",
    "sign",
    "mean_severity",
    "sd",
    "sd_from",
    "rc",
]


@dataclass(frozen=True)
class Reference:
    """A published pre–post effect size (d) in routine care and where it comes from."""

    d: float
    label: str  # short citation, e.g. "Wakefield et al. 2021"
    citation: str = ""  # full citation
    benchmark_id: str = ""  # the entry of data/benchmarks.toml it was read from
    note: str = ""  # e.g. "no routine-care figure for PCL-5: the depression figure is used"


def reference_for(instrument: str, benchmarks: object | None = None) -> Reference:
    """The routine-care pre–post d for an instrument from the benchmarks (``data.benchmarks``;
    the built-in file when ``benchmarks`` is None): the entry shown beside this instrument, else
    the depression figure (Wakefield et al. 2021), with a note saying so."""
    from data import benchmarks as bm

    table = benchmarks if benchmarks is not None else bm.default_benchmarks()
    found = table.find(group="routine care", measure="pre-post d", instrument=instrument)
    entry = found[0] if found else table.get(bm.ROUTINE_CARE_PREPOST_D)
    note = "" if found else f"no routine-care figure for {instrument}: the depression figure"
    return Reference(
        d=float(entry.value),
        label=entry.citation.short,
        citation=entry.citation.full,
        benchmark_id=entry.id,
        note=f"{note} is used" if note else "",
    )


@dataclass(frozen=True, eq=False)
class ExpectedModel:
    """Expected scores by session and baseline, per instrument.

    ``sources``: one row per instrument (instrument, source, n_history, min_history, level,
    d, reference, citation, sd, sd_from, rc, note). ``fits``: the history regressions
    (``analysis.expected_fit.fit_history``). ``course``: usual number of sessions per
    instrument × protocol.
    """

    sources: pd.DataFrame
    fits: pd.DataFrame
    course: pd.DataFrame
    registry: Registry
    level: float

    def source(self, instrument: str) -> str:
        """HISTORY, REFERENCE or NO_BAND for one instrument."""
        got = self.sources.loc[self.sources["instrument"] == instrument, "source"]
        return str(got.iloc[0]) if len(got) else NO_BAND

    def describe(self, instrument: str) -> str:
        """Where the band of one instrument comes from, in plain words."""
        row = self.sources.loc[self.sources["instrument"] == instrument]
        if row.empty:
            return f"No expected band for {instrument}: no patient has a baseline on it."
        r = row.iloc[0]
        n, need = int(r["n_history"]), int(r["min_history"])
        if r["source"] == HISTORY:
            return (
                f"Expected band from this practice's own history (n = {n} patients with a "
                f"baseline and treatment scores): where {self.level:.0%} of patients with the "
                "same baseline scored at that session."
            )
        if r["source"] == REFERENCE:
            extra = f" ({r['note']})" if r["note"] else ""
            return (
                f"Expected band from a published reference: routine-care pre–post change "
                f"d = {r['d']:g} ({r['reference']}){extra}, most of it in the first sessions, "
                f"± {r['rc']:g} points (the reliable-change threshold). A rough prior, used "
                f"until the practice has {need} patients with a baseline and treatment scores "
                f"on {instrument} (now {n})."
            )
        return f"No expected band for {instrument}: {r['note']}"

    def predict(self, query: pd.DataFrame) -> pd.DataFrame:
        """Expected score and band for rows with instrument, protocol, session, baseline.
        Columns: expected, lower, upper, worse_edge, source, fit_session, fit_n."""
        q = query.reset_index(drop=True)
        src = q["instrument"].astype(str).map(self.sources.set_index("instrument")["source"])
        src = src.fillna(NO_BAND).to_numpy(dtype=object)
        out = pd.DataFrame(
            {c: np.full(len(q), np.nan) for c in ("expected", "half", "fit_session", "fit_n")}
        )
        hist = src == HISTORY
        if hist.any():
            got = predict_history(q.loc[hist], self.fits)
            for c in ("expected", "half", "fit_session", "fit_n"):
                out.loc[hist, c] = got[c].to_numpy(dtype=float)
        ref = src == REFERENCE
        if ref.any():
            params = self.sources.loc[self.sources["source"] == REFERENCE]
            out.loc[ref, "expected"] = predict_reference(q.loc[ref], params, self.course)
            rc = q.loc[ref, "instrument"].astype(str).map(params.set_index("instrument")["rc"])
            out.loc[ref, "half"] = rc.to_numpy(dtype=float)
        ins = q["instrument"].astype(str)
        keys = ins.unique()
        lo = ins.map({k: self._ins(k).min for k in keys}).to_numpy(dtype=float)
        hi = ins.map({k: self._ins(k).max for k in keys}).to_numpy(dtype=float)
        worse_high = ins.map({k: self._ins(k).higher_is_worse for k in keys}).to_numpy(bool)
        exp = np.clip(out["expected"].to_numpy(dtype=float), lo, hi)
        half = out["half"].to_numpy(dtype=float)
        lower, upper = np.clip(exp - half, lo, hi), np.clip(exp + half, lo, hi)
        none = ~np.isfinite(exp) | ~np.isfinite(half)
        src = np.where(none, NO_BAND, src)
        return pd.DataFrame(
            {
                "expected": exp,
                "lower": lower,
                "upper": upper,
                "worse_edge": np.where(worse_high, upper, lower),
                "source": src,
                "fit_session": out["fit_session"].to_numpy(dtype=float),
                "fit_n": out["fit_n"].to_numpy(dtype=float),
            }
        )

    def table(self) -> pd.DataFrame:
        """The expected score and band per instrument × protocol × baseline severity band ×
        session, at each band's middle score (for export and for reading the model)."""
        frames = []
        for _, r in self.sources.loc[self.sources["source"] != NO_BAND].iterrows():
            ins = self._ins(r["instrument"])  # one row per instrument: not a hot path
            lows = [b[0] for b in ins.bands] or [ins.min]
            highs = [*lows[1:], ins.max]
            names = [b[1] for b in ins.bands] or ["all"]
            mine = self.course.loc[self.course["instrument"] == ins.key]
            top = int(mine["S"].max()) if len(mine) else 6
            grid = pd.MultiIndex.from_product(
                [mine["protocol"].tolist() or [ALL], range(len(lows)), range(1, top + 1)],
                names=["protocol", "band", "session"],
            ).to_frame(index=False)
            grid["severity"] = np.asarray(names, dtype=object)[grid["band"]]
            grid["baseline"] = ((np.asarray(lows) + np.asarray(highs)) / 2.0)[grid["band"]]
            grid.insert(0, "instrument", ins.key)
            frames.append(pd.concat([grid, self.predict(grid)], axis=1).drop(columns="band"))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _ins(self, key: str) -> Instrument:
        return self.registry.get(key)


def _check(level: float, min_history: int) -> None:
    if not 0.0 < float(level) < 1.0:
        raise AnalysisError(f"The band's level must lie between 0 and 1 (e.g. 0.8), not {level}.")
    if isinstance(min_history, bool) or not isinstance(min_history, int) or min_history < 0:
        raise AnalysisError("min_history must be a whole number of patients, 0 or more.")


def expected_bands(
    tidy: pd.DataFrame | Assessments,
    registry: Registry,
    *,
    reference: Reference | Mapping[str, Reference] | None = None,
    min_history: int = MIN_HISTORY,
    min_per_session: int = MIN_PER_SESSION,
    level: float = LEVEL,
    source: str = "auto",
) -> ExpectedModel:
    """The expected-recovery model of each instrument in ``tidy`` (a conformed tidy table).

    ``reference``: the published routine-care d (one for every instrument, or per instrument
    key); None reads it from ``data.benchmarks`` (``reference_for``). ``source``: "auto"
    (history once ``min_history`` patients have a baseline and treatment scores, else the
    reference), or "history" / "reference" to force one (cross-fitting, simulation).
    """
    _check(level, min_history)
    if source not in ("auto", "history", "reference"):
        raise AnalysisError(f"source must be 'auto', 'history' or 'reference', not {source!r}.")
    rows = course_rows(tidy)
    counts = history_counts(rows)
    fits = fit_history(rows, min_per_session=min_per_session, level=level)
    fitted = set(fits["instrument"].astype(str))
    base = rows.loc[rows["session"] == 0].drop_duplicates("group")
    out = []
    for key in sorted(rows["instrument"].astype(str).unique()):  # a few instruments, not rows
        ins = registry.get(key)
        n = int(counts.get(key, 0))
        use_history = (source == "history" or (source == "auto" and n >= min_history)) and (
            key in fitted
        )
        if use_history:
            ref = None
        elif isinstance(reference, Reference):
            ref = reference
        elif isinstance(reference, Mapping):
            ref = reference.get(key)
        else:
            ref = reference_for(key)
        b = base.loc[base["instrument"] == key, "score"].to_numpy(dtype=float)
        why = "" if use_history else f"no published reference was given for {key}"
        row = reference_params(
            ins, None if ref is None else (ref.d, ref.label, ref.citation, ref.note), b, why
        )
        ok_ref = ref is not None and np.isfinite(row["sd"]) and np.isfinite(row["rc"])
        src = HISTORY if use_history else (REFERENCE if ok_ref else NO_BAND)
        out.append({"instrument": key, "source": src, "n_history": n, **row})
    sources = pd.DataFrame(out, columns=SOURCE_COLUMNS)
    sources["min_history"] = min_history
    sources["level"] = level
    return ExpectedModel(
        sources=sources,
        fits=fits,
        course=usual_course(rows),
        registry=registry,
        level=float(level),
    )


def on_track(patient_rows: pd.DataFrame | Assessments, model: ExpectedModel) -> pd.DataFrame:
    """Each baseline and treatment assessment of ``patient_rows`` (one or many patients) beside
    its expected score and band; ``not_on_track`` where the score is worse than the band's worse
    edge (above it when higher is worse), ``first_flag`` on the first such session of each
    patient × instrument. Baselines and scores without a band have <NA> flags."""
    rows = course_rows(patient_rows)
    pred = model.predict(rows[["instrument", "protocol", "session", "baseline"]])
    out = pd.concat([rows.drop(columns=["group", "last_in_session"]), pred], axis=1)
    treat = out["session"].to_numpy(dtype=float) >= 1
    ins = out["instrument"].astype(str)
    worse_high = ins.map({k: model.registry.get(k).higher_is_worse for k in ins.unique()})
    score = out["score"].to_numpy(dtype=float)
    edge = out["worse_edge"].to_numpy(dtype=float)
    worse = np.where(worse_high.to_numpy(dtype=bool), score > edge + 1e-9, score < edge - 1e-9)
    defined = treat & np.isfinite(edge)
    out.loc[~treat, ["expected", "lower", "upper", "worse_edge"]] = np.nan
    out.loc[~treat, "expected"] = out.loc[~treat, "score"]  # the curve starts at the baseline
    out["source"] = np.where(treat, out["source"], "")
    out["not_on_track"] = pd.arrays.BooleanArray(worse & defined, ~defined)
    flagged = out.loc[worse & defined]
    first = flagged.groupby(["patient_id", "instrument"], sort=False)["session"].transform("min")
    out["first_flag"] = False
    out.loc[flagged.index, "first_flag"] = (flagged["session"] == first).to_numpy()
    # one first flag per patient × instrument even when a session has two assessments
    dup = out["first_flag"] & out.duplicated(["patient_id", "instrument", "first_flag"])
    out.loc[dup, "first_flag"] = False
    return out.sort_values(["patient_id", "instrument", "session", "day"], kind="stable")


def first_flags(track: pd.DataFrame) -> pd.DataFrame:
    """Per patient × instrument: the first flagged session and its day (patients never flagged
    are absent)."""
    got = track.loc[track["first_flag"], ["patient_id", "instrument", "session", "day", "score"]]
    return got.reset_index(drop=True)


def flag_hit_rate(
    tidy: pd.DataFrame,
    registry: Registry,
    *,
    outcomes: pd.DataFrame | None = None,
    by_sessions: Sequence[int] = (2, 4),
    folds: int = 5,
    reference: Reference | Mapping[str, Reference] | None = None,
    min_history: int = MIN_HISTORY,
    min_per_session: int = MIN_PER_SESSION,
    level: float = LEVEL,
    simulate_patients: int = 1000,
    seed: int = SIMULATION_SEED,
    ci_level: float = 0.95,
) -> pd.DataFrame:
    """How well "not on track" flags foretell a course that ends without reliable improvement.

    Among completers with an outcome (``analysis.outcomes``): flagged at a session before their
    last and at or before ``by_sessions`` (by_session <NA>: any session before the last), the
    share who ended without reliable improvement (``ppv``) and the share of those who did so
    that were flagged (``sensitivity``); also ``base_rate`` (non-improvers among all courses:
    the PPV of flagging at random) and ``false_alarm`` (improvers flagged). Each as _n, _of,
    _pct, _ci_lo, _ci_hi (Wilson, percent). Instruments on practice history are cross-fitted:
    each patient's flags come from bands fitted on the other ``folds`` − 1 folds (by patient
    id). Instruments still on the published reference are judged on a simulated cohort (the
    demo generator, ``simulate_patients``, ``seed``): ``source`` and ``note`` say which.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise AnalysisError("Cross-fitting needs folds of 2 or more (e.g. 5).")
    ks = tuple(sorted({int(s) for s in by_sessions}))
    if any(s < 1 for s in ks):
        raise AnalysisError("Flags are counted by session 1 or later; remove sessions below 1.")
    common = {"min_per_session": min_per_session, "level": level, "reference": reference}
    model = expected_bands(tidy, registry, min_history=min_history, **common)
    keys = model.sources["instrument"].astype(str).tolist()
    hist = [k for k in keys if model.source(k) == HISTORY]
    frames = []
    if hist:
        mine = tidy.loc[tidy["instrument"].astype(str).isin(hist).to_numpy()]
        fold = fold_of(mine["patient_id"], folds)
        tracks = [
            on_track(
                mine.loc[fold == f],
                expected_bands(mine.loc[fold != f], registry, source="history", **common),
            )
            for f in range(folds)  # a few folds, each fitted and predicted in one go
        ]
        o = outcomes if outcomes is not None else patient_outcomes(tidy, registry)
        got = hit_table(pd.concat(tracks, ignore_index=True), o, hist, ks, ci_level)
        n = model.sources.set_index("instrument")["n_history"]
        got["source"] = "practice history (cross-fitted)"
        got["note"] = [
            f"{n[k]} patients of this practice; each patient's flags come from bands fitted "
            f"on the other {folds - 1} of {folds} groups of patients"
            for k in got["instrument"]
        ]
        frames.append(got)
    rest = [k for k in keys if k not in hist]
    if rest:
        from data.demo.cohort import generate_demo

        sim = generate_demo(simulate_patients, seed)
        sim_model = expected_bands(sim, registry, source="reference", **common)
        track = on_track(sim, sim_model)
        got = hit_table(track, patient_outcomes(sim, registry), rest, ks, ci_level)
        got["source"] = "simulation"
        got["note"] = (
            f"a simulated cohort ({simulate_patients} synthetic patients, demo generator, seed "
            f"{seed}): the practice's own history is too short to judge the flags"
        )
        frames.append(got)
    cols = ["instrument", "by_session", "source", "note"]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    return out[[*cols, *[c for c in out.columns if c not in cols]]]
