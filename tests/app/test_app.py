"""The dashboard as a whole on an empty store, run headless with Streamlit's AppTest: it opens
on the synthetic demo cohort under its banner, every page renders without an exception, the
sidebar filters reach every page, the claims cards and scorecard give the verdicts of
``analysis.figures`` and follow the thresholds, and the downloads list the researcher tables.
(Speed is measured by ``benchmarks/dashboard.py``, not here.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.claims.config import ClaimsConfig
from analysis.figures import fast_figures, with_slow_figures
from analysis.research import research_tables
from dashboard.claims_view import SHORT_NAMES
from dashboard.safe_text import md_escape
from data.demo.cohort import DEFAULT_N_PATIENTS, DEFAULT_SEED, generate_demo
from data.instruments import default_registry

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PAGES = {
    "overview": "Overview",
    "claims": "Claims",
    "trajectories": "Trajectories",
    "outcomes": "Outcomes",
    "safety": "Safety",
    "compare": "Sites & clinicians",
    "patient": "Patient",
    "upload": "Upload an outcomes export",
    "uploads": "Uploads history",
    "downloads": "Downloads",
    "settings": "Settings",
    "help": "Help: what each figure means",
}


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
    assert "Claims scorecard" in [s.value for s in at.subheader]


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


def _demo_figures(filters=None, config=None):
    """The reference: ``analysis.figures.fast_figures`` on the demo cohort (filtered)."""
    import os

    from analysis.claims.config import ClaimsConfig
    from dashboard.state import DEMO_PATIENTS_ENV
    from data.demo.cohort import generate_demo
    from data.instruments import default_registry

    tidy = generate_demo(
        n_patients=int(os.environ.get(DEMO_PATIENTS_ENV, DEFAULT_N_PATIENTS)), seed=DEFAULT_SEED
    )
    if filters is not None:
        from dashboard import compute

        tidy = compute.filter_tidy(tidy, compute.patient_attributes(tidy), filters)
    return fast_figures(tidy, default_registry(), config or ClaimsConfig())


def _badges(at: AppTest) -> list[str]:
    """Verdicts of the badges on the page, in order (``st.badge`` draws ``:colour-badge[…]``)."""
    one = re.compile(r":[a-z]+-badge\[([^\]]*)\]")
    return [m[1].lower() for x in at.markdown if (m := one.fullmatch(x.value.strip()))]


def test_claim_cards_give_the_verdicts_of_the_analysis():
    fig = _demo_figures()
    at = _app()
    at.switch_page("app_pages/claims.py").run()
    _no_exception(at)
    assert _badges(at) == [c.verdict for c in fig.claims]
    captions = [c.value for c in at.caption]
    assert sum(c.startswith("**Test:**") for c in captions) == len(fig.claims)
    expanders = [e.label for e in at.expander]
    assert sum(x.startswith("Caveats (") for x in expanders) >= len(fig.claims) - 3


def test_claims_thresholds_change_the_verdicts():
    at = _app()
    at.switch_page("app_pages/claims.py").run()
    at.slider(key="claims_large_share").set_value(0).run()
    _no_exception(at)
    # a share of 0% is cleared by any Wilson lower bound (>= 0): every large-improvement test
    # with at least min_patients patients is supported; the rest follow the reference
    fig = _demo_figures(config=ClaimsConfig(large_share=0.0))
    assert _badges(at) == [c.verdict for c in fig.claims]
    large = [c for c in fig.claims if c.id == "large-improvement"]
    assert large and all(c.verdict == "supported" for c in large)


def test_comparison_claim_says_why_it_cannot_be_tested_on_one_protocol():
    at = _app()
    at.multiselect(key="filter_protocols").set_value(["intensive"]).run()
    at.switch_page("app_pages/claims.py").run()
    _no_exception(at)
    reasons = [m.value for m in at.markdown if m.value.startswith("Not testable: Fewer than")]
    assert reasons and all("weekly 0)" in r for r in reasons)


def test_overview_scorecard_has_a_row_per_claim():
    fig = _demo_figures()
    at = _app()
    (table,) = [m.value for m in at.markdown if m.value.startswith("| Claim |")]
    rows = table.splitlines()[2:]
    assert [r.split("|")[1].strip(" *") for r in rows] == [
        SHORT_NAMES[c] for c in dict.fromkeys(c.id for c in fig.claims)
    ]
    assert table.count("-badge[") == len(fig.claims)


def test_downloads_list_every_researcher_table():
    tidy, reg = generate_demo(), default_registry()
    fig = with_slow_figures(_demo_figures(), tidy, reg, n_boot=20)  # included by default
    titles = [md_escape(t.title) for t in research_tables(tidy, fig, reg)]  # as shown
    at = _app()
    at.switch_page("app_pages/downloads.py").run()
    _no_exception(at)
    shown = [m.value.strip("*") for m in at.markdown if m.value.startswith("**")]
    assert [t for t in shown if t in titles] == titles
    labels = [b.label for b in at.get("download_button")]
    for label in ("All tables (XLSX)", "All tables (Markdown)", "Summary (JSON)",
                  "Report (HTML)", "Assessments (CSV)"):  # fmt: skip
        assert label in labels
    assert labels.count("CSV") == len(titles)


def test_slow_figures_included_by_default_and_skipped_on_request():
    at = _app()
    at.switch_page("app_pages/downloads.py").run()
    _no_exception(at)
    assert any(m.value.startswith("**Included:** BCa bootstrap") for m in at.markdown)
    titles = [m.value for m in at.markdown if m.value.startswith("**Growth models")]
    assert titles  # the growth-model table is among the downloads
    at.toggle(key="dl_skip_slow").set_value(True).run()
    _no_exception(at)
    assert any(
        m.value.startswith("**Bootstrap CIs and growth models left out") for m in at.markdown
    )
    assert not [m.value for m in at.markdown if m.value.startswith("**Growth models")]
