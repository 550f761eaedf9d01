"""How often the intensive-faster verdict says "supported", on simulated practices whose truth is
known (tests/analysis/simulate.py): the false rate where both protocols follow the same calendar
curve (assessed on their own schedules; intensive sicker; intensive milder) and the power where
intensive is truly faster. The test suite checks the same rates with fixed seeds
(tests/analysis/test_claims_faster.py); this prints them for more practices.

Run: ``.venv/bin/python -m benchmarks.verdicts [--practices 200] [--patients 300]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import print_table


def run(scenario: str, practices: int, patients: int, seed0: int) -> dict:
    from analysis.claims_config import SUPPORTED, ClaimsConfig
    from analysis.claims_faster import intensive_faster
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--practices", type=int, default=200)
    parser.add_argument("--patients", type=int, default=300)
    args = parser.parse_args()
    rows = [
        run(sc, args.practices, args.patients, seed0=50_000 + 1_000 * k)
        for k, sc in enumerate(("schedule", "sicker", "milder", "faster"))
    ]
    print_table(list(rows[0]), [list(r.values()) for r in rows])


if __name__ == "__main__":
    main()
