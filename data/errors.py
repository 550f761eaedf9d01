"""Domain errors: every message is written for the clinician who has to act on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class ReliefCheckError(Exception):
    """Base of every error ReliefCheck raises on purpose; its message is shown to users as is."""


class RegistryError(ReliefCheckError):
    """An instrument definition (built-in or a practice's TOML file) is unusable."""


class BenchmarkError(ReliefCheckError):
    """The published-benchmarks file is unusable, or a benchmark asked for does not exist."""


class AnalysisError(ReliefCheckError):
    """An analysis cannot be computed on the data given (e.g. too few patients)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    ``row`` is the spreadsheet row number (the header is row 1, the first data row is 2), or
    None for a file-level problem; ``column`` is the header as it appears in the file.
    """

    message: str
    fix: str
    row: int | None = None
    column: str | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        place = (", ".join(where) + ": ") if where else ""
        return f"{self.severity}: {place}{self.message} Fix: {self.fix}"


class UnusableFileError(ReliefCheckError):
    """The file as a whole cannot be used (unreadable, no required columns, identifiers...).

    Nothing from such a file is stored. ``problems`` lists every file-level reason.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
