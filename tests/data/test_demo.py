"""The synthetic demo cohort (data/demo/cohort.py): SPEC section 2 shape, section 3 ranges and items,
determinism, the two protocols' schedules, attrition and follow-up shares against DemoParams."""

import dataclasses
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.demo.cohort import (
    DEFAULT_PARAMS,
    DemoParams,
    demo_patients,
    generate_demo,
    write_demo_csv,
)
from data.demo.model import split_totals
from data.errors import ReliefCheckError
from data.instruments import default_registry
from data.schema import conform

N = 6000
SEED = 11
REG = default_registry()
ROOT = Path(__file__).resolve().parents[2]


def binomial_tolerance(p: float, n: int, z: float = 4.5) -> float:
    """z standard errors of a proportion p estimated from n patients."""
    return z * math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return generate_demo(N, seed=SEED)


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    return demo_patients(N, seed=SEED).set_index("patient_id")


@pytest.fixture(scope="module")
def last_treatment(cohort) -> pd.DataFrame:
    """Per patient: last session and its day (EOT across instruments)."""
    treat = cohort[cohort["session"] >= 1]
    return treat.groupby("patient_id")[["session", "day"]].max()


def test_columns_dtypes_and_values_follow_spec_section_2(cohort):
    expected = ["patient_id", "protocol", "instrument", "session", "day", "phase", "score",
                "site", "clinician", "route", "treatment_resistant"] + [
        f"item_{k}" for k in range(1, 10)]  # fmt: skip
    assert list(cohort.columns) == expected
    pd.testing.assert_frame_equal(conform(cohort), cohort)
    assert cohort["patient_id"].str.fullmatch(r"D\d{4}").all()
    assert set(cohort["protocol"]) == {"intensive", "weekly"}
    assert set(cohort["instrument"]) == {"PHQ-9", "GAD-7", "PCL-5"}
    assert set(cohort["route"]) == {"IV", "IM", "sublingual", "intranasal"}
    assert cohort["site"].nunique() == 3
    assert set(cohort["phase"]) == {"baseline", "treatment", "follow-up"}
    phase = np.where(cohort["session"].isna(), "follow-up",
                     np.where(cohort["session"].fillna(0) == 0, "baseline", "treatment"))  # fmt: skip
    assert (cohort["phase"].to_numpy() == phase).all()
    assert cohort[["patient_id", "protocol", "instrument", "day", "score"]].notna().all().all()
    one_value = cohort.groupby("patient_id")[["protocol", "site", "route", "treatment_resistant"]]
    assert (one_value.nunique() == 1).all().all()
    wide_ids = generate_demo(10_000, seed=1)["patient_id"]
    assert wide_ids.str.fullmatch(r"D\d{5}").all() and wide_ids.iloc[0] == "D00001"


@pytest.mark.parametrize("key", ["PHQ-9", "GAD-7", "PCL-5"])
def test_scores_are_whole_numbers_in_registry_range(cohort, key):
    ins = REG.get(key)
    score = cohort.loc[cohort["instrument"] == key, "score"].to_numpy()
    assert len(score) > 0
    assert np.all(score == np.round(score))
    assert score.min() >= ins.min and score.max() <= ins.max


def test_phq9_items_in_item_range_and_add_up_to_the_total(cohort):
    phq9 = REG.get("PHQ-9")
    items = cohort[phq9.item_columns()]
    is_phq = (cohort["instrument"] == "PHQ-9").to_numpy(bool)
    block = items[is_phq].to_numpy(dtype=float)
    assert not np.isnan(block).any()
    assert block.min() >= phq9.item_min and block.max() <= phq9.item_max
    assert (block.sum(axis=1) == cohort.loc[is_phq, "score"].to_numpy()).all()
    assert items[~is_phq].isna().all().all()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_split_totals_hits_every_reachable_total(data):
    k = data.draw(st.integers(1, 10))
    item_max = data.draw(st.integers(1, 4))
    totals = np.array(data.draw(st.lists(st.integers(0, k * item_max), min_size=1, max_size=30)))
    weights = np.array(data.draw(st.lists(st.floats(0.1, 5.0), min_size=k, max_size=k)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    items = split_totals(totals, np.tile(weights, (len(totals), 1)), item_max, rng)
    assert items.shape == (len(totals), k)
    assert items.min() >= 0 and items.max() <= item_max
    assert (items.sum(axis=1) == totals).all()


def test_same_seed_same_cohort_other_seed_other_cohort():
    a = generate_demo(800, seed=123)
    pd.testing.assert_frame_equal(a, generate_demo(800, seed=123))
    pd.testing.assert_frame_equal(demo_patients(800, seed=123), demo_patients(800, seed=123))
    b = generate_demo(800, seed=124)
    assert not (len(a) == len(b) and a["score"].equals(b["score"]))
    assert len(generate_demo()["patient_id"].unique()) == 300


def test_everyone_has_phq9_and_gad7_and_the_trauma_subgroup_pcl5(cohort, patients):
    per_patient = cohort.groupby("patient_id")["instrument"].agg(set)
    assert per_patient.map(lambda s: {"PHQ-9", "GAD-7"} <= s).all()
    has_pcl = per_patient.map(lambda s: "PCL-5" in s)
    assert (has_pcl == patients.loc[has_pcl.index, "trauma"]).all()
    share = has_pcl.mean()
    p = DEFAULT_PARAMS.trauma_share
    assert abs(share - p) < binomial_tolerance(p, N)


def test_intensive_six_sessions_within_two_weeks_of_baseline(cohort, patients):
    p = DEFAULT_PARAMS
    intensive = cohort[cohort["protocol"] == "intensive"]
    treat = intensive[intensive["session"] >= 1]
    assert set(treat["session"].unique()) == set(range(1, 7))
    # latest possible: last first-dose day + last dosing day + assessment lag = 3 + 11 + 1
    latest = p.first_dose_days_intensive[1] + p.intensive_dose_days_mwf[-1] + p.assessment_lag_days
    assert latest == 15 and treat["day"].max() == 15
    first = treat[treat["session"] == 1]["day"]
    assert first.min() == 1 + 0 + 1 and first.max() == 3 + 0 + 1
    completers = patients.index[(patients["protocol"] == "intensive") & ~patients["dropout"]]
    last = treat.groupby("patient_id")["session"].max()
    assert (last.reindex(completers) == 6).all()


def test_weekly_six_to_eight_sessions_a_week_apart(cohort, patients):
    weekly = cohort[(cohort["protocol"] == "weekly") & (cohort["session"] >= 1)]
    visits = weekly.drop_duplicates(["patient_id", "session"]).sort_values(["patient_id", "day"])
    gap = visits.groupby("patient_id")["day"].diff()
    step = visits.groupby("patient_id")["session"].diff()
    one_step = gap[step == 1]
    assert one_step.min() >= 7 - 2 * 1 and one_step.max() <= 7 + 2 * 1  # ±1-day jitter each
    assert abs(one_step.mean() - 7) < 0.1
    completers = patients.index[(patients["protocol"] == "weekly") & ~patients["dropout"]]
    last = visits.groupby("patient_id")["session"].max().reindex(completers)
    assert set(last.unique()) == {6, 7, 8}
    shares = last.value_counts(normalize=True).sort_index().to_numpy()
    tol = [binomial_tolerance(s, len(last)) for s in DEFAULT_PARAMS.weekly_session_shares]
    assert np.all(np.abs(shares - np.array(DEFAULT_PARAMS.weekly_session_shares)) < tol)


def test_days_increase_with_session_within_each_patient(cohort):
    visits = cohort[cohort["session"].notna()].drop_duplicates(["patient_id", "session"])
    visits = visits.sort_values(["patient_id", "session"])
    assert (visits.groupby("patient_id")["day"].diff().dropna() > 0).all()
    assert (cohort.loc[cohort["session"] == 0, "day"] == 0).all()


def test_dropout_share_is_the_class_weighted_mix(patients, last_treatment):
    # 0.35·0.08 + 0.30·0.14 + 0.27·0.28 + 0.08·0.40 = 0.1776
    expected = 0.35 * 0.08 + 0.30 * 0.14 + 0.27 * 0.28 + 0.08 * 0.40
    assert DEFAULT_PARAMS.overall_dropout_share == pytest.approx(expected)
    assert abs(patients["dropout"].mean() - expected) < binomial_tolerance(expected, N)
    # seen in the data: intensive patients (six planned sessions) with no session-6 assessment
    intensive = patients.index[patients["protocol"] == "intensive"]
    short = last_treatment["session"].reindex(intensive).fillna(0) < 6
    assert abs(short.mean() - expected) < binomial_tolerance(expected, len(intensive))
    only_baseline = (last_treatment["session"].reindex(patients.index).isna()).mean()
    expected_only = expected * DEFAULT_PARAMS.dropout_baseline_only_share
    assert abs(only_baseline - expected_only) < binomial_tolerance(expected_only, N)


def test_followups_near_30_90_180_days_after_eot_in_spec_windows(cohort, patients, last_treatment):
    fu = cohort[cohort["phase"] == "follow-up"].drop_duplicates(["patient_id", "day"])
    offset = fu["day"].to_numpy() - last_treatment["day"].reindex(fu["patient_id"]).to_numpy()
    completers = patients.index[~patients["dropout"]]
    assert set(fu["patient_id"]) <= set(completers)
    windows = [(30, 15), (90, 30), (180, 45)]  # SPEC section 4
    hit = np.zeros(len(offset), bool)
    for (centre, half), share in zip(windows, DEFAULT_PARAMS.followup_shares, strict=True):
        inside = np.abs(offset - centre) <= half
        hit |= inside
        n_with = fu.loc[inside, "patient_id"].nunique()
        assert abs(n_with / len(completers) - share) < binomial_tolerance(share, len(completers))
    assert hit.all()


def test_relapse_after_eot_among_responders(cohort):
    phq = cohort[cohort["instrument"] == "PHQ-9"]
    base = phq[phq["session"] == 0].set_index("patient_id")["score"]
    eot = phq[phq["session"] >= 1].groupby("patient_id")["score"].last()
    fu180 = phq[phq["phase"] == "follow-up"].groupby("patient_id")["score"].last()
    both = pd.concat({"b": base, "e": eot, "f": fu180}, axis=1).dropna()
    responders = both[(both["b"] - both["e"]) / both["b"] >= 0.5]
    lost = (responders["f"] - responders["e"]) >= 6  # a reliable rise back after treatment
    assert 0.05 < lost.mean() < 0.5


def test_a_handful_of_patients_lack_a_baseline(cohort, patients):
    ids = set(cohort.loc[cohort["session"] == 0, "patient_id"])
    missing = patients.index[~patients.index.isin(ids)]
    assert (patients.loc[missing, "missing_baseline"]).all()
    p = DEFAULT_PARAMS.missing_baseline_share
    assert 0 < len(missing) / N < p + binomial_tolerance(p, N)
    assert set(missing) <= set(cohort.loc[cohort["session"] >= 1, "patient_id"])


@pytest.mark.parametrize(
    ("key", "mean", "sd"), [("PHQ-9", 17, 5), ("GAD-7", 14, 4), ("PCL-5", 45, 12)]
)
def test_baseline_severity_like_published_kap_cohorts(cohort, key, mean, sd):
    base = cohort[(cohort["session"] == 0) & (cohort["instrument"] == key)]["score"]
    assert abs(base.mean() - mean) < 0.05 * mean
    assert abs(base.std() - sd) < 0.1 * sd


def test_baseline_scores_are_correlated_across_instruments(cohort):
    base = cohort[cohort["session"] == 0].pivot(
        index="patient_id", columns="instrument", values="score"
    )
    corr = base.corr()
    assert corr.loc["PHQ-9", "GAD-7"] > 0.45 and corr.loc["PHQ-9", "PCL-5"] > 0.35


def test_item9_about_a_third_at_baseline_mostly_falling_few_new_onsets(cohort):
    phq = cohort[cohort["instrument"] == "PHQ-9"]
    b9 = phq[phq["session"] == 0].set_index("patient_id")["item_9"].astype(float)
    assert 0.30 <= (b9 >= 1).mean() <= 0.40
    eot9 = phq[phq["session"] >= 1].groupby("patient_id")["item_9"].last().astype(float)
    pair = pd.concat({"b": b9, "e": eot9}, axis=1).dropna()
    had = pair[pair["b"] >= 1]
    assert (had["e"] < had["b"]).mean() > 0.4 > (had["e"] > had["b"]).mean()
    never = pair[pair["b"] == 0].index
    treat_max = phq[phq["session"] >= 1].groupby("patient_id")["item_9"].max().reindex(never)
    assert 0 < (treat_max >= 1).mean() < 0.12


def test_fast_responders_improve_mostly_by_session_2_delayed_later(cohort, patients):
    phq = cohort[cohort["instrument"] == "PHQ-9"].copy()
    phq["responder"] = patients["responder"].reindex(phq["patient_id"]).to_numpy()
    mean = phq.groupby(["responder", "session"])["score"].mean().unstack()
    fall = mean[0].to_numpy()[:, None] - mean
    assert fall.loc["fast", 2] > 0.75 * fall.loc["fast", 6]
    assert fall.loc["delayed", 2] < 0.25 * fall.loc["delayed", 6]
    assert fall.loc["non-responder", 6] < 2 and fall.loc["worsening", 6] < -2


def test_intensive_reaches_similar_eot_change_in_fewer_days(cohort):
    phq = cohort[cohort["instrument"] == "PHQ-9"]
    base = phq[phq["session"] == 0].set_index("patient_id")
    eot = phq[phq["session"] >= 1].groupby("patient_id")[["score", "day"]].last()
    joined = base[["protocol", "score"]].join(eot, rsuffix="_eot", how="inner")
    joined["change"] = joined["score"] - joined["score_eot"]
    by = joined.groupby("protocol")[["change", "day"]].mean()
    assert abs(by.loc["intensive", "change"] - by.loc["weekly", "change"]) < 1.0
    assert by.loc["intensive", "day"] < 0.4 * by.loc["weekly", "day"]


def test_gad7_initial_anxiety_shows_as_reliable_rise_at_session_1(cohort, patients):
    gad = cohort[cohort["instrument"] == "GAD-7"]
    b = gad[gad["session"] == 0].set_index("patient_id")["score"]
    s1 = gad[gad["session"] == 1].set_index("patient_id")["score"]
    rise = (s1 - b).dropna() >= REG.get("GAD-7").reliable_change_threshold()
    flagged = patients["initial_anxiety"].reindex(rise.index)
    assert rise[flagged].mean() > 0.4 > 0.1 > rise[~flagged].mean()


def test_bad_arguments_raise_domain_errors():
    with pytest.raises(ReliefCheckError, match="at least one patient"):
        generate_demo(0)
    with pytest.raises(ReliefCheckError, match="whole number"):
        generate_demo("12")
    with pytest.raises(ReliefCheckError, match="class_shares"):
        DemoParams(class_shares=(0.5, 0.5, 0.5, 0.5))
    with pytest.raises(ReliefCheckError, match="measurement_sd"):
        DemoParams(measurement_sd=(6.0, 1.0, 1.0))
    with pytest.raises(ReliefCheckError, match="baseline_correlation"):
        DemoParams(baseline_correlation=(0.9, -0.9, 0.9))


def test_other_params_change_the_cohort_as_asked():
    p = dataclasses.replace(DEFAULT_PARAMS, intensive_share=1.0, trauma_share=0.0)
    f = generate_demo(300, seed=2, params=p)
    assert set(f["protocol"]) == {"intensive"} and "PCL-5" not in set(f["instrument"])


def test_write_demo_csv_round_trips_through_pandas(tmp_path):
    frame = generate_demo(200, seed=5)
    path = write_demo_csv(frame, tmp_path / "demo.csv")
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(frame.columns)
    assert not re.search(r"\d\.0(,|$)", text, flags=re.M)  # whole numbers without '.0'
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(conform(back), frame)


def test_docs_describe_every_parameter():
    doc = (ROOT / "docs" / "demo_cohort.md").read_text(encoding="utf-8")
    missing = [f.name for f in dataclasses.fields(DemoParams) if f"`{f.name}`" not in doc]
    assert not missing


@pytest.mark.parametrize("n", [1_000, 10_000, pytest.param(100_000, marks=pytest.mark.slow)])
def test_generation_time_is_measured(n, record_property):
    start = time.perf_counter()
    frame = generate_demo(n, seed=3)
    seconds = time.perf_counter() - start
    record_property(f"seconds_{n}", seconds)
    print(f"generate_demo({n}): {len(frame):,} assessments in {seconds:.2f} s")
    assert frame["patient_id"].nunique() <= n
