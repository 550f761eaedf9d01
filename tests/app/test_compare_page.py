"""The Sites & clinicians page (dashboard/app_pages/compare.py) in Streamlit's AppTest, and its
funnel plot (dashboard/charts_compare.py): the demo cohort's sites and clinicians inside the
limits, small units suppressed and counted, a plain message when the data names no site or
clinician, and unit labels drawn as text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.provider_compare import INSIDE, compare_units
from dashboard.charts_compare import funnel_plot
from data.ingest import load_export
from data.store import content_hash, open_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
WIDE = ROOT / "data" / "samples" / "wide.csv"


@pytest.fixture(autouse=True)
def store_url(tmp_path, monkeypatch) -> str:
    """A fresh, empty outcome store for every test (never the user's own)."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("RELIEFCHECK_DB_URL", url)
    monkeypatch.setenv("RELIEFCHECK_ROLES", str(tmp_path / "no-roles.toml"))
    return url


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/compare.py").run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _text(at: AppTest) -> str:
    return " ".join(m.value for m in [*at.markdown, *at.caption, *at.info, *at.warning])


def test_demo_sites_are_compared_and_all_lie_inside_the_limits():
    at = _page()
    assert [h.value for h in at.header] == ["Sites & clinicians"]
    table = at.dataframe[0].value
    assert list(table["site"]) == ["Site A", "Site B", "Site C"]
    assert list(table.columns[:5]) == ["site", "patients", "observed", "expected", "O/E"]
    assert set(table["flag"]) == {INSIDE}  # the demo cohort has no true site differences
    assert (table["patients"] >= 5).all()
    assert "3 sites shown" in _text(at)
    assert len(at.get("plotly_chart")) == 1


def test_clinicians_and_the_mean_change_outcome():
    at = _page()
    at.segmented_control(key="compare_unit").set_value("clinician").run()
    _ok(at)
    table = at.dataframe[0].value
    assert list(table.columns[:1]) == ["clinician"] and len(table) == 9
    at.selectbox(key="compare_outcome").set_value("mean_change").run()
    _ok(at)
    table = at.dataframe[0].value
    assert "observed mean" in table.columns and "O/E" not in table.columns
    assert "adjusted pts" in table.columns


def test_small_units_are_suppressed_and_counted(monkeypatch):
    monkeypatch.setenv("RELIEFCHECK_DEMO_PATIENTS", "40")
    at = _page()
    at.segmented_control(key="compare_unit").set_value("clinician").run()
    _ok(at)
    text = _text(at)
    assert "suppressed** (fewer than 5 paired patients each" in text
    shown = at.dataframe[0].value if len(at.dataframe) else pd.DataFrame({"patients": []})
    assert (shown["patients"] >= 5).all()


def test_data_without_site_or_clinician_says_so(store_url):
    data = WIDE.read_bytes()
    with open_store(store_url) as store:
        store.commit(load_export(data, filename="wide.csv"), filename="wide.csv",
                     content_hash=content_hash(data))  # fmt: skip
    at = _page()
    assert "This data names no site or clinician" in _text(at)
    assert len(at.dataframe) == 0 and len(at.get("plotly_chart")) == 0


def test_unit_labels_are_drawn_as_text_in_the_funnel_plot():
    evil = ['<a href="https://x.example">A</a>', "%{y} $x^2$", "<b>C</b>"]
    rng = np.random.default_rng(1)
    n = 90
    o = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "instrument": "PHQ-9",
            "protocol": "weekly",
            "paired": True,
            "baseline": rng.normal(15, 4, n),
            "reliable_improvement": pd.array(rng.random(n) < 0.5, dtype="boolean"),
            "change": 0.0,
        }
    )
    units = pd.Series([evil[i % 3] for i in range(n)], index=o["patient_id"])
    fig = funnel_plot(compare_units(o, units, "PHQ-9", unit_column="site"))
    marks = [t for t in fig.data if t.mode == "markers+text"]
    drawn = json.dumps([[list(t.text), list(t.hovertext)] for t in marks])
    assert "<a" not in drawn and "<b>" not in drawn and "%{y}" not in drawn and "$x" not in drawn
    assert "&lt;a href" in drawn and "&lt;b&gt;C&lt;/b&gt;" in drawn
