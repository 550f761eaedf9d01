"""Uploads history: every upload committed to the outcome store, what it changed, and undo."""

from __future__ import annotations

import streamlit as st

from dashboard import components as ui
from dashboard import state

ctx = state.context()
st.header("Uploads history", anchor=False)
st.markdown(
    "Every export committed to the outcome store, with what it added or changed. An upload "
    "can be undone as a whole."
)
# SEAM: data.store (open_store(url).uploads() and .undo(id)) is not in yet.
ui.not_available("The list of uploads and undo", "data.store")
if ctx.ref.is_demo:
    st.caption("Nothing has been uploaded: the dashboard shows the synthetic demo cohort.")
