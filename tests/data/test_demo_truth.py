"""The demo cohort's documented truth (data/demo/truth.py, data/demo/truth.json): SPEC section 4
and 5 definitions checked by hand arithmetic, and the committed JSON checked against a fresh
simulation so that it cannot go stale silently."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.demo.cohort import DEFAULT_PARAMS, GENERATOR_VERSION
from data.demo.truth import (
    TRUTH_FILE,
    TRUTH_SEED,
    load_truth,
    patient_outcomes,
    population_truth,
    truth_markdown,
    truth_table,
)
from data.schema import conform

ROOT = Path(__file__).resolve().parents[2]

# Hand-made PHQ-9 cohort (intensive). Rows: patient, session, day, score, item 9.
HAND_ROWS = [
    ("P1", 0, 0, 20, 2), ("P1", 1, 2, 14, 0), ("P1", 2, 4, 4, 0),
    ("P1", None, 74, 20, 1), ("P1", None, 99, 9, 0),  # 70 and 95 days after EOT: 95 is nearer 90
    ("P2", 0, 1, 30, 2),  # a later second baseline: the earliest (day 0) counts
    ("P2", 2, 5, 12, 0), ("P2", 1, 3, 15, 1), ("P2", 0, 0, 16, 0),
    ("P3", 0, 0, 10, 1), ("P3", 1, 2, 16, 1), ("P3", 2, 4, 11, 0),
    ("P4", 0, 0, 18, 1),  # baseline only: a starter, not paired
    ("P5", 1, 2, 9, 0),  # no baseline: counted among patients only
]  # fmt: skip


def hand_frame() -> pd.DataFrame:
    rows = pd.DataFrame(HAND_ROWS, columns=["patient_id", "session", "day", "score", "item_9"])
    rows["protocol"] = "intensive"
    rows["instrument"] = "PHQ-9"
    rows["phase"] = np.where(rows["session"].isna(), "follow-up", "treatment")
    rows["session"] = rows["session"].astype("Float64")
    return conform(rows)


def test_truth_matches_hand_arithmetic_spec_sections_4_and_5():
    row = truth_table(patient_outcomes(hand_frame())).iloc[0]
    # paired: P1 (20 → 4), P2 (16 → 12), P3 (10 → 11); starters add P4; patients add P5
    assert (row["n_patients"], row["n_starters"], row["n_paired"]) == (5, 4, 3)
    assert row["paired_pct"] == pytest.approx(75.0)
    sd_b = math.sqrt(((20 - 46 / 3) ** 2 + (16 - 46 / 3) ** 2 + (10 - 46 / 3) ** 2) / 2)
    sd_e = math.sqrt(((4 - 9) ** 2 + (12 - 9) ** 2 + (11 - 9) ** 2) / 2)  # √19
    change = [16, 4, -1]
    sd_c = math.sqrt(sum((c - 19 / 3) ** 2 for c in change) / 2)
    assert row["baseline_mean"] == pytest.approx(46 / 3)
    assert row["eot_mean"] == pytest.approx(9.0)
    assert row["mean_change"] == pytest.approx(19 / 3)
    assert row["baseline_sd"] == pytest.approx(sd_b)
    assert row["eot_sd"] == pytest.approx(math.sqrt(19))
    assert row["d_z"] == pytest.approx((19 / 3) / sd_c)
    d_av = (19 / 3) / ((sd_b + sd_e) / 2)
    assert row["d_av"] == pytest.approx(d_av)
    assert row["g_av"] == pytest.approx(d_av * (1 - 3 / (4 * (3 - 1) - 1)))  # J = 4/7
    # reliable improvement (≥ 6): P1; response (≥ 50 %): P1; remission (< 5): P1 (EOT 4)
    for name in ("reliable_improvement", "response", "remission"):
        assert row[f"{name}_pct"] == pytest.approx(100 / 3)
        assert row[f"{name}_all_starters_pct"] == pytest.approx(25.0)
    assert row["reliable_deterioration_pct"] == 0
    assert row["rapid_onset_pct"] == pytest.approx(100 / 3)  # P1: 20 → 14 on day 2
    assert row["session1_reliable_deterioration_pct"] == pytest.approx(100 / 3)  # P3: 10 → 16
    # P1 at the 90-day window: 20 → 9 is still a response; the day-74 score 20 is further out
    assert (row["n_responders_fu90"], row["sustained_response_90_pct"]) == (1, 100.0)
    # item 9 at baseline ≥ 1: P1, P3, P4 of 4; resolved at session 1: P1 of P1, P3;
    # resolved at EOT: P1 and P3 of P1, P3; new onset: P2 (0 → 1 at session 1)
    assert row["item9_baseline_pct"] == pytest.approx(75.0)
    assert row["item9_resolved_session1_pct"] == pytest.approx(50.0)
    assert row["item9_resolved_eot_pct"] == pytest.approx(100.0)
    assert row["item9_new_onset_pct"] == pytest.approx(100.0)


def test_patient_outcomes_take_earliest_baseline_and_last_treatment_by_day():
    out = patient_outcomes(hand_frame()).set_index("patient_id")
    assert out.loc["P2", "baseline"] == 16 and out.loc["P2", "eot"] == 12
    assert out.loc["P1", "fu90"] == 9 and np.isnan(out.loc["P1", "fu30"])
    assert np.isnan(out.loc["P5", "baseline"]) and np.isnan(out.loc["P4", "eot"])


def test_committed_truth_provenance_is_current():
    meta, table = load_truth()
    assert meta["schema"] == "reliefcheck.demo_truth/1"
    assert meta["generator_version"] == GENERATOR_VERSION
    assert meta["params"] == json.loads(json.dumps(dataclasses.asdict(DEFAULT_PARAMS)))
    assert meta["n_patients"] >= 400_000 and meta["seed"] == TRUTH_SEED
    assert len(table) == 6  # two protocols × three instruments


def _standard_errors(t: pd.DataFrame, n_total: int) -> pd.DataFrame:
    """Large-sample standard error of every truth quantity, from the table itself."""
    se = pd.DataFrame(index=t.index)
    pct_of = {"paired_pct": "n_starters", "rapid_onset_pct": "n_paired",
              "session1_reliable_deterioration_pct": "n_session1",
              "sustained_response_90_pct": "n_responders_fu90",
              "item9_baseline_pct": "n_item9_baseline",
              "item9_resolved_session1_pct": "n_item9_session1",
              "item9_resolved_eot_pct": "n_item9_eot", "item9_new_onset_pct": "n_item9_zero"}  # fmt: skip
    for name in ("reliable_improvement", "reliable_deterioration", "response", "remission"):
        pct_of[f"{name}_pct"] = "n_paired"
        pct_of[f"{name}_all_starters_pct"] = "n_starters"
    for col, denom in pct_of.items():
        p = t[col] / 100
        se[col] = 100 * np.sqrt(p * (1 - p) / t[denom])
    n = t["n_paired"]
    for mean, sd in (("baseline_mean", "baseline_sd"), ("eot_mean", "eot_sd"),
                     ("mean_change", "sd_change")):  # fmt: skip
        se[mean] = t[sd] / np.sqrt(n)
        se[sd] = t[sd] / np.sqrt(n)  # generous: √2 times the normal-theory value
    se["baseline_eot_r"] = (1 - t["baseline_eot_r"] ** 2) / np.sqrt(n)
    sd_av = (t["baseline_sd"] + t["eot_sd"]) / 2
    for d in ("d_av", "g_av"):
        se[d] = np.sqrt(((t["sd_change"] / sd_av) ** 2 + t[d] ** 2 / 2) / n)
    se["d_z"] = np.sqrt((1 + t["d_z"] ** 2 / 2) / n)
    share = t["n_patients"] / n_total
    se["patient_share"] = np.sqrt(share * (1 - share) / n_total)
    return se


def test_committed_truth_matches_a_fresh_simulation_within_sampling_error():
    meta, committed = load_truth()
    n_fresh = 100_000
    fresh = population_truth(DEFAULT_PARAMS, n_patients=n_fresh, seed=TRUTH_SEED + 1)
    key = ["protocol", "instrument"]
    committed = committed.set_index(key).sort_index()
    fresh = fresh.set_index(key).sort_index()
    assert list(fresh.index) == list(committed.index)
    assert list(fresh.columns) == list(committed.columns)
    assert (fresh["reliable_change_threshold"] == committed["reliable_change_threshold"]).all()
    committed["patient_share"] = committed["n_patients"] / meta["n_patients"]
    fresh["patient_share"] = fresh["n_patients"] / n_fresh
    se = np.sqrt(_standard_errors(committed, meta["n_patients"]) ** 2
                 + _standard_errors(fresh, n_fresh) ** 2)  # fmt: skip
    counts = [c for c in committed.columns if c.startswith("n_")]
    checked = [c for c in committed.columns if c not in counts and c != "reliable_change_threshold"]
    assert set(checked) == set(se.columns), "every truth quantity needs a standard error here"
    gap = (fresh[checked] - committed[checked]).abs()
    both_missing = fresh[checked].isna() & committed[checked].isna()
    too_far = (gap > 5 * se[checked] + 1e-9) | (gap.isna() & ~both_missing)
    assert not too_far.any().any(), gap[too_far].stack().to_dict()


def test_docs_show_the_committed_truth_table():
    doc = (ROOT / "docs" / "demo_cohort.md").read_text(encoding="utf-8")
    assert truth_markdown(load_truth(TRUTH_FILE)[1]) in doc
