"""Cell rules of validation: each checks one kind of cell on every row at once and flags the
rows that fail, with a message naming what is wrong and a fix (docs/validation.md lists them).

Rules that look across rows (dates → days, follow-up, duplicates) are in data.across_rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from data.cells import TEXT, Coded, fmt_numbers, parse_numbers, shorten
from data.findings import Findings
from data.instruments import Registry, normalise_name
from data.schema import PHASES
from data.vocabulary import vocabulary

BASELINE, TREATMENT, FOLLOW_UP = (PHASES.index(p) for p in ("baseline", "treatment", "follow-up"))
#: Canonical columns read as text cells (optional columns and items are added by the caller).
TEXT_COLUMNS = ("patient_id", "protocol", "instrument", "session", "day", "date", "phase", "score")
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
FIX_ITEM = "Correct the item answer to a whole number in the instrument's item range, or leave it empty if unanswered."
FIX_EXTRA_ITEM = "Clear the item cells this instrument does not have, or correct the instrument."
FIX_SCORE = "Correct the total to a number in the instrument's range, or leave it empty so ReliefCheck computes it from the item answers."
FIX_TOTAL_ITEMS = "Correct the total or the item answers, or leave the total empty so ReliefCheck computes it from the items."
FIX_NO_SCORE = "Enter the total score or the item answers, or delete the row if the questionnaire was not given."
FIX_TOO_FEW = "Enter the missing item answers or the total score from the paper form."
FIX_TIMING = (
    "Give the session number (0 = baseline), the day since baseline, or the assessment date."
)
NO_TIMING = "This row has no session, day or date, so the assessment cannot be placed in time."


def protocol_label(label: object) -> str | None:
    """Canonical protocol for one label (aliases → intensive / weekly; other names kept as
    written, spaces tidied), or None when it is not a name (no letter, or a spreadsheet error)."""
    text = " ".join(str(label).split())
    if SHEET_ERROR.match(text) or not re.search(r"[^\W\d_]", text):
        return None
    return vocabulary().protocols.get(normalise_name(text), text)


class RowRules:
    """The cell rules, sharing the file's cells, the registry and the error collector."""

    def __init__(
        self,
        cell: Callable[[str], Coded],
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

    def quoted(self, col: str, pos: np.ndarray) -> pd.Series:
        """The cells of ``col`` at ``pos`` in quotes, shortened, for messages."""
        return "'" + shorten(self.cell(col).text(pos)) + "'"

    def instrument(self) -> np.ndarray:
        """Instrument code per row (index into registry.keys; -1 blank or unknown)."""
        ins = self.cell("instrument")
        keys = self.registry.keys
        resolved = [self.registry.resolve(v) for v in ins.values.tolist()]
        code = ins.spread(
            np.array([keys.index(k) if k else -1 for k in resolved], dtype=np.int64), -1
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
        code = pr.spread(np.array([index.get(c, -1) for c in canon], dtype=np.int64), -1)
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
        word = np.array(
            [SESSION_WORDS.get(normalise_name(v), -1) for v in se.values.tolist()], dtype=np.int64
        )
        num = parse_numbers(se.values)
        whole = np.isfinite(num) & (num >= 0) & (num == np.floor(num)) & (num < 1e9)
        value = np.where(word == BASELINE, 0.0, np.where(whole, num, np.nan))
        bad = se.spread((word < 0) & ~whole, False)
        self.errors.add(
            bad,
            "session",
            lambda p: (
                self.quoted("session", p) + " is not a session number (a whole number from 0 up)."
            ),
            FIX_SESSION,
        )
        return se.spread(value, np.nan), se.spread(word, -1), bad

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
        return np.where(v >= 0, v, np.nan)

    def words(
        self, col: str, table: Mapping[str, Any], outputs: list[Any], fix: str, what: str
    ) -> np.ndarray:
        """Code per row of a word column (index into ``outputs``; -1 blank or unknown)."""
        c = self.cell(col)
        found = [table.get(normalise_name(v)) for v in c.values.tolist()]
        code = c.spread(
            np.array([outputs.index(f) if f in outputs else -1 for f in found], dtype=np.int64), -1
        )
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
        session = np.where((phase == BASELINE) & blank, 0.0, session)
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

    def items(self, inst: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Item answers per item column (float, NaN blank or bad) and where any item is bad."""
        n_items, lo, hi = self.n_items[inst], self.item_lo[inst], self.item_hi[inst]
        values: dict[str, np.ndarray] = {}
        bad_any = np.zeros(len(inst), dtype=bool)
        for col in self.item_cols:
            k = int(col.rsplit("_", 1)[1])
            c = self.cell(col)
            v = c.numbers()
            not_whole = c.present & ~(np.isfinite(v) & (v == np.floor(v)))
            extra = c.present & ~not_whole & (n_items >= 0) & (k > n_items)
            outside = c.present & ~not_whole & ~extra & ((v < lo) | (v > hi))
            self.errors.add(
                not_whole,
                col,
                lambda p, col=col: self.quoted(col, p) + " is not a whole-number item answer.",
                FIX_ITEM,
            )
            self.errors.add(
                extra,
                col,
                lambda p, k=k: (
                    as_text(self.keys[inst[p]])
                    + as_text(np.where(n_items[p] > 0, " has " + n_items[p].astype(str), " has no"))
                    + f" items, so item {k} must be empty."
                ),
                FIX_EXTRA_ITEM,
            )
            self.errors.add(
                outside,
                col,
                lambda p, col=col: (
                    self.quoted(col, p)
                    + " is outside "
                    + as_text(self.keys[inst[p]])
                    + "'s item range "
                    + fmt_numbers(lo[p])
                    + "–"
                    + fmt_numbers(hi[p])
                    + "."
                ),
                FIX_ITEM,
            )
            values[col] = np.where(c.present & ~not_whole, v, np.nan)
            bad_any |= not_whole | extra | outside
        return values, bad_any

    def score(
        self, inst: np.ndarray, items: dict[str, np.ndarray], item_bad: np.ndarray
    ) -> np.ndarray:
        """Score per row: the total given, else the (prorated) total of the item answers.

        Totals from items use ``Instrument.score_items`` (SPEC section 3: mean of answered
        items × number of items, when few enough are missing; items never imputed stay empty).
        A given total must match the one from complete items exactly, and a prorated one to
        within 0.5 (the prorated total rounded to a whole number).
        """
        sc = self.cell("score")
        given = sc.numbers()
        lo, hi, n_items = self.lo[inst], self.hi[inst], self.n_items[inst]
        q = self.quoted
        self.errors.add(
            sc.present & np.isnan(given),
            "score",
            lambda p: q("score", p) + " is not a number.",
            FIX_SCORE,
        )
        self.errors.add(
            (given < lo) | (given > hi),
            "score",
            lambda p: (
                q("score", p)
                + " is outside "
                + as_text(self.keys[inst[p]])
                + "'s range "
                + fmt_numbers(lo[p])
                + "–"
                + fmt_numbers(hi[p])
                + "."
            ),
            FIX_SCORE,
        )
        computed = np.full(len(inst), np.nan)
        missing = np.full(len(inst), -1)
        answered = np.zeros(len(inst), dtype=bool)
        for v in items.values():
            answered |= ~np.isnan(v)
        for idx, instrument in enumerate(self.registry):
            rows = (inst == idx) & ~item_bad & answered
            if not instrument.items or not self.item_cols or not rows.any():
                continue
            block = pd.DataFrame({c: v[rows] for c, v in items.items()})
            result = instrument.score_items(block)
            computed[rows] = result.score.to_numpy()
            missing[rows] = result.n_missing.to_numpy()
        tolerance = np.where(missing > 0, 0.5, 0.0) + 1e-9
        self.errors.add(
            np.isfinite(given) & np.isfinite(computed) & (np.abs(given - computed) > tolerance),
            "score",
            lambda p: (
                "The total " + fmt_numbers(given[p]) + " disagrees with the item answers, "
                "which give "
                + fmt_numbers(computed[p])
                + pd.Series(np.where(missing[p] > 0, " (prorated for missing items)", ""))
                + "."
            ),
            FIX_TOTAL_ITEMS,
        )
        no_total = sc.blank & (inst >= 0) & ~item_bad
        unanswered = (missing < 0) | (missing == n_items)
        self.errors.add(
            no_total & unanswered,
            "score",
            "This cell is empty, and so are the item answers."
            if self.item_cols
            else "This cell is empty.",
            FIX_NO_SCORE,
        )
        self.errors.add(
            no_total & ~unanswered & np.isnan(computed),
            "score",
            lambda p: (
                "This cell is empty, and only "
                + pd.Series(n_items[p] - missing[p]).astype(str)
                + " of "
                + pd.Series(n_items[p]).astype(str)
                + " items are answered; "
                + as_text(self.keys[inst[p]])
                + " allows at most "
                + pd.Series(self.max_missing[inst[p]]).astype(str)
                + " missing items for a total to be computed."
            ),
            FIX_TOO_FEW,
        )
        return np.where(np.isfinite(given), given, computed)


def as_text(values: np.ndarray) -> pd.Series:
    """An object array of strings as a text Series (for message building)."""
    return pd.Series(values, dtype=TEXT)
