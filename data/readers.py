"""Export readers: bytes or a path → ``RawTable`` (SPEC section 2; docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from data.errors import Problem
from data.instruments import Registry


@dataclass(frozen=True)
class RawTable:
    """An export as read, before validation.

    ``frame`` has canonical column names where a header maps (patient_id, protocol, instrument,
    session, day, date, phase, score, item_1 … item_k, site, clinician, route,
    treatment_resistant), unmapped columns under their own header, every value as text
    (<NA> for a blank cell), and ``source_row``: the spreadsheet row number (header = 1) each
    row came from. Wide exports are already melted to long shape, so several rows can share a
    ``source_row``; their ``instrument`` is then a registry key.
    """

    frame: pd.DataFrame
    origin: dict[str, str] = field(default_factory=dict)  # canonical column → header in the file
    shape: Literal["long", "wide"] = "long"
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    n_source_rows: int = 0  # data rows in the file (header excluded)
    notes: tuple[Problem, ...] = ()  # warnings raised while reading


def read_export(
    source: bytes | str | Path,
    *,
    filename: str | None = None,
    registry: Registry,
    mapping: dict[str, str] | None = None,
    sheet: str | int | None = None,
) -> RawTable:
    """Read a CSV or XLSX export into a RawTable; UnusableFileError when it cannot be used."""
    raise NotImplementedError
