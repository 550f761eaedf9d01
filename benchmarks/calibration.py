"""How long calibration takes, and what it finds, on the demo cohort (docs/calibration.md):
the full ``calibrate`` at the demo size, the time per simulated cohort of each claim, and the
false-"supported" rate and power of each claim and instrument (the figures for the closing
note).

Run: ``PYTHONPATH=. .venv/bin/python -m benchmarks.calibration [--n-sim 200] [--patients 300]``.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from benchmarks.common import print_table


def _pct(x: object) -> str:
    return "" if x is None or pd.isna(x) else f"{100 * float(x):.1f}%"


def main() -> None:
    from analysis.calibration import DEFAULT_N_SIM, DEFAULT_SEED, calibrate
    from data.demo.cohort import generate_demo
    from data.instruments import default_registry

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sim", type=int, default=DEFAULT_N_SIM)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()

    tidy, reg = generate_demo(n_patients=args.patients), default_registry()
    spans: dict[str, float] = {}
    last = {"msg": None, "t": time.perf_counter()}

    def progress(_frac: float, msg: str) -> None:
        now = time.perf_counter()
        if last["msg"] is not None:
            spans[last["msg"]] = spans.get(last["msg"], 0.0) + now - last["t"]
        last["msg"], last["t"] = msg, now

    start = time.perf_counter()
    res = calibrate(tidy, reg, n_sim=args.n_sim, seed=args.seed, progress=progress)
    total = time.perf_counter() - start
    print(
        f"calibrate: {args.patients} demo patients, {len(tidy)} assessments, n_sim "
        f"{args.n_sim}: {total:.1f} s in all\n"
    )
    per_claim: dict[str, list[float]] = {}
    for msg, secs in spans.items():
        if msg.startswith("Simulating "):
            claim = msg.removeprefix("Simulating ").split(" on ")[0]
            per_claim.setdefault(claim, []).append(secs / args.n_sim)
    print_table(
        ["claim", "scenarios simulated", "ms per simulated cohort (mean)"],
        [[c, len(v), f"{1000 * sum(v) / len(v):.1f}"] for c, v in per_claim.items()],
    )
    print()
    r = res.rows
    print_table(
        [
            "claim",
            "instrument",
            "scenario",
            "truth",
            "mean n",
            "said supported (95% sim. CI)",
            "exact under the model",
            "most allowed",
            "note",
        ],
        [
            [
                row.claim,
                row.instrument,
                row.scenario_label,
                row.truth_text,
                "" if pd.isna(row.mean_n) else f"{row.mean_n:.0f}",
                ""
                if pd.isna(row.supported_rate)
                else f"{_pct(row.supported_rate)} ({_pct(row.rate_ci_lo)}–{_pct(row.rate_ci_hi)})",
                _pct(row.expected_rate),
                _pct(row.nominal_rate),
                row.note,
            ]
            for row in r.itertuples()
        ],
    )


if __name__ == "__main__":
    main()
