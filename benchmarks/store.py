"""Time to commit a million assessments to the outcome store and to read them all back.

Issue 4 targets, on SQLite: the commit under 30 s, the read-back for analysis under 3 s. The
synthetic upload has 100,000 patients, each with PHQ-9 and GAD-7 at sessions 0–4 (so 10 rows per
patient) and every item answered; ranges come from the registry. A second commit of the same
rows measures the overlap check (everything already stored). Each figure is the best of
``--repeat`` runs on a fresh store.
The load average of the machine is printed with the times (wall times grow with it; CPU times
much less). Run: ``.venv/bin/python -m benchmarks.store [--rows 1000000] [--db URL] [--repeat 1]``
(``--db`` takes an empty PostgreSQL database to time that back-end instead of SQLite).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from data.instruments import default_registry
from data.readers.export import RawTable
from data.schema import conform, item_column
from data.store import content_hash, open_store
from data.validation.validate import Validated

SESSIONS = 5
INSTRUMENTS = ("PHQ-9", "GAD-7")


def synthetic_upload(n_rows: int, seed: int = 4) -> Validated:
    """A validated upload of about ``n_rows`` assessments (whole patients), all items answered."""
    reg = default_registry()
    per_patient = SESSIONS * len(INSTRUMENTS)
    n_patients = max(1, n_rows // per_patient)
    rng = np.random.default_rng(seed)
    patient = np.repeat(np.arange(n_patients), per_patient)
    instrument = np.tile(np.repeat(np.array(INSTRUMENTS), SESSIONS), n_patients)
    session = np.tile(np.arange(SESSIONS), n_patients * len(INSTRUMENTS))
    intensive = rng.random(n_patients) < 0.5
    gap = np.where(intensive, 1.0, 7.0)[patient]
    n = len(patient)
    frame = pd.DataFrame(
        {
            "patient_id": pd.Series(patient).map("P{:07d}".format),
            "protocol": np.where(intensive[patient], "intensive", "weekly"),
            "instrument": instrument,
            "session": session,
            "day": session * gap,
            "phase": np.where(session == 0, "baseline", "treatment"),
        }
    )
    total = np.zeros(n)
    for key in INSTRUMENTS:
        ins = reg.get(key)
        rows = instrument == key
        draws = rng.integers(ins.item_min, ins.item_max + 1, size=(int(rows.sum()), ins.items))
        for k in range(ins.items):
            col = item_column(k + 1)
            if col not in frame:
                frame[col] = pd.array([pd.NA] * n, dtype="Int64")
            frame.loc[rows, col] = draws[:, k]
        total[rows] = draws.sum(axis=1)
    frame["score"] = total
    tidy = conform(frame)
    return Validated(
        tidy=tidy,
        source_row=pd.Series(np.arange(2, n + 2), index=tidy.index),
        rejects=pd.DataFrame(),
        problems=(),
        anchors=pd.Series(dtype="datetime64[ns]"),
        raw=RawTable(frame=pd.DataFrame()),
    )


def _timed(fn):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run_once(url: str, validated: Validated) -> dict[str, tuple[float, float]]:
    """Commit, commit again (all overlap), read back: (wall, CPU) seconds for each."""
    store = open_store(url)
    try:
        first, *commit = _timed(
            lambda: store.commit(validated, filename="bench.csv", content_hash=content_hash(b"1"))
        )
        again, *overlap = _timed(
            lambda: store.commit(validated, filename="b2.csv", content_hash=content_hash(b"2"))
        )
        tidy, *read = _timed(store.read_tidy)
    finally:
        store.close()
    if first.n_added != len(validated.tidy) or again.n_already_stored != len(validated.tidy):
        raise SystemExit(f"unexpected counts: {first.message} / {again.message}")
    if len(tidy) != len(validated.tidy):
        raise SystemExit(f"read back {len(tidy)} rows, expected {len(validated.tidy)}")
    return {"commit": tuple(commit), "overlap": tuple(overlap), "read": tuple(read)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", default=None, help="an empty database URL (default: a temp SQLite)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    load = os.getloadavg()
    validated = synthetic_upload(args.rows)
    print(f"built {len(validated.tidy):,} assessments in {time.perf_counter() - t0:.1f} s")
    best: dict[str, tuple[float, float]] = {}
    for i in range(args.repeat):
        if args.db and i:
            raise SystemExit("--repeat > 1 needs a fresh database each time; use SQLite")
        with tempfile.TemporaryDirectory() as tmp:
            url = args.db or f"sqlite:///{Path(tmp) / f'bench{i}.sqlite'}"
            times = run_once(url, validated)
        best = {k: min(v, best.get(k, v)) for k, v in times.items()}
    n = len(validated.tidy)
    backend = "PostgreSQL" if args.db and args.db.startswith("postgres") else "SQLite"
    lines = {
        "commit": f"commit {n:,} assessments (target < 30 s)",
        "overlap": "commit them again (all already stored)",
        "read": f"read {n:,} assessments back as a tidy table (target < 3 s)",
    }
    for key, text in lines.items():
        wall, cpu = best[key]
        print(f"{backend}: {text}: {wall:.2f} s (CPU {cpu:.2f} s)")
    # Wall times on a shared machine depend on what else runs; the load says how busy it was.
    end = os.getloadavg()
    print(f"load average (1 min) {load[0]:.2f} at the start, {end[0]:.2f} at the end")


if __name__ == "__main__":
    main()
