"""The tables of a validation's outcome (``data.validation.validate.Validated``), built from what the
rules decided: the accepted assessments' text columns, the rejected rows as read with their
reasons, and every finding for the dashboard's report. ``data.validation.validate`` hands them over as
``data.validation.deferred.Deferred`` tables, so only a caller that reads one pays for building it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.errors import Problem
from data.validation.cells import Coded, Numbers, take_text
from data.validation.findings import Findings
from data.validation.report_groups import combine_findings, problems_findings


@dataclass(frozen=True)
class FindingsSource:
    """The collectors of one validation, kept so that its findings table is built on demand:
    the file-level notes, then the row errors, then the row warnings (``combine_findings``)."""

    file_notes: tuple[Problem, ...]
    errors: Findings
    notes: Findings

    def table(self) -> pd.DataFrame:
        """The findings table (``data.validation.findings.FINDING_COLUMNS``)."""
        return combine_findings(
            [problems_findings(list(self.file_notes)), self.errors.table(), self.notes.table()]
        )


def yes_no(codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Nullable booleans from yes/no codes (1 yes, 0 no, -1 blank)."""
    return pd.arrays.BooleanArray(codes == 1, codes < 0)


def label_text(
    cell: Coded | Numbers,
    row_label: np.ndarray,
    labels: Sequence[str],
    accepted: np.ndarray,
    every: bool,
) -> pd.api.extensions.ExtensionArray:
    """``labels[row_label]`` at the accepted rows, as text (-1 gives <NA>). When the column's
    cells, as read, already spell those labels (e.g. "weekly" for the protocol weekly), the
    column is passed on as read instead of being built again."""
    if isinstance(cell, Coded) and cell.as_read is not None:
        where = {label: i for i, label in enumerate(labels)}
        per_value = np.array([where.get(v, -2) for v in cell.values.tolist()], dtype=np.int64)
        spelled = cell.spread(per_value, -1)
        if (
            np.array_equal(spelled, row_label)
            if every
            else (np.array_equal(spelled[accepted], row_label[accepted]))
        ):
            return cell.take(accepted, every)
    return take_text(labels, row_label[accepted])


def rejects_table(
    frame: pd.DataFrame,
    src: np.ndarray,
    rows: np.ndarray,
    errors: Findings,
    raw_origin: Mapping[str, str],
) -> pd.DataFrame:
    """Rejected rows as read, under the file's own headers, with ``row`` and ``reason``."""
    shown = frame.iloc[rows] if len(rows) else frame.iloc[:0].copy()
    shown = shown.drop(columns=["source_row"], errors="ignore")
    shown = shown.rename(columns={c: raw_origin.get(c, c) for c in shown.columns})
    shown = shown.rename(columns={c: f"{c} (file)" for c in ("row", "reason") if c in shown})
    shown.insert(0, "row", src[rows])
    shown["reason"] = errors.reasons().reindex(rows).to_numpy()
    return shown.reset_index(drop=True)
