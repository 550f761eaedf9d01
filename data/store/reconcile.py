"""Bringing the stored rows and anchors of some patients in line with a replay (undo.py).

Rows equal in every column to a replayed row stay as they are; a stored row that is the same
assessment as a replayed one (patient, instrument, session, score, item answers) but differs in
day, labels, owner or replacement is updated in place, keeping its id, so that the order stored
and the audit log's row numbers hold; the other stored rows are deleted and the other replayed
rows inserted. The unique key (among rows not replaced) holds after every statement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from data.store import bulk, codec
from data.store.engine import StoreError
from data.store.replay import Replayed
from data.store.tables import NO_ITEM, assessments
from data.store.writes import (
    ROW_COLUMNS,
    delete_where_in,
    insert_anchors,
    set_anchor,
    stored_anchors,
    update_rows,
)


def _content_keys(frame: pd.DataFrame, width: int) -> pd.DataFrame:
    """Hashable content of each row: score bits (NaN as one value) and item answers (padded)."""
    score = frame["score"].to_numpy("float64")
    bits = np.where(np.isnan(score), np.nan, score).view(np.int64)
    items = codec.unpack_items(frame["items"].to_numpy(dtype=object))
    padded = np.full((len(frame), max(width, 1)), NO_ITEM, dtype="<i2")
    padded[:, : items.shape[1]] = items
    as_bytes = np.ascontiguousarray(padded).view(np.dtype((np.void, padded.shape[1] * 2)))
    return pd.DataFrame({"score_bits": bits, "items_key": as_bytes.ravel().tolist()})


def _pair(cur: pd.DataFrame, want: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """Pairs (``cur``, ``want`` positions) of rows equal on ``on``, the k-th of a group in
    ``cur`` with the k-th in ``want`` (both frames already in the order to pair in)."""
    left = cur[on].assign(_k=cur.groupby(on, sort=False).cumcount(), _c=np.arange(len(cur)))
    right = want[on].assign(_k=want.groupby(on, sort=False).cumcount(), _w=np.arange(len(want)))
    both = left.merge(right, on=[*on, "_k"], how="inner")
    return both[["_c", "_w"]]


def apply_rows(
    conn: Connection, current: pd.DataFrame, want: pd.DataFrame, undone: int
) -> dict[str, object]:
    """Make the stored rows ``current`` into ``want``: rows equal in every column stay as they
    are, the same assessment changed only in day, label, owner or replacement is updated in place
    (keeping its id), the rest is deleted or inserted. Returns the counts for the message."""
    items_width = max(
        codec.unpack_items(current["items"].to_numpy(object)).shape[1],
        codec.unpack_items(want["items"].to_numpy(object)).shape[1],
    )
    cur = current.assign(
        rb=current["replaced_by"].fillna(0).astype(np.int64).to_numpy(),
        **_content_keys(current, items_width),
    )
    want = want.sort_values("seq", ignore_index=True)  # inserted in the replay's order
    wnt = want.assign(rb=want["replaced_by"].to_numpy(np.int64), **_content_keys(want, items_width))
    content = ["patient_id", "instrument_id", "session_key", "score_bits", "items_key"]
    exact = _pair(cur, wnt, [*content, "day_ms", "label_id", "upload_id", "rb"])
    c_left = np.setdiff1d(np.arange(len(cur)), exact["_c"])
    w_left = np.setdiff1d(np.arange(len(wnt)), exact["_w"])
    c_rest = cur.iloc[c_left].sort_values(["day_ms", "id"], kind="stable")
    w_rest = wnt.iloc[w_left].sort_values(["day_ms", "seq"], kind="stable")
    moved = _pair(c_rest, w_rest, content)
    moved_c = c_rest.index.to_numpy()[moved["_c"].to_numpy()]
    moved_w = w_rest.index.to_numpy()[moved["_w"].to_numpy()]
    pairs_c = np.concatenate([exact["_c"].to_numpy(), moved_c])
    pairs_w = np.concatenate([exact["_w"].to_numpy(), moved_w])
    gone = np.setdiff1d(np.arange(len(cur)), pairs_c)
    new = np.setdiff1d(np.arange(len(wnt)), pairs_w)

    cur_active = cur["rb"].to_numpy() == 0
    want_active = wnt["rb"].to_numpy() == 0
    stays = cur_active[pairs_c] & want_active[pairs_w]
    n_removed = int(cur_active.sum() - stays.sum())
    n_kept = int((stays & (cur["upload_id"].to_numpy()[pairs_c] == undone)).sum())
    back_paired = want_active[pairs_w] & ~cur_active[pairs_c]

    ids = cur["id"].to_numpy(np.int64)
    delete_where_in(conn, "assessments", "id", ids[gone].tolist())
    new_ids = _move(conn, cur.iloc[moved_c], wnt.iloc[moved_w], wnt.iloc[new], undone)
    restored_pos = np.concatenate([pairs_w[back_paired], new[want_active[new]]])
    restored_ids = np.concatenate([ids[pairs_c[back_paired]], new_ids[want_active[new]]])
    restored = wnt.iloc[restored_pos].assign(id=restored_ids).sort_values("id")
    return {"n_removed": n_removed, "restored": restored, "n_kept": n_kept}


def _move(
    conn: Connection, cur: pd.DataFrame, want: pd.DataFrame, new: pd.DataFrame, undone: int
) -> np.ndarray:
    """Update rows ``cur`` into their pairs ``want`` (setting only the columns that change) and
    insert ``new``; the new rows' ids. The unique key (among rows not replaced) must hold after
    every statement: rows whose key changes, or that come back from being replaced, are first
    parked outside it (marked replaced by the undone upload); the other rows, whose key stays,
    are updated before the inserts (some of them leave the key: replaced by another upload);
    the parked rows land last. Rows not replaced then only ever belong to the end state."""
    ids = cur["id"].to_numpy(np.int64)
    change = {
        "upload_id": cur["upload_id"].to_numpy() != want["upload_id"].to_numpy(),
        "replaced_by": cur["rb"].to_numpy() != want["rb"].to_numpy(),
        "day_ms": cur["day_ms"].to_numpy() != want["day_ms"].to_numpy(),
        "label_id": cur["label_id"].to_numpy() != want["label_id"].to_numpy(),
        "items": np.array(
            [a != b for a, b in zip(cur["items"], want["items"], strict=True)], dtype=bool
        ),
    }
    park = change["day_ms"] | ((cur["rb"].to_numpy() != 0) & (want["rb"].to_numpy() == 0))
    update_rows(conn, "assessments", "id", pd.DataFrame({"replaced_by": undone, "id": ids[park]}))
    change["replaced_by"] = change["replaced_by"] | park
    values = {
        "upload_id": want["upload_id"].to_numpy(np.int64),
        "replaced_by": pd.array(np.where(want["rb"] == 0, None, want["rb"]), dtype="Int64"),
        "day_ms": want["day_ms"].to_numpy(np.int64),
        "label_id": want["label_id"].to_numpy(np.int64),
        "items": want["items"].to_numpy(dtype=object),
    }
    pattern = sum(change[c].astype(np.int64) << k for k, c in enumerate(values))
    _set(conn, ids, values, np.where(park, 0, pattern))
    new_ids = _insert(conn, new)
    _set(conn, ids, values, np.where(park, pattern, 0))
    return new_ids


def _set(conn: Connection, ids: np.ndarray, values: dict, pattern: np.ndarray) -> None:
    """Set the changed columns (bit k of ``pattern``: the k-th of ``values``) of rows ``ids``:
    one statement per combination of changed columns (most often only the owner)."""
    for mask in np.unique(pattern[pattern > 0]):
        pick = pattern == mask
        cols = [c for k, c in enumerate(values) if mask >> k & 1]
        frame = pd.DataFrame({c: values[c][pick] for c in cols})
        update_rows(conn, "assessments", "id", frame.assign(id=ids[pick]))


def _insert(conn: Connection, rows: pd.DataFrame) -> np.ndarray:
    """Insert replayed rows, in their order; their new ids, in the same order."""
    if rows.empty:
        return np.zeros(0, dtype=np.int64)
    high = conn.execute(select(func.max(assessments.c.id))).scalar() or 0
    score = rows["score"].to_numpy("float64")
    rb = rows["rb"].to_numpy(np.int64)
    columns = [
        rows["upload_id"].to_numpy(np.int64).tolist(),
        np.where(rb == 0, None, rb).tolist(),
        rows["patient_id"].astype(str).tolist(),
        rows["instrument_id"].to_numpy(np.int64).tolist(),
        rows["session_key"].to_numpy(np.int64).tolist(),
        rows["day_ms"].to_numpy(np.int64).tolist(),
        rows["label_id"].to_numpy(np.int64).tolist(),
        np.where(np.isnan(score), None, score.astype(object)).tolist(),
        rows["items"].to_numpy(dtype=object).tolist(),
    ]
    bulk.insert_columns(conn, "assessments", ROW_COLUMNS, columns)
    # Ids are handed out in insertion order on both back-ends (under the write lock).
    arr = bulk.fetch_array(conn, "SELECT id FROM assessments WHERE id > ? ORDER BY id", [high])
    got = arr[:, 0].astype(np.int64) if arr.size else np.zeros(0, dtype=np.int64)
    if len(got) != len(rows):
        raise StoreError(
            "The outcome store changed while an undo was being written; nothing was changed. "
            "Try the undo again."
        )
    return got


def apply_anchors(conn: Connection, patients: pd.Index, replayed: Replayed) -> int:
    """Bring the anchors of ``patients`` in line with the replay; patients whose day-0 anchor
    changed (created, moved, or removed)."""
    now = stored_anchors(conn, patients)
    want = replayed.anchors
    gone = now.index.difference(want.index)
    added = want.index.difference(now.index)
    both = want.index.intersection(now.index)
    a, b = now.loc[both], want.loc[both]
    same_anchor = (a["anchor_ms"].fillna(-1) == b["anchor_ms"].fillna(-1)) & (
        a["is_baseline"].fillna(True) == b["is_baseline"].fillna(True)
    )
    same_setter = a["upload_id"].fillna(-1) == b["upload_id"].fillna(-1)
    moved = both[~same_anchor.to_numpy(dtype=bool)]
    reset = both[~(same_anchor & same_setter).to_numpy(dtype=bool)]
    delete_where_in(conn, "patient_anchors", "patient_id", list(gone))
    set_anchor(conn, _anchor_rows(want.loc[reset]))
    insert_anchors(conn, _anchor_rows(want.loc[added]))
    return len(gone) + len(added) + len(moved)


def _anchor_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pid": frame.index.astype(str),
            "anchor_ms": frame["anchor_ms"].astype("Int64").array,
            "is_baseline": frame["is_baseline"].astype(bool).array,
            "upload_id": frame["upload_id"].astype("Int64").array,
        }
    )
