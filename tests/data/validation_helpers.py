"""Shared helpers for the validation tests: hand-built RawTables (text cells, ``source_row``,
``origin``), so the tests do not depend on the export reader."""

from pathlib import Path

import numpy as np
import pandas as pd

from data.instruments import default_registry
from data.readers.export import RawTable
from data.vocabulary import vocabulary

REG = default_registry()
PHQ, GAD, PCL = REG.get("PHQ-9"), REG.get("GAD-7"), REG.get("PCL-5")
NASTY = Path(__file__).resolve().parents[1] / "fixtures" / "nasty"
BASE = {"patient_id": "P-1", "protocol": "weekly", "instrument": "PHQ-9"}


def raw(rows: list[dict], *, rows_at: list[int] | None = None, **kwargs) -> RawTable:
    """A RawTable from dicts of text cells (None = blank); ``rows_at`` = spreadsheet rows."""
    frame = pd.DataFrame(rows).astype("string[pyarrow]")
    frame["source_row"] = rows_at if rows_at is not None else np.arange(2, len(rows) + 2)
    return RawTable(frame=frame, **kwargs)


def rows(*specs: dict) -> list[dict]:
    """Rows of patient P-1, weekly, PHQ-9 unless a spec says otherwise."""
    return [{**BASE, **s} for s in specs]


def reason(result, row: int) -> str:
    """The reject reason of spreadsheet row ``row`` (which must be rejected exactly once)."""
    hit = result.rejects.loc[result.rejects["row"] == row, "reason"]
    assert len(hit) == 1, f"row {row} is not rejected exactly once: {result.rejects}"
    return hit.iloc[0]


def errors_at(result, row: int) -> list:
    return [p for p in result.errors if p.row == row]


def accepted_rows(result) -> list[int]:
    return result.source_row.tolist()


def raw_from_csv(path: Path) -> RawTable:
    """A fixture CSV read with plain pandas: headers mapped through the export vocabulary
    (first header wins), every cell as text, blank cells <NA>, spreadsheet row numbers."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).astype("string[pyarrow]")
    frame = frame.mask(frame == "")
    names, origin = [], {}
    for header in frame.columns:
        canon = vocabulary().column_for(header)
        if canon is not None and canon not in origin:
            origin[canon] = header
            names.append(canon)
        else:
            names.append(header)
    frame.columns = names
    frame["source_row"] = np.arange(2, len(frame) + 2)
    return RawTable(frame=frame, origin=origin, n_source_rows=len(frame))
