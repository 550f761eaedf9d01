"""Claim settings frozen in the store (schema version 7, data/store/frozen.py): kept with their
SHA-256, the time, who and how many scores were stored; the hash checked on every read; a change
made behind the product's back shows; logged in the audit log. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import text

from data.store import StoreError
from data.store.engine import make_engine, normalise_url
from tests.data.store_helpers import row, validated

SETTINGS = json.dumps({"large_share": 0.5, "min_patients": 10}, sort_keys=True)


def test_a_new_store_has_no_freeze_and_schema_7(store):
    assert store.frozen_settings() == []
    assert store.schema_version() >= 7


def test_freeze_keeps_the_text_its_hash_and_the_scores_stored_then(store):
    first = store.freeze_settings(SETTINGS, actor="owner@practice.example")
    assert (first.settings, first.actor, first.n_scores) == (
        SETTINGS, "owner@practice.example", 0,
    )  # fmt: skip
    assert first.sha256 == hashlib.sha256(SETTINGS.encode()).hexdigest() and first.verified
    store.commit(validated([row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14)]),
                 filename="a.csv", content_hash="a")  # fmt: skip
    later = store.freeze_settings('{"large_share": 0.6}')
    assert (later.n_scores, later.actor) == (2, "local")
    got = store.frozen_settings()
    assert [r.settings for r in got] == [SETTINGS, '{"large_share": 0.6}']  # oldest first
    assert all(r.verified for r in got)
    events = store.list_audit()
    frozen = events[events["action"] == "freeze-settings"]
    assert len(frozen) == 2
    assert (
        frozen["detail"].iloc[0].startswith(f"claim settings frozen (SHA-256 {first.sha256[:12]}")
    )


def test_a_settings_row_changed_in_the_database_does_not_verify(store, url):
    store.freeze_settings(SETTINGS)
    engine = make_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE frozen_settings SET settings = :s"), {"s": '{"large_share": 0.3}'}
        )
    engine.dispose()
    (record,) = store.frozen_settings()
    assert not record.verified


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", "x" * 20_001])
def test_freeze_refuses_what_is_not_a_settings_object(store, bad):
    with pytest.raises(StoreError):
        store.freeze_settings(bad)
    assert store.frozen_settings() == []
