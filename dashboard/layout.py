"""Phone and tablet layout: one fixed stylesheet (``dashboard/static/layout.css``) with media
queries, injected by the app frame on every run. It reaches only containers the pages key on
purpose (``CARDS`` rows of metric cards, the ``SCORECARD`` table), never anything from an upload;
it holds no script (Streamlit sends a style-only ``st.html`` to the page's event container,
where it takes no room)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st

STYLESHEET = Path(__file__).resolve().parent / "static" / "layout.css"
#: Key prefix of a container holding one row of metric cards ("rc-cards-0", "rc-cards-1" …):
#: two cards a row on a phone, three on a tablet.
CARDS = "rc-cards"
#: Key of the container around the claims scorecard table (scrolls sideways when too wide).
SCORECARD = "rc-scorecard"


@cache
def _css() -> str:
    return STYLESHEET.read_text("utf-8")


def inject() -> None:
    """Add the layout stylesheet to the page (takes no room on it)."""
    st.html(f"<style>{_css()}</style>")


def cards_key(i: int) -> str:
    """The key of the ``i``-th row of cards on a page."""
    return f"{CARDS}-{i}"
