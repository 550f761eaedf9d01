"""Assessment dates → days since each patient's baseline (SPEC section 2).

Dates are read here and turned into ``day`` offsets; nothing downstream holds a calendar date.
Accepted forms: ISO (2024-03-05, 2024/03/05, with an optional time 14:30 or 14:30:15 and an
optional T or time zone, which is ignored), numeric day-first or month-first (05/03/2024,
5-3-24, 05.03.2024, with an optional time and AM/PM; a two-digit year means 20yy), and dates
with a month name (5 Mar 2024, March 5, 2024).

Day-first or month-first is decided once per file, from the values:

* a value whose first part is above 12 (25/03/2024) can only be day-first, one whose second
  part is above 12 (03/25/2024) only month-first; if the file has only one kind, every numeric
  date is read that way (with a warning when some dates could have been read either way);
* if it has both kinds, each unambiguous date is read the only way it can be, and the
  ambiguous ones (both parts 12 or less and different) are rejected: the file gives no way to
  tell;
* if no value decides, ReliefCheck reads the dates day-first unless month-first puts the dates
  of each patient's sessions in order more often (fewer sessions dated before the session
  that precedes them), and warns which reading it chose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.errors import Problem
from data.validation.cells import TEXT, Coded, arrow_text

_TIME = (
    r"(?:[T ]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?"
)
_ISO = r"^(?P<a>\d{4})[-/.](?P<b>\d{1,2})[-/.](?P<c>\d{1,2})" + _TIME + "$"
_NUMERIC = r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<c>\d{4}|\d{2})" + _TIME + "$"
_MONTH_NAME = r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\b.*\d{4}"
_PADDED_ISO = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?$"
#: Years accepted in a date (a typo such as 0224 or 20244 is unreadable, not a far-off date).
_YEARS = (1900, 2200)

DAY_FIRST, MONTH_FIRST = "day-first", "month-first"
_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class DateReading:
    """Dates read from one column, one entry per row.

    ``when``: datetime64 (NaT when blank, unreadable or ambiguous). ``unreadable``: the cell
    holds something that is not a date. ``ambiguous``: the cell could be read day-first or
    month-first and the file gives no way to tell (its other dates use both orders).
    ``alternative``: for ambiguous cells, the two readings in words. ``convention``: how
    numeric dates were read. ``warnings``: file-level notes on that choice.
    """

    when: np.ndarray
    unreadable: np.ndarray
    ambiguous: np.ndarray
    alternative: pd.Series
    convention: str | None
    warnings: tuple[Problem, ...]


def _padded_iso(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The common zero-padded ISO forms (2024-03-05, 2024-03-05 14:30, 2024-03-05T14:30:15),
    read by slicing: which values have that form, and their dates (NaT if not a real date)."""
    form = pc.match_substring_regex(text, _PADDED_ISO).fill_null(False)
    mask = form.to_numpy(zero_copy_only=False)
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    if not mask.any():
        return mask, out
    padded = pc.utf8_rpad(pc.filter(text, form), 19, "0")  # a missing time reads as 00:00:00
    # Every value is now 19 ASCII characters, so the text buffer is a 19-column digit table.
    wide = pa.types.is_large_string(padded.type)
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int64 if wide else np.int32)
    offsets = offsets[padded.offset : padded.offset + len(padded) + 1]
    chars = np.frombuffer(padded.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    digits = chars.reshape(-1, 19).astype(np.int64) - ord("0")

    def part(start: int, stop: int) -> np.ndarray:
        weights = 10 ** np.arange(stop - start - 1, -1, -1)
        return (digits[:, start:stop] * weights).sum(axis=1).astype(float)

    hour, minute, second = part(11, 13), part(14, 16), part(17, 19)
    ok = (hour < 24) & (minute < 60) & (second < 60)
    built = _build(part(0, 4), part(5, 7), part(8, 10), hour * 3600 + minute * 60 + second)
    out[mask] = np.where(ok, built, np.datetime64("NaT"))
    return mask, out


def _match(values: pa.Array, pattern: str) -> tuple[np.ndarray, pa.StructArray]:
    """Which values match ``pattern`` and its named groups (pyarrow, one pass)."""
    groups = pc.extract_regex(values, pattern)
    return groups.is_valid().to_numpy(zero_copy_only=False), groups


def _number(groups: pa.StructArray, name: str) -> np.ndarray:
    """A named group as floats (NaN where it did not take part in the match)."""
    text = groups.field(name)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)


def _clock(groups: pa.StructArray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since midnight from the time groups (AM/PM aware), and where they are valid."""
    hour, minute, second = (np.nan_to_num(_number(groups, g)) for g in ("hour", "minute", "second"))
    ampm = pc.utf8_lower(groups.field("ampm"))
    has_ampm = pc.not_equal(ampm, "").fill_null(False).to_numpy(zero_copy_only=False)
    pm = pc.starts_with(ampm, "p").fill_null(False).to_numpy(zero_copy_only=False)
    ok = (minute < 60) & (second < 60) & np.where(has_ampm, (hour >= 1) & (hour <= 12), hour < 24)
    hour = np.where(has_ampm, hour % 12 + np.where(pm, 12, 0), hour)
    return hour * 3600 + minute * 60 + second, ok


def _build(year: np.ndarray, month: np.ndarray, day: np.ndarray, secs: np.ndarray) -> np.ndarray:
    """datetime64[ns] from parts, NaT where they are not a real date (31 April, month 13 …)."""
    ok = (year >= _YEARS[0]) & (year <= _YEARS[1]) & (month >= 1) & (month <= 12) & (day >= 1)
    y = np.where(ok, year, 1970).astype(np.int64)
    m = np.where(ok, month, 1).astype(np.int64)
    d = np.where(ok, day, 1).astype(np.int64)
    start = ((y - 1970) * 12 + (m - 1)).astype("datetime64[M]")
    length = ((start + 1).astype("datetime64[D]") - start.astype("datetime64[D]")).astype(int)
    ok &= d <= length
    offset = ((d - 1) * 86400 + np.nan_to_num(secs)).astype(np.int64) * 1_000_000_000
    out = start.astype("datetime64[ns]") + offset.astype("timedelta64[ns]")
    return np.where(ok, out, np.datetime64("NaT"))


def _month_names(values: pd.Series) -> np.ndarray:
    """Dates written with a month name (few in practice; read one by one)."""
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    for i, v in enumerate(values.tolist()):
        try:
            ts = pd.Timestamp(pd.to_datetime(v, format="mixed"))
        except (ValueError, TypeError, OverflowError):
            continue
        if ts is not pd.NaT:
            out[i] = ts.tz_localize(None).to_datetime64() if ts.tzinfo else ts.to_datetime64()
    return out


def _session_order_violations(when: np.ndarray, patient: np.ndarray, session: np.ndarray) -> int:
    """How often a patient's later session carries an earlier date than the one before it."""
    ok = (patient >= 0) & np.isfinite(session) & ~np.isnat(when)
    order = np.lexsort((session[ok], patient[ok]))
    p, s, w = patient[ok][order], session[ok][order], when[ok][order]
    later = (p[1:] == p[:-1]) & (s[1:] > s[:-1])
    return int(np.sum(later & (w[1:] < w[:-1])))


def read_dates(
    dates: Coded, *, patient: np.ndarray, session: np.ndarray, column: str, source_row: np.ndarray
) -> DateReading:
    """Read a date column (see the module docstring for the forms and the order rule).

    ``patient`` (codes, -1 blank) and ``session`` (float, NaN unknown) are used only when no
    value decides between day-first and month-first.
    """
    values = dates.values
    text = arrow_text(values)
    n_values = len(values)
    nat = np.datetime64("NaT")
    when_v = np.full(n_values, nat, dtype="datetime64[ns]")
    fast, when_fast = _padded_iso(text)
    when_v[fast] = when_fast[fast]
    rest = np.flatnonzero(~fast)  # the other forms are matched on these values only
    other = pc.take(text, pa.array(rest, type=pa.int64()))

    def spread(sub: np.ndarray, fill: object) -> np.ndarray:
        full = np.full(n_values, fill, dtype=sub.dtype)
        full[rest] = sub
        return full

    matched, iso = _match(other, _ISO)
    is_iso = spread(matched, False)
    if matched.any():
        secs, ok = _clock(iso)
        built = _build(_number(iso, "a"), _number(iso, "b"), _number(iso, "c"), secs)
        when_v[is_iso] = np.where(ok, built, nat)[matched]

    named = pc.match_substring_regex(other, _MONTH_NAME).fill_null(False)
    by_name = spread(named.to_numpy(zero_copy_only=False), False) & ~is_iso
    if by_name.any():
        when_v[by_name] = _month_names(values[by_name])

    matched, num = _match(other, _NUMERIC)
    is_num = spread(matched, False)
    first, second = spread(_number(num, "a"), np.nan), spread(_number(num, "b"), np.nan)
    year = spread(_number(num, "c"), np.nan)
    year = np.where(year < 100, year + 2000, year)
    secs, clock_ok = (spread(x, fill) for x, fill in zip(_clock(num), (0.0, False), strict=True))
    as_dmy = np.where(clock_ok, _build(year, second, first, secs), nat)
    as_mdy = np.where(clock_ok, _build(year, first, second, secs), nat)
    only_d = is_num & (first > 12) & (second <= 12)
    only_m = is_num & (second > 12) & (first <= 12)
    either = is_num & (first <= 12) & (second <= 12) & (first != second)

    rows_of = dates.spread  # per-value flag → per-row flag
    used = np.zeros(n_values, dtype=bool)
    used[dates.codes[dates.codes >= 0]] = True
    has_d, has_m, has_either = (only_d & used).any(), (only_m & used).any(), (either & used).any()

    def example(flag: np.ndarray) -> int:
        return int(source_row[np.argmax(rows_of(flag & used, False))])

    warnings: list[Problem] = []
    ambiguous_v = np.zeros(n_values, dtype=bool)
    convention: str | None = None
    if has_d and has_m:
        convention = "mixed"
        ambiguous_v = either
        picked = np.where(only_m, as_mdy, as_dmy)
        when_v[is_num] = np.where(either, np.datetime64("NaT"), picked)[is_num]
    else:
        if has_d:
            convention, why = DAY_FIRST, f"row {example(only_d)} can only be read that way"
        elif has_m:
            convention, why = MONTH_FIRST, f"row {example(only_m)} can only be read that way"
        elif has_either:
            # Dates read without doubt (ISO, month names) take part in the order check too.
            d_rows = rows_of(np.where(is_num, as_dmy, when_v), np.datetime64("NaT"))
            m_rows = rows_of(np.where(is_num, as_mdy, when_v), np.datetime64("NaT"))
            fewer_m = _session_order_violations(m_rows, patient, session) < (
                _session_order_violations(d_rows, patient, session)
            )
            convention = MONTH_FIRST if fewer_m else DAY_FIRST
            why = (
                "no date in the file settles the order, and that reading keeps each "
                "patient's sessions in date order more often"
                if fewer_m
                else "no date in the file settles the order, and day-first is the default"
            )
        else:
            convention, why = DAY_FIRST, ""
        when_v[is_num] = (as_mdy if convention == MONTH_FIRST else as_dmy)[is_num]
        if has_either:
            sample = (
                "03/05/2024 = 3 May 2024"
                if convention == DAY_FIRST
                else ("03/05/2024 = 5 March 2024")
            )
            warnings.append(
                Problem(
                    message=(
                        f"Dates such as 03/05/2024 can be read day-first or month-first; "
                        f"ReliefCheck read them {convention} ({sample}) because {why}."
                    ),
                    fix="If that is wrong, write the dates as YYYY-MM-DD (e.g. 2024-05-03) "
                    "and upload the file again.",
                    column=column,
                    severity="warning",
                )
            )

    alternative_v = pd.Series(pd.NA, index=range(n_values), dtype=TEXT)
    if ambiguous_v.any():
        fmt = "%d %B %Y"
        d_txt = pd.Series(as_dmy[ambiguous_v]).dt.strftime(fmt)
        m_txt = pd.Series(as_mdy[ambiguous_v]).dt.strftime(fmt)
        alternative_v[ambiguous_v] = (d_txt + " or " + m_txt).to_numpy()

    unreadable_v = np.isnat(when_v) & ~ambiguous_v
    return DateReading(
        when=rows_of(when_v, np.datetime64("NaT")),
        unreadable=rows_of(unreadable_v, False),
        ambiguous=rows_of(ambiguous_v, False),
        alternative=pd.Series(alternative_v.array.take(dates.codes, allow_fill=True), dtype=TEXT),
        convention=convention if is_num.any() else ("iso" if (is_iso | fast).any() else None),
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class Anchors:
    """Each patient's anchor date, indexed by patient code."""

    anchor: pd.Series  # datetime64: the earliest session-0 date, or else the earliest date
    from_baseline: pd.Series  # True when anchored at a session-0 assessment
    position: pd.Series  # row position of the anchoring date


def find_anchors(when: np.ndarray, patient: np.ndarray, session: np.ndarray) -> Anchors:
    """Anchor per patient: the earliest session-0 date, else the earliest date of any row.

    Rows count when they have a patient and a readable date, whatever else is wrong with them,
    so that correcting one bad cell never moves every other day of that patient.
    """
    pos = np.flatnonzero((patient >= 0) & ~np.isnat(when))
    dated = pd.Series(when[pos], index=pos)
    codes = patient[pos]
    is_base = session[pos] == 0
    earliest = dated.groupby(codes).idxmin()
    at_baseline = dated[is_base].groupby(codes[is_base]).idxmin()
    position = at_baseline.reindex(earliest.index).fillna(earliest).astype(np.int64)
    return Anchors(
        anchor=pd.Series(when[position.to_numpy()], index=position.index),
        from_baseline=pd.Series(position.index.isin(at_baseline.index), index=position.index),
        position=position,
    )


def day_offsets(when: np.ndarray, patient: np.ndarray, anchors: Anchors) -> np.ndarray:
    """Days from each row's patient anchor to its date (fractional with times; NaN unknown)."""
    top = int(anchors.anchor.index.max()) if len(anchors.anchor) else -1
    size = max(int(patient.max(initial=-1)), top)
    dense = np.full(size + 2, np.datetime64("NaT"), dtype="datetime64[ns]")
    dense[anchors.anchor.index.to_numpy(dtype=np.int64)] = anchors.anchor.to_numpy(
        dtype="datetime64[ns]"
    )
    anchor = dense[patient]  # code -1 reads the last slot, which stays NaT
    days = (when - anchor) / _DAY
    return np.where(np.isnat(when) | np.isnat(anchor), np.nan, days).astype(float)
