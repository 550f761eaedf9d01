"""The PHQ-9 safety item: thoughts of death or self-harm (SPEC sections 3 and 6,
"suicidal-ideation").

Which item that is comes from the registry (``Instrument.safety_item``), never from a column
name. Everything here needs item-level answers; when the data holds totals only, every table is
empty and ``SafetyReport.available`` is False with the reason, so the claim reads "not testable".

Definitions (docs/definitions.md):

- prevalence: per protocol × session, patients whose item is ≥ 1 (``n``) among patients with the
  item answered at that session (``of``); one assessment per patient and session (the earliest);
- resolution: among patients whose baseline assessment has the item ≥ 1, those with the item = 0
  at their session-1 assessment and at their end-of-treatment assessment (the same assessments
  ``patient_outcomes`` uses); ``of`` counts those with the item answered there;
- new onset: among patients whose baseline item is 0, those with the item ≥ 1 at any later
  assessment (treatment or follow-up); ``of`` counts those with at least one later answer;
- latest flags: patients whose latest answered item is ≥ 1, for clinical follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.assessments import Assessments, integer, require_columns, take
from data.instruments import Registry, default_registry
from data.schema import STRING, item_column

DEFAULT_INSTRUMENT = "PHQ-9"
_EMPTY = {
    "patients": {
        "patient_id": STRING,
        "protocol": STRING,
        "baseline_item": "float64",
        "s1_item": "float64",
        "eot_item": "float64",
        "later_positive": "boolean",
        "latest_item": "float64",
        "latest_session": "Int64",
        "latest_day": "float64",
        "latest_phase": STRING,
    },
    "prevalence": {
        "protocol": STRING,
        "session": "Int64",
        "n": "int64",
        "of": "int64",
        "pct": "float64",
    },
    "resolution": {
        "protocol": STRING,
        "timepoint": STRING,
        "n": "int64",
        "of": "int64",
        "pct": "float64",
        "n_baseline_positive": "int64",
        "n_unknown": "int64",
    },
    "new_onset": {
        "protocol": STRING,
        "n": "int64",
        "of": "int64",
        "pct": "float64",
        "n_baseline_zero": "int64",
    },
    "flags": {
        "patient_id": STRING,
        "protocol": STRING,
        "instrument": STRING,
        "item": STRING,
        "value": "Int64",
        "session": "Int64",
        "day": "float64",
        "phase": STRING,
    },
}


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _EMPTY[name].items()})


@dataclass(frozen=True)
class SafetyReport:
    """Every safety table, or empty tables with ``available=False`` and the reason."""

    available: bool
    reason: str
    instrument: str | None
    item: str | None
    patients: pd.DataFrame = field(default_factory=lambda: _empty("patients"), repr=False)
    prevalence: pd.DataFrame = field(default_factory=lambda: _empty("prevalence"), repr=False)
    resolution: pd.DataFrame = field(default_factory=lambda: _empty("resolution"), repr=False)
    new_onset: pd.DataFrame = field(default_factory=lambda: _empty("new_onset"), repr=False)
    flags: pd.DataFrame = field(default_factory=lambda: _empty("flags"), repr=False)


def _source(tidy: pd.DataFrame, reg: Registry, instrument: str) -> tuple[str, str | None, str]:
    """(instrument key, item column or None, reason it is unavailable)."""
    key = reg.resolve(instrument)
    if key is None:
        return instrument, None, f"The instrument registry has no {instrument}."
    ins = reg.get(key)
    if ins.safety_item is None:
        return key, None, f"{key} has no safety item in the instrument registry."
    col = item_column(ins.safety_item)
    rows = (tidy["instrument"] == key).fillna(False).to_numpy(dtype=bool)
    if not rows.any():
        return key, None, f"The data has no {key} assessments."
    if col not in tidy.columns or tidy.loc[rows, col].isna().all():
        return (
            key,
            None,
            (
                f"The data has {key} totals without item-level answers, so item "
                f"{ins.safety_item} (thoughts of death or self-harm) cannot be checked."
            ),
        )
    return key, col, ""


def _rate(frame: pd.DataFrame, keys: list[str], n: str, of: str) -> pd.DataFrame:
    out = frame.groupby(keys, sort=True, dropna=False)[[n, of]].sum().reset_index()
    out = out.rename(columns={n: "n", of: "of"})
    out["n"] = out["n"].astype(np.int64)
    out["of"] = out["of"].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pct"] = np.where(out["of"] > 0, 100.0 * out["n"] / out["of"], np.nan)
    return out


def safety_report(
    tidy: pd.DataFrame | Assessments,
    registry: Registry | None = None,
    *,
    instrument: str = DEFAULT_INSTRUMENT,
) -> SafetyReport:
    """All safety tables for the registry's safety item of ``instrument`` (default PHQ-9)."""
    reg = registry if registry is not None else default_registry()
    frame = tidy.tidy if isinstance(tidy, Assessments) else tidy
    require_columns(frame)
    key, col, reason = _source(frame, reg, instrument)
    if col is None:
        return SafetyReport(available=False, reason=reason, instrument=key, item=None)
    a = Assessments.build(tidy)
    k = a.instruments.get_loc(key)
    mine = a.group_instrument[a.group] == k
    item = frame[col].to_numpy(dtype="float64", na_value=np.nan)[a.row]
    item[~mine] = np.nan
    answered = ~np.isnan(item)
    scored = mine & ~np.isnan(a.score)
    groups = np.flatnonzero(a.group_instrument == k)
    patients = a.patients_frame()

    base = take(item, a.first(scored & (a.session == 0)))[groups]
    s1 = take(item, a.first(scored & (a.session == 1)))[groups]
    eot = take(item, a.last(scored & (a.session >= 1)))[groups]
    later = answered & (a.session != 0)  # treatment and follow-up (no session) assessments
    n_later = a.count(later)[groups]
    n_later_pos = a.count(later & (item >= 1))[groups]
    latest = a.last(answered)[groups]
    per = pd.DataFrame(
        {
            "patient_id": patients["patient_id"].array.take(a.group_patient[groups]),
            "protocol": patients["protocol"].array.take(a.group_patient[groups]),
            "baseline_item": base,
            "s1_item": s1,
            "eot_item": eot,
            "later_positive": pd.arrays.BooleanArray(n_later_pos > 0, n_later == 0),
            "latest_item": take(item, latest),
            "latest_session": integer(take(a.session, latest)),
            "latest_day": take(a.day, latest),
            "latest_phase": a.column("phase").take(np.maximum(latest, 0)),
        }
    )
    per.loc[latest < 0, "latest_phase"] = pd.NA
    return SafetyReport(
        available=True,
        reason="",
        instrument=key,
        item=col,
        patients=per,
        prevalence=_prevalence(a, item, answered, k, patients),
        resolution=_resolution(per),
        new_onset=_new_onset(per),
        flags=_flags(per, key, col),
    )


def _prevalence(a, item, answered, k, patients) -> pd.DataFrame:
    idx = np.flatnonzero(answered & ~np.isnan(a.session))
    g, s = a.group[idx], a.scode[idx]
    first = np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1])] if idx.size else idx.astype(bool)
    idx = idx[first]
    frame = pd.DataFrame(
        {
            "protocol": patients["protocol"].array.take(a.group_patient[a.group[idx]]),
            "session": a.session[idx].astype(np.int64),
            "pos": (item[idx] >= 1).astype(np.int64),
            "one": np.ones(len(idx), dtype=np.int64),
        }
    )
    out = _rate(frame, ["protocol", "session"], "pos", "one")
    out["session"] = out["session"].astype("Int64")
    return out[list(_EMPTY["prevalence"])] if len(out) else _empty("prevalence")


def _resolution(per: pd.DataFrame) -> pd.DataFrame:
    positive = per["baseline_item"] >= 1
    parts = []
    for timepoint, column in (("session 1", "s1_item"), ("end of treatment", "eot_item")):
        v = per[column]
        frame = pd.DataFrame(
            {
                "protocol": per["protocol"],
                "timepoint": timepoint,
                "res": (positive & (v == 0)).astype(np.int64),
                "known": (positive & v.notna()).astype(np.int64),
                "n_baseline_positive": positive.astype(np.int64),
                "n_unknown": (positive & v.isna()).astype(np.int64),
            }
        )
        rate = _rate(frame, ["protocol", "timepoint"], "res", "known")
        extra = frame.groupby(["protocol", "timepoint"], sort=True, dropna=False)[
            ["n_baseline_positive", "n_unknown"]
        ].sum()
        parts.append(rate.merge(extra.reset_index(), on=["protocol", "timepoint"]))
    out = pd.concat(parts, ignore_index=True)
    out["timepoint"] = out["timepoint"].astype(STRING)
    return out[list(_EMPTY["resolution"])] if len(out) else _empty("resolution")


def _new_onset(per: pd.DataFrame) -> pd.DataFrame:
    zero = per["baseline_item"] == 0
    later = per["later_positive"]
    frame = pd.DataFrame(
        {
            "protocol": per["protocol"],
            "new": (zero & later.fillna(False)).astype(np.int64),
            "known": (zero & later.notna()).astype(np.int64),
            "n_baseline_zero": zero.astype(np.int64),
        }
    )
    rate = _rate(frame, ["protocol"], "new", "known")
    extra = frame.groupby(["protocol"], sort=True, dropna=False)[["n_baseline_zero"]].sum()
    out = rate.merge(extra.reset_index(), on="protocol")
    return out[list(_EMPTY["new_onset"])] if len(out) else _empty("new_onset")


def _flags(per: pd.DataFrame, key: str, col: str) -> pd.DataFrame:
    hit = per.loc[(per["latest_item"] >= 1).to_numpy(dtype=bool)]
    out = pd.DataFrame(
        {
            "patient_id": hit["patient_id"].array,
            "protocol": hit["protocol"].array,
            "instrument": pd.array([key] * len(hit), dtype=STRING),
            "item": pd.array([col] * len(hit), dtype=STRING),
            "value": integer(hit["latest_item"].to_numpy(dtype=float)),
            "session": hit["latest_session"].array,
            "day": hit["latest_day"].to_numpy(dtype=float),
            "phase": hit["latest_phase"].array,
        }
    )
    return out


def prevalence(tidy, registry: Registry | None = None, *, instrument=DEFAULT_INSTRUMENT):
    """Item ≥ 1 by protocol × session: protocol, session, n, of, pct (empty if unavailable)."""
    return safety_report(tidy, registry, instrument=instrument).prevalence


def resolution(tidy, registry: Registry | None = None, *, instrument=DEFAULT_INSTRUMENT):
    """Baseline item ≥ 1 resolved to 0 at session 1 and at EOT, per protocol × timepoint."""
    return safety_report(tidy, registry, instrument=instrument).resolution


def new_onset(tidy, registry: Registry | None = None, *, instrument=DEFAULT_INSTRUMENT):
    """Baseline item 0 and ≥ 1 at any later assessment, per protocol."""
    return safety_report(tidy, registry, instrument=instrument).new_onset


def latest_flags(tidy, registry: Registry | None = None, *, instrument=DEFAULT_INSTRUMENT):
    """Patients whose latest answered item is ≥ 1: patient_id, protocol, instrument, item,
    value, session, day, phase (empty if unavailable)."""
    return safety_report(tidy, registry, instrument=instrument).flags
