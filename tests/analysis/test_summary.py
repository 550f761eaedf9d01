"""The SPEC section 7 JSON contract of ``summary_json`` on the demo cohort.

Every figure is recounted independently: counts with pandas on the tidy table or on the
per-patient outcomes, Wilson intervals with statsmodels, Welch's test with scipy, the log-rank
test with lifelines, Kaplan–Meier medians and effect sizes with the SPEC section 5 formulas
written out below.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis.bootstrap import DEFAULT_SEED
from analysis.effects import paired_effects
from analysis.figures import compute_figures
from analysis.summary import SCHEMA, summary_json, summary_long
from data.demo.cohort import generate_demo
from data.instruments import default_registry

REG = default_registry()
N_BOOT = 200
FLAGS = (
    "reliable_improvement",
    "reliable_deterioration",
    "response",
    "remission",
    "recovery",
    "reliable_recovery",
)
NUMBER_KEYS = (
    "baseline_mean",
    "baseline_sd",
    "eot_mean",
    "eot_sd",
    "mean_change",
    "d_z",
    "d_av",
    "g_av",
    "d_rm",
    "median_sessions_to_reliable_improvement",
    "median_days_to_reliable_improvement",
)
FOUR_TERMS = {"intercept", "session", "protocol_intensive", "session_x_protocol_intensive"}


@pytest.fixture(scope="module")
def demo():
    tidy = generate_demo()
    fig = compute_figures(tidy, REG, n_boot=N_BOOT)
    return tidy, fig, summary_json(fig)


def is_num(x) -> bool:
    return x is None or (type(x) in (int, float) and math.isfinite(x))


def is_int(x) -> bool:
    return type(x) is int


def is_pair(x) -> bool:
    return isinstance(x, list) and len(x) == 2 and all(is_num(v) for v in x)


def wilson_pct(k: int, n: int) -> list[float]:
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return [100.0 * lo, 100.0 * hi]


def test_top_level_shape_and_strict_json(demo):
    _, _, s = demo
    assert s["schema"] == SCHEMA == "reliefcheck.summary/1"
    for key in ("groups", "comparisons", "models", "claims"):
        assert isinstance(s[key], list) and s[key], key
    text = json.dumps(s, allow_nan=False)  # no NaN, no numpy scalars
    assert json.loads(text) == s


def test_group_keys_and_types(demo):
    _, _, s = demo
    # demo: PHQ-9, GAD-7 and PCL-5 in both protocols
    assert {(g["instrument"], g["protocol"]) for g in s["groups"]} == {
        (i, p) for i in ("PHQ-9", "GAD-7", "PCL-5") for p in ("intensive", "weekly")
    }
    for g in s["groups"]:
        assert isinstance(g["instrument"], str) and isinstance(g["protocol"], str)
        assert is_int(g["n_patients"]) and is_int(g["n_paired"])
        for key in NUMBER_KEYS:
            assert is_num(g[key]), key
        assert is_pair(g["d_z_ci"]) and is_pair(g["g_av_ci"])
        for flag in FLAGS:
            for key in (flag, f"{flag}_all_starters"):
                rate = g[key]
                assert set(rate) >= {"n", "of", "pct", "ci"}, key
                assert is_int(rate["n"]) and is_int(rate["of"]) and 0 <= rate["n"] <= rate["of"]
                assert is_num(rate["pct"]) and is_pair(rate["ci"])


def test_percentages_are_0_to_100(demo):
    _, _, s = demo
    for g in s["groups"]:
        for flag in FLAGS:
            for key in (flag, f"{flag}_all_starters"):
                r = g[key]
                if r["of"]:
                    lo, hi = r["ci"]
                    assert 0.0 <= lo <= r["pct"] <= hi <= 100.0, (g["instrument"], key)
    for c in s["claims"]:
        if c["estimate"] is not None and c["id"] != "intensive-faster":  # that one is points
            assert 0.0 <= c["ci"][0] <= c["estimate"] <= c["ci"][1] <= 100.0, c["id"]


def test_n_patients_and_n_paired_against_direct_counts(demo):
    tidy, _, s = demo
    t = tidy.assign(
        protocol=tidy["protocol"].astype(str), instrument=tidy["instrument"].astype(str)
    )
    n_patients = t.groupby(["instrument", "protocol"])["patient_id"].nunique()
    scored = t[t["score"].notna()]
    base = scored[scored["session"] == 0][["instrument", "protocol", "patient_id"]]
    treat = scored[scored["session"] >= 1][["instrument", "protocol", "patient_id"]]
    paired = base.drop_duplicates().merge(treat.drop_duplicates())
    n_paired = paired.groupby(["instrument", "protocol"])["patient_id"].nunique()
    for g in s["groups"]:
        key = (g["instrument"], g["protocol"])
        assert g["n_patients"] == n_patients[key], key
        assert g["n_paired"] == n_paired[key], key
    # the demo has patients without a baseline, so the two counts differ somewhere
    assert any(g["n_patients"] > g["n_paired"] for g in s["groups"])


def _eligible_without_eot(o: pd.DataFrame, flag: str) -> pd.Series:
    """SPEC section 5 "everyone who started": who could have met the rule from baseline alone."""
    has_thr = o["rc_threshold"].notna()
    case = o["baseline_case"].fillna(False).astype(bool)
    return {
        "reliable_improvement": has_thr,
        "reliable_deterioration": has_thr,
        "response": o["baseline"] > 0,
        "remission": o["baseline_remitted"].notna(),
        "recovery": case,
        "reliable_recovery": case & has_thr,
    }[flag]


def test_every_rate_object_against_a_recount_of_patient_outcomes(demo):
    _, fig, s = demo
    out = fig.outcomes
    for g in s["groups"]:
        grp = out[(out["instrument"] == g["instrument"]) & (out["protocol"] == g["protocol"])]
        done = grp[grp["paired"]]
        dropouts = grp[grp["has_baseline"] & ~grp["paired"]]
        for flag in FLAGS:
            k = int((done[flag] == True).sum())  # noqa: E712 (nullable booleans)
            n = int(done[flag].notna().sum())
            n_all = n + int(_eligible_without_eot(dropouts, flag).sum())
            for key, of in ((flag, n), (f"{flag}_all_starters", n_all)):
                r = g[key]
                assert (r["n"], r["of"]) == (k, of), (g["instrument"], g["protocol"], key)
                if of:
                    assert r["pct"] == pytest.approx(100.0 * k / of)
                    assert r["ci"] == pytest.approx(wilson_pct(k, of), abs=1e-9)
                else:
                    assert r["pct"] is None and r["ci"] == [None, None]


def test_effect_sizes_against_paired_effects_and_the_spec_formulas(demo):
    _, fig, s = demo
    out = fig.outcomes
    for g in s["groups"]:
        grp = out[(out["instrument"] == g["instrument"]) & (out["protocol"] == g["protocol"])]
        p = grp[grp["paired"]]
        ref = paired_effects(p["baseline"], p["eot"], n_boot=N_BOOT, seed=DEFAULT_SEED)
        assert g["g_av"] == pytest.approx(ref.g_av)
        assert g["g_av_ci"] == pytest.approx(list(ref.g_av_ci))
        assert g["d_z_ci"] == pytest.approx(list(ref.d_z_ci))
        assert g["d_rm"] == pytest.approx(ref.d_rm)
        # SPEC section 5 by hand (higher is worse on all three: change = baseline − EOT)
        b, e = p["baseline"].to_numpy(float), p["eot"].to_numpy(float)
        n, change = len(b), b - e
        sd_b, sd_e = b.std(ddof=1), e.std(ddof=1)
        d_av = change.mean() / ((sd_b + sd_e) / 2)
        expected = {
            "baseline_mean": b.mean(),
            "baseline_sd": sd_b,
            "eot_mean": e.mean(),
            "eot_sd": sd_e,
            "mean_change": change.mean(),
            "d_z": change.mean() / change.std(ddof=1),
            "d_av": d_av,
            "g_av": d_av * (1 - 3 / (4 * (n - 1) - 1)),
            "d_rm": change.mean()
            / change.std(ddof=1)
            * math.sqrt(2 * (1 - np.corrcoef(b, e)[0, 1])),
        }
        for key, value in expected.items():
            assert g[key] == pytest.approx(value), (g["instrument"], g["protocol"], key)


def km_median(time: pd.Series, event: pd.Series) -> float | None:
    """Product-limit estimate by hand; the median as R's print.survfit reads it: the smallest
    time with S(t) ≤ 0.5 (SPEC section 5), except that where S(t) sits exactly at 0.5 it is
    halfway between that time and the next drop. "Exactly" uses R's tolerance, √(machine ε):
    the demo's GAD-7 weekly curve is 0.4999999877 on day 27, so its median is 27.5."""
    df = pd.DataFrame({"t": time.to_numpy(float), "e": event.astype(int).to_numpy()})
    per = df.groupby("t").agg(d=("e", "sum"), c=("e", "size"))
    at_risk = len(df) - per["c"].cumsum().shift(fill_value=0)
    surv = (1 - per["d"] / at_risk).cumprod()
    tol = math.sqrt(np.finfo(float).eps)
    hit = surv[surv < 0.5 + tol]
    if hit.empty:
        return None
    first = float(hit.index[0])
    if abs(hit.iloc[0] - 0.5) < tol:
        drops = hit[hit < hit.iloc[0]]
        if len(drops):
            return (first + float(drops.index[0])) / 2
    return first


def test_median_times_against_a_hand_kaplan_meier(demo):
    _, fig, s = demo
    out = fig.outcomes
    for g in s["groups"]:
        grp = out[(out["instrument"] == g["instrument"]) & (out["protocol"] == g["protocol"])]
        for scale in ("sessions", "days"):
            t = grp[grp["tti_event"].notna() & grp[f"tti_{scale}"].notna()]
            expected = km_median(t[f"tti_{scale}"], t["tti_event"])
            assert g[f"median_{scale}_to_reliable_improvement"] == expected, (g, scale)


def test_comparisons_against_scipy_and_lifelines(demo):
    _, fig, s = demo
    out = fig.outcomes
    assert {c["instrument"] for c in s["comparisons"]} == {"PHQ-9", "GAD-7", "PCL-5"}
    for c in s["comparisons"]:
        assert (c["a"], c["b"]) == ("intensive", "weekly")
        for key in ("g_change", "welch_p", "logrank_chi2", "logrank_p"):
            assert is_num(c[key]) and c[key] is not None, key
        assert is_pair(c["g_change_ci"])
        paired = out[(out["instrument"] == c["instrument"]) & out["paired"]]
        a = paired[paired["protocol"] == "intensive"]
        b = paired[paired["protocol"] == "weekly"]
        ca, cb = a["change"].to_numpy(float), b["change"].to_numpy(float)
        assert c["welch_p"] == pytest.approx(stats.ttest_ind(ca, cb, equal_var=False).pvalue)
        df = len(ca) + len(cb) - 2
        pooled = math.sqrt(((len(ca) - 1) * ca.var(ddof=1) + (len(cb) - 1) * cb.var(ddof=1)) / df)
        g = (ca.mean() - cb.mean()) / pooled * (1 - 3 / (4 * df - 1))
        assert c["g_change"] == pytest.approx(g)
        assert c["g_change_ci"][0] < c["g_change"] < c["g_change_ci"][1]
        ta = a[a["tti_days"].notna() & a["tti_event"].notna()]
        tb = b[b["tti_days"].notna() & b["tti_event"].notna()]
        lr = logrank_test(
            ta["tti_days"], tb["tti_days"], ta["tti_event"].astype(int), tb["tti_event"].astype(int)
        )
        assert c["logrank_chi2"] == pytest.approx(lr.test_statistic)
        assert c["logrank_p"] == pytest.approx(lr.p_value)


def test_models_keys_and_types(demo):
    _, _, s = demo
    assert [m["instrument"] for m in s["models"]] == ["GAD-7", "PCL-5", "PHQ-9"]
    for m in s["models"]:
        assert isinstance(m["converged"], bool) and isinstance(m["singular"], bool)
        assert set(m["fixed_effects"]) == FOUR_TERMS
        for fe in m["fixed_effects"].values():
            assert is_num(fe["estimate"]) and is_num(fe["se"]) and fe["se"] > 0


def test_claims_keys_and_types(demo):
    _, fig, s = demo
    assert len(s["claims"]) == len(fig.claims)
    for c in s["claims"]:
        assert isinstance(c["id"], str) and isinstance(c["verdict"], str)
        assert c["instrument"] is None or isinstance(c["instrument"], str)
        assert is_int(c["n"]) and is_num(c["estimate"]) and is_pair(c["ci"])
        assert isinstance(c["caveats"], list) and all(isinstance(x, str) for x in c["caveats"])


def test_single_protocol_has_two_model_terms_and_no_comparisons(demo):
    tidy, _, _ = demo
    weekly = tidy[tidy["protocol"] == "weekly"].reset_index(drop=True)
    s = summary_json(compute_figures(weekly, REG, n_boot=0))
    json.dumps(s, allow_nan=False)
    assert s["comparisons"] == []
    assert {g["protocol"] for g in s["groups"]} == {"weekly"}
    assert s["models"] and all(set(m["fixed_effects"]) == {"intercept", "session"} for m in s["models"])  # fmt: skip
    faster = [c for c in s["claims"] if c["id"] == "intensive-faster"]
    assert faster and all(c["verdict"] == "not testable" for c in faster)


def test_long_csv_form_carries_every_rate_with_its_counts(demo):
    _, _, s = demo
    long = summary_long(s)
    assert list(long.columns) == [
        "section", "instrument", "protocol", "figure", "value", "n", "of", "ci_lo", "ci_hi",
    ]  # fmt: skip
    g = s["groups"][0]
    row = long[
        (long["instrument"] == g["instrument"])
        & (long["protocol"] == g["protocol"])
        & (long["figure"] == "response_all_starters_pct")
    ].iloc[0]
    r = g["response_all_starters"]
    assert (row["value"], row["n"], row["of"]) == (r["pct"], r["n"], r["of"])
    assert [row["ci_lo"], row["ci_hi"]] == r["ci"]
    # count rows carry their own n, so small counts are suppressed in the CSV export
    counts = long[long["figure"] == "n_patients"]
    assert (counts["value"] == counts["n"]).all()


def test_completer_keys_agree_with_patient_outcomes(demo):
    """SPEC 6.1: completers beside paired (last observation), recounted from the outcomes."""
    _, fig, s = demo
    out = fig.outcomes
    for g in s["groups"]:
        key = (g["instrument"], g["protocol"])
        grp = out[(out["instrument"] == key[0]) & (out["protocol"] == key[1])]
        done = grp[grp["completer"].fillna(False).astype(bool)]
        assert g["population"].startswith("last observation (LOCF)")
        assert g["population_completers"].startswith("completers")
        assert is_int(g["n_completers"]) and g["n_completers"] == len(done), key
        assert g["n_left_early"] == int(grp["left_early"].fillna(False).sum()), key
        assert g["n_completers"] + g["n_left_early"] == g["n_with_baseline"], key
        assert g["n_completers"] <= g["n_paired"], key  # every completer is paired
        assert g["planned_last_session"] == 6 and is_int(g["planned_last_session"]), key
        assert g["mean_change_completers"] == pytest.approx(done["change"].mean()), key
        for flag in FLAGS:
            r = g[f"{flag}_completers"]
            k = int((done[flag] == True).sum())  # noqa: E712 (nullable booleans)
            n = int(done[flag].notna().sum())
            assert (r["n"], r["of"]) == (k, n), (key, flag)
            if n:
                assert r["pct"] == pytest.approx(100.0 * k / n)
                assert r["ci"] == pytest.approx(wilson_pct(k, n), abs=1e-9)
            else:
                assert r["pct"] is None and r["ci"] == [None, None]
    # The demo's early leavers are paired but change little, so completers improve more.
    phq = [g for g in s["groups"] if g["instrument"] == "PHQ-9"]
    assert all(g["mean_change_completers"] > g["mean_change"] for g in phq)
    # The completer rates are in the long CSV form too.
    long = summary_long(s)
    assert (long["figure"] == "response_completers_pct").sum() == len(s["groups"])


def test_planned_sessions_from_the_claims_config_reach_the_summary():
    from analysis.claims.config import ClaimsConfig
    from analysis.figures import fast_figures

    tidy = generate_demo()
    cfg = ClaimsConfig(planned_sessions=(("weekly", 8),))
    assert hash(cfg) == hash(ClaimsConfig(planned_sessions=(("weekly", 8),)))
    s = summary_json(fast_figures(tidy, REG, cfg))
    planned = {g["protocol"]: g["planned_last_session"] for g in s["groups"]}
    assert planned == {"intensive": 6, "weekly": 8}
    assert s["claims_config"]["planned_sessions"] == [["weekly", 8]]
    json.dumps(s, allow_nan=False)
