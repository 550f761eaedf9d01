"""Command-line verbs for the outcome store (issue 4): ingest, uploads, undo.

Exit codes of ``ingest``: 0 when the upload is in the store (committed, or nothing new to add,
or the same file again, which the store recognises and leaves alone); 2 when nothing could be
committed (the file is unusable or every row was rejected).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data.errors import ReliefCheckError

EXIT_OK, EXIT_UNUSABLE = 0, 2


def _store(args: argparse.Namespace):
    from data.store import open_store

    return open_store(args.db)


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}.{suffix}.csv")


def cmd_ingest(args: argparse.Namespace) -> int:
    """Validate an export and commit its accepted rows to the store, all or nothing."""
    from analysis.cli import _registry, _write
    from data.ingest import load_export
    from data.store import content_hash

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReliefCheckError(f"Cannot read {path} ({exc.strerror}). Check the path.") from None
    v = load_export(
        data, filename=path.name, registry=_registry(args), default_protocol=args.protocol
    )
    if len(v.rejects):
        out = _beside(path, "rejects")
        _write(v.rejects.to_csv(index=False), str(out))
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
        uploader=args.uploader,
        replace=args.replace,
    )
    print(result.message)
    if len(result.set_aside):
        out = _beside(path, "set-aside")
        _write(result.set_aside.to_csv(index=False), str(out))
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
    print(_store(args).undo(args.upload_id, actor=args.actor).message)
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
        "--uploader",
        default="local",
        help="who uploads, recorded in the history and audit log (default: local)",
    )
    db_option(p)
    instruments_option(p)

    p = add("uploads", cmd_uploads, "list the uploads in the outcome store")
    db_option(p)

    p = add("undo", cmd_undo, "undo an upload, restoring what it replaced")
    p.add_argument("upload_id", type=int, metavar="UPLOAD_ID")
    p.add_argument(
        "--actor",
        default="local",
        help="who undoes, recorded in the history and audit log (default: local)",
    )
    db_option(p)
