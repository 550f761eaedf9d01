"""Hostile and oversized spreadsheets for the reading limits (docs/validation.md, "Limits").

Workbooks are written part by part with zipfile, so each test controls the XML exactly (a
``<dimension>`` that lies, a cell reaching column XFD, a part larger than it says). Used by
tests/data/test_readers_limits.py and by tests/fixtures/attacks/make_reading_attacks.py.
"""

from __future__ import annotations

import io
import random
import string
import struct
import zipfile
import zlib
from xml.sax.saxutils import escape

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
HEADER = ("patient_id", "protocol", "instrument", "session", "day", "score")


def workbook(sheet_xml: bytes | str, shared_xml: bytes | str | None = None, extra=()) -> bytes:
    """An .xlsx with one sheet 'Scores' (and shared texts when given); ``extra`` adds parts
    as (name, bytes) pairs."""
    shared = shared_xml is not None
    ct = (
        f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{_CT}">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>'
        + (
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPE}.sharedStrings+xml"/>'
            if shared
            else ""
        )
        + "</Types>"
    )
    rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    book = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{_REL}">'
        '<sheets><sheet name="Scores" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    book_rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        + (
            f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            if shared
            else ""
        )
        + "</Relationships>"
    )
    parts = [
        ("[Content_Types].xml", ct),
        ("_rels/.rels", rels),
        ("xl/workbook.xml", book),
        ("xl/_rels/workbook.xml.rels", book_rels),
        ("xl/worksheets/sheet1.xml", sheet_xml),
        *([("xl/sharedStrings.xml", shared_xml)] if shared else []),
        *extra,
    ]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts:  # a fixed date: the same parts always give the same bytes
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()


def sheet(rows: str, dimension: str | None = None, prefix: str = "") -> str:
    """A worksheet's XML around ``rows`` (``<row>`` elements); ``prefix`` writes every element
    with that namespace prefix, as some libraries do."""
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns{":" + prefix if prefix else ""}="{MAIN}"'
    dim = f'<{p}dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet {ns}>{dim}<{p}sheetData>{rows}'
        f"</{p}sheetData></{p}worksheet>"
    )


def text_cell(ref: str, text: str) -> str:
    """An inline-text cell."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def number_cell(ref: str, value: float | int) -> str:
    return f'<c r="{ref}"><v>{value}</v></c>'


def row_xml(n: int, values: list[object], columns: str = "ABCDEFGHIJ") -> str:
    """Row ``n`` with ``values`` in columns A, B, …: text as inline text, numbers as numbers."""
    cells = [
        number_cell(f"{c}{n}", v) if isinstance(v, int | float) else text_cell(f"{c}{n}", str(v))
        for c, v in zip(columns, values, strict=False)
    ]
    return f'<row r="{n}">{"".join(cells)}</row>'


def scores_rows(n: int, first: int = 2) -> str:
    """``n`` valid rows (two sessions per patient) from row ``first`` on."""
    out = []
    for i in range(n):
        patient, session = f"P{i // 2 + 1:03d}", i % 2
        values = [patient, "weekly", "PHQ-9", session, 7 * session, 20 - 3 * session]
        out.append(row_xml(first + i, values))
    return "".join(out)


def header_row() -> str:
    return row_xml(1, list(HEADER))


def lying_dimension(n: int = 60) -> bytes:
    """``n`` data rows under a ``<dimension>`` that claims the sheet ends at row 9."""
    return workbook(sheet(header_row() + scores_rows(n), dimension="A1:F9"))


def _deflate_repeated(head: bytes, block: bytes, times: int, tail: bytes) -> tuple[bytes, int]:
    """Raw deflate data of ``head + block * times + tail`` and its CRC-32, without ever holding
    the whole: ``block`` is deflated once after a full flush (which makes the result
    independent of what came before) and the compressed piece repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    piece = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    last = c.compress(tail) + c.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    return first + piece * times + last, zlib.crc32(tail, crc)


def _swap_part(data: bytes, name: str, packed: bytes, crc: int, size: int) -> bytes:
    """``data`` (a zip archive) with part ``name`` replaced by already deflated bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    parts, central = [], []
    offset = 0
    for info in src.infolist():
        raw_name = info.filename.encode()
        if info.filename == name:
            body, p_crc, p_size = packed, crc, size
        else:
            plain = src.read(info)
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            body, p_crc, p_size = c.compress(plain) + c.flush(), zlib.crc32(plain), len(plain)
        fields = (20, 0, 8, 0, 0x21, p_crc, len(body), p_size, len(raw_name))
        parts.append(struct.pack("<4s5HLLLHH", b"PK\x03\x04", *fields, 0) + raw_name + body)
        central.append(
            struct.pack("<4s6HLLLHHHHHLL", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset)
            + raw_name
        )
        offset += len(parts[-1])
    directory = b"".join(central)
    end = struct.pack("<4s4HLLH", b"PK\x05\x06", 0, 0, len(central), len(central),
                      len(directory), offset, 0)  # fmt: skip
    return b"".join(parts) + directory + end


def inline_bomb(megabytes: int) -> bytes:
    """One inline-text cell of ``megabytes`` MB of one letter: about a thousandth of that
    zipped (400 MB in 400 KB), built without holding the text."""
    head = sheet(header_row() + row_xml(2, ["P001", "weekly", "PHQ-9", 0, 0, "@"]))
    before, after = head.split("@")
    block = b"A" * (1024 * 1024)
    packed, crc = _deflate_repeated(before.encode(), block, megabytes, after.encode())
    size = len(before.encode()) + len(block) * megabytes + len(after.encode())
    return _swap_part(workbook(head), "xl/worksheets/sheet1.xml", packed, crc, size)


def random_text(n: int, seed: int = 1) -> str:
    """``n`` letters that do not compress much (so the growth limit does not apply)."""
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_letters, k=n))


def long_cell(chars: int) -> bytes:
    """A 'note' cell (G2) of ``chars`` characters next to a valid row."""
    values = ["P001", "weekly", "PHQ-9", 0, 0, 20, random_text(chars)]
    return workbook(sheet(row_xml(1, [*HEADER, "note"]) + row_xml(2, values)))


def long_rich_cell(chars: int) -> bytes:
    """A 'note' cell (G2) of two formatted runs of ``chars`` characters each."""
    runs = "".join(f"<r><t>{random_text(chars, seed)}</t></r>" for seed in (1, 2))
    note = f'<c r="G2" t="inlineStr"><is>{runs}</is></c>'
    row = row_xml(2, ["P001", "weekly", "PHQ-9", 0, 0, 20]).replace("</row>", note + "</row>")
    return workbook(sheet(row_xml(1, [*HEADER, "note"]) + row))


def long_shared_text(chars: int) -> bytes:
    """Cell G2 shows shared text number 1, of ``chars`` characters."""
    shared = (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}"><si><t>PHQ-9</t></si>'
        f"<si><t>{random_text(chars)}</t></si></sst>"
    )
    row = (
        '<row r="2">'
        + text_cell("A2", "P001")
        + text_cell("B2", "weekly")
        + '<c r="C2" t="s"><v>0</v></c>'
        + number_cell("D2", 0)
        + number_cell("E2", 0)
        + number_cell("F2", 20)
        + '<c r="G2" t="s"><v>1</v></c></row>'
    )
    return workbook(sheet(row_xml(1, [*HEADER, "note"]) + row), shared)


def sparse_wide(rows: int, column: str = "XFD") -> bytes:
    """``rows`` valid rows, each with one more value in ``column`` (XFD: Excel's last)."""
    out = [header_row()]
    for i in range(rows):
        n = i + 2
        patient, session = f"P{i // 2 + 1:03d}", i % 2
        cells = row_xml(n, [patient, "weekly", "PHQ-9", session, 7 * session, 20])[:-6]
        out.append(cells + number_cell(f"{column}{n}", 1) + "</row>")
    return workbook(sheet("".join(out)))


def far_corner() -> bytes:
    """A1 and ZZ1048576 hold values: a rectangle of 737 million cells."""
    rows = header_row() + scores_rows(4) + f'<row r="1048576">{number_cell("ZZ1048576", 1)}</row>'
    return workbook(sheet(rows))


def shared_text_repeated(text_chars: int, cells: int) -> bytes:
    """One shared text of ``text_chars`` characters shown in ``cells`` cells (column G)."""
    shared = (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}"><si><t>PHQ-9</t></si>'
        f"<si><t>{'x' * text_chars}</t></si></sst>"
    )
    out = [row_xml(1, [*HEADER, "note"])]
    for i in range(cells):
        n = i + 2
        out.append(
            f'<row r="{n}">{text_cell(f"A{n}", f"P{n}")}{text_cell(f"B{n}", "weekly")}'
            f'<c r="C{n}" t="s"><v>0</v></c>{number_cell(f"D{n}", 0)}{number_cell(f"E{n}", 0)}'
            f'{number_cell(f"F{n}", 20)}<c r="G{n}" t="s"><v>1</v></c></row>'
        )
    return workbook(sheet("".join(out)), shared)


def many_parts(n: int) -> bytes:
    """A valid workbook with ``n`` extra small parts."""
    extra = [(f"xl/media/part{i}.bin", b"x") for i in range(n)]
    return workbook(sheet(header_row() + scores_rows(2)), extra=extra)


def part_longer_than_stated(stated: int = 1000, rows: int = 4000) -> bytes:
    """The sheet's part says it is ``stated`` bytes (with the checksum of its first ``stated``
    bytes) but unzips to far more: what a zip bomb does to a reader that trusts the size."""
    data = workbook(sheet(header_row() + scores_rows(rows)))
    z = zipfile.ZipFile(io.BytesIO(data))
    info = z.getinfo("xl/worksheets/sheet1.xml")
    crc = zlib.crc32(z.read(info)[:stated])
    out = bytearray(data)
    local = info.header_offset
    struct.pack_into("<L", out, local + 14, crc)
    struct.pack_into("<L", out, local + 22, stated)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", out, central + 28)[0]
        if bytes(out[central + 46 : central + 46 + name_len]) == info.filename.encode():
            struct.pack_into("<L", out, central + 16, crc)
            struct.pack_into("<L", out, central + 24, stated)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def error_cells() -> bytes:
    """Scores that are spreadsheet errors (#DIV/0!, #N/A), one from a formula."""
    rows = (
        header_row()
        + row_xml(2, ["P001", "weekly", "PHQ-9", 0, 0])[:-6]
        + '<c r="F2" t="e"><v>#DIV/0!</v></c></row>'
        + row_xml(3, ["P001", "weekly", "PHQ-9", 1, 7])[:-6]
        + '<c r="F3" t="e"><f>NA()</f><v>#N/A</v></c></row>'
        + row_xml(4, ["P002", "weekly", "PHQ-9", 0, 0, 12])
    )
    return workbook(sheet(rows))


def wide_csv(columns: int) -> bytes:
    """A CSV whose header names ``columns`` columns (the first six are the usual ones)."""
    names = [*HEADER, *(f"x{i}" for i in range(columns - len(HEADER)))]
    row = ["P001", "weekly", "PHQ-9", "0", "0", "20", *("1" for _ in range(columns - 6))]
    return (",".join(names) + "\n" + ",".join(row) + "\n").encode()


def long_line_csv(megabytes: int) -> bytes:
    """A valid row, then a row of ``megabytes`` MB on one line."""
    return (
        ",".join(HEADER).encode()
        + b"\nP001,weekly,PHQ-9,0,0,20\nP002,weekly,PHQ-9,0,0,"
        + b"9" * (megabytes * 1024 * 1024)
        + b"\n"
    )
