"""What a commit reports: the CommitResult and its table of set-aside rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from data.schema import STRING
from data.store.messages import commit_message

Status = Literal["committed", "duplicate-content", "nothing-new"]
SET_ASIDE_COLUMNS = (
    "source_row",
    "patient_id",
    "instrument",
    "session",
    "day",
    "score",
    "stored_score",
    "kind",
    "reason",
)


@dataclass(frozen=True, eq=False)
class CommitResult:
    """What one commit did. ``n_rows`` = n_added + n_already_stored + n_conflicts + n_unaligned
    + n_file_clashes + n_duplicates_in_file; ``n_replaced`` of the conflicts were replaced.

    ``set_aside``: every accepted row that was not simply added or already stored: conflicts
    (``kind`` "conflict" or "replaced", with the stored score), rows that differ from another
    row of the file with the same key ("file-clash"), and rows whose days cannot be lined up
    with the patient's stored days ("unaligned"). ``reason`` says why, for the clinician.
    """

    upload_id: int | None
    status: Status
    filename: str
    n_rows: int
    n_added: int
    n_already_stored: int
    n_conflicts: int
    n_replaced: int
    n_unaligned: int
    n_file_clashes: int
    n_duplicates_in_file: int
    n_rejected: int
    set_aside: pd.DataFrame
    notes: tuple[str, ...]
    duplicate_of: int | None
    message: str

    @property
    def committed(self) -> bool:
        """True when the upload was stored (something was added or replaced)."""
        return self.status == "committed"

    @property
    def conflicts(self) -> pd.DataFrame:
        """The rows that differ from a stored assessment (replaced or left alone)."""
        return self.set_aside[self.set_aside["kind"].isin(["conflict", "replaced"])]


UPLOAD_COUNTS = ("n_added", "n_already_stored", "n_conflicts", "n_replaced", "n_unaligned")


def set_aside_table(tidy, src, conflict_idx, stored_score, replace, clash_idx, unaligned_idx, why):
    """The set-aside table (SET_ASIDE_COLUMNS), in file order."""
    parts = []
    if len(conflict_idx):
        verb = "replaced" if replace else "conflict"
        text_ = (
            "differed from the stored assessment with the same patient, instrument, session "
            "and day; the stored one was replaced (undo the upload to restore it)."
            if replace
            else "differs from the stored assessment with the same patient, instrument, "
            "session and day; it was left alone. Upload again with replace to use this value."
        )
        parts.append((conflict_idx, verb, text_, stored_score))
    if len(clash_idx):
        text_ = (
            "the file has other rows for the same patient, instrument, session and day with "
            "different scores; none of them was stored. Keep one row per assessment."
        )
        parts.append((clash_idx, "file-clash", text_, np.nan))
    if len(unaligned_idx):
        parts.append((unaligned_idx, "unaligned", why, np.nan))
    frames = []
    for idx, kind, reason, stored in parts:
        t = tidy.loc[idx]
        frames.append(
            pd.DataFrame(
                {
                    "source_row": src.loc[idx].astype("Int64"),
                    "patient_id": t["patient_id"],
                    "instrument": t["instrument"],
                    "session": t["session"],
                    "day": t["day"],
                    "score": t["score"],
                    "stored_score": stored,
                    "kind": kind,
                    "reason": "This row " + pd.Series(reason, index=idx).astype(str),
                },
                index=idx,
            )
        )
    if not frames:
        empty = {c: pd.Series(dtype=d) for c, d in _ASIDE_DTYPES.items()}
        return pd.DataFrame(empty)
    out = pd.concat(frames).astype(_ASIDE_DTYPES)
    return out.sort_values("source_row", kind="stable").reset_index(drop=True)


_ASIDE_DTYPES = {
    "source_row": "Int64",
    "patient_id": STRING,
    "instrument": STRING,
    "session": "Int64",
    "day": "float64",
    "score": "float64",
    "stored_score": "float64",
    "kind": STRING,
    "reason": STRING,
}


def make_result(
    status: Status,
    base: dict,
    *,
    upload_id=None,
    duplicate_of=None,
    when=None,
    set_aside=None,
    notes=(),
    **counts,
) -> CommitResult:
    full = {
        k: int(counts.get(k, 0)) for k in (*UPLOAD_COUNTS, "n_file_clashes", "n_duplicates_in_file")
    }
    aside = (
        set_aside
        if set_aside is not None
        else set_aside_table(pd.DataFrame(), pd.Series(dtype="Int64"), [], [], False, [], [], [])
    )
    return CommitResult(
        upload_id=upload_id,
        status=status,
        filename=base["filename"],
        n_rows=base["n_rows"],
        n_rejected=base["n_rejected"],
        set_aside=aside,
        notes=tuple(notes),
        duplicate_of=duplicate_of,
        message=commit_message(status, base, full, upload_id, duplicate_of, when, notes),
        **full,
    )
