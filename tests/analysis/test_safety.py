"""The PHQ-9 safety item, counted by hand on a small table."""

from __future__ import annotations

import math

import pandas as pd

from analysis.safety import latest_flags, new_onset, prevalence, resolution, safety_report
from data.instruments import Registry, default_registry, load_registry
from tests.analysis.handmade import make_tidy

REG = default_registry()
NA = None

# (patient, protocol, session, day, item 9); totals are irrelevant here
ITEMS = [
    ("P1", "intensive", 0, 0.0, 2),  # positive at baseline; 0 at session 1 and at EOT
    ("P1", "intensive", 1, 1.0, 0),
    ("P1", "intensive", 3, 3.0, 0),
    ("P2", "intensive", 0, 0.0, 1),  # positive at baseline; still 1 at session 1; 0 at EOT
    ("P2", "intensive", 1, 1.0, 1),
    ("P2", "intensive", 2, 2.0, 0),
    ("P6", "intensive", 0, 0.0, NA),  # baseline item unanswered: in no denominator
    ("P6", "intensive", 1, 1.0, 1),
    ("P3", "weekly", 0, 0.0, 1),  # positive; session-1 item unanswered; still 1 at EOT
    ("P3", "weekly", 1, 7.0, NA),
    ("P3", "weekly", 3, 21.0, 1),
    ("P4", "weekly", 0, 0.0, 0),  # 0 at baseline, 2 at follow-up: new onset
    ("P4", "weekly", 1, 7.0, 0),
    ("P4", "weekly", None, 60.0, 2),
    ("P5", "weekly", 0, 0.0, 0),  # 0 throughout
    ("P5", "weekly", 1, 7.0, 0),
]


def _tidy(items=ITEMS, column="item_9"):
    rows = [(p, proto, "PHQ-9", s, d, 10.0) for p, proto, s, d, _ in items]
    values = pd.array([v for *_, v in items], dtype="Int64")
    return make_tidy(rows, **{column: values})


def test_prevalence_by_session_and_protocol():
    prev = prevalence(_tidy(), REG).set_index(["protocol", "session"])
    # intensive session 0: P1 (2), P2 (1) answered and positive; P6 unanswered
    assert tuple(prev.loc[("intensive", 0), ["n", "of"]]) == (2, 2)
    # intensive session 1: P1 0, P2 1, P6 1
    assert tuple(prev.loc[("intensive", 1), ["n", "of"]]) == (2, 3)
    assert prev.loc[("intensive", 1), "pct"] == 200 / 3
    # weekly session 1: P3 unanswered, P4 0, P5 0
    assert tuple(prev.loc[("weekly", 1), ["n", "of"]]) == (0, 2)
    assert (("weekly", 3) in prev.index) and prev.loc[("weekly", 3), "n"] == 1


def test_resolution_at_session_one_and_eot():
    res = resolution(_tidy(), REG).set_index(["protocol", "timepoint"])
    # intensive: positive at baseline P1, P2. Session 1: P1 resolved → 1 of 2. EOT: both → 2 of 2
    assert tuple(res.loc[("intensive", "session 1"), ["n", "of"]]) == (1, 2)
    assert tuple(res.loc[("intensive", "end of treatment"), ["n", "of"]]) == (2, 2)
    # weekly: P3 only. Session 1 unanswered → 0 of 0, one unknown; EOT still 1 → 0 of 1
    s1 = res.loc[("weekly", "session 1")]
    assert (s1.n, s1.of, s1.n_unknown, s1.n_baseline_positive) == (0, 0, 1, 1)
    assert math.isnan(s1.pct)
    assert tuple(res.loc[("weekly", "end of treatment"), ["n", "of"]]) == (0, 1)


def test_new_onset_after_a_zero_baseline():
    onset = new_onset(_tidy(), REG).set_index("protocol")
    # weekly: zero at baseline P4, P5; P4 reaches 2 at follow-up → 1 of 2
    assert tuple(onset.loc["weekly", ["n", "of", "n_baseline_zero"]]) == (1, 2, 2)
    # intensive: nobody answered 0 at baseline
    assert tuple(onset.loc["intensive", ["n", "of"]]) == (0, 0)


def test_latest_flags_name_patients_whose_latest_answer_is_positive():
    flags = latest_flags(_tidy(), REG).set_index("patient_id")
    # P3 (1 at session 3), P4 (2 at follow-up), P6 (1 at session 1); P2 ended at 0
    assert sorted(flags.index) == ["P3", "P4", "P6"]
    assert (flags.loc["P4", "value"], flags.loc["P4", "phase"]) == (2, "follow-up")
    assert pd.isna(flags.loc["P4", "session"]) and flags.loc["P4", "day"] == 60.0
    assert (flags.loc["P3", "session"], flags.loc["P3", "protocol"]) == (3, "weekly")
    assert set(flags["item"]) == {"item_9"}


def test_safety_item_comes_from_the_registry():
    # A practice that replaces PHQ-9 with its safety question in item 2: item_2 is read.
    practice = load_registry(
        practice_text="""
[[instrument]]
key = "PHQ-9"
min = 0
max = 27
items = 9
item_min = 0
item_max = 3
reliable_change = 6
safety_item = 2
"""
    )
    report = safety_report(_tidy(column="item_2"), practice)
    assert report.available and report.item == "item_2"
    assert sorted(report.flags["patient_id"]) == ["P3", "P4", "P6"]
    assert not safety_report(_tidy(column="item_9"), practice).available


def test_not_testable_without_item_level_answers():
    rows = [("P1", "weekly", "PHQ-9", 0, 0.0, 12.0)]
    report = safety_report(make_tidy(rows), REG)
    assert not report.available and "item" in report.reason
    assert report.prevalence.empty and report.flags.empty and report.resolution.empty
    assert list(report.flags.columns)[:2] == ["patient_id", "protocol"]
    assert latest_flags(make_tidy(rows), REG).empty
    no_phq = Registry(tuple(i for i in REG if i.key != "PHQ-9"))
    assert "no PHQ-9" in safety_report(_tidy(), no_phq).reason
