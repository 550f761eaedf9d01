"""The Help page in Chromium (issue 12): a "How this is computed" link opens the Help page with
its entry shown first, every entry keeping its own anchor."""

from __future__ import annotations

import pytest

from tests.browser.conftest import wait_for_run

pytestmark = pytest.mark.browser


def test_how_computed_link_opens_its_help_entry(app_url, browser):
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, timezone_id="Asia/Tokyo"
    )
    page = context.new_page()
    try:
        page.goto(f"{app_url}/outcomes")
        page.get_by_text("How this is computed").first.wait_for(timeout=120_000)
        wait_for_run(page)
        page.get_by_text("How this is computed").first.click()
        page.get_by_text("More in Help: Completers versus everyone who started").click()
        page.wait_for_url("**/help?topic=denominators", timeout=60_000)
        topic = page.locator(".st-key-help_topic")
        topic.get_by_text("Completers versus everyone who started").wait_for(timeout=60_000)
        page.locator("#g-av").first.wait_for(state="attached", timeout=60_000)
        assert page.locator("#g-av").count() == 1  # every entry keeps its own anchor
    finally:
        context.close()
