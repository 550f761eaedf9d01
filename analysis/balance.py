"""Who gets which protocol: covariate balance and an overlap-weighted comparison of two protocols.

Practices do not randomise; intensive (retreat) patients tend to be sicker, more often
treatment-resistant, on other routes and at other sites. ``protocol_balance`` shows how the two
protocols' patients differ at baseline and compares their change after weighting them to look
alike (docs/adjustment.md states every formula, reference and choice):

- propensity e = P(protocol a | covariates), logistic regression (statsmodels GLM Binomial);
- overlap weights w = 1 − e for protocol a, e for protocol b (Li, Morgan & Zaslavsky 2018, JASA
  113:390): they target the patients who could plausibly have had either protocol (the ATO) and
  balance every model covariate's mean exactly;
- standardised mean differences as ``cobalt::bal.tab(s.d.denom = "pooled", binary = "std")``;
- Kish effective sample size (Σw)² / Σw² per protocol;
- adjusted difference in mean change (a − b): WLS of change on protocol and the same covariates
  with those weights, HC3 robust SE, t on the residual df (doubly robust regression adjustment);
- the E-value of that difference (``analysis.evalue``; VanderWeele & Ding 2017).

Pure computation: no file access, no Streamlit. An analysis that cannot be done raises
``AnalysisError`` with a message for the practice.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import WLS

from analysis.effects import BetweenEffects, between_effects
from analysis.evalue import evalues_mean_difference
from analysis.numbers import check_ci_level, json_value
from data.errors import AnalysisError

MIN_PER_PROTOCOL = 10
"""Fewer patients than this in either protocol: no adjusted comparison (AnalysisError)."""
MIN_LEVEL = 5
"""Patients a category (or a "not recorded" indicator) needs to get its own column."""
MIN_COVERAGE = 0.8
"""Share of patients with another instrument's baseline needed to adjust for it."""
PS_BOUNDS = (0.1, 0.9)
"""Propensities outside this range count as poor overlap (Crump et al. 2009)."""
MAX_SHARE_OUTSIDE = 0.10
SMD_THRESHOLD = 0.1
"""|SMD| at or above this is imbalance (Austin 2009; the love plot's dashed line)."""
NOT_RECORDED, OTHER = "not recorded", "other"
ID_COLUMNS = ("patient_id", "protocol", "treat", "change")
SEPARATED = "all its patients have one protocol (no overlap)"
COLLINEAR = "determined by the other covariates (collinear)"
_LINEAR_PREDICTOR_LIMIT = 25.0  # |logit| beyond this (e < 1.4e-11): the GLM ran off to ±∞


def _indicators(values: pd.Series, prefix: str, notes: list[str]) -> dict[str, np.ndarray]:
    """One 0/1 column per level but the reference: missing → "not recorded"; levels with
    fewer than MIN_LEVEL patients pooled into "other" (which joins the reference if still
    smaller); reference = the most common level (ties: alphabetical)."""
    x = values.astype(object).where(values.notna(), NOT_RECORDED).astype(str).to_numpy()
    levels, counts = np.unique(x, return_counts=True)
    rare = levels[counts < MIN_LEVEL]
    if 0 < len(rare) < len(levels):
        x = np.where(np.isin(x, rare), OTHER, x)
        notes.append(f"{prefix}: {', '.join(rare)} ({MIN_LEVEL}+ patients needed) → other")
    levels, counts = np.unique(x, return_counts=True)
    ref = levels[np.lexsort((levels, -counts))[0]]
    if OTHER in levels and counts[levels == OTHER][0] < MIN_LEVEL and ref != OTHER:
        x = np.where(x == OTHER, ref, x)
        notes.append(f"{prefix}: 'other' still under {MIN_LEVEL} patients, counted as {ref}")
    rest = sorted(set(x) - {ref}, key=lambda k: (k in (OTHER, NOT_RECORDED), k))
    if rest:
        notes.append(f"{prefix}: reference level {ref}")
    return {f"{prefix}: {lv}": (x == lv).astype(float) for lv in rest}


def _code_of(names: pd.Index, name: str) -> int:
    """The factorize code of ``name`` among ``names`` (−2, matching nothing, when absent)."""
    hits = np.flatnonzero(names == name)
    return int(hits[0]) if len(hits) else -2


def balance_frame(
    outcomes: pd.DataFrame,
    instrument: str,
    a: str = "intensive",
    b: str = "weekly",
    population: pd.Series | np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per patient of protocol a or b on ``instrument``: patient_id, protocol, treat
    (1 = a), change, then the covariates (names are display labels, e.g. "route: IV").

    ``population`` (boolean, over ``outcomes`` rows) narrows who is compared (default: paired);
    a finite baseline and change are always required. Covariates: the baseline; treatment-
    resistant 0/1 (+ "not recorded" indicator); route and site indicators; other instruments'
    baselines held by ≥ 80% (mean-filled, + missing indicator). Constant columns are left out.
    ``frame.attrs["notes"]`` lists the encoding choices made (docs/adjustment.md, section 2).
    """
    if a == b:
        raise AnalysisError(f"Choose two different protocols to compare (got '{a}' twice).")
    keep = outcomes["paired"].to_numpy(dtype=bool, copy=True)  # &= below must not write back
    if population is not None:
        mask = population.reindex(outcomes.index) if isinstance(population, pd.Series) else None
        mask = pd.array(population if mask is None else mask, dtype="boolean")
        if len(mask) != len(outcomes):
            raise AnalysisError("The population mask must have one value per outcomes row.")
        keep = mask.fillna(False).to_numpy(dtype=bool, copy=True)
    # instruments as codes: one pass over the column instead of a text copy per comparison
    ins_code, ins_names = pd.factorize(outcomes["instrument"])
    ins_names = ins_names.astype(str)
    keep &= ins_code == _code_of(ins_names, instrument)
    keep &= outcomes["protocol"].isin([a, b]).to_numpy(dtype=bool)
    for col in ("baseline", "change"):
        keep &= np.isfinite(pd.to_numeric(outcomes[col]).to_numpy(dtype=float, na_value=np.nan))
    rows = outcomes.loc[keep]
    pid = rows["patient_id"].astype(str).to_numpy()
    if len(set(pid)) < len(pid):
        raise AnalysisError(f"A patient appears twice for {instrument}; check the outcomes table.")
    notes: list[str] = []
    prot = rows["protocol"].astype(str).to_numpy()
    cols: dict[str, np.ndarray] = {
        "patient_id": pid,
        "protocol": prot,
        "treat": (prot == a).astype(int),
        "change": rows["change"].to_numpy(dtype=float, na_value=np.nan),
        f"{instrument} baseline": rows["baseline"].to_numpy(dtype=float, na_value=np.nan),
    }
    if not len(pid):
        return pd.DataFrame(cols)
    if "treatment_resistant" in rows and rows["treatment_resistant"].notna().any():
        tr = rows["treatment_resistant"].astype("boolean")
        missing = tr.isna().to_numpy()
        cols["treatment-resistant"] = tr.fillna(False).to_numpy(dtype=float)
        if missing.sum() >= MIN_LEVEL:
            cols["treatment-resistant not recorded"] = missing.astype(float)
        elif missing.any():
            notes.append(f"treatment-resistant: {missing.sum()} not recorded, counted as no")
    for col in ("route", "site"):
        if col in rows and rows[col].notna().any():
            cols.update(_indicators(rows[col], col, notes))
    base_all = pd.to_numeric(outcomes["baseline"]).to_numpy(dtype=float, na_value=np.nan)
    all_pid = None
    for key in sorted(set(ins_names) - {instrument}):
        sel = (ins_code == _code_of(ins_names, key)) & np.isfinite(base_all)
        if all_pid is None:
            all_pid = outcomes["patient_id"].astype(str).to_numpy()
        pos = pd.Index(all_pid[sel]).get_indexer(pid)
        base = np.where(pos >= 0, base_all[sel][pos], np.nan)
        have = pos >= 0
        if have.mean() < MIN_COVERAGE:
            if have.any():
                notes.append(f"{key} baseline: only {have.mean():.0%} of patients, not used")
            continue
        cols[f"{key} baseline"] = np.where(have, base, base[have].mean())
        if (~have).sum() >= MIN_LEVEL:
            cols[f"{key} baseline not recorded"] = (~have).astype(float)
        elif (~have).any():
            notes.append(f"{key} baseline: {(~have).sum()} missing, filled with the mean")
    constant = [c for c in list(cols)[len(ID_COLUMNS) :] if np.ptp(cols[c]) == 0]
    frame = pd.DataFrame({c: v for c, v in cols.items() if c not in constant})
    frame.attrs["notes"] = notes + [f"{c}: the same for every patient, left out" for c in constant]
    return frame


def covariate_columns(frame: pd.DataFrame) -> list[str]:
    """The covariates of a ``balance_frame``: every column but ID_COLUMNS."""
    return [c for c in frame.columns if c not in ID_COLUMNS]


@dataclass(frozen=True, eq=False)
class PropensityModel:
    """Fitted propensity of protocol a: ``score`` per row, the covariates in the model, and
    those left out with the reason (``dropped``: (covariate, reason) pairs)."""

    score: np.ndarray
    covariates: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...]


def fit_propensity(frame: pd.DataFrame, covariates: list[str] | None = None) -> PropensityModel:
    """Propensity e = expit(Xβ), β by maximum likelihood (statsmodels GLM Binomial, logit link;
    IRLS to 1e-10, as R ``glm(family = binomial)``).

    Left out first: a 0/1 covariate whose 1s (or 0s) all have one protocol (it separates the
    protocols perfectly, so β would run to ±∞), then any column that is a linear combination of
    the intercept and the columns kept before it (rank test on standardised columns). If the
    fit still fails or runs off to e = 0 or 1, raises AnalysisError (no overlap).
    """
    covariates = covariate_columns(frame) if covariates is None else list(covariates)
    t = frame["treat"].to_numpy(dtype=float)
    kept, dropped = [], []
    basis = [np.ones(len(t))]
    for c in covariates:
        x = frame[c].to_numpy(dtype=float)
        if np.isin(x, (0.0, 1.0)).all() and any(len(set(t[x == v])) < 2 for v in (0.0, 1.0)):
            dropped.append((c, SEPARATED))
            continue
        z = (x - x.mean()) / (x.std() or 1.0)
        if np.linalg.matrix_rank(np.column_stack([*basis, z])) <= len(basis):
            dropped.append((c, COLLINEAR))
            continue
        kept.append(c)
        basis.append(z)
    design = np.column_stack([np.ones(len(t)), frame[kept].to_numpy(dtype=float)])
    message = (
        "The two protocols' patients barely overlap on their baseline characteristics (the "
        "propensity model separates them almost perfectly), so no adjusted comparison is "
        "possible: compare like with like (e.g. one site or one severity band) instead."
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fit = GLM(t, design, family=families.Binomial()).fit(tol=1e-10, maxiter=200)
    except (Warning, np.linalg.LinAlgError, ValueError) as exc:
        raise AnalysisError(message) from exc
    eta = design @ np.asarray(fit.params)
    if not fit.converged or np.abs(eta).max() > _LINEAR_PREDICTOR_LIMIT:
        raise AnalysisError(message)
    return PropensityModel(
        score=1.0 / (1.0 + np.exp(-eta)), covariates=tuple(kept), dropped=tuple(dropped)
    )


def overlap_weights(treat: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Overlap weights (Li, Morgan & Zaslavsky 2018): 1 − e for treated (a), e for control (b)."""
    e = np.asarray(score, dtype=float)
    return np.where(np.asarray(treat, dtype=float) == 1.0, 1.0 - e, e)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size (Σw)² / Σw² (Kish 1965)."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (w**2).sum()) if w.size and (w**2).sum() > 0 else math.nan


def balance_table(
    frame: pd.DataFrame, weights: np.ndarray, covariates: list[str] | None = None
) -> pd.DataFrame:
    """Per covariate: kind, means in a and b raw and weighted, SMD raw and weighted.

    SMD = (mean_a − mean_b) / √((var_a + var_b) / 2), the UNWEIGHTED group variances in the
    denominator of both (``cobalt::bal.tab(s.d.denom = "pooled", binary = "std")``): sample
    variance (n − 1) for a continuous covariate, p(1 − p) for a 0/1 one. NaN without spread.
    """
    covariates = covariate_columns(frame) if covariates is None else list(covariates)
    t = frame["treat"].to_numpy(dtype=int) == 1
    w = np.asarray(weights, dtype=float)
    x = frame[covariates].to_numpy(dtype=float).reshape(len(frame), len(covariates))
    binary = np.isin(x, (0.0, 1.0)).all(axis=0)
    mean_a, mean_b = x[t].mean(axis=0), x[~t].mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_a = np.where(binary, mean_a * (1 - mean_a), np.var(x[t], axis=0, ddof=1))
        var_b = np.where(binary, mean_b * (1 - mean_b), np.var(x[~t], axis=0, ddof=1))
        sd = np.sqrt((var_a + var_b) / 2.0)
        sd = np.where(sd > 0, sd, np.nan)
    wa, wb = np.average(x[t], axis=0, weights=w[t]), np.average(x[~t], axis=0, weights=w[~t])
    return pd.DataFrame(
        {
            "covariate": pd.Series(covariates, dtype=object),
            "kind": np.where(binary, "binary", "continuous").astype(object),
            "mean_a": mean_a,
            "mean_b": mean_b,
            "mean_a_weighted": wa,
            "mean_b_weighted": wb,
            "smd_raw": (mean_a - mean_b) / sd,
            "smd_weighted": (wa - wb) / sd,
        }
    )


@dataclass(frozen=True)
class AdjustedDifference:
    """Coefficient of protocol a in the weighted regression: a − b in mean change."""

    estimate: float
    se: float
    ci: tuple[float, float]
    p: float
    df: float


def adjusted_difference(
    frame: pd.DataFrame, weights: np.ndarray, covariates: list[str], *, ci_level: float = 0.95
) -> AdjustedDifference:
    """WLS of change on [1, treat, covariates] with the overlap weights; SE from the HC3
    sandwich (MacKinnon & White 1985; statsmodels ``cov_type="HC3"`` = R
    ``sandwich::vcovHC(lm(..., weights = w), type = "HC3")``); CI and p from t on n − k df.
    """
    x = np.column_stack(
        [np.ones(len(frame)), frame["treat"].to_numpy(float), frame[covariates].to_numpy(float)]
    )
    fit = WLS(frame["change"].to_numpy(float), x, weights=weights).fit(cov_type="HC3", use_t=True)
    se = float(fit.bse[1])
    q = float(stats.t.ppf((1.0 + ci_level) / 2.0, fit.df_resid))
    est = float(fit.params[1])
    return AdjustedDifference(
        estimate=est,
        se=se,
        ci=(est - q * se, est + q * se),
        p=float(fit.pvalues[1]),
        df=float(fit.df_resid),
    )


def overlap_warning(
    score: np.ndarray,
    treat: np.ndarray,
    table: pd.DataFrame,
    *,
    a: str = "intensive",
    b: str = "weekly",
    separated: list[str] | tuple[str, ...] = (),
) -> str | None:
    """Plain-words warning when overlap is poor, else None: more than 10% of patients with a
    propensity outside [0.1, 0.9] (Crump et al. 2009), a protocol's effective sample size under
    half its patients, any |weighted SMD| ≥ 0.1 (a covariate the weights could not balance), or
    a ``separated`` covariate (all its patients on one protocol, so no comparator exists).
    """
    t = np.asarray(treat) == 1
    w = overlap_weights(t, score)
    reasons = []
    outside = float(np.mean((score < PS_BOUNDS[0]) | (score > PS_BOUNDS[1])))
    if outside > MAX_SHARE_OUTSIDE:
        reasons.append(
            f"{outside:.0%} of patients were almost certain to get one protocol given their "
            f"baseline (propensity below {PS_BOUNDS[0]:g} or above {PS_BOUNDS[1]:g})"
        )
    for name, sel in ((a, t), (b, ~t)):
        ess = effective_sample_size(w[sel])
        if ess < 0.5 * sel.sum():
            reasons.append(
                f"the {name} patients count as only {ess:.0f} of {sel.sum()} after weighting"
            )
    if separated:
        reasons.append(f"only one protocol has patients with {', '.join(separated)}")
    off = table.loc[table["smd_weighted"].abs() >= SMD_THRESHOLD, "covariate"].tolist()
    if off:
        reasons.append(f"still unbalanced after weighting: {', '.join(off)}")
    if not reasons:
        return None
    return (
        f"Poor overlap between {a} and {b} patients: {'; '.join(reasons)}. The two protocols "
        "were given to different kinds of patients, so the raw difference mixes the protocol "
        "with who received it, and the adjusted difference describes only the patients who "
        "could have had either protocol and rests on fewer of them. Do not read either figure "
        "as the effect of switching a patient's protocol; compare like with like (e.g. one "
        "site or one severity band) before drawing conclusions."
    )


@dataclass(frozen=True, eq=False)
class BalanceResult:
    """Protocol a versus b on one instrument's change, before and after overlap weighting."""

    instrument: str
    a: str
    b: str
    n_a: int
    n_b: int
    covariates: tuple[str, ...]
    model_covariates: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...]
    balance: pd.DataFrame
    propensity_a: tuple[float, float]
    propensity_b: tuple[float, float]
    share_outside: float
    ess_a: float
    ess_b: float
    raw: BetweenEffects
    raw_diff: float
    raw_ci: tuple[float, float]
    raw_p: float
    adjusted_diff: float
    adjusted_se: float
    adjusted_ci: tuple[float, float]
    adjusted_p: float
    adjusted_df: float
    sd_change: float
    e_value: float
    e_value_ci: float
    overlap_warning: str | None
    notes: tuple[str, ...]
    ci_level: float
    weights: pd.DataFrame

    def to_dict(self) -> dict[str, object]:
        """JSON-ready plain values: tuples as lists, NaN as None, the balance table as a list of
        records; ``weights`` (per patient) is left out."""
        out = {}
        for key, value in self.__dict__.items():
            if key == "weights":
                continue
            if key == "balance":
                value = [{k: json_value(v) for k, v in r.items()} for r in value.to_dict("records")]
            elif key == "raw":
                value = value.to_dict()
            out[key] = json_value(value)
        return out


def protocol_balance(
    outcomes: pd.DataFrame,
    instrument: str,
    a: str = "intensive",
    b: str = "weekly",
    *,
    population: pd.Series | np.ndarray | None = None,
    ci_level: float = 0.95,
) -> BalanceResult:
    """Balance table, overlap weights and the adjusted a − b difference in mean change.

    ``outcomes`` is ``analysis.outcomes.patient_outcomes`` output. Raises AnalysisError with
    fewer than 10 patients in either protocol or when the protocols do not overlap at all.
    """
    check_ci_level(ci_level)
    frame = balance_frame(outcomes, instrument, a, b, population)
    t = frame["treat"].to_numpy(dtype=int) == 1
    n_a, n_b = int(t.sum()), int((~t).sum())
    if min(n_a, n_b) < MIN_PER_PROTOCOL:
        raise AnalysisError(
            f"Too few patients to adjust the {a} versus {b} comparison on {instrument}: "
            f"{n_a} {a} and {n_b} {b} with a baseline and an end-of-treatment score; "
            f"at least {MIN_PER_PROTOCOL} in each protocol are needed."
        )
    model = fit_propensity(frame)
    e, covs = model.score, list(model.covariates)
    w = overlap_weights(t, e)
    table = balance_table(frame, w)
    adj = adjusted_difference(frame, w, covs, ci_level=ci_level)
    raw = between_effects(frame.loc[t, "change"], frame.loc[~t, "change"], ci_level=ci_level)
    sd_change = math.sqrt(
        ((n_a - 1) * raw.sd_a**2 + (n_b - 1) * raw.sd_b**2) / (n_a + n_b - 2)
    )  # the pooled within-protocol SD of change, as Hedges' g uses
    e_value, e_value_ci = evalues_mean_difference(adj.estimate, adj.ci, sd_change)
    separated = [c for c, why in model.dropped if why == SEPARATED]
    return BalanceResult(
        instrument=instrument,
        a=a,
        b=b,
        n_a=n_a,
        n_b=n_b,
        covariates=tuple(covariate_columns(frame)),
        model_covariates=model.covariates,
        dropped=model.dropped,
        balance=table,
        propensity_a=(float(e[t].min()), float(e[t].max())),
        propensity_b=(float(e[~t].min()), float(e[~t].max())),
        share_outside=float(np.mean((e < PS_BOUNDS[0]) | (e > PS_BOUNDS[1]))),
        ess_a=effective_sample_size(w[t]),
        ess_b=effective_sample_size(w[~t]),
        raw=raw,
        raw_diff=raw.mean_diff,
        raw_ci=raw.mean_diff_ci,
        raw_p=raw.welch_p,
        adjusted_diff=adj.estimate,
        adjusted_se=adj.se,
        adjusted_ci=adj.ci,
        adjusted_p=adj.p,
        adjusted_df=adj.df,
        sd_change=sd_change,
        e_value=e_value,
        e_value_ci=e_value_ci,
        overlap_warning=overlap_warning(e, t, table, a=a, b=b, separated=separated),
        notes=tuple(frame.attrs.get("notes", ())),
        ci_level=ci_level,
        weights=frame[["patient_id", "protocol"]].assign(propensity=e, weight=w),
    )
