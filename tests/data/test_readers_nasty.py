"""The reading-level nasty files (tests/fixtures/nasty, made by make_reading_files.py).

Issue 2 asks that each gets a clear message naming the problem (and the row or column where
there is one) with a fix, that none crashes and that nothing valid is lost.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.errors import UnusableFileError
from data.instruments import default_registry
from data.readers.export import read_export

NASTY = Path(__file__).parents[1] / "fixtures" / "nasty"
REG = default_registry()


def unusable(name: str, **kw) -> list:
    with pytest.raises(UnusableFileError) as err:
        read_export(NASTY / name, registry=REG, **kw)
    problems = err.value.problems
    assert problems and all(p.fix and p.severity == "error" for p in problems)
    return problems


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("empty.csv", ["empty"]),
        ("binary_garbage.csv", ["not a spreadsheet"]),
        ("header_only.csv", ["header row", "no data rows"]),
        ("pipe_delimited.csv", ["'|'", "commas, semicolons or tabs"]),
        ("no_patient_column.csv", ["patient id", "'id'"]),
        ("old_excel.xls", [".xls"]),
        ("damaged.xlsx", ["damaged"]),
    ],
)
def test_unusable_file_says_what_and_how_to_fix(name, words):
    [problem] = unusable(name)
    for word in words:
        assert word in problem.message


def test_duplicated_headers_name_both_columns():
    [problem] = unusable("duplicated_headers.csv")
    assert "'Client ID'" in problem.message and "'patient_id'" in problem.message
    assert problem.column == "Client ID"


def test_same_header_twice_names_the_header_and_columns():
    [problem] = unusable("same_header_twice.csv")
    assert "'notes'" in problem.message and "columns E and F" in problem.message


def test_mixed_encoding_keeps_every_row_and_names_the_row():
    raw = read_export(NASTY / "mixed_encoding.csv", registry=REG)
    assert list(raw.frame["site"]) == ["Montréal"] * 3
    assert list(raw.frame["source_row"]) == [2, 3, 4]
    [note] = raw.notes
    assert (note.row, note.column, note.severity) == (4, "site", "warning")
    assert "UTF-8" in note.fix


def test_formulas_in_csv_stay_text_with_a_warning():
    raw = read_export(NASTY / "formulas.csv", registry=REG)
    assert list(raw.frame["score"]) == [
        "=SUM(E2:M2)",
        '=HYPERLINK("http://example.org","12")',
        "@SUM(1+1)",
    ]
    [note] = raw.notes
    assert (note.row, note.column) == (2, "score") and "2 cell(s)" in note.message


def test_formulas_in_xlsx_give_cached_values_and_text_stays_text():
    raw = read_export(NASTY / "formulas.xlsx", registry=REG)
    assert list(raw.frame["score"]) == ["5", "=D3+E3"]
    [note] = raw.notes
    assert (note.row, note.column) == (3, "score")


def test_several_sheets_reads_the_scores_and_says_so():
    raw = read_export(NASTY / "several_sheets.xlsx", registry=REG)
    assert raw.sheet == "Scores"
    assert list(raw.frame["instrument"]) == ["PHQ-9", "GAD-7", "PHQ-9"]
    assert list(raw.frame["score"]) == ["18", "12", "12"]
    assert list(raw.frame["date"]) == ["2024-03-04", "2024-03-04", "2024-03-11"]
    assert list(raw.frame["source_row"]) == [2, 2, 3]
    [note] = raw.notes
    assert "'Scores'" in note.message and "'Read me', 'Old scores'" in note.message
    assert note.fix


def test_several_sheets_other_sheet_on_request():
    raw = read_export(NASTY / "several_sheets.xlsx", registry=REG, sheet="Old scores")
    assert list(raw.frame["patient_id"]) == ["P999"]


def test_sheet_without_patient_ids_on_request_is_unusable():
    problems = unusable("several_sheets.xlsx", sheet="Read me")
    assert any("patient id" in p.message for p in problems)


def test_every_nasty_file_gives_a_table_or_a_clear_error():
    for path in sorted(NASTY.iterdir()):
        if path.suffix == ".py":
            continue
        try:
            raw = read_export(path, registry=REG)
        except UnusableFileError as err:
            assert all(p.message and p.fix for p in err.problems), path.name
        else:
            assert isinstance(raw.frame, pd.DataFrame) and len(raw.frame), path.name


@pytest.mark.parametrize("size", [0, 1, 3, 50, 700])
def test_truncated_files_never_crash(size):
    for path in sorted(NASTY.iterdir()):
        if path.suffix == ".py":
            continue
        try:
            read_export(path.read_bytes()[:size], filename=path.name, registry=REG)
        except UnusableFileError as err:
            assert all(p.fix for p in err.problems)
