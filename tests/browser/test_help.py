"""The Help page in Chromium (issue 12): a "How this is computed" link opens the Help page with
its entry shown first, every entry keeping its own anchor."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_for_run

pytestmark = pytest.mark.browser


def _open_help_link(page, label: str, attempts: int = 4) -> None:
    """Open the first "How this is computed" box and follow its Help link. A click on the link
    while the box is still opening is dropped by the page (no message reaches the server), so
    the link is clicked after the box has settled, and again until the page is Help."""
    for _ in range(attempts):
        expander = page.get_by_text("How this is computed").first
        link = page.get_by_text(label)
        if not link.is_visible():
            expander.click()
            page.wait_for_timeout(1_500)  # the box's opening animation
        try:
            link.click(timeout=15_000)
            page.wait_for_function("() => location.pathname.endsWith('/help')", timeout=15_000)
            return
        except Exception:  # noqa: BLE001 - the click was dropped: try the pair again
            wait_for_run(page)
    raise AssertionError(f"the link {label!r} did not open the Help page")


def test_how_computed_link_opens_its_help_entry(app_url, browser):
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, timezone_id="Asia/Tokyo"
    )
    page = context.new_page()
    try:
        page.goto(f"{app_url}/outcomes")
        page.get_by_text("How this is computed").first.wait_for(timeout=120_000)
        wait_for_run(page)
        _open_help_link(page, "More in Help: Completers versus everyone who started")
        expect(page).to_have_url(re.compile(r"/help\?topic=denominators$"), timeout=60_000)
        topic = page.locator(".st-key-help_topic")
        topic.get_by_text("Completers versus everyone who started").wait_for(timeout=60_000)
        page.locator("#g-av").first.wait_for(state="attached", timeout=60_000)
        assert page.locator("#g-av").count() == 1  # every entry keeps its own anchor
    finally:
        context.close()
