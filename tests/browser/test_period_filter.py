"""The baseline-period filter in a real Chromium (issue 12): picking one quarter in the sidebar
changes the Overview's patient counts and names the period in the filters line."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot, wait_for_run

pytestmark = pytest.mark.browser

ASSESSED = """() => [...document.querySelectorAll('[data-testid="stMetric"]')]
    .filter(m => m.textContent.includes('Patients assessed'))
    .map(m => m.querySelector('[data-testid="stMetricValue"]').innerText)"""


def _assessed(page) -> int:
    """The Overview's "Patients assessed", summed over the protocols shown (waits until the
    cards hold numbers: Streamlit draws placeholders first)."""
    page.wait_for_function(
        f"() => {{ const v = ({ASSESSED})(); return v.length > 0 && v.every(t => /\\d/.test(t)); }}",
        timeout=60_000,
    )
    return sum(int(re.sub(r"\D", "", v)) for v in page.evaluate(ASSESSED))


def test_picking_a_quarter_changes_the_overview_count(page, app_url):
    page.goto(app_url)
    page.get_by_text("Claims scorecard").first.wait_for(timeout=60_000)
    wait_for_run(page, timeout=60_000)
    everyone = _assessed(page)
    assert everyone > 0
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Quarter", exact=True).click()
    sidebar.get_by_text("From – to (quarters)").wait_for(timeout=30_000)
    wait_for_run(page)
    # Bring the "to" end down to the first quarter: the range is then 2025-Q1 alone.
    sidebar.get_by_role("slider").last.press("Home")
    page.get_by_text(re.compile(r"baseline period: 2025-Q1$")).first.wait_for(timeout=30_000)
    wait_for_run(page)
    # The cards of the run before stay on screen, faded, until the new run replaces them.
    total = f"({ASSESSED})().reduce((a, t) => a + Number(t.replace(/\\D/g, '')), 0)"
    page.wait_for_function(f"() => {total} !== {everyone}", timeout=60_000)
    assert 0 < _assessed(page) < everyone
    assert "no known baseline month" in sidebar.inner_text()
    screenshot(page, "period_filter_quarter")
