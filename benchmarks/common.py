"""Shared helpers for the benchmarks: run a step in a fresh process, report time and peak memory.

Peak memory is the child process's peak resident set size (``ru_maxrss``), which counts what
numpy, pandas and pyarrow allocate outside Python's own heap.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_RUNNER = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from {module} import {func} as step
setup = time.perf_counter()
extra = step(*{args!r})
secs = time.perf_counter() - setup
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": secs, "peak_mb": peak / 1024, "extra": extra}}))
"""


def measure(module: str, func: str, *args) -> dict:
    """Run ``module.func(*args)`` in a new Python process; seconds, peak MB and its return value.

    The timing covers the call only (imports excluded); the peak covers the whole process.
    """
    code = _RUNNER.format(root=str(ROOT), module=module, func=func, args=tuple(args))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{module}.{func} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(headers: list[str], rows: list[list[object]]) -> None:
    """Print a Markdown table (pasted as is into closing notes and docs)."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


def cohort_parser(description: str) -> argparse.ArgumentParser:
    """Options of the benchmarks timed on a cohort from ``../shared/bench/make_cohort.py``:
    ``--patients`` (100,000), ``--repeat`` (3) and ``--cohort FILE`` (time that CSV instead)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cohort", metavar="FILE", help="time this CSV instead of a new cohort")
    return ap
