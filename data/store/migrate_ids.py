"""Schema migration to pseudonymous ids: a store written before keeps nothing identifying.

In one transaction (the migration's):

* the anchor key an older store kept in its own ``store_meta`` is moved out to the key file
  (keys.py) and deleted from the database;
* every patient id, in every table that holds one, becomes its pseudonym under the id key;
* each stored anchor time is moved from the shift of the old id to the shift of the pseudonym
  (the shift is derived from the id the store holds), so differences between a patient's
  anchors, which are all that is ever used, stay exact;
* file names become safe labels and free-text uploaders ``local`` (names.py).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sqlalchemy import Connection, inspect, text

from data.store.keys import Keys, KeySource, take_legacy_anchor_key, verify
from data.store.names import safe_actor, safe_file_label
from data.store.pseudonyms import pseudonym

#: Tables holding patient ids, with their columns holding shifted anchor times. Tables that do
#: not exist in a store are skipped.
ID_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("assessments", ()),
    ("patient_anchors", ("anchor_ms",)),
    ("anchor_changes", ("old_anchor_ms", "new_anchor_ms")),
    ("audit_log", ()),
    ("upload_patients", ("anchor_ms",)),
)


def _distinct_ids(conn: Connection, present: list[str]) -> list[str]:
    union = " UNION ".join(
        f"SELECT DISTINCT patient_id FROM {t} WHERE patient_id IS NOT NULL" for t in present
    )
    return [str(r[0]) for r in conn.execute(text(union))] if present else []


def pseudonymise_store(conn: Connection, source: KeySource) -> None:
    """Apply the migration described in the module docstring."""
    names = set(inspect(conn).get_table_names())
    _relabel_uploads(conn, names)
    present = [t for t, _ in ID_TABLES if t in names]
    old = _distinct_ids(conn, present)
    legacy = take_legacy_anchor_key(conn)
    if not old and legacy is None:
        return  # a new or empty store: its keys are found or made on first upload
    keys = source.resolve(legacy={"anchor_key": legacy} if legacy else None)
    verify(conn, keys)
    _pseudonymise_ids(conn, names, old, keys)


def _pseudonymise_ids(conn: Connection, names: set[str], old: list[str], keys: Keys) -> None:
    """Every stored id becomes its pseudonym; anchor times move with the id's shift."""
    from data.store.anchors import patient_shift_ms

    new = [pseudonym(p, keys.id_key) for p in old]
    keep = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    if keep:
        old_ids = pd.Index([old[i] for i in keep])
        new_ids = pd.Index([new[i] for i in keep])
        delta = patient_shift_ms(new_ids, keys.anchor_key) - patient_shift_ms(
            old_ids, keys.anchor_key
        )
        conn.execute(
            text("CREATE TEMPORARY TABLE rc_id_map (old TEXT PRIMARY KEY, new TEXT, delta BIGINT)")
        )
        conn.execute(
            text("INSERT INTO rc_id_map (old, new, delta) VALUES (:o, :n, :d)"),
            [
                {"o": o, "n": n, "d": int(d)}
                for o, n, d in zip(old_ids, new_ids, delta.astype(np.int64), strict=True)
            ],
        )
        for table, ms_cols in ID_TABLES:
            if table not in names:
                continue
            moves = ", ".join(
                f"{c} = CASE WHEN {c} IS NULL THEN NULL ELSE {c} + "
                f"(SELECT delta FROM rc_id_map WHERE old = {table}.patient_id) END"
                for c in ms_cols
            )
            sets = f"{moves + ', ' if moves else ''}patient_id = "
            sets += f"(SELECT new FROM rc_id_map WHERE old = {table}.patient_id)"
            conn.execute(
                text(f"UPDATE {table} SET {sets} WHERE patient_id IN (SELECT old FROM rc_id_map)")
            )
        conn.execute(text("DROP TABLE rc_id_map"))


def _relabel_uploads(conn: Connection, names: set[str]) -> None:
    """File names become safe labels and typed uploader names ``local`` (names.py)."""
    rows = conn.execute(text("SELECT id, filename, uploader, undone_by FROM uploads")).all()
    fixes = [
        {
            "i": r.id,
            "f": safe_file_label(r.filename),
            "u": safe_actor(r.uploader) if r.uploader else r.uploader,
            "b": safe_actor(r.undone_by) if r.undone_by else r.undone_by,
        }
        for r in rows
    ]
    if fixes:
        conn.execute(
            text("UPDATE uploads SET filename = :f, uploader = :u, undone_by = :b WHERE id = :i"),
            fixes,
        )
    _relabel_audit_files(conn)
    for table in ("audit_log", "download_log"):
        if table in names:
            actors = [r[0] for r in conn.execute(text(f"SELECT DISTINCT actor FROM {table}"))]
            changes = [
                {"a": a, "s": safe_actor(a)} for a in actors if a is not None and safe_actor(a) != a
            ]
            if changes:
                conn.execute(text(f"UPDATE {table} SET actor = :s WHERE actor = :a"), changes)


def _relabel_audit_files(conn: Connection) -> None:
    """File names inside the audit log's details become safe labels too."""
    rows = conn.execute(
        text("SELECT id, detail FROM audit_log WHERE detail LIKE '%\"filename\"%'")
    ).all()
    fixes = []
    for r in rows:
        try:
            detail = json.loads(r.detail)
        except ValueError:
            continue
        if isinstance(detail, dict) and isinstance(detail.get("filename"), str):
            label = safe_file_label(detail["filename"])
            if label != detail["filename"]:
                fixes.append({"i": r.id, "d": json.dumps({**detail, "filename": label})})
    if fixes:
        conn.execute(text("UPDATE audit_log SET detail = :d WHERE id = :i"), fixes)
