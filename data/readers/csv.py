"""CSV and text exports → ``Grid``: encoding, delimiter, then pyarrow's parser (SPEC section 2).

Encodings: UTF-8 with or without BOM; UTF-16 LE/BE (Excel's "Unicode text", with or without
BOM); legacy single-byte files (Windows-1252 unless charset-normalizer points clearly to another
code page); and a UTF-8 file with a few stray Windows-1252 bytes, which is read with a warning
naming the row. Only the first 64 KB are sampled for detection; a UTF-8 file is decoded once,
by pyarrow. Delimiters: comma, semicolon or tab, chosen by counting them outside quotes on the
header line and the lines after it. ``source_row`` is the record's index + 2 (the header is row
1), which is the spreadsheet row also when a quoted value spans several lines, and blank lines
keep their row numbers. A header or row of more than ``MAX_COLUMNS`` values, or a row longer
than ``MAX_CSV_ROW_BYTES``, is refused with a message naming it (data/limits.py).
"""

from __future__ import annotations

import codecs
import csv
import io
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from charset_normalizer import from_bytes

from data.errors import Problem, UnusableFileError
from data.limits import MAX_COLUMNS, MAX_CSV_ROW_BYTES
from data.readers.headers import Grid, display_headers

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t")
_OTHER_DELIMITERS = {"|": "a vertical bar '|'", ":": "a colon ':'", "^": "a caret '^'"}
_QUOTED = re.compile(r'"(?:[^"]|"")*"')
#: Code pages read as Windows-1252 (they agree on the characters clinics' exports use).
_WESTERN = {"cp1252", "latin_1", "iso8859_15", "cp1250", "iso8859_2", "mac_roman", "ascii"}
_NAMES = {"utf_8": "utf-8", "utf-8": "utf-8"}


def _unusable(message: str, fix: str) -> UnusableFileError:
    return UnusableFileError([Problem(message, fix)])


def _looks_binary(sample: bytes) -> bool:
    """Control characters other than tab, newlines and form feed mark a non-text file."""
    if not sample:
        return False
    controls = sum(sample.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13))
    return controls > max(2, len(sample) // 200)


def detect_encoding(data: bytes) -> str:
    """Python codec name for ``data``; UnusableFileError for binary content.

    Returns ``utf-8-sig``, ``utf-8``, ``utf-16-le``/``utf-16-be``, ``utf-8+cp1252`` (UTF-8 with
    stray single-byte characters) or a legacy code page such as ``cp1252``.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if data.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    sample = data[:SAMPLE_BYTES]
    zeros = sample.count(0)
    if zeros > len(sample) // 4:
        odd, even = sample[1::2].count(0), sample[0::2].count(0)
        if odd > 0.9 * (len(sample) // 2):
            return "utf-16-le"
        if even > 0.9 * (len(sample) // 2):
            return "utf-16-be"
    if zeros or _looks_binary(sample):
        raise _unusable(
            "This file is not a spreadsheet or a CSV text file (it holds binary data).",
            "Export the outcome scores from your records system as CSV or as an Excel .xlsx "
            "workbook, and upload that file.",
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(data) <= SAMPLE_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    text = sample.decode("utf-8", errors="replace")
    if any(ord(ch) > 127 and ch != "\ufffd" for ch in text):
        return "utf-8+cp1252"
    best = from_bytes(sample).best()
    guess = best.encoding if best is not None else "cp1252"
    return "cp1252" if guess in _WESTERN else guess


_ESCAPED = re.compile("[\udc80-\udcff]")


def _escaped_char(m: re.Match) -> str:
    byte = bytes([ord(m.group()) - 0xDC00])
    return byte.decode("cp1252", errors="ignore") or byte.decode("latin-1")


def _mixed_decode(data: bytes) -> tuple[str, list[int]]:
    """Decode UTF-8, reading each invalid byte as Windows-1252 (Latin-1 where undefined).

    Returns the text and the character offsets of the bytes read that way.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    offsets = [m.start() for m in _ESCAPED.finditer(text)]
    text = _ESCAPED.sub(_escaped_char, text)
    if text.startswith("\ufeff"):
        return text[1:], [o - 1 for o in offsets]
    return text, offsets


def _mixed_notes(text: str, offsets: list[int], delimiter: str, header: list[str]) -> list[Problem]:
    """One warning per row (the first 20 rows) holding a character read as Windows-1252."""
    newline = "\n" if "\n" in text else "\r"
    notes: list[Problem] = []
    row, prev, last_row = 1, 0, 0
    for off in offsets:
        row += text.count(newline, prev, off)
        prev = off
        if row == last_row:
            continue
        last_row = row
        if len(notes) == 20:
            notes.append(
                Problem(
                    "More rows have characters that are not UTF-8; only the first 20 are listed.",
                    "Save the file again as 'CSV UTF-8'.",
                    severity="warning",
                )
            )
            break
        pos = text[text.rfind(newline, 0, off) + 1 : off].count(delimiter)
        notes.append(
            Problem(
                f"This row has a character that is not UTF-8 like the rest of the file; it was "
                f"read as '{text[off]}' (Windows-1252).",
                "Check the text in this row; save the file again as 'CSV UTF-8' so every "
                "character is stored the same way.",
                row=row,
                column=header[pos] if pos < len(header) else None,
                severity="warning",
            )
        )
    return notes


def detect_delimiter(text: str) -> str:
    """Comma, semicolon or tab: the candidate counted on the header line (outside quotes) that
    splits the following lines into the same number of fields most often.

    UnusableFileError when the file is separated by something else (e.g. '|') or not at all.
    """
    body = _QUOTED.sub("", text)
    lines = [ln for ln in body.splitlines() if ln.strip()][:50]
    if len(text) >= SAMPLE_BYTES // 2 and len(lines) > 2:
        lines = lines[:-1]  # the sample may end in the middle of a line
    if not lines:
        return ","
    head, rest = lines[0], lines[1:] or lines[:1]

    def score(c: str) -> tuple[float, int]:
        n = head.count(c)
        return (sum(ln.count(c) == n for ln in rest) / len(rest), n)

    ranked = sorted((score(c), c) for c in (*DELIMITERS, *_OTHER_DELIMITERS) if head.count(c))
    if not ranked:
        raise _unusable(
            "ReliefCheck found only one column in this file, so it cannot tell how the columns "
            "are separated.",
            "Export the file as CSV with commas, semicolons or tabs between columns (in Excel: "
            "Save As → 'CSV UTF-8'), or upload the .xlsx workbook itself.",
        )
    best = ranked[-1][1]
    if best in _OTHER_DELIMITERS:
        raise _unusable(
            f"The columns in this file are separated by {_OTHER_DELIMITERS[best]}; ReliefCheck "
            "reads columns separated by commas, semicolons or tabs.",
            "Export the file again as CSV (comma-separated; in Excel: Save As → 'CSV UTF-8'), or "
            "upload the .xlsx workbook itself.",
        )
    return best


def _strip_sep_line(text: str) -> tuple[str | None, int]:
    """Excel's optional first line ``sep=;``: the delimiter it names and its length in chars."""
    m = re.match(r"\ufeff?sep=(.)\r?\n", text[:16])
    return (m.group(1), m.end()) if m else (None, 0)


def _arrow_grid(buf: pa.Buffer, delimiter: str, n_cols: int, quoted: bool) -> pa.Table:
    # large_string: the text type pandas' string[pyarrow] columns hold, so no conversion later
    names = [f"c{i}" for i in range(n_cols)]
    return pacsv.read_csv(
        pa.BufferReader(buf),
        read_options=pacsv.ReadOptions(column_names=names, block_size=MAX_CSV_ROW_BYTES),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, ignore_empty_lines=False, newlines_in_values=quoted
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.large_string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )


def _python_grid(text: str, delimiter: str) -> tuple[pa.Table, list[Problem]]:
    """Slow path for ragged rows: pad short rows; keep extra values in extra columns."""
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    width = len(rows[0]) if rows else 0
    notes: list[Problem] = []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) > MAX_COLUMNS:
            raise _too_wide(len(row), i)
        extra = [v for v in row[width:] if v.strip()]
        if extra:
            width = max(width, len(row))
            if len(notes) < 20:
                notes.append(
                    Problem(
                        f"This row has {len(row)} values but the header names "
                        f"{len(rows[0])} columns; the extra values were kept in unnamed columns.",
                        "Check the row for a separator inside a value; put such values in "
                        "double quotes, or fix the row and upload again.",
                        row=i,
                        severity="warning",
                    )
                )
    cols = [[r[j] if j < len(r) and r[j] != "" else None for r in rows] for j in range(width)]
    table = pa.table(
        [pa.array(c, pa.string()) for c in cols], names=[f"c{j}" for j in range(width)]
    )
    return table, notes


def _too_wide(n: int, row: int | None = None, more: bool = False) -> UnusableFileError:
    what = "The header row" if row is None else "This row"
    return UnusableFileError(
        [
            Problem(
                f"{what} has {n:,}{' or more' if more else ''} columns; ReliefCheck reads files "
                f"of up to {MAX_COLUMNS:,} columns.",
                "Export only the columns ReliefCheck uses (patient id, instrument or "
                "questionnaire scores, session, day or date, and the optional ones), or check "
                "that the values are separated by commas, semicolons or tabs.",
                row=row,
            )
        ]
    )


def _long_row(payload: bytes) -> UnusableFileError:
    """The error for a row longer than MAX_CSV_ROW_BYTES (the parser's block), naming it."""
    a = np.frombuffer(payload, dtype=np.uint8)
    ends = np.flatnonzero(a == 10) if payload.find(b"\n") >= 0 else np.flatnonzero(a == 13)
    gaps = np.diff(np.concatenate(([-1], ends, [len(a)])))
    line = int(np.argmax(gaps > MAX_CSV_ROW_BYTES)) + 1 if (gaps > MAX_CSV_ROW_BYTES).any() else 0
    return UnusableFileError(
        [
            Problem(
                f"{'This' if line else 'A'} row is longer than {MAX_CSV_ROW_BYTES // 2**20} MB; "
                f"ReliefCheck reads rows of up to {MAX_CSV_ROW_BYTES // 2**20} MB (a row of a "
                "scores export is a few hundred characters).",
                "Check that the file has one line per row (open it in a spreadsheet program and "
                "save it again as 'CSV UTF-8'), and leave out columns of long free text.",
                row=line or None,
            )
        ]
    )


def _needs_trim(payload: bytes, body_start: int, delimiter: str) -> bool:
    """Cheap gate: trim cells only when the data rows hold spaces or non-breaking spaces."""
    return (
        payload.find(b" ", body_start) >= 0
        or (payload.find(b"\xc2", body_start) >= 0 and payload.find(b"\xc2\xa0", body_start) >= 0)
        or (delimiter != "\t" and payload.find(b"\t", body_start) >= 0)
    )


def _may_need_trim(col: pa.ChunkedArray) -> bool:
    """False when no cell of ``col`` starts or ends with a byte that could be white space (a
    control character, a space, or part of a non-ASCII character such as a non-breaking
    space), so that trimming would leave the column as it is."""
    for chunk in col.chunks:
        if len(chunk) == chunk.null_count:
            continue
        buffers = chunk.buffers()
        kind = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(buffers[1], dtype=kind)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        starts, ends = offsets[:-1], offsets[1:]
        filled = ends > starts
        if np.count_nonzero(filled) < len(chunk) - chunk.null_count or buffers[2] is None:
            return True  # an empty cell that is not blank yet: trimming makes it blank
        data = np.frombuffer(buffers[2], dtype=np.uint8)[: offsets[-1]]
        span = data[offsets[0] :]
        if span.min() > 0x20 and span.max() < 0x80:
            continue  # no such byte anywhere in this chunk
        first, last = data[starts[filled]], data[ends[filled] - 1]
        if ((first <= 0x20) | (first >= 0x80) | (last <= 0x20) | (last >= 0x80)).any():
            return True
    return False


def _tidy_columns(table: pa.Table, trim: bool) -> tuple[list[pa.ChunkedArray], np.ndarray]:
    cols = []
    for col in table.columns:
        if trim and _may_need_trim(col):
            col = pc.utf8_trim_whitespace(col)
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
        cols.append(col)
    if not cols:
        return cols, np.zeros(table.num_rows, dtype=bool)
    if any(col.null_count == 0 for col in cols):
        return cols, np.ones(table.num_rows, dtype=bool)  # a column with no blank cell
    filled = cols[0].is_valid()
    for col in cols[1:]:
        filled = pc.or_(filled, col.is_valid())
    return cols, np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _check_open_quote(body: pa.Table, header: list[str]) -> None:
    """A quotation mark never closed swallows the rest of the file into the last row's cell."""
    last = body.slice(body.num_rows - 1)
    for i, col in enumerate(last.columns):
        value = col[0].as_py()
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            raise UnusableFileError(
                [
                    Problem(
                        "A quotation mark in this row is never closed, so ReliefCheck cannot "
                        "tell where the row ends (the rest of the file would be one cell).",
                        "Remove the stray quotation mark, or close the quotes, in this row; "
                        "then upload again.",
                        row=body.num_rows + 1,
                        column=header[i] if i < len(header) else None,
                    )
                ]
            )


def _decode(data: bytes, encoding: str) -> tuple[str, str, list[int]]:
    """Whole-file decode for the non-UTF-8 paths: (text, encoding used, stray-byte offsets)."""
    if encoding == "utf-8+cp1252":
        text, offsets = _mixed_decode(data)
        high = int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) >= 128))
        if high != len(offsets):
            return text, encoding, offsets
        encoding = "cp1252"  # no valid UTF-8 character at all: a legacy file after all
    try:
        return data.decode(encoding).removeprefix("\ufeff"), encoding, []
    except UnicodeDecodeError:
        if encoding == "cp1252":  # bytes Windows-1252 leaves undefined: read as Latin-1
            return data.decode("latin-1"), "latin-1", []
        raise _unusable(
            f"The file could not be read as {encoding} text: it is damaged or mixes several "
            "encodings.",
            "Open it in a spreadsheet program and save it again as 'CSV UTF-8'.",
        ) from None
    except LookupError:
        raise _unusable(
            f"The file could not be read as {encoding} text: it is damaged or mixes several "
            "encodings.",
            "Open it in a spreadsheet program and save it again as 'CSV UTF-8'.",
        ) from None


def read_csv_grid(data: bytes, encoding: str | None = None) -> Grid:
    """Parse a CSV/text export into a Grid (header + text cells + spreadsheet row numbers)."""
    encoding = encoding or detect_encoding(data)
    notes: list[Problem] = []
    offsets: list[int] = []
    text = ""
    if encoding in ("utf-8", "utf-8-sig"):
        start = 3 if encoding == "utf-8-sig" else 0
        text_head = data[start : start + SAMPLE_BYTES].decode("utf-8", errors="replace")
        payload = data  # pyarrow skips a UTF-8 BOM itself
    else:
        text, encoding, offsets = _decode(data, encoding)
        text_head = text[:SAMPLE_BYTES]
        payload = text.encode("utf-8")
    if not text_head.strip():
        raise _unusable(
            "The file is empty.", "Export the outcome scores again and upload that file."
        )
    sep, skip = _strip_sep_line(text_head)
    if skip:
        payload = payload[payload.index(b"\n") + 1 :]
        text_head = text_head[skip:]
    delimiter = sep or detect_delimiter(text_head)
    header = next(csv.reader(io.StringIO(text_head, newline=""), delimiter=delimiter), [])
    if len(header) > MAX_COLUMNS:  # counted in the sample: more when the line goes on
        raise _too_wide(len(header), more="\n" not in text_head and "\r" not in text_head)
    quoted = b'"' in payload
    try:
        table = _arrow_grid(pa.py_buffer(payload), delimiter, max(len(header), 1), quoted)
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) and encoding in ("utf-8", "utf-8-sig"):
            return read_csv_grid(data, "utf-8+cp1252")
        if "straddl" in str(exc) or "block" in str(exc):
            raise _long_row(payload) from None
        if "columns" not in str(exc):
            raise _unusable(
                "ReliefCheck could not split this file into rows and columns.",
                "Open it in a spreadsheet program, save it again as 'CSV UTF-8', and upload "
                "that file.",
            ) from exc
        table, ragged = _python_grid(payload.decode("utf-8-sig"), delimiter)
        notes += ragged
    if offsets:
        notes += _mixed_notes(text, offsets, delimiter, display_headers(header))
    if table.num_columns > MAX_COLUMNS:
        raise _too_wide(table.num_columns)
    head_row = [
        table.column(i)[0].as_py() if table.num_rows else None for i in range(table.num_columns)
    ]
    body = table.slice(1)
    if quoted and body.num_rows and payload.count(b'"') % 2:
        _check_open_quote(body, display_headers(header))
    newline = payload.find(b"\n")
    cols, filled = _tidy_columns(body, _needs_trim(payload, max(newline, 0), delimiter))
    rows = np.arange(2, body.num_rows + 2, dtype=np.int64)
    frame = pa.table(cols, names=[f"c{i}" for i in range(len(cols))])
    if not filled.all():
        frame, rows = frame.filter(pa.array(filled)), rows[filled]
    return Grid(
        header=[h.strip() if isinstance(h, str) else None for h in head_row],
        table=frame,
        source_row=rows,
        n_records=body.num_rows,
        encoding=_NAMES.get(encoding, encoding),
        delimiter=delimiter,
        notes=tuple(notes),
    )
