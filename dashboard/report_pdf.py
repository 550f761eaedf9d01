"""The PDF report: the self-contained HTML report (``dashboard.report``) printed by headless
Chromium through Playwright, in A4 or US Letter pages (no Streamlit here).

Chromium lays the page out at the printable width, every plotly chart is drawn before printing
(the page waits until each chart has drawn its traces), the caveats folded in the claims table are
opened, and Chromium's header and footer carry the report's title, the settings stamp and the
page numbers. The print styles themselves (margins, page breaks, tables that wrap) are in the
HTML report's CSS, so printing the HTML file from a browser gives the same pages.

The Chromium used is found by ``chromium_executable`` (``$RELIEFCHECK_CHROMIUM``, else the
``chromium`` on the PATH, else Debian's ``/usr/bin/chromium``); with none, ``pdf_unavailable``
says why in words the Downloads page shows.
"""

from __future__ import annotations

import concurrent.futures
import html
import os
import shutil
import tempfile
from pathlib import Path

from data.errors import ReliefCheckError

#: Environment variable naming the Chromium (or Chrome) executable to print with.
CHROMIUM_ENV = "RELIEFCHECK_CHROMIUM"
#: Page sizes offered, as Playwright names them, with their width in millimetres.
PAGE_WIDTH_MM = {"A4": 210.0, "Letter": 215.9}
#: Page margins in millimetres (top and bottom leave room for the header and footer).
MARGIN_MM = {"top": 16.0, "bottom": 16.0, "left": 12.0, "right": 12.0}
#: Seconds the whole print may take before it is given up.
TIMEOUT_S = 300.0
_PX_PER_MM = 96 / 25.4
_CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every chart drawn: each figure's plotly div has its layout and at least one drawn trace.
_CHARTS_DRAWN = """(n) => {
  const divs = [...document.querySelectorAll('.figure .plotly-graph-div')];
  return divs.length >= n && divs.every(d => d._fullLayout && d.querySelector('.main-svg .trace'));
}"""


class PdfError(ReliefCheckError):
    """The PDF report could not be printed (no Chromium, or Chromium failed)."""


def chromium_executable() -> str | None:
    """The Chromium to print with: ``$RELIEFCHECK_CHROMIUM`` when set (None if that file does
    not exist), else ``chromium`` or ``chromium-browser`` on the PATH, else
    ``/usr/bin/chromium``; None when there is none."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return named if Path(named).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def pdf_unavailable() -> str | None:
    """Why this server cannot print the PDF report, in words for the page; None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "The PDF report needs the Playwright package on the server "
            "(pip install -r requirements.txt)."
        )
    if chromium_executable() is None:
        named = os.environ.get(CHROMIUM_ENV)
        where = f"{CHROMIUM_ENV} names a file that does not exist" if named else "none was found"
        return (
            f"The PDF report needs Chromium on the server and {where}. Install it "
            f"(scripts/setup.sh does) or set {CHROMIUM_ENV} to its path. The HTML report has "
            "the same content and prints from any browser."
        )
    return None


def printable_width_px(page_size: str) -> int:
    """The width inside the margins of a ``page_size`` page, in CSS pixels (96 per inch)."""
    width = PAGE_WIDTH_MM[page_size] - MARGIN_MM["left"] - MARGIN_MM["right"]
    return int(width * _PX_PER_MM)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def header_footer(title: str, stamp: str | None) -> tuple[str, str]:
    """Chromium's header (the title) and footer (the settings stamp and "page X of Y")
    templates; both texts are escaped."""
    style = "font-size:7px;font-family:sans-serif;color:#555;width:100%;margin:0 12mm;"
    header = f'<div style="{style}">{html.escape(_shorten(title, 150))}</div>'
    stamp_html = html.escape(_shorten(stamp or "", 170))
    footer = (
        f'<div style="{style}display:flex;justify-content:space-between;gap:8px;">'
        f"<span>{stamp_html}</span><span style='white-space:nowrap'>page "
        '<span class="pageNumber"></span> of <span class="totalPages"></span></span></div>'
    )
    return header, footer


def _print(html_text: str, page_size: str, title: str, stamp: str | None, n_charts: int) -> bytes:
    from playwright.sync_api import sync_playwright

    exe = chromium_executable()
    if exe is None:
        raise PdfError(pdf_unavailable() or "No Chromium was found to print the PDF report.")
    header, footer = header_footer(title, stamp)
    with tempfile.TemporaryDirectory(prefix="reliefcheck-pdf-") as folder, sync_playwright() as p:
        source = Path(folder) / "report.html"  # loading a file is several times faster than
        source.write_text(html_text, encoding="utf-8")  # set_content for the inline plotly.js
        browser = p.chromium.launch(executable_path=exe, args=_CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": printable_width_px(page_size), "height": 1000}
            )
            page.emulate_media(media="print")  # charts drawn in the print layout
            page.goto(source.as_uri(), wait_until="load", timeout=TIMEOUT_S * 1000)
            page.wait_for_function(_CHARTS_DRAWN, arg=n_charts, timeout=TIMEOUT_S * 1000)
            page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
            return page.pdf(
                format=page_size,
                print_background=True,
                display_header_footer=True,
                header_template=header,
                footer_template=footer,
                margin={k: f"{v}mm" for k, v in MARGIN_MM.items()},
            )
        finally:
            browser.close()


def html_to_pdf(
    html_text: str,
    *,
    page_size: str = "A4",
    title: str,
    stamp: str | None = None,
    n_charts: int = 0,
) -> bytes:
    """The PDF of the HTML report ``html_text`` on ``page_size`` pages ("A4" or "Letter"),
    printed once ``n_charts`` plotly charts have been drawn; ``title`` heads every page and
    ``stamp`` (the settings stamp) is in every footer with the page number. Runs Chromium in
    a thread of its own (Playwright's synchronous API cannot run inside an event loop). Raises
    ``PdfError`` when there is no Chromium or it fails or takes longer than ``TIMEOUT_S``."""
    if page_size not in PAGE_WIDTH_MM:
        raise PdfError(f"Pick a page size of {', '.join(PAGE_WIDTH_MM)}.")
    reason = pdf_unavailable()
    if reason is not None:
        raise PdfError(reason)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        job = pool.submit(_print, html_text, page_size, title, stamp, n_charts)
        return job.result(timeout=TIMEOUT_S * 2)
    except PdfError:
        raise
    except Exception as err:  # Playwright's errors and timeouts, Chromium crashing
        raise PdfError(
            "Chromium could not print the PDF report. Try again; if it keeps failing, download "
            "the HTML report and print it from a browser. "
            f"(Chromium said: {type(err).__name__})"
        ) from err
    finally:
        pool.shutdown(wait=False)
