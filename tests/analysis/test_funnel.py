"""The inclusion funnel, counted by hand on a small table."""

from __future__ import annotations

import math

import pytest

from analysis.funnel import STEPS, inclusion_funnel
from analysis.outcomes import patient_outcomes
from data.instruments import default_registry, load_registry
from tests.analysis.handmade import make_tidy

REG = default_registry()

ROWS = [
    # PHQ-9, intensive
    ("P1", "intensive", "PHQ-9", 0, 0.0, 20.0),  # case, paired, follow-up at EOT + 30
    ("P1", "intensive", "PHQ-9", 3, 5.0, 6.0),
    ("P1", "intensive", "PHQ-9", None, 35.0, 7.0),
    ("P2", "intensive", "PHQ-9", 0, 0.0, 15.0),  # case, paired, no follow-up
    ("P2", "intensive", "PHQ-9", 3, 5.0, 9.0),
    ("P3", "intensive", "PHQ-9", 0, 0.0, 6.0),  # not a case (6 < 10), paired
    ("P3", "intensive", "PHQ-9", 3, 5.0, 4.0),
    ("P4", "intensive", "PHQ-9", 2, 3.0, 12.0),  # no baseline
    ("P5", "intensive", "PHQ-9", 0, 0.0, 18.0),  # case, no EOT
    # PHQ-9, weekly
    ("P6", "weekly", "PHQ-9", 0, 0.0, 11.0),  # case, paired
    ("P6", "weekly", "PHQ-9", 8, 56.0, 5.0),
    # GAD-7, weekly (P6 again)
    ("P6", "weekly", "GAD-7", 0, 0.0, 7.0),  # not a case (7 < 8)
]


def _rows(funnel, instrument, protocol):
    sub = funnel[(funnel["instrument"] == instrument) & (funnel["protocol"] == protocol)]
    return sub.set_index("step")


def test_nested_counts_and_percentages_by_hand():
    tidy = make_tidy(ROWS)
    funnel = inclusion_funnel(tidy, patient_outcomes(tidy, REG))
    f = _rows(funnel, "PHQ-9", "intensive")
    assert list(f.index) == [s for s, _ in STEPS]
    # assessed P1–P5; baseline P1, P2, P3, P5; clinical P1, P2, P5; paired P1, P2; follow-up P1
    assert list(f["n"]) == [5, 4, 3, 2, 1]
    assert math.isnan(f.loc["assessed", "pct_of_previous"])
    assert list(f["pct_of_previous"])[1:] == pytest.approx([80.0, 75.0, 200 / 3, 50.0])
    assert list(f["pct_of_assessed"]) == pytest.approx([100.0, 80.0, 60.0, 40.0, 20.0])
    assert list(_rows(funnel, "PHQ-9", "weekly")["n"]) == [1, 1, 1, 1, 0]
    g = _rows(funnel, "GAD-7", "weekly")
    assert list(g["n"]) == [1, 1, 0, 0, 0]
    assert math.isnan(g.loc["paired", "pct_of_previous"])  # nothing to take a share of
    assert list(funnel.columns) == [
        "instrument",
        "protocol",
        "step",
        "label",
        "n",
        "pct_of_previous",
        "pct_of_assessed",
    ]


def test_instrument_without_caseness_passes_everyone_through_clinical_step():
    reg = load_registry(
        practice_text='[[instrument]]\nkey = "X"\nmin = 0\nmax = 10\nreliable_change = 2\n'
    )
    tidy = make_tidy([("A", "weekly", "X", 0, 0.0, 5.0), ("A", "weekly", "X", 1, 7.0, 1.0)])
    funnel = inclusion_funnel(tidy, patient_outcomes(tidy, reg))
    assert list(funnel["n"]) == [1, 1, 1, 1, 0]
