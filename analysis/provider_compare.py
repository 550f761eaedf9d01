"""Sites and clinicians compared fairly: a case-mix-adjusted outcome per unit, its funnel-plot
control limits and an empirical-Bayes (shrunken) estimate (docs/compare.md states every rule).

A *unit* is a site or a clinician. Each patient belongs to one unit: the label they carry most
often across their assessments, ties going to the label of their earliest assessment
(``patient_units``). Per instrument, ``compare_units`` then works on the paired patients:

- **binary outcome** (default: reliable improvement, ``analysis.outcomes``): a logistic
  regression of the outcome on the baseline score, the protocol and treatment resistance (when
  recorded), fitted on every patient (statsmodels GLM Binomial). Per unit: observed count O,
  expected count E = Σ fitted probabilities of its patients, O/E and the indirectly
  standardised rate SR = (O/E) × overall rate (Breslow & Day 1987, vol. II, ch. 2). Its CI is
  the Wilson interval of O/n scaled by the same factor n × overall rate / E.
- **continuous outcome** (``MEAN_CHANGE``): a linear regression of the change score on the same
  covariates; adjusted mean = overall mean + (observed − expected mean change), CI ± z σ/√n with
  σ the residual SD.
- **funnel limits** (Spiegelhalter 2005, Statistics in Medicine 24:1185, appendix A.1.1): for a
  proportion, the exact binomial quantiles of Binomial(n, overall rate) with the interpolation
  (r_p − α)/n, α = (F(r_p) − p) / (F(r_p) − F(r_p − 1)); for a mean, overall ± z σ/√n. Limits
  at 95 % and 99.8 %, plotted against n (number of patients), which treats E as n × overall
  rate (the usual approximation for an indirectly standardised proportion).
- **shrinkage**: a random-intercept model on the log O/E (binary; 0.5 added to O and E) or on
  the adjusted difference (continuous), with within-unit variance V/E² (V = Σ p(1 − p), the
  null variance of O) or σ²/n, the between-unit variance τ² by DerSimonian & Laird (1986,
  Controlled Clinical Trials 7:177), and each unit pulled toward the mean by v/(v + τ²)
  (the empirical-Bayes estimate, e.g. Normand, Glickman & Gatsonis 1997, JASA 92:803).
- **suppression**: units with fewer than ``DEFAULT_MIN_N`` patients (the small-cell threshold
  of the researcher tables) are left out of the result and counted in ``n_suppressed_units``;
  they still inform the model, the overall rate and τ².

Pure computation: no file access, no Streamlit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtri
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import OLS

from analysis.rates import wilson_ci
from analysis.tables import DEFAULT_MIN_N
from data.errors import AnalysisError

UNIT_COLUMNS = ("site", "clinician")
"""Tidy columns that name a unit to compare."""
MEAN_CHANGE = "mean_change"
"""The continuous outcome: change = baseline − end of treatment (positive = better)."""
BINARY_OUTCOMES = ("reliable_improvement", "response", "remission")
"""Yes/no outcomes of ``analysis.outcomes`` a unit comparison may use."""
LIMITS = (0.95, 0.998)
"""Two-sided coverage of the funnel's control limits (about 2 and 3 standard errors)."""
ABOVE_OUTER, ABOVE_INNER = "above 99.8% limit", "above 95% limit"
BELOW_OUTER, BELOW_INNER = "below 99.8% limit", "below 95% limit"
INSIDE = "within limits"
_CONTINUITY = 0.5  # added to O and E on the log scale, so a unit with O = 0 has a finite value
_LINEAR_PREDICTOR_LIMIT = 25.0


@dataclass(frozen=True)
class UnitComparison:
    """One instrument's comparison of units. ``units`` has one row per shown unit (n ≥ min_n):
    unit, n_patients, observed, expected, oe_ratio, raw, adjusted, adjusted_ci_lo,
    adjusted_ci_hi, shrunken, limit95_lo, limit95_hi, limit998_lo, limit998_hi, flag. Rates are
    percentages (0–100); for ``MEAN_CHANGE`` observed/expected are mean changes in points."""

    unit_column: str
    instrument: str
    outcome: str
    units: pd.DataFrame
    overall: float  # overall rate (%) or mean change (points) of the patients compared
    n_patients: int
    n_units: int
    n_suppressed_units: int
    n_suppressed_patients: int  # not for display: with one small unit it is that unit's n
    n_unlabelled: int  # paired patients without a unit label (left out)
    covariates: tuple[str, ...]
    tau2: float
    sigma: float = math.nan  # residual SD of the linear model (MEAN_CHANGE only)
    notes: tuple[str, ...] = field(default=())
    min_n: int = DEFAULT_MIN_N

    @property
    def binary(self) -> bool:
        return self.outcome != MEAN_CHANGE

    def curves(self, n_max: int | None = None, points: int = 200) -> pd.DataFrame:
        """The control limits as curves over n = min_n … n_max (default: 1.1 × the largest
        unit): columns n, limit95_lo, limit95_hi, limit998_lo, limit998_hi."""
        largest = self.units["n_patients"].max() if len(self.units) else self.min_n
        top = n_max or max(2 * self.min_n, int(math.ceil(1.1 * largest)))
        n = np.unique(np.round(np.geomspace(self.min_n, top, points)).astype(int))
        return pd.DataFrame({"n": n, **self._limits(n)})

    def _limits(self, n: np.ndarray) -> dict[str, np.ndarray]:
        if self.binary:
            return binomial_limits(self.overall / 100.0, n, scale=100.0)
        return normal_limits(self.overall, self.sigma, n)


# --------------------------------------------------------------------------- units


def patient_units(tidy: pd.DataFrame, column: str) -> pd.Series:
    """Each patient's unit (index patient_id): the non-empty ``column`` label on most of their
    assessments; ties go to the label of the earliest assessment (by day, then session, then
    table order). Patients without any label are left out."""
    if column not in tidy.columns:
        raise AnalysisError(f"The data has no {column} column, so {column}s cannot be compared.")
    labels = tidy[column].astype(object).where(tidy[column].notna())
    text = labels.astype(str).str.strip()
    ok = labels.notna().to_numpy() & (text != "").to_numpy()
    frame = pd.DataFrame(
        {
            "patient_id": tidy["patient_id"].astype(str).to_numpy()[ok],
            "unit": text.to_numpy()[ok],
            "day": pd.to_numeric(tidy["day"], errors="coerce").to_numpy(dtype=float)[ok],
            "session": pd.to_numeric(tidy["session"], errors="coerce").to_numpy(dtype=float)[ok],
            "row": np.flatnonzero(ok),
        }
    )
    if frame.empty:
        return pd.Series(dtype=object, name=column)
    frame = frame.sort_values(["day", "session", "row"], na_position="last", kind="stable")
    frame["order"] = np.arange(len(frame))
    per = frame.groupby(["patient_id", "unit"], sort=False).agg(
        count=("order", "size"), first=("order", "min")
    )
    per = per.reset_index().sort_values(
        ["patient_id", "count", "first"], ascending=[True, False, True]
    )
    best = per.drop_duplicates("patient_id")
    return pd.Series(best["unit"].to_numpy(), index=best["patient_id"].to_numpy(), name=column)


# --------------------------------------------------------------------------- limits


def binomial_limits(rate: float, n: np.ndarray, *, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Exact binomial funnel limits around ``rate`` at precision n (Spiegelhalter 2005,
    appendix A.1.1): for tail p, r_p = the p-quantile of Binomial(n, rate),
    α = (F(r_p) − p) / (F(r_p) − F(r_p − 1)), limit = (r_p − α) / n; times ``scale``."""
    n = np.asarray(n, dtype=float)
    out: dict[str, np.ndarray] = {}
    for level in LIMITS:
        tag = _tag(level)
        for side, p in (("lo", (1 - level) / 2), ("hi", (1 + level) / 2)):
            r = stats.binom.ppf(p, n, rate)
            f_r = stats.binom.cdf(r, n, rate)
            f_below = stats.binom.cdf(r - 1, n, rate)
            with np.errstate(invalid="ignore", divide="ignore"):
                alpha = np.where(f_r > f_below, (f_r - p) / (f_r - f_below), 0.0)
                out[f"limit{tag}_{side}"] = scale * np.clip((r - alpha) / n, 0.0, 1.0)
    return out


def normal_limits(centre: float, sigma: float, n: np.ndarray) -> dict[str, np.ndarray]:
    """Funnel limits of a mean: centre ± z σ / √n (Spiegelhalter 2005, section 2)."""
    n = np.asarray(n, dtype=float)
    out: dict[str, np.ndarray] = {}
    for level in LIMITS:
        z = float(ndtri((1 + level) / 2))
        out[f"limit{_tag(level)}_lo"] = centre - z * sigma / np.sqrt(n)
        out[f"limit{_tag(level)}_hi"] = centre + z * sigma / np.sqrt(n)
    return out


def _tag(level: float) -> str:
    return f"{100 * level:g}".replace(".", "")


def dersimonian_laird(y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """(μ, τ²): the random-effects mean and between-unit variance of estimates y with
    within-unit variances v (DerSimonian & Laird 1986): w = 1/v, Q = Σ w (y − ȳ_w)²,
    τ² = max(0, (Q − (k − 1)) / (Σw − Σw²/Σw)), μ = Σ w* y / Σ w* with w* = 1/(v + τ²)."""
    y, v = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
    if len(y) < 2:
        return (float(y[0]) if len(y) else math.nan), 0.0
    w = 1.0 / v
    mean_fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - mean_fixed) ** 2))
    c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - (len(y) - 1)) / c) if c > 0 else 0.0
    ws = 1.0 / (v + tau2)
    return float(np.sum(ws * y) / np.sum(ws)), tau2


def shrink(y: np.ndarray, v: np.ndarray, mu: float, tau2: float) -> np.ndarray:
    """Empirical-Bayes estimates: μ + (1 − B)(y − μ), B = v / (v + τ²) (B = 1 when τ² = 0)."""
    y, v = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
    b = np.where(tau2 > 0, v / (v + tau2), 1.0)
    return mu + (1.0 - b) * (y - mu)


# --------------------------------------------------------------------------- model


def _design(rows: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """Intercept, the baseline score, protocol indicators (reference: the most common), and
    treatment resistance (0/1, plus "not recorded" when some are missing); constant and
    collinear columns are left out."""
    cols: dict[str, np.ndarray] = {"baseline score": rows["baseline"].to_numpy(dtype=float)}
    prot = rows["protocol"].astype(object).where(rows["protocol"].notna(), "not recorded")
    prot = prot.astype(str)
    counts = prot.value_counts()
    ref = sorted(counts.index[counts == counts.max()])[0]
    for level in sorted(set(prot) - {ref}):
        cols[f"protocol: {level}"] = (prot == level).to_numpy(dtype=float)
    if "treatment_resistant" in rows.columns:
        tr = pd.array(rows["treatment_resistant"], dtype="boolean")
        cols["treatment-resistant"] = tr.fillna(False).to_numpy(dtype=float)
        cols["treatment resistance not recorded"] = np.asarray(tr.isna(), dtype=float)
    basis = [np.ones(len(rows))]
    kept: list[str] = []
    for name, x in cols.items():
        if np.nanstd(x) == 0:
            continue
        z = (x - x.mean()) / x.std()
        if np.linalg.matrix_rank(np.column_stack([*basis, z])) <= len(basis):
            continue
        basis.append(z)
        kept.append(name)
    return np.column_stack(basis), tuple(kept)


def _fit_binary(y: np.ndarray, design: np.ndarray) -> np.ndarray | None:
    """Fitted probabilities of the logistic model, or None when it cannot be fitted (perfect
    separation, no convergence)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fit = GLM(y, design, family=families.Binomial()).fit(tol=1e-10, maxiter=200)
    except (Warning, np.linalg.LinAlgError, ValueError):
        return None
    eta = design @ np.asarray(fit.params)
    if not fit.converged or np.abs(eta).max() > _LINEAR_PREDICTOR_LIMIT:
        return None
    return 1.0 / (1.0 + np.exp(-eta))


def _population(outcomes: pd.DataFrame, instrument: str, outcome: str) -> pd.DataFrame:
    rows = outcomes.loc[(outcomes["instrument"].astype(str) == instrument).to_numpy()]
    rows = rows.loc[rows["paired"].fillna(False).to_numpy(dtype=bool)]
    if outcome == MEAN_CHANGE:
        value = pd.to_numeric(rows["change"], errors="coerce").to_numpy(dtype=float)
    elif outcome in BINARY_OUTCOMES:
        flag = pd.array(rows[outcome], dtype="boolean")
        value = flag.to_numpy(dtype=float, na_value=np.nan)
    else:
        choices = ", ".join((*BINARY_OUTCOMES, MEAN_CHANGE))
        raise AnalysisError(f"Units can be compared on {choices}; '{outcome}' is not one of them.")
    keep = np.isfinite(value) & np.isfinite(rows["baseline"].to_numpy(dtype=float))
    return rows.loc[keep].assign(_y=value[keep])


def compare_units(
    outcomes: pd.DataFrame,
    units: pd.Series,
    instrument: str,
    *,
    outcome: str = "reliable_improvement",
    unit_column: str = "site",
    min_n: int = DEFAULT_MIN_N,
) -> UnitComparison:
    """Compare units (``units``: patient_id → label, from ``patient_units``) on one instrument's
    ``outcome`` among paired patients, adjusted for case mix (module docstring). Raises
    AnalysisError when there is nothing to compare."""
    if isinstance(min_n, bool) or not isinstance(min_n, int | np.integer) or min_n < 1:
        raise AnalysisError(f"The smallest unit shown must be 1 patient or more (got {min_n!r}).")
    rows = _population(outcomes, instrument, outcome)
    unit = rows["patient_id"].astype(str).map(units)
    n_unlabelled = int(unit.isna().sum())
    rows = rows.loc[unit.notna().to_numpy()].assign(_unit=unit[unit.notna()].astype(str))
    what = f"{unit_column}s"
    if rows["_unit"].nunique() < 2:
        raise AnalysisError(
            f"Fewer than two {what} have paired {instrument} patients, so there is nothing to "
            "compare. Widen the filters, or record the "
            f"{unit_column} on every row of the export."
        )
    y = rows["_y"].to_numpy(dtype=float)
    design, covariates = _design(rows)
    notes: list[str] = []
    binary = outcome != MEAN_CHANGE
    sigma = math.nan
    if binary:
        overall = float(y.mean())
        if overall in (0.0, 1.0):
            raise AnalysisError(
                f"Every or no paired {instrument} patient met {outcome.replace('_', ' ')}, so "
                f"the {what} cannot differ on it."
            )
        fitted = _fit_binary(y, design)
        if fitted is None:
            notes.append(
                "The case-mix model could not be fitted (its covariates predict the outcome "
                "almost perfectly); expected counts are n × the overall rate (no adjustment)."
            )
            fitted, covariates = np.full(len(y), overall), ()
        var = fitted * (1.0 - fitted)
    else:
        fit = OLS(y, design).fit()
        fitted = np.asarray(fit.fittedvalues)
        overall = float(y.mean())
        sigma = float(np.sqrt(fit.scale))
        var = np.full(len(y), sigma**2)
    codes, labels = pd.factorize(rows["_unit"].to_numpy(dtype=object), sort=True)
    k = len(labels)
    n = np.bincount(codes, minlength=k).astype(float)
    o, e, v = (np.bincount(codes, weights=w, minlength=k) for w in (y, fitted, var))
    if binary:
        oe = o / e
        adjusted = oe * overall
        factor = n * overall / e
        lo, hi = wilson_ci(o.astype(np.int64), n.astype(np.int64))
        ci_lo, ci_hi = np.asarray(lo) * factor, np.asarray(hi) * factor
        est = np.log((o + _CONTINUITY) / (e + _CONTINUITY))
        est_var = v / e**2
        mu, tau2 = dersimonian_laird(est, est_var)
        shrunken = np.exp(shrink(est, est_var, mu, tau2)) * overall
        limits = binomial_limits(overall, n)
        raw = o / n
        frame = {"observed": np.rint(o).astype(np.int64), "expected": e, "oe_ratio": oe}
    else:
        diff = (o - e) / n
        adjusted = overall + diff
        z = float(ndtri(0.975))
        ci_lo, ci_hi = adjusted - z * sigma / np.sqrt(n), adjusted + z * sigma / np.sqrt(n)
        mu, tau2 = dersimonian_laird(diff, sigma**2 / n)
        shrunken = overall + shrink(diff, sigma**2 / n, mu, tau2)
        limits = normal_limits(overall, sigma, n)
        raw = o / n
        frame = {"observed": o / n, "expected": e / n, "oe_ratio": np.full(len(n), np.nan)}
    scale = 100.0 if binary else 1.0
    out = pd.DataFrame(
        {
            "unit": np.asarray(labels, dtype=object),
            "n_patients": n.astype(np.int64),
            **frame,
            "raw": scale * raw,
            "adjusted": scale * adjusted,
            "adjusted_ci_lo": scale * ci_lo,
            "adjusted_ci_hi": scale * ci_hi,
            "shrunken": scale * shrunken,
            **{k: (scale if binary else 1.0) * val for k, val in limits.items()},
        }
    )
    out["flag"] = _flags(out)
    shown = out["n_patients"] >= min_n
    return UnitComparison(
        unit_column=unit_column,
        instrument=instrument,
        outcome=outcome,
        units=out.loc[shown].reset_index(drop=True),
        overall=scale * overall,
        n_patients=len(y),
        n_units=len(out),
        n_suppressed_units=int((~shown).sum()),
        n_suppressed_patients=int(out.loc[~shown, "n_patients"].sum()),
        n_unlabelled=n_unlabelled,
        covariates=covariates,
        tau2=tau2,
        sigma=sigma,
        notes=tuple(notes),
        min_n=min_n,
    )


def _flags(frame: pd.DataFrame) -> np.ndarray:
    """Where each unit's adjusted figure lies against its limits (outer limits win)."""
    a = frame["adjusted"].to_numpy(dtype=float)
    return np.select(
        [
            a > frame["limit998_hi"].to_numpy(),
            a < frame["limit998_lo"].to_numpy(),
            a > frame["limit95_hi"].to_numpy(),
            a < frame["limit95_lo"].to_numpy(),
        ],
        [ABOVE_OUTER, BELOW_OUTER, ABOVE_INNER, BELOW_INNER],
        default=INSIDE,
    )
