"""The researcher's command line (SPEC section 7): ``python -m analysis <command> ...``.

This module and ``__main__`` are the only parts of ``analysis`` that read or write files. Every
command prints a plain report; a ReliefCheckError becomes its message and exit code 2, and no
input can make it print a Python traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from data.errors import ReliefCheckError, UnusableFileError

EXIT_OK, EXIT_ROW_ERRORS, EXIT_UNUSABLE = 0, 1, 2


def _registry(args: argparse.Namespace):
    from data.instruments import load_registry

    return load_registry(getattr(args, "instruments", None))


def _print_problems(problems, out=sys.stdout) -> None:
    for p in problems:
        print(f"  {p}", file=out)


def cmd_validate(args: argparse.Namespace) -> int:
    """Print the validation report of one export; 0 clean, 1 with row errors, 2 unusable."""
    from data.ingest import load_export

    path = Path(args.file)
    try:
        v = load_export(
            path,
            filename=path.name,
            registry=_registry(args),
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
    if args.rejects and len(v.rejects):
        v.rejects.to_csv(args.rejects, index=False)
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
                    "assessments_accepted": int(len(v.tidy)),
                    "rows_rejected": int(len(v.rejects)),
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
        print(f"  accepted assessments: {len(v.tidy)}")
        print(f"  rejected rows:        {len(v.rejects)}")
        if v.errors:
            print(f"Errors ({len(v.errors)}):")
            _print_problems(v.errors)
        if v.warnings:
            print(f"Warnings ({len(v.warnings)}):")
            _print_problems(v.warnings)
        if args.rejects and len(v.rejects):
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
    frame = generate_demo(n_patients=args.patients, seed=seed)
    write_demo_csv(frame, args.out)
    print(f"Wrote {len(frame)} assessments of {args.patients} synthetic patients to {args.out}")
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
    instruments_option(p)

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
