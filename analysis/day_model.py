"""What a fitted day model says (docs/growth.md): the fitted improvement from baseline per
protocol, the protocol contrasts at days 14 and 28 and at each protocol's typical end of
treatment, fitted curves, and the tidy table of all of them. ``analysis.growth_days`` fits the
model; this module reads the fit.

Improvement is ±(fitted score at day 0 − fitted score at day t) with the sign of
``Instrument.improvement`` (positive = better). SEs are sqrt(c' V c) with V the fixed-effect
covariance (lme4's ``vcov``), CIs Wald 95%. A day more than three days past a protocol's last
assessment in the model is flagged ``extrapolated``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.growth import FixedEffect
from analysis.numbers import finite_interval, finite_or_none
from analysis.timeshape import TimeShape
from data.errors import AnalysisError

METHOD = (
    "score ~ shape(day) * protocol + (shape column 1 | patient_id); shape chosen by ML AIC among "
    "linear, log1p, natural spline in log1p(day); estimates from the REML refit (lme4)"
)
#: Patients above which the shape is chosen on a seeded sample of this many (``_fit_shapes``).
SHAPE_SAMPLE_PATIENTS, SHAPE_SAMPLE_SEED = 20_000, 20261205
#: Days at which the fitted improvement and the protocol contrast are reported.
CONTRAST_DAYS = (14.0, 28.0)
#: A day more than this past a protocol's last modelled assessment is extrapolation.
EXTRAPOLATION_DAYS = 3.0
EOT = "end_of_treatment"
_Z95 = float(stats.norm.ppf(0.975))


def slope_name(shape: TimeShape | None) -> str | None:
    """The random slope's covariate: day (``linear``) or log1p_day (``log1p``, ``spline``)."""
    if shape is None:
        return None
    return "day" if shape.name == "linear" else "log1p_day"


def design_matrix(basis: np.ndarray, ind: np.ndarray) -> np.ndarray:
    """[1, B, e, B ⊗ e]: columns intercept, shape, protocol indicators, then per protocol its
    shape × indicator columns (R's ``shape * protocol`` model matrix, reordered)."""
    n, m = basis.shape[0], ind.shape[1]
    inter = np.einsum("nm,nq->nmq", ind, basis).reshape(n, m * basis.shape[1])
    return np.column_stack([np.ones(n), basis, ind, inter])


def _label(day: float) -> str:
    return f"day_{day:g}"


class _Estimate:
    """Shared by Improvement and ProtocolContrast: the Wald interval and the JSON form."""

    estimate: float
    se: float

    @property
    def ci(self) -> tuple[float, float]:
        """Wald 95% interval: estimate ± 1.96 × SE."""
        return (self.estimate - _Z95 * self.se, self.estimate + _Z95 * self.se)

    def to_dict(self) -> dict:
        """Plain JSON (NaN becomes None), with ``ci`` as [low, high]."""
        out = {
            k: finite_or_none(v) if isinstance(v, float) else v
            for k, v in dataclasses.asdict(self).items()  # type: ignore[arg-type]
        }
        return out | {"ci": finite_interval(self.ci)}


@dataclass(frozen=True)
class Improvement(_Estimate):
    """A protocol's fitted improvement from baseline (day 0) to ``day``: positive = better."""

    protocol: str
    at: str  # "day_14", "day_28" or "end_of_treatment"
    day: float
    estimate: float
    se: float
    extrapolated: bool


@dataclass(frozen=True)
class ProtocolContrast(_Estimate):
    """Fitted improvement of ``protocol`` at ``day`` minus that of the reference protocol at
    ``reference_day`` (positive = ``protocol`` improved more)."""

    protocol: str
    reference_protocol: str
    at: str
    day: float
    reference_day: float
    estimate: float
    se: float
    extrapolated: bool  # either side is extrapolated


@dataclass(frozen=True)
class DayModelResult:
    """The day model of one instrument; ``fitted`` is False when it could not be fitted
    (``message`` says why, and the estimates are empty)."""

    instrument: str
    fitted: bool
    converged: bool
    singular: bool
    shape: TimeShape | None
    shape_aic: Mapping[str, float]  # ML AIC of every candidate shape (NaN: not fitted)
    shape_notes: Mapping[str, str]  # why a candidate was not fitted or did not converge
    reference_protocol: str | None
    protocols: tuple[str, ...]
    n_patients: int
    n_obs: int
    higher_is_worse: bool = True
    fixed_effects: tuple[FixedEffect, ...] = ()
    typical_eot_day: Mapping[str, float] = field(default_factory=dict)
    first_day: Mapping[str, float] = field(default_factory=dict)
    last_day: Mapping[str, float] = field(default_factory=dict)
    improvements: tuple[Improvement, ...] = ()
    contrasts: tuple[ProtocolContrast, ...] = ()
    sd_intercept: float = math.nan
    sd_slope: float = math.nan
    corr_intercept_slope: float = math.nan
    residual_sd: float = math.nan
    reml_criterion: float = math.nan
    theta: tuple[float, ...] = ()
    iterations: int = 0
    message: str = ""
    beta: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False, repr=False)
    cov: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), compare=False, repr=False)

    # -- fitted values -------------------------------------------------------------------------
    def _rows(self, protocol: str, day: np.ndarray | float) -> np.ndarray:
        """Design rows [1, B(t), e, B(t) ⊗ e] of ``protocol`` at ``day`` (e its indicators)."""
        if not self.fitted or self.shape is None:
            raise AnalysisError(f"The {self.instrument} day model was not fitted: {self.message}")
        if protocol not in self.protocols:
            raise AnalysisError(
                f"The {self.instrument} day model has no protocol '{protocol}'; its protocols "
                f"are {', '.join(self.protocols)}."
            )
        basis = self.shape.basis(day)
        others = [p for p in self.protocols if p != self.reference_protocol]
        ind = np.zeros((basis.shape[0], len(others)))
        if protocol in others:
            ind[:, others.index(protocol)] = 1.0
        return design_matrix(basis, ind)

    def predict(self, protocol: str, day: np.ndarray | float) -> np.ndarray:
        """Fitted mean score of ``protocol`` at ``day`` (R: ``predict(fit, newdata, re.form = NA)``)."""
        return self._rows(protocol, day) @ self.beta

    def _change(self, protocol: str, day: np.ndarray | float) -> np.ndarray:
        """Contrast vectors c with c'β = improvement from day 0 to ``day`` (one row per day)."""
        rows = self._rows(protocol, day)
        sign = 1.0 if self.higher_is_worse else -1.0
        return sign * (self._rows(protocol, 0.0) - rows)

    def _extrapolated(self, protocol: str, day: np.ndarray) -> np.ndarray:
        return (day > self.last_day[protocol] + EXTRAPOLATION_DAYS) | (
            self.first_day[protocol] > EXTRAPOLATION_DAYS
        )

    def improvement_at(self, protocol: str, day: float, at: str | None = None) -> Improvement:
        """Fitted improvement of ``protocol`` from day 0 to ``day``, SE sqrt(c'Vc)."""
        c = self._change(protocol, day)[0]
        return Improvement(
            protocol=protocol,
            at=at or _label(day),
            day=float(day),
            estimate=float(c @ self.beta),
            se=float(np.sqrt(c @ self.cov @ c)),
            extrapolated=bool(self._extrapolated(protocol, np.array([day]))[0]),
        )

    def contrast_at(
        self, protocol: str, day: float, reference_day: float | None = None, at: str | None = None
    ) -> ProtocolContrast:
        """Improvement of ``protocol`` at ``day`` minus the reference's at ``reference_day``
        (default: the same day); SE sqrt(c'Vc) with c the difference of the two vectors."""
        ref = self.reference_protocol or ""
        ref_day = float(day if reference_day is None else reference_day)
        c = self._change(protocol, day)[0] - self._change(ref, ref_day)[0]
        extrap = (
            self._extrapolated(protocol, np.array([day]))[0]
            or self._extrapolated(ref, np.array([ref_day]))[0]
        )
        return ProtocolContrast(
            protocol=protocol,
            reference_protocol=ref,
            at=at or _label(day),
            day=float(day),
            reference_day=ref_day,
            estimate=float(c @ self.beta),
            se=float(np.sqrt(c @ self.cov @ c)),
            extrapolated=bool(extrap),
        )

    def curve(self, protocol: str, days: Sequence[float] | np.ndarray) -> pd.DataFrame:
        """Fitted mean score of ``protocol`` over ``days`` with SE, Wald 95% CI and the
        extrapolation flag (for charts)."""
        d = np.asarray(days, dtype=float)
        rows = self._rows(protocol, d)
        fit = rows @ self.beta
        se = np.sqrt(np.einsum("ip,pq,iq->i", rows, self.cov, rows))
        return pd.DataFrame(
            {
                "protocol": protocol,
                "day": d,
                "fitted": fit,
                "se": se,
                "ci_low": fit - _Z95 * se,
                "ci_high": fit + _Z95 * se,
                "extrapolated": self._extrapolated(protocol, d),
            }
        )

    # -- output --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON (unrounded; NaN becomes None)."""
        shape = self.shape
        return {
            "instrument": self.instrument,
            "fitted": self.fitted,
            "converged": self.converged,
            "singular": self.singular,
            "method": METHOD,
            "shape": shape.name if shape else None,
            "shape_columns": list(shape.columns) if shape else [],
            "knots_log1p_day": [finite_or_none(k) for k in shape.knots] if shape else [],
            "shape_selection": {
                "criterion": "AIC of maximum-likelihood fits (lower is better)",
                "sample_patients": (
                    SHAPE_SAMPLE_PATIENTS if self.n_patients > SHAPE_SAMPLE_PATIENTS else None
                ),
                "aic": {k: finite_or_none(v) for k, v in self.shape_aic.items()},
                "notes": dict(self.shape_notes),
            },
            "reference_protocol": self.reference_protocol,
            "protocols": list(self.protocols),
            "n_patients": self.n_patients,
            "n_obs": self.n_obs,
            "higher_is_worse": self.higher_is_worse,
            "typical_eot_day": {k: finite_or_none(v) for k, v in self.typical_eot_day.items()},
            "first_day": {k: finite_or_none(v) for k, v in self.first_day.items()},
            "last_day": {k: finite_or_none(v) for k, v in self.last_day.items()},
            "improvement": [i.to_dict() for i in self.improvements],
            "contrasts": [c.to_dict() for c in self.contrasts],
            "fixed_effects": {
                fe.term: {
                    "estimate": finite_or_none(fe.estimate),
                    "se": finite_or_none(fe.se),
                    "ci": finite_interval(fe.ci),
                }
                for fe in self.fixed_effects
            },
            "random_effects": {
                "slope_covariate": slope_name(shape),
                "sd_intercept": finite_or_none(self.sd_intercept),
                "sd_slope": finite_or_none(self.sd_slope),
                "corr_intercept_slope": finite_or_none(self.corr_intercept_slope),
            },
            "residual_sd": finite_or_none(self.residual_sd),
            "reml_criterion": finite_or_none(self.reml_criterion),
            "theta": [finite_or_none(t) for t in self.theta],
            "iterations": self.iterations,
            "message": self.message,
        }


def with_contrasts(result: DayModelResult, ref: str, others: list[str]) -> DayModelResult:
    """Add the improvements (every protocol) and contrasts (every non-reference protocol) at
    days 14 and 28 and at the typical end of treatment."""
    eot = result.typical_eot_day
    improvements = [
        result.improvement_at(p, d) for p in result.protocols for d in CONTRAST_DAYS
    ] + [result.improvement_at(p, eot[p], EOT) for p in result.protocols if math.isfinite(eot[p])]
    contrasts = [result.contrast_at(p, d) for p in others for d in CONTRAST_DAYS]
    if math.isfinite(eot[ref]):
        contrasts += [
            result.contrast_at(p, eot[p], eot[ref], EOT) for p in others if math.isfinite(eot[p])
        ]
    order = {_label(d): k for k, d in enumerate(CONTRAST_DAYS)} | {EOT: len(CONTRAST_DAYS)}
    improvements.sort(key=lambda i: (i.protocol, order[i.at]))
    contrasts.sort(key=lambda c: (c.protocol, order[c.at]))
    return dataclasses.replace(result, improvements=tuple(improvements), contrasts=tuple(contrasts))


def day_model_table(results: Iterable[DayModelResult]) -> pd.DataFrame:
    """One tidy table of every fitted day model's improvements and protocol contrasts.

    ``quantity`` is ``improvement`` (a protocol's fitted improvement from baseline) or
    ``difference`` (a protocol's improvement minus the reference protocol's)."""
    records = []
    for r in results:
        if not r.fitted or r.shape is None:
            continue
        facts = {
            "instrument": r.instrument,
            "shape": r.shape.name,
            "n_patients": r.n_patients,
            "n_obs": r.n_obs,
            "converged": r.converged,
            "singular": r.singular,
        }
        for quantity, items in (("improvement", r.improvements), ("difference", r.contrasts)):
            for item in items:
                row = facts | dataclasses.asdict(item) | {"quantity": quantity}
                row["ci_low"], row["ci_high"] = item.ci
                records.append(row)
    return pd.DataFrame.from_records(records, columns=DAY_TABLE_COLUMNS)


#: Columns of ``day_model_table``, in order.
DAY_TABLE_COLUMNS = [
    *("instrument", "quantity", "protocol", "reference_protocol", "at", "day", "reference_day"),
    *("estimate", "se", "ci_low", "ci_high", "extrapolated", "shape", "n_patients", "n_obs"),
    *("converged", "singular"),
]
