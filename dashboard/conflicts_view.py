"""The Upload page's commit step: what committing would do, shown before anything is written
(a ``data.store.CommitPreview``), and the user's choice (issue 12, point 3).

New rows, rows already stored, rows that differ from a stored score (the stored and the new
score side by side, downloadable), rows set aside and ids that look like a different patient.
With conflicts the user chooses: keep the stored scores (commit only the new rows), replace
them with the file's, or cancel. An id that looks like someone else needs a ticked confirmation
before either commit. Every value from the file is escaped (Markdown) or shown in a table cell.
"""

from __future__ import annotations

from typing import Literal

import streamlit as st

from dashboard import payloads
from dashboard.safe_text import md_escape
from dashboard.upload_flow import (
    conflict_table,
    preview_lines,
    set_aside_preview,
    suspect_table,
)
from data.store import BASELINE_APART_DAYS

Choice = Literal["keep", "replace", "cancel"]
#: Suspect ids named in the warning's text (all of them are in the table below it).
N_NAMED = 5


def _when(iso: str | None) -> str:
    return f"{iso[:10]} {iso[11:16]} UTC" if iso and len(iso) >= 16 else "earlier"


def _metrics(preview) -> None:
    c = preview.classified
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("New", f"{c['n_added']:,}", help="Assessments the store does not have yet.")
    m2.metric(
        "Already stored",
        f"{c['n_already_stored']:,}",
        help="Same patient, instrument, session, day and score as a stored assessment.",
    )
    m3.metric(
        "Differ from stored",
        f"{c['n_conflicts']:,}",
        help="Same patient, instrument, session and day as a stored assessment, another score.",
    )
    m4.metric(
        "Set aside at commit",
        f"{c['n_unaligned'] + c['n_file_clashes']:,}",
        help="Rows whose days cannot be lined up with the patient's stored days, or that clash "
        "with another row of the file. They are not stored whatever you choose.",
    )


def _suspects(preview, token: str) -> bool:
    """The different-patient warning; True when there is none or the user ticked that they
    checked."""
    if preview.suspects.empty:
        return True
    ids = preview.suspects["store_id"].astype(str).tolist()
    named = ", ".join(md_escape(i) for i in ids[:N_NAMED])
    more = f" and {len(ids) - N_NAMED:,} more" if len(ids) > N_NAMED else ""
    one = len(ids) == 1
    st.warning(
        f"**{len(ids):,} patient {'id looks' if one else 'ids look'} like a different "
        f"patient** than the one stored under {'it' if one else 'them'} ({named}{more}, as the "
        f"store files {'it' if one else 'them'}): another protocol than stored, or a baseline "
        "dated more than "
        f"{BASELINE_APART_DAYS} days from the stored one. Check the export: two patients may "
        "share an id (a reused or mistyped id, or another practice's numbering). If they are "
        "different people, cancel and give them distinct ids.",
        icon=":material/warning:",
    )
    st.dataframe(suspect_table(preview), hide_index=True)
    return st.checkbox(
        "I checked the export: these are the same patients",
        key=f"commit_same_patients_{token}",
    )


def _conflicts(preview) -> None:
    n = preview.n_conflicts
    st.warning(
        f"**{n:,} {'row differs' if n == 1 else 'rows differ'} from the score stored** for the "
        "same patient, instrument, session and day. Compare them below, then choose which "
        "scores to keep.",
        icon=":material/compare_arrows:",
    )
    st.dataframe(conflict_table(preview), hide_index=True)


def _set_aside(preview) -> None:
    rows = set_aside_preview(preview)
    if rows.empty:
        return
    with st.expander(f"{len(rows):,} rows will be set aside, whatever you choose"):
        st.dataframe(rows, hide_index=True)


def show(preview, *, name: str, n_rejected: int, token: str) -> Choice | None:
    """Show what committing ``preview``'s upload would do and offer the choices; the choice
    clicked on this run, or None. ``token`` keeps widget keys apart per checked file."""
    st.markdown(
        "Checked against the outcome store: **nothing has been written yet**. This is what "
        "committing would do."
    )
    if preview.duplicate_of is not None:
        st.info(
            f"{md_escape(name)} has exactly the content of upload {preview.duplicate_of} "
            f"(stored {_when(preview.duplicate_when)}). Committing it would change nothing.",
            icon=":material/content_copy:",
        )
        return None
    _metrics(preview)
    st.dataframe(preview_lines(preview, n_rejected), hide_index=True)
    confirmed = _suspects(preview, token)
    if preview.n_conflicts:
        _conflicts(preview)
    _set_aside(preview)
    if len(preview.set_aside):
        st.download_button(
            f"Download the {len(preview.set_aside):,} rows that differ or are set aside (CSV)",
            lambda: payloads.rows_csv(preview.set_aside),  # formula-safe, made on click
            file_name=f"{name.rsplit('.', 1)[0]}_before_commit.csv",
            mime="text/csv",
            on_click="ignore",
            key=f"commit_preview_csv_{token}",
        )
    for note in preview.notes:
        st.caption(md_escape(note))
    return _choices(preview, confirmed)


def _choices(preview, confirmed: bool) -> Choice | None:
    c = preview.classified
    n_new, n_conf = c["n_added"], preview.n_conflicts
    if not n_conf:
        if not n_new:
            st.info(
                "Nothing new to store: every assessment of this file is stored already or set "
                "aside. Committing would change nothing.",
                icon=":material/info:",
            )
            return None
        label = (
            f"Commit {n_new:,} assessments to the store"
            if n_new == preview.n_rows
            else f"Commit the {n_new:,} new assessments to the store"
        )
        clicked = st.button(label, type="primary", disabled=not confirmed, key="commit_new")
        if not confirmed:
            st.caption("Tick the confirmation above to commit.")
        return "keep" if clicked else None
    st.markdown("**Which scores should the store keep?**")
    keep_col, replace_col, cancel_col = st.columns(3)
    new_rows = f"the {n_new:,} new {'row' if n_new == 1 else 'rows'}"
    stored = f"the {n_conf:,} stored {'score' if n_conf == 1 else 'scores'}"
    keep = keep_col.button(
        "Keep the stored scores",
        type="primary",
        disabled=not confirmed or not n_new,
        key="commit_keep",
    )
    keep_col.caption(
        f"Adds {new_rows}; {stored} stay." if n_new else "Nothing new to add: nothing to commit."
    )
    replace = replace_col.button(
        "Replace with this file's scores", disabled=not confirmed, key="commit_replace"
    )
    replace_col.caption(
        (f"Adds {new_rows} and replaces " if n_new else "Replaces ")
        + f"{stored} (undoing the upload from the history restores them)."
    )
    cancel = cancel_col.button("Cancel: store nothing", key="commit_cancel")
    cancel_col.caption("Nothing is written; the store stays as it is.")
    if not confirmed:
        st.caption("Tick the confirmation above to commit.")
    return "keep" if keep else "replace" if replace else "cancel" if cancel else None
