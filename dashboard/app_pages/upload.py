"""Upload (clinicians): drop a CSV or XLSX export, see how its columns were read, the
validation report with row numbers, download the rejected rows, and commit all or nothing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import components as ui
from dashboard import state
from data.errors import ReliefCheckError, UnusableFileError


@st.cache_data(show_spinner=False, max_entries=4)
def _validate(data: bytes, filename: str, reg_text: str | None):
    from data.ingest import load_export

    return load_export(data, filename=filename, registry=state.registry_from_text(reg_text))


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

try:
    with st.spinner(f"Reading and checking {upload.name}…"):
        checked = _validate(upload.getvalue(), upload.name, ctx.registry_text)
except UnusableFileError as err:
    st.error("**This file cannot be used, and nothing from it has been stored.**")
    ui.problem_list(err.problems)
    st.stop()
except ReliefCheckError as err:
    st.error(str(err))
    st.stop()

raw = checked.raw
n_rows = raw.n_source_rows or len(raw.frame)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Rows in the file", n_rows)
c2.metric("Assessments accepted", len(checked.tidy))
c3.metric("Rows set aside", len(checked.rejects))
c4.metric("Warnings", len(checked.warnings))
facts = [f"{raw.shape} format"]
if raw.encoding:
    facts.append(f"text encoding {raw.encoding}")
if raw.sheet:
    facts.append(f"sheet '{raw.sheet}'")
st.caption(" · ".join(facts))

with st.expander("How the columns were read", expanded=False):
    mapping = pd.DataFrame(
        {"ReliefCheck column": list(raw.origin), "column in your file": list(raw.origin.values())}
    )
    st.dataframe(mapping, hide_index=True)
    st.caption("Columns not listed were not recognised and are not stored.")
    # SEAM: editing the mapping (read_export(mapping=...)) comes with the second half of the
    # upload page.

if checked.problems:
    st.subheader("Validation report", anchor=False)
    ui.problem_list(checked.problems)
    if len(checked.problems) > 30:
        st.dataframe(_problems_table(checked.problems), hide_index=True)
if len(checked.rejects):
    st.download_button(
        f"Download the {len(checked.rejects)} rows set aside (CSV)",
        checked.rejects.to_csv(index=False).encode("utf-8"),
        file_name=f"{upload.name.rsplit('.', 1)[0]}_rejected_rows.csv",
        mime="text/csv",
    )

st.subheader("Preview of the accepted assessments", anchor=False)
st.dataframe(checked.tidy.head(200), hide_index=True)

st.subheader("Commit", anchor=False)
# SEAM: data.store (open_store(url).commit(...)) is not in yet; the commit button, what the
# upload changed and progress on large files come with it.
ui.not_available("Committing to the outcome store (all or nothing)", "data.store")
