"""Mixed-effects growth model of scores over days since baseline, by protocol (docs/growth.md).

score ~ shape(day) × protocol + (f₁ | patient_id) on the baseline and treatment-phase
assessments of one instrument that have a day; f₁ is the shape's first column (day for
``linear``, log(1 + day) otherwise). The shape is chosen among ``analysis.timeshape.SHAPES`` by
the AIC of maximum-likelihood fits (R: ``AIC(lmer(..., REML = FALSE))``), then refitted by REML
for the estimates (R: ``lmer(..., REML = TRUE)``). ``weekly`` is the reference protocol, as in
the session model (``analysis.growth``).

The protocols are compared by fitted differences, not by a slope: the fitted improvement from
baseline, ±(fitted score at day 0 − fitted score at day t) with the sign of
``Instrument.improvement`` (positive = better), at days 14 and 28 and at each protocol's typical
end of treatment (the median day of its patients' last treatment assessment). SEs are
sqrt(c' V c) with V the fixed-effect covariance (lme4's ``vcov``), CIs Wald 95%. A day more than
three days past a protocol's last assessment in the model is flagged ``extrapolated``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.growth import (
    Encoded,
    FixedEffect,
    _pair,
    encode,
    reference_protocol,
)
from analysis.lmm import LmmFit, fit_random_slope
from analysis.numbers import finite_or_none
from analysis.timeshape import SHAPES, TimeShape, make_shape
from data.errors import AnalysisError, ReliefCheckError
from data.instruments import Registry, default_registry

METHOD = (
    "score ~ shape(day) * protocol + (shape column 1 | patient_id); shape chosen by ML AIC among "
    "linear, log1p, natural spline in log1p(day); estimates from the REML refit (lme4)"
)
#: Days at which the fitted improvement and the protocol contrast are reported.
CONTRAST_DAYS = (14.0, 28.0)
#: A day more than this past a protocol's last modelled assessment is extrapolation.
EXTRAPOLATION_DAYS = 3.0
EOT = "end_of_treatment"
_Z95 = float(stats.norm.ppf(0.975))


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
        return out | {"ci": _pair(self.ci)}


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
        return _design(basis, ind)

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
                    "ci": _pair(fe.ci),
                }
                for fe in self.fixed_effects
            },
            "random_effects": {
                "slope_covariate": _slope_name(shape),
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


def _slope_name(shape: TimeShape | None) -> str | None:
    """The random slope's covariate: day (``linear``) or log1p_day (``log1p``, ``spline``)."""
    if shape is None:
        return None
    return "day" if shape.name == "linear" else "log1p_day"


def _design(basis: np.ndarray, ind: np.ndarray) -> np.ndarray:
    """[1, B, e, B ⊗ e]: columns intercept, shape, protocol indicators, then per protocol its
    shape × indicator columns (R's ``shape * protocol`` model matrix, reordered)."""
    n, m = basis.shape[0], ind.shape[1]
    inter = np.einsum("nm,nq->nmq", ind, basis).reshape(n, m * basis.shape[1])
    return np.column_stack([np.ones(n), basis, ind, inter])


def _higher_is_worse(registry: Registry, instrument: str) -> bool:
    try:
        return bool(registry.get(instrument).improvement(1.0, 0.0) > 0)
    except ReliefCheckError as err:
        raise AnalysisError(
            f"The {instrument} day model needs to know whether a higher score is worse: {err}"
        ) from err


def _fit(y: np.ndarray, X: np.ndarray, z: np.ndarray, groups: np.ndarray, reml: bool) -> LmmFit:
    """``fit_random_slope`` with the slope covariate z standardised for the optimiser.

    The model is the same (the random effects' covariance is unstructured), so the criterion and
    the fixed effects are unchanged; the slope SD and θ are put back on z's own scale. Without
    this, a slope in raw days (SD ≈ 15) starts lme4's Λ = I far from the optimum and the search
    can stop early on large cohorts."""
    scale = float(np.std(z)) or 1.0
    fit = fit_random_slope(y, X, z / scale, groups, reml=reml)
    theta = np.array([fit.theta[0], fit.theta[1] / scale, fit.theta[2] / scale])
    return dataclasses.replace(fit, theta=theta, sd_slope=fit.sd_slope / scale)


#: Patients above which the shape is chosen on a seeded sample of this many (``_fit_shapes``).
SHAPE_SAMPLE_PATIENTS, SHAPE_SAMPLE_SEED = 20_000, 20261205


def _fit_shapes(
    instrument: str,
    shapes: Sequence[str],
    day: np.ndarray,
    ind: np.ndarray,
    score: np.ndarray,
    patient: np.ndarray,
) -> tuple[TimeShape, np.ndarray, dict[str, float], dict[str, str]]:
    """ML fit of every candidate shape; the one with the lowest AIC (converged fits first),
    with its design matrix, every shape's AIC and notes on the shapes that failed.

    Above ``SHAPE_SAMPLE_PATIENTS`` patients the AICs come from a seeded random sample of that
    many patients (knots still placed on every assessment): at that size the AIC gaps between
    shapes are in the thousands, so the choice does not change, and the three ML fits would
    otherwise take most of the summary's time."""
    n_patients = int(patient.max()) + 1 if patient.size else 0
    sample = np.ones(patient.size, dtype=bool)
    if n_patients > SHAPE_SAMPLE_PATIENTS:
        rng = np.random.default_rng(SHAPE_SAMPLE_SEED)
        chosen = np.zeros(n_patients, dtype=bool)
        chosen[rng.choice(n_patients, SHAPE_SAMPLE_PATIENTS, replace=False)] = True
        sample = chosen[patient]
    sample_patient = pd.factorize(patient[sample])[0]
    aic: dict[str, float] = {}
    notes: dict[str, str] = {}
    best: tuple[tuple[bool, float], TimeShape, np.ndarray] | None = None
    for name in shapes:
        aic[name] = math.nan
        try:
            shape = make_shape(name, day)
            basis = shape.basis(day)
            X = _design(basis, ind)
            fit = _fit(score[sample], X[sample], basis[sample, 0], sample_patient, reml=False)
        except AnalysisError as err:
            notes[name] = str(err)
            continue
        aic[name] = fit.aic
        if not fit.converged:
            notes[name] = f"maximum-likelihood fit: {fit.message}"
        rank = (not fit.converged, fit.aic)
        if best is None or rank < best[0]:
            best = (rank, shape, X)
    if best is None:
        detail = "; ".join(f"{k}: {v}" for k, v in notes.items())
        raise AnalysisError(
            f"The {instrument} day model could not be fitted with any shape ({detail})."
        )
    return best[1], best[2], aic, notes


def _per_protocol_days(
    proto: np.ndarray,
    patient: np.ndarray,
    day: np.ndarray,
    treatment: np.ndarray,
    labels: list[str],
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """First and last modelled day per protocol, and the typical end of treatment: the median
    over patients of the day of their last treatment assessment."""
    frame = pd.DataFrame({"proto": proto, "patient": patient, "day": day})
    span = frame.groupby("proto")["day"].agg(["min", "max"])
    last = frame[treatment].groupby(["proto", "patient"])["day"].max()
    eot = last.groupby(level="proto").median()
    first_day = {labels[k]: float(v) for k, v in span["min"].items()}
    last_day = {labels[k]: float(v) for k, v in span["max"].items()}
    eot_day = {lab: float(eot.get(k, math.nan)) for k, lab in enumerate(labels)}
    return first_day, last_day, eot_day


def _check_days(instrument: str, day: np.ndarray, proto: np.ndarray, labels: list[str]) -> None:
    """Two or more distinct days overall and within each protocol."""
    if not (day != day[0]).any():
        raise AnalysisError(
            f"The {instrument} day model needs assessments on two or more different days since "
            f"baseline; all of them are on day {day[0]:g}. It can be fitted once treatment-phase "
            "assessments with a day (or date) are recorded."
        )
    spread = pd.Series(day).groupby(proto).agg(["min", "max"])
    thin = [labels[k] for k in spread.index[spread["min"] == spread["max"]]]
    if thin:
        raise AnalysisError(
            f"The {instrument} day model cannot estimate the course over time for protocol "
            f"{', '.join(repr(t) for t in thin)}: its assessments are all on one day. Record "
            "treatment-phase assessments with a day (or date) for that protocol, or analyse it "
            "separately."
        )


def _fit_one(enc: Encoded, code: int, registry: Registry, shapes: Sequence[str]) -> DayModelResult:
    """Fit the day model of instrument ``enc.instruments[code]`` (see the module docstring)."""
    instrument = enc.instruments[code]
    of_instrument = enc.instrument == code
    rows = np.flatnonzero(enc.usable & of_instrument)
    no_protocol = int(np.count_nonzero(enc.protocol[rows] < 0))
    rows = rows[enc.protocol[rows] >= 0]
    if rows.size == 0:
        raise AnalysisError(
            f"There are no baseline or treatment-phase {instrument} assessments with a day since "
            "baseline, so the day model cannot be fitted. Include assessment dates or days in "
            "the export."
        )
    higher_is_worse = _higher_is_worse(registry, instrument)
    patient, patients = pd.factorize(enc.patient[rows])
    proto, present = pd.factorize(enc.protocol[rows])
    labels = [enc.protocols[k] for k in present]
    day, score = enc.time[rows], enc.score[rows]
    _check_days(instrument, day, proto, labels)
    ref = reference_protocol(labels)
    others = sorted(lab for lab in labels if lab != ref)
    ind = (proto[:, None] == np.array([labels.index(o) for o in others], dtype=int)).astype(float)
    shape, X, aic, notes = _fit_shapes(instrument, shapes, day, ind, score, patient)
    try:
        fit = _fit(score, X, X[:, 1], patient, reml=True)
    except AnalysisError as err:
        raise AnalysisError(f"{instrument} day model ({shape.name} shape): {err}") from err
    first_day, last_day, eot_day = _per_protocol_days(
        proto, patient, day, enc.treatment[rows], labels
    )
    cols = list(shape.columns)
    names = ["intercept", *cols, *(f"protocol_{o}" for o in others)]
    names += [f"{c}_x_protocol_{o}" for o in others for c in cols]
    notes_text = [fit.message]
    if no_protocol:
        notes_text.append(f"{no_protocol} assessment(s) without a protocol were left out")
    early = int(np.count_nonzero(enc.before_baseline & of_instrument))
    if early:
        notes_text.append(f"{early} assessment(s) dated before baseline were left out")
    result = DayModelResult(
        instrument=instrument,
        fitted=True,
        converged=fit.converged,
        singular=fit.singular,
        shape=shape,
        shape_aic=aic,
        shape_notes=notes,
        reference_protocol=ref,
        protocols=tuple(sorted(labels)),
        n_patients=len(patients),
        n_obs=fit.n_obs,
        higher_is_worse=higher_is_worse,
        fixed_effects=tuple(
            FixedEffect(term, float(b), float(s))
            for term, b, s in zip(names, fit.beta, fit.se, strict=True)
        ),
        typical_eot_day={lab: eot_day[lab] for lab in sorted(labels)},
        first_day={lab: first_day[lab] for lab in sorted(labels)},
        last_day={lab: last_day[lab] for lab in sorted(labels)},
        sd_intercept=fit.sd_intercept,
        sd_slope=fit.sd_slope,
        corr_intercept_slope=fit.corr,
        residual_sd=fit.sigma,
        reml_criterion=fit.reml_criterion,
        theta=tuple(float(t) for t in fit.theta),
        iterations=fit.iterations,
        message="; ".join(notes_text),
        beta=fit.beta,
        cov=fit.cov,
    )
    return _with_contrasts(result, ref, others)


def _with_contrasts(result: DayModelResult, ref: str, others: list[str]) -> DayModelResult:
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


def fit_day_model(
    tidy: pd.DataFrame,
    instrument: str,
    registry: Registry | None = None,
    *,
    shapes: Sequence[str] = SHAPES,
) -> DayModelResult:
    """Fit the day model of one instrument (a registry key as in the tidy table).

    ``registry`` gives the direction of improvement (default: the built-in registry);
    ``shapes`` the candidate time shapes (one name fixes the shape). Raises AnalysisError when
    it cannot be fitted: no such assessments with a day, fewer than two distinct days (overall
    or within a protocol), too few assessments per patient, or no shape that fits.
    """
    enc = encode(tidy, "day", "day model")
    if instrument not in enc.instruments:
        raise AnalysisError(
            f"There are no {instrument} assessments; the table has "
            f"{', '.join(sorted(enc.instruments)) or 'no instruments'}."
        )
    return _fit_one(
        enc, enc.instruments.index(instrument), registry or default_registry(), tuple(shapes)
    )


def fit_day_models(
    tidy: pd.DataFrame, registry: Registry | None = None, *, shapes: Sequence[str] = SHAPES
) -> list[DayModelResult]:
    """The day model of every instrument in the table, in alphabetical order.

    An instrument whose model cannot be fitted gives a result with ``fitted`` and ``converged``
    False, no estimates, and the reason in ``message``.
    """
    enc = encode(tidy, "day", "day model")
    registry = registry or default_registry()
    results = []
    for instrument in sorted(enc.instruments):
        code = enc.instruments.index(instrument)
        try:
            results.append(_fit_one(enc, code, registry, tuple(shapes)))
        except AnalysisError as err:
            rows = enc.usable & (enc.instrument == code) & (enc.protocol >= 0)
            present = np.unique(enc.protocol[rows])
            results.append(
                DayModelResult(
                    instrument=instrument,
                    fitted=False,
                    converged=False,
                    singular=False,
                    shape=None,
                    shape_aic={},
                    shape_notes={},
                    reference_protocol=None,
                    protocols=tuple(sorted(enc.protocols[k] for k in present)),
                    n_patients=int(np.unique(enc.patient[rows]).size),
                    n_obs=int(np.count_nonzero(rows)),
                    message=str(err),
                )
            )
    return results


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
