"""The store's schema migrations, database URLs and clinician-readable failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.store import StoreError, content_hash, open_store
from tests.data.store_helpers import (
    BACKENDS,
    canonical,
    keys,
    pid,
    remember,
    row,
    store_url,
    validated,
)


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path) -> str:
    return store_url(request.param, tmp_path)


def test_migrations_from_empty_and_from_version_1_reach_the_same_schema(url, tmp_path):
    from sqlalchemy import inspect

    from data.store import SCHEMA_VERSION
    from data.store.engine import make_engine, normalise_url
    from data.store.migrations import migrate
    from data.store.tables import metadata

    pid("p1")  # the row below is stored under its clinic id; read back as its pseudonym
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
        assert s.schema_version() == SCHEMA_VERSION
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


# Labels chosen to trip a careless match: empty text against a missing value, the text "NULL",
# quotes and the signature separator inside a value, and a missing treatment_resistant.
_V2_ROWS = [
    # id, upload, replaced_by, patient, instrument, session_key, day_ms, protocol, phase, score,
    # site, clinician, route, treatment_resistant, items (int16 LE: item_1, item_2)
    (1, 1, None, "p1", "PHQ-9", 0, 0, "weekly", "baseline", 20.0, "", None, "IV", 1, b"\x03\x00"),
    (
        2,
        1,
        2,
        "p1",
        "PHQ-9",
        1,
        7 * 86_400_000,
        "weekly",
        "treatment",
        14.0,
        None,
        None,
        "IV",
        1,
        None,
    ),
    (
        3,
        1,
        None,
        "p2",
        "GAD-7",
        -(2**31),
        90 * 86_400_000,
        "intensive",
        "follow-up",
        2.5,
        "NULL",
        "o'brien|'x'",
        None,
        None,
        b"\x01\x00\x00\x80",
    ),
    (
        4,
        2,
        None,
        "p1",
        "PHQ-9",
        1,
        7 * 86_400_000,
        "weekly",
        "treatment",
        9.0,
        None,
        None,
        "IV",
        0,
        None,
    ),
    (
        5,
        2,
        None,
        "p3",
        "PHQ-9",
        0,
        -(2**62),
        "weekly",
        "baseline",
        None,
        None,
        "",
        None,
        None,
        None,
    ),
]


def test_migration_from_version_2_keeps_every_assessment_and_its_labels(url):
    from sqlalchemy import text

    from data.store.engine import make_engine, normalise_url
    from data.store.migrations import migrate

    engine = make_engine(normalise_url(url))
    assert migrate(engine, target=2) == 2
    with engine.begin() as conn:
        for n in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO uploads (filename, content_hash, uploader, committed_at, status,"
                    " n_rows, n_rejected, n_added, n_already_stored, n_conflicts, n_replaced)"
                    " VALUES (:f, :h, '', '2025-01-01T00:00:00+00:00', 'committed', 1, 0, 1, 0,"
                    " 0, 0)"
                ),
                {"f": f"u{n}.csv", "h": f"h{n}"},
            )
        names = (
            "id, upload_id, replaced_by, patient_id, instrument, session_key, day_ms, protocol,"
            " phase, score, site, clinician, route, treatment_resistant, items"
        )
        marks = ", ".join(f":v{k}" for k in range(15))
        for r in _V2_ROWS:
            values = {f"v{k}": v for k, v in enumerate(r)}
            values["v13"] = None if r[13] is None else bool(r[13])
            conn.execute(text(f"INSERT INTO assessments ({names}) VALUES ({marks})"), values)
    engine.dispose()
    remember(pd.Series(["p1", "p2", "p3"]))  # ids written straight into the database
    with open_store(url) as s:
        got = canonical(s.read_tidy())
        # The four rows not replaced, by hand from _V2_ROWS (canonical order: patient, instrument,
        # session with the empty one first, day).
        assert got["patient_id"].tolist() == ["p1", "p1", "p2", "p3"]
        assert got["instrument"].tolist() == ["PHQ-9", "PHQ-9", "GAD-7", "PHQ-9"]
        assert got["session"].tolist() == [0, 1, pd.NA, 0]
        assert got["day"].tolist()[:3] == [0.0, 7.0, 90.0] and np.isnan(got["day"].iloc[3])
        assert got["score"].tolist()[:3] == [20.0, 9.0, 2.5] and np.isnan(got["score"].iloc[3])
        assert got["protocol"].tolist() == ["weekly", "weekly", "intensive", "weekly"]
        assert got["phase"].tolist() == ["baseline", "treatment", "follow-up", "baseline"]
        assert got["site"].tolist() == ["", pd.NA, "NULL", pd.NA]
        assert got["clinician"].tolist() == [pd.NA, pd.NA, "o'brien|'x'", ""]
        assert got["route"].tolist() == ["IV", "IV", pd.NA, pd.NA]
        assert got["treatment_resistant"].tolist() == [True, False, pd.NA, pd.NA]
        assert got["item_1"].tolist() == [3, pd.NA, 1, pd.NA]
        # Row 3 answers item_1 only (item_2 holds the no-answer value): no item_2 column.
        assert "item_2" not in got
        # Ids are kept (the audit log names replaced rows by id); new rows get new ids.
        res = s.commit(validated([row("p4", 0, 0.0, 5)]), filename="c", content_hash="c")
        assert res.committed
        with s.engine.connect() as conn:
            ids = conn.execute(text("SELECT id FROM assessments ORDER BY id")).scalars().all()
            n_labels = conn.execute(text("SELECT count(*) FROM labels")).scalar()
        assert ids == [1, 2, 3, 4, 5, 6]
        # Distinct label combinations of _V2_ROWS: rows 2 and 4 differ only in
        # treatment_resistant; row 1 has site ''; p4's (weekly, baseline, nothing else) is new.
        assert n_labels == 6


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
