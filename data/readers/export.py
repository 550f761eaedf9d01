"""Export readers: bytes or a path → ``RawTable`` (SPEC section 2; docs/architecture.md).

``read_export`` decides CSV or XLSX by content (an .xlsx workbook is a zip file), reads the
cells as text (``data.readers.csv``, ``data.readers.xlsx``), maps the headers (``data.readers.headers``) and
melts wide exports (one row per visit, one column per questionnaire) to long shape (one row
per assessment). Anything that makes the whole file unusable raises ``UnusableFileError`` with
a message and a fix; no input gives a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.errors import Problem, ReliefCheckError, UnusableFileError
from data.instruments import Registry
from data.limits import MAX_CELL_CHARS, MAX_FILE_BYTES
from data.plurals import count_of
from data.privacy_values import identifying_texts
from data.readers.csv import read_csv_grid
from data.readers.headers import (
    ColumnPlan,
    Grid,
    column_letter,
    detect_mapping,
    display_headers,
    plan_columns,
)
from data.readers.xlsx import read_xlsx_grid
from data.schema import item_columns

__all__ = ["MAX_FILE_BYTES", "NOT_USED", "RawTable", "detect_mapping", "read_export"]

#: A column mapping value that leaves the column out: it is dropped as soon as the file is read,
#: so no check looks at its values (the privacy gate included) and nothing shows or stores them.
NOT_USED = "(not used)"

STRING = pd.StringDtype("pyarrow")
_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_EXCEL_EXT = (".xlsx", ".xlsm", ".xls")


@dataclass(frozen=True)
class RawTable:
    """An export as read, before validation.

    ``frame`` has canonical column names where a header maps (patient_id, protocol, instrument,
    session, day, date, phase, score, item_1 … item_k, site, clinician, route,
    treatment_resistant), unmapped columns under their own header, every value as text
    (dtype ``string[pyarrow]``, trimmed of surrounding spaces, <NA> for a blank cell), and
    ``source_row`` (int64): the spreadsheet row number (header = 1) each row came from: in a
    CSV the record's index + 2, so a quoted value spanning several lines still counts as one
    row, as spreadsheet programs show it; in a workbook the row number Excel shows. Rows blank
    in every cell are left out. Wide exports are already melted to long shape, so several
    rows can share a ``source_row``; their ``instrument`` is then a registry key.

    ``origin`` maps each canonical column to the header it came from; for a wide export the
    keys are ``"<instrument>/score"`` and ``"<instrument>/item_k"`` (use ``header_for``).
    ``encoding`` is the text encoding of a CSV (``utf-8``, ``utf-8-sig``, ``utf-16-le``,
    ``cp1252`` …; ``utf-8+cp1252`` for UTF-8 with stray Windows-1252 bytes). ``preamble`` holds
    the text of the rows a workbook has above its header row (a title), which are not read as
    data; the privacy gate checks them.
    """

    frame: pd.DataFrame
    origin: dict[str, str] = field(default_factory=dict)  # canonical column → header in the file
    shape: Literal["long", "wide"] = "long"
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    n_source_rows: int = 0  # data rows in the file (header excluded)
    notes: tuple[Problem, ...] = ()  # warnings raised while reading
    preamble: tuple[str, ...] = ()  # text of the cells above a sheet's header row (its title)

    def header_for(self, column: str, instrument: str | None = None) -> str:
        """The file's header for a canonical column (of ``instrument``'s columns, when wide)."""
        if instrument is not None and f"{instrument}/{column}" in self.origin:
            return self.origin[f"{instrument}/{column}"]
        return self.origin.get(column, column)


def _unusable(message: str, fix: str) -> UnusableFileError:
    return UnusableFileError([Problem(message, fix)])


def _too_big(size: int) -> UnusableFileError:
    return _unusable(
        f"The file is {size / 2**20:.0f} MB; ReliefCheck reads files up to "
        f"{MAX_FILE_BYTES / 2**20:.0f} MB.",
        "Export a shorter period or one site at a time, or leave out columns ReliefCheck does "
        "not use (notes, free text), and upload the parts one by one.",
    )


def _load(source: object, filename: str | None) -> tuple[bytes, str | None]:
    """The file's bytes and name; UnusableFileError when it cannot be opened or is too big."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif hasattr(source, "getvalue") or hasattr(source, "read"):  # an uploaded file object
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
        filename = filename or getattr(source, "name", None)
    else:
        path = Path(os.fspath(source))
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise _too_big(size)
            data = path.read_bytes()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or "it could not be opened"
            raise _unusable(
                f"Cannot open the file '{path}' ({reason}).",
                "Check the file name and folder, and that you may read the file.",
            ) from None
        filename = filename or path.name
    if len(data) > MAX_FILE_BYTES:
        raise _too_big(len(data))
    return data, filename


def _read_grid(data: bytes, filename: str | None, registry, mapping, sheet) -> Grid:
    ext = Path(filename).suffix.lower() if filename else ""
    blank = b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"
    if not data[:4096].strip(blank) and not data.strip(blank):
        raise _unusable(
            "The file is empty.",
            "Export the outcome scores again from your records system and upload that file.",
        )
    if data.startswith(_OLE2):
        raise _unusable(
            "This is an old-style Excel workbook (.xls) or a password-protected workbook, "
            "which ReliefCheck cannot read.",
            "Open it in Excel, remove any password, and save it as .xlsx or as 'CSV UTF-8'.",
        )
    if data.startswith(b"%PDF"):
        raise _unusable(
            "This file is a PDF, not a spreadsheet.",
            "Export the outcome scores as CSV or as an Excel .xlsx workbook.",
        )
    if data.startswith(_ZIP) or data.startswith(b"PK\x05\x06"):
        grid = read_xlsx_grid(data, registry=registry, mapping=mapping, sheet=sheet)
        if ext and ext not in _EXCEL_EXT:
            grid = _with_note(
                grid,
                f"The file is named '{filename}' but is an Excel workbook; it was read as one.",
            )
        return grid
    grid = read_csv_grid(data)
    if ext in _EXCEL_EXT:
        grid = _with_note(
            grid,
            f"The file is named '{filename}' but holds text, not an Excel "
            "workbook; it was read as CSV.",
        )
    return grid


def _with_note(grid: Grid, message: str) -> Grid:
    note = Problem(message, "Nothing to do if the preview looks right.", severity="warning")
    return Grid(**{**grid.__dict__, "notes": (*grid.notes, note)})


def _drop_blank_unnamed(grid: Grid) -> Grid:
    """Leave out columns with neither a header nor any value (trailing separators)."""
    t = grid.table
    keep = [
        i for i, h in enumerate(grid.header) if h is not None or t.column(i).null_count < t.num_rows
    ]
    if len(keep) == len(grid.header):
        return grid
    table = pa.table([t.column(i) for i in keep], names=[f"c{j}" for j in range(len(keep))])
    header = [grid.header[i] for i in keep]
    return Grid(**{**grid.__dict__, "table": table, "header": header})


def _drop_not_used(
    grid: Grid, mapping: Mapping[str, object] | None
) -> tuple[Grid, Mapping[str, object] | None]:
    """Leave out the columns the mapping marks ``NOT_USED``, with a note naming their headers
    (a header that itself holds personal details is not repeated); the rest of the mapping."""
    if not mapping or NOT_USED not in mapping.values():
        return grid, mapping
    names = display_headers(grid.header)
    drop = [i for i, name in enumerate(names) if mapping.get(name) == NOT_USED]
    rest = {h: t for h, t in mapping.items() if t != NOT_USED}
    if not drop:
        return grid, rest
    keep = [i for i in range(len(names)) if i not in set(drop)]
    t = grid.table
    table = (
        pa.table([t.column(i) for i in keep], names=[f"c{j}" for j in range(len(keep))])
        if keep
        else pa.table({})
    )
    shown = [names[i] for i in drop]
    hidden = identifying_texts(shown)
    listed = ", ".join(
        "(a header holding personal details)" if h else f"'{n}'"
        for n, h in zip(shown, hidden, strict=True)
    )
    note = Problem(
        f"{count_of(len(drop), 'column was', 'columns were')} not read, as the column mapping "
        f"marks {'it' if len(drop) == 1 else 'them'} {NOT_USED}: {listed}. Nothing from "
        f"{'it' if len(drop) == 1 else 'them'} was checked, shown or stored.",
        "Nothing to do if those columns are not needed; otherwise map them in the column mapping.",
        severity="warning",
    )
    header = [grid.header[i] for i in keep]
    notes = (*grid.notes, note)
    return Grid(**{**grid.__dict__, "table": table, "header": header, "notes": notes}), rest


def _check_cell_lengths(grid: Grid) -> None:
    """Refuse the file when a cell holds more than MAX_CELL_CHARS characters (naming it)."""
    for i, text in enumerate(grid.header):
        if text is not None and len(text) > MAX_CELL_CHARS:
            raise _unusable(
                f"The header of column {column_letter(i)} holds more than {MAX_CELL_CHARS:,} "
                "characters, the most a spreadsheet cell can hold.",
                "Shorten that header, then upload again.",
            )
    names = display_headers(grid.header)
    for i, col in enumerate(grid.table.columns):
        if not len(col) or (pc.max(pc.binary_length(col)).as_py() or 0) <= MAX_CELL_CHARS:
            continue
        long = pc.greater(pc.utf8_length(col), MAX_CELL_CHARS)
        hits = np.flatnonzero(pc.fill_null(long, False).to_numpy(zero_copy_only=False))
        if len(hits):
            raise UnusableFileError(
                [
                    Problem(
                        f"This cell holds more than {MAX_CELL_CHARS:,} characters, the most a "
                        "spreadsheet cell can hold.",
                        "Shorten or clear that cell (a scores export needs no long text), then "
                        "upload again.",
                        row=int(grid.source_row[hits[0]]),
                        column=names[i],
                    )
                ]
            )


def _formula_notes(grid: Grid) -> list[Problem]:
    """A warning per column holding text that starts with "=": a formula exported as text."""
    notes = []
    names = display_headers(grid.header)
    for i, col in enumerate(grid.table.columns):
        starts = pc.fill_null(pc.starts_with(col, "="), False)
        hits = np.flatnonzero(starts.to_numpy(zero_copy_only=False))
        if len(hits):
            first = grid.source_row[hits[0]]
            notes.append(
                Problem(
                    f"{len(hits)} cell(s) hold a spreadsheet formula as text (e.g. "
                    f"'{col[int(hits[0])].as_py()[:40]}'); ReliefCheck does not compute formulas, "
                    "so they are read as text.",
                    "In the spreadsheet, copy the column and paste it back as values (Paste "
                    "Special → Values), then export again.",
                    row=int(first),
                    column=names[i],
                    severity="warning",
                )
            )
    return notes


def _long(grid: Grid, plan: ColumnPlan) -> pa.Table:
    return grid.table.rename_columns(list(plan.names)).append_column(
        "source_row", pa.array(grid.source_row)
    )


def _any_valid(columns: list[pa.ChunkedArray], n: int) -> np.ndarray:
    filled = np.zeros(n, dtype=bool)
    for col in columns:
        filled |= np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return filled


def _melt(grid: Grid, plan: ColumnPlan, registry: Registry) -> tuple[pa.Table, list[Problem]]:
    """Wide → long: one row per (visit row, instrument with any value), in file order and, within
    a visit row, in registry order. Each value column is one ``take`` from the instruments'
    columns laid end to end.
    """
    t, n = grid.table, grid.table.num_rows
    ids = [i for i, tg in enumerate(plan.targets) if not (tg and tg.instrument)]
    per_ins: dict[str, dict[str, int]] = {}
    for i, tg in enumerate(plan.targets):
        if tg and tg.instrument:
            per_ins.setdefault(tg.instrument, {})[tg.column] = i
    keys = sorted(per_ins, key=registry.keys.index)
    text_type = t.schema.field(0).type  # every cell column: string, or large_string (CSV)
    value_cols = ["score"] + sorted(
        {c for cols in per_ins.values() for c in cols if c != "score"}, key=lambda c: int(c[5:])
    )
    present = np.column_stack(
        [_any_valid([t.column(i) for i in per_ins[k].values()], n) for k in keys]
    )
    rows, codes = np.nonzero(present)  # row-major: by visit row, then registry order
    rows_pa = pa.array(rows)
    arrays = [t.column(i).combine_chunks().take(rows_pa) for i in ids]
    arrays.append(pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), keys))
    for c in value_cols:
        have = [k for k in keys if c in per_ins[k]]
        stacked = [ch for k in have for ch in t.column(per_ins[k][c]).chunks]
        stacked.append(pa.nulls(1, text_type))
        # Position of each instrument's column in the stack; the last slot is one null cell.
        base = np.array([have.index(k) * n if k in have else -1 for k in keys], dtype=np.int64)
        flat = np.where(base[codes] >= 0, base[codes] + rows, len(have) * n)
        arrays.append(pa.chunked_array(stacked, text_type).combine_chunks().take(flat))
    arrays.append(pa.array(grid.source_row[rows]))
    names = [plan.names[i] for i in ids] + ["instrument", *value_cols, "source_row"]
    table = pa.table(arrays, names=names)
    table = table.set_column(len(ids), "instrument", table.column("instrument").cast(pa.string()))
    notes = []
    used = present.any(axis=1)
    if not used.all():
        skipped = grid.source_row[~used]
        shown = ", ".join(str(r) for r in skipped[:10]) + (" …" if len(skipped) > 10 else "")
        notes.append(
            Problem(
                f"{len(skipped)} row(s) have no questionnaire score or item and hold no "
                f"assessment: row(s) {shown}.",
                "Nothing to do if these visits had no questionnaire; otherwise fill in the "
                "scores and upload again.",
                severity="warning",
            )
        )
    return table, notes


def _to_frame(table: pa.Table) -> pd.DataFrame:
    names = table.column_names
    items = item_columns(pd.DataFrame(columns=names))
    rest = [c for c in names if c not in items and c != "source_row"]
    text = (pa.string(), pa.large_string())
    if len(set(names)) < len(names) or any(table.column(c).type not in text for c in rest + items):
        frame = table.to_pandas(types_mapper={pa.string(): STRING, pa.large_string(): STRING}.get)
        frame["source_row"] = frame["source_row"].astype("int64")
        return frame[[*rest, *items, "source_row"]]
    # The text columns are passed to pandas as they are (no copy).
    columns = {c: pd.arrays.ArrowStringArray(table.column(c)) for c in [*rest, *items]}
    columns["source_row"] = table.column("source_row").to_numpy().astype("int64")
    return pd.DataFrame(columns, copy=False)


def read_export(
    source: bytes | str | Path,
    *,
    filename: str | None = None,
    registry: Registry,
    mapping: Mapping[str, str | None] | None = None,
    sheet: str | int | None = None,
) -> RawTable:
    """Read a CSV or XLSX export into a RawTable; UnusableFileError when it cannot be used.

    ``source``: the file's bytes, or a path. ``filename`` (taken from the path when not given)
    only informs warnings. ``mapping``: {file header → target} overriding detection for the
    headers it names (targets as in ``data.readers.headers.parse_target``; None keeps the column
    unmapped, under its own header; ``NOT_USED`` leaves it out unread). ``sheet``: an XLSX sheet by name or 0-based index; by default the first sheet
    with a patient id column, with a warning naming it when the workbook has several.
    """
    try:
        data, filename = _load(source, filename)
        grid = _read_grid(data, filename, registry, mapping, sheet)
        grid, mapping = _drop_not_used(grid, mapping)
        grid = _drop_blank_unnamed(grid)
        _check_cell_lengths(grid)
        plan = plan_columns(grid.header, registry, mapping)
        problems = list(plan.problems)
        if grid.table.num_rows == 0:
            where = f" on sheet '{grid.sheet}'" if grid.sheet else ""
            problems.append(
                Problem(
                    f"The file has a header row{where} but no data rows.",
                    "Export the scores again with the assessments included (check the date "
                    "range and filters of the export).",
                )
            )
        if problems:
            raise UnusableFileError(problems)
        notes = [*grid.notes, *plan.notes]
        if grid.sheet is not None or b"=" in data:
            notes += _formula_notes(grid)
        if plan.shape == "wide":
            table, melt_notes = _melt(grid, plan, registry)
            notes += melt_notes
            if table.num_rows == 0:
                raise _unusable(
                    "None of the rows has a questionnaire score or item.",
                    "Check that the export includes the score columns, or map them in the "
                    "column mapping.",
                )
        else:
            table = _long(grid, plan)
        frame = _to_frame(table)
    except ReliefCheckError:
        raise
    except Exception as exc:  # the last line of defence: never a traceback for any input
        # The cause stays on the exception (for logs); the message holds none of a library's
        # wording, which could quote the file's content.
        raise _unusable(
            "The file could not be read: ReliefCheck met something in it that it does not handle.",
            "Open it in a spreadsheet program, save it again as 'CSV UTF-8' or .xlsx, and upload "
            "that file. If it still fails, send the file's first rows to your ReliefCheck "
            "contact.",
        ) from exc
    return RawTable(
        frame=frame,
        origin=dict(plan.origin),
        shape=plan.shape,
        encoding=grid.encoding,
        delimiter=grid.delimiter,
        sheet=grid.sheet,
        sheets=grid.sheets,
        n_source_rows=grid.n_records,
        notes=tuple(notes),
        preamble=grid.preamble,
    )
