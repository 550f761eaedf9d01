"""A simulated practice where every claim of the scorecard sits exactly at its boundary.

The least favourable case for the scorecard's family-wise error: each share claim's true share is
exactly its threshold (50%), and intensive and weekly patients improve on the same calendar
curve, so no claim is true and each test is as close to saying "supported" as a false claim can
be. Shares are exact by construction: every patient is a responder or not with probability ½,
and the scores are built so that a responder's change is well past the reliable-change threshold
and a non-responder's noise never reaches it.

Per patient and instrument (PHQ-9 with items, GAD-7), independently:

- ``rapid``: reliably improved at the first reassessment (session 1: day 1 for intensive, day 7
  for weekly, both within the 7-day window);
- ``eot``: reliably improved (and responding, a drop of at least half) from session 2 on;
- ``last``: an end-of-treatment responder still responding at the 90-day follow-up;
- PHQ-9 item 9: positive at baseline for 40%, back to 0 at session 1 for half of those;
- treatment resistance recorded for half the patients, at random.

Schedules as tests/analysis/simulate.py: intensive on days 1, 2, 3, 5, 7, 9, 11, 14, weekly
every 7 days to day 56; 15% leave after a random session; 70% of completers come back about 90
days after their last session.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.schema import conform
from tests.analysis.simulate import INTENSIVE_DAYS, WEEKLY_DAYS

#: (instrument, lowest baseline, highest baseline, drop of a responder, largest noise)
INSTRUMENTS = (("PHQ-9", 16, 22, 12, 2), ("GAD-7", 13, 19, 10, 1))


def _items(score: np.ndarray, item9: np.ndarray) -> np.ndarray:
    """PHQ-9 items summing to ``score`` with item 9 given: the rest spread evenly over 1–8."""
    rest = (score - item9).astype(int)
    base, extra = rest // 8, rest % 8
    cols = base[..., None] + (np.arange(8) < extra[..., None])
    return np.concatenate([cols, item9[..., None]], axis=-1)


def simulate_boundary_practice(
    seed: int, *, n: int = 200, intensive_share: float = 0.4, dropout: float = 0.15
) -> pd.DataFrame:
    """A conformed tidy table of one practice where every claim is exactly at its boundary."""
    rng = np.random.default_rng(seed)
    intensive = rng.random(n) < intensive_share
    resistant = rng.random(n) < 0.5
    days = np.where(intensive[:, None], INTENSIVE_DAYS[None, :], WEEKLY_DAYS[None, :])
    last = np.where(rng.random(n) < dropout, rng.integers(1, 8, n), 8)
    back = (last == 8) & (rng.random(n) < 0.7)
    day = np.column_stack([np.zeros(n), days, days[:, -1] + 90.0])
    present = np.column_stack([np.ones(n, bool), np.arange(1, 9)[None, :] <= last[:, None], back])
    frames = []
    for key, lo, hi, drop, noise in INSTRUMENTS:
        base = rng.integers(lo, hi + 1, n).astype(float)
        rapid, eot, still = rng.random((3, n)) < 0.5
        gone = np.column_stack(
            [np.zeros(n), rapid, np.repeat(eot[:, None], 7, axis=1), eot & still]
        )
        score = base[:, None] - drop * gone + rng.integers(-noise, noise + 1, (n, 10))
        score[:, 0] = base
        score = np.clip(score, 0, None)
        frame = {
            "patient_id": np.repeat([f"P{i:04d}" for i in range(n)], 10).reshape(n, 10)[present],
            "protocol": np.repeat(np.where(intensive, "intensive", "weekly"), 10).reshape(n, 10)[
                present
            ],
            "instrument": key,
            "phase": np.array(["baseline", *["treatment"] * 8, "follow-up"])[
                np.tile(np.arange(10), (n, 1))[present]
            ],
            "session": pd.array(np.tile(np.arange(10), (n, 1))[present], dtype="Int64"),
            "day": day[present],
            "score": score[present],
            "treatment_resistant": np.repeat(resistant, 10).reshape(n, 10)[present],
        }
        if key == "PHQ-9":
            positive = rng.random(n) < 0.4
            at0 = np.where(positive, rng.integers(1, 3, n), 0)
            after = np.where(positive & (rng.random(n) < 0.5), 0, at0)
            item9 = np.column_stack([at0, np.repeat(after[:, None], 9, axis=1)])
            items = _items(score, item9)[present]
            for j in range(9):
                frame[f"item_{j + 1}"] = pd.array(items[:, j], dtype="Int64")
        out = pd.DataFrame(frame)
        out.loc[out["phase"] == "follow-up", "session"] = pd.NA
        frames.append(out)
    return conform(pd.concat(frames, ignore_index=True))
