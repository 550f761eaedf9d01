"""The sidebar's baseline-period filter on the demo cohort (issue 12), run with AppTest: a
quarter or month range narrows every page to the patients whose baseline month is in it, says
how many patients with no known month it leaves out, and names itself in the filters caption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.compute import Filters, filter_outcomes, with_baseline_months
from data.demo.cohort import DEFAULT_SEED, demo_baseline_months, generate_demo
from data.periods import in_period

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture(autouse=True)
def empty_store(tmp_path, monkeypatch):
    """A fresh, empty outcome store (the dashboard then shows the demo cohort)."""
    monkeypatch.setenv("RELIEFCHECK_DB_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")


def _assessed(at: AppTest) -> int:
    """The Overview's "Patients assessed", summed over the protocols shown."""
    return sum(int(m.value.replace(",", "")) for m in at.metric if m.label == "Patients assessed")


def _expected_assessed(period: tuple[str, str]) -> tuple[int, int]:
    """PHQ-9 patients of the demo (the Overview's first instrument) in ``period``, and how
    many demo patients have no known baseline month."""
    tidy = generate_demo()
    months = demo_baseline_months(tidy, DEFAULT_SEED)
    phq = pd.unique(tidy.loc[tidy["instrument"] == "PHQ-9", "patient_id"].astype(str))
    inside = set(months.index[in_period(months.array, period)])
    return len(set(phq) & inside), int(months.isna().sum())


def test_quarter_range_changes_the_overview_patient_count():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    everyone = _assessed(at)
    at.radio(key="filter_period_unit").set_value("quarter").run()
    at.select_slider(key="filter_period_quarter").set_range("2025-Q1", "2025-Q1").run()
    assert not at.exception, [e.message for e in at.exception]
    expected, unknown = _expected_assessed(("2025-Q1", "2025-Q1"))
    assert 0 < _assessed(at) == expected < everyone
    captions = [c.value for c in at.caption]
    assert any("Filters: baseline period: 2025-Q1" in c for c in captions)
    assert any(
        f"{unknown} patients with no known baseline month are left out" in c for c in captions
    )
    # Month granularity: a different range, and "All" brings everyone back.
    at.radio(key="filter_period_unit").set_value("month").run()
    at.select_slider(key="filter_period_month").set_range("2026-01", "2026-06").run()
    expected, _ = _expected_assessed(("2026-01", "2026-06"))
    assert _assessed(at) == expected
    assert any("baseline period: 2026-01 to 2026-06" in c.value for c in at.caption)
    at.radio(key="filter_period_unit").set_value("all").run()
    assert _assessed(at) == everyone


def test_period_filter_reaches_the_downloads_page():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.radio(key="filter_period_unit").set_value("quarter").run()
    at.select_slider(key="filter_period_quarter").set_range("2026-Q3", "2026-Q4").run()
    at.switch_page("app_pages/downloads.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("baseline period: 2026-Q3 to 2026-Q4" in c.value for c in at.caption)


def test_a_dated_upload_gives_the_store_periods_to_filter_by(tmp_path, monkeypatch):
    """The store's masked months come back (with the store's key file) and filter its data."""
    from data.ingest import load_export
    from data.periods import month_day, period_labels
    from data.store import open_store

    url = f"sqlite:///{tmp_path / 'dated.sqlite'}"
    monkeypatch.setenv("RELIEFCHECK_DB_URL", url)
    sample = Path(__file__).resolve().parents[2] / "data" / "samples" / "with_dates.csv"
    with open_store(url) as s:
        s.commit(load_export(sample), filename="with_dates.csv", content_hash="wd")
    raw = pd.read_csv(sample, dtype=str)
    base = raw[raw["session"] == "0"].groupby("patient_id")["Assessment Date"].min()
    quarters = period_labels(month_day(base), "quarter")
    first = sorted(quarters.dropna().unique())[0]
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not any("Synthetic demo data" in w.value for w in at.warning)
    everyone = _assessed(at)
    at.radio(key="filter_period_unit").set_value("quarter").run()
    at.select_slider(key="filter_period_quarter").set_range(first, first).run()
    assert not at.exception, [e.message for e in at.exception]
    assert 0 < _assessed(at) < everyone


def test_outcomes_without_known_months_are_left_out_of_a_period():
    outcomes = pd.DataFrame({"patient_id": ["a", "b", "c"], "instrument": ["PHQ-9"] * 3})
    attrs = pd.DataFrame({"patient_id": ["a", "b", "c"]})
    months = pd.Series(pd.array([9132, 9191], dtype="Int64"), index=["a", "b"])  # Jan, Mar 2025
    attrs = with_baseline_months(attrs, months)
    got = filter_outcomes(outcomes, Filters(baseline_period=("2025-03", "2025-Q2")), attrs)
    assert got["patient_id"].tolist() == ["b"]
    assert filter_outcomes(outcomes, Filters(), attrs) is outcomes
    none = filter_outcomes(outcomes, Filters(baseline_period=("2025-Q1", "2025-Q1")))
    assert none.empty and np.all(attrs["baseline_month_day"].isna() == [False, False, True])
