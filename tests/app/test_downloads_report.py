"""The downloads of issue 12: the Methods rows record the data source (demo or store, its kind,
schema and data version, counts; never an address or password), each filter in words and the
thresholds; the tables carry the bootstrap CI of g_av by default; the report's title names the
filters; the printed report hides nothing (wide tables as boxes, caveats opened) and the PDF
section of the Downloads page says plainly when there is no Chromium.

The PDF itself is printed in ``tests/browser/test_pdf_report.py`` (it needs Chromium)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.figures import fast_figures, with_slow_figures
from analysis.methods import DataSource, methods_info
from analysis.research import research_tables
from dashboard import report, report_pdf, results, state
from dashboard.compute import Filters
from data.demo.cohort import generate_demo
from data.ingest import load_export
from data.instruments import default_registry
from data.store import content_hash, open_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
WIDE = ROOT / "data" / "samples" / "wide.csv"
REG = default_registry()


@pytest.fixture(scope="module")
def slow_demo():
    tidy = generate_demo(n_patients=120, seed=3)
    return tidy, with_slow_figures(fast_figures(tidy, REG), tidy, REG, n_boot=50)


def _rows(info) -> dict[tuple[str, str], str]:
    return {(s, i): v for s, i, v in [*info.header_rows(), *info.rows]}


# --------------------------------------------------------------------------- Methods rows


def test_methods_rows_record_the_store_filters_and_thresholds(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'secret-folder' / 'store.sqlite'}"
    (tmp_path / "secret-folder").mkdir()
    monkeypatch.setenv("RELIEFCHECK_DB_URL", url)
    data = WIDE.read_bytes()
    with open_store(url) as s:
        s.commit(load_export(data, filename="wide.csv"), filename="wide.csv",
                 content_hash=content_hash(data))  # fmt: skip
    ref = state.data_ref()
    assert not ref.is_demo
    source = results.data_source(ref)
    filters = Filters(protocols=("intensive",), sites=("Site A",))
    info = methods_info(REG, {"large_share": 0.5}, dt.date(2026, 1, 2), source=source,
                        filters=report.filter_words(filters))  # fmt: skip
    rows = _rows(info)
    assert rows[("Data", "source")].startswith("the practice's outcome store (sqlite, schema")
    assert rows[("Data", "data version")] == str(ref.version)
    assert rows[("Data", "uploads")] == "1 committed"
    assert re.fullmatch(r"[\d,]+ of [\d,]+ patients", rows[("Data", "assessments")])
    assert rows[("Filters", "filter 1")] == "protocol: intensive"
    assert rows[("Filters", "filter 2")] == "site: Site A"
    assert rows[("Instrument PHQ-9", "remission")] == "score < 5"
    assert rows[("Instrument PHQ-9", "caseness (clinical range)")] == "score >= 10"
    assert "reliable change" in {i for s, i in rows if s == "Instrument GAD-7"}
    assert rows[("Claims thresholds", "large_share")] == "0.5"
    text = " ".join(v for *_, v in [*info.header_rows(), *info.rows])
    assert "secret-folder" not in text and "sqlite:///" not in text and str(tmp_path) not in text


def test_methods_rows_of_the_demo_cohort_without_filters():
    source = DataSource("demo", data_version="demo-3-300-1", n_assessments=5000, n_patients=300,
                        n_analysed=5000, n_analysed_patients=300)  # fmt: skip
    rows = _rows(methods_info(REG, None, dt.date(2026, 1, 2), source=source, filters=[]))
    assert rows[("Data", "source")].startswith("synthetic demo cohort")
    assert rows[("Data", "assessments")] == "5,000 of 300 patients"
    assert rows[("Data", "analysed after the filters")] == "5,000 assessments of 300 patients"
    assert rows[("Filters", "applied")] == "none: every patient in the data"
    plain = methods_info(REG, None, dt.date(2026, 1, 2))  # the command line's, unchanged
    assert not [r for r in plain.rows if r[0] in ("Data", "Filters")]


def test_filter_words_name_each_filter_that_narrows_the_data():
    assert report.filter_words(Filters()) == []
    words = report.filter_words(Filters(instruments=("GAD-7",), treatment_resistant="yes"))
    assert words == ["instrument: GAD-7", Filters(treatment_resistant="yes").describe()]


# --------------------------------------------------------------------------- CIs by default


def test_tables_with_the_slow_figures_carry_the_g_av_ci(slow_demo):
    tidy, fig = slow_demo
    tables = {t.name: t for t in research_tables(tidy, fig, REG)}
    effects = tables["effect_sizes"].frame
    g_av = effects.loc[effects["measure"] == "g_av"]
    assert len(g_av) and g_av["ci_lo"].notna().all() and g_av["ci_hi"].notna().all()
    assert "growth_models" in tables and "growth_by_day" in tables
    fast = {t.name: t for t in research_tables(tidy, fast_figures(tidy, REG), REG)}
    no_boot = fast["effect_sizes"].frame
    assert no_boot.loc[no_boot["measure"] == "g_av", "ci_lo"].isna().all()  # the test can fail


def test_downloads_page_includes_the_cis_and_no_pdf_without_chromium(tmp_path, monkeypatch):
    monkeypatch.setenv("RELIEFCHECK_DB_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    monkeypatch.setenv(report_pdf.CHROMIUM_ENV, str(tmp_path / "no-chromium"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/downloads.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(m.value.startswith("**Included:** BCa bootstrap CIs of g_av") for m in at.markdown)
    assert not at.toggle(key="dl_skip_slow").value  # on by default
    (info,) = [i.value for i in at.info if "PDF report needs Chromium" in i.value]
    assert report_pdf.CHROMIUM_ENV in info
    assert not [b for b in at.button if b.key == "dl_pdf_build"]
    at.run()  # the next run takes the figures from the cache, progress bar and all
    assert not at.exception, [e.message for e in at.exception]
    assert any(m.value.startswith("**Included:** BCa bootstrap CIs of g_av") for m in at.markdown)


# --------------------------------------------------------------------------- the report


def test_report_title_names_the_filters():
    assert report.report_title("all patients") == report.TITLE
    assert report.report_title("protocol: weekly") == f"{report.TITLE}: protocol: weekly"


def test_printed_report_keeps_wide_tables_and_caveats(slow_demo):
    tidy, fig = slow_demo
    tables = research_tables(tidy, fig, REG)
    html = report.html_report(figures=[], tables=tables, claims=fig.claims,
                              methods=methods_info(REG, None, dt.date(2026, 1, 2)),
                              filters="all patients", dataset="demo",
                              title=report.report_title("site: <b>A</b>"))  # fmt: skip
    assert "<h1>ReliefCheck outcomes report: site: &lt;b&gt;A&lt;/b&gt;</h1>" in html
    assert "@media print" in html and "break-before: page" in html
    wide = [t for t in tables if t.frame.shape[1] > report.WIDE_COLUMNS]
    assert wide and html.count("<dl class='record'>") >= len(wide)
    assert "How each claim is tested, and its caveats" in html
    assert html.count(fig.claims[0].test.replace("'", "&#x27;")[:40]) >= 2  # table and print


def test_pdf_header_and_footer_escape_and_number_pages():
    header, footer = report_pdf.header_footer("Report: <script>", "stamp & <b>")
    assert "&lt;script&gt;" in header and "<script>" not in header
    assert "stamp &amp; &lt;b&gt;" in footer
    assert 'class="pageNumber"' in footer and 'class="totalPages"' in footer


def test_no_chromium_is_said_plainly(tmp_path, monkeypatch):
    monkeypatch.setenv(report_pdf.CHROMIUM_ENV, str(tmp_path / "missing"))
    assert report_pdf.chromium_executable() is None
    assert "needs Chromium" in (report_pdf.pdf_unavailable() or "")
    with pytest.raises(report_pdf.PdfError, match="needs Chromium"):
        report_pdf.html_to_pdf("<html></html>", page_size="A4", title="t")
    monkeypatch.setenv(report_pdf.CHROMIUM_ENV, "/bin/sh")  # any file that exists
    assert report_pdf.chromium_executable() == "/bin/sh"
    with pytest.raises(report_pdf.PdfError, match="page size"):
        report_pdf.html_to_pdf("<html></html>", page_size="A3", title="t")


def test_the_summary_report_keeps_only_tables_that_exist(slow_demo):
    """The quarterly summary PDF names its tables; a renamed table would silently drop out."""
    tidy, fig = slow_demo
    names = {t.name for t in research_tables(tidy, fig, REG)}
    assert set(report.SUMMARY_TABLES) <= names
    assert len(names) > len(report.SUMMARY_TABLES)  # the summary is shorter than everything
