"""Upload (clinicians): drop a CSV or XLSX export, check how its columns are read (and change
it), see the validation report with row numbers, download the rejected rows, and commit the
accepted assessments to the outcome store, all or nothing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import access, conflicts_view, payloads, state, validation_view
from dashboard import components as ui
from dashboard.components import md_escape
from dashboard.upload_flow import (
    changed_mapping,
    commit_changes,
    file_columns,
    is_workbook,
    mapping_targets,
    protocol_missing,
    result_downloads,
    result_tone,
    target_label,
    xlsx_sheets,
)
from data.errors import ReliefCheckError, UnusableFileError
from data.plurals import count_of
from data.readers.export import NOT_USED, read_export
from data.store import content_hash
from data.validation.privacy import refused_for_privacy
from data.validation.validate import validate

who = access.require_page("upload")  # before anything reads data

MAPPING_KEY = "upload_mapping"  # {"file": token, "mapping": dict | None}, set by the form
CHECK_KEY = "upload_checked"  # (check key, Validated or the error), the last check made
COMMIT_KEY = "upload_committed"  # {"check": check key, "result": CommitResult}
PREVIEW_KEY = "upload_preview"  # (check key, store version, CommitPreview or the error)
CANCEL_KEY = "upload_cancelled"  # the check key of the file whose commit was cancelled
PROTOCOL_KEY = "upload_default_protocol"
FIRST_SHEET = "(the first sheet with patient ids)"


def _digest(upload) -> str:
    """SHA-256 of the uploaded bytes, computed once per uploaded file."""
    memo = st.session_state.get("upload_digest")
    if not memo or memo[0] != upload.file_id:
        memo = (upload.file_id, content_hash(upload.getvalue()))
        st.session_state["upload_digest"] = memo
    return memo[1]


def _check(data: bytes, name: str, registry, mapping, sheet, default_protocol):
    """``data.ingest.load_export`` in its two steps (read, then validate) with progress between
    them; the Validated, or the error that makes the file unusable."""
    mb = len(data) / 1e6
    shown = md_escape(name)  # a status label is Markdown; the file name is the uploader's
    with st.status(f"Reading and checking {shown} ({mb:.1f} MB)…", expanded=True) as status:
        bar = st.progress(0.05, text="Reading the file")
        try:
            raw = read_export(data, filename=name, registry=registry, mapping=mapping, sheet=sheet)
            bar.progress(0.5, text=f"Checking {count_of(len(raw.frame), 'assessment')} one by one")
            checked = validate(raw, registry, default_protocol=default_protocol)
        except ReliefCheckError as err:
            status.update(label=f"{shown} cannot be used", state="error", expanded=False)
            return err
        bar.progress(1.0, text="Done")
        status.update(label=f"Read and checked {shown}", state="complete", expanded=False)
    return checked


def _protocol_choice(required: bool) -> None:
    """The protocol for every row of a file that has no protocol column."""
    with st.container(border=True):
        st.markdown(
            "**This file has no protocol column.** Choose the protocol of every patient in it "
            "(or type your practice's own name for it)."
            if required
            else "**Protocol for the whole file** (the file has no protocol column)"
        )
        st.selectbox(
            "Protocol of every patient in this file",
            ["intensive", "weekly"],
            index=None,
            placeholder="Choose or type a protocol…",
            accept_new_options=True,
            key=PROTOCOL_KEY,
        )


def _mapping_form(data: bytes, token: str, registry, sheet, *, examples: bool = True) -> None:
    """One box per column of the file, set to what was detected (or chosen before); applying
    reads the file again with the chosen mapping. ``examples=False`` (a file refused for
    personal data) shows the headers only; otherwise a column whose header or values look like
    personal data shows no examples either."""
    try:
        cols = file_columns(data, registry, sheet=sheet, examples=examples)
    except UnusableFileError:
        return  # the file cannot be read at all: the problems above say why
    applied = st.session_state.get(MAPPING_KEY)
    current = dict(cols.detected)
    if applied and applied["file"] == token and applied["mapping"]:
        current.update({h: None if t == NOT_USED else t for h, t in applied["mapping"].items()})
    targets: list[str | None] = [None, *mapping_targets(registry)]
    with st.form(f"upload_mapping_{token}", border=False):
        grid = st.columns(3)
        chosen: dict[str, str | None] = {}
        for i, header in enumerate(dict.fromkeys(cols.headers)):
            options = targets if current.get(header) in targets else [*targets, current[header]]
            with grid[i % 3]:
                chosen[header] = st.selectbox(
                    md_escape(header),  # a widget label is Markdown; headers come from the file
                    options,
                    index=options.index(current.get(header)),
                    format_func=lambda t: target_label(t, registry),
                    key=f"upload_map_{token}_{i}",
                )
                if header in cols.withheld:
                    st.caption("(examples hidden: they may identify a person)")
                elif examples:
                    st.caption(f"e.g. {md_escape(cols.examples.get(header) or '(empty)')}")
        apply = st.form_submit_button("Read the file again with this mapping", type="primary")
    if apply:
        st.session_state[MAPPING_KEY] = {
            "file": token,
            "mapping": changed_mapping(cols.detected, chosen),
        }
        st.rerun()


_BOXES = {
    "success": (st.success, ":material/check_circle:"),
    "warning": (st.warning, ":material/warning:"),
    "info": (st.info, ":material/info:"),
}


def _commit_result(result, name: str) -> None:
    """What the commit did: the store's message (green only when every row offered was stored
    or already there), a line per kind of row, and the rows replaced or not stored."""
    box, icon = _BOXES[result_tone(result)]
    box(md_escape(result.message), icon=icon)  # the message names the file
    st.dataframe(commit_changes(result), hide_index=True)
    for label, suffix, rows in result_downloads(result):
        st.download_button(
            label,
            lambda rows=rows: payloads.rows_csv(rows),  # formula-safe, made on click
            file_name=f"{name.rsplit('.', 1)[0]}_{suffix}.csv",
            mime="text/csv",
            on_click="ignore",
            key=f"commit_result_{suffix}",
        )
    st.page_link("app_pages/uploads.py", label="See the uploads history (and undo)")


def _preview(checked, name: str, digest: str, check_key: tuple):
    """What committing would do (``Store.preview``: nothing written), worked out once per
    checked file and store content version; the CommitPreview, or the error."""
    try:
        store = state.store()
        version = store.content_version()
        memo = st.session_state.get(PREVIEW_KEY)
        if memo is None or memo[0] != check_key or memo[1] != version:
            with st.spinner("Comparing the file with the outcome store…"):
                seen = store.preview(checked, filename=name, content_hash=digest)
            memo = (check_key, version, seen)
            st.session_state[PREVIEW_KEY] = memo
    except ReliefCheckError as err:
        return err
    return memo[2]


def _commit(checked, name: str, digest: str, *, replace: bool, expected_version: int) -> None:
    """Commit to the store (one transaction), remember the result and rerun, so every page
    shows the store's data at once. ``expected_version``: the store's version the preview
    read; the store refuses the commit if it has changed since (the preview is then redone)."""
    try:
        with st.spinner("Committing to the outcome store…"):
            result = state.store().commit(
                checked,
                filename=name,
                content_hash=digest,
                uploader=who.actor,  # the signed-in e-mail, or "local"
                replace=replace,
                expected_version=expected_version,
            )
    except ReliefCheckError as err:
        st.session_state.pop(PREVIEW_KEY, None)
        st.error(f"Nothing was stored. {md_escape(err)}")
        return
    st.session_state[COMMIT_KEY] = {"check": st.session_state[CHECK_KEY][0], "result": result}
    st.rerun()


ctx = state.context()
registry = ctx.registry
st.header("Upload an outcomes export", anchor=False)
st.markdown(
    "Drop a CSV or Excel (.xlsx) export of PHQ-9, GAD-7, PCL-5 or your own instruments' "
    "scores: long (one row per assessment) or wide (one row per visit). Anonymised data only: "
    "a file with names, emails, phone numbers, dates of birth or record numbers is refused."
)
upload = st.file_uploader("Outcomes export", type=["csv", "xlsx"], key="upload_file")
if upload is None:
    st.caption(
        "Checking a file stores nothing: you see the validation report first and decide then."
    )
    st.stop()

data, name = upload.getvalue(), upload.name
digest = _digest(upload)
sheet = None
if is_workbook(data):
    sheets = xlsx_sheets(data)
    if len(sheets) > 1:
        picked = st.selectbox("Sheet", [FIRST_SHEET, *sheets], key=f"upload_sheet_{digest[:8]}")
        sheet = None if picked == FIRST_SHEET else picked
token = f"{upload.file_id[:8]}_{sheet or ''}"
applied = st.session_state.get(MAPPING_KEY)
mapping = applied["mapping"] if applied and applied["file"] == token else None
default_protocol = st.session_state.get(PROTOCOL_KEY)
key = (upload.file_id, tuple((mapping or {}).items()), sheet, default_protocol)
key += (state.text_key(ctx.registry_text),)
memo = st.session_state.get(CHECK_KEY)
if memo is None or memo[0] != key:
    memo = (key, _check(data, name, registry, mapping, sheet, default_protocol))
    st.session_state[CHECK_KEY] = memo
checked = memo[1]

if isinstance(checked, UnusableFileError):
    st.error("**This file cannot be used, and nothing from it has been stored.**")
    ui.problem_list(checked.problems)
    if protocol_missing(checked):
        _protocol_choice(required=True)
    private = refused_for_privacy(checked.problems)
    with st.expander("Column mapping: how each column of the file is read", expanded=True):
        st.caption(
            "Tell ReliefCheck what each column holds, then read the file again. A column set "
            "to (not used) is left out unread: nothing in it is checked, shown or stored."
            + (" Only the headers are shown: this file holds personal data." if private else "")
        )
        _mapping_form(data, token, registry, sheet, examples=not private)
    st.stop()
if isinstance(checked, ReliefCheckError):
    st.error(md_escape(checked))
    st.stop()

raw = checked.raw
validation_view.headline(checked)
facts = [f"{raw.shape} format", count_of(checked.tidy["patient_id"].nunique(), "patient")]
if raw.encoding:
    facts.append(f"text encoding {raw.encoding}")
if raw.sheet:
    facts.append(f"sheet '{md_escape(raw.sheet)}'")
if mapping:
    facts.append("your column mapping")
st.caption(" · ".join(facts))
if "protocol" not in raw.origin:
    _protocol_choice(required=False)

with st.expander("Column mapping: how each column of the file is read"):
    if st.toggle("Change the mapping", key=f"upload_edit_map_{token}"):
        _mapping_form(data, token, registry, sheet)
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "column in your file": list(raw.origin.values()),
                    "read as": [
                        target_label(c.replace("/score", "").replace("/", ":"), registry)
                        for c in raw.origin
                    ],
                }
            ),
            hide_index=True,
        )
        st.caption("Columns not listed were not recognised and are not stored.")

validation_view.report(checked, name, token)
if len(checked.rejects):
    st.download_button(
        f"Download the {count_of(checked.rejects['row'].nunique(), 'row')} set aside (CSV)",
        lambda: payloads.rejects_csv(checked),  # formula-safe, made on click
        file_name=f"{name.rsplit('.', 1)[0]}_rejected_rows.csv",
        mime="text/csv",
        on_click="ignore",
    )

st.subheader("Preview of the accepted assessments", anchor=False)
st.dataframe(validation_view.preview_frame(checked.tidy.head(200)), hide_index=True)
if len(checked.tidy) > 200:
    st.caption(f"The first 200 of {len(checked.tidy):,} accepted assessments.")

st.subheader("Commit to the store", anchor=False)
done = st.session_state.get(COMMIT_KEY)
if done and done["check"] == key:
    _commit_result(done["result"], name)
    st.caption("To add another export, drop it in the box at the top of the page.")
    st.stop()
if checked.tidy.empty:
    st.warning("No row passed the checks, so there is nothing to commit. Fix the file and retry.")
    st.stop()
if st.session_state.get(CANCEL_KEY) == key:
    st.info(
        f"Cancelled: nothing from {md_escape(name)} was stored. To add another export, drop it "
        "in the box at the top of the page.",
        icon=":material/cancel:",
    )
    if st.button("Compare this file with the store again", key="commit_again"):
        st.session_state.pop(CANCEL_KEY, None)
        st.rerun()
    st.stop()
n_patients = checked.tidy["patient_id"].nunique()
st.markdown(
    f"Committing stores this file's new assessments (of {len(checked.tidy):,} accepted, "
    f"{n_patients:,} patients) in one step: all of them, or, if anything goes wrong, none. An "
    "upload can be undone from the history."
    + (
        f" The {count_of(aside, 'row')} of the file set aside by the checks "
        f"{'is' if aside == 1 else 'are'} not stored."
        if (aside := validation_view.validated_counts(checked).set_aside)
        else ""
    )
)
st.caption(f"Recorded in the upload history as **{md_escape(who.actor)}**.")
preview = _preview(checked, name, digest, key)
if isinstance(preview, ReliefCheckError):
    st.error(
        "This file cannot be compared with the outcome store, so nothing can be committed. "
        f"{md_escape(preview)}"
    )
    st.stop()
choice = conflicts_view.show(preview, name=name, n_rejected=len(checked.rejects), token=digest[:12])
if choice == "cancel":
    st.session_state[CANCEL_KEY] = key
    st.rerun()
elif choice is not None:
    _commit(
        checked,
        name,
        digest,
        replace=choice == "replace",
        expected_version=preview.content_version,
    )
