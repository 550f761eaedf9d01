"""Validation: ``RawTable`` → ``Validated`` (SPEC sections 2, 3 and 8; docs/validation.md).

File-level problems (identifiers, missing required columns) raise ``UnusableFileError`` and
nothing is accepted. Otherwise every row ends in exactly one place: the tidy table, the
rejects (with its spreadsheet row and every reason), or, for an exact repeat of an earlier row,
skipped with a warning. All rules work on whole columns at once; see docs/validation.md for
the list of rules, their messages and the choices made.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import TypeVar

import numpy as np
import pandas as pd

from data.errors import Problem, UnusableFileError
from data.instruments import Registry
from data.readers.export import RawTable
from data.schema import OPTIONAL_DTYPES, PHASES, conform, item_columns
from data.validation import rowrules
from data.validation.across_rows import dates_to_days, derive_phase, duplicates, no_baseline_notes
from data.validation.cells import TEXT, Coded, Numbers, int_array, read_cells
from data.validation.dates import read_dates
from data.validation.deferred import BuiltOnUse, Deferred
from data.validation.findings import Findings
from data.validation.privacy import find_identifiers, plain_number_suspects
from data.validation.report_groups import problems_findings
from data.validation.tables import FindingsSource, label_text, rejects_table, yes_no
from data.vocabulary import vocabulary


@dataclass(frozen=True)
class Validated:
    """The outcome of validating one export.

    ``tidy``: accepted assessments, ``data.schema.conform``-ed. ``source_row``: the spreadsheet
    row of each tidy row (same index as ``tidy``). ``rejects``: rejected rows as read (the file's
    own headers) plus ``row`` and ``reason``. ``problems``: every row error and warning.
    ``anchors``: patient_id → baseline date, only when the export had dates; kept apart from the
    tidy table and never stored with it. ``anchor_from_baseline``: patient_id → True when that
    patient's anchor date is a session-0 (baseline) assessment, False when it is their first
    dated assessment instead; same index as ``anchors`` (empty when the export had no dates).
    ``tidy`` and ``rejects`` may be given as ``data.validation.deferred.Deferred`` tables, built when first
    read (``n_accepted`` and ``n_rejected`` count their rows without building them).
    """

    tidy: pd.DataFrame = BuiltOnUse()  # type: ignore[assignment]
    source_row: pd.Series
    rejects: pd.DataFrame = BuiltOnUse()  # type: ignore[assignment]
    problems: tuple[Problem, ...]
    anchors: pd.Series
    raw: RawTable
    anchor_from_baseline: pd.Series = field(default_factory=lambda: _no_patients(bool))
    #: What ``findings`` is built from when first asked for (only the dashboard's report asks,
    #: so the command line never pays for it); None: ``problems``.
    findings_source: FindingsSource | None = field(default=None, repr=False, compare=False)
    #: Spreadsheet rows of the exact repeats that were skipped (one per skipped assessment).
    repeat_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @cached_property
    def findings(self) -> pd.DataFrame:
        """Every finding, uncapped (``data.validation.report_groups``), built on first use; from
        ``problems`` when validation kept no ``findings_source``."""
        if self.findings_source is None:
            return problems_findings(self.problems)
        return self.findings_source.table()

    @property
    def n_accepted(self) -> int:
        """Rows of ``tidy`` (accepted assessments), counted without building it."""
        return Validated.__dict__["tidy"].rows_of(self)

    @property
    def n_rejected(self) -> int:
        """Rows of ``rejects``, counted without building it."""
        return Validated.__dict__["rejects"].rows_of(self)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


def _no_patients(dtype: object) -> pd.Series:
    """An empty per-patient Series (index patient_id), for a file without dates."""
    return pd.Series([], index=pd.Index([], dtype=TEXT, name="patient_id"), dtype=dtype)


NO_PROTOCOL = Problem(
    "The file has no protocol column.",
    "Add a protocol column (intensive, weekly, or your practice's own name for it), or choose "
    "one protocol for the whole file when you upload it.",
)


def _missing_columns(cols: set[str], *, has_items: bool) -> list[Problem]:
    """File-level problems for required columns the file does not have (protocol aside)."""
    out = []
    if "patient_id" not in cols:
        out.append(
            Problem(
                "The file has no patient id column.",
                "Add a column with each patient's pseudonymous id (a header such as patient_id or "
                "Client ID), or pick it in the column mapping, then upload again.",
            )
        )
    if "instrument" not in cols:
        out.append(
            Problem(
                "The file has no instrument column, so the scores cannot be told apart.",
                "Add an instrument column (PHQ-9, GAD-7, PCL-5 …), or give each instrument its own "
                "column (phq9, gad7 …), then upload again.",
            )
        )
    if "score" not in cols and not has_items:
        out.append(
            Problem(
                "The file has no score column and no item columns.",
                "Add the total score (a header such as score or total) or the item answers "
                "(item_1 … item_k), then upload again.",
            )
        )
    if not cols & {"session", "day", "date"}:
        out.append(
            Problem(
                "The file has no session, day or date column, so assessments cannot be placed in time.",
                "Add the session number (0 = baseline), the days since baseline, or the assessment "
                "date, then upload again.",
            )
        )
    return out


def _default_protocol_note(
    filled: np.ndarray, src: np.ndarray, default: str | None, origin: Mapping[str, str]
) -> Problem:
    """Warning that blank protocol cells were given the protocol chosen for the whole file."""
    rows = ", ".join(str(int(r)) for r in src[filled][:10]) + (", …" if filled.sum() > 10 else "")
    return Problem(
        f"{int(filled.sum())} row(s) had no protocol (rows {rows}); they were given "
        f"'{default}', the protocol you chose for the whole file.",
        "Nothing to do if that is right; otherwise fill in the protocol on those rows.",
        column=origin.get("protocol", "protocol"),
        severity="warning",
    )


def _check_file(
    raw: RawTable, default_protocol: str | None, cells: Mapping[str, Coded | Numbers]
) -> str | None:
    """File-level checks; raises UnusableFileError. Returns the canonical default protocol."""
    distinct = {
        c: v.values if isinstance(v, Coded) else plain_number_suspects(v.as_read)
        for c, v in cells.items()
    }
    problems = find_identifiers(raw, distinct)
    cols = set(raw.frame.columns)
    chosen = (default_protocol or "").strip() or None  # an empty choice is no choice
    problems.extend(_missing_columns(cols, has_items=bool(item_columns(raw.frame))))
    if "protocol" not in cols and chosen is None:
        problems.append(NO_PROTOCOL)
    default = None
    if chosen is not None:
        default = rowrules.protocol_label(chosen)
        if default is None:
            problems.append(
                Problem(
                    f"The protocol chosen for the whole file ('{default_protocol}') is not a "
                    "protocol name.",
                    "Choose intensive, weekly or your practice's own protocol name.",
                )
            )
    if len(raw.frame) == 0:
        problems.append(
            Problem("The file has no data rows.", "Check that you exported the right file.")
        )
    if problems:
        raise UnusableFileError(problems)
    return default


class _Headers:
    """The header a canonical column has in the file, per row: in a wide export the score
    and item columns of each instrument come from their own headers ("PHQ9 Total" …)."""

    def __init__(self, raw: RawTable, registry: Registry) -> None:
        self.origin, self.keys = raw.origin, registry.keys
        self.instrument: np.ndarray | None = None

    def __call__(self, column: str, positions: np.ndarray) -> np.ndarray:
        plain = self.origin.get(column, column)
        per_key = [self.origin.get(f"{k}/{column}", plain) for k in self.keys]
        if self.instrument is None or all(h == plain for h in per_key):
            return np.full(len(positions), plain, dtype=object)
        return np.array([*per_key, plain], dtype=object)[self.instrument[positions]]


def _wide_keep(
    cells: Mapping[str, Coded | Numbers], items: list[str], src: np.ndarray
) -> np.ndarray:
    """Long rows of a wide export worth checking: those with a score or an item answer, plus
    the first long row of a source row that has none at all (so that row is reported)."""
    n = len(src)
    empty = cells["score"].blank if "score" in cells else np.ones(n, dtype=bool)
    for c in items:
        empty = empty & cells[c].blank
    all_empty = pd.Series(empty).groupby(src).transform("all").to_numpy(dtype=bool)
    first = ~pd.Series(src).duplicated().to_numpy()
    return ~empty | (all_empty & first)


def validate(
    raw: RawTable, registry: Registry, *, default_protocol: str | None = None
) -> Validated:
    """Check every row of ``raw``; UnusableFileError for file-level problems.

    Accepted rows become the conformed tidy table; each rejected row keeps its text as read,
    its spreadsheet row and all its reasons; an exact repeat of an earlier row is skipped with
    a warning. Dates become days since each patient's baseline (``anchors`` keeps the dates).
    """
    frame = raw.frame
    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        frame = frame.reset_index(drop=True)
    if "source_row" in frame:
        src = pd.to_numeric(frame["source_row"], errors="coerce").to_numpy(dtype=np.int64)
    else:
        src = np.arange(2, len(frame) + 2, dtype=np.int64)
    items = item_columns(frame)
    wanted = [*rowrules.TEXT_COLUMNS, *OPTIONAL_DTYPES, *items]
    numeric = {*rowrules.NUMBER_COLUMNS, *items}
    tasks = {c: partial(read_cells, frame[c], c in numeric) for c in wanted if c in frame}
    cells = dict(zip(tasks, _in_parallel(list(tasks.values()), len(frame)), strict=True))
    default = _check_file(raw, default_protocol, cells)
    if raw.shape == "wide":
        keep = _wide_keep(cells, items, src)
        if not keep.all():
            frame, src = frame[keep].reset_index(drop=True), src[keep]
            cells = {c: v.subset(keep) for c, v in cells.items()}
    n = len(frame)

    headers = _Headers(raw, registry)

    def cell(col: str) -> Coded | Numbers:
        return cells.get(col) or Coded.empty(n)

    errors = Findings(src, headers)
    notes = Findings(src, headers, severity="warning")
    file_notes: list[Problem] = []
    rules = rowrules.RowRules(cell, registry, errors, items)
    keys = np.array([*registry.keys, ""], dtype=object)

    pid = cell("patient_id")  # a text column, so always coded
    errors.add(pid.blank, "patient_id", "This cell is empty.", rowrules.FIX_PATIENT)
    rules.hidden_characters()
    inst = rules.instrument()
    headers.instrument = inst
    protocol, protocol_labels, filled = rules.protocol(default, "protocol" in cells)
    if filled.any():
        file_notes.append(_default_protocol_note(filled, src, default, raw.origin))
    session, session_word, bad_session = rules.session()
    day = rules.day()
    phase_given = rules.words(
        "phase", vocabulary().phases, list(PHASES), rowrules.FIX_PHASE_WORD, "a phase"
    )
    resistant = rules.words(
        "treatment_resistant",
        vocabulary().booleans,
        [False, True],
        rowrules.FIX_YES_NO,
        "a yes/no answer",
    )
    phase, session = rules.phase_against_session(phase_given, session, session_word)
    item_values, item_bad = rules.items(inst)
    score = rules.score(inst, item_values, item_bad)

    dates = cell("date")
    timed = np.isfinite(session) | bad_session | cell("day").present | dates.present
    timed |= session_word >= 0
    errors.add(~timed, None, rowrules.NO_TIMING, rowrules.FIX_TIMING)
    anchors = _no_patients("datetime64[ns]").rename("anchor_date")
    from_baseline = _no_patients(bool).rename("anchor_from_baseline")
    no_baseline = np.zeros(0, dtype=np.int64)
    if "date" in cells:
        reading = read_dates(
            dates,
            patient=pid.codes,
            session=session,
            column=raw.origin.get("date", "date"),
            source_row=src,
        )
        file_notes.extend(reading.warnings)
        day, anchors, from_baseline, no_baseline = dates_to_days(
            reading, dates, pid, session, day, errors, notes
        )

    phase = derive_phase(phase, session, day, pid.codes, inst, ~errors.flagged, keys, errors)
    others = [cell(c).codes for c in ("site", "clinician", "route")]
    dropped = duplicates(
        ~errors.flagged,
        [pid.codes, inst, session, day],
        [score, *item_values.values(), protocol, phase, resistant, *others],
        errors,
        notes,
    )

    rejected = errors.flagged
    no_baseline_notes(no_baseline, pid, ~rejected, notes)  # only patients with accepted rows
    accepted = np.flatnonzero(~rejected & ~dropped)
    every = len(accepted) == n  # every row accepted: columns are passed on without a copy

    def pick(values: np.ndarray) -> np.ndarray:
        return values if every else values[accepted]

    build: dict[str, Callable[[], object]] = {
        "patient_id": partial(pid.take, accepted, every),
        "protocol": partial(
            label_text, cell("protocol"), protocol, protocol_labels, accepted, every
        ),
        "instrument": partial(label_text, cell("instrument"), inst, registry.keys, accepted, every),
        "session": lambda: int_array(pick(session)),
        "day": lambda: pick(day),
        "phase": partial(label_text, cell("phase"), phase, PHASES, accepted, every),
        "score": lambda: pick(score),
    }
    for c in ("site", "clinician", "route"):
        if c in cells:
            build[c] = partial(cells[c].take, accepted, every)
    if "treatment_resistant" in cells:
        build["treatment_resistant"] = lambda: yes_no(pick(resistant))
    for c in items:
        build[c] = partial(lambda v: int_array(pick(v)), item_values[c])
    tidy = Deferred(partial(_tidy_table, build, n), rows=len(accepted))
    cells.clear()  # the builders hold the cells they need until the table is built
    del item_values, build
    rejected_at = np.flatnonzero(rejected)

    problems = [*raw.notes, *file_notes]
    row_problems = errors.problems() + notes.problems()
    problems += sorted(row_problems, key=lambda p: (p.row is None, p.row or 0))
    return Validated(
        tidy=tidy,
        source_row=pd.Series(src[accepted], name="source_row", dtype="int64"),
        rejects=Deferred(
            partial(rejects_table, frame, src, rejected_at, errors, raw.origin),
            rows=len(rejected_at),
        ),
        problems=tuple(problems),
        anchors=anchors,
        raw=raw,
        anchor_from_baseline=from_baseline,
        findings_source=FindingsSource((*raw.notes, *file_notes), errors, notes),
        repeat_rows=src[dropped],
    )


T = TypeVar("T")
#: Threads for work on whole columns (pyarrow and numpy let go of Python's lock while they work).
_WORKERS = min(4, os.cpu_count() or 1)
#: Files shorter than this are checked on one thread (starting threads would cost more).
_PARALLEL_ROWS = 50_000


def _in_parallel(tasks: Sequence[Callable[[], T]], rows: int) -> list[T]:
    """The results of independent tasks (one per column of ``rows`` rows), in order, computed
    on ``_WORKERS`` threads. A task's error is raised as if the tasks had run one by one."""
    if _WORKERS < 2 or len(tasks) < 2 or rows < _PARALLEL_ROWS:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        return list(pool.map(lambda task: task(), tasks))


def _tidy_table(build: Mapping[str, Callable[[], object]], n: int) -> pd.DataFrame:
    """The tidy table from its column builders (run side by side), conformed."""
    columns = dict(zip(build, _in_parallel(list(build.values()), n), strict=True))
    return conform(pd.DataFrame(columns, copy=False), copy=False)  # columns built here, unshared
