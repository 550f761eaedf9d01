"""What each role sees inside the pages (AppTest; the set-up is test_access.py's): Safety
gives researchers counts and no patients, Outcomes' per-patient charts carry no patient ids for
them, Trajectories' individual patients and Downloads' patient-level dataset are for staff and
the owner, a clinician undoes only their own uploads, and uploads are recorded under the
signed-in e-mail."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.components import md_escape
from data.ingest import load_export
from data.store import content_hash, open_store
from tests.app.test_access import (
    PATIENT_ID,
    USERS,
    WIDE,
    _app,
    _ok,
    _signed_in,
    _text,
    store_and_roles,
)


@pytest.fixture(autouse=True)
def setting(tmp_path, monkeypatch) -> str:
    return store_and_roles(tmp_path, monkeypatch)


def _page(role: str, page: str) -> AppTest:
    at = _app(_signed_in(USERS[role]))
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    _ok(at)
    return at


def test_safety_shows_researchers_counts_and_staff_the_patients():
    owner = _page("owner", "safety")
    assert any("patient" in d.value.columns for d in owner.dataframe)  # latest item-9 flags
    assert PATIENT_ID.search(_text(owner))
    researcher = _page("researcher", "safety")
    assert any(c.value.endswith("patients. Owners and clinicians see who they are.")
               for c in researcher.caption)  # fmt: skip
    assert not any("reliable deterioration" in e.label for e in researcher.expander)
    assert not PATIENT_ID.search(_text(researcher))


@pytest.mark.parametrize("tab", ["Jacobson plot", "Waterfall"])
def test_researchers_see_no_patient_ids_in_the_per_patient_charts(tab):
    for role, shown in (("clinician", True), ("researcher", False)):
        at = _page(role, "outcomes")
        at.session_state["outcomes_tab"] = tab
        at.run()
        _ok(at)
        assert bool(PATIENT_ID.search(_text(at))) is shown, role


def test_individual_trajectories_are_for_staff():
    assert _page("clinician", "trajectories").toggle(key="traj_people")
    with pytest.raises(KeyError):
        _page("researcher", "trajectories").toggle(key="traj_people")


def test_the_patient_level_dataset_is_for_the_owner_only():
    for role, shown in (("owner", True), ("clinician", False), ("researcher", False)):
        labels = [b.label for b in _page(role, "downloads").get("download_button")]
        assert "All tables (XLSX)" in labels
        assert ("Assessments (CSV)" in labels) is shown, role


def _commit_as(url: str, uploader: str, data: bytes, name: str) -> None:
    with open_store(url) as store:
        checked, digest = load_export(data, filename=name), content_hash(data)
        store.commit(checked, filename=name, content_hash=digest, uploader=uploader)


def test_clinicians_undo_their_own_uploads_owners_any(setting):
    lines = WIDE.read_text(encoding="utf-8").splitlines()
    _commit_as(setting, "alice@example.org", "\n".join(lines[:40]).encode(), "alice.csv")
    _commit_as(setting, "dave@clinic.example", "\n".join(lines[:1] + lines[40:]).encode(), "d.csv")
    owner = _page("owner", "uploads")
    assert len(owner.selectbox(key="undo_pick").options) == 2
    clinician = _page("clinician", "uploads")  # signed in as Dave@Clinic.Example
    (only,) = clinician.selectbox(key="undo_pick").options
    assert only.startswith("#2 · d.csv")
    clinician.button(key="undo_start").click().run()
    clinician.button(key="undo_confirm").click().run()
    _ok(clinician)
    assert open_store(setting).uploads()["status"].tolist() == ["committed", "undone"]
    assert "Every upload has been undone" not in " ".join(c.value for c in clinician.caption)


def test_uploads_are_recorded_under_the_signed_in_email(setting):
    at = _page("clinician", "upload")
    at.file_uploader(key="upload_file").set_value(("wide.csv", WIDE.read_bytes(), "text/csv"))
    at.run()
    recorded = f"Recorded in the upload history as **{md_escape('dave@clinic.example')}**."
    assert recorded in [c.value for c in at.caption]
    next(b for b in at.button if b.label.startswith("Commit ")).click().run()
    _ok(at)
    assert open_store(setting).uploads()["uploader"].tolist() == ["dave@clinic.example"]


def test_only_the_owner_may_freeze_the_claim_settings():
    for role, shown in (("owner", True), ("clinician", False), ("researcher", False)):
        at = _page(role, "claims")
        assert any("Freeze these settings" in e.label for e in at.expander) is shown, role
        if not shown:
            with pytest.raises(KeyError):
                at.button(key="claims_freeze")
