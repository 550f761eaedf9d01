"""Uploads history: every upload committed to the outcome store, what it changed, undo (with a
confirmation), and the audit log."""

from __future__ import annotations

import streamlit as st

from dashboard import access, payloads, state, times
from dashboard import audit as trail
from dashboard.safe_text import md_escape
from dashboard.upload_flow import history_table, undo_choices
from data.access import may_undo
from data.errors import ReliefCheckError

PENDING_KEY = "undo_pending"  # the upload waiting for the user's confirmation
DONE_KEY = "undo_done"  # the last undo's message, shown once after the rerun
AUDIT_ROWS = 1000

who = access.require_page("uploads")  # before anything reads data
ctx = state.context()
zone = times.viewer_zone()  # the browser's time zone; UTC when it does not say
st.header("Uploads history", anchor=False)
st.markdown(
    "Every export committed to the outcome store, with what it added or changed. An upload "
    "can be undone as a whole: the store then holds what the other uploads alone would have "
    "given, so rows another upload also brought stay, and any scores it replaced come back."
)
try:
    store = state.store()
    uploads = store.uploads()
except ReliefCheckError as err:
    st.error(f"The outcome store cannot be read: {md_escape(err)}")
    st.stop()

message = st.session_state.pop(DONE_KEY, None)
if message:
    st.success(md_escape(message), icon=":material/undo:")  # names the file

if uploads.empty:
    st.info("Nothing has been uploaded yet: the dashboard shows the synthetic demo cohort.")
    st.page_link("app_pages/upload.py", label="Upload an export", icon=":material/upload_file:")
    st.stop()

live = uploads["status"] == "committed"
c1, c2, c3 = st.columns(3)
c1.metric("Uploads in the store", int(live.sum()))
c2.metric("Undone", int((~live).sum()))
c3.metric("Assessments stored", f"{int(uploads.loc[live, 'n_active'].sum()):,}")
st.dataframe(trail.with_undone_by(history_table(uploads, zone), uploads), hide_index=True)
st.caption(
    f"Times are in {md_escape(zone)}, this browser's time zone. "
    "rows offered: accepted rows of the file; added: new assessments; already stored: the same "
    "scores were stored before; differed: another score was stored for the same patient, "
    "instrument, session and day; still stored: this upload's assessments in the store now."
)

st.subheader("Undo an upload", anchor=False)
uploader = uploads.set_index("upload_id")["uploader"].astype(str)
choices = undo_choices(uploads, zone)
choices = {k: v for k, v in choices.items() if may_undo(who.role, who.actor, uploader[k])}
if not choices:
    st.caption(
        "Every upload has been undone."
        if not live.any()
        else "You can undo your own uploads only, and none of them is still in the store."
    )
else:
    pick = st.selectbox("Upload", list(choices), format_func=choices.get, key="undo_pick")
    row = uploads.loc[(uploads["upload_id"] == pick).to_numpy()].iloc[0]
    if st.session_state.get(PENDING_KEY) == pick:
        with st.spinner("Working out what the undo would change…"):
            try:
                ahead = store.preview_undo(
                    int(pick), allowed_uploader=trail.undo_allowed_uploader()
                )
            except ReliefCheckError:
                ahead = None
        if ahead is None:
            effect = "its stored assessments leave the store"
        else:
            leave = "leaves" if ahead.n_removed == 1 else "leave"
            effect = f"{trail.counted(ahead.n_removed, 'stored assessment')} {leave} the store"
            if ahead.n_kept:
                stay = "stays" if ahead.n_kept == 1 else "stay"
                effect += (
                    f", {ahead.n_kept:,} {stay} because other uploads still in the store brought "
                    "them too"
                )
            if ahead.n_restored:
                come = "comes" if ahead.n_restored == 1 else "come"
                effect += (
                    f", and {trail.counted(ahead.n_restored, 'other score')} {come} back (ones it "
                    "had replaced or kept out)"
                )
        st.warning(
            f"Undo upload #{pick} ({md_escape(row['filename'])})? {effect[0].upper()}"
            f"{effect[1:]}. Every page changes at once. The upload stays in this history, "
            "marked undone.",
            icon=":material/warning:",
        )
        row_of_buttons = st.container(horizontal=True)
        if row_of_buttons.button("Yes, undo it", type="primary", key="undo_confirm"):
            st.session_state.pop(PENDING_KEY, None)
            try:
                with st.spinner("Undoing…"):
                    result = store.undo(
                        int(pick),
                        actor=trail.actor(),
                        allowed_uploader=trail.undo_allowed_uploader(),
                    )
            except ReliefCheckError as err:
                st.error(f"Nothing was changed. {md_escape(err)}")
                st.stop()
            st.session_state[DONE_KEY] = result.message
            st.rerun()
        if row_of_buttons.button("Cancel", key="undo_cancel"):
            st.session_state.pop(PENDING_KEY, None)
            st.rerun()
    elif st.button(f"Undo upload #{pick}…", key="undo_start"):
        st.session_state[PENDING_KEY] = pick
        st.rerun()

with st.expander("Audit log"):
    audit = store.audit_log()
    st.caption(
        "Every change to the store, newest first: commits, replaced scores, repeat uploads that "
        f"changed nothing, undos and restored scores. The latest {AUDIT_ROWS} entries are shown; "
        "the download has them all."
    )
    newest = audit.iloc[::-1]
    st.dataframe(
        trail.audit_table(audit.tail(AUDIT_ROWS), zone),  # "field: value" details, local times
        hide_index=True,
        column_config={"detail": st.column_config.TextColumn("detail", width="large")},
    )
    st.caption(f"Times are in {md_escape(zone)}; the download keeps UTC and the raw details.")
    trail.logged_download(
        st,
        "Audit log (CSV)",
        lambda: payloads.audit_log_csv(store),  # formula-safe, made on click
        "reliefcheck_audit_log.csv",
        "text/csv",
        n_rows=len(newest),
    )
