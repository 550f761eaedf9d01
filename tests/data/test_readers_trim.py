"""Trimming CSV cells (docs/architecture.md: every value as text, trimmed of surrounding spaces).

The reader trims only the columns that can hold a cell starting or ending in white space (a
cheap test on the bytes); every other column is passed on as pyarrow read it. The expected
cells are written out by hand.
"""

import pandas as pd

from data.instruments import default_registry
from data.readers.export import read_export

REG = default_registry()


def read(text: str):
    return read_export(text.encode("utf-8"), filename="export.csv", registry=REG)


def cells(raw, column: str) -> list:
    return [None if v is pd.NA else v for v in raw.frame[column].tolist()]


def test_only_surrounding_white_space_is_trimmed_in_any_column():
    raw = read(
        "patient_id,site,clinician,route,score\n"
        "P1,Site A,\u2003T01,IV\t,3\n"
        "P2,Site  B,T02\u00a0, ,4\n"
    )
    assert cells(raw, "site") == ["Site A", "Site  B"]  # inner spaces stay
    assert cells(raw, "clinician") == ["T01", "T02"]  # em space and no-break space go
    assert cells(raw, "route") == ["IV", None]  # a cell of spaces only is blank
    assert cells(raw, "score") == ["3", "4"]


def test_a_file_without_surrounding_white_space_reads_unchanged():
    raw = read("patient_id,site,score\nP1,Site A,3\nP2,Site B,\n")
    assert cells(raw, "site") == ["Site A", "Site B"]
    assert cells(raw, "score") == ["3", None]
    assert str(raw.frame["site"].dtype) == "string"
    assert raw.frame["source_row"].tolist() == [2, 3]
    raw.frame.loc[0, "source_row"] = 7  # the reader's columns are the caller's to change
    assert raw.frame["source_row"].tolist() == [7, 3]
