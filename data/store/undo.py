"""Undoing an upload, without losing anything another upload brought (issue 10).

The store's content is always what the uploads still committed, replayed in commit order into
an empty store, would give. An undo marks the upload undone and re-derives the patients it
touched: the other committed uploads' kept rows of those patients are replayed through the
commit's rules (replay.py), and the stored rows of those patients are brought in line with the
result (reconcile.py), keeping the id of every row that stays (so the order stored and the audit
log's row numbers hold). So a row another committed upload also brought stays; rows this upload had
replaced, or had kept out as conflicts, come back; days it had moved move back. All in one
transaction, like a commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select, update

from data.store import bulk, kept
from data.store.audit import LOCAL, actor_name, check_undo_allowed
from data.store.engine import StoreError, write_transaction
from data.store.messages import undo_message
from data.store.reconcile import apply_anchors, apply_rows
from data.store.replay import replay
from data.store.tables import (
    COMMITTED,
    MS_PER_DAY,
    NO_DAY,
    NO_SESSION,
    UNDONE,
    instruments,
    uploads,
)
from data.store.writes import all_rows, delete_where_in


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


class _Preview(Exception):
    """Raised inside a previewed undo so that its transaction rolls back."""

    def __init__(self, result: UndoResult):
        super().__init__("preview")
        self.result = result


def preview(engine: Engine, upload_id: int, *, allowed_uploader: str | None = None) -> UndoResult:
    """What undoing ``upload_id`` would do (the same counts and message), changing nothing: the
    undo runs in its transaction, which is then rolled back. For a confirmation question."""
    try:
        undo(engine, upload_id, allowed_uploader=allowed_uploader, dry_run=True)
    except _Preview as done:
        return done.result
    raise StoreError("The undo preview did not run; nothing was changed.")  # never reached


def undo(
    engine: Engine,
    upload_id: int,
    *,
    actor: str | None = None,
    allowed_uploader: str | None = None,
    before_commit: Callable[[], None] | None = None,
    dry_run: bool = False,
) -> UndoResult:
    """Undo upload ``upload_id`` as ``actor`` (None or blank: ``local``). StoreError when there
    is no such upload or it is undone; UndoNotAllowed when ``allowed_uploader`` is given and did
    not make the upload (a clinician undoing another person's upload). Nothing changes then.
    ``dry_run``: roll the undo back at the end (see ``preview``)."""
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
        delete_where_in(conn, "upload_periods", "upload_id", [upload_id])
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
        n_restored = len(change.restored)
        result = UndoResult(
            upload_id=upload_id,
            filename=up.filename,
            n_removed=change.n_removed,
            n_restored=n_restored,
            n_reanchored=change.n_reanchored,
            message=undo_message(
                upload_id, up.filename, change.n_removed, n_restored, change.n_kept
            ),
            undone_by=actor,
            n_kept=change.n_kept,
        )
        if dry_run:
            raise _Preview(result)  # leaves the transaction: nothing is written
        if before_commit is not None:
            before_commit()
    return result


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
    change = apply_rows(conn, current, replayed.rows, undone)
    return Change(
        n_removed=change["n_removed"],
        restored=change["restored"],
        n_reanchored=apply_anchors(conn, patients, replayed),
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
