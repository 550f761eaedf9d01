"""Simulated practices for the verdicts' error-rate tests: cohorts whose truth is known.

A practice of ``n`` PHQ-9 patients, a share on the intensive protocol. Each patient has a true
severity T and a true eventual improvement E = frac · T (change proportional to severity,
frac ~ N(0.5, 0.15)); the score at day t is T − E · c_p(t) + noise, with the calendar curve
c_p(t) = 1 − exp(−t / τ_p) of the patient's protocol p, rounded and kept in 0–27. Observed
scores carry occasion noise (SD 2.5), so a patient picked for a high observed baseline regresses
to the mean. Schedules follow the issue that set these traps: intensive assessed on days 1, 2,
3, 5, 7, 9, 11, 14 (sessions 1–8), weekly every 7 days to day 56 (sessions 1–8). A share of
patients leave after a random session (never the last).

The traps:
- ``schedule``: both protocols on the same calendar curve (τ = 5 days), assessed on their own
  schedules.
- ``sicker``: the same, with intensive patients 4 points more severe and, in addition, more
  likely to be put on intensive the higher their (noisy) observed baseline.
- ``faster``: intensive truly improves faster in calendar time (τ = 3 against 21 days), with
  the same eventual improvement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.schema import conform

INTENSIVE_DAYS = np.array([1, 2, 3, 5, 7, 9, 11, 14], dtype=float)
WEEKLY_DAYS = np.arange(1, 9, dtype=float) * 7
TAU = {"schedule": (5.0, 5.0), "sicker": (5.0, 5.0), "milder": (5.0, 5.0), "faster": (3.0, 21.0)}


def simulate_practice(
    seed: int,
    scenario: str,
    *,
    n: int = 300,
    intensive_share: float = 0.4,
    dropout: float = 0.15,
    noise_sd: float = 2.5,
) -> pd.DataFrame:
    """A conformed tidy PHQ-9 table of one simulated practice (module docstring)."""
    rng = np.random.default_rng(seed)
    true = rng.normal(16.0, 4.0, n)
    obs0 = true + rng.normal(0.0, noise_sd, n)
    if scenario in ("sicker", "milder"):
        sign = 1.0 if scenario == "sicker" else -1.0
        # selection on the observed baseline (regression to the mean) and truly sicker patients
        p = 1.0 / (
            1.0
            + np.exp(-(np.log(intensive_share / (1 - intensive_share)) + sign * 0.25 * (obs0 - 16)))
        )
        intensive = rng.random(n) < p
        shift = np.where(intensive, sign * 4.0, 0.0)
        true, obs0 = true + shift, obs0 + shift
    else:
        intensive = rng.random(n) < intensive_share
    tau_i, tau_w = TAU[scenario]
    frac = rng.normal(0.5, 0.15, n)
    gain = frac * true
    days = np.where(intensive[:, None], INTENSIVE_DAYS[None, :], WEEKLY_DAYS[None, :])
    tau = np.where(intensive, tau_i, tau_w)[:, None]
    slope_sd = rng.normal(0.0, 1.0, n)[:, None]  # patient-level wobble around their curve
    score = true[:, None] - gain[:, None] * (1 - np.exp(-days / tau)) + 0.5 * slope_sd
    score = score + rng.normal(0.0, noise_sd, score.shape)
    last = np.where(rng.random(n) < dropout, rng.integers(1, 8, n), 8)
    present = np.arange(1, 9)[None, :] <= last[:, None]
    obs = np.column_stack([obs0, score])
    obs = np.clip(np.round(obs), 0, 27)
    day = np.column_stack([np.zeros(n), days])
    keep = np.column_stack([np.ones(n, dtype=bool), present])
    pid = np.repeat(np.arange(n), 9).reshape(n, 9)
    sess = np.tile(np.arange(9), (n, 1))
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in pid[keep]],
            "protocol": np.where(intensive[pid[keep]], "intensive", "weekly"),
            "instrument": "PHQ-9",
            "session": pd.array(sess[keep], dtype="Int64"),
            "day": day[keep],
            "phase": np.where(sess[keep] == 0, "baseline", "treatment"),
            "score": obs[keep],
        }
    )
    return conform(frame)
