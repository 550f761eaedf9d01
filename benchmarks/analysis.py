"""Time and peak memory of the full summary (every figure of SPEC sections 4–6) on demo cohorts.

Issue target: for 100k patients (about 2 million assessments), all figures including 2,000
bootstrap resamples and the growth models in under 20 s and 4 GB; the figures the dashboard
recomputes on a filter change (``fast_figures``: everything but the models and the bootstrap)
in under 1 s at 10k patients.

Each size runs twice, each time in a fresh process (demo generation excluded from the times):

- *parts*: ``fast_figures`` twice (the first call, as after a fresh start, and the second, as on
  the dashboard's next filter change), then the bootstrap (``with_slow_figures`` without the
  models: BCa CIs of g_av and the claims that show them) and the growth models
  (``fit_growth_models``) timed apart;
- *end to end*: ``summary_json(compute_figures(...))``, the command line's ``summary``; its peak
  resident size is the memory figure held against the target.

Times are wall-clock seconds with the process's CPU seconds in brackets: on a machine shared with
other work the wall time grows with the load average, the CPU time much less.

Run: ``.venv/bin/python -m benchmarks.analysis [--sizes 1000 10000 100000] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchmarks.common import measure, print_table

FAST_TARGET = {10_000: 1.0}  # seconds, by patients
TOTAL_TARGET = {100_000: 20.0}
MEMORY_TARGET_MB = {100_000: 4096.0}


def _timed(out: dict, name: str, step, *args, **kwargs):
    """Run ``step``, store its [wall, CPU] seconds under ``out[name]``, return its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = step(*args, **kwargs)
    out[name] = [time.perf_counter() - wall, time.process_time() - cpu]
    return result


def parts(n_patients: int, seed: int, n_boot: int) -> dict:
    """Demo cohort, then fast figures (twice), bootstrap and growth models, each timed."""
    from analysis.figures import fast_figures, with_slow_figures
    from analysis.growth import fit_growth_models
    from data.demo.cohort import generate_demo
    from data.instruments import default_registry

    registry = default_registry()
    tidy = generate_demo(n_patients=n_patients, seed=seed)
    out: dict = {"patients": int(tidy["patient_id"].nunique()), "assessments": len(tidy)}
    fig = _timed(out, "fast", fast_figures, tidy, registry)
    _timed(out, "fast_warm", fast_figures, tidy, registry)
    _timed(out, "bootstrap", with_slow_figures, fig, tidy, registry, n_boot=n_boot, models=False)
    _timed(out, "models", fit_growth_models, tidy)
    return out


def end_to_end(n_patients: int, seed: int, n_boot: int) -> dict:
    """Demo cohort, then the summary JSON of every figure (as ``python -m analysis summary``)."""
    import json

    from analysis.figures import compute_figures
    from analysis.summary import summary_json
    from data.demo.cohort import generate_demo
    from data.instruments import default_registry

    registry = default_registry()
    tidy = generate_demo(n_patients=n_patients, seed=seed)
    out: dict = {}
    figures = _timed(out, "figures", compute_figures, tidy, registry, n_boot=n_boot)
    _timed(out, "json", lambda: json.dumps(summary_json(figures)))
    out["time"] = [out["figures"][i] + out["json"][i] for i in (0, 1)]
    return out


def _target(table: dict, n: int, fmt: str) -> str:
    return fmt.format(table[n]) if n in table else ""


def _secs(runs: list[dict], *keys: str) -> str:
    """Median over runs of the summed [wall, cpu] times under ``keys``: "wall s (cpu s)"."""
    wall = statistics.median(sum(r[k][0] for k in keys) for r in runs)
    cpu = statistics.median(sum(r[k][1] for k in keys) for r in runs)
    return f"{wall:.2f} s ({cpu:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    load = os.getloadavg()
    rows = []
    for n in args.sizes:
        runs = [
            measure("benchmarks.analysis", "parts", n, args.seed, args.n_boot)
            for _ in range(args.repeat)
        ]
        ends = [
            measure("benchmarks.analysis", "end_to_end", n, args.seed, args.n_boot)
            for _ in range(args.repeat)
        ]
        x = [r["extra"] for r in runs]
        rows.append(
            [
                f"{n:,}",
                f"{x[0]['assessments']:,}",
                _secs(x, "fast"),
                _secs(x, "fast_warm"),
                _target(FAST_TARGET, n, "< {:g} s"),
                _secs(x, "bootstrap"),
                _secs(x, "models"),
                _secs(x, "fast", "bootstrap", "models"),
                _secs([e["extra"] for e in ends], "time"),
                _target(TOTAL_TARGET, n, "< {:g} s"),
                f"{max(e['peak_mb'] for e in ends):.0f} MB",
                _target(MEMORY_TARGET_MB, n, "< {:.0f} MB"),
            ]
        )
    print(
        f"Full summary on the demo cohort (seed {args.seed}), {args.n_boot} BCa resamples, "
        f"median of {args.repeat} run(s), fresh process each; "
        f"load average before the run {load[0]:.1f} on {os.cpu_count()} CPUs"
    )
    headers = [
        "patients",
        "assessments",
        "fast (1st)",
        "fast (2nd)",
        "target",
        "bootstrap",
        "models",
        "sum of parts",
        "JSON end to end",
        "target",
        "peak (end to end)",
        "target",
    ]
    print_table(headers, rows)
    after = os.getloadavg()
    print(f"Load average after the run: {after[0]:.1f}.")


if __name__ == "__main__":
    main()
