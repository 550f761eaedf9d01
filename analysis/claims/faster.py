"""The intensive-faster claim (SPEC section 6 as amended by 6.1): an intensive retreat reaches in
weeks what weekly sessions reach in months.

Two parts, both needed for ``supported``:

1. **Faster in calendar time**: the baseline-adjusted intensive advantage (points of
   improvement) at one of the target days (default 14 and 28) has a CI above 0, under both
   baseline adjustments (``analysis.matched_time``).
2. **Not worse at the end of treatment**: among completers (patients who reached their
   protocol's planned last session; paired patients when completers are not known), the
   baseline-adjusted difference in change intensive − weekly (ANCOVA, change ~ protocol +
   baseline, HC3 robust CI; R: ``lm`` with ``sandwich::vcovHC(type = "HC3")``) has a lower CI
   bound above −margin, margin = ``noninferiority_fraction`` × the reliable-change threshold,
   again under both adjustments.

``not supported``: intensive is clearly not ahead at any tested day (every upper bound below 0
under both adjustments), or clearly worse at the end of treatment (every upper bound below
−margin). Otherwise ``inconclusive``. With two target days each tested at a one-sided 2.5%, the
chance of a false ``supported`` is at most 5% (Bonferroni).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS

from analysis.assessments import Assessments
from analysis.balance import balance_frame
from analysis.claims.config import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from analysis.claims.verdicts import ClaimResult, not_testable, recall_caveat, standard_caveats
from analysis.confirmed import confirmed_improvement
from analysis.matched_time import (
    INTENSIVE,
    WEEKLY,
    DayContrast,
    MatchedTimeResult,
    matched_time_contrast,
)
from data.errors import AnalysisError

#: The group the claim's result is about.
GROUP = "intensive vs weekly"

NOT_RANDOMISED = (
    "Protocols were not randomised: patients who choose a retreat may differ from those who "
    "choose weekly sessions in ways the baseline score does not capture."
)
SCHEDULES = (
    "The protocols are assessed at different rates, so days to a first reliable improvement "
    "would favour the protocol assessed more often; the verdict compares them at the same days "
    "since baseline instead."
)


def _not_testable(ins, why: str, test: str) -> ClaimResult:
    return not_testable("intensive-faster", ins.key, why, test, group=GROUP)


def ancova_difference(
    change: np.ndarray,
    intensive: np.ndarray,
    baseline: np.ndarray,
    ci_level: float = 0.95,
    covariates: np.ndarray | None = None,
) -> tuple[float, float, tuple[float, float]]:
    """Difference in mean change (intensive − weekly) at the mean baseline: OLS of change on
    the protocol indicator, the centred baseline and any ``covariates`` (n × q), HC3 standard
    error (MacKinnon & White 1985), t-based CI on the residual df. Returns (estimate, se, ci)."""
    extra = np.zeros((len(change), 0)) if covariates is None else covariates
    X = np.column_stack([np.ones_like(change), intensive, baseline - baseline.mean(), extra])
    res = OLS(change, X).fit(cov_type="HC3")
    est, se = float(res.params[1]), float(res.bse[1])
    half = float(stats.t.ppf(0.5 + ci_level / 2, res.df_resid)) * se
    return est, se, (est - half, est + half)


def _end_of_treatment(
    out: pd.DataFrame,
    reliability: dict[str, float],
    ci_level: float,
    mt: MatchedTimeResult,
    characteristics: pd.DataFrame | None,
) -> dict[str, object]:
    """The ANCOVA difference at the end of treatment, with the baseline as measured and
    regression-calibrated with the matched-time model's reliabilities."""
    who = "completer" if "completer" in out.columns else "paired"
    sel = out[out[who].fillna(False).astype(bool) & out["protocol"].isin([INTENSIVE, WEEKLY])]
    sel = sel[np.isfinite(sel["change"].to_numpy(dtype=float))]
    intensive = (sel["protocol"] == INTENSIVE).to_numpy(dtype=float)
    change = sel["change"].to_numpy(dtype=float)
    base = sel["baseline"].to_numpy(dtype=float)
    n_i, n_w = int(intensive.sum()), int((1 - intensive).sum())
    res: dict[str, object] = {"population": who, "n_intensive": n_i, "n_weekly": n_w}
    if min(n_i, n_w) < 3:
        return res
    cal = base.copy()
    for flag, name in ((1.0, INTENSIVE), (0.0, WEEKLY)):
        m = intensive == flag
        cal[m] = base[m].mean() + reliability.get(name, 1.0) * (base[m] - base[m].mean())
    extra = None
    if characteristics is not None and mt.covariates:
        values = characteristics.reindex(sel["patient_id"].to_numpy())[list(mt.covariates)]
        values = values.to_numpy(dtype=float)
        if np.isfinite(values).all():
            extra = values - values.mean(axis=0)
    df = len(change) - 3 - (0 if extra is None else extra.shape[1])  # residual df of the OLS
    for key, b in (("measured", base), ("calibrated", cal)):
        est, se, (lo, hi) = ancova_difference(change, intensive, b, ci_level, extra)
        res[key] = {"estimate": est, "se": se, "ci": (lo, hi), "df": df}
    return res


def _characteristics(out: pd.DataFrame, instrument: str) -> pd.DataFrame | None:
    """Treatment resistance, route and site as numeric columns per patient_id (the encoding of
    ``analysis.balance.balance_frame``), for everyone with a baseline; None when there are none."""
    try:
        frame = balance_frame(out, instrument, population=out["has_baseline"])
    except AnalysisError:
        return None
    drop = ["protocol", "treat", "change", f"{instrument} baseline"]
    return frame.set_index("patient_id").drop(columns=drop, errors="ignore")


def _test_text(cfg) -> str:
    days = " or ".join(f"{d:g}" for d in cfg.faster_days)
    return (
        f"Baseline-adjusted improvement at day {days} after baseline, estimated from every "
        "assessment with a mixed model adjusted for the baseline score and the patient "
        "characteristics recorded (treatment resistance, route, site): intensive must be ahead (95% CI above 0, with the "
        "baseline as measured and corrected for measurement error), and not worse than weekly "
        f"at the end of treatment by more than {cfg.noninferiority_fraction:g} × the "
        "reliable-change threshold (completers, adjusted for baseline)."
    )


def intensive_faster(out: pd.DataFrame, ins, cfg, tidy, registry) -> ClaimResult:
    """The intensive-faster verdict on one instrument (module docstring). ``out`` holds the
    instrument's per-patient outcomes, ``tidy`` the assessments (table or ``Assessments``)."""
    test = _test_text(cfg)
    if not out["first_post_day"].notna().any():
        return _not_testable(ins, "The data has no days since baseline.", test)
    started = out[out["has_baseline"].fillna(False).astype(bool)]
    counts = started["protocol"].value_counts()
    n_int, n_wk = int(counts.get(INTENSIVE, 0)), int(counts.get(WEEKLY, 0))
    if min(n_int, n_wk) < cfg.faster_min_per_protocol:
        return _not_testable(
            ins,
            f"Fewer than {cfg.faster_min_per_protocol} patients with a baseline in a protocol "
            f"(intensive {n_int}, weekly {n_wk}).",
            test,
        )
    a = Assessments.build(tidy)
    characteristics = _characteristics(out, ins.key)
    try:
        mt = matched_time_contrast(
            a,
            ins.key,
            registry,
            days=cfg.faster_days,
            tol=cfg.faster_window,
            min_per_protocol=cfg.faster_min_per_protocol,
            shape=cfg.faster_shape,
            ci_level=cfg.ci_level,
            covariates=characteristics,
        )
    except AnalysisError as err:
        return _not_testable(ins, str(err), test)
    margin = cfg.noninferiority_fraction * float(np.nanmedian(out["rc_threshold"]))
    eot = _end_of_treatment(out, mt.reliability, cfg.ci_level, mt, characteristics)
    verdict, shown = faster_verdict(mt, eot, margin)
    p_value = faster_p_value(mt, eot, margin)
    caveats = [*standard_caveats(out, ins.key, ins.recall_days), NOT_RANDOMISED, SCHEDULES]
    untested = [c for c in mt.contrasts if not c.tested]
    if untested:
        caveats.append(
            "Not compared at day "
            + ", ".join(f"{c.day:g}" for c in untested)
            + f": fewer than {cfg.faster_min_per_protocol} patients of a protocol were assessed "
            f"within {cfg.faster_window:g} days of it."
        )
    tested_days = [c.day for c in mt.contrasts if c.tested]
    rc = recall_caveat(
        ins.key,
        ins.recall_days,
        min(tested_days) if tested_days else None,
        "the protocols are compared as early as",
    )
    if rc:
        caveats.append(rc)
    if "measured" not in eot:
        caveats.append(
            f"Too few {eot['population']} patients in a protocol to compare the end of treatment "
            f"(intensive {eot['n_intensive']}, weekly {eot['n_weekly']})."
        )
    if not mt.converged:
        caveats.append(f"The mixed model did not converge cleanly: {mt.message}.")
    details = _details(mt, eot, margin, shown)
    details.update(confirmed_improvement(a, out, ins.key, float(ins.improvement(1.0, 0.0))))
    return ClaimResult(
        id="intensive-faster",
        instrument=ins.key,
        verdict=verdict,
        n=mt.n_intensive + mt.n_weekly,
        estimate=shown.estimate,
        ci=shown.ci,
        test=test,
        caveats=tuple(caveats),
        group=GROUP,
        details=details,
        p_value=p_value,
    )


def faster_p_value(mt: MatchedTimeResult, eot: dict, margin: float) -> float:
    """One-sided p of the whole claim (H0: intensive is not ahead at any tested day, or is worse
    than weekly at the end of treatment by the margin or more), for multiplicity control.

    Intersection–union (Berger 1982): the claim needs both parts, so its p is the larger of the
    two parts' p. Ahead: per tested day, the larger of the two adjustments' Wald p
    (1 − Φ(estimate / se)), Bonferroni over the tested days (m × the smallest). Not worse: the
    larger of the two adjustments' t-test p of H0: difference ≤ −margin on the ANCOVA's residual
    df. No end-of-treatment comparison gives 1. Each day's p ≤ 0.025 is what the verdict rule
    reads off the 95% CIs; with m days this p is m times stricter, so a claim judged at 2.5% by
    this p is never ``supported`` where ``faster_verdict`` is not.
    """
    days = [
        max(float(stats.norm.sf(c.estimate / c.se)) for c in pair)
        for pair in zip(mt.contrasts, mt.calibrated, strict=True)
        if pair[0].tested and all(np.isfinite([c.estimate, c.se]).all() and c.se > 0 for c in pair)
    ]
    if not days or "measured" not in eot:
        return 1.0
    p_ahead = min(1.0, len(days) * min(days))
    p_eot = max(
        float(stats.t.sf((eot[k]["estimate"] + margin) / eot[k]["se"], eot[k]["df"]))
        if eot[k]["se"] > 0 and np.isfinite(eot[k]["estimate"])
        else 1.0
        for k in ("measured", "calibrated")
    )
    return max(p_ahead, p_eot)


def faster_verdict(mt: MatchedTimeResult, eot: dict, margin: float) -> tuple[str, DayContrast]:
    """(verdict, the day contrast shown): see the module docstring."""
    tested = mt.tested  # the binding (lower) contrast of each tested day
    ahead = [c for c in tested if c.ci[0] > 0]
    shown = ahead[0] if ahead else tested[0]
    highest = [
        max(a.ci[1], b.ci[1]) for a, b in zip(mt.contrasts, mt.calibrated, strict=True) if a.tested
    ]
    has_eot = "measured" in eot
    lows = [eot[k]["ci"][0] for k in ("measured", "calibrated")] if has_eot else []
    highs = [eot[k]["ci"][1] for k in ("measured", "calibrated")] if has_eot else []
    if ahead and has_eot and min(lows) > -margin:
        return SUPPORTED, shown
    if max(highest) < 0 or (has_eot and max(highs) < -margin):
        return NOT_SUPPORTED, shown
    return INCONCLUSIVE, shown


def _details(mt: MatchedTimeResult, eot: dict, margin: float, shown) -> dict:
    d: dict[str, object] = {
        "estimand": "baseline-adjusted difference in improvement (points) at matched days",
        "shown_day": shown.day,
        "shown_adjustment": mt.adjustment(shown),
        "shape": mt.shape,
        "n_intensive": mt.n_intensive,
        "n_weekly": mt.n_weekly,
        "n_assessments": mt.n_obs,
        "reliability_intensive": mt.reliability.get(INTENSIVE),
        "reliability_weekly": mt.reliability.get(WEEKLY),
        "adjusted_for": ", ".join(["baseline", *mt.covariates]),
        "noninferiority_margin": margin,
        "eot_population": eot["population"],
        "eot_n_intensive": eot["n_intensive"],
        "eot_n_weekly": eot["n_weekly"],
    }
    for a, b in zip(mt.contrasts, mt.calibrated, strict=True):
        key = f"day{a.day:g}"
        d[f"{key}_tested"] = a.tested
        d[f"{key}_n_intensive_near"] = a.n_intensive_near
        d[f"{key}_n_weekly_near"] = a.n_weekly_near
        for suffix, c in (("", a), ("_calibrated", b)):
            d[f"{key}_advantage{suffix}"] = c.estimate
            d[f"{key}_ci_lo{suffix}"] = c.ci[0]
            d[f"{key}_ci_hi{suffix}"] = c.ci[1]
    for suffix, key in (("", "measured"), ("_calibrated", "calibrated")):
        fig = eot.get(key, {"estimate": math.nan, "ci": (math.nan, math.nan)})
        d[f"eot_difference{suffix}"] = fig["estimate"]
        d[f"eot_ci_lo{suffix}"] = fig["ci"][0]
        d[f"eot_ci_hi{suffix}"] = fig["ci"][1]
    return d
