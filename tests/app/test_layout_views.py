"""The Outcomes page's Effect sizes tab follows the instrument picker, and the Overview's claims
scorecard shows only the instruments the sidebar filter keeps (AppTest, on the demo cohort)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture(autouse=True)
def empty_store(tmp_path, monkeypatch):
    """A fresh, empty outcome store for every test (never the user's own)."""
    monkeypatch.setenv("RELIEFCHECK_DB_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")


def _effects_table(at: AppTest):
    (table,) = [d.value for d in at.dataframe if "d_z" in d.value.columns]
    return table


def test_effect_sizes_tab_follows_the_instrument_picker(monkeypatch):
    from dashboard import results

    monkeypatch.setattr(results, "AUTO_BOOTSTRAP_MAX", 0)  # the quick effects only
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("app_pages/outcomes.py").run()
    at.session_state["outcomes_tab"] = "Effect sizes"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert set(_effects_table(at)["instrument"]) == {"PHQ-9"}
    at.segmented_control(key="outcomes_instrument").set_value("GAD-7").run()
    assert not at.exception, [e.message for e in at.exception]
    assert set(_effects_table(at)["instrument"]) == {"GAD-7"}
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert titles and all("GAD-7: between protocols" in t for t in titles)


def _scorecard(at: AppTest) -> str:
    (table,) = [m.value for m in at.markdown if m.value.startswith("| Claim |")]
    return table


def test_scorecard_shows_only_the_filtered_instruments():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert _scorecard(at).splitlines()[0] == "| Claim | PHQ-9 | GAD-7 | PCL-5 |"
    at.multiselect(key="filter_instruments").set_value(["GAD-7"]).run()
    assert not at.exception, [e.message for e in at.exception]
    table = _scorecard(at)
    assert table.splitlines()[0] == "| Claim | GAD-7 |"
    assert "PHQ-9" not in " ".join(c.value for c in at.caption if c.value.startswith("Not test"))
