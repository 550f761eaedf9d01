"""Where the store lives and how it is opened: database URLs, engines, write transactions.

SQLite (the default, one file) runs in WAL mode, so dashboards keep reading while an upload is
written, with a busy timeout so that concurrent uploads wait their turn instead of failing.
PostgreSQL (psycopg 3) serves a practice network with several dashboard instances. On both,
uploads and undos are written one at a time: SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by a
transaction-level advisory lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url

from data.errors import ReliefCheckError

#: Environment variable naming the store's database URL.
DB_URL_ENV = "RELIEFCHECK_DB_URL"
#: Seconds an upload waits for another one to finish before giving up (SQLite busy timeout).
BUSY_TIMEOUT_S = 120.0
#: Advisory-lock number that serialises writers on PostgreSQL ("RCST" in ASCII).
PG_WRITE_LOCK = 0x52435354


class StoreError(ReliefCheckError):
    """The outcome store cannot do what was asked; the message says why and what to do."""


def default_db_url() -> str:
    """The store used when no URL is given: ``$RELIEFCHECK_DB_URL``, else a SQLite file in the
    user's data folder (``$XDG_DATA_HOME/reliefcheck/reliefcheck.sqlite``, by default under
    ``~/.local/share``), outside any source checkout so it is never committed by accident."""
    env = os.environ.get(DB_URL_ENV, "").strip()
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'reliefcheck' / 'reliefcheck.sqlite'}"


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL for ``url``: a bare path means a SQLite file; ``postgresql://`` and
    ``postgres://`` use the psycopg 3 driver."""
    url = url.strip()
    if not url:
        raise StoreError("The database URL is empty. Give sqlite:///PATH or postgresql://...")
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return f"sqlite:///{rest[1:]}" if rest.startswith("/") else f"sqlite://{rest}"
    raise StoreError(
        f"ReliefCheck cannot store outcomes in a '{scheme}' database. Use a SQLite file "
        "(sqlite:///path/to/reliefcheck.sqlite) or PostgreSQL (postgresql://user@host/dbname)."
    )


def display_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return url


def refuse_transient(url: str) -> None:
    """Refuse a SQLite URL that names no file (in-memory or temporary): it would keep nothing."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        return
    path = (sa_url.database or "").strip()
    memory = str(sa_url.query.get("mode", "")) == "memory" or ":memory:" in path
    if not path or memory or path.startswith("file::memory"):
        raise StoreError(
            "That database URL names no file, so the store would live in memory and keep "
            "nothing. Give a file: sqlite:///reliefcheck.sqlite is a path relative to the "
            "current folder, sqlite:////srv/reliefcheck/reliefcheck.sqlite an absolute one (four "
            "slashes), or give a plain path."
        )


def make_engine(url: str) -> Engine:
    """An engine for a normalised URL, with the SQLite settings the store relies on. A SQLite
    URL without a file (in-memory or temporary) is refused."""
    refuse_transient(url)
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        path = sa_url.database
        if path:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(
                    f"Cannot create the folder for the store {path} ({err.strerror}). "
                    "Choose another path with --db or RELIEFCHECK_DB_URL."
                ) from None
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, busy timeout, full sync, foreign keys and secure delete on every connection;
    explicit BEGINs.

    The driver's own transaction handling is switched off so that a write transaction can start
    with ``BEGIN IMMEDIATE`` (taking the write lock at once, waiting up to the busy timeout).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI objects
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        # Deleted and overwritten content is zeroed, so an undone upload or a migrated id
        # leaves no trace in the file's free pages.
        cur.execute("PRAGMA secure_delete = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("reliefcheck_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One all-or-nothing write transaction, holding the store's write lock throughout.

    Everything done on the yielded connection commits together when the block ends, or not at
    all when it raises (or the process dies first).
    """
    with translate_errors(engine), engine.connect() as conn:
        conn.execution_options(reliefcheck_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_WRITE_LOCK})
            yield conn


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside one read transaction: one consistent snapshot for every statement in
    it on both back-ends (SQLite's WAL snapshot; PostgreSQL at REPEATABLE READ, as its default
    gives each statement a snapshot of its own)."""
    with translate_errors(engine), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


@contextmanager
def translate_errors(engine: Engine) -> Iterator[None]:
    """Turn database failures into StoreError messages a clinician can act on."""
    where = display_url(engine.url.render_as_string(hide_password=True))
    try:
        yield
    except exc.OperationalError as err:
        detail = str(err.orig) if err.orig is not None else str(err)
        if "locked" in detail or "busy" in detail:
            raise StoreError(
                "The outcome store is busy: another upload has been writing for more than "
                f"{BUSY_TIMEOUT_S:.0f} seconds. Try again in a few minutes."
            ) from None
        raise StoreError(
            f"Cannot use the outcome store at {where}: {detail.strip().splitlines()[0]}. "
            "Check the database URL (--db or RELIEFCHECK_DB_URL), that the server is running, "
            "and that you may write there."
        ) from None
    except exc.DatabaseError as err:
        detail = str(err.orig) if err.orig is not None else str(err)
        if "not a database" in detail or "malformed" in detail:
            raise StoreError(
                f"{where} is not a ReliefCheck store (the file is damaged or is something "
                "else). Point --db at another file, or restore the store from a backup."
            ) from None
        raise
