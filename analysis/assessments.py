"""Assessments sorted per patient and instrument: the one ordering every analysis shares.

``Assessments.build(tidy)`` sorts a conformed tidy table (``data.schema.conform``) into
patient × instrument groups and, inside each group, into *assessment order*:

1. by session (0 = baseline, then 1, 2, …; follow-up assessments, which have no session, last);
2. within one session, by ``day`` (an assessment without a day after those with one);
3. remaining ties keep the order of the input table.

Every "first", "last" and "earliest" in ReliefCheck's definitions means first or last in this
order (docs/definitions.md). Groups are numbered in the order patients first appear in the table,
instruments alphabetically within a patient. All work is done on numpy arrays (one sort of the
whole table), so a million assessments take a fraction of a second.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.errors import AnalysisError
from data.schema import CORE_DTYPES, OPTIONAL_DTYPES

#: Descriptive per-patient columns carried into patient-level tables when the data has them.
DESCRIPTIVE = tuple(OPTIONAL_DTYPES)
FOLLOW_UP = "follow-up"


def require_columns(tidy: pd.DataFrame) -> None:
    """Raise AnalysisError naming the core tidy columns that ``tidy`` lacks."""
    missing = [c for c in CORE_DTYPES if c not in tidy.columns]
    if missing:
        raise AnalysisError(
            f"The assessment table lacks the column(s) {', '.join(missing)}. Load the export "
            "through the upload page or `python -m analysis validate`, which builds every column."
        )


def _rank_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense rank of each value (NaN ranks after every number) and the number of ranks."""
    codes, uniques = pd.factorize(values)
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[np.argsort(uniques, kind="stable")] = np.arange(len(uniques), dtype=np.int64)
    out = np.where(codes < 0, len(uniques), rank[np.maximum(codes, 0)] if len(uniques) else 0)
    return out.astype(np.int64), len(uniques) + 1


def take(values: np.ndarray, pos: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """``values[pos]`` with ``fill`` where ``pos`` is −1 (nothing found)."""
    if len(values) == 0:
        return np.full(len(pos), fill, dtype=float)
    out = values[np.maximum(pos, 0)].astype(float)
    out[pos < 0] = fill
    return out


def boolean(values: np.ndarray, defined: np.ndarray) -> pd.arrays.BooleanArray:
    """A nullable boolean array: ``values`` where ``defined``, <NA> elsewhere."""
    d = np.asarray(defined, dtype=bool)
    return pd.arrays.BooleanArray(np.asarray(values, dtype=bool) & d, ~d)


def integer(values: np.ndarray) -> pd.arrays.IntegerArray:
    """A nullable Int64 array from floats (NaN becomes <NA>)."""
    v = np.asarray(values, dtype=float)
    na = np.isnan(v)
    return pd.arrays.IntegerArray(np.where(na, 0, v).astype(np.int64), na)


@dataclass(frozen=True, eq=False)
class Assessments:
    """The tidy table's rows in assessment order, with per-group and per-patient lookups.

    Row arrays (``row``, ``group``, ``session``, ``day``, ``score``, ``follow_up``) are in
    assessment order; ``row`` gives each one's position in the original table.
    """

    tidy: pd.DataFrame
    row: np.ndarray
    group: np.ndarray
    session: np.ndarray  # float, NaN for follow-up
    day: np.ndarray  # float, NaN when unknown
    score: np.ndarray
    follow_up: np.ndarray  # phase == "follow-up"
    scode: np.ndarray  # rank of the session (follow-up last)
    dcode: np.ndarray  # rank of the day (unknown last)
    n_scodes: int
    n_dcodes: int
    group_patient: np.ndarray  # patient number of each group
    group_instrument: np.ndarray  # instrument number of each group
    group_start: np.ndarray  # first row of each group
    patients: pd.Index  # patient_id of each patient number
    instruments: pd.Index  # instrument key of each instrument number

    @classmethod
    def build(cls, tidy: pd.DataFrame | Assessments) -> Assessments:
        """Sort ``tidy`` (a conformed tidy table) into assessment order.

        Every analysis function accepts an already built ``Assessments`` in place of the tidy
        table, so a caller running several of them on one table sorts it only once.
        """
        if isinstance(tidy, Assessments):
            return tidy
        require_columns(tidy)
        pcode, patients = pd.factorize(tidy["patient_id"].array, sort=False)
        icode, instruments = pd.factorize(tidy["instrument"].array, sort=True)
        if (pcode < 0).any() or (icode < 0).any():
            raise AnalysisError(
                "Some assessments have no patient_id or no instrument. Every assessment needs "
                "both; re-validate the export so such rows are set aside."
            )
        session = tidy["session"].to_numpy(dtype="float64", na_value=np.nan)
        day = tidy["day"].to_numpy(dtype="float64", na_value=np.nan)
        score = tidy["score"].to_numpy(dtype="float64", na_value=np.nan)
        follow_up = (tidy["phase"] == FOLLOW_UP).fillna(False).to_numpy(dtype=bool)
        scode, n_s = _rank_codes(session)
        dcode, n_d = _rank_codes(day)

        n_ins = max(len(instruments), 1)
        combo = pcode.astype(np.int64) * n_ins + icode
        gcode, guniq = pd.factorize(combo)
        order_u = np.argsort(guniq, kind="stable")
        rank = np.empty(len(guniq), dtype=np.int64)
        rank[order_u] = np.arange(len(guniq), dtype=np.int64)
        group = rank[gcode] if len(guniq) else np.zeros(0, dtype=np.int64)
        gsorted = np.asarray(guniq)[order_u].astype(np.int64)

        if len(guniq) * n_s * n_d < 2**62:
            key = (group * n_s + scode) * n_d + dcode
            order = np.argsort(key, kind="stable")
        else:  # astronomically many distinct days: fall back to a three-key sort
            order = np.lexsort((dcode, scode, group))
        g_sorted = group[order]
        starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]]) if len(order) else order
        return cls(
            tidy=tidy,
            row=order,
            group=g_sorted,
            session=session[order],
            day=day[order],
            score=score[order],
            follow_up=follow_up[order],
            scode=scode[order],
            dcode=dcode[order],
            n_scodes=n_s,
            n_dcodes=n_d,
            group_patient=gsorted // n_ins,
            group_instrument=gsorted % n_ins,
            group_start=starts,
            patients=pd.Index(patients),
            instruments=pd.Index(instruments),
        )

    # -- sizes -------------------------------------------------------------------------------
    @property
    def n_groups(self) -> int:
        return len(self.group_patient)

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def column(self, name: str) -> pd.api.extensions.ExtensionArray | np.ndarray:
        """A tidy column's values in assessment order."""
        return self.tidy[name].array.take(self.row)

    # -- picks -------------------------------------------------------------------------------
    def first(self, mask: np.ndarray) -> np.ndarray:
        """Per group: the row of the first assessment (in assessment order) where ``mask``
        holds, or −1 when none does."""
        return self._edge(mask, first=True)

    def last(self, mask: np.ndarray) -> np.ndarray:
        """Per group: the row of the last assessment where ``mask`` holds, or −1."""
        return self._edge(mask, first=False)

    def _edge(self, mask: np.ndarray, *, first: bool) -> np.ndarray:
        out = np.full(self.n_groups, -1, dtype=np.int64)
        idx = np.flatnonzero(mask)
        if idx.size:
            g = self.group[idx]
            change = g[1:] != g[:-1]
            edge = np.r_[True, change] if first else np.r_[change, True]
            out[g[edge]] = idx[edge]
        return out

    def count(self, mask: np.ndarray) -> np.ndarray:
        """Per group: how many assessments satisfy ``mask``."""
        return np.bincount(self.group[mask], minlength=self.n_groups)

    def patient_first(self, mask: np.ndarray) -> np.ndarray:
        """Per patient: the row of their first assessment where ``mask`` holds, across all
        instruments (assessment order, then instrument name), or −1."""
        gpos = self.first(mask)
        groups = np.flatnonzero(gpos >= 0)
        pos = gpos[groups]
        when = self.scode[pos] * self.n_dcodes + self.dcode[pos]
        patient = self.group_patient[groups]
        order = np.argsort(patient * (self.n_scodes * self.n_dcodes) + when, kind="stable")
        p_sorted = patient[order]
        edge = np.r_[True, p_sorted[1:] != p_sorted[:-1]] if order.size else order.astype(bool)
        out = np.full(self.n_patients, -1, dtype=np.int64)
        out[p_sorted[edge]] = pos[order][edge]
        return out

    def patients_frame(self) -> pd.DataFrame:
        """One row per patient number: patient_id, protocol, protocol_changed and any
        descriptive columns (site, clinician, route, treatment_resistant).

        The patient's protocol is that of their first assessment in assessment order: the
        baseline (session 0) when they have one on any instrument, else their first assessment.
        Descriptive values are likewise the first non-empty value in assessment order.
        ``protocol_changed`` is True when the patient's assessments name more than one protocol.
        """
        return self._patients.copy()

    @functools.cached_property
    def _patients(self) -> pd.DataFrame:
        """The per-patient table, computed once per ``Assessments``."""
        out = {"patient_id": pd.array(self.patients, dtype=CORE_DTYPES["patient_id"])}
        cols = ["protocol", *[c for c in DESCRIPTIVE if c in self.tidy.columns]]
        for name in cols:
            values = self.tidy[name].array
            codes, uniques = pd.factorize(values)  # −1 where empty
            codes = codes[self.row]
            pos = self.patient_first(codes >= 0)
            picked = np.where(pos >= 0, codes[np.maximum(pos, 0)], -1) if len(codes) else pos
            out[name] = pd.array(uniques, dtype=values.dtype).take(picked, allow_fill=True)
            if name == "protocol":
                out["protocol_changed"] = self._protocol_changed(codes)
        return pd.DataFrame(out)

    def _protocol_changed(self, codes: np.ndarray) -> np.ndarray:
        """Per patient: more than one protocol among their rows (``codes`` in assessment order,
        −1 where empty)."""
        if not len(codes):
            return np.zeros(self.n_patients, dtype=bool)
        # rows are contiguous per patient (groups are numbered patient by patient)
        patient = self.group_patient[self.group]
        starts = np.flatnonzero(np.r_[True, patient[1:] != patient[:-1]])
        big = np.iinfo(np.int64).max
        lo = np.minimum.reduceat(np.where(codes < 0, big, codes), starts)
        hi = np.maximum.reduceat(codes, starts)
        out = np.zeros(self.n_patients, dtype=bool)
        out[patient[starts]] = (hi >= 0) & (hi > lo)
        return out
