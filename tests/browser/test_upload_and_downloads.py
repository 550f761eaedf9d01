"""In a real headless Chromium: download a table and the HTML report from the Downloads page and
check their content; upload a sample export, see the validation report, commit it, find it in
the uploads history and undo it (the store is empty again afterwards, as the other browser
tests expect). Screenshots of each step go to artifacts/screenshots/.

Expected figures come from the shipped demo cohort file read with pandas, not from the app."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import wait_for_run
from tests.browser.test_pages import _charts_drawn, _open, _shot

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
DEMO_CSV = ROOT / "data" / "samples" / "demo_cohort.csv"  # the default demo cohort
WIDE = ROOT / "data" / "samples" / "wide.csv"
#: The outcome-rates table's columns (analysis.result_tables.outcome_rates_table, docs/exports.md).
RATES_HEADER = ["instrument", "protocol", "outcome", "denominator_basis", "numerator",
                "denominator", "pct", "ci_lo", "ci_hi", "ci_level", "method", "suppressed"]  # fmt: skip


def _paired_phq9(demo: pd.DataFrame) -> dict[str, int]:
    """Patients per protocol with a PHQ-9 baseline (session 0) and a later session's score."""
    phq = demo[(demo["instrument"] == "PHQ-9") & demo["score"].notna()]
    base = set(phq.loc[phq["session"] == 0, "patient_id"])
    later = set(phq.loc[phq["session"] >= 1, "patient_id"])
    protocol = demo.drop_duplicates("patient_id").set_index("patient_id")["protocol"]
    paired = pd.Series(sorted(base & later))
    return paired.map(protocol).value_counts().to_dict()


def _download(page, button) -> bytes:
    """Click a download button and return the file. A deferred download is made when clicked,
    under an id from the latest script run; if the page reran in between (e.g. after the
    browser reconnected on a busy machine), the click is made once more on the new button."""
    for attempt in (1, 2):
        button.wait_for(timeout=60_000)
        wait_for_run(page, timeout=60_000)
        try:
            with page.expect_download(timeout=90_000) as info:
                button.click(timeout=90_000)  # disabled while a run is under way
            return Path(info.value.path()).read_bytes()
        except PlaywrightError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def test_download_the_outcome_table_and_the_assessments(page, app_url):
    _open(page, app_url, "downloads", expect="Outcome rates by protocol")
    box = (
        page.locator('[data-testid="stVerticalBlock"]')
        .filter(has_text="Outcome rates by protocol")
        .filter(has=page.get_by_role("button", name="CSV", exact=True))
        .last
    )
    data = _download(page, box.get_by_role("button", name="CSV", exact=True))
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark, for Excel
    table = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert list(table.columns) == RATES_HEADER
    demo = pd.read_csv(DEMO_CSV)
    row = table[
        (table["instrument"] == "PHQ-9")
        & (table["outcome"] == "reliable_improvement")
        & (table["denominator_basis"] == "completers")
    ].set_index("protocol")
    assert row["denominator"].astype(int).to_dict() == _paired_phq9(demo)

    data = _download(page, page.get_by_role("button", name="Assessments (CSV)"))
    assessments = pd.read_csv(io.BytesIO(data))
    assert len(assessments) == len(demo)
    assert assessments["patient_id"].nunique() == demo["patient_id"].nunique()


def test_download_the_html_report_is_self_contained(page, app_url, tmp_path):
    _open(page, app_url, "downloads", expect="Report (HTML)")
    html = _download(page, page.get_by_role("button", name="Report (HTML)")).decode("utf-8")
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and not [s for s in scripts if re.search(r"src\s*=", s)]
    fetched = r"<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//"
    assert not re.search(fetched, html)  # nothing is loaded from elsewhere
    assert "Synthetic demo data: 300 made-up patients" in html
    assert html.count("plotly.js v") == 1
    saved = tmp_path / "report.html"
    saved.write_text(html, encoding="utf-8")
    page.goto(saved.as_uri())  # opens offline: the charts draw from the embedded library
    _charts_drawn(page, 7)
    page.screenshot(path=str(ROOT / "artifacts" / "screenshots" / "html_report.png"))


def test_upload_commit_history_and_undo(page, app_url):
    n_scores = int(pd.read_csv(WIDE)[["PHQ9 Total", "GAD7 Total", "PCL5 Total"]].count().sum())
    _open(page, app_url, "upload", expect="Outcomes export")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(WIDE))
    page.get_by_text("Every row passed the checks").wait_for(timeout=60_000)
    page.get_by_text("Assessments accepted").first.wait_for(timeout=60_000)  # drawn after it
    wait_for_run(page, timeout=60_000)
    body = page.inner_text("body")
    assert "Assessments accepted" in body and f"{n_scores}" in body
    _shot(page, "upload_checked")

    page.get_by_role("button", name=f"Commit {n_scores} assessments to the store").click()
    page.get_by_text(f"Stored {n_scores} new assessments from wide.csv").wait_for(timeout=60_000)
    wait_for_run(page, timeout=60_000)
    assert "Synthetic demo data" not in page.inner_text("body")  # the store's data everywhere
    _shot(page, "upload_committed")

    _open(page, app_url, "", expect="Claims scorecard")
    assert "Synthetic demo data" not in page.inner_text("body")
    _shot(page, "overview_on_the_store")

    _open(page, app_url, "uploads", expect="Undo an upload")
    chosen = page.get_by_role("combobox", name="Upload").input_value()
    assert chosen.startswith(f"#1 · wide.csv · {n_scores} assessments stored")
    _shot(page, "uploads_history_with_upload")
    page.get_by_role("button", name="Undo upload #1…").click()
    page.get_by_role("button", name="Yes, undo it").wait_for(timeout=60_000)
    _shot(page, "uploads_undo_confirmation")
    page.get_by_role("button", name="Yes, undo it").click()
    page.get_by_text("Undid upload 1").wait_for(timeout=60_000)
    wait_for_run(page, timeout=60_000)
    assert "Synthetic demo data" in page.inner_text("body")
    _shot(page, "uploads_history_after_undo")
    assert page.locator('[data-testid="stException"]').count() == 0
