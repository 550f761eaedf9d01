"""E-values: how strong unmeasured confounding would have to be to explain an estimate away.

VanderWeele & Ding (2017), "Sensitivity analysis in observational research: introducing the
E-value", Ann Intern Med 167:268–274. For a risk ratio RR ≥ 1 the E-value is

    E = RR + √(RR · (RR − 1))

(for RR < 1 use 1/RR first): the minimum risk ratio that an unmeasured confounder would need
with both the protocol and the outcome, beyond the measured covariates, to move the estimate to
the null. The E-value of a confidence interval is that of the limit nearest the null, and 1 when
the interval contains the null.

A difference of means becomes a risk ratio through the standardised mean difference d:
RR ≈ exp(0.91 · d), as VanderWeele & Ding (2017) and R ``EValue::evalues.MD`` do (OR ≈
exp(1.81 · d), Hasselblad & Hedges 1995, and RR ≈ √OR for a common outcome). ``evalues_md`` reproduces that function, including its
confidence limits exp(0.91·d ± 1.78·SE(d)) (1.78 ≈ 0.91 × 1.96, so 95% only);
``evalues_mean_difference`` converts a reported CI of any level instead (docs/adjustment.md).
"""

from __future__ import annotations

import math

import numpy as np

RR_PER_SMD = 0.91
"""log RR per unit of standardised mean difference (VanderWeele & Ding 2017)."""
EVALUE_MD_Z = 1.78
"""EValue::evalues.MD's multiplier of SE(d) on the log-RR scale (0.91 × 1.96, rounded)."""


def evalue_rr(rr: float) -> float:
    """E = RR + √(RR(RR − 1)), RR < 1 replaced by 1/RR first (VanderWeele & Ding 2017).

    NaN for a missing, non-finite or non-positive RR.
    """
    if rr is None or not math.isfinite(rr) or rr <= 0:
        return math.nan
    x = 1.0 / rr if rr < 1.0 else rr
    return x + math.sqrt(x * (x - 1.0))


def evalues_rr(est: float, lo: float = math.nan, hi: float = math.nan) -> tuple[float, float]:
    """E-values of a risk ratio and of its CI limit nearest the null (EValue::evalues.RR).

    Returns (E for ``est``, E for the CI): the CI's E-value is 1 when [lo, hi] contains 1 (or
    the estimate is exactly 1), NaN when the needed limit is missing.
    """
    e_point = evalue_rr(est)
    if not math.isfinite(e_point):
        return math.nan, math.nan
    if est == 1.0:
        return e_point, 1.0
    limit = lo if est > 1.0 else hi
    if limit is None or not math.isfinite(limit):
        return e_point, math.nan
    crosses = limit <= 1.0 if est > 1.0 else limit >= 1.0
    return e_point, 1.0 if crosses else evalue_rr(limit)


def smd_to_rr(d: float | np.ndarray) -> float | np.ndarray:
    """RR ≈ exp(0.91 · d) for a standardised mean difference d (VanderWeele & Ding 2017)."""
    out = np.exp(RR_PER_SMD * np.asarray(d, dtype=float))
    return float(out) if out.ndim == 0 else out


def evalues_md(d: float, se: float = math.nan) -> tuple[float, float]:
    """E-values of a standardised mean difference d with standard error ``se``, exactly as R
    ``EValue::evalues.MD(est = d, se = se)``: RR = exp(0.91·d), CI exp(0.91·d ± 1.78·se).

    Returns (E for d, E for the CI limit nearest the null); the second is NaN without ``se``.
    """
    if d is None or not math.isfinite(d):
        return math.nan, math.nan
    rr = math.exp(RR_PER_SMD * d)
    if se is None or not math.isfinite(se):
        return evalue_rr(rr), math.nan
    if se < 0:
        raise ValueError("A standard error cannot be negative.")
    lo = math.exp(RR_PER_SMD * d - EVALUE_MD_Z * se)
    hi = math.exp(RR_PER_SMD * d + EVALUE_MD_Z * se)
    return evalues_rr(rr, lo, hi)


def evalues_mean_difference(
    estimate: float, ci: tuple[float, float], sd: float
) -> tuple[float, float]:
    """E-values of a difference of means with its CI, on the outcome's SD.

    d = estimate / sd and each CI limit / sd; RR = exp(0.91·d); E-values as ``evalues_rr``.
    For a normal 95% CI this equals ``evalues_md(d, se / sd)`` up to EValue's rounding of
    0.91 × 1.96 to 1.78. NaN when ``sd`` is not positive.
    """
    if sd is None or not math.isfinite(sd) or sd <= 0 or not math.isfinite(estimate):
        return math.nan, math.nan
    rr = math.exp(RR_PER_SMD * estimate / sd)
    lo, hi = (math.exp(RR_PER_SMD * c / sd) if math.isfinite(c) else math.nan for c in ci)
    return evalues_rr(rr, lo, hi)
