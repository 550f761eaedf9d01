"""Committing one validated upload: all of it in one transaction, or nothing (issue rule 3).

The same content again is a no-op that says so; an overlapping upload adds only what is new; a
row that differs from the stored assessment with the same key is reported and left alone unless
the uploader chooses replace (recorded in the audit log, undone by undoing the upload). Every
committed upload's rows are also kept as the file gave them (kept.py), so that an undo can
replay the uploads still committed (undo.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update

from data.periods import baseline_months
from data.schema import conform
from data.store import anchors, bulk, codec, codes, kept, periods
from data.store.audit import actor_name
from data.store.classify import Outcome, classify
from data.store.engine import StoreError, write_transaction
from data.store.results import UPLOAD_COUNTS, CommitResult, make_result, set_aside_table
from data.store.tables import (
    COMMITTED,
    MS_PER_DAY,
    NO_DAY,
    NO_SESSION,
    assessments,
    store_meta,
    uploads,
)
from data.store.writes import existing_rows, known_instruments, set_anchors, stored_anchors


def _aligned_source_rows(validated: object, tidy: pd.DataFrame) -> pd.Series:
    src = getattr(validated, "source_row", None)
    if src is None or len(src) != len(tidy):
        return pd.Series(pd.NA, index=tidy.index, dtype="Int64")
    src = pd.Series(src)
    if src.index.equals(tidy.index):
        return src.astype("Int64")
    return pd.Series(src.to_numpy(), index=tidy.index).astype("Int64")


def commit(
    engine: Engine,
    validated: object,
    *,
    filename: str,
    content_hash: str,
    uploader: str = "local",
    replace: bool = False,
    anchor_key: bytes | str | None = None,
    before_commit: Callable[[], None] | None = None,
    expected_version: int | None = None,
) -> CommitResult:
    """Store the accepted rows of ``validated`` (a data.validation.validate.Validated) as one upload.

    ``uploader``: who uploads (an e-mail, or ``local``; blank means ``local``), recorded on the
    upload and as the actor of its audit entries. ``expected_version``: the store's content
    version when the upload was previewed (preview.py); when the store has changed since, the
    commit is refused (StoreError) and nothing is written, so the commit does what the preview
    showed."""
    uploader = actor_name(uploader)
    tidy, src, stored_form, base = prepare(validated, filename)
    with write_transaction(engine) as conn:
        if expected_version is not None and content_version(conn) != expected_version:
            raise StoreError(
                "The outcome store changed after this file was checked (another upload or an "
                "undo), so what the check showed may no longer hold. Nothing was stored. Check "
                "the file again to see what it would change now."
            )
        if not replace:
            dup = same_content_upload(conn, content_hash)
            if dup is not None:
                bulk.audit(
                    conn, [_entry("duplicate-content", base, duplicate_of=dup.id)], actor=uploader
                )
                return make_result(
                    "duplicate-content", base, duplicate_of=dup.id, when=dup.committed_at
                )
        frames, _old, outcome = sort_upload(
            conn, validated, tidy, stored_form, anchor_key, replace=replace
        )
        counts = outcome.counts()
        aside, notes = report(outcome, tidy, src)
        if not outcome.changes_anything():
            bulk.audit(conn, [_entry("nothing-new", base, **counts)], actor=uploader)
            return make_result("nothing-new", base, **counts, set_aside=aside, notes=notes)
        upload_id = conn.execute(
            insert(uploads)
            .values(
                filename=filename,
                content_hash=content_hash,
                uploader=uploader,
                committed_at=bulk.now(),
                status=COMMITTED,
                n_rows=len(tidy),
                n_rejected=base["n_rejected"],
                replace_conflicts=bool(replace),
                **{k: counts[k] for k in UPLOAD_COUNTS},
            )
            .returning(uploads.c.id)
        ).scalar_one()
        ins_id, label_id = codes.encode(conn, stored_form)
        stored_form["instrument_id"], stored_form["label_id"] = ins_id, label_id
        _write(conn, upload_id, outcome, stored_form, uploader)
        kept.write(conn, upload_id, stored_form, frames)
        _write_periods(conn, upload_id, validated, frames, anchor_key)
        bulk.audit(
            conn,
            [_entry("commit", base, upload_id=upload_id, uploader=uploader, **counts)],
            actor=uploader,
        )
        bulk.bump_content_version(conn)
        if before_commit is not None:
            before_commit()
    return make_result(
        "committed", base, upload_id=upload_id, **counts, set_aside=aside, notes=notes
    )


def prepare(validated: object, filename: str) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, dict]:
    """An upload's tidy rows (index reset), their source rows, their stored form and the
    message's base facts (file name, rows offered, rows rejected)."""
    given = conform(validated.tidy)
    src = _aligned_source_rows(validated, given).reset_index(drop=True)
    tidy = given.reset_index(drop=True)
    n_rejected = len(getattr(validated, "rejects", ()))
    base = {"filename": filename, "n_rows": len(tidy), "n_rejected": n_rejected}
    return tidy, src, codec.stored_from_tidy(tidy), base


def sort_upload(
    conn: Connection,
    validated: object,
    tidy: pd.DataFrame,
    stored_form: pd.DataFrame,
    anchor_key: bytes | str | None,
    *,
    replace: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, Outcome]:
    """Line the upload up with the store and sort its rows (reads only; the commit and its
    preview both call this): the file's anchors (anchors.file_frames), the stored rows of its
    patients (writes.existing_rows) and the Outcome (classify.classify). Sets
    ``stored_form["instrument_id"]`` to the store's codes (negative for unknown instruments)."""
    frames = anchors.file_frames(
        tidy,
        getattr(validated, "anchors", None),
        getattr(validated, "anchor_from_baseline", None),
        key_for=lambda: anchors.anchor_key(conn, anchor_key),
    )
    stored_form["instrument_id"] = known_instruments(conn, stored_form["instrument"])
    old = existing_rows(conn, frames.index)
    outcome = classify(stored_form, frames, stored_anchors(conn, frames.index), old, replace)
    return frames, old, outcome


def content_version(conn: Connection) -> int:
    """The store's content version (bulk.bump_content_version counts it up)."""
    value = conn.execute(
        select(store_meta.c.value).where(store_meta.c.key == "content_version")
    ).scalar()
    return int(value or 0)


def same_content_upload(conn: Connection, content_hash: str) -> Row | None:
    """The earliest committed upload with this content that still holds a stored row (replaced
    or not), or None. An upload that holds none adds nothing to what the committed uploads,
    replayed, would give (after an undo its rows may no longer line up, say), so a file with its
    content is not a duplicate: it is classified like any other."""
    holds = select(assessments.c.id).where(assessments.c.upload_id == uploads.c.id).exists()
    return conn.execute(
        select(uploads.c.id, uploads.c.filename, uploads.c.committed_at)
        .where(uploads.c.content_hash == content_hash, uploads.c.status == COMMITTED, holds)
        .order_by(uploads.c.id)
        .limit(1)
    ).first()


def report(out: Outcome, tidy: pd.DataFrame, src: pd.Series) -> tuple[pd.DataFrame, tuple]:
    """The set-aside table and the notes of a classified upload (positions = tidy's index)."""
    aside = set_aside_table(
        tidy,
        src,
        out.cand[out.conflict],
        out.stored_score[out.conflict],
        out.replace,
        np.flatnonzero(out.clash),
        np.flatnonzero(out.unaligned),
        out.reason[out.unaligned],
    )
    gaps = out.plan[out.plan["baseline_gap_days"] >= 1]
    notes = tuple(
        f"Patient {p}: this file dates the baseline {g:.0f} days away from the baseline stored "
        "before; days were counted from the baseline in each file. Check the baseline dates."
        for p, g in gaps["baseline_gap_days"].items()
    )
    return aside, notes


def _write(
    conn: Connection, upload_id: int, out: Outcome, stored_form: pd.DataFrame, actor: str
) -> None:
    """Apply a classified upload: anchors and stored days, replacements, new rows, audit."""
    set_anchors(conn, out.plan[out.plan["changed"]], upload_id)
    bulk.move_days(conn, out.plan["shift_ms"])
    ids = out.replaced_ids()
    if len(ids):
        stmt = update(assessments).where(assessments.c.id == bindparam("row_id"))
        conn.execute(stmt.values(replaced_by=upload_id), [{"row_id": int(i)} for i in ids])
        rows = out.aligned.iloc[out.cand[out.conflict]]
        bulk.audit(
            conn,
            [
                {
                    "action": "replace",
                    "upload_id": upload_id,
                    "patient_id": p,
                    "detail": {
                        "instrument": ins,
                        "session": None if s == NO_SESSION else int(s),
                        "day": None if d == NO_DAY else d / MS_PER_DAY,
                        "old_score": old,
                        "new_score": new,
                        "replaced_row": int(i),
                    },
                }
                for p, ins, s, d, new, old, i in zip(
                    rows["patient_id"].astype(str),
                    rows["instrument"].astype(str),
                    rows["session_key"],
                    rows["day_ms"],
                    rows["score"],
                    out.old_scores,
                    ids,
                    strict=True,
                )
            ],
            actor=actor,
        )
    store = out.rows_to_store()
    coded = stored_form[["instrument_id", "label_id"]].iloc[store.index]
    store = store.assign(
        instrument_id=coded["instrument_id"].to_numpy(), label_id=coded["label_id"].to_numpy()
    )
    bulk.insert_assessments(conn, store, upload_id)


def _write_periods(
    conn: Connection,
    upload_id: int,
    validated: object,
    frames: pd.DataFrame,
    anchor_key: bytes | str | None,
) -> None:
    """Keep the baseline month of each patient of the upload whose file dated their baseline
    row (``frames``: anchors.file_frames, whose ``is_baseline`` says so; data/periods.py codes
    the month, periods.py masks it with the anchor key). Files without dates keep none."""
    dated = frames["anchor_ms"].notna().to_numpy(dtype=bool) & frames["is_baseline"].to_numpy(
        dtype=bool
    )
    base = pd.Series(True, index=frames.index[dated])
    months = baseline_months(getattr(validated, "anchors", None), base)
    if len(months):
        periods.write(conn, upload_id, months, anchors.anchor_key(conn, anchor_key))


def _entry(action: str, base: dict, upload_id: int | None = None, **detail) -> dict:
    return {"action": action, "upload_id": upload_id, "detail": {**base, **detail}}
