"""Mixed-effects growth model of scores over sessions, by protocol (SPEC section 5).

score ~ session × protocol + (session | patient_id), fitted by REML on the baseline and
treatment assessments (those with a session number) of one instrument; the same model as R's
``lme4::lmer(score ~ session * protocol + (session | patient_id), REML = TRUE)``. The fit itself
is in ``analysis.lmm``.

Terms. ``intercept`` is the mean score at session 0 (baseline) in the reference protocol and
``session`` its mean change per session. The reference protocol is ``weekly`` when the data has
it, otherwise the first protocol label in alphabetical order. Every other protocol label adds
``protocol_<label>`` (its baseline difference from the reference) and
``session_x_protocol_<label>`` (its difference in change per session), e.g.
``protocol_intensive`` and ``session_x_protocol_intensive``. With one protocol only
``intercept`` and ``session`` are estimated. Each estimate carries its standard error (lme4's
``vcov``) and a Wald 95% interval, estimate ± 1.96 SE (R: ``confint(fit, method = "Wald")``).

A straight line in session number misfits the early drop of scores, and intensive and weekly
sessions are days versus weeks apart, so ``session_x_protocol_<label>`` is not a fair test of
"one protocol works faster". The day model (``analysis.growth_days``, docs/growth.md) compares
protocols by fitted improvement at days since baseline instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.lmm import LmmFit, fit_random_slope
from analysis.numbers import finite_interval, finite_or_none
from data.errors import AnalysisError

REFERENCE_PROTOCOL = "weekly"
MODEL_PHASES = ("baseline", "treatment")
METHOD = "REML linear mixed model, score ~ session * protocol + (session | patient_id) (lme4)"
_Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class FixedEffect:
    """One fixed-effect estimate with its standard error and Wald 95% interval."""

    term: str
    estimate: float
    se: float

    @property
    def ci(self) -> tuple[float, float]:
        """Wald 95% interval: estimate ± 1.96 × SE."""
        return (self.estimate - _Z95 * self.se, self.estimate + _Z95 * self.se)


@dataclass(frozen=True)
class GrowthResult:
    """The growth model of one instrument; ``fitted`` is False when it could not be fitted
    (``message`` says why, and the estimates are empty)."""

    instrument: str
    fitted: bool
    converged: bool
    singular: bool
    fixed_effects: tuple[FixedEffect, ...]
    reference_protocol: str | None
    protocols: tuple[str, ...]
    n_patients: int
    n_obs: int
    sd_intercept: float = math.nan
    sd_session: float = math.nan
    corr_intercept_session: float = math.nan
    residual_sd: float = math.nan
    reml_criterion: float = math.nan
    theta: tuple[float, ...] = ()
    iterations: int = 0
    message: str = ""

    def fixed_effect(self, term: str) -> FixedEffect:
        """The estimate of ``term`` (e.g. ``"session"``); AnalysisError when not in the model."""
        for fe in self.fixed_effects:
            if fe.term == term:
                return fe
        raise AnalysisError(
            f"The {self.instrument} growth model has no term '{term}'; its terms are "
            f"{', '.join(fe.term for fe in self.fixed_effects) or 'none'}."
        )

    def coefficients(self) -> pd.DataFrame:
        """Tidy table: one row per fixed effect (instrument, term, estimate, se, ci_low, ci_high)."""
        return pd.DataFrame(
            {
                "instrument": self.instrument,
                "term": [fe.term for fe in self.fixed_effects],
                "estimate": [fe.estimate for fe in self.fixed_effects],
                "se": [fe.se for fe in self.fixed_effects],
                "ci_low": [fe.ci[0] for fe in self.fixed_effects],
                "ci_high": [fe.ci[1] for fe in self.fixed_effects],
            },
            columns=["instrument", "term", "estimate", "se", "ci_low", "ci_high"],
        )

    def to_dict(self) -> dict:
        """The SPEC section 7 ``models`` entry (unrounded; NaN becomes None)."""
        return {
            "instrument": self.instrument,
            "converged": self.converged,
            "singular": self.singular,
            "fixed_effects": {
                fe.term: {
                    "estimate": finite_or_none(fe.estimate),
                    "se": finite_or_none(fe.se),
                    "ci": finite_interval(fe.ci),
                }
                for fe in self.fixed_effects
            },
            "fitted": self.fitted,
            "method": METHOD,
            "reference_protocol": self.reference_protocol,
            "protocols": list(self.protocols),
            "n_patients": self.n_patients,
            "n_obs": self.n_obs,
            "random_effects": {
                "sd_intercept": finite_or_none(self.sd_intercept),
                "sd_session": finite_or_none(self.sd_session),
                "corr_intercept_session": finite_or_none(self.corr_intercept_session),
            },
            "residual_sd": finite_or_none(self.residual_sd),
            "reml_criterion": finite_or_none(self.reml_criterion),
            "theta": [finite_or_none(t) for t in self.theta],
            "iterations": self.iterations,
            "message": self.message,
        }


def reference_protocol(labels: list[str] | tuple[str, ...]) -> str:
    """``weekly`` when present, otherwise the first label in alphabetical order."""
    if not labels:
        raise AnalysisError("There is no protocol label to compare against.")
    return REFERENCE_PROTOCOL if REFERENCE_PROTOCOL in labels else sorted(labels)[0]


@dataclass(frozen=True)
class Encoded:
    """The tidy table as integer codes and numbers (no text copied per row), for the growth
    models over sessions and over days."""

    usable: np.ndarray  # bool: a baseline/treatment row with a score and a time ≥ 0
    before_baseline: np.ndarray  # bool: as usable but at a negative time (a day before baseline)
    treatment: np.ndarray  # bool: treatment phase
    instrument: np.ndarray  # codes into instruments (−1 when empty)
    instruments: tuple[str, ...]
    patient: np.ndarray  # codes
    protocol: np.ndarray  # codes into protocols (−1 when empty)
    protocols: tuple[str, ...]
    time: np.ndarray  # the session number or the day, as asked
    score: np.ndarray

    def code_of(self, instrument: str) -> int:
        """The code of ``instrument``; AnalysisError when the table has none of it."""
        if instrument not in self.instruments:
            raise AnalysisError(
                f"There are no {instrument} assessments; the table has "
                f"{', '.join(sorted(self.instruments)) or 'no instruments'}."
            )
        return self.instruments.index(instrument)

    def coverage(self, code: int) -> dict:
        """What a model of instrument ``code`` would have used: its protocols, patients and
        assessments (the facts a result that could not be fitted still reports)."""
        rows = self.usable & (self.instrument == code) & (self.protocol >= 0)
        present = np.unique(self.protocol[rows])
        return {
            "protocols": tuple(sorted(self.protocols[k] for k in present)),
            "n_patients": int(np.unique(self.patient[rows]).size),
            "n_obs": int(np.count_nonzero(rows)),
        }


def protocols_at_one_value(values: np.ndarray, proto: np.ndarray, labels: list[str]) -> list[str]:
    """The protocols whose rows all share one value of ``values`` (one session, one day): a
    model cannot estimate their change over it."""
    spread = pd.Series(values).groupby(proto).agg(["min", "max"])
    return [labels[k] for k in spread.index[spread["min"] == spread["max"]]]


def encode(tidy: pd.DataFrame, time: str = "session", model: str = "growth model") -> Encoded:
    """Factorise the text columns once; flag the rows a model over ``time`` ("session" or
    "day") uses. ``model`` names the model in the error for a missing column."""
    needed = ("patient_id", "protocol", "instrument", time, "phase", "score")
    missing = [c for c in needed if c not in tidy.columns]
    if missing:
        raise AnalysisError(
            f"The {model} needs the column(s) {', '.join(missing)} in the assessment table."
        )
    t = tidy[time].to_numpy(dtype="float64", na_value=np.nan)
    score = tidy["score"].to_numpy(dtype="float64", na_value=np.nan)
    phase = tidy["phase"]
    scored = phase.isin(MODEL_PHASES).fillna(False).to_numpy(dtype=bool)
    scored &= ~np.isnan(t) & ~np.isnan(score)
    instrument, instruments = pd.factorize(tidy["instrument"])
    protocol, protocols = pd.factorize(tidy["protocol"])
    patient, _ = pd.factorize(tidy["patient_id"])
    return Encoded(
        usable=scored & (t >= 0),
        before_baseline=scored & (t < 0),
        treatment=(phase == "treatment").fillna(False).to_numpy(dtype=bool),
        instrument=np.asarray(instrument),
        instruments=tuple(str(x) for x in instruments),
        patient=np.asarray(patient),
        protocol=np.asarray(protocol),
        protocols=tuple(str(x) for x in protocols),
        time=t,
        score=score,
    )


def _fit_one(enc: Encoded, code: int) -> GrowthResult:
    """Fit the model of instrument ``enc.instruments[code]`` (terms: see the module docstring)."""
    instrument = enc.instruments[code]
    rows = np.flatnonzero(enc.usable & (enc.instrument == code))
    no_protocol = int(np.count_nonzero(enc.protocol[rows] < 0))
    rows = rows[enc.protocol[rows] >= 0]
    if rows.size == 0:
        raise AnalysisError(
            f"There are no baseline or treatment-phase {instrument} assessments with a session "
            "number, so the growth model cannot be fitted."
        )
    patient, patients = pd.factorize(enc.patient[rows])
    proto, present = pd.factorize(enc.protocol[rows])
    labels = [enc.protocols[k] for k in present]
    session, score = enc.time[rows], enc.score[rows]
    ref = reference_protocol(labels)
    others = sorted(lab for lab in labels if lab != ref)
    _check_sessions(instrument, session, proto, labels)
    columns = [np.ones_like(session), session]
    names = ["intercept", "session"]
    indicators = [(proto == labels.index(lab)).astype(float) for lab in others]
    columns += indicators + [session * ind for ind in indicators]
    names += [f"protocol_{lab}" for lab in others]
    names += [f"session_x_protocol_{lab}" for lab in others]
    try:
        fit: LmmFit = fit_random_slope(score, np.column_stack(columns), session, patient)
    except AnalysisError as err:
        raise AnalysisError(f"{instrument} growth model: {err}") from err
    message = fit.message
    if no_protocol:
        message += f"; {no_protocol} assessment(s) without a protocol were left out"
    return GrowthResult(
        instrument=instrument,
        fitted=True,
        converged=fit.converged,
        singular=fit.singular,
        fixed_effects=tuple(
            FixedEffect(term, float(b), float(s))
            for term, b, s in zip(names, fit.beta, fit.se, strict=True)
        ),
        reference_protocol=ref,
        protocols=tuple(sorted(labels)),
        n_patients=len(patients),
        n_obs=fit.n_obs,
        sd_intercept=fit.sd_intercept,
        sd_session=fit.sd_slope,
        corr_intercept_session=fit.corr,
        residual_sd=fit.sigma,
        reml_criterion=fit.reml_criterion,
        theta=tuple(float(t) for t in fit.theta),
        iterations=fit.iterations,
        message=message,
    )


def _check_sessions(
    instrument: str, session: np.ndarray, proto: np.ndarray, labels: list[str]
) -> None:
    """Two or more session numbers overall, and within each protocol for its change per
    session."""
    if not (session != session[0]).any():
        raise AnalysisError(
            f"The {instrument} growth model needs assessments at two or more different session "
            f"numbers; all of them are at session {int(session[0])}. It can be fitted once "
            "treatment-phase assessments are recorded."
        )
    thin = protocols_at_one_value(session, proto, labels)
    if thin:
        raise AnalysisError(
            f"The {instrument} growth model cannot estimate the change per session for protocol "
            f"{', '.join(repr(t) for t in thin)}: its assessments are all at one session number. "
            "Record treatment-phase assessments for that protocol, or analyse it separately."
        )


def fit_growth(tidy: pd.DataFrame, instrument: str) -> GrowthResult:
    """Fit the growth model of one instrument (a registry key as in the tidy table).

    Raises AnalysisError when it cannot be fitted: no such assessments, fewer than two session
    numbers (overall or within a protocol), or no more assessments than twice the number of
    patients (lme4's identifiability check).
    """
    enc = encode(tidy)
    return _fit_one(enc, enc.code_of(instrument))


def fit_growth_models(tidy: pd.DataFrame) -> list[GrowthResult]:
    """The growth model of every instrument in the table, in alphabetical order.

    An instrument whose model cannot be fitted gives a result with ``fitted`` and
    ``converged`` False, no estimates, and the reason in ``message``.
    """
    enc = encode(tidy)
    results = []
    for instrument in sorted(enc.instruments):
        code = enc.instruments.index(instrument)
        try:
            results.append(_fit_one(enc, code))
        except AnalysisError as err:
            results.append(
                GrowthResult(
                    instrument=instrument,
                    fitted=False,
                    converged=False,
                    singular=False,
                    fixed_effects=(),
                    reference_protocol=None,
                    message=str(err),
                    **enc.coverage(code),
                )
            )
    return results


def growth_table(results: list[GrowthResult]) -> pd.DataFrame:
    """One tidy table of every fitted model's fixed effects, with the model's facts per row."""
    frames = []
    for r in results:
        if not r.fitted:
            continue
        frame = r.coefficients()
        frame["reference_protocol"] = r.reference_protocol
        frame["n_patients"] = r.n_patients
        frame["n_obs"] = r.n_obs
        frame["converged"] = r.converged
        frame["singular"] = r.singular
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=_TABLE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[_TABLE_COLUMNS]


_TABLE_COLUMNS = [
    "instrument",
    "term",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "reference_protocol",
    "n_patients",
    "n_obs",
    "converged",
    "singular",
]
