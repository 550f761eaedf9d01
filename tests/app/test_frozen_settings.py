"""Claim settings frozen before data arrive (AppTest): the owner freezes them on the Claims page,
every page then says the verdicts used them, a threshold moved afterwards is named on the Claims
page, the Overview, the Downloads page and the sidebar, a settings row changed in the database is
flagged, and only the owner may freeze. Expected values come from the store and
``analysis.settings_stamp``, not from the page."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from analysis.claims.config import ClaimsConfig
from analysis.settings_stamp import canonical_json
from data.store import open_store
from data.store.engine import make_engine, normalise_url

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")


@pytest.fixture
def store_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("RELIEFCHECK_DB_URL", url)
    return url


def _run(at: AppTest, page: str | None = None) -> AppTest:
    if page:
        at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _says(at: AppTest, words: str) -> bool:
    shown = [*at.warning, *at.caption, *at.sidebar.caption]
    return any(words in w.value for w in shown)


def test_owner_freezes_before_data_and_a_later_change_is_stamped_everywhere(store_url):
    at = _run(AppTest.from_file(APP, default_timeout=120), "claims")  # local: the owner
    assert _says(at, "Claim settings: the defaults")
    at.button(key="claims_freeze").click()
    _run(at)
    with open_store(store_url) as s:
        (record,) = s.frozen_settings()
    defaults = canonical_json(ClaimsConfig())
    assert record.settings == defaults and record.n_scores == 0
    assert record.sha256 == hashlib.sha256(defaults.encode()).hexdigest()
    assert _says(at, "Claim settings as pre-registered: frozen")
    assert _says(at, "before any scores were stored")
    assert not any("Claim settings" in w.value for w in at.warning)

    at.slider(key="claims_large_share").set_value(40)
    _run(at)
    changed = "Claim settings changed after freezing: large_share 40% (frozen 50%)"
    assert any(changed in w.value for w in at.warning)
    for page in ("overview", "downloads"):
        _run(at, page)
        assert any(changed in w.value for w in at.warning), page
        assert any("changed after freezing" in c.value for c in at.sidebar.caption), page


def test_a_frozen_settings_row_changed_in_the_database_is_flagged(store_url):
    with open_store(store_url) as s:
        s.freeze_settings(canonical_json(ClaimsConfig()))
    engine = make_engine(normalise_url(store_url))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE frozen_settings SET settings = :s"), {"s": '{"large_share": 0.3}'}
        )
    engine.dispose()
    at = _run(AppTest.from_file(APP, default_timeout=120), "overview")
    assert any("do not match their stored fingerprint" in w.value for w in at.warning)


def test_the_frozen_settings_are_the_ones_a_session_starts_with(store_url):
    with open_store(store_url) as s:
        s.freeze_settings(canonical_json(ClaimsConfig(large_share=0.6, min_patients=12)))
    at = _run(AppTest.from_file(APP, default_timeout=120), "claims")
    assert at.slider(key="claims_large_share").value == 60
    assert at.number_input(key="claims_min_patients").value == 12
    assert _says(at, "Claim settings as pre-registered")


def test_a_page_that_stops_early_still_shows_the_settings_stamp(store_url):
    """The Upload page with no file stops (st.stop) before anything below it: the sidebar
    stamp is drawn before the page runs, so it is there too."""
    at = _run(AppTest.from_file(APP, default_timeout=120), "upload")
    assert not at.exception
    assert any("Claim settings" in str(c.value) for c in at.sidebar.caption)
