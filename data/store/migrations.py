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

import numpy as np
import pandas as pd
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

from data.store import bulk, kept
from data.store import tables as t
from data.store.engine import StoreError, write_transaction


@dataclass(frozen=True)
class Migration:
    """One schema version: its number, what it adds, and the function that adds it."""

    version: int
    description: str
    apply: Callable[..., None]
    needs_keys: bool = False  # apply(conn, keys): keys is the store's KeySource


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


def _v5(conn: Connection) -> None:
    """Undo that cannot lose data: what each upload brought is kept (``upload_patients``) and
    each upload's replace choice is recorded (``uploads.replace_conflicts``).

    For uploads committed before this version, the rows each one brought are known only where
    it stored them: every stored assessment (replaced ones too) is kept as its upload's, with
    days as they are stored now and the patient's present anchor as the upload's; rows an upload
    found already stored were not recorded. ``replace_conflicts`` is set where the upload
    replaced something. Idempotent: a column or table already there is left alone, and uploads
    already kept are skipped.
    """
    if "replace_conflicts" not in {c["name"] for c in inspect(conn).get_columns("uploads")}:
        no = "0" if conn.dialect.name == "sqlite" else "false"
        conn.execute(
            text(f"ALTER TABLE uploads ADD COLUMN replace_conflicts BOOLEAN NOT NULL DEFAULT {no}")
        )
        conn.execute(
            text("UPDATE uploads SET replace_conflicts = :yes WHERE n_replaced > 0"), {"yes": True}
        )
    md = MetaData()  # upload_patients as version 5 made it (frozen here)
    Table("uploads", md, Column("id", Integer, primary_key=True))
    kept_table = Table(
        "upload_patients",
        md,
        Column("upload_id", Integer, ForeignKey("uploads.id"), primary_key=True),
        Column("patient_id", Text, primary_key=True),
        Column("anchor_ms", BigInteger),
        Column("is_baseline", Boolean, nullable=False),
        Column("n_rows", Integer, nullable=False),
        Column("packed", LargeBinary, nullable=False),
    )
    Index("ix_upload_patients_patient", kept_table.c.patient_id)
    md.create_all(conn, tables=[kept_table], checkfirst=True)
    _v5_keep_stored_rows(conn)


def _v5_keep_stored_rows(conn: Connection) -> None:
    """Fill ``upload_patients`` from the stored assessments, one committed upload at a time
    (through kept.py's packing: a later change of that format must copy this one here first)."""
    done = set(conn.execute(text("SELECT DISTINCT upload_id FROM upload_patients")).scalars())
    todo = conn.execute(
        text("SELECT id FROM uploads WHERE status = :c ORDER BY id"), {"c": t.COMMITTED}
    ).scalars()
    for upload_id in [int(u) for u in todo if int(u) not in done]:
        arr = bulk.fetch_array(
            conn,
            "SELECT a.patient_id, a.instrument_id, a.session_key, a.day_ms, a.label_id, a.score,"
            " a.items, p.anchor_ms, p.is_baseline FROM assessments a LEFT JOIN patient_anchors p"
            " ON p.patient_id = a.patient_id WHERE a.upload_id = ? ORDER BY a.id",
            [upload_id],
        )
        if not arr.size:
            continue
        rows = pd.DataFrame(
            {
                "patient_id": arr[:, 0].astype(str).astype(object),
                "instrument_id": arr[:, 1].astype(np.int64),
                "session_key": arr[:, 2].astype(np.int64),
                "day_ms": arr[:, 3].astype(np.int64),
                "label_id": arr[:, 4].astype(np.int64),
                "score": arr[:, 5].astype("float64"),  # None (no score) becomes NaN
                "items": [None if b is None else bytes(b) for b in arr[:, 6]],
            }
        )
        frames = (
            pd.DataFrame(
                {
                    "anchor_ms": pd.array(arr[:, 7], dtype="Int64"),
                    "is_baseline": pd.array(arr[:, 8], dtype="boolean"),
                    "patient_id": rows["patient_id"],
                }
            )
            .drop_duplicates("patient_id")
            .set_index("patient_id")
        )
        kept.write(conn, upload_id, rows, frames)


def _v6(conn: Connection, keys: object) -> None:
    """Pseudonymous ids and keys outside the database (see migrate_ids.py)."""
    from data.store.migrate_ids import pseudonymise_store

    pseudonymise_store(conn, keys)


def _v7(conn: Connection) -> None:
    """Claim settings frozen before the data arrive (see frozen.py)."""
    from data.store.frozen import v7_create

    v7_create(conn)


def _v8(conn: Connection) -> None:
    """Baseline months for the period filter (``upload_periods``, see periods.py). Stores made
    before it hold no months: their patients have no known period until a dated export with
    their baseline row is uploaded again. Idempotent (an existing table is left alone)."""
    md = MetaData()  # upload_periods as version 8 made it (frozen here)
    Table("uploads", md, Column("id", Integer, primary_key=True))
    table = Table(
        "upload_periods",
        md,
        Column("upload_id", Integer, ForeignKey("uploads.id"), primary_key=True),
        Column("patient_id", Text, primary_key=True),
        Column("month_masked", Integer, nullable=False),
    )
    Index("ix_upload_periods_patient", table.c.patient_id)
    md.create_all(conn, tables=[table], checkfirst=True)


def _default_keys(engine: Engine) -> object:
    from data.store.keys import KeySource

    return KeySource(engine.url.render_as_string(hide_password=False))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "uploads, assessments, audit log", _v1),
    Migration(2, "date anchors kept apart from assessments", _v2),
    Migration(3, "instruments and labels stored as codes", _v3),
    Migration(4, "who uploaded, undid and downloaded", _v4),
    Migration(5, "what each upload brought, kept for undo", _v5),
    Migration(6, "pseudonymous ids; keys kept outside the database", _v6, needs_keys=True),
    Migration(7, "claim settings frozen before the data arrive", _v7),
    Migration(8, "baseline months for the period filter, masked", _v8),
)
LATEST = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """The store's schema version (0 for an empty database)."""
    t.schema_version.create(conn, checkfirst=True)
    return int(
        conn.execute(select(func.coalesce(func.max(t.schema_version.c.version), 0))).scalar()
    )


def migrate(engine: Engine, *, target: int = LATEST, keys: object = None) -> int:
    """Bring the store up to ``target`` (default: the latest version); the version reached.
    ``keys``: the store's KeySource (keys.py), for migrations that need the practice's keys."""
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
                if mig.needs_keys:
                    mig.apply(conn, keys if keys is not None else _default_keys(engine))
                else:
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
