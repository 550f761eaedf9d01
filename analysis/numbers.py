"""Small helpers every analysis module shares: a figure as a finite float or None (for JSON and
tables), any value as plain JSON, and the check of a confidence level."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from data.errors import AnalysisError


def finite_or_none(x: object) -> float | None:
    """``x`` as a finite float, or None (missing, NaN, infinite or not a number): the form every
    figure takes in the JSON summary, where NaN is not allowed."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def json_value(value: object) -> object:
    """``value`` as plain JSON: None and pandas' NA as None, numpy booleans and integers as
    Python ones, floats through ``finite_or_none`` (NaN and infinities as None), tuples and
    lists as lists of the same; anything else as it is."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return finite_or_none(value)
    if isinstance(value, tuple | list):
        return [json_value(v) for v in value]
    return value


def finite_interval(ci: tuple[float, float] | tuple[None, None]) -> list[float | None]:
    """An interval ``(lo, hi)`` as ``[lo, hi]`` for JSON, each end a finite float or None."""
    return [finite_or_none(ci[0]), finite_or_none(ci[1])]


def check_ci_level(ci_level: float) -> float:
    """``ci_level`` (e.g. 0.95) when it lies strictly between 0 and 1; AnalysisError otherwise."""
    if not 0.0 < ci_level < 1.0:
        raise AnalysisError(f"The confidence level must be between 0 and 1 (got {ci_level}).")
    return ci_level
