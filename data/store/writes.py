"""Reading and writing the rows a commit or an undo works on (inside its transaction)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from data.store import bulk, codec
from data.store.tables import instruments

#: Stored-form columns of an assessment as read for a commit or an undo, after its id.
ROW_COLUMNS = ("upload_id", "replaced_by", *codec.READ_COLUMNS)
_SELECT = f"SELECT id, {', '.join(ROW_COLUMNS)} FROM assessments WHERE "


def _rows_of(conn: Connection, patients: pd.Index, where: str) -> pd.DataFrame:
    """Assessments of ``patients`` matching ``where`` (id, ROW_COLUMNS), read in batches."""
    parts = []
    for cond, params in bulk.in_batches(conn, "patient_id", list(patients), "text"):
        arr = bulk.fetch_array(conn, f"{_SELECT}{where} AND {cond}", params)
        if arr.size:
            parts.append(arr)
    arr = np.concatenate(parts) if parts else np.empty((0, len(ROW_COLUMNS) + 1), dtype=object)
    return pd.DataFrame(
        {
            "id": arr[:, 0].astype(np.int64),
            "upload_id": arr[:, 1].astype(np.int64),
            "replaced_by": pd.array(arr[:, 2], dtype="Int64"),
            "patient_id": arr[:, 3].astype(str).astype(object),
            "instrument_id": arr[:, 4].astype(np.int64),
            "session_key": arr[:, 5].astype(np.int64),
            "day_ms": arr[:, 6].astype(np.int64),
            "label_id": arr[:, 7].astype(np.int64),
            "score": arr[:, 8].astype("float64"),
            "items": arr[:, 9],
        }
    )


def existing_rows(conn: Connection, patients: pd.Index) -> pd.DataFrame:
    """The stored assessments not replaced of ``patients``: id and ROW_COLUMNS."""
    # The partial unique index (its rows are those not replaced) finds them by patient.
    return _rows_of(conn, patients, "replaced_by IS NULL")


def all_rows(conn: Connection, patients: pd.Index) -> pd.DataFrame:
    """Every stored assessment of ``patients``, replaced ones too: id and ROW_COLUMNS."""
    # Two reads, so that each can use an index (a plain patient_id filter could not).
    both = [existing_rows(conn, patients), _rows_of(conn, patients, "replaced_by IS NOT NULL")]
    return pd.concat(both, ignore_index=True).sort_values("id", ignore_index=True)


def known_instruments(conn: Connection, keys: pd.Series) -> np.ndarray:
    """The store's code of each instrument key; a negative code, one per key, for instruments
    the store has not seen yet (no stored row can have them). Reads only."""
    have = dict(conn.execute(select(instruments.c.key, instruments.c.id)).all())
    codes, values = pd.factorize(keys.astype(str))
    by_value = np.array([have.get(v, -(k + 1)) for k, v in enumerate(values)], dtype=np.int64)
    return by_value[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def stored_anchors(conn: Connection, patients: pd.Index) -> pd.DataFrame:
    """patient_anchors rows of ``patients`` (index patient_id)."""
    parts = []
    for cond, params in bulk.in_batches(conn, "patient_id", list(patients), "text"):
        sql = f"SELECT patient_id, anchor_ms, is_baseline, upload_id FROM patient_anchors WHERE {cond}"
        arr = bulk.fetch_array(conn, sql, params)
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


def set_anchors(conn: Connection, changed: pd.DataFrame, upload_id: int) -> None:
    """Create or update the anchors a commit changes (rows of anchors.plan with ``changed``)."""
    if changed.empty:
        return
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
    insert_anchors(conn, rows[~existed])


def insert_anchors(conn: Connection, rows: pd.DataFrame) -> None:
    """Add anchors: ``rows`` has pid, anchor_ms, is_baseline, upload_id."""
    if rows.empty:
        return
    new = rows.rename(columns={"pid": "patient_id"})
    bulk.insert_columns(conn, "patient_anchors", list(new.columns), bulk.plain_columns(new))


def set_anchor(conn: Connection, rows: pd.DataFrame) -> None:
    """Overwrite existing anchors: ``rows`` has pid, anchor_ms, is_baseline, upload_id."""
    update_rows(conn, "patient_anchors", "patient_id", rows.rename(columns={"pid": "patient_id"}))


def delete_where_in(conn: Connection, table: str, column: str, values: list[object]) -> None:
    """``DELETE FROM table WHERE column IN values``, in batches."""
    for cond, params in bulk.in_batches(conn, column, values, PG_TYPES[column]):
        bulk.execute(conn, f"DELETE FROM {table} WHERE {cond}", params)


#: PostgreSQL types of the columns ``update_rows`` may set (for its arrays).
PG_TYPES = {
    "id": "bigint",
    "upload_id": "integer",
    "replaced_by": "integer",
    "day_ms": "bigint",
    "label_id": "integer",
    "items": "bytea",
    "patient_id": "text",
    "anchor_ms": "bigint",
    "is_baseline": "boolean",
}
#: Rows per set-based update on PostgreSQL.
PG_UPDATE_CHUNK = 50_000


def update_rows(conn: Connection, table: str, key: str, rows: pd.DataFrame) -> None:
    """Set the other columns of ``rows`` in ``table``, each row found by its ``key`` column.

    When the new values take only a few distinct combinations (a change of owner, say), one
    statement per combination sets them on all its rows (``key`` in batches). Otherwise SQLite
    runs one statement per row (``executemany``; cheap there) and PostgreSQL one per batch that
    joins the table with the batch's columns as arrays (``unnest``): a round trip per row would
    make a large undo take minutes.
    """
    names = [c for c in rows.columns if c != key]
    if rows.empty or not names:
        return
    combos = rows[names].astype(object).where(rows[names].notna(), None)
    grouped = combos.groupby(names, dropna=False, sort=False)
    if grouped.ngroups <= _FEW:
        keys = rows[key].to_numpy(dtype=object)
        sets = ", ".join(f"{c} = ?" for c in names)
        for value, pos in grouped.indices.items():
            values = value if isinstance(value, tuple) else (value,)
            plain = [
                None if v is None or (isinstance(v, float) and np.isnan(v)) else _plain(v)
                for v in values
            ]
            for cond, params in bulk.in_batches(conn, key, keys[pos].tolist(), PG_TYPES[key]):
                bulk.execute(conn, f"UPDATE {table} SET {sets} WHERE {cond}", [*plain, *params])
        return
    columns = bulk.plain_columns(rows[[*names, key]])
    if conn.dialect.name != "postgresql":
        sets = ", ".join(f"{c} = ?" for c in names)
        bulk.execute_many(
            conn, f"UPDATE {table} SET {sets} WHERE {key} = ?", list(zip(*columns, strict=True))
        )
        return
    cols = [*names, key]
    arrays = ", ".join(f"?::{PG_TYPES[c]}[]" for c in cols)
    sets = ", ".join(f"{c} = v.{c}" for c in names)
    sql = (
        f"UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v({', '.join(cols)}) "
        f"WHERE t.{key} = v.{key}"
    )
    for start in range(0, len(rows), PG_UPDATE_CHUNK):
        bulk.execute(conn, sql, [c[start : start + PG_UPDATE_CHUNK] for c in columns])


#: Distinct value combinations up to which ``update_rows`` sets each combination at once.
_FEW = 16


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value
