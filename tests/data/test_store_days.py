"""Issue 4, rule 4: day offsets come out right across uploads, even when a later export lacks
the patient's baseline row, and no real date is stored. Expected days are worked out by hand
from the dates in each test."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from data.ingest import load_export
from data.store import StoreError, content_hash, open_store
from tests.data.store_helpers import dump, keys, pid, remember, row, validated

A_ROWS = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14), row("p2", 0, 0.0, 12)]


def test_second_export_without_baseline_row_lines_up_issue_rule_4(store):
    # March export: baseline 2024-01-01, session 1 on 01-08. April export: sessions 1 and 2 on
    # 01-08 and 01-15, no baseline, so its day 0 is 01-08 (days 0 and 7 in that file).
    march = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14)]
    april = [row("p1", 1, 0.0, 14), row("p1", 2, 7.0, 9)]
    store.commit(validated(march, anchors={"p1": "2024-01-01"}), filename="m", content_hash="m")
    res = store.commit(
        validated(april, anchors={"p1": "2024-01-08"}), filename="a", content_hash="a"
    )
    assert (res.n_added, res.n_already_stored) == (1, 1)
    assert keys(store.read_tidy()) == [
        ("p1", 0, 0.0, 20.0),
        ("p1", 1, 7.0, 14.0),
        ("p1", 2, 14.0, 9.0),
    ]


def test_baseline_arriving_later_moves_the_stored_days_and_undo_moves_them_back(store):
    # First export lacks the baseline: sessions 1, 2 on 03-08 and 03-15 (days 0, 7 there).
    late = [row("p1", 1, 0.0, 14), row("p1", 2, 7.0, 9), row("p2", 0, 0.0, 5)]
    store.commit(
        validated(late, anchors={"p1": "2024-03-08", "p2": "2024-03-01"}),
        filename="late",
        content_hash="late",
    )
    before = store.read_tidy()
    # The full export: baseline 03-01 12:00, session 1 on 03-08 12:00 (days 0 and 7).
    full = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14)]
    res = store.commit(
        validated(full, anchors={"p1": "2024-03-01 12:00"}), filename="full", content_hash="full"
    )
    # Re-anchored at 03-01 12:00: the stored 03-08 00:00 and 03-15 00:00 rows move to days 6.5
    # and 13.5. The full file's session 1 is at 03-08 12:00 (day 7.0): another moment, so it
    # is a new row beside the 6.5 one (an export that drops clock times makes such pairs).
    got = keys(store.read_tidy())
    assert ("p1", 0, 0.0, 20.0) in got and ("p1", 2, 13.5, 9.0) in got
    assert ("p1", 1, 6.5, 14.0) in got and ("p1", 1, 7.0, 14.0) in got
    assert res.n_added == 2
    store.undo(res.upload_id)
    pd.testing.assert_frame_equal(store.read_tidy(), before)


def test_baseline_arriving_later_keeps_one_row_per_assessment(store):
    late = [row("p1", 1, 0.0, 14), row("p1", 2, 7.0, 9)]
    store.commit(validated(late, anchors={"p1": "2024-03-08"}), filename="l", content_hash="l")
    full = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14), row("p1", 2, 14.0, 9)]
    res = store.commit(
        validated(full, anchors={"p1": "2024-03-01"}), filename="f", content_hash="f"
    )
    assert (res.n_added, res.n_already_stored) == (1, 2)
    assert keys(store.read_tidy()) == [
        ("p1", 0, 0.0, 20.0),
        ("p1", 1, 7.0, 14.0),
        ("p1", 2, 14.0, 9.0),
    ]


def test_anchor_flag_from_validation_wins_over_the_inferred_one(store):
    # Validation says the file's day 0 is the baseline even though that row was rejected.
    first = [row("p1", 1, 7.0, 14)]
    store.commit(
        validated(first, anchors={"p1": "2024-01-01"}, from_baseline={"p1": True}),
        filename="a",
        content_hash="a",
    )
    later = [row("p1", 2, 0.0, 9)]  # no baseline in this file: day 0 = 2024-01-15
    store.commit(validated(later, anchors={"p1": "2024-01-15"}), filename="b", content_hash="b")
    assert keys(store.read_tidy()) == [("p1", 1, 7.0, 14.0), ("p1", 2, 14.0, 9.0)]


def test_days_that_cannot_be_lined_up_are_set_aside_with_the_reason(store):
    store.commit(
        validated([row("p1", 1, 0.0, 14)], anchors={"p1": "2024-01-08"}),
        filename="dated",
        content_hash="d",
    )
    res = store.commit(
        validated([row("p1", 2, 14.0, 9), row("p2", 0, 0.0, 3)]), filename="days", content_hash="x"
    )
    assert (res.n_added, res.n_unaligned) == (1, 1)
    aside = res.set_aside.iloc[0]
    assert (aside.kind, aside.patient_id) == ("unaligned", "p1") and "baseline" in aside.reason
    store.commit(validated([row("p3", 0, 0.0, 1)]), filename="d2", content_hash="d2")
    res = store.commit(
        validated([row("p3", 1, 0.0, 9)], anchors={"p3": "2024-05-01"}),
        filename="dated2",
        content_hash="d3",
    )
    assert res.n_unaligned == 1 and res.status == "nothing-new"


def test_no_real_date_is_stored_anywhere_issue_rule_4(store, url):
    when = pd.Timestamp("2024-01-01")
    store.commit(
        validated(A_ROWS, anchors={"p1": "2024-01-01", "p2": "2024-01-01"}),
        filename="a",
        content_hash="a",
    )
    content = dump(url)
    real = {
        int(when.value // 10**6),
        int(when.value // 10**9),
        int(when.value // 10**3),
        when.value,
        int(when.value // (86400 * 10**9)),
    }
    for table, rows in content.items():
        for r in rows:
            for value in r:
                assert value not in real, f"{table} holds the date {when} as {value}"
                assert "2024-01-01" not in str(value), f"{table} holds the date {when}"
    anchors = {r[0]: r[1] for r in content["patient_anchors"]}
    # Two patients with the same baseline date get different stored anchors (per-patient key).
    assert anchors[pid("p1")] != anchors[pid("p2")]


def test_a_different_anchor_key_is_refused(url, monkeypatch):
    monkeypatch.setenv("RELIEFCHECK_ANCHOR_KEY", "practice secret")
    with open_store(url) as s:
        s.commit(validated(A_ROWS, anchors={"p1": "2024-01-01"}), filename="a", content_hash="a")
    monkeypatch.setenv("RELIEFCHECK_ANCHOR_KEY", "another secret")
    with open_store(url) as s, pytest.raises(StoreError, match="not the one"):
        s.commit(
            validated([row("p1", 2, 0.0, 3)], anchors={"p1": "2024-02-01"}),
            filename="b",
            content_hash="b",
        )
    monkeypatch.delenv("RELIEFCHECK_ANCHOR_KEY")
    with open_store(url) as s, pytest.raises(StoreError, match="keys were not found"):
        s.commit(
            validated([row("p1", 2, 0.0, 3)], anchors={"p1": "2024-02-01"}),
            filename="b",
            content_hash="b",
        )
    with open_store(url, anchor_key="practice secret") as s:
        res = s.commit(
            validated([row("p1", 2, 0.0, 3)], anchors={"p1": "2024-01-15"}),
            filename="b",
            content_hash="b",
        )
        assert ("p1", 2, 14.0, 3.0) in keys(s.read_tidy()) and res.committed


# -- end to end with the reader and validation ------------------------------------------------
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "with_dates.csv"


def _exports() -> tuple[bytes, bytes]:
    """The dated sample export, and a later export of the same clinic that lacks every
    session-0 and session-1 row (so no patient's baseline is in it)."""
    full = SAMPLE.read_bytes()
    frame = pd.read_csv(io.BytesIO(full), dtype=str)
    later = frame[~frame["session"].isin(["0", "1"])]
    return full, later.to_csv(index=False).encode()


@pytest.mark.parametrize("order", ["full first", "later first"])
def test_dated_exports_line_up_whatever_order_they_arrive_in(store, order):
    full, later = _exports()
    v_full = load_export(full, filename="full.csv")
    v_later = load_export(later, filename="later.csv")
    remember(v_full.tidy["patient_id"])
    assert not v_later.tidy["session"].eq(0).any() and len(v_later.tidy) > 0
    uploads = [("full.csv", full, v_full), ("later.csv", later, v_later)]
    if order == "later first":
        uploads.reverse()
    results = [
        store.commit(v, filename=name, content_hash=content_hash(data)) for name, data, v in uploads
    ]
    # The store must end up exactly as the full export alone says: same days since baseline,
    # every assessment once (the later export brings nothing the full one lacks).
    assert keys(store.read_tidy()) == keys(v_full.tidy)
    if order == "full first":
        assert (results[1].status, results[1].n_already_stored) == (
            "nothing-new",
            len(v_later.tidy),
        )
