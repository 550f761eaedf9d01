"""Issue 10: undo cannot lose data. The store always holds what the uploads still committed,
replayed in commit order into an empty store, would give: a row belongs to every upload that
brought it, and an undo removes only rows no other committed upload holds.

Expected tables are worked out by hand from the rows each file brings (and, for dated files,
from the dates), in each test's comments.
"""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import text

from data.store import open_store
from data.store.engine import make_engine, normalise_url, write_transaction
from data.store.migrations import LATEST, _v5
from tests.data.store_helpers import canonical, dump, keys, row, validated

# A: 20 patients x 3 sessions = 60 rows; B: the same 60 and 20 new patients' baselines.
A_60 = [row(f"p{i:02d}", s, 7.0 * s, float(10 + i + s)) for i in range(20) for s in range(3)]
B_80 = A_60 + [row(f"q{i:02d}", 0, 0.0, float(i)) for i in range(20)]


def _commit(store, rows, name, **kw):
    return store.commit(validated(rows, **kw.pop("v", {})), filename=name, content_hash=name, **kw)


def test_undo_of_an_upload_a_later_one_repeats_keeps_the_shared_rows_issue_10(store):
    a = _commit(store, A_60, "a.csv")
    b = _commit(store, B_80, "b.csv")
    assert (b.n_added, b.n_already_stored) == (20, 60)
    before = store.read_tidy()
    undone = store.undo(a.upload_id)
    # B brought A's 60 rows too: nothing leaves, and every row keeps its place.
    pd.testing.assert_frame_equal(store.read_tidy(), before)
    assert (undone.n_removed, undone.n_restored, undone.n_kept) == (0, 0, 60)
    assert "removed 0 assessments" in undone.message and "60 assessments" in undone.message
    up = store.uploads().set_index("upload_id")
    assert up.loc[b.upload_id, "status"] == "committed" and up.loc[b.upload_id, "n_active"] == 80
    # B's file again is still a duplicate; A's file again finds its 60 rows stored.
    again_b = _commit(store, B_80, "b.csv")
    assert again_b.status == "duplicate-content" and again_b.duplicate_of == b.upload_id
    again_a = _commit(store, A_60, "a.csv")
    assert (again_a.status, again_a.n_added, again_a.n_already_stored) == ("nothing-new", 0, 60)
    # With B undone too, the store is empty, and A's file stores its 60 rows again.
    assert store.undo(b.upload_id).n_removed == 80 and store.is_empty()
    assert _commit(store, A_60, "a.csv").n_added == 60


def test_an_undo_preview_says_what_the_undo_would_do_and_changes_nothing(store, url):
    from data.store.undo import preview

    a = _commit(store, A_60, "a.csv")
    _commit(store, B_80, "b.csv")
    before, version = dump(url), store.content_version()
    seen = preview(store.engine, a.upload_id)
    assert dump(url) == before and store.content_version() == version
    done = store.undo(a.upload_id)
    assert (seen.n_removed, seen.n_kept, seen.message) == (
        done.n_removed,
        done.n_kept,
        done.message,
    )


def test_undo_of_the_later_upload_removes_only_its_own_rows_issue_10(store):
    a = _commit(store, A_60, "a.csv")
    b = _commit(store, B_80, "b.csv")
    undone = store.undo(b.upload_id)
    assert (undone.n_removed, undone.n_kept) == (20, 0)
    assert keys(store.read_tidy()) == keys(validated(A_60).tidy)
    assert store.uploads().set_index("upload_id").loc[a.upload_id, "n_active"] == 60


def test_undo_brings_in_a_later_uploads_value_that_it_had_kept_out(store):
    _commit(store, [row("p1", 0, 0.0, 20)], "first")
    a = _commit(store, [row("p1", 1, 7.0, 15)], "a")
    # B differs on session 1 (left alone: A's 15 is stored) and brings session 2.
    b = _commit(store, [row("p1", 1, 7.0, 12), row("p1", 2, 14.0, 9)], "b")
    assert (b.n_conflicts, b.n_added) == (1, 1)
    undone = store.undo(a.upload_id)
    # Without A, B's 12 is what a replay stores for session 1.
    assert keys(store.read_tidy()) == [
        ("p1", 0, 0.0, 20.0),
        ("p1", 1, 7.0, 12.0),
        ("p1", 2, 14.0, 9.0),
    ]
    assert (undone.n_removed, undone.n_restored) == (1, 1)
    restore = store.audit_log().query("action == 'restore'").iloc[0]
    detail = json.loads(restore["detail"])
    assert (detail["score"], detail["session"], detail["from_upload"]) == (12.0, 1, b.upload_id)


def test_undo_of_a_replace_keeps_the_values_another_replace_also_brought(store):
    _commit(store, [row("p1", 0, 0.0, 10)], "a")
    b = _commit(store, [row("p1", 0, 0.0, 11)], "b", replace=True)
    # C brings B's value again (already stored) with a row of its own.
    c = _commit(store, [row("p1", 0, 0.0, 11), row("p1", 1, 7.0, 5)], "c", replace=True)
    assert (c.n_already_stored, c.n_added) == (1, 1)
    store.undo(b.upload_id)
    # A replay of a, c: c replaces a's 10 with 11.
    assert keys(store.read_tidy()) == [("p1", 0, 0.0, 11.0), ("p1", 1, 7.0, 5.0)]
    store.undo(c.upload_id)
    assert keys(store.read_tidy()) == [("p1", 0, 0.0, 10.0)]


def test_a_repeated_row_takes_the_labels_of_the_upload_still_holding_it(store):
    a = _commit(store, [row("p1", 0, 0.0, 20, site="north")], "a")
    _commit(store, [row("p1", 0, 0.0, 20, site="south"), row("p1", 1, 7.0, 9)], "b")
    assert store.read_tidy()["site"].tolist() == ["north", pd.NA]
    undone = store.undo(a.upload_id)
    got = canonical(store.read_tidy())
    assert got["site"].tolist() == ["south", pd.NA] and undone.n_removed == 0


def test_undo_of_the_baseline_that_reanchored_a_patient_replays_the_rest(store):
    # late: no baseline, day 0 = 03-08 (sessions 1, 2); full: baseline 03-01, session 1 on 03-08.
    late = _commit(
        store,
        [row("p1", 1, 0.0, 14), row("p1", 2, 7.0, 9)],
        "late",
        v={"anchors": {"p1": "2024-03-08"}},
    )
    full = _commit(
        store,
        [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14)],
        "full",
        v={"anchors": {"p1": "2024-03-01"}},
    )
    assert keys(store.read_tidy()) == [
        ("p1", 0, 0.0, 20.0),
        ("p1", 1, 7.0, 14.0),
        ("p1", 2, 14.0, 9.0),
    ]
    # Undo late: full alone, from its baseline; session 1 stays (full brought it too).
    undone = store.undo(late.upload_id)
    assert keys(store.read_tidy()) == [("p1", 0, 0.0, 20.0), ("p1", 1, 7.0, 14.0)]
    assert (undone.n_removed, undone.n_kept) == (1, 1)
    # late's file again lines up with the baseline: session 2 on 03-15 is day 14.
    again = _commit(
        store,
        [row("p1", 1, 0.0, 14), row("p1", 2, 7.0, 9)],
        "late",
        v={"anchors": {"p1": "2024-03-08"}},
    )
    assert (again.n_added, again.n_already_stored) == (1, 1)
    # Undo full: late's two uploads alone, from their provisional day 0 (03-08).
    store.undo(full.upload_id)
    assert keys(store.read_tidy()) == [("p1", 1, 0.0, 14.0), ("p1", 2, 7.0, 9.0)]


def test_rows_that_no_longer_line_up_leave_and_come_back_with_their_date(store):
    # days: p1's baseline at day 0, its date unknown. dated: the baseline 01-01 (date learned).
    # later: session 2 on 01-15, no baseline row: day 14, lined up through the learned date.
    days = [row("p1", 0, 0.0, 20)]
    dated = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 15)]
    later = [row("p1", 2, 0.0, 10)]
    _commit(store, days, "days")
    d = _commit(store, dated, "dated", v={"anchors": {"p1": "2024-01-01"}})
    _commit(store, later, "later", v={"anchors": {"p1": "2024-01-15"}})
    assert keys(store.read_tidy())[-1] == ("p1", 2, 14.0, 10.0)
    # Without dated, later's row cannot be lined up (the baseline's date is unknown): it goes.
    store.undo(d.upload_id)
    assert keys(store.read_tidy()) == [("p1", 0, 0.0, 20.0)]
    # later is still committed but holds nothing: its file again is no duplicate.
    again = _commit(store, later, "later", v={"anchors": {"p1": "2024-01-15"}})
    assert (again.status, again.n_unaligned) == ("nothing-new", 1)
    _commit(store, dated, "dated", v={"anchors": {"p1": "2024-01-01"}})
    back = _commit(store, later, "later", v={"anchors": {"p1": "2024-01-15"}})
    assert (back.status, back.n_added) == ("committed", 1)
    assert keys(store.read_tidy())[-1] == ("p1", 2, 14.0, 10.0)


def test_an_upload_that_adds_nothing_in_the_replay_takes_no_anchor(store):
    # u brings p1's session 2 (lined up through dated's date) and two clashing rows of q,
    # whose anchor it creates (02-01, baseline). Undoing dated leaves u adding nothing: as in
    # a commit that adds nothing, q's anchor is not taken, so q's later file starts at day 0.
    _commit(store, [row("p1", 0, 0.0, 20)], "days")
    dated = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 15)]
    d = _commit(store, dated, "dated", v={"anchors": {"p1": "2024-01-01"}})
    u = _commit(
        store,
        [row("p1", 2, 0.0, 10), row("q", 0, 0.0, 5), row("q", 0, 0.0, 6)],
        "u",
        v={"anchors": {"p1": "2024-01-15", "q": "2024-02-01"}},
    )
    assert (u.n_added, u.n_file_clashes) == (1, 2)
    undone = store.undo(d.upload_id)
    assert undone.n_reanchored >= 1
    q = _commit(store, [row("q", 1, 0.0, 4)], "q", v={"anchors": {"q": "2024-02-08"}})
    assert q.committed
    assert ("q", 1, 0.0, 4.0) in keys(store.read_tidy())


def test_an_upload_that_counts_again_after_an_undo_makes_its_repeat_a_duplicate(store):
    # Two patients with days-only baselines (dates unknown): p1 (d1), p8 (d8). k dates p1's
    # baseline 01-01 and x8 p8's 02-01 (each with a row of its own, so each is stored). u: p1's
    # session 1 on 01-08 and p8's on 02-08, no baseline rows.
    k_rows, k_dates = (
        [row("p1", 0, 0.0, 20), row("p1", 3, 14.0, 9)],
        {"anchors": {"p1": "2024-01-01"}},
    )
    u_rows = [row("p1", 1, 0.0, 15), row("p8", 1, 0.0, 25)]
    u_dates = {"anchors": {"p1": "2024-01-08", "p8": "2024-02-08"}}
    d1 = _commit(store, [row("p1", 0, 0.0, 20)], "d1")
    _commit(store, [row("p8", 0, 0.0, 30)], "d8")
    k = _commit(store, k_rows, "k", v=k_dates)
    u = _commit(store, u_rows, "u", v=u_dates)  # p1's row lines up (day 7); p8's cannot
    assert (u.n_added, u.n_unaligned) == (1, 1)
    x8 = [row("p8", 0, 0.0, 30), row("p8", 2, 14.0, 20)]
    _commit(store, x8, "x8", v={"anchors": {"p8": "2024-02-01"}})
    store.undo(k.upload_id)  # u's p1 row no longer lines up: u holds nothing
    # u's file again is no duplicate (u holds nothing): it stores p8's row, now day 7.
    u2 = _commit(store, u_rows, "u", v=u_dates)
    assert (u2.status, u2.n_added) == ("committed", 1)
    assert _commit(store, k_rows, "k", v=k_dates).committed
    # Undo d1. The replay: d8; u (p1 is new to it: its 01-08 is p1's day 0; p8 cannot line
    # up); x8; u again, now a duplicate of u, so p8's session 1 is not stored; k (p1's baseline
    # 01-01 moves u's row to day 7).
    store.undo(d1.upload_id)
    assert keys(store.read_tidy()) == [
        ("p1", 0, 0.0, 20.0),
        ("p1", 1, 7.0, 15.0),
        ("p1", 3, 14.0, 9.0),
        ("p8", 0, 0.0, 30.0),
        ("p8", 2, 14.0, 20.0),
    ]


# --------------------------------------------------------------------------- migration to 5


def _version_4_store(url: str) -> None:
    """A store as version 4 left it: a dated upload, a replacement, an overlapping upload and
    an undone one, made by today's code and stripped of what version 5 added."""
    a_rows = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14), row("p2", 0, 0.0, 12)]
    with open_store(url) as s:
        _commit(s, a_rows, "a", v={"anchors": {"p1": "2024-01-01", "p2": "2024-01-03"}})
        _commit(s, [row("p1", 1, 7.0, 15)], "fix", replace=True)
        _commit(s, a_rows[:1] + [row("p1", 2, 14.0, 9)], "b")
        s.undo(_commit(s, [row("p3", 0, 0.0, 9)], "c").upload_id)
    engine = make_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE upload_patients"))
        conn.execute(text("ALTER TABLE uploads DROP COLUMN replace_conflicts"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 4"))
    engine.dispose()


def _kept_rows(url: str) -> list[tuple]:
    engine = make_engine(normalise_url(url))
    with engine.connect() as conn:
        got = conn.execute(
            text("SELECT upload_id, n_rows FROM upload_patients ORDER BY upload_id, n_rows")
        ).all()
    engine.dispose()
    return [tuple(r) for r in got]


def test_migration_to_version_5_keeps_what_each_upload_stored(url):
    _version_4_store(url)
    with open_store(url, upgrade=False) as old:
        before = old.read_tidy()
    with open_store(url) as s:
        assert s.schema_version() == LATEST
        pd.testing.assert_frame_equal(s.read_tidy(), before)
        # Upload 1 stored p1's two rows and p2's; 2 (fix) p1's replacement; 3 (b) p1's session
        # 2 (its baseline was already stored: not recorded before version 5); 4 was undone.
        assert _kept_rows(url) == [(1, 1), (1, 2), (2, 1), (3, 1)]
        with s.engine.connect() as conn:
            flags = conn.execute(text("SELECT replace_conflicts FROM uploads ORDER BY id")).all()
        assert [bool(f[0]) for f in flags] == [False, True, False, False]
        # Undo the replacement: a's 14 comes back (a replay of a and b).
        assert s.undo(2).n_restored == 1
        assert ("p1", 1, 7.0, 14.0) in keys(s.read_tidy())
        # Undo a: b's own row stays; b's repeat of p1's baseline was not recorded, so it goes.
        s.undo(1)
        assert keys(s.read_tidy()) == [("p1", 2, 14.0, 9.0)]
    # Applying version 5 again changes nothing.
    engine = make_engine(normalise_url(url))
    kept_before = _kept_rows(url)
    with write_transaction(engine) as conn:
        _v5(conn)
    engine.dispose()
    assert _kept_rows(url) == kept_before
