"""Undoing an upload: its assessments go, what it replaced comes back, its anchors are put back.

An undo is one transaction, like a commit. When a later upload has since replaced some of this
upload's rows, the rows this upload had replaced pass to that later upload, as if this one had
never happened: undoing the later one then restores them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, delete, select, update

from data.store import bulk
from data.store.audit import LOCAL, actor_name, check_undo_allowed
from data.store.engine import StoreError, write_transaction
from data.store.messages import undo_message
from data.store.tables import (
    KEY_COLUMNS,
    MS_PER_DAY,
    NO_DAY,
    NO_SESSION,
    UNDONE,
    anchor_changes,
    assessments,
    patient_anchors,
    uploads,
)
from data.store.writes import records, set_anchor, stored_anchors


@dataclass(frozen=True)
class UndoResult:
    """What an undo did: assessments removed, replaced assessments restored, patients whose
    day-0 anchor was put back, and who undid it."""

    upload_id: int
    filename: str
    n_removed: int
    n_restored: int
    n_reanchored: int
    message: str
    undone_by: str = LOCAL


def _rows(conn: Connection, where: str, upload_id: int) -> pd.DataFrame:
    arr = bulk.fetch_array(
        conn,
        "SELECT a.id, a.patient_id, i.key, a.session_key, a.day_ms, a.replaced_by, a.score "
        f"FROM assessments a JOIN instruments i ON i.id = a.instrument_id WHERE a.{where} = ?",
        [upload_id],
    )
    names = ["id", *KEY_COLUMNS, "replaced_by", "score"]
    if not arr.size:
        arr = np.empty((0, len(names)), dtype=object)
    frame = pd.DataFrame(arr, columns=names)
    return frame.astype(
        {
            "id": np.int64,
            "patient_id": str,
            "instrument": str,
            "session_key": np.int64,
            "day_ms": np.int64,
            "score": "float64",
        }
    )


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
    with write_transaction(engine) as conn:
        up = conn.execute(select(uploads).where(uploads.c.id == int(upload_id))).first()
        if up is None:
            raise StoreError(
                f"There is no upload {upload_id} in this store. List the uploads to find the "
                "number of the one to undo."
            )
        check_undo_allowed(int(upload_id), up.filename, up.uploader, allowed_uploader)
        if up.status == UNDONE:
            raise StoreError(
                f"Upload {upload_id} ({up.filename}) was already undone on "
                f"{(up.undone_at or '')[:10]}. Nothing was changed."
            )
        mine = _rows(conn, "upload_id", upload_id)
        replaced = _rows(conn, "replaced_by", upload_id)
        handover = _handover(mine, replaced)
        conn.execute(delete(assessments).where(assessments.c.upload_id == int(upload_id)))
        if len(replaced):
            stmt = (
                update(assessments)
                .where(assessments.c.id == bindparam("row_id"))
                .values(replaced_by=bindparam("new_by"))
            )
            conn.execute(
                stmt,
                records(pd.DataFrame({"row_id": replaced["id"], "new_by": handover})),
            )
        n_reanchored = _restore_anchors(conn, upload_id)
        conn.execute(
            update(uploads)
            .where(uploads.c.id == int(upload_id))
            .values(status=UNDONE, undone_at=bulk.now(), undone_by=actor)
        )
        restored = replaced[pd.isna(handover)]
        bulk.audit(
            conn,
            [
                {
                    "action": "undo",
                    "upload_id": int(upload_id),
                    "detail": {
                        "filename": up.filename,
                        "n_removed": len(mine),
                        "n_restored": len(restored),
                        "n_reanchored": n_reanchored,
                    },
                }
            ]
            + [
                {
                    "action": "restore",
                    "upload_id": int(upload_id),
                    "patient_id": r.patient_id,
                    "detail": {
                        "instrument": r.instrument,
                        "session": None if r.session_key == NO_SESSION else int(r.session_key),
                        "day": None if r.day_ms == NO_DAY else r.day_ms / MS_PER_DAY,
                        "score": r.score,
                        "restored_row": int(r.id),
                    },
                }
                for r in restored.itertuples(index=False)
            ],
            actor=actor,
        )
        bulk.bump_content_version(conn)
        if before_commit is not None:
            before_commit()
    return UndoResult(
        upload_id=int(upload_id),
        filename=up.filename,
        n_removed=len(mine),
        n_restored=len(restored),
        n_reanchored=n_reanchored,
        message=undo_message(int(upload_id), up.filename, len(mine), len(restored)),
        undone_by=actor,
    )


def _handover(mine: pd.DataFrame, replaced: pd.DataFrame) -> np.ndarray:
    """For each row this upload replaced: who replaces it once this upload is gone. None (it is
    restored) unless a later upload has replaced this upload's row with the same key."""
    if not len(replaced):
        return np.empty(0, dtype=object)
    keys = pd.MultiIndex.from_frame(mine[list(KEY_COLUMNS)])
    pos = keys.get_indexer(pd.MultiIndex.from_frame(replaced[list(KEY_COLUMNS)]))
    later = mine["replaced_by"].to_numpy(dtype=object)
    out = np.full(len(replaced), None, dtype=object)
    found = pos >= 0
    out[found] = later[pos[found]]
    return np.where(pd.isna(out), None, out)


def _restore_anchors(conn: Connection, upload_id: int) -> int:
    """Put back the anchors this upload set, where no later upload has changed them since; the
    number of patients put back. An anchor this upload created is removed when no assessment of
    the patient is left."""
    changes = pd.read_sql(
        select(anchor_changes).where(anchor_changes.c.upload_id == int(upload_id)), conn
    )
    if changes.empty:
        return 0
    now = stored_anchors(conn, pd.Index(changes["patient_id"].astype(str)))
    setter = now["upload_id"].reindex(changes["patient_id"].astype(str)).to_numpy()
    ours = changes[pd.Series(setter).eq(int(upload_id)).fillna(False).to_numpy(dtype=bool)]
    created = ours[~ours["old_exists"].astype(bool)]
    gone: list[str] = []
    for batch in bulk.chunks(created["patient_id"].astype(str).tolist()):
        left = bulk.fetch_array(
            conn,
            "SELECT DISTINCT patient_id FROM assessments WHERE patient_id IN "
            f"({', '.join('?' * len(batch))})",
            batch,
        )
        still = set(left[:, 0].tolist()) if left.size else set()
        gone += [p for p in batch if p not in still]
    for batch in bulk.chunks(gone):
        conn.execute(delete(patient_anchors).where(patient_anchors.c.patient_id.in_(batch)))
    back = ours[ours["old_exists"].astype(bool)]
    if back.empty:
        return len(gone)
    pids = back["patient_id"].astype(str)
    bulk.move_days(conn, pd.Series(-back["shift_ms"].to_numpy(np.int64), index=pids.to_numpy()))
    set_anchor(
        conn,
        pd.DataFrame(
            {
                "pid": pids.to_numpy(),
                "anchor_ms": pd.array(back["old_anchor_ms"], dtype="Int64"),
                "is_baseline": back["old_is_baseline"].astype(bool).to_numpy(),
                "upload_id": pd.array(back["old_upload_id"], dtype="Int64"),
            }
        ),
    )
    return len(gone) + len(back)
