"""Committing one validated upload: all of it in one transaction, or nothing (issue rule 3).

The same content again is a no-op that says so; an overlapping upload adds only what is new; a
row that differs from the stored assessment with the same key is reported and left alone unless
the uploader chooses replace (recorded in the audit log, undone by undoing the upload).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from data.schema import conform
from data.store import anchors, bulk, codec
from data.store.audit import actor_name
from data.store.engine import write_transaction
from data.store.results import UPLOAD_COUNTS, CommitResult, make_result, set_aside_table
from data.store.tables import (
    COMMITTED,
    KEY_COLUMNS,
    MS_PER_DAY,
    NO_DAY,
    NO_SESSION,
    assessments,
    uploads,
)
from data.store.writes import existing_rows, record_anchor_changes, stored_anchors


def _aligned_source_rows(validated: object, tidy: pd.DataFrame) -> pd.Series:
    src = getattr(validated, "source_row", None)
    if src is None or len(src) != len(tidy):
        return pd.Series(pd.NA, index=tidy.index, dtype="Int64")
    src = pd.Series(src)
    if src.index.equals(tidy.index):
        return src.astype("Int64")
    return pd.Series(src.to_numpy(), index=tidy.index).astype("Int64")


def _same_content(a_score: np.ndarray, b_score: np.ndarray, a_items, b_items) -> np.ndarray:
    """Same score (both missing counts as the same) and the same item answers."""
    scores = (a_score == b_score) | (np.isnan(a_score) & np.isnan(b_score))
    return scores & codec.same_items(codec.unpack_items(a_items), codec.unpack_items(b_items))


def _file_clashes(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Among rows with the same key in one file: (clash, extra). ``clash``: the key has rows
    with different content (all of them are set aside); ``extra``: exact repeats after the
    first (dropped)."""
    dup = rows.duplicated(list(KEY_COLUMNS), keep=False).to_numpy()
    clash = np.zeros(len(rows), dtype=bool)
    extra = np.zeros(len(rows), dtype=bool)
    if not dup.any():
        return clash, extra
    part = rows[dup]
    sig = pd.DataFrame(
        {
            **{c: part[c] for c in KEY_COLUMNS},
            "score": part["score"].fillna(-np.inf),
            "items": part["items"].map(lambda b: b.hex() if b is not None else ""),
        }
    )
    variants = sig.drop_duplicates().groupby(list(KEY_COLUMNS)).size()
    clashing = variants[variants > 1].index
    is_clash = pd.MultiIndex.from_frame(sig[list(KEY_COLUMNS)]).isin(clashing)
    clash[np.flatnonzero(dup)[is_clash]] = True
    repeats = sig.duplicated(keep="first").to_numpy() & ~is_clash
    extra[np.flatnonzero(dup)[repeats]] = True
    return clash, extra


def commit(
    engine: Engine,
    validated: object,
    *,
    filename: str,
    content_hash: str,
    uploader: str = "local",
    replace: bool = False,
    anchor_key: str | None = None,
    before_commit: Callable[[], None] | None = None,
) -> CommitResult:
    """Store the accepted rows of ``validated`` (a data.validation.Validated) as one upload.

    ``uploader``: who uploads (an e-mail, or ``local``; blank means ``local``), recorded on the
    upload and as the actor of its audit entries."""
    uploader = actor_name(uploader)
    given = conform(validated.tidy)
    src = _aligned_source_rows(validated, given).reset_index(drop=True)
    tidy = given.reset_index(drop=True)
    n_rejected = len(getattr(validated, "rejects", ()))
    stored_form = codec.stored_from_tidy(tidy)
    base = {"filename": filename, "n_rows": len(tidy), "n_rejected": n_rejected}
    with write_transaction(engine) as conn:
        if not replace:
            dup = conn.execute(
                select(uploads.c.id, uploads.c.filename, uploads.c.committed_at)
                .where(uploads.c.content_hash == content_hash, uploads.c.status == COMMITTED)
                .order_by(uploads.c.id)
                .limit(1)
            ).first()
            if dup is not None:
                bulk.audit(
                    conn, [_entry("duplicate-content", base, duplicate_of=dup.id)], actor=uploader
                )
                return make_result(
                    "duplicate-content", base, duplicate_of=dup.id, when=dup.committed_at
                )
        outcome = _classify(conn, tidy, src, stored_form, validated, anchor_key, replace)
        counts = outcome["counts"]
        if counts["n_added"] + counts["n_replaced"] == 0:
            bulk.audit(conn, [_entry("nothing-new", base, **counts)], actor=uploader)
            return make_result(
                "nothing-new",
                base,
                **counts,
                set_aside=outcome["set_aside"],
                notes=outcome["notes"],
            )
        upload_id = conn.execute(
            insert(uploads)
            .values(
                filename=filename,
                content_hash=content_hash,
                uploader=uploader,
                committed_at=bulk.now(),
                status=COMMITTED,
                n_rows=len(tidy),
                n_rejected=n_rejected,
                **{k: counts[k] for k in UPLOAD_COUNTS},
            )
            .returning(uploads.c.id)
        ).scalar_one()
        _write(conn, upload_id, outcome, replace, uploader)
        bulk.audit(
            conn,
            [_entry("commit", base, upload_id=upload_id, uploader=uploader, **counts)],
            actor=uploader,
        )
        bulk.bump_content_version(conn)
        if before_commit is not None:
            before_commit()
    return make_result(
        "committed",
        base,
        upload_id=upload_id,
        **counts,
        set_aside=outcome["set_aside"],
        notes=outcome["notes"],
    )


def _classify(conn, tidy, src, stored_form, validated, anchor_key, replace) -> dict:
    """Line the file up with the store and sort its rows: new, already stored, conflicting,
    clashing within the file, or impossible to line up. Reads only."""
    frames = anchors.file_frames(
        tidy,
        getattr(validated, "anchors", None),
        getattr(validated, "anchor_from_baseline", None),
        key_for=lambda: anchors.anchor_key(conn, anchor_key),
    )
    plan = anchors.plan(frames, stored_anchors(conn, frames.index))
    pid = stored_form["patient_id"].astype(str).to_numpy()
    per_row = plan.reindex(pid)
    reason = per_row["reason"].to_numpy()
    unaligned = reason != ""
    inc = stored_form.copy()
    inc["day_ms"] = anchors.shift_days(inc["day_ms"].to_numpy(), per_row["in_delta_ms"].to_numpy())
    clash, extra = _file_clashes(inc[~unaligned])
    clash_all = np.zeros(len(inc), dtype=bool)
    extra_all = np.zeros(len(inc), dtype=bool)
    clash_all[~unaligned], extra_all[~unaligned] = clash, extra
    cand = inc[~unaligned & ~clash_all & ~extra_all]
    old = existing_rows(conn, pd.Index(cand["patient_id"].astype(str).unique()))
    if len(old):
        shift = plan["shift_ms"].reindex(old["patient_id"].astype(str)).fillna(0).to_numpy()
        old["day_ms"] = anchors.shift_days(old["day_ms"].to_numpy(np.int64), shift.astype(np.int64))
    keyed = cand[list(KEY_COLUMNS)].astype({"patient_id": str, "instrument": str})
    old_keys = old[list(KEY_COLUMNS)].astype({"patient_id": str, "instrument": str})
    pos = pd.MultiIndex.from_frame(old_keys).get_indexer(pd.MultiIndex.from_frame(keyed))
    matched = pos >= 0
    same = np.zeros(len(cand), dtype=bool)
    if matched.any():
        same[matched] = _same_content(
            cand["score"].to_numpy("float64")[matched],
            old["score"].to_numpy("float64")[pos[matched]],
            cand["items"].to_numpy(object)[matched],
            old["items"].to_numpy(object)[pos[matched]],
        )
    conflict = matched & ~same
    stored_score = np.full(len(cand), np.nan)
    stored_score[matched] = old["score"].to_numpy("float64")[pos[matched]]
    counts = {
        "n_added": int((~matched).sum()),
        "n_already_stored": int(same.sum()),
        "n_conflicts": int(conflict.sum()),
        "n_replaced": int(conflict.sum()) if replace else 0,
        "n_unaligned": int(unaligned.sum()),
        "n_file_clashes": int(clash_all.sum()),
        "n_duplicates_in_file": int(extra_all.sum()),
    }
    aside = set_aside_table(
        tidy,
        src,
        cand.index[conflict],
        stored_score[conflict],
        replace,
        inc.index[clash_all],
        inc.index[unaligned],
        reason[unaligned],
    )
    gaps = plan[plan["baseline_gap_days"] >= 1]
    notes = tuple(
        f"Patient {p}: this file dates the baseline {g:.0f} days away from the baseline stored "
        "before; days were counted from the baseline in each file. Check the baseline dates."
        for p, g in gaps["baseline_gap_days"].items()
    )
    return {
        "counts": counts,
        "set_aside": aside,
        "notes": notes,
        "plan": plan,
        "new_rows": cand[~matched],
        "conflict_rows": cand[conflict],
        "conflict_old_ids": old["id"].to_numpy()[pos[conflict]],
        "conflict_old_scores": stored_score[conflict],
    }


def _write(conn: Connection, upload_id: int, outcome: dict, replace: bool, actor: str) -> None:
    """Apply a classified upload: anchors and stored days, replacements, new rows, audit."""
    plan = outcome["plan"]
    record_anchor_changes(conn, plan, upload_id)
    bulk.move_days(conn, plan["shift_ms"])
    to_insert = [outcome["new_rows"]]
    if replace and len(outcome["conflict_rows"]):
        ids = outcome["conflict_old_ids"]
        stmt = update(assessments).where(assessments.c.id == bindparam("row_id"))
        conn.execute(stmt.values(replaced_by=upload_id), [{"row_id": int(i)} for i in ids])
        rows = outcome["conflict_rows"]
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
                    outcome["conflict_old_scores"],
                    ids,
                    strict=True,
                )
            ],
            actor=actor,
        )
        to_insert.append(rows)
    bulk.insert_assessments(conn, pd.concat(to_insert), upload_id)


def _entry(action: str, base: dict, upload_id: int | None = None, **detail) -> dict:
    return {"action": action, "upload_id": upload_id, "detail": {**base, **detail}}
