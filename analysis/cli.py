"""The researcher's command line (SPEC section 7): ``python -m analysis <command> ...``.

This module, ``cli_store``, ``cli_calibrate``, ``cli_outfiles`` (every file written: regular files
only, atomically) and ``__main__`` are the only parts of ``analysis`` that read or write files. Every
command prints a plain report; a ReliefCheckError becomes its message and exit code 2, and no
input can make it print a Python traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from analysis.cli_outfiles import (
    STDOUT,
    PendingOutput,
    prepare_folder,
    prepare_output,
    write_stdout,
)
from data.errors import ReliefCheckError, UnusableFileError
from data.plurals import count_of

EXIT_OK, EXIT_ROW_ERRORS, EXIT_UNUSABLE = 0, 1, 2


def skipped_columns(args: argparse.Namespace) -> dict[str, str] | None:
    """The column mapping of ``--skip-column HEADER`` (repeatable): those columns are left out
    unread, before any check looks at their values (``data.readers.NOT_USED``)."""
    from data.readers import NOT_USED

    headers = getattr(args, "skip_column", None) or []
    return {h: NOT_USED for h in headers} or None


def skip_column_option(p: argparse.ArgumentParser) -> None:
    """``--skip-column HEADER``: for a file refused for a column it does not need."""
    p.add_argument(
        "--skip-column",
        action="append",
        metavar="HEADER",
        help="leave this column of the file out unread, e.g. a column of names that made the "
        "file refused (repeat for more columns)",
    )


def _registry(args: argparse.Namespace):
    from data.instruments import load_registry

    return load_registry(getattr(args, "instruments", None))


def _print_problems(problems) -> None:
    for p in problems:
        print(f"  {p}")  # to the current sys.stdout, so a redirect catches it


def cmd_validate(args: argparse.Namespace) -> int:
    """Print the validation report of one export; 0 clean, 1 with row errors, 2 unusable."""
    path = Path(args.file)
    with ExitStack() as stack:
        rejects = None
        if args.rejects:  # checked before reading: a bad path stops here
            rejects = stack.enter_context(prepare_output(args.rejects, protect=[path]))
        return _validate(args, path, rejects)


def _validate(args: argparse.Namespace, path: Path, rejects: PendingOutput | None) -> int:
    from data.ingest import load_export

    try:
        v = load_export(
            path,
            filename=path.name,
            registry=_registry(args),
            mapping=skipped_columns(args),
            sheet=args.sheet,
            default_protocol=args.protocol,
        )
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
            _print_problems(exc.problems)
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
            _print_problems(v.errors)
        if v.warnings:
            print(f"Warnings ({len(v.warnings)}):")
            _print_problems(v.warnings)
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
    from data.demo import DEFAULT_SEED, generate_demo, write_demo_csv

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


def _load_tidy(args: argparse.Namespace, registry):
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
    from data.ingest import load_export
    from data.memory import return_freed_memory

    path = Path(args.file)
    v = load_export(
        path,
        filename=path.name,
        registry=registry,
        mapping=skipped_columns(args),
        default_protocol=getattr(args, "protocol", None),
    )
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


#: A claim settings file longer than this is not a settings file.
MAX_SETTINGS_BYTES = 100_000


def claims_settings(args: argparse.Namespace):
    """(ClaimsConfig, Frozen | None): the claim settings of ``--settings FILE`` (a JSON object:
    the ``claims_config`` of a summary), else, with ``--db``, the store's frozen settings when
    they verify, else the defaults; with the store's freeze in force (for the stamp)."""
    from analysis.claims_config import ClaimsConfig
    from analysis.settings_stamp import Frozen, config_from_json

    frozen = None
    if getattr(args, "db", None):
        from data.store import open_store

        frozen = Frozen.from_records(open_store(args.db).frozen_settings())
    path = getattr(args, "settings", None)
    if path:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_SETTINGS_BYTES + 1)
        except OSError as exc:
            raise ReliefCheckError(
                f"Cannot read the settings file {path} ({exc.strerror})."
            ) from None
        if len(raw) > MAX_SETTINGS_BYTES:
            raise ReliefCheckError(f"{path} is too large for a claim settings file.")
        return config_from_json(raw.decode("utf-8", errors="replace")), frozen
    if frozen is not None and frozen.verified:
        return config_from_json(frozen.settings), frozen
    return ClaimsConfig(), frozen


def _figures(args: argparse.Namespace, registry, tidy):
    from dataclasses import replace

    from analysis.figures import compute_figures
    from analysis.settings_stamp import settings_stamp

    def progress(frac: float, msg: str) -> None:
        if not args.quiet:
            print(f"[{frac:4.0%}] {msg}", file=sys.stderr)

    config, frozen = claims_settings(args)
    fig = compute_figures(tidy, registry, config, n_boot=args.n_boot, seed=args.seed,
                          models=not args.no_models, progress=progress)  # fmt: skip
    return replace(fig, settings=settings_stamp(config, frozen))


def _write(text_or_bytes: str | bytes, out: str | PendingOutput | None) -> None:
    """Text or bytes to standard output (``None`` or ``-``), to a prepared output, or to a path
    (checked and written atomically by ``analysis.cli_outfiles``)."""
    if out is None or out == STDOUT:
        write_stdout(text_or_bytes)
    elif isinstance(out, PendingOutput):
        out.write(text_or_bytes)
    else:
        with prepare_output(out) as pending:
            pending.write(text_or_bytes)


def _prepared(args: argparse.Namespace, stack: ExitStack) -> PendingOutput | None:
    """``--out`` checked and opened before any figure is computed (None: standard output)."""
    if args.out is None or args.out == STDOUT:
        return None
    protect = [args.file] if getattr(args, "file", None) else []
    return stack.enter_context(prepare_output(args.out, protect=protect))


def cmd_summary(args: argparse.Namespace) -> int:
    """Every figure of SPEC sections 4–6 as JSON, a long CSV, or Markdown tables."""
    with ExitStack() as stack:
        out = _prepared(args, stack)
        _summary(args, out)
    return EXIT_OK


def _summary(args: argparse.Namespace, out: PendingOutput | None) -> None:
    from analysis.summary import summary_json, summary_long

    registry = _registry(args)
    tidy = _load_tidy(args, registry)
    fig = _figures(args, registry, tidy)
    if args.format == "json":
        _write(json.dumps(summary_json(fig), indent=2, allow_nan=False), out)
    elif args.format == "csv":
        from analysis.export import to_csv_bytes
        from analysis.tables import ResearchTable

        long = summary_long(summary_json(fig))
        figures = ("value", "ci_lo", "ci_hi")
        table = ResearchTable(
            name="summary", title="ReliefCheck summary", frame=long,
            count_cols=("n", "of"), derived={"n": figures, "of": figures},
        )  # fmt: skip
        _write(to_csv_bytes(table), out)
    else:
        from analysis.export import to_markdown
        from analysis.research import research_tables

        _write(to_markdown(research_tables(tidy, fig, registry)), out)


def cmd_tables(args: argparse.Namespace) -> int:
    """Write every researcher table as CSV, one XLSX with a Methods sheet, and Markdown."""
    import datetime

    from analysis.export import to_csv_bytes, to_markdown, to_xlsx_bytes
    from analysis.methods import methods_info
    from analysis.research import research_tables

    out = prepare_folder(args.out)  # before anything is computed
    registry = _registry(args)
    tidy = _load_tidy(args, registry)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="ReliefCheck: outcome figures for ketamine-assisted psychotherapy practices.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=fn)
        return p

    def instruments_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--instruments", metavar="FILE", help="a practice's instruments file (TOML)")

    p = add("validate", cmd_validate, "check an export and print the validation report")
    p.add_argument("file", metavar="FILE", help="CSV or XLSX export")
    p.add_argument("--sheet", help="XLSX sheet to read (name or 0-based number)")
    p.add_argument(
        "--protocol", help="protocol for every row, when the file has no protocol column"
    )
    p.add_argument("--rejects", metavar="PATH", help="write the rejected rows to this CSV")
    p.add_argument("--format", choices=("text", "json"), default="text")
    skip_column_option(p)
    instruments_option(p)

    def analysis_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("file", metavar="FILE", nargs="?", help="CSV or XLSX export (or use --db)")
        p.add_argument("--db", metavar="URL", help="analyse the outcome store at this database URL")
        p.add_argument(
            "--protocol", help="protocol for every row, when the file has no protocol column"
        )
        p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for g_av CIs")
        p.add_argument("--seed", type=int, default=20130101, help="bootstrap seed")
        p.add_argument("--no-models", action="store_true", help="skip the growth models")
        p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
        skip_column_option(p)
        p.add_argument(
            "--period",
            metavar="FROM[:TO]",
            help="only patients whose baseline month is in this period: 2026-Q1, 2026-03, or "
            "a range 2025-Q1:2025-Q4 (needs dated baselines; docs/periods.md)",
        )
        p.add_argument(
            "--settings",
            metavar="FILE",
            help="claim settings as JSON (a summary's claims_config); default: the store's "
            "frozen settings with --db, else the defaults",
        )
        instruments_option(p)

    p = add("summary", cmd_summary, "every figure of the analysis (JSON, long CSV or Markdown)")
    analysis_options(p)
    p.add_argument("--format", choices=("json", "csv", "md"), default="json")
    p.add_argument("--out", metavar="PATH", help="write here instead of standard output")

    p = add("tables", cmd_tables, "write the researcher tables (CSV, XLSX with Methods, Markdown)")
    analysis_options(p)
    p.add_argument("--out", required=True, metavar="DIR")

    from analysis.cli_store import add_store_commands

    add_store_commands(add, instruments_option)

    from analysis.cli_calibrate import add_calibrate_command

    add_calibrate_command(add, instruments_option)

    p = add("demo", cmd_demo, "write the synthetic demo cohort")
    p.add_argument("--patients", type=int, default=300)
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the demo's own)")
    p.add_argument("--out", required=True, metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "sheet", None) is not None and str(args.sheet).isdigit():
        args.sheet = int(args.sheet)
    try:
        return args.func(args)
    except UnusableFileError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_UNUSABLE
    except ReliefCheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except BrokenPipeError:  # e.g. piped into head: the reader has all it wanted
        sys.stderr.close()
        return EXIT_OK
    except (OSError, MemoryError) as exc:
        print(f"error: {exc}. Check the path and that the file is readable.", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
        print(
            f"error: ReliefCheck hit an unexpected problem ({type(exc).__name__}: {exc}). "
            "Nothing was changed. Please report it with the command you ran.",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE
