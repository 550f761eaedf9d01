"""Privacy gate (SPEC section 8; docs/validation.md): an export that names people or holds
direct identifiers is refused as a whole, before anything from it is checked or stored.

Three checks, all on the file as read:

* **headers** (``data.validation.privacy_headers``): a column whose header names a person or a direct
  identifier, in English, German, French or Spanish, abbreviated or not ("Pt_Nm", "D.O.B.",
  "Med Rec #", "Vorname", "Teléfono", "First", "Contact" …). "Instrument name", "Site name",
  "clinician", "site", "last session" and the like are allowed.
* **values** (``data.privacy_values``): emails, phone numbers (with or without separators),
  SSNs, NHS numbers (by their check digit), "DOB …", "patient Jane Smith", street addresses
  and postcodes, dates in free-text columns, and a patient_id or clinician that is a name.
  Numeric ids of up to 8 digits (zero padding aside) pass.
* **text above the header** (``RawTable.preamble``: the title rows of a workbook that the
  reader skipped) and the header cells themselves: emails, phone numbers, "DOB …", names after
  "patient"/"Mr"/"Dr", addresses.

Each column is scanned once per distinct value, with regular expressions run by pyarrow.
Problems name the column and one example row, never the identifying value itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.errors import Problem
from data.privacy_values import (
    DATED_TEXT,
    DATES,
    LONG_NUMBERS,
    PERSON,
    classify,
    identifying_texts,
    rules_for,
)
from data.readers.export import RawTable
from data.schema import item_columns
from data.validation.privacy_headers import header_words, identifier_kind

__all__ = [
    "example_is_safe",
    "find_identifiers",
    "header_words",
    "identifier_kind",
    "looks_identifying",
    "plain_number_suspects",
    "preamble_problems",
    "refused_for_privacy",
]

TEXT = pd.StringDtype("pyarrow")

#: A plain decimal number (digits, at most one decimal point, a leading minus) can only match
#: a value rule if it has at least this many characters: a run of 9 digits, or a national
#: phone number (0, then at least nine more digits).
_PLAIN_NUMBER_SUSPECT_LENGTH = 9

_STORED = "ReliefCheck accepts anonymised data only, so nothing from this file was stored."
_NOT_USED = (
    " If ReliefCheck does not need this column, you can instead set it to (not used) in the "
    "column mapping: it is then left out unread."
)
_FIX_COLUMN = (
    "Delete this column from the export (ReliefCheck needs only pseudonymous ids such as "
    "P-0012), then upload the file again." + _NOT_USED
)
_FIX_VALUES = (
    "Delete this column, or replace these values with pseudonymous ids (such as P-0012), "
    "then upload the file again." + _NOT_USED
)
_FIX_BY_KIND = {
    DATES: (
        "Delete this column, or take the dates out of it (the assessment date belongs in the "
        "date column; a date of birth has no place in the export), then upload the file again."
        + _NOT_USED
    ),
    LONG_NUMBERS: (
        "Delete this column, or replace these values with pseudonymous ids (such as P-0012, or "
        "numbers of at most 8 digits), then upload the file again." + _NOT_USED
    ),
}
_FIX_PREAMBLE = (
    "Delete the title rows above the header row (or the identifying text in them) in the "
    "spreadsheet, then upload the file again."
)
_FIX_HEADER_TEXT = (
    "Delete any title line above the header row, and rename the column so that its header "
    "holds no personal details, then upload the file again."
)


def plain_number_suspects(text: pa.ChunkedArray) -> pd.Series:
    """The distinct values of a column of plain decimal numbers that could look like an
    identifier (see above); only these need scanning. Passed to ``find_identifiers`` as the
    column's distinct values, it gives the same problems as all of the column's values."""
    long = pc.greater_equal(pc.binary_length(text), _PLAIN_NUMBER_SUSPECT_LENGTH)
    if not pc.any(long).as_py():
        return pd.Series([], dtype=TEXT)
    return pd.Series(pc.unique(text.filter(long)).to_pandas(), dtype=TEXT)


def looks_identifying(values: pd.Series) -> dict[str, np.ndarray]:
    """For each kind of identifier found, a mask over ``values`` of the values that look like
    one, by the strictest rules (those for patient ids: names and dates included). For text
    outside a table, such as an uploaded file's name."""
    found = classify(pa.array(pd.Series(values, dtype=TEXT).array), PERSON)
    kinds = np.array([rule.kind for rule in PERSON], dtype=object)
    return {
        kind: np.isin(found, np.flatnonzero(kinds == kind))
        for kind in dict.fromkeys(kinds[np.unique(found[found >= 0])])
    }


def example_is_safe(header: str, values: Iterable[str], column: str | None = None) -> bool:
    """True when a column's header and example values may be shown on screen (the column
    mapping's "e.g."): the header names no identifier and holds none, and no value looks like
    an identifier by the rules the gate uses for that column (``column``: its canonical name,
    when mapped; an unmapped column gets the strictest rules, those for patient ids)."""
    if identifier_kind(header) is not None or identifying_texts([header]).any():
        return False
    texts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    if not texts:
        return True
    rules = rules_for(column, header_words(header)) if column else PERSON
    return not (classify(pa.array(texts, pa.string()), rules) >= 0).any()


def _first_row(column: pd.Series, bad_values: pd.Series, source_row: pd.Series) -> int | None:
    """Spreadsheet row of the first cell whose (trimmed) value is among ``bad_values``."""
    text = column.astype(TEXT).str.strip()
    hits = text.isin(bad_values).to_numpy(dtype=bool, na_value=False)
    if not hits.any():
        return None
    return int(source_row.iloc[int(np.argmax(hits))])


def _column_problem(header: str, kind: str) -> Problem:
    return Problem(
        message=f"This column's name says it holds {kind}, which identify a person; {_STORED}",
        fix=_FIX_COLUMN,
        column=header,
    )


def _value_problem(header: str, kind: str, row: int | None) -> Problem:
    where = f" (the first is in row {row})" if row is not None else ""
    return Problem(
        message=(
            f"This column holds values that look like {kind}{where}, which identify a person; "
            f"{_STORED}"
        ),
        fix=_FIX_BY_KIND.get(kind, _FIX_VALUES),
        row=row,
        column=header,
    )


def _text_kinds(texts: list[str]) -> list[tuple[int, str]]:
    """(position, kind) of each text that holds an identifier, by the header/title rules."""
    found = classify(pa.array(texts, pa.string()), DATED_TEXT)
    return [(int(i), DATED_TEXT[found[i]].kind) for i in np.flatnonzero(found >= 0)]


def preamble_problems(texts: Iterable[object]) -> list[Problem]:
    """Problems for identifying text in the rows above a file's header row (a workbook's title
    rows, which the reader skips): one per kind, without the text itself. ``texts`` are the
    cells' text, in sheet order; blanks are ignored."""
    cells = [str(t).strip() for t in texts if t is not None and str(t).strip()]
    problems: list[Problem] = []
    seen: set[str] = set()
    for _, kind in _text_kinds(cells):
        if kind in seen:
            continue
        seen.add(kind)
        problems.append(
            Problem(
                message=(
                    f"The rows above the header row hold text that looks like {kind}, which "
                    f"identify a person; {_STORED}"
                ),
                fix=_FIX_PREAMBLE,
            )
        )
    return problems


def _header_text_problems(headers: list[str]) -> list[Problem]:
    """Problems for header cells that themselves hold an identifier (an email, a phone number
    …), one per kind: in a CSV, a title line above the header is read as the header."""
    kinds = dict.fromkeys(kind for _, kind in _text_kinds(headers))
    return [
        Problem(
            message=(
                f"A column header holds text that looks like {kind}, which identify a person; "
                f"{_STORED}"
            ),
            fix=_FIX_HEADER_TEXT,
        )
        for kind in kinds
    ]


def find_identifiers(
    raw: RawTable, distinct: Mapping[str, pd.Series] | None = None
) -> list[Problem]:
    """Every column of ``raw`` that names a person or holds identifier-like values, and any
    identifying text above the header row.

    One Problem per column and kind, naming the column as the file spells it and, for values,
    the first row where one occurs (the value itself is not repeated). An empty list means the
    file passed. ``distinct`` may give the distinct values of some columns when the caller
    already has them (they are then not computed again).
    """
    frame = raw.frame
    distinct = distinct or {}
    if "source_row" in frame:
        source_row = frame["source_row"]
    else:
        source_row = pd.Series(np.arange(2, len(frame) + 2), index=frame.index)
    items = set(item_columns(frame))
    problems = preamble_problems(raw.preamble)
    columns = [c for c in frame.columns if c != "source_row"]
    headers = [raw.origin.get(str(c), str(c)) for c in columns]
    header_kinds = [
        identifier_kind(h) or identifier_kind(c) for h, c in zip(headers, columns, strict=True)
    ]
    unflagged = [h for h, kind in zip(headers, header_kinds, strict=True) if kind is None]
    problems += _header_text_problems(unflagged)
    for col, header, kind in zip(columns, headers, header_kinds, strict=True):
        if kind is not None:
            problems.append(_column_problem(header, kind))
            continue
        if col in distinct:
            uniques = pd.Series(distinct[col], dtype=TEXT).dropna()
        else:
            uniques = pd.Series(pd.factorize(frame[col])[1], dtype=TEXT).str.strip().dropna()
        if uniques.empty:
            continue
        rules = rules_for(str(col), header_words(header), item=col in items)
        found = classify(pa.array(uniques.array), rules)
        if not (found >= 0).any():
            continue
        kinds = np.array([rule.kind for rule in rules], dtype=object)
        for kind in dict.fromkeys(kinds[np.unique(found[found >= 0])]):
            same = np.isin(found, np.flatnonzero(kinds == kind))
            row = _first_row(frame[col], uniques[same], source_row)
            problems.append(_value_problem(header, kind, row))
    return problems


def refused_for_privacy(problems: Iterable[Problem]) -> bool:
    """True when any of a refused file's problems is the privacy gate's (the file holds, or its
    headers announce, personal data): the page then shows its headers only, never a value."""
    return any(_STORED in p.message for p in problems)
