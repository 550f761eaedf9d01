"""Item and total-score rules of validation (docs/validation.md): item answers must be whole
numbers in the instrument's item range, and the total must be in the instrument's range and
agree with the items, or be computed from them (SPEC section 3, ``Instrument.score_items``).

``ItemRules`` is the part of ``data.validation.rowrules.RowRules`` that holds these rules; it uses the
cells, registry limits and error collector that ``RowRules`` sets up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from data.instruments import Registry
from data.validation.cells import Coded, Numbers, as_text, fmt_numbers, shorten
from data.validation.findings import Findings

FIX_ITEM = "Correct the item answer to a whole number in the instrument's item range, or leave it empty if unanswered."
FIX_EXTRA_ITEM = "Clear the item cells this instrument does not have, or correct the instrument."
FIX_SCORE = "Correct the total to a number in the instrument's range, or leave it empty so ReliefCheck computes it from the item answers."
FIX_TOTAL_ITEMS = "Correct the total or the item answers, or leave the total empty so ReliefCheck computes it from the items."
FIX_NO_SCORE = "Enter the total score or the item answers, or delete the row if the questionnaire was not given."
FIX_TOO_FEW = "Enter the missing item answers or the total score from the paper form."
#: Size of the blocks of rows whose items are scored at once (see ItemRules._score_items).
_BLOCK_BYTES = 1 << 21


class ItemRules:
    """Item and total-score rules. Per instrument code (registry order, then -1 for none):
    ``n_items``, ``item_lo``/``item_hi`` (item range) and ``lo``/``hi`` (total range)."""

    cell: Callable[[str], Coded | Numbers]
    registry: Registry
    errors: Findings
    item_cols: list[str]
    keys: np.ndarray
    n_items: np.ndarray
    item_lo: np.ndarray
    item_hi: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    max_missing: np.ndarray
    _groups: tuple[np.ndarray, list[tuple[int, np.ndarray]]] | None = None

    def quoted(self, col: str, pos: np.ndarray) -> pd.Series:
        """The cells of ``col`` at ``pos`` in quotes, shortened, for messages."""
        return "'" + shorten(self.cell(col).text(pos)) + "'"

    def by_instrument(self, inst: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(instrument code, its rows) for each instrument code in ``inst`` (-1 included), so
        that per-instrument limits are compared without a full-length table of limits."""
        if self._groups is None or self._groups[0] is not inst:
            counts = np.bincount(inst + 1, minlength=len(self.keys) + 1)
            codes = np.flatnonzero(counts) - 1
            self._groups = (inst, [(int(i), inst == i) for i in codes])
        return self._groups[1]

    def _outside(
        self, values: np.ndarray, inst: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray:
        """Where a value lies outside its row's instrument limits ``lo[inst]``–``hi[inst]``."""
        out = np.zeros(len(values), dtype=bool)
        for code, rows in self.by_instrument(inst):
            if np.isnan(lo[code]) and np.isnan(hi[code]):
                continue  # no limits: nothing is outside
            out |= rows & ((values < lo[code]) | (values > hi[code]))
        return out

    def items(self, inst: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Item answers per item column (float, NaN blank or bad) and where any item is bad."""
        n_items, lo, hi = self.n_items, self.item_lo, self.item_hi  # per instrument code
        values: dict[str, np.ndarray] = {}
        bad_any = np.zeros(len(inst), dtype=bool)
        for col in self.item_cols:
            k = int(col.rsplit("_", 1)[1])
            c = self.cell(col)
            v = c.numbers()
            present = c.present
            if not present.any():
                values[col] = v  # every cell blank: all NaN
                continue
            not_whole = present & ~c.whole()
            ok = present & ~not_whole
            extra = ok & ((n_items >= 0) & (k > n_items))[inst]
            outside = ok & ~extra & self._outside(v, inst, lo, hi)
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
                    + as_text(
                        np.where(
                            n_items[inst[p]] > 0,
                            " has " + n_items[inst[p]].astype(str),
                            " has no",
                        )
                    )
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
                    + fmt_numbers(lo[inst[p]])
                    + "–"
                    + fmt_numbers(hi[inst[p]])
                    + "."
                ),
                FIX_ITEM,
            )
            # NaN where blank or not a whole number (v is already NaN where blank)
            values[col] = np.where(ok, v, np.nan) if not_whole.any() else v
            bad_any |= not_whole | extra | outside
        return values, bad_any

    def _score_items(
        self, rows: np.ndarray, instrument: Any, items: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``instrument.score_items`` on the rows at ``rows``: (totals, missing items).

        Scored in blocks of rows, so that the scorer's temporary tables stay a few MB whatever
        the file's length (each row is scored on its own, so blocks give the same totals)."""
        width = max(len(items), instrument.items or 0, 1)
        step = max(1024, _BLOCK_BYTES // (8 * width))
        score = np.empty(len(rows), dtype=np.float64)
        missing = np.empty(len(rows), dtype=np.int64)
        for start in range(0, len(rows), step):
            block = rows[start : start + step]
            result = instrument.score_items(
                pd.DataFrame({c: v[block] for c, v in items.items()}, copy=False)
            )
            score[start : start + len(block)] = result.score.to_numpy()
            missing[start : start + len(block)] = result.n_missing.to_numpy()
        return score, missing

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
        lo, hi, n_items = self.lo, self.hi, self.n_items  # per instrument code
        q = self.quoted
        self.errors.add(
            sc.present & np.isnan(given),
            "score",
            lambda p: q("score", p) + " is not a number.",
            FIX_SCORE,
        )
        self.errors.add(
            self._outside(given, inst, lo, hi),
            "score",
            lambda p: (
                q("score", p)
                + " is outside "
                + as_text(self.keys[inst[p]])
                + "'s range "
                + fmt_numbers(lo[inst[p]])
                + "–"
                + fmt_numbers(hi[inst[p]])
                + "."
            ),
            FIX_SCORE,
        )
        computed = np.full(len(inst), np.nan)
        missing = np.full(len(inst), -1, dtype=np.int32)
        answered = np.zeros(len(inst), dtype=bool)
        for v in items.values():
            answered |= ~np.isnan(v)
        for idx, instrument in enumerate(self.registry):
            if not instrument.items or not self.item_cols:
                continue
            rows = np.flatnonzero((inst == idx) & ~item_bad & answered)
            if rows.size:
                computed[rows], missing[rows] = self._score_items(rows, instrument, items)
        both = np.flatnonzero(np.isfinite(given) & np.isfinite(computed))
        tolerance = np.where(missing[both] > 0, 0.5, 0.0) + 1e-9
        disagree = np.zeros(len(inst), dtype=bool)
        disagree[both[np.abs(given[both] - computed[both]) > tolerance]] = True
        self.errors.add(
            disagree,
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
        unanswered = np.zeros(len(inst), dtype=bool)
        at = np.flatnonzero(no_total)
        unanswered[at] = (missing[at] < 0) | (missing[at] == n_items[inst[at]])
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
                + pd.Series(n_items[inst[p]] - missing[p]).astype(str)
                + " of "
                + pd.Series(n_items[inst[p]]).astype(str)
                + " items are answered; "
                + as_text(self.keys[inst[p]])
                + " allows at most "
                + pd.Series(self.max_missing[inst[p]]).astype(str)
                + " missing items for a total to be computed."
            ),
            FIX_TOO_FEW,
        )
        return np.where(np.isfinite(given), given, computed)
