"""Cell rules of validation: each checks one kind of cell on every row at once and flags the
rows that fail, with a message naming what is wrong and a fix (docs/validation.md lists them).

The item and total-score rules are in data.validation.itemrules; rules that look across rows (dates →
days, follow-up, duplicates) are in data.validation.across_rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from data.instruments import Registry, normalise_name
from data.limits import MAX_DAY
from data.privacy_values import hidden_characters
from data.schema import PHASES
from data.validation.cells import Coded, Numbers, code_dtype, is_whole, parse_numbers
from data.validation.findings import Findings
from data.validation.itemrules import ItemRules
from data.vocabulary import vocabulary

BASELINE, TREATMENT, FOLLOW_UP = (PHASES.index(p) for p in ("baseline", "treatment", "follow-up"))
#: Canonical columns read as text cells (optional columns and items are added by the caller).
TEXT_COLUMNS = ("patient_id", "protocol", "instrument", "session", "day", "date", "phase", "score")
#: Of those, the columns that hold numbers (read in one pass when every cell is a plain number).
NUMBER_COLUMNS = ("session", "day", "score")
#: Spreadsheet error values, never a protocol name.
SHEET_ERROR = re.compile(r"^#(?:N/A|REF!|VALUE!|DIV/0!|NAME\?|NUM!|NULL!|SPILL!|CALC!)$", re.I)
#: Words accepted in the session column (compared case- and punctuation-blind).
SESSION_WORDS = {
    **dict.fromkeys(
        ["baseline", "bl", "base", "pre", "pretreatment", "intake", "screening"], BASELINE
    ),
    **dict.fromkeys(["followup", "fu"], FOLLOW_UP),
}

FIX_PATIENT = "Enter the patient's pseudonymous id (the same on every row of that patient)."
FIX_PROTOCOL = (
    "Write the protocol: intensive, weekly, or your practice's own name for it (a word, not a "
    "number), or choose one protocol for the whole file when you upload it."
)
FIX_SESSION = (
    "Write the session number: 0 for the baseline assessment, 1, 2 … for the assessment after "
    "dosing session 1, 2 …; leave it empty only for follow-up assessments."
)
FIX_DAY = "Write the number of days since the patient's baseline assessment (0 or more)."
FIX_PHASE_WORD = "Write baseline, treatment or follow-up, or leave it empty to derive it."
FIX_PHASE_SESSION = (
    "Correct the phase or the session, or leave the phase empty and ReliefCheck derives it "
    "from the session."
)
FIX_YES_NO = "Write yes or no (or leave it empty when unknown)."
FIX_TIMING = (
    "Give the session number (0 = baseline), the day since baseline, or the assessment date."
)
NO_TIMING = "This row has no session, day or date, so the assessment cannot be placed in time."
#: Label columns stored as written, so a hidden character in them would be stored too.
STORED_LABELS = ("patient_id", "protocol", "site", "clinician", "route")
HIDDEN = (
    "This cell holds a hidden character (a right-to-left override, a zero-width space or "
    "another invisible or control character), which can make two different values look the "
    "same."
)
FIX_HIDDEN = "Retype this cell in the spreadsheet (only visible characters), then upload again."


def protocol_label(label: object) -> str | None:
    """Canonical protocol for one label (aliases → intensive / weekly; other names kept as
    written, spaces tidied), or None when it is not a name (no letter, or a spreadsheet error)."""
    text = " ".join(str(label).split())
    if SHEET_ERROR.match(text) or not re.search(r"[^\W\d_]", text):
        return None
    return vocabulary().protocols.get(normalise_name(text), text)


class RowRules(ItemRules):
    """The cell rules, sharing the file's cells, the registry and the error collector (the
    item and total-score rules come from ``data.validation.itemrules.ItemRules``)."""

    def __init__(
        self,
        cell: Callable[[str], Coded | Numbers],
        registry: Registry,
        errors: Findings,
        items: list[str],
    ) -> None:
        self.cell, self.registry, self.errors, self.item_cols = cell, registry, errors, items
        reg = list(registry)
        self.keys = np.array([*registry.keys, ""], dtype=object)
        self.n_items = np.array([i.items or 0 for i in reg] + [-1])
        self.item_lo = np.array(
            [np.nan if i.item_min is None else i.item_min for i in reg] + [np.nan]
        )
        self.item_hi = np.array(
            [np.nan if i.item_max is None else i.item_max for i in reg] + [np.nan]
        )
        self.lo = np.array([i.min for i in reg] + [np.nan])
        self.hi = np.array([i.max for i in reg] + [np.nan])
        self.max_missing = np.array([i.max_missing_items for i in reg] + [0])

    def hidden_characters(self) -> None:
        """Flag label cells holding control or invisible formatting characters (bidi
        overrides, zero-width spaces …); checked once per distinct value."""
        for col in STORED_LABELS:
            cell = self.cell(col)
            if isinstance(cell, Coded) and len(cell.values):
                bad = hidden_characters(cell.values.array.__arrow_array__())
                if bad.any():
                    self.errors.add(cell.spread(bad, False), col, HIDDEN, FIX_HIDDEN)

    def instrument(self) -> np.ndarray:
        """Instrument code per row (index into registry.keys; -1 blank or unknown)."""
        ins = self.cell("instrument")
        keys = self.registry.keys
        resolved = [self.registry.resolve(v) for v in ins.values.tolist()]
        code = ins.spread(
            np.array([keys.index(k) if k else -1 for k in resolved], dtype=code_dtype(len(keys))),
            -1,
        )
        fix = (
            f"Use one of the known instruments ({', '.join(keys)}), or define it in your "
            "practice's instruments file."
        )
        self.errors.add(ins.blank, "instrument", "This cell is empty.", fix)
        self.errors.add(
            ins.present & (code < 0),
            "instrument",
            lambda p: self.quoted("instrument", p) + " is not a known instrument.",
            fix,
        )
        return code

    def protocol(
        self, default: str | None, has_column: bool
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Protocol code per row, the labels, and where blanks were given ``default``."""
        pr = self.cell("protocol")
        canon = [protocol_label(v) for v in pr.values.tolist()]
        labels = list(
            dict.fromkeys([c for c in canon if c is not None] + [default] * bool(default))
        )
        index = {label: i for i, label in enumerate(labels)}
        per_value = np.array([index.get(c, -1) for c in canon], dtype=code_dtype(len(labels)))
        code = pr.spread(per_value, -1)
        filled = np.zeros(len(code), dtype=bool)
        if default is not None:
            code = np.where(pr.blank, labels.index(default), code)
            filled = pr.blank if has_column else filled
        else:
            self.errors.add(pr.blank, "protocol", "This cell is empty.", FIX_PROTOCOL)
        self.errors.add(
            pr.present & (code < 0),
            "protocol",
            lambda p: self.quoted("protocol", p) + " is not a protocol name.",
            FIX_PROTOCOL,
        )
        return code, labels, filled

    def session(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Session per row (float, NaN unknown), the phase a session word implies (code, -1
        none), and where the cell is not a session."""
        se = self.cell("session")
        if isinstance(se, Numbers):  # plain numbers: no session words, checked row by row
            num = se.numbers()
            whole = se.whole() & (num >= 0) & (num < 1e9)
            word = np.full(len(num), -1, dtype=np.int8)
            bad = se.present & ~whole
            value = np.where(whole, num, np.nan) if bad.any() else num  # NaN already if blank
        else:
            word_v = np.array(
                [SESSION_WORDS.get(normalise_name(v), -1) for v in se.values.tolist()],
                dtype=np.int64,
            )
            num_v = parse_numbers(se.values)
            whole_v = is_whole(num_v) & (num_v >= 0) & (num_v < 1e9)
            value_v = np.where(word_v == BASELINE, 0.0, np.where(whole_v, num_v, np.nan))
            bad = se.spread((word_v < 0) & ~whole_v, False)
            value, word = se.spread(value_v, np.nan), se.spread(word_v, -1)
        self.errors.add(
            bad,
            "session",
            lambda p: (
                self.quoted("session", p) + " is not a session number (a whole number from 0 up)."
            ),
            FIX_SESSION,
        )
        return value, word, bad

    def day(self) -> np.ndarray:
        """Days since baseline per row (NaN blank or bad)."""
        dy = self.cell("day")
        v = dy.numbers()
        self.errors.add(
            dy.present & np.isnan(v),
            "day",
            lambda p: self.quoted("day", p) + " is not a number of days.",
            FIX_DAY,
        )
        self.errors.add(
            v < 0,
            "day",
            lambda p: (
                self.quoted("day", p)
                + " is negative; days count from the baseline assessment (day 0)."
            ),
            FIX_DAY,
        )
        self.errors.add(
            v > MAX_DAY,
            "day",
            lambda p: (
                self.quoted("day", p)
                + f" is more than {MAX_DAY:,} days (100 years) after the baseline assessment."
            ),
            "Write the number of days since the patient's baseline assessment; if the cell "
            "holds a date or a date's serial number, put the date in a date column instead.",
        )
        return np.where((v >= 0) & (v <= MAX_DAY), v, np.nan)

    def words(
        self, col: str, table: Mapping[str, Any], outputs: list[Any], fix: str, what: str
    ) -> np.ndarray:
        """Code per row of a word column (index into ``outputs``; -1 blank or unknown)."""
        c = self.cell(col)
        found = [table.get(normalise_name(v)) for v in c.values.tolist()]
        per_value = [outputs.index(f) if f in outputs else -1 for f in found]
        code = c.spread(np.array(per_value, dtype=code_dtype(len(outputs))), -1)
        self.errors.add(
            c.present & (code < 0), col, lambda p: self.quoted(col, p) + f" is not {what}.", fix
        )
        return code

    def phase_against_session(
        self, given: np.ndarray, session: np.ndarray, word: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The phase each row states (code, -1 none) and its session, checked against each
        other: session 0 is baseline, 1 and up treatment, follow-up has no session. A row
        marked baseline with an empty session is session 0."""
        phase = np.where(given >= 0, given, word)
        blank = self.cell("session").blank
        baseline = (phase == BASELINE) & blank
        if baseline.any():
            session = np.where(baseline, 0.0, session)
        known = np.isfinite(session)
        clash = (
            (known & (session == 0) & (phase > BASELINE))
            | (known & (session >= 1) & ((phase == BASELINE) | (phase == FOLLOW_UP)))
            | ((word == FOLLOW_UP) & (given >= 0) & (given != FOLLOW_UP))
        )
        self.errors.add(
            clash,
            "phase",
            lambda p: (
                self.quoted("phase", p)
                + " does not fit session "
                + self.quoted("session", p)
                + ": session 0 is the baseline, sessions 1 and up are treatment, and a follow-up "
                "assessment has no session number."
            ),
            FIX_PHASE_SESSION,
        )
        self.errors.add(
            (phase == TREATMENT) & ~known & blank,
            "session",
            "This cell is empty, but an assessment in the treatment phase needs its session number.",
            FIX_SESSION,
        )
        return phase, session
