"""Downloads (researchers): every table as CSV, all of them as XLSX (with the Methods sheet) and
Markdown, the JSON summary, a self-contained HTML report, the same report as a PDF (A4 or
Letter, printed by Chromium on the server) and the de-identified tidy dataset, all following the
sidebar filters. The bootstrap CIs of g_av and the growth models are included by default
(computed once per data version, filters and settings, with a progress bar); a toggle skips
them for speed."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import plotly.graph_objects as go
import streamlit as st

from analysis.bootstrap import DEFAULT_N_BOOT
from analysis.export import to_csv_bytes, to_markdown, to_xlsx_bytes
from analysis.methods import methods_info
from analysis.summary import summary_json
from analysis.tables import DEFAULT_MIN_N, prepare_for_export
from analysis.tables import wide_for_display as table_view
from analysis.trajectories import by_session
from dashboard import access, payloads, report, report_pdf, results, state
from dashboard import components as ui
from dashboard.audit import logged_download
from data.access import may
from data.errors import ReliefCheckError

who = access.require_page("downloads")  # before anything reads data

SKIP_KEY = "dl_skip_slow"  # the toggle that leaves the bootstrap CIs and growth models out
PDF_KEY = "downloads_pdf"  # {(what the report is of, page size): the PDF's bytes}
#: What the PDF holds: a practice's quarterly summary (the claims, the charts, the key tables
#: and the methods), or everything the HTML report holds (every researcher table).
PDF_CONTENTS = {
    "Summary: claims, charts, key tables": report.SUMMARY_TABLES,
    "Everything: every table": None,
}

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
n_paired = int(fast.outcomes["paired"].fillna(False).astype(bool).sum())
skip = bool(st.session_state.get(SKIP_KEY, False))
fig = fast
if not skip:
    slot = st.empty()  # a progress bar only while the bootstrap runs (not when it is cached)
    bars: list = []

    def _progress(fraction: float, words: str) -> None:
        if not bars:
            bars.append(slot.progress(0.0, text="Starting"))
        bars[0].progress(min(fraction, 1.0), text=ui.md_escape(words))

    try:
        fig = replace(
            results.slow_figures(ref, reg_text, filters, config, progress=_progress),
            settings=stamp,
        )
    except ReliefCheckError as err:
        st.error(ui.md_escape(err))
        fig = fast
    slot.empty()

with st.container(border=True):
    if fig.n_boot:
        st.markdown(
            f"**Included:** BCa bootstrap CIs of g_av ({fig.n_boot:,} resamples of "
            f"{n_paired:,} paired patients) and the growth models."
        )
    else:
        st.markdown(
            "**Bootstrap CIs and growth models left out.** The tables give g_av without its "
            "confidence interval (d_z has its own) and no growth models."
        )
    st.toggle(
        "Leave out the bootstrap CIs and growth models (faster on large data)",
        key=SKIP_KEY,
        help=f"They take {DEFAULT_N_BOOT:,} bootstrap resamples of {n_paired:,} paired patients and a "
        "mixed-effects model per instrument: a few seconds, longer on large data. They are "
        "computed once per data version, filters and settings.",
    )

tables = results.research(
    ref, reg_text, filters, config, fig.n_boot, bool(fig.models), stamp.text(), fig
)
source = replace(
    results.data_source(ref), n_analysed=len(t), n_analysed_patients=int(t["patient_id"].nunique())
)
methods = methods_info(
    registry,
    config.to_dict(),
    dt.date.today(),
    stamp=stamp,
    source=source,
    filters=report.filter_words(filters),
)
claims = list(fig.claims)

st.subheader("Everything at once", anchor=False)
c1, c2, c3, c4 = st.columns(4)
logged_download(
    c1,
    "All tables (XLSX)",
    lambda: to_xlsx_bytes(tables, methods),
    f"{stem}_tables.xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    icon=":material/table_view:",
    width="stretch",
)
logged_download(
    c2,
    "All tables (Markdown)",
    lambda: to_markdown(tables, methods=methods).encode("utf-8"),
    f"{stem}_tables.md",
    "text/markdown",
    icon=":material/description:",
    width="stretch",
)
logged_download(
    c3,
    "Summary (JSON)",
    lambda: json.dumps(summary_json(fig), indent=2, default=str).encode("utf-8"),
    f"{stem}_summary.json",
    "application/json",
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
title = report.report_title(filters.describe())


def _figures() -> list[tuple[str, go.Figure]]:
    return report.report_figures(by_session(t), rates_frame, fig.effects, registry)


def _html(figures: list[tuple[str, go.Figure]], only: tuple[str, ...] | None = None) -> str:
    """The HTML report; ``only`` keeps the tables of those names (all when None)."""
    return report.html_report(
        figures=figures,
        tables=tables if only is None else [tb for tb in tables if tb.name in only],
        claims=claims,
        methods=methods,
        filters=filters.describe(),
        dataset=dataset,
        synthetic_note=note,
        settings_stamp=stamp.text(),
        title=title,
    )


logged_download(
    c4,
    "Report (HTML)",
    lambda: _html(_figures()).encode("utf-8"),
    f"{stem}_report.html",
    "text/html",
    icon=":material/article:",
    width="stretch",
)
st.caption(
    "The XLSX workbook starts with a Methods sheet: software and date, the data (demo cohort or "
    "the store, its version and counts), the filters, every definition, instrument cut-off and "
    "claims threshold the figures were computed with. The HTML report is one file with the key "
    "figures, the claims, the tables and the methods; it opens offline in any browser."
)

st.subheader("Report (PDF)", anchor=False)
why_not = report_pdf.pdf_unavailable()
if why_not is not None:
    st.info(ui.md_escape(why_not), icon=":material/picture_as_pdf:")
else:
    left, right = st.columns(2)
    contents = left.radio("Contents", list(PDF_CONTENTS), key="dl_pdf_contents")
    size = right.radio(
        "Page size", list(report_pdf.PAGE_WIDTH_MM), horizontal=True, key="dl_pdf_size"
    )
    what = (ref, reg_text, filters, config, fig.n_boot, stamp.sha256, size, contents)
    what += (dt.date.today(),)
    pdf = st.session_state.get(PDF_KEY, {}).get(what)
    if pdf is None and st.button(
        "Build the PDF report", key="dl_pdf_build", icon=":material/picture_as_pdf:"
    ):
        with st.status("Building the PDF report…", expanded=True) as box:
            try:
                st.write("Drawing the charts")
                figures = _figures()
                html_text = _html(figures, PDF_CONTENTS[contents])
                st.write(f"Printing {size} pages in Chromium (charts drawn first)")
                pdf = report_pdf.html_to_pdf(
                    html_text,
                    page_size=size,
                    title=title,
                    stamp=stamp.text(),
                    n_charts=report.chart_count(figures),
                )
            except ReliefCheckError as err:
                box.update(label="The PDF report could not be built", state="error")
                st.error(ui.md_escape(err))
            else:
                st.session_state[PDF_KEY] = {what: pdf}
                box.update(label="The PDF report is ready", state="complete", expanded=False)
    if pdf is not None:
        logged_download(
            st,
            f"Report (PDF, {size})",
            pdf,
            f"{stem}_report_{size.lower()}.pdf",
            "application/pdf",
            icon=":material/picture_as_pdf:",
            key="dl_pdf",
        )
    st.caption(
        "The HTML report's content on printed pages (the summary leaves out all but the key "
        "tables): the title and filters on every page, the "
        "settings stamp and page numbers in the footer, a new page for each section, wide "
        "tables as one box per row."
    )

st.subheader("Tables one by one (CSV)", anchor=False)
for table in tables:
    with st.container(border=True):
        left, right = st.columns([4, 1])
        left.markdown(f"**{ui.md_escape(table.title)}**")  # titles and notes may name labels
        if table.notes:
            left.caption(ui.md_escape(" ".join(table.notes)))
        logged_download(
            right,
            "CSV",
            lambda table=table: to_csv_bytes(table),
            f"{stem}_{table.name}.csv",
            "text/csv",
            n_rows=len(table.frame),
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
logged_download(
    st,
    "Assessments (CSV)",
    lambda: payloads.assessments_csv(t),  # formula-safe, made on click
    f"{stem}_assessments.csv",
    "text/csv",
    n_rows=len(t),
)
