"""The outcome store (issue 4): every accepted assessment kept exactly once, uploads committed
all or nothing, undoable, on a SQLite file or PostgreSQL. See docs/store.md.

Public API::

    store = open_store(url=None)            # None: $RELIEFCHECK_DB_URL, else the default file
    result = store.commit(validated, filename=..., content_hash=content_hash(data),
                          uploader="local", replace=False)      # -> CommitResult
    preview = store.preview(validated, filename=..., content_hash=...)  # -> CommitPreview
    tidy = store.read_tidy()                # conformed tidy table
    store.uploads(); store.audit_log()      # DataFrames
    store.undo(upload_id, actor="local", allowed_uploader=None)  # -> UndoResult
    store.record_download(actor, what, n_rows=None); store.downloads()
    store.list_audit()                      # who did what: uploads, undos, downloads
    store.content_version()                 # changes with every commit and undo
"""

from data.store.anchors import ANCHOR_KEY_ENV
from data.store.audit import LOCAL as LOCAL_ACTOR
from data.store.audit import UndoNotAllowed
from data.store.engine import DB_URL_ENV, StoreError, default_db_url
from data.store.migrations import LATEST as SCHEMA_VERSION
from data.store.preview import BASELINE_APART_DAYS, CommitPreview
from data.store.results import CommitResult
from data.store.store import Store, content_hash, open_store
from data.store.undo import UndoResult

__all__ = [
    "ANCHOR_KEY_ENV",
    "BASELINE_APART_DAYS",
    "DB_URL_ENV",
    "LOCAL_ACTOR",
    "SCHEMA_VERSION",
    "CommitPreview",
    "CommitResult",
    "Store",
    "StoreError",
    "UndoNotAllowed",
    "UndoResult",
    "content_hash",
    "default_db_url",
    "open_store",
]
