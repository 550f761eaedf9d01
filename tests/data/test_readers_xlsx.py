"""Reading Excel workbooks (SPEC section 2): sheet choice, cell values as text, Excel row numbers.

Workbooks are built in each test with openpyxl; expected values are written out by hand.
"""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pandas as pd
import pytest

from data.errors import UnusableFileError
from data.instruments import default_registry
from data.readers.export import RawTable, read_export
from data.readers.xlsx import sheet_names

REG = default_registry()


def read(data: bytes, filename: str = "export.xlsx", **kw) -> RawTable:
    return read_export(data, filename=filename, registry=REG, **kw)


def values(raw: RawTable, name: str) -> list:
    """A column as a list, None for a missing value."""
    return [None if pd.isna(v) else v for v in raw.frame[name]]


# -- sheets ------------------------------------------------------------------------------------


def xlsx(sheets: dict[str, list[list]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row, start=1):
                if v is not None:
                    ws.cell(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


SHEETS = {
    "Summary": [["Practice report"], ["made", "2024"]],
    "Scores": [["Client ID", "PHQ9 Total"], ["P1", 12], ["P2", 7.5]],
    "Archive": [["patient_id", "instrument", "score"], ["P9", "GAD-7", 3]],
}


def test_xlsx_first_sheet_with_patient_ids_is_read_and_named():
    raw = read(xlsx(SHEETS), filename="export.xlsx")
    assert (raw.sheet, raw.sheets) == ("Scores", ("Summary", "Scores", "Archive"))
    assert values(raw, "score") == ["12", "7.5"]
    [note] = raw.notes
    assert (
        "'Scores'" in note.message and "'Summary'" in note.message and "'Archive'" in note.message
    )


@pytest.mark.parametrize("sheet", ["Archive", "archive", 2])
def test_xlsx_sheet_by_name_or_index(sheet):
    raw = read(xlsx(SHEETS), filename="export.xlsx", sheet=sheet)
    assert raw.sheet == "Archive"
    assert values(raw, "patient_id") == ["P9"]
    assert raw.notes == ()


@pytest.mark.parametrize("sheet", ["Nope", 3])
def test_xlsx_missing_sheet_lists_the_sheets(sheet):
    with pytest.raises(UnusableFileError) as err:
        read(xlsx(SHEETS), filename="export.xlsx", sheet=sheet)
    assert "'Summary', 'Scores', 'Archive'" in str(err.value)


def test_xlsx_cells_become_text_and_rows_keep_excel_numbers():
    rows = [
        ["ReliefCheck export"],
        [],
        ["patient_id", "Assessment Date", "score", "session", "treatment resistant"],
        ["P1", dt.datetime(2024, 3, 4), 12.0, 0, True],
        [],
        [1001, dt.datetime(2024, 3, 5, 6, 30), 0.1 + 0.2, 1, False],
    ]
    raw = read(xlsx({"Data": rows}), filename="export.xlsx")
    assert values(raw, "patient_id") == ["P1", "1001"]
    assert values(raw, "date") == ["2024-03-04", "2024-03-05T06:30:00"]
    assert values(raw, "score") == ["12", "0.3"]  # Excel shows 15 significant digits
    assert values(raw, "treatment_resistant") == ["TRUE", "FALSE"]
    assert list(raw.frame["source_row"]) == [4, 6]
    assert any("Rows 1–2" in n.message for n in raw.notes)


def test_xlsx_content_wins_over_a_csv_name():
    raw = read(xlsx({"S": [["patient_id", "score"], ["P1", 3]]}), filename="export.csv")
    assert raw.sheet == "S"
    assert any("Excel workbook" in n.message for n in raw.notes)


def test_xlsx_chart_sheet_is_passed_over_and_named():
    wb = openpyxl.Workbook()
    wb.active.title = "Scores"
    for row in [["patient_id", "instrument", "score"], ["P1", "PHQ-9", 4]]:
        wb.active.append(row)
    wb.create_chartsheet("Chart", 0)
    buf = io.BytesIO()
    wb.save(buf)
    raw = read(buf.getvalue())
    assert (raw.sheet, raw.sheets) == ("Scores", ("Chart", "Scores"))
    assert values(raw, "score") == ["4"]
    assert sheet_names(buf.getvalue()) == ["Chart", "Scores"]


def test_xlsx_title_rows_are_kept_as_preamble_not_data():
    rows = [["Clinic report for March"], [], ["patient_id", "score"], ["P1", 3]]
    raw = read(xlsx({"Data": rows}))
    assert raw.preamble == ("Clinic report for March",)
    assert values(raw, "patient_id") == ["P1"]


def test_sheet_names_of_a_damaged_file_is_empty():
    assert sheet_names(b"PK\x03\x04" + b"\x00" * 100) == []
