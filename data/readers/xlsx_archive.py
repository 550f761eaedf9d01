"""The zip archive of an .xlsx workbook, checked before any of it is parsed (docs/validation.md,
"Limits").

``open_archive`` refuses a file that is not a workbook, an archive with too many parts or that
unzips to too much, and a part that grows too many times over. ``part_chunks`` unzips one part
a few megabytes at a time and checks that it is as long as the archive says, with the checksum
it states: a part that claims a small size and unzips into gigabytes (a zip bomb) is refused
after its claimed size, never held in memory. Every part goes through it once before the
workbook is parsed, so the sizes checked are the sizes the parser meets.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.etree import ElementTree

from data.errors import Problem, UnusableFileError
from data.limits import MAX_XLSX_PARTS, MAX_XLSX_RATIO, MAX_XLSX_UNZIPPED_BYTES, RATIO_FLOOR_BYTES

CHUNK_BYTES = 2 * 1024 * 1024
_IN_BYTES = 256 * 1024
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_EOCD = b"PK\x05\x06"
#: Parts read whole to find the sheets (a workbook's are a few kilobytes).
_SMALL_PART_BYTES = 8 * 1024 * 1024
FIX_RESAVE = "Open it in Excel and save it again as .xlsx, or export the scores as 'CSV UTF-8'."
FIX_SMALLER = (
    "Split the workbook (one sheet or one period per file), or export the scores as 'CSV UTF-8' "
    "and upload that."
)


def unusable(message: str, fix: str) -> UnusableFileError:
    """A file-level error with one problem."""
    return UnusableFileError([Problem(message, fix)])


def damaged(detail: str = "it is not a complete .xlsx workbook") -> UnusableFileError:
    """The error for a workbook whose archive cannot be read as it is."""
    return unusable(f"This Excel file is damaged ({detail}).", FIX_RESAVE)


@dataclass(frozen=True)
class Archive:
    """A checked workbook archive: its bytes, parts, and where each sheet's XML is."""

    data: bytes
    zip: zipfile.ZipFile
    sheet_parts: dict[str, str] = field(default_factory=dict)  # worksheet name → its part
    sheet_names: list[str] = field(default_factory=list)  # every sheet, charts too, in order

    def info(self, name: str) -> zipfile.ZipInfo | None:
        """The part called ``name`` (None when the archive has none)."""
        try:
            return self.zip.getinfo(name)
        except KeyError:
            return None


def _entry_count(data: bytes) -> int:
    """Parts listed by the archive's end record, read before Python lists them one by one."""
    end = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if end < 0 or len(data) < end + 22:
        raise damaged()
    total = struct.unpack_from("<H", data, end + 10)[0]
    if total != 0xFFFF:
        return total
    locator = end - 20  # a Zip64 archive: the count is in the Zip64 end record
    if locator < 0 or data[locator : locator + 4] != b"PK\x06\x07":
        raise damaged()
    record = struct.unpack_from("<Q", data, locator + 8)[0]
    if data[record : record + 4] != b"PK\x06\x06" or len(data) < record + 40:
        raise damaged()
    return struct.unpack_from("<Q", data, record + 32)[0]


def _kind_check(names: set[str]) -> None:
    if "xl/workbook.xml" in names:
        return
    if "content.xml" in names:
        what = "an OpenDocument (LibreOffice/Numbers) file"
    elif "word/document.xml" in names:
        what = "a Word document"
    else:
        what = "a zip archive"
    raise unusable(
        f"This file is {what}, not an Excel .xlsx workbook or a CSV file.",
        "Save the scores as an Excel workbook (.xlsx) or as 'CSV UTF-8', and upload that file.",
    )


def _count_check(n: int) -> None:
    if n > MAX_XLSX_PARTS:
        raise unusable(
            f"This Excel file holds {n:,} parts; ReliefCheck reads workbooks of up to "
            f"{MAX_XLSX_PARTS:,} parts (sheets, pictures, charts and the files that describe "
            "them).",
            FIX_SMALLER,
        )


def _size_check(infos: list[zipfile.ZipInfo]) -> None:
    _count_check(len(infos))
    total = 0
    for info in infos:
        total += info.file_size
        if total > MAX_XLSX_UNZIPPED_BYTES:
            raise unusable(
                f"This Excel file unzips to more than {MAX_XLSX_UNZIPPED_BYTES // 2**20:,} MB; "
                f"ReliefCheck reads workbooks of up to {MAX_XLSX_UNZIPPED_BYTES // 2**20:,} MB "
                "unzipped.",
                FIX_SMALLER,
            )
        packed = max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_XLSX_RATIO * packed:
            raise unusable(
                f"A part of this Excel file ('{info.filename[:80]}') grows "
                f"{info.file_size // packed:,} times when unzipped; ReliefCheck refuses parts "
                f"that grow more than {MAX_XLSX_RATIO} times (a spreadsheet grows 5 to 30 "
                "times), because such a file can exhaust the computer's memory.",
                "If the workbook came from your records system, export the scores again as "
                "'CSV UTF-8' and upload that; do not upload files from unknown senders.",
            )


def open_archive(data: bytes) -> Archive:
    """Open and check a workbook's archive (UnusableFileError when it cannot be used).

    Every part is unzipped once here (a few megabytes at a time) to check its size and
    checksum; the sheets' XML is scanned later, sheet by sheet (data.readers.xlsx_scan).
    """
    _count_check(_entry_count(data))
    try:
        zf = zipfile.ZipFile(_ReadOnly(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise damaged() from None
    names = [i.filename for i in infos]
    if len(set(names)) < len(names):
        raise damaged("two parts have the same name")
    _kind_check(set(names))
    _size_check(infos)
    for info in infos:
        for _ in part_chunks(data, info):
            pass
    archive = Archive(data, zf)
    _find_sheets(archive)
    return archive


class _ReadOnly:
    """The archive's bytes as a read-only file, without the copy io.BytesIO would make."""

    def __init__(self, data: bytes) -> None:
        self._view, self._pos = memoryview(data), 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self._view))[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n is None or n < 0 else min(len(self._view), self._pos + n)
        out = bytes(self._view[self._pos : end])
        self._pos = max(self._pos, end)
        return out


def part_chunks(data: bytes, info: zipfile.ZipInfo, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """A part's bytes, unzipped ``size`` bytes or so at a time, checked against its stated
    length and checksum (UnusableFileError as soon as it grows past its stated length)."""
    if info.flag_bits & 0x1:
        raise damaged("a part is encrypted")
    start = info.header_offset
    if start < 0 or len(data) < start + _LOCAL_HEADER.size:
        raise damaged()
    head = _LOCAL_HEADER.unpack_from(data, start)
    if head[0] != b"PK\x03\x04":
        raise damaged()
    begin = start + _LOCAL_HEADER.size + head[-2] + head[-1]
    raw = memoryview(data)[begin : begin + info.compress_size]
    if len(raw) < info.compress_size:
        raise damaged()
    if info.compress_type == zipfile.ZIP_STORED:
        pieces: Iterator[bytes] = (bytes(raw[i : i + size]) for i in range(0, len(raw), size))
        done = lambda: True  # noqa: E731
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
        pieces = _inflate(inflater, raw, size)
        done = lambda: inflater.eof  # noqa: E731
    else:
        raise damaged("a part uses a kind of compression Excel does not write")
    crc, total = 0, 0
    try:
        for piece in pieces:
            total += len(piece)
            if total > info.file_size:
                raise damaged("a part is longer than the archive says")
            crc = zlib.crc32(piece, crc)
            yield piece
    except zlib.error:
        raise damaged() from None
    if total != info.file_size or crc != info.CRC or not done():
        raise damaged("a part does not match its checksum")


def _inflate(inflater, raw: memoryview, size: int) -> Iterator[bytes]:
    for i in range(0, len(raw), _IN_BYTES):
        pending: bytes | memoryview = raw[i : i + _IN_BYTES]
        while pending and not inflater.eof:
            out = inflater.decompress(pending, size)
            pending = inflater.unconsumed_tail
            if out:
                yield out
        if inflater.eof:
            return


def read_small_part(archive: Archive, name: str) -> bytes | None:
    """A small part (workbook, relationships) whole; None when absent, damaged when big."""
    info = archive.info(name)
    if info is None:
        return None
    if info.file_size > _SMALL_PART_BYTES:
        raise damaged(f"its part '{name[:80]}' is far larger than Excel writes it")
    text = b"".join(part_chunks(archive.data, info))
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        raise damaged("it declares XML entities, which Excel never writes")
    return text


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse(text: bytes) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError:
        raise damaged() from None


def _find_sheets(archive: Archive) -> None:
    """Fill ``sheet_names`` and, for worksheets, ``sheet_parts`` from the workbook part and
    its relationships (a chart sheet has no cells)."""
    book = read_small_part(archive, "xl/workbook.xml")
    rels = read_small_part(archive, "xl/_rels/workbook.xml.rels")
    if book is None or rels is None:
        return
    targets = {}
    for el in _parse(rels).iter():
        if _local(el.tag) == "Relationship" and el.get("Id") and el.get("Target"):
            target = el.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else "xl/" + target
            while re.search(r"[^/]+/\.\./", path):
                path = re.sub(r"[^/]+/\.\./", "", path, count=1)
            targets[el.get("Id")] = (path, el.get("Type", "").endswith("/worksheet"))
    for el in _parse(book).iter():
        if _local(el.tag) != "sheet" or el.get("name") is None:
            continue
        name = el.get("name", "")
        archive.sheet_names.append(name)
        rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
        path, worksheet = targets.get(rid, ("", False))
        if worksheet:
            archive.sheet_parts[name] = path


def cell_showing(archive: Archive, index: int) -> tuple[str | None, str | None]:
    """(sheet, cell) of the first cell showing shared text number ``index``, if any."""
    pattern = re.compile(
        rb'<c r="([A-Z]{1,3}[0-9]{1,7})"[^>]*? t="s"[^>]*><v>' + str(index).encode() + b"</v>"
    )
    for sheet, part in archive.sheet_parts.items():
        info = archive.info(part)
        if info is None:
            continue
        tail = b""
        for chunk in part_chunks(archive.data, info):
            m = pattern.search(tail + chunk)
            if m:
                return sheet, m.group(1).decode()
            tail = chunk[-512:]
    return None, None
