"""The reading limits (data/limits.py; docs/validation.md, "Limits"): hostile and oversized
files are refused with a message naming the limit and what to do, in bounded memory, and a
workbook is read to its last row whatever its ``<dimension>`` says.

Files are written by each test (tests/data/hostile_files.py); the memory caps run the read in
a fresh Python process and compare its peak resident memory before and after.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from data import limits
from data.errors import UnusableFileError
from data.instruments import default_registry
from data.readers.export import read_export
from data.readers.xlsx import scan_sheet
from data.readers.xlsx_archive import open_archive, part_chunks
from data.readers.xlsx_scan import FastSheet, in_pieces
from data.readers.xlsx_shared import shared_sizes
from data.readers.xlsx_slow import slow_sheet
from tests.data import hostile_files as H

REG = default_registry()
ROOT = Path(__file__).resolve().parents[2]
#: Most a refused or bounded read may add to a process's peak memory (the issue's target).
GROWTH_CAP_MB = 300


def refused(data: bytes, filename: str = "export.xlsx") -> str:
    with pytest.raises(UnusableFileError) as err:
        read_export(data, filename=filename, registry=REG)
    problems = err.value.problems
    assert problems and all(p.fix for p in problems)
    text = str(err.value)
    for word in ("Arrow", "straddl", "calamine", "Traceback", "zlib"):
        assert word not in text
    return text


# -- <dimension> is never trusted ---------------------------------------------------------------


def test_lying_dimension_reads_all_60_rows():
    data = H.lying_dimension(60)
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)  # what used to read it
    assert len(list(book["Scores"].iter_rows())) == 9
    raw = read_export(data, filename="export.xlsx", registry=REG)
    assert len(raw.frame) == 60
    assert list(raw.frame["source_row"]) == list(range(2, 62))
    assert raw.frame["patient_id"].iloc[-1] == "P030"


def test_error_cells_keep_the_text_excel_shows():
    raw = read_export(H.error_cells(), filename="export.xlsx", registry=REG)
    assert list(raw.frame["score"]) == ["#DIV/0!", "#N/A", "12"]


# -- the archive ------------------------------------------------------------------------------


def test_inline_text_bomb_is_refused_by_its_growth():
    data = H.inline_bomb(400)
    assert len(data) < 500_000
    text = refused(data)
    assert f"more than {limits.MAX_XLSX_RATIO} times" in text and "CSV" in text


def test_workbook_unzipping_past_the_total_is_refused(monkeypatch):
    monkeypatch.setattr("data.readers.xlsx_archive.MAX_XLSX_UNZIPPED_BYTES", 1000)
    assert "unzips to more than" in refused(H.lying_dimension())


def test_too_many_parts_is_refused():
    text = refused(H.many_parts(limits.MAX_XLSX_PARTS))
    assert f"up to {limits.MAX_XLSX_PARTS:,} parts" in text and "Split" in text


def test_part_longer_than_the_archive_says_is_refused_as_damaged():
    data = H.part_longer_than_stated(1000)
    assert len(zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")) == 1000
    assert "damaged" in refused(data)


# -- cells and sheets -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [H.long_cell, H.long_shared_text])
@pytest.mark.parametrize("chars", [40_000, 400_000])
def test_cell_over_excels_limit_is_refused_before_parsing_naming_the_cell(make, chars):
    with pytest.raises(UnusableFileError) as err:
        read_export(make(chars), filename="export.xlsx", registry=REG)
    [problem] = err.value.problems
    assert "Cell G2 of sheet 'Scores'" in problem.message and "32,767" in problem.message
    assert problem.row == 2


def test_cell_at_excels_limit_is_read():
    raw = read_export(H.long_cell(limits.MAX_CELL_CHARS), filename="export.xlsx", registry=REG)
    assert raw.frame["note"].str.len().tolist() == [limits.MAX_CELL_CHARS]


def test_cell_whose_formatted_runs_add_up_past_the_limit_is_refused_naming_it():
    with pytest.raises(UnusableFileError) as err:
        read_export(H.long_rich_cell(20_000), filename="export.xlsx", registry=REG)
    [problem] = err.value.problems
    assert (problem.row, problem.column) == (2, "note") and "32,767" in problem.message


def test_value_in_column_xfd_is_refused_with_the_column_limit():
    text = refused(H.sparse_wide(60))
    assert "column XFD (16,384 columns)" in text and "2,000 columns" in text


def test_value_in_the_last_allowed_column_is_read():
    column = "BXX"  # column 2,000
    raw = read_export(H.sparse_wide(4, column), filename="export.xlsx", registry=REG)
    assert len(raw.frame) == 4 and raw.frame.shape[1] == 8  # 6 columns, BXX, source_row


def test_sheet_reaching_far_down_and_right_is_refused_by_its_cells():
    text = refused(H.far_corner())
    assert "row 1,048,576 and column ZZ" in text and "10,000,000 cells" in text


def test_a_long_text_shown_in_many_cells_is_refused_by_the_text_limit():
    data = H.shared_text_repeated(30_000, 9_000)
    assert len(data) < 400_000
    assert "MB of text" in refused(data)


# -- the array scan and the XML-parser scan agree ------------------------------------------------


def _scans(data: bytes):
    archive = open_archive(data)
    shared = shared_sizes(archive)
    info = archive.info("xl/worksheets/sheet1.xml")
    fast = FastSheet("Scores", shared)
    in_pieces(part_chunks(archive.data, info, 4096), fast.feed, "Scores")
    return fast.scan, slow_sheet(archive, info, "Scores", shared)


@pytest.mark.parametrize(
    "data",
    [H.lying_dimension(300), H.error_cells(), H.sparse_wide(3, "AB"), H.long_cell(100)],
    ids=["rows", "errors", "wide", "note"],
)
def test_array_scan_and_parser_scan_agree(data):
    fast, slow = _scans(data)
    assert (fast.rows, fast.columns, fast.cells) == (slow.rows, slow.columns, slow.cells)
    assert sorted(fast.errors) == sorted(slow.errors)


def _prefixed(rows: str) -> bytes:
    return H.workbook(H.sheet(rows.replace("<", "<x:").replace("<x:/", "</x:"), prefix="x"))


def test_prefixed_xml_is_scanned_by_arrays_as_the_parser_scans_it(monkeypatch):
    data = _prefixed(H.header_row() + H.scores_rows(500))
    archive = open_archive(data)
    shared = shared_sizes(archive)
    info = archive.info("xl/worksheets/sheet1.xml")
    slow = slow_sheet(archive, info, "Scores", shared)
    monkeypatch.setattr("data.readers.xlsx_slow.slow_sheet", lambda *a: pytest.fail("parser used"))
    fast = scan_sheet(archive, "xl/worksheets/sheet1.xml", "Scores", shared)
    assert (
        (fast.rows, fast.columns, fast.cells)
        == (slow.rows, slow.columns, slow.cells)
        == (
            501,
            6,
            3006,
        )
    )


def test_prefixed_xml_without_cell_references_is_scanned_and_read():
    rows = H.header_row() + H.scores_rows(3)
    data = _prefixed(re.sub(r' r="[A-Z]+[0-9]+"', "", rows))  # cells placed by order only
    archive = open_archive(data)
    scan = scan_sheet(archive, "xl/worksheets/sheet1.xml", "Scores", shared_sizes(archive))
    assert (scan.rows, scan.columns, scan.cells) == (4, 6, 24)
    raw = read_export(data, filename="export.xlsx", registry=REG)
    assert list(raw.frame["score"]) == ["20", "17", "20"]


def test_prefixed_xml_reaching_xfd_is_refused_too():
    rows = H.row_xml(1, list(H.HEADER)) + '<row r="2"><c r="XFD2"><v>1</v></c></row>'
    assert "column XFD" in refused(_prefixed(rows))
    unplaced = H.row_xml(1, list(H.HEADER)) + '<row r="2">' + "<c><v>1</v></c>" * 16_384 + "</row>"
    assert "column XFD" in refused(_prefixed(unplaced))  # the parser scan counts the cells


def test_document_type_declaration_is_refused():
    xml = H.sheet(H.header_row()).replace("<worksheet", '<!DOCTYPE x [<!ENTITY a "b">]><worksheet')
    assert "damaged" in refused(H.workbook(xml))


# -- CSV --------------------------------------------------------------------------------------


def test_csv_with_50000_columns_is_refused_at_once():
    start = time.perf_counter()
    text = refused(H.wide_csv(50_000), "export.csv")
    assert time.perf_counter() - start < 5
    assert "2,000 columns" in text and "or more columns" in text


def test_csv_row_with_too_many_values_is_refused_naming_it():
    data = b"patient_id,instrument,score\nP1,PHQ-9,3\nP2,PHQ-9,3" + b",x" * 3000 + b"\n"
    with pytest.raises(UnusableFileError) as err:
        read_export(data, filename="export.csv", registry=REG)
    assert err.value.problems[0].row == 3 and "3,003 columns" in err.value.problems[0].message


def test_csv_with_2000_columns_is_read():
    raw = read_export(H.wide_csv(2_000), filename="export.csv", registry=REG)
    assert raw.frame.shape == (1, 2_001)


def test_csv_line_over_the_row_limit_is_refused_in_plain_words():
    with pytest.raises(UnusableFileError) as err:
        read_export(H.long_line_csv(30), filename="export.csv", registry=REG)
    [problem] = err.value.problems
    assert problem.row == 3 and "longer than 4 MB" in problem.message
    assert "straddl" not in str(err.value) and "Arrow" not in str(err.value)


def test_csv_cell_over_the_cell_limit_is_refused_naming_it():
    data = b"patient_id,instrument,score,note\nP1,PHQ-9,3," + b"y" * 40_000 + b"\n"
    with pytest.raises(UnusableFileError) as err:
        read_export(data, filename="export.csv", registry=REG)
    assert (err.value.problems[0].row, err.value.problems[0].column) == (2, "note")


# -- memory ----------------------------------------------------------------------------------

_CHILD = """
import json, resource, sys
sys.path.insert(0, {root!r})
from data.errors import UnusableFileError
from data.instruments import default_registry
from data.readers.export import read_export
registry = default_registry()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = "read %d rows" % len(read_export({path!r}, registry=registry).frame)
except UnusableFileError as err:
    outcome = str(err)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"growth_mb": (after - before) / 1024, "outcome": outcome}}))
"""


def _read_in_child(path: Path) -> dict:
    code = _CHILD.format(root=str(ROOT), path=str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("bomb_400mb.xlsx", lambda: H.inline_bomb(400), "times when unzipped"),
        ("bomb_1500mb.xlsx", lambda: H.inline_bomb(1500), "unzips to more than"),
        ("long_cell.xlsx", lambda: H.long_cell(400_000), "Cell G2"),
        ("xfd.xlsx", lambda: H.sparse_wide(2_000), "column XFD"),
        ("repeated_text.xlsx", lambda: H.shared_text_repeated(30_000, 9_000), "MB of text"),
        ("wide.csv", lambda: H.wide_csv(50_000), "2,000 columns"),
        ("long_line.csv", lambda: H.long_line_csv(30), "longer than 4 MB"),
    ],
)
def test_hostile_file_is_refused_within_the_memory_cap(tmp_path, name, make, expected):
    path = tmp_path / name
    path.write_bytes(make())
    result = _read_in_child(path)
    assert expected in result["outcome"]
    assert result["growth_mb"] < GROWTH_CAP_MB


# -- one place for the limits --------------------------------------------------------------------


def test_every_limit_is_listed_in_the_docs():
    docs = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Limits") :]
    for name in (
        "MAX_FILE_BYTES",
        "MAX_COLUMNS",
        "MAX_CELL_CHARS",
        "MAX_SHEET_CELLS",
        "MAX_SHEET_TEXT_BYTES",
        "MAX_XLSX_PARTS",
        "MAX_XLSX_UNZIPPED_BYTES",
        "MAX_XLSX_RATIO",
        "MAX_CSV_ROW_BYTES",
        "MAX_DAY",
    ):
        value = getattr(limits, name)
        shown = f"{value // limits.MIB:,} MB" if name.endswith("BYTES") else f"{value:,}"
        assert f"`{name}`" in section and shown in section, name


def test_every_day_that_validates_can_be_stored():
    from data.store import anchors, codec
    from data.store.tables import MS_PER_DAY

    largest = limits.MAX_DAY * MS_PER_DAY + 2 * anchors.MAX_SHIFT_MS
    assert largest < codec.MAX_DAY_MS
    assert codec.day_to_ms(__import__("pandas").Series([float(limits.MAX_DAY)]))[0] > 0


@pytest.mark.parametrize("day", ["1e15", "36526", "1e308"])
def test_day_past_the_limit_is_refused_by_validate_with_row_and_fix(day):
    from data.ingest import load_export

    rows = ["patient_id,protocol,instrument,session,day,score", "P1,weekly,PHQ-9,0,0,20"]
    data = "\n".join([*rows, f"P1,weekly,PHQ-9,1,{day},12"]) + "\n"
    result = load_export(data.encode(), filename="export.csv", registry=REG)
    rejected = [p for p in result.problems if p.column == "day"]
    assert [p.row for p in rejected] == [3]
    assert "36,525 days" in rejected[0].message and rejected[0].fix
    assert len(result.tidy) == 1
    assert np.isfinite(result.tidy["day"].astype(float)).all()
