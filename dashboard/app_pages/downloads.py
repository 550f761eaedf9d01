"""Downloads (researchers): every table as CSV, all of them as XLSX (with the Methods sheet) and
Markdown, the JSON summary, a self-contained HTML report and the de-identified tidy dataset,
all following the sidebar filters. The bootstrap CIs and growth models are added on request."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import streamlit as st

from analysis.export import to_csv_bytes, to_markdown, to_xlsx_bytes
from analysis.figures import with_slow_figures
from analysis.methods import methods_info
from analysis.summary import summary_json
from analysis.tables import DEFAULT_MIN_N, prepare_for_export
from analysis.tables import wide_for_display as table_view
from analysis.trajectories import by_session
from dashboard import access, payloads, report, results, state
from dashboard import components as ui
from dashboard.audit import log_download
from data.access import may
from data.errors import ReliefCheckError

who = access.require_page("downloads")  # before anything reads data

SLOW_KEY = "downloads_slow_figures"  # {token: Figures with bootstrap CIs and growth models}

ctx = state.context()
ref, reg_text, filters, registry = ctx.ref, ctx.registry_text, ctx.filters, ctx.registry
config = state.claims_config()
st.header("Downloads", anchor=False)
ui.filters_caption(filters.describe())
st.markdown(
    f"Every download follows the sidebar filters and the claims thresholds. Tables hide counts "
    f"below {DEFAULT_MIN_N} (shown as <{DEFAULT_MIN_N}) and the figures computed from them, and "
    "text that a spreadsheet would run as a formula is made harmless. The same tables come "
    "from the command line: `python -m analysis tables`."
)
stem = "reliefcheck_demo" if ref.is_demo else "reliefcheck"
t = results.tidy(ref, filters)
if t.empty:
    st.info("No patients match the current filters. Widen the filters in the sidebar.")
    st.stop()

stamp = state.settings_stamp(config)
ui.settings_stamp(stamp)
fast = replace(results.figures(ref, reg_text, filters, config), settings=stamp)
token = (ref, reg_text, filters, config)
slow = st.session_state.get(SLOW_KEY, {}).get(token)
fig = replace(slow, settings=stamp) if slow is not None else fast
n_paired = int(fast.outcomes["paired"].fillna(False).astype(bool).sum())

with st.container(border=True):
    if slow is None:
        st.markdown(
            "**Bootstrap CIs and growth models are not included yet.** The tables give g_av "
            "without its confidence interval (d_z has its own) and no growth models. Adding "
            f"them takes 2,000 bootstrap resamples of {n_paired:,} paired patients and a "
            "mixed-effects model per instrument: a few seconds, longer on large data."
        )
        if st.button("Add bootstrap CIs and growth models", type="primary", key="dl_slow"):
            bar = st.progress(0.0, text="Starting")
            try:
                slow = with_slow_figures(
                    fast,
                    t,
                    registry,
                    progress=lambda f, m: bar.progress(min(f, 1.0), text=ui.md_escape(m)),
                )
            except ReliefCheckError as err:
                st.error(ui.md_escape(err))
                st.stop()
            st.session_state[SLOW_KEY] = {token: slow}
            st.rerun()
    else:
        st.markdown(
            f"**Included:** BCa bootstrap CIs of g_av ({slow.n_boot:,} resamples) and the "
            "growth models."
        )

tables = results.research(
    ref, reg_text, filters, config, fig.n_boot, bool(fig.models), stamp.text(), fig
)
methods = methods_info(registry, config.to_dict(), dt.date.today(), stamp=stamp)
claims = list(fig.claims)

st.subheader("Everything at once", anchor=False)
c1, c2, c3, c4 = st.columns(4)
c1.download_button(
    "All tables (XLSX)",
    lambda: to_xlsx_bytes(tables, methods),
    file_name=f"{stem}_tables.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    on_click=log_download,
    args=(f"{stem}_tables.xlsx",),
    icon=":material/table_view:",
    width="stretch",
)
c2.download_button(
    "All tables (Markdown)",
    lambda: to_markdown(tables, methods=methods).encode("utf-8"),
    file_name=f"{stem}_tables.md",
    mime="text/markdown",
    on_click=log_download,
    args=(f"{stem}_tables.md",),
    icon=":material/description:",
    width="stretch",
)
c3.download_button(
    "Summary (JSON)",
    lambda: json.dumps(summary_json(fig), indent=2, default=str).encode("utf-8"),
    file_name=f"{stem}_summary.json",
    mime="application/json",
    on_click=log_download,
    args=(f"{stem}_summary.json",),
    icon=":material/data_object:",
    width="stretch",
)
rates_frame = next((x.frame for x in tables if x.name == "outcomes"), None)
note = (
    f"Synthetic demo data: {ref.n_patients} made-up patients, not real outcomes."
    if ref.is_demo
    else None
)
dataset = (
    "synthetic demo cohort" if ref.is_demo else f"outcome store (version {ref.version})"
) + f", {t['patient_id'].nunique():,} patients"
c4.download_button(
    "Report (HTML)",
    lambda: report.html_report(
        figures=report.report_figures(by_session(t), rates_frame, fig.effects, registry),
        tables=tables,
        claims=claims,
        methods=methods,
        filters=filters.describe(),
        dataset=dataset,
        synthetic_note=note,
        settings_stamp=stamp.text(),
    ).encode("utf-8"),
    file_name=f"{stem}_report.html",
    mime="text/html",
    on_click=log_download,
    args=(f"{stem}_report.html",),
    icon=":material/article:",
    width="stretch",
)
st.caption(
    "The XLSX workbook starts with a Methods sheet: software and date, every definition, "
    "instrument cut-off and claims threshold the figures were computed with. The HTML report "
    "is one file with the key figures, the claims, the tables and the methods; it opens "
    "offline in any browser."
)

st.subheader("Tables one by one (CSV)", anchor=False)
for table in tables:
    with st.container(border=True):
        left, right = st.columns([4, 1])
        left.markdown(f"**{ui.md_escape(table.title)}**")  # titles and notes may name labels
        if table.notes:
            left.caption(ui.md_escape(" ".join(table.notes)))
        right.download_button(
            "CSV",
            lambda table=table: to_csv_bytes(table),
            file_name=f"{stem}_{table.name}.csv",
            mime="text/csv",
            on_click=log_download,
            args=(f"{stem}_{table.name}.csv", len(table.frame)),
            key=f"dl_csv_{table.name}",
            icon=":material/download:",
        )
with st.expander("Preview a table as it is exported (small counts hidden)"):
    titles = {x.name: x.title for x in tables}
    shown = st.selectbox("Table", list(titles), format_func=titles.get, key="dl_preview")
    chosen = next(x for x in tables if x.name == shown)
    st.dataframe(table_view(prepare_for_export(chosen)), hide_index=True)

if not may(who.role, "patient_level_download"):
    st.caption("The assessment-level dataset (one row per patient and score) is for the owner.")
    st.stop()
st.subheader("The assessments (de-identified tidy dataset)", anchor=False)
st.caption(
    f"{len(t):,} assessments of {t['patient_id'].nunique():,} patients: pseudonymous ids, days "
    "since each patient's baseline (no dates), scores and item answers."
)
st.download_button(
    "Assessments (CSV)",
    lambda: payloads.assessments_csv(t),  # formula-safe, made on click
    file_name=f"{stem}_assessments.csv",
    mime="text/csv",
    on_click=log_download,
    args=(f"{stem}_assessments.csv", len(t)),
)
