"""Speed of the per-patient outcome engine (analysis.outcomes and friends).

Run from the repository root:

    python -m benchmarks.outcomes            # 10k and 100k patients, own generator
    python -m benchmarks.outcomes --demo     # also time on data.demo.cohort.generate_demo

The generator below is vectorised and deliberately plain (no clinical realism beyond a falling
score with noise): three instruments per patient, a baseline for ~92 %, 1–10 treatment
assessments (daily for intensive, weekly for weekly), follow-up near EOT + 30 / 90 / 180 days
for some, PHQ-9 items for the safety item, and ~3 % of scores missing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from data.instruments import default_registry
from data.schema import STRING, conform, item_column


def synthetic_tidy(n_patients: int, seed: int = 1) -> pd.DataFrame:
    """A tidy table of about 6.7 assessments per patient × instrument (vectorised)."""
    rng = np.random.default_rng(seed)
    reg = default_registry()
    keys = ["PHQ-9", "GAD-7", "PCL-5"]
    maxes = np.array([reg.get(k).max for k in keys])
    intensive = rng.random(n_patients) < 0.5
    n_treat = rng.integers(1, 11, n_patients)
    has_base = rng.random(n_patients) < 0.92
    n_fu = rng.choice([0, 1, 2, 3], n_patients, p=[0.4, 0.3, 0.2, 0.1])
    per_patient = has_base + n_treat + n_fu
    # one block of rows per patient × instrument
    pg = np.repeat(np.arange(n_patients), 3)
    ig = np.tile(np.arange(3), n_patients)
    rows_g = per_patient[pg]
    g = np.repeat(np.arange(len(pg)), rows_g)
    p, i = pg[g], ig[g]
    k = np.arange(len(g)) - np.repeat(np.cumsum(rows_g) - rows_g, rows_g)
    k = k + (~has_base[p])  # k = 0 is the baseline when there is one
    is_fu = k > n_treat[p]
    session = np.where(is_fu, -1, k)
    step = np.where(intensive[p], 1.0, 7.0)
    eot_day = n_treat[p] * step
    fu_idx = k - n_treat[p] - 1
    fu_day = (
        eot_day + np.array([30, 90, 180])[np.clip(fu_idx, 0, 2)] + rng.integers(-10, 11, len(g))
    )
    day = np.where(is_fu, fu_day, session * step)
    start = rng.uniform(0.35, 0.9, n_patients)[p] * maxes[i]
    drop = np.minimum(k, 6) / 6 * rng.uniform(0, 0.6, n_patients)[p]
    score = np.clip(np.round(start * (1 - drop) + rng.normal(0, 2, len(g))), 0, maxes[i])
    score[rng.random(len(g)) < 0.03] = np.nan
    frame = pd.DataFrame(
        {
            "patient_id": pd.array(np.char.add("P", p.astype(str)), dtype=STRING),
            "protocol": pd.array(np.where(intensive[p], "intensive", "weekly"), dtype=STRING),
            "instrument": pd.array(np.array(keys)[i], dtype=STRING),
            "session": pd.array(np.where(session < 0, None, session), dtype="Int64"),
            "day": day.astype(float),
            "phase": pd.array(
                np.where(is_fu, "follow-up", np.where(session == 0, "baseline", "treatment")),
                dtype=STRING,
            ),
            "score": score,
        }
    )
    item9 = np.where(i == 0, rng.choice([0, 0, 0, 1, 2], len(g)), -1)
    frame[item_column(9)] = pd.array(np.where(item9 < 0, None, item9), dtype="Int64")
    return conform(frame)


def _time(label: str, fn, *args, repeat: int = 3, **kwargs) -> object:
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    print(f"  {label:<34} {best:7.3f} s")
    return result


def run(n_patients: int, tidy: pd.DataFrame | None = None) -> None:
    from analysis.assessments import Assessments
    from analysis.funnel import inclusion_funnel
    from analysis.outcomes import as_all_starters, joint_recovery, patient_outcomes
    from analysis.safety import safety_report
    from analysis.trajectories import by_day, by_session, matched_days

    reg = default_registry()
    tidy = synthetic_tidy(n_patients) if tidy is None else tidy
    print(f"{tidy['patient_id'].nunique():,} patients, {len(tidy):,} assessments")
    out = _time("patient_outcomes", patient_outcomes, tidy, reg)
    _time("as_all_starters", as_all_starters, out)
    _time("joint_recovery", joint_recovery, out, reg)
    _time("inclusion_funnel", inclusion_funnel, tidy, out)
    _time("trajectories.by_session", by_session, tidy)
    _time("trajectories.by_day", by_day, tidy)
    _time("trajectories.matched_days", matched_days, tidy, reg)
    _time("safety_report", safety_report, tidy, reg)

    def dashboard_refresh() -> None:
        a = Assessments.build(tidy)  # one sort shared by every table
        out = patient_outcomes(a, reg)
        as_all_starters(out)
        joint_recovery(out, reg)
        inclusion_funnel(a, out)
        by_session(a)
        by_day(a)
        matched_days(a, reg)
        safety_report(a, reg)

    _time("all of the above, one shared sort", dashboard_refresh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument(
        "--demo", action="store_true", help="also time data.demo.cohort.generate_demo"
    )
    args = parser.parse_args()
    for n in args.patients:
        run(n)
    if args.demo:
        from data.demo.cohort import generate_demo

        for n in args.patients:
            print("demo cohort:")
            run(n, generate_demo(n_patients=n))


if __name__ == "__main__":
    main()
