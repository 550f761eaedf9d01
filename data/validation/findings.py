"""Row findings: which rows a validation rule flags, why, and how to fix it (data.validation.validate).

Rules mark failing rows with a boolean mask; messages are built only for the rows that fail.
Every flagged row keeps its full reason in the rejects table; the list of ``Problem`` objects
is capped at ``PROBLEMS_PER_RULE`` per rule, with one summary problem for the rest, so that a
file with a hundred thousand bad rows still gives a readable report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from data.errors import Problem
from data.validation.cells import TEXT

#: Problems listed one by one per rule; the remaining rows are summarised in one problem.
PROBLEMS_PER_RULE = 100
#: The columns of a findings table (``Findings.table``, ``data.validation.report_groups``).
FINDING_COLUMNS = ("rule", "row", "column", "severity", "problem", "fix")

Message = str | Callable[[np.ndarray], pd.Series]


@dataclass(frozen=True)
class Finding:
    """One rule's failing rows (positions), their messages and the fix."""

    positions: np.ndarray
    column: str | None
    messages: pd.Series
    fix: str


class Findings:
    """Collects the findings of every rule over ``n`` rows.

    ``source_row`` gives each row's spreadsheet row number; ``header(column, positions)`` gives
    the header as the file spells it for each of those rows (in a wide export one canonical
    column, such as score, comes from a different header for each instrument).
    """

    def __init__(
        self,
        source_row: np.ndarray,
        header: Callable[[str, np.ndarray], np.ndarray],
        severity: Literal["error", "warning"] = "error",
    ) -> None:
        self.source_row = source_row
        self.header = header
        self.severity = severity
        self.items: list[Finding] = []
        self._flagged = np.zeros(len(source_row), dtype=bool)

    def add(self, mask: np.ndarray, column: str | None, message: Message, fix: str) -> None:
        """Flag the rows where ``mask`` is true. ``message`` is a sentence, or a function from
        the failing positions to one sentence per failing row."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        pos = np.flatnonzero(mask)
        if callable(message):
            text = pd.Series(message(pos), dtype=TEXT).reset_index(drop=True)
        else:
            text = pd.Series([message] * len(pos), dtype=TEXT)
        self.items.append(Finding(positions=pos, column=column, messages=text, fix=fix))
        self._flagged[pos] = True

    @property
    def flagged(self) -> np.ndarray:
        """True for every row at least one rule flagged."""
        return self._flagged.copy()

    def reasons(self) -> pd.Series:
        """All reasons of each flagged row joined by '; ', indexed by row position."""
        reason = pd.Series(pd.NA, index=np.flatnonzero(self._flagged), dtype=TEXT)
        for f in self.items:
            text = f.messages
            if f.column is not None:
                text = pd.Series(self.header(f.column, f.positions), dtype=TEXT) + ": " + text
            current = reason.loc[f.positions].reset_index(drop=True)
            joined = current.where(current.isna(), current + "; " + text).fillna(text)
            reason.loc[f.positions] = joined.to_numpy()
        return reason

    def table(self) -> pd.DataFrame:
        """Every finding, one row per flagged row and rule, uncapped (``FINDING_COLUMNS``;
        ``rule`` numbers this collector's rules in the order they were added)."""
        parts = []
        for i, f in enumerate(self.items):
            column = (
                pd.Series(pd.NA, index=range(len(f.positions)), dtype=TEXT)
                if f.column is None
                else pd.Series(self.header(f.column, f.positions), dtype=TEXT)
            )
            parts.append(
                pd.DataFrame(
                    {
                        "rule": np.full(len(f.positions), i, dtype=np.int64),
                        "row": self.source_row[f.positions].astype(np.int64),
                        "column": column,
                        "severity": pd.Series(self.severity, index=column.index, dtype=TEXT),
                        "problem": f.messages.reset_index(drop=True),
                        "fix": pd.Series(f.fix, index=column.index, dtype=TEXT),
                    }
                )
            )
        if not parts:
            return empty_findings()
        return pd.concat(parts, ignore_index=True).astype({"row": "Int64"})

    def problems(self) -> list[Problem]:
        """One Problem per flagged row and rule (capped per rule, see the module docstring)."""
        out: list[Problem] = []
        for f in self.items:
            shown = min(len(f.positions), PROBLEMS_PER_RULE)
            if f.column is None:
                columns = [None] * shown
            else:
                columns = [str(h) for h in self.header(f.column, f.positions[:shown])]
            rows = self.source_row[f.positions]
            msgs = f.messages.iloc[:shown].tolist()
            out.extend(
                Problem(m, f.fix, row=int(r), column=c, severity=self.severity)
                for m, r, c in zip(msgs, rows[:shown], columns, strict=True)
            )
            rest = len(f.positions) - shown
            if rest > 0:
                more = ", ".join(str(int(r)) for r in rows[shown : shown + 10])
                out.append(
                    Problem(
                        f"…and {rest:,} more row(s) with the same kind of problem (rows {more}"
                        f"{', …' if rest > 10 else ''}); the first was: {msgs[0]} Every one "
                        "is listed with its reason in the rejected-rows download."
                        if self.severity == "error"
                        else f"…and {rest:,} more row(s) with the same note (rows {more}"
                        f"{', …' if rest > 10 else ''}).",
                        f.fix,
                        column=columns[0],
                        severity=self.severity,
                    )
                )
        return out


def empty_findings() -> pd.DataFrame:
    """A findings table without rows (``FINDING_COLUMNS``, their dtypes)."""
    return pd.DataFrame(
        {
            "rule": pd.Series([], dtype=np.int64),
            "row": pd.Series([], dtype="Int64"),
            **{c: pd.Series([], dtype=TEXT) for c in ("column", "severity", "problem", "fix")},
        }
    )
