"""Conversions between the tidy table and the stored form of an assessment (tables.py).

All conversions are vectorised: a million rows go through in well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from data.schema import STRING, item_columns
from data.store.engine import StoreError
from data.store.tables import MS_PER_DAY, NO_DAY, NO_ITEM, NO_SESSION

#: Columns read back for the tidy table, in this order (codes are decoded with codes.Lookups).
READ_COLUMNS = (
    "patient_id",
    "instrument_id",
    "session_key",
    "day_ms",
    "label_id",
    "score",
    "items",
)
#: Columns written for a new assessment, in this order (``upload_id`` is added by the writer).
WRITE_COLUMNS = READ_COLUMNS
_OPTIONAL_TEXT = ("site", "clinician", "route")
_ITEM_LIMIT = 2**15 - 1
#: Largest |day_ms| accepted (about 35,000 years), far from NO_DAY and from int64 overflow.
MAX_DAY_MS = 2**50


#: Dtypes of an assessment row in stored form: its upload, key, label set, score, packed items.
STORED_ROW_DTYPES = {
    "upload_id": np.int64,
    "patient_id": object,
    "instrument_id": np.int64,
    "session_key": np.int64,
    "day_ms": np.int64,
    "label_id": np.int64,
    "score": np.float64,
    "items": object,
}


def empty_stored_rows(**first: type) -> pd.DataFrame:
    """No rows, with the stored-form columns (after the columns ``first`` names, dtype each)."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (first | STORED_ROW_DTYPES).items()})


def day_to_ms(day: pd.Series) -> np.ndarray:
    """Day offsets (float days) as whole milliseconds; NO_DAY where the day is unknown."""
    d = day.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        ms = np.round(d * MS_PER_DAY)
    if np.nanmax(np.abs(ms), initial=0.0) >= MAX_DAY_MS:
        raise StoreError("A day offset is too large to store (over 30,000 years). Check the days.")
    return np.where(np.isnan(d), NO_DAY, np.nan_to_num(ms)).astype(np.int64)


def session_to_key(session: pd.Series) -> np.ndarray:
    """Session numbers as integers; NO_SESSION where the session is empty (follow-up)."""
    s = session.astype("Int64")
    if bool(((s.abs() >= -NO_SESSION) & s.notna()).any()):
        raise StoreError("A session number is too large to store. Check the session column.")
    return s.fillna(NO_SESSION).to_numpy(dtype=np.int64)


def pack_items(tidy: pd.DataFrame) -> np.ndarray:
    """Item scores of each row packed as bytes (int16 little-endian, item_1 first, NO_ITEM for
    an unanswered item); None when the row has no item scores. All rows of one upload have the
    same width (its last answered item), so reading them back is one reshape."""
    cols = item_columns(tidy)
    out = np.full(len(tidy), None, dtype=object)
    if not cols:
        return out
    numbers = np.array([int(c.split("_")[1]) for c in cols])
    block = np.full((len(tidy), int(numbers.max())), np.nan)
    block[:, numbers - 1] = tidy[cols].to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(block)
    if bool((np.abs(np.where(present, block, 0)) > _ITEM_LIMIT).any()):
        raise StoreError(f"An item score is beyond ±{_ITEM_LIMIT} and cannot be stored.")
    answered = present.any(axis=0)
    rows = present.any(axis=1)
    if not rows.any():
        return out
    width = int(np.flatnonzero(answered).max()) + 1
    values = np.ascontiguousarray(np.where(present, block, NO_ITEM)[rows, :width].astype("<i2"))
    out[rows] = values.view(np.dtype((np.void, 2 * width))).ravel().tolist()
    return out


def unpack_items(packed: Sequence[object] | pa.Array) -> np.ndarray:
    """The inverse of ``pack_items``: an (n, k) int16 matrix, NO_ITEM where not answered.

    ``packed``: one bytes value or None per row (or a pyarrow binary array). The values are laid
    end to end once (pyarrow) and cut into rows with numpy, without per-row Python code.
    """
    if isinstance(packed, pa.Array):
        arr = packed if packed.type == pa.large_binary() else packed.cast(pa.large_binary())
    else:
        arr = pa.array(packed, type=pa.large_binary())
    n = len(arr)
    data = arr.buffers()[2]
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    if n and offsets[0]:  # a slice: its values start part-way into the data
        data = data[int(offsets[0]) :] if data is not None else None
        offsets = offsets - offsets[0]
    if (offsets % 2).any():
        raise StoreError(
            "The outcome store is damaged: some stored item scores cannot be read. Restore the "
            "store from a backup."
        )
    widths = np.diff(offsets) // 2
    k = int(widths.max()) if n else 0
    if data is None or k == 0:
        return np.full((n, 0), NO_ITEM, dtype=np.int16)
    flat = np.frombuffer(data, dtype="<i2", count=int(offsets[-1]) // 2)
    if int(widths.min()) == k:  # one width, every row answered: a reshape
        return flat.reshape(n, k)
    out = np.full((n, k), NO_ITEM, dtype=np.int16)
    rows = np.repeat(np.arange(n), widths)
    starts = offsets[:-1] // 2
    within = np.arange(len(rows)) - np.repeat(np.cumsum(widths) - widths, widths)
    out[rows, within] = flat[np.repeat(starts, widths) + within]
    return out


def same_items(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise equality of two item matrices of possibly different widths."""
    k = max(a.shape[1], b.shape[1])
    pad = lambda m: np.pad(m, ((0, 0), (0, k - m.shape[1])), constant_values=NO_ITEM)  # noqa: E731
    return (pad(a) == pad(b)).all(axis=1)


def stored_from_tidy(tidy: pd.DataFrame) -> pd.DataFrame:
    """The stored form of a conformed tidy table (same index): key columns with sentinels,
    descriptive columns, packed items. ``day_ms`` is still in the file's own day frame."""
    for col in ("patient_id", "instrument"):
        if bool(tidy[col].isna().any()):
            raise StoreError(f"Some accepted assessments have no {col}; they cannot be stored.")
    out = pd.DataFrame(
        {
            "patient_id": tidy["patient_id"].astype(STRING),
            "instrument": tidy["instrument"].astype(STRING),
            "session_key": session_to_key(tidy["session"]),
            "day_ms": day_to_ms(tidy["day"]),
            "protocol": tidy["protocol"].astype(STRING),
            "phase": tidy["phase"].astype(STRING),
            "score": tidy["score"].astype("float64"),
        },
        index=tidy.index,
    )
    for col in _OPTIONAL_TEXT:
        out[col] = tidy[col].astype(STRING) if col in tidy else pd.Series(pd.NA, tidy.index, STRING)
    tr = tidy.get("treatment_resistant", pd.NA)
    out["treatment_resistant"] = pd.Series(tr, index=tidy.index, dtype="boolean")
    out["items"] = pack_items(tidy)
    return out


def python_columns(
    stored: pd.DataFrame, instrument_id: np.ndarray, label_id: np.ndarray
) -> list[list[object]]:
    """``WRITE_COLUMNS`` of a stored frame (with its instrument and label codes, see codes.py)
    as Python lists with None for missing values, ready for a database driver."""
    score = stored["score"].to_numpy(dtype="float64")
    return [
        stored["patient_id"].to_numpy(dtype=object).tolist(),
        np.asarray(instrument_id, dtype=np.int64).tolist(),
        stored["session_key"].to_numpy(dtype=np.int64).tolist(),
        stored["day_ms"].to_numpy(dtype=np.int64).tolist(),
        np.asarray(label_id, dtype=np.int64).tolist(),
        np.where(np.isnan(score), None, score.astype(object)).tolist(),
        stored["items"].to_numpy(dtype=object).tolist(),
    ]
