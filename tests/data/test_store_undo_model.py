"""Issue 10, undo that cannot lose data, checked against a model: any sequence of ingest,
ingest --replace and undo leaves the store equal to a fresh store into which only the uploads
still committed were ingested, in commit order and with their replace choice.

The uploads come from a small pool chosen to meet every rule of a commit on the same two
patients: overlapping files, conflicting scores and item answers, a repeated row with other
labels, clashes and repeats inside one file, follow-up rows without a session, and dated files
that create, line up and move a patient's anchor (with and without the baseline row), beside
files that give days and so cannot always be lined up with dated ones.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from data.store import open_store
from tests.data.store_helpers import BACKENDS, canonical, row, validated
from tests.pg_server import fresh_database_url


def _pool() -> list[tuple[str, object]]:
    """(name, validated upload); the name is also the file's content hash. Every upload
    touches p1 (days given) or p2 (dated), most both, so that every undo meets the others."""
    p1 = [row("p1", 0, 0.0, 20), row("p1", 1, 7.0, 15), row("p1", 2, 14.0, 10)]
    p2 = [row("p2", 0, 0.0, 20), row("p2", 1, 7.0, 14)]  # dated: baseline 03-01
    base = {"p2": "2024-03-01"}
    return [
        ("a", validated(p1 + p2, anchors=base)),
        (
            "a-plus",
            validated(p1 + p2 + [row("p1", 3, 21.0, 8), row("p2", 2, 14.0, 10)], anchors=base),
        ),
        (
            "conflicts",
            validated([row("p1", 1, 7.0, 16), row("p2", 1, 7.0, 13)], anchors=base),
        ),
        (
            "conflicts-too",  # the same new values as "conflicts", and one more of its own
            validated([row("p1", 1, 7.0, 16), row("p1", 4, 28.0, 5)]),
        ),
        (
            "other-labels",  # a stored row again with other labels, and one new row
            validated([row("p1", 0, 0.0, 20, site="north"), row("p1", 4, 28.0, 6)]),
        ),
        (
            "items",  # the same total as a's baseline with item answers: a conflict
            validated([row("p1", 0, 0.0, 20, item_1=3, item_2=2), row("p1", 2, 14.0, 10)]),
        ),
        (
            "clash-and-repeat",
            validated(
                [
                    row("p1", 1, 7.0, 15),
                    row("p1", 1, 7.0, 17),
                    row("p1", 0, 0.0, 20),
                    row("p1", 0, 0.0, 20, site="south"),
                    row("p1", None, None, 7),
                    row("p1", None, 90.0, 6),
                ]
            ),
        ),
        (
            "p2-later",  # p2 without its baseline row: day 0 is 03-08
            validated([row("p2", 1, 0.0, 14), row("p2", 2, 7.0, 11)], anchors={"p2": "2024-03-08"}),
        ),
        (
            "p2-first",  # first seen alone, this anchors p2 provisionally at 03-15
            validated([row("p2", 2, 0.0, 10), row("p2", 3, 7.0, 8)], anchors={"p2": "2024-03-15"}),
        ),
        (
            "p2-earlier",  # an earlier first date than p2-first's, no baseline row
            validated([row("p2", 1, 0.0, 15)], anchors={"p2": "2024-03-08"}),
        ),
        (
            # days given: p1 fits; p2 fits only a known baseline (not a provisional anchor)
            "days-only",
            validated([row("p2", 3, 21.0, 8), row("p1", 5, 35.0, 4), row("p1", 2, 14.0, 10)]),
        ),
        (
            # dated p1 without its baseline: cannot meet p1's days-only rows (set aside)
            "p1-dated",
            validated(
                [row("p1", 3, 0.0, 8), row("p2", 0, 0.0, 20)],
                anchors={"p1": "2024-01-22", "p2": "2024-03-01"},
            ),
        ),
    ]


POOL = _pool()
Committed = tuple[tuple[int, bool], ...]  # (pool index, replace) of each committed upload


class References:
    """Fresh SQLite stores into which only the given uploads were ingested, in order. Each is
    made from the store of its longest prefix (a copy of that file) plus the last upload, so a
    run of examples commits each upload once per distinct prefix."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="rc-model-ref-"))
        self.files: dict[Committed, Path] = {}
        self.tables: dict[Committed, pd.DataFrame] = {}

    def table(self, committed: Committed) -> pd.DataFrame:
        """The sorted tidy table of a fresh store holding ``committed``."""
        if committed not in self.tables:
            self._make(committed)
        return self.tables[committed]

    def _make(self, committed: Committed) -> None:
        if committed:
            self.table(committed[:-1])
        path = self.folder / f"ref{len(self.files)}.sqlite"
        if committed:
            shutil.copyfile(self.files[committed[:-1]], path)
        with open_store(f"sqlite:///{path}") as fresh:
            if committed:
                index, replace = committed[-1]
                name, upload = POOL[index]
                fresh.commit(upload, filename=name, content_hash=name, replace=replace)
            self.tables[committed] = canonical(fresh.read_tidy())
        self.files[committed] = path  # closed: the write-ahead log is folded into the file

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class UndoModel(RuleBasedStateMachine):
    """The store under test beside the list of uploads it says are committed."""

    backend = "sqlite"
    references: References

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="rc-model-")
        url = (
            f"sqlite:///{self.folder}/store.sqlite"
            if self.backend == "sqlite"
            else fresh_database_url()
        )
        self.store = open_store(url)
        self.committed: list[tuple[int, int, bool]] = []  # (upload_id, pool index, replace)

    @rule(index=st.integers(0, len(POOL) - 1), replace=st.booleans())
    def ingest(self, index: int, replace: bool) -> None:
        name, upload = POOL[index]
        res = self.store.commit(upload, filename=name, content_hash=name, replace=replace)
        total = res.n_added + res.n_already_stored + res.n_conflicts + res.n_unaligned
        assert total + res.n_file_clashes + res.n_duplicates_in_file in (res.n_rows, 0)
        if res.committed:
            self.committed.append((int(res.upload_id), index, replace))

    @precondition(lambda self: self.committed)
    @rule(pick=st.integers(0, 100))
    def undo(self, pick: int) -> None:
        upload_id, _, _ = self.committed.pop(pick % len(self.committed))
        res = self.store.undo(upload_id)
        assert res.upload_id == upload_id and res.n_removed >= 0 and res.n_restored >= 0

    @invariant()
    def store_is_the_replay_of_the_committed_uploads(self) -> None:
        expected = self.references.table(tuple((i, r) for _, i, r in self.committed))
        pd.testing.assert_frame_equal(canonical(self.store.read_tidy()), expected)

    @invariant()
    def history_agrees_on_what_is_committed(self) -> None:
        up = self.store.uploads()
        committed = up.loc[up["status"] == "committed", "upload_id"].tolist()
        assert committed == [u for u, _, _ in self.committed]

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_any_ingests_and_undos_leave_the_replay_of_the_committed_uploads(backend, monkeypatch):
    # One anchor key for the stores under test and the references (days do not depend on it).
    monkeypatch.setenv("RELIEFCHECK_ANCHOR_KEY", "model test anchor key")
    references = References()
    machine = type(
        f"UndoModel_{backend}", (UndoModel,), {"backend": backend, "references": references}
    )
    machine.TestCase.settings = settings(
        max_examples=30,
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    try:
        machine.TestCase().runTest()
    finally:
        references.close()
