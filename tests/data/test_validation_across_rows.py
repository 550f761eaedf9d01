"""Validation rules across rows (SPEC section 2; docs/validation.md): dates → days since each
patient's baseline, the follow-up phase, duplicates, and a round-trip property on valid tables.

Expected days are calendar arithmetic written in the test.
"""

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.schema import conform
from data.validation.validate import validate
from tests.data.validation_helpers import (
    NASTY,
    REG,
    accepted_rows,
    errors_at,
    raw,
    raw_from_csv,
    reason,
    rows,
)

# -- phase derivation (SPEC section 2) ------------------------------------------------------


def test_row_without_session_after_last_treatment_day_is_follow_up():
    result = validate(
        raw(rows({"session": "0", "day": "0", "score": "20"},
                 {"session": "6", "day": "42", "score": "8"},
                 {"session": None, "day": "90", "score": "9"},
                 {"session": None, "day": "30", "score": "9"})),
        REG,
    )  # fmt: skip
    assert result.tidy["phase"].tolist() == ["baseline", "treatment", "follow-up"]
    assert result.tidy["session"].isna().tolist() == [False, False, True]
    (problem,) = errors_at(result, 5)
    assert "day 30 is not after this patient's last treatment assessment of PHQ-9 (day 42)" in (
        problem.message
    )
    assert "Give the session number" in problem.fix


def test_row_without_session_and_no_dated_treatment_is_rejected():
    result = validate(raw(rows({"session": "0", "day": "0", "score": "20"},
                               {"session": None, "day": "90", "score": "9"})), REG)  # fmt: skip
    (problem,) = errors_at(result, 3)
    assert "no dated treatment assessment of PHQ-9" in problem.message


def test_follow_up_is_judged_per_instrument():
    result = validate(
        raw(rows({"session": "0", "day": "0", "score": "20"},
                 {"session": "3", "day": "60", "score": "8", "instrument": "GAD-7"},
                 {"session": "3", "day": "20", "score": "8"},
                 {"session": None, "day": "40", "score": "9"})),
        REG,
    )  # fmt: skip
    assert result.tidy["phase"].tolist()[-1] == "follow-up"  # after PHQ-9's day 20


# -- duplicates ---------------------------------------------------------------------------


def test_conflicting_duplicates_are_all_rejected_naming_each_other():
    result = validate(
        raw(rows({"session": "1", "day": "7", "score": "9"},
                 {"session": "1", "day": "7", "score": "9"},
                 {"session": "1", "day": "7", "score": "11"},
                 {"session": "1", "day": "8", "score": "12"}),
            rows_at=[3, 4, 6, 7]),
        REG,
    )  # fmt: skip
    assert accepted_rows(result) == [7]
    assert "row(s) 4, 6 " in reason(result, 3)
    assert "row(s) 3, 6 " in reason(result, 4)
    assert "row(s) 3, 4 " in reason(result, 6)


def test_exact_duplicates_keep_the_first_with_a_warning():
    same = {"session": "1", "day": "7", "score": "9", "site": "North"}
    result = validate(raw(rows(same, same, same)), REG)
    assert accepted_rows(result) == [2]
    assert result.rejects.empty
    notes = sorted((w.row, w.message) for w in result.warnings)
    assert [r for r, _ in notes] == [3, 4]
    assert all("repeats row 2 exactly" in m for _, m in notes)


def test_rows_differing_only_in_site_conflict():
    result = validate(raw(rows({"session": "1", "score": "9", "site": "North"},
                               {"session": "1", "score": "9", "site": "South"})), REG)  # fmt: skip
    assert result.tidy.empty and len(result.rejects) == 2


# -- dates → days (SPEC section 2) ----------------------------------------------------------


def test_iso_dates_become_days_since_baseline_and_are_dropped():
    result = validate(
        raw(rows({"session": "0", "date": "2024-03-05", "score": "20"},
                 {"session": "1", "date": "2024-03-12", "score": "15"},
                 {"session": "2", "date": "2024-04-04", "score": "10"})),
        REG,
    )  # fmt: skip
    assert result.tidy["day"].tolist() == [0.0, 7.0, 30.0]  # 5 Mar → 12 Mar → 4 Apr (26 + 4)
    assert "date" not in result.tidy.columns
    assert result.anchors.to_dict() == {"P-1": pd.Timestamp("2024-03-05")}


def test_times_give_fractional_days():
    result = validate(
        raw(rows({"session": "0", "date": "2024-03-05 09:00", "score": "20"},
                 {"session": "1", "date": "2024-03-05T15:00:00", "score": "15"},
                 {"session": "2", "date": "2024-03-07 21:00", "score": "10"})),
        REG,
    )  # fmt: skip
    assert result.tidy["day"].tolist() == [0.0, 0.25, 2.5]  # 6 h; 2 days 12 h


def test_baseline_is_earliest_session_0_of_any_instrument():
    result = validate(
        raw(rows({"session": "0", "date": "2024-03-06", "score": "20"},
                 {"session": "0", "date": "2024-03-04", "score": "9", "instrument": "GAD-7"},
                 {"session": "1", "date": "2024-03-11", "score": "15"})),
        REG,
    )  # fmt: skip
    assert result.tidy["day"].tolist() == [2.0, 0.0, 7.0]
    assert result.anchors["P-1"] == pd.Timestamp("2024-03-04")


def test_patient_without_session_0_is_anchored_at_first_date_with_warning():
    result = validate(
        raw(rows({"session": "2", "date": "2024-03-12", "score": "15"},
                 {"session": "1", "date": "2024-03-05", "score": "18"})),
        REG,
    )  # fmt: skip
    assert result.tidy["day"].tolist() == [7.0, 0.0]
    (note,) = result.warnings
    assert note.row == 3 and "'P-1' has no baseline" in note.message


def test_anchor_from_baseline_tells_session_0_anchors_from_first_date_anchors():
    # SPEC section 2: P-1 has a dated session 0, so its anchor is that baseline row; P-2 has
    # none, so it is anchored at its first dated assessment (5 Mar) instead.
    result = validate(
        raw(rows({"session": "0", "date": "2024-03-04", "score": "20"},
                 {"session": "1", "date": "2024-03-11", "score": "15"},
                 {"patient_id": "P-2", "session": "2", "date": "2024-03-12", "score": "15"},
                 {"patient_id": "P-2", "session": "1", "date": "2024-03-05", "score": "18"})),
        REG,
    )  # fmt: skip
    assert result.anchor_from_baseline.to_dict() == {"P-1": True, "P-2": False}
    assert result.anchor_from_baseline.index.name == "patient_id"
    assert result.anchor_from_baseline.index.equals(result.anchors.index)
    assert result.anchors.to_dict() == {
        "P-1": pd.Timestamp("2024-03-04"),
        "P-2": pd.Timestamp("2024-03-05"),
    }


def test_anchor_from_baseline_is_empty_without_dates():
    result = validate(raw(rows({"session": "0", "day": "0", "score": "20"})), REG)
    assert len(result.anchor_from_baseline) == 0 and len(result.anchors) == 0
    assert result.anchor_from_baseline.dtype == bool
    assert result.anchor_from_baseline.index.name == "patient_id"


def test_date_before_baseline_is_rejected_naming_the_baseline_row():
    result = validate(raw(rows({"session": "1", "date": "2024-03-01", "score": "15"},
                               {"session": "0", "date": "2024-03-05", "score": "20"})),
                      REG)  # fmt: skip
    (problem,) = errors_at(result, 2)
    assert "before this patient's baseline assessment (row 3)" in problem.message


def test_day_wins_over_date():
    result = validate(
        raw(rows({"session": "0", "day": "0", "date": "2024-03-05", "score": "20"},
                 {"session": "1", "day": "3", "date": "2024-03-12", "score": "15"},
                 {"session": "2", "day": None, "date": "2024-03-19", "score": "12"})),
        REG,
    )  # fmt: skip
    assert result.tidy["day"].tolist() == [0.0, 3.0, 14.0]


def test_day_first_file_from_fixture():
    result = validate(raw_from_csv(NASTY / "v_dates_day_first.csv"), REG)
    # P-01: 5 Mar, 12 Mar, 25 Mar; P-02: 09:00 → 15:00 the same day.
    assert result.tidy["day"].tolist() == [0.0, 7.0, 20.0, 0.0, 0.25]
    (note,) = result.warnings
    assert "day-first" in note.message and "row 4" in note.message


def test_month_first_file_is_detected():
    result = validate(raw(rows({"session": "0", "date": "03/05/2024", "score": "20"},
                               {"session": "1", "date": "03/25/2024", "score": "15"})),
                      REG)  # fmt: skip
    assert result.tidy["day"].tolist() == [0.0, 20.0]  # 5 March → 25 March
    assert result.anchors["P-1"] == pd.Timestamp("2024-03-05")


def test_mixed_order_file_rejects_only_ambiguous_dates():
    result = validate(raw_from_csv(NASTY / "v_dates_mixed_order.csv"), REG)
    # 25 Mar (baseline), 28 Mar → day 3, 04/05 ambiguous, 6 June → 6 + 30 + 31 + 6 = 73
    assert result.tidy["day"].tolist() == [0.0, 3.0, 73.0]
    (problem,) = result.errors
    assert (problem.row, problem.column) == (4, "date")
    assert "04 May 2024 or 05 April 2024" in problem.message


def test_ambiguous_dates_follow_session_order_when_it_decides():
    # Day-first would put session 1 (2 January) before session 0 (1 December); month-first
    # reads 12 January → 1 February: 20 days.
    result = validate(raw(rows({"session": "0", "date": "01/12/2024", "score": "20"},
                               {"session": "1", "date": "02/01/2024", "score": "15"})),
                      REG)  # fmt: skip
    assert result.tidy["day"].tolist() == [0.0, 20.0]
    (note,) = result.warnings
    assert "month-first" in note.message


def test_ambiguous_dates_default_to_day_first_with_a_warning():
    result = validate(raw(rows({"session": "0", "date": "01/02/2024", "score": "20"},
                               {"session": "1", "date": "03/02/2024", "score": "15"})),
                      REG)  # fmt: skip
    assert result.tidy["day"].tolist() == [0.0, 2.0]  # 1 Feb → 3 Feb
    (note,) = result.warnings
    assert "day-first is the default" in note.message


def test_two_digit_years_month_names_and_am_pm():
    result = validate(
        raw(rows({"session": "0", "date": "5 Mar 2024", "score": "20"},
                 {"session": "1", "date": "3/12/24 6:00 PM", "score": "15"},
                 {"session": "2", "date": "March 19, 2024", "score": "12"})),
        REG,
    )  # fmt: skip
    assert result.tidy["day"].tolist() == [0.0, 7.75, 14.0]  # 12 March 18:00 = 7 d 18 h


# -- property: valid tidy tables survive a round trip through text ----------------------------

WRITTEN_PROTOCOL = {"intensive": ["intensive", "retreat"], "weekly": ["weekly", "standard"],
                    "Group B": ["Group B"]}  # fmt: skip


@st.composite
def tidy_as_text(draw):
    """A valid tidy table and the same table written as text cells, the way an export has it."""
    use_items = draw(st.booleans())
    with_phase = draw(st.booleans())
    with_extra = draw(st.booleans())
    expected, written = [], []
    for p in range(draw(st.integers(1, 4))):
        protocol = draw(st.sampled_from(sorted(WRITTEN_PROTOCOL)))
        site, resistant = (
            draw(st.sampled_from(["North", "South"])),
            draw(st.sampled_from([True, False, None])),
        )
        instruments = draw(st.lists(st.sampled_from(list(REG)), min_size=1, max_size=3,
                                    unique_by=lambda i: i.key))  # fmt: skip
        for ins in instruments:
            n_sessions = draw(st.integers(0, 3))
            n_follow = draw(st.integers(0, 2)) if (n_sessions or with_phase) else 0
            timings, day = [(0, 0.0, "baseline")], 0.0
            for k in range(1, n_sessions + n_follow + 1):
                day += draw(st.sampled_from([0.25, 1.0, 3.5, 7.0, 30.0]))
                timings.append((k, day, "treatment") if k <= n_sessions else (None, day,
                               "follow-up"))  # fmt: skip
            for session, day, phase in timings:
                row = {"patient_id": f"P-{p:03d}", "protocol": protocol, "instrument": ins.key,
                       "session": session, "day": day, "phase": phase}  # fmt: skip
                text = {"patient_id": row["patient_id"],
                        "protocol": draw(st.sampled_from(WRITTEN_PROTOCOL[protocol])),
                        "instrument": draw(st.sampled_from([ins.key, *ins.aliases])),
                        "session": None if session is None else str(session),
                        "day": repr(day)}  # fmt: skip
                if with_phase:
                    text["phase"] = phase
                if use_items and ins.items:
                    answers = draw(st.lists(st.integers(ins.item_min, ins.item_max),
                                            min_size=ins.items, max_size=ins.items))  # fmt: skip
                    blanks = draw(st.sets(st.integers(0, ins.items - 1),
                                          max_size=ins.max_missing_items))  # fmt: skip
                    answered = [a for i, a in enumerate(answers) if i not in blanks]
                    total = sum(answered) / len(answered) * ins.items  # SPEC section 3
                    for i, a in enumerate(answers):
                        value = None if i in blanks else a
                        row[f"item_{i + 1}"] = value
                        text[f"item_{i + 1}"] = None if value is None else str(value)
                    row["score"] = total
                    text["score"] = draw(st.sampled_from([repr(total), None]))
                else:
                    quarters = draw(st.integers(int(ins.min * 4), int(ins.max * 4)))
                    row["score"] = quarters / 4
                    text["score"] = repr(quarters / 4)
                if with_extra:
                    row.update(site=site, treatment_resistant=resistant)
                    text.update(site=site, treatment_resistant={True: "yes", False: "no",
                                                                None: None}[resistant])  # fmt: skip
                expected.append(row)
                written.append(text)
    return expected, written


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tidy_as_text())
def test_valid_tidy_tables_validate_clean_and_round_trip(case):
    expected, written = case
    columns = list(dict.fromkeys(k for r in expected + written for k in r))
    text = pd.DataFrame(written).reindex(columns=[c for c in columns if c in pd.DataFrame(written)])
    result = validate(raw(text.to_dict("records")), REG)
    assert result.errors == () and result.rejects.empty
    want = pd.DataFrame(expected).reindex(columns=columns)
    if "treatment_resistant" in want:
        want["treatment_resistant"] = want["treatment_resistant"].astype("boolean")
    want = conform(want.astype({c: "Float64" for c in want if c.startswith("item_")}))
    pd.testing.assert_frame_equal(result.tidy, want.reset_index(drop=True))
    assert result.source_row.tolist() == list(range(2, len(expected) + 2))
