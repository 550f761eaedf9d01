"""Issue 4 reliability: eight writers at once (threads, and separate processes) with
overlapping files, on SQLite and PostgreSQL, lose nothing and double nothing; a process killed
inside an upload (or an undo) leaves the store exactly as it was.

The expected store after the writers is worked out without the store: the union of the rows
the writers sent, with each dated patient's days counted from their true baseline date.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pandas as pd
import pytest

from data.store import open_store
from tests.data.store_helpers import BACKENDS, canonical, dump, remember, row, store_url, validated

N_WRITERS = 8
REPO = Path(__file__).resolve().parents[2]
BASE_DATE = pd.Timestamp("2024-02-05")


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path) -> str:
    return store_url(request.param, tmp_path)


def writer_upload(i: int):
    """Writer i's file. Day-given rows: patients u00–u39, sessions 0–3, each writer a window of
    16 patients that overlaps its neighbours'. Dated rows: patients d0–d3 with sessions a week
    apart from BASE_DATE; even writers send sessions 0–2 (baseline included), odd writers
    sessions i % 3 + 1 … 4 (no baseline: their day 0 is their first session's date).
    Writers 6 and 7 send the same file (same content hash)."""
    i = 6 if i == 7 else i
    rows = [
        row(f"u{p:02d}", s, 7.0 * s, float(p + s))
        for p in range(i * 4, i * 4 + 16)
        for s in range(4)
    ]
    first = 0 if i % 2 == 0 else i % 3 + 1
    last = 2 if i % 2 == 0 else 4
    anchors = {}
    for p in range(4):
        for s in range(first, last + 1):
            rows.append(row(f"d{p}", s, 7.0 * (s - first), float(20 - s)))
        anchors[f"d{p}"] = str(BASE_DATE + pd.Timedelta(days=7 * first))
    return validated(rows, anchors=anchors), f"w{i}.csv", f"hash-{i}"


def expected_keys() -> set[tuple]:
    """Every (patient, session, day since baseline, score) the writers sent, once."""
    out = set()
    for i in range(N_WRITERS):
        i = 6 if i == 7 else i
        out |= {
            (f"u{p:02d}", s, 7.0 * s, float(p + s))
            for p in range(i * 4, i * 4 + 16)
            for s in range(4)
        }
        first = 0 if i % 2 == 0 else i % 3 + 1
        last = 2 if i % 2 == 0 else 4
        out |= {
            (f"d{p}", s, 7.0 * s, float(20 - s)) for p in range(4) for s in range(first, last + 1)
        }
    return out


def stored_keys(url: str) -> list[tuple]:
    with open_store(url) as s:
        t = canonical(s.read_tidy())
    return list(zip(t.patient_id, t.session.astype(int), t.day.astype(float), t.score, strict=True))


def check_outcome(url: str, statuses: list[str]) -> None:
    remember(pd.Series([k[0] for k in expected_keys()]))  # ids the children pseudonymised
    got = stored_keys(url)
    assert len(got) == len(set(got)), "an assessment is stored twice"
    assert set(got) == expected_keys()
    assert sorted(statuses).count("duplicate-content") == 1  # writers 6 and 7: one wins
    with open_store(url) as s:
        up = s.uploads()
    assert up["n_added"].sum() == len(got) and len(up) == statuses.count("committed")


def _commit_in_thread(store, i: int, barrier: threading.Barrier, out: list) -> None:
    v, name, digest = writer_upload(i)
    barrier.wait()
    out[i] = store.commit(v, filename=name, content_hash=digest).status


def test_eight_threads_with_overlapping_files_lose_and_double_nothing(url):
    store = open_store(url)
    barrier = threading.Barrier(N_WRITERS)
    out: list = [None] * N_WRITERS
    threads = [
        threading.Thread(target=_commit_in_thread, args=(store, i, barrier, out))
        for i in range(N_WRITERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    store.close()
    assert all(isinstance(s, str) for s in out), out
    check_outcome(url, out)


def _commit_in_process(url: str, i: int, barrier, queue) -> None:
    try:
        store = open_store(url)
        v, name, digest = writer_upload(i)
        barrier.wait()
        queue.put((i, store.commit(v, filename=name, content_hash=digest).status))
        store.close()
    except BaseException as err:  # report to the parent instead of dying silently
        queue.put((i, f"error: {err!r}"))


def test_eight_processes_with_overlapping_files_lose_and_double_nothing(url, monkeypatch):
    # Spawned children re-run the parent's __main__; after an AppTest in the same session that
    # is the dashboard script, which must not run here. A bare __main__ leaves them only this.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    open_store(url).close()  # create the schema once, as a deployed store would have it
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(N_WRITERS), ctx.Queue()
    procs = [
        ctx.Process(target=_commit_in_process, args=(url, i, barrier, queue))
        for i in range(N_WRITERS)
    ]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    statuses = [results[i] for i in range(N_WRITERS)]
    assert not [s for s in statuses if s.startswith("error")], statuses
    check_outcome(url, statuses)


# -- a process killed inside the transaction -------------------------------------------------
CHILD = """
import sys, time, pathlib
from data.store import open_store
from tests.data.test_store_concurrency import big_upload
url, marker, action = sys.argv[1:4]
store = open_store(url)
def pause():
    pathlib.Path(marker).write_text("inside the transaction")
    time.sleep(600)
store.before_commit = pause
if action == "commit":
    store.commit(big_upload(), filename="big.csv", content_hash="big", replace=True)
else:
    store.undo(int(action.split()[1]))
"""


def big_upload():
    """5,000 patients × 4 sessions, dated without baselines for p0–p9 (so stored days move),
    with p0–p99's session 1 scores changed (replacements)."""
    rows = [
        row(f"p{p}", s, 7.0 * s, float(s + (p < 100 and s == 1)))
        for p in range(5000)
        for s in range(4)
    ]
    return validated(
        rows,
        anchors={f"p{p}": "2024-01-01" for p in range(10)},
        from_baseline={f"p{p}": p >= 5 for p in range(10)},
    )


def small_upload():
    """What is stored before the kill: p0–p199 sessions 1–2, dated (no baseline)."""
    rows = [row(f"p{p}", s, 7.0 * (s - 1), float(s)) for p in range(200) for s in (1, 2)]
    return validated(rows, anchors={f"p{p}": "2024-01-08" for p in range(200)})


@pytest.mark.parametrize("action", ["commit", "undo"])
def test_process_killed_inside_an_upload_leaves_the_store_as_before(url, tmp_path, action):
    with open_store(url) as s:
        s.commit(small_upload(), filename="small.csv", content_hash="small")
        if action == "undo":
            target = s.commit(big_upload(), filename="big.csv", content_hash="big", replace=True)
            action = f"undo {target.upload_id}"
        version = s.content_version()
    before = dump(url)
    marker = tmp_path / "inside"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(marker), action],
        env=env,
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 180
    while not marker.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"the writer never reached its commit: {child.stderr.read().decode()}")
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert dump(url) == before
    with open_store(url) as s:
        assert s.content_version() == version
        if s.backend == "sqlite":
            with s.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        # the store takes the same upload afterwards (no lock left behind)
        redo = s.commit(small_upload(), filename="again.csv", content_hash="again")
        assert redo.status == "nothing-new"
