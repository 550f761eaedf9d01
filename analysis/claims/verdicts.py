"""Claim results and how a verdict is reached (SPEC section 6): the ``ClaimResult`` record, the
Wilson-bound verdict rule for shares, and the caveats every verdict carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from analysis.claims.config import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    ClaimsConfig,
)
from analysis.numbers import finite_interval, finite_or_none, json_value
from analysis.rates import wilson_ci
from analysis.references import regression_to_mean_caveat
from data.benchmarks import default_benchmarks

CLAIM_TEXT = {
    "rapid-onset": "Relief begins within hours or days of the first dosing session.",
    "intensive-faster": "An intensive retreat reaches in weeks what weekly sessions reach in months.",
    "large-improvement": "Depression, anxiety and trauma symptoms fall substantially.",
    "lasting": "The gains last after a brief course.",
    "suicidal-ideation": "Suicidal thoughts drop quickly.",
    "treatment-resistant": "It helps people other treatments failed.",
    "initial-anxiety": "It can raise anxiety at first.",
}

NO_CONTROL = (
    "No control group: these are changes over time in treated patients, not effects caused by "
    "treatment."
)
REGRESSION = (
    "Regression to the mean: people often start treatment when symptoms peak, so some "
    "improvement is expected without any treatment."
)


@dataclass(frozen=True)
class ClaimResult:
    """One claim tested on one instrument (or one protocol comparison)."""

    id: str
    instrument: str | None
    verdict: str
    n: int
    estimate: float | None
    ci: tuple[float | None, float | None]
    test: str
    caveats: tuple[str, ...] = ()
    group: str = "all patients"
    details: dict = field(default_factory=dict)
    #: One-sided p-value of the claim's test (H0: the claim is false, e.g. the true share is at
    #: most the threshold); None when the claim is not tested or only reported.
    p_value: float | None = None
    #: "primary" (tested at alpha on its own) or "exploratory" (Holm-adjusted), set by
    #: ``analysis.claims.multiplicity.control_multiplicity``; None when the claim has no test.
    role: str | None = None
    p_adjusted: float | None = None  # Holm-adjusted p (the p itself for the primary claim)
    verdict_unadjusted: str | None = None  # the claim's own verdict before multiplicity control

    @property
    def claim(self) -> str:
        return CLAIM_TEXT[self.id]

    def to_dict(self) -> dict:
        """JSON object of SPEC section 7 (``claims`` list), with extra keys."""
        return {
            "id": self.id,
            "instrument": self.instrument,
            "verdict": self.verdict,
            "n": int(self.n),
            "estimate": finite_or_none(self.estimate),
            "ci": finite_interval(self.ci),
            "caveats": list(self.caveats),
            "claim": self.claim,
            "test": self.test,
            "group": self.group,
            "details": {k: json_value(v) for k, v in self.details.items()},
            "role": self.role,
            "p_value": finite_or_none(self.p_value),
            "p_adjusted": finite_or_none(self.p_adjusted),
            "verdict_unadjusted": self.verdict_unadjusted or self.verdict,
        }


def not_testable(
    claim_id: str, instrument: str | None, why: str, test: str, group: str = "all patients"
) -> ClaimResult:
    """The result of a claim the data cannot test, saying why."""
    return ClaimResult(
        id=claim_id,
        instrument=instrument,
        verdict=NOT_TESTABLE,
        n=0,
        estimate=None,
        ci=(None, None),
        test=test,
        caveats=(why,),
        group=group,
    )


def share_verdict(
    k: int, n: int, threshold: float, cfg: ClaimsConfig
) -> tuple[str, float | None, tuple]:
    """Verdict for 'at least ``threshold`` of patients': Wilson CI against the threshold.

    supported: lower bound ≥ threshold; not supported: upper bound < threshold; inconclusive:
    the CI straddles it, or fewer than ``cfg.min_patients`` patients. Returns the verdict, the
    share in percent and its CI in percent.
    """
    if n == 0:
        return NOT_TESTABLE, None, (None, None)
    lo, hi = wilson_ci(np.array([k]), np.array([n]), ci_level=cfg.ci_level)
    pct, ci = 100.0 * k / n, (100.0 * float(lo[0]), 100.0 * float(hi[0]))
    if n < cfg.min_patients:
        return INCONCLUSIVE, pct, ci
    if ci[0] >= 100.0 * threshold:
        return SUPPORTED, pct, ci
    if ci[1] < 100.0 * threshold:
        return NOT_SUPPORTED, pct, ci
    return INCONCLUSIVE, pct, ci


def share_claim(
    claim_id: str,
    instrument: str | None,
    k: int,
    n: int,
    threshold: float,
    cfg: ClaimsConfig,
    *,
    test: str,
    caveats: Sequence[str],
    group: str = "all patients",
    details: dict | None = None,
) -> ClaimResult:
    """The result of a share claim, "at least ``threshold`` of patients": k of n with its Wilson
    CI and verdict (``share_verdict``) and its one-sided p-value (``share_p_value``)."""
    verdict, pct, ci = share_verdict(k, n, threshold, cfg)
    return ClaimResult(
        id=claim_id,
        instrument=instrument,
        verdict=verdict,
        n=n,
        estimate=pct,
        ci=ci,
        test=test,
        caveats=tuple(caveats),
        group=group,
        details={} if details is None else details,
        p_value=share_p_value(k, n, threshold),
    )


def share_p_value(k: int, n: int, threshold: float) -> float | None:
    """One-sided p of the score test of H0: true share ≤ ``threshold`` (Wilson 1927).

    z = (k/n − p0) / √(p0 (1 − p0) / n), p = 1 − Φ(z). The Wilson interval is this test
    inverted, so p ≤ (1 − level) / 2 exactly when the interval's lower end reaches p0: the
    p-value and ``share_verdict`` always agree. R: ``prop.test(k, n, p0, "greater",
    correct = FALSE)$p.value``. None when n = 0 or the threshold is not strictly inside (0, 1).
    """
    if n <= 0 or not 0.0 < threshold < 1.0:
        return None
    z = (k / n - threshold) / np.sqrt(threshold * (1.0 - threshold) / n)
    return float(stats.norm.sf(z))


def attrition_caveat(outcomes: pd.DataFrame) -> str:
    """Everyone who left before the planned last session (SPEC 6.1), and how the two
    denominators treat them.

    Counts patients with a baseline (starters), those who left early (``left_early``; when the
    table lacks it, starters without an end-of-treatment score) and those with no score after
    baseline. Figures on the last observation carry an early leaver's last score forward (LOCF);
    rates among everyone who started count patients with no later score as not improved.
    """
    started = outcomes["has_baseline"].fillna(False).to_numpy(dtype=bool)
    paired = outcomes["paired"].fillna(False).to_numpy(dtype=bool)
    starters, no_later = int(started.sum()), int((started & ~paired).sum())
    if "left_early" in outcomes.columns:
        early = outcomes["left_early"]
        left = early.fillna(False).to_numpy(dtype=bool)
        unknown = int((started & early.isna().to_numpy()).sum())
    else:  # an outcomes table from before completers: starters without an EOT
        left, unknown = started & ~paired, 0
    carried = int((left & paired).sum())
    text = (
        f"Attrition: {int(left.sum())} of {starters} patients who started left before the "
        f"planned last session ({int((left & ~paired).sum())} of them have no score after "
        "baseline). "
    )
    if unknown:
        text += (
            f"For {unknown} more the planned last session is unknown (no patient of their "
            "protocol has a score after baseline). "
        )
    text += (
        "Figures on the last observation use each patient's last score as their "
        "end-of-treatment score (last observation carried forward, LOCF)"
    )
    if carried:
        text += (
            f", so {carried} who left after at least one session count with the score they had "
            "when they left"
        )
    return text + (
        f"; rates among everyone who started count the {no_later} with no later score as not "
        "improved. Those who stay may differ from those who leave."
    )


def recall_caveat(
    instrument: str, recall_days: float | None, timescale_days: float | None, what: str
) -> str | None:
    """The recall-period caveat, only where a claim's time scale is shorter than the period the
    instrument asks about (PHQ-9 and GAD-7: the past 14 days; PCL-5: the past 30).

    ``timescale_days`` is the claim's own time scale (e.g. the median day of the first
    reassessments a rapid-onset share reads); ``what`` starts the sentence, e.g. "the first
    reassessments within 7 days came a median of". None when the time scale is at least the
    recall period, or either is unknown.
    """
    if recall_days is None or timescale_days is None or not np.isfinite(timescale_days):
        return None
    if timescale_days >= recall_days:
        return None
    days = max(float(timescale_days), 0.0)
    return (
        f"Recall period: {what} {_days(days)} after baseline, but {instrument} asks about the "
        f"past {recall_days:g} days, so those answers still cover about "
        f"{_days(recall_days - days)} before treatment began."
    )


def _days(x: float) -> str:
    return f"{x:g} day" if x == 1 else f"{x:g} days"


def eot_recall_caveats(paired: pd.DataFrame, ins) -> list[str]:
    """Per protocol, the recall-period caveat for end-of-treatment scores that came, at the
    median, sooner after baseline than the instrument's recall period (``eot_day``)."""
    if ins.recall_days is None or "eot_day" not in paired.columns or paired.empty:
        return []
    medians = paired.groupby("protocol", observed=True)["eot_day"].median().dropna()
    return [
        text
        for protocol, day in medians.items()
        if (
            text := recall_caveat(
                ins.key,
                ins.recall_days,
                float(day),
                f"{protocol} patients' end-of-treatment scores came a median of",
            )
        )
    ]


def standard_caveats(
    outcomes: pd.DataFrame, instrument: str, recall_days: float | None
) -> tuple[str, ...]:
    """The caveats every verdict carries (SPEC section 6, as amended by issue 11: the recall
    period is a caveat only where a claim's time scale is shorter than it, added by each claim).
    ``instrument`` and ``recall_days`` are kept for callers; the attrition caveat reads only
    ``outcomes``."""
    return (NO_CONTROL, REGRESSION, attrition_caveat(outcomes))


def with_regression_numbers(
    results: list[ClaimResult], by_ins: dict[str, pd.DataFrame], benchmarks
) -> list[ClaimResult]:
    """Each claim's regression-to-the-mean caveat with the untreated change the published
    benchmark expects at this practice's mean baseline (``analysis.references``)."""
    if benchmarks is None:
        benchmarks = default_benchmarks()
    texts = {k: regression_to_mean_caveat(frame, k, benchmarks) for k, frame in by_ins.items()}
    return [
        replace(
            r,
            caveats=tuple(
                texts.get(r.instrument or "", c) if c == REGRESSION else c for c in r.caveats
            ),
        )
        if r.instrument in texts and REGRESSION in r.caveats
        else r
        for r in results
    ]
