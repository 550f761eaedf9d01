"""Versioned schema migrations, applied in order when a store is opened.

Each migration is frozen once released: it creates exactly what its version had, so that a store
made by any earlier ReliefCheck is brought up to date the same way as a new one. The applied
versions are listed in ``schema_version``. Migrations run inside one write transaction (under
the store's write lock), so two processes opening a new store at once cannot both migrate it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
)

from data.store import tables as t
from data.store.engine import StoreError, write_transaction


@dataclass(frozen=True)
class Migration:
    """One schema version: its number, what it adds, and the function that adds it."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_tables() -> MetaData:
    """The schema of version 1, frozen: uploads, assessments, the audit log, store settings."""
    md = MetaData()
    Table(
        "uploads",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("filename", Text, nullable=False),
        Column("content_hash", String(64), nullable=False, index=True),
        Column("uploader", Text, nullable=False),
        Column("committed_at", Text, nullable=False),
        Column("status", String(16), nullable=False),
        Column("undone_at", Text),
        Column("n_rows", Integer, nullable=False),
        Column("n_rejected", Integer, nullable=False),
        Column("n_added", Integer, nullable=False),
        Column("n_already_stored", Integer, nullable=False),
        Column("n_conflicts", Integer, nullable=False),
        Column("n_replaced", Integer, nullable=False),
    )
    a = Table(
        "assessments",
        md,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("upload_id", Integer, ForeignKey("uploads.id"), nullable=False),
        Column("replaced_by", Integer, ForeignKey("uploads.id")),
        Column("patient_id", Text, nullable=False),
        Column("instrument", Text, nullable=False),
        Column("session_key", Integer, nullable=False),
        Column("day_ms", BigInteger, nullable=False),
        Column("protocol", Text),
        Column("phase", Text),
        Column("score", Float(precision=53)),
        Column("site", Text),
        Column("clinician", Text),
        Column("route", Text),
        Column("treatment_resistant", Boolean),
        Column("items", LargeBinary),
    )
    active = a.c.replaced_by.is_(None)
    Index(
        "uq_assessments_active_key",
        a.c.patient_id,
        a.c.instrument,
        a.c.session_key,
        a.c.day_ms,
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    Index("ix_assessments_upload", a.c.upload_id)
    replaced = a.c.replaced_by.is_not(None)  # only the few replaced rows: never a full scan
    Index(
        "ix_assessments_replaced_by",
        a.c.replaced_by,
        sqlite_where=replaced,
        postgresql_where=replaced,
    )
    Table(
        "audit_log",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", Text, nullable=False),
        Column("action", String(32), nullable=False),
        Column("upload_id", Integer),
        Column("patient_id", Text),
        Column("detail", Text, nullable=False),
    )
    Table(
        "store_meta",
        md,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
    return md


def _v1(conn: Connection) -> None:
    _v1_tables().create_all(conn)
    conn.execute(insert(t.store_meta).values(key="content_version", value="0"))


def _v2(conn: Connection) -> None:
    """Date anchors kept apart from assessments; unaligned-row counts on uploads.

    Patients already stored (by version 1, which had no anchors) get a baseline anchor of
    unknown date: their days are taken as days since baseline, as version 1 stored them.
    """
    md = MetaData()
    # These two tables have not changed since version 2; a later change to either must copy its
    # version-2 form here first.
    for table in (t.patient_anchors, t.anchor_changes):
        table.to_metadata(md)
    Table("uploads", md, Column("id", Integer, primary_key=True))
    md.create_all(conn, tables=[md.tables["patient_anchors"], md.tables["anchor_changes"]])
    conn.execute(text("ALTER TABLE uploads ADD COLUMN n_unaligned INTEGER NOT NULL DEFAULT 0"))
    conn.execute(
        text(
            "INSERT INTO patient_anchors (patient_id, anchor_ms, is_baseline, upload_id) "
            "SELECT patient_id, NULL, :yes, MIN(upload_id) FROM assessments GROUP BY patient_id"
        ),
        {"yes": True},
    )


def _v3(conn: Connection) -> None:
    """Instruments and descriptive labels stored as codes into two lookup tables.

    The version-2 assessments table is rebuilt: same ids, uploads, keys, scores and items; its
    instrument text becomes a code into ``instruments`` and its protocol, phase, site, clinician,
    route and treatment_resistant a code into ``labels`` (one row per distinct combination).
    """
    md = MetaData()
    # These tables have not changed since version 3; a later change to any of them must copy its
    # version-3 form here first.
    for table in (t.instruments, t.labels, t.assessments):
        table.to_metadata(md)
    Table("uploads", md, Column("id", Integer, primary_key=True))
    for name in (
        "uq_assessments_active_key",
        "ix_assessments_upload",
        "ix_assessments_replaced_by",
    ):
        conn.execute(text(f"DROP INDEX {name}"))
    conn.execute(text("ALTER TABLE assessments RENAME TO assessments_v2"))
    if conn.dialect.name == "postgresql":  # free the names the new table's key and ids take
        names = conn.execute(
            text("SELECT conname FROM pg_constraint WHERE conrelid = 'assessments_v2'::regclass")
        ).scalars()
        for k, name in enumerate(list(names)):
            conn.execute(text(f'ALTER TABLE assessments_v2 RENAME CONSTRAINT "{name}" TO old_{k}'))
        seq = conn.execute(text("SELECT pg_get_serial_sequence('assessments_v2', 'id')")).scalar()
        if seq:
            conn.execute(text(f"ALTER SEQUENCE {seq} RENAME TO assessments_v2_id_seq"))
    md.create_all(conn, tables=[md.tables[n] for n in ("instruments", "labels", "assessments")])
    conn.execute(
        text(
            "INSERT INTO instruments (key) "
            "SELECT DISTINCT instrument FROM assessments_v2 ORDER BY instrument"
        )
    )
    cols = ", ".join(t.LABEL_COLUMNS)
    conn.execute(text(f"INSERT INTO labels ({cols}) SELECT DISTINCT {cols} FROM assessments_v2"))
    # Labels are matched through a text signature that tells a missing value from any text
    # (quote gives NULL unquoted, text quoted), so that the match can use an index.
    quote = "quote" if conn.dialect.name == "sqlite" else "quote_nullable"
    sig = lambda alias: " || '|' || ".join(  # noqa: E731
        f"{quote}({alias}.{c})" for c in t.LABEL_COLUMNS
    )
    conn.execute(text("CREATE TABLE label_signatures (sig TEXT PRIMARY KEY, id INTEGER)"))
    conn.execute(text(f"INSERT INTO label_signatures SELECT {sig('l')}, l.id FROM labels l"))
    conn.execute(
        text(
            "INSERT INTO assessments (id, upload_id, replaced_by, patient_id, instrument_id, "
            "session_key, day_ms, label_id, score, items) "
            "SELECT o.id, o.upload_id, o.replaced_by, o.patient_id, i.id, o.session_key, "
            "o.day_ms, s.id, o.score, o.items FROM assessments_v2 o "
            "JOIN instruments i ON i.key = o.instrument "
            f"JOIN label_signatures s ON s.sig = {sig('o')} ORDER BY o.id"
        )
    )
    moved = conn.execute(text("SELECT count(*) FROM assessments")).scalar()
    before = conn.execute(text("SELECT count(*) FROM assessments_v2")).scalar()
    if moved != before:
        raise StoreError(
            f"Upgrading the outcome store failed: {before} assessments were stored but {moved} "
            "could be moved to the new layout. Nothing was changed; report this to support."
        )
    conn.execute(text("DROP TABLE label_signatures"))
    conn.execute(text("DROP TABLE assessments_v2"))
    if conn.dialect.name == "postgresql":  # ids were copied: new ones continue after them
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('assessments', 'id'), "
                "coalesce(max(id), 0) + 1, false) FROM assessments"
            )
        )


def _v4(conn: Connection) -> None:
    """Who did what: ``uploads.undone_by``, ``audit_log.actor`` and the ``download_log`` table.

    Idempotent (a column or table already there is left alone), so that it can be run again on a
    store where it was partly applied by hand. Commit and replace entries written before it get
    their upload's uploader as actor when one was given; other earlier entries keep NULL (not
    recorded), as do earlier undos' ``undone_by``.
    """
    for table, column in (("uploads", "undone_by"), ("audit_log", "actor")):
        if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} TEXT"))
    md = MetaData()  # the download log as version 4 made it (frozen here)
    Table(
        "download_log",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", Text, nullable=False),
        Column("actor", Text, nullable=False),
        Column("what", Text, nullable=False),
        Column("n_rows", Integer),
    )
    md.create_all(conn, checkfirst=True)
    conn.execute(
        text(
            "UPDATE audit_log SET actor = (SELECT u.uploader FROM uploads u "
            "WHERE u.id = audit_log.upload_id) "
            "WHERE actor IS NULL AND action IN ('commit', 'replace') AND EXISTS "
            "(SELECT 1 FROM uploads u WHERE u.id = audit_log.upload_id AND u.uploader <> '')"
        )
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "uploads, assessments, audit log", _v1),
    Migration(2, "date anchors kept apart from assessments", _v2),
    Migration(3, "instruments and labels stored as codes", _v3),
    Migration(4, "who uploaded, undid and downloaded", _v4),
)
LATEST = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """The store's schema version (0 for an empty database)."""
    t.schema_version.create(conn, checkfirst=True)
    return int(
        conn.execute(select(func.coalesce(func.max(t.schema_version.c.version), 0))).scalar()
    )


def migrate(engine: Engine, *, target: int = LATEST) -> int:
    """Bring the store up to ``target`` (default: the latest version); the version reached."""
    if not 0 <= target <= LATEST:
        raise StoreError(f"There is no store schema version {target} (latest: {LATEST}).")
    with write_transaction(engine) as conn:
        version = current_version(conn)
        if version > LATEST:
            raise StoreError(
                f"This outcome store was written by a newer ReliefCheck (schema version {version};"
                f" this one knows up to {LATEST}). Update ReliefCheck to use it."
            )
        for mig in MIGRATIONS:
            if version < mig.version <= target:
                mig.apply(conn)
                conn.execute(
                    insert(t.schema_version).values(
                        version=mig.version,
                        applied_at=datetime.now(UTC).isoformat(timespec="seconds"),
                        description=mig.description,
                    )
                )
                version = mig.version
    return version
