"""Undoing an upload, without losing anything another upload brought (issue 10).

The store's content is always what the uploads still committed, replayed in commit order into
an empty store, would give. An undo marks the upload undone and re-derives the patients it
touched: the other committed uploads' kept rows of those patients are replayed through the
commit's rules (replay.py), and the stored rows of those patients are brought in line with the
result, keeping the id of every row that stays (so the order stored and the audit log's row
numbers hold). So a row another committed upload also brought stays; rows this upload had
replaced, or had kept out as conflicts, come back; days it had moved move back. All in one
transaction, like a commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select, update

from data.store import bulk, codec, kept
from data.store.audit import LOCAL, actor_name, check_undo_allowed
from data.store.engine import StoreError, write_transaction
from data.store.messages import undo_message
from data.store.replay import Replayed, replay
from data.store.tables import (
    COMMITTED,
    MS_PER_DAY,
    NO_DAY,
    NO_SESSION,
    UNDONE,
    assessments,
    instruments,
    uploads,
)
from data.store.writes import (
    ROW_COLUMNS,
    all_rows,
    delete_where_in,
    insert_anchors,
    set_anchor,
    stored_anchors,
    update_rows,
)


@dataclass(frozen=True)
class UndoResult:
    """What an undo did: assessments removed, assessments restored (ones this upload had
    replaced or kept out), patients whose day-0 anchor changed, who undid it, and how many of
    this upload's assessments stay because another committed upload brought them too."""

    upload_id: int
    filename: str
    n_removed: int
    n_restored: int
    n_reanchored: int
    message: str
    undone_by: str = LOCAL
    n_kept: int = 0


def undo(
    engine: Engine,
    upload_id: int,
    *,
    actor: str | None = None,
    allowed_uploader: str | None = None,
    before_commit: Callable[[], None] | None = None,
) -> UndoResult:
    """Undo upload ``upload_id`` as ``actor`` (None or blank: ``local``). StoreError when there
    is no such upload or it is undone; UndoNotAllowed when ``allowed_uploader`` is given and did
    not make the upload (a clinician undoing another person's upload). Nothing changes then."""
    actor = actor_name(actor)
    upload_id = int(upload_id)
    with write_transaction(engine) as conn:
        up = conn.execute(select(uploads).where(uploads.c.id == upload_id)).first()
        if up is None:
            raise StoreError(
                f"There is no upload {upload_id} in this store. List the uploads to find the "
                "number of the one to undo."
            )
        check_undo_allowed(upload_id, up.filename, up.uploader, allowed_uploader)
        if up.status == UNDONE:
            raise StoreError(
                f"Upload {upload_id} ({up.filename}) was already undone on "
                f"{(up.undone_at or '')[:10]}. Nothing was changed."
            )
        patients = _patients_of(conn, [upload_id])
        conn.execute(
            update(uploads)
            .where(uploads.c.id == upload_id)
            .values(status=UNDONE, undone_at=bulk.now(), undone_by=actor)
        )
        change = rederive(conn, patients, upload_id)
        delete_where_in(conn, "upload_patients", "upload_id", [upload_id])
        bulk.audit(
            conn,
            [
                {
                    "action": "undo",
                    "upload_id": upload_id,
                    "detail": {
                        "filename": up.filename,
                        "n_removed": change.n_removed,
                        "n_restored": len(change.restored),
                        "n_reanchored": change.n_reanchored,
                        "n_kept": change.n_kept,
                    },
                }
            ]
            + _restore_entries(conn, upload_id, change.restored),
            actor=actor,
        )
        bulk.bump_content_version(conn)
        if before_commit is not None:
            before_commit()
    n_restored = len(change.restored)
    return UndoResult(
        upload_id=upload_id,
        filename=up.filename,
        n_removed=change.n_removed,
        n_restored=n_restored,
        n_reanchored=change.n_reanchored,
        message=undo_message(upload_id, up.filename, change.n_removed, n_restored, change.n_kept),
        undone_by=actor,
        n_kept=change.n_kept,
    )


def _patients_of(conn: Connection, upload_ids: list[int]) -> pd.Index:
    """The patients whose rows these uploads brought (kept.py)."""
    found: list[str] = []
    for batch in bulk.chunks(upload_ids):
        arr = bulk.fetch_array(
            conn,
            "SELECT DISTINCT patient_id FROM upload_patients "
            f"WHERE upload_id IN ({', '.join('?' * len(batch))})",
            batch,
        )
        found += arr[:, 0].astype(str).tolist() if arr.size else []
    return pd.Index(sorted(set(found)), dtype=object)


@dataclass(frozen=True)
class Change:
    """What re-deriving some patients changed: active rows removed, active rows restored (id,
    key, score), patients whose anchor changed, and the undone upload's rows that stay."""

    n_removed: int
    restored: pd.DataFrame
    n_reanchored: int
    n_kept: int


def rederive(conn: Connection, patients: pd.Index, undone: int) -> Change:
    """Bring the stored rows and anchors of ``patients`` in line with a replay of the uploads
    still committed (``undone`` is already marked undone).

    An upload is stored in the replay when it adds or replaces something, and then all its
    patients see it (its anchors, say); a stored upload holds at least one row. When the replay
    of these patients stores an upload that held no row, or no longer stores one that did, its
    other patients are replayed too, until no upload's fate changes outside the replay.
    """
    while True:
        current = all_rows(conn, patients)
        kept_meta, kept_rows = _kept(conn, patients)
        seen = sorted(set(kept_meta["upload_id"].tolist()))
        held = _rows_held(conn, seen)
        here = current["upload_id"].value_counts()
        elsewhere = {u for u, n in held.items() if n > int(here.get(u, 0))}
        replayed = replay(
            kept_rows,
            kept_meta[["upload_id", "patient_id", "anchor_ms", "is_baseline"]],
            _upload_facts(conn, seen),
            elsewhere,
        )
        flipped = [u for u in seen if (u in held) != (u in replayed.stored or u in elsewhere)]
        wider = patients.union(_patients_of(conn, flipped))
        if len(wider) == len(patients):
            break
        patients = wider
    change = _apply_rows(conn, current, replayed.rows, undone)
    return Change(
        n_removed=change["n_removed"],
        restored=change["restored"],
        n_reanchored=_apply_anchors(conn, patients, replayed),
        n_kept=change["n_kept"],
    )


def _kept(conn: Connection, patients: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The kept (upload, patient) rows of ``patients`` from committed uploads, in upload order,
    and their unpacked rows."""
    names = ["upload_id", "patient_id", "anchor_ms", "is_baseline", "n_rows", "packed"]
    parts = []
    for cond, params in bulk.in_batches(conn, "k.patient_id", list(patients), "text"):
        arr = bulk.fetch_array(
            conn,
            "SELECT k.upload_id, k.patient_id, k.anchor_ms, k.is_baseline, k.n_rows, k.packed "
            f"FROM upload_patients k JOIN uploads u ON u.id = k.upload_id WHERE u.status = ? "
            f"AND {cond}",
            [COMMITTED, *params],
        )
        if arr.size:
            parts.append(arr)
    arr = np.concatenate(parts) if parts else np.empty((0, len(names)), dtype=object)
    meta = pd.DataFrame(
        {
            "upload_id": arr[:, 0].astype(np.int64),
            "patient_id": arr[:, 1].astype(str).astype(object),
            "anchor_ms": pd.array(arr[:, 2], dtype="Int64"),
            "is_baseline": arr[:, 3].astype(bool),
            "n_rows": arr[:, 4].astype(np.int64),
            "packed": [bytes(b) for b in arr[:, 5]],
        }
    ).sort_values("upload_id", kind="stable", ignore_index=True)
    return meta, kept.unpack(meta)


def _upload_facts(conn: Connection, upload_ids: list[int]) -> pd.DataFrame:
    """Index upload_id: ``replace_conflicts`` and ``content_hash`` of each upload."""
    rows = []
    for batch in bulk.chunks(upload_ids):
        rows += conn.execute(
            select(uploads.c.id, uploads.c.replace_conflicts, uploads.c.content_hash).where(
                uploads.c.id.in_(batch)
            )
        ).all()
    return pd.DataFrame(
        {
            "replace_conflicts": [bool(r[1]) for r in rows],
            "content_hash": [str(r[2]) for r in rows],
        },
        index=pd.Index([int(r[0]) for r in rows], name="upload_id"),
    )


def _rows_held(conn: Connection, upload_ids: list[int]) -> dict[int, int]:
    """How many stored rows (replaced or not) each of these uploads holds; uploads holding none
    are left out."""
    total: dict[int, int] = {}
    for batch in bulk.chunks(upload_ids):
        arr = bulk.fetch_array(
            conn,
            "SELECT upload_id, count(*) FROM assessments "
            f"WHERE upload_id IN ({', '.join('?' * len(batch))}) GROUP BY upload_id",
            batch,
        )
        total.update({int(u): int(n) for u, n in arr} if arr.size else {})
    return total


def _content_keys(frame: pd.DataFrame, width: int) -> pd.DataFrame:
    """Hashable content of each row: score bits (NaN as one value) and item answers (padded)."""
    score = frame["score"].to_numpy("float64")
    bits = np.where(np.isnan(score), np.nan, score).view(np.int64)
    items = codec.unpack_items(frame["items"].to_numpy(dtype=object))
    padded = np.full((len(frame), max(width, 1)), -(2**15), dtype="<i2")
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


def _apply_rows(
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


def _apply_anchors(conn: Connection, patients: pd.Index, replayed: Replayed) -> int:
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


def _restore_entries(conn: Connection, upload_id: int, restored: pd.DataFrame) -> list[dict]:
    """One ``restore`` audit entry per assessment that came back."""
    if restored.empty:
        return []
    keys = dict(conn.execute(select(instruments.c.id, instruments.c.key)).all())
    return [
        {
            "action": "restore",
            "upload_id": upload_id,
            "patient_id": p,
            "detail": {
                "instrument": keys.get(int(i), str(i)),
                "session": None if s == NO_SESSION else int(s),
                "day": None if d == NO_DAY else d / MS_PER_DAY,
                "score": x,
                "restored_row": int(rid),
                "from_upload": int(u),
            },
        }
        for p, i, s, d, x, rid, u in zip(
            restored["patient_id"].astype(str),
            restored["instrument_id"],
            restored["session_key"],
            restored["day_ms"],
            restored["score"],
            restored["id"],
            restored["upload_id"],
            strict=True,
        )
    ]
