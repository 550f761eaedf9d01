"""The validation report's data (data/validation/report_groups.py, issue 12): every finding kept uncapped,
grouped by rule, filtered, downloaded; headline counts in rows that add up; the no-baseline note
only for patients with accepted rows; and a column mapped to (not used) left out unread."""

import numpy as np
import pandas as pd
import pytest

from data.errors import UnusableFileError
from data.ingest import load_export
from data.plurals import count_of
from data.readers.export import NOT_USED
from data.store.messages import _n
from data.validation.findings import PROBLEMS_PER_RULE
from data.validation.report_groups import (
    NO_COLUMN,
    column_choices,
    download_table,
    filter_findings,
    group_findings,
    row_counts,
    validated_counts,
)
from data.validation.validate import validate
from tests.data.validation_helpers import REG, raw

HEAD = "patient_id,protocol,instrument,session,day,score\n"


def _csv(lines: list[str]) -> bytes:
    return (HEAD + "\n".join(lines) + "\n").encode()


def _many_bad(n_bad: int) -> bytes:
    """Patients P0..: a baseline each; ``n_bad`` of them with an out-of-range session-1 score;
    one exact repeat; one unknown instrument."""
    lines = [f"P{i},weekly,PHQ-9,0,0,{10 + i % 10}" for i in range(n_bad)]
    lines += [f"P{i},weekly,PHQ-9,1,7,{40 + i % 5}" for i in range(n_bad)]
    lines += ["P0,weekly,PHQ-9,0,0,10", "P1,weekly,BDI,1,7,9"]
    return _csv(lines)


def test_findings_keep_every_flagged_row_while_the_problem_list_is_capped():
    n_bad = PROBLEMS_PER_RULE + 50
    checked = load_export(_many_bad(n_bad), filename="many.csv")
    over = checked.findings[checked.findings["problem"].str.contains("outside")]
    assert len(over) == n_bad  # uncapped
    assert (
        sum("outside" in p.message and p.row is not None for p in checked.errors)
        == PROBLEMS_PER_RULE
    )
    assert over["row"].tolist() == list(range(n_bad + 2, 2 * n_bad + 2))
    assert set(over["column"]) == {"score"}


def test_grouping_gives_one_line_per_rule_with_count_first_rows_and_fix():
    n_bad = 30
    checked = load_export(_many_bad(n_bad), filename="many.csv")
    groups = group_findings(checked.findings)
    assert groups["count"].sum() == len(checked.findings)
    score = groups[(groups["column"] == "score") & (groups["severity"] == "error")]
    (line,) = score.itertuples()
    assert line.count == n_bad
    first = n_bad + 2
    assert line.rows == ", ".join(f"{r}" for r in range(first, first + 5)) + ", …"
    assert not line.same  # the messages name each row's score
    assert "outside" in line.problem and line.fix
    assert groups["severity"].tolist()[0] == "error"  # errors before warnings
    repeat = groups[groups["severity"] == "warning"]
    assert repeat["count"].tolist() == [1] and repeat["column"].tolist() == [NO_COLUMN]
    assert repeat["rows"].tolist() == [str(2 * n_bad + 2)]


def test_filters_pick_findings_by_severity_and_column():
    checked = load_export(_many_bad(12), filename="many.csv")
    found = checked.findings
    assert set(filter_findings(found, ["warning"])["severity"]) == {"warning"}
    only_score = filter_findings(found, None, ["score"])
    assert set(only_score["column"]) == {"score"} and len(only_score) == 12
    assert filter_findings(found, ["warning"], ["score"]).empty
    assert len(filter_findings(found, [], [])) == len(found)  # nothing chosen: everything
    assert column_choices(found)[-1] == NO_COLUMN
    no_column = filter_findings(found, None, [NO_COLUMN])
    assert no_column["column"].isna().all() and len(no_column) == 1


def test_download_table_has_the_report_columns_for_every_finding():
    checked = load_export(_many_bad(PROBLEMS_PER_RULE + 5), filename="many.csv")
    table = download_table(checked.findings)
    assert list(table.columns) == ["row", "column", "severity", "problem", "fix"]
    assert len(table) == len(checked.findings)
    assert table["column"].notna().all()


def test_headline_counts_add_up_in_rows():
    lines = [
        "P1,weekly,PHQ-9,0,0,12",
        "P1,weekly,PHQ-9,1,7,99",  # set aside
        "P1,weekly,PHQ-9,0,0,12",  # exact repeat: skipped
        "P2,weekly,PHQ-9,0,0,8",
        "P2,weekly,PHQ-9,0,0,8",  # exact repeat: skipped
        "P2,weekly,XYZ,1,7,8",  # set aside
    ]
    counts = validated_counts(load_export(_csv(lines), filename="c.csv"))
    assert (counts.read, counts.accepted, counts.set_aside, counts.repeats) == (6, 2, 2, 2)
    assert counts.read == counts.accepted + counts.partly + counts.set_aside + counts.repeats
    assert counts.equation() == "6 rows read = 2 accepted + 2 set aside + 2 exact repeats skipped"


def test_headline_counts_of_a_wide_file_count_rows_and_explain_assessments():
    wide = (
        b"Client ID,Protocol,Session,Day,PHQ9 Total,GAD7 Total\n"
        b"A1,weekly,0,0,12,9\n"
        b"A1,weekly,1,7,99,8\n"  # PHQ-9 out of range, GAD-7 fine: partly accepted
        b"A2,weekly,0,0,,\n"  # no score at all
        b"A2,weekly,1,7,5,4\n"
    )
    checked = load_export(wide, filename="wide.csv")
    counts = validated_counts(checked)
    assert counts.read == 4 and counts.partly == 1 and counts.assessments == len(checked.tidy)
    total = counts.accepted + counts.partly + counts.set_aside + counts.repeats + counts.empty
    assert total == counts.read
    assert "1 partly accepted" in counts.equation()


def test_row_counts_classify_each_row_once():
    counts = row_counts(10, np.array([2, 3, 3, 4]), np.array([4, 5]), np.array([6, 2]))
    assert (counts.accepted, counts.partly, counts.set_aside, counts.repeats) == (2, 1, 1, 1)
    assert counts.empty == 5 and counts.assessments == 4


# -- the no-baseline note considers accepted rows only ----------------------------------------


def _dated(*specs: dict):
    base = {"protocol": "weekly", "instrument": "PHQ-9"}
    return validate(raw([{**base, **s} for s in specs]), REG)


def _no_baseline_notes(result) -> list:
    return [p for p in result.warnings if "has no baseline" in p.message]


def test_patient_whose_only_row_was_set_aside_gets_no_baseline_note():
    result = _dated(
        {"patient_id": "A", "session": "0", "date": "2024-01-01", "score": "12"},
        {"patient_id": "B", "session": "1", "date": "2024-01-08", "score": "99"},
    )
    assert len(result.rejects) == 1
    assert _no_baseline_notes(result) == []


def test_no_baseline_note_for_a_patient_with_accepted_rows_names_the_set_aside_anchor():
    result = _dated(
        {"patient_id": "C", "session": "1", "date": "2024-01-01", "score": "99"},
        {"patient_id": "C", "session": "2", "date": "2024-01-08", "score": "9"},
        {"patient_id": "D", "session": "1", "date": "2024-02-01", "score": "7"},
    )
    notes = _no_baseline_notes(result)
    assert sorted(p.row for p in notes) == [3, 4]
    moved = next(p for p in notes if p.row == 3)
    assert "row 2, which was set aside" in moved.message
    kept = next(p for p in notes if p.row == 4)
    assert "count from this row" in kept.message
    assert result.tidy.loc[result.tidy["patient_id"] == "C", "day"].tolist() == [7.0]


# -- a column mapped to (not used) is left out before the identifier gate ----------------------

SSN_FILE = (
    _csv(["P1,weekly,PHQ-9,0,0,14", "P1,weekly,PHQ-9,1,7,9"])
    .replace(b"score\n", b"score,ssn\n")
    .replace(b",14\n", b",14,123-45-6789\n")
    .replace(b",9\n", b",9,987-65-4321\n")
)


def test_identifying_column_refuses_the_file_without_repeating_its_values():
    with pytest.raises(UnusableFileError) as err:
        load_export(SSN_FILE, filename="ssn.csv")
    text = str(err.value)
    assert "ssn" in text and "123-45-6789" not in text and "987-65-4321" not in text


@pytest.mark.parametrize("header", ["ssn", "email", "Patient Name"])
def test_column_mapped_to_not_used_is_dropped_and_the_file_accepted(header):
    data = SSN_FILE.replace(b",ssn\n", f",{header}\n".encode())
    checked = load_export(data, filename="ssn.csv", mapping={header: NOT_USED})
    assert len(checked.tidy) == 2 and checked.rejects.empty
    assert header not in checked.raw.frame.columns
    (note,) = [p for p in checked.problems if "not read" in p.message]
    assert f"'{header}'" in note.message and note.severity == "warning"
    everything = " ".join(str(p) for p in checked.problems) + checked.raw.frame.to_csv()
    assert "123-45-6789" not in everything


def test_mapping_to_none_still_keeps_the_column_for_the_gate():
    with pytest.raises(UnusableFileError):
        load_export(SSN_FILE, filename="ssn.csv", mapping={"ssn": None})


def test_not_used_header_that_holds_personal_details_is_not_repeated():
    data = SSN_FILE.replace(b",ssn\n", b",jane.doe@example.com\n")
    checked = load_export(data, filename="x.csv", mapping={"jane.doe@example.com": NOT_USED})
    (note,) = [p for p in checked.problems if "not read" in p.message]
    assert "jane.doe" not in note.message and "personal details" in note.message


# -- counts in words -------------------------------------------------------------------------


def test_counts_have_plurals_and_thousands_separators():
    assert count_of(1, "warning") == "1 warning"
    assert count_of(2, "warning") == "2 warnings"
    assert count_of(7527, "row") == "7,527 rows"
    assert count_of(1, "column was", "columns were") == "1 column was"
    assert _n(7527, "new assessment") == "7,527 new assessments"  # the store's commit message


def test_grouping_an_empty_table_gives_no_lines():
    assert group_findings(pd.DataFrame(columns=["rule", "row", "column"])).empty
