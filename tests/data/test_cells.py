"""Reading cells for validation (data/validation/cells.py; docs/validation.md, "Numbers" and "Speed").

A number column of plain decimal numbers is read in one pass (``Numbers``); every other column
is read once per distinct value (``Coded``). The two readings must give the same numbers, the
same blanks, the same text for messages and the same privacy verdicts; the expected numbers
below are hand arithmetic.
"""

import numpy as np
import pandas as pd
import pytest

from data.errors import UnusableFileError
from data.validation.cells import Coded, Numbers, read_cells
from data.validation.privacy import find_identifiers
from data.validation.validate import validate
from tests.data.validation_helpers import REG, raw, rows

TEXT = "string[pyarrow]"

# cell as written → the number it means (hand arithmetic)
PLAIN = {
    "0": 0.0, "12": 12.0, "007": 7.0, "3.": 3.0, ".5": 0.5, "-.5": -0.5, "-0": -0.0,
    "12.25": 12.25, "-3": -3.0, "27.0": 27.0,
}  # fmt: skip
# cells that are not plain numbers: the column is read per distinct value instead
NOT_PLAIN = [
    "NA", "n/a", "-", "--", ".", "", " 3", "3 ", "3,5", "1e1", "+3", "1.2.3", "3-",
    "baseline", "9" * 400, "0x1A", "#N/A", "07700 900123", "1/2",
]  # fmt: skip


def column(values: list) -> pd.Series:
    return pd.Series(values, dtype=TEXT)


def test_plain_numbers_are_read_in_one_pass_as_the_coded_reading_reads_them():
    cells = column([*PLAIN, None])
    plain = Numbers.of(cells)
    assert plain is not None
    want = [*PLAIN.values(), np.nan]
    np.testing.assert_array_equal(plain.numbers(), want)
    np.testing.assert_array_equal(Coded.of(cells).numbers(), want)
    assert np.signbit(plain.numbers()[list(PLAIN).index("-0")])  # -0 stays -0, as before
    assert plain.present.tolist() == [True] * len(PLAIN) + [False]
    assert plain.text(np.array([2, len(PLAIN)])).tolist() == ["007", pd.NA]


def test_digits_only_columns_read_as_the_coded_reading_reads_them():
    # Cells of digits alone take a quicker whole-number path; the floats must not change.
    # 2**53 + 1 = 9007199254740993 lies halfway between two floats: ties go to the even one,
    # 2**53; 10**20 − 1 is too long for a whole number and is read as a float, 1e20.
    cells = column(["007", "12", "9007199254740993", None])
    want = [7.0, 12.0, 2.0**53, np.nan]
    np.testing.assert_array_equal(Numbers.of(cells).numbers(), want)
    np.testing.assert_array_equal(Coded.of(cells).numbers(), want)
    big = column(["1", "9" * 20])
    np.testing.assert_array_equal(Numbers.of(big).numbers(), [1.0, 1e20])
    np.testing.assert_array_equal(Coded.of(big).numbers(), [1.0, 1e20])
    assert Numbers.of(column(["3", "10", None])).integral


@pytest.mark.parametrize("cell", NOT_PLAIN)
def test_a_column_with_any_other_cell_is_read_per_distinct_value(cell):
    cells = column(["1", "2", cell])
    assert Numbers.of(cells) is None
    assert isinstance(read_cells(cells, numeric=True), Coded)


def test_whole_numbers_are_told_apart_in_both_readings():
    cells = column(["3", "3.0", "3.5", "-0", None])
    want = [True, True, False, True, False]
    assert Numbers.of(cells).whole().tolist() == want
    assert Coded.of(cells).whole().tolist() == want
    integral = Numbers.of(column(["3", "10", None]))
    assert integral.integral and integral.whole().tolist() == [True, True, False]


def test_text_columns_are_always_coded_and_passed_on_as_read_when_clean():
    clean = Coded.of(column(["weekly", "intensive", None, "weekly"]))
    assert clean.codes.tolist() == [0, 1, -1, 0]
    assert clean.as_read is not None
    assert clean.take(np.array([3, 2]), every_row=False).tolist() == ["weekly", pd.NA]
    trimmed = Coded.of(column([" weekly", "NA", "weekly"]))
    assert trimmed.as_read is None  # cleaned cells are built again from the distinct values
    assert trimmed.take(np.arange(3), every_row=True).tolist() == ["weekly", pd.NA, "weekly"]


# SPEC section 8: a national phone number (0, then 1–9, then 8–9 more digits) in a number column
@pytest.mark.parametrize("value", ["07700900123", "0770.0900123", "02079460958"])
def test_phone_number_in_a_plain_number_column_stops_the_file(value):
    table = raw(rows({"session": "0", "score": "3"}, {"session": "1", "score": value}))
    with pytest.raises(UnusableFileError) as caught:
        validate(table, REG)
    (problem,) = caught.value.problems
    assert "phone numbers" in problem.message
    assert (problem.column, problem.row) == ("score", 3)


@pytest.mark.parametrize("value", ["0", "00", "07", "0123456", "0.25", "01.5", "-0770090012"])
def test_short_or_signed_numbers_starting_with_0_pass_the_gate(value):
    table = raw(rows({"session": "0", "score": "3", "day": value}))
    assert find_identifiers(table) == []
    validate(table, REG)  # no UnusableFileError


def test_tidy_table_is_writable_and_does_not_share_memory_with_the_raw_table():
    table = raw(rows({"session": "0", "score": "10", "day": "0"}, {"session": "1", "score": "8"}))
    result = validate(table, REG)
    result.tidy.loc[0, "score"] = 1.0
    result.tidy.loc[0, "session"] = 5
    result.tidy.loc[0, "patient_id"] = "P-9"
    assert result.raw.frame["score"].tolist() == ["10", "8"]
    assert result.raw.frame["patient_id"].tolist() == ["P-1", "P-1"]
    assert result.tidy["score"].tolist() == [1.0, 8.0]
