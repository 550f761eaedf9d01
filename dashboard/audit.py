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

from dashboard import times
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


def logged_download(
    where, label: str, data, file_name: str, mime: str, *, n_rows: int | None = None, **options
):
    """``where.download_button`` (``where``: ``st`` or a column) for ``file_name``, recorded in
    the download log under that same name (``log_download``) when pressed; ``options`` go to
    the button (key, icon, width)."""
    return where.download_button(
        label,
        data,
        file_name=file_name,
        mime=mime,
        on_click=log_download,
        args=(file_name, n_rows),
        **options,
    )


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
    """``upload_flow.history_table(uploads)`` with "undone by" after the "undone (zone)" time
    (when that column is shown; blank for uploads not undone), and blank uploaders (before they
    were recorded) as "not recorded"."""
    out = table.copy()
    if "uploaded by" in out:
        out["uploaded by"] = out["uploaded by"].fillna("").replace("", "not recorded")
    undone_col = next((c for c in out.columns if str(c).startswith("undone (")), None)
    if undone_col is not None and "undone_by" in uploads:
        by = pd.Series(uploads["undone_by"].to_numpy(), index=uploads["upload_id"].to_numpy())
        undone = out["status"].eq("undone").to_numpy(dtype=bool)
        who = out["upload"].map(by).astype("string")
        who = who.mask(undone & who.isna(), "not recorded").fillna("")
        out.insert(out.columns.get_loc(undone_col) + 1, "undone by", who)
    return out


#: Audit event columns shown on the Settings page, with their headings ("at" gets the zone).
EVENT_HEADINGS = {
    "at": "when (UTC)",
    "actor": "who",
    "action": "what happened",
    "upload_id": "upload",
    "what": "file or download",
    "detail": "detail",
}


def events_table(events: pd.DataFrame, zone: str = times.UTC) -> pd.DataFrame:
    """``Store.list_audit()`` for people: newest first, times to the second in ``zone`` (named
    in the heading; downloads keep UTC), "not recorded" for actors of events from before the
    store kept them."""
    out = events.iloc[::-1].reset_index(drop=True)
    out["at"] = times.local_times(out["at"], zone)
    out["actor"] = out["actor"].fillna("not recorded")
    names = {**EVENT_HEADINGS, "at": times.heading("when", zone)}
    return out[list(EVENT_HEADINGS)].rename(columns=names)


#: The audit log's detail fields in words, in the order shown; other fields follow, named
#: with spaces for underscores. Counts of zero are left out.
DETAIL_FIELDS = {
    "filename": "file",
    "uploader": "uploaded by",
    "instrument": "instrument",
    "session": "session",
    "day": "day",
    "old_score": "score before",
    "new_score": "new score",
    "score": "score",
    "replaced_row": "stored row",
    "restored_row": "stored row",
    "from_upload": "from upload",
    "duplicate_of": "same content as upload",
    "n_rows": "rows offered",
    "n_added": "added",
    "n_already_stored": "already stored",
    "n_conflicts": "differed",
    "n_replaced": "replaced",
    "n_unaligned": "set aside (days not lined up)",
    "n_file_clashes": "set aside (clash in the file)",
    "n_duplicates_in_file": "repeats in the file",
    "n_rejected": "rejected",
    "n_removed": "removed",
    "n_restored": "restored",
    "n_reanchored": "days moved",
    "n_kept": "kept (other uploads)",
    "n_scores": "scores stored",
    "sha256": "SHA-256",
}
#: The audit log's columns on the Uploads page, with their headings ("at" gets the zone).
AUDIT_HEADINGS = {
    "at": "when (UTC)",
    "action": "what happened",
    "upload_id": "upload",
    "patient_id": "patient (pseudonym)",
    "actor": "who",
    "detail": "detail",
}


def _value_text(values: pd.Series) -> pd.Series:
    """A detail field's values as text: whole numbers without ".0", thousands separated."""
    num = pd.to_numeric(values, errors="coerce")
    whole = num.notna() & (num == num.round())
    text = values.astype("string")
    text = text.mask(num.notna(), num.map("{:,.6g}".format).astype("string"))
    return text.mask(whole, num[whole].map("{:,.0f}".format).astype("string"))


def detail_text(details: pd.Series) -> pd.Series:
    """The audit log's ``detail`` (JSON objects as text) as "field: value" pairs in words,
    joined by " · " (e.g. "file: march.csv · rows offered: 561 · added: 561"). Counts of zero
    and empty fields are left out; text that is not a JSON object is shown as it is. The values
    are plain text for a table cell; pages that render them as Markdown escape them."""
    parsed = [_json_object(x) for x in details.astype("string").fillna("").tolist()]
    fields = pd.json_normalize([p or {} for p in parsed], max_level=0)
    fields.index = details.index
    order = [c for c in DETAIL_FIELDS if c in fields] + sorted(
        c for c in fields if c not in DETAIL_FIELDS
    )
    out = pd.Series("", index=details.index, dtype="string")
    for col in order:
        values = fields[col]
        num = pd.to_numeric(values, errors="coerce")
        keep = values.notna() & values.astype("string").str.strip().ne("")
        if col.startswith("n_"):
            keep &= num.fillna(0).ne(0)
        label = DETAIL_FIELDS.get(col, col.replace("_", " "))
        pair = (label + ": " + _value_text(values)).where(keep, "")
        out = out.str.cat(pair, sep=" · ").str.strip(" ·")
    raw = pd.Series([p is None for p in parsed], index=details.index)
    return out.mask(raw.to_numpy(), details.astype("string").fillna(""))


def _json_object(text: str) -> dict | None:
    """A JSON object from the store's detail text; None when it is not one."""
    import json

    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def audit_table(log: pd.DataFrame, zone: str = times.UTC) -> pd.DataFrame:
    """``Store.audit_log()`` for people (the Uploads page): newest first, the time in ``zone``
    (named in the heading), the detail as readable "field: value" pairs (``detail_text``), blank
    where a patient or upload does not apply, "not recorded" for actors from before the store
    kept them."""
    out = log.iloc[::-1].reset_index(drop=True)
    out["at"] = times.local_times(out["at"], zone)
    out["detail"] = detail_text(out["detail"])
    out["patient_id"] = out["patient_id"].astype("string").fillna("")
    out["upload_id"] = out["upload_id"].astype("Int64").astype("string").fillna("")
    out["actor"] = out["actor"].astype("string").fillna("not recorded")
    names = {**AUDIT_HEADINGS, "at": times.heading("when", zone)}
    return out[list(AUDIT_HEADINGS)].rename(columns=names)


def counted(n: int, one: str, many: str | None = None) -> str:
    """ "1 assessment", "2 assessments", "1,234 assessments": the number and its noun agree."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
