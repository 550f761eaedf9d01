"""Command-line verbs for the outcome store (issue 4): ingest, uploads, undo.

Exit codes of ``ingest``: 0 when the upload is in the store (committed, or nothing new to add,
or the same file again, which the store recognises and leaves alone); 2 when nothing could be
committed (the file is unusable, every row was rejected, or the rejects or set-aside file
cannot be written: both are checked before the commit).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from analysis.cli_outfiles import OutputPathError, PendingOutput, prepare_output
from data.errors import ReliefCheckError

EXIT_OK, EXIT_UNUSABLE = 0, 2


def _store(args: argparse.Namespace):
    from data.store import open_store

    return open_store(args.db)


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}.{suffix}.csv")


def cmd_ingest(args: argparse.Namespace) -> int:
    """Validate an export and commit its accepted rows to the store, all or nothing. The rejects
    and set-aside files are checked and opened first: a path that cannot be written stops the
    command before anything is committed."""
    path = Path(args.file)
    rejects_path = args.rejects or _beside(path, "rejects")
    aside_path = args.set_aside or _beside(path, "set-aside")
    with ExitStack() as stack:
        rejects = stack.enter_context(prepare_output(rejects_path, protect=[path]))
        aside = stack.enter_context(prepare_output(aside_path, protect=[path]))
        if rejects.target == aside.target:
            raise ReliefCheckError(
                "--rejects and --set-aside name the same file; give each its own path."
            )
        return _ingest(args, path, rejects, aside)


def _ingest(
    args: argparse.Namespace, path: Path, rejects: PendingOutput, aside: PendingOutput
) -> int:
    from analysis.cli import _registry
    from analysis.export import safe_csv_bytes
    from data.ingest import load_export
    from data.store import content_hash

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReliefCheckError(f"Cannot read {path} ({exc.strerror}). Check the path.") from None
    v = load_export(
        data, filename=path.name, registry=_registry(args), default_protocol=args.protocol
    )
    if len(v.rejects):
        out = rejects.shown
        rejects.write(safe_csv_bytes(v.rejects))  # before the commit: a failure changes nothing
        print(
            f"{len(v.rejects)} rows rejected (written to {out}); run 'validate' for the reasons.",
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
    if len(result.set_aside):
        out = aside.shown
        try:
            aside.write(safe_csv_bytes(result.set_aside))
        except OutputPathError as exc:  # e.g. the disk filled up after the commit
            print(
                f"warning: the upload is in the store, but its {len(result.set_aside)} set-aside "
                f"rows could not be written. {exc} To get them, undo the upload and ingest the "
                "file again.",
                file=sys.stderr,
            )
            return EXIT_OK
        print(f"{len(result.set_aside)} rows set aside (written to {out}).")
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
            {"frozen_at": r.frozen_at, "by": r.actor, "sha256": r.sha256,
             "n_scores_at_freeze": r.n_scores, "verified": r.verified,
             "settings": json.loads(r.settings)}
            for r in store.frozen_settings()
        ]  # fmt: skip
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    from analysis.cli import claims_settings

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


def add_store_commands(add, instruments_option) -> None:
    """Register ingest, uploads and undo on the main parser (see analysis/cli.py)."""

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
    p.add_argument(
        "--protocol", help="protocol for every row, when the file has no protocol column"
    )
    p.add_argument(
        "--rejects", metavar="PATH", help="CSV for the rejected rows (default: FILE.rejects.csv)"
    )
    p.add_argument(
        "--set-aside",
        metavar="PATH",
        help="CSV for the rows the store set aside (default: FILE.set-aside.csv)",
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
