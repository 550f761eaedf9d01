"""The store's tables as they are after the latest migration (see migrations.py for history).

``assessments`` holds the tidy columns plus where each row came from. Its unique key is
(patient_id, instrument_id, session_key, day_ms) among rows not replaced. The instrument and the
descriptive labels (protocol, phase, site, clinician, route, treatment_resistant) are stored as
small integer codes into two lookup tables, ``instruments`` and ``labels`` (one row per distinct
combination of labels): a handful of distinct values repeated over millions of rows read back
much faster as codes than as text. The codes carry no foreign-key constraint, because checking
one on every inserted row doubles the time of a large upload on PostgreSQL; codes are only ever
added, in the same transaction as the rows that use them, and a read refuses a code it cannot
find (codes.py). Empty session and day are stored as out-of-range sentinels rather than NULL, so
that the key works the same on SQLite and PostgreSQL (both treat NULLs as distinct in unique
indexes). ``day_ms`` is the day offset in whole milliseconds, so that day arithmetic across
uploads is exact. Item scores are packed into one ``items`` value (little-endian 16-bit
integers, item_1 first) because reading one column back is several times faster than reading
twenty mostly empty ones.

``upload_patients`` keeps what each committed upload brought, per patient, as it brought it
(before its days were lined up with the store), so that an undo can re-derive the patients it
touched by replaying the other committed uploads (see undo.py and kept.py).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

#: ``session_key`` of an assessment without a session number (follow-up).
NO_SESSION = -(2**31)
#: ``day_ms`` of an assessment without a day.
NO_DAY = -(2**62)
#: Milliseconds in a day.
MS_PER_DAY = 86_400_000
#: Item value meaning "no answer" inside the packed ``items`` value.
NO_ITEM = -(2**15)

#: Upload states.
COMMITTED, UNDONE = "committed", "undone"

#: Columns of an assessment that identify it (its unique key among rows not replaced).
KEY_COLUMNS = ("patient_id", "instrument", "session_key", "day_ms")
#: The same key as stored, with the instrument's code.
STORED_KEY_COLUMNS = ("patient_id", "instrument_id", "session_key", "day_ms")
#: Descriptive text columns, in tidy-table order.
TEXT_COLUMNS = ("protocol", "phase", "site", "clinician", "route")
#: The columns of one ``labels`` row: an assessment's descriptive labels.
LABEL_COLUMNS = (*TEXT_COLUMNS, "treatment_resistant")

_ID = BigInteger().with_variant(Integer, "sqlite")

metadata = MetaData()

uploads = Table(
    "uploads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("filename", Text, nullable=False),
    Column("content_hash", String(64), nullable=False, index=True),
    Column("uploader", Text, nullable=False),
    Column("committed_at", Text, nullable=False),  # ISO 8601, UTC
    Column("status", String(16), nullable=False),
    Column("undone_at", Text),
    Column("undone_by", Text),  # who undid it (an e-mail, or "local"); NULL before version 4
    Column("n_rows", Integer, nullable=False),
    Column("n_rejected", Integer, nullable=False),
    Column("n_added", Integer, nullable=False),
    Column("n_already_stored", Integer, nullable=False),
    Column("n_conflicts", Integer, nullable=False),
    Column("n_replaced", Integer, nullable=False),
    Column("n_unaligned", Integer, nullable=False, server_default="0"),
    # Whether the upload replaced conflicting stored rows (``ingest --replace``); since version 5.
    Column("replace_conflicts", Boolean, nullable=False, server_default="0"),
)

#: Instrument keys (registry keys, as stored by the uploads), coded for ``assessments``.
instruments = Table(
    "instruments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False, unique=True),
)

#: Each distinct combination of an assessment's descriptive labels, coded for ``assessments``.
#: Rows are only ever added (under the write lock), never changed.
labels = Table(
    "labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("protocol", Text),
    Column("phase", Text),
    Column("site", Text),
    Column("clinician", Text),
    Column("route", Text),
    Column("treatment_resistant", Boolean),
)

assessments = Table(
    "assessments",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("upload_id", Integer, ForeignKey("uploads.id"), nullable=False),
    Column("replaced_by", Integer, ForeignKey("uploads.id")),
    Column("patient_id", Text, nullable=False),
    Column("instrument_id", Integer, nullable=False),  # instruments.id
    Column("session_key", Integer, nullable=False),
    Column("day_ms", BigInteger, nullable=False),
    Column("label_id", Integer, nullable=False),  # labels.id
    Column("score", Float(precision=53)),
    Column("items", LargeBinary),
)
Index(
    "uq_assessments_active_key",
    *(assessments.c[c] for c in STORED_KEY_COLUMNS),
    unique=True,
    sqlite_where=assessments.c.replaced_by.is_(None),
    postgresql_where=assessments.c.replaced_by.is_(None),
)
Index("ix_assessments_upload", assessments.c.upload_id)
Index(
    "ix_assessments_replaced_by",
    assessments.c.replaced_by,
    sqlite_where=assessments.c.replaced_by.is_not(None),
    postgresql_where=assessments.c.replaced_by.is_not(None),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),  # ISO 8601, UTC
    Column("action", String(32), nullable=False),
    Column("upload_id", Integer),
    Column("patient_id", Text),
    Column("detail", Text, nullable=False),  # JSON
    Column("actor", Text),  # who (an e-mail, or "local"); NULL when not recorded (before v4)
)

#: Who downloaded what and when: the table or format's name, never any of its data.
download_log = Table(
    "download_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),  # ISO 8601, UTC
    Column("actor", Text, nullable=False),
    Column("what", Text, nullable=False),
    Column("n_rows", Integer),
)

#: Each freeze of the claim settings (frozen.py): the settings' JSON text as given, its SHA-256
#: and how many scores were stored at the time. Rows are only ever added.
frozen_settings = Table(
    "frozen_settings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("frozen_at", Text, nullable=False),  # ISO 8601, UTC
    Column("actor", Text, nullable=False),  # an e-mail, or "local"
    Column("settings", Text, nullable=False),
    Column("sha256", String(64), nullable=False),  # of the text's UTF-8 bytes
    Column("n_scores", Integer, nullable=False),
)

store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Each patient's day-0 anchor: a keyed, shifted time (see anchors.py), never a real date.
patient_anchors = Table(
    "patient_anchors",
    metadata,
    Column("patient_id", Text, primary_key=True),
    Column("anchor_ms", BigInteger),  # NULL: days are since baseline, its date unknown
    Column("is_baseline", Boolean, nullable=False),
    Column("upload_id", Integer, ForeignKey("uploads.id")),
)

#: What each upload did to anchors (schema 2 to 4; no longer written since version 5, when
#: undo started re-deriving patients from ``upload_patients``).
anchor_changes = Table(
    "anchor_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("upload_id", Integer, ForeignKey("uploads.id"), nullable=False, index=True),
    Column("patient_id", Text, nullable=False),
    Column("old_exists", Boolean, nullable=False),
    Column("old_anchor_ms", BigInteger),
    Column("old_is_baseline", Boolean),
    Column("old_upload_id", Integer),
    Column("new_anchor_ms", BigInteger),
    Column("new_is_baseline", Boolean, nullable=False),
    Column("shift_ms", BigInteger, nullable=False),  # added to the stored rows' day_ms
)

#: What each committed upload brought for each of its patients, as the file gave it: the
#: file's anchor for the patient (shifted, as in ``patient_anchors``; NULL when the file gave
#: days directly) and its accepted rows packed as fixed-width records (kept.py). Undo replays
#: these rows of the uploads still committed; an undone upload's rows are deleted.
upload_patients = Table(
    "upload_patients",
    metadata,
    Column("upload_id", Integer, ForeignKey("uploads.id"), primary_key=True),
    Column("patient_id", Text, primary_key=True),
    Column("anchor_ms", BigInteger),
    Column("is_baseline", Boolean, nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("packed", LargeBinary, nullable=False),
)
Index("ix_upload_patients_patient", upload_patients.c.patient_id)

#: Each committed upload's baseline month per patient whose file dated the baseline row: months
#: since January 2000 plus a keyed per-patient shift (periods.py), never a date or a day.
upload_periods = Table(
    "upload_periods",
    metadata,
    Column("upload_id", Integer, ForeignKey("uploads.id"), primary_key=True),
    Column("patient_id", Text, primary_key=True),
    Column("month_masked", Integer, nullable=False),
)
Index("ix_upload_periods_patient", upload_periods.c.patient_id)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", Text, nullable=False),
    Column("description", Text, nullable=False),
)
