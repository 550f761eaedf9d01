"""Command-line verbs for the outcome store (issue 4): ingest, uploads, undo.

Exit codes of ``ingest``: 0 when the upload is in the store (committed, or nothing new to add,
or the same file again, which the store recognises and leaves alone); 2 when nothing could be
committed (the file is unusable, every row was rejected, or the rejects or set-aside file
cannot be written: both are checked before the commit).

Where ``ingest`` writes its files: rejected rows, rows the store set aside (not stored) and, with
``--replace``, the assessments it replaced (with the score before), each a formula-safe CSV
named ``<export>-<UTC time>.<rejects|set-aside|replaced>.csv`` in ``--rejects-dir`` (default
``default_rejects_dir()``, in the user's data folder), never beside the export. The export's
name enters the file name only as a sanitised stem (``safe_stem``). Each path written is
printed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cli.common import (
    EXIT_OK,
    EXIT_UNUSABLE,
    AddCommand,
    claims_settings,
    instruments_option,
    load_file,
    protocol_option,
    skip_column_option,
)
from cli.files import OutputPathError, PendingOutput, prepare_folder, prepare_output
from data.errors import ReliefCheckError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 60  # of the export's name in the file names ingest writes


def _store(args: argparse.Namespace):
    from data.store import open_store

    return open_store(args.db)


def user_data_folder() -> Path:
    """ReliefCheck's folder in the user's data folder: ``$XDG_DATA_HOME/reliefcheck``, by
    default ``~/.local/share/reliefcheck`` (the folder of the default store,
    ``data.store.default_db_url``)."""
    base = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return Path(base) / "reliefcheck"


def default_rejects_dir() -> Path:
    """Where ``ingest`` writes its rejected, set-aside and replaced rows unless told otherwise:
    ``rejects/`` in ReliefCheck's user data folder, never beside the export (which may sit in a
    read-only or shared folder)."""
    return user_data_folder() / "rejects"


def safe_stem(name: str) -> str:
    """A file-name stem from an export's name: letters, digits, ``.``, ``_`` and ``-`` only
    (anything else becomes ``_``), no leading dot, at most ``_MAX_STEM`` characters; "export"
    when nothing is left."""
    stem = Path(name).stem
    cleaned = _UNSAFE.sub("_", stem).lstrip(".")[:_MAX_STEM].strip("_")
    return cleaned or "export"


def _in_folder(folder: Path, stem: str, stamp: str, what: str) -> Path:
    """``folder/<stem>-<stamp>.<what>.csv``, with ``-2``, ``-3`` … added when that file exists
    (two runs in the same second)."""
    path = folder / f"{stem}-{stamp}.{what}.csv"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{stamp}-{n}.{what}.csv"
        n += 1
    return path


def cmd_ingest(args: argparse.Namespace) -> int:
    """Validate an export and commit its accepted rows to the store, all or nothing. The files
    for rejected, set-aside and replaced rows are checked and opened first (in ``--rejects-dir``,
    by default ``default_rejects_dir()``; ``--rejects`` and ``--set-aside`` name single files):
    a path that cannot be written stops the command before anything is committed."""
    path = Path(args.file)
    folder = None
    if not (args.rejects and args.set_aside and not args.replace):
        folder = prepare_folder(args.rejects_dir or default_rejects_dir())
    stem = safe_stem(path.name)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rejects_path = args.rejects or _in_folder(folder, stem, stamp, "rejects")
    aside_path = args.set_aside or _in_folder(folder, stem, stamp, "set-aside")
    with ExitStack() as stack:
        rejects = stack.enter_context(prepare_output(rejects_path, protect=[path]))
        aside = stack.enter_context(prepare_output(aside_path, protect=[path]))
        if rejects.target == aside.target:
            raise ReliefCheckError(
                "--rejects and --set-aside name the same file; give each its own path."
            )
        replaced = None
        if args.replace:
            replaced = stack.enter_context(
                prepare_output(_in_folder(folder, stem, stamp, "replaced"), protect=[path])
            )
        return _ingest(args, path, Outputs(rejects, aside, replaced))


@dataclass(frozen=True)
class Outputs:
    """The files ``ingest`` may write, each already checked and opened (``replaced`` only with
    ``--replace``)."""

    rejects: PendingOutput
    aside: PendingOutput
    replaced: PendingOutput | None


def _rows(count: int, what: str) -> str:
    return f"{count:,} {what if count == 1 else what + 's'}"


def _ingest(args: argparse.Namespace, path: Path, out: Outputs) -> int:
    from analysis.export import safe_csv_bytes
    from data.store import content_hash

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReliefCheckError(f"Cannot read {path} ({exc.strerror}). Check the path.") from None
    v = load_file(args, data, path.name)
    if len(v.rejects):
        out.rejects.write(safe_csv_bytes(v.rejects))  # before the commit: a failure changes nothing
        print(
            f"{_rows(len(v.rejects), 'row')} rejected, written to {out.rejects.shown}; run "
            "'validate' for the reasons.",
            file=sys.stderr,
        )
    if v.tidy.empty:
        print(f"{path.name}: no valid assessments, nothing was stored.", file=sys.stderr)
        return EXIT_UNUSABLE
    store = _store(args)
    result = store.commit(
        v,
        filename=path.name,
        content_hash=content_hash(data),
        uploader="local",  # the command line has no sign-in; names are never typed in
        replace=args.replace,
    )
    print(result.message)
    # Replaced rows are in the store (with this file's values): they are not "set aside".
    is_replaced = (result.set_aside["kind"] == "replaced").to_numpy(dtype=bool)
    files = [(result.set_aside[~is_replaced], out.aside, "row", "set aside (not stored)")]
    if out.replaced is not None:
        what = "replaced assessment"
        files.append((result.set_aside[is_replaced], out.replaced, what, "(with the score before)"))
    for rows, pending, noun, verb in files:
        if rows.empty:
            continue
        try:
            pending.write(safe_csv_bytes(rows))
        except OutputPathError as exc:  # e.g. the disk filled up after the commit
            print(
                f"warning: the upload is in the store, but the list of its "
                f"{_rows(len(rows), noun)} {verb} could not be written. {exc} To get it, undo "
                "the upload and ingest the file again.",
                file=sys.stderr,
            )
            continue
        print(f"{_rows(len(rows), noun)} {verb}, written to {pending.shown}")
    return EXIT_OK


def cmd_uploads(args: argparse.Namespace) -> int:
    """List the uploads in the store, oldest first."""
    frame = _store(args).uploads()
    if frame.empty:
        print("The store has no uploads yet.")
        return EXIT_OK
    cols = [
        c
        for c in (
            "upload_id",
            "filename",
            "committed_at",
            "status",
            "n_added",
            "n_replaced",
            "n_active",
            "uploader",
            "undone_by",
        )
        if c in frame.columns
    ]
    if "undone_by" in frame.columns:
        frame["undone_by"] = frame["undone_by"].fillna("")
    print(frame[cols].to_string(index=False))
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    """Undo one upload, restoring what it replaced (whoever uploaded it: the command line is
    for people who already hold the store)."""
    print(_store(args).undo(args.upload_id, actor="local").message)
    return EXIT_OK


def cmd_freeze(args: argparse.Namespace) -> int:
    """Freeze the claim settings in the store (pre-registration), or list the freezes."""
    import json

    from analysis.settings_stamp import canonical_json, settings_hash

    store = _store(args)
    if args.list:
        rows = [
            {
                "frozen_at": r.frozen_at,
                "by": r.actor,
                "sha256": r.sha256,
                "n_scores_at_freeze": r.n_scores,
                "verified": r.verified,
                "settings": json.loads(r.settings),
            }
            for r in store.frozen_settings()
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK

    config, _ = claims_settings(argparse.Namespace(db=None, settings=args.settings))
    record = store.freeze_settings(canonical_json(config), actor="local")
    data = (
        "before any scores were stored"
        if record.n_scores == 0
        else f"with {record.n_scores:,} scores already stored"
    )
    print(
        f"Claim settings frozen {data}. SHA-256 {settings_hash(config)}. Every summary, table and "
        "dashboard view of this store now shows whether it used them."
    )
    return EXIT_OK


def add_store_commands(add: AddCommand) -> None:
    """Register ingest, uploads, freeze and undo on the main parser (``cli.build_parser``)."""

    def db_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            metavar="URL",
            help="the store's database URL (default: $RELIEFCHECK_DB_URL, else the user's data folder)",
        )

    p = add("ingest", cmd_ingest, "validate an export and commit it to the outcome store")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace stored assessments that this file contradicts",
    )
    protocol_option(p)
    skip_column_option(p)
    p.add_argument(
        "--rejects-dir",
        metavar="DIR",
        help="folder for the CSVs of rejected, set-aside and replaced rows, created if missing "
        "(default: 'rejects' in ReliefCheck's user data folder, "
        "$XDG_DATA_HOME/reliefcheck/rejects); each file is named after the export and the time",
    )
    p.add_argument(
        "--rejects", metavar="PATH", help="CSV for the rejected rows (instead of --rejects-dir)"
    )
    p.add_argument(
        "--set-aside",
        metavar="PATH",
        help="CSV for the rows the store set aside (instead of --rejects-dir)",
    )
    db_option(p)
    instruments_option(p)

    p = add("uploads", cmd_uploads, "list the uploads in the outcome store")
    db_option(p)

    p = add("freeze", cmd_freeze, "freeze the claim settings in the store before data arrive")
    p.add_argument(
        "--settings", metavar="FILE", help="claim settings as JSON (default: the defaults)"
    )
    p.add_argument("--list", action="store_true", help="list the freezes instead")
    db_option(p)

    p = add("undo", cmd_undo, "undo an upload, restoring what it replaced")
    p.add_argument("upload_id", type=int, metavar="UPLOAD_ID")
    db_option(p)
