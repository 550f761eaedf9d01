"""The store's schema migrations, database URLs and clinician-readable failures."""

from __future__ import annotations

import numpy as np
import pytest

from data.store import StoreError, content_hash, open_store
from tests.data.store_helpers import BACKENDS, keys, row, store_url, validated


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path) -> str:
    return store_url(request.param, tmp_path)


def test_migrations_from_empty_and_from_version_1_reach_the_same_schema(url, tmp_path):
    from sqlalchemy import inspect

    from data.store import SCHEMA_VERSION
    from data.store.engine import make_engine, normalise_url
    from data.store.migrations import migrate
    from data.store.tables import metadata

    engine = make_engine(normalise_url(url))
    assert migrate(engine, target=1) == 1
    with engine.begin() as conn:  # a version-1 store holding one assessment
        conn.exec_driver_sql(
            "INSERT INTO uploads (filename, content_hash, uploader, committed_at, status, n_rows,"
            " n_rejected, n_added, n_already_stored, n_conflicts, n_replaced) VALUES "
            "('old.csv', 'h0', '', '2025-01-01T00:00:00+00:00', 'committed', 1, 0, 1, 0, 0, 0)"
        )
        conn.exec_driver_sql(
            "INSERT INTO assessments (upload_id, patient_id, instrument, session_key, day_ms, "
            "protocol, phase, score) VALUES (1, 'p1', 'PHQ-9', 0, 0, 'weekly', 'baseline', 20)"
        )
    engine.dispose()
    with open_store(url) as s:
        assert s.schema_version() == SCHEMA_VERSION == 2
        assert keys(s.read_tidy()) == [("p1", 0, 0.0, 20.0)]
        # version-1 days count from baseline; a dated file without baseline is set aside.
        res = s.commit(
            validated([row("p1", 1, 0.0, 9)], anchors={"p1": "2024-01-08"}),
            filename="b",
            content_hash="b",
        )
        assert res.n_unaligned == 1
        migrated = {
            t: {c["name"] for c in inspect(s.engine).get_columns(t)} for t in metadata.tables
        }
    fresh_url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    with open_store(fresh_url) as fresh:
        made = {
            t: {c["name"] for c in inspect(fresh.engine).get_columns(t)} for t in metadata.tables
        }
    declared = {t: {c.name for c in table.columns} for t, table in metadata.tables.items()}
    assert migrated == made == declared


def test_a_store_from_a_newer_version_is_refused(url):
    from sqlalchemy import insert

    from data.store.tables import schema_version

    with open_store(url) as s, s.engine.begin() as conn:
        conn.execute(insert(schema_version).values(version=99, applied_at="", description=""))
    with pytest.raises(StoreError, match="newer ReliefCheck"):
        open_store(url)


def test_database_urls(tmp_path, monkeypatch):
    from data.store import default_db_url
    from data.store.engine import normalise_url

    assert normalise_url(str(tmp_path / "x.sqlite")) == f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(StoreError, match="mysql"):
        normalise_url("mysql://u@h/db")
    monkeypatch.setenv("RELIEFCHECK_DB_URL", "sqlite:////srv/rc.sqlite")
    assert default_db_url() == "sqlite:////srv/rc.sqlite"
    monkeypatch.delenv("RELIEFCHECK_DB_URL")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_url() == f"sqlite:///{tmp_path / 'reliefcheck' / 'reliefcheck.sqlite'}"


def test_unreachable_or_damaged_store_gives_a_clinician_message(tmp_path):
    bad = tmp_path / "notes.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a ReliefCheck store"):
        open_store(str(bad))
    with pytest.raises(StoreError, match="Cannot use the outcome store"):
        open_store("postgresql://nobody@127.0.0.1:1/none")


def test_content_hash_is_sha256_of_the_bytes():
    # SHA-256 of b"abc" from FIPS 180-2, appendix B.1.
    assert content_hash(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert np.all([c in "0123456789abcdef" for c in content_hash(b"")])
