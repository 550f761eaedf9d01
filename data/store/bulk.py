"""Fast paths and small shared helpers for reading and writing the store.

Bulk inserts go through the driver: SQLite ``executemany`` and PostgreSQL ``COPY``. Bulk reads
fetch one result set and turn it into columns with numpy, without per-row Python code.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert, select, text, update

from data.store import codec
from data.store.tables import audit_log, store_meta

#: Parameters per ``IN (...)`` list (well under SQLite's and PostgreSQL's limits).
IN_CHUNK = 900
#: Shift that parks a patient's days out of the way while they are moved (see move_days).
_PARK_MS = 2**61


def now() -> str:
    """The current time, ISO 8601 in UTC (upload and audit times; never a patient's date)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def chunks(values: Sequence[object], size: int = IN_CHUNK) -> Iterable[list[object]]:
    """``values`` in lists of at most ``size``."""
    it = iter(values)
    while batch := list(islice(it, size)):
        yield batch


#: Values per ``= ANY(array)`` batch on PostgreSQL (one parameter, however many values).
PG_ANY_CHUNK = 50_000


def in_batches(
    conn: Connection, column: str, values: Sequence[object], pg_type: str
) -> Iterator[tuple[str, list[object]]]:
    """``(condition, params)`` batches matching ``column`` against ``values``: ``IN (?, ...)``
    lists of IN_CHUNK on SQLite, ``= ANY(?::pg_type[])`` arrays of PG_ANY_CHUNK on PostgreSQL
    (far fewer round trips for a large undo or commit)."""
    if conn.dialect.name == "postgresql":
        for start in range(0, len(values), PG_ANY_CHUNK):
            yield f"{column} = ANY(?::{pg_type}[])", [list(values[start : start + PG_ANY_CHUNK])]
        return
    for batch in chunks(values):
        yield f"{column} IN ({', '.join('?' * len(batch))})", batch


def fetch_array(conn: Connection, sql: str, params: Sequence[object] = ()) -> np.ndarray:
    """Rows of a driver-level query as a 2-D object array (0 × 0 when there are none)."""
    dbapi = conn.connection.driver_connection
    cur = dbapi.cursor()
    # Millions of new row tuples would otherwise set off repeated full garbage collections.
    collecting = gc.isenabled()
    gc.disable()
    try:
        cur.execute(_driver_sql(conn, sql), tuple(params))
        rows = cur.fetchall()
        if not rows:
            return np.empty((0, 0), dtype=object)
        out = np.empty((len(rows), len(rows[0])), dtype=object)
        out[:] = rows
        del rows
        return out
    finally:
        cur.close()
        if collecting:
            gc.enable()


def _driver_sql(conn: Connection, sql: str) -> str:
    return sql.replace("?", "%s") if conn.dialect.name == "postgresql" else sql


def execute(conn: Connection, sql: str, params: Sequence[object] = ()) -> None:
    """Run one driver-level statement (``?`` placeholders on both back-ends)."""
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(_driver_sql(conn, sql), tuple(params))
    finally:
        cur.close()


def execute_many(conn: Connection, sql: str, rows: list[tuple]) -> None:
    """Run one driver-level statement once per row of parameters (``?`` placeholders)."""
    if not rows:
        return
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.executemany(_driver_sql(conn, sql), rows)
    finally:
        cur.close()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the garbage collector: building millions of small objects (row tuples, values)
    would otherwise set off repeated full collections that walk every one of them."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def insert_assessments(conn: Connection, stored: pd.DataFrame, upload_id: int) -> int:
    """Insert the rows of a stored-form frame with its codes (``instrument_id``, ``label_id``:
    codes.encode) as assessments of ``upload_id``; rows written."""
    n = len(stored)
    if n == 0:
        return 0
    columns = [
        [upload_id] * n,
        *codec.python_columns(stored, stored["instrument_id"], stored["label_id"]),
    ]
    insert_columns(conn, "assessments", ("upload_id", *codec.WRITE_COLUMNS), columns)
    return n


def plain_columns(frame: pd.DataFrame) -> list[list[object]]:
    """The columns of ``frame`` as lists of plain Python values, None for missing."""
    out = []
    for name in frame.columns:
        col = frame[name]
        values = col.to_numpy(dtype=object, na_value=None) if col.hasnans else col.to_numpy()
        out.append(values.tolist())
    return out


def insert_columns(
    conn: Connection,
    table: str,
    names: Sequence[str],
    columns: list[list[object]],
    pg_types: Sequence[str] | None = None,
) -> None:
    """Insert rows given column by column, through the driver's fastest path: ``COPY`` on
    PostgreSQL, ``executemany`` on SQLite (both inside the caller's transaction). With
    ``pg_types`` (each column's PostgreSQL type) the copy is binary: large byte values then
    travel as they are instead of as hexadecimal text."""
    rows = zip(*columns, strict=True)
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
        with dbapi.cursor() as cur, cur.copy(sql + (" (FORMAT BINARY)" if pg_types else "")) as cp:
            if pg_types:
                cp.set_types(list(pg_types))
            for row in rows:  # the driver streams each row to the server
                cp.write_row(row)
        return
    cur = dbapi.cursor()
    try:
        marks = ", ".join("?" * len(names))
        cur.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows)
    finally:
        cur.close()


def move_days(conn: Connection, shifts: pd.Series) -> None:
    """Add ``shifts[patient]`` ms to every known day of each patient's stored assessments.

    Done in two steps (park far away, then land) so that the unique key never sees two rows
    of one patient on the same day half-way through.
    """
    shifts = shifts[shifts != 0]
    if shifts.empty:
        return
    lo_known, lo_parked = -codec.MAX_DAY_MS - 1, _PARK_MS - codec.MAX_DAY_MS - 1
    rows = [{"p": str(p), "s": int(s), "park": _PARK_MS} for p, s in shifts.items()]
    park = text(
        "UPDATE assessments SET day_ms = day_ms + :park "
        f"WHERE patient_id = :p AND day_ms > {lo_known}"
    )
    land = text(
        "UPDATE assessments SET day_ms = day_ms - :park + :s "
        f"WHERE patient_id = :p AND day_ms > {lo_parked}"
    )
    conn.execute(park, rows)
    conn.execute(land, rows)


def audit(conn: Connection, entries: list[dict[str, object]], *, actor: str | None = None) -> None:
    """Append entries to the audit log: each has ``action``, optional ``upload_id`` and
    ``patient_id``, and ``detail`` (a JSON-able dict); ``actor``: who did it."""
    if not entries:
        return
    at = now()
    conn.execute(
        insert(audit_log),
        [
            {
                "at": at,
                "action": e["action"],
                "upload_id": e.get("upload_id"),
                "patient_id": e.get("patient_id"),
                "detail": json.dumps(e.get("detail", {}), sort_keys=True, default=_json_default),
                "actor": actor,
            }
            for e in entries
        ],
    )


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if value is pd.NA:
        return None
    raise TypeError(f"cannot record {type(value).__name__} in the audit log")


def bump_content_version(conn: Connection) -> int:
    """Count one more change of stored content (the dashboard's cache key); the new value."""
    current = conn.execute(
        select(store_meta.c.value).where(store_meta.c.key == "content_version")
    ).scalar()
    new = int(current or 0) + 1
    conn.execute(
        update(store_meta).where(store_meta.c.key == "content_version").values(value=str(new))
    )
    return new
