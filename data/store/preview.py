"""What a commit would do, worked out before anything is written (issue 12, point 3).

``preview`` runs the commit's own steps (commit.prepare, commit.same_content_upload,
commit.sort_upload: the same classification) inside one read transaction and writes nothing. It
says how many rows are new, already stored, in conflict with a stored score (both values side
by side), cannot be lined up with the patient's stored days, or clash inside the file, for
either choice (keep the stored scores, or replace them with the file's). It also flags patients
whose id is stored but who look like somebody else: another protocol than stored, or a baseline
dated more than ``BASELINE_APART_DAYS`` from the stored one. The commit can then be told the
store's content version the preview saw (``expected_version``), and refuses if the store has
changed since, so it does exactly what the preview showed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from data.schema import STRING
from data.store.codes import read_lookups
from data.store.commit import content_version, prepare, report, same_content_upload, sort_upload
from data.store.engine import read_connection
from data.store.results import Status

#: Two baselines of one patient id dated more than this many days apart (about two months) are
#: flagged as possibly two different patients: a course of KAP, from baseline to the last
#: follow-up, is rarely shorter, and a practice re-baselining a returning patient gives them a
#: new id by convention. Only the difference between two anchors of one patient is used (their
#: secret per-patient shift cancels; anchors.py).
BASELINE_APART_DAYS = 60

#: Columns of ``CommitPreview.suspects``: the file's id, the store's pseudonym, and why.
SUSPECT_COLUMNS = ("patient_id", "store_id", "reason")


@dataclass(frozen=True, eq=False)
class CommitPreview:
    """What committing one validated upload would do now (nothing written).

    ``classified``: the counts of the classification (CommitResult's n_* fields, keeping the
    stored scores); ``counts(replace)`` gives the counts the commit will report for each choice.
    ``set_aside``: the rows a commit keeping the stored scores would set aside (as in
    CommitResult, file's ids): conflicts with their ``stored_score`` beside ``score``, clashes
    inside the file and rows that cannot be lined up. ``suspects``: ids that look like a
    different patient (SUSPECT_COLUMNS). ``content_version``: the store's version read, to pass
    to the commit as ``expected_version``.
    """

    filename: str
    n_rows: int
    n_rejected: int
    duplicate_of: int | None
    duplicate_when: str | None
    classified: dict[str, int]
    set_aside: pd.DataFrame
    suspects: pd.DataFrame
    notes: tuple[str, ...]
    content_version: int

    @property
    def conflicts(self) -> pd.DataFrame:
        """The rows whose score differs from the stored one (stored and new side by side)."""
        return self.set_aside[self.set_aside["kind"] == "conflict"]

    @property
    def n_conflicts(self) -> int:
        """How many rows differ from a stored score."""
        return int(self.classified["n_conflicts"])

    def counts(self, replace: bool) -> dict[str, int]:
        """The counts the commit will report with this choice (CommitResult's n_* fields). A
        file whose content is stored already is a no-op without replace: every count is 0."""
        if not replace and self.duplicate_of is not None:
            return {k: 0 for k in self.classified}
        return {**self.classified, "n_replaced": self.n_conflicts if replace else 0}

    def status(self, replace: bool) -> Status:
        """The status the commit will report with this choice."""
        if not replace and self.duplicate_of is not None:
            return "duplicate-content"
        c = self.counts(replace)
        return "committed" if c["n_added"] or c["n_replaced"] else "nothing-new"


def preview(
    engine: Engine,
    validated: object,
    *,
    filename: str,
    content_hash: str,
    anchor_key: bytes | str | None = None,
) -> CommitPreview:
    """What ``commit(engine, validated, ...)`` would do, in one read transaction (patient ids
    as stored: pass a pseudonymised upload, as Store.preview does)."""
    tidy, src, stored_form, base = prepare(validated, filename)
    with read_connection(engine) as conn:
        version = content_version(conn)
        dup = same_content_upload(conn, content_hash)
        _frames, old, outcome = sort_upload(
            conn, validated, tidy, stored_form, anchor_key, replace=False
        )
        stored_protocol = (
            pd.Series(
                read_lookups(conn).labels_of(old["label_id"].to_numpy())["protocol"].to_pandas(),
                dtype=STRING,
            )
            if len(old)
            else pd.Series(dtype=STRING)
        )
    aside, notes = report(outcome, tidy, src)
    suspects = different_patients(
        outcome.plan, tidy, old["patient_id"].astype(str).to_numpy(), stored_protocol
    )
    return CommitPreview(
        filename=filename,
        n_rows=base["n_rows"],
        n_rejected=base["n_rejected"],
        duplicate_of=None if dup is None else int(dup.id),
        duplicate_when=None if dup is None else dup.committed_at,
        classified=outcome.counts(),
        set_aside=aside,
        suspects=suspects,
        notes=notes,
        content_version=version,
    )


def different_patients(
    plan: pd.DataFrame,
    tidy: pd.DataFrame,
    stored_patient: np.ndarray,
    stored_protocol: pd.Series,
) -> pd.DataFrame:
    """Patients of the file already stored who look like someone else (SUSPECT_COLUMNS, with
    ``store_id`` = ``patient_id`` = the id as stored; one row per patient, reasons joined):
    a protocol in the file that none of their stored rows has, or two baselines more than
    BASELINE_APART_DAYS apart (anchors.plan's ``baseline_gap_days``)."""
    existed = plan.index[plan["existed"].to_numpy(dtype=bool)]
    reasons: list[pd.Series] = []
    if len(existed) and len(stored_patient):
        stored = pd.DataFrame(
            {"patient_id": stored_patient, "protocol": stored_protocol.to_numpy(dtype=object)}
        ).drop_duplicates()
        ours = tidy[["patient_id", "protocol"]].astype(str).drop_duplicates()
        ours = ours[ours["patient_id"].isin(existed)]
        both = ours.merge(stored, on=["patient_id", "protocol"], how="left", indicator=True)
        new_protocol = both[both["_merge"] == "left_only"]
        if len(new_protocol):
            before = (
                stored[stored["patient_id"].isin(new_protocol["patient_id"])]
                .groupby("patient_id")["protocol"]
                .agg(lambda s: " / ".join(sorted(map(str, s))))
            )
            file_side = new_protocol.groupby("patient_id")["protocol"].agg(
                lambda s: " / ".join(sorted(s))
            )
            reasons.append(
                "protocol "
                + file_side
                + " in this file, "
                + before.reindex(file_side.index)
                + " in the store"
            )
    gap = plan.loc[plan["baseline_gap_days"] > BASELINE_APART_DAYS, "baseline_gap_days"]
    if len(gap):
        reasons.append(
            "baseline dated "
            + gap.round().astype(int).astype(str)
            + " days from the stored baseline"
        )
    if not reasons:
        return pd.DataFrame({c: pd.Series(dtype=STRING) for c in SUSPECT_COLUMNS})
    joined = pd.concat(reasons).groupby(level=0).agg("; ".join)
    return pd.DataFrame(
        {"patient_id": joined.index, "store_id": joined.index, "reason": joined.to_numpy()}
    ).astype(STRING)


def with_file_ids(result: CommitPreview, back: dict[str, str], filename: str) -> CommitPreview:
    """``result`` as the uploader sees it (in memory only): set-aside rows and suspects with the
    file's own ids (suspects keep the store's pseudonym in ``store_id``), the file by its name."""
    aside = result.set_aside.copy()
    ids = aside["patient_id"].astype(str)
    aside["patient_id"] = ids.map(back).fillna(ids).astype(aside["patient_id"].dtype)
    suspects = result.suspects.copy()
    sid = suspects["store_id"].astype(str)
    suspects["patient_id"] = sid.map(back).fillna(sid).astype(STRING)
    return dataclasses.replace(result, set_aside=aside, suspects=suspects, filename=filename)
