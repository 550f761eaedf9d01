"""Reading the store back (data/store/reading.py, codes.py): order, codes and packed items.

Expected values are worked out by hand in each test: the rows each upload brings, the order in
which they were stored, the days after a re-anchoring, the bytes of packed item scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import text

from data.schema import empty_tidy
from data.store import StoreError, open_store, reading
from data.store.codec import unpack_items
from tests.data.store_helpers import clinic_ids, row, validated


def _order(tidy: pd.DataFrame) -> list[tuple]:
    return [
        (p, int(s), float(d))
        for p, s, d in zip(
            clinic_ids(tidy["patient_id"]), tidy["session"], tidy["day"], strict=True
        )
    ]


def test_read_keeps_the_order_stored_after_days_move_and_an_undo(store, monkeypatch):
    # Upload 1 (ids 1-3): p1's export lacks the baseline (day 0 = 03-08); p2 from 03-01.
    store.commit(
        validated(
            [row("p1", 1, 0.0, 14), row("p1", 2, 7.0, 9), row("p2", 0, 0.0, 5)],
            anchors={"p1": "2024-03-08", "p2": "2024-03-01"},
        ),
        filename="late",
        content_hash="late",
    )
    mid = store.commit(validated([row("p3", 0, 0.0, 7)]), filename="mid", content_hash="mid")
    # Upload 3: p1's baseline on 03-01 moves the stored days of ids 1 and 2 by 7 (rewriting
    # those rows) and adds the baseline as id 5; undoing upload 2 removes id 4.
    store.commit(
        validated([row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14)], anchors={"p1": "2024-03-01"}),
        filename="full",
        content_hash="full",
    )
    store.undo(mid.upload_id)
    store.commit(validated([row("p4", 0, 0.0, 3)]), filename="last", content_hash="last")
    # (PostgreSQL now holds ids 1 and 2 after 3 in its table: the read must sort them back.)
    expected = [("p1", 1, 7.0), ("p1", 2, 14.0), ("p2", 0, 0.0), ("p1", 0, 0.0), ("p4", 0, 0.0)]
    whole = store.read_tidy()
    assert _order(whole) == expected
    assert whole["score"].tolist() == [14.0, 9.0, 5.0, 20.0, 3.0]
    monkeypatch.setattr(reading, "PG_CHUNK", 2)  # PostgreSQL: ids [1, 3), [3, 5), [5, 7)
    pd.testing.assert_frame_equal(store.read_tidy(), whole)


def test_labels_are_coded_once_and_read_back_exactly(store):
    # Three label combinations that a careless match would merge: site "", missing, "NULL".
    first = [
        row("p1", 0, 0.0, 20, site="", treatment_resistant=True),
        row("p1", 1, 7.0, 14, site=pd.NA, treatment_resistant=True),
        row("p2", 0, 0.0, 12, site="NULL", route="IV"),
    ]
    store.commit(validated(first), filename="a", content_hash="a")
    # The same three combinations again, and one new: (intensive, treatment, no site, IV).
    second = [
        row("p3", 0, 0.0, 10, site="", treatment_resistant=True),
        row("p3", 1, 7.0, 8, site=pd.NA, treatment_resistant=True),
        row("p4", 0, 0.0, 11, site="NULL", route="IV"),
        row("p4", 1, 1.0, 9, protocol="intensive", route="IV"),
    ]
    store.commit(validated(second), filename="b", content_hash="b")
    got = store.read_tidy()
    assert got["site"].tolist() == ["", pd.NA, "NULL", "", pd.NA, "NULL", pd.NA]
    assert got["route"].tolist() == [pd.NA, pd.NA, "IV", pd.NA, pd.NA, "IV", "IV"]
    assert got["protocol"].tolist() == ["weekly"] * 6 + ["intensive"]
    assert got["treatment_resistant"].tolist() == [True, True, pd.NA, True, True, pd.NA, pd.NA]
    assert "clinician" not in got  # no row has one
    with store.engine.connect() as conn:
        n_labels = conn.execute(text("SELECT count(*) FROM labels")).scalar()
        n_instruments = conn.execute(text("SELECT count(*) FROM instruments")).scalar()
    # a brings three combinations (protocol, phase, site, route, treatment_resistant):
    # (weekly, baseline, "", -, yes), (weekly, treatment, -, -, yes), (weekly, baseline, "NULL",
    # IV, -); b repeats them and adds (intensive, treatment, -, IV, -). One instrument: PHQ-9.
    assert (n_labels, n_instruments) == (4, 1)


def test_unpack_items_against_hand_packed_bytes():
    # int16 little-endian, item_1 first; -32768 (0x8000) is an unanswered item.
    packed = [
        b"\x03\x00\x01\x00",  # items 3, 1
        None,  # no items
        b"\x02\x00\x00\x80\x04\x00",  # items 2, unanswered, 4
        b"\xff\xff",  # item -1
    ]
    no = -(2**15)
    expected = np.array([[3, 1, no], [no, no, no], [2, no, 4], [-1, no, no]], dtype=np.int16)
    np.testing.assert_array_equal(unpack_items(packed), expected)
    np.testing.assert_array_equal(unpack_items(np.array(packed, dtype=object)), expected)
    # A slice of a pyarrow array (its values start part-way into the data).
    sliced = pa.array(packed, type=pa.binary()).slice(2, 2)
    np.testing.assert_array_equal(unpack_items(sliced), expected[2:, :])
    assert unpack_items([None, None]).shape == (2, 0)
    with pytest.raises(StoreError, match="damaged"):
        unpack_items([b"\x01"])


def test_an_assessment_whose_label_is_missing_is_reported_as_damage(store):
    store.commit(validated([row("p1", 0, 0.0, 20)]), filename="a", content_hash="a")
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM labels"))
    with pytest.raises(StoreError, match="damaged"):
        store.read_tidy()


def test_reading_an_empty_store_after_an_undo_gives_the_empty_table(store):
    res = store.commit(validated([row("p1", 0, 0.0, 20)]), filename="a", content_hash="a")
    store.undo(res.upload_id)
    pd.testing.assert_frame_equal(store.read_tidy(), empty_tidy())


def test_a_read_sees_one_snapshot_while_an_upload_commits(store, url, monkeypatch):
    store.commit(validated([row("p1", 0, 0.0, 20)]), filename="a", content_hash="a")
    real = reading.read_lookups

    def lookups_then_upload(conn):
        found = real(conn)
        # Another dashboard commits a row with a label the read has not seen, in between.
        with open_store(url) as other:
            other.commit(
                validated([row("p2", 0, 0.0, 5, site="new")]), filename="b", content_hash="b"
            )
        return found

    monkeypatch.setattr(reading, "read_lookups", lookups_then_upload)
    monkeypatch.setattr(reading, "PG_CHUNK", 1)  # PostgreSQL: one statement per assessment
    assert _patients(store) == ["p1"]  # the store as it was when the read began
    monkeypatch.setattr(reading, "read_lookups", real)
    assert _patients(store) == ["p1", "p2"]


def _patients(store) -> list[str]:
    return clinic_ids(store.read_tidy()["patient_id"]).tolist()
