"""Who did what (schema version 4): uploaders and who undid, undo restricted to one's own uploads,
the download log, the audit events list, the migration from version 3, and the dashboard's
helpers. On SQLite and, marked ``postgres``, on PostgreSQL.

Expected values are written out by hand from the uploads, undos and downloads each test makes.
"""

from __future__ import annotations

import sys
import threading
import types

import pandas as pd
import pytest
from sqlalchemy import inspect, text

from data.store import StoreError, UndoNotAllowed, open_store
from data.store.engine import make_engine, normalise_url, write_transaction
from data.store.migrations import LATEST, _v4, migrate
from tests.data.store_helpers import BACKENDS, dump, row, store_url, validated

A_ROWS = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14), row("p2", 0, 0.0, 12)]
ANN, BEA = "ann@practice.example", "bea@practice.example"


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


def _rows(url: str, table: str, columns: list[str] | None = None) -> list[tuple]:
    """Rows of ``table`` (``columns``, else all), ordered by the first column."""
    engine = make_engine(normalise_url(url))
    with engine.connect() as conn:
        sql = f"SELECT {', '.join(columns) if columns else '*'} FROM {table} ORDER BY 1"
        rows = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return rows


def _columns(url: str) -> dict[str, list[str]]:
    engine = make_engine(normalise_url(url))
    with engine.connect() as conn:
        have = inspect(conn)
        got = {t: [c["name"] for c in have.get_columns(t)] for t in have.get_table_names()}
    engine.dispose()
    return got


# --------------------------------------------------------------------------- who did what


def test_upload_and_undo_by_two_people_name_each(store):
    a = store.commit(validated(A_ROWS), filename="a.csv", content_hash="a", uploader=ANN)
    fixed = validated([row("p1", 1, 7.0, 15)])
    fix = store.commit(
        fixed, filename="fix.csv", content_hash="fix", uploader=f" {ANN} ", replace=True
    )
    result = store.undo(fix.upload_id, actor=BEA)
    assert result.undone_by == BEA and result.n_restored == 1
    up = store.uploads().set_index("upload_id")
    assert up.loc[a.upload_id, ["uploader", "status"]].tolist() == [ANN, "committed"]
    assert pd.isna(up.loc[a.upload_id, "undone_by"])
    got = up.loc[fix.upload_id, ["uploader", "status", "undone_by"]].tolist()
    assert got == [ANN, "undone", BEA]
    log = store.audit_log()
    assert list(zip(log["action"], log["actor"], strict=True)) == [
        ("commit", ANN), ("replace", ANN), ("commit", ANN), ("undo", BEA), ("restore", BEA)
    ]  # fmt: skip
    events = store.list_audit()
    assert events[["actor", "action", "upload_id", "what"]].values.tolist() == [
        [ANN, "commit", 1, "a.csv"],
        [ANN, "commit", 2, "fix.csv"],
        [BEA, "undo", 2, "fix.csv"],
    ]
    assert events["detail"].tolist() == ["3 added", "0 added, 1 replaced", "1 removed, 1 restored"]
    assert events["at"].is_monotonic_increasing and str(events["at"].dt.tz) == "UTC"


def test_uploader_and_undoer_default_to_local(store):
    store.commit(validated(A_ROWS), filename="a.csv", content_hash="a")
    store.commit(
        validated([row("p3", 0, 0.0, 9)]), filename="b.csv", content_hash="b", uploader=" "
    )
    store.commit(validated(A_ROWS), filename="a2.csv", content_hash="a", uploader="")
    store.undo(2)
    assert store.uploads()["uploader"].tolist() == ["local", "local"]
    assert store.uploads()["undone_by"].tolist()[1] == "local"
    assert store.list_audit()["actor"].tolist() == ["local"] * 4
    assert store.list_audit()["action"].tolist() == [
        "commit",
        "commit",
        "duplicate-content",
        "undo",
    ]


def test_restricted_undo_of_another_persons_upload_is_refused_and_changes_nothing(store, url):
    mine = store.commit(validated(A_ROWS), filename="a.csv", content_hash="a", uploader=ANN)
    before, version = dump(url), store.content_version()
    with pytest.raises(UndoNotAllowed, match=f"made by {ANN}.*only your own.*Nothing was changed"):
        store.undo(mine.upload_id, actor=BEA, allowed_uploader=BEA)
    assert isinstance(UndoNotAllowed("x"), StoreError)
    assert dump(url) == before and store.content_version() == version
    with pytest.raises(UndoNotAllowed):  # no one signed in: "" matches no upload
        store.undo(mine.upload_id, actor="x", allowed_uploader="")
    assert dump(url) == before
    # The uploader may (the e-mail's case aside), and so may anyone unrestricted (the owner, the
    # command line).
    assert store.undo(mine.upload_id, actor=ANN.upper(), allowed_uploader=ANN.upper()).n_removed
    again = store.commit(validated(A_ROWS), filename="a.csv", content_hash="a", uploader=ANN)
    assert store.undo(again.upload_id, actor=BEA).undone_by == BEA


# --------------------------------------------------------------------------- download log


def test_download_log_records_and_lists_without_changing_content(store):
    store.commit(validated(A_ROWS), filename="a.csv", content_hash="a", uploader=ANN)
    version = store.content_version()
    store.record_download(BEA, "reliefcheck_outcomes.csv", 12)
    store.record_download(None, "reliefcheck_tables.xlsx")
    got = store.downloads()
    assert got[["actor", "what"]].values.tolist() == [
        [BEA, "reliefcheck_outcomes.csv"],
        ["local", "reliefcheck_tables.xlsx"],
    ]
    assert got["n_rows"].tolist() == [12, pd.NA] and str(got["at"].dt.tz) == "UTC"
    assert store.content_version() == version  # dashboards' caches stay valid
    events = store.list_audit()
    assert events[["actor", "action", "what", "detail"]].values.tolist()[1:] == [
        [BEA, "download", "reliefcheck_outcomes.csv", "12 rows"],
        ["local", "download", "reliefcheck_tables.xlsx", ""],
    ]
    assert store.list_audit(limit=1)["what"].tolist() == ["reliefcheck_tables.xlsx"]
    assert store.list_audit(limit=0).empty
    for what, n in (("", None), ("x" * 201, None), ("ok.csv", -1)):
        with pytest.raises(ValueError):
            store.record_download(BEA, what, n)
    assert len(store.downloads()) == 2


def test_download_log_waits_for_no_upload_on_postgresql(store):
    """Logging a download while an upload holds the writers' lock: PostgreSQL does not wait for
    it; SQLite (one writer at a time) writes the line as soon as the upload has committed."""
    done = threading.Event()

    def download_during_commit():
        worker = threading.Thread(
            target=lambda: (store.record_download(BEA, "reliefcheck_report.html"), done.set())
        )
        worker.start()
        if store.backend == "postgresql":
            assert done.wait(30), "the download log waited for the upload's lock"

    store.before_commit = download_during_commit
    store.commit(validated(A_ROWS), filename="a.csv", content_hash="a", uploader=ANN)
    store.before_commit = None
    assert done.wait(30)
    assert store.downloads()["what"].tolist() == ["reliefcheck_report.html"]


# --------------------------------------------------------------------------- migration


def _version_3_store(url: str) -> None:
    """A store as version 3 left it, with real content (named and unnamed uploaders, a replace,
    an undo, a repeat file, anchors), made by today's code and stripped of version 4."""
    with open_store(url) as s:
        dated = validated(A_ROWS, anchors={"p1": "2024-01-01", "p2": "2024-01-03"})
        s.commit(dated, filename="a.csv", content_hash="a", uploader=ANN)
        fix = validated([row("p1", 1, 7.0, 15)])
        s.commit(fix, filename="fix.csv", content_hash="fix", uploader=ANN, replace=True)
        c = s.commit(validated([row("p3", 0, 0.0, 9)]), filename="c.csv", content_hash="c")
        s.commit(validated(A_ROWS), filename="a again.csv", content_hash="a")
        s.undo(c.upload_id)
    engine = make_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE download_log"))
        conn.execute(text("ALTER TABLE audit_log DROP COLUMN actor"))
        conn.execute(text("ALTER TABLE uploads DROP COLUMN undone_by"))
        conn.execute(text("UPDATE uploads SET uploader = '' WHERE filename = 'c.csv'"))
        # ... and of what later versions added (version 5: what each upload brought).
        conn.execute(text("DROP TABLE upload_patients"))
        conn.execute(text("DROP TABLE frozen_settings"))  # version 7
        conn.execute(text("DROP TABLE upload_periods"))  # version 8
        conn.execute(text("ALTER TABLE uploads DROP COLUMN replace_conflicts"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 3"))
    engine.dispose()


def test_migration_from_version_3_keeps_every_row(backend, tmp_path):
    url = store_url(backend, tmp_path)
    _version_3_store(url)
    reference = store_url(backend, tmp_path / "reference")  # a store made by version 3 itself
    engine = make_engine(normalise_url(reference))
    migrate(engine, target=3)
    engine.dispose()
    old_columns = _columns(url)
    assert {t: set(c) for t, c in old_columns.items()} == {
        t: set(c) for t, c in _columns(reference).items()
    }
    before = {t: _rows(url, t, cols) for t, cols in old_columns.items()}
    with open_store(url) as s:
        assert s.schema_version() == LATEST
        after = {t: _rows(url, t, cols) for t, cols in old_columns.items()}
        assert after.pop("schema_version")[:3] == before.pop("schema_version")
        assert after == before  # every row of every table, as it was
        # Commits and replacements of a named uploader get that uploader as actor; the rest
        # were not recorded.
        assert [r[1:] for r in _rows(url, "audit_log", ["id", "action", "actor"])] == [
            ("commit", ANN), ("replace", ANN), ("commit", ANN),
            ("commit", None), ("duplicate-content", None), ("undo", None),
        ]  # fmt: skip
        up = s.uploads()
        assert up["uploader"].tolist() == [ANN, ANN, ""] and up["undone_by"].isna().all()
        assert s.downloads().empty and len(s.read_tidy()) == 3
        events = s.list_audit()
        assert events["actor"].isna().tolist() == [False, False, True, True, True]
        # The migrated store works on: an undo and a download are recorded with their actor.
        s.undo(2, actor=BEA, allowed_uploader=None)
        s.record_download(BEA, "reliefcheck_assessments.csv", 3)
        assert s.uploads()["undone_by"].tolist()[1] == BEA
        assert s.list_audit()["actor"].tolist()[-2:] == [BEA, BEA]


def test_version_4_migration_is_idempotent(backend, tmp_path):
    url = store_url(backend, tmp_path)
    _version_3_store(url)
    engine = make_engine(normalise_url(url))
    with engine.begin() as conn:  # half applied by hand: one column already there
        conn.execute(text("ALTER TABLE uploads ADD COLUMN undone_by TEXT"))
    assert migrate(engine) == LATEST
    with open_store(url) as s:
        s.record_download(ANN, "reliefcheck_summary.json")
    state = {t: _rows(url, t) for t in ("uploads", "audit_log", "download_log", "schema_version")}
    with write_transaction(engine) as conn:
        _v4(conn)
    assert migrate(engine) == LATEST
    engine.dispose()
    with open_store(url) as s:
        assert s.schema_version() == LATEST
    assert {t: _rows(url, t) for t in state} == state


# --------------------------------------------------------------------------- command line


def test_command_line_records_local_and_takes_no_typed_names(tmp_path, capsys):
    """Issue 10: who uploads comes from a sign-in, never from free text; the command line has
    none, so it records ``local`` and has no option to type a name."""
    from cli import main

    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    header = "patient_id,protocol,instrument,session,day,score\n"
    (tmp_path / "a.csv").write_text(header + "P1,weekly,PHQ-9,0,0,20\n")
    (tmp_path / "b.csv").write_text(header + "P2,weekly,PHQ-9,0,0,12\n")
    assert main(["ingest", str(tmp_path / "a.csv"), "--db", db]) == 0
    with pytest.raises(SystemExit) as typed:
        main(["ingest", str(tmp_path / "b.csv"), "--db", db, "--uploader", "Jane 07700900123"])
    assert typed.value.code == 2
    assert main(["ingest", str(tmp_path / "b.csv"), "--db", db]) == 0
    with pytest.raises(SystemExit):
        main(["undo", "2", "--db", db, "--actor", BEA])
    assert main(["undo", "2", "--db", db]) == 0
    capsys.readouterr()
    assert main(["uploads", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "undone_by" in out and "Jane" not in out
    with open_store(db) as s:
        up = s.uploads()
    assert up[["uploader", "undone_by"]].fillna("").values.tolist() == [
        ["local", ""],
        ["local", "local"],
    ]


# --------------------------------------------------------------------------- dashboard helpers


def _access(monkeypatch, who: object | None) -> None:
    """Pretend dashboard.access is absent (None) or gives ``who``."""
    if who is None:
        monkeypatch.setitem(sys.modules, "dashboard.access", None)
        return
    fake = types.ModuleType("dashboard.access")
    fake.identity = lambda: who
    monkeypatch.setitem(sys.modules, "dashboard.access", fake)


def test_dashboard_actor_and_undo_restriction(monkeypatch):
    from dashboard import audit

    _access(monkeypatch, None)  # sign-in not installed: local, unrestricted
    assert (audit.actor(), audit.undo_allowed_uploader()) == ("local", None)
    _access(monkeypatch, types.SimpleNamespace(actor="local", role="owner"))
    assert (audit.actor(), audit.undo_allowed_uploader()) == ("local", None)
    _access(monkeypatch, types.SimpleNamespace(actor=ANN, role="owner"))
    assert (audit.actor(), audit.undo_allowed_uploader()) == (ANN, None)
    _access(monkeypatch, types.SimpleNamespace(actor=BEA, role="clinician"))
    assert (audit.actor(), audit.undo_allowed_uploader()) == (BEA, BEA)
    _access(monkeypatch, types.SimpleNamespace(actor="", role=None))  # signed out
    assert (audit.actor(), audit.undo_allowed_uploader()) == (audit.UNKNOWN, "")


def test_dashboard_download_callback_history_and_events_tables(monkeypatch, store):
    from dashboard import audit, state
    from dashboard.upload_flow import history_table

    _access(monkeypatch, types.SimpleNamespace(actor=BEA, role="clinician"))
    monkeypatch.setattr(state, "store", lambda: store)
    store.commit(validated(A_ROWS), filename="a.csv", content_hash="a", uploader=ANN)
    b = store.commit(validated([row("p3", 0, 0.0, 9)]), filename="b.csv", content_hash="b")
    store.undo(b.upload_id, actor=ANN)
    audit.log_download("reliefcheck_outcomes.csv", 7)
    got = store.downloads()[["actor", "what", "n_rows"]].values.tolist()
    assert got == [[BEA, "reliefcheck_outcomes.csv", 7]]
    shown = audit.with_undone_by(history_table(store.uploads()), store.uploads())
    got = shown[["upload", "uploaded by", "undone by"]].astype(object).values.tolist()
    assert got == [[2, "local", ANN], [1, ANN, ""]]  # blank, never "None", when not undone
    table = audit.events_table(store.list_audit())
    assert list(table.columns) == list(audit.EVENT_HEADINGS.values())
    assert table["what happened"].tolist() == ["download", "undo", "commit", "commit"]

    def broken(*_args):
        raise StoreError("the store is busy")

    monkeypatch.setattr(state, "store", lambda: types.SimpleNamespace(record_download=broken))
    audit.log_download("x.csv")  # a notice, never an exception: the file is already sent
