"""Validation: ``RawTable`` → ``Validated`` (SPEC sections 2, 3 and 8; docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from data.errors import Problem
from data.instruments import Registry
from data.readers import RawTable


@dataclass(frozen=True)
class Validated:
    """The outcome of validating one export.

    ``tidy``: accepted assessments, ``data.schema.conform``-ed. ``source_row``: the spreadsheet
    row of each tidy row (same index as ``tidy``). ``rejects``: rejected rows as read (the file's
    own headers) plus ``row`` and ``reason``. ``problems``: every row error and warning.
    ``anchors``: patient_id → baseline date, only when the export had dates; kept apart from the
    tidy table and never stored with it.
    """

    tidy: pd.DataFrame
    source_row: pd.Series
    rejects: pd.DataFrame
    problems: tuple[Problem, ...]
    anchors: pd.Series
    raw: RawTable

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


def validate(raw: RawTable, registry: Registry, *, default_protocol: str | None = None) -> Validated:
    """Check every row of ``raw``; UnusableFileError for file-level problems."""
    raise NotImplementedError
