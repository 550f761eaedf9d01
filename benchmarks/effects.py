"""Time and peak memory of the within-group effect sizes with their BCa bootstrap.

Issue target: every analysis figure for 100k patients, 2,000 bootstrap resamples included, in
under 20 s and 4 GB. Here the paired patients are split over six groups (two protocols × three
instruments, as in a real summary) and ``paired_effects_by_group`` computes d_z, d_av, g_av,
d_rm and both intervals for each, with 2,000 resamples. A second line puts every patient in one
group (the largest single bootstrap). Scores are random integers over the PHQ-9 range from the
registry; each size runs in a fresh process. "added" is what the call added to the process's
peak resident size.
Run: ``.venv/bin/python -m benchmarks.effects [--sizes 1000 10000 100000] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from benchmarks.common import measure, print_table


def bootstrap_groups(n_patients: int, n_groups: int, n_boot: int, seed: int) -> dict:
    """Effect sizes for ``n_groups`` groups totalling ``n_patients`` paired patients."""
    import numpy as np
    import pandas as pd

    from analysis.effects import paired_effects_by_group
    from data.instruments import default_registry

    phq9 = default_registry().get("PHQ-9")
    rng = np.random.default_rng(seed)
    baseline = rng.integers(phq9.min, phq9.max + 1, n_patients).astype(float)
    eot = np.clip(baseline - np.round(rng.normal(6.0, 5.0, n_patients)), phq9.min, phq9.max)
    frame = pd.DataFrame(
        {"group": rng.integers(0, n_groups, n_patients), "baseline": baseline, "eot": eot}
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = paired_effects_by_group(frame, ["group"], n_boot=n_boot)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "added_mb": (after - before) / 1024,
        "largest_group": int(out["n"].max()),
        "dropped": int(out["n_boot_dropped"].sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        for groups in (6, 1):
            runs = [
                measure("benchmarks.effects", "bootstrap_groups", n, groups, args.n_boot, args.seed)
                for _ in range(args.repeat)
            ]
            rows.append(
                [
                    f"{n:,}",
                    groups,
                    f"{runs[0]['extra']['largest_group']:,}",
                    f"{statistics.median(r['extra']['seconds'] for r in runs):.2f} s",
                    f"{max(r['peak_mb'] for r in runs):.0f} MB",
                    f"{max(r['extra']['added_mb'] for r in runs):.0f} MB",
                    runs[0]["extra"]["dropped"],
                ]
            )
    print(
        f"paired_effects_by_group, {args.n_boot} BCa resamples per group, "
        f"median of {args.repeat} runs, fresh process each"
    )
    headers = ["paired patients", "groups", "largest group", "time", "peak", "added", "dropped"]
    print_table(headers, rows)
    print("Target: all analysis figures for 100k patients under 20 s and 4 GB.")


if __name__ == "__main__":
    main()
