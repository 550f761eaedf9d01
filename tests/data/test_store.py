"""The outcome store against the rules of issue 4, on SQLite and on PostgreSQL.

Expected values are worked out by hand in each test (which rows an upload brings, which are
already stored, what the days must be) or come from an independent model (a plain dict of
assessments) in the property test.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.errors import ReliefCheckError
from data.schema import conform, empty_tidy
from data.store import StoreError, open_store
from tests.data.store_helpers import canonical, dump, keys, pid, row, validated

A_ROWS = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 14), row("p2", 0, 0.0, 12)]


# -- round trip ------------------------------------------------------------------------------
def test_empty_store_reads_an_empty_conformed_table(store):
    got = store.read_tidy()
    pd.testing.assert_frame_equal(got, empty_tidy())
    assert store.is_empty() and store.content_version() == 0 and store.uploads().empty


def test_round_trip_returns_the_tidy_table_exactly(store):
    rows = [
        row(
            "p1",
            0,
            0.0,
            19.0,
            item_1=3,
            item_9=1,
            site="north",
            route="IV",
            treatment_resistant=True,
        ),
        row("p1", 1, 0.25, 25.714285714285715, item_1=2, item_9=pd.NA, site="north"),
        row("p1", None, 1 / 3, 10.0, site="north"),
        row("p2", 2, float("nan"), 7.5, item_2=0, treatment_resistant=False),
        row("p3", None, 200.0, 3.0, instrument="PCL-5", item_20=4, clinician='c\'1,"x"'),
    ]
    original = validated(rows).tidy
    store.commit(validated(rows), filename="a.csv", content_hash="h")
    got = store.read_tidy()
    # The stored table has the file's columns: item_1 … item_20 (the last item answered).
    expected = original.reindex(columns=got.columns)
    assert list(got.columns[:7]) == list(conform(original).columns[:7])
    assert {"site", "clinician", "route", "treatment_resistant", "item_20"} <= set(got.columns)
    pd.testing.assert_frame_equal(canonical(got), canonical(conform(expected)))


def test_assessment_without_session_or_day_keeps_one_key_across_uploads(store):
    # Empty session and empty day must match themselves across uploads (SQL NULLs never do).
    rows = [row("p1", None, None, 5.0), row("p1", 3, None, 6.0), row("p1", None, 90.0, 4.0)]
    store.commit(validated(rows), filename="a.csv", content_hash="h1")
    again = store.commit(validated(rows), filename="b.csv", content_hash="h2")
    assert (again.status, again.n_already_stored, again.n_added) == ("nothing-new", 3, 0)
    assert len(store.read_tidy()) == 3


# -- issue rule 3: once, no-op, overlap, conflicts, replace, undo -----------------------------
def test_same_content_again_is_a_noop_that_says_so_issue_rule_3(store):
    first = store.commit(validated(A_ROWS), filename="a.csv", content_hash="same")
    version = store.content_version()
    again = store.commit(validated(A_ROWS), filename="a (1).csv", content_hash="same")
    assert again.status == "duplicate-content" and again.upload_id is None
    assert again.duplicate_of == first.upload_id
    assert f"upload {first.upload_id}" in again.message and "Nothing was changed" in again.message
    assert len(store.uploads()) == 1 and store.content_version() == version
    assert store.audit_log()["action"].tolist() == ["commit", "duplicate-content"]


def test_overlapping_upload_adds_only_what_is_new_issue_rule_3(store):
    store.commit(validated(A_ROWS), filename="march.csv", content_hash="m")
    april = A_ROWS[1:] + [row("p1", 2, 14.0, 9), row("p3", 0, 0.0, 22)]
    res = store.commit(validated(april), filename="april.csv", content_hash="a")
    # april repeats 2 stored rows and brings 2 new ones.
    assert (res.status, res.n_rows, res.n_added, res.n_already_stored) == ("committed", 4, 2, 2)
    assert keys(store.read_tidy()) == [
        ("p1", 0, 0.0, 20.0),
        ("p1", 1, 7.0, 14.0),
        ("p1", 2, 14.0, 9.0),
        ("p2", 0, 0.0, 12.0),
        ("p3", 0, 0.0, 22.0),
    ]
    up = store.uploads()
    assert up["n_added"].tolist() == [3, 2] and up["n_active"].tolist() == [3, 2]


def test_upload_with_nothing_new_stores_no_upload(store):
    store.commit(validated(A_ROWS), filename="a.csv", content_hash="a")
    res = store.commit(validated(A_ROWS[:2]), filename="part.csv", content_hash="part")
    assert (res.status, res.upload_id, res.n_already_stored) == ("nothing-new", None, 2)
    assert len(store.uploads()) == 1
    assert store.audit_log()["action"].tolist() == ["commit", "nothing-new"]


def test_conflict_is_reported_and_left_alone_issue_rule_3(store):
    store.commit(validated(A_ROWS), filename="a.csv", content_hash="a")
    changed = [A_ROWS[0], row("p1", 1, 7.0, 15), row("p4", 0, 0.0, 8)]
    res = store.commit(validated(changed), filename="b.csv", content_hash="b")
    assert (res.n_added, res.n_already_stored, res.n_conflicts, res.n_replaced) == (1, 1, 1, 0)
    conflict = res.conflicts.iloc[0]
    # the file's row 3 (header = row 1) holds p1 session 1 with 15; the store keeps 14.
    assert (conflict.source_row, conflict.score, conflict.stored_score) == (3, 15.0, 14.0)
    assert conflict.kind == "conflict" and "replace" in conflict.reason
    assert ("p1", 1, 7.0, 14.0) in keys(store.read_tidy())


def test_different_items_with_the_same_total_are_a_conflict(store):
    store.commit(
        validated([row("p1", 0, 0.0, 4, item_1=3, item_2=1)]), filename="a", content_hash="a"
    )
    res = store.commit(
        validated([row("p1", 0, 0.0, 4, item_1=1, item_2=3)]), filename="b", content_hash="b"
    )
    assert (res.status, res.n_conflicts) == ("nothing-new", 1)


def test_replace_is_audited_and_undo_restores_the_replaced_row_issue_rule_3(store):
    store.commit(validated(A_ROWS), filename="a.csv", content_hash="a")
    res = store.commit(
        validated([row("p1", 1, 7.0, 15)]),
        filename="fix.csv",
        content_hash="fix",
        replace=True,
        uploader="dr.k@clinic.example",
    )
    assert (res.status, res.n_replaced, res.n_added) == ("committed", 1, 0)
    assert ("p1", 1, 7.0, 15.0) in keys(store.read_tidy())
    log = store.audit_log()
    entry = log[log["action"] == "replace"].iloc[0]
    detail = json.loads(entry["detail"])
    assert (entry["patient_id"], entry["upload_id"]) == (pid("p1"), res.upload_id)
    assert (detail["old_score"], detail["new_score"], detail["session"]) == (14.0, 15.0, 1)
    undone = store.undo(res.upload_id)
    assert (undone.n_removed, undone.n_restored) == (1, 1)
    assert keys(store.read_tidy()) == keys(validated(A_ROWS).tidy)
    up = store.uploads().set_index("upload_id")
    assert (
        up.loc[res.upload_id, "status"] == "undone"
        and up.loc[res.upload_id, "uploader"] == "dr.k@clinic.example"
    )
    assert pd.notna(up.loc[res.upload_id, "undone_at"])
    assert store.audit_log()["action"].iloc[len(log) :].tolist() == ["undo", "restore"]


def test_undo_returns_the_store_to_its_state_before_the_upload(store, url):
    store.commit(validated(A_ROWS), filename="a.csv", content_hash="a")
    before = store.read_tidy()
    res = store.commit(
        validated([row("p9", 0, 0.0, 3), row("p1", 2, 14.0, 9)]), filename="b.csv", content_hash="b"
    )
    store.undo(res.upload_id)
    pd.testing.assert_frame_equal(store.read_tidy(), before)
    # Nothing of upload 2 is left in the assessments table (column 1 is upload_id).
    assert {r[1] for r in dump(url)["assessments"]} == {1}


def test_undo_of_an_upload_later_replaced_passes_its_replaced_rows_on(store):
    store.commit(validated([row("p1", 0, 0.0, 10)]), filename="a", content_hash="a")
    b = store.commit(
        validated([row("p1", 0, 0.0, 11)]), filename="b", content_hash="b", replace=True
    )
    c = store.commit(
        validated([row("p1", 0, 0.0, 12)]), filename="c", content_hash="c", replace=True
    )
    store.undo(b.upload_id)  # as if b never happened: c replaced a's 10
    assert keys(store.read_tidy()) == [("p1", 0, 0.0, 12.0)]
    store.undo(c.upload_id)
    assert keys(store.read_tidy()) == [("p1", 0, 0.0, 10.0)]


def test_undo_of_unknown_or_undone_upload_is_refused(store):
    res = store.commit(validated(A_ROWS), filename="a.csv", content_hash="a")
    with pytest.raises(StoreError, match="no upload 99"):
        store.undo(99)
    store.undo(res.upload_id)
    with pytest.raises(ReliefCheckError, match="already undone"):
        store.undo(res.upload_id)


def test_same_file_after_undo_is_stored_again(store):
    first = store.commit(validated(A_ROWS), filename="a.csv", content_hash="a")
    store.undo(first.upload_id)
    again = store.commit(validated(A_ROWS), filename="a.csv", content_hash="a")
    assert (again.status, again.n_added) == ("committed", 3)


def test_rows_clashing_within_one_file_are_set_aside_and_repeats_counted_once(store):
    rows = [
        row("p1", 0, 0.0, 10),
        row("p1", 0, 0.0, 11),
        row("p2", 0, 0.0, 5),
        row("p2", 0, 0.0, 5),
        row("p3", 0, 0.0, 7),
    ]
    res = store.commit(validated(rows), filename="a", content_hash="a")
    assert (res.n_added, res.n_file_clashes, res.n_duplicates_in_file) == (2, 2, 1)
    assert res.set_aside["source_row"].tolist() == [2, 3]
    assert keys(store.read_tidy()) == [("p2", 0, 0.0, 5.0), ("p3", 0, 0.0, 7.0)]


def test_counts_in_the_upload_history_and_message(store):
    res = store.commit(
        validated(A_ROWS, n_rejected=2),
        filename="a.csv",
        content_hash="a",
        uploader="desk@clinic.example",
    )
    up = store.uploads().iloc[0]
    assert (up.filename, up.uploader, up.n_rows, up.n_rejected, up.n_added) == (
        "a.csv",
        "desk@clinic.example",
        3,
        2,
        3,
    )
    assert str(up.committed_at.tz) == "UTC"
    assert "Stored 3 new assessments from a.csv as upload 1" in res.message
    assert "2 rows had been rejected" in res.message


def test_content_version_changes_with_commits_and_undos_only(store):
    v0 = store.content_version()
    res = store.commit(validated(A_ROWS), filename="a", content_hash="a")
    v1 = store.content_version()
    store.commit(validated(A_ROWS), filename="a", content_hash="a")  # duplicate: no change
    store.read_tidy()
    assert store.content_version() == v1 != v0
    store.undo(res.upload_id)
    assert store.content_version() not in (v0, v1)


def test_failure_inside_the_transaction_leaves_the_store_as_before(store, url):
    store.commit(validated(A_ROWS), filename="a", content_hash="a")
    before = dump(url)

    def boom() -> None:
        raise RuntimeError("power cut")

    store.before_commit = boom
    with pytest.raises(RuntimeError):
        store.commit(
            validated([row("p7", 0, 0.0, 1)]), filename="b", content_hash="b", replace=True
        )
    with pytest.raises(RuntimeError):
        store.undo(1)
    assert dump(url) == before


# -- an independent model: a dict of assessments ---------------------------------------------
UNIVERSE = [row(f"p{p}", s, 7.0 * s, float(p + s)) for p in range(4) for s in range(3)]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(st.integers(0, len(UNIVERSE) - 1), min_size=1, max_size=8), min_size=1, max_size=5
    )
)
def test_random_overlapping_uploads_match_a_dict_model(tmp_path_factory, uploads):
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('h') / 'm.sqlite'}")
    model: dict[tuple, float] = {}
    for i, picks in enumerate(uploads):
        rows = [UNIVERSE[j] for j in picks]
        res = s.commit(validated(rows), filename=f"u{i}", content_hash=str(sorted(picks)))
        new = {(r["patient_id"], r["session"]) for r in rows} - set(model)
        if res.status != "duplicate-content":
            assert res.n_added == len(new)
            total = res.n_added + res.n_already_stored + res.n_conflicts + res.n_unaligned
            assert total + res.n_file_clashes + res.n_duplicates_in_file == res.n_rows
        model.update({(r["patient_id"], r["session"]): r["score"] for r in rows})
    got = {(p, sess): x for p, sess, _, x in keys(s.read_tidy())}
    s.close()
    assert got == model
