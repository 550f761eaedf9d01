"""The store's sentences after a commit: counts with separators, verbs in the count's number."""

from __future__ import annotations

import pytest

from data.store.messages import commit_message

KINDS = ("n_added", "n_already_stored", "n_replaced", "n_conflicts", "n_unaligned")
KINDS += ("n_file_clashes", "n_duplicates_in_file")


def _message(n: int) -> str:
    counts = dict.fromkeys(KINDS, n) | {"n_replaced": 0}
    base = {"filename": "march.csv", "n_rows": 10_000, "n_rejected": n}
    return commit_message("committed", base, counts, 7, None, None, ())


def test_one_of_each_kind_is_told_in_the_singular():
    text = _message(1)
    assert "Stored 1 new assessment from march.csv" in text
    for wrong in ("1 row were", "1 rows", "1 row of the file give ", "1 assessment were"):
        assert wrong not in text
    assert "1 row could not be lined up with the patient's stored days and was set aside" in text
    assert "1 row repeated another row of the file exactly and was counted once" in text


@pytest.mark.parametrize("n", [2, 7527])
def test_many_are_told_in_the_plural_with_separators(n):
    text = _message(n)
    assert f"Stored {n:,} new assessments" in text
    assert f"{n:,} rows of the file give different scores for the same assessment" in text
    assert f"{n:,} rows had been rejected by validation" in text
