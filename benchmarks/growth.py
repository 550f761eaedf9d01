"""Time and peak memory of the growth models (SPEC section 5) at 1k, 10k and 100k patients.

Issue target: every analysis figure for 100k patients (about 1.8 million assessments, three
instruments) in under 20 s and 4 GB, so the three growth models together should take a few
seconds at most. The cohort is the demo generator's (data/demo.py); each size runs in a fresh
process. "session" times ``fit_growth_models`` alone (demo generation excluded), "days" the
day models (``analysis.growth_days.fit_day_models``: three ML fits for the shape choice and one
REML refit per instrument); "peak" is the process's peak resident size including the cohort
itself, "added" what both fits added to it.
Run: ``.venv/bin/python -m benchmarks.growth [--sizes 1000 10000 100000] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from benchmarks.common import measure, print_table


def fit_cohort(n_patients: int, seed: int) -> dict:
    """Generate the demo cohort, fit the session and day models of each instrument, report
    the fits."""
    from analysis.growth import fit_growth_models
    from analysis.growth_days import fit_day_models
    from data.demo import generate_demo
    from data.instruments import default_registry

    tidy = generate_demo(n_patients=n_patients, seed=seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    results = fit_growth_models(tidy)
    fit_seconds = time.perf_counter() - start
    registry = default_registry()
    start = time.perf_counter()
    days = fit_day_models(tidy, registry)
    day_seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": len(tidy),
        "fit_seconds": fit_seconds,
        "day_seconds": day_seconds,
        "added_mb": (after - before) / 1024,
        "day_models": [
            {
                "instrument": r.instrument,
                "shape": r.shape.name if r.shape else None,
                "converged": r.converged,
                "shapes_not_converged": sorted(r.shape_notes),
            }
            for r in days
        ],
        "models": [
            {
                "instrument": r.instrument,
                "n_obs": r.n_obs,
                "converged": r.converged,
                "singular": r.singular,
                "iterations": r.iterations,
            }
            for r in results
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        runs = [
            measure("benchmarks.growth", "fit_cohort", n, args.seed) for _ in range(args.repeat)
        ]
        extra = runs[0]["extra"]
        models = ", ".join(
            f"{m['instrument']} {m['n_obs']:,} obs"
            + ("" if m["converged"] else " NOT CONVERGED")
            + (" singular" if m["singular"] else "")
            for m in extra["models"]
        )
        shapes = ", ".join(
            f"{m['instrument']} {m['shape']}"
            + ("" if m["converged"] else " NOT CONVERGED")
            + "".join(f" ({k} ML not fitted/converged)" for k in m["shapes_not_converged"])
            for m in extra["day_models"]
        )
        rows.append(
            [
                f"{n:,}",
                f"{extra['rows']:,}",
                f"{statistics.median(r['extra']['fit_seconds'] for r in runs):.2f} s",
                f"{statistics.median(r['extra']['day_seconds'] for r in runs):.2f} s",
                f"{max(r['peak_mb'] for r in runs):.0f} MB",
                f"{max(r['extra']['added_mb'] for r in runs):.0f} MB",
                models,
                shapes,
            ]
        )
    print(
        f"fit_growth_models and fit_day_models on the demo cohort, median of {args.repeat} runs, "
        "fresh process each"
    )
    headers = ["patients", "assessments", "session (3 models)", "days (3 models)", "peak"]
    print_table([*headers, "added", "session models", "day-model shapes"], rows)
    print("Target: all analysis figures for 100k patients under 20 s and 4 GB.")


if __name__ == "__main__":
    main()
