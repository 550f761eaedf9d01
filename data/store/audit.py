"""Who did what: the actor of uploads and undos, who may undo, the download log, and the list of
audit events for the practice owner.

An actor is the signed-in person's e-mail, or ``local`` (the command line, or a dashboard in
local single-user mode). Commits, undos and downloads record it; sign-ins and refusals are
logged by the dashboard, not here. The download log names what was downloaded (a table or
format), never any of its data, and is written in a short transaction of its own, without the
store's write lock on PostgreSQL (it changes no stored content and no cache key).
"""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import Connection, Engine, insert, select

from data.store import bulk
from data.store.engine import StoreError, translate_errors
from data.store.tables import audit_log, download_log

#: The actor of the command line and of a dashboard without sign-in.
LOCAL = "local"
#: The longest ``what`` a download may record (a name, never data).
MAX_WHAT = 200
#: Audit-log actions listed as events; ``replace`` and ``restore`` (one entry per row) are
#: counted in their commit's or undo's event instead.
EVENT_ACTIONS = ("commit", "duplicate-content", "nothing-new", "undo", "freeze-settings")
#: Columns of ``events``.
EVENT_COLUMNS = ("at", "actor", "action", "upload_id", "what", "detail")


class UndoNotAllowed(StoreError):
    """An undo refused because the upload is someone else's; nothing was changed."""


def actor_name(actor: str | None) -> str:
    """The actor to record: ``actor`` without surrounding spaces, or ``local`` when blank."""
    return (str(actor).strip() if actor is not None else "") or LOCAL


def check_undo_allowed(
    upload_id: int, filename: str, uploader: str | None, allowed: str | None
) -> None:
    """Refuse (UndoNotAllowed) unless ``allowed`` is None or made the upload (case aside)."""
    if allowed is None:
        return
    made = (uploader or "").strip()
    if made and made.casefold() == allowed.strip().casefold():
        return
    who = f"was made by {made}" if made else "was made before uploaders were recorded"
    raise UndoNotAllowed(
        f"Upload {upload_id} ({filename}) {who}: you may undo only your own uploads. Ask the "
        "practice owner to undo it. Nothing was changed."
    )


def record_download(engine: Engine, actor: str | None, what: str, n_rows: int | None) -> None:
    """Add one line to the download log: when, who, what (a name) and how many rows."""
    name = " ".join(str(what).split())
    if not name or len(name) > MAX_WHAT:
        raise ValueError(
            f"A download is recorded by the name of what was downloaded (1 to {MAX_WHAT} "
            f"characters), not {len(name)} characters."
        )
    if n_rows is not None and (int(n_rows) != n_rows or n_rows < 0):
        raise ValueError(f"n_rows must be a count of rows, not {n_rows!r}.")
    with translate_errors(engine), engine.begin() as conn:
        conn.execute(
            insert(download_log).values(
                at=bulk.now(),
                actor=actor_name(actor),
                what=name,
                n_rows=None if n_rows is None else int(n_rows),
            )
        )


def downloads(conn: Connection) -> pd.DataFrame:
    """The download log, oldest first: id, at (UTC), actor, what, n_rows."""
    frame = pd.read_sql(select(download_log).order_by(download_log.c.id), conn)
    frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
    frame["n_rows"] = frame["n_rows"].astype("Int64")
    for col in ("actor", "what"):
        frame[col] = frame[col].astype("string")
    return frame


def events(conn: Connection, limit: int | None = None) -> pd.DataFrame:
    """Uploads, undos and downloads as one table, oldest first (the latest ``limit`` when given):
    at (UTC), actor (NA when not recorded), action (commit, duplicate-content, nothing-new,
    undo, download), upload_id, what (the file or the download's name), detail (in words)."""
    log = select(
        audit_log.c.id,
        audit_log.c.at,
        audit_log.c.actor,
        audit_log.c.action,
        audit_log.c.upload_id,
        audit_log.c.detail,
    ).where(audit_log.c.action.in_(EVENT_ACTIONS))
    dl = select(download_log)
    if limit is not None:
        log = log.order_by(audit_log.c.id.desc()).limit(int(limit))
        dl = dl.order_by(download_log.c.id.desc()).limit(int(limit))
    changes = conn.execute(log).all()
    got = conn.execute(dl).all()
    rows = []
    for r in changes:
        d = json.loads(r.detail)
        what = d.get("filename")
        rows.append((r.at, 0, r.id, r.actor, r.action, r.upload_id, what, _detail(r.action, d)))
    for r in got:
        rows.append((r.at, 1, r.id, r.actor, "download", None, r.what, _rows(r.n_rows)))
    rows.sort(key=lambda x: (pd.Timestamp(x[0]), x[1], x[2]))
    if limit is not None:
        rows = rows[len(rows) - int(limit) :] if int(limit) else []
    cols = list(zip(*rows, strict=True)) if rows else [()] * 8
    frame = pd.DataFrame(
        {
            "at": pd.to_datetime(pd.Series(cols[0], dtype=object), utc=True, format="ISO8601"),
            "actor": pd.array(cols[3], dtype="string"),
            "action": pd.array(cols[4], dtype="string"),
            "upload_id": pd.array(cols[5], dtype="Int64"),
            "what": pd.array(cols[6], dtype="string"),
            "detail": pd.array(cols[7], dtype="string"),
        }
    )
    return frame[list(EVENT_COLUMNS)]


def _rows(n: object) -> str:
    if n is None or pd.isna(n):
        return ""
    return f"{int(n):,} row" + ("" if int(n) == 1 else "s")


def _detail(action: str, d: dict) -> str:
    """A commit's or undo's counts in words."""
    n = lambda key: int(d.get(key) or 0)  # noqa: E731
    if action == "commit":
        words = [f"{n('n_added'):,} added"]
        words += [f"{n('n_replaced'):,} replaced"] if n("n_replaced") else []
        words += [f"{n('n_already_stored'):,} already stored"] if n("n_already_stored") else []
        return ", ".join(words)
    if action == "undo":
        words = [f"{n('n_removed'):,} removed"]
        return ", ".join(words + ([f"{n('n_restored'):,} restored"] if n("n_restored") else []))
    if action == "freeze-settings":
        return f"claim settings frozen (SHA-256 {str(d.get('sha256', ''))[:12]}…, {n('n_scores'):,} scores stored)"
    if action == "duplicate-content":
        return f"same content as upload {d.get('duplicate_of')}: nothing changed"
    return "nothing new: nothing changed"
