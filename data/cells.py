"""Reading the text cells of an export: blanks and numbers (used by data.validation).

Exports repeat the same few values many times (scores 0–27, two protocols, a few thousand
patient ids), so each column is read once per distinct value and the result is spread back to
the rows by code. This keeps a million-row file fast without per-row Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pd.StringDtype("pyarrow")

#: Cell contents that mean "nothing here" (compared lower-cased, after trimming spaces).
MISSING_MARKERS = ("", "na", "n/a", "#n/a", "nan", "null", "none", "-", "--", ".")

_DECIMAL_COMMA = r"^([+-]?\d*),(\d+)$"
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?$"


@dataclass(frozen=True)
class Coded:
    """One text column as ``codes`` into its distinct cleaned values.

    ``values`` holds each distinct value once, trimmed of surrounding spaces; ``codes[i]`` is
    the position of row i's value in ``values``, or -1 when the cell is blank (empty, only
    spaces, or a missing marker such as "NA").
    """

    codes: np.ndarray
    values: pd.Series

    @classmethod
    def of(cls, column: pd.Series) -> Coded:
        """Code a column of text cells (any dtype; <NA> and None are blank)."""
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        raw = pd.Series(uniques, dtype=TEXT)
        text = raw.str.strip()
        blank = (text.isna() | text.str.lower().isin(MISSING_MARKERS)).to_numpy(dtype=bool)
        text = text.mask(blank)
        if bool((text == raw).fillna(True).all()):
            # Nothing was trimmed, so distinct cells stay distinct: only blanks need recoding.
            recodes = np.where(blank, -1, np.cumsum(~blank) - 1)
            clean = text[~blank]
        else:
            recodes, clean = pd.factorize(text, use_na_sentinel=True)
        lookup = np.append(recodes, -1).astype(np.int64)  # code -1 (a blank cell) stays -1
        return cls(
            codes=lookup[np.asarray(codes)],
            values=pd.Series(clean, dtype=TEXT).reset_index(drop=True),
        )

    @classmethod
    def empty(cls, n: int) -> Coded:
        """A column of ``n`` blank cells (for a column the export does not have)."""
        return cls(codes=np.full(n, -1, dtype=np.int64), values=pd.Series([], dtype=TEXT))

    def subset(self, keep: np.ndarray) -> Coded:
        """The same column restricted to the rows where ``keep`` is true."""
        return Coded(codes=self.codes[keep], values=self.values)

    @property
    def present(self) -> np.ndarray:
        """True where the cell holds something."""
        return self.codes >= 0

    @property
    def blank(self) -> np.ndarray:
        """True where the cell is blank."""
        return self.codes < 0

    def spread(self, per_value: Any, fill: Any) -> np.ndarray:
        """Spread one result per distinct value back to the rows (``fill`` for blank cells)."""
        arr = np.asarray(per_value)
        return np.concatenate([arr, np.asarray([fill], dtype=arr.dtype)])[self.codes]

    def text(self, positions: np.ndarray | None = None) -> pd.Series:
        """The cleaned text of the rows at ``positions`` (all rows when None), <NA> when blank."""
        codes = self.codes if positions is None else self.codes[positions]
        return pd.Series(take_text(self.values, codes), dtype=TEXT)

    def numbers(self) -> np.ndarray:
        """Each row's value as a float (NaN when blank or not a finite number)."""
        return self.spread(parse_numbers(self.values), np.nan).astype(float)


def take_text(
    labels: Sequence[object] | pd.Series, codes: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """Text column from labels and codes into them (-1 gives <NA>), built by pyarrow."""
    table = pa.array(
        list(labels) if not isinstance(labels, pd.Series) else labels.array, type=pa.large_string()
    )
    index = pa.array(codes, mask=codes < 0, type=pa.int64())
    return pd.arrays.ArrowStringArray(pc.take(table, index))


def int_array(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Nullable Int64 array from whole-number floats (NaN gives <NA>)."""
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)


def arrow_text(values: pd.Series) -> pa.Array:
    """A text Series as one pyarrow string array (for pyarrow's vectorised string kernels)."""
    arr = pa.array(pd.Series(values, dtype=TEXT).array)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def parse_numbers(values: pd.Series) -> np.ndarray:
    """Numbers from text: "12", "12.5", "12,5" (decimal comma), "3.0", "+5" and "1e3" read;
    anything else, and infinities, give NaN."""
    if len(values) == 0:
        return np.array([], dtype=float)
    text = pc.replace_substring_regex(arrow_text(values), _DECIMAL_COMMA, r"\1.\2")
    ok = pc.match_substring_regex(text, _NUMBER).fill_null(False)
    out = np.full(len(text), np.nan)
    out[ok.to_numpy(zero_copy_only=False)] = pc.cast(pc.filter(text, ok), pa.float64()).to_numpy(
        zero_copy_only=False
    )
    return np.where(np.isfinite(out), out, np.nan)


def shorten(text: pd.Series, limit: int = 40) -> pd.Series:
    """Cell text for a message: at most ``limit`` characters, longer values cut with '…'."""
    s = pd.Series(text, dtype=TEXT)
    long = s.str.len() > limit
    return s.where(~long.fillna(False), s.str.slice(0, limit - 1) + "…")


def fmt_number(x: float) -> str:
    """A number the way a clinician writes it: 12, 12.5, 11.25 (no trailing zeros)."""
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.0f}"


def fmt_numbers(values: np.ndarray) -> pd.Series:
    """Vectorised ``fmt_number`` over an array of floats (for messages on failing rows)."""
    uniq, inverse = np.unique(np.asarray(values, dtype=float), return_inverse=True)
    labels = np.array([fmt_number(v) for v in uniq], dtype=object)
    return pd.Series(labels[inverse.ravel()], dtype=TEXT)
