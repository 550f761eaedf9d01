"""Phone (390 px), tablet (768 px) and desktop (1400 px) layouts in a real Chromium: the page
never scrolls sideways, the Overview's cards sit two (phone) or three (tablet) a row, the claims
scorecard's last column can be reached, and the trajectory chart keeps its labels apart (tick
labels with their n rows do not run together, the legend does not cover the title). One server
for the module; a screenshot of each page and width goes to ``RELIEFCHECK_SHOTS`` (default: the
test's temporary folder) for a person to look at, and one of the Overview in the dark theme."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.conftest import serve_dashboard, wait_for_run

pytestmark = pytest.mark.browser

WIDTHS = (390, 768, 1400)
#: Whether the main area scrolls sideways (it must not) and the page's own width.
OVERFLOW = """() => {
    const m = document.querySelector('[data-testid="stMain"]');
    const d = document.scrollingElement;
    return {main: m.scrollWidth - m.clientWidth, page: d.scrollWidth - d.clientWidth};
}"""
#: The scorecard scrolled to its end: where its last header cell ends against its box.
SCORECARD_END = """() => {
    const t = document.querySelector('.st-key-rc-scorecard table');
    t.scrollLeft = t.scrollWidth;
    const last = [...t.querySelectorAll('th')].pop().getBoundingClientRect();
    const box = t.getBoundingClientRect();
    const first = t.querySelector('td').getBoundingClientRect();
    return {lastRight: last.right, boxRight: box.right, lastLeft: last.left, boxLeft: box.left,
            firstLeft: first.left, viewport: window.innerWidth};
}"""
#: Tops of the first row of Overview cards, in order.
CARD_TOPS = """() => [...document.querySelectorAll(
    '.st-key-rc-cards-0 [data-testid="stColumn"]')].map(c => Math.round(c.getBoundingClientRect().top))"""
#: Boxes of the trajectory chart's x tick labels, its title and its legend.
CHART_BOXES = """() => {
    const plot = document.querySelector('.js-plotly-plot');
    const box = e => { const r = e.getBoundingClientRect();
        return {l: r.left, r: r.right, t: r.top, b: r.bottom}; };
    return {ticks: [...plot.querySelectorAll('.xtick text')].filter(t => t.textContent).map(box),
            title: box(plot.querySelector('.gtitle')), legend: box(plot.querySelector('.legend'))};
}"""


@pytest.fixture(scope="module")
def layout_url(tmp_path_factory):
    """One dashboard server for the module, on a fresh, empty store (the demo cohort)."""
    tmp = tmp_path_factory.mktemp("layouts")
    env = dict(os.environ)
    env["RELIEFCHECK_DB_URL"] = f"sqlite:///{tmp / 'store.sqlite'}"
    with serve_dashboard(tmp, env) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("RELIEFCHECK_SHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("layout-shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


#: True once the layout stylesheet (dashboard/static/layout.css) is in the page.
STYLED = """() => [...document.querySelectorAll('style')]
    .some(s => s.textContent.includes('st-key-rc-cards'))"""


def _open(page, url: str, expect: str) -> None:
    page.goto(url)
    page.get_by_text(expect).first.wait_for(timeout=90_000)
    wait_for_run(page, timeout=90_000)
    page.wait_for_function(STYLED, timeout=30_000)
    page.wait_for_timeout(300)  # the browser lays the page out again with the rules


def _shot(page, path: Path, width: int) -> None:
    """The whole page: the window made as tall as the content (Streamlit scrolls inside)."""
    height = page.evaluate(
        "() => Math.max(600, document.querySelector('[data-testid=\"stMain\"]').scrollHeight)"
    )
    page.set_viewport_size({"width": width, "height": min(int(height) + 20, 8000)})
    page.wait_for_timeout(400)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 900})


def _apart(boxes: list[dict]) -> bool:
    """No two boxes overlap sideways (labels on one row)."""
    boxes = sorted(boxes, key=lambda b: b["l"])
    return all(a["r"] <= b["l"] + 1 for a, b in zip(boxes, boxes[1:], strict=False))


def _overlap(a: dict, b: dict) -> bool:
    return a["l"] < b["r"] and b["l"] < a["r"] and a["t"] < b["b"] and b["t"] < a["b"]


@pytest.mark.parametrize("width", WIDTHS)
def test_overview_and_trajectories_fit_the_width(browser, layout_url, shots, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        _open(page, layout_url, "Rapid onset")
        assert page.evaluate(OVERFLOW) == {"main": 0, "page": 0}
        tops = page.evaluate(CARD_TOPS)
        per_row = {390: 2, 768: 3}.get(width, len(tops))
        assert tops[:per_row] == [tops[0]] * per_row  # side by side
        if per_row < len(tops):
            assert tops[per_row] > tops[0]  # the next card starts a new row
        end = page.evaluate(SCORECARD_END)
        assert end["lastRight"] <= end["boxRight"] + 1 and end["boxRight"] <= width
        assert end["lastLeft"] >= end["boxLeft"] - 1
        assert abs(end["firstLeft"] - end["boxLeft"]) <= 1  # the claim names stay in view
        _shot(page, shots / f"overview_{width}.png", width)

        _open(page, f"{layout_url}/trajectories", "Matched-day comparison")
        page.wait_for_selector(".js-plotly-plot .xtick text", timeout=30_000)
        assert page.evaluate(OVERFLOW) == {"main": 0, "page": 0}
        boxes = page.evaluate(CHART_BOXES)
        assert len(boxes["ticks"]) >= 3
        assert _apart(boxes["ticks"]), "x labels (with their n rows) run together"
        assert not _overlap(boxes["title"], boxes["legend"]), "the legend covers the title"
        _shot(page, shots / f"trajectories_{width}.png", width)
    finally:
        context.close()


def test_dark_theme_follows_the_viewer(browser, layout_url, shots):
    """A viewer whose system is dark gets the dark theme, charts included (screenshot)."""
    context = browser.new_context(viewport={"width": 768, "height": 900}, color_scheme="dark")
    page = context.new_page()
    try:
        _open(page, f"{layout_url}/trajectories", "Matched-day comparison")
        page.wait_for_selector(".js-plotly-plot .xtick text", timeout=30_000)
        background = page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]'))"
            ".backgroundColor"
        )
        channels = [int(c) for c in background[background.index("(") + 1 : -1].split(",")[:3]]
        assert max(channels) < 80, background  # a dark background
        _shot(page, shots / "trajectories_768_dark.png", 768)
    finally:
        context.close()
