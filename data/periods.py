"""Baseline periods: each patient's baseline month, kept as a day offset (docs/periods.md).

SPEC section 2 drops calendar dates on ingest. For the period filter (issue 12) ReliefCheck keeps
one coarse fact per patient: the calendar month of their baseline assessment, never its day. It
is coded as ``baseline_month_day``: the number of days from ``PERIOD_EPOCH`` (2000-01-01) to the
first day of that month, so every value is the first of a month and nothing finer survives.
Quarters are read from it (January–March is Q1). A patient has a month only when the export
dated their baseline (session-0) row; otherwise, and for exports that give days instead of
dates, the period is unknown (``<NA>``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from data.errors import ReliefCheckError

#: Day 0 of the month code: baseline months count in days from this date to their first day.
PERIOD_EPOCH = np.datetime64("2000-01-01", "D")
#: The patient-level column holding the code (nullable Int64).
MONTH_COLUMN = "baseline_month_day"
MONTH, QUARTER = "month", "quarter"
#: Period granularities, in the order the sidebar offers them.
UNITS = (MONTH, QUARTER)
_MONTH_LABEL = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER_LABEL = re.compile(r"^(\d{4})-Q([1-4])$")
_EPOCH_MONTH = int(PERIOD_EPOCH.astype("datetime64[M]").astype(np.int64))


def month_day(when: object) -> pd.Series:
    """The month code of each date: days from PERIOD_EPOCH to the first of its month.

    ``when``: datetimes (a Series keeps its index); time zones and times of day are ignored, an
    unreadable or missing date gives ``<NA>``. Vectorised (numpy datetime64 month truncation).
    """
    series = pd.Series(when) if not isinstance(when, pd.Series) else when
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series
    else:
        stamps = pd.to_datetime(series, errors="coerce", format="mixed")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_localize(None)
    values = stamps.to_numpy(dtype="datetime64[ns]")
    first = values.astype("datetime64[M]").astype("datetime64[D]")
    days = (first - PERIOD_EPOCH).astype(np.int64)
    return pd.Series(
        pd.array(np.where(np.isnat(values), None, days), dtype="Int64"),
        index=series.index,
        name=MONTH_COLUMN,
    )


def month_index(codes: object) -> np.ndarray:
    """Months since PERIOD_EPOCH's month (January 2000 = 0) of month codes; -1 where unknown."""
    arr = pd.array(codes, dtype="Int64")
    known = ~np.asarray(arr.isna())
    days = np.asarray(arr.fillna(0), dtype=np.int64)
    months = (PERIOD_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[M]")
    return np.where(known, months.astype(np.int64) - _EPOCH_MONTH, -1)


def from_month_index(months: np.ndarray) -> pd.array:
    """Month codes (days) of months since January 2000; a negative index gives ``<NA>``."""
    months = np.asarray(months, dtype=np.int64)
    first = (months + _EPOCH_MONTH).astype("datetime64[M]").astype("datetime64[D]")
    days = (first - PERIOD_EPOCH).astype(np.int64)
    return pd.array(np.where(months >= 0, days, None), dtype="Int64")


def period_labels(codes: object, unit: str) -> pd.Series:
    """Each month code as a period label: ``2025-03`` (month) or ``2025-Q1`` (quarter);
    ``<NA>`` where unknown."""
    _check_unit(unit)
    months = month_index(codes)
    year = (months // 12 + 2000).astype(str)
    if unit == MONTH:
        part = np.char.zfill((months % 12 + 1).astype(str), 2)
    else:
        part = np.char.add("Q", (months % 12 // 3 + 1).astype(str))
    text = np.char.add(np.char.add(year, "-"), part)
    return pd.Series(pd.array(np.where(months >= 0, text, None), dtype="string"))


def period_options(codes: object, unit: str) -> list[str]:
    """Every period from the earliest to the latest known month code, in order (empty periods
    included, so a range reads as a continuous stretch of time)."""
    months = month_index(codes)
    months = months[months >= 0]
    if not len(months):
        return []
    span = np.arange(months.min(), months.max() + 1)
    labels = period_labels(from_month_index(span), unit)
    return list(pd.unique(labels.astype(str)))


def period_bounds(label: str) -> tuple[int, int]:
    """The first and last month codes (days) a period label covers: ``2025-Q1`` gives the codes
    of 1 January and 1 March 2025. Raises ReliefCheckError for a label that is not a period."""
    text = str(label).strip()
    if m := _MONTH_LABEL.match(text):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ReliefCheckError(_bad_label(text))
        first = last = month
    elif m := _QUARTER_LABEL.match(text):
        year, quarter = int(m.group(1)), int(m.group(2))
        first, last = 3 * quarter - 2, 3 * quarter
    else:
        raise ReliefCheckError(_bad_label(text))
    if year < 2000:
        raise ReliefCheckError(
            f"Baseline periods start in 2000; {text!r} is earlier. Pick a later period."
        )
    index = np.array([(year - 2000) * 12 + first - 1, (year - 2000) * 12 + last - 1])
    lo, hi = from_month_index(index)
    return int(lo), int(hi)


def period_unit(label: str) -> str:
    """``quarter`` for a label such as 2025-Q1, else ``month``."""
    return QUARTER if _QUARTER_LABEL.match(str(label).strip()) else MONTH


def in_period(codes: object, period: tuple[str, ...]) -> np.ndarray:
    """Which month codes fall in ``period`` (from, to), both ends included; an unknown month is
    never in a period. An empty ``period`` keeps everyone. Raises ReliefCheckError when the
    range ends before it starts."""
    arr = pd.array(codes, dtype="Int64")
    if not period:
        return np.ones(len(arr), dtype=bool)
    lo, _ = period_bounds(period[0])
    _, hi = period_bounds(period[-1])
    if hi < lo:
        raise ReliefCheckError(
            f"The baseline period ends ({period[-1]}) before it starts ({period[0]}). "
            "Pick a 'to' period at or after the 'from' period."
        )
    return np.asarray(((arr >= lo) & (arr <= hi)).fillna(False), dtype=bool)


def describe_period(period: tuple[str, ...]) -> str:
    """A period range in words: ``2025-Q1`` or ``2025-Q1 to 2025-Q4``."""
    if not period:
        return ""
    return period[0] if period[0] == period[-1] else f"{period[0]} to {period[-1]}"


def parse_period(text: str) -> tuple[str, str]:
    """A period range as typed on the command line: ``2026-Q1`` (one period) or
    ``2025-Q1:2025-Q4`` / ``2025-01:2025-06`` (from:to), checked. Raises ReliefCheckError."""
    parts = [p.strip() for p in str(text).split(":")]
    if len(parts) > 2 or not all(parts):
        raise ReliefCheckError(
            f"{text!r} is not a baseline period. Give one period (2026-Q1, 2026-03) or a range "
            "from:to (2025-Q1:2025-Q4)."
        )
    period = (parts[0], parts[-1])
    in_period(pd.array([], dtype="Int64"), period)  # checks both labels and their order
    return period


def patients_in_period(months: pd.Series, period: tuple[str, ...]) -> pd.Index:
    """The patients (``months``: index patient_id, month codes) whose baseline month is in
    ``period``; patients with no known month are never in one."""
    return months.index[in_period(months.array, period)]


def baseline_months(anchors: pd.Series, from_baseline: pd.Series) -> pd.Series:
    """Per patient of a validated file (``Validated.anchors`` and ``anchor_from_baseline``):
    the month code of the baseline date, only where the anchor is the baseline (session-0) row;
    patients anchored on another row get no entry. Index: patient_id."""
    if anchors is None or not len(anchors):
        return pd.Series(pd.array([], dtype="Int64"), index=pd.Index([], name="patient_id"))
    fb = pd.Series(from_baseline).astype("boolean").reindex(anchors.index).fillna(False)
    codes = month_day(pd.Series(anchors)[fb.to_numpy(dtype=bool)])
    codes = codes[codes.notna()]
    codes.index = codes.index.astype(str)
    return codes[~codes.index.duplicated()].rename(MONTH_COLUMN)


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ReliefCheckError(f"A baseline period is a month or a quarter, not {unit!r}.")


def _bad_label(text: str) -> str:
    return (
        f"{text!r} is not a baseline period. Write a month as YYYY-MM (e.g. 2025-03) or a "
        "quarter as YYYY-Qn (e.g. 2025-Q1)."
    )
