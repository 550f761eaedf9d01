"""Researcher tables (SPEC sections 1 and 8): one tidy frame per table, made safe to share.

A ``ResearchTable`` is a tidy DataFrame with a name (the file stem or sheet name), a title, its
footnotes (methods, denominators, the suppression rule) and which columns are counts. Before any
table leaves ReliefCheck, ``prepare_for_export`` applies the two safety rules of SPEC section 8:

- **small-cell suppression** (``suppress_small_cells``): a count from 1 to ``min_n − 1`` is
  replaced by the text ``<5`` (``f"<{min_n}"``), and every figure computed from that count (its
  percentage, CI bounds, a mean over those patients) is blanked, so the count cannot be worked
  back out. Zero is shown as 0: it tells nothing about any one patient. Only primary
  suppression is done: a hidden count can still be recovered by subtraction from a total shown
  beside it (e.g. one protocol from "All"); users who need protection against that must check
  totals themselves.
- **formula neutralising** (``neutralise_formulas``): a text cell starting with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return gets a leading apostrophe, as OWASP's CSV-injection
  advice says, so a spreadsheet shows it as text instead of running it; so does one where such a
  sign follows leading spaces or invisible characters, and the full-width and small forms of the
  signs (``＝1+1``, `` =1+1``). Numbers stored as numbers (−2) are never touched.

The writers (``analysis.export``) call ``prepare_for_export`` themselves, so no path out of the
product skips it. ``wide_for_display`` pivots a tidy table (e.g. Table 1) into the familiar
one-column-per-protocol view for Markdown and the XLSX display sheet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from data.errors import AnalysisError

DEFAULT_MIN_N = 5
"""Counts below this are suppressed in exported tables (SPEC section 8)."""

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is read as a formula by spreadsheets (OWASP)."""

FORMULA_LOOKALIKES = (
    "\u207a\u207c\u208a\u208c\ufb29\ufe62\ufe63\ufe66\ufe6b\uff0b\uff0d\uff1d\uff20"
)
"""Every other character that Unicode NFKC folds to ``=``, ``+``, ``-`` or ``@`` (full-width
``＝``, small ``﹦``, superscript ``⁺`` …): an input method or a locale may turn them into the
real sign, so they are treated as the sign."""

_INVISIBLE = "\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"
_FORMULA_START = re.compile(r"[\t\r\n]|[\s" + _INVISIBLE + r"]*[=+\-@" + FORMULA_LOOKALIKES + "]")
"""Matches at the start of a text a spreadsheet could run: a tab, carriage return or line feed
first, or a formula sign (or a look-alike) after nothing but spaces and invisible characters."""

FORMULA_RULE = (
    "text cells and column names starting with =, +, -, @ (also after leading spaces or "
    "invisible characters, and their full-width or small forms such as ＝), a tab, a carriage "
    "return or a line feed get a leading apostrophe so spreadsheets show them as text; numbers "
    "stay numbers"
)
"""The neutralising rule in words, for the Methods sheet and the docs."""

SUPPRESSED_COLUMN = "suppressed"
"""Column added by suppression: True where a figure of the row was hidden."""

DEFAULT_DECIMALS = 2
"""Decimals shown for a float on display (exports keep every digit)."""


@dataclass(frozen=True, eq=False)
class ResearchTable:
    """One downloadable table.

    ``frame`` is tidy and unrounded. ``count_cols`` name the columns holding patient counts;
    ``derived`` maps a count column to the columns computed from it (blanked when it is hidden).
    ``decimals`` sets display decimals per column. ``pivot`` = (row key columns, column key)
    asks ``wide_for_display`` for a wide view; the tidy frame then needs a ``statistic`` column.
    ``min_n_applied`` is set by ``prepare_for_export`` once suppression has been applied.
    """

    name: str
    title: str
    frame: pd.DataFrame
    notes: tuple[str, ...] = ()
    count_cols: tuple[str, ...] = ()
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    decimals: Mapping[str, int] = field(default_factory=dict)
    pivot: tuple[tuple[str, ...], str] | None = None
    min_n_applied: int | None = None


def suppression_marker(min_n: int = DEFAULT_MIN_N) -> str:
    """The text shown instead of a small count: ``<5`` for the default threshold."""
    return f"<{min_n}"


def suppression_note(min_n: int = DEFAULT_MIN_N) -> str:
    """The footnote every exported table carries about suppression."""
    return (
        f"Counts from 1 to {min_n - 1} are shown as {suppression_marker(min_n)} and the figures "
        "computed from them (percentages, CIs, means) are left blank; zero is shown as 0. "
        "Only primary suppression is applied: a hidden count may be recoverable from totals."
    )


def _check_min_n(min_n: int) -> None:
    if isinstance(min_n, bool) or not isinstance(min_n, int | np.integer) or min_n < 1:
        raise AnalysisError(
            f"The small-cell threshold must be a whole number of 1 or more (got {min_n!r}); "
            "the usual value is 5."
        )


def suppress_small_cells(
    frame: pd.DataFrame,
    count_cols: Sequence[str],
    derived: Mapping[str, Sequence[str]] | None = None,
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Hide counts from 1 to ``min_n − 1`` and every figure derived from them.

    A hidden count becomes the text ``f"<{min_n}"`` (its column turns to object dtype only
    when something is hidden); the columns ``derived[col]`` of that row become missing. Zero and
    counts of ``min_n`` or more are kept. A ``suppressed`` column (True where any count of the
    row was hidden) is added or updated. Applying it twice gives the same table.
    """
    _check_min_n(min_n)
    derived = dict(derived or {})
    wanted = list(count_cols) + [c for cols in derived.values() for c in cols]
    absent = [c for c in dict.fromkeys([*wanted, *derived]) if c not in frame.columns]
    if absent:
        raise AnalysisError(
            f"The table has no column {', '.join(repr(c) for c in absent)} to suppress; "
            "check the names of the count columns."
        )
    marker = suppression_marker(min_n)
    out = frame.copy()
    hidden_any = np.zeros(len(out), dtype=bool)
    if SUPPRESSED_COLUMN in out.columns:
        hidden_any |= out[SUPPRESSED_COLUMN].fillna(False).to_numpy(dtype=bool)
    for col in count_cols:
        raw = out[col]
        is_marker = (raw.astype(object) == marker).to_numpy(dtype=bool)
        values = pd.to_numeric(raw.astype(object).where(~is_marker), errors="coerce")
        values = values.astype("float64")
        unreadable = values.isna().to_numpy() & raw.notna().to_numpy() & ~is_marker
        if unreadable.any():
            bad = raw[unreadable].iloc[0]
            raise AnalysisError(
                f"Column '{col}' should hold patient counts but has {bad!r}; counts must be "
                "whole numbers."
            )
        small = ((values >= 1) & (values < min_n)).to_numpy(dtype=bool) | is_marker
        if small.any():
            out[col] = raw.astype(object).where(~small, marker)
            for dcol in derived.get(col, ()):
                out[dcol] = out[dcol].mask(small)
        hidden_any |= small
    out[SUPPRESSED_COLUMN] = hidden_any
    return out


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if pd.api.types.is_object_dtype(frame[c].dtype)
        or pd.api.types.is_string_dtype(frame[c].dtype)
        or isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]


def starts_like_formula(text: str) -> bool:
    """Whether a spreadsheet could run ``text`` as a formula (see ``_FORMULA_START``)."""
    return _FORMULA_START.match(text) is not None


def neutralise_text(value: object) -> object:
    """One cell or column label made safe: text a spreadsheet could run gets a leading
    apostrophe; anything else (numbers, missing values, safe text) is returned unchanged."""
    return "'" + value if isinstance(value, str) and starts_like_formula(value) else value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix an apostrophe to text cells (and column labels) that a spreadsheet would run.

    A text cell starting with ``=``, ``+``, ``-``, ``@``, tab, carriage return or line feed
    becomes ``"'" + text`` (OWASP, CSV Injection); so does one where a formula sign (or its
    full-width or small form) follows leading spaces or invisible characters (``" =1+1"``,
    ``"＝1+1"``). Only text is touched: numbers stored as numbers keep their value and type, so
    −2.0 stays a number while the text "-2" becomes "'-2". Applying it twice changes nothing
    more.
    """
    out = frame.copy()
    for col in _text_columns(out):
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        try:
            hit = s.str.match(_FORMULA_START)
        except AttributeError:  # an object column without any text, e.g. all numbers
            continue
        hit = hit.astype(object).eq(True)
        if hit.any():
            out[col] = s.mask(hit, "'" + s.astype(str))
        else:
            out[col] = s
    out.columns = [neutralise_text(c) for c in out.columns]
    return out


def prepare_for_export(table: ResearchTable, min_n: int = DEFAULT_MIN_N) -> ResearchTable:
    """The table as it may leave the product: small cells suppressed, formulas neutralised and
    the suppression rule added to its notes. Idempotent for one ``min_n``."""
    _check_min_n(min_n)
    if table.min_n_applied is not None:
        if table.min_n_applied != min_n:
            raise AnalysisError(
                f"Table '{table.name}' was already suppressed at n < {table.min_n_applied}; "
                f"export it again from the unsuppressed table to use n < {min_n}."
            )
        return table
    frame = table.frame
    if table.count_cols:
        frame = suppress_small_cells(frame, table.count_cols, table.derived, min_n)
    note = suppression_note(min_n)
    notes = table.notes if note in table.notes else (*table.notes, note)
    return replace(table, frame=neutralise_formulas(frame), notes=notes, min_n_applied=min_n)


# --------------------------------------------------------------------------- display


def format_number(value: object, decimals: int = DEFAULT_DECIMALS) -> str:
    """One figure as display text: whole numbers without decimals, floats to ``decimals``,
    missing as empty text, yes/no for booleans, text unchanged."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.{decimals}f}"
    return str(value)


def display_frame(table: ResearchTable) -> pd.DataFrame:
    """The tidy frame as text, each float column to its display decimals (``decimals``)."""
    out = {}
    for col in table.frame.columns:
        d = table.decimals.get(col, DEFAULT_DECIMALS)
        out[col] = table.frame[col].astype(object).map(lambda v, d=d: format_number(v, d))
    return pd.DataFrame(out, index=table.frame.index, columns=table.frame.columns)


def _whole_or(value: object, decimals: int) -> str:
    """A figure that is often whole (a median count): no decimals when it is whole."""
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return format_number(value, decimals)


def _cell_text(frame: pd.DataFrame, decimals: Mapping[str, int]) -> pd.Series:
    """Display text of each tidy row according to its ``statistic``."""

    def get(col: str) -> pd.Series:
        if col in frame.columns:
            return frame[col].astype(object)
        return pd.Series(None, index=frame.index, dtype=object)

    def fmt(col: str, default: int, whole: bool = False) -> pd.Series:
        d = decimals.get(col, default)
        f = _whole_or if whole else format_number
        return get(col).map(lambda v: f(v, d))

    stat = get("statistic").fillna("n")
    n_txt = fmt("n", 0)
    n_is_text = get("n").map(lambda v: isinstance(v, str))
    pct = fmt("pct", 1)
    n_pct = n_txt.where(pct.eq("") | n_is_text, n_txt + " (" + pct + "%)")
    mean_sd = fmt("mean", 1) + " (" + fmt("sd", 1) + ")"
    med = fmt("median", 1, True) + " (" + fmt("q1", 1, True) + "–" + fmt("q3", 1, True) + ")"
    hidden = "n" + n_txt
    text = n_txt.copy()
    text = text.mask(stat.eq("n (%)"), n_pct)
    text = text.mask(stat.eq("mean (SD)"), mean_sd.where(~n_is_text, hidden))
    text = text.mask(stat.eq("median (IQR)"), med.where(~n_is_text, hidden))
    empty = stat.isin(["mean (SD)", "median (IQR)"]) & get("n").eq(0)
    return text.mask(empty, "–")


def wide_for_display(table: ResearchTable) -> pd.DataFrame:
    """The table as people read it: for a pivoted table (e.g. Table 1) one row per row key and
    one text column per value of the column key (protocols, then All), cells such as
    ``12 (40.0%)``, ``14.2 (3.1)`` or ``5 (4–7)``; a suppressed mean shows ``n<5``. Other
    tables come back as ``display_frame``. Rows and columns keep their order of appearance.
    """
    if table.pivot is None:
        return display_frame(table)
    keys, col = list(table.pivot[0]), table.pivot[1]
    frame = table.frame
    missing = [c for c in [*keys, col] if c not in frame.columns]
    if missing:
        raise AnalysisError(f"Table '{table.name}' has no column {', '.join(missing)} to pivot.")
    text = _cell_text(frame, table.decimals)
    key_frame = frame[keys].astype(object).fillna("")
    col_values = frame[col].astype(object).fillna("").astype(str)
    index = pd.MultiIndex.from_frame(key_frame.assign(_column=col_values.to_numpy()))
    if index.duplicated().any():
        raise AnalysisError(f"Table '{table.name}' has two rows for one cell of its wide view.")
    wide = pd.Series(text.to_numpy(), index=index).unstack("_column")
    rows = pd.MultiIndex.from_frame(key_frame).unique()
    if len(keys) == 1:
        rows = rows.get_level_values(0)
    wide = wide.reindex(index=rows, columns=pd.unique(col_values)).fillna("")
    wide.columns.name = None
    return wide.reset_index()
