"""``python -m analysis calibrate``: how much a practice's data can say (docs/calibration.md).

Simulates cohorts on the practice's own schedule where each claim is false at its threshold and
where it is true, and writes how often each verdict said "supported" (JSON, CSV or Markdown).
Part of the command line (``cli``), which reads and writes the files.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack

import pandas as pd

from cli.common import (
    EXIT_OK,
    AddCommand,
    claims_settings,
    instruments_option,
    prepared,
    registry_of,
    settings_option,
    source_options,
    write,
)
from cli.reports import load_tidy
from data.errors import ReliefCheckError


def cmd_calibrate(args: argparse.Namespace) -> int:
    """False-"supported" rate and power of each claim's verdict on this practice's schedule."""
    from analysis.calibration import DEFAULT_N_SIM, DEFAULT_SEED, calibrate

    claims = None
    if args.claims:
        claims = [c.strip() for c in args.claims.split(",") if c.strip()]
        if not claims:
            raise ReliefCheckError("--claims names no claim; give ids separated by commas.")
    with ExitStack() as stack:
        out = prepared(args, stack)  # checked before anything is simulated
        registry = registry_of(args)
        tidy = load_tidy(args, registry)

        def progress(frac: float, msg: str) -> None:
            if not args.quiet:
                print(f"[{frac:4.0%}] {msg}", file=sys.stderr)

        result = calibrate(
            tidy,
            registry,
            claims_settings(args)[0],
            n_sim=DEFAULT_N_SIM if args.n_sim is None else args.n_sim,
            seed=DEFAULT_SEED if args.seed is None else args.seed,
            claims=claims,
            progress=progress,
        )
        if args.format == "json":
            write(json.dumps(result.to_dict(), indent=2, allow_nan=False), out)
        elif args.format == "csv":
            from analysis.export import safe_csv_bytes

            write(safe_csv_bytes(result.rows), out)
        else:
            from analysis.export import to_markdown

            write(to_markdown([calibration_table(result)]), out)
    return EXIT_OK


def _pct(x: object) -> str:
    return "" if x is None or pd.isna(x) else f"{100 * float(x):.1f}%"


def calibration_table(result) -> object:
    """The calibration rows as a researcher table for Markdown: rates in percent with their
    simulation interval. Counts here are simulated cohorts, not patients: nothing is
    suppressed."""
    from analysis.tables import ResearchTable

    r = result.rows
    ci = [
        "" if pd.isna(lo) else f"{_pct(lo)}–{_pct(hi)}"
        for lo, hi in zip(r["rate_ci_lo"], r["rate_ci_hi"], strict=True)
    ]
    frame = pd.DataFrame(
        {
            "claim": r["claim"],
            "instrument": r["instrument"],
            "scenario": r["scenario_label"],
            "truth": r["truth_text"],
            "cohorts": r["n_sim"],
            "said supported": [_pct(v) for v in r["supported_rate"]],
            "95% simulation CI": ci,
            "most allowed": [_pct(v) for v in r["nominal_rate"]],
            "exact under the model": [_pct(v) for v in r["expected_rate"]],
            "mean n": r["mean_n"].round(1),
            "note": r["note"],
        }
    )
    notes = (
        f"{result.n_sim} simulated cohorts per row, seed {result.seed}. A claim false at its "
        "threshold should be called supported at most in the 'most allowed' share of cohorts; "
        "the 'true' rows give the power.",
        "Rates use each claim's own verdict; the scorecard's multiplicity control can only "
        "lower them.",
    )
    return ResearchTable(
        name="calibration",
        title="How much can this data say? (calibration)",
        frame=frame,
        notes=notes,
    )


def add_calibrate_command(add: AddCommand) -> None:
    """Register ``calibrate`` on the main parser (``cli.build_parser``). The defaults are
    ``analysis.calibration``'s, looked up when the command runs (importing the analysis here
    would slow every command down); the help repeats them and a test checks it does."""
    p = add(
        "calibrate",
        cmd_calibrate,
        "how often each verdict says 'supported' on simulated cohorts of this practice's "
        "schedule where the claim is false, and where it is true",
    )
    source_options(p)
    p.add_argument(
        "--n-sim", type=int, help="simulated cohorts per claim and scenario (default 200)"
    )
    p.add_argument("--seed", type=int, help="simulation seed (default 20240611)")
    p.add_argument(
        "--claims",
        metavar="IDS",
        help="claims to calibrate, comma-separated (default: rapid-onset, intensive-faster, "
        "large-improvement, lasting, suicidal-ideation, treatment-resistant)",
    )
    p.add_argument("--format", choices=("json", "csv", "md"), default="json")
    p.add_argument("--out", metavar="PATH", help="write here instead of standard output")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    settings_option(p)
    instruments_option(p)
