"""Labels from files are shown as text (issue 10, point 9): a protocol, site, route or clinician
named like Markdown, a Streamlit directive, HTML or LaTeX is accepted by the validator, stored,
and then shown on every page exactly as written, never rendered. Checked on the escaping
helpers themselves (rendered with markdown-it, a CommonMark/GFM parser like Streamlit's) and on
the dashboard, run headless with AppTest on a store holding such labels: every Markdown body and
label on Overview, Claims, Trajectories, Outcomes (each tab), Safety and Patient, and every
string plotly draws."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from dashboard.charts import forest_chart, trajectory_chart
from dashboard.claims_view import scorecard_markdown
from dashboard.safe_text import WORD_JOINER, md_escape, plot_text, plot_texts
from data.ingest import load_export
from data.store import content_hash, open_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
DEMO_CSV = ROOT / "data" / "samples" / "demo_cohort.csv"

IMAGE = "![x](http://host/p.png)"
RED = ":red[RED]"
IMG_TAG = "<img src=x onerror=alert(1)>"
BOLD = "**bold**"
LINK = "[link](http://evil)"
LATEX = "$x^2$"
ANCHOR = '<a href="http://evil/">nasal</a>'  # plotly makes <a href> a live link
PLOTLY = '<a href="http://evil/">weekly</a> %{x} $x^2$'  # a link, a hover field, a formula
LABELS = (IMAGE, RED, IMG_TAG, BOLD, LINK, LATEX, ANCHOR, PLOTLY)
#: What a label rendered as markup would leave in a Markdown body: an unescaped "](" (link or
#: image), a directive, a tag, emphasis, a bare link, LaTeX.
RAW_MARKUP = re.compile(r"(?<!\\)\]\(|:red\[|<img|<a |<script|\*\*bold\*\*|\[link\]|\$x\^2\$|://")


# --------------------------------------------------------------------------- the helpers


def _markdown_html(text: str) -> str:
    from markdown_it import MarkdownIt

    md = MarkdownIt("gfm-like")  # tables, strikethrough, autolinks of www., http(s)://, e-mail
    md.linkify.set({"fuzzy_link": False})
    return md.render(text)


@pytest.mark.parametrize(
    "label", [*LABELS, ":smile: :material/home: :streamlit:", "- item", "1. one", "# h", "> q"]
)
def test_md_escape_leaves_no_markup_for_markdown_or_streamlit(label):
    shown = md_escape(label)
    rendered = _markdown_html(f"Protocol **{shown}** here")
    assert rendered.count("<") == 4  # only <p>, <strong> and their closing tags
    assert not RAW_MARKUP.search(shown)
    # Streamlit's own syntax: no directive (":red["), icon (":material/"), shortcode (":smile:")
    # or math ("$…$") survives; its plugins read the parsed text, so backslashes are not enough
    assert not re.search(r":[\w+-]+[:\[/]|(?<!\\)\$", shown)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("\n*_`[]<>&#!$:@~|\\-+.")
    )
)
def test_md_escape_reads_back_exactly_as_written(label):
    rendered = _markdown_html(f"x {md_escape(label)} x")
    inner = re.fullmatch(r"<p>x (.*) x</p>\n", rendered, flags=re.S)
    assert inner is not None, rendered  # one paragraph: no block, no tag of its own
    text = html.unescape(inner.group(1)).replace(WORD_JOINER, "")
    assert " ".join(text.split()) == " ".join(label.split())


def test_plot_text_keeps_tags_templates_and_formulas_out_of_plotly():
    shown = plot_text(f"{ANCHOR} %{{customdata[0]}} {LATEX} & <b>")
    assert "<" not in shown and ">" not in shown and "%{" not in shown and "$" not in shown
    # plotly turns the references back into characters when it draws: what it will show
    decoded = html.unescape(shown)
    assert decoded == f"{ANCHOR} %{{customdata[0]}} {LATEX} & <b>"
    assert plot_texts(pd.Series([ANCHOR, "P1"])).tolist() == [plot_text(ANCHOR), "P1"]


def test_scorecard_and_charts_escape_instrument_and_protocol_labels():
    from analysis.claims.evaluate import ClaimResult

    result = ClaimResult(
        id="large-improvement", instrument=IMAGE, verdict="supported", n=30, estimate=50.0,
        ci=(40.0, 60.0), test="",
    )  # fmt: skip
    table = scorecard_markdown([result], [IMAGE])
    assert table.splitlines()[0] == f"| Claim | {md_escape(IMAGE)} |"
    points = pd.DataFrame(
        {"protocol": [ANCHOR, ANCHOR], "session": [0, 1], "n": [9, 8], "mean": [18.0, 12.0],
         "ci_lo": [16.0, 10.0], "ci_hi": [20.0, 14.0]}
    )  # fmt: skip
    fig = trajectory_chart(points)
    mean = next(t for t in fig.data if t.meta["role"] == "mean")
    assert mean.name == plot_text(ANCHOR) and plot_text(ANCHOR) in mean.hovertemplate
    assert mean.meta["protocol"] == ANCHOR  # the data keeps the label as written
    rows = pd.DataFrame(
        {"label": [f"PHQ-9 · {ANCHOR}"], "protocol": [ANCHOR], "estimate": [0.5],
         "ci_lo": [0.2], "ci_hi": [0.8], "n": [20]}
    )  # fmt: skip
    _no_markup_in_figure(json.loads(forest_chart(rows).to_json()))


def test_html_report_shows_the_labels_as_text():
    import datetime as dt

    from analysis.figures import fast_figures
    from analysis.methods import methods_info
    from analysis.research import research_tables
    from analysis.trajectories import by_session
    from dashboard import report
    from data.instruments import default_registry

    reg = default_registry()
    tidy = load_export(_attack_export(), filename="labels.csv").tidy
    fig = fast_figures(tidy, reg)
    tables = research_tables(tidy, fig, reg)
    rates = next(t.frame for t in tables if t.name == "outcomes")
    figures = report.report_figures(by_session(tidy), rates, fig.effects, reg)
    page = report.html_report(
        figures=figures, tables=tables, claims=list(fig.claims),
        methods=methods_info(reg, {}, dt.date(2024, 5, 1)), filters=f"site: {RED}",
        dataset=f"labels from {IMG_TAG}",
    )  # fmt: skip
    outside_scripts = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    assert not re.search(r"<img|<a |<script", outside_scripts)
    assert html.escape(IMG_TAG) in outside_scripts  # shown, as text
    for _, figure in figures:
        _no_markup_in_figure(json.loads(figure.to_json()))
    assert any(t.name == plot_text(PLOTLY) for _, f in figures for t in f.data)


# --------------------------------------------------------------------------- the dashboard


def _attack_export() -> bytes:
    """The demo cohort with markup for labels: two more protocols (the site C patients, and
    the weekly patients of site A), every site, three routes and every clinician."""
    d = pd.read_csv(DEMO_CSV, dtype=str, keep_default_na=False)
    d.loc[(d["site"] == "Site A") & (d["protocol"] == "weekly"), "protocol"] = PLOTLY
    d.loc[d["site"] == "Site C", "protocol"] = IMAGE
    d["site"] = d["site"].map({"Site A": RED, "Site B": IMG_TAG, "Site C": BOLD})
    d["route"] = d["route"].replace({"IM": LINK, "IV": LATEX, "intranasal": ANCHOR})
    d["clinician"] = IMG_TAG
    return d.to_csv(index=False).encode("utf-8")


@pytest.fixture(scope="module")
def attack_store(tmp_path_factory) -> str:
    """A store holding the labels, committed the way an upload is (validator included)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('labels') / 'store.sqlite'}"
    data = _attack_export()
    checked = load_export(data, filename="labels.csv")
    assert checked.rejects.empty  # the validator takes every one of these labels
    with open_store(url) as store:
        result = store.commit(checked, filename="labels.csv", content_hash=content_hash(data))
        assert result.committed
        tidy = store.read_tidy()
    assert {IMAGE, PLOTLY, "weekly", "intensive"} <= set(tidy["protocol"].astype(str))
    assert {RED, IMG_TAG, BOLD} == set(tidy["site"].astype(str))
    return url


@pytest.fixture
def store_url(attack_store, monkeypatch) -> str:
    monkeypatch.setenv("RELIEFCHECK_DB_URL", attack_store)
    return attack_store


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _markdown_texts(at: AppTest) -> list[str]:
    """Every text Streamlit renders as Markdown on the page: bodies (markdown, captions,
    alerts, headings), labels and help of widgets, metrics, expanders and tabs, the options of
    segmented controls and radios. Select boxes' options and table cells are plain text."""
    from google.protobuf.json_format import MessageToDict

    out: list[str] = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or getattr(node, "type", "") in ("plotly_chart", "dataframe"):
            continue
        fields = MessageToDict(proto)
        out += [v for k, v in fields.items() if k in ("body", "label", "help") and v]
        if getattr(node, "type", "") in ("button_group", "radio"):
            out += [o["content"] if isinstance(o, dict) else o for o in fields.get("options", [])]
    return out


def _plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(node.proto.spec) for node in _walk(at._tree)
            if getattr(node, "type", "") == "plotly_chart"]  # fmt: skip


def _strings(obj, skip=("meta", "legendgroup")):  # ids and test data, never drawn
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k not in skip:
                yield from _strings(v, skip)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v, skip)


def _no_markup_in_figure(spec: dict) -> None:
    for s in _strings({"data": spec.get("data"), "layout": spec.get("layout")}):
        assert not re.search(r"<img|<a |\$x\^2\$|%\{x\} (\$|&#36;)", s), s  # tag, link, TeX, field


def _page(page: str, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _check(at: AppTest) -> list[str]:
    texts = _markdown_texts(at)
    for text in texts:
        assert not RAW_MARKUP.search(text), text
    for spec in _plotly_specs(at):
        _no_markup_in_figure(spec)
    return texts


@pytest.mark.parametrize(
    "page", ["overview", "claims", "trajectories", "safety", "patient", "compare"]
)
def test_pages_show_markup_labels_as_text(store_url, page):
    at = _page(page)
    texts = _check(at)
    if page == "overview":
        assert f"{md_escape(IMAGE.capitalize())} protocol" in texts
    if page == "compare":  # the site labels are dots' labels in the funnel plot, as written
        marks = [t for s in _plotly_specs(at) for t in s["data"] if t.get("mode") == "markers+text"]
        assert {plot_text(RED), plot_text(IMG_TAG)} <= {x for t in marks for x in t["text"]}


OUTCOME_TABS = ["Rates", "Inclusion funnel", "Jacobson plot", "Waterfall", "Time to improvement",
                "Effect sizes", "Who got which protocol"]  # fmt: skip


@pytest.mark.parametrize("tab", OUTCOME_TABS)
def test_every_outcomes_tab_shows_markup_labels_as_text(store_url, tab):
    at = _page("outcomes", outcomes_tab=tab)
    _check(at)
    specs = _plotly_specs(at)
    if tab == "Rates":
        names = {t.get("name") for s in specs for t in s["data"]}
        assert {plot_text(IMAGE), plot_text(PLOTLY)} <= names  # in the legend, as written
    if tab == "Who got which protocol":  # routes are covariates: labels above the rows
        notes = [a.get("text") for s in specs for a in s["layout"].get("annotations", [])]
        assert any(plot_text(ANCHOR) in n for n in notes if n)


def test_filters_name_the_labels_as_text_on_every_page(store_url):
    chosen = {"filter_sites": [RED, IMG_TAG], "filter_routes": [LINK, LATEX, ANCHOR]}
    for page in ("overview", "trajectories", "outcomes", "safety", "claims"):
        texts = _check(_page(page, **chosen))
        filters = [t for t in texts if t.startswith("Filters: ")]
        assert filters and md_escape(RED) in filters[0] and md_escape(ANCHOR) in filters[0], page


def test_patient_page_names_site_and_route_as_text(store_url):
    with open_store(store_url) as store:
        tidy = store.read_tidy()
    mine = tidy.loc[(tidy["site"] == IMG_TAG) & (tidy["route"] == ANCHOR)]
    pid = str(mine["patient_id"].iloc[0])
    at = _page("patient", patient_id=pid)
    texts = _check(at)
    assert any(f"site **{md_escape(IMG_TAG)}** · route **{md_escape(ANCHOR)}**" in t
               for t in texts)  # fmt: skip
