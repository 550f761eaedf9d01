"""The commands that read an export (or the store) and report on it: ``validate`` (the
validation report), ``summary`` (every figure, SPEC section 7), ``tables`` (the researcher
tables) and ``demo`` (the synthetic cohort). Every file they write goes through ``cli.files``.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from cli.common import (
    EXIT_OK,
    EXIT_ROW_ERRORS,
    EXIT_UNUSABLE,
    AddCommand,
    claims_settings,
    instruments_option,
    load_file,
    prepared,
    print_problems,
    protocol_option,
    registry_of,
    settings_option,
    skip_column_option,
    source_options,
    write,
)
from cli.files import STDOUT, PendingOutput, prepare_folder, prepare_output, write_stdout
from data.errors import ReliefCheckError, UnusableFileError
from data.plurals import count_of


def cmd_validate(args: argparse.Namespace) -> int:
    """Print the validation report of one export; 0 clean, 1 with row errors, 2 unusable."""
    path = Path(args.file)
    with ExitStack() as stack:
        rejects = None
        if args.rejects:  # checked before reading: a bad path stops here
            rejects = stack.enter_context(prepare_output(args.rejects, protect=[path]))
        return _validate(args, path, rejects)


def _validate(args: argparse.Namespace, path: Path, rejects: PendingOutput | None) -> int:
    try:
        v = load_file(args, path, path.name, sheet=args.sheet)
    except UnusableFileError as exc:
        if args.format == "json":
            print(
                json.dumps(
                    {
                        "file": path.name,
                        "usable": False,
                        "problems": [_problem_json(p) for p in exc.problems],
                    },
                    indent=2,
                )
            )
        else:
            print(f"{path.name}: this file cannot be used.")
            print_problems(exc.problems)
        return EXIT_UNUSABLE
    raw = v.raw
    if rejects is not None and v.n_rejected:
        from analysis.export import safe_csv_bytes

        rejects.write(safe_csv_bytes(v.rejects))
    if args.format == "json":
        print(
            json.dumps(
                {
                    "file": path.name,
                    "usable": True,
                    "shape": raw.shape,
                    "encoding": raw.encoding,
                    "delimiter": raw.delimiter,
                    "sheet": raw.sheet,
                    "rows_read": raw.n_source_rows,
                    "assessments_accepted": v.n_accepted,
                    "rows_rejected": v.n_rejected,
                    "problems": [_problem_json(p) for p in v.problems],
                },
                indent=2,
            )
        )
    else:
        how = ", ".join(
            x
            for x in (
                f"{raw.shape} format",
                f"encoding {raw.encoding}" if raw.encoding else "",
                f"delimiter {raw.delimiter!r}" if raw.delimiter else "",
                f"sheet '{raw.sheet}'" if raw.sheet else "",
            )
            if x
        )
        print(f"{path.name}: read {raw.n_source_rows} data rows ({how}).")
        print(f"  accepted assessments: {v.n_accepted}")
        print(f"  rejected rows:        {v.n_rejected}")
        if v.errors:
            print(f"Errors ({len(v.errors)}):")
            print_problems(v.errors)
        if v.warnings:
            print(f"Warnings ({len(v.warnings)}):")
            print_problems(v.warnings)
        if args.rejects and v.n_rejected:
            print(f"Rejected rows written to {args.rejects}")
        if not v.problems:
            print("No problems found.")
    return EXIT_ROW_ERRORS if v.errors else EXIT_OK


def _problem_json(p) -> dict:
    return {
        "severity": p.severity,
        "row": p.row,
        "column": p.column,
        "message": p.message,
        "fix": p.fix,
    }


def cmd_demo(args: argparse.Namespace) -> int:
    """Write the synthetic demo cohort as a long CSV."""
    from data.demo.cohort import DEFAULT_SEED, generate_demo, write_demo_csv

    if args.patients < 1:
        raise ReliefCheckError("--patients must be at least 1.")
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if args.out == STDOUT:
        import tempfile

        frame = generate_demo(n_patients=args.patients, seed=seed)
        with tempfile.TemporaryDirectory() as folder:
            write_stdout(write_demo_csv(frame, Path(folder) / "demo.csv").read_bytes())
        return EXIT_OK
    with prepare_output(args.out) as out:  # checked before the cohort is generated
        frame = generate_demo(n_patients=args.patients, seed=seed)
        out.write_with(lambda temp: write_demo_csv(frame, temp))
    print(f"Wrote {len(frame)} assessments of {args.patients} synthetic patients to {args.out}")
    return EXIT_OK


def load_tidy(args: argparse.Namespace, registry):
    """The tidy table from FILE (row errors reported on stderr, valid rows kept) or --db URL."""
    if getattr(args, "db", None):
        from data.store import open_store

        if args.file:
            raise ReliefCheckError("Give either FILE or --db URL, not both.")
        store = open_store(args.db)
        tidy = store.read_tidy()
        if tidy.empty:
            raise ReliefCheckError(
                "The store is empty: upload an export in the dashboard first, or analyse a FILE."
            )
        if getattr(args, "period", None):
            return _in_period(tidy, store.read_baseline_months(), args.period, "the store")
        return tidy
    if not args.file:
        raise ReliefCheckError("Give an export FILE, or --db URL to analyse the store.")
    from data.memory import return_freed_memory

    path = Path(args.file)
    v = load_file(args, path, path.name, registry)
    if v.errors:
        print(
            f"{path.name}: {count_of(len(v.rejects), 'row')} rejected and left out; run "
            "'validate' for the list.",
            file=sys.stderr,
        )
    if v.tidy.empty:
        raise ReliefCheckError(f"{path.name} has no valid assessments to analyse.")
    tidy, months = v.tidy, None
    if getattr(args, "period", None):
        from data.periods import baseline_months

        months = baseline_months(v.anchors, v.anchor_from_baseline)
    del v  # the parsed text and findings: only the tidy table is analysed
    return_freed_memory()
    return tidy if months is None else _in_period(tidy, months, args.period, path.name)


def _period_words(text: str) -> str:
    """``--period`` in words, e.g. "2025-Q1 to 2025-Q4" (as the dashboard's filters line)."""
    from data.periods import describe_period, parse_period

    return describe_period(parse_period(text))


def _in_period(tidy, months, text: str, source: str):
    """The rows of the patients whose baseline month is in ``--period`` (docs/periods.md);
    how many patients had no known baseline month is said on stderr."""
    import pandas as pd

    from data.periods import describe_period, parse_period, patients_in_period

    period = parse_period(text)
    ids = tidy["patient_id"].astype(str)
    if months.empty:
        raise ReliefCheckError(
            f"{source} gives no baseline dates, so no patient has a baseline period. Analyse an "
            "export with assessment dates (the baseline row dated), or leave out --period."
        )
    known = months.index.astype(str)
    unknown = int((~pd.Index(ids.unique()).isin(known)).sum())
    if unknown:
        who = "1 patient with" if unknown == 1 else f"{unknown:,} patients with"
        print(f"{who} no known baseline month left out of the period.", file=sys.stderr)
    kept = ids.isin(patients_in_period(months, period).astype(str)).to_numpy(dtype=bool)
    if not kept.any():
        raise ReliefCheckError(
            f"No patient's baseline falls in {describe_period(period)}. Pick another period."
        )
    return tidy.loc[kept]


def _figures(args: argparse.Namespace, registry, tidy):
    from dataclasses import replace

    from analysis.figures import compute_figures
    from analysis.settings_stamp import settings_stamp

    def progress(frac: float, msg: str) -> None:
        if not args.quiet:
            print(f"[{frac:4.0%}] {msg}", file=sys.stderr)

    config, frozen = claims_settings(args)
    bootstrap = {k: v for k, v in (("n_boot", args.n_boot), ("seed", args.seed)) if v is not None}
    fig = compute_figures(
        tidy, registry, config, models=not args.no_models, progress=progress, **bootstrap
    )
    return replace(fig, settings=settings_stamp(config, frozen))


def cmd_summary(args: argparse.Namespace) -> int:
    """Every figure of SPEC sections 4–6 as JSON, a long CSV, or Markdown tables."""
    with ExitStack() as stack:
        out = prepared(args, stack)
        _summary(args, out)
    return EXIT_OK


def _summary(args: argparse.Namespace, out: PendingOutput | None) -> None:
    from analysis.summary import summary_json, summary_long

    registry = registry_of(args)
    tidy = load_tidy(args, registry)
    fig = _figures(args, registry, tidy)
    if args.format == "json":
        write(json.dumps(summary_json(fig), indent=2, allow_nan=False), out)
    elif args.format == "csv":
        from analysis.export import to_csv_bytes
        from analysis.tables import ResearchTable

        long = summary_long(summary_json(fig))
        figures = ("value", "ci_lo", "ci_hi")
        table = ResearchTable(
            name="summary",
            title="ReliefCheck summary",
            frame=long,
            count_cols=("n", "of"),
            derived={"n": figures, "of": figures},
        )
        write(to_csv_bytes(table), out)
    else:
        from analysis.export import to_markdown
        from analysis.research import research_tables

        write(to_markdown(research_tables(tidy, fig, registry)), out)


def cmd_tables(args: argparse.Namespace) -> int:
    """Write every researcher table as CSV, one XLSX with a Methods sheet, and Markdown."""
    import datetime

    from analysis.export import to_csv_bytes, to_markdown, to_xlsx_bytes
    from analysis.methods import methods_info
    from analysis.research import research_tables

    out = prepare_folder(args.out)  # before anything is computed
    registry = registry_of(args)
    tidy = load_tidy(args, registry)
    fig = _figures(args, registry, tidy)
    tables = research_tables(tidy, fig, registry)
    period = getattr(args, "period", None)
    methods = methods_info(
        registry,
        fig.config.to_dict(),
        datetime.date.today(),
        stamp=fig.stamp(),
        filters=[f"baseline period: {_period_words(period)}"] if period else None,
    )
    files = [
        *((f"{t.name}.csv", lambda t=t: to_csv_bytes(t)) for t in tables),
        ("reliefcheck_tables.xlsx", lambda: to_xlsx_bytes(tables, methods)),
        ("reliefcheck_tables.md", lambda: to_markdown(tables, methods=methods)),
    ]
    protect = [args.file] if args.file else []
    with ExitStack() as stack:  # every file checked before the first is written
        pending = [
            (stack.enter_context(prepare_output(out / name, protect=protect)), make)
            for name, make in files
        ]
        for target, make in pending:
            target.write(make())
    print(
        f"Wrote {len(tables)} tables to {out}/ (CSV each, reliefcheck_tables.xlsx, reliefcheck_tables.md)"
    )
    return EXIT_OK


def add_report_commands(add: AddCommand) -> None:
    """Register validate, summary and tables on the main parser (``cli.build_parser``).
    The bootstrap's defaults are ``analysis.bootstrap``'s, looked up when the command runs
    (importing the analysis here would slow every command down); the help repeats them and a
    test checks that it does."""
    p = add("validate", cmd_validate, "check an export and print the validation report")
    p.add_argument("file", metavar="FILE", help="CSV or XLSX export")
    p.add_argument("--sheet", help="XLSX sheet to read (name or 0-based number)")
    protocol_option(p)
    p.add_argument("--rejects", metavar="PATH", help="write the rejected rows to this CSV")
    p.add_argument("--format", choices=("text", "json"), default="text")
    skip_column_option(p)
    instruments_option(p)

    def analysis_options(p: argparse.ArgumentParser) -> None:
        source_options(p)
        p.add_argument("--n-boot", type=int, help="bootstrap resamples for g_av CIs (default 2000)")
        p.add_argument("--seed", type=int, help="bootstrap seed (default 20130101)")
        p.add_argument("--no-models", action="store_true", help="skip the growth models")
        p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
        skip_column_option(p)
        p.add_argument(
            "--period",
            metavar="FROM[:TO]",
            help="only patients whose baseline month is in this period: 2026-Q1, 2026-03, or "
            "a range 2025-Q1:2025-Q4 (needs dated baselines; docs/periods.md)",
        )
        settings_option(p)
        instruments_option(p)

    p = add("summary", cmd_summary, "every figure of the analysis (JSON, long CSV or Markdown)")
    analysis_options(p)
    p.add_argument("--format", choices=("json", "csv", "md"), default="json")
    p.add_argument("--out", metavar="PATH", help="write here instead of standard output")

    p = add("tables", cmd_tables, "write the researcher tables (CSV, XLSX with Methods, Markdown)")
    analysis_options(p)
    p.add_argument("--out", required=True, metavar="DIR")


def add_demo_command(add: AddCommand) -> None:
    """Register ``demo`` on the main parser."""
    p = add("demo", cmd_demo, "write the synthetic demo cohort")
    p.add_argument("--patients", type=int, default=300)
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the demo's own)")
    p.add_argument("--out", required=True, metavar="FILE")
