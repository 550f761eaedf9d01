"""Reading every stored assessment back as the tidy table, fast (issue 4: a million in well
under 3 s).

The work is in turning database rows into columns. Both back-ends keep the instrument and the
labels as small codes (codes.py), so each row carries seven values. On SQLite the driver builds
one tuple per row and ``zip`` turns them into columns in C. PostgreSQL does better: the server
lays each column end to end in one binary value (``string_agg`` of each value's binary form), so
the client receives a few large values per million rows and cuts them up with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection

from data.schema import empty_tidy, item_column
from data.store import bulk
from data.store.codec import READ_COLUMNS, unpack_items
from data.store.codes import Lookups, read_lookups
from data.store.tables import MS_PER_DAY, NO_DAY, NO_ITEM, NO_SESSION

_OPTIONAL_TEXT = ("site", "clinician", "route")
_SQLITE_READ = (
    f"SELECT {', '.join(READ_COLUMNS)} FROM assessments WHERE replaced_by IS NULL ORDER BY id"
)
#: Assessments per PostgreSQL read (each binary value stays far below the 1 GB limit).
PG_CHUNK = 2_000_000
#: One binary value per column over a range of ids: big-endian numbers (``int8send`` …), text
#: and items laid end to end with their lengths (-1: missing). A missing score reads as NaN.
_PG_READ = """
SELECT count(*),
  string_agg(int8send(id), ''),
  string_agg(convert_to(patient_id, 'UTF8'), ''),
  string_agg(int4send(octet_length(patient_id)), ''),
  string_agg(int4send(instrument_id), ''),
  string_agg(int4send(session_key), ''),
  string_agg(int8send(day_ms), ''),
  string_agg(int4send(label_id), ''),
  string_agg(coalesce(float8send(score), '\\x7ff8000000000000'::bytea), ''),
  string_agg(coalesce(items, ''::bytea), ''),
  string_agg(int4send(coalesce(length(items), -1)), '')
FROM assessments WHERE replaced_by IS NULL AND id >= %s AND id < %s
"""


@dataclass(frozen=True)
class StoredColumns:
    """The stored assessments column by column, in the order stored."""

    patient_id: pa.Array  # text
    instrument_id: np.ndarray
    session_key: np.ndarray
    day_ms: np.ndarray
    label_id: np.ndarray
    score: np.ndarray  # NaN where there is no score
    items: pa.Array  # packed item scores (codec.pack_items), null where none


def read_tidy(conn: Connection) -> pd.DataFrame:
    """Every stored assessment not replaced, as the conformed tidy table, in the order stored.
    Call inside one read transaction (so codes and rows come from one snapshot)."""
    with bulk.gc_paused():
        lookups = read_lookups(conn)
        if conn.dialect.name == "postgresql":
            columns = _fetch_postgresql(conn)
        else:
            columns = _fetch_sqlite(conn)
        return tidy_from_columns(columns, lookups)


def _ints(values: tuple) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64, count=len(values))


def _fetch_sqlite(conn: Connection) -> StoredColumns | None:
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(_SQLITE_READ)
        rows = cur.fetchall()
        if not rows:
            return None
        col = dict(zip(READ_COLUMNS, zip(*rows, strict=True), strict=True))
        del rows
    finally:
        cur.close()
    return StoredColumns(
        patient_id=pa.array(col["patient_id"], type=pa.large_string()),
        instrument_id=_ints(col["instrument_id"]),
        session_key=_ints(col["session_key"]),
        day_ms=_ints(col["day_ms"]),
        label_id=_ints(col["label_id"]),
        score=np.array(col["score"], dtype=np.float64),  # None (no score) becomes NaN
        items=pa.array(col["items"], type=pa.large_binary()),
    )


def _numbers(value: bytes | None, dtype: str) -> np.ndarray:
    """Big-endian numbers laid end to end, in native byte order."""
    out = np.frombuffer(value or b"", dtype=dtype)
    return out.astype(out.dtype.newbyteorder("="))


def _laid_end_to_end(data: bytes | None, lengths: np.ndarray, kind: pa.DataType) -> pa.Array:
    """Values laid end to end with their byte lengths (-1: missing) as a pyarrow array."""
    missing = lengths < 0
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.where(missing, 0, lengths), out=offsets[1:])
    validity = pa.array(~missing).buffers()[1] if missing.any() else None
    return pa.Array.from_buffers(
        kind, len(lengths), [validity, pa.py_buffer(offsets), pa.py_buffer(data or b"")]
    )


def _fetch_postgresql(conn: Connection) -> StoredColumns | None:
    dbapi = conn.connection.driver_connection
    with dbapi.cursor() as cur:
        cur.execute("SELECT min(id), max(id) FROM assessments")
        low, high = cur.fetchone()
        if low is None:
            return None
        parts = []
        for start in range(int(low), int(high) + 1, PG_CHUNK):
            cur.execute(_PG_READ, (start, start + PG_CHUNK), binary=True)
            n, *values = cur.fetchone()
            if n:
                parts.append(_pg_part(values))
    if not parts:
        return None
    ids = np.concatenate([p[0] for p in parts])
    cols = {
        name: (
            pa.concat_arrays([p[1][name] for p in parts])
            if name in ("patient_id", "items")
            else np.concatenate([p[1][name] for p in parts])
        )
        for name in parts[0][1]
    }
    if len(ids) > 1 and not bool((np.diff(ids) > 0).all()):  # back into the order stored
        order = np.argsort(ids, kind="stable")
        cols = {
            k: v.take(pa.array(order)) if isinstance(v, pa.Array) else v[order]
            for k, v in cols.items()
        }
    return StoredColumns(**cols)


def _pg_part(values: list[bytes | None]) -> tuple[np.ndarray, dict[str, object]]:
    ids, pid, pid_len, ins, session, day, label, score, items, items_len = values
    return _numbers(ids, ">i8"), {
        "patient_id": _laid_end_to_end(pid, _numbers(pid_len, ">i4"), pa.large_string()),
        "instrument_id": _numbers(ins, ">i4").astype(np.int64),
        "session_key": _numbers(session, ">i4").astype(np.int64),
        "day_ms": _numbers(day, ">i8"),
        "label_id": _numbers(label, ">i4").astype(np.int64),
        "score": _numbers(score, ">f8"),
        "items": _laid_end_to_end(items, _numbers(items_len, ">i4"), pa.large_binary()),
    }


def _text(values: pa.Array) -> pd.Series:
    """A pyarrow text array as a pyarrow-backed string column."""
    if values.type != pa.large_string():
        values = values.cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(values), copy=False)


def tidy_from_columns(col: StoredColumns | None, lookups: Lookups) -> pd.DataFrame:
    """The conformed tidy table of stored columns (None: nothing stored) and the store's codes.

    Optional columns (site, clinician, route, treatment_resistant) and item columns appear only
    when some stored assessment has a value in them, as in a tidy table read from a file. Built
    directly in the canonical dtypes and column order of data.schema.conform (no extra copy).
    """
    if col is None or not len(col.session_key):
        return empty_tidy()
    session, day_ms = col.session_key, col.day_ms
    label = lookups.labels_of(col.label_id)
    frame = {
        "patient_id": _text(col.patient_id),
        "protocol": _text(label["protocol"]),
        "instrument": _text(lookups.instruments_of(col.instrument_id)),
        "session": pd.Series(pd.arrays.IntegerArray(session, session == NO_SESSION), copy=False),
        "day": pd.Series(np.where(day_ms == NO_DAY, np.nan, day_ms / MS_PER_DAY), copy=False),
        "phase": _text(label["phase"]),
        "score": pd.Series(col.score, copy=False),
    }
    for name in _OPTIONAL_TEXT:
        if label[name].null_count < len(label[name]):
            frame[name] = _text(label[name])
    tr = label["treatment_resistant"]
    if tr.null_count < len(tr):
        values = tr.fill_null(False).to_numpy(zero_copy_only=False)
        missing = tr.is_null().to_numpy(zero_copy_only=False)
        frame["treatment_resistant"] = pd.Series(pd.arrays.BooleanArray(values, missing))
    items = unpack_items(col.items).T  # one row per item
    missing = items == NO_ITEM
    used = np.flatnonzero(~missing.all(axis=1))
    k = int(used.max()) + 1 if len(used) else 0  # item_1 … the last one answered
    values = np.array(items[:k], dtype=np.int64, order="C")
    missing = np.array(missing[:k], order="C")
    for j in range(k):
        frame[item_column(j + 1)] = pd.Series(
            pd.arrays.IntegerArray(values[j], missing[j]), copy=False
        )
    return pd.DataFrame(frame, copy=False)
