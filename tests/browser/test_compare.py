"""The Sites & clinicians page in a real Chromium: its title, the funnel plot drawn and the
table's header and summary line read (one lean run on the shared server)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import wait_for_run

pytestmark = pytest.mark.browser


def test_sites_and_clinicians_page_draws_the_funnel_and_its_table(page, app_url):
    page.goto(f"{app_url}/compare")
    page.get_by_text("Case-mix-adjusted outcome").first.wait_for(timeout=60_000)
    wait_for_run(page, timeout=60_000)
    page.wait_for_function(
        "() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 1",
        timeout=30_000,
    )
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "Sites & clinicians" in main
    assert "3 sites shown" in main
    title = page.locator(".js-plotly-plot .gtitle").first.text_content()
    assert title.startswith("PHQ-9: reliable improvement by site") and "case mix" in title
    legend = page.locator(".js-plotly-plot .legendtext").all_text_contents()
    assert {"99.8% limits", "95% limits", "within the limits"} <= set(legend)
    table = page.locator('[data-testid="stDataFrame"]')
    table.first.wait_for(timeout=30_000)  # drawn after the chart; a busy machine lags
    assert table.count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
