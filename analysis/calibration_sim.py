"""The simulator behind calibration (docs/calibration.md): one instrument of a practice with its
own rows, days, sessions, protocols, dropouts and baselines kept, and every later score replaced
by one drawn from a model whose truth is set. Pure numpy and pandas; reads no file.

The model, for patient i and assessment j of one instrument, on the scale x = distance from the
instrument's best score (score − min when higher is worse, max − score otherwise), so that
improvement = x at baseline − x later, as ``Instrument.improvement`` counts it:

    x_ij = x_i − u_i − D_i · g_ij + e_ij,   rounded on integer scales, kept within the range

- x_i: the patient's observed baseline, kept as it is (a patient without one gets a baseline
  drawn from the practice's baselines of the instrument); the baseline row is not simulated;
- u_i, e_ij ~ N(0, SEM²): measurement error of the baseline and of each later assessment, with
  SEM = reliable-change threshold / (1.96 √2) (the threshold is 1.96 standard errors of a
  difference of two scores, Jacobson & Truax 1991), so a change by noise alone crosses the
  threshold in 2.5% of assessments;
- D_i ~ N(φ x_i, (s x_i)²): the patient's true eventual improvement, φ the mean fraction of the
  baseline that goes and s its spread between patients;
- g_ij, how much of it has arrived: 0 at session 0, c(t) = 1 − exp(−t / τ) at day t of
  treatment (τ the calendar time constant of the patient's protocol), c(t_eot) · r at follow-up
  (r the share of the end-of-treatment gain still there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analysis.assessments import Assessments
from analysis.outcomes import patient_outcomes
from data.errors import AnalysisError, RegistryError
from data.instruments import RCI_Z, Instrument, Registry

#: Day assumed for an assessment without a day count: 7 per session (weekly), and the lasting
#: window's centre after the end of treatment for follow-up.
DAYS_PER_SESSION = 7.0
FOLLOW_UP_DAYS = 90.0
#: Range of the between-patient spread s of the fraction of the baseline that goes.
SPREAD_RANGE = (0.05, 0.6)
_TAU_GRID = np.geomspace(0.5, 365.0, 48)


def curve(t: np.ndarray | float, tau: np.ndarray | float) -> np.ndarray:
    """c(t) = 1 − exp(−t / τ): the share of the eventual improvement reached by day t."""
    with np.errstate(invalid="ignore", over="ignore"):
        return -np.expm1(-np.maximum(np.asarray(t, dtype=float), 0.0) / np.asarray(tau))


@dataclass(frozen=True)
class Curve:
    """The practice's average course on one instrument: time constant τ (days), mean fraction
    of the baseline gone φ, and its spread s between patients."""

    tau: float
    phi: float
    spread: float


@dataclass(frozen=True, eq=False)
class Structure:
    """What calibration keeps of one instrument's data. Row arrays follow ``frame``; patient
    arrays follow ``outcomes`` (patients in order of first appearance, as ``patient_outcomes``
    gives them)."""

    ins: Instrument
    frame: pd.DataFrame  # the instrument's rows; protocol and descriptive columns per patient
    outcomes: pd.DataFrame  # patient_outcomes of ``frame``
    planned: dict[str, int]  # planned last session per protocol (the whole practice's)
    patient: np.ndarray  # row → patient number
    simulate: np.ndarray  # rows whose score is replaced (scored, not the baseline)
    kind: np.ndarray  # row: 0 session 0, 1 treatment, 2 follow-up
    t: np.ndarray  # row: days since baseline the curve reads
    t_eot: np.ndarray  # patient: days since baseline of the end of treatment (NaN: none)
    x_base: np.ndarray  # patient: observed baseline on the x scale (NaN: none)
    sem: np.ndarray  # patient: standard error of measurement
    integer: bool  # scores are whole numbers
    curve: Curve

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    @property
    def n_patients(self) -> int:
        return len(self.outcomes)

    @property
    def span(self) -> float:
        return float(self.ins.max - self.ins.min)

    def to_x(self, score: np.ndarray) -> np.ndarray:
        """Scores as distances from the best score."""
        return _x(self.ins, score)

    def to_score(self, x: np.ndarray) -> np.ndarray:
        ins = self.ins
        return ins.min + x if ins.higher_is_worse else ins.max - x


def per_patient_columns(frame: pd.DataFrame, whole: Assessments) -> pd.DataFrame:
    """``frame`` with protocol and descriptive columns set to each patient's value in the whole
    table, so a table of one instrument gives every patient the protocol the claims see."""
    patients = whole.patients_frame()
    where = pd.Index(patients["patient_id"]).get_indexer(frame["patient_id"].array)
    out = frame.copy()
    for col in patients.columns.drop(["patient_id", "protocol_changed"]):
        if col in out.columns:
            out[col] = patients[col].array.take(where)
    return out


def build_structure(
    tidy: pd.DataFrame,
    whole: Assessments,
    registry: Registry,
    key: str,
    planned: Mapping[str, int],
) -> Structure:
    """The structure of instrument ``key`` in ``tidy`` (``whole`` is its ``Assessments``;
    ``planned`` the planned last session per protocol of the whole practice)."""
    ins = registry.get(key)
    rows = (tidy["instrument"] == key).fillna(False).to_numpy(dtype=bool)
    frame = per_patient_columns(tidy.loc[rows].reset_index(drop=True), whole)
    out = patient_outcomes(frame, registry, planned_sessions=dict(planned))
    a = Assessments.build(frame)
    patient = pd.factorize(frame["patient_id"].array)[0]
    score = frame["score"].to_numpy(dtype=float)
    session = frame["session"].to_numpy(dtype="float64", na_value=np.nan)
    day = frame["day"].to_numpy(dtype=float)
    scored = ~np.isnan(score)
    sorted_scored = ~np.isnan(a.score)
    base_row = a.row[np.maximum(a.first(sorted_scored & (a.session == 0)), 0)]
    has_base = out["has_baseline"].to_numpy(dtype=bool)
    simulate = scored.copy()
    simulate[base_row[has_base]] = False
    follow = (frame["phase"] == "follow-up").fillna(False).to_numpy(dtype=bool)
    kind = np.where(follow, 2, np.where(session >= 1, 1, 0))
    base_day = out["baseline_day"].to_numpy(dtype=float)
    since = day - np.nan_to_num(base_day, nan=0.0)[patient]
    t = np.where(np.isnan(since), DAYS_PER_SESSION * np.nan_to_num(session), since)
    eot_day = out["eot_day"].to_numpy(dtype=float) - np.nan_to_num(base_day, nan=0.0)
    eot_session = out["eot_session"].to_numpy(dtype="float64", na_value=np.nan)
    t_eot = np.where(np.isnan(eot_day), DAYS_PER_SESSION * eot_session, eot_day)
    t = np.where(np.isnan(t) & (kind == 2), t_eot[patient] + FOLLOW_UP_DAYS, t)
    t = np.maximum(np.nan_to_num(t, nan=0.0), 0.0)
    x_base = np.where(has_base, _x(ins, out["baseline"].to_numpy(dtype=float)), np.nan)
    values = score[scored]
    integer = bool(
        float(ins.min).is_integer()
        and float(ins.max).is_integer()
        and np.all(values == np.round(values))
    )
    sem = _sem(ins, out, x_base)
    st = Structure(
        ins=ins,
        frame=frame,
        outcomes=out,
        planned=dict(planned),
        patient=patient,
        simulate=simulate,
        kind=kind,
        t=t,
        t_eot=t_eot,
        x_base=x_base,
        sem=sem,
        integer=integer,
        curve=Curve(tau=14.0, phi=0.5, spread=0.25),
    )
    return _with_curve(st)


def _x(ins: Instrument, score: np.ndarray) -> np.ndarray:
    """Scores as distances from the instrument's best score."""
    return score - ins.min if ins.higher_is_worse else ins.max - score


def _sem(ins: Instrument, out: pd.DataFrame, x_base: np.ndarray) -> np.ndarray:
    """Per patient: reliable-change threshold / (1.96 √2); where a patient's group has no
    threshold, the median of the others, else the registry's rule on the baseline SD."""
    thr = out["rc_threshold"].to_numpy(dtype=float)
    if np.isnan(thr).all():
        ok = np.isfinite(x_base).sum() >= 2
        sd = float(np.nanstd(x_base, ddof=1)) if ok else None
        try:
            fill = ins.reliable_change_threshold(sd if sd and sd > 0 else None)
        except RegistryError:
            raise AnalysisError(
                f"{ins.key} has no reliable-change threshold for these patients, so its "
                "measurement error is unknown. Give it a reliable_change in the instruments file."
            ) from None
        thr = np.full(len(thr), fill)
    else:
        thr = np.where(np.isnan(thr), np.nanmedian(thr), thr)
    return thr / (RCI_Z * np.sqrt(2.0))


def _with_curve(st: Structure) -> Structure:
    """``st`` with the practice's own average course fitted (least squares over every scored
    treatment assessment of patients with a baseline: improvement ≈ φ · x_i · c(t; τ), τ on a
    grid, φ in closed form; s from the spread of end-of-treatment changes beyond measurement
    error). With no such assessment the defaults stay (τ 14 days, φ 0.5, s 0.25)."""
    xb = st.x_base[st.patient]
    score = st.frame["score"].to_numpy(dtype=float)
    use = st.simulate & (st.kind == 1) & np.isfinite(xb) & (xb > 0) & (st.t > 0)
    if use.sum() < 3:
        return st
    y = xb[use] - st.to_x(score[use])
    g = xb[use, None] * curve(st.t[use, None], _TAU_GRID[None, :])
    phi = (y[:, None] * g).sum(axis=0) / np.maximum((g * g).sum(axis=0), 1e-12)
    sse = ((y[:, None] - phi[None, :] * g) ** 2).sum(axis=0)
    best = int(np.argmin(sse))
    tau, ph = float(_TAU_GRID[best]), float(np.clip(phi[best], -0.5, 1.0))
    paired = st.outcomes["paired"].to_numpy(dtype=bool) & np.isfinite(st.x_base)
    paired &= st.x_base > 0
    spread = 0.25
    if paired.sum() >= 3:
        xe = st.x_base[paired] * curve(st.t_eot[paired], tau)
        resid = st.outcomes["change"].to_numpy(dtype=float)[paired] - ph * xe
        extra = np.nanvar(resid, ddof=1) - 2.0 * np.mean(st.sem[paired] ** 2)
        denom = np.nanmean(xe**2)
        spread = float(np.sqrt(max(extra, 0.0) / denom)) if denom > 0 else spread
    lo, hi = SPREAD_RANGE
    return replace(st, curve=Curve(tau=tau, phi=ph, spread=float(np.clip(spread, lo, hi))))


@dataclass(frozen=True)
class Truth:
    """A scenario's truth: φ, τ per patient (days) and the retention r at follow-up."""

    phi: float
    tau: np.ndarray
    retention: float = 1.0


def arrived(st: Structure, truth: Truth) -> np.ndarray:
    """g per row: the share of the eventual improvement that has arrived (module docstring)."""
    tau = truth.tau[st.patient]
    at_eot = np.where(np.isnan(st.t_eot[st.patient]), st.t, st.t_eot[st.patient])
    return np.select(
        [st.kind == 1, st.kind == 2],
        [curve(st.t, tau), curve(at_eot, tau) * truth.retention],
        0.0,
    )


def simulate_scores(
    st: Structure, truth: Truth, n_sim: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_sim`` cohorts' scores (n_sim × rows): observed where not simulated (baselines, empty
    scores), drawn from the model elsewhere. Whole arrays, no loop over patients."""
    n_p = st.n_patients
    xb = np.broadcast_to(st.x_base, (n_sim, n_p)).copy()
    missing = np.isnan(st.x_base)
    pool = st.x_base[~missing]
    if missing.any():
        if not pool.size:
            pool = np.array([st.span / 2.0])
        xb[:, missing] = rng.choice(pool, size=(n_sim, int(missing.sum())))
    sem = st.sem
    latent = xb - rng.normal(0.0, 1.0, (n_sim, n_p)) * sem
    gain = (truth.phi + st.curve.spread * rng.normal(0.0, 1.0, (n_sim, n_p))) * xb
    rows = np.flatnonzero(st.simulate)
    p = st.patient[rows]
    g = arrived(st, truth)[rows]
    x = latent[:, p] - gain[:, p] * g + rng.normal(0.0, 1.0, (n_sim, rows.size)) * sem[p]
    if st.integer:
        x = np.round(x)
    x = np.clip(x, 0.0, st.span)
    out = np.broadcast_to(st.frame["score"].to_numpy(dtype=float), (n_sim, st.n_rows)).copy()
    out[:, rows] = st.to_score(x)
    return out


def simulate_item(
    frame: pd.DataFrame,
    item: str,
    theta: float,
    n_sim: int,
    rng: np.random.Generator,
    persistence: float = 0.5,
) -> np.ndarray:
    """``n_sim`` cohorts' values of the safety item ``item`` (n_sim × rows of ``frame``, NaN
    where it was not answered). Patients with the item ≥ 1 at baseline report 0 at each later
    assessment with probability ``theta`` (correlated within a patient, ``persistence`` the
    share of the latent variance that is the patient's), else their baseline value; everyone
    else keeps their answers, and so does every baseline."""
    from scipy.special import ndtri

    a = Assessments.build(frame)
    values = frame[item].to_numpy(dtype="float64", na_value=np.nan)
    scored = ~np.isnan(a.score)
    base_pos = a.first(scored & (a.session == 0))
    base_row = a.row[np.maximum(base_pos, 0)]
    base = np.where(base_pos >= 0, values[base_row], np.nan)
    group = np.empty(len(frame), dtype=np.int64)
    group[a.row] = a.group
    positive = base >= 1
    later = ~np.isnan(values) & positive[group]
    later[base_row[base_pos >= 0]] = False
    rows = np.flatnonzero(later)
    out = np.broadcast_to(values, (n_sim, len(values))).copy()
    if rows.size:
        g = group[rows]
        z = np.sqrt(persistence) * rng.normal(0.0, 1.0, (n_sim, a.n_groups))[:, g]
        z = z + np.sqrt(1.0 - persistence) * rng.normal(0.0, 1.0, (n_sim, rows.size))
        resolved = z < float(ndtri(np.clip(theta, 1e-12, 1 - 1e-12)))
        out[:, rows] = np.where(resolved, 0.0, base[g][None, :])
    return out
