"""Claim settings frozen before the data arrive: a pre-registration kept in the store.

An owner can freeze the claims' settings (thresholds, the primary claim, the windows) so that
every later result can show whether it used them. The store keeps each freeze as the settings'
JSON text exactly as given, its SHA-256 and when, by whom and how many scores were stored at the
time; rows are only ever added. The hash is checked again on every read, so a settings row
changed behind the product's back shows up as "does not verify" wherever the stamp is shown.
The store treats the settings as opaque text: what they mean is analysis.settings_stamp's
business.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)

from data.store import bulk
from data.store.audit import actor_name
from data.store.engine import StoreError, write_transaction
from data.store.tables import assessments, audit_log, frozen_settings

#: Settings JSON longer than this is refused (the claims' settings take under 1 kB).
MAX_SETTINGS_CHARS = 20_000


def v7_create(conn: Connection) -> None:
    """Migration 7 (frozen here): the ``frozen_settings`` table."""
    md = MetaData()
    Table(
        "frozen_settings",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("frozen_at", Text, nullable=False),
        Column("actor", Text, nullable=False),
        Column("settings", Text, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("n_scores", Integer, nullable=False),
    ).create(conn, checkfirst=True)


def sha256_text(text: str) -> str:
    """SHA-256 (hex) of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FrozenRecord:
    """One freeze of the claim settings, as stored."""

    id: int
    frozen_at: str
    actor: str
    settings: str
    sha256: str
    n_scores: int

    @property
    def verified(self) -> bool:
        """True when the stored hash matches the stored settings text."""
        return sha256_text(self.settings) == self.sha256


def freeze(engine: Engine, settings: str, actor: str | None) -> FrozenRecord:
    """Store one freeze of ``settings`` (a JSON object as text) and log it in the audit log."""
    if len(settings) > MAX_SETTINGS_CHARS:
        raise StoreError(f"Claim settings longer than {MAX_SETTINGS_CHARS:,} characters.")
    try:
        ok = isinstance(json.loads(settings), dict)
    except ValueError:
        ok = False
    if not ok:
        raise StoreError("Claim settings are frozen as a JSON object; nothing was stored.")
    digest, at, who = sha256_text(settings), bulk.now(), actor_name(actor)
    with write_transaction(engine) as conn:
        n = conn.execute(
            select(func.count()).select_from(assessments).where(assessments.c.replaced_by.is_(None))
        ).scalar()
        new_id = conn.execute(
            insert(frozen_settings).values(
                frozen_at=at, actor=who, settings=settings, sha256=digest, n_scores=int(n or 0)
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(audit_log).values(
                at=at,
                action="freeze-settings",
                actor=who,
                detail=json.dumps({"sha256": digest, "n_scores": int(n or 0)}),
            )
        )
    return FrozenRecord(
        id=int(new_id),
        frozen_at=at,
        actor=who,
        settings=settings,
        sha256=digest,
        n_scores=int(n or 0),
    )


def records(conn: Connection) -> list[FrozenRecord]:
    """Every freeze, oldest first."""
    rows = conn.execute(select(frozen_settings).order_by(frozen_settings.c.id)).all()
    return [
        FrozenRecord(
            id=int(r.id),
            frozen_at=r.frozen_at,
            actor=r.actor,
            settings=r.settings,
            sha256=r.sha256,
            n_scores=int(r.n_scores),
        )
        for r in rows
    ]
