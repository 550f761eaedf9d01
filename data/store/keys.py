"""The practice's two secret keys, kept outside the database.

* the **id key** turns every patient id an upload brings into a pseudonym (HMAC-SHA256, see
  ``pseudonyms.py``), so the store never holds the clinic's own ids;
* the **anchor key** gives each patient the secret time shift that keeps real dates out of the
  store (``anchors.py``).

Where a key comes from, first found wins, per key:

1. given to ``open_store`` (the dashboard passes Streamlit secrets ``[reliefcheck] id_key`` and
   ``anchor_key``);
2. the environment: ``RELIEFCHECK_ID_KEY``, ``RELIEFCHECK_ANCHOR_KEY`` (any text; its SHA-256 is
   the key);
3. the key file: ``$RELIEFCHECK_KEY_FILE``, else beside a SQLite store (``<store file>.keys``),
   else, for PostgreSQL, ``<user data folder>/reliefcheck/<host>-<port>-<database>.keys``. It is
   created on first use with random keys, readable by its owner only (mode 0600).

The database keeps only a check value of each key (a keyed hash of a fixed text) and refuses a
different key, because a different key would file the same patient under a new pseudonym and
misplace their days. Without its keys a store can still be read, but new uploads cannot be
matched to the patients already stored. docs/store.md says how to back the keys up.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.engine import make_url

from data.store.engine import StoreError
from data.store.tables import store_meta

ID_KEY_ENV = "RELIEFCHECK_ID_KEY"
ANCHOR_KEY_ENV = "RELIEFCHECK_ANCHOR_KEY"
KEY_FILE_ENV = "RELIEFCHECK_KEY_FILE"
#: The two keys, by the name used in the key file, in Streamlit secrets and in store_meta.
KEY_NAMES = ("id_key", "anchor_key")
_ENV = {"id_key": ID_KEY_ENV, "anchor_key": ANCHOR_KEY_ENV}
_CHECK_TEXT = {"id_key": b"reliefcheck id key check", "anchor_key": b"reliefcheck anchor key check"}


@dataclass(frozen=True)
class Keys:
    """Both keys (32 bytes each) and where each came from (for messages)."""

    id_key: bytes
    anchor_key: bytes
    id_source: str
    anchor_source: str


def key_from_text(text: str) -> bytes:
    """A key given as text (environment, secrets): its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def check_value(name: str, key: bytes) -> str:
    """The value stored in ``store_meta`` to recognise ``key`` (keyed BLAKE2b of a fixed text)."""
    return hashlib.blake2b(_CHECK_TEXT[name], key=key, digest_size=16).hexdigest()


def key_file_path(url: str) -> Path:
    """Where the key file of the store at ``url`` (a normalised URL) lives."""
    given = os.environ.get(KEY_FILE_ENV, "").strip()
    if given:
        return Path(given).expanduser()
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return Path(f"{u.database}.keys")
    base = os.environ.get("XDG_DATA_HOME", "").strip() or str(Path.home() / ".local" / "share")
    label = "-".join(str(x) for x in (u.host or "localhost", u.port or 5432, u.database or ""))
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
    return Path(base) / "reliefcheck" / f"{safe}.keys"


def _read_file(path: Path) -> dict[str, bytes]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"The key file {path} is not a regular file. Move it aside and retry.")
    if st.st_mode & 0o077:
        os.chmod(path, 0o600)  # a restored backup may have lost its permissions
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {n: bytes.fromhex(data[n]) for n in KEY_NAMES if n in data}
    except (OSError, ValueError, TypeError) as err:
        raise StoreError(
            f"The key file {path} cannot be read ({err}). Restore it from the practice's backup."
        ) from None


def _write_file(path: Path, keys: dict[str, bytes]) -> None:
    """Create the key file (mode 0600) holding ``keys``; never overwrite one that exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {
            "about": "ReliefCheck keys for one outcome store. Back this file up apart from "
            "the database; without it new uploads cannot be matched to stored patients.",
            **{n: k.hex() for n, k in keys.items()},
        },
        indent=2,
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # atomic, and never over a key file another process just made
    except FileExistsError:
        pass
    except OSError as err:
        raise StoreError(
            f"Cannot create the key file {path} ({err.strerror}). Set {KEY_FILE_ENV} to a "
            "writable place, or give the keys in the environment."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class KeySource:
    """How to find the keys of one store: explicit texts (or None) and the store's URL."""

    url: str
    given: tuple[tuple[str, str], ...] = ()

    def resolve(self, *, create: bool = True, legacy: dict[str, bytes] | None = None) -> Keys:
        """Both keys: given, else environment, else the key file (created when missing and
        ``create``; ``legacy`` keys found in an old database are written into a new file)."""
        found: dict[str, tuple[bytes, str]] = {}
        given = dict(self.given)
        for name in KEY_NAMES:
            text = given.get(name) or os.environ.get(_ENV[name], "")
            if text:
                how = "the dashboard's secrets" if given.get(name) else _ENV[name]
                found[name] = (key_from_text(text), how)
        if len(found) < len(KEY_NAMES):
            path = key_file_path(self.url)
            in_file = _read_file(path)
            missing = [n for n in KEY_NAMES if n not in in_file]
            if missing and create:
                fresh = {n: (legacy or {}).get(n) or secrets.token_bytes(32) for n in KEY_NAMES}
                if in_file:
                    raise StoreError(
                        f"The key file {path} lacks the {', '.join(missing)}. Restore it from "
                        "the practice's backup."
                    )
                _write_file(path, fresh)
                in_file = _read_file(path)
            for name in KEY_NAMES:
                if name not in found and name in in_file:
                    found[name] = (in_file[name], f"the key file {path}")
        if len(found) < len(KEY_NAMES):
            raise StoreError(
                f"This store's keys were not found (no key file at {key_file_path(self.url)}, "
                f"and {ID_KEY_ENV} / {ANCHOR_KEY_ENV} are not set). Restore the key file from "
                "the practice's backup, then try again."
            )
        return Keys(
            id_key=found["id_key"][0],
            anchor_key=found["anchor_key"][0],
            id_source=found["id_key"][1],
            anchor_source=found["anchor_key"][1],
        )


def _meta(conn: Connection, key: str) -> str | None:
    return conn.execute(select(store_meta.c.value).where(store_meta.c.key == key)).scalar()


def verify(conn: Connection, keys: Keys) -> None:
    """Refuse keys the store was not first used with; record check values on first use."""
    for name, key, source in (
        ("id_key", keys.id_key, keys.id_source),
        ("anchor_key", keys.anchor_key, keys.anchor_source),
    ):
        stored = _meta(conn, f"{name}_check")
        if stored is None:
            conn.execute(
                insert(store_meta).values(key=f"{name}_check", value=check_value(name, key))
            )
        elif stored != check_value(name, key):
            what = (
                "patient ids were turned into pseudonyms"
                if name == "id_key"
                else ("dated uploads were lined up")
            )
            raise StoreError(
                f"The {name.replace('_', ' ')} from {source} is not the one this store's {what} "
                f"with, so patients would be misfiled. Use the practice's original key (set "
                f"{_ENV[name]}, or restore the key file from backup), then try again."
            )


def has_key_checks(conn: Connection) -> bool:
    """Whether the store has been used with keys (it holds their check values)."""
    return any(_meta(conn, f"{n}_check") is not None for n in KEY_NAMES)


def take_legacy_anchor_key(conn: Connection) -> bytes | None:
    """Remove the anchor key an older store kept in its own database; return it (or None)."""
    own = _meta(conn, "anchor_key")
    if own is None:
        return None
    conn.execute(delete(store_meta).where(store_meta.c.key == "anchor_key"))
    return bytes.fromhex(own)
