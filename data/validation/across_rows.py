"""Validation rules that look across rows (docs/validation.md): dates → days since each
patient's baseline, follow-up phase for rows without a session, and duplicate assessments.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from data.validation.cells import Coded, as_text, fmt_numbers, shorten
from data.validation.dates import DateReading, day_offsets, find_anchors
from data.validation.findings import Findings
from data.validation.rowrules import BASELINE, FOLLOW_UP, TREATMENT

FIX_DATE = "Write the date as YYYY-MM-DD (e.g. 2024-03-05), or day/month/year throughout the file."
FIX_DATE_ORDER = "Write this date as YYYY-MM-DD (e.g. 2024-03-05) so it cannot be misread."
FIX_BEFORE = (
    "Check the date; an assessment before the baseline should itself be the baseline "
    "(session 0) or be left out."
)
FIX_NO_BASELINE = (
    "If the patient had a baseline assessment, add it (session 0) with its date; otherwise "
    "nothing to do."
)
FIX_FOLLOW_UP = (
    "Give the session number (0 = baseline, k = after dosing session k), or write follow-up "
    "in a phase column if this is a follow-up assessment."
)
FIX_CONFLICT = (
    "Keep the correct row and delete the others, or correct the session or day if they are "
    "different assessments, then upload again."
)
FIX_REPEAT = "Nothing to do; delete the repeated row to silence this note."


def dates_to_days(
    reading: DateReading,
    dates: Coded,
    pid: Coded,
    session: np.ndarray,
    day: np.ndarray,
    errors: Findings,
    notes: Findings,
) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Rows without a day get days since their patient's anchor date (SPEC section 2).

    The anchor is the patient's session-0 assessment (the earliest if several, of any
    instrument); a patient with dates but no session-0 date is anchored at their first date
    (``no_baseline_notes`` warns, once the accepted rows are known). A day given in the file
    wins over its date. Returns the days, the anchors (patient_id → date), the only place a
    date survives, per patient_id whether the anchor is a session-0 assessment (False: the
    patient's first dated assessment), and the positions of those first-date anchor rows.
    """

    def quoted(p: np.ndarray) -> pd.Series:
        return "'" + shorten(dates.text(p)) + "'"

    errors.add(
        reading.unreadable & dates.present,
        "date",
        lambda p: quoted(p) + " is not a date ReliefCheck can read.",
        FIX_DATE,
    )
    errors.add(
        reading.ambiguous,
        "date",
        lambda p: (
            quoted(p)
            + " could be "
            + reading.alternative.iloc[p].reset_index(drop=True)
            + ", and this file writes dates both day-first and month-first."
        ),
        FIX_DATE_ORDER,
    )
    anchors = find_anchors(reading.when, pid.codes, session)
    offset = day_offsets(reading.when, pid.codes, anchors)
    use = np.isnan(day) & np.isfinite(offset)
    src = errors.source_row
    anchor_row = np.full(len(pid.values) + 1, -1, dtype=np.int64)
    anchor_row[anchors.position.index.to_numpy()] = src[anchors.position.to_numpy()]
    errors.add(
        use & (offset < 0),
        "date",
        lambda p: (
            quoted(p)
            + " is before this patient's baseline assessment (row "
            + as_text(anchor_row[pid.codes[p]].astype(str))
            + ")."
        ),
        FIX_BEFORE,
    )
    first = anchors.position[~anchors.from_baseline].to_numpy()
    patients = pid.values.iloc[anchors.anchor.index.to_numpy()]
    index = pd.Index(patients.to_numpy(), name="patient_id", dtype=patients.dtype)
    out = pd.Series(
        anchors.anchor.to_numpy(dtype="datetime64[ns]"), index=index, name="anchor_date"
    )
    from_baseline = pd.Series(
        anchors.from_baseline.to_numpy(dtype=bool), index=index, name="anchor_from_baseline"
    )
    return np.where(use & (offset >= 0), offset, day), out, from_baseline, first


def no_baseline_notes(first: np.ndarray, pid: Coded, ok: np.ndarray, notes: Findings) -> None:
    """A note per patient anchored at their first dated assessment (``first``: those anchor
    rows' positions, from ``dates_to_days``) who has at least one accepted row (``ok``): a
    patient whose rows were all set aside gets no note about their days. The note sits on the
    anchor row; when that row was itself set aside, on the patient's first accepted row,
    naming the anchor row."""
    if not len(first):
        return
    src = notes.source_row
    ok_pos = np.flatnonzero(ok)
    first_ok = pd.Series(ok_pos).groupby(pid.codes[ok_pos]).first()
    first = np.asarray(first, dtype=np.int64)
    anchor_ok = ok[first]
    elsewhere = first[~anchor_ok]
    moved = first_ok.reindex(pid.codes[elsewhere]).to_numpy(dtype=float)
    has_ok = np.isfinite(moved)
    flag = np.zeros(len(ok), dtype=bool)
    flag[first[anchor_ok]] = True
    anchor_src = np.full(len(ok), -1, dtype=np.int64)  # -1: the note sits on the anchor row
    at = moved[has_ok].astype(np.int64)
    flag[at] = True
    anchor_src[at] = src[elsewhere[has_ok]]

    def message(p: np.ndarray) -> pd.Series:
        whose = "Patient '" + shorten(pid.text(p)) + "' has no baseline (session 0) assessment "
        moved_text = (
            "with a date, so their days count from their first dated assessment (row "
            + as_text(anchor_src[p].astype(str))
            + ", which was set aside), and they are left out of paired figures."
        )
        same = anchor_src[p] < 0
        text = moved_text.where(
            ~same,
            "with a date, so their days count from this row, their first dated assessment, "
            "and they are left out of paired figures.",
        )
        return whose + text

    notes.add(flag, "patient_id", message, FIX_NO_BASELINE)


def derive_phase(
    phase: np.ndarray,
    session: np.ndarray,
    day: np.ndarray,
    patient: np.ndarray,
    inst: np.ndarray,
    ok: np.ndarray,
    keys: np.ndarray,
    errors: Findings,
) -> np.ndarray:
    """Phase where the file gives none (SPEC section 2): session 0 → baseline, session ≥ 1 →
    treatment; no session and a day after the patient's last treatment-phase assessment of
    that instrument → follow-up; no session otherwise → rejected (give the session).

    The last treatment day is taken over rows that pass every cell rule (``ok``).
    """
    known = np.isfinite(session)
    derive = (phase < 0) & known
    if derive.any():
        from_session = np.full(len(phase), TREATMENT, dtype=phase.dtype)
        from_session[session == 0] = BASELINE
        phase = np.where(derive, from_session, phase)
    need = np.flatnonzero(ok & (phase < 0))
    if need.size == 0:
        return phase
    if not derive.any():
        phase = phase.copy()  # follow-ups are marked below: leave the caller's array alone
    key = patient.astype(np.int64) * (len(keys) + 1) + inst
    treat = ok & known & (session >= 1) & np.isfinite(day)
    last = pd.Series(day[treat]).groupby(key[treat]).max()
    last_day = last.reindex(key[need]).to_numpy(dtype=float)
    after = day[need] > last_day
    phase[need[after]] = FOLLOW_UP
    none_before = np.zeros(len(day), dtype=bool)
    none_before[need[np.isnan(last_day) | np.isnan(day[need])]] = True
    too_early = np.zeros(len(day), dtype=bool)
    too_early[need[~after & np.isfinite(last_day) & np.isfinite(day[need])]] = True
    lookup = pd.Series(last_day, index=need)
    errors.add(
        none_before,
        "session",
        lambda p: (
            "This cell is empty, and this patient has no dated treatment assessment of "
            + as_text(keys[inst[p]])
            + " to tell whether this one is a follow-up."
        ),
        FIX_FOLLOW_UP,
    )
    errors.add(
        too_early,
        "session",
        lambda p: (
            "This cell is empty, and day "
            + fmt_numbers(day[p])
            + " is not after this patient's last treatment assessment of "
            + as_text(keys[inst[p]])
            + " (day "
            + fmt_numbers(lookup.reindex(p).to_numpy())
            + "), so it is not a follow-up."
        ),
        FIX_FOLLOW_UP,
    )
    return phase


def _row_list(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:10])
    return shown + (", …" if len(rows) > 10 else "")


def _combine(columns: list[np.ndarray]) -> np.ndarray:
    """One integer per distinct combination of the columns' values (NaN counts as a value).

    Integer columns are codes (-1 for none) and are used as they are; float columns are
    coded first (``_float_codes``). The running key is re-numbered only when it could
    overflow.
    """
    out = np.zeros(len(columns[0]), dtype=np.int64)
    size = 1
    for col in columns:
        if np.issubdtype(col.dtype, np.integer):
            codes, n = col.astype(np.int64), int(col.max(initial=-1)) + 2
            codes += 1
        else:
            codes, n = _float_codes(col)
        if size * n >= 2**62:
            out, uniq = pd.factorize(out)
            size = len(uniq)
        out *= n
        out += codes
        size *= max(n, 1)
    return out


def _float_codes(col: np.ndarray) -> tuple[np.ndarray, int]:
    """A code per distinct value of a float column (NaN one of them) and the number of codes.

    Whole numbers in a modest range (sessions, days, scores) are coded by their value, shifted
    (NaN is 0); any other column is factorised.
    """
    if len(col):
        lo, hi = float(np.fmin.reduce(col)), float(np.fmax.reduce(col))  # NaN ignored
        if np.isnan(lo):
            return np.zeros(len(col), dtype=np.int64), 1  # every value NaN
        if math.isfinite(lo) and math.isfinite(hi) and hi - lo < 2**31:
            unknown = np.isnan(col)
            if bool(((col == np.floor(col)) | unknown).all()):
                codes = np.zeros(len(col), dtype=np.int64)
                np.subtract(col, lo - 1, out=codes, where=~unknown, casting="unsafe")
                return codes, int(hi - lo) + 2
    codes, uniques = pd.factorize(col, use_na_sentinel=False)
    return codes, len(uniques)


def _all_distinct(codes: np.ndarray) -> bool:
    """True when no two codes are equal: sorted, no code equals the next (numpy's sort of
    integers is a few times quicker than building a hash table of them)."""
    ordered = np.sort(codes)
    return not bool((ordered[1:] == ordered[:-1]).any())


def duplicates(
    ok: np.ndarray,
    key: list[np.ndarray],
    content: list[np.ndarray],
    errors: Findings,
    notes: Findings,
) -> np.ndarray:
    """Rows sharing patient, instrument, session and day (``key``) among the ``ok`` rows.

    If they differ in anything else (``content``: score, items, protocol, phase …) they
    conflict: every one of them is rejected, naming the others. If they are identical, the
    first is kept and each repeat is skipped with a note. Returns the skipped rows.
    """
    src = errors.source_row
    dropped = np.zeros(len(ok), dtype=bool)
    pos = np.flatnonzero(ok)
    group = _combine([k if len(pos) == len(ok) else k[pos] for k in key])
    if _all_distinct(group):
        return dropped
    shared = pd.Series(group).duplicated(keep=False).to_numpy()
    sp, group = pos[shared], group[shared]
    variant = _combine([group, *(c[sp] for c in content)])
    n_variants = pd.Series(variant).groupby(group).nunique()
    clash = np.isin(group, n_variants.index[n_variants.to_numpy() > 1])

    rows_of_group = pd.Series(src[sp]).groupby(group).agg(list)
    message = {
        int(p): "This row has the same patient, instrument, session and day as row(s) "
        + _row_list([r for r in rows_of_group[g] if r != src[p]])
        + " but different values, so none of them was accepted."
        for p, g in zip(sp[clash], group[clash], strict=True)
    }
    mask = np.zeros(len(ok), dtype=bool)
    mask[sp[clash]] = True
    errors.add(mask, None, lambda p: as_text(np.array([message[int(i)] for i in p])), FIX_CONFLICT)

    calm = ~clash
    repeat = pd.Series(variant[calm]).duplicated(keep="first").to_numpy()
    first_row = pd.Series(src[sp[calm]]).groupby(variant[calm]).transform("first").to_numpy()
    dropped[sp[calm][repeat]] = True
    original = dict(zip(sp[calm][repeat].tolist(), first_row[repeat].tolist(), strict=True))
    notes.add(
        dropped,
        None,
        lambda p: (
            "This row repeats row "
            + as_text(np.array([str(original[int(i)]) for i in p]))
            + " exactly (same patient, instrument, timing and answers); the repeat was skipped."
        ),
        FIX_REPEAT,
    )
    return dropped
