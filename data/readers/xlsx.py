"""Excel workbooks → ``Grid`` (SPEC section 2), via python-calamine.

Before anything is parsed, the archive is checked (data.readers.xlsx_archive: parts, unzipped sizes,
growth, checksums) and so is each sheet's XML before that sheet is read (data.readers.xlsx_scan:
columns, cells, cell length, text): past a limit (data.limits) the file is refused with a
message. A sheet is read to its last cell holding a value, whatever its ``<dimension>`` says.

Formulas give their cached values (what Excel last showed); a formula never computed is
blank; a text cell that starts with "=" stays text; an error value stays as Excel shows it
(``#N/A``). Date cells become ISO text (``2024-03-05``, or ``2024-03-05T14:30:00`` with a time);
whole numbers lose their ".0". ``source_row`` is the row number Excel shows. The header is the
first row, or, when a title sits above it, the first of the top rows with a patient id column;
the text of the rows above it is kept as ``preamble`` (the privacy gate reads it).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Mapping
from itertools import chain, islice
from operator import itemgetter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data.errors import Problem, UnusableFileError
from data.instruments import Registry
from data.readers import xlsx_slow
from data.readers.headers import Grid, classify_header, display_headers, parse_target
from data.readers.xlsx_archive import FIX_RESAVE, Archive, damaged, open_archive, unusable
from data.readers.xlsx_scan import SheetScan, fast_scan
from data.readers.xlsx_shared import shared_sizes

HEADER_SEARCH_ROWS = 10
#: Rows converted to text at a time (the parser's Python objects for one batch are held).
BATCH_ROWS = 65_536
_Rows = list[list[object]]


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


def column_text(values: tuple | list) -> pa.Array:
    """A column of cell values as trimmed text (null for blank), as ``cell_text`` gives each;
    text and whole numbers, nearly all of an export, are converted without a Python loop."""
    n = len(values)
    kinds = np.fromiter(map(type, values), dtype=object, count=n)
    is_str = kinds == str  # noqa: E721 (element-wise, on an array of types)
    if is_str.all():
        arr = pa.array(values, pa.string())
    else:
        obj = np.empty(n, dtype=object)
        obj[:] = values
        at = np.flatnonzero(is_str)
        parts, order = [pa.array(obj[at], pa.string())], [at]
        is_float = kinds == float  # noqa: E721
        if is_float.any():
            at = np.flatnonzero(is_float)
            x = obj[at].astype(np.float64)
            whole = np.isfinite(x) & (x == np.round(x)) & (np.abs(x) < 1e15)
            parts.append(pa.array(x[whole].astype(np.int64)).cast(pa.string()))
            parts.append(pa.array([format(v, ".15g") for v in x[~whole].tolist()], pa.string()))
            order += [at[whole], at[~whole]]
        at = np.flatnonzero(~is_str & ~is_float)
        parts.append(pa.array([cell_text(v) for v in obj[at].tolist()], pa.string()))
        order.append(at)
        inverse = np.empty(n, dtype=np.int64)
        inverse[np.concatenate(order)] = np.arange(n)
        arr = pa.concat_arrays(parts).take(pa.array(inverse))
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _header_index(
    rows: _Rows, registry: Registry, mapping: Mapping[str, object] | None
) -> int | None:
    """0-based index of the first top row with a patient id column (by name or by mapping)."""
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
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


def _first_filled(rows: _Rows) -> int:
    top = rows[:HEADER_SEARCH_ROWS]
    return next((i for i, r in enumerate(top) if any(cell_text(v) for v in r)), 0)


def scan_sheet(archive: Archive, part: str, sheet: str, shared: np.ndarray) -> SheetScan:
    """Scan one sheet's XML part before it is read (UnusableFileError past a limit): the fast
    scan (``data.readers.xlsx_scan``), else the XML parser (``data.readers.xlsx_slow``)."""
    scan = fast_scan(archive, part, sheet, shared)
    if scan is not None:
        return scan
    return xlsx_slow.slow_sheet(archive, archive.info(part), sheet, shared)


class _Book:
    """A checked archive and its calamine workbook: sheets are scanned, then read."""

    def __init__(self, archive: Archive, book) -> None:
        self.archive, self.book = archive, book
        self.shared = shared_sizes(archive)
        self.names: list[str] = list(book.sheet_names)

    def rows(self, name: str) -> _SheetRows:
        """A sheet, scanned, then opened to be read (no rows for a chart sheet)."""
        from python_calamine import CalamineError

        part = self.archive.sheet_parts.get(name)
        if part is None:
            if name in self.archive.sheet_names:
                return _SheetRows()  # a chart sheet
            raise damaged(f"its sheet '{name}' cannot be found in it")
        scan = scan_sheet(self.archive, part, name, self.shared)
        try:
            return _SheetRows(self.book.get_sheet_by_name(name), scan.errors)
        except CalamineError:
            raise unusable(
                f"Sheet '{name}' of this Excel workbook could not be read: it is damaged or "
                "uses a feature ReliefCheck cannot read.",
                FIX_RESAVE,
            ) from None


class _SheetRows:
    """A sheet's rows from row 1, as the parser gives them: from the sheet's first column
    holding a value on (``offset`` empty columns before it are left out), with the error
    cells' text put back. ``top`` holds the first rows (where the header is looked for); the
    rest comes in batches, so that only one batch is held as Python objects at a time."""

    def __init__(self, sheet=None, errors: list[tuple[int, int, str]] = ()) -> None:
        start = sheet.start if sheet is not None else None
        self.offset = start[1] if start else 0
        self._rows = iter(sheet.iter_rows()) if start else iter(())
        self._errors: dict[int, list[tuple[int, str]]] = {}
        for r, c, text in errors:
            self._errors.setdefault(r, []).append((c - self.offset, text))
        self._done = 0
        self.top = self._take(HEADER_SEARCH_ROWS)

    def _take(self, n: int) -> _Rows:
        rows = list(islice(self._rows, n))
        for i in self._errors.keys() & range(self._done, self._done + len(rows)):
            row = rows[i - self._done]
            for c, text in self._errors[i]:
                if 0 <= c < len(row):
                    row[c] = text
        self._done += len(rows)
        return rows

    def rest(self) -> Iterator[_Rows]:
        """The rows after ``top``, in batches of BATCH_ROWS."""
        while batch := self._take(BATCH_ROWS):
            yield batch


def _pick_sheet(
    book: _Book, sheet: str | int | None, registry: Registry, mapping
) -> tuple[str, int, _SheetRows, list[Problem]]:
    """The sheet to read, its 0-based header row, its rows, and a note when we chose it."""
    names = book.names
    listed = ", ".join(f"'{n}'" for n in names)
    if sheet is not None:
        if isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise unusable(
                    f"The workbook has {len(names)} sheet(s) ({listed}); there is no sheet "
                    f"number {sheet + 1}.",
                    "Choose one of the sheets listed.",
                )
            chosen = names[sheet]
        else:
            matches = [n for n in names if n.strip().lower() == str(sheet).strip().lower()]
            if not matches:
                raise unusable(
                    f"The workbook has no sheet named '{sheet}'. Its sheets are: {listed}.",
                    "Choose one of the sheets listed.",
                )
            chosen = matches[0]
        rows = book.rows(chosen)
        found = _header_index(rows.top, registry, mapping)
        return chosen, found if found is not None else _first_filled(rows.top), rows, []
    for name in names:
        rows = book.rows(name)
        found = _header_index(rows.top, registry, mapping)
        if found is not None:
            break
        if len(names) == 1:
            return name, _first_filled(rows.top), rows, []
        rows = _SheetRows()  # not this sheet: let it go before reading the next
    else:
        raise unusable(
            f"None of the workbook's sheets ({listed}) has a column for the patient id.",
            "Rename the column with the pseudonymous patient ids to 'patient_id' (or 'Client "
            "ID'), or choose the sheet and the column in the column mapping.",
        )
    notes = []
    if len(names) > 1:
        others = ", ".join(f"'{n}'" for n in names if n != name)
        notes.append(
            Problem(
                f"The workbook has {len(names)} sheets; ReliefCheck read sheet '{name}' (the "
                f"first with a patient id column) and did not read {others}.",
                "If the scores are on another sheet, choose that sheet before uploading.",
                severity="warning",
            )
        )
    return name, found, rows, notes


def sheet_names(data: bytes) -> list[str]:
    """The sheet names of an .xlsx workbook, in order, after the archive's checks; [] when it
    cannot be used (reading it then says why)."""
    try:
        return list(open_archive(data).sheet_names)
    except UnusableFileError:
        return []


def read_xlsx_grid(
    data: bytes,
    *,
    registry: Registry,
    mapping: Mapping[str, object] | None,
    sheet: str | int | None,
) -> Grid:
    """Read one sheet of an .xlsx workbook into a Grid (header + text cells + Excel row numbers)."""
    archive = open_archive(data)
    from python_calamine import CalamineError, CalamineWorkbook  # first use: CSV never needs it

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except (CalamineError, OSError, ValueError):
        raise unusable(
            "This Excel workbook could not be opened: it is damaged or uses a feature "
            "ReliefCheck cannot read.",
            FIX_RESAVE,
        ) from None
    with workbook:
        book = _Book(archive, workbook)
        chosen, header_at, rows, notes = _pick_sheet(book, sheet, registry, mapping)
    return _grid(rows, header_at, chosen, tuple(book.names), notes)


def _grid(rows: _SheetRows, header_at: int, sheet: str, sheets: tuple[str, ...], notes) -> Grid:
    top, lead = rows.top, [None] * rows.offset
    header = lead + [cell_text(v) for v in top[header_at]] if len(top) > header_at else []
    preamble = tuple(t for r in top[:header_at] for t in map(cell_text, r) if t is not None)
    chunks: list[list[pa.Array]] = []
    n = 0
    for batch in chain([top[header_at + 1 :]], rows.rest()):
        if not batch:
            continue
        width = max(map(len, batch))
        if min(map(len, batch)) < width:
            batch = [r + [None] * (width - len(r)) for r in batch]
        chunks += [[pa.nulls(n, pa.string())] for _ in range(width - len(chunks))]
        for j, col in enumerate(chunks):
            values = list(map(itemgetter(j), batch)) if j < width else [None] * len(batch)
            col.append(column_text(values))
        n += len(batch)
    arrays = [pa.nulls(n, pa.string())] * rows.offset + [pa.concat_arrays(c) for c in chunks]
    width = max(len(header), len(arrays))
    arrays += [pa.nulls(n, pa.string())] * (width - len(arrays))
    header += [None] * (width - len(header))
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
                f"Rows 1–{header_at} of sheet '{sheet}' are above the header row and were not "
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
        sheet=sheet,
        sheets=sheets,
        notes=tuple(notes),
        preamble=preamble,
    )
