"""How often the intensive-faster verdict says "supported", on simulated practices whose truth is
known (tests/analysis/simulate.py): the false rate where both protocols follow the same calendar
curve (assessed on their own schedules; intensive sicker; intensive milder) and the power where
intensive is truly faster. The test suite checks the same rates with fixed seeds
(tests/analysis/test_claims_faster.py); this prints them for more practices.

The whole scorecard's family-wise error (analysis.claims.multiplicity) is printed with ``--scorecard``:
practices where every claim sits exactly at its boundary (tests/analysis/simulate_scorecard.py),
the share with a false "supported" anywhere, with and without the multiplicity control.

Run: ``.venv/bin/python -m benchmarks.verdicts [--practices 200] [--patients 300]
[--scorecard]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import print_table


def run(scenario: str, practices: int, patients: int, seed0: int) -> dict:
    from analysis.claims.config import SUPPORTED, ClaimsConfig
    from analysis.claims.faster import intensive_faster
    from analysis.outcomes import patient_outcomes
    from data.instruments import default_registry
    from tests.analysis.simulate import simulate_practice

    reg = default_registry()
    phq = reg.get("PHQ-9")
    cfg = ClaimsConfig()
    hits, adv, start = [], [], time.perf_counter()
    for s in range(practices):
        tidy = simulate_practice(seed0 + s, scenario, n=patients)
        out = patient_outcomes(tidy, reg)
        res = intensive_faster(out[out["instrument"] == "PHQ-9"], phq, cfg, tidy, reg)
        hits.append(res.verdict == SUPPORTED)
        adv.append(res.details.get("day14_advantage", np.nan))
    rate = float(np.mean(hits))
    half = 1.96 * np.sqrt(rate * (1 - rate) / practices)
    return {
        "scenario": scenario,
        "truth": "faster" if scenario == "faster" else "no difference",
        "supported": f"{rate:.1%} (± {half:.1%})",
        "mean day-14 advantage": f"{np.nanmean(adv):+.2f}",
        "s / practice": f"{(time.perf_counter() - start) / practices:.2f}",
    }


def scorecard(practices: int, patients: int, seed0: int = 70_000) -> None:
    """Family-wise false "supported" on practices where every claim is at its boundary."""
    from analysis.claims.evaluate import evaluate_claims
    from analysis.outcomes import patient_outcomes
    from data.instruments import default_registry
    from tests.analysis.simulate_scorecard import simulate_boundary_practice

    reg = default_registry()
    adjusted = unadjusted = 0
    start = time.perf_counter()
    for s in range(practices):
        tidy = simulate_boundary_practice(seed0 + s, n=patients)
        results = evaluate_claims(tidy, patient_outcomes(tidy, reg), reg)
        adjusted += any(r.verdict == "supported" for r in results)
        unadjusted += any(r.verdict_unadjusted == "supported" for r in results)
    rows = []
    for label, k, goal in (
        ("with multiplicity control", adjusted, "≤ 5%"),
        ("each test on its own", unadjusted, "-"),
    ):
        rate = k / practices
        half = 1.96 * np.sqrt(rate * (1 - rate) / practices)
        rows.append([label, f"{rate:.1%} (± {half:.1%})", goal])
    print_table(["scorecard", "any false supported", "goal"], rows)
    print(f"{(time.perf_counter() - start) / practices:.2f} s per practice of {patients} patients")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--practices", type=int, default=200)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--scorecard", action="store_true", help="the family-wise error only")
    args = parser.parse_args()
    if args.scorecard:
        scorecard(args.practices, args.patients)
        return
    rows = [
        run(sc, args.practices, args.patients, seed0=50_000 + 1_000 * k)
        for k, sc in enumerate(("schedule", "sicker", "milder", "faster"))
    ]
    print_table(list(rows[0]), [list(r.values()) for r in rows])


if __name__ == "__main__":
    main()
