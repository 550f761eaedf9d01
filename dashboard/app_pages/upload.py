"""Upload (clinicians): drop a CSV or XLSX export, check how its columns are read (and change
it), see the validation report with row numbers, download the rejected rows, and commit the
accepted assessments to the outcome store, all or nothing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import access, payloads, state
from dashboard import components as ui
from dashboard.components import md_escape
from dashboard.upload_flow import (
    changed_mapping,
    commit_changes,
    file_columns,
    is_workbook,
    mapping_targets,
    protocol_missing,
    target_label,
    xlsx_sheets,
)
from data.errors import ReliefCheckError, UnusableFileError
from data.readers import read_export
from data.store import content_hash
from data.validation import validate

who = access.require_page("upload")  # before anything reads data

MAPPING_KEY = "upload_mapping"  # {"file": token, "mapping": dict | None}, set by the form
CHECK_KEY = "upload_checked"  # (check key, Validated or the error), the last check made
COMMIT_KEY = "upload_committed"  # {"check": check key, "result": CommitResult}
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
            bar.progress(0.5, text=f"Checking {len(raw.frame):,} assessments row by row")
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


def _mapping_form(data: bytes, token: str, registry, sheet) -> None:
    """One box per column of the file, set to what was detected (or chosen before); applying
    reads the file again with the chosen mapping."""
    try:
        cols = file_columns(data, registry, sheet=sheet)
    except UnusableFileError:
        return  # the file cannot be read at all: the problems above say why
    applied = st.session_state.get(MAPPING_KEY)
    current = dict(cols.detected)
    if applied and applied["file"] == token and applied["mapping"]:
        current.update(applied["mapping"])
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
                st.caption(f"e.g. {md_escape(cols.examples.get(header) or '(empty)')}")
        apply = st.form_submit_button("Read the file again with this mapping", type="primary")
    if apply:
        st.session_state[MAPPING_KEY] = {
            "file": token,
            "mapping": changed_mapping(cols.detected, chosen),
        }
        st.rerun()


def _commit_result(result, checked, name: str, digest: str) -> None:
    """What the commit did: the store's message, a line per kind of row, the set-aside rows."""
    box = st.success if result.committed else st.info
    icon = ":material/check_circle:" if result.committed else None
    box(md_escape(result.message), icon=icon)  # the message names the file
    st.dataframe(commit_changes(result), hide_index=True)
    if len(result.set_aside):
        st.download_button(
            f"Download the {len(result.set_aside)} rows the store set aside (CSV)",
            lambda: payloads.set_aside_csv(result),  # formula-safe, made on click
            file_name=f"{name.rsplit('.', 1)[0]}_set_aside.csv",
            mime="text/csv",
            on_click="ignore",
        )
    if result.n_conflicts and not result.n_replaced:
        st.caption(
            f"{result.n_conflicts} rows differ from scores already stored and were left alone."
        )
        if st.button(f"Replace those {result.n_conflicts} stored scores with this file's"):
            _commit(checked, name, digest, replace=True)
    st.page_link("app_pages/uploads.py", label="See the uploads history (and undo)")


def _commit(checked, name: str, digest: str, *, replace: bool) -> None:
    """Commit to the store (one transaction), remember the result and rerun, so every page
    shows the store's data at once."""
    try:
        with st.spinner("Committing to the outcome store…"):
            result = state.store().commit(
                checked,
                filename=name,
                content_hash=digest,
                uploader=who.actor,  # the signed-in e-mail, or "local"
                replace=replace,
            )
    except ReliefCheckError as err:
        st.error(f"Nothing was stored. {md_escape(err)}")
        return
    st.session_state[COMMIT_KEY] = {"check": st.session_state[CHECK_KEY][0], "result": result}
    st.rerun()


def _problems_table(problems) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "severity": [p.severity for p in problems],
            "row": [p.row for p in problems],
            "column": [p.column for p in problems],
            "problem": [p.message for p in problems],
            "how to fix": [p.fix for p in problems],
        }
    ).astype({"row": "Int64"})


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
    with st.expander("Column mapping: how each column of the file is read", expanded=True):
        st.caption("Tell ReliefCheck what each column holds, then read the file again.")
        _mapping_form(data, token, registry, sheet)
    st.stop()
if isinstance(checked, ReliefCheckError):
    st.error(md_escape(checked))
    st.stop()

raw = checked.raw
n_rows = raw.n_source_rows or len(raw.frame)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Rows in the file", f"{n_rows:,}")
c2.metric(
    "Assessments accepted",
    f"{len(checked.tidy):,}",
    help="One per questionnaire score: a row of a wide file with PHQ-9, GAD-7 and PCL-5 "
    "totals gives three assessments.",
)
c3.metric("Rows set aside", f"{len(checked.rejects):,}")
c4.metric("Warnings", f"{len(checked.warnings):,}")
facts = [f"{raw.shape} format", f"{checked.tidy['patient_id'].nunique():,} patients"]
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

if checked.problems:
    st.subheader("Validation report", anchor=False)
    n_err, n_warn = len(checked.errors), len(checked.warnings)
    st.caption(f"{n_err} errors (rows set aside) and {n_warn} warnings (rows kept).")
    ui.problem_list(checked.problems)
    if len(checked.problems) > 30:
        st.dataframe(_problems_table(checked.problems), hide_index=True)
else:
    st.success("Every row passed the checks.", icon=":material/task_alt:")
if len(checked.rejects):
    st.download_button(
        f"Download the {len(checked.rejects)} rows set aside (CSV)",
        lambda: payloads.rejects_csv(checked),  # formula-safe, made on click
        file_name=f"{name.rsplit('.', 1)[0]}_rejected_rows.csv",
        mime="text/csv",
        on_click="ignore",
    )

st.subheader("Preview of the accepted assessments", anchor=False)
st.dataframe(checked.tidy.head(200), hide_index=True)
if len(checked.tidy) > 200:
    st.caption(f"The first 200 of {len(checked.tidy):,} accepted assessments.")

st.subheader("Commit to the store", anchor=False)
done = st.session_state.get(COMMIT_KEY)
if done and done["check"] == key:
    _commit_result(done["result"], checked, name, digest)
    st.caption("To add another export, drop it in the box at the top of the page.")
    st.stop()
if checked.tidy.empty:
    st.warning("No row passed the checks, so there is nothing to commit. Fix the file and retry.")
    st.stop()
n_patients = checked.tidy["patient_id"].nunique()
st.markdown(
    f"Committing stores the **{len(checked.tidy):,} accepted assessments** of {n_patients:,} "
    "patients in one step: all of them, or, if anything goes wrong, none. Assessments already "
    "stored are recognised and not stored twice; an upload can be undone from the history."
    + (
        f" The {len(checked.rejects):,} rows set aside are not stored."
        if len(checked.rejects)
        else ""
    )
)
left, right = st.columns(2)
left.caption(f"Recorded in the upload history as **{md_escape(who.actor)}**.")
right.checkbox(
    "Replace stored scores that differ from this file's",
    key="upload_replace",
    help="Off: a row whose patient, instrument, session and day are stored with another score "
    "is left alone and listed. On: this file's score replaces the stored one (undo restores it).",
)
if st.button(f"Commit {len(checked.tidy):,} assessments to the store", type="primary"):
    _commit(checked, name, digest, replace=bool(st.session_state.get("upload_replace")))
