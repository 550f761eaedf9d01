"""Trajectories by session and by day, and matched-day changes.

Confidence intervals are checked against R's ``t.test`` (script and output in
tests/fixtures/reference/trajectories_reference.R); everything else is hand arithmetic.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.trajectories import by_day, by_session, day_bins, matched_days
from data.errors import AnalysisError
from data.instruments import default_registry, load_registry
from tests.analysis.handmade import make_tidy

REG = default_registry()
# R: t.test(c(10, 14, 18))$conf.int and t.test(c(3, 5, 10, 11))$conf.int
R_CI_BASELINE = (4.06344915299868, 23.93655084700132)
R_CI_SESSION1 = (1.10436190762693, 13.39563809237307)

ROWS = [
    ("A", "intensive", "PHQ-9", 0, 0.0, 10.0),
    ("A", "intensive", "PHQ-9", 1, 1.0, 3.0),
    ("A", "intensive", "PHQ-9", 1, 2.0, 30.0),  # second session-1 row: not in by_session
    ("A", "intensive", "PHQ-9", 2, 10.0, 8.0),
    ("A", "intensive", "PHQ-9", None, 40.0, 2.0),  # follow-up: by_day only
    ("B", "intensive", "PHQ-9", 0, 0.0, 14.0),
    ("B", "intensive", "PHQ-9", 1, 3.0, 5.0),
    ("C", "intensive", "PHQ-9", 0, 0.0, 18.0),
    ("C", "intensive", "PHQ-9", 1, 0.25, 10.0),  # six hours after baseline
    ("D", "intensive", "PHQ-9", 1, 4.0, 11.0),  # no baseline
    ("E", "weekly", "PHQ-9", 0, 0.0, 12.0),
]


def test_by_session_ci_matches_r_t_test():
    out = by_session(make_tidy(ROWS)).set_index(["protocol", "session"])
    base, s1 = out.loc[("intensive", 0)], out.loc[("intensive", 1)]
    assert (base.n, base["mean"], base.sd) == (3, 14.0, 4.0)
    assert base.se == pytest.approx(4 / math.sqrt(3))
    assert (base.ci_lo, base.ci_hi) == pytest.approx(R_CI_BASELINE, abs=1e-9)
    # session 1: A's earliest session-1 assessment (3), then 5, 10, 11
    assert (s1.n, s1["mean"]) == (4, 7.25)
    assert (s1.ci_lo, s1.ci_hi) == pytest.approx(R_CI_SESSION1, abs=1e-9)
    s2 = out.loc[("intensive", 2)]
    assert s2.n == 1 and math.isnan(s2.sd) and math.isnan(s2.ci_lo)
    assert out.loc[("weekly", 0)].n == 1
    assert set(out.index.get_level_values("session")) == {0, 1, 2}  # no follow-up


def test_by_day_bins_patient_means_and_follow_up():
    out = by_day(make_tidy(ROWS))
    mine = out[out["protocol"] == "intensive"].set_index("bin")
    assert list(mine.index) == ["0", "1–3", "4–7", "8–14", "29–60"]
    assert list(mine["midpoint"]) == [0.0, 2.0, 5.5, 11.0, 44.5]
    assert (mine.loc["0", "ci_lo"], mine.loc["0", "ci_hi"]) == pytest.approx(R_CI_BASELINE)
    # 1–3: A's mean of 3 and 30 (16.5), B 5, C 10 (day 0.25): mean 10.5,
    # sd = √(((6)² + (−5.5)² + (−0.5)²) / 2) = √33.25
    one_three = mine.loc["1–3"]
    assert (one_three.n, one_three["mean"]) == (3, 10.5)
    assert one_three.sd == pytest.approx(math.sqrt(33.25))
    assert mine.loc["29–60", "mean"] == 2.0  # the follow-up assessment on day 40
    assert (mine.loc["8–14", "day_lo"], mine.loc["8–14", "day_hi"]) == (7.0, 14.0)


def test_by_day_custom_bins_drop_days_beyond_the_last_edge():
    out = by_day(make_tidy(ROWS), bins=(0, 7, 28))
    mine = out[out["protocol"] == "intensive"].set_index("bin")
    assert list(mine.index) == ["0", "1–7", "8–28"]
    # 1–7: A 16.5, B 5, C 10, D 11 → mean 42.5 / 4
    assert mine.loc["1–7", "mean"] == pytest.approx(42.5 / 4)


def test_default_day_bins_are_weekly_then_monthly():
    bins = day_bins(100)
    assert list(bins["label"]) == [
        "0", "1–3", "4–7", "8–14", "15–21", "22–28", "29–60", "61–90", "91–120",
    ]  # fmt: skip
    assert list(bins["midpoint"])[:3] == [0.0, 2.0, 5.5]
    with pytest.raises(AnalysisError):
        day_bins(edges=(0, 7, 7))


def test_matched_days_nearest_within_tolerance():
    rows = [
        ("M", "intensive", "PHQ-9", 0, 0.0, 20.0),
        ("M", "intensive", "PHQ-9", 1, 12.0, 15.0),  # 2 days from 14
        ("M", "intensive", "PHQ-9", 2, 15.0, 12.0),  # 1 day from 14: counts (change 8)
        ("M", "intensive", "PHQ-9", 3, 26.0, 10.0),  # 2 days from 28, earlier: counts
        ("M", "intensive", "PHQ-9", 4, 30.0, 6.0),  # 2 days from 28, later
        ("N", "weekly", "PHQ-9", 0, 0.0, 10.0),
        ("N", "weekly", "PHQ-9", 1, 18.0, 9.0),  # 4 days from 14: outside ± 3
        ("N", "weekly", "PHQ-9", 2, 31.0, 4.0),  # exactly 3 from 28: inside
        ("O", "weekly", "PHQ-9", 2, 14.0, 4.0),  # no baseline
    ]
    out = matched_days(make_tidy(rows), REG).set_index(["patient_id", "target_day"])
    assert sorted(out.index) == [("M", 14.0), ("M", 28.0), ("N", 28.0)]
    assert (out.loc[("M", 14.0), "day"], out.loc[("M", 14.0), "change"]) == (15.0, 8.0)
    assert (out.loc[("M", 28.0), "day"], out.loc[("M", 28.0), "change"]) == (26.0, 10.0)
    assert out.loc[("N", 28.0), "change"] == 6.0
    assert out.loc[("N", 28.0), "protocol"] == "weekly"


def test_matched_days_follows_instrument_direction():
    reg = load_registry(
        practice_text='[[instrument]]\nkey = "WELL"\nmin = 0\nmax = 100\n'
        "higher_is_worse = false\nreliable_change = 10\n"
    )
    rows = [("W", "weekly", "WELL", 0, 0.0, 30.0), ("W", "weekly", "WELL", 2, 14.0, 50.0)]
    out = matched_days(make_tidy(rows), reg, days=(14,))
    assert list(out["change"]) == [20.0]  # 50 − 30: better on a higher-is-better scale
    assert isinstance(out, pd.DataFrame)
