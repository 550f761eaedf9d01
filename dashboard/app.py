"""ReliefCheck dashboard: ``streamlit run dashboard/app.py``.

This file is the frame around every page: page setup, navigation, the dataset (the outcome
store, or the synthetic demo cohort under a banner), the sidebar filters. The pages themselves
are in ``dashboard/app_pages/``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard import state  # noqa: E402
from data.errors import ReliefCheckError  # noqa: E402

_started, _cpu_started = time.perf_counter(), time.thread_time()
st.set_page_config(page_title="ReliefCheck", page_icon=":material/monitoring:", layout="wide")

PAGES = {
    "Practice": [
        st.Page(
            "app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True
        ),
        st.Page("app_pages/claims.py", title="Claims", icon=":material/gavel:"),
    ],
    "Results": [
        st.Page("app_pages/trajectories.py", title="Trajectories", icon=":material/show_chart:"),
        st.Page("app_pages/outcomes.py", title="Outcomes", icon=":material/bar_chart:"),
        st.Page("app_pages/safety.py", title="Safety", icon=":material/health_and_safety:"),
        st.Page("app_pages/patient.py", title="Patient", icon=":material/person:"),
    ],
    "Data": [
        st.Page("app_pages/upload.py", title="Upload", icon=":material/upload_file:"),
        st.Page("app_pages/uploads.py", title="Uploads history", icon=":material/history:"),
        st.Page("app_pages/downloads.py", title="Downloads", icon=":material/download:"),
        st.Page("app_pages/settings.py", title="Settings", icon=":material/settings:"),
    ],
}

page = st.navigation(PAGES)

try:
    ref = state.data_ref()
    state.full_tidy(ref)
    filters = state.sidebar_filters(ref)
except ReliefCheckError as err:
    st.error(str(err))
    st.stop()

with st.sidebar:
    st.divider()
    source = "synthetic demo cohort" if ref.is_demo else "your practice's uploads"
    st.caption(f"Data: {source} · Instruments: {state.registry_label()}")

state.set_context(state.Context(ref, state.registry_text(), filters))
state.banner(ref)
# Server time of this run, for the speed benchmark. It goes into a dict kept in session state:
# a page that stops early (st.stop) ends the run before a new session-state value would stick.
timing = st.session_state.setdefault(state.RUN_MS_KEY, {})
try:
    page.run()
finally:
    timing["ms"] = 1000 * (time.perf_counter() - _started)
    timing["cpu_ms"] = 1000 * (time.thread_time() - _cpu_started)  # this run's own CPU time
