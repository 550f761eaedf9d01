"""The upload and history pages' helpers (no Streamlit here): the file's columns for the mapping
screen, the choices a column can be mapped to, and tables of what a commit or an undo changed.

The mapping screen works on the same texts as ``data.readers.export.detect_mapping``: a header maps
to a canonical column (``patient_id``, ``score``, ``item_3`` …), an instrument's total in a wide
export (``PHQ-9``) or one of its items (``PHQ-9:item_3``), or to nothing (None). The edited
dict goes back to ``data.ingest.load_export(mapping=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from dashboard import times
from data.errors import UnusableFileError
from data.instruments import Registry
from data.readers.csv import read_csv_grid
from data.readers.export import NOT_USED, detect_mapping
from data.readers.headers import CANONICAL, display_headers
from data.readers.xlsx import read_xlsx_grid, sheet_names
from data.schema import item_column
from data.validation.privacy import example_is_safe

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
    # Headers whose examples are not shown: the header or a value looks like personal data.
    withheld: frozenset[str] = frozenset()
    detected: dict[str, str | None] = field(default_factory=dict)  # header → target text
    sheet: str | None = None


def is_workbook(data: bytes) -> bool:
    """True for an .xlsx workbook (a ZIP container), whatever the file is called."""
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def xlsx_sheets(data: bytes) -> list[str]:
    """The sheet names of an .xlsx workbook, in order; [] when it cannot be opened (reading the
    file then reports why). The archive is checked first (data/limits.py)."""
    return sheet_names(data)


def file_columns(
    data: bytes, registry: Registry, *, sheet: str | int | None = None, examples: bool = True
) -> FileColumns:
    """The header row of a CSV or of one sheet of a workbook, a few values under each header,
    and the detected mapping. A column whose header or examples look like personal data
    (``data.validation.privacy.example_is_safe``) gets no examples and is named in ``withheld``;
    ``examples=False`` (a file refused for personal data) gives headers only. Raises
    UnusableFileError when the file cannot be read at all."""
    if is_workbook(data):
        grid = read_xlsx_grid(data, registry=registry, mapping=None, sheet=sheet)
    else:
        grid = read_csv_grid(data)
    headers = display_headers(grid.header)
    detected = detect_mapping(headers, registry)
    shown: dict[str, str] = {}
    withheld: set[str] = set()
    for i, name in enumerate(headers):
        if not examples or i >= grid.table.num_columns or name in shown or name in withheld:
            continue
        column = grid.table.column(i).slice(0, 50).drop_null().to_pylist()
        values = [str(v) for v in column if str(v).strip()][:N_EXAMPLES]
        if example_is_safe(name, values, _gate_column(detected.get(name), registry)):
            shown[name] = ", ".join(v[:20] for v in values)
        else:
            withheld.add(name)
    return FileColumns(
        headers, examples=shown, detected=detected, sheet=grid.sheet, withheld=frozenset(withheld)
    )


def _gate_column(target: str | None, registry: Registry) -> str | None:
    """The canonical column whose privacy rules fit a mapping target: an instrument's total or
    item in a wide file is a score; None for an unmapped column (the strictest rules)."""
    if target is None:
        return None
    if ":" in target or target in registry.keys or target.startswith("item_"):
        return "score"
    return target


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
    """The mapping to pass to ``load_export``: the whole chosen dict, with every column left at
    "(not used)" (None) sent as ``data.readers.export.NOT_USED`` so that the reader leaves it out
    unread (its values are then neither checked nor shown nor stored); None when nothing was
    changed and no column is "(not used)" (the reader's own detection gives the same result)."""
    if dict(chosen) == dict(detected) and None not in chosen.values():
        return None
    return {h: NOT_USED if t is None else t for h, t in chosen.items()}


def protocol_missing(err: UnusableFileError) -> bool:
    """True when the file is unusable (also) because it has no protocol column."""
    from data.validation.validate import NO_PROTOCOL

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


def preview_lines(preview, n_rejected: int) -> pd.DataFrame:
    """What committing would do with each kind of row, before anything is written (a
    ``CommitPreview``), for people (``what``, ``rows``); the rows add up to the rows offered
    plus the rows the checks rejected. Kinds with no rows are left out, new rows always shown."""
    c = preview.classified
    lines = [
        ("New: added to the store", c["n_added"]),
        ("Already stored with the same score: nothing to do", c["n_already_stored"]),
        ("Differ from a stored score: kept or replaced, as you choose", c["n_conflicts"]),
        (
            "Days cannot be lined up with the patient's stored days: set aside",
            c["n_unaligned"],
        ),
        ("Clash with another row of the file: set aside", c["n_file_clashes"]),
        ("Exact repeats inside the file: stored once", c["n_duplicates_in_file"]),
        ("Rejected by the checks (not offered to the store)", n_rejected),
    ]
    rows = [(what, int(n)) for i, (what, n) in enumerate(lines) if i == 0 or n]
    return pd.DataFrame(rows, columns=["what", "rows"])


#: The conflict table's columns (from ``CommitPreview.conflicts``) and their headings.
CONFLICT_COLUMNS = {
    "source_row": "row in file",
    "patient_id": "patient id (file)",
    "instrument": "instrument",
    "session": "session",
    "day": "day",
    "stored_score": "stored score",
    "score": "score in this file",
}


def conflict_table(preview) -> pd.DataFrame:
    """Each row whose score differs from the stored assessment with the same patient,
    instrument, session and day: the stored and the new score side by side, and the change."""
    rows = preview.conflicts
    out = rows[list(CONFLICT_COLUMNS)].rename(columns=CONFLICT_COLUMNS).reset_index(drop=True)
    out["change"] = (rows["score"] - rows["stored_score"]).to_numpy()
    return out


def set_aside_preview(preview) -> pd.DataFrame:
    """The rows a commit would set aside whatever the choice (clashes inside the file, days
    that cannot be lined up), with the reason."""
    rows = preview.set_aside[preview.set_aside["kind"] != "conflict"]
    cols = ["source_row", "patient_id", "instrument", "session", "day", "score", "reason"]
    return rows[cols].rename(columns={"source_row": "row in file"}).reset_index(drop=True)


def suspect_table(preview) -> pd.DataFrame:
    """Ids that look like a different patient than the one stored under them."""
    return preview.suspects.rename(
        columns={
            "patient_id": "id in this file",
            "store_id": "id in the store",
            "reason": "why it may be someone else",
        }
    ).reset_index(drop=True)


def result_tone(result) -> str:
    """How a commit's result is shown: ``success`` only when everything offered was stored or
    already there; ``warning`` when rows were set aside (clashes, days not lined up); ``info``
    when rows differed from stored scores (kept or replaced, as chosen) or nothing changed."""
    if not result.committed:
        return "info"
    if result.n_unaligned or result.n_file_clashes:
        return "warning"
    return "info" if result.n_conflicts else "success"


def result_downloads(result) -> list[tuple[str, str, pd.DataFrame]]:
    """The commit's listed rows as downloads (label, file-name suffix, rows): the stored
    scores replaced (with the old value), and the rows not stored (left alone or set aside)."""
    aside = result.set_aside
    replaced = aside[aside["kind"] == "replaced"]
    not_stored = aside[aside["kind"] != "replaced"]
    out = []
    if len(replaced):
        n = len(replaced)
        out.append((f"Download the {n:,} replaced scores, old and new (CSV)", "replaced", replaced))
    if len(not_stored):
        n = len(not_stored)
        out.append((f"Download the {n:,} rows not stored (CSV)", "not_stored", not_stored))
    return out


#: Upload history columns shown, with their headings (times: ``times.heading`` adds the zone).
HISTORY_COLUMNS = {
    "upload_id": "upload",
    "filename": "file",
    "status": "status",
    "committed_at": "committed",
    "undone_at": "undone",
    "uploader": "uploaded by",
    "n_rows": "rows offered",
    "n_added": "added",
    "n_already_stored": "already stored",
    "n_conflicts": "differed",
    "n_replaced": "replaced",
    "n_rejected": "rejected",
    "n_active": "still stored",
}


def history_table(uploads: pd.DataFrame, zone: str = times.UTC) -> pd.DataFrame:
    """``Store.uploads()`` for people: newest first, the columns of ``HISTORY_COLUMNS`` (without
    "undone" until an upload is undone, and "uploaded by" until someone gave a name). Times are
    text in ``zone`` (the viewer's time zone), named in the heading ("committed (Europe/Paris)");
    an upload not undone has a blank "undone" time."""
    cols = [c for c in HISTORY_COLUMNS if c in uploads.columns]
    for col in ("undone_at", "uploader"):
        if col in cols and not uploads[col].fillna("").astype(str).str.strip().any():
            cols.remove(col)
    out = uploads[cols].iloc[::-1].reset_index(drop=True)
    names = dict(HISTORY_COLUMNS)
    for col in ("committed_at", "undone_at"):
        if col in out:
            out[col] = times.local_times(out[col], zone)
            names[col] = times.heading(HISTORY_COLUMNS[col], zone)
    return out.rename(columns=names)


def undo_choices(uploads: pd.DataFrame, zone: str = times.UTC) -> dict[int, str]:
    """Uploads that can still be undone (status committed), newest first: id → label, with the
    time in ``zone`` and the zone named."""
    live = uploads.loc[(uploads["status"] == "committed").to_numpy(dtype=bool)].iloc[::-1]
    return {
        int(r.upload_id): f"#{int(r.upload_id)} · {r.filename} · "
        f"{_count(int(r.n_active), 'assessment')} stored · "
        f"{times.local_time(r.committed_at, zone)}"
        for r in live.itertuples()
    }


def _count(n: int, one: str, many: str | None = None) -> str:
    """ "1 assessment", "1,234 assessments"."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
