"""Each patient's baseline month, stored masked with the practice's anchor key (issue 12).

One ``upload_periods`` row per (committed upload, patient) whose file dated the patient's
baseline row: the month as months since January 2000 plus a per-patient shift of up to ±100
years (1,200 months), derived from the patient's pseudonym with the anchor key (keyed BLAKE2b,
its own personalisation so the shift is unrelated to the anchor's). Without the key the stored
number says nothing about the month, nor how two patients' months relate; with it the month
comes back exactly. The day of the month is never stored (data/periods.py codes months only).

A patient's baseline month is that of their earliest committed upload that gave one, as their
stored days count from the first baseline stored (anchors.py). An undo deletes the undone
upload's rows, and reads only take committed uploads.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from sqlalchemy import Connection, inspect

from data.periods import MONTH_COLUMN, from_month_index, month_index
from data.store import bulk
from data.store.tables import COMMITTED

#: Largest per-patient month shift: 100 years.
MAX_MONTH_SHIFT = 1200
_PERSON = b"rc-baseline-mon"  # BLAKE2b personalisation: this shift is not the anchor's
_COLUMNS = ("upload_id", "patient_id", "month_masked")
_PG_TYPES = ("int4", "text", "int4")


def month_shift(patients: pd.Index, key: bytes) -> np.ndarray:
    """Each patient's secret month shift, in [−MAX_MONTH_SHIFT, MAX_MONTH_SHIFT] (keyed BLAKE2b
    of the pseudonym; one hash per distinct patient)."""
    digests = [
        hashlib.blake2b(str(p).encode("utf-8"), key=key, digest_size=8, person=_PERSON).digest()
        for p in patients
    ]
    raw = np.frombuffer(b"".join(digests), dtype="<u8") if digests else np.zeros(0, "<u8")
    return (raw % np.uint64(2 * MAX_MONTH_SHIFT + 1)).astype(np.int64) - MAX_MONTH_SHIFT


def write(conn: Connection, upload_id: int, months: pd.Series, key: bytes) -> int:
    """Keep the baseline months an upload gave (``months``: index pseudonym, month codes as
    data.periods.month_day gives them; unknown ones are skipped), masked; rows written."""
    known = months[months.notna()]
    known = known[(known >= 0).to_numpy(dtype=bool)]  # before January 2000: no period
    known = known[~known.index.duplicated()]
    if known.empty or not inspect(conn).has_table("upload_periods"):
        return 0  # a store opened without upgrading, before version 8, keeps no months
    patients = pd.Index(known.index.astype(str))
    masked = month_index(known.to_numpy()) + month_shift(patients, key)
    columns = [[int(upload_id)] * len(known), patients.tolist(), masked.tolist()]
    bulk.insert_columns(conn, "upload_periods", _COLUMNS, columns, _PG_TYPES)
    return len(known)


def read(conn: Connection, key: bytes) -> pd.Series:
    """Every patient's baseline month code (index patient_id, Int64), from their earliest
    committed upload that gave one; patients without one are absent (all of them in a store
    opened without upgrading, before version 8)."""
    if not inspect(conn).has_table("upload_periods"):
        return pd.Series(pd.array([], dtype="Int64"), index=pd.Index([], name="patient_id"))
    arr = bulk.fetch_array(
        conn,
        "SELECT p.patient_id, p.month_masked FROM upload_periods p "
        "JOIN uploads u ON u.id = p.upload_id WHERE u.status = ? ORDER BY p.upload_id",
        [COMMITTED],
    )
    if not arr.size:
        return pd.Series(pd.array([], dtype="Int64"), index=pd.Index([], name="patient_id"))
    frame = pd.DataFrame({"patient_id": arr[:, 0].astype(str), "masked": arr[:, 1]})
    first = frame.drop_duplicates("patient_id", keep="first")
    patients = pd.Index(first["patient_id"].to_numpy(dtype=object), name="patient_id")
    months = first["masked"].to_numpy(dtype=np.int64) - month_shift(patients, key)
    return pd.Series(from_month_index(months), index=patients, name=MONTH_COLUMN)
