"""Recovery of the demo cohort's known truth (data/demo/truth.json): over 200 seeded demo
cohorts, the 95% CIs of g_av (BCa bootstrap) and of the outcome rates (Wilson) must cover the
population value in 93–97 % of cases."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.effects import paired_effects_by_group
from analysis.figures import KEYS, _rates
from analysis.outcomes import patient_outcomes
from data.demo.cohort import generate_demo
from data.instruments import default_registry

TRUTH = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "demo" / "truth.json").read_text()
)
RATES = ("reliable_improvement", "response", "remission")
N_REPS, N_PATIENTS = 200, 300


def _truth() -> pd.DataFrame:
    return pd.DataFrame(TRUTH["groups"]).set_index(KEYS)


def _one_replication(seed: int, registry) -> list[dict]:
    tidy = generate_demo(n_patients=N_PATIENTS, seed=seed)
    out = patient_outcomes(tidy, registry)
    paired = out[out["paired"].fillna(False).astype(bool)]
    eff = paired_effects_by_group(paired, KEYS, n_boot=1000, seed=seed).set_index(KEYS)
    rates = _rates(out, 0.95).set_index([*KEYS, "population", "flag"])
    truth = _truth()
    rows = []
    for key, t in truth.iterrows():
        if key in eff.index:
            e = eff.loc[key]
            rows.append(
                {"figure": "g_av", "covered": e["g_av_ci_lo"] <= t["g_av"] <= e["g_av_ci_hi"]}
            )
        for flag in RATES:
            for population, suffix in (("completers", ""), ("all starters", "_all_starters")):
                r = rates.loc[(*key, population, flag)]
                true = t[f"{flag}{suffix}_pct"]
                rows.append(
                    {"figure": f"{flag}{suffix}", "covered": r["ci_lo"] <= true <= r["ci_hi"]}
                )
    return rows


@pytest.mark.slow
def test_ci_coverage_recovers_demo_truth_in_200_replications():
    registry = default_registry()
    rows = [row for seed in range(1, N_REPS + 1) for row in _one_replication(seed, registry)]
    coverage = pd.DataFrame(rows).groupby("figure")["covered"].mean()
    print(coverage.to_string())
    # g_av: 6 groups × 200 cohorts; every rate: 1,200 intervals as well.
    assert 0.93 <= coverage["g_av"] <= 0.97, coverage["g_av"]
    pooled = float(np.mean([coverage[f] for f in coverage.index if f != "g_av"]))
    assert 0.93 <= pooled <= 0.97, pooled
    for figure, value in coverage.items():
        assert 0.91 <= value <= 0.98, (figure, value)
