"""Read + validate a long CSV of 1 million assessments, beside pyarrow.csv.read_csv.

Issue 2 target: within 2× of pyarrow's reading time, peak memory under 1.5 GB.
Run: ``.venv/bin/python -m benchmarks.ingest [--rows N] [--repeat R]``.

Each run is a fresh process. "time" is the call itself (read + validate, or pyarrow's read);
"imports" is the one-off cost of importing what the call needs (pandas and ReliefCheck, or
pyarrow.csv), which a process pays once and the dashboard never pays per upload. Peak memory
is the whole process's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import measure, print_table


def make_file(path: str, n_rows: int) -> int:
    """Write a long CSV of about ``n_rows`` assessments from the demo generator."""
    from data.demo.cohort import generate_demo, write_demo_csv

    # the demo cohort has about 20 assessments a patient
    n_patients = max(1, n_rows // 20)
    frame = generate_demo(n_patients=n_patients, seed=7)
    while len(frame) < n_rows:
        n_patients = int(n_patients * n_rows / max(len(frame), 1)) + 1
        frame = generate_demo(n_patients=n_patients, seed=7)
    write_demo_csv(frame.iloc[:n_rows], path)
    return int(min(len(frame), n_rows))


def pyarrow_read(path: str) -> dict:
    """Rows read by pyarrow.csv.read_csv, and the seconds the read itself took."""
    import pyarrow.csv as pacsv

    start = time.perf_counter()
    n = pacsv.read_csv(path).num_rows
    return {"rows": n, "call": time.perf_counter() - start}


def reliefcheck_read_validate(path: str) -> dict:
    """Rows accepted by ``load_export``, and the seconds read + validate itself took."""
    from data.ingest import load_export
    from data.instruments import default_registry

    registry = default_registry()
    start = time.perf_counter()
    v = load_export(Path(path), registry=registry)
    return {"rows": len(v.tidy), "call": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "long.csv")
        n = measure("benchmarks.ingest", "make_file", path, args.rows)["extra"]
        size_mb = Path(path).stat().st_size / 1e6
        runs = {"pyarrow.csv.read_csv": [], "ReliefCheck read + validate": []}
        for _ in range(args.repeat):
            runs["pyarrow.csv.read_csv"].append(measure("benchmarks.ingest", "pyarrow_read", path))
            runs["ReliefCheck read + validate"].append(
                measure("benchmarks.ingest", "reliefcheck_read_validate", path)
            )

    def call(r: dict) -> float:
        return r["extra"]["call"]

    base = statistics.median(call(r) for r in runs["pyarrow.csv.read_csv"])
    base_all = statistics.median(r["seconds"] for r in runs["pyarrow.csv.read_csv"])
    rows = []
    for name, rs in runs.items():
        secs = statistics.median(call(r) for r in rs)
        whole = statistics.median(r["seconds"] for r in rs)
        imports = statistics.median(r["seconds"] - call(r) for r in rs)
        peak = max(r["peak_mb"] for r in rs)
        rows.append(
            [
                name,
                f"{secs:.2f} s",
                f"{secs / base:.2f}×",
                f"{imports:.2f} s",
                f"{whole / base_all:.2f}×",
                f"{peak:.0f} MB",
                rs[0]["extra"]["rows"],
            ]
        )
    print(
        f"{n:,} assessments, {size_mb:.0f} MB CSV, median of {args.repeat} runs, fresh process each"
    )
    print_table(
        [
            "step",
            "time",
            "vs pyarrow",
            "imports",
            "with imports vs pyarrow",
            "peak memory",
            "rows out",
        ],
        rows,
    )
    print("Target: within 2× of pyarrow, peak memory under 1.5 GB.")


if __name__ == "__main__":
    main()
