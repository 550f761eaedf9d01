"""A sheet's XML scanned before it is parsed: how far it reaches, how much text it holds, and
its error cells (docs/validation.md, "Limits").

The parser (python-calamine) holds the whole rectangle from A1 to a sheet's last cell in
memory, and copies a shared text into every cell that points to it. So before a sheet is
parsed, ``fast_scan`` reads its XML once, a few megabytes at a time, and refuses it when it
reaches past ``MAX_COLUMNS`` columns or ``MAX_SHEET_CELLS`` cells, when a cell holds more than
``MAX_CELL_CHARS`` characters, or when its text (a shared text counted in every cell that
points to it) passes ``MAX_SHEET_TEXT_BYTES``. The ``<dimension>`` a sheet states for itself is
never used. The workbook's shared texts are scanned the same way (data.readers.xlsx_shared).

The scan works on arrays of byte positions (numpy) for the XML that Excel, LibreOffice and the
usual libraries write (``<c r="B7" ...>``, with or without a namespace prefix on every element);
XML written any other way (cells without a reference, unusual spacing) is scanned by an XML
parser instead (data.readers.xlsx_slow), more slowly (about ten times), to the same result. The scan
also gives the error cells (#N/A, #DIV/0! …), which the parser leaves blank.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from data.errors import Problem, UnusableFileError
from data.limits import MAX_CELL_CHARS, MAX_COLUMNS, MAX_SHEET_CELLS, MAX_SHEET_TEXT_BYTES
from data.readers.headers import column_letter
from data.readers.xlsx_archive import FIX_SMALLER, Archive, damaged, part_chunks, unusable

#: A run of XML without a tag longer than this holds more than MAX_CELL_CHARS characters (a
#: character takes at most 10 bytes of XML, as in "&#x10FFFF;"); shorter runs over
#: MAX_CELL_CHARS bytes are decoded and counted.
MAX_RUN_BYTES = 10 * MAX_CELL_CHARS
#: The XML of one cell or shared text longer than this is refused as too long a cell.
MAX_CELL_XML_BYTES = 8 * 1024 * 1024
_ELEMENT_PREFIX = re.compile(rb"<(/?)[A-Za-z_][\w.\-]*:")
_LOCAL = re.compile(rb":(?:c|row|sheetData|v|is|t|f|si|r)[\s/>]")
_NAME_BYTE = np.zeros(256, dtype=bool)
_NAME_BYTE[[*b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"]] = True
_REF = re.compile(rb'<c\s[^>]*?\br\s*=\s*["\']([A-Z]{1,3}[0-9]{1,7})')
NAME_END = np.array([9, 10, 13, 32, 47, 62], dtype=np.uint8)  # \t \n \r space / >
PAD = 32


def no_doctype() -> UnusableFileError:
    """The error for XML declaring a document type (entities), which Excel never writes."""
    return damaged("it declares an XML document type, which Excel never writes")


class Unusual(Exception):
    """The array scan met XML it does not read; the XML parser scans the part instead."""


@dataclass
class SheetScan:
    """What a sheet's XML holds: its extent (1-based; 0 when empty), the cells holding a
    value, the bytes of its text, and its error cells (0-based row and column, text)."""

    sheet: str = ""
    rows: int = 0
    columns: int = 0
    cells: int = 0
    text_bytes: int = 0
    errors: list[tuple[int, int, str]] = field(default_factory=list)

    def add(self, rows: np.ndarray, cols: np.ndarray) -> None:
        """Count cells holding a value at these 1-based rows and columns."""
        if len(rows):
            self.rows = max(self.rows, int(rows.max()))
            self.columns = max(self.columns, int(cols.max()))
            self.cells += len(rows)
        self.check()

    def check(self) -> None:
        """Refuse the sheet once it is past MAX_COLUMNS, MAX_SHEET_CELLS or
        MAX_SHEET_TEXT_BYTES."""
        if self.columns > MAX_COLUMNS:
            raise unusable(
                f"Sheet '{self.sheet}' has values as far right as column "
                f"{column_letter(self.columns - 1)} ({self.columns:,} columns); ReliefCheck "
                f"reads sheets of up to {MAX_COLUMNS:,} columns.",
                "Delete the columns to the right of the scores that are not needed (or clear "
                "stray values far to the right), save and upload again; or export the scores "
                "as 'CSV UTF-8'.",
            )
        if self.rows * self.columns > MAX_SHEET_CELLS or self.cells > MAX_SHEET_CELLS:
            raise unusable(
                f"Sheet '{self.sheet}' reaches row {self.rows:,} and column "
                f"{column_letter(max(self.columns, 1) - 1)}: more than {MAX_SHEET_CELLS:,} "
                "cells, more than ReliefCheck reads from one sheet.",
                FIX_SMALLER,
            )
        if self.text_bytes > MAX_SHEET_TEXT_BYTES:
            raise unusable(
                f"Sheet '{self.sheet}' holds more than {MAX_SHEET_TEXT_BYTES // 2**20:,} MB of "
                "text (a text repeated in many cells counted once per cell), more than "
                "ReliefCheck reads from one sheet.",
                FIX_SMALLER,
            )


def too_long(sheet: str | None, ref: str | None) -> UnusableFileError:
    """The error for a cell over MAX_CELL_CHARS characters (``ref`` like "B7", if known)."""
    where = f"Cell {ref} of sheet '{sheet}'" if ref and sheet else "A cell of this workbook"
    row = re.search(r"[0-9]+$", ref) if ref else None
    return UnusableFileError(
        [
            Problem(
                f"{where} holds more than {MAX_CELL_CHARS:,} characters, the most an Excel cell "
                "can hold.",
                "Shorten or clear that cell (a scores export needs no long text), save and "
                "upload again; or export the scores as 'CSV UTF-8'.",
                row=int(row.group()) if row else None,
            )
        ]
    )


def find4(a: np.ndarray, pattern: bytes) -> np.ndarray:
    """Start positions of a 4-byte ``pattern`` in the byte array ``a``, in order (compared
    four bytes at a time)."""
    key = np.frombuffer(pattern, dtype="<u4")[0]
    found = []
    for off in range(4):
        n = (len(a) - off) // 4
        if n > 0:
            words = a[off : off + 4 * n].view("<u4")
            found.append(np.flatnonzero(words == key) * 4 + off)
    return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def prefixed(buf: bytes, a: np.ndarray, pad: np.ndarray) -> bool:
    """Whether an element the scan reads (c, row, v, si …) is written with a namespace
    prefix (``<x:c ...>``): the bytes before each ':' back to a '<' are all name bytes."""
    colons = np.flatnonzero(a == 58)
    if not len(colons):
        return False
    back = pad[np.maximum(colons[:, None] - 1 - np.arange(40), 0)]
    named = _NAME_BYTE[back]
    first = np.argmin(named, axis=1)
    tag = (back[np.arange(len(back)), first] == 60) & (first >= 1)
    tag |= named.all(axis=1)  # a very long name: looked at below
    return any(_LOCAL.match(buf, int(c)) for c in colons[tag])


def long_run(a: np.ndarray, lt: np.ndarray) -> int | None:
    """Where a text of more than MAX_CELL_CHARS characters starts (None if none): a run of
    bytes without '<' longer than MAX_RUN_BYTES, or one over MAX_CELL_CHARS bytes whose text,
    decoded, is over MAX_CELL_CHARS characters."""
    bounds = np.concatenate(([0], lt, [len(a)]))
    gaps = np.diff(bounds)
    if not len(gaps) or int(gaps.max()) <= MAX_CELL_CHARS:
        return None
    for start, gap in zip(
        bounds[:-1][gaps > MAX_CELL_CHARS].tolist(),
        gaps[gaps > MAX_CELL_CHARS].tolist(),
        strict=True,
    ):
        if gap > MAX_RUN_BYTES:
            return start
        run = a[start : start + gap].tobytes()
        text = run[run.find(b">") + 1 :].decode("utf-8", errors="replace")
        if len(html.unescape(text)) > MAX_CELL_CHARS:
            return start
    return None


def first_after(positions: np.ndarray, at: np.ndarray, end: int) -> np.ndarray:
    """The first of ``positions`` after each of ``at`` (``end`` where there is none)."""
    i = np.searchsorted(positions, at, side="right")
    if not len(positions):
        return np.full(len(at), end, dtype=np.int64)
    return np.where(i < len(positions), positions[np.minimum(i, len(positions) - 1)], end)


def _digits(pad: np.ndarray, start: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    """The decimal number written from each of ``start`` in ``pad`` (up to ``most`` digits):
    its value and its number of digits (0: none)."""
    value = np.zeros(len(start), dtype=np.int64)
    count = np.zeros(len(start), dtype=np.int64)
    going = np.ones(len(start), dtype=bool)
    for j in range(most):
        d = pad[start + j] - np.uint8(48)  # a digit is 0 … 9, anything else wraps past it
        going &= d < 10
        if not going.any():
            break
        value = np.where(going, value * 10 + d, value)
        count += going
    return value, count


def in_pieces(chunks: Iterator[bytes], feed, sheet: str | None = None) -> None:
    """Pass the XML to ``feed(buf, final) -> used`` in pieces that end before a tag, carrying
    what it did not use (an unfinished cell) into the next piece."""
    carry = b""
    for chunk in chunks:
        buf = carry + chunk
        carry = buf[feed(buf, False) :]
        if len(carry) > MAX_CELL_XML_BYTES:
            m = _REF.match(carry)
            raise too_long(sheet, m.group(1).decode() if m else None)
    feed(carry, True)


class FastSheet:
    """The array scan of a sheet's XML (``feed`` one buffer at a time).

    A cell is ``<c r="B7" ...>`` up to the first tag after it (``<v>``, ``<f>``, ``<is>`` or
    ``</c>``); it holds a value unless it ends at once (``<c .../>`` or ``<c ...></c>``).
    """

    def __init__(self, sheet: str, shared: np.ndarray) -> None:
        self.scan, self.shared, self.last_ref = SheetScan(sheet=sheet), shared, None

    def feed(self, buf: bytes, final: bool) -> int:
        """Scan the complete cells at the start of ``buf``; returns the bytes used (the rest,
        an unfinished cell or tag, comes again with the next bytes)."""
        a = np.frombuffer(buf, dtype=np.uint8)
        pad = np.concatenate((a, np.zeros(PAD, dtype=np.uint8)))
        lt = np.flatnonzero(a == 60)
        b1, b2 = pad[lt + 1], pad[lt + 2]
        at = np.flatnonzero((b1 == ord("c")) & np.isin(b2, NAME_END))  # cells, as lt indices
        bad = long_run(a, lt)
        if bad is not None:
            before = lt[at][lt[at] <= bad]
            m = _REF.match(buf, int(before[-1])) if len(before) else None
            raise too_long(self.scan.sheet, m.group(1).decode() if m else self.last_ref)
        if prefixed(buf, a, pad):
            raise Unusual
        if b"<!DOCTYPE" in buf:
            raise no_doctype()
        closes = lt[(b1 == ord("/")) & (b2 == ord("c")) & (pad[lt + 3] == ord(">"))]
        used = len(buf) if final or not len(lt) else int(lt[-1])
        if len(at) and not final:
            last = int(lt[at[-1]])
            if not (len(closes) and closes[-1] > last):
                used = last  # the last cell may not be complete yet
        at = at[lt[at] < used]
        if len(at):
            lt_end = np.append(lt, len(a))
            self._cells(buf, a, pad, lt, lt[at], lt_end[at + 1], closes)
        return used

    def _cells(self, buf, a, pad, lt, opens, first, closes) -> None:
        """``opens``: where each cell starts; ``first``: where the first tag after it starts."""
        self._attributes_check(a, pad, opens, first)
        row, col = self._refs(pad, opens)
        valued = ~((pad[first - 1] == ord(">")) & (pad[first - 2] == ord("/")))
        valued &= pad[first + 1] != ord("/")
        scan = self.scan
        scan.add(row[valued], col[valued])
        hits = find4(a[: int(first[-1])], b' t="')
        owner = np.searchsorted(opens, hits, side="right") - 1
        inside = (owner >= 0) & (hits < first[np.maximum(owner, 0)])
        hits, owner = hits[inside], owner[inside]
        if not len(owner):
            scan.check()
            return
        kind, after = pad[hits + 4], pad[hits + 5]
        typed = valued[owner]
        hits, owner, kind, after = hits[typed], owner[typed], kind[typed], after[typed]
        close = first_after(closes, opens[owner], len(a))
        value_at = np.where(
            (pad[first[owner] + 1] == ord("v")) & (pad[first[owner] + 2] == ord(">")),
            first[owner],
            first_after(lt[(pad[lt + 1] == ord("v")) & (pad[lt + 2] == ord(">"))], hits, len(a))
            if len(owner)
            else 0,
        )
        has_value = value_at < close
        shared = has_value & (kind == ord("s")) & (after == ord('"'))
        if shared.any():
            self._shared(pad, value_at[shared])
        text = ((kind == ord("s")) & (after == ord("t"))) | (kind == ord("i"))
        scan.text_bytes += int((close[text] - opens[owner[text]]).sum())
        errors = has_value & (kind == ord("e"))
        for cell, p in zip(owner[errors].tolist(), value_at[errors].tolist(), strict=True):
            value = buf[p + 3 : buf.find(b"<", p + 3)][:40]
            scan.errors.append(
                (int(row[cell]) - 1, int(col[cell]) - 1, html.unescape(value.decode()))
            )
        scan.check()

    @staticmethod
    def _attributes_check(a, pad, opens, first) -> None:
        """Cell tags as the array scan reads them: ``<c r="..."`` first, then attributes
        ``name="value"`` with one space between them (else: Unusual)."""
        if not (
            (pad[opens + 2] == 32)
            & (pad[opens + 3] == ord("r"))
            & (pad[opens + 4] == ord("="))
            & (pad[opens + 5] == ord('"'))
        ).all():
            raise Unusual
        lo, hi = int(opens[0]), int(first[-1])
        span = a[lo:hi]
        odd = np.flatnonzero((span < 32) | (span == 39))  # tab, line break, control, "'"
        eq = np.flatnonzero(span == 61)
        eq = eq[(span[np.minimum(eq + 1, len(span) - 1)] != 34) | (span[eq - 1] == 32)]
        odd = np.concatenate((odd, eq)) + lo
        if len(odd):
            owner = np.searchsorted(opens, odd, side="right") - 1
            if ((owner >= 0) & (odd < first[np.maximum(owner, 0)])).any():
                raise Unusual

    def _refs(self, pad, opens) -> tuple[np.ndarray, np.ndarray]:
        """Row and column (1-based) of each cell, from ``r="B7"`` (else: Unusual)."""
        col = np.zeros(len(opens), dtype=np.int64)
        n_letters = np.zeros(len(opens), dtype=np.int64)
        going = np.ones(len(opens), dtype=bool)
        for i in range(3):
            c = pad[opens + 6 + i].astype(np.int64)
            going &= (c >= 65) & (c <= 90)
            col = np.where(going, col * 26 + c - 64, col)
            n_letters += going
        row, n_digits = _digits(pad, opens + 6 + n_letters, 8)
        quote = pad[opens + 6 + n_letters + n_digits] == ord('"')
        if not ((n_letters >= 1) & (n_digits >= 1) & (n_digits <= 7) & quote & (row >= 1)).all():
            raise Unusual
        self.last_ref = column_letter(int(col[-1]) - 1) + str(int(row[-1]))
        return row, col

    def _shared(self, pad, starts) -> None:
        """Count the shared text of each cell that points to one."""
        index, n = _digits(pad, starts + 3, 10)
        if not ((n >= 1) & (pad[starts + 3 + n] == 60)).all():
            raise Unusual
        known = index < len(self.shared)
        self.scan.text_bytes += int(self.shared[index[known]].sum())


def _unprefixed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The XML with namespace prefixes taken off element names (``<x:c`` → ``<c``), as some
    libraries write every element; a tag cut between two chunks is joined first."""
    tail = b""
    for chunk in chunks:
        buf = tail + chunk
        cut = buf.rfind(b"<")
        cut = len(buf) if cut < 0 else cut
        yield _ELEMENT_PREFIX.sub(rb"<\1", buf[:cut])
        tail = buf[cut:]
    yield _ELEMENT_PREFIX.sub(rb"<\1", tail)


def fast_scan(archive: Archive, part: str, sheet: str, shared: np.ndarray) -> SheetScan | None:
    """Scan one sheet's XML part without an XML parser (UnusableFileError past a limit; see the
    module text): the array scan, then the array scan with element prefixes taken off, each from
    the start of the part. None when the part is written in a way neither reads; then the XML
    parser reads it (``data.readers.xlsx.scan_sheet``)."""
    info = archive.info(part)
    if info is None:
        raise damaged(f"sheet '{sheet}' is missing")
    for chunks in (part_chunks(archive.data, info), _unprefixed(part_chunks(archive.data, info))):
        fast = FastSheet(sheet, shared)
        try:
            in_pieces(chunks, fast.feed, sheet)
            return fast.scan
        except Unusual:
            continue
    return None
