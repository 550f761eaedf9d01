"""Claim results and how a verdict is reached (SPEC section 6): the ``ClaimResult`` record, the
Wilson-bound verdict rule for shares, and the caveats every verdict carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.claims_config import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    ClaimsConfig,
)
from analysis.rates import wilson_ci

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
            "estimate": _num(self.estimate),
            "ci": [_num(self.ci[0]), _num(self.ci[1])],
            "caveats": list(self.caveats),
            "claim": self.claim,
            "test": self.test,
            "group": self.group,
            "details": {k: _jsonable(v) for k, v in self.details.items()},
        }


def _num(x: object) -> float | None:
    if x is None:
        return None
    x = float(x)  # type: ignore[arg-type]
    return None if np.isnan(x) else x


def _jsonable(v: object) -> object:
    if isinstance(v, float | np.floating):
        return _num(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


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
    lo, hi = wilson_ci(np.array([k]), np.array([n]), ci=cfg.ci_level)
    pct, ci = 100.0 * k / n, (100.0 * float(lo[0]), 100.0 * float(hi[0]))
    if n < cfg.min_patients:
        return INCONCLUSIVE, pct, ci
    if ci[0] >= 100.0 * threshold:
        return SUPPORTED, pct, ci
    if ci[1] < 100.0 * threshold:
        return NOT_SUPPORTED, pct, ci
    return INCONCLUSIVE, pct, ci


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


def recall_caveat(outcomes: pd.DataFrame, instrument: str, recall_days: float | None) -> str | None:
    """Caveat when assessments were repeated inside the instrument's recall window."""
    n = int(outcomes["n_recall_violations"].fillna(0).sum())
    if n == 0 or recall_days is None:
        return None
    pts = int((outcomes["n_recall_violations"].fillna(0) > 0).sum())
    return (
        f"Recall window: {n} pairs of {instrument} assessments in {pts} patients were less than "
        f"{recall_days:g} days apart, so their answers overlap the same period."
    )


def standard_caveats(
    outcomes: pd.DataFrame, instrument: str, recall_days: float | None
) -> tuple[str, ...]:
    """The caveats every verdict carries (SPEC section 6)."""
    out = [NO_CONTROL, REGRESSION, attrition_caveat(outcomes)]
    rc = recall_caveat(outcomes, instrument, recall_days)
    if rc:
        out.append(rc)
    return tuple(out)
