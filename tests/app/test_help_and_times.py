"""The Help page (issue 12): a glossary entry, with its anchor, for every "How this is computed"
expander, thresholds from the registry in use, and the entry a link asks for shown first; and
the Uploads history in the viewer's time zone with the audit detail as readable fields."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import audit, glossary, times
from dashboard.upload_flow import history_table, undo_choices
from data.ingest import load_export
from data.store import content_hash, open_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
PAGES = ROOT / "dashboard" / "app_pages"
WIDE = ROOT / "data" / "samples" / "wide.csv"
REGISTRY_TOML = ROOT / "data" / "instruments.toml"


@pytest.fixture
def store_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("RELIEFCHECK_DB_URL", url)
    return url


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _page(page: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    _ok(at)
    return at


def _call_site_anchors() -> dict[str, list[str | None]]:
    """Every ``how_computed(...)`` call in the pages: file → the help_anchor each passes."""
    found: dict[str, list[str | None]] = {}
    for path in sorted(PAGES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "how_computed"
            ):
                kw = {k.arg: k.value for k in node.keywords}
                anchor = kw.get("help_anchor")
                value = anchor.value if isinstance(anchor, ast.Constant) else None
                found.setdefault(path.name, []).append(value)
    return found


# --------------------------------------------------------------------------- Help page


def test_every_how_computed_links_to_an_anchor_that_exists_on_the_help_page(store_url):
    sites = _call_site_anchors()
    assert sum(len(v) for v in sites.values()) >= 10  # the pages' expanders were all found
    missing = {f: a for f, a in sites.items() if None in a}
    assert not missing, f"how_computed without help_anchor: {missing}"
    at = _page("help")
    anchors = {h.proto.anchor for h in at.subheader}
    wanted = {a for v in sites.values() for a in v}
    assert wanted <= anchors, wanted - anchors
    assert anchors >= glossary.ANCHORS  # every glossary entry is on the page


def test_help_covers_every_figure_and_claim_with_references(store_url):
    at = _page("help")
    titles = " | ".join(h.value for h in at.subheader)
    for word in ("Reliable change", "Jacobson", "Response", "Remission", "deterioration",
                 "Caseness", "g_av", "d_z", "d_av", "d_rm", "Completers", "paired",
                 "Wilson", "BCa", "Kaplan", "Growth model", "Holm", "Settings stamp",
                 "Regression to the mean", "references", "Expected recovery"):  # fmt: skip
        assert word.lower() in titles.lower(), word
    from analysis.claims.verdicts import CLAIM_TEXT

    for text in CLAIM_TEXT.values():
        assert text in titles
    captions = [c.value for c in at.caption if c.value.startswith("References:")]
    assert len(captions) == len(glossary.ENTRIES)  # every entry cites its sources
    assert any("Jacobson NS, Truax P" in c for c in captions)


def test_help_thresholds_come_from_the_registry_in_use(store_url):
    from dashboard.state import INSTRUMENTS_KEY

    text = REGISTRY_TOML.read_text("utf-8").replace("reliable_change = 6", "reliable_change = 7", 1)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[INSTRUMENTS_KEY] = text
    at.run()
    at.switch_page("app_pages/help.py").run()
    _ok(at)
    body = " ".join(m.value for m in at.markdown)
    assert "**PHQ-9**: a change of 7 points or more (fixed threshold)" in body
    assert "**GAD-7**: a change of 4 points or more" in body  # unchanged from the file
    assert "**PHQ-9**: 10 or more" in body  # caseness, from the registry


def test_a_how_computed_link_opens_its_entry_first(store_url):
    at = _page("outcomes")
    links = [p.proto for p in at.page_link if p.proto.page == "help"]
    assert links and links[0].query_string == "topic=denominators"
    at = _page("help", topic="g-av")
    first = at.subheader[0]
    assert first.value.startswith("Hedges' g_av") and first.proto.anchor == ""  # the copy
    assert any(h.proto.anchor == "g-av" for h in at.subheader[1:])  # and the entry itself


def test_an_unknown_topic_is_ignored(store_url):
    at = _page("help", topic="<script>")
    assert at.subheader[0].proto.anchor == glossary.ENTRIES[0].anchor


# --------------------------------------------------------------------------- times


def _uploads() -> pd.DataFrame:
    at = pd.to_datetime(["2025-01-15 23:30:00", "2025-07-01 12:00:05"], utc=True)
    return pd.DataFrame(
        {
            "upload_id": [1, 2],
            "filename": pd.array(["jan.csv", "jul.csv"], dtype="string"),
            "status": pd.array(["undone", "committed"], dtype="string"),
            "committed_at": at,
            "undone_at": pd.to_datetime([at[1], pd.NaT], utc=True),
            "uploader": pd.array(["local", "local"], dtype="string"),
            "undone_by": pd.array(["local", pd.NA], dtype="string"),
            "n_rows": [3, 4],
            "n_active": [0, 4],
        }
    )


def test_history_times_are_in_the_viewers_zone_named_in_the_heading():
    shown = audit.with_undone_by(history_table(_uploads(), "America/New_York"), _uploads())
    assert "committed (America/New_York)" in shown and "undone (America/New_York)" in shown
    # newest first; January is EST (UTC−5), July EDT (UTC−4)
    assert shown["committed (America/New_York)"].tolist() == [
        "2025-07-01 08:00:05",
        "2025-01-15 18:30:00",
    ]
    assert shown["undone (America/New_York)"].tolist() == ["", "2025-07-01 08:00:05"]
    assert shown["undone by"].tolist() == ["", "local"]  # blank, never "None"
    assert not shown.astype(str).isin(["None", "NaT", "<NA>", "nan"]).any().any()


def test_unknown_or_missing_zone_falls_back_to_utc():
    for zone in (None, "", "Not/AZone", "../etc"):
        shown = history_table(_uploads(), zone)  # type: ignore[arg-type]
        assert "committed (UTC)" in shown
        assert shown["committed (UTC)"].iloc[1] == "2025-01-15 23:30:00"
    assert times.zone_or_utc("Europe/Berlin") == "Europe/Berlin"


def test_undo_choices_show_the_local_time_and_zone():
    choices = undo_choices(_uploads(), "Asia/Tokyo")
    assert choices == {2: "#2 · jul.csv · 4 assessments stored · 2025-07-01 21:00 Asia/Tokyo"}


def test_audit_detail_is_readable_fields_with_the_values_as_plain_text():
    log = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "at": pd.to_datetime(["2025-03-01 10:00:00"] * 3, utc=True),
            "action": ["commit", "replace", "odd"],
            "upload_id": pd.array([1, 1, pd.NA], dtype="Int64"),
            "patient_id": [None, "P-ABC", None],
            "detail": [
                '{"filename": "=HYPERLINK(\\"x\\")**b**.csv", "n_rows": 1234, "n_added": 1234,'
                ' "n_replaced": 0, "uploader": "local"}',
                '{"instrument": "PHQ-9", "session": 1, "day": 7.5, "old_score": 15.0,'
                ' "new_score": 12.0, "replaced_row": 2}',
                "not json",
            ],
            "actor": pd.array([pd.NA, "ann@example.org", "local"], dtype="string"),
        }
    )
    table = audit.audit_table(log, "Europe/Paris")
    assert list(table.columns) == ["when (Europe/Paris)", "what happened", "upload",
                                   "patient (pseudonym)", "who", "detail"]  # fmt: skip
    details = table["detail"].tolist()[::-1]  # oldest first again
    assert details[0] == (
        'file: =HYPERLINK("x")**b**.csv · uploaded by: local · rows offered: 1,234 · added: 1,234'
    )  # the value as it is (a table cell is plain text); zero counts left out
    assert details[1] == (
        "instrument: PHQ-9 · session: 1 · day: 7.5 · score before: 15 · new score: 12 · "
        "stored row: 2"
    )
    assert details[2] == "not json"
    assert table["when (Europe/Paris)"].iloc[0] == "2025-03-01 11:00:00"
    assert table["who"].tolist()[::-1] == ["not recorded", "ann@example.org", "local"]
    assert table["upload"].tolist()[::-1] == ["1", "1", ""]
    assert not any("{" in d for d in details)


def test_uploads_page_shows_times_in_the_browser_zone_and_readable_audit(store_url, monkeypatch):
    data = WIDE.read_bytes()
    with open_store(store_url) as store:
        store.commit(load_export(data, filename="wide.csv"), filename="wide.csv",
                     content_hash=content_hash(data))  # fmt: skip
    monkeypatch.setattr(times, "viewer_zone", lambda: "Australia/Sydney")
    at = _page("uploads")
    history = at.dataframe[0].value
    assert "committed (Australia/Sydney)" in history.columns
    assert "committed (UTC)" not in history.columns
    assert any("Times are in Australia/Sydney" in c.value for c in at.caption)
    log = at.dataframe[1].value
    assert "when (Australia/Sydney)" in log.columns
    assert log["detail"].iloc[0].startswith("file: wide.csv · uploaded by: local · rows offered:")
    assert not log["detail"].str.contains("{", regex=False).any()
    label = at.selectbox(key="undo_pick").options[0]
    assert label.endswith("Australia/Sydney") and " 561 assessments stored" in label
