"""Mixed-effects growth model of scores over days since baseline, by protocol (docs/growth.md).

score ~ shape(day) × protocol + (f₁ | patient_id) on the baseline and treatment-phase
assessments of one instrument that have a day; f₁ is the shape's first column (day for
``linear``, log(1 + day) otherwise). The shape is chosen among ``analysis.timeshape.SHAPES`` by
the AIC of maximum-likelihood fits (R: ``AIC(lmer(..., REML = FALSE))``), then refitted by REML
for the estimates (R: ``lmer(..., REML = TRUE)``). ``weekly`` is the reference protocol, as in
the session model (``analysis.growth``).

The protocols are compared by fitted differences, at days 14 and 28 and at each protocol's
typical end of treatment; ``analysis.day_model`` holds the model's design and what a fit says.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.day_model import (
    SHAPE_SAMPLE_PATIENTS,
    SHAPE_SAMPLE_SEED,
    DayModelResult,
    design_matrix,
    with_contrasts,
)
from analysis.growth import (
    Encoded,
    FixedEffect,
    encode,
    protocols_at_one_value,
    reference_protocol,
)
from analysis.lmm import LmmFit, fit_random_slope
from analysis.timeshape import SHAPES, TimeShape, make_shape
from data.errors import AnalysisError, ReliefCheckError
from data.instruments import Registry, default_registry


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
            X = design_matrix(basis, ind)
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
    thin = protocols_at_one_value(day, proto, labels)
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
    return with_contrasts(result, ref, others)


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
    return _fit_one(enc, enc.code_of(instrument), registry or default_registry(), tuple(shapes))


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
                    message=str(err),
                    **enc.coverage(code),
                )
            )
    return results
