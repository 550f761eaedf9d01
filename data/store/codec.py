"""Conversions between the tidy table and the stored form of an assessment (tables.py).

All conversions are vectorised: a million rows go through in well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from data.schema import STRING, empty_tidy, item_column, item_columns
from data.store.engine import StoreError
from data.store.tables import KEY_COLUMNS, MS_PER_DAY, NO_DAY, NO_ITEM, NO_SESSION

#: Columns read back for the tidy table, in this order.
READ_COLUMNS = (
    "patient_id",
    "protocol",
    "instrument",
    "session_key",
    "day_ms",
    "phase",
    "score",
    "site",
    "clinician",
    "route",
    "treatment_resistant",
    "items",
)
#: Columns written for a new assessment, in this order (``upload_id`` is added by the writer).
WRITE_COLUMNS = (
    "patient_id",
    "instrument",
    "session_key",
    "day_ms",
    "protocol",
    "phase",
    "score",
    "site",
    "clinician",
    "route",
    "treatment_resistant",
    "items",
)
_OPTIONAL_TEXT = ("site", "clinician", "route")
_ITEM_LIMIT = 2**15 - 1
#: Largest |day_ms| accepted (about 35,000 years), far from NO_DAY and from int64 overflow.
MAX_DAY_MS = 2**50


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


def unpack_items(packed: np.ndarray) -> np.ndarray:
    """The inverse of ``pack_items``: an (n, k) int16 matrix, NO_ITEM where not answered."""
    n = len(packed)
    has = np.flatnonzero(np.not_equal(packed, None))
    if not len(has):
        return np.full((n, 0), NO_ITEM, dtype=np.int16)
    blobs = packed[has]
    widths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // 2
    flat = np.frombuffer(b"".join(blobs), dtype="<i2")
    k = int(widths.max())
    if int(widths.min()) == k and len(has) == n:  # one width, every row answered: a reshape
        return flat.reshape(n, k)
    out = np.full((n, k), NO_ITEM, dtype=np.int16)
    starts = np.cumsum(widths) - widths
    for w in np.unique(widths):  # one pass per width (one per upload at most)
        same = widths == w
        out[has[same], : int(w)] = flat[starts[same][:, None] + np.arange(int(w))]
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


def python_columns(stored: pd.DataFrame) -> list[list[object]]:
    """``WRITE_COLUMNS`` of a stored frame as Python lists with None for missing values,
    ready for a database driver."""
    cols: list[list[object]] = []
    for name in WRITE_COLUMNS:
        s = stored[name]
        if name in ("session_key", "day_ms"):
            cols.append(s.to_numpy(dtype=np.int64).tolist())
        elif name == "score":
            v = s.to_numpy(dtype="float64")
            cols.append(np.where(np.isnan(v), None, v.astype(object)).tolist())
        elif name == "items":
            cols.append(s.to_numpy(dtype=object).tolist())
        else:
            cols.append(s.to_numpy(dtype=object, na_value=None).tolist())
    return cols


def _text(values: Sequence[object]) -> pd.Series:
    """Text values (None for missing) as a pyarrow-backed string column."""
    arr = pa.array(values, type=pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(arr), copy=False)


def _any(values: Sequence[object]) -> bool:
    return values.count(None) != len(values)


def tidy_from_stored(columns: list[Sequence[object]]) -> pd.DataFrame:
    """The conformed tidy table from columns read in ``READ_COLUMNS`` order (one sequence per
    column, None for missing; an empty list when nothing is stored).

    Optional columns (site, clinician, route, treatment_resistant) and item columns appear only
    when some stored assessment has a value in them, as in a tidy table read from a file. Built
    directly in the canonical dtypes and column order of data.schema.conform (no extra copy).
    """
    if not columns or not len(columns[0]):
        return empty_tidy()
    col = dict(zip(READ_COLUMNS, columns, strict=True))
    session = np.array(col["session_key"], dtype=np.int64)
    day_ms = np.array(col["day_ms"], dtype=np.int64)
    frame = {
        "patient_id": _text(col["patient_id"]),
        "protocol": _text(col["protocol"]),
        "instrument": _text(col["instrument"]),
        "session": pd.Series(pd.arrays.IntegerArray(session, session == NO_SESSION), copy=False),
        "day": pd.Series(np.where(day_ms == NO_DAY, np.nan, day_ms / MS_PER_DAY), copy=False),
        "phase": _text(col["phase"]),
        "score": pd.Series(np.array(col["score"], dtype=np.float64), copy=False),
    }
    for name in _OPTIONAL_TEXT:
        if _any(col[name]):
            frame[name] = _text(col[name])
    if _any(col["treatment_resistant"]):
        tr = np.array(col["treatment_resistant"], dtype=object)
        frame["treatment_resistant"] = pd.Series(pd.array(tr, dtype="boolean"), copy=False)
    items = unpack_items(np.array(col["items"], dtype=object))
    answered = items != NO_ITEM
    used = np.flatnonzero(answered.any(axis=0))
    for k in range(int(used.max()) + 1 if len(used) else 0):  # item_1 … the last one answered
        arr = pd.arrays.IntegerArray(items[:, k].astype(np.int64), ~answered[:, k])
        frame[item_column(k + 1)] = pd.Series(arr, copy=False)
    return pd.DataFrame(frame, copy=False)


def key_frame(stored: pd.DataFrame) -> pd.DataFrame:
    """Just the key columns, with plain dtypes for fast merges."""
    return pd.DataFrame({c: stored[c] for c in KEY_COLUMNS}, index=stored.index)
