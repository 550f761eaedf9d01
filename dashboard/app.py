"""ReliefCheck dashboard: ``streamlit run dashboard/app.py``.

This file is the frame around every page: page setup, sign-in (``dashboard.access``: nothing
below it runs for a visitor who may not see the data), navigation limited to the pages the
role may open, the dataset (the outcome store, or the synthetic demo cohort under a banner),
the sidebar filters. The pages themselves are in ``dashboard/app_pages/``; each starts with
its own ``access.require_page`` check.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard import access, layout, state  # noqa: E402
from dashboard.safe_text import md_escape  # noqa: E402
from data.access import allowed  # noqa: E402
from data.errors import ReliefCheckError  # noqa: E402

_started, _cpu_started = time.perf_counter(), time.thread_time()
st.set_page_config(page_title="ReliefCheck", page_icon=":material/monitoring:", layout="wide")
layout.inject()  # phone and tablet layout (a fixed stylesheet)

#: section -> (page key, i.e. the file stem in app_pages/, title, icon); the first is the default.
PAGES = {
    "Practice": [
        ("overview", "Overview", ":material/dashboard:"),
        ("claims", "Claims", ":material/gavel:"),
    ],
    "Results": [
        ("trajectories", "Trajectories", ":material/show_chart:"),
        ("outcomes", "Outcomes", ":material/bar_chart:"),
        ("safety", "Safety", ":material/health_and_safety:"),
        ("compare", "Sites & clinicians", ":material/scatter_plot:"),
        ("patient", "Patient", ":material/person:"),
    ],
    "Data": [
        ("upload", "Upload", ":material/upload_file:"),
        ("uploads", "Uploads history", ":material/history:"),
        ("downloads", "Downloads", ":material/download:"),
        ("settings", "Settings", ":material/settings:"),
    ],
    "Help": [
        ("help", "Help: what each figure means", ":material/help:"),
    ],
}

# Who is asking, before anything reads data: a signed-out visitor gets the sign-in screen and
# the run stops here, with no navigation, no sidebar filters and no figures.
who = access.require_sign_in()
# Pages the role may not open are registered hidden, so that their address reaches the
# guard below (and the page's own) and is refused with a message rather than not found.
keys = {}
sections = {}
for section, entries in PAGES.items():
    for key, title, icon in entries:
        shown = "visible" if allowed(who.role, key) else "hidden"
        keys[key] = st.Page(
            f"app_pages/{key}.py",
            title=title,
            icon=icon,
            default=key == "overview",
            visibility=shown,
        )
        sections.setdefault(section, []).append(keys[key])
page = st.navigation(sections)
access.sidebar(who)
access.require_page(next(k for k, p in keys.items() if p is page))

try:
    ref = state.data_ref()
    state.full_tidy(ref)
    filters = state.sidebar_filters(ref)
except ReliefCheckError as err:
    st.error(md_escape(err))
    st.stop()

with st.sidebar:
    st.divider()
    source = "synthetic demo cohort" if ref.is_demo else "your practice's uploads"
    st.caption(f"Data: {source} · Instruments: {md_escape(state.registry_label())}")
    stamp_slot = st.empty()  # filled after the page ran: the Claims page may change the settings

state.set_context(state.Context(ref, state.registry_text(), filters))
state.banner(ref)
# Server time of this run, for the speed benchmark. It goes into a dict kept in session state:
# a page that stops early (st.stop) ends the run before a new session-state value would stick.
timing = st.session_state.setdefault(state.RUN_MS_KEY, {})


def _show_stamp() -> None:
    stamp = state.settings_stamp()
    stamp_slot.caption(
        ("⚠ " if stamp.warns else "") + md_escape(stamp.text()),
        help="The claim settings every verdict used, and whether they are the ones the practice "
        "froze before its data arrived (Claims page).",
    )


_show_stamp()  # a page that stops early (st.stop) ends the run: nothing is drawn after it
try:
    page.run()
finally:
    # Timing first: after a page's st.stop() every further Streamlit call ends the run.
    timing["ms"] = 1000 * (time.perf_counter() - _started)
    timing["cpu_ms"] = 1000 * (time.thread_time() - _cpu_started)  # this run's own CPU time
    _show_stamp()  # again, as the page left the settings (the Claims page may change them)
