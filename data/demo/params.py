"""Every parameter of the synthetic demo cohort, with its default (docs/demo_cohort.md).

The demo cohort lets a practice try ReliefCheck without real data, and lets the test suite check
that the analysis recovers known values. Three-value tuples follow ``INSTRUMENT_KEYS``
(PHQ-9, GAD-7, PCL-5); four-value tuples follow ``RESPONDER_CLASSES`` or ``ROUTES``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from data.errors import ReliefCheckError

INSTRUMENT_KEYS = ("PHQ-9", "GAD-7", "PCL-5")
RESPONDER_CLASSES = ("fast", "delayed", "non-responder", "worsening")
ROUTES = ("IV", "IM", "sublingual", "intranasal")
PROTOCOLS = ("intensive", "weekly")


@dataclass(frozen=True)
class DemoParams:
    """Generating parameters of the demo cohort. Shares are proportions (0–1)."""

    # -- who is treated -------------------------------------------------------------------------
    intensive_share: float = 0.40  # patients on the intensive (retreat) protocol
    trauma_share: float = 0.35  # trauma subgroup: also completes the PCL-5
    treatment_resistant_share: float = 0.45  # prior failure of two or more adequate treatments
    sites: tuple[str, ...] = ("Site A", "Site B", "Site C")
    site_shares: tuple[float, ...] = (0.45, 0.35, 0.20)
    clinicians_per_site: int = 3  # labelled T01, T02, … site by site
    route_shares_intensive: tuple[float, ...] = (0.45, 0.35, 0.10, 0.10)  # IV, IM, SL, IN
    route_shares_weekly: tuple[float, ...] = (0.15, 0.25, 0.35, 0.25)

    # -- baseline severity (observed mean and SD, as in published KAP cohorts) ------------------
    baseline_mean: tuple[float, float, float] = (17.0, 14.0, 45.0)
    baseline_sd: tuple[float, float, float] = (5.0, 4.0, 12.0)
    measurement_sd: tuple[float, float, float] = (1.8, 1.6, 5.0)  # occasion-to-occasion noise
    # correlation of the patients' true baseline severity: PHQ–GAD, PHQ–PCL, GAD–PCL
    baseline_correlation: tuple[float, float, float] = (0.70, 0.60, 0.55)

    # -- schedules (days) -----------------------------------------------------------------------
    intensive_dose_days_mwf: tuple[int, ...] = (0, 2, 4, 7, 9, 11)  # Mon/Wed/Fri, two weeks
    intensive_dose_days_daily: tuple[int, ...] = (0, 1, 2, 3, 4, 7)  # weekdays in a row
    intensive_daily_share: float = 0.30  # intensive patients on the daily schedule
    weekly_session_counts: tuple[int, ...] = (6, 7, 8)
    weekly_session_shares: tuple[float, ...] = (0.40, 0.35, 0.25)
    weekly_interval_days: int = 7
    weekly_jitter_days: int = 1  # each later weekly dose moves by up to this many days
    first_dose_days_intensive: tuple[int, int] = (1, 3)  # first dose this many days after baseline
    first_dose_days_weekly: tuple[int, int] = (2, 7)
    assessment_lag_days: int = 1  # assessment this many days after each dosing session

    # -- response: eventual improvement as a fraction of the true baseline ----------------------
    class_shares: tuple[float, ...] = (0.35, 0.30, 0.27, 0.08)
    class_improvement_mean: tuple[float, ...] = (0.60, 0.55, 0.08, -0.25)
    class_improvement_sd: tuple[float, ...] = (0.12, 0.12, 0.08, 0.10)
    instrument_improvement_sd: float = 0.08  # how far one instrument departs from the patient's
    max_improvement: float = 0.95
    treatment_resistant_ratio: float = 0.80  # improvement kept by treatment-resistant patients
    fast_tau_sessions: float = 0.9  # fast: share reached after s sessions = 1 − exp(−s / tau)
    delayed_scale_sessions: float = 4.0  # delayed: 1 − exp(−(s / scale)^shape)
    delayed_shape: float = 3.0
    gradual_sessions: float = 6.0  # non-responders, worsening: straight line up to this session

    # -- initial anxiety (GAD-7 at session 1) ---------------------------------------------------
    initial_anxiety_share: float = 0.12  # GAD-7 above the true baseline at session 1
    initial_anxiety_points: tuple[int, int] = (3, 6)  # by this many points (uniform, inclusive)

    # -- attrition ------------------------------------------------------------------------------
    dropout_by_class: tuple[float, ...] = (0.08, 0.14, 0.28, 0.40)
    dropout_baseline_only_share: float = 0.30  # of dropouts: stop before the first session
    missing_baseline_share: float = 0.02  # of patients with a treatment assessment
    missed_visit_share: float = 0.04  # a treatment visit before the last one is missed
    skipped_instrument_share: float = 0.02  # one instrument skipped at such a visit

    # -- follow-up after the end of treatment (completers only) ---------------------------------
    followup_days: tuple[int, int, int] = (30, 90, 180)
    followup_jitter_days: tuple[int, int, int] = (7, 15, 22)  # inside the ±15/30/45-day windows
    followup_shares: tuple[float, float, float] = (0.60, 0.45, 0.35)
    relapse_by_180_share: float = 0.30  # chance of relapse within 180 days (exponential time)
    relapse_loss: tuple[float, float] = (0.5, 1.0)  # share of the gain lost on relapse (uniform)

    # -- PHQ-9 items ----------------------------------------------------------------------------
    item9_baseline_shares: tuple[float, float, float] = (0.35, 0.12, 0.04)  # item 9 ≥ 1, ≥ 2, ≥ 3
    item9_severity_correlation: float = 0.40
    item9_sensitivity: float = 2.0  # item 9 follows (PHQ-9 now / at baseline) ** this power
    item9_new_onset_share: float = 0.04  # item 9 = 0 at baseline, 1 at one treatment visit
    # relative reluctance to endorse PHQ-9 items 1–8 and GAD-7 items 1–7 (higher: endorsed less)
    phq9_item_weights: tuple[float, ...] = (1.0, 0.95, 0.85, 0.8, 1.1, 1.05, 1.0, 1.4)
    gad7_item_weights: tuple[float, ...] = (0.9, 1.0, 0.9, 1.0, 1.3, 1.0, 1.2)
    item_profile_sd: float = 0.25  # each patient's own lean towards some items (log scale)

    def __post_init__(self) -> None:
        check_params(self)

    @property
    def max_sessions(self) -> int:
        """The most dosing sessions any patient can have."""
        return max(len(self.intensive_dose_days_mwf), max(self.weekly_session_counts))

    @property
    def overall_dropout_share(self) -> float:
        """Expected share of patients who stop early: Σ class share × class dropout."""
        return float(np.dot(self.class_shares, self.dropout_by_class))


def _fail(name: str, why: str) -> None:
    raise ReliefCheckError(f"Demo cohort parameter {name}: {why}")


def _shares(p: DemoParams, name: str, n: int | None = None, total: bool = True) -> None:
    v = getattr(p, name)
    if n is not None and len(v) != n:
        _fail(name, f"needs {n} values, got {len(v)}.")
    if any(not 0.0 <= float(x) <= 1.0 for x in v):
        _fail(name, "every share must lie between 0 and 1.")
    if total and not math.isclose(sum(v), 1.0, abs_tol=1e-9):
        _fail(name, f"the shares must add up to 1 (they add up to {sum(v):g}).")


def check_params(p: DemoParams) -> None:
    """ReliefCheckError naming the first inconsistent parameter."""
    for f in fields(p):
        v = getattr(p, f.name)
        if f.name.endswith("_share") and not 0.0 <= v <= 1.0:
            _fail(f.name, "must lie between 0 and 1.")
    _shares(p, "site_shares", len(p.sites))
    _shares(p, "route_shares_intensive", len(ROUTES))
    _shares(p, "route_shares_weekly", len(ROUTES))
    _shares(p, "weekly_session_shares", len(p.weekly_session_counts))
    _shares(p, "class_shares", len(RESPONDER_CLASSES))
    _shares(p, "dropout_by_class", len(RESPONDER_CLASSES), total=False)
    _shares(p, "followup_shares", 3, total=False)
    _shares(p, "item9_baseline_shares", 3, total=False)
    if list(p.item9_baseline_shares) != sorted(p.item9_baseline_shares, reverse=True):
        _fail("item9_baseline_shares", "shares of item 9 ≥ 1, ≥ 2, ≥ 3 must not increase.")
    for name in ("class_improvement_mean", "class_improvement_sd"):
        if len(getattr(p, name)) != len(RESPONDER_CLASSES):
            _fail(name, f"needs {len(RESPONDER_CLASSES)} values.")
    if any(m >= s for m, s in zip(p.measurement_sd, p.baseline_sd, strict=True)):
        _fail("measurement_sd", "each must be below the matching baseline_sd.")
    if p.clinicians_per_site < 1 or p.weekly_interval_days < 1 or p.assessment_lag_days < 0:
        _fail("schedule", "clinicians_per_site and weekly_interval_days must be at least 1.")
    if len(p.intensive_dose_days_mwf) != len(p.intensive_dose_days_daily):
        _fail("intensive_dose_days_daily", "must list as many sessions as the Mon/Wed/Fri one.")
    for name in ("intensive_dose_days_mwf", "intensive_dose_days_daily"):
        if list(getattr(p, name)) != sorted(set(getattr(p, name))):
            _fail(name, "dosing days must increase.")
    if min(p.weekly_session_counts) < 1 or p.weekly_jitter_days * 2 >= p.weekly_interval_days:
        _fail("weekly schedule", "needs at least one session and jitter under half the interval.")
    for name in ("first_dose_days_intensive", "first_dose_days_weekly", "initial_anxiety_points"):
        lo, hi = getattr(p, name)
        if not 0 <= lo <= hi:
            _fail(name, "needs a low and a high value, low ≤ high.")
    if any(j * 2 >= d for j, d in zip(p.followup_jitter_days, p.followup_days, strict=True)):
        _fail("followup_jitter_days", "each jitter must be under half its follow-up day.")
    if len(p.phq9_item_weights) != 8 or len(p.gad7_item_weights) != 7:
        _fail("item weights", "PHQ-9 needs 8 weights (items 1–8) and GAD-7 needs 7.")
    if min(p.phq9_item_weights + p.gad7_item_weights) <= 0:
        _fail("item weights", "every weight must be above 0.")
    if not 0 <= p.relapse_loss[0] <= p.relapse_loss[1] <= 1:
        _fail("relapse_loss", "needs 0 ≤ low ≤ high ≤ 1.")
    if not p.relapse_by_180_share < 1:
        _fail("relapse_by_180_share", "must be below 1.")
    r = p.baseline_correlation
    corr = np.array([[1, r[0], r[1]], [r[0], 1, r[2]], [r[1], r[2], 1]], dtype=float)
    if np.linalg.eigvalsh(corr).min() <= 0:
        _fail("baseline_correlation", "the three correlations are not a valid correlation matrix.")
