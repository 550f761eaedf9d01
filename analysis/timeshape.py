"""Shapes of time for the mixed models: how a score's course over days since baseline enters
the fixed effects.

Scores fall fast early and level off, so a straight line in days misfits (and a misfit shape
shows up as a spurious difference between protocols assessed on different schedules). The
prespecified shapes:

- ``linear``: day.
- ``log1p``: log(1 + day).
- ``spline``: a natural cubic spline in log(1 + day) with ``df`` columns (default 3): boundary
  knots at the smallest and largest value, ``df − 1`` interior knots at equally spaced quantiles;
  the same column space as R's ``splines::ns(log1p(day), df = 3)`` (with the intercept kept
  apart), built from the truncated-power form of Hastie, Tibshirani & Friedman (2009), *The
  Elements of Statistical Learning*, eq. 5.4–5.5.

The first column of every shape is the covariate of the random slope (day for ``linear``,
log(1 + day) otherwise). Knots are fixed when the shape is made (``make_shape``), so the same
basis evaluates the fitted curve at new days (``TimeShape.basis``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.errors import AnalysisError

SHAPES = ("linear", "log1p", "spline")
SPLINE_DF = 3


@dataclass(frozen=True)
class TimeShape:
    """One time shape with its knots (empty unless ``spline``)."""

    name: str
    knots: tuple[float, ...] = ()

    @property
    def n_columns(self) -> int:
        return 1 if self.name != "spline" else len(self.knots) - 1

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names: ``day``, ``log1p_day``, or ``ns1`` … ``nsK``."""
        if self.name == "linear":
            return ("day",)
        if self.name == "log1p":
            return ("log1p_day",)
        return tuple(f"ns{k + 1}" for k in range(self.n_columns))

    def basis(self, day: np.ndarray | float) -> np.ndarray:
        """The shape's columns at ``day`` (n × n_columns)."""
        d = np.atleast_1d(np.asarray(day, dtype=float))
        if self.name == "linear":
            return d[:, None]
        x = np.log1p(d)
        if self.name == "log1p":
            return x[:, None]
        return _natural_spline(x, np.asarray(self.knots))


def _natural_spline(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Natural cubic spline basis without the constant: x, then N_{k+2} = d_k − d_{K−1} with
    d_k(x) = ((x − ξ_k)₊³ − (x − ξ_K)₊³) / (ξ_K − ξ_k), k = 1 … K − 2 (ESL eq. 5.4–5.5).

    The first column is x itself (log(1 + day), the random-slope covariate); the cubes are
    computed on x rescaled to the knot span, so the columns have comparable size."""
    span = knots[-1] - knots[0]
    u = (x - knots[0]) / span
    k = (knots - knots[0]) / span
    last = k[-1]

    tail = np.clip(u - last, 0, None) ** 3  # (x − ξ_K)₊³, the same in every d_k

    def d(j: int) -> np.ndarray:
        return (np.clip(u - k[j], 0, None) ** 3 - tail) / (last - k[j])

    d_last = d(len(k) - 2)
    return np.column_stack([x, *(d(j) - d_last for j in range(len(k) - 2))])


def make_shape(name: str, day: np.ndarray, df: int = SPLINE_DF) -> TimeShape:
    """The shape ``name`` with knots placed on the observed ``day`` values (spline only)."""
    if name not in SHAPES:
        raise AnalysisError(f"Unknown time shape '{name}'; choose one of {', '.join(SHAPES)}.")
    if name != "spline":
        return TimeShape(name)
    x = np.log1p(np.asarray(day, dtype=float))
    probs = np.linspace(0.0, 1.0, df + 1)
    knots = np.quantile(x, probs)
    if np.any(np.diff(knots) <= 0):
        raise AnalysisError("The assessments fall on too few distinct days for a spline over time.")
    return TimeShape(name, tuple(float(k) for k in knots))
