"""Sorting one upload's rows against what is stored: the rules of a commit, without the database.

A commit (commit.py) reads the stored anchors and rows of the file's patients and calls
``classify``; an undo (replay.py) calls the same function for each upload it replays, on the
store it rebuilds in memory. So an undo re-derives exactly what the commits would have stored.
Rows are in stored form with codes: ``patient_id`` (text), ``instrument_id``, ``session_key``,
``day_ms``, ``score``, ``items`` (packed); days of the incoming rows are in the file's frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.store import anchors, codec
from data.store.tables import STORED_KEY_COLUMNS

KEY = list(STORED_KEY_COLUMNS)


@dataclass(frozen=True)
class Outcome:
    """How one upload's rows sort against the store (positions are into the incoming rows).

    ``plan``: anchors.plan per patient. ``aligned``: the incoming rows with their days lined up
    with the store. ``unaligned``, ``clash`` (set aside: clashing within the file) and ``extra``
    (exact repeats in the file) are row masks; ``new``, ``same`` and ``conflict`` are masks over
    the rows left (``cand``, positions); ``old_ids`` and ``old_scores``: the stored row each
    conflicting row meets."""

    plan: pd.DataFrame
    aligned: pd.DataFrame
    reason: np.ndarray
    unaligned: np.ndarray
    clash: np.ndarray
    extra: np.ndarray
    cand: np.ndarray
    new: np.ndarray
    same: np.ndarray
    conflict: np.ndarray
    old_ids: np.ndarray
    old_scores: np.ndarray
    stored_score: np.ndarray
    replace: bool

    def counts(self) -> dict[str, int]:
        """The commit's counts (CommitResult's n_* fields)."""
        n_conflicts = int(self.conflict.sum())
        return {
            "n_added": int(self.new.sum()),
            "n_already_stored": int(self.same.sum()),
            "n_conflicts": n_conflicts,
            "n_replaced": n_conflicts if self.replace else 0,
            "n_unaligned": int(self.unaligned.sum()),
            "n_file_clashes": int(self.clash.sum()),
            "n_duplicates_in_file": int(self.extra.sum()),
        }

    def changes_anything(self) -> bool:
        """Whether the upload adds or replaces a row (else it is ``nothing-new``)."""
        return bool(self.new.any()) or (self.replace and bool(self.conflict.any()))

    def rows_to_store(self) -> pd.DataFrame:
        """The aligned rows the upload stores: new ones, and with replace the conflicting ones."""
        take = self.new | (self.conflict if self.replace else False)
        return self.aligned.iloc[self.cand[take]]

    def replaced_ids(self) -> np.ndarray:
        """Ids of the stored rows the upload replaces (none without replace)."""
        return self.old_ids if self.replace else self.old_ids[:0]


def same_content(a_score: np.ndarray, b_score: np.ndarray, a_items, b_items) -> np.ndarray:
    """Same score (both missing counts as the same) and the same item answers."""
    scores = (a_score == b_score) | (np.isnan(a_score) & np.isnan(b_score))
    return scores & codec.same_items(codec.unpack_items(a_items), codec.unpack_items(b_items))


def file_clashes(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Among rows with the same key in one file: (clash, extra). ``clash``: the key has rows
    with different content (all of them are set aside); ``extra``: exact repeats after the
    first (dropped)."""
    dup = rows.duplicated(KEY, keep=False).to_numpy()
    clash = np.zeros(len(rows), dtype=bool)
    extra = np.zeros(len(rows), dtype=bool)
    if not dup.any():
        return clash, extra
    part = rows[dup]
    sig = pd.DataFrame(
        {
            **{c: part[c] for c in KEY},
            "score": part["score"].fillna(-np.inf),
            "items": part["items"].map(lambda b: b.hex() if b is not None else ""),
        }
    )
    variants = sig.drop_duplicates().groupby(KEY).size()
    clashing = variants[variants > 1].index
    is_clash = pd.MultiIndex.from_frame(sig[KEY]).isin(clashing)
    clash[np.flatnonzero(dup)[is_clash]] = True
    repeats = sig.duplicated(keep="first").to_numpy() & ~is_clash
    extra[np.flatnonzero(dup)[repeats]] = True
    return clash, extra


def classify(
    incoming: pd.DataFrame,
    frames: pd.DataFrame,
    stored_anchors: pd.DataFrame,
    old: pd.DataFrame,
    replace: bool,
) -> Outcome:
    """Line one upload up with the store and sort its rows.

    ``incoming``: the upload's rows (stored form, days in the file's frame; any index).
    ``frames``: the file's anchors per patient (anchors.file_frames). ``stored_anchors``: the
    store's anchors of those patients. ``old``: the store's rows not replaced of those patients
    (``id`` and the stored-form columns; days as stored). Reads nothing.
    """
    plan = anchors.plan(frames, stored_anchors)
    pid = incoming["patient_id"].astype(str).to_numpy()
    per_row = plan.reindex(pid)
    reason = per_row["reason"].to_numpy()
    unaligned = reason != ""
    inc = incoming.reset_index(drop=True).assign(patient_id=pid)
    inc["day_ms"] = anchors.shift_days(
        inc["day_ms"].to_numpy(np.int64), per_row["in_delta_ms"].to_numpy(np.int64)
    )
    clash = np.zeros(len(inc), dtype=bool)
    extra = np.zeros(len(inc), dtype=bool)
    clash[~unaligned], extra[~unaligned] = file_clashes(inc[~unaligned])
    cand = np.flatnonzero(~unaligned & ~clash & ~extra)
    rows = inc.iloc[cand]
    old_day = old["day_ms"].to_numpy(np.int64)
    if len(old):
        shift = plan["shift_ms"].reindex(old["patient_id"].astype(str)).fillna(0)
        old_day = anchors.shift_days(old_day, shift.to_numpy(np.int64))
    old_keys = pd.MultiIndex.from_arrays(
        [
            old["patient_id"].astype(str).to_numpy(dtype=object),
            old["instrument_id"].to_numpy(np.int64),
            old["session_key"].to_numpy(np.int64),
            old_day,
        ]
    )
    new_keys = pd.MultiIndex.from_arrays(
        [
            rows["patient_id"].to_numpy(dtype=object),
            rows["instrument_id"].to_numpy(np.int64),
            rows["session_key"].to_numpy(np.int64),
            rows["day_ms"].to_numpy(np.int64),
        ]
    )
    pos = old_keys.get_indexer(new_keys) if len(old) else np.full(len(rows), -1)
    matched = pos >= 0
    same = np.zeros(len(rows), dtype=bool)
    old_score = old["score"].to_numpy("float64")
    if matched.any():
        same[matched] = same_content(
            rows["score"].to_numpy("float64")[matched],
            old_score[pos[matched]],
            rows["items"].to_numpy(object)[matched],
            old["items"].to_numpy(object)[pos[matched]],
        )
    conflict = matched & ~same
    stored_score = np.full(len(rows), np.nan)
    stored_score[matched] = old_score[pos[matched]]
    return Outcome(
        plan=plan,
        aligned=inc,
        reason=reason,
        unaligned=unaligned,
        clash=clash,
        extra=extra,
        cand=cand,
        new=~matched,
        same=same,
        conflict=conflict,
        old_ids=old["id"].to_numpy(np.int64)[pos[conflict]],
        old_scores=stored_score[conflict],
        stored_score=stored_score,
        replace=replace,
    )
