"""The outcome store: ``open_store(url)`` gives a ``Store`` to commit, read, list and undo."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pandas as pd
from sqlalchemy import Engine, func, inspect, select

from data.store import audit, frozen, periods, reading
from data.store.commit import commit
from data.store.engine import (
    default_db_url,
    display_url,
    make_engine,
    normalise_url,
    read_connection,
    write_transaction,
)
from data.store.frozen import FrozenRecord
from data.store.keys import Keys, KeySource, has_key_checks, verify
from data.store.migrations import LATEST, migrate
from data.store.names import safe_actor, safe_file_label
from data.store.preview import CommitPreview, with_file_ids
from data.store.preview import preview as preview_commit
from data.store.pseudonyms import for_uploader, pseudonym, pseudonymise_upload
from data.store.results import CommitResult
from data.store.tables import assessments, audit_log, schema_version, store_meta, uploads
from data.store.undo import UndoResult, preview, undo


def content_hash(data: bytes) -> str:
    """The fingerprint of an uploaded file's bytes (SHA-256, hex) that marks repeat uploads."""
    return hashlib.sha256(data).hexdigest()


class Store:
    """One outcome store (a SQLite file or a PostgreSQL database).

    Every method opens its own short transaction, so one Store can serve a whole dashboard
    process; threads may share it. ``before_commit``, when set, is called inside each commit or
    undo transaction just before it is committed; if it raises, nothing is written.
    """

    def __init__(self, engine: Engine, *, keys: KeySource | None = None):
        self.engine = engine
        self._source = keys or KeySource(engine.url.render_as_string(hide_password=False))
        self._keys: Keys | None = None
        self.before_commit: Callable[[], None] | None = None

    def keys(self) -> Keys:
        """The practice's id and anchor keys (keys.py), found (or made) and checked against the
        store on first use; StoreError when they are missing or not this store's."""
        if self._keys is None:
            with read_connection(self.engine) as conn:
                in_use = has_key_checks(conn)
            keys = self._source.resolve(create=not in_use)  # never new keys for a used store
            with write_transaction(self.engine) as conn:
                verify(conn, keys)
            self._keys = keys
        return self._keys

    def pseudonym_of(self, clinic_id: str) -> str:
        """The pseudonym the store files a patient under, from the clinic's own id (a pseudonym
        made by this store is returned as it is)."""
        return pseudonym(str(clinic_id), self.keys().id_key)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return display_url(self.engine.url.render_as_string(hide_password=True))

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def commit(
        self,
        validated: object,
        *,
        filename: str,
        content_hash: str,
        uploader: str = audit.LOCAL,
        replace: bool = False,
        expected_version: int | None = None,
    ) -> CommitResult:
        """Store one validated upload, all or nothing (see data/store/commit.py).

        Patient ids are replaced by their pseudonyms before anything is written; the rows set
        aside come back with the file's own ids. ``filename`` is kept only as a safe label and
        ``uploader`` only when it is a signed-in e-mail (else ``local``): see names.py.
        ``expected_version``: the ``content_version`` of the preview the user saw; when the
        store has changed since, StoreError and nothing is written."""
        keys = self.keys()
        hashed, back = pseudonymise_upload(validated, keys.id_key)
        label = safe_file_label(filename)
        result = commit(
            self.engine,
            hashed,
            filename=label,
            content_hash=content_hash,
            uploader=safe_actor(uploader),
            replace=replace,
            anchor_key=keys.anchor_key,
            before_commit=self.before_commit,
            expected_version=expected_version,
        )
        return for_uploader(result, back, filename, label)

    def preview(self, validated: object, *, filename: str, content_hash: str) -> CommitPreview:
        """What ``commit`` would do with this upload now, writing nothing (see preview.py): the
        counts for keeping or replacing stored scores, the conflicting rows with the stored and
        the new score, the rows set aside, and ids that look like a different patient. Rows
        come back with the file's own ids (suspects also with the store's pseudonym)."""
        keys = self.keys()
        hashed, back = pseudonymise_upload(validated, keys.id_key)
        result = preview_commit(
            self.engine,
            hashed,
            filename=safe_file_label(filename),
            content_hash=content_hash,
            anchor_key=keys.anchor_key,
        )
        return with_file_ids(result, back, filename)

    def undo(
        self,
        upload_id: int,
        *,
        actor: str | None = None,
        allowed_uploader: str | None = None,
    ) -> UndoResult:
        """Undo one upload, restoring what it replaced (see data/store/undo.py), recording
        ``actor`` (None: ``local``) as who undid it. With ``allowed_uploader`` (the dashboard
        passes the signed-in clinician), an upload made by anyone else is refused with
        ``UndoNotAllowed`` and nothing changes; None (owners, the command line) restricts
        nothing."""
        return undo(
            self.engine,
            upload_id,
            actor=safe_actor(actor),
            allowed_uploader=allowed_uploader,
            before_commit=self.before_commit,
        )

    def preview_undo(self, upload_id: int, *, allowed_uploader: str | None = None) -> UndoResult:
        """What ``undo`` would do, with the same counts, changing nothing (for a confirmation
        question; it runs the undo and rolls it back, so it takes as long as the undo)."""
        return preview(self.engine, upload_id, allowed_uploader=allowed_uploader)

    def record_download(self, actor: str | None, what: str, n_rows: int | None = None) -> None:
        """Log that ``actor`` (None: ``local``) downloaded ``what``: the table or format's name
        (e.g. ``reliefcheck_outcomes.csv``), never any data; ``n_rows`` when known. Changes no
        stored content (the content version stays)."""
        audit.record_download(self.engine, safe_actor(actor), what, n_rows)

    def downloads(self) -> pd.DataFrame:
        """The download log, oldest first: id, at (UTC), actor, what, n_rows."""
        with read_connection(self.engine) as conn:
            return audit.downloads(conn)

    def list_audit(self, limit: int | None = None) -> pd.DataFrame:
        """Who did what, oldest first (the latest ``limit`` events when given): at (UTC), actor
        (NA when not recorded), action (commit, duplicate-content, nothing-new, undo,
        download), upload_id, what (file or download name), detail (counts in words). Replaced
        and restored rows are counted in their commit's or undo's detail."""
        with read_connection(self.engine) as conn:
            return audit.events(conn, limit)

    def freeze_settings(self, settings: str, *, actor: str | None = None) -> FrozenRecord:
        """Freeze the claim settings (a JSON object as text; see frozen.py): stored with its
        SHA-256, the time, ``actor`` (None: ``local``) and how many scores were stored then.
        Earlier freezes are kept; the latest is the one in force."""
        return frozen.freeze(self.engine, settings, safe_actor(actor))

    def frozen_settings(self) -> list[FrozenRecord]:
        """Every freeze of the claim settings, oldest first (empty when never frozen)."""
        with read_connection(self.engine) as conn:
            return frozen.records(conn)

    def read_tidy(self) -> pd.DataFrame:
        """Every stored assessment (replaced ones excepted) as a conformed tidy table, in the
        order stored; an empty conformed table when the store is empty."""
        with read_connection(self.engine) as conn:
            return reading.read_tidy(conn)

    def read_baseline_months(self) -> pd.Series:
        """Each stored patient's baseline month code (data/periods.py: days from 2000-01-01 to
        the first of the month; index patient_id, Int64), for patients whose baseline a dated
        upload gave; others are absent. Needs the anchor key (StoreError without it)."""
        key = self.keys().anchor_key
        with read_connection(self.engine) as conn:
            return periods.read(conn, key)

    def is_empty(self) -> bool:
        """True when no assessment is stored (the dashboard then shows the demo cohort)."""
        with read_connection(self.engine) as conn:
            return conn.execute(select(assessments.c.id).limit(1)).first() is None

    def uploads(self) -> pd.DataFrame:
        """The upload history, oldest first: upload_id, filename, content_hash, uploader,
        committed_at and undone_at (UTC), undone_by (NA unless undone), status ("committed" or
        "undone"), the counts of the commit, and ``n_active``: how many of its assessments are
        stored and not replaced."""
        active = (
            select(func.count())
            .where(assessments.c.upload_id == uploads.c.id, assessments.c.replaced_by.is_(None))
            .scalar_subquery()
            .label("n_active")
        )
        with read_connection(self.engine) as conn:
            frame = pd.read_sql(select(uploads, active).order_by(uploads.c.id), conn)
        frame = frame.rename(columns={"id": "upload_id"})
        for col in ("committed_at", "undone_at"):
            frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
        for col in ("filename", "content_hash", "uploader", "status", "undone_by"):
            frame[col] = frame[col].astype("string")
        return frame

    def audit_log(self) -> pd.DataFrame:
        """The audit log, oldest first: id, at (UTC), action, upload_id, patient_id, detail
        (JSON text) and actor (NA when not recorded). Actions: commit, replace, nothing-new,
        duplicate-content, undo, restore. ``list_audit`` gives the events in a tidier form."""
        with read_connection(self.engine) as conn:
            frame = pd.read_sql(select(audit_log).order_by(audit_log.c.id), conn)
        frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
        frame["upload_id"] = frame["upload_id"].astype("Int64")
        frame["actor"] = frame["actor"].astype("string")
        return frame

    def content_version(self) -> int:
        """A number that changes with every commit and undo (a cheap cache key)."""
        with read_connection(self.engine) as conn:
            value = conn.execute(
                select(store_meta.c.value).where(store_meta.c.key == "content_version")
            ).scalar()
        return int(value or 0)

    def schema_version(self) -> int:
        """The store's schema version."""
        with read_connection(self.engine) as conn:
            return int(conn.execute(select(func.max(schema_version.c.version))).scalar() or 0)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_store(
    url: str | None = None,
    *,
    id_key: str | None = None,
    anchor_key: str | None = None,
    upgrade: bool = True,
) -> Store:
    """Open (and create or upgrade, unless ``upgrade`` is False) the store at ``url``.

    ``url``: ``sqlite:///PATH``, a bare file path, or ``postgresql://user@host/db``; None means
    ``$RELIEFCHECK_DB_URL``, else a SQLite file in the user's data folder (default_db_url).
    ``id_key`` and ``anchor_key``: the practice's keys as text (the dashboard passes its
    secrets); by default ``$RELIEFCHECK_ID_KEY`` / ``$RELIEFCHECK_ANCHOR_KEY``, else the key
    file beside the store (keys.py, docs/store.md). A SQLite URL without a file is refused.
    """
    full = normalise_url(url if url is not None else default_db_url())
    engine = make_engine(full)
    source = KeySource(
        full, tuple((n, v) for n, v in (("id_key", id_key), ("anchor_key", anchor_key)) if v)
    )
    if upgrade:
        with read_connection(engine) as conn:
            has = inspect(conn).has_table("schema_version")
            version = (
                int(conn.execute(select(func.max(schema_version.c.version))).scalar() or 0)
                if has
                else 0
            )
        if version != LATEST:
            migrate(engine, keys=source)
    return Store(engine, keys=source)
