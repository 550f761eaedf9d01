"""The PDF report printed by Chromium from the demo cohort: enough pages, the title, a claim
and a table header in its text (pdftotext), and charts drawn on its pages (pdftoppm).

Needs Chromium (``browser`` marker) and poppler-utils (scripts/setup.sh installs both). The
pages are kept as PNG in ``artifacts/pdf/`` to be looked at.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analysis.figures import fast_figures, with_slow_figures
from analysis.methods import DataSource, methods_info
from analysis.research import research_tables
from analysis.trajectories import by_session
from dashboard import report, report_pdf
from dashboard.claims_view import SHORT_NAMES
from data.demo.cohort import generate_demo
from data.instruments import load_registry
from tests.browser.conftest import ROOT, chromium_path

pytestmark = pytest.mark.browser

PAGES = ROOT / "artifacts" / "pdf"
TITLE = report.report_title("protocol: intensive")


def _poppler(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.fail(f"{tool} is missing: install poppler-utils (scripts/setup.sh does).")
    return found


@pytest.fixture(scope="module")
def demo_pdf(tmp_path_factory, monkeypatch_module) -> tuple[bytes, Path, object]:
    """The demo cohort's report printed on A4, and the folder its pages are rendered into."""
    monkeypatch_module.setenv(report_pdf.CHROMIUM_ENV, chromium_path())
    reg = load_registry()
    tidy = generate_demo(n_patients=150)
    fig = with_slow_figures(fast_figures(tidy, reg), tidy, reg, n_boot=200)
    kept = ("outcomes", "effect_sizes", "references")  # a narrow, a long and a wide table
    tables = [t for t in research_tables(tidy, fig, reg) if t.name in kept]
    rates = next(t.frame for t in tables if t.name == "outcomes")
    figures = report.report_figures(by_session(tidy), rates, fig.effects, reg)
    source = DataSource("demo", data_version="demo-test", n_assessments=len(tidy))
    html = report.html_report(
        figures=figures,
        tables=tables,
        claims=fig.claims,
        methods=methods_info(
            reg, fig.config.to_dict(), dt.date(2026, 1, 2), source=source, filters=["x: y"]
        ),
        filters="protocol: intensive",
        dataset="synthetic demo cohort",
        synthetic_note="Synthetic demo data: 150 made-up patients, not real outcomes.",
        settings_stamp=fig.stamp().text(),
        title=TITLE,
    )
    pdf = report_pdf.html_to_pdf(
        html,
        page_size="A4",
        title=TITLE,
        stamp=fig.stamp().text(),
        n_charts=report.chart_count(figures),
    )
    folder = tmp_path_factory.mktemp("pdf")
    (folder / "report.pdf").write_bytes(pdf)
    subprocess.run(
        [_poppler("pdftoppm"), "-png", "-r", "60", str(folder / "report.pdf"), str(folder / "p")],
        check=True,
        timeout=120,
    )
    PAGES.mkdir(parents=True, exist_ok=True)
    for old in PAGES.glob("p-*.png"):
        old.unlink()
    for png in folder.glob("p-*.png"):
        shutil.copy(png, PAGES / png.name)
    shutil.copy(folder / "report.pdf", PAGES / "report.pdf")
    return pdf, folder, fig


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _text(folder: Path) -> str:
    out = subprocess.run(
        [_poppler("pdftotext"), "-layout", str(folder / "report.pdf"), "-"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out.stdout.decode("utf-8")


def _page_count(folder: Path) -> int:
    return len(list(folder.glob("p-*.png")))


def test_pdf_has_plausible_pages_and_text(demo_pdf):
    pdf, folder, fig = demo_pdf
    assert pdf.startswith(b"%PDF-")
    assert _page_count(folder) >= 3
    text = _text(folder)
    assert TITLE in text  # the heading and every page's header
    assert SHORT_NAMES[fig.claims[0].id] in text  # a claim's name
    assert "Estimate (95% CI), n" in text  # the claims table's header
    assert "Outcome rates" in text  # a researcher table's title
    assert "reference_citation" in text  # the wide table, printed as boxes
    assert "page 1 of" in text  # the footer's page numbers
    assert "Synthetic demo data" in text
    assert "g_av_ci_lo" in text or "Hedges' g_av (BCa bootstrap CI)" in text


def _coloured_pixels(png: Path) -> int:
    """Pixels whose colour is clearly not grey (the charts' lines, markers and bars)."""
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return int(np.count_nonzero(spread > 60))


def test_pdf_pages_show_drawn_charts(demo_pdf):
    _, folder, _ = demo_pdf
    pages = sorted(folder.glob("p-*.png"))
    coloured = [_coloured_pixels(p) for p in pages]
    charts = [n for n in coloured if n > 2000]
    assert len(charts) >= 2, coloured  # several pages carry coloured chart ink
    width = Image.open(pages[0]).size[0]
    for png in pages:  # nothing is cut at the right edge: the margin stays blank
        rgb = np.asarray(Image.open(png).convert("L"))
        assert (rgb[:, width - 12 :] > 235).all(), png.name
