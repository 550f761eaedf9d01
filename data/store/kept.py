"""What each committed upload brought, kept per patient so that undo can replay it (issue 10).

One ``upload_patients`` row per (upload, patient): the file's anchor for the patient and the
patient's accepted rows of that file, as the file gave them (days in the file's own frame,
before they were lined up with the store), packed as fixed-width little-endian records:
instrument code (int32), session (int32), day in ms (int64), label code (int32), score (float64,
NaN when missing) and the item answers (int16 each, the upload's item width, NO_ITEM for an
unanswered item). One row per patient rather than per assessment keeps a large upload's extra
writes to a tenth (a patient has about ten assessments per file), and packing and unpacking are
vectorised over the whole upload.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection

from data.store import bulk, codec
from data.store.tables import NO_ITEM

#: The fixed part of a packed record (without the item answers).
_FIXED = [
    ("instrument_id", "<i4"),
    ("session_key", "<i4"),
    ("day_ms", "<i8"),
    ("label_id", "<i4"),
    ("score", "<f8"),
]
FIXED_BYTES = 28
#: Columns of a kept row, as ``unpack`` gives them.
ROW_COLUMNS = ("patient_id", "instrument_id", "session_key", "day_ms", "label_id", "score", "items")
_COLUMNS = ("upload_id", "patient_id", "anchor_ms", "is_baseline", "n_rows", "packed")
_PG_TYPES = ("int4", "text", "int8", "bool", "int4", "bytea")


def record_dtype(width: int) -> np.dtype:
    """The packed record of one row with ``width`` item answers (no padding between fields)."""
    fields = list(_FIXED) + ([("items", "<i2", (width,))] if width else [])
    return np.dtype(fields)


def pack(rows: pd.DataFrame, frames: pd.DataFrame) -> pd.DataFrame:
    """Per patient of ``rows`` (a stored-form frame with instrument and label codes, days in the
    file's frame): ``patient_id, anchor_ms, is_baseline, n_rows, packed``. Rows keep the file's
    order within each patient. ``frames``: the file's anchors (anchors.file_frames)."""
    codes, patients = pd.factorize(rows["patient_id"].astype(str), sort=False)
    order = np.argsort(codes, kind="stable")
    items = codec.unpack_items(rows["items"].to_numpy(dtype=object))
    width = items.shape[1]
    rec = np.empty(len(rows), dtype=record_dtype(width))
    for name, _ in _FIXED:
        rec[name] = rows[name].to_numpy(dtype=rec.dtype[name].base)
    if width:
        rec["items"] = items
    rec = rec[order]
    n = np.bincount(codes, minlength=len(patients))
    offsets = np.zeros(len(patients) + 1, dtype=np.int64)
    np.cumsum(n * rec.dtype.itemsize, out=offsets[1:])
    blobs = pa.Array.from_buffers(
        pa.large_binary(), len(patients), [None, pa.py_buffer(offsets), pa.py_buffer(rec)]
    )
    anchor = frames["anchor_ms"].astype("Int64").reindex(patients)
    base = frames["is_baseline"].reindex(patients).fillna(True).to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "patient_id": np.asarray(patients, dtype=object),
            "anchor_ms": anchor.to_numpy(dtype=object, na_value=None),
            "is_baseline": base,
            "n_rows": n,
            "packed": blobs.to_pylist(),
        }
    )


def write(conn: Connection, upload_id: int, rows: pd.DataFrame, frames: pd.DataFrame) -> None:
    """Keep what upload ``upload_id`` brought (see ``pack``), inside its commit."""
    if rows.empty:
        return
    packed = pack(rows, frames)
    columns = [
        [int(upload_id)] * len(packed),
        packed["patient_id"].tolist(),
        packed["anchor_ms"].tolist(),
        packed["is_baseline"].tolist(),
        packed["n_rows"].tolist(),
        packed["packed"].tolist(),
    ]
    bulk.insert_columns(conn, "upload_patients", _COLUMNS, columns, _PG_TYPES)


def unpack(kept: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``upload_patients`` rows (``upload_id, patient_id, n_rows, packed``): one row
    per kept assessment with ``upload_id`` and ROW_COLUMNS, in the order of ``kept`` and, within
    each, in the file's order. Items come back packed as the commit packed them."""
    if kept.empty:
        return codec.empty_stored_rows()
    n = kept["n_rows"].to_numpy(dtype=np.int64)
    blobs = kept["packed"].tolist()
    sizes = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs))
    rec_size = np.where(n > 0, sizes // np.maximum(n, 1), FIXED_BYTES)
    frames = []
    for size in np.unique(rec_size):  # one group per item width (a few at most)
        pick = np.flatnonzero(rec_size == size)
        width = (int(size) - FIXED_BYTES) // 2
        rec = np.frombuffer(b"".join(blobs[i] for i in pick), dtype=record_dtype(width))
        frame = pd.DataFrame(
            {
                "_block": np.repeat(pick, n[pick]),
                "instrument_id": rec["instrument_id"].astype(np.int64),
                "session_key": rec["session_key"].astype(np.int64),
                "day_ms": rec["day_ms"].astype(np.int64),
                "label_id": rec["label_id"].astype(np.int64),
                "score": rec["score"].astype(np.float64),
                "items": _repack_items(rec["items"] if width else np.empty((len(rec), 0))),
            }
        )
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    if len(frames) > 1:  # back into the order of ``kept`` (stable: file order within each)
        rows = rows.sort_values("_block", kind="stable", ignore_index=True)
    block = rows.pop("_block").to_numpy()
    rows.insert(0, "patient_id", kept["patient_id"].astype(str).to_numpy(dtype=object)[block])
    rows.insert(0, "upload_id", kept["upload_id"].to_numpy(dtype=np.int64)[block])
    return rows


def _repack_items(items: np.ndarray) -> np.ndarray:
    """Item matrices back to packed values: None for a row without any answer (as pack_items)."""
    out = np.full(len(items), None, dtype=object)
    if items.shape[1] == 0:
        return out
    answered = (items != NO_ITEM).any(axis=1)
    if answered.any():
        block = np.ascontiguousarray(items[answered].astype("<i2"))
        out[answered] = block.view(np.dtype((np.void, block.shape[1] * 2))).ravel().tolist()
    return out
