"""Reading and writing the rows a commit or an undo works on (inside its transaction)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, update

from data.store import bulk
from data.store.tables import patient_anchors

_EXISTING = (
    "SELECT a.id, a.patient_id, i.key, a.session_key, a.day_ms, a.score, a.items "
    "FROM assessments a JOIN instruments i ON i.id = a.instrument_id "
    "WHERE a.replaced_by IS NULL AND a.patient_id IN ({marks})"
)


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows of ``frame`` as dicts of plain Python values (None for missing), for executemany."""
    out = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
        for row in out.to_dict("records")
    ]


def existing_rows(conn: Connection, patients: pd.Index) -> pd.DataFrame:
    """The stored (not replaced) assessments of ``patients``: id, key columns, score, items."""
    names = ["id", "patient_id", "instrument", "session_key", "day_ms", "score", "items"]
    parts = []
    for batch in bulk.chunks(list(patients)):
        arr = bulk.fetch_array(conn, _EXISTING.format(marks=", ".join("?" * len(batch))), batch)
        if arr.size:
            parts.append(arr)
    if not parts:
        return pd.DataFrame({n: pd.Series(dtype=object) for n in names}).astype(
            {"id": np.int64, "session_key": np.int64, "day_ms": np.int64, "score": "float64"}
        )
    arr = np.concatenate(parts)
    return pd.DataFrame(
        {
            "id": arr[:, 0].astype(np.int64),
            "patient_id": arr[:, 1].astype(str),
            "instrument": arr[:, 2].astype(str),
            "session_key": arr[:, 3].astype(np.int64),
            "day_ms": arr[:, 4].astype(np.int64),
            "score": arr[:, 5].astype("float64"),
            "items": arr[:, 6],
        }
    )


def stored_anchors(conn: Connection, patients: pd.Index) -> pd.DataFrame:
    """patient_anchors rows of ``patients`` (index patient_id)."""
    parts = []
    for batch in bulk.chunks(list(patients)):
        sql = (
            "SELECT patient_id, anchor_ms, is_baseline, upload_id FROM patient_anchors "
            f"WHERE patient_id IN ({', '.join('?' * len(batch))})"
        )
        arr = bulk.fetch_array(conn, sql, batch)
        if arr.size:
            parts.append(arr)
    arr = np.concatenate(parts) if parts else np.empty((0, 4), dtype=object)
    return pd.DataFrame(
        {
            "anchor_ms": pd.array(arr[:, 1], dtype="Int64"),
            "is_baseline": pd.array(arr[:, 2], dtype="boolean"),
            "upload_id": pd.array(arr[:, 3], dtype="Int64"),
        },
        index=pd.Index(arr[:, 0].astype(str), name="patient_id"),
    )


def record_anchor_changes(conn: Connection, plan: pd.DataFrame, upload_id: int) -> None:
    """Create or update the anchors a commit changes, and note each change for undo."""
    changed = plan[plan["changed"]]
    if changed.empty:
        return
    log = pd.DataFrame(
        {
            "upload_id": upload_id,
            "patient_id": changed.index.astype(str),
            "old_exists": changed["existed"].astype(bool).array,
            "old_anchor_ms": changed["old_anchor_ms"].astype("Int64").array,
            "old_is_baseline": changed["old_is_baseline"].astype("boolean").array,
            "old_upload_id": changed["old_upload_id"].astype("Int64").array,
            "new_anchor_ms": changed["new_anchor_ms"].astype("Int64").array,
            "new_is_baseline": changed["new_is_baseline"].astype(bool).array,
            "shift_ms": changed["shift_ms"].astype(np.int64).array,
        }
    )
    bulk.insert_columns(conn, "anchor_changes", list(log.columns), bulk.plain_columns(log))
    rows = pd.DataFrame(
        {
            "pid": changed.index.astype(str),
            "anchor_ms": changed["new_anchor_ms"].astype("Int64").array,
            "is_baseline": changed["new_is_baseline"].astype(bool).array,
            "upload_id": upload_id,
        }
    )
    existed = changed["existed"].to_numpy(dtype=bool)
    set_anchor(conn, rows[existed])
    if (~existed).any():
        new = rows[~existed].rename(columns={"pid": "patient_id"})
        bulk.insert_columns(conn, "patient_anchors", list(new.columns), bulk.plain_columns(new))


def set_anchor(conn: Connection, rows: pd.DataFrame) -> None:
    """Overwrite existing anchors: ``rows`` has pid, anchor_ms, is_baseline, upload_id."""
    if rows.empty:
        return
    stmt = (
        update(patient_anchors)
        .where(patient_anchors.c.patient_id == bindparam("pid"))
        .values(
            anchor_ms=bindparam("a_ms"),
            is_baseline=bindparam("a_base"),
            upload_id=bindparam("a_upload"),
        )
    )
    names = {"anchor_ms": "a_ms", "is_baseline": "a_base", "upload_id": "a_upload"}
    conn.execute(stmt, records(rows.rename(columns=names)))
