"""Export headers → canonical columns (SPEC section 2): detection, explicit mappings, checks.

A header maps to a *target*: a canonical column of the long table (``patient_id``, ``score``,
``item_3`` …) or, in a wide export, an instrument's total or item (``PHQ9 Total``, ``phq9_3``).
Targets are written as text so the dashboard's mapping screen can show and return them: a
canonical column name, an instrument key for its total (``"PHQ-9"``), or ``"PHQ-9:item_3"``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa

from data.errors import Problem
from data.instruments import Registry
from data.privacy_values import identifying_texts
from data.schema import item_column
from data.vocabulary import vocabulary

#: Canonical columns of the long table that a header can map to (besides item_1 … item_k).
CANONICAL = (
    "patient_id",
    "protocol",
    "instrument",
    "session",
    "day",
    "date",
    "phase",
    "score",
    "site",
    "clinician",
    "route",
    "treatment_resistant",
)
#: Column names the reader itself adds; a file column of the same name is renamed.
RESERVED = ("source_row",)

_ITEM_NAME = re.compile(r"item_(\d+)")
_LONG_ITEM = re.compile(r"(?:item|itm|question|q)[\s_.:#-]*(\d+)", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(r"(.*?)(\d+)\s*")
_TOTAL_SUFFIX = re.compile(
    r"(.*?)[\s_.:#-]*(?:total\s*score|sum\s*score|raw\s*score|total|sum|score)\s*", re.IGNORECASE
)
_ITEM_WORD = re.compile(r"(.*?)(?:item|itm|question|q)", re.IGNORECASE)
_SEPARATORS = " \t_.:#-"


@dataclass(frozen=True)
class Target:
    """Where one file column goes: a canonical column, for one instrument in wide exports."""

    column: str  # "patient_id", "score", "item_3" …
    instrument: str | None = None  # registry key: set for the columns of a wide export

    @property
    def label(self) -> str:
        """The text form used by ``detect_mapping`` and accepted in ``mapping``."""
        if self.instrument is None:
            return self.column
        return self.instrument if self.column == "score" else f"{self.instrument}:{self.column}"


@dataclass(frozen=True)
class Grid:
    """A sheet or CSV as read: the header row and the text cells under it.

    ``table`` has one string column per file column (named c0 … c{n−1}; null for a blank
    cell); rows that are blank in every cell are already dropped. ``source_row`` gives each
    remaining row's spreadsheet row number; ``n_records`` counts data rows before that drop.
    """

    header: list[str | None]
    table: pa.Table
    source_row: np.ndarray
    n_records: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    notes: tuple[Problem, ...] = ()
    preamble: tuple[str, ...] = ()  # text of the cells above the header row (a sheet's title)


@dataclass(frozen=True)
class ColumnPlan:
    """What to do with each file column, in file order."""

    shape: Literal["long", "wide"]
    names: tuple[str, ...]  # output column name per file column (canonical or kept header)
    targets: tuple[Target | None, ...]  # None: kept under its own header
    origin: dict[str, str] = field(default_factory=dict)
    notes: tuple[Problem, ...] = ()
    problems: tuple[Problem, ...] = ()  # file-level errors


def column_letter(position: int) -> str:
    """Spreadsheet letter of a 0-based column position: 0 → A, 26 → AA."""
    letters = ""
    n = position + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def display_headers(header: Sequence[str | None]) -> list[str]:
    """Header texts, with a blank header shown as ``(column G)``."""
    return [
        h.strip() if isinstance(h, str) and h.strip() else f"(column {column_letter(i)})"
        for i, h in enumerate(header)
    ]


def _instrument_item(prefix: str, k: int, registry: Registry) -> Target | None:
    key = registry.resolve(prefix) if prefix.strip(_SEPARATORS) else None
    if key is None:
        return None
    items = registry.get(key).items or 0
    return Target(item_column(k), key) if 1 <= k <= items else None


def _wide_item(header: str, registry: Registry) -> Target | None:
    """``phq9_3``, ``PHQ-9 item 3``, ``phq9_q3`` → item 3 of PHQ-9.

    The item number is cut off the end first, and a separator or the word item/q/question must
    stand between it and the instrument name, so ``phq9_1`` is item 1 of PHQ-9, never "phq91".
    """
    m = _TRAILING_NUMBER.fullmatch(header)
    if m is None:
        return None
    head, k = m.group(1), int(m.group(2))
    stripped = head.rstrip(_SEPARATORS)
    if stripped != head and (hit := _instrument_item(stripped, k, registry)):
        return hit
    word = _ITEM_WORD.fullmatch(stripped)
    if word is not None:
        return _instrument_item(word.group(1).rstrip(_SEPARATORS), k, registry)
    return None


def classify_header(header: object, registry: Registry) -> Target | None:
    """The target a header maps to by name, or None.

    Order: the export vocabulary (``Client ID`` → patient_id), long item columns (``item_3``,
    ``Q3``), an instrument name (``phq9``, ``PHQ9 Total``, ``GAD-7 score``), an instrument's
    item (``phq9_3``). A bare instrument name with a digit (``phq_9``) is that instrument's total.
    """
    if not isinstance(header, str) or not header.strip():
        return None
    text = header.strip()
    column = vocabulary().column_for(text)
    if column is not None:
        return Target(column)
    if m := (_ITEM_NAME.fullmatch(text) or _LONG_ITEM.fullmatch(text)):
        return Target(item_column(int(m.group(1)))) if int(m.group(1)) >= 1 else None
    key = registry.resolve(text)
    if key is None and (m := _TOTAL_SUFFIX.fullmatch(text)) and m.group(1).strip(_SEPARATORS):
        key = registry.resolve(m.group(1))
    if key is not None:
        return Target("score", key)
    return _wide_item(text, registry)


def parse_target(text: object, registry: Registry) -> Target | None:
    """A mapping value → Target. None or "" means: keep the column under its own header.

    Accepts a canonical column (``patient_id``, ``item_3``), an instrument key or alias for its
    total (``PHQ-9``), ``"PHQ-9:item_3"``, or anything ``classify_header`` understands.
    Raises ValueError for text that names nothing.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    text = str(text).strip()
    if text in CANONICAL or _ITEM_NAME.fullmatch(text):
        return Target(text)
    if ":" in text:
        name, _, column = text.rpartition(":")
        key = registry.resolve(name)
        if key is not None and (column == "score" or _ITEM_NAME.fullmatch(column)):
            return Target(column, key)
    found = classify_header(text, registry)
    if found is None:
        raise ValueError(text)
    return found


def detect_mapping(headers: Sequence[object], registry: Registry) -> dict[str, str | None]:
    """{header → detected target text, or None when it maps to nothing} for a mapping screen.

    Passing the result (edited or not) back as ``read_export(mapping=...)`` reads the file the
    same way; blank headers are listed as ``(column G)``.
    """
    shown = display_headers([h if isinstance(h, str) else None for h in headers])
    out: dict[str, str | None] = {}
    for name in shown:
        found = classify_header(name, registry)
        out.setdefault(name, found.label if found else None)
    return out


def _mapping_problems(
    mapping: Mapping[str, object], names: list[str], registry: Registry
) -> tuple[dict[str, Target | None], list[Problem]]:
    explicit: dict[str, Target | None] = {}
    problems: list[Problem] = []
    for header, value in mapping.items():
        if header not in names:
            problems.append(
                Problem(
                    f"The column mapping names a column '{header}' that is not in the file.",
                    "Choose one of the file's columns: " + ", ".join(names[:20]) + ".",
                    column=header,
                )
            )
            continue
        try:
            explicit[header] = parse_target(value, registry)
        except ValueError:
            problems.append(
                Problem(
                    f"The column mapping sends '{header}' to '{value}', which is neither a "
                    "ReliefCheck column nor a known instrument.",
                    "Choose one of: " + ", ".join(CANONICAL) + ", item_1 …, or an instrument "
                    "(" + ", ".join(registry.keys) + ", or e.g. 'PHQ-9:item_3').",
                    column=header,
                )
            )
    return explicit, problems


def plan_columns(
    header: Sequence[str | None], registry: Registry, mapping: Mapping[str, object] | None = None
) -> ColumnPlan:
    """Decide each column's target and the export's shape; collect file-level problems.

    An explicit ``mapping`` wins: a column it names goes where it says (None: nowhere), and a
    column detected by name for a target the mapping gives to another column is left unmapped.
    Shape: long when a column holds the instrument name; wide when columns are instruments.
    """
    names = display_headers(header)
    explicit, problems = _mapping_problems(mapping or {}, names, registry)
    notes: list[Problem] = []
    claimed = {t for t in explicit.values() if t is not None}
    targets: list[Target | None] = []
    for name in names:
        if name in explicit:
            targets.append(explicit[name])
            continue
        found = classify_header(name, registry)
        if found is not None and found in claimed:
            notes.append(
                _note(
                    name,
                    f"was not used as {found.label}: the column mapping gives "
                    f"{found.label} to another column.",
                    "Nothing to do if the mapping is right; otherwise change it.",
                )
            )
            found = None
        targets.append(found)

    shape = _choose_shape(names, targets, set(explicit), notes)
    problems += _duplicate_problems(names, targets)
    if not any(t is not None and t.column == "patient_id" for t in targets):
        problems.append(
            Problem(
                "No column holds the patient id. The columns found are: "
                + ", ".join(
                    "(a header holding personal details)" if hidden else f"'{n}'"
                    for n, hidden in zip(names[:15], identifying_texts(names[:15]), strict=True)
                )
                + (" …" if len(names) > 15 else "")
                + ".",
                "Rename the column with the pseudonymous patient ids to 'patient_id' (or "
                "'Client ID'), or choose it in the column mapping.",
            )
        )
    return _finish(names, targets, shape, notes, problems)


def _is_value(t: Target) -> bool:
    return t.instrument is None and (t.column == "score" or bool(_ITEM_NAME.fullmatch(t.column)))


def _choose_shape(
    names: list[str], targets: list[Target | None], explicit: set[str], notes: list[Problem]
) -> Literal["long", "wide"]:
    """Long when a column names the instrument (and a score or item column goes with it, or
    the mapping says so); wide when columns are questionnaires. Columns that do not fit the
    chosen shape are kept under their own header, with a note. Updates ``targets`` in place.
    """
    ins = [i for i, t in enumerate(targets) if t and t.column == "instrument" and not t.instrument]
    has_wide = any(t and t.instrument for t in targets)
    has_values = any(t and _is_value(t) for t in targets)
    long = bool(ins) and (has_values or not has_wide or any(names[i] in explicit for i in ins))
    shape: Literal["long", "wide"] = "wide" if has_wide and not long else "long"
    for i, t in enumerate(targets):
        if t is None:
            continue
        if shape == "long" and t.instrument:
            message = (
                f"looks like a {t.instrument} column of a wide export, but the file has an "
                "instrument column, so it was not used."
            )
            fix = "Map it in the column mapping, or remove it from the export."
        elif shape == "wide" and _is_value(t):
            message = (
                "was not used: in a file with one column per questionnaire, a total or item "
                "column must name its questionnaire."
            )
            fix = "Rename it (e.g. 'PHQ9 Total', 'phq9_3') or map it in the column mapping."
        elif shape == "wide" and t.column == "instrument":
            message = (
                "was kept as text, not read as the instrument: the file has one column per "
                "questionnaire."
            )
            fix = "Nothing to do if the scores are in the questionnaire columns."
        else:
            continue
        notes.append(_note(names[i], message, fix))
        targets[i] = None
    return shape


def _note(column: str, message: str, fix: str) -> Problem:
    return Problem(f"Column '{column}' {message}", fix, column=column, severity="warning")


def _duplicate_problems(names: list[str], targets: list[Target | None]) -> list[Problem]:
    problems: list[Problem] = []
    reported: set[int] = set()
    by_name: dict[str, list[int]] = defaultdict(list)
    by_target: dict[Target, list[int]] = defaultdict(list)
    for i, (name, t) in enumerate(zip(names, targets, strict=True)):
        by_name[name].append(i)
        if t is not None:
            by_target[t].append(i)
    for name, pos in by_name.items():
        if len(pos) > 1:
            where = " and ".join(column_letter(p) for p in pos)
            problems.append(
                Problem(
                    f"The header '{name}' appears {len(pos)} times (columns {where}).",
                    "Delete the extra column or give each column its own header, then upload "
                    "again.",
                    column=name,
                )
            )
            reported.update(pos)
    for t, pos in by_target.items():
        if len(pos) > 1 and not set(pos) <= reported:
            cols = " and ".join(f"'{names[p]}'" for p in pos)
            problems.append(
                Problem(
                    f"Columns {cols} both give {t.label}; ReliefCheck cannot tell which to use.",
                    "Delete or rename one of them, or choose a different target for one of them "
                    "in the column mapping.",
                    column=names[pos[0]],
                )
            )
    return problems


def _finish(
    names: list[str],
    targets: list[Target | None],
    shape: Literal["long", "wide"],
    notes: list[Problem],
    problems: list[Problem],
) -> ColumnPlan:
    taken = {t.column for t in targets if t is not None} | set(RESERVED)
    if shape == "wide":
        taken |= {"instrument", "score"} | {t.column for t in targets if t and t.instrument}
    out: list[str] = []
    origin: dict[str, str] = {}
    for name, t in zip(names, targets, strict=True):
        if t is None:
            out.append(f"{name} (file column)" if name in taken or name in CANONICAL else name)
        elif t.instrument:
            out.append(name)
            origin[f"{t.instrument}/{t.column}"] = name
        else:
            out.append(t.column)
            origin[t.column] = name
    return ColumnPlan(
        shape=shape,
        names=tuple(out),
        targets=tuple(targets),
        origin=origin,
        notes=tuple(notes),
        problems=tuple(problems),
    )
