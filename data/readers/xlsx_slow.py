"""The XML-parser scan of a sheet or of the shared texts, for XML the array scan in
data.readers.xlsx_scan does not read (namespace prefixes, cells without a reference, unusual spacing).

It gives the same ``SheetScan`` and applies the same limits, element by element (expat, a
few megabytes at a time), so it is slower: a few seconds per million cells. A document type
declaration, which Excel never writes, is refused.
"""

from __future__ import annotations

import pyexpat
import re
import zipfile

import numpy as np

from data.limits import MAX_CELL_CHARS, MAX_SHEET_CELLS
from data.readers.headers import column_letter
from data.readers.xlsx_archive import (
    FIX_SMALLER,
    Archive,
    cell_showing,
    damaged,
    part_chunks,
    unusable,
)
from data.readers.xlsx_scan import SheetScan, long_run, no_doctype, too_long

_REF = re.compile(r"\$?([A-Z]{1,3})\$?([0-9]{1,7})$")
_TEXT = ("s", "str", "inlineStr")


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _parse(archive: Archive, info: zipfile.ZipInfo, parser, on_long) -> None:
    """Feed a part to ``parser``; ``on_long()`` raises for a run of text too long."""

    def doctype(*_args) -> None:
        raise no_doctype()

    parser.StartDoctypeDeclHandler = doctype
    try:
        for chunk in part_chunks(archive.data, info):
            a = np.frombuffer(chunk, dtype=np.uint8)
            if long_run(a, np.flatnonzero(a == 60)) is not None:
                on_long()
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except pyexpat.ExpatError:
        raise damaged(f"the XML of its part '{info.filename[:80]}' cannot be read") from None


class _Sheet:
    """Expat handlers that follow rows and cells as the Excel parser places them."""

    def __init__(self, sheet: str, shared: np.ndarray) -> None:
        self.scan, self.shared = SheetScan(sheet=sheet), shared
        self.row, self.next_col = 0, 1
        self.cell: tuple[int, int, str] | None = None
        self.valued, self.chars, self.reading, self.value = False, 0, False, []
        self.rows: list[int] = []
        self.cols: list[int] = []

    def ref(self) -> str | None:
        return None if self.cell is None else column_letter(self.cell[1] - 1) + str(self.cell[0])

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local == "row":
            r = attrs.get("r", "")
            self.row, self.next_col = (int(r) if r.isdigit() else self.row + 1), 1
        elif local == "c":
            m = _REF.match(attrs.get("r", ""))
            row, col = (
                (int(m.group(2)), _column_number(m.group(1))) if m else (self.row, self.next_col)
            )
            self.next_col = col + 1
            self.cell, self.valued, self.chars, self.value = (
                (row, col, attrs.get("t", "n")),
                False,
                0,
                [],
            )
        elif self.cell is not None:  # anything inside a cell: counted as a value, as the
            self.valued = True  # array scan counts it (the parser may find none)
            self.reading = local in ("v", "t")

    def text(self, data: str) -> None:
        if self.reading and self.cell is not None:
            self.chars += len(data)
            if self.chars > MAX_CELL_CHARS:
                raise too_long(self.scan.sheet, self.ref())
            if self.cell[2] in ("s", "e"):
                self.value.append(data)

    def end(self, name: str) -> None:
        local = name.rpartition(":")[2]
        if local in ("v", "t"):
            self.reading = False
        elif local == "c" and self.cell is not None:
            self._close(*self.cell)
            self.cell = None

    def _close(self, row: int, col: int, kind: str) -> None:
        if not self.valued:
            return
        self.rows.append(row)
        self.cols.append(col)
        if len(self.rows) >= 65_536:
            self.flush()
        value = "".join(self.value).strip()
        if kind == "e":
            self.scan.errors.append((row - 1, col - 1, value[:40]))
        elif kind == "s" and value.isdigit() and int(value) < len(self.shared):
            self.scan.text_bytes += int(self.shared[int(value)])
        elif kind in _TEXT:
            self.scan.text_bytes += self.chars

    def flush(self) -> None:
        self.scan.add(np.array(self.rows, dtype=np.int64), np.array(self.cols, dtype=np.int64))
        self.rows, self.cols = [], []


def slow_sheet(
    archive: Archive, info: zipfile.ZipInfo, sheet: str, shared: np.ndarray
) -> SheetScan:
    """``data.readers.xlsx_scan.fast_scan`` done by an XML parser."""
    handlers = _Sheet(sheet, shared)
    parser = pyexpat.ParserCreate()
    parser.StartElementHandler = handlers.start
    parser.EndElementHandler = handlers.end
    parser.CharacterDataHandler = handlers.text

    def on_long() -> None:
        raise too_long(sheet, handlers.ref())

    _parse(archive, info, parser, on_long)
    handlers.flush()
    return handlers.scan


def slow_shared(archive: Archive, info: zipfile.ZipInfo) -> np.ndarray:
    """``data.readers.xlsx_shared.shared_sizes`` done by an XML parser."""
    sizes: list[int] = []
    inside = [False]

    def start(name: str, _attrs) -> None:
        if name.rpartition(":")[2] == "si":
            if len(sizes) >= MAX_SHEET_CELLS:
                raise unusable(
                    f"This workbook holds more than {MAX_SHEET_CELLS:,} different texts, more "
                    "than ReliefCheck reads.",
                    FIX_SMALLER,
                )
            sizes.append(0)
            inside[0] = True

    def end(name: str) -> None:
        if name.rpartition(":")[2] == "si":
            inside[0] = False

    def text(data: str) -> None:
        if inside[0]:
            sizes[-1] += len(data)
            if sizes[-1] > MAX_CELL_CHARS:
                on_long()

    def on_long() -> None:
        raise too_long(*cell_showing(archive, len(sizes) - 1))

    parser = pyexpat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = text
    _parse(archive, info, parser, on_long)
    return np.array(sizes, dtype=np.int64)
