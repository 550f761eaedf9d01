"""The dashboard on the outcome store, run headless with Streamlit's AppTest: a store with data
replaces the demo cohort (no banner), a single-protocol dataset renders every page and says why
comparisons are absent, and the upload flow: a good file is checked, committed, listed in the
history and undone; a bad file gets its report and nothing is committed.

Expected counts come from reading the sample files with pandas, not from the dashboard."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from data.ingest import load_export
from data.store import content_hash, open_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
WIDE = ROOT / "data" / "samples" / "wide.csv"
DEMO_CSV = ROOT / "data" / "samples" / "demo_cohort.csv"
PAGES = ["overview", "claims", "trajectories", "outcomes", "safety", "compare", "patient", "upload",
         "uploads", "downloads", "settings", "help"]  # fmt: skip
BAD_ROWS = (
    "patient_id,protocol,instrument,session,day,score\n"
    "P1,weekly,PHQ-9,0,0,18\n"
    "P1,weekly,PHQ-9,1,7,31\n"  # row 3: above the PHQ-9 maximum
    "P2,retreat,GAD-7,0,0,12\n"
    "P2,retreat,BDI,1,3,9\n"  # row 5: an instrument the registry does not know
    "P2,retreat,GAD-7,1,3,8\n"
)


@pytest.fixture
def store_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("RELIEFCHECK_DB_URL", url)
    return url


def _commit(url: str, data: bytes, filename: str) -> None:
    with open_store(url) as store:
        result = store.commit(
            load_export(data, filename=filename), filename=filename, content_hash=content_hash(data)
        )
    assert result.committed


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _demo_banner(at: AppTest) -> bool:
    return any("Synthetic demo data" in w.value for w in at.warning)


# --------------------------------------------------------------------------- store with data


def test_a_store_with_data_replaces_the_demo_cohort(store_url):
    _commit(store_url, WIDE.read_bytes(), "wide.csv")
    wide = pd.read_csv(WIDE)
    phq = wide[wide["PHQ9 Total"].notna()].groupby("Protocol")["Client ID"].nunique()
    at = _app()
    assert not _demo_banner(at)
    assert any("your practice's uploads" in c.value for c in at.sidebar.caption)
    assessed = [m.value for m in at.metric if m.label == "Patients assessed"]
    assert assessed == [str(phq["Retreat"]), str(phq["Standard weekly"])]  # intensive, weekly


def test_single_protocol_data_renders_every_page_and_says_why_comparisons_are_absent(store_url):
    demo = pd.read_csv(DEMO_CSV)
    weekly = demo[demo["protocol"] == "weekly"].to_csv(index=False).encode()
    _commit(store_url, weekly, "weekly_only.csv")
    at = _app()
    assert not _demo_banner(at)
    assert [s.value for s in at.subheader if s.value.endswith("protocol")] == ["Weekly protocol"]
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        _ok(at)
    at.switch_page("app_pages/claims.py").run()
    reasons = [m.value for m in at.markdown if m.value.startswith("Not testable: Fewer than")]
    assert len(reasons) == 3  # intensive-faster on PHQ-9, GAD-7 and PCL-5
    assert all("(intensive 0, weekly" in r for r in reasons)
    why = "Every patient here is on the weekly protocol, so there is nothing to compare."
    at.switch_page("app_pages/trajectories.py").run()
    assert why in [c.value for c in at.caption]  # the matched-day comparison
    at.switch_page("app_pages/outcomes.py").run()
    at.session_state["outcomes_tab"] = "Effect sizes"
    at.run()
    _ok(at)
    assert f"**Between protocols**: {why}" in [i.value for i in at.info]


# --------------------------------------------------------------------------- upload flow


def _upload(at: AppTest, name: str, data: bytes) -> None:
    at.file_uploader(key="upload_file").set_value((name, data, "text/csv")).run()
    _ok(at)


def test_upload_a_good_file_commit_see_it_in_the_history_and_undo(store_url):
    wide = pd.read_csv(WIDE)
    n_scores = int(wide[["PHQ9 Total", "GAD7 Total", "PCL5 Total"]].notna().sum().sum())
    at = _app("upload")
    assert _demo_banner(at)
    _upload(at, "wide.csv", WIDE.read_bytes())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows in the file"] == str(len(wide))
    assert metrics["Assessments accepted"] == str(n_scores)
    assert metrics["Rows set aside"] == "0"
    assert open_store(store_url).is_empty()  # checking stores nothing

    (commit,) = [b for b in at.button if b.label.startswith("Commit ")]
    assert commit.label == f"Commit {n_scores} assessments to the store"
    commit.click().run()
    _ok(at)
    assert any(f"Stored {n_scores} new assessments from wide.csv" in s.value for s in at.success)
    assert not _demo_banner(at)  # every page now shows the store
    assert len(open_store(store_url).read_tidy()) == n_scores

    at.switch_page("app_pages/uploads.py").run()
    _ok(at)
    history = at.dataframe[0].value
    assert history[["file", "added", "status"]].values.tolist() == [
        ["wide.csv", n_scores, "committed"]
    ]
    at.button(key="undo_start").click().run()
    assert any("Undo upload #1 (wide.csv)?" in w.value for w in at.warning)
    # the question gives the undo's own counts, worked out and rolled back
    assert any(f"{n_scores:,} stored assessments leave the store" in w.value for w in at.warning)
    assert not open_store(store_url).is_empty()  # nothing happens before the confirmation
    at.button(key="undo_confirm").click().run()
    _ok(at)
    assert any("Undid upload 1" in s.value for s in at.success)
    assert open_store(store_url).is_empty()
    assert _demo_banner(at)
    assert at.dataframe[0].value["status"].tolist() == ["undone"]


def test_upload_with_bad_rows_reports_them_and_commits_nothing(store_url):
    at = _app("upload")
    _upload(at, "bad.csv", BAD_ROWS.encode())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Assessments accepted"] == "3" and metrics["Rows set aside"] == "2"
    report = " ".join(m.value for m in at.markdown)
    assert "row 3" in report and "row 5" in report
    labels = [b.label for b in at.get("download_button")]
    assert "Download the 2 rows set aside (CSV)" in labels
    assert open_store(store_url).is_empty()


def test_unusable_file_gets_its_problems_no_commit_and_a_mapping_that_fixes_it(store_url):
    data = b"Code,protocol,instrument,session,day,score\nA1,weekly,PHQ-9,0,0,14\nA1,weekly,PHQ-9,1,7,9\n"
    at = _app("upload")
    _upload(at, "codes.csv", data)
    assert any("This file cannot be used" in e.value for e in at.error)
    assert not [b for b in at.button if b.label.startswith("Commit ")]
    box = next(s for s in at.selectbox if s.label == "Code")
    assert box.value is None  # not detected: the column is not used
    box.set_value("patient_id")
    next(b for b in at.button if b.label == "Read the file again with this mapping").click().run()
    _ok(at)
    assert not at.error
    assert {m.label: m.value for m in at.metric}["Assessments accepted"] == "2"
    assert open_store(store_url).is_empty()


def test_file_without_a_protocol_column_asks_for_one(store_url):
    wide = pd.read_csv(WIDE).drop(columns=["Protocol"])
    at = _app("upload")
    _upload(at, "no_protocol.csv", wide.to_csv(index=False).encode())
    assert any("This file cannot be used" in e.value for e in at.error)
    at.selectbox(key="upload_default_protocol").set_value("weekly").run()
    _ok(at)
    assert not at.error
    n_scores = int(wide[["PHQ9 Total", "GAD7 Total", "PCL5 Total"]].notna().sum().sum())
    assert {m.label: m.value for m in at.metric}["Assessments accepted"] == str(n_scores)


def test_the_same_file_twice_is_recognised(store_url):
    _commit(store_url, WIDE.read_bytes(), "wide.csv")
    at = _app("upload")
    _upload(at, "wide again.csv", WIDE.read_bytes())
    # Recognised before anything is written (issue 12): no commit is offered.
    assert any("wide again.csv" in i.value and "upload 1" in i.value for i in at.info)
    assert not [b for b in at.button if b.label.startswith("Commit ")]
    assert len(open_store(store_url).uploads()) == 1


def test_xlsx_sheet_choice(store_url):
    sheets = io.BytesIO()
    with pd.ExcelWriter(sheets) as xl:
        pd.DataFrame({"note": ["exported by hand"]}).to_excel(xl, sheet_name="About", index=False)
        pd.read_csv(WIDE).to_excel(xl, sheet_name="Scores", index=False)
    at = _app("upload")
    at.file_uploader(key="upload_file").set_value(("book.xlsx", sheets.getvalue(), "x")).run()
    _ok(at)
    box = next(s for s in at.selectbox if s.label == "Sheet")
    assert box.options[1:] == ["About", "Scores"]
    box.set_value("Scores").run()
    _ok(at)
    assert {m.label: m.value for m in at.metric}["Rows in the file"] == str(len(pd.read_csv(WIDE)))


def test_patient_page_finds_a_patient_by_the_clinics_own_id(store_url):
    """Issue 10: the store holds pseudonyms only; typing the clinic's id selects the patient
    filed under its keyed hash, and the typed id is neither listed nor kept."""
    _commit(store_url, WIDE.read_bytes(), "wide.csv")
    clinic_id = str(pd.read_csv(WIDE)["Client ID"].iloc[0])
    at = _app("patient")
    listed = at.selectbox(key="patient_id").options
    assert clinic_id not in listed and all(o.startswith("P-") for o in listed)
    at.text_input(key="patient_lookup").set_value(clinic_id).run()
    _ok(at)
    with open_store(store_url) as s:
        expected = s.pseudonym_of(clinic_id)
    assert at.selectbox(key="patient_id").value == expected
    assert at.text_input(key="patient_lookup").value == ""
    at.text_input(key="patient_lookup").set_value("no such id").run()
    assert any("No patient with that id" in w.value for w in at.warning)
    assert at.selectbox(key="patient_id").value == expected
