"""What every command of the command line shares: the exit codes, the options several commands
take, the registry and claim settings they are given, and how a result reaches its output."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import ExitStack

from cli.files import STDOUT, PendingOutput, prepare_output, write_stdout
from data.errors import ReliefCheckError

#: 0: done; 1: the export has row errors (``validate``); 2: nothing usable or nothing done.
EXIT_OK, EXIT_ROW_ERRORS, EXIT_UNUSABLE = 0, 1, 2
#: A claim settings file longer than this is not a settings file.
MAX_SETTINGS_BYTES = 100_000

#: ``add(name, command, help)``: registers a command on the main parser (``cli.build_parser``).
AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def instruments_option(p: argparse.ArgumentParser) -> None:
    """``--instruments FILE``: a practice's own instruments."""
    p.add_argument("--instruments", metavar="FILE", help="a practice's instruments file (TOML)")


def protocol_option(p: argparse.ArgumentParser) -> None:
    """``--protocol``: for an export without a protocol column."""
    p.add_argument(
        "--protocol", help="protocol for every row, when the file has no protocol column"
    )


def skip_column_option(p: argparse.ArgumentParser) -> None:
    """``--skip-column HEADER``: for a file refused for a column it does not need."""
    p.add_argument(
        "--skip-column",
        action="append",
        metavar="HEADER",
        help="leave this column of the file out unread, e.g. a column of names that made the "
        "file refused (repeat for more columns)",
    )


def source_options(p: argparse.ArgumentParser) -> None:
    """What a command analyses: an export FILE, or the store at ``--db URL``."""
    p.add_argument("file", metavar="FILE", nargs="?", help="CSV or XLSX export (or use --db)")
    p.add_argument("--db", metavar="URL", help="analyse the outcome store at this database URL")
    protocol_option(p)


def settings_option(p: argparse.ArgumentParser) -> None:
    """``--settings FILE``: the claim settings (see ``claims_settings``)."""
    p.add_argument(
        "--settings",
        metavar="FILE",
        help="claim settings as JSON (a summary's claims_config); default: the store's "
        "frozen settings with --db, else the defaults",
    )


def skipped_columns(args: argparse.Namespace) -> dict[str, str] | None:
    """The column mapping of ``--skip-column HEADER`` (repeatable): those columns are left out
    unread, before any check looks at their values (``data.readers.export.NOT_USED``)."""
    from data.readers.export import NOT_USED

    headers = getattr(args, "skip_column", None) or []
    return {h: NOT_USED for h in headers} or None


def load_file(args: argparse.Namespace, source, filename: str, registry=None, **more):
    """``data.ingest.load_export`` of ``source`` (a path or the file's bytes) with the command's
    registry, ``--skip-column`` and ``--protocol``: the validated export."""
    from data.ingest import load_export

    return load_export(
        source,
        filename=filename,
        registry=registry_of(args) if registry is None else registry,
        mapping=skipped_columns(args),
        default_protocol=getattr(args, "protocol", None),
        **more,
    )


def registry_of(args: argparse.Namespace):
    """The instrument registry: the defaults, or ``--instruments FILE``."""
    from data.instruments import load_registry

    return load_registry(getattr(args, "instruments", None))


def print_problems(problems) -> None:
    """One indented line per problem, to the current standard output."""
    for p in problems:
        print(f"  {p}")  # to the current sys.stdout, so a redirect catches it


def claims_settings(args: argparse.Namespace):
    """(ClaimsConfig, Frozen | None): the claim settings of ``--settings FILE`` (a JSON object:
    the ``claims_config`` of a summary), else, with ``--db``, the store's frozen settings when
    they verify, else the defaults; with the store's freeze in force (for the stamp)."""
    from analysis.claims.config import ClaimsConfig
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


def write(text_or_bytes: str | bytes, out: str | PendingOutput | None) -> None:
    """Text or bytes to standard output (``None`` or ``-``), to a prepared output, or to a path
    (checked and written atomically by ``cli.files``)."""
    if out is None or out == STDOUT:
        write_stdout(text_or_bytes)
    elif isinstance(out, PendingOutput):
        out.write(text_or_bytes)
    else:
        with prepare_output(out) as pending:
            pending.write(text_or_bytes)


def prepared(args: argparse.Namespace, stack: ExitStack) -> PendingOutput | None:
    """``--out`` checked and opened before any figure is computed (None: standard output)."""
    if args.out is None or args.out == STDOUT:
        return None
    protect = [args.file] if getattr(args, "file", None) else []
    return stack.enter_context(prepare_output(args.out, protect=protect))
