"""Small helpers every analysis module shares: a figure as a finite float or None (for JSON and
tables), and the check of a confidence level."""

from __future__ import annotations

import math

from data.errors import AnalysisError


def finite_or_none(x: object) -> float | None:
    """``x`` as a finite float, or None (missing, NaN, infinite or not a number): the form every
    figure takes in the JSON summary, where NaN is not allowed."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def finite_interval(ci: tuple[float, float] | tuple[None, None]) -> list[float | None]:
    """An interval ``(lo, hi)`` as ``[lo, hi]`` for JSON, each end a finite float or None."""
    return [finite_or_none(ci[0]), finite_or_none(ci[1])]


def check_ci_level(ci_level: float) -> float:
    """``ci_level`` (e.g. 0.95) when it lies strictly between 0 and 1; AnalysisError otherwise."""
    if not 0.0 < ci_level < 1.0:
        raise AnalysisError(f"The confidence level must be between 0 and 1 (got {ci_level}).")
    return ci_level
