"""The researcher's command line (SPEC section 7): ``python -m analysis <command> ...`` (or
``python -m cli``).

``reports`` holds the commands that read an export and report (validate, summary, tables,
demo), ``store`` those of the outcome store (ingest, uploads, freeze, undo), ``calibrate`` the
calibration, ``common`` what they share (exit codes, options, settings, output) and ``files``
every file written (regular files only, atomically). Every command prints a plain report; a
ReliefCheckError becomes its message and exit code 2, and no input can make it print a Python
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cli.calibrate import add_calibrate_command
from cli.common import EXIT_OK, EXIT_ROW_ERRORS, EXIT_UNUSABLE
from cli.reports import add_demo_command, add_report_commands
from cli.store import add_store_commands
from data.errors import ReliefCheckError, UnusableFileError

__all__ = ["EXIT_OK", "EXIT_ROW_ERRORS", "EXIT_UNUSABLE", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
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

    add_report_commands(add)
    add_store_commands(add)
    add_calibrate_command(add)
    add_demo_command(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (0 done, 1 row errors, 2 nothing usable or done)."""
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
