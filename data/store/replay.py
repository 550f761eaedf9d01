"""Re-deriving patients from the uploads still committed, in memory (undo, issue 10).

The store's content is always what the committed uploads, replayed in commit order into an
empty store, would give. Patients are independent of each other in that replay (their rows,
keys and anchors never mix), so an undo only has to replay the patients the undone upload
touched: each committed upload's kept rows of those patients (kept.py), in commit order, through
the commit's own rules (classify.py). Two rules span patients: an upload adding and replacing
nothing is not stored at all ("nothing-new", and then its anchors are not taken either), and a
file with the content of an upload already stored is a duplicate. Both are settled with
``adds_elsewhere``, the uploads that hold stored rows of other patients (they are stored
whatever happens here); undo.py widens the replay when an upload's fate changes (see there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.store import anchors, codec
from data.store.classify import classify
from data.store.tables import NO_DAY
from data.store.writes import ROW_COLUMNS

#: Columns of a replayed row (``seq``: the order in which the replay stored it).
COLUMNS = ("seq", *ROW_COLUMNS)


@dataclass(frozen=True)
class Replayed:
    """The patients' rows as the replay stored them (COLUMNS; ``replaced_by`` 0 when not
    replaced), their anchors (index patient_id: anchor_ms, is_baseline, upload_id) and the
    uploads the replay stored (the others were duplicates or brought nothing new)."""

    rows: pd.DataFrame
    anchors: pd.DataFrame
    stored: frozenset[int]


def _empty_rows() -> pd.DataFrame:
    return codec.empty_stored_rows(seq=np.int64, upload_id=np.int64, replaced_by=np.int64)


def _empty_anchors() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "anchor_ms": pd.array([], dtype="Int64"),
            "is_baseline": pd.array([], dtype="boolean"),
            "upload_id": pd.array([], dtype="Int64"),
        },
        index=pd.Index([], dtype=object, name="patient_id"),
    )


def file_frames(rows: pd.DataFrame, kept_anchors: pd.DataFrame) -> pd.DataFrame:
    """anchors.file_frames of one upload, from its kept rows and kept anchors (index
    patient_id: anchor_ms, is_baseline)."""
    pid = rows["patient_id"].to_numpy(dtype=object)
    patients = pd.Index(pd.unique(pid), name="patient_id")
    known = pd.Series(rows["day_ms"].to_numpy() != NO_DAY)
    has_days = known.groupby(pid).any().reindex(patients, fill_value=False)
    given = kept_anchors.reindex(patients)
    return pd.DataFrame(
        {
            "has_days": has_days.to_numpy(dtype=bool),
            "anchor_ms": given["anchor_ms"].astype("Int64").array,
            "is_baseline": given["is_baseline"].astype("boolean").fillna(True).to_numpy(bool),
        },
        index=patients,
    )


def replay(
    kept_rows: pd.DataFrame,
    kept_anchors: pd.DataFrame,
    uploads: pd.DataFrame,
    adds_elsewhere: set[int],
) -> Replayed:
    """Replay the committed uploads' kept rows of some patients, in upload order.

    ``kept_rows``: kept.unpack output (upload_id and the kept row columns, file order within
    each upload). ``kept_anchors``: upload_id, patient_id, anchor_ms, is_baseline per kept
    (upload, patient). ``uploads``: index upload_id; ``replace_conflicts`` (the upload's replace
    choice) and ``content_hash``. ``adds_elsewhere``: uploads that hold stored rows of patients
    outside this replay (they are stored whatever happens here).

    As in a commit, an upload without replace whose content is that of an upload the replay
    has stored is a duplicate (skipped), and one that adds and replaces nothing is not stored.
    """
    state = _empty_rows()
    marks = _empty_anchors()
    seq = 0
    rows_by_upload = dict(tuple(kept_rows.groupby("upload_id", sort=True)))
    anchors_by_upload = {
        int(u): part.set_index("patient_id")[["anchor_ms", "is_baseline"]]
        for u, part in kept_anchors.groupby("upload_id")
    }
    stored_content: set[str] = set()
    applied: set[int] = set()
    for upload_id, rows in rows_by_upload.items():
        upload_id = int(upload_id)
        replace = bool(uploads.at[upload_id, "replace_conflicts"])
        content = str(uploads.at[upload_id, "content_hash"])
        if not replace and content in stored_content and upload_id not in adds_elsewhere:
            continue  # duplicate-content
        given = anchors_by_upload.get(upload_id, _empty_anchors()[["anchor_ms", "is_baseline"]])
        frames = file_frames(rows, given)
        live = (state["replaced_by"].to_numpy() == 0) & state["patient_id"].isin(frames.index)
        old = state[live.to_numpy()].rename(columns={"seq": "id"})
        out = classify(
            rows.reset_index(drop=True),
            frames,
            marks[marks.index.isin(frames.index)],
            old,
            replace,
        )
        if not out.changes_anything() and upload_id not in adds_elsewhere:
            continue  # nothing-new: not stored, its anchors not taken
        stored_content.add(content)
        applied.add(upload_id)
        marks = _take_anchors(marks, out.plan, upload_id)
        shift = out.plan["shift_ms"]
        shift = shift[shift != 0]
        if len(shift):
            by = shift.reindex(state["patient_id"].to_numpy()).fillna(0).to_numpy(np.int64)
            state["day_ms"] = anchors.shift_days(state["day_ms"].to_numpy(np.int64), by)
        replaced = state["seq"].isin(out.replaced_ids()).to_numpy()
        state.loc[replaced, "replaced_by"] = upload_id
        added = out.rows_to_store()
        if len(added):
            added = added.assign(
                seq=np.arange(seq, seq + len(added), dtype=np.int64),
                upload_id=upload_id,
                replaced_by=0,
            )[list(COLUMNS)]
            seq += len(added)
            state = pd.concat([state, added], ignore_index=True) if len(state) else added
    return Replayed(rows=state.reset_index(drop=True), anchors=marks, stored=frozenset(applied))


def _take_anchors(marks: pd.DataFrame, plan: pd.DataFrame, upload_id: int) -> pd.DataFrame:
    """The anchors after an upload's changed ones are taken."""
    changed = plan[plan["changed"].to_numpy(dtype=bool)]
    if changed.empty:
        return marks
    new = pd.DataFrame(
        {
            "anchor_ms": changed["new_anchor_ms"].astype("Int64").array,
            "is_baseline": pd.array(changed["new_is_baseline"].astype(bool), dtype="boolean"),
            "upload_id": pd.array([upload_id] * len(changed), dtype="Int64"),
        },
        index=pd.Index(changed.index.astype(str), dtype=object, name="patient_id"),
    )
    kept = marks[~marks.index.isin(new.index)]
    return pd.concat([kept, new]) if len(kept) else new
