"""Settings: the instrument registry (built-in, or extended by a practice's instruments file),
and the audit log of who uploaded, undid and downloaded what."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import access, audit, payloads, state, times
from dashboard.safe_text import md_escape
from data.errors import ReliefCheckError
from data.instruments import load_registry

who = access.require_page("settings")  # before anything reads data
st.header("Settings", anchor=False)
st.subheader("Instruments", anchor=False)
st.markdown(
    "ReliefCheck knows PHQ-9, GAD-7 and PCL-5. A practice can add its own instruments (e.g. "
    "BDI-II, HAM-D) or change a built-in one with a TOML instruments file; see "
    "`data/instruments.toml` for the format. The choice lasts for this browser session."
)

upload = st.file_uploader(
    "Practice instruments file (.toml)", type=["toml"], key="instruments_file"
)
if upload is not None:
    text = upload.getvalue().decode("utf-8", errors="replace")
    if text != st.session_state.get(state.INSTRUMENTS_KEY):
        try:
            load_registry(practice_text=text)
        except ReliefCheckError as err:
            st.error(f"This instruments file cannot be used: {md_escape(err)}")
        else:
            st.session_state[state.INSTRUMENTS_KEY] = text
            st.session_state[state.INSTRUMENTS_NAME_KEY] = upload.name
            st.rerun()

if st.session_state.get(state.INSTRUMENTS_KEY):
    st.success(
        "Using the built-in instruments with "
        f"{md_escape(st.session_state[state.INSTRUMENTS_NAME_KEY])}."
    )
    if st.button("Use the built-in instruments only"):
        st.session_state.pop(state.INSTRUMENTS_KEY, None)
        st.session_state.pop(state.INSTRUMENTS_NAME_KEY, None)
        st.rerun()

registry = state.context().registry


def _rule(ins) -> str:
    if ins.rci_method == "threshold":
        return f"{ins.reliable_change:g} points"
    sd = "baseline SD of the group" if ins.rci_sd == "sample" else f"SD {ins.rci_sd:g}"
    return f"Jacobson–Truax (r = {ins.reliability:g}, {sd})"


bands = [", ".join(f"{lo:g}+ {name}" for lo, name in i.bands) for i in registry]
st.dataframe(
    pd.DataFrame(
        {
            "instrument": [i.key for i in registry],
            "name": [i.display for i in registry],
            "range": [f"{i.min:g}–{i.max:g}" for i in registry],
            "items": [i.items for i in registry],
            "higher is": ["worse" if i.higher_is_worse else "better" for i in registry],
            "caseness": [i.caseness for i in registry],
            "remission cut-off": [i.remission for i in registry],
            "reliable change": [_rule(i) for i in registry],
            "severity bands": bands,
        }
    ).astype({"items": "Int64"}),
    hide_index=True,
    # as wide as its longest text (about 7 px a character), so no band is cut off; the table
    # scrolls sideways where the screen is narrower
    column_config={
        "severity bands": st.column_config.TextColumn(
            width=max(300, 7 * max((len(b) for b in bands), default=0) + 24)
        )
    },
)

# --------------------------------------------------------------------------- audit log
AUDIT_EVENTS = 1000  # shown on the page; the download has them all
st.subheader("Audit log", anchor=False)
st.markdown(
    "Who uploaded, undid and downloaded what, and when, newest first: each person by their "
    "sign-in e-mail (`local` on the command line and without sign-in). Downloads are named, "
    "never copied into the log."
)
try:
    audit_store = state.store()
    events = audit_store.list_audit(limit=AUDIT_EVENTS)
except ReliefCheckError as err:
    st.error(f"The audit log cannot be read: {md_escape(err)}")
else:
    if events.empty:
        st.caption("Nothing has been uploaded or downloaded yet.")
    else:
        st.dataframe(audit.events_table(events, times.viewer_zone()), hide_index=True)
        audit.logged_download(
            st,
            "Audit log (CSV)",
            lambda: payloads.audit_events_csv(audit_store),  # formula-safe, made on click
            "reliefcheck_audit_events.csv",
            "text/csv",
            key="settings_audit_csv",
        )
