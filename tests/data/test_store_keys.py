"""Pseudonymous ids and the practice's keys, kept outside the database (issue 10)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from data.store import StoreError, open_store
from data.store.commit import commit as low_level_commit
from data.store.engine import make_engine, normalise_url
from data.store.keys import ID_KEY_ENV, KEY_FILE_ENV, check_value, key_from_text
from data.store.migrations import LATEST, migrate
from data.store.pseudonyms import is_pseudonym, pseudonym
from tests.data.store_helpers import row, validated


@pytest.fixture
def no_env_keys(monkeypatch):
    """No key in the environment: the store must use its key file."""
    monkeypatch.delenv(ID_KEY_ENV, raising=False)
    monkeypatch.delenv("RELIEFCHECK_ANCHOR_KEY", raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


def _sqlite(tmp_path) -> tuple[str, Path]:
    path = tmp_path / "store.sqlite"
    return f"sqlite:///{path}", path


def _bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


DATED = [row("MRN-1001", 0, 0.0, 20.0), row("MRN-1001", 1, 7.0, 14.0)]


def test_key_file_is_made_beside_the_store_owner_only_and_no_key_is_in_the_database(
    tmp_path, no_env_keys
):
    url, path = _sqlite(tmp_path)
    with open_store(url) as s:
        s.commit(
            validated(DATED, anchors={"MRN-1001": "2024-03-04"}), filename="a.csv", content_hash="a"
        )
        ids = set(s.read_tidy()["patient_id"].astype(str))
    key_file = Path(f"{path}.keys")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    keys = json.loads(key_file.read_text())
    held = _bytes(path)
    for name in ("id_key", "anchor_key"):
        assert bytes.fromhex(keys[name]).hex().encode() not in held
    assert b"MRN-1001" not in held and b"2024-03-04" not in held
    (only,) = ids
    assert only == pseudonym("MRN-1001", bytes.fromhex(keys["id_key"]))
    assert is_pseudonym(only, bytes.fromhex(keys["id_key"]))


def test_same_clinic_id_joins_its_earlier_rows_and_is_found_by_its_hash(tmp_path, no_env_keys):
    url, _ = _sqlite(tmp_path)
    with open_store(url) as s:
        s.commit(validated(DATED[:1]), filename="a.csv", content_hash="a")
    with open_store(url) as s:  # a new process: the key comes from the file again
        s.commit(validated(DATED[1:]), filename="b.csv", content_hash="b")
        tidy = s.read_tidy()
        assert tidy["patient_id"].nunique() == 1
        assert tidy["patient_id"].iloc[0] == s.pseudonym_of("MRN-1001")
        assert s.pseudonym_of(" MRN-1001 ") == s.pseudonym_of("MRN-1001")
        assert s.pseudonym_of("MRN-1002") != s.pseudonym_of("MRN-1001")


def test_an_uploaded_pseudonym_is_kept_not_hashed_again(tmp_path, no_env_keys):
    url, _ = _sqlite(tmp_path)
    with open_store(url) as s:
        s.commit(validated(DATED[:1]), filename="a.csv", content_hash="a")
        p = s.pseudonym_of("MRN-1001")
        s.commit(validated([row(p, 1, 7.0, 14.0)]), filename="export.csv", content_hash="b")
        assert set(s.read_tidy()["patient_id"].astype(str)) == {p}


def test_set_aside_rows_come_back_with_the_files_own_ids(tmp_path, no_env_keys):
    url, _ = _sqlite(tmp_path)
    with open_store(url) as s:
        s.commit(validated(DATED[:1]), filename="a.csv", content_hash="a")
        res = s.commit(
            validated([row("MRN-1001", 0, 0.0, 25.0)]), filename="b.csv", content_hash="b"
        )
    assert res.set_aside["patient_id"].tolist() == ["MRN-1001"]


def test_another_id_key_is_refused_and_nothing_is_written(tmp_path, no_env_keys, monkeypatch):
    url, path = _sqlite(tmp_path)
    with open_store(url) as s:
        s.commit(validated(DATED[:1]), filename="a.csv", content_hash="a")
    monkeypatch.setenv(ID_KEY_ENV, "another practice's key")
    with open_store(url) as s, pytest.raises(StoreError, match="id key .* not the one"):
        s.commit(validated(DATED[1:]), filename="b.csv", content_hash="b")
    monkeypatch.delenv(ID_KEY_ENV)
    with open_store(url) as s:
        assert len(s.read_tidy()) == 1


def test_a_lost_key_file_refuses_new_uploads_but_the_store_still_reads(tmp_path, no_env_keys):
    url, path = _sqlite(tmp_path)
    with open_store(url) as s:
        s.commit(validated(DATED[:1]), filename="a.csv", content_hash="a")
    Path(f"{path}.keys").unlink()
    with open_store(url) as s:
        assert len(s.read_tidy()) == 1
        with pytest.raises(StoreError, match="keys were not found"):
            s.commit(validated(DATED[1:]), filename="b.csv", content_hash="b")
    assert not Path(f"{path}.keys").exists()  # no new keys are made for a store in use


def test_keys_given_as_secrets_win_over_the_key_file(tmp_path, no_env_keys):
    url, path = _sqlite(tmp_path)
    with open_store(url, id_key="from secrets", anchor_key="also secret") as s:
        s.commit(validated(DATED[:1]), filename="a.csv", content_hash="a")
        assert s.read_tidy()["patient_id"].iloc[0] == pseudonym(
            "MRN-1001", key_from_text("from secrets")
        )
    assert not Path(f"{path}.keys").exists()


def test_a_key_file_anywhere_via_the_environment(tmp_path, no_env_keys, monkeypatch):
    url, path = _sqlite(tmp_path)
    elsewhere = tmp_path / "vault" / "practice.keys"
    monkeypatch.setenv(KEY_FILE_ENV, str(elsewhere))
    with open_store(url) as s:
        s.commit(validated(DATED[:1]), filename="a.csv", content_hash="a")
    assert elsewhere.exists() and not Path(f"{path}.keys").exists()


@pytest.mark.parametrize(
    "bad",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file::memory:?cache=shared&uri=true",
        "sqlite:///x.sqlite?mode=memory&uri=true",
    ],
)
def test_a_database_url_without_a_file_is_refused(bad):
    with pytest.raises(StoreError, match="names no file"):
        open_store(bad)


def test_file_names_and_uploaders_are_kept_only_as_safe_labels(tmp_path, no_env_keys):
    url, path = _sqlite(tmp_path)
    with open_store(url) as s:
        s.commit(
            validated(DATED[:1]),
            filename="Jane.Doe@example.com 07700 900123 outcomes.csv",
            content_hash="a",
            uploader="Dr Jane Doe, mobile 07700900123",
        )
        up = s.uploads()
    assert up["filename"].tolist() == ["outcomes.csv"]
    assert up["uploader"].tolist() == ["local"]
    held = _bytes(path)
    assert b"Jane" not in held and b"07700" not in held and b"example.com" not in held


def test_an_older_store_is_migrated_to_pseudonyms_and_its_own_anchor_key_moves_out(
    tmp_path, no_env_keys
):
    """A store written before pseudonyms: raw ids, and the anchor key kept in store_meta."""
    url, path = _sqlite(tmp_path)
    engine = make_engine(normalise_url(url))
    migrate(engine, target=5)  # the last version before pseudonyms
    legacy = os.urandom(32)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO store_meta (key, value) VALUES ('anchor_key', :k), "
                "('anchor_key_check', :c)"
            ),
            {"k": legacy.hex(), "c": check_value("anchor_key", legacy)},
        )
    first = [row("MRN-1001", 0, 0.0, 20.0), row("MRN-1001", 1, 7.0, 14.0)]
    low_level_commit(
        engine,
        validated(first, anchors={"MRN-1001": "2024-03-04"}),
        filename="Jane Doe.csv",
        content_hash="a",
        uploader="Jane Doe",
        anchor_key=legacy,
    )
    engine.dispose()
    assert b"MRN-1001" in _bytes(path)  # the old way, before the upgrade

    with open_store(url) as s:  # migrates
        assert s.schema_version() == LATEST
        tidy = s.read_tidy()
        assert set(tidy["patient_id"].astype(str)) == {s.pseudonym_of("MRN-1001")}
        assert s.uploads()["filename"].tolist() == ["export.csv"]
        # a later dated export of the same patient still lines up with the stored days
        later = [row("MRN-1001", 2, 14.0, 9.0)]
        s.commit(
            validated(later, anchors={"MRN-1001": "2024-03-04"}), filename="b.csv", content_hash="b"
        )
        days = s.read_tidy().sort_values("session")["day"].tolist()
    assert days == [0.0, 7.0, 14.0]
    keys = json.loads(Path(f"{path}.keys").read_text())
    assert bytes.fromhex(keys["anchor_key"]) == legacy
    held = _bytes(path)
    assert b"MRN-1001" not in held and legacy.hex().encode() not in held
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        meta = dict(conn.execute(text("SELECT key, value FROM store_meta")).all())
    engine.dispose()
    assert "anchor_key" not in meta


def test_pseudonyms_are_stable_and_distinct_at_scale():
    key = key_from_text("k")
    ids = pd.Series([f"C{i:06d}" for i in range(100_000)])
    from data.store.pseudonyms import pseudonymise

    out = pseudonymise(ids, key)
    assert out.nunique() == len(ids)
    assert out.iloc[123] == pseudonym("C000123", key)
