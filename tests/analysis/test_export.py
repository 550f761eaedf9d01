"""Export writers: CSV and Markdown against hand-written golden files (byte for byte), XLSX read
back with openpyxl and written twice for reproducibility, and the Methods sheet's rows against
the registry and the claims configuration."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import __version__
from analysis.claims.config import ClaimsConfig
from analysis.export import sheet_names, to_csv_bytes, to_markdown, to_xlsx_bytes
from analysis.methods import MethodsInfo, methods_info, methods_rows
from analysis.outcomes import FOLLOW_UP_WINDOWS, RESPONSE_FRACTION
from analysis.tables import ResearchTable, prepare_for_export, wide_for_display
from data.instruments import default_registry, load_registry

GOLDEN = Path(__file__).parents[1] / "fixtures" / "exports"
DATE = dt.date(2024, 5, 1)


def _outcomes_small() -> ResearchTable:
    frame = pd.DataFrame(
        {
            "instrument": ["PHQ-9", "PHQ-9", "GAD-7"],
            "protocol": ["intensive", '=HYPERLINK("x")', "weekly, Mon"],
            "outcome": ["response", "response", "remission"],
            "numerator": [12, 3, 0],
            "denominator": [20, 9, 6],
            "pct": [60.0, 100 / 3, 0.0],
            "ci_lo": [38.66, 12.06, 0.0],
            "ci_hi": [78.12, 64.58, 39.03],
            "change": [-0.25, 1.5, np.nan],
        }
    )
    rate = ("pct", "ci_lo", "ci_hi")
    return ResearchTable(
        name="outcomes_small",
        title="Outcome rates (small)",
        frame=frame,
        notes=("Wilson | score.",),
        count_cols=("numerator", "denominator"),
        derived={"numerator": rate, "denominator": rate},
        decimals={"pct": 1, "ci_lo": 1, "ci_hi": 1},
    )


def _mini_table1() -> ResearchTable:
    na = None
    rows = [
        ("Patients", "", "A", "n", 12, na, na, na, na, na, na, na),
        ("Patients", "", "B", "n", 3, na, na, na, na, na, na, na),
        ("Patients", "", "All", "n", 15, na, na, na, na, na, na, na),
        ("Score", "mean (SD)", "A", "mean (SD)", 12, na, na, 10.26, 2.51, na, na, na),
        ("Score", "mean (SD)", "B", "mean (SD)", 3, na, na, 8.0, 1.0, na, na, na),
        ("Score", "mean (SD)", "All", "mean (SD)", 15, na, na, 9.8, 2.44, na, na, na),
        ("Route", "IV", "A", "n (%)", 6, 12, 50.0, na, na, na, na, na),
        ("Route", "IV", "B", "n (%)", 0, 3, 0.0, na, na, na, na, na),
        ("Route", "IV", "All", "n (%)", 6, 15, 40.0, na, na, na, na, na),
        ("Sessions", "median (IQR)", "A", "median (IQR)", 12, na, na, na, na, 5.0, 4.0, 7.5),
        ("Sessions", "median (IQR)", "B", "median (IQR)", 3, na, na, na, na, 4.0, 3.0, 5.0),
        ("Sessions", "median (IQR)", "All", "median (IQR)", 15, na, na, na, na, 5.0, 4.0, 7.0),
    ]
    cols = ["characteristic", "level", "protocol", "statistic", "n", "denominator", "pct"]
    cols += ["mean", "sd", "median", "q1", "q3"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["denominator"] = frame["denominator"].astype("Int64")
    figures = ("pct", "mean", "sd", "median", "q1", "q3")
    return ResearchTable(
        name="mini_table1",
        title="Mini table 1",
        frame=frame,
        count_cols=("n", "denominator"),
        derived={"n": figures, "denominator": ("pct",)},
        decimals=dict.fromkeys(figures, 1),
        pivot=(("characteristic", "level"), "protocol"),
    )


def _methods(date: dt.date = DATE) -> MethodsInfo:
    rows = (
        ("Instrument X", "caseness", "score >= 10"),
        ("Definitions", "pipe", "a | b"),
        ("Claims thresholds", "margin", "-0.5"),
    )
    return MethodsInfo(software_version="0.1.0", generated_on=date, rows=rows)


# --------------------------------------------------------------------------- CSV


def test_csv_matches_the_hand_written_golden_file_byte_for_byte():
    assert to_csv_bytes(_outcomes_small()) == (GOLDEN / "outcomes_small.csv").read_bytes()


def test_csv_has_a_bom_crlf_and_reads_back_with_pandas():
    data = to_csv_bytes(_outcomes_small())
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == 4
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert back["numerator"].tolist() == ["12", "<5", "0"]
    assert back["protocol"].tolist() == ["intensive", '\'=HYPERLINK("x")', "weekly, Mon"]
    assert float(back.loc[0, "change"]) == -0.25  # a negative number stays a bare number


# --------------------------------------------------------------------------- Markdown


def test_markdown_matches_the_hand_written_golden_file_byte_for_byte():
    text = to_markdown([_outcomes_small(), _mini_table1()], methods=_methods())
    assert text == (GOLDEN / "tables_small.md").read_text(encoding="utf-8")


def test_markdown_without_methods_has_only_the_tables():
    text = to_markdown([_outcomes_small()])
    assert text.startswith("## Outcome rates (small)\n") and "## Methods" not in text


#: Labels a practice's file may carry (the validator accepts each as a protocol or site name).
MARKUP_LABELS = (
    "![x](http://host/p.png)",
    ":red[RED]",
    "<img src=x onerror=alert(1)>",
    "**bold**",
    "[link](http://evil)",
    "$x^2$",
    "[x](javascript:alert(1))",
    "<script>alert(1)</script>",
    "two\nlines | and a pipe",
    "www.evil.example and a@b.example",
    "# heading",
    "> quote",
    "`code` ~~gone~~ _it_ <!-- c -->",
    "&lt;b&gt; &copy;",
)


def _markup_table(labels=MARKUP_LABELS) -> ResearchTable:
    frame = pd.DataFrame({"protocol": list(labels), "n": range(10, 10 + len(labels))})
    frame.columns = ["protocol <b>x</b>", "n"]  # a header with markup too
    return ResearchTable(
        name="markup",
        title="Rates by ![i](http://host/t.png) <b>protocol</b>",
        frame=frame,
        notes=tuple(labels),
        count_cols=("n",),
    )


def _render(text: str) -> str:
    from markdown_it import MarkdownIt

    md = MarkdownIt("gfm-like")  # tables, strikethrough, bare-URL and e-mail autolinks
    md.linkify.set({"fuzzy_link": False})  # GitHub links www., http(s):// and e-mail only
    return md.render(text)


def test_markdown_labels_render_as_text_never_as_markup():
    html = _render(to_markdown([_markup_table()]))
    for tag in ("<img", "<a ", "<script", "<em>", "<strong>", "<code>", "<s>", "<del>", "<h1",
                "<blockquote", "<!--"):  # fmt: skip
        assert tag not in html, tag
    assert "$x^2$" in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # shown as written


def test_markdown_table_keeps_its_columns_whatever_the_labels():
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(to_markdown([_markup_table()]))
    cells_per_row, count = [], 0
    for tok in tokens:
        if tok.type == "tr_open":
            count = 0
        elif tok.type in ("th_open", "td_open"):
            count += 1
        elif tok.type == "tr_close":
            cells_per_row.append(count)
    assert cells_per_row == [3] * (1 + len(MARKUP_LABELS))  # protocol, n, suppressed


def test_markdown_escapes_only_what_can_start_markup():
    text = to_markdown([_markup_table(["PHQ-9", "d_z of -0.25", "95% CI", "score >= 10", "<5",
                                       "Jacobson & Truax (1991)", "weekly, Mon"])])  # fmt: skip
    for plain in ("| PHQ-9 |", "| d_z of -0.25 |", "| 95% CI |", "| score >= 10 |", "| <5 |",
                  "| Jacobson & Truax (1991) |", "| weekly, Mon |"):  # fmt: skip
        assert plain in text, plain


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.text(
            st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
            | st.sampled_from("\n|*_`[]()<>&#!$:@~\\"),
            max_size=30,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_markdown_cells_titles_and_notes_read_back_as_written(labels):
    import html as html_lib

    table = _markup_table(labels)
    rendered = _render(to_markdown([table]))
    shown = prepare_for_export(table)  # formula-neutralised: what the file should say
    expect = [" ".join(v.split()) for v in shown.frame["protocol <b>x</b>"]]
    cells = re.findall(r"<tr>\n<td>(.*?)</td>", rendered, flags=re.S)
    assert [" ".join(html_lib.unescape(c).split()) for c in cells] == expect
    notes = re.findall(r"<li>(.*?)</li>", rendered, flags=re.S)[: len(labels)]
    assert [" ".join(html_lib.unescape(n).split()) for n in notes] == [
        " ".join(v.split()) for v in labels
    ]


# --------------------------------------------------------------------------- XLSX


def _xlsx(date: dt.date = DATE) -> bytes:
    return to_xlsx_bytes([_outcomes_small(), _mini_table1()], _methods(date))


def _values(ws) -> list[list[object]]:
    return [list(row) for row in ws.iter_rows(values_only=True)]


@pytest.fixture(scope="module")
def workbook():
    return openpyxl.load_workbook(io.BytesIO(_xlsx()))


def test_xlsx_sheets_are_methods_then_each_table_and_the_wide_view(workbook):
    assert workbook.sheetnames == ["Methods", "outcomes_small", "mini_table1", "mini_table1_wide"]


def test_xlsx_table_sheet_keeps_numbers_as_numbers_and_text_as_text(workbook):
    ws = workbook["outcomes_small"]
    rows = _values(ws)
    assert rows[0] == [
        "instrument",
        "protocol",
        "outcome",
        "numerator",
        "denominator",
        "pct",
        "ci_lo",
        "ci_hi",
        "change",
        "suppressed",
    ]
    assert rows[1] == ["PHQ-9", "intensive", "response", 12, 20, 60.0, 38.66, 78.12, -0.25, False]
    assert rows[2] == [
        "PHQ-9",
        '\'=HYPERLINK("x")',
        "response",
        "<5",
        9,
        None,
        None,
        None,
        1.5,
        True,
    ]
    assert ws["B3"].data_type == "s" and ws["D3"].data_type == "s"
    assert ws["D2"].data_type == "n" and ws["I2"].data_type == "n"
    assert ws["F2"].number_format == "0.0" and ws["I2"].number_format == "0.00"
    assert ws.freeze_panes == "A2"
    assert ws["A1"].font.b
    cells = [c for sheet in workbook.worksheets for row in sheet.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)


def test_xlsx_wide_sheet_is_the_display_view(workbook):
    rows = _values(workbook["mini_table1_wide"])
    wide = wide_for_display(_mini_table1())
    assert rows[0] == list(wide.columns)
    assert rows[1] == ["Patients", None, "12", "<5", "15"]
    assert rows[2] == ["Score", "mean (SD)", "10.3 (2.5)", "n<5", "9.8 (2.4)"]


def test_xlsx_methods_sheet_states_software_date_tables_and_methods(workbook):
    rows = _values(workbook["Methods"])
    assert rows[0] == ["section", "item", "value"]
    assert rows[1] == ["About", "software", "ReliefCheck 0.1.0"]
    assert rows[2] == ["About", "generated on", "2024-05-01"]
    assert ["Sheet outcomes_small", "title", "Outcome rates (small)"] in rows
    assert ["Sheet outcomes_small", "note", "Wilson | score."] in rows
    assert ["Sheet mini_table1_wide", "title", "Mini table 1 (display view)"] in rows
    assert ["Instrument X", "caseness", "score >= 10"] in rows
    assert ["Claims thresholds", "margin", "'-0.5"] in rows
    assert workbook.properties.created == dt.datetime(2024, 5, 1)


def test_xlsx_is_byte_for_byte_reproducible_for_the_same_date():
    assert _xlsx() == _xlsx()
    assert _xlsx() != _xlsx(dt.date(2024, 5, 2))


def test_sheet_names_are_valid_unique_and_at_most_31_characters():
    long = "a_very_long_table_name_that_excel_would_refuse_x"
    names = sheet_names([long, long, "Methods", "bad[name]:*?/\\", "history", "'quoted'"])
    assert all(len(n) <= 31 for n in names)
    assert names[0] == long[:31] and names[1] == long[:29] + "~2"
    assert names[2] == "Methods~2"
    assert names[3] == "bad_name______"
    assert names[4] == "history~2"
    assert names[5] == "quoted"
    assert len({n.lower() for n in names}) == len(names)


# --------------------------------------------------------------------------- Methods rows

PRACTICE = """
[[instrument]]
key = "WEMWBS"
min = 14
max = 70
higher_is_worse = false
recall_days = 14
caseness = 41
remission = 52
rci_method = "jacobson-truax"
reliability = 0.89
rci_sd = 8.7
bands = [[14, "low"], [41, "moderate"], [60, "high"]]
"""


def _by_item(rows, section: str) -> dict[str, str]:
    return {item: text for sec, item, text in rows if sec == section}


def test_methods_rows_state_every_builtin_instrument_as_the_registry_defines_it():
    registry = default_registry()
    rows = methods_rows(registry, None)
    for ins in registry:
        got = _by_item(rows, f"Instrument {ins.key}")
        assert got["score range"].startswith(f"{ins.min:g} to {ins.max:g}")
        assert got["caseness (clinical range)"] == f"score >= {ins.caseness:g}"
        assert got["remission"] == f"score < {ins.remission:g}"
        assert f"at least {ins.reliable_change:g} points" in got["reliable change"]
        assert got["recall window"] == f"{ins.recall_days:g} days"
        assert f"up to {ins.max_missing_items} missing" in got["missing items"]
        assert f"x {ins.items};" in got["missing items"]
        for low, label in ins.bands:
            assert f"{label} from {low:g}" in got["severity bands"]
    assert _by_item(rows, "Instrument PHQ-9")["safety item"].startswith("item 9")


def test_methods_rows_state_a_practice_instrument_with_the_jacobson_truax_rule():
    registry = load_registry(practice_text=PRACTICE)
    got = _by_item(methods_rows(registry, None), "Instrument WEMWBS")
    assert got["score range"] == "14 to 70; lower is worse"
    assert got["caseness (clinical range)"] == "score < 41"
    assert got["remission"] == "score > 52"
    assert "Jacobson-Truax" in got["reliable change"]
    assert "r = 0.89" in got["reliable change"] and "norm SD 8.7" in got["reliable change"]
    assert got["severity bands"] == "low from 14; moderate from 41; high from 60"


def test_methods_rows_state_definitions_statistics_claims_and_disclosure():
    cfg = ClaimsConfig(rapid_days=5.0, lasting_share=0.6).to_dict()
    rows = methods_rows(default_registry(), cfg, min_n=10)
    defs = _by_item(rows, "Definitions")
    for centre, width in FOLLOW_UP_WINDOWS:
        assert f"{centre:g} +/- {width:g}" in defs["follow-up windows"]
    assert f">= {RESPONSE_FRACTION:g}" in defs["response"]
    stats = _by_item(rows, "Statistics")
    for key in ("d_z", "d_av", "g_av", "d_rm", "bootstrap", "proportions", "survival"):
        assert stats[key]
    assert "session * protocol" in stats["growth model"]
    claims = _by_item(rows, "Claims thresholds")
    assert claims.pop("multiple claims").startswith("One primary claim")
    assert claims == {k: str(v) for k, v in cfg.items()}
    assert "<10" in _by_item(rows, "Disclosure control")["small cells"]
    assert not any(text.startswith(("=", "+", "-", "@")) for _, _, text in rows)


def test_methods_info_uses_the_package_version():
    info = methods_info(default_registry(), None, DATE)
    assert info.software_version == __version__ == "0.1.0"
    assert info.header_rows()[1] == ("About", "generated on", "2024-05-01")
