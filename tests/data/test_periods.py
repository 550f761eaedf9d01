"""Baseline month coding (data/periods.py): month resolution only, labels, quarters, ranges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.errors import ReliefCheckError
from data.periods import (
    PERIOD_EPOCH,
    baseline_months,
    from_month_index,
    in_period,
    month_day,
    month_index,
    period_bounds,
    period_labels,
    period_options,
)


def _dates(*text: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(text), format="ISO8601"))


def test_month_code_is_days_from_epoch_to_the_first_of_the_month():
    codes = month_day(_dates("2000-01-01", "2000-02-29T23:59", "2025-03-17T14:30"))
    first = np.array(["2000-01-01", "2000-02-01", "2025-03-01"], dtype="datetime64[D]")
    assert codes.tolist() == (first - PERIOD_EPOCH).astype(int).tolist()


def test_every_day_of_a_month_gives_the_same_code_so_no_day_survives():
    days = pd.Series(pd.date_range("2024-02-01", "2024-02-29 23:00", freq="7h"))
    assert month_day(days).nunique() == 1
    assert month_day(_dates("2024-01-31", "2024-02-01")).nunique() == 2


def test_month_code_round_trips_through_month_index_and_labels():
    codes = month_day(_dates("1999-12-31", "2000-01-15", "2026-12-06", "2031-07-04"))
    assert from_month_index(month_index(codes))[1:].tolist() == codes[1:].tolist()
    labels = period_labels(codes[1:], "month").tolist()
    assert labels == ["2000-01", "2026-12", "2031-07"]
    back = [period_bounds(label)[0] for label in labels]
    assert back == codes[1:].tolist()


def test_missing_or_unreadable_dates_have_no_month():
    codes = month_day(pd.Series([pd.NaT, "not a date", "2025-05-05"], dtype=object))
    assert codes.isna().tolist() == [True, True, False]
    assert period_labels(codes, "quarter").isna().tolist() == [True, True, False]


@pytest.mark.parametrize(
    ("date", "quarter"),
    [
        ("2025-01-01", "2025-Q1"),
        ("2025-03-31T23:59", "2025-Q1"),
        ("2025-04-01", "2025-Q2"),
        ("2025-06-30", "2025-Q2"),
        ("2025-07-01", "2025-Q3"),
        ("2025-09-30", "2025-Q3"),
        ("2025-10-01", "2025-Q4"),
        ("2025-12-31T23:59", "2025-Q4"),
        ("2026-01-01", "2026-Q1"),
    ],
)
def test_quarter_boundaries(date, quarter):
    code = month_day(_dates(date))
    assert period_labels(code, "quarter").tolist() == [quarter]
    assert in_period(code, (quarter, quarter)).tolist() == [True]


def test_quarter_bounds_cover_its_three_months():
    lo, hi = period_bounds("2025-Q2")
    assert period_labels([lo, hi], "month").tolist() == ["2025-04", "2025-06"]


def test_in_period_includes_both_ends_and_never_an_unknown_month():
    codes = month_day(_dates("2024-12-31", "2025-01-01", "2025-06-30", "2025-07-01"))
    codes = pd.concat([codes, pd.Series(pd.array([None], dtype="Int64"))], ignore_index=True)
    assert in_period(codes, ("2025-Q1", "2025-Q2")).tolist() == [False, True, True, False, False]
    assert in_period(codes, ("2025-01", "2025-01")).tolist() == [False, True, False, False, False]
    assert in_period(codes, ()).all()


def test_a_range_that_ends_before_it_starts_is_refused_with_a_fix():
    with pytest.raises(ReliefCheckError, match="Pick a 'to' period"):
        in_period(pd.array([9000], dtype="Int64"), ("2025-Q3", "2025-Q1"))


@pytest.mark.parametrize("label", ["2025-Q5", "2025-13", "March 2025", "2025", "1999-12"])
def test_a_label_that_is_not_a_period_is_refused(label):
    with pytest.raises(ReliefCheckError):
        period_bounds(label)


def test_period_options_run_from_the_earliest_to_the_latest_without_gaps():
    codes = month_day(_dates("2024-11-02", "2025-04-20"))
    assert period_options(codes, "quarter") == ["2024-Q4", "2025-Q1", "2025-Q2"]
    assert period_options(codes, "month")[:3] == ["2024-11", "2024-12", "2025-01"]
    assert len(period_options(codes, "month")) == 6
    assert period_options(pd.array([None], dtype="Int64"), "month") == []


def test_baseline_months_only_for_patients_anchored_at_their_baseline_row():
    anchors = pd.Series(pd.to_datetime(["2025-02-10", "2025-03-03"]), index=["a", "b"])
    got = baseline_months(anchors, pd.Series({"a": True, "b": False}))
    assert got.index.tolist() == ["a"]
    assert period_labels(got, "month").tolist() == ["2025-02"]
    assert baseline_months(pd.Series(dtype="datetime64[ns]"), pd.Series(dtype=bool)).empty
