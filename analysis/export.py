"""Writers for researcher tables: CSV, Markdown and XLSX (with a Methods sheet).

The writers are pure: they return bytes or text and never touch the file system; the command
line and the dashboard save or serve them. Each writer first applies
``analysis.tables.prepare_for_export`` (small-cell suppression, formula neutralising), so no
export can skip the SPEC section 8 rules.

- **CSV** (``to_csv_bytes``; ``safe_csv_bytes`` for any other frame): one tidy table per file, UTF-8 with a byte-order mark (without it
  Excel reads UTF-8 as the local code page and garbles ≥ or –; pandas, R's readr and Python's
  ``utf-8-sig`` read the mark transparently), comma-separated, RFC 4180 line ends (CRLF),
  quoting only where needed, every digit kept, missing values empty, suppressed counts ``<5``.
- **Markdown** (``to_markdown``): GitHub-flavoured pipe tables, each under its title and followed
  by its notes; pivoted tables (Table 1) in their wide view, numbers rounded for reading. Every
  header, cell, title and note is text, never markup (``_MD_RULES``): labels from files cannot
  add a link, an image, emphasis, a formula or HTML, nor break the table; ordinary text ("PHQ-9",
  "d_z", "<5", "score >= 10", "Jacobson & Truax") stays as written.
- **XLSX** (``to_xlsx_bytes``, xlsxwriter): a "Methods" sheet first (software and version, date,
  each sheet's title and notes, then every definition and threshold), then one sheet per tidy
  table (header row frozen, autofilter, numbers stored as numbers with display decimals) and,
  for pivoted tables, a ``<name>_wide`` sheet with the wide view. Text is always written as text
  (never as a formula or link). Files are byte-for-byte reproducible for the same tables and
  date: the document's created date is the ``generated_on`` date and xlsxwriter's in-memory mode
  stamps every part with a fixed time.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xlsxwriter

from analysis.methods import SOFTWARE, MethodsInfo
from analysis.tables import (
    DEFAULT_DECIMALS,
    DEFAULT_MIN_N,
    ResearchTable,
    display_frame,
    neutralise_formulas,
    neutralise_text,
    prepare_for_export,
    wide_for_display,
)
from data.errors import AnalysisError

__all__ = [
    "MethodsInfo",
    "safe_csv_bytes",
    "sheet_names",
    "to_csv_bytes",
    "to_markdown",
    "to_xlsx_bytes",
]

BOM = "\ufeff"
CSV_LINE_END = "\r\n"
METHODS_SHEET = "Methods"
MAX_SHEET_NAME = 31
MAX_XLSX_ROWS = 1_048_576
_MAX_WIDTH = 60
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


# --------------------------------------------------------------------------- CSV


def safe_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Any frame as the CSV ReliefCheck writes for people to open: text cells and column names
    that a spreadsheet would run are neutralised (``neutralise_formulas``), UTF-8 with BOM,
    CRLF, no index. Every CSV the product writes (researcher tables, rejects, set-aside rows,
    audit logs, the assessments download) goes through here."""
    text = neutralise_formulas(frame).to_csv(index=False, lineterminator=CSV_LINE_END)
    return (BOM + text).encode("utf-8")


def to_csv_bytes(table: ResearchTable, *, min_n: int = DEFAULT_MIN_N) -> bytes:
    """The tidy table as CSV bytes (UTF-8 with BOM, CRLF), suppressed and neutralised."""
    return safe_csv_bytes(prepare_for_export(table, min_n).frame)


# --------------------------------------------------------------------------- Markdown


#: Text → Markdown text, in order. Only what can start markup is escaped, so ordinary text reads
#: as written: newlines become spaces (a cell stays on its row, a note on its line); ``&`` only
#: where it would spell an entity and ``<`` only where it would open a tag, a comment or an
#: autolink (``<5`` stays); ``\ ` * ~ [ ] | $ # @`` always (code, emphasis, strikethrough,
#: links and images, cell breaks, formulas, headings, e-mail autolinks); ``_`` except inside a
#: word (``d_z`` stays); the ``:`` of ``://`` and the ``.`` of ``www.`` (bare-URL autolinks).
_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+"), " "),
    (re.compile(r"&(?=#?[0-9A-Za-z]+;)"), "&amp;"),
    (re.compile(r"<(?=[A-Za-z/!?])"), "&lt;"),
    (re.compile(r"([\\`*~\[\]|$#@])"), r"\\\1"),
    (re.compile(r"(?<![^\W_])_|_(?![^\W_])"), r"\\_"),
    (re.compile(r":(?=//)"), r"\\:"),
    (re.compile(r"(?i)\b(www)\."), r"\1\\."),
)
#: A line's start that would open a list, a nested list or a quote (in a note, after "- ").
_MD_LINE_START = re.compile(r"^([>+\-]|\d+(?=[.)]))")


def _md_cell(value: object) -> str:
    """One header, cell or title as Markdown text (see ``_MD_RULES``)."""
    text = "" if value is None else str(value)
    for pattern, repl in _MD_RULES:
        text = pattern.sub(repl, text)
    return text


def _md_cells(column: pd.Series) -> pd.Series:
    """``_md_cell`` over a column of text, vectorised."""
    for pattern, repl in _MD_RULES:
        column = column.str.replace(pattern, repl, regex=True)
    return column


def _md_line(value: object) -> str:
    """A note or a title as one line of Markdown text that cannot open a block of its own."""
    text = _md_cell(value).strip()
    m = _MD_LINE_START.match(text)
    if m is None:
        return text
    if m.group(1)[0].isdigit():  # "1. x": the dot is escaped, the number stays
        return text[: m.end()] + "\\" + text[m.end() :]
    return "\\" + text


def _right_aligned(t: ResearchTable, view: pd.DataFrame) -> list[bool]:
    if t.pivot is not None:
        keys = set(t.pivot[0])
        return [c not in keys for c in view.columns]
    numeric = {
        c
        for c in t.frame.columns
        if c in t.count_cols
        or (
            pd.api.types.is_numeric_dtype(t.frame[c]) and not pd.api.types.is_bool_dtype(t.frame[c])
        )
    }
    return [c in numeric for c in view.columns]


def _pipe_table(view: pd.DataFrame, right: Sequence[bool]) -> str:
    """A GitHub-flavoured pipe table of text cells."""
    header = "| " + " | ".join(_md_cell(c) for c in view.columns) + " |"
    rule = "|" + "|".join("---:" if r else "---" for r in right) + "|"
    cells = view.astype(object).fillna("").astype(str).apply(_md_cells)
    body = ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False, name=None)]
    return "\n".join([header, rule, *body])


def to_markdown(
    tables: Sequence[ResearchTable],
    *,
    methods: MethodsInfo | None = None,
    min_n: int = DEFAULT_MIN_N,
) -> str:
    """The tables as one Markdown document: per table a ``##`` title, the pipe table and its
    notes; with ``methods``, a first line naming the software and date and a closing Methods
    table."""
    parts: list[str] = []
    if methods is not None:
        parts.append(
            f"_{SOFTWARE} {methods.software_version}, generated on "
            f"{methods.generated_on.isoformat()}._"
        )
    for table in tables:
        t = prepare_for_export(table, min_n)
        # Text cells were neutralised by prepare_for_export; the view's other cells are numbers
        # formatted for reading (a negative effect size must stay "-0.25").
        view = wide_for_display(t)
        parts.append(f"## {_md_line(t.title)}")
        parts.append(_pipe_table(view, _right_aligned(t, view)))
        if t.notes:
            parts.append("\n".join(f"- {_md_line(n)}" for n in t.notes))
    if methods is not None:
        rows = _methods_frame(methods, [])
        parts.append("## Methods")
        parts.append(_pipe_table(rows, [False] * rows.shape[1]))
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- XLSX


def sheet_names(names: Sequence[str], reserved: Sequence[str] = (METHODS_SHEET,)) -> list[str]:
    """Valid, unique Excel sheet names for ``names``: at most 31 characters, none of
    ``[ ] : * ? / \\``, no leading or trailing apostrophe, unique ignoring case (a clash gets
    ``~2``, ``~3`` …), never one of ``reserved`` or Excel's own "History"."""
    used = {r.lower() for r in reserved} | {"history"}
    out = []
    for name in names:
        base = _BAD_SHEET_CHARS.sub("_", str(name)).strip("'").strip() or "table"
        base = base[:MAX_SHEET_NAME]
        candidate, k = base, 2
        while candidate.lower() in used:
            suffix = f"~{k}"
            candidate = base[: MAX_SHEET_NAME - len(suffix)] + suffix
            k += 1
        used.add(candidate.lower())
        out.append(candidate)
    return out


def _methods_frame(methods: MethodsInfo, table_rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    rows = [*methods.header_rows(), *table_rows, *methods.rows]
    frame = pd.DataFrame(rows, columns=["section", "item", "value"], dtype=object)
    return neutralise_formulas(frame)


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


class _SheetWriter:
    """Writes frames to worksheets: typed cells, frozen header, autofilter, column widths."""

    def __init__(self, workbook: xlsxwriter.Workbook):
        self.wb = workbook
        self.header = workbook.add_format({"bold": True, "bottom": 1, "text_wrap": False})
        self._number_formats: dict[int, object] = {}

    def number_format(self, decimals: int) -> object:
        if decimals not in self._number_formats:
            pattern = "0" if decimals <= 0 else "0." + "0" * decimals
            self._number_formats[decimals] = self.wb.add_format({"num_format": pattern})
        return self._number_formats[decimals]

    def write(
        self, name: str, frame: pd.DataFrame, shown: pd.DataFrame, decimals: dict[str, int]
    ) -> None:
        if len(frame) + 1 > MAX_XLSX_ROWS:
            raise AnalysisError(
                f"Table '{name}' has {len(frame)} rows, more than an Excel sheet holds; "
                "download it as CSV instead."
            )
        ws = self.wb.add_worksheet(name)
        for j, col in enumerate(frame.columns):
            ws.write_string(0, j, str(neutralise_text(str(col))), self.header)
            fmt = self.number_format(decimals.get(col, DEFAULT_DECIMALS))
            for i, value in enumerate(frame[col].astype(object).tolist(), start=1):
                self._cell(ws, i, j, value, fmt)
            width = max([len(str(col)), *shown[col].astype(str).str.len().tolist()])
            ws.set_column(j, j, min(width + 2, _MAX_WIDTH))
        ws.freeze_panes(1, 0)
        if len(frame.columns):
            ws.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)

    def _cell(self, ws, i: int, j: int, value: object, fmt: object) -> None:
        if _is_missing(value) or (isinstance(value, str) and value == ""):
            return
        if isinstance(value, bool | np.bool_):
            ws.write_boolean(i, j, bool(value))
        elif isinstance(value, int | np.integer):
            ws.write_number(i, j, int(value))
        elif isinstance(value, float | np.floating):
            if np.isfinite(value):
                ws.write_number(i, j, float(value), fmt)
            else:
                ws.write_string(i, j, "inf" if value > 0 else "-inf")
        else:  # text, or an odd object shown as text: never a formula, never a link
            ws.write_string(i, j, str(neutralise_text(str(value))))


def to_xlsx_bytes(
    tables: Sequence[ResearchTable], methods: MethodsInfo, *, min_n: int = DEFAULT_MIN_N
) -> bytes:
    """An XLSX workbook: the Methods sheet, then each table's tidy sheet (and ``_wide`` sheet
    for pivoted tables). Reproducible byte for byte for the same input and date."""
    prepared = [prepare_for_export(t, min_n) for t in tables]
    wanted = []
    for t in prepared:
        wanted.append(t.name)
        if t.pivot is not None:
            wanted.append(f"{t.name[: MAX_SHEET_NAME - 5]}_wide")
    names = iter(sheet_names(wanted))
    plan, table_rows = [], []
    for t in prepared:
        tidy_name = next(names)
        wide_name = next(names) if t.pivot is not None else None
        plan.append((t, tidy_name, wide_name))
        table_rows.append((f"Sheet {tidy_name}", "title", t.title))
        if wide_name:
            table_rows.append((f"Sheet {wide_name}", "title", f"{t.title} (display view)"))
        table_rows.extend((f"Sheet {tidy_name}", "note", note) for note in t.notes)

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(
        buf,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    wb.set_properties(
        {
            "title": f"{SOFTWARE} research tables",
            "comments": f"{SOFTWARE} {methods.software_version}",
            "created": dt.datetime.combine(methods.generated_on, dt.time()),
        }
    )
    writer = _SheetWriter(wb)
    mframe = _methods_frame(methods, table_rows)
    writer.write(METHODS_SHEET, mframe, mframe, {})
    for t, tidy_name, wide_name in plan:
        writer.write(tidy_name, t.frame, display_frame(t), dict(t.decimals))
        if wide_name is not None:
            wide = neutralise_formulas(wide_for_display(t))
            writer.write(wide_name, wide, wide, {})
    wb.close()
    return buf.getvalue()
