"""Validation of RawTables: file-level and cell rules, wide files, rejects and accounting
(SPEC sections 2, 3 and 8; docs/validation.md).

Expected values are hand arithmetic written in the test, or come from the instrument registry
(never a hard-coded range). Rules across rows (dates, follow-up, duplicates) are tested in
test_validation_across_rows.py.
"""

import numpy as np
import pandas as pd
import pytest

from data.errors import UnusableFileError
from data.readers.export import RawTable
from data.validation.findings import PROBLEMS_PER_RULE
from data.validation.validate import validate
from tests.data.validation_helpers import (
    GAD,
    NASTY,
    PCL,
    PHQ,
    REG,
    accepted_rows,
    errors_at,
    raw,
    raw_from_csv,
    reason,
    rows,
)

# -- file level ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "words"),
    [
        ("patient_id", "no patient id column"),
        ("instrument", "no instrument column"),
        ("score", "no score column and no item columns"),
        ("session", "no session, day or date column"),
        ("protocol", "no protocol column"),
    ],
)
def test_missing_required_column_makes_file_unusable(drop, words):
    full = rows({"session": "0", "score": "10"})
    with pytest.raises(UnusableFileError) as caught:
        validate(raw([{k: v for k, v in r.items() if k != drop} for r in full]), REG)
    (problem,) = caught.value.problems
    assert words in problem.message


def test_missing_protocol_fix_offers_a_protocol_for_the_whole_file():
    with pytest.raises(UnusableFileError) as caught:
        validate(raw([{"patient_id": "P", "instrument": "GAD-7", "day": "0", "score": "3"}]), REG)
    assert "choose one protocol for the whole file" in caught.value.problems[0].fix


def test_default_protocol_stands_in_for_a_missing_column():
    result = validate(
        raw([{"patient_id": "P", "instrument": "GAD-7", "session": "0", "score": "3"}]),
        REG,
        default_protocol="retreat",
    )
    assert result.tidy["protocol"].tolist() == ["intensive"]
    assert result.problems == ()


def test_default_protocol_fills_blank_cells_with_a_warning():
    result = validate(
        raw(rows({"session": "0", "score": "9", "protocol": None}, {"session": "1", "score": "5"})),
        REG,
        default_protocol="Group B",
    )
    assert result.tidy["protocol"].tolist() == ["Group B", "weekly"]
    (note,) = result.warnings
    assert "rows 2" in note.message and "Group B" in note.message


def test_item_columns_alone_are_enough():
    items = {f"item_{k}": "1" for k in range(1, PHQ.items + 1)}
    result = validate(raw(rows({"session": "0", **items})), REG)
    assert result.tidy["score"].tolist() == [float(PHQ.items)]  # nine items answered 1


# -- row rules, one by one ----------------------------------------------------------------


def test_unknown_instrument_lists_the_known_ones():
    result = validate(raw(rows({"session": "0", "score": "3", "instrument": "BDI-II"})), REG)
    (problem,) = errors_at(result, 2)
    assert problem.column == "instrument" and "'BDI-II'" in problem.message
    assert "PHQ-9, GAD-7, PCL-5" in problem.fix


def test_instrument_aliases_become_registry_keys():
    result = validate(
        raw(rows({"session": "0", "score": "3", "instrument": "phq9"}, {"session": "0",
            "score": "3", "instrument": "GAD_7"})),
        REG,
    )  # fmt: skip
    assert result.tidy["instrument"].tolist() == ["PHQ-9", "GAD-7"]


def test_blank_patient_is_rejected_under_the_files_header():
    result = validate(
        raw(rows({"session": "0", "score": "3", "patient_id": None}), rows_at=[7],
            origin={"patient_id": "Client ID"}),
        REG,
    )  # fmt: skip
    (problem,) = errors_at(result, 7)
    assert problem.column == "Client ID" and "empty" in problem.message
    assert reason(result, 7).startswith("Client ID: ")
    assert "Client ID" in result.rejects.columns


@pytest.mark.parametrize("label", [None, "123", "#REF!", "#N/A"])
def test_blank_or_unparseable_protocol_is_rejected(label):
    result = validate(raw(rows({"session": "0", "score": "3", "protocol": label})), REG)
    assert errors_at(result, 2)[0].column == "protocol"
    assert result.tidy.empty


def test_protocol_aliases_and_practice_labels():
    labels = ["retreat", "Intensive Retreat", "standard", "Outpatient weekly", "Group  B"]
    specs = [{"patient_id": f"P{i}", "session": "0", "score": "3", "protocol": p}
             for i, p in enumerate(labels)]  # fmt: skip
    result = validate(raw(rows(*specs)), REG)
    assert result.tidy["protocol"].tolist() == [
        "intensive", "intensive", "weekly", "weekly", "Group B"
    ]  # fmt: skip


@pytest.mark.parametrize("session", ["3.5", "-1", "abc", "1e99"])
def test_session_not_a_whole_number_from_zero_is_rejected(session):
    result = validate(raw(rows({"session": session, "score": "3"}), rows_at=[11]), REG)
    (problem,) = errors_at(result, 11)
    assert problem.column == "session" and f"'{session}'" in problem.message


@pytest.mark.parametrize(("text", "expected"), [("3.0", 3), ("3", 3), ("BL", 0),
                                                ("Baseline", 0), ("0", 0)])  # fmt: skip
def test_session_whole_numbers_and_baseline_words(text, expected):
    result = validate(raw(rows({"session": text, "score": "3"})), REG)
    assert result.tidy["session"].tolist() == [expected]
    assert result.tidy["phase"].tolist() == ["baseline" if expected == 0 else "treatment"]


@pytest.mark.parametrize(("day", "words"), [("abc", "not a number"), ("-2", "negative")])
def test_bad_day_is_rejected(day, words):
    result = validate(raw(rows({"session": "1", "day": day, "score": "3"}), rows_at=[4]), REG)
    (problem,) = errors_at(result, 4)
    assert problem.column == "day" and words in problem.message


def test_day_with_decimal_comma():
    result = validate(raw(rows({"session": "1", "day": "1,5", "score": "3"})), REG)
    assert result.tidy["day"].tolist() == [1.5]


@pytest.mark.parametrize(
    "text",
    ["31/02/2024", "2024-02-30", "2024-04-31 10:00", "2024-03-05 25:00", "13/13/2024",
     "0224-03-05", "soon", "45356"],
)  # fmt: skip
def test_unreadable_date_is_rejected(text):
    result = validate(
        raw(rows({"session": "0", "date": "2024-03-01", "score": "3"},
                 {"session": "1", "date": text, "score": "3"})),
        REG,
    )  # fmt: skip
    (problem,) = result.errors
    assert (problem.row, problem.column) == (3, "date")
    assert f"'{text}' is not a date" in problem.message
    assert accepted_rows(result) == [2]


def test_score_not_a_number_is_rejected_but_decimal_comma_reads():
    result = validate(raw(rows({"session": "0", "score": "12,5"}, {"session": "1",
                                "score": "twelve"})), REG)  # fmt: skip
    assert result.tidy["score"].tolist() == [12.5]
    (problem,) = errors_at(result, 3)
    assert problem.column == "score" and "not a number" in problem.message


@pytest.mark.parametrize(("ins", "value"), [(PHQ, PHQ.max + 1), (GAD, GAD.max + 1),
                                            (PHQ, PHQ.min - 1), (PCL, PCL.max + 0.5)])  # fmt: skip
def test_score_outside_the_instruments_range_is_rejected(ins, value):
    text = f"{value:g}"
    result = validate(raw(rows({"session": "0", "score": text, "instrument": ins.key})), REG)
    (problem,) = errors_at(result, 2)
    assert f"'{text}' is outside {ins.key}'s range {ins.min:g}–{ins.max:g}" in problem.message


def test_gad7_range_is_not_applied_to_pcl5():
    value = f"{GAD.max + 1:g}"  # too high for GAD-7, fine for PCL-5
    result = validate(raw(rows({"session": "0", "score": value, "instrument": "PCL-5"})), REG)
    assert result.errors == ()


def test_item_not_a_whole_number_or_outside_item_range_is_rejected():
    high = str(PHQ.item_max + 1)
    result = validate(
        raw(rows({"session": "0", "item_1": "1.5", "score": "3"},
                 {"session": "1", "item_1": high, "score": "3"},
                 {"session": "2", "item_1": "2.0", "score": "2"})),
        REG,
    )  # fmt: skip
    assert "not a whole-number item answer" in errors_at(result, 2)[0].message
    (out,) = errors_at(result, 3)
    assert out.column == "item_1"
    assert f"outside PHQ-9's item range {PHQ.item_min}–{PHQ.item_max}" in out.message
    assert result.tidy["item_1"].tolist() == [2]


def test_item_beyond_the_instruments_item_count_is_rejected():
    extra = f"item_{GAD.items + 1}"
    result = validate(raw(rows({"session": "0", "instrument": "GAD-7", "score": "3",
                                extra: "1"})), REG)  # fmt: skip
    (problem,) = errors_at(result, 2)
    assert problem.column == extra and f"GAD-7 has {GAD.items} items" in problem.message


def _phq_items(values: list[str | None]) -> dict:
    return {f"item_{k}": v for k, v in enumerate(values, start=1)}


def test_total_that_disagrees_with_complete_items_is_rejected():
    ones = _phq_items(["1"] * 9)  # sum 9
    result = validate(raw(rows({"session": "0", "score": "10", **ones},
                               {"session": "1", "score": "9", **ones})), REG)  # fmt: skip
    (problem,) = errors_at(result, 2)
    assert "total 10 disagrees with the item answers, which give 9" in problem.message
    assert accepted_rows(result) == [3]


def test_prorated_total_keeps_item_9_empty():
    # Items 1–8 all 2, item 9 blank: mean 2 × 9 items = 18 (SPEC section 3); item 9 not imputed.
    result = validate(raw(rows({"session": "0", **_phq_items(["2"] * 8 + [None])})), REG)
    assert result.tidy["score"].tolist() == [18.0]
    assert result.tidy["item_9"].isna().all()


def test_given_total_may_be_the_prorated_total_rounded():
    # Items 1, 2, 1, 2, 1, 2, 1 and two blanks: mean 10/7 × 9 = 12.857…; 13 is within 0.5.
    answers = _phq_items(["1", "2", "1", "2", "1", "2", "1", None, None])
    result = validate(
        raw(rows({"session": "0", "score": "13", **answers},
                 {"session": "1", "score": "12", **answers})),
        REG,
    )  # fmt: skip
    assert accepted_rows(result) == [2]
    assert "prorated" in errors_at(result, 3)[0].message


def test_too_many_missing_items_and_no_total_is_rejected():
    answers = _phq_items(["1"] * 6 + [None] * 3)  # 3 missing, PHQ-9 prorates up to 2
    result = validate(raw(rows({"session": "0", **answers})), REG)
    (problem,) = errors_at(result, 2)
    assert f"only 6 of 9 items are answered; PHQ-9 allows at most {PHQ.max_missing_items}" in (
        problem.message
    )


def test_too_many_missing_items_with_a_total_keeps_the_total():
    answers = _phq_items(["1"] * 6 + [None] * 3)
    result = validate(raw(rows({"session": "0", "score": "8", **answers})), REG)
    assert result.tidy["score"].tolist() == [8.0]


def test_no_score_at_all_is_rejected():
    result = validate(raw(rows({"session": "0", "score": None, "item_1": None})), REG)
    (problem,) = errors_at(result, 2)
    assert problem.column == "score" and "empty" in problem.message


def test_row_without_session_day_or_date_is_rejected():
    result = validate(raw(rows({"session": None, "day": None, "score": "3"}), rows_at=[9]), REG)
    (problem,) = errors_at(result, 9)
    assert "no session, day or date" in problem.message


def test_unknown_phase_is_rejected():
    result = validate(raw(rows({"session": "1", "phase": "halfway", "score": "3"})), REG)
    (problem,) = errors_at(result, 2)
    assert problem.column == "phase" and "'halfway' is not a phase" in problem.message


@pytest.mark.parametrize(("session", "phase"), [("0", "follow-up"), ("0", "treatment"),
                                                ("2", "baseline"), ("2", "follow-up"),
                                                ("FU", "treatment")])  # fmt: skip
def test_phase_inconsistent_with_session_is_rejected(session, phase):
    result = validate(
        raw(rows({"session": session, "day": "40", "phase": phase, "score": "3"})), REG
    )
    (problem,) = errors_at(result, 2)
    assert problem.column == "phase" and "does not fit session" in problem.message


def test_treatment_phase_without_session_is_rejected():
    result = validate(raw(rows({"session": None, "day": "5", "phase": "treatment",
                                "score": "3"})), REG)  # fmt: skip
    (problem,) = errors_at(result, 2)
    assert problem.column == "session"


def test_baseline_phase_without_session_is_session_0():
    result = validate(raw(rows({"session": None, "day": "0", "phase": "Baseline",
                                "score": "3"})), REG)  # fmt: skip
    assert result.tidy["session"].tolist() == [0]


@pytest.mark.parametrize(("text", "expected"), [("yes", True), ("N", False), ("TRUE", True),
                                                (None, None)])  # fmt: skip
def test_treatment_resistant_yes_no_words(text, expected):
    result = validate(raw(rows({"session": "0", "score": "3", "treatment_resistant": text})), REG)
    value = result.tidy["treatment_resistant"].iloc[0]
    assert (value is pd.NA) if expected is None else (value == expected)


def test_treatment_resistant_other_word_is_rejected():
    result = validate(raw(rows({"session": "0", "score": "3",
                                "treatment_resistant": "maybe"})), REG)  # fmt: skip
    (problem,) = errors_at(result, 2)
    assert problem.column == "treatment_resistant" and "yes/no" in problem.message


# -- wide files ---------------------------------------------------------------------------


def test_wide_source_row_is_rejected_per_long_row_under_its_own_header():
    wide = raw(
        [{"patient_id": "P-1", "protocol": "weekly", "session": "0", "instrument": "PHQ-9",
          "score": "18"},
         {"patient_id": "P-1", "protocol": "weekly", "session": "0", "instrument": "GAD-7",
          "score": str(GAD.max + 5)}],
        rows_at=[2, 2],
        shape="wide",
        origin={"patient_id": "Client", "PHQ-9/score": "PHQ9 Total", "GAD-7/score": "GAD7"},
    )  # fmt: skip
    result = validate(wide, REG)
    assert result.tidy["instrument"].tolist() == ["PHQ-9"]
    assert result.source_row.tolist() == [2]
    (problem,) = result.errors
    assert (problem.row, problem.column) == (2, "GAD7")
    assert result.rejects[["row", "instrument"]].values.tolist() == [[2, "GAD-7"]]
    assert reason(result, 2).startswith("GAD7: ")


# -- rejects, accounting, caps ------------------------------------------------------------


def test_rejects_keep_the_text_as_read_and_all_reasons():
    bad = {"session": "3.5", "score": "twelve", "protocol": "  #REF! ", "Notes": "kept"}
    result = validate(raw(rows(bad), origin={"session": "Session #"}), REG)
    rejected = result.rejects.iloc[0]
    assert rejected["Session #"] == "3.5" and rejected["protocol"] == "  #REF! "
    assert rejected["Notes"] == "kept" and rejected["row"] == 2
    assert rejected["reason"].count("; ") == 2


def test_messy_fixture_accounts_for_every_source_row():
    raw_table = raw_from_csv(NASTY / "v_messy_rows.csv")
    result = validate(raw_table, REG)
    accepted = set(result.source_row)
    rejected = set(result.rejects["row"])
    skipped = {w.row for w in result.warnings if "repeats row" in w.message}
    assert accepted == {2, 3, 6, 12, 22}
    assert skipped == {23}
    assert accepted | rejected | skipped == set(range(2, 26))
    assert not (accepted & rejected) and not (accepted & skipped) and not (rejected & skipped)
    assert len(result.rejects) == 24 - 5 - 1
    # every rejected row has at least one error naming it
    assert {p.row for p in result.errors} == rejected
    assert result.tidy.loc[result.tidy["session"].isna(), "phase"].tolist() == ["follow-up"]


def test_problem_list_is_capped_per_rule_but_rejects_keep_every_row():
    n = PROBLEMS_PER_RULE + 50
    specs = [{"patient_id": f"P{i}", "session": "0", "score": "x"} for i in range(n)]
    result = validate(raw(rows(*specs)), REG)
    assert len(result.rejects) == n
    assert len(result.errors) == PROBLEMS_PER_RULE + 1
    summary = result.errors[-1]
    assert summary.row is None and "50 more row(s)" in summary.message


@pytest.mark.slow
def test_a_million_rows_validate_whole():
    """Scale check (speed is measured in benchmarks/ingest.py, not asserted here)."""
    n_patients, per = 100_000, 10
    pid = np.repeat(np.arange(n_patients), per)
    session = np.tile(np.arange(per), n_patients)
    frame = pd.DataFrame(
        {
            "patient_id": [f"P-{i:06d}" for i in pid],
            "protocol": np.where(pid % 3 == 0, "retreat", "weekly"),
            "instrument": np.where(pid % 2 == 0, "PHQ-9", "GAD-7"),
            "session": session.astype(str),
            "day": (session * 7).astype(str),
            "score": (np.arange(len(pid)) % (GAD.max + 1)).astype(str),
        }
    ).astype("string[pyarrow]")
    frame["source_row"] = np.arange(2, len(frame) + 2)
    result = validate(RawTable(frame=frame), REG)
    assert len(result.tidy) == len(frame)
    assert result.tidy["protocol"].value_counts()["intensive"] == (pid % 3 == 0).sum()
    assert not result.problems
