"""The validation report for people (docs/validation.md): every finding of an upload in one
table, the findings grouped by rule, filters, and headline counts in rows that add up.

A *finding* is one rule flagging one row (``data.validation.findings.FINDING_COLUMNS``: rule, row, column,
severity, problem, fix); file-level notes are findings without a row. ``group_findings`` gives
one line per rule and column, so a file with thousands of identical warnings reads as one line
with its count and first rows. No Streamlit here; the page is ``dashboard.validation_view``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.errors import Problem
from data.validation.cells import TEXT
from data.validation.findings import FINDING_COLUMNS, empty_findings

#: How a finding without a column is named in the report and its column filter.
NO_COLUMN = "(whole row or file)"
#: How many row numbers a grouped line lists before "…".
FIRST_ROWS = 5
#: Severity order in the report: errors (rows set aside) before warnings (rows kept).
SEVERITY_ORDER = ("error", "warning")
#: The columns of the downloadable findings CSV, in order.
DOWNLOAD_COLUMNS = ("row", "column", "severity", "problem", "fix")


def problems_findings(problems: Sequence[Problem]) -> pd.DataFrame:
    """Problems (file-level notes, or a report made before findings were kept) as findings.
    Problems with the same severity and fix, and for file-level ones the same message, count
    as one rule."""
    if not problems:
        return empty_findings()
    key = [
        (p.severity, p.fix, p.message if p.row is None else "", p.column or "") for p in problems
    ]
    rule, _ = pd.factorize(pd.Series(key, dtype=object))
    out = pd.DataFrame(
        {
            "rule": rule.astype(np.int64),
            "row": pd.array([p.row for p in problems], dtype="Int64"),
            "column": pd.Series([p.column for p in problems], dtype=TEXT),
            "severity": pd.Series([p.severity for p in problems], dtype=TEXT),
            "problem": pd.Series([p.message for p in problems], dtype=TEXT),
            "fix": pd.Series([p.fix for p in problems], dtype=TEXT),
        }
    )
    return out[list(FINDING_COLUMNS)]


def combine_findings(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Findings tables from several collectors as one, their rules numbered apart (the first
    part's rules first), in rule order (``download_table`` orders them by row)."""
    out, offset = [], 0
    for part in parts:
        if len(part):
            out.append(part.assign(rule=part["rule"].to_numpy() + offset))
            offset += int(part["rule"].max()) + 1
    if not out:
        return empty_findings()
    return pd.concat(out, ignore_index=True)


def column_choices(findings: pd.DataFrame) -> list[str]:
    """The columns findings name, in order of first appearance, ``NO_COLUMN`` last."""
    named = findings["column"].dropna().drop_duplicates().tolist()
    return [*named, *([NO_COLUMN] if findings["column"].isna().any() else [])]


def filter_findings(
    findings: pd.DataFrame,
    severities: Collection[str] | None = None,
    columns: Collection[str] | None = None,
) -> pd.DataFrame:
    """The findings of the given severities and columns (None or empty: all; ``NO_COLUMN``
    picks findings without a column)."""
    keep = np.ones(len(findings), dtype=bool)
    if severities:
        keep &= findings["severity"].isin(list(severities)).to_numpy(dtype=bool)
    if columns:
        col = findings["column"].fillna(NO_COLUMN)
        keep &= col.isin(list(columns)).to_numpy(dtype=bool)
    return findings.loc[keep]


def _row_list(rows: pd.Series, count: int) -> str:
    """The first row numbers, plain as a spreadsheet shows them ("36528, 36529, …")."""
    shown = ", ".join(str(int(r)) for r in rows.dropna().head(FIRST_ROWS))
    if not shown:
        return ""
    return shown + (", …" if count > FIRST_ROWS else "")


def group_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """One line per rule and column: ``severity``, ``column`` (``NO_COLUMN`` when none),
    ``count`` (rows flagged), ``rows`` (the first ``FIRST_ROWS`` row numbers, "…" when there are
    more), ``problem`` (the message when every row has the same one, else the first row's,
    with ``same`` False) and ``fix``. Errors first, then by count, largest first."""
    cols = ["severity", "column", "count", "rows", "problem", "same", "fix"]
    if findings.empty:
        return pd.DataFrame(columns=cols)
    # Group keys as integers; each rule's findings are in row order already
    # (``Findings.table``, ``combine_findings``), so a group's first finding is its first row.
    found = findings.reset_index(drop=True)
    column = found["column"].fillna(NO_COLUMN)
    col_code, col_names = pd.factorize(column)
    key = found["rule"].to_numpy(np.int64) * (len(col_names) + 1) + col_code
    _, first, inverse, count = np.unique(
        key, return_index=True, return_inverse=True, return_counts=True
    )
    inverse = inverse.ravel()
    leader = found["problem"].take(first[inverse]).reset_index(drop=True)
    differs = (found["problem"] != leader).fillna(True).to_numpy(dtype=bool)
    same = np.bincount(inverse, weights=differs, minlength=len(first)) == 0
    by_group = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(count)[:-1]])
    rows = found["row"]
    listed = [  # one entry per group (rule and column), not per finding
        _row_list(rows.iloc[by_group[a : a + min(n, FIRST_ROWS)]], int(n))
        for a, n in zip(starts, count, strict=True)
    ]
    heads = found.iloc[first]
    out = pd.DataFrame(
        {
            "rule": heads["rule"].to_numpy(),
            "severity": heads["severity"].to_numpy(dtype=object),
            "column": column.iloc[first].to_numpy(dtype=object),
            "count": count.astype(np.int64),
            "rows": listed,
            "problem": heads["problem"].to_numpy(dtype=object),
            "same": same,
            "fix": heads["fix"].to_numpy(dtype=object),
        }
    )
    rank = out["severity"].map({s: i for i, s in enumerate(SEVERITY_ORDER)}).fillna(9)
    out = out.assign(_rank=rank).sort_values(
        ["_rank", "count", "rule"], ascending=[True, False, True], kind="stable"
    )
    return out[cols].reset_index(drop=True)


def download_table(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings as the report's CSV download, by row (file-level findings, without a row,
    first; within a row in rule order): row, column, severity, problem, fix; a finding without
    a column names ``NO_COLUMN``'s words, one without a row is left blank."""
    rows = findings["row"].fillna(0).to_numpy(np.int64)
    order = np.lexsort((findings["rule"].to_numpy(), rows))
    out = findings.iloc[order][list(DOWNLOAD_COLUMNS)].reset_index(drop=True)
    return out.assign(column=out["column"].fillna(NO_COLUMN))


# --------------------------------------------------------------------------- headline counts


@dataclass(frozen=True)
class RowCounts:
    """What became of each row of the file (spreadsheet rows, header excluded).

    ``read`` = ``accepted`` + ``partly`` + ``set_aside`` + ``repeats`` + ``empty``: accepted,
    every assessment of the row accepted; partly, a row of a wide export with some scores
    accepted and some set aside; set aside, none accepted; repeats, exact repeats of an earlier
    row, skipped; empty, rows with no assessment at all (a wide export's visit with no score).
    ``assessments`` counts the accepted assessments (one per questionnaire score).
    """

    read: int
    accepted: int
    partly: int
    set_aside: int
    repeats: int
    empty: int
    assessments: int

    def equation(self) -> str:
        """The counts as a sum, in words, e.g. "7,532 rows read = 7,527 accepted + 3 set aside
        + 2 exact repeats skipped"; parts that are zero are left out, but for accepted."""
        from data.plurals import count_of

        parts = [f"{self.accepted:,} accepted"]
        if self.partly:
            parts.append(f"{self.partly:,} partly accepted")
        if self.set_aside:
            parts.append(f"{self.set_aside:,} set aside")
        if self.repeats:
            parts.append(f"{count_of(self.repeats, 'exact repeat')} skipped")
        if self.empty:
            parts.append(f"{self.empty:,} with no assessment (blank, or no score)")
        return f"{count_of(self.read, 'row')} read = " + " + ".join(parts)


def row_counts(
    n_read: int,
    accepted_rows: np.ndarray,
    set_aside_rows: np.ndarray,
    repeat_rows: np.ndarray,
) -> RowCounts:
    """Each spreadsheet row's fate from the row numbers of its accepted, set-aside and skipped
    assessments (a row of a wide export appears once per questionnaire score). ``n_read`` is
    the number of data rows in the file; rows in none of the three held no assessment."""
    acc = np.unique(np.asarray(accepted_rows, dtype=np.int64))
    rej = np.unique(np.asarray(set_aside_rows, dtype=np.int64))
    rep = np.unique(np.asarray(repeat_rows, dtype=np.int64))
    acc_rej = np.isin(acc, rej)
    partly = int(acc_rej.sum())
    accepted = len(acc) - partly
    set_aside = len(rej) - partly
    repeats = int((~np.isin(rep, acc) & ~np.isin(rep, rej)).sum())
    seen = accepted + partly + set_aside + repeats
    return RowCounts(
        read=max(int(n_read), seen),
        accepted=accepted,
        partly=partly,
        set_aside=set_aside,
        repeats=repeats,
        empty=max(int(n_read) - seen, 0),
        assessments=len(np.asarray(accepted_rows)),
    )


def validated_counts(validated) -> RowCounts:
    """``row_counts`` of a ``data.validation.validate.Validated``: the file's data rows, the rows of its
    accepted assessments, of its set-aside rows and of its skipped exact repeats."""
    raw = validated.raw
    n_read = raw.n_source_rows
    if not n_read:
        frame = raw.frame
        n_read = frame["source_row"].nunique() if "source_row" in frame else len(frame)
    return row_counts(
        n_read,
        validated.source_row.to_numpy(),
        validated.rejects["row"].to_numpy() if len(validated.rejects) else np.zeros(0),
        validated.repeat_rows,
    )
