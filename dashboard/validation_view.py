"""The Upload page's headline counts and validation report (docs/upload.md).

The counts are in spreadsheet rows and add up (read = accepted + set aside + exact repeats
skipped); assessments are explained beside them. The report has one line per rule and column
(``data.validation.report_groups.group_findings``), filterable by severity and column, and every finding
downloads as a formula-safe CSV, so a file with thousands of findings stays readable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import payloads
from dashboard.safe_text import md_escape
from data.plurals import count_of
from data.validation.cells import fmt_numbers
from data.validation.report_groups import (
    NO_COLUMN,
    column_choices,
    filter_findings,
    group_findings,
    problems_findings,
    validated_counts,
)

#: Grouped lines written out as text; any further ones are listed in a table underneath.
LINES_SHOWN = 40
SEVERITY_KEY = "upload_report_severity"
COLUMN_KEY = "upload_report_columns"
_BADGE = {"error": ":red-badge[error]", "warning": ":orange-badge[warning]"}


def findings_of(checked) -> pd.DataFrame:
    """Every finding of a ``Validated`` (uncapped), or, for one made without them, its
    problems as findings."""
    found = getattr(checked, "findings", None)
    return found if found is not None else problems_findings(checked.problems)


def headline(checked) -> None:
    """The rows of the file and what became of them, as metrics and as a sum that adds up;
    the accepted assessments (one per questionnaire score) beside them."""
    counts = validated_counts(checked)
    cols = st.columns(5)
    cols[0].metric("Rows in the file", f"{counts.read:,}")
    cols[1].metric(
        "Rows accepted",
        f"{counts.accepted + counts.partly:,}",
        help="Rows with at least one assessment accepted"
        + (f" ({counts.partly:,} of them only partly)." if counts.partly else "."),
    )
    cols[2].metric("Rows set aside", f"{counts.set_aside:,}", help="Rows with an error.")
    cols[3].metric(
        "Exact repeats skipped",
        f"{counts.repeats:,}",
        help="Rows identical to an earlier row of the file; the first is kept.",
    )
    cols[4].metric(
        "Assessments accepted",
        f"{counts.assessments:,}",
        help="One per questionnaire score: a row of a wide file with PHQ-9, GAD-7 and PCL-5 "
        "totals gives three assessments.",
    )
    st.markdown(f"**{counts.equation()}**")
    per_row = (
        "one per row"
        if counts.assessments == counts.accepted + counts.partly
        else "one per questionnaire score, so a row of a wide file can give several"
    )
    note = (
        f" A partly accepted row is a visit whose scores were accepted for some "
        f"questionnaires and set aside for others ({count_of(counts.partly, 'row')})."
        if counts.partly
        else ""
    )
    st.caption(
        f"The accepted rows give {count_of(counts.assessments, 'assessment')} ({per_row}).{note}"
    )


def _line(g) -> str:
    """One grouped line in Markdown: badge, column, how many rows and which, problem, fix."""
    column = "no single column" if g.column == NO_COLUMN else f"column {md_escape(g.column)}"
    rows = f" (rows {g.rows})" if g.rows and g.count > 1 else f" (row {g.rows})" if g.rows else ""
    what = md_escape(g.problem) if g.same else f"e.g. {md_escape(g.problem)}"
    return (
        f"{_BADGE.get(g.severity, g.severity)} **{column} · {count_of(g.count, 'row')}**"
        f"{rows}: {what}  \n**Fix:** {md_escape(g.fix)}"
    )


def report(checked, name: str, token: str = "") -> None:
    """The validation report: a line per rule and column with its count, first rows and fix;
    severity and column filters (kept per file: ``token``); every (filtered) finding as a CSV
    download."""
    findings = findings_of(checked)
    if findings.empty:
        st.success("Every row passed the checks.", icon=":material/task_alt:")
        return
    st.subheader("Validation report", anchor=False)
    severity = findings["severity"]
    n_err, n_warn = int((severity == "error").sum()), int((severity == "warning").sum())
    every = group_findings(findings)
    st.caption(
        f"{count_of(n_err, 'error')} (their rows are set aside) and "
        f"{count_of(n_warn, 'warning')} (their rows are kept), of "
        f"{count_of(len(every), 'kind')}: one line per kind of problem and column."
    )
    left, right = st.columns([1, 2])
    chosen_sev = left.segmented_control(
        "Severity",
        ["error", "warning"],
        selection_mode="multi",
        format_func=lambda s: {"error": "Errors", "warning": "Warnings"}[s],
        key=f"{SEVERITY_KEY}_{token}",
    )
    chosen_cols = right.multiselect(
        "Column",
        column_choices(findings),
        placeholder="All columns",
        key=f"{COLUMN_KEY}_{token}",
    )
    shown = filter_findings(findings, chosen_sev, chosen_cols)
    groups = group_findings(shown) if len(shown) < len(findings) else every
    if groups.empty:
        st.caption("No finding matches these filters.")
    else:
        head = groups.head(LINES_SHOWN)
        st.markdown("\n\n".join(_line(g) for g in head.itertuples(index=False)))
        if len(groups) > LINES_SHOWN:
            st.caption(f"… and {count_of(len(groups) - LINES_SHOWN, 'more kind')}:")
            rest = groups.iloc[LINES_SHOWN:].drop(columns=["same"])
            st.dataframe(rest, hide_index=True)
    filtered = len(shown) < len(findings)
    label = (
        f"Download the {count_of(len(shown), 'finding')} shown (CSV)"
        if filtered
        else f"Download all {count_of(len(findings), 'finding')} (CSV)"
        if len(findings) > 1
        else "Download the finding (CSV)"
    )
    st.download_button(
        label,
        lambda: payloads.findings_csv(shown),  # formula-safe, made on click
        file_name=f"{name.rsplit('.', 1)[0]}_findings.csv",
        mime="text/csv",
        on_click="ignore",
        disabled=shown.empty,
        help="Every finding, one line per row and rule: row, column, severity, problem, fix.",
    )


def preview_frame(tidy: pd.DataFrame) -> pd.DataFrame:
    """Accepted assessments for the preview table, with missing cells blank: a column with
    any missing value becomes text ("12", "7.5", "yes"), its missing cells empty, instead of
    the table's raw None or <NA>; columns without a gap are passed on as they are."""
    out = tidy.copy(deep=False)
    for col in out.columns:
        values = out[col]
        missing = values.isna().to_numpy(dtype=bool)
        if not missing.any():
            continue
        if pd.api.types.is_bool_dtype(values.dtype):
            text = values.map({True: "yes", False: "no"}).astype("string")
        elif pd.api.types.is_numeric_dtype(values.dtype):
            numbers = values.to_numpy(dtype=float, na_value=np.nan)
            text = fmt_numbers(np.where(missing, 0.0, numbers)).set_axis(values.index)
        else:
            text = values.astype("string")
        out[col] = text.where(~missing, "")
    return out
