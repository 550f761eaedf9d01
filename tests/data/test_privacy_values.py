"""The value half of the privacy gate (data.privacy_values) as find_identifiers applies it:
which values are refused in which columns, and which look-alikes pass. Each RawTable is built
by hand, so these tests do not depend on the export reader."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from data.privacy_values import NUMBERS, PERSON, PREFILTER, TEXT, classify, comparable
from data.validation.privacy import find_identifiers
from tests.data.test_privacy import table

#: Refused in the patient_id column (and named by kind), whatever the rest of the file holds.
REFUSED_PATIENT_IDS = {
    "people's names": [
        "Jane Smith", "Smith, Jane", "SMITH, JANE", "Jane M. Smith", "J. Smith",
        "O'Brien-Jones, Mary", "José Núñez", "Mr Smith", "Dr. Jones", "patient Jane",
    ],
    "dates": [
        "1985-03-01", "14/03/1985", "03/14/1985", "14.03.1985", "14/03/85", "SMITH_J_19850314",
        "14 Mar 1985", "14-mar-1985", "March 14, 1985", "14 de marzo de 1985", "3 mars 1985",
    ],
    "NHS numbers": ["9434765919", "943 476 5919", "943-476-5919", "NHS 9434765919"],
    "long numbers such as phone or social security numbers": [
        "2025550143", "5551234567", "123456789", "078051120", "00447700900123", "SSN 078051120",
        "１２３４５６７８９",  # full-width digits
    ],
    "social security numbers": ["078-05-1120", "SSN:078-05-1120"],
    "phone numbers": ["+4915112345678", "07700 900123", "(202) 555-0143"],
    "postal addresses or postcodes": [
        "0 Baker Street London NW1 6XE", "NW1 6XE", "123 Main St, Springfield, IL 62704",
        "Hauptstraße 5", "Bahnhofstr. 12", "12 rue de la Paix", "Calle Mayor 5",
    ],
    "email addresses": ["jane@example.org", "ja\u200bne@example.org"],
}  # fmt: skip

#: Refused in any free-text column (an unmapped "notes" column here).
REFUSED_NOTES = {
    "dates of birth": ["DOB 14/03/1985", "D.O.B.: 14.03.1985", "born 1985-03-14", "Geb. 14.03.1985",
                       "née le 3 mars 1985", "fecha de nacimiento 14/03/1985", "dob: March 14"],
    "people's names": ["patient Jane Smith", "Patient: Smith", "client Jane", "seen by Dr Jones"],
    "dates": ["seen 14/03/1985", "1985-03-14"],
    "NHS numbers": ["NHS no 943 476 5919"],
    "long numbers such as phone or social security numbers": ["call 2025550143 after 5"],
    "postal addresses or postcodes": ["lives at 0 Baker Street"],
}  # fmt: skip

#: Pseudonymous ids, labels and numbers: allowed in every label and free-text column.
ALLOWED_LABELS = [
    "P-0012", "P0012", "D0001", "1000234", "12345678", "0000012345", "00012345", "PT_000123",
    "MRN-448812", "123e4567-e89b-12d3-a456-426614174000", "a3f9c0123456789b", "P0123456789",
    "ID-123456789", "intensive", "weekly", "Standard weekly", "Retreat", "Site A", "Site B",
    "North", "C01", "C-07", "T05", "IV", "sublingual", "intramuscular", "baseline", "follow-up",
    "treatment", "visit 3 of 6", "dose 0.5 mg/kg", "score 45 of 80", "PHQ-9", "+5", "10-12",
    "2024/0042", "12.5", "12,5", "0.25", "-3", "27", "365", "100000", "Week 12 Day 3",
    "Ketamine 0.5mg/kg IV", "v1.10.12", "Mayfield", "March cohort", "Pilot 2024", "Q1 2024",
    "03/2024", "3 pt Likert",
]  # fmt: skip

#: Capitalised names of places and programmes: allowed where no person is labelled (a patient
#: id or clinician of two capitalised words is taken for a person's name).
ALLOWED_PLACE_LABELS = ["Patient Health Questionnaire", "Intensive Program", "St Mary's",
                        "North Clinic", "Outpatient Weekly", "Sr Therapist"]  # fmt: skip

#: Plain numbers in number columns: allowed.
ALLOWED_NUMBERS = ["0", "27", "365", "12.5", "0.25", "-3", "12345678", "0.123456789",
                   "-0770090012", "1000000.5"]  # fmt: skip

#: Dates and times: allowed in the date column and in an unmapped column whose header names a
#: date or time; refused in label and free-text columns.
DATES = ["2024-03-05", "2024-03-05 14:30:00", "2024-03-05T09:00:00Z", "05/03/2024",
         "05/03/2024 14:30", "05.03.2024", "12.03.2024 09:15", "5 Mar 2024", "45356"]  # fmt: skip


def _cases(groups: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(kind, value) for kind, values in groups.items() for value in values]


@pytest.mark.parametrize(("kind", "value"), _cases(REFUSED_PATIENT_IDS))
def test_identifying_patient_id_is_refused_by_kind_without_repeating_it(kind, value):
    raw = table({"patient_id": ["P-1", "P-2", value], "score": ["3", "4", "5"]})
    (problem,) = find_identifiers(raw)
    assert problem.column == "patient_id"
    assert f"look like {kind} (the first is in row 4)" in problem.message
    assert value not in problem.message + problem.fix
    assert problem.row == 4


@pytest.mark.parametrize(("kind", "value"), _cases(REFUSED_NOTES))
def test_identifying_text_in_a_free_text_column_is_refused(kind, value):
    raw = table({"patient_id": ["P-1", "P-2"], "Notes": ["fine", value]})
    (problem,) = find_identifiers(raw)
    assert (problem.column, problem.row) == ("Notes", 3)
    assert f"look like {kind} " in problem.message


@pytest.mark.parametrize("value", ALLOWED_LABELS)
def test_pseudonymous_ids_and_labels_pass_in_every_label_column(value):
    columns = ["patient_id", "protocol", "site", "clinician", "route", "phase", "Notes"]
    raw = table({c: [value] for c in columns})
    assert find_identifiers(raw) == []


@pytest.mark.parametrize("value", ALLOWED_PLACE_LABELS)
def test_place_and_programme_names_pass_where_no_person_is_labelled(value):
    columns = ["protocol", "site", "route", "phase", "Notes"]
    raw = table({"patient_id": ["P-1"], **{c: [value] for c in columns}})
    assert find_identifiers(raw) == []


@pytest.mark.parametrize("value", ALLOWED_NUMBERS)
def test_ordinary_numbers_pass_in_number_columns(value):
    raw = table({"patient_id": ["P-1"], "score": [value], "day": [value], "item_1": [value]})
    assert find_identifiers(raw) == []


@pytest.mark.parametrize("value", ["123456789", "2025550143", "07700900123"])
def test_long_numbers_in_number_columns_are_refused(value):
    raw = table({"patient_id": ["P-1"], "day": [value]})
    (problem,) = find_identifiers(raw)
    assert problem.column == "day"


@pytest.mark.parametrize("value", DATES)
def test_dates_pass_in_the_date_column_and_in_a_dated_unmapped_column(value):
    raw = table({"patient_id": ["P-1"], "date": [value], "referral": [value]},
                origin={"referral": "Referral date"})  # fmt: skip
    assert find_identifiers(raw) == []


@pytest.mark.parametrize("value", DATES[:-1])  # a bare number is not a date
def test_dates_are_refused_in_label_and_free_text_columns(value):
    raw = table({"patient_id": [value], "Notes": [value], "site": [value]})
    problems = find_identifiers(raw)
    assert {p.column for p in problems} == {"patient_id", "Notes", "site"}
    assert all("look like dates" in p.message for p in problems)
    assert all("date column" in p.fix for p in problems)


def test_names_are_refused_only_where_a_person_is_labelled():
    # "Jane Smith" as a site or protocol label is a place or programme name, as a patient id
    # or clinician a person
    raw = table({"patient_id": ["Jane Smith"], "clinician": ["Anna Berg"],
                 "site": ["North Clinic"], "protocol": ["Intensive Program"]})  # fmt: skip
    assert sorted(p.column for p in find_identifiers(raw)) == ["clinician", "patient_id"]


def test_nhs_number_is_recognised_by_its_check_digit():
    # 9434765919 has a valid mod-11 check digit; 9434765918 does not, and is a long number
    found = classify(pa.array(["9434765919", "9434765918"]), NUMBERS)
    assert [NUMBERS[i].kind for i in found] == [
        "NHS numbers",
        "long numbers such as phone or social security numbers",
    ]


def test_every_refused_example_passes_the_prefilter():
    # PREFILTER may only skip values no rule can match: every example the rules must catch
    # passes it (after the same normalisation the scan applies)
    examples = [v for groups in (REFUSED_PATIENT_IDS, REFUSED_NOTES) for vs in groups.values()
                for v in vs]  # fmt: skip
    text = comparable(pa.array(examples))
    through = pc.match_substring_regex(text, PREFILTER).to_pylist()
    assert [v for v, ok in zip(examples, through, strict=True) if not ok] == []


def test_each_value_is_reported_under_its_first_matching_kind_only():
    raw = table({"patient_id": ["P-1"], "Notes": ["DOB 14/03/1985"]})
    (problem,) = find_identifiers(raw)
    assert "dates of birth" in problem.message


def test_one_problem_per_kind_naming_its_first_row():
    raw = table({"patient_id": ["P-1", "P-2", "P-3", "P-4"],
                 "Notes": ["ok", "9434765919", "a@example.org", "4505 3 3"]})  # fmt: skip
    found = sorted((p.row, p.message.split(" (")[0]) for p in find_identifiers(raw))
    assert found == [
        (3, "This column holds values that look like NHS numbers"),
        (4, "This column holds values that look like email addresses"),
    ]


def test_many_distinct_pseudonymous_ids_all_pass():
    ids = np.char.add("P-", np.arange(200_000).astype(str))
    found = classify(pa.array(ids), PERSON)
    assert (found == -1).all()
    found = classify(pa.array(np.char.add("Site ", ids[:1000])), TEXT)
    assert (found == -1).all()
