"""The upload and history pages' helpers (no Streamlit here): the file's columns for the mapping
screen, the choices a column can be mapped to, and tables of what a commit or an undo changed.

The mapping screen works on the same texts as ``data.readers.detect_mapping``: a header maps
to a canonical column (``patient_id``, ``score``, ``item_3`` …), an instrument's total in a wide
export (``PHQ-9``) or one of its items (``PHQ-9:item_3``), or to nothing (None). The edited
dict goes back to ``data.ingest.load_export(mapping=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from data.errors import UnusableFileError
from data.headers import CANONICAL, display_headers
from data.instruments import Registry
from data.read_csv import read_csv_grid
from data.read_xlsx import read_xlsx_grid, sheet_names
from data.readers import detect_mapping
from data.schema import item_column

#: What each canonical column holds, in a clinician's words.
COLUMN_MEANING = {
    "patient_id": "pseudonymous patient id",
    "protocol": "intensive, weekly …",
    "instrument": "questionnaire name",
    "session": "0 = baseline",
    "day": "days since baseline",
    "date": "assessment date",
    "phase": "baseline, treatment, follow-up",
    "score": "total score",
    "site": "site",
    "clinician": "clinician",
    "route": "route (IV, IM, sublingual …)",
    "treatment_resistant": "treatment-resistant (yes/no)",
}
#: How many example values the mapping screen shows per column.
N_EXAMPLES = 3


@dataclass(frozen=True)
class FileColumns:
    """A file's columns as the mapping screen shows them."""

    headers: list[str]  # as ``detect_mapping`` names them (a blank header: "(column G)")
    examples: dict[str, str] = field(default_factory=dict)  # header → first few values
    detected: dict[str, str | None] = field(default_factory=dict)  # header → target text
    sheet: str | None = None


def is_workbook(data: bytes) -> bool:
    """True for an .xlsx workbook (a ZIP container), whatever the file is called."""
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def xlsx_sheets(data: bytes) -> list[str]:
    """The sheet names of an .xlsx workbook, in order; [] when it cannot be opened (reading the
    file then reports why). The archive is checked first (data/limits.py)."""
    return sheet_names(data)


def file_columns(data: bytes, registry: Registry, *, sheet: str | int | None = None) -> FileColumns:
    """The header row of a CSV or of one sheet of a workbook, a few values under each header,
    and the detected mapping. Raises UnusableFileError when the file cannot be read at all."""
    if is_workbook(data):
        grid = read_xlsx_grid(data, registry=registry, mapping=None, sheet=sheet)
    else:
        grid = read_csv_grid(data)
    headers = display_headers(grid.header)
    examples: dict[str, str] = {}
    for i, name in enumerate(headers):
        if i >= grid.table.num_columns or name in examples:
            continue
        values = [v for v in grid.table.column(i).to_pylist() if v not in (None, "")]
        examples[name] = ", ".join(str(v)[:20] for v in values[:N_EXAMPLES])
    return FileColumns(headers, examples, detect_mapping(headers, registry), grid.sheet)


def mapping_targets(registry: Registry) -> list[str]:
    """Every target a column can be mapped to, in the order the mapping screen lists them:
    the canonical columns, the item columns of long exports, then per instrument its total and
    its items (wide exports)."""
    most_items = max((ins.items or 0 for ins in registry), default=0)
    out = list(CANONICAL) + [item_column(k) for k in range(1, most_items + 1)]
    for ins in registry:
        out.append(ins.key)
        out.extend(f"{ins.key}:{item_column(k)}" for k in range(1, (ins.items or 0) + 1))
    return out


def target_label(target: str | None, registry: Registry) -> str:
    """A mapping target in words, e.g. "PHQ-9:item_3" → "PHQ-9 item 3 (wide file)"."""
    if target is None:
        return "(not used)"
    if target in COLUMN_MEANING:
        return f"{target}: {COLUMN_MEANING[target]}"
    if target.startswith("item_"):
        return f"{target}: item {target[5:]} (long file)"
    name, _, column = target.rpartition(":")
    if name and column.startswith("item_"):
        return f"{name} item {column[5:]} (wide file)"
    return f"{target} total (wide file)" if target in registry.keys else target


def changed_mapping(
    detected: Mapping[str, str | None], chosen: Mapping[str, str | None]
) -> dict[str, str | None] | None:
    """The mapping to pass to ``load_export``: the whole chosen dict when the user changed
    anything, else None (the reader's own detection, which gives the same result)."""
    return None if dict(chosen) == dict(detected) else dict(chosen)


def protocol_missing(err: UnusableFileError) -> bool:
    """True when the file is unusable (also) because it has no protocol column."""
    from data.validation import NO_PROTOCOL

    return any(p.message == NO_PROTOCOL.message for p in err.problems)


# --------------------------------------------------------------------------- what changed


def commit_changes(result) -> pd.DataFrame:
    """What one ``CommitResult`` did, one line per kind of row, for people (``what``, ``rows``);
    kinds with no rows are left out, the added rows always shown."""
    lines = [
        ("Added to the store", result.n_added),
        ("Already stored (same scores): nothing to do", result.n_already_stored),
        (
            "Replaced a stored score (undo the upload to restore it)"
            if result.n_replaced
            else "Differ from a stored score: left alone",
            result.n_conflicts,
        ),
        (
            "Days could not be lined up with the patient's stored days: set aside",
            result.n_unaligned,
        ),
        ("Clash with another row of the file: set aside", result.n_file_clashes),
        ("Exact repeats inside the file: stored once", result.n_duplicates_in_file),
        ("Rejected by the checks (not offered to the store)", result.n_rejected),
    ]
    rows = [(what, int(n)) for i, (what, n) in enumerate(lines) if i == 0 or n]
    return pd.DataFrame(rows, columns=["what", "rows"])


#: Upload history columns shown, with their headings.
HISTORY_COLUMNS = {
    "upload_id": "upload",
    "filename": "file",
    "status": "status",
    "committed_at": "committed (UTC)",
    "undone_at": "undone (UTC)",
    "uploader": "uploaded by",
    "n_rows": "rows offered",
    "n_added": "added",
    "n_already_stored": "already stored",
    "n_conflicts": "differed",
    "n_replaced": "replaced",
    "n_rejected": "rejected",
    "n_active": "still stored",
}


def history_table(uploads: pd.DataFrame) -> pd.DataFrame:
    """``Store.uploads()`` for people: newest first, the columns of ``HISTORY_COLUMNS`` (without
    "undone" until an upload is undone, and "uploaded by" until someone gave a name)."""
    cols = [c for c in HISTORY_COLUMNS if c in uploads.columns]
    for col in ("undone_at", "uploader"):
        if col in cols and not uploads[col].fillna("").astype(str).str.strip().any():
            cols.remove(col)
    out = uploads[cols].iloc[::-1].reset_index(drop=True)
    for col in ("committed_at", "undone_at"):
        if col in out:
            out[col] = out[col].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("s")
    return out.rename(columns=HISTORY_COLUMNS)


def undo_choices(uploads: pd.DataFrame) -> dict[int, str]:
    """Uploads that can still be undone (status committed), newest first: id → label."""
    live = uploads.loc[(uploads["status"] == "committed").to_numpy(dtype=bool)].iloc[::-1]
    return {
        int(r.upload_id): f"#{int(r.upload_id)} · {r.filename} · {int(r.n_active)} assessments "
        f"stored · {pd.Timestamp(r.committed_at):%Y-%m-%d %H:%M} UTC"
        for r in live.itertuples()
    }
