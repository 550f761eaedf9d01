"""``python -m analysis summary`` beside the R yardstick, in wall time, CPU time and peak memory.

Issue 13 target: on the cohort that ``../shared/bench/make_cohort.py 100000`` writes (1.45M
assessments), ``summary`` (every figure, 2,000-resample BCa CIs, growth models) in at most 0.25×
the wall time of ``../shared/bench/r_summary.R`` (data.table + survival + lme4, no bootstrap) on
the same file, with a peak resident memory of at most 600 MB.
Run: ``.venv/bin/python -m benchmarks.summary_vs_r [--patients N] [--repeat R] [--cohort FILE]``.

Each figure is one fresh process, timed from the outside, in pairs run one after the other
(R, then ``summary``, then ``summary --n-boot 0``, ``--repeat`` times) since a shared machine
drifts: wall is the seconds until the process ended, CPU the user + system time of that process,
its threads and the children it waited for (``os.wait4``), peak memory that process's own peak
resident set size (``ru_maxrss`` from the same ``wait4``, so never a maximum over earlier runs).
The ratio is the median of the per-pair ratios of wall times. The load average at the start and
end is printed beside them: on a machine shared with other work the wall time grows with it.

R 4.2 with the data.table, survival and lme4 packages must be installed as
``../shared/bench/README.md`` says; without them the R runs are skipped with a message and only
ReliefCheck's own figures are printed.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, cohort_parser, print_table

BENCH = ROOT.parent / "shared" / "bench"
MAKE_COHORT = BENCH / "make_cohort.py"
R_SCRIPT = BENCH / "r_summary.R"
#: Issue 13's goals: summary's wall time at most this share of R's, and its peak memory.
GOAL_RATIO = 0.25
GOAL_PEAK_MB = 600.0
R_PACKAGES = "suppressMessages({library(data.table); library(survival); library(lme4)})"

R, FULL, NO_BOOT = "R r_summary.R", "summary", "summary --n-boot 0"


def run(cmd: list[str], ok: tuple[int, ...] = (0,)) -> dict:
    """Wall seconds, CPU seconds and peak RSS (MB) of one process running ``cmd``, and its
    last line of standard output; raises when it exits with a code outside ``ok``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage, not earlier ones'
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            err.seek(0)
            message = err.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n{message}")
        out.seek(0)
        lines = out.read().decode(errors="replace").strip().splitlines()
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
        "said": lines[-1] if lines else "",
    }


def r_missing() -> str | None:
    """Why the R yardstick cannot run here, or None when it can."""
    if shutil.which("Rscript") is None:
        return "Rscript is not installed"
    check = subprocess.run(["Rscript", "-e", R_PACKAGES], capture_output=True, text=True)
    if check.returncode != 0:
        return "R lacks a package: " + (check.stderr.strip().splitlines() or ["?"])[-1]
    return None


def make_cohort(folder: Path, patients: int, cohort: str | None) -> Path:
    """The cohort CSV: the one given, else a new one written by make_cohort.py."""
    if cohort:
        return Path(cohort).resolve()
    path = folder / f"cohort{patients}.csv"
    subprocess.run(
        [sys.executable, str(MAKE_COHORT), str(patients), str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return path


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    args = cohort_parser(__doc__).parse_args()
    load_start = os.getloadavg()
    why_no_r = r_missing()
    if why_no_r:
        print(
            f"{why_no_r}: skipping the R yardstick (install it as ../shared/bench/README.md "
            "says); ReliefCheck's own figures follow.",
            file=sys.stderr,
        )
    runs: dict[str, list[dict]] = {R: [], FULL: [], NO_BOOT: []}
    with tempfile.TemporaryDirectory() as tmp:
        big = make_cohort(Path(tmp), args.patients, args.cohort)
        size_mb = big.stat().st_size / 1e6
        n_rows = sum(1 for _ in big.open("rb")) - 1
        out = str(Path(tmp) / "summary.json")
        summary = [sys.executable, "-m", "analysis", "summary", str(big), "--out", out]
        commands = {
            R: ["Rscript", str(R_SCRIPT), str(big)],
            FULL: summary,
            NO_BOOT: [*summary, "--n-boot", "0"],
        }
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                if name == R and why_no_r:
                    continue
                # summary exits 1 when some rows were refused, and still writes every figure
                runs[name].append(run(cmd, ok=(0,) if name == R else (0, 1)))
                if name != R:
                    os.replace(out, out + ".last")  # written afresh by the next run
        json_mb = Path(out + ".last").stat().st_size / 1e6
    load_end = os.getloadavg()

    def ratios(name: str, key: str) -> list[float]:
        return [a[key] / b[key] for a, b in zip(runs[name], runs[R], strict=False)]

    rows = []
    goals = {R: "yardstick", FULL: f"≤ {GOAL_RATIO}× wall, ≤ {GOAL_PEAK_MB:.0f} MB", NO_BOOT: ""}
    for name, goal in goals.items():
        if not runs[name]:
            rows.append([name, "skipped", "", "", "", "", goal])
            continue
        by_wall = f"{statistics.median(ratios(name, 'wall')):.2f}×" if runs[R] else "–"
        by_cpu = f"{statistics.median(ratios(name, 'cpu')):.2f}×" if runs[R] else "–"
        rows.append(
            [
                name,
                f"{_median(runs[name], 'wall'):.1f} s",
                f"{_median(runs[name], 'cpu'):.1f} s",
                f"{max(r['peak_mb'] for r in runs[name]):.0f} MB",
                by_wall if name != R else "1",
                by_cpu if name != R else "1",
                goal,
            ]
        )
    print(
        f"{n_rows:,} assessments, {size_mb:.0f} MB CSV ({big.name}), median of {args.repeat} "
        f"paired run(s), fresh process each; load average at the start {load_start[0]:.1f}, "
        f"at the end {load_end[0]:.1f}, on {os.cpu_count()} CPUs"
    )
    print_table(
        ["command", "wall", "CPU", "peak RSS (max)", "wall / R", "CPU / R", "goal"],
        rows,
    )
    peak = max(r["peak_mb"] for r in runs[FULL])
    met = "met" if peak <= GOAL_PEAK_MB else "not met"
    print(f"summary's peak RSS: {peak:.0f} MB (goal ≤ {GOAL_PEAK_MB:.0f} MB: {met}).")
    if runs[R]:
        each = ", ".join(f"{x:.2f}" for x in ratios(FULL, "wall"))
        ratio = statistics.median(ratios(FULL, "wall"))
        met = "met" if ratio <= GOAL_RATIO else "not met"
        print(f"summary / R, wall: {ratio:.2f}× (pairs: {each}; goal ≤ {GOAL_RATIO}×: {met}).")
        print(f"R said: {runs[R][-1]['said']!r}; summary wrote {json_mb:.1f} MB of JSON.")


if __name__ == "__main__":
    main()
