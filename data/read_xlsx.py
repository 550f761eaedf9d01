"""Excel workbooks → ``Grid`` (SPEC section 2), via openpyxl in read-only mode.

Formulas give their cached values (what Excel last showed); a text cell that starts with "="
stays text. Date cells become ISO text (``2024-03-05``, or ``2024-03-05T14:30:00`` with a
time); whole numbers lose their ".0". ``source_row`` is the row number Excel shows. The header
is the first row, or, when a title sits above it, the first of the top rows with a patient id
column.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa

from data.errors import Problem, UnusableFileError
from data.headers import Grid, classify_header, display_headers, parse_target
from data.instruments import Registry

HEADER_SEARCH_ROWS = 10


def _unusable(message: str, fix: str) -> UnusableFileError:
    return UnusableFileError([Problem(message, fix)])


def cell_text(value: object) -> str | None:
    """One cell's value as text (None for blank), as Excel would show it, without formatting."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        value = (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # a duration cell: days, as a number
        return format(value.total_seconds() / 86400, ".15g")
    return str(value).strip() or None


def _check_zip(data: bytes) -> None:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _unusable(
            "This Excel file is damaged (it is not a complete .xlsx workbook).",
            "Open it in Excel and save it again as .xlsx, or export the scores as CSV.",
        ) from None
    if "xl/workbook.xml" in names:
        return
    if "content.xml" in names:
        what = "an OpenDocument (LibreOffice/Numbers) file"
    elif "word/document.xml" in names:
        what = "a Word document"
    else:
        what = "a zip archive"
    raise _unusable(
        f"This file is {what}, not an Excel .xlsx workbook or a CSV file.",
        "Save the scores as an Excel workbook (.xlsx) or as 'CSV UTF-8', and upload that file.",
    )


def _header_index(
    rows: list[tuple], registry: Registry, mapping: Mapping[str, object] | None
) -> int | None:
    """0-based index of the first row with a patient id column (by name or by mapping)."""
    for i, row in enumerate(rows):
        for name in display_headers([cell_text(v) for v in row]):
            if mapping and name in mapping:
                try:
                    target = parse_target(mapping[name], registry)
                except ValueError:
                    target = None
            else:
                target = classify_header(name, registry)
            if target is not None and target.column == "patient_id":
                return i
    return None


def _first_filled(rows: list[tuple]) -> int:
    return next((i for i, r in enumerate(rows) if any(cell_text(v) for v in r)), 0)


def _pick_sheet(
    wb, sheet: str | int | None, registry: Registry, mapping
) -> tuple[str, int, list[Problem]]:
    """The sheet to read, its 0-based header row index, and a note when the choice was ours."""
    names = list(wb.sheetnames)
    listed = ", ".join(f"'{n}'" for n in names)
    if sheet is not None:
        if isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise _unusable(
                    f"The workbook has {len(names)} sheet(s) ({listed}); there is no sheet "
                    f"number {sheet + 1}.",
                    "Choose one of the sheets listed.",
                )
            chosen = names[sheet]
        else:
            matches = [n for n in names if n.strip().lower() == str(sheet).strip().lower()]
            if not matches:
                raise _unusable(
                    f"The workbook has no sheet named '{sheet}'. Its sheets are: {listed}.",
                    "Choose one of the sheets listed.",
                )
            chosen = matches[0]
        top = _top_rows(wb[chosen])
        found = _header_index(top, registry, mapping)
        return chosen, found if found is not None else _first_filled(top), []
    candidates = []
    for name in names:
        top = _top_rows(wb[name])
        found = _header_index(top, registry, mapping)
        if found is not None:
            candidates.append((name, found))
    if not candidates:
        if len(names) == 1:
            return names[0], _first_filled(_top_rows(wb[names[0]])), []
        raise _unusable(
            f"None of the workbook's sheets ({listed}) has a column for the patient id.",
            "Rename the column with the pseudonymous patient ids to 'patient_id' (or 'Client "
            "ID'), or choose the sheet and the column in the column mapping.",
        )
    chosen, index = candidates[0]
    notes = []
    if len(names) > 1:
        others = ", ".join(f"'{n}'" for n in names if n != chosen)
        notes.append(
            Problem(
                f"The workbook has {len(names)} sheets; ReliefCheck read sheet '{chosen}' (the "
                f"first with a patient id column) and did not read {others}.",
                "If the scores are on another sheet, choose that sheet before uploading.",
                severity="warning",
            )
        )
    return chosen, index, notes


def _top_rows(ws) -> list[tuple]:
    return list(ws.iter_rows(min_row=1, max_row=HEADER_SEARCH_ROWS, values_only=True))


def _columns(rows: Iterable[tuple], width: int) -> tuple[list[list[str | None]], int]:
    """Transpose rows into text columns of equal length, widening for longer rows."""
    cols: list[list[str | None]] = [[] for _ in range(width)]
    n = 0
    for row in rows:
        if len(row) > len(cols):
            cols += [[None] * n for _ in range(len(row) - len(cols))]
        for j, col in enumerate(cols):
            v = row[j] if j < len(row) else None
            col.append((v.strip() or None) if type(v) is str else cell_text(v))
        n += 1
    return cols, n


def read_xlsx_grid(
    data: bytes,
    *,
    registry: Registry,
    mapping: Mapping[str, object] | None,
    sheet: str | int | None,
) -> Grid:
    """Read one sheet of an .xlsx workbook into a Grid (header + text cells + Excel row numbers)."""
    _check_zip(data)
    import openpyxl  # imported on first use: reading a CSV export never needs it

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds of errors for damaged workbooks
        raise _unusable(
            "This Excel workbook could not be opened: it is damaged or uses a feature "
            "ReliefCheck cannot read.",
            "Open it in Excel and save it again as .xlsx, or export the scores as 'CSV UTF-8'.",
        ) from None
    try:
        chosen, header_at, notes = _pick_sheet(wb, sheet, registry, mapping)
        ws = wb[chosen]
        rows = ws.iter_rows(min_row=header_at + 1, values_only=True)
        header_cells = next(rows, ())
        header = [cell_text(v) for v in header_cells]
        cols, n = _columns(rows, len(header))
    finally:
        wb.close()
    while len(header) < len(cols):
        header.append(None)
    arrays = [pa.array(col, pa.string()) for col in cols]
    filled = np.zeros(n, dtype=bool)
    for arr in arrays:
        filled |= np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    table = pa.table(arrays, names=[f"c{i}" for i in range(len(arrays))])
    rows_no = np.arange(header_at + 2, header_at + 2 + n, dtype=np.int64)
    if not filled.all():
        table, rows_no = table.filter(pa.array(filled)), rows_no[filled]
    if header_at:
        notes.append(
            Problem(
                f"Rows 1–{header_at} of sheet '{chosen}' are above the header row and were not "
                "read.",
                "Nothing to do if they only hold a title or notes.",
                severity="warning",
            )
        )
    return Grid(
        header=header,
        table=table,
        source_row=rows_no,
        n_records=n,
        sheet=chosen,
        sheets=tuple(wb.sheetnames),
        notes=tuple(notes),
    )
