"""The simulation behind the demo cohort: every patient at once, as numpy arrays.

The cohort is held as a grid of patients × visits × instruments. Visit 0 is the baseline, visits
1 … S the assessments after dosing sessions 1 … S, and the last three the follow-up visits near
30, 90 and 180 days after the end of treatment. ``present`` marks the assessments that exist.
docs/demo_cohort.md describes the model in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from data.demo.params import INSTRUMENT_KEYS, DemoParams
from data.instruments import Registry

N_FOLLOWUPS = 3


@dataclass(frozen=True)
class DemoGrid:
    """One simulated cohort. Shapes: (N,) per patient, (N, V) per visit, (N, V, 3) per visit and
    instrument (PHQ-9, GAD-7, PCL-5); V = 1 + max sessions + 3 follow-ups."""

    intensive: np.ndarray  # bool
    daily: np.ndarray  # bool: intensive patient on the daily schedule
    trauma: np.ndarray  # bool: also completes the PCL-5
    resistant: np.ndarray  # bool: treatment-resistant
    site: np.ndarray  # index into params.sites
    clinician: np.ndarray  # 0-based clinician number
    route: np.ndarray  # index into ROUTES
    responder: np.ndarray  # index into RESPONDER_CLASSES
    planned: np.ndarray  # planned dosing sessions
    last_session: np.ndarray  # last dosing session attended (0: only a baseline)
    dropout: np.ndarray  # bool: stopped before the planned last session
    missing_baseline: np.ndarray  # bool
    initial_anxiety: np.ndarray  # bool: GAD-7 above baseline at session 1
    session: np.ndarray  # (V,) session number of each visit; -1 for follow-up visits
    day: np.ndarray  # (N, V) days since baseline
    present: np.ndarray  # (N, V, 3) bool
    score: np.ndarray  # (N, V, 3) integer-valued totals
    item9: np.ndarray  # (N, V) PHQ-9 item 9


def choice(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    """n draws of a category index with the given shares (inverse-CDF on one uniform each)."""
    idx = np.searchsorted(np.cumsum(shares), rng.random(n), side="right")
    return np.minimum(idx, len(shares) - 1)


def reached_share(params: DemoParams) -> np.ndarray:
    """Share of the eventual change reached after dosing session s, per responder class.

    Rows: fast (1 − exp(−s/τ)), delayed (Weibull 1 − exp(−(s/λ)^k)), non-responder and
    worsening (a straight line reaching 1 at ``gradual_sessions``). Columns: s = 1 … S.
    """
    s = np.arange(1, params.max_sessions + 1, dtype=float)
    fast = 1.0 - np.exp(-s / params.fast_tau_sessions)
    delayed = 1.0 - np.exp(-((s / params.delayed_scale_sessions) ** params.delayed_shape))
    gradual = np.minimum(s / params.gradual_sessions, 1.0)
    return np.vstack([fast, delayed, gradual, gradual])


def split_totals(
    totals: np.ndarray, weights: np.ndarray, item_max: int, rng: np.random.Generator
) -> np.ndarray:
    """Item scores (rows × k, each 0 … item_max) that add up exactly to each row's total.

    Each item has ``item_max`` one-point steps; step l of item j gets the key (l + U) · w_j and
    the ``total`` smallest keys are endorsed, so items with a low weight fill first. Totals must
    lie in 0 … k · item_max.
    """
    rows, k = weights.shape
    steps = np.arange(item_max, dtype=float)
    keys = (steps[None, None, :] + rng.random((rows, k, item_max))) * weights[:, :, None]
    keys = keys.reshape(rows, k * item_max)
    t = totals.astype(np.int64)
    cut = np.sort(keys, axis=1)[np.arange(rows), np.clip(t - 1, 0, None)]
    chosen = (keys <= cut[:, None]) & (t[:, None] > 0)
    return chosen.reshape(rows, k, item_max).sum(axis=2)


def _schedule(n: int, rng: np.random.Generator, p: DemoParams, intensive: np.ndarray):
    """Planned sessions, daily-schedule flag and the day of each treatment assessment (N, S)."""
    s_max = p.max_sessions
    k = np.arange(1, s_max + 1)
    weekly_n = np.asarray(p.weekly_session_counts)[choice(rng, n, p.weekly_session_shares)]
    planned = np.where(intensive, len(p.intensive_dose_days_mwf), weekly_n)
    daily = intensive & (rng.random(n) < p.intensive_daily_share)
    pad = s_max - len(p.intensive_dose_days_mwf)
    mwf = np.pad(np.asarray(p.intensive_dose_days_mwf, float), (0, pad), constant_values=np.nan)
    dly = np.pad(np.asarray(p.intensive_dose_days_daily, float), (0, pad), constant_values=np.nan)
    jitter = rng.integers(-p.weekly_jitter_days, p.weekly_jitter_days + 1, (n, s_max))
    jitter[:, 0] = 0
    weekly = (k[None, :] - 1) * p.weekly_interval_days + jitter
    dose = np.where(intensive[:, None], np.where(daily[:, None], dly, mwf), weekly)
    lo_i, hi_i = p.first_dose_days_intensive
    lo_w, hi_w = p.first_dose_days_weekly
    first = np.where(intensive, rng.integers(lo_i, hi_i + 1, n), rng.integers(lo_w, hi_w + 1, n))
    return planned, daily, first[:, None] + dose + p.assessment_lag_days


def _baseline_truth(
    n: int, rng: np.random.Generator, p: DemoParams
) -> tuple[np.ndarray, np.ndarray]:
    """True baseline severity (N, 3), correlated across instruments, and its standard normal
    scores; the observed SD adds the measurement noise back, so the latent SD is
    √(baseline_sd² − measurement_sd²)."""
    r = p.baseline_correlation
    corr = np.array([[1, r[0], r[1]], [r[0], 1, r[2]], [r[1], r[2], 1]], dtype=float)
    z = rng.standard_normal((n, 3)) @ np.linalg.cholesky(corr).T
    latent_sd = np.sqrt(np.square(p.baseline_sd) - np.square(p.measurement_sd))
    return np.asarray(p.baseline_mean) + latent_sd * z, z


def simulate(n: int, rng: np.random.Generator, p: DemoParams, registry: Registry) -> DemoGrid:
    """Simulate ``n`` patients (docs/demo_cohort.md, 'How the cohort is made')."""
    instruments = [registry.get(key) for key in INSTRUMENT_KEYS]
    s_max = p.max_sessions
    k = np.arange(1, s_max + 1)
    rows = np.arange(n)

    intensive = rng.random(n) < p.intensive_share
    trauma = rng.random(n) < p.trauma_share
    resistant = rng.random(n) < p.treatment_resistant_share
    site = choice(rng, n, p.site_shares)
    clinician = site * p.clinicians_per_site + rng.integers(0, p.clinicians_per_site, n)
    route_i = choice(rng, n, p.route_shares_intensive)
    route = np.where(intensive, route_i, choice(rng, n, p.route_shares_weekly))
    responder = choice(rng, n, p.class_shares)
    planned, daily, treat_day = _schedule(n, rng, p, intensive)

    # attrition: dropouts stop after a session drawn uniformly from 1 … planned − 1, or at once
    dropout = rng.random(n) < np.asarray(p.dropout_by_class)[responder]
    only_baseline = rng.random(n) < p.dropout_baseline_only_share
    stop = 1 + np.floor(rng.random(n) * (planned - 1)).astype(np.int64)
    last = np.where(dropout, np.where(only_baseline, 0, stop), planned)
    before_last = k[None, :] < last[:, None]
    missed = (rng.random((n, s_max)) < p.missed_visit_share) & before_last
    treat_present = (k[None, :] <= last[:, None]) & ~missed
    missing_baseline = (rng.random(n) < p.missing_baseline_share) & (last >= 1)
    fu_present = ~dropout[:, None] & (rng.random((n, N_FOLLOWUPS)) < p.followup_shares)
    jit = np.asarray(p.followup_jitter_days)
    fu_offset = np.asarray(p.followup_days) + rng.integers(-jit, jit + 1, (n, N_FOLLOWUPS))
    eot_day = treat_day[rows, planned - 1]
    day = np.concatenate([np.zeros((n, 1)), treat_day, eot_day[:, None] + fu_offset], axis=1)

    # latent trajectories: true = baseline · (1 − improvement · reached share)
    base_true, z = _baseline_truth(n, rng, p)
    cls_mean = np.asarray(p.class_improvement_mean)[responder]
    cls_sd = np.asarray(p.class_improvement_sd)[responder]
    gain = (cls_mean + cls_sd * rng.standard_normal(n))[:, None]
    gain = gain + p.instrument_improvement_sd * rng.standard_normal((n, 3))
    gain = np.where(resistant[:, None] & (gain > 0), gain * p.treatment_resistant_ratio, gain)
    gain = np.minimum(gain, p.max_improvement)
    reached = reached_share(p)[responder]
    treat_true = base_true[:, None, :] * (1.0 - gain[:, None, :] * reached[:, :, None])
    anxious = rng.random(n) < p.initial_anxiety_share
    lo_a, hi_a = p.initial_anxiety_points
    bump = base_true[:, 1] + rng.integers(lo_a, hi_a + 1, n)
    treat_true[:, 0, 1] = np.where(anxious, bump, treat_true[:, 0, 1])

    # follow-up: the end-of-treatment level, or part of the gain lost after a relapse
    eot_true = treat_true[rows, planned - 1, :]
    kept = np.maximum(base_true - eot_true, 0.0)
    rate = -np.log1p(-p.relapse_by_180_share) / 180.0
    relapse_day = rng.exponential(1.0, n) / rate if rate > 0 else np.full(n, np.inf)
    loss = rng.uniform(p.relapse_loss[0], p.relapse_loss[1], n)
    lost = np.where(relapse_day[:, None] < fu_offset, loss[:, None], 0.0)
    fu_true = eot_true[:, None, :] + lost[:, :, None] * kept[:, None, :]

    true = np.concatenate([base_true[:, None, :], treat_true, fu_true], axis=1)
    noise = rng.standard_normal(true.shape) * np.asarray(p.measurement_sd)
    lo = np.array([ins.min for ins in instruments])
    hi = np.array([ins.max for ins in instruments])
    score = np.clip(np.rint(true + noise), lo, hi)

    visit_present = np.concatenate([~missing_baseline[:, None], treat_present, fu_present], 1)
    has_instrument = np.stack([np.ones(n, bool), np.ones(n, bool), trauma], axis=1)
    skipped = (rng.random((n, s_max, 3)) < p.skipped_instrument_share) & before_last[:, :, None]
    skipped = np.pad(skipped, ((0, 0), (1, N_FOLLOWUPS), (0, 0)))
    present = visit_present[:, :, None] & has_instrument[:, None, :] & ~skipped

    item9 = _item9(n, rng, p, instruments[0], z[:, 0], true[:, :, 0], score[:, :, 0], last)
    session = np.concatenate([[0], k, np.full(N_FOLLOWUPS, -1)])
    return DemoGrid(
        intensive=intensive,
        daily=daily,
        trauma=trauma,
        resistant=resistant,
        site=site,
        clinician=clinician,
        route=route,
        responder=responder,
        planned=planned,
        last_session=last,
        dropout=last < planned,
        missing_baseline=missing_baseline,
        initial_anxiety=anxious,
        session=session,
        day=day,
        present=present,
        score=score,
        item9=item9,
    )


def _item9(n, rng, p: DemoParams, phq9, z_phq9, true_phq9, total, last) -> np.ndarray:
    """PHQ-9 item 9 at every visit (N, V).

    Baseline level: a latent normal correlated with depression severity, cut so that the shares
    with item 9 ≥ 1, ≥ 2, ≥ 3 match ``item9_baseline_shares``. Later visits: the baseline level
    times (true PHQ-9 now / at baseline) ** ``item9_sensitivity``, at most 1.5, rounded at random
    (so it mostly falls with treatment, faster than the total). A few patients without it at baseline report 1 at one treatment visit. Finally
    kept consistent with the total: the other eight items must be able to hold the rest.
    """
    rho = p.item9_severity_correlation
    w = rho * z_phq9 + np.sqrt(1.0 - rho**2) * rng.standard_normal(n)
    shares = np.asarray(p.item9_baseline_shares)
    cuts = np.array([NormalDist().inv_cdf(1 - s) if 0 < s < 1 else -np.inf for s in shares])
    cuts = np.where(shares <= 0, np.inf, cuts)
    level0 = (w[:, None] > cuts[None, :]).sum(axis=1)
    fallen = np.maximum(true_phq9 / np.maximum(true_phq9[:, :1], 1.0), 0.0)
    ratio = np.minimum(fallen**p.item9_sensitivity, 1.5)
    item9 = np.floor(level0[:, None] * ratio + rng.random(ratio.shape)).astype(np.int64)
    item9[:, 0] = level0
    onset = (level0 == 0) & (rng.random(n) < p.item9_new_onset_share) & (last >= 1)
    onset_visit = 1 + np.floor(rng.random(n) * np.maximum(last, 1)).astype(np.int64)
    visit = np.arange(ratio.shape[1])
    item9 = np.where(onset[:, None] & (visit[None, :] == onset_visit[:, None]), 1, item9)
    rest_max = (phq9.items - 1) * phq9.item_max
    rest_min = (phq9.items - 1) * phq9.item_min
    t = total.astype(np.int64)
    return np.clip(
        item9, np.maximum(phq9.item_min, t - rest_max), np.minimum(phq9.item_max, t - rest_min)
    )
