"""Issue 12, point 3: the commit's preview, on SQLite and PostgreSQL. It writes nothing, its
counts are the counts the commit then reports (keeping or replacing stored scores), it shows
the stored and the new score of each conflicting row, it flags ids that look like a different
patient, and a commit made after the store changed under a preview is refused.

Expected counts are worked out by hand from the rows of each test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.store import BASELINE_APART_DAYS, StoreError
from tests.data.store_helpers import dump, pid, row, validated

COUNTS = (
    "n_added",
    "n_already_stored",
    "n_conflicts",
    "n_replaced",
    "n_unaligned",
    "n_file_clashes",
    "n_duplicates_in_file",
)
STORED = [
    row("p1", 0, 0.0, 20),
    row("p1", 1, 7.0, 14),
    row("p2", 0, 0.0, 12),
    row("p3", 1, 0.0, 9),  # dated, without a baseline: later undated rows cannot line up
]
# p1 session 0: same; p1 session 1: conflict (14 → 11); p1 session 2: new; p2 session 1 twice
# with two scores: file clash; p2 session 0 twice, the same: one repeat; p3 undated: unaligned.
INCOMING = [
    row("p1", 0, 0.0, 20),
    row("p1", 1, 7.0, 11),
    row("p1", 2, 14.0, 8),
    row("p2", 1, 7.0, 10),
    row("p2", 1, 7.0, 9),
    row("p2", 0, 0.0, 12),
    row("p2", 0, 0.0, 12),
    row("p3", 2, 14.0, 7),
    row("p4", 0, 0.0, 16),
]
BY_HAND = {
    "n_added": 2,  # p1 session 2, p4
    "n_already_stored": 2,  # p1 session 0, p2 session 0
    "n_conflicts": 1,
    "n_unaligned": 1,
    "n_file_clashes": 2,
    "n_duplicates_in_file": 1,
}


def _result_counts(result) -> dict[str, int]:
    return {k: getattr(result, k) for k in COUNTS}


def _store_first(store) -> None:
    store.commit(validated(STORED[:3]), filename="first.csv", content_hash="h1")
    store.commit(
        validated(STORED[3:], anchors={"p3": "2024-01-08"}), filename="dated.csv", content_hash="h2"
    )


def test_preview_writes_nothing(store, url):
    _store_first(store)
    before = dump(url)
    version = store.content_version()
    store.preview(validated(INCOMING), filename="next.csv", content_hash="h3")
    assert dump(url) == before and store.content_version() == version


@pytest.mark.parametrize("replace", [False, True], ids=["keep", "replace"])
def test_preview_counts_are_the_commits_counts(store, replace):
    _store_first(store)
    seen = store.preview(validated(INCOMING), filename="next.csv", content_hash="h3")
    assert {k: seen.classified[k] for k in BY_HAND} == BY_HAND
    assert seen.status(replace) == "committed"
    done = store.commit(
        validated(INCOMING),
        filename="next.csv",
        content_hash="h3",
        replace=replace,
        expected_version=seen.content_version,
    )
    assert seen.counts(replace) == _result_counts(done)
    assert done.n_replaced == (1 if replace else 0)
    assert seen.status(replace) == done.status


@pytest.mark.parametrize("replace", [False, True], ids=["keep", "replace"])
def test_preview_of_a_file_stored_already_matches_the_commit(store, replace):
    first = store.commit(validated(STORED[:3]), filename="a.csv", content_hash="same")
    seen = store.preview(validated(STORED[:3]), filename="a again.csv", content_hash="same")
    assert seen.duplicate_of == first.upload_id
    done = store.commit(
        validated(STORED[:3]), filename="a again.csv", content_hash="same", replace=replace
    )
    assert seen.status(replace) == done.status
    assert seen.status(False) == "duplicate-content"
    assert seen.counts(replace) == _result_counts(done)


def test_a_random_upload_previews_as_it_commits(store):
    """Many patients, scores drawn with a fixed seed: about a third repeat the stored score, a
    third differ, a third are new sessions."""
    rng = np.random.default_rng(12)
    first = [
        row(f"r{i}", s, 7.0 * s, float(rng.integers(0, 28))) for i in range(60) for s in (0, 1)
    ]
    store.commit(validated(first), filename="r1.csv", content_hash="r1")
    pick = rng.integers(0, 3, len(first))
    second = [
        r if k == 0 else (r | {"score": (r["score"] + 1) % 28} if k == 1 else r | {"session": 5})
        for r, k in zip(first, pick, strict=True)
    ]
    for r in second:  # session 5 rows are new assessments at their own day
        if r["session"] == 5:
            r["day"] = 35.0
            r["phase"] = "treatment"
    second = list({(r["patient_id"], r["session"]): r for r in second}.values())
    seen = store.preview(validated(second), filename="r2.csv", content_hash="r2")
    done = store.commit(validated(second), filename="r2.csv", content_hash="r2")
    assert seen.counts(False) == _result_counts(done)
    assert seen.n_conflicts == int((pick == 1).sum()) > 0


def test_preview_shows_the_stored_and_the_new_score_side_by_side(store):
    _store_first(store)
    seen = store.preview(validated(INCOMING), filename="next.csv", content_hash="h3")
    (c,) = seen.conflicts.itertuples()
    assert (c.patient_id, c.session, c.day, c.stored_score, c.score) == ("p1", 1, 7.0, 14.0, 11.0)
    assert c.source_row == 3  # the file's row (header = row 1)
    kinds = seen.set_aside["kind"].value_counts().to_dict()
    assert kinds == {"conflict": 1, "file-clash": 2, "unaligned": 1}


def test_same_id_with_another_protocol_is_flagged(store):
    first = [row("p1", 0, 0.0, 20), row("p2", 0, 0.0, 12)]
    store.commit(validated(first), filename="a", content_hash="a")
    seen = store.preview(
        validated([row("p1", 1, 7.0, 14, protocol="intensive"), row("p2", 1, 7.0, 9)]),
        filename="b",
        content_hash="b",
    )
    assert seen.suspects["patient_id"].tolist() == ["p1"]
    assert seen.suspects["store_id"].tolist() == [pid("p1")]
    assert "protocol intensive in this file, weekly in the store" in seen.suspects["reason"][0]


def test_baselines_months_apart_are_flagged_and_weeks_apart_are_not(store):
    base = [row("p1", 0, 0.0, 20), row("p2", 0, 0.0, 12)]
    store.commit(
        validated(base, anchors={"p1": "2024-01-08", "p2": "2024-01-08"}),
        filename="a",
        content_hash="a",
    )
    far = pd.Timestamp("2024-01-08") + pd.Timedelta(days=BASELINE_APART_DAYS + 30)
    near = pd.Timestamp("2024-01-08") + pd.Timedelta(days=BASELINE_APART_DAYS - 30)
    seen = store.preview(
        validated(
            [row("p1", 0, 0.0, 18), row("p2", 0, 0.0, 11)],
            anchors={"p1": str(far.date()), "p2": str(near.date())},
        ),
        filename="b",
        content_hash="b",
    )
    assert seen.suspects["patient_id"].tolist() == ["p1"]
    assert f"{BASELINE_APART_DAYS + 30} days" in seen.suspects["reason"][0]


def test_new_patients_and_consistent_returns_are_not_flagged(store):
    store.commit(validated(STORED[:3]), filename="a", content_hash="a")
    seen = store.preview(validated(INCOMING[:3] + INCOMING[-1:]), filename="b", content_hash="b")
    assert seen.suspects.empty


def test_commit_after_the_store_changed_under_the_preview_is_refused(store, url):
    _store_first(store)
    seen = store.preview(validated(INCOMING), filename="next.csv", content_hash="h3")
    store.commit(validated([row("p9", 0, 0.0, 3)]), filename="other.csv", content_hash="h9")
    before = dump(url)
    with pytest.raises(StoreError, match="changed after this file was checked"):
        store.commit(
            validated(INCOMING),
            filename="next.csv",
            content_hash="h3",
            expected_version=seen.content_version,
        )
    assert dump(url) == before
