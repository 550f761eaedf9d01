"""Every dashboard page in a real headless Chromium: it opens, shows no error, draws its charts;
a full-page screenshot of each goes to artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import pick_option, screenshot, wait_for_run

pytestmark = pytest.mark.browser

#: url path → (screenshot name, text the page must show, charts it must draw at least)
PAGES = {
    "": ("overview", "Claims scorecard", 0),
    "claims": ("claims", "Suicidal thoughts drop", 0),
    "trajectories": ("trajectories", "Matched-day comparison", 1),
    "outcomes": ("outcomes", "Inclusion funnel", 1),
    "safety": ("safety", "Item 9 is not a risk assessment", 1),
    "patient": ("patient", "Pseudonymous patient id", 1),
    "upload": ("upload", "Upload an outcomes export", 0),
    "uploads": ("uploads_history", "Nothing has been uploaded yet", 0),
    "downloads": ("downloads", "Assessments (CSV)", 0),
    "settings": ("settings", "Instruments", 0),
}


def _open(page, app_url: str, path: str, expect: str = "Synthetic demo data") -> None:
    """Open a page and wait until the script has drawn ``expect`` and finished its run."""
    page.goto(f"{app_url}/{path}")
    page.get_by_text(expect).first.wait_for(timeout=60_000)
    wait_for_run(page, timeout=60_000)


TABLES_PAINTED = """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
    .every(d => d.closest('details:not([open])') || d.querySelector('canvas'))"""
CONTENT_HEIGHT = """() => Math.max(1000, ...[...document.querySelectorAll(
    '[data-testid="stMain"], [data-testid="stMainBlockContainer"]')].map(e => e.scrollHeight))"""


def _charts_drawn(page, n: int) -> None:
    """Wait for ``n`` plotly charts to be drawn."""
    if n:
        page.wait_for_function(
            f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}",
            timeout=30_000,
        )
    page.wait_for_timeout(700)  # let plotly finish its transitions before the screenshot


def _shot(page, name: str) -> None:
    """Screenshot of the whole page: the window is made as tall as the page's content first
    (Streamlit scrolls inside its main area, so a plain full-page shot would cut it off), and
    tables, which paint only once in view, are waited for."""
    height = page.evaluate(CONTENT_HEIGHT)
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 6000)})
    page.wait_for_function(TABLES_PAINTED, timeout=30_000)
    page.wait_for_timeout(700)
    screenshot(page, name)
    page.set_viewport_size({"width": 1400, "height": 1000})


@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders(page, app_url, path):
    name, text, n_charts = PAGES[path]
    _open(page, app_url, path, expect=text)
    _charts_drawn(page, n_charts)
    _shot(page, name)
    body = page.inner_text("body")
    assert "Synthetic demo data" in body
    assert text in body
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in body


def test_outcomes_tabs(page, app_url):
    """Each tab of the Outcomes page draws its chart."""
    _open(page, app_url, "outcomes")
    for i, tab in enumerate(
        [
            "Inclusion funnel",
            "Jacobson plot",
            "Waterfall",
            "Time to improvement",
            "Effect sizes",
            "Who got which protocol",
        ]
    ):
        page.get_by_role("tab", name=tab).click()
        wait_for_run(page, timeout=60_000)
        _charts_drawn(page, 1)
        _shot(page, f"outcomes_{i + 1}_{tab.lower().replace(' ', '_')}")
        assert page.locator('[data-testid="stException"]').count() == 0
        if tab == "Time to improvement":  # confirmed improvements over the common window
            assert "Follow-up cut at" in page.inner_text("body")
    # the balance tab: raw and adjusted differences side by side, the love plot drawn
    body = page.inner_text("body")
    assert (
        "Adjusted difference" in body and "E-value" in body and "balance before and after" in body
    )


def test_filter_applies_across_pages(page, app_url):
    """Choosing a protocol in the sidebar narrows the Overview to that protocol."""
    _open(page, app_url, "")
    pick_option(
        page, page.locator('[data-testid="stMultiSelect"]').filter(has_text="Protocol"), "intensive"
    )
    page.keyboard.press("Escape")
    page.get_by_text("Filters: protocol: intensive").wait_for(timeout=60_000)
    page.get_by_text("Weekly protocol").wait_for(state="detached", timeout=60_000)
    wait_for_run(page, timeout=60_000)
    body = page.inner_text("body")
    assert "Intensive protocol" in body and "Weekly protocol" not in body
    _shot(page, "overview_filtered_intensive")


def test_trajectories_individual_patients(page, app_url):
    _open(page, app_url, "trajectories")
    page.get_by_text("Show individual patients").click()
    wait_for_run(page, timeout=60_000)
    _charts_drawn(page, 1)
    _shot(page, "trajectories_individuals")
    page.get_by_text("By days since baseline").click()
    wait_for_run(page, timeout=60_000)
    _charts_drawn(page, 1)
    _shot(page, "trajectories_by_day")
    assert page.locator('[data-testid="stException"]').count() == 0


BAD_ROWS = (
    "patient_id,protocol,instrument,session,day,score\n"
    "P1,weekly,PHQ-9,0,0,18\n"
    "P1,weekly,PHQ-9,1,7,31\n"
    "P2,retreat,GAD-7,0,0,12\n"
    "P2,retreat,BDI,1,3,9\n"
    "P2,retreat,GAD-7,1,3,8\n"
)


def test_upload_shows_the_validation_report(page, app_url, tmp_path):
    export = tmp_path / "export_with_bad_rows.csv"
    export.write_text(BAD_ROWS, encoding="utf-8")
    _open(page, app_url, "upload", expect="Outcomes export")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(export))
    page.get_by_text("Preview of the accepted assessments").wait_for(timeout=60_000)
    page.get_by_role("button", name="Download the 2 rows set aside (CSV)").wait_for(timeout=60_000)
    wait_for_run(page, timeout=60_000)
    body = page.inner_text("body")
    assert "Rows set aside" in body and "column score · 1 row (row 3)" in body
    _shot(page, "upload_report")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_upload_refuses_an_unusable_file(page, app_url):
    export = Path(__file__).resolve().parents[1] / "fixtures" / "nasty" / "no_patient_column.csv"
    _open(page, app_url, "upload", expect="Outcomes export")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(export))
    page.get_by_text("This file cannot be used").wait_for(timeout=60_000)
    wait_for_run(page, timeout=60_000)
    _shot(page, "upload_unusable")
    assert page.locator('[data-testid="stException"]').count() == 0
