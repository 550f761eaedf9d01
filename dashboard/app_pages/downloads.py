"""Downloads (researchers): every table as CSV, XLSX with a Methods sheet and Markdown, the
de-identified tidy dataset and an HTML report, all following the sidebar filters."""

from __future__ import annotations

import streamlit as st

from analysis.tables import DEFAULT_MIN_N, neutralise_formulas
from dashboard import components as ui
from dashboard import results, state

ctx = state.context()
ref, reg_text, filters = ctx.ref, ctx.registry_text, ctx.filters
st.header("Downloads", anchor=False)
ui.filters_caption(filters.describe())
st.markdown(
    f"Every download follows the sidebar filters. Tables hide counts below {DEFAULT_MIN_N} "
    f"(shown as <{DEFAULT_MIN_N}) and the figures computed from them, and text that a "
    "spreadsheet would run as a formula is made harmless."
)
stem = "reliefcheck_demo" if ref.is_demo else "reliefcheck"

st.subheader("The assessments (de-identified tidy dataset)", anchor=False)
t = results.tidy(ref, filters)
st.caption(
    f"{len(t)} assessments of {t['patient_id'].nunique()} patients: pseudonymous ids, days "
    "since each patient's baseline (no dates), scores and item answers."
)
st.download_button(
    "Assessments (CSV)",
    lambda: neutralise_formulas(t).to_csv(index=False).encode("utf-8"),  # made on click
    file_name=f"{stem}_assessments.csv",
    mime="text/csv",
    on_click="ignore",
    disabled=t.empty,
)

st.subheader("Tables", anchor=False)
o = results.outcomes(ref, reg_text, filters)
if o.empty:
    st.caption("No patients under the current filters.")
else:
    table = results.rates_export(ref, reg_text, filters)
    st.markdown(f"**{table.title}**")
    st.caption(" ".join(table.notes))
    st.download_button(
        "Outcome rates (CSV)",
        table.frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{stem}_{table.name}.csv",
        mime="text/csv",
        on_click="ignore",
    )
# SEAM: the other tables (Table 1, effect sizes, protocol comparisons, growth models, claims)
# in CSV, XLSX with the Methods sheet and Markdown, and the HTML report, come with the table
# writers.
ui.not_available(
    "Every table as CSV, XLSX (with the Methods sheet) and Markdown, and the HTML report",
    "the table writers (analysis.export)",
)
