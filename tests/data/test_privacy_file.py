"""The privacy gate on whole files (read_export + validate): identifying text in a workbook's
title rows or in a CSV's header line refuses the file; hidden characters in ids and labels
reject the row, naming row and column."""

import io

import pytest
import xlsxwriter

from data.errors import UnusableFileError
from data.readers.export import read_export
from data.validation.privacy import find_identifiers, preamble_problems
from data.validation.validate import validate
from tests.data.validation_helpers import REG, raw, rows

HEADER = ["patient_id", "protocol", "instrument", "session", "day", "score"]
DATA = [["P-1", "weekly", "PHQ-9", 0, 0, 20], ["P-1", "weekly", "PHQ-9", 1, 7, 14]]


def _workbook(title_rows: list[list[str]]) -> bytes:
    """An .xlsx whose sheet has ``title_rows`` above the header row, then two data rows."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("Scores")
    for r, row in enumerate([*title_rows, HEADER, *DATA]):
        sheet.write_row(r, 0, row)
    book.close()
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        (["Outcomes of jane.smith@example.org"], "email addresses"),
        (["Export for patient Jane Smith"], "people's names"),
        (["Exported by", "call 07700 900123"], "phone numbers"),
        (["Clinic", "DOB 14/03/1985"], "dates of birth"),
        (["0 Baker Street London NW1 6XE"], "postal addresses or postcodes"),
    ],
)
def test_identifying_text_in_a_workbook_title_row_refuses_the_file(title, kind):
    table = read_export(_workbook([title, []]), filename="scores.xlsx", registry=REG)
    with pytest.raises(UnusableFileError) as caught:
        validate(table, REG)
    (problem,) = caught.value.problems
    assert f"above the header row hold text that looks like {kind}" in problem.message
    assert all(part not in str(caught.value) for part in title)


def test_a_plain_title_row_passes():
    title = ["ReliefCheck export 2024-03-05", "Site A"]
    table = read_export(_workbook([title]), filename="scores.xlsx", registry=REG)
    assert find_identifiers(table) == []
    assert len(validate(table, REG).tidy) == 2


def test_preamble_problems_report_each_kind_once_and_ignore_blanks():
    problems = preamble_problems(["a@example.org", None, " ", "b@example.org", "NW1 6XE"])
    assert [p.message.split("looks like ")[1].split(",")[0] for p in problems] == [
        "email addresses",
        "postal addresses or postcodes",
    ]
    assert all("title rows" in p.fix for p in problems)


def test_a_csv_title_line_with_an_email_is_refused_without_repeating_it():
    # the title line is read as the header row, so no column holds the patient id
    data = b"Scores of jane@example.org,,,,,\n" + ",".join(HEADER).encode() + b"\n"
    data += b"P-1,weekly,PHQ-9,0,0,20\n"
    with pytest.raises(UnusableFileError) as caught:
        validate(read_export(data, filename="scores.csv", registry=REG), REG)
    assert "jane@" not in str(caught.value)
    assert "(a header holding personal details)" in str(caught.value)


def test_identifying_text_in_a_header_refuses_the_file_without_naming_the_header():
    table = raw(rows({"session": "0", "score": "3", "notes": "ok"}))
    table.origin["notes"] = "Notes from jane@example.org"
    (problem,) = find_identifiers(table)
    assert "A column header holds text that looks like email addresses" in problem.message
    assert problem.column is None and "jane@" not in problem.message


@pytest.mark.parametrize(
    "hidden",
    ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
     "\x00", "\x07", "\n", "\x1b"],
)  # fmt: skip
@pytest.mark.parametrize("column", ["patient_id", "protocol", "site", "clinician", "route"])
def test_hidden_character_in_a_stored_label_rejects_its_row(hidden, column):
    good = {"session": "0", "score": "3", "site": "S1", "clinician": "C1", "route": "IV"}
    bad = {
        **good,
        "session": "1",
        column: f"P{hidden}1" if column != "protocol" else f"week{hidden}ly",
    }
    result = validate(raw(rows(good, bad)), REG)
    assert result.source_row.tolist() == [2]
    (problem,) = result.errors
    assert (problem.row, problem.column) == (3, column)
    assert "hidden character" in problem.message
    assert hidden not in problem.message + problem.fix
    assert "Retype" in problem.fix


def test_visible_unicode_in_labels_is_accepted():
    labels = {"patient_id": "Pé-1", "site": "Zürich Süd", "clinician": "Ø-3", "route": "IV"}
    result = validate(raw(rows({"session": "0", "score": "3", **labels})), REG)
    assert result.errors == ()
    assert result.tidy["site"].tolist() == ["Zürich Süd"]
