"""The privacy gate (SPEC section 8): identifier columns and identifier-like values stop a file.

Every RawTable here is built by hand (or from a fixture CSV read with plain pandas), so these
tests do not depend on the export reader.
"""

import numpy as np
import pandas as pd
import pytest

from data.errors import UnusableFileError
from data.instruments import default_registry
from data.readers.export import RawTable
from data.validation.privacy import find_identifiers, header_words, identifier_kind
from data.validation.validate import validate
from tests.data.validation_helpers import NASTY, raw_from_csv


def table(columns: dict[str, list], origin: dict[str, str] | None = None) -> RawTable:
    frame = pd.DataFrame(columns).astype("string[pyarrow]")
    frame["source_row"] = np.arange(2, len(frame) + 2)
    return RawTable(frame=frame, origin=origin or {})


# -- headers ------------------------------------------------------------------------------

IDENTIFYING_HEADERS = [
    "Name", "name", "Patient Name", "first_name", "FirstName", "LastName", "Last Name",
    "Full name", "surname", "Clinician Name", "Client name", "E-mail", "Email Address",
    "email", "Phone", "Phone Number", "Mobile", "Telephone", "Home Address", "address_line_1",
    "Street", "Postcode", "Post Code", "ZIP", "Zip Code", "Date of Birth", "DateOfBirth",
    "date_of_birth", "DOB", "Birth date", "birthdate", "SSN", "Social Security Number",
    "MRN", "Medical Record Number", "Hospital number", "Insurance ID", "Insurance Number",
    "Member ID", "Policy number", "NHS Number", "NHSNumber", "nhs_no",
]  # fmt: skip

ALLOWED_HEADERS = [
    "Instrument name", "Site name", "Measure Name", "Protocol name", "Clinician",
    "Clinician ID", "Site", "Client ID", "patient_id", "Protocol", "Session", "Session #",
    "Assessment Date", "Timestamp", "Day", "Route", "Treatment resistant", "PHQ9 Total",
    "phq9_1", "Visit number", "Score", "Notes", "Location",
]  # fmt: skip


@pytest.mark.parametrize("header", IDENTIFYING_HEADERS)
def test_identifying_header_is_flagged(header):
    assert identifier_kind(header) is not None


@pytest.mark.parametrize("header", ALLOWED_HEADERS)
def test_pseudonymous_or_thing_header_passes(header):
    assert identifier_kind(header) is None


def test_header_words_are_case_and_punctuation_blind():
    expected = ["date", "of", "birth"]
    for header in ("Date of Birth", "date_of_birth", "DateOfBirth", "DATE-OF-BIRTH"):
        assert header_words(header) == expected


def test_identifier_column_problem_names_file_header_and_says_delete():
    raw = table(
        {"patient_id": ["P-1"], "Patient Name": ["A. Example"], "phone": ["x"]},
        origin={"patient_id": "Client ID"},
    )
    problems = find_identifiers(raw)
    assert [p.column for p in problems] == ["Patient Name", "phone"]
    for p in problems:
        assert p.severity == "error"
        assert p.row is None
        assert "Delete this column" in p.fix
        assert "A. Example" not in p.message


def test_mapped_column_is_checked_under_its_file_header():
    # A user who maps "Full Name" onto patient_id still uploads names.
    raw = table({"patient_id": ["Ann Example"]}, origin={"patient_id": "Full Name"})
    (problem,) = find_identifiers(raw)
    assert problem.column == "Full Name"


# -- values -------------------------------------------------------------------------------

IDENTIFYING_VALUES = {
    "email addresses": ["someone@example.org", "write to a.b+c@mail.example.co.uk please"],
    "phone numbers": [
        "+44 7700 900123", "+1 (555) 123-4567", "+15551234567", "(555) 123-4567",
        "555-123-4567", "555.123.4567", "07700 900123", "07700900123", "020 7946 0958",
        "0117 496 0123", "call 01632 960123 after 5",
    ],
    "social security numbers": ["123-45-6789", "SSN 123 45 6789"],
}  # fmt: skip

LOOKALIKE_VALUES = [
    "P-0012", "P0012", "1000234", "0000012345", "2024/0042", "12.5", "12,5", "0.25", "-3",
    "27", "365", "100000", "visit 3 of 6", "dose 0.5 mg/kg", "score 45 of 80", "PHQ-9", "C-07",
    "+5", "10-12",
]  # fmt: skip

#: Dates pass in the date column only (in an id or a free-text column they are refused; see
#: tests/data/test_privacy_values.py).
DATE_VALUES = [
    "2024-03-05", "2024-03-05 14:30:00", "2024-03-05T09:00:00Z", "05/03/2024",
    "05/03/2024 14:30", "05.03.2024", "12.03.2024 09:15",
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "value"), [(k, v) for k, vs in IDENTIFYING_VALUES.items() for v in vs]
)
def test_identifier_like_value_is_flagged_with_its_row_not_its_value(kind, value):
    raw = table({"patient_id": ["P-1", "P-1", "P-2"], "notes": ["ok", "fine", value]})
    (problem,) = find_identifiers(raw)
    assert kind in problem.message
    assert problem.column == "notes"
    assert problem.row == 4  # third data row: the header is row 1
    assert value not in problem.message and value not in problem.fix
    assert "pseudonymous ids" in problem.fix


@pytest.mark.parametrize("value", LOOKALIKE_VALUES)
def test_ids_and_scores_do_not_look_like_identifiers(value):
    raw = table({"patient_id": [value], "score": [value], "date": [value], "notes": [value]})
    assert find_identifiers(raw) == []


@pytest.mark.parametrize("value", DATE_VALUES)
def test_dates_in_the_date_column_do_not_look_like_identifiers(value):
    raw = table({"patient_id": ["P-1"], "date": [value]})
    assert find_identifiers(raw) == []


def test_one_problem_per_column_and_kind():
    raw = table(
        {
            "patient_id": ["P-1", "P-2", "P-3"],
            "a": ["x@example.org", "y@example.org", "07700 900123"],
        }
    )
    problems = find_identifiers(raw)
    assert sorted((p.column, p.row) for p in problems) == [("a", 2), ("a", 4)]


# -- whole files --------------------------------------------------------------------------


def test_identifier_header_fixture_is_refused_naming_each_column():
    raw = raw_from_csv(NASTY / "v_identifier_headers.csv")
    with pytest.raises(UnusableFileError) as caught:
        validate(raw, default_registry())
    flagged = {p.column for p in caught.value.problems}
    assert flagged == {"Patient Name", "E-mail", "Mobile", "Date of Birth", "NHS Number"}
    # nothing about the identifying values themselves is repeated back
    assert "example.org" not in str(caught.value)


def test_identifier_value_fixture_is_refused_naming_first_rows():
    raw = raw_from_csv(NASTY / "v_identifier_values.csv")
    with pytest.raises(UnusableFileError) as caught:
        validate(raw, default_registry())
    found = sorted((p.column, p.row or 0) for p in caught.value.problems)
    # Notes: phone first in row 3, SSN in row 5, phone (555) also in row 6 → one phone problem;
    # Contact: refused by its header ("contact details"), whatever it holds.
    assert found == [("Contact", 0), ("Notes", 3), ("Notes", 5)]


def test_lookalike_fixture_passes_the_gate_and_validates():
    raw = raw_from_csv(NASTY / "v_identifier_lookalikes.csv")
    assert find_identifiers(raw) == []
    result = validate(raw, default_registry())
    assert result.errors == ()
    assert len(result.tidy) == len(raw.frame)
