"""The pure helpers behind the Claims, Upload, History and Downloads pages: claims in words, the
mapping screen's targets, what a commit changed, and the self-contained HTML report."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from analysis.claims.evaluate import ClaimResult
from analysis.figures import fast_figures
from analysis.methods import methods_info
from analysis.research import research_tables
from analysis.trajectories import by_session
from dashboard import claims_view, report, upload_flow
from data.demo.cohort import generate_demo
from data.ingest import load_export
from data.instruments import default_registry
from data.readers.export import NOT_USED, detect_mapping
from data.readers.headers import parse_target
from data.store import content_hash, open_store
from tests.analysis.handmade import make_tidy

REG = default_registry()
WIDE = Path(__file__).resolve().parents[2] / "data" / "samples" / "wide.csv"


# --------------------------------------------------------------------------- claims in words


def test_share_estimate_in_words():
    r = ClaimResult("large-improvement", "PHQ-9", "supported", 40, 57.4, (41.2, 72.3), "t")
    assert claims_view.estimate_text(r) == "57% (95% CI 41–72%), n = 40"
    assert claims_view.estimate_text(r, short=True) == "57% (41–72)"


def test_intensive_versus_weekly_estimate_is_in_points():
    r = ClaimResult("intensive-faster", "PHQ-9", "inconclusive", 240, 1.23, (-0.31, 2.77), "t")
    assert claims_view.estimate_text(r) == "+1.2 points (95% CI -0.3 to 2.8), n = 240"


def test_untestable_claim_has_no_figure():
    r = ClaimResult("lasting", "PCL-5", "not testable", 0, None, (None, None), "t", ("No data.",))
    assert claims_view.estimate_text(r) == "–"
    assert claims_view.detail_lines(r) == []


def test_scorecard_has_a_row_per_claim_and_a_dot_where_a_claim_does_not_apply():
    results = [
        ClaimResult("large-improvement", "PHQ-9", "supported", 40, 60.0, (51.0, 69.0), "t"),
        ClaimResult("large-improvement", "GAD-7", "not supported", 40, 20.0, (10.0, 35.0), "t"),
        ClaimResult("suicidal-ideation", "PHQ-9", "inconclusive", 8, 50.0, (22.0, 78.0), "t"),
    ]
    lines = claims_view.scorecard_markdown(results, ["PHQ-9", "GAD-7"]).splitlines()
    assert lines[0] == "| Claim | PHQ-9 | GAD-7 |"
    assert lines[2] == (
        "| **Large improvement** | :green-badge[supported] 60% (51–69) "
        "| :red-badge[not supported] 20% (10–35) |"
    )
    assert (
        lines[3] == "| **Suicidal thoughts drop** | :orange-badge[inconclusive] 50% (22–78) | · |"
    )


def test_untestable_reasons_name_the_instruments_once_per_reason():
    results = [
        ClaimResult("lasting", k, "not testable", 0, None, (None, None), "", ("No follow-up.",))
        for k in ("PHQ-9", "GAD-7")
    ]
    results.append(ClaimResult("lasting", "PCL-5", "supported", 20, 80.0, (60.0, 90.0), ""))
    assert claims_view.untestable_reasons(results) == ["Gains last (PHQ-9, GAD-7): No follow-up."]


def test_verdict_counts():
    results = [ClaimResult("lasting", "PHQ-9", v, 1, None, (None, None), "") for v in
               ("supported", "inconclusive", "supported")]  # fmt: skip
    assert claims_view.verdict_counts(results) == {"supported": 2, "inconclusive": 1}


# --------------------------------------------------------------------------- upload helpers


def test_every_mapping_target_is_one_the_reader_accepts():
    for target in upload_flow.mapping_targets(REG):
        assert parse_target(target, REG).label == target


def test_file_columns_detect_what_the_reader_detects():
    data = WIDE.read_bytes()
    header = next(csv.reader(io.StringIO(data.decode("utf-8"))))
    cols = upload_flow.file_columns(data, REG)
    assert cols.headers == header
    assert cols.detected == detect_mapping(header, REG)
    first = next(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert cols.examples["Client ID"].split(", ")[0] == first["Client ID"]


def test_unchanged_mapping_is_left_to_the_reader():
    detected = {"Client ID": "patient_id", "Score": "score"}
    assert upload_flow.changed_mapping(detected, dict(detected)) is None
    chosen = {"Client ID": "patient_id", "Score": "site"}
    assert upload_flow.changed_mapping(detected, chosen) == chosen
    # a column left at "(not used)" is sent so that the reader leaves it out unread (issue 12)
    with_notes = {"Client ID": "patient_id", "Notes": None}
    sent = upload_flow.changed_mapping(with_notes, dict(with_notes))
    assert sent == {"Client ID": "patient_id", "Notes": NOT_USED}


def test_commit_changes_account_for_every_row(tmp_path):
    # the store's own identity: n_rows = added + already stored + conflicts + unaligned + file
    # clashes + duplicates in the file; the validation rejects are listed beside them
    data = WIDE.read_bytes()
    v = load_export(data, filename="wide.csv")
    with open_store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        first = store.commit(v, filename="wide.csv", content_hash=content_hash(data))
        again = store.commit(v, filename="again.csv", content_hash="other", replace=True)
        history = store.uploads()
    for result in (first, again):
        table = upload_flow.commit_changes(result)
        assert table["rows"].sum() == result.n_rows + result.n_rejected
    assert upload_flow.commit_changes(again)["what"].iloc[0] == "Added to the store"
    assert upload_flow.commit_changes(again)["rows"].iloc[0] == 0
    shown = upload_flow.history_table(history)
    assert shown["file"].tolist() == list(history["filename"][::-1])


# --------------------------------------------------------------------------- HTML report


@pytest.fixture(scope="module")
def demo_report() -> str:
    tidy = generate_demo(n_patients=120, seed=3)
    fig = fast_figures(tidy, REG)
    tables = research_tables(tidy, fig, REG)
    rates = next(t.frame for t in tables if t.name == "outcomes")
    return (
        report.html_report(
            figures=report.report_figures(by_session(tidy), rates, fig.effects, REG),
            tables=tables,
            claims=fig.claims,
            methods=methods_info(REG, fig.config.to_dict(), dt.date(2026, 1, 2)),
            filters="all patients",
            dataset="demo",
            synthetic_note="Synthetic demo data: 120 made-up patients.",
        ),
        fig,
        tables,
    )


def test_report_is_self_contained(demo_report):
    html, _, _ = demo_report
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and not [s for s in scripts if "src=" in s]
    assert not re.search(r"<link\b[^>]*href=[\"']?https?:", html)
    assert html.count("plotly.js v") == 1  # the library's banner: embedded once
    assert html.count('class="plotly-graph-div"') == 7  # 2 per instrument + the effect sizes


def test_report_has_the_claims_tables_methods_and_the_synthetic_note(demo_report):
    html, fig, tables = demo_report
    assert "Synthetic demo data: 120 made-up patients." in html
    for table in tables:
        assert table.title.replace("'", "&#x27;") in html
    for claim in fig.claims:
        assert claims_view.SHORT_NAMES[claim.id] in html
    assert "generated 2026-01-02" in html and "<h2>Methods</h2>" in html


def _first_table(text: str) -> pd.DataFrame:
    """The first HTML table in ``text`` as text cells (header row → column names)."""

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows: list[list[str]] = []
            self.depth, self.cell = 0, None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.depth += 1
            elif tag == "tr" and self.depth == 1:
                self.rows.append([])
            elif tag in ("td", "th") and self.depth == 1:
                self.cell = ""

        def handle_endtag(self, tag):
            if tag == "table":
                self.depth = -1  # the first table only
            elif tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append(self.cell.strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Cells()
    parser.feed(text)
    return pd.DataFrame(parser.rows[1:], columns=parser.rows[0])


def test_report_suppresses_small_counts():
    rows = []
    for pid, (b, e) in {"A": (20, 10), "B": (18, 15), "C": (22, 9)}.items():
        rows += [(pid, "weekly", "PHQ-9", 0, 0.0, b), (pid, "weekly", "PHQ-9", 1, 7.0, e)]
    tidy = make_tidy(rows)
    fig = fast_figures(tidy, REG)
    tables = research_tables(tidy, fig, REG)
    html = report.html_report(
        figures=[], tables=tables, claims=fig.claims,
        methods=methods_info(REG, None, dt.date(2026, 1, 2)), filters="all", dataset="three",
    )  # fmt: skip
    rates = _first_table(html.split("Outcome rates by protocol", 1)[1])
    assert len(rates) and set(rates["denominator"]) == {"<5"}  # 3 paired patients: hidden
    assert "Synthetic" not in html


def test_pure_dashboard_modules_do_not_import_streamlit():
    import subprocess
    import sys

    modules = ["dashboard.compute", "dashboard.charts", "dashboard.claims_view",
               "dashboard.upload_flow", "dashboard.report"]  # fmt: skip
    code = (
        "import sys; "
        + "; ".join(f"import {m}" for m in modules)
        + "; print('streamlit' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_report_carries_the_settings_stamp_above_the_claims():
    from analysis.claims.config import ClaimsConfig
    from analysis.settings_stamp import settings_stamp

    fig = fast_figures(generate_demo(n_patients=60, seed=3), REG, ClaimsConfig(large_share=0.4))
    stamp = settings_stamp(fig.config).text()
    html = report.html_report(
        figures=[], tables=[], claims=fig.claims,
        methods=methods_info(REG, fig.config.to_dict(), dt.date(2026, 1, 2), stamp=settings_stamp(fig.config)),
        filters="all", dataset="demo", settings_stamp=stamp,
    )  # fmt: skip
    claims_part = html.split("<h2>Claims</h2>", 1)[1].split("<h2>Figures</h2>", 1)[0]
    assert f"<p class='stamp'>{stamp}</p>" in claims_part  # plain words, nothing to escape
    assert "large_share 40% (default 50%)" in stamp
    assert html.count(stamp) == 2  # above the claims and in the Methods section
