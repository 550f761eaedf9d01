"""Issue 12, point 3, on the Upload page (Streamlit AppTest): a file whose scores differ from
the stored ones shows the conflicts, stored and new score side by side, before anything is
written; the user keeps the stored scores, replaces them, or cancels, and the store ends up as
chosen; an id that looks like a different patient needs a ticked confirmation.

The stored file is data/samples/wide.csv; the changed copy and the expected scores are made
with pandas here, not by the dashboard."""

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
N_CHANGED = 3  # PHQ-9 totals changed in the copy
NEW_ID = "D2999"  # a patient the copy adds


@pytest.fixture
def store_url(tmp_path, monkeypatch) -> str:
    """A store holding wide.csv (the dashboard opens it through RELIEFCHECK_DB_URL)."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("RELIEFCHECK_DB_URL", url)
    data = WIDE.read_bytes()
    with open_store(url) as store:
        first = store.commit(
            load_export(data, filename="wide.csv"),
            filename="wide.csv",
            content_hash=content_hash(data),
        )
    assert first.committed
    return url


def _changed_copy() -> tuple[bytes, pd.DataFrame, pd.DataFrame]:
    """wide.csv with the PHQ-9 total of its first N_CHANGED rows lowered by one and a new
    patient (NEW_ID, the first patient's baseline PHQ-9 and GAD-7); the stored rows and the
    changed rows (Client ID, Session, old and new PHQ-9)."""
    wide = pd.read_csv(WIDE)
    copy = wide.copy()
    copy.loc[: N_CHANGED - 1, "PHQ9 Total"] -= 1
    newcomer = wide.iloc[[0]].assign(**{"Client ID": NEW_ID, "PCL5 Total": 0})
    copy = pd.concat([copy, newcomer.drop(columns="PCL5 Total")], ignore_index=True)
    changed = wide.loc[: N_CHANGED - 1, ["Client ID", "Session", "PHQ9 Total"]].assign(
        new=copy.loc[: N_CHANGED - 1, "PHQ9 Total"]
    )
    return copy.to_csv(index=False).encode(), wide, changed


def _upload_page(data: bytes, name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader(key="upload_file").set_value((name, data, "text/csv")).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _stored_phq(url: str, clinic_id: str | None = None) -> pd.Series:
    """The stored PHQ-9 scores of a patient (the sample's first by default), by session."""
    with open_store(url) as store:
        tidy = store.read_tidy()
        first = store.pseudonym_of(clinic_id or str(pd.read_csv(WIDE)["Client ID"].iloc[0]))
    rows = tidy[(tidy["patient_id"] == first) & (tidy["instrument"] == "PHQ-9")]
    return rows.set_index("session")["score"].dropna()


def _green_commit(at: AppTest) -> bool:
    """Whether a green success box speaks of storing (the commit's result)."""
    return any("Stored" in s.value or "stored" in s.value for s in at.success)


def _conflict_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "stored score" in d.value.columns)


def _n_uploads(url: str) -> int:
    with open_store(url) as store:
        return len(store.uploads())


def test_conflicts_are_shown_with_both_values_before_anything_is_written(store_url):
    data, _, changed = _changed_copy()
    at = _upload_page(data, "wide changed.csv")
    assert any(f"{N_CHANGED} rows differ from the score stored" in w.value for w in at.warning)
    table = _conflict_table(at)
    assert table["stored score"].tolist() == changed["PHQ9 Total"].tolist()
    assert table["score in this file"].tolist() == changed["new"].tolist()
    assert (table["change"] == -1).all()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["New"], metrics["Differ from stored"]) == ("2", str(N_CHANGED))  # PHQ, GAD
    labels = {b.label for b in at.button}
    assert {"Keep the stored scores", "Replace with this file's scores"} <= labels
    assert "Cancel: store nothing" in labels
    captions = " ".join(c.value for c in at.caption)
    assert f"Adds the 2 new rows and replaces the {N_CHANGED} stored scores" in captions
    assert not _green_commit(at)  # nothing committed, nothing green
    assert _n_uploads(store_url) == 1


def test_keep_stores_only_the_new_rows(store_url):
    data, _, changed = _changed_copy()
    at = _upload_page(data, "wide changed.csv")
    at.button(key="commit_keep").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not _green_commit(at)  # rows conflicted: the result is not a green success
    assert any("left alone" in i.value for i in at.info)
    phq = _stored_phq(store_url)
    assert phq[0] == changed["PHQ9 Total"].iloc[0]  # the stored score stays
    assert _stored_phq(store_url, NEW_ID).tolist() == [phq[0]]  # the new patient is added
    assert _n_uploads(store_url) == 2


def test_replace_stores_the_files_scores(store_url):
    data, _, changed = _changed_copy()
    at = _upload_page(data, "wide changed.csv")
    at.button(key="commit_replace").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not _green_commit(at)
    message = " ".join(i.value for i in at.info)
    assert f"{N_CHANGED} stored assessments with a different score were replaced" in message
    assert _stored_phq(store_url)[0] == changed["new"].iloc[0]
    labels = [b.label for b in at.get("download_button")]
    assert f"Download the {N_CHANGED} replaced scores, old and new (CSV)" in labels
    assert not any("not stored" in label for label in labels)


def test_cancel_stores_nothing(store_url):
    data, _, changed = _changed_copy()
    at = _upload_page(data, "wide changed.csv")
    at.button(key="commit_cancel").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Cancelled: nothing from wide changed.csv was stored" in i.value for i in at.info)
    assert _n_uploads(store_url) == 1
    assert _stored_phq(store_url)[0] == changed["PHQ9 Total"].iloc[0]


def test_same_id_on_another_protocol_needs_a_confirmation(store_url):
    wide = pd.read_csv(WIDE)
    first = wide["Client ID"].iloc[0]
    mine = wide[wide["Client ID"] == first].assign(Session=wide["Session"] + 20, Day=wide["Day"])
    other = {"Retreat": "Standard weekly", "Standard weekly": "Retreat"}
    mine["Protocol"] = mine["Protocol"].map(other)
    mine = mine.dropna(subset=["Session"])
    at = _upload_page(mine.to_csv(index=False).encode(), "other clinic.csv")
    with open_store(store_url) as store:
        stored_as = store.pseudonym_of(first)
    (flag,) = [w.value for w in at.warning if "like a different" in w.value]
    assert stored_as.replace("-", "\\-") in flag or stored_as in flag
    suspects = next(d.value for d in at.dataframe if "id in the store" in d.value.columns)
    assert suspects["id in this file"].tolist() == [first]
    assert suspects["id in the store"].tolist() == [stored_as]
    commit = at.button(key="commit_new")
    assert commit.disabled
    at.checkbox(key=next(c.key for c in at.checkbox if "same patients" in c.label)).check().run()
    assert not at.button(key="commit_new").disabled
    at.button(key="commit_new").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert _n_uploads(store_url) == 2


def test_the_same_file_again_offers_no_commit(store_url):
    at = _upload_page(WIDE.read_bytes(), "wide again.csv")
    assert any("exactly the content of upload 1" in i.value for i in at.info)
    assert not [b for b in at.button if b.label.startswith("Commit")]


def test_a_file_with_no_conflicts_just_offers_commit(store_url):
    wide = pd.read_csv(WIDE)
    fresh = wide.assign(**{"Client ID": "N" + wide["Client ID"].str[1:]})
    buf = io.StringIO()
    fresh.to_csv(buf, index=False)
    at = _upload_page(buf.getvalue().encode(), "new patients.csv")
    assert not any("differ" in w.value for w in at.warning)
    assert at.button(key="commit_new").label.startswith("Commit ")
    assert not [b for b in at.button if b.key in ("commit_keep", "commit_replace")]
