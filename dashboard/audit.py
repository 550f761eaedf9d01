"""Who is doing what on the dashboard, for the store's audit trail: the actor to record, whether
an undo is restricted to the actor's own uploads, the download log's ``on_click`` callback, and
the history and audit tables as the pages show them.

The actor comes from ``dashboard.access.identity()`` (the signed-in e-mail, or ``local`` in
local single-user mode). It is imported lazily, and a dashboard without that module (sign-in not
installed) acts as ``local`` with no restriction. A module that exists but fails to import is an
error, not ``local``: the audit trail must not name the wrong person.
"""

from __future__ import annotations

import pandas as pd

from data.store import LOCAL_ACTOR

#: The role that may undo anyone's upload; every other role only its own.
OWNER = "owner"
#: The actor recorded when sign-in is set up but the session is not signed in (a download
#: callback can run after a sign-in has lapsed).
UNKNOWN = "unknown (not signed in)"


def _identity() -> object | None:
    """``dashboard.access.identity()``, or None when there is no sign-in module."""
    try:
        from dashboard.access import identity
    except ModuleNotFoundError as err:
        if err.name != "dashboard.access":
            raise
        return None
    return identity()


def actor() -> str:
    """Who is using the dashboard: the signed-in e-mail, or ``local`` (local mode, or no sign-in
    module); ``UNKNOWN`` when sign-in is set up but nobody is signed in (never ``local``)."""
    who = _identity()
    if who is None:
        return LOCAL_ACTOR
    return str(getattr(who, "actor", "") or "").strip() or UNKNOWN


def undo_allowed_uploader() -> str | None:
    """What to pass as ``Store.undo(allowed_uploader=...)``: None (any upload) for the owner or
    without a sign-in module; else the actor, so that only their own uploads can be undone."""
    who = _identity()
    if who is None:
        return None
    role = getattr(who, "role", None)
    role = str(getattr(role, "value", role) or "").strip().lower()
    if role == OWNER:
        return None
    name = actor()
    return "" if name == UNKNOWN else name  # "": matches no upload, so every undo is refused


def log_download(what: str, n_rows: int | None = None) -> None:
    """``st.download_button(on_click=log_download, args=(file_name, n_rows))``: record in the
    store's download log who downloaded ``what`` (a file name, never data). The file is already
    on its way when this runs, so a store that cannot be written gets a notice, not a refusal."""
    import streamlit as st

    from dashboard import state
    from dashboard.safe_text import md_escape
    from data.errors import ReliefCheckError

    try:
        state.store().record_download(actor(), what, n_rows)
    except ReliefCheckError as err:
        st.toast(
            f"This download could not be recorded in the audit log: {md_escape(err)}",
            icon=":material/warning:",
        )


def with_undone_by(table: pd.DataFrame, uploads: pd.DataFrame) -> pd.DataFrame:
    """``upload_flow.history_table(uploads)`` with "undone by" after "undone (UTC)" (when that
    column is shown), and blank uploaders (before they were recorded) as "not recorded"."""
    out = table.copy()
    if "uploaded by" in out:
        out["uploaded by"] = out["uploaded by"].fillna("").replace("", "not recorded")
    if "undone (UTC)" in out and "undone_by" in uploads:
        by = pd.Series(uploads["undone_by"].to_numpy(), index=uploads["upload_id"].to_numpy())
        undone = out["status"].eq("undone").to_numpy(dtype=bool)
        who = out["upload"].map(by).astype("string")
        who = who.mask(undone & who.isna(), "not recorded")
        out.insert(out.columns.get_loc("undone (UTC)") + 1, "undone by", who)
    return out


#: Audit event columns shown on the Settings page, with their headings.
EVENT_HEADINGS = {
    "at": "when (UTC)",
    "actor": "who",
    "action": "what happened",
    "upload_id": "upload",
    "what": "file or download",
    "detail": "detail",
}


def events_table(events: pd.DataFrame) -> pd.DataFrame:
    """``Store.list_audit()`` for people: newest first, times to the second, "not recorded"
    for actors of events from before the store kept them."""
    out = events.iloc[::-1].reset_index(drop=True)
    out["at"] = out["at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("s")
    out["actor"] = out["actor"].fillna("not recorded")
    return out[list(EVENT_HEADINGS)].rename(columns=EVENT_HEADINGS)
