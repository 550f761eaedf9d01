"""Reading the text cells of an export: blanks and numbers (used by data.validation.validate).

Exports repeat the same few values many times (scores 0–27, two protocols, a few thousand
patient ids), so each column is read once per distinct value and the result is spread back to
the rows by code. This keeps a million-row file fast without per-row Python. A number column
whose every cell is blank or a plain decimal number ("12", "0.25", "-3") is read in one pass by
pyarrow instead (``Numbers``); any other number column falls back to reading per distinct value,
which gives the same numbers and the same messages.
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
    spaces, or a missing marker such as "NA"). ``as_read`` is the column as read when every
    cell already reads as its cleaned value (nothing trimmed, no missing markers), so that the
    accepted cells can be passed on without building the text again; otherwise None.
    """

    codes: np.ndarray
    values: pd.Series
    as_read: pa.ChunkedArray | None = None

    @classmethod
    def of(cls, column: pd.Series) -> Coded:
        """Code a column of text cells (any dtype; <NA> and None are blank)."""
        codes, uniques = _factorize(column)
        raw = pd.Series(uniques, dtype=TEXT)
        text = raw.str.strip()
        blank = (text.isna() | text.str.lower().isin(MISSING_MARKERS)).to_numpy(dtype=bool)
        text = text.mask(blank)
        as_read = None
        if bool((text == raw).fillna(True).all()):
            # Nothing was trimmed, so distinct cells stay distinct: only blanks need recoding.
            clean = text[~blank]
            if blank.any():
                recodes = np.where(blank, -1, np.cumsum(~blank) - 1)
                lookup = np.append(recodes, -1).astype(np.int64)  # a blank cell stays -1
                codes = lookup[codes]
            else:
                as_read = arrow_column(column)
        else:
            recodes, clean = pd.factorize(text, use_na_sentinel=True)
            codes = np.append(recodes, -1).astype(np.int64)[codes]
        return cls(
            codes=codes,
            values=pd.Series(clean, dtype=TEXT).reset_index(drop=True),
            as_read=as_read,
        )

    @classmethod
    def empty(cls, n: int) -> Coded:
        """A column of ``n`` blank cells (for a column the export does not have)."""
        return cls(codes=np.full(n, -1, dtype=np.int64), values=pd.Series([], dtype=TEXT))

    def subset(self, keep: np.ndarray) -> Coded:
        """The same column restricted to the rows where ``keep`` is true."""
        return Coded(codes=self.codes[keep], values=self.values)

    def take(self, positions: np.ndarray, every_row: bool) -> pd.api.extensions.ExtensionArray:
        """The cleaned text of the rows at ``positions`` (<NA> when blank), as a text array.

        ``every_row`` says that ``positions`` is every row in order, so that a column passed on
        as read is not copied.
        """
        if self.as_read is None:
            return take_text(self.values, self.codes[positions])
        if every_row:
            return pd.arrays.ArrowStringArray(self.as_read)
        return pd.arrays.ArrowStringArray(self.as_read.take(pa.array(positions, pa.int64())))

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

    def whole(self) -> np.ndarray:
        """True where the cell is a whole number (False when blank or not a number)."""
        return self.spread(is_whole(parse_numbers(self.values)), False)


#: Bytes of a plain decimal number: digits, a decimal point and a minus sign.
_PLAIN_LOW, _PLAIN_HIGH, _SLASH, _POINT = ord("-"), ord("9"), ord("/"), ord(".")
_ZERO = ord("0")


@dataclass(frozen=True)
class Numbers:
    """A number column whose every cell is blank or a plain decimal number ("12", "0.25",
    "-3", "007"), read by pyarrow in one pass.

    Such cells read exactly as ``parse_numbers`` reads them (the same pyarrow cast, and no
    decimal comma, exponent, sign "+" or missing marker can occur), so ``Numbers`` stands in
    for ``Coded`` in the number rules: ``present``, ``blank``, ``numbers()``, ``text()`` and
    ``subset()`` give what they give on the same column coded. ``number`` is each row's value
    (NaN when blank); ``as_read`` is the column as read, for messages.
    """

    number: np.ndarray
    as_read: pa.ChunkedArray
    integral: bool = False  # no cell has a decimal point: every number is whole

    @classmethod
    def of(cls, column: pd.Series) -> Numbers | None:
        """Read ``column`` as plain numbers, or None when any cell is something else (the
        caller then codes the column and reads it per distinct value)."""
        text = arrow_column(column)
        plain, point, minus = _plain_bytes(text) if text is not None else (False, True, True)
        if not plain:
            return None
        number = np.empty(len(text), dtype=np.float64)
        start = 0
        for chunk in text.chunks:  # chunk by chunk: no second full-length copy
            try:
                parsed = _cast_plain(chunk, digits_only=not (point or minus))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None  # e.g. "1.2.3", "-", "." or "", which only the coded reading handles
            number[start : start + len(chunk)] = parsed.to_numpy(zero_copy_only=False)
            start += len(chunk)
        if int(np.count_nonzero(np.isfinite(number))) != len(text) - text.null_count:
            return None  # a value too large for a float, which is not a finite number
        number.setflags(write=False)  # shared by every rule that reads this column
        return cls(number=number, as_read=text, integral=not point)

    @property
    def present(self) -> np.ndarray:
        """True where the cell holds a number."""
        return ~np.isnan(self.number)

    @property
    def blank(self) -> np.ndarray:
        """True where the cell is blank."""
        return np.isnan(self.number)

    def numbers(self) -> np.ndarray:
        """Each row's value as a float (NaN when blank)."""
        return self.number

    def whole(self) -> np.ndarray:
        """True where the cell is a whole number (False when blank)."""
        return self.present if self.integral else is_whole(self.number)

    def text(self, positions: np.ndarray | None = None) -> pd.Series:
        """The text of the rows at ``positions`` (all rows when None), <NA> when blank."""
        text = self.as_read if positions is None else self.as_read.take(pa.array(positions))
        return pd.Series(pd.arrays.ArrowStringArray(text), dtype=TEXT)

    def subset(self, keep: np.ndarray) -> Numbers:
        """The same column restricted to the rows where ``keep`` is true."""
        return Numbers(
            number=self.number[keep],
            as_read=self.as_read.filter(pa.array(keep)),
            integral=self.integral,
        )


def _plain_bytes(text: pa.ChunkedArray) -> tuple[bool, bool, bool]:
    """Whether the cells hold no byte but digits, "." and "-" (a cheap test on the bytes), and
    whether any holds a "." and whether any holds a "-"."""
    point = minus = False
    for chunk in text.chunks:
        if len(chunk) == chunk.null_count or chunk.buffers()[2] is None:
            continue  # no bytes to look at (an empty cell fails the cast)
        buffers = chunk.buffers()
        kind = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(buffers[1], dtype=kind)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        if not data.size:
            continue
        low = int(data.min())
        if low < _PLAIN_LOW or data.max() > _PLAIN_HIGH or bool((data == _SLASH).any()):
            return False, point, minus
        if low < _ZERO:  # only "-" and "." sort below the digits here
            point = point or bool((data == _POINT).any())
            minus = minus or bool((data == _PLAIN_LOW).any())
    return True, point, minus


def _cast_plain(chunk: pa.Array, digits_only: bool) -> pa.Array:
    """Plain decimal numbers as floats. Cells of digits alone are read as whole numbers first
    (quicker, and the same floats: a whole number converts to its nearest float, as its text
    does), falling back to reading them as floats when one is too long for a whole number."""
    if digits_only:
        try:
            return pc.cast(chunk, pa.int64())
        except pa.ArrowInvalid:
            pass
    return pc.cast(chunk, pa.float64())


def _factorize(column: pd.Series) -> tuple[np.ndarray, Any]:
    """``pd.factorize(column, use_na_sentinel=True)``; a ``string[pyarrow]`` column is encoded
    by pyarrow chunk by chunk, without full-length temporary copies, into int32 codes."""
    text = arrow_column(column)
    if text is not None and text.num_chunks:
        encoded = text.dictionary_encode()
        dictionary = encoded.chunk(0).dictionary
        if all(chunk.dictionary.equals(dictionary) for chunk in encoded.chunks):
            codes = np.empty(len(text), dtype=np.int32 if len(dictionary) < 2**31 else np.int64)
            start = 0
            for chunk in encoded.chunks:
                indices = chunk.indices
                if indices.null_count:
                    indices = pc.fill_null(indices, -1)
                codes[start : start + len(chunk)] = indices.to_numpy(zero_copy_only=False)
                start += len(chunk)
            return codes, pd.arrays.ArrowStringArray(dictionary)
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), uniques


def arrow_column(column: pd.Series) -> pa.ChunkedArray | None:
    """The pyarrow array holding a ``string[pyarrow]`` column, or None for any other dtype."""
    if column.dtype != TEXT:
        return None
    text = column.array.__arrow_array__()
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return None
    return text if isinstance(text, pa.ChunkedArray) else pa.chunked_array([text])


def read_cells(column: pd.Series, numeric: bool) -> Coded | Numbers:
    """A column's cells for the validation rules: ``Numbers`` for a number column of plain
    numbers, else ``Coded``."""
    if numeric:
        plain = Numbers.of(column)
        if plain is not None:
            return plain
    return Coded.of(column)


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
    with np.errstate(invalid="ignore"):
        whole = values.astype(np.int64)  # NaN gives a junk number, set to 0 below
    whole[missing] = 0
    return pd.arrays.IntegerArray(whole, missing)


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


def code_dtype(n_labels: int) -> type[np.signedinteger]:
    """The smallest integer type for codes into ``n_labels`` labels, with -1 for none (a code
    per row is kept small: a million rows of int8 codes take 1 MB)."""
    for kind in (np.int8, np.int16, np.int32):
        if n_labels < np.iinfo(kind).max:
            return kind
    return np.int64


def is_whole(numbers: np.ndarray) -> np.ndarray:
    """True where a number is finite and whole."""
    return np.isfinite(numbers) & (numbers == np.floor(numbers))


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


def as_text(values: np.ndarray) -> pd.Series:
    """An object array of strings as a text Series (for message building)."""
    return pd.Series(values, dtype=TEXT)
