"""The calibration panel (dashboard/calibration_view.py) run headless with Streamlit's AppTest on a
small demo cohort: nothing runs until asked, the run gives the table and a sentence per claim,
and the result stays for the same data and settings. The words are checked on their own too."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.calibration import COLUMNS, CalibrationResult
from dashboard.calibration_view import calibration_table, claim_sentences


@pytest.fixture(autouse=True)
def empty_store(tmp_path, monkeypatch):
    """A fresh, empty outcome store (never the user's own)."""
    monkeypatch.setenv("RELIEFCHECK_DB_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")


def _panel_script() -> None:
    from analysis.claims.config import ClaimsConfig
    from dashboard.calibration_view import calibration_panel
    from dashboard.compute import Filters
    from dashboard.state import Context, DataRef

    ref = DataRef("demo", "demo-calibration-test-70", n_patients=70, seed=5)
    calibration_panel(Context(ref, None, Filters()), ClaimsConfig(), n_sim=3)


def test_panel_runs_on_request_and_keeps_its_result():
    at = AppTest.from_function(_panel_script, default_timeout=300)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.dataframe) == 0  # nothing is simulated before the button
    at.button(key="calibration_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    table = at.dataframe[0].value
    assert list(table["Claim"].unique())[:3] == ["Rapid onset", "Intensive faster than weekly",
                                                  "Large improvement"]  # fmt: skip
    assert set(table["Instrument"]) >= {"PHQ-9", "GAD-7"}
    text = " ".join(m.value for m in at.markdown)
    assert "**Large improvement, PHQ-9** (about" in text
    assert "wrongly say “supported”" in text
    at.run()  # a rerun without the button shows the kept result
    assert len(at.dataframe) == 1
    assert at.dataframe[0].value.equals(table)


def _filtered_script() -> None:
    from analysis.claims.config import ClaimsConfig
    from dashboard.calibration_view import calibration_panel
    from dashboard.compute import Filters
    from dashboard.state import Context, DataRef

    ref = DataRef("demo", "demo-calibration-test-70", n_patients=70, seed=5)
    ctx = Context(ref, None, Filters(protocols=("intensive",)))
    calibration_panel(ctx, ClaimsConfig(large_share=0.4), n_sim=2)


def test_panel_on_filtered_patients_says_what_cannot_be_tested():
    at = AppTest.from_function(_filtered_script, default_timeout=300)
    at.run()
    at.button(key="calibration_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    table = at.dataframe[0].value
    faster = table[table["Claim"] == "Intensive faster than weekly"]
    assert (faster["If false: says supported"] == "–").all()
    assert faster["Note"].str.startswith("Not testable on this data").all()
    large = table[table["Claim"] == "Large improvement"].iloc[0]
    assert large["If false: says supported"].endswith("%)")
    text = " ".join(m.value for m in at.markdown)
    assert "40% of paired patients reliably improved" in text  # the page's own threshold


def _result(rows: list[dict]) -> CalibrationResult:
    base = {c: None for c in COLUMNS}
    return CalibrationResult(
        pd.DataFrame([{**base, **r} for r in rows], columns=list(COLUMNS)), 10, 1
    )


def test_words_for_a_tested_claim_and_an_untestable_one():
    res = _result(
        [
            dict(claim="large-improvement", instrument="PHQ-9", scenario="false", n_sim=10,
                 supported_rate=0.02, rate_ci_lo=0.004, rate_ci_hi=0.1, nominal_rate=0.025,
                 mean_n=120.0, truth_text="50% of paired patients reliably improved", note=""),
            dict(claim="large-improvement", instrument="PHQ-9", scenario="true", n_sim=10,
                 supported_rate=0.9, rate_ci_lo=0.6, rate_ci_hi=0.98, mean_n=120.0,
                 truth_text="65% of paired patients reliably improved", note=""),
            dict(claim="lasting", instrument="GAD-7", scenario="false", n_sim=0,
                 note="Not testable on this data: The data has no follow-up assessments."),
            dict(claim="lasting", instrument="GAD-7", scenario="true", n_sim=0,
                 note="Not testable on this data: The data has no follow-up assessments."),
        ]
    )  # fmt: skip
    table = calibration_table(res)
    assert table.loc[0, "If false: says supported"] == "2.0% (simulation CI 0.4–10.0%)"
    assert table.loc[0, "If true: says supported (power)"] == "90.0% (simulation CI 60.0–98.0%)"
    assert table.loc[0, "Most allowed"] == "2.5%"
    assert table.loc[1, "If false: says supported"] == "–"
    assert (
        table.loc[1, "Note"] == "Not testable on this data: The data has no follow-up assessments."
    )
    first, second = claim_sentences(res)
    assert first.startswith("**Large improvement, PHQ-9** (about 120 patients tested)")
    assert "in 2.0% of practices like yours (at most 2.5% by design)" in first
    assert first.endswith("it would say “supported” in 90.0%.")
    assert second.startswith("**Gains last, GAD-7**: Not testable on this data")


def test_a_practice_label_cannot_inject_markup():
    res = _result(
        [dict(claim="large-improvement", instrument="[x](http://evil)", scenario="false",
              n_sim=0, note="Not testable")]
    )  # fmt: skip
    (line,) = claim_sentences(res)
    assert "[x](http" not in line
