"""Lining up day offsets across uploads without storing real dates (issue rule 4).

Each stored patient has one *anchor*: the moment their stored days count from. A file with
dates comes with its own anchor per patient (its baseline date, or, when the file lacks the
baseline row, the patient's first date in the file), and its days count from that. On commit:

* the file's days are moved onto the stored anchor: day + (file anchor − stored anchor);
* when the file brings the true baseline of a patient whose stored anchor was only their first
  date (provisional), or an earlier first date, the patient's stored days are moved onto the new
  anchor in the same transaction;
* files that give days directly count from the baseline, whose date they do not give.

Anchors are kept in their own table, never beside the assessments, never read by analysis, and
never as real dates: each is stored as its time in milliseconds plus a per-patient shift of up
to ±100 years, derived from the patient id with a secret key (keyed BLAKE2b). Only differences
between two anchors of one patient are ever used, and the shift cancels in them. See
docs/store.md for where the key is kept and what this protects against.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert, select

from data.store.engine import StoreError
from data.store.keys import ANCHOR_KEY_ENV, check_value, key_from_text
from data.store.tables import MS_PER_DAY, NO_DAY, store_meta

#: Largest per-patient shift: 100 years of 365.25 days, in milliseconds.
MAX_SHIFT_MS = 100 * 36525 * MS_PER_DAY // 100

WHY_NO_BASELINE_DATE = (
    "this patient's stored days count from a baseline whose date the store does not know, and "
    "this file has dates but not the patient's baseline row, so its days cannot be lined up. "
    "Upload an export that includes the baseline row, or one that gives days since baseline."
)
WHY_NO_DATES = (
    "this patient's stored days count from their first dated assessment (the baseline row was "
    "missing), and this file gives days without dates, so they cannot be lined up. Upload a "
    "dated export that includes the baseline row first."
)


def anchor_key(conn: Connection, explicit: bytes | str | None = None) -> bytes:
    """The key for patient shifts. The store passes the key it resolved and checked (bytes,
    see keys.py); a text key (or ``$RELIEFCHECK_ANCHOR_KEY``) is hashed and checked against the
    store's check value here. The key itself is never kept in the database."""
    if isinstance(explicit, bytes):
        return explicit
    given = explicit if explicit is not None else os.environ.get(ANCHOR_KEY_ENV, "")
    if not given:
        raise StoreError(
            "This store lines up dated exports with a key kept outside the database, and none "
            f"was given. Set {ANCHOR_KEY_ENV} or restore the key file, then upload again."
        )
    key = key_from_text(given)
    stored = conn.execute(
        select(store_meta.c.value).where(store_meta.c.key == "anchor_key_check")
    ).scalar()
    if stored is None:
        conn.execute(
            insert(store_meta).values(key="anchor_key_check", value=check_value("anchor_key", key))
        )
    elif stored != check_value("anchor_key", key):
        raise StoreError(
            f"{ANCHOR_KEY_ENV} is not the key this store's dated uploads were lined up "
            "with, so days would come out wrong. Set it to the key used before, then upload again."
        )
    return key


def patient_shift_ms(patients: pd.Index, key: bytes) -> np.ndarray:
    """Each patient's secret shift in ms, in [−MAX_SHIFT_MS, MAX_SHIFT_MS] (keyed BLAKE2b of the
    patient id; one hash per distinct patient)."""
    digests = [
        hashlib.blake2b(str(p).encode("utf-8"), key=key, digest_size=8).digest() for p in patients
    ]
    raw = np.frombuffer(b"".join(digests), dtype="<u8") if digests else np.zeros(0, "<u8")
    return (raw % np.uint64(2 * MAX_SHIFT_MS + 1)).astype(np.int64) - MAX_SHIFT_MS


def file_frames(
    tidy: pd.DataFrame,
    anchors: pd.Series,
    from_baseline: pd.Series | None,
    key_for: object,
) -> pd.DataFrame:
    """Per patient in ``tidy``: ``has_days``, ``anchor_ms`` (shifted, <NA> when the file gave
    days directly) and ``is_baseline`` (the file's day 0 is the patient's baseline).

    ``from_baseline`` says per patient whether the anchor is their baseline date; without it,
    a patient's anchor counts as their baseline when the file has a session-0 row at day 0.
    ``key_for`` is called (with no arguments) for the anchor key only when there are anchors.
    """
    pid = tidy["patient_id"].astype(str)
    patients = pd.Index(pid.unique(), name="patient_id")
    has_days = tidy["day"].notna().groupby(pid.to_numpy()).any().reindex(patients, fill_value=False)
    out = pd.DataFrame({"has_days": has_days.to_numpy(dtype=bool)}, index=patients)
    out["anchor_ms"] = pd.array([pd.NA] * len(patients), dtype="Int64")
    out["is_baseline"] = True
    if anchors is None or len(anchors) == 0:
        return out
    when = pd.to_datetime(pd.Series(anchors), errors="coerce")
    if getattr(when.dt, "tz", None) is not None:
        when = when.dt.tz_convert("UTC").dt.tz_localize(None)
    when.index = when.index.astype(str)
    when = when[when.notna() & when.index.isin(patients)]
    when = when[~when.index.duplicated()]
    real_ms = when.to_numpy(dtype="datetime64[ms]").astype(np.int64)
    shifted = real_ms + patient_shift_ms(when.index, key_for())
    out.loc[when.index, "anchor_ms"] = shifted
    if from_baseline is not None and len(from_baseline):
        fb = pd.Series(from_baseline).astype("boolean")
        fb.index = fb.index.astype(str)
        fb = fb[~fb.index.duplicated()]
        flags = fb.reindex(when.index).fillna(False).to_numpy(dtype=bool)
    else:
        at_zero = (tidy["session"] == 0).fillna(False) & (tidy["day"] == 0)
        with_base = set(pid[at_zero.to_numpy(dtype=bool)].unique())
        flags = when.index.isin(list(with_base))
    out.loc[when.index, "is_baseline"] = flags
    return out


def plan(incoming: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """How to line up each incoming patient (vectorised over patients).

    ``incoming``: ``file_frames`` output. ``stored``: patient_anchors rows for those patients
    (index patient_id; ``anchor_ms`` Int64, ``is_baseline`` bool, ``upload_id``). Returns, per
    patient:
    ``in_delta_ms`` (add to the file's day_ms), ``shift_ms`` (add to the stored day_ms),
    ``new_anchor_ms``, ``new_is_baseline``, ``changed`` (the anchor row is created or updated),
    ``existed``, ``old_anchor_ms``, ``old_is_baseline``, ``old_upload_id``, ``reason`` (why the
    patient's rows cannot be lined up; empty when they can) and ``baseline_gap_days`` (two
    baselines days apart).
    """
    idx = incoming.index
    st = stored.reindex(idx)
    existed = idx.isin(stored.index)
    a = st["anchor_ms"].astype("Int64")
    b_s = st["is_baseline"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    f = incoming["anchor_ms"].astype("Int64")
    b_i = incoming["is_baseline"].to_numpy(dtype=bool)
    days = incoming["has_days"].to_numpy(dtype=bool)
    a_known, f_known = a.notna().to_numpy(), f.notna().to_numpy()
    a_v = a.fillna(0).to_numpy(dtype=np.int64)
    f_v = f.fillna(0).to_numpy(dtype=np.int64)

    live = existed & days
    new = ~existed & days
    both_base = live & b_s & b_i
    fill = both_base & ~a_known & f_known  # learn the date of a known baseline
    base_vs_first = live & b_s & ~b_i
    first_vs_base = live & ~b_s & b_i
    first_vs_first = live & ~b_s & ~b_i
    earlier = first_vs_first & (f_v < a_v)
    no_base_date = base_vs_first & ~a_known
    no_dates = first_vs_base & ~f_known
    reanchor = (first_vs_base & f_known) | earlier
    take_file = new | fill | reanchor

    in_delta = np.where((base_vs_first & a_known) | (first_vs_first & ~earlier), f_v - a_v, 0)
    shift = np.where(reanchor, a_v - f_v, 0)
    gap = np.where(both_base & a_known & f_known, np.abs(f_v - a_v) / MS_PER_DAY, 0.0)
    reason = np.select([no_base_date, no_dates], [WHY_NO_BASELINE_DATE, WHY_NO_DATES], "")
    return pd.DataFrame(
        {
            "in_delta_ms": in_delta.astype(np.int64),
            "shift_ms": shift.astype(np.int64),
            "new_anchor_ms": f.where(take_file, a).astype("Int64"),
            "new_is_baseline": np.where(take_file, b_i, b_s),
            "changed": take_file,
            "existed": existed,
            "old_anchor_ms": a,
            "old_is_baseline": pd.array(np.where(existed, b_s, pd.NA), dtype="boolean"),
            "old_upload_id": st["upload_id"].astype("Int64") if "upload_id" in st else pd.NA,
            "reason": reason,
            "baseline_gap_days": gap,
        },
        index=idx,
    )


def shift_days(day_ms: np.ndarray, by_ms: np.ndarray) -> np.ndarray:
    """``day_ms + by_ms``, leaving unknown days (NO_DAY) unknown."""
    return np.where(day_ms == NO_DAY, NO_DAY, day_ms + by_ms)
