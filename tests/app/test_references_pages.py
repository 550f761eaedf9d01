"""Published references on the dashboard (AppTest on the demo cohort): every benchmark that
applies to an instrument is listed beside the Overview's scorecard with its value and source,
and under the verdicts it sits beside on the Claims page. Expected values come from
data/benchmarks.toml (``default_benchmarks``), not from the page."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.safe_text import md_escape
from data.benchmarks import default_benchmarks

NUMBER = re.compile(r"-?\d+(\.\d+)?")

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")


@pytest.fixture
def at(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("RELIEFCHECK_DB_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    app = AppTest.from_file(APP, default_timeout=180)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def test_overview_lists_every_benchmark_of_the_chosen_instrument(at):
    frame = next(d.value for d in at.dataframe if "Source" in d.value.columns)
    expected = {
        (b.citation.short, b.value)
        for b in default_benchmarks().for_instrument("PHQ-9")
        if b.claims
    }
    shown = [
        (src, float(m.group()))
        for src, ref in zip(frame["Source"], frame["Reference"], strict=True)
        if (m := NUMBER.search(ref))
    ]
    missing = {
        (src, v) for src, v in expected
        if not any(s.startswith(src) and r == pytest.approx(v) for s, r in shown)
    }  # fmt: skip
    assert not missing, missing
    assert set(frame["Instrument"]) <= {"PHQ-9", ""}  # "": claims tested on no one instrument


def test_claims_page_shows_each_reference_under_its_verdict(at):
    at.switch_page("app_pages/claims.py").run()
    assert not at.exception, [e.message for e in at.exception]
    captions = " ".join(c.value for c in at.caption)
    for b in default_benchmarks().for_instrument("PHQ-9"):
        if "large-improvement" in b.claims:
            assert md_escape(b.citation.short) in captions, b.id


def test_reference_labels_run_away_from_the_nearer_edge():
    """A label left of the middle runs rightwards and one right of it leftwards (so neither
    leaves a narrow plot); two on one row take turns above and below."""
    from dashboard.references_view import _label_positions

    got = _label_positions(pd.Series([0, 1, 0]), pd.Series([10.0, 90.0, 50.0]), 50.0)
    assert got == ["top right", "bottom left", "top left"]
