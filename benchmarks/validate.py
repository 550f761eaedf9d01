"""``python -m analysis validate`` beside a bare ``pyarrow.csv.read_csv``, in CPU time less start-up.

Issue 13 target: validate's CPU time beyond start-up at most 1.5× pyarrow's, on the cohort that
``../shared/bench/make_cohort.py`` writes (100,000 patients: 1.45M assessments).
Run: ``.venv/bin/python -m benchmarks.validate [--patients N] [--repeat R] [--cohort FILE]``.

Each figure is one fresh process, timed from the outside: CPU is user + system time of that
process and its threads (``os.wait4``), wall the seconds until it ended. "Start-up" is the same
command on a 3-row file of the same columns (importing Python, pandas, pyarrow …), which a
process pays once whatever the file; the ratio compares what is left. Medians of ``--repeat``
paired runs (validate and pyarrow one after the other), since a shared machine drifts.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, cohort_parser, print_table

MAKE_COHORT = ROOT.parent / "shared" / "bench" / "make_cohort.py"
#: Issue 13's goal: validate at most this many times pyarrow's CPU beyond start-up.
GOAL = 1.5
PYARROW = "import sys, pyarrow.csv as c; c.read_csv(sys.argv[1])"


def run(cmd: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one process running ``cmd``; its output is discarded."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own user and system time
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):  # validate: 0 clean, 1 with row errors; anything else failed
            err.seek(0)
            message = err.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n{message}")
    return usage.ru_utime + usage.ru_stime, wall


def make_files(folder: Path, patients: int, cohort: str | None) -> tuple[Path, Path]:
    """The cohort (written by make_cohort.py unless given) and a 3-row file of its columns."""
    big = Path(cohort) if cohort else folder / f"cohort{patients}.csv"
    if not cohort:
        subprocess.run(
            [sys.executable, str(MAKE_COHORT), str(patients), str(big)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    with big.open("rb") as f:
        head = b"".join(f.readline() for _ in range(4))
    tiny = folder / "three_rows.csv"
    tiny.write_bytes(head)
    return big, tiny


def main() -> None:
    args = cohort_parser(__doc__).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big, tiny = make_files(Path(tmp), args.patients, args.cohort)
        size_mb = big.stat().st_size / 1e6
        n_rows = sum(1 for _ in big.open("rb")) - 1
        commands = {
            "validate": lambda f: [sys.executable, "-m", "analysis", "validate", str(f)],
            "pyarrow.csv.read_csv": lambda f: [sys.executable, "-c", PYARROW, str(f)],
        }
        runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                for which, path in (("file", big), ("start-up", tiny)):
                    runs.setdefault((name, which), []).append(run(cmd(path)))

    def med(name: str, which: str, i: int) -> float:
        return statistics.median(r[i] for r in runs[(name, which)])

    beyond = {
        (name, i): med(name, "file", i) - med(name, "start-up", i)
        for name in commands
        for i in (0, 1)
    }
    rows = []
    for name in commands:
        rows.append(
            [
                name,
                f"{med(name, 'file', 0):.2f} s",
                f"{med(name, 'start-up', 0):.2f} s",
                f"{beyond[(name, 0)]:.2f} s",
                f"{beyond[(name, 0)] / beyond[('pyarrow.csv.read_csv', 0)]:.2f}×",
                f"{beyond[(name, 1)]:.2f} s",
                f"{beyond[(name, 1)] / beyond[('pyarrow.csv.read_csv', 1)]:.2f}×",
            ]
        )
    print(
        f"{n_rows:,} assessments, {size_mb:.0f} MB CSV, median of {args.repeat} paired runs, "
        "fresh process each"
    )
    print_table(
        [
            "command",
            "CPU",
            "CPU start-up",
            "CPU less start-up",
            "vs pyarrow (CPU)",
            "wall less start-up",
            "vs pyarrow (wall)",
        ],
        rows,
    )
    ratio = beyond[("validate", 0)] / beyond[("pyarrow.csv.read_csv", 0)]
    verdict = "met" if ratio <= GOAL else "not met"
    print(f"validate / pyarrow, CPU less start-up: {ratio:.2f}× (goal ≤ {GOAL}×: {verdict}).")


if __name__ == "__main__":
    main()
