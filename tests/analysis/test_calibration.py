"""Calibration (analysis/calibration.py): on simulated practices whose truth is known, the rate at
which each verdict says "supported" matches what the truth implies, the practice's structure is
kept, the truths are set where they are said to be, and bad input is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis.assessments import Assessments
from analysis.calibration import CLAIMS, COLUMNS, SCHEMA, calibrate
from analysis.calibration_runs import stacked_outcomes
from analysis.calibration_sim import Truth, build_structure, simulate_scores
from analysis.calibration_truth import bvn_cdf, poisson_binomial
from analysis.claims.config import ClaimsConfig
from analysis.outcomes import patient_outcomes, planned_last_sessions
from data.demo.cohort import generate_demo
from data.errors import AnalysisError
from data.instruments import default_registry, load_registry
from data.schema import conform

REG = default_registry()
CFG = ClaimsConfig()
WEEKLY_DAYS = np.arange(1, 7) * 7.0


def uniform_practice(n: int = 40, baseline: float = 18.0) -> pd.DataFrame:
    """n weekly PHQ-9 patients, all with the same baseline, six weekly sessions, nobody leaving,
    item 9 of 1 at every assessment: every patient has the same chance of meeting each rule, so
    a share's count is binomial."""
    visits = np.r_[0.0, WEEKLY_DAYS]
    k = len(visits)
    session = np.arange(7.0)
    score = baseline - np.array([0, 2, 4, 6, 7, 8, 9])
    frame = pd.DataFrame(
        {
            "patient_id": np.repeat([f"P{i:03d}" for i in range(n)], k),
            "protocol": "weekly",
            "instrument": "PHQ-9",
            "session": pd.array(np.tile(session, n), dtype="Int64"),
            "day": np.tile(visits, n),
            "phase": np.tile(np.where(session == 0, "baseline", "treatment"), n),
            "score": np.tile(score, n),
            "item_9": pd.array(np.ones(n * k, dtype=int), dtype="Int64"),
        }
    )
    return conform(frame)


def exact_binomial_rate(n: int, p: float, p0: float, level: float = 0.95) -> float:
    """P(the Wilson lower bound of k/n reaches p0) for k ~ Binomial(n, p), from scipy and
    statsmodels (independent of ReliefCheck's code)."""
    k = np.arange(n + 1)
    lo, _ = proportion_confint(k, n, alpha=1 - level, method="wilson")
    return float(stats.binom.pmf(k, n, p)[lo >= p0 - 1e-12].sum())


def within(rate: float, truth: float, n_sim: int, alpha: float = 0.002) -> bool:
    """The simulated rate is within simulation error of the truth: an exact two-sided binomial
    test of the count at ``alpha`` (about three standard errors, and right near 0% and 100%,
    where a normal approximation is not)."""
    k = int(round(rate * n_sim))
    return stats.binomtest(k, n_sim, min(max(truth, 0.0), 1.0)).pvalue >= alpha


def _row(result, claim: str, scenario: str, instrument: str = "PHQ-9") -> pd.Series:
    r = result.rows
    hit = r[(r["claim"] == claim) & (r["scenario"] == scenario) & (r["instrument"] == instrument)]
    assert len(hit) == 1
    return hit.iloc[0]


# -- the rates match the truth ------------------------------------------------------------------
def _check_binomial(n_sim: int, seed: int) -> None:
    res = calibrate(
        uniform_practice(40), REG, n_sim=n_sim, seed=seed,
        claims=["large-improvement", "suicidal-ideation"],
    )  # fmt: skip
    for claim in ("large-improvement", "suicidal-ideation"):
        for scenario, p in (("false", 0.50), ("true", 0.65)):
            row = _row(res, claim, scenario)
            assert row["truth"] == pytest.approx(100 * p, abs=0.05)
            assert row["mean_n"] == 40
            truth = exact_binomial_rate(40, p, 0.50)
            assert row["expected_rate"] == pytest.approx(truth, abs=1e-9)
            assert within(row["supported_rate"], truth, n_sim), (claim, scenario, row, truth)


def test_share_rates_match_the_exact_binomial_rate_when_every_patient_has_the_same_chance():
    _check_binomial(150, seed=7)


@pytest.mark.slow
def test_share_rates_match_the_exact_binomial_rate_on_many_cohorts():
    _check_binomial(600, seed=8)


def test_power_is_well_above_the_false_rate_on_a_practice_of_demo_size():
    res = calibrate(generate_demo(n_patients=150), REG, n_sim=40, seed=3,
                    claims=["large-improvement"])  # fmt: skip
    for ins in ("PHQ-9", "GAD-7"):
        false, true = (
            _row(res, "large-improvement", "false", ins),
            _row(res, "large-improvement", "true", ins),
        )
        assert false["supported_rate"] <= 0.1
        assert true["supported_rate"] >= 0.5
        assert true["supported_rate"] >= false["supported_rate"] + 0.4


@pytest.mark.slow
def test_simulated_rates_match_the_exact_rates_on_the_demo_cohort():
    n_sim = 300
    res = calibrate(generate_demo(n_patients=300), REG, n_sim=n_sim, seed=11,
                    claims=["rapid-onset", "treatment-resistant"])  # fmt: skip
    rows = res.rows[res.rows["expected_rate"].notna()]
    assert len(rows) >= 12
    for _, row in rows.iterrows():
        assert within(row["supported_rate"], row["expected_rate"], n_sim), row.to_dict()
        if row["scenario"] == "false":
            assert row["expected_rate"] <= 0.025 + 0.005  # the Wilson rule's own level


@pytest.mark.slow
def test_intensive_faster_false_rate_is_at_most_five_percent_on_a_two_protocol_practice():
    from tests.analysis.simulate import simulate_practice

    n_sim = 80
    res = calibrate(simulate_practice(5, "schedule", n=200), REG, n_sim=n_sim, seed=5,
                    claims=["intensive-faster"])  # fmt: skip
    false, true = _row(res, "intensive-faster", "false"), _row(res, "intensive-faster", "true")
    assert false["supported_rate"] <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / n_sim)
    assert true["supported_rate"] >= 0.5


# -- the truths are set where they are said to be ------------------------------------------------
def _pooled(st, truth, n_sim, rng, flag, among):
    out = stacked_outcomes(st, simulate_scores(st, truth, n_sim, rng), REG)
    sel = out[among].fillna(False).to_numpy(dtype=bool) if among else np.ones(len(out), bool)
    values = out.loc[sel, flag].dropna().to_numpy(dtype=bool)
    return values.mean(), values.size


def _structure(tidy, key="PHQ-9"):
    whole = Assessments.build(tidy)
    planned = planned_last_sessions(patient_outcomes(whole, REG))
    return build_structure(tidy, whole, REG, key, planned)


def test_the_large_improvement_truth_is_the_share_the_outcome_rules_find():
    from analysis.calibration_scenarios import large_scenarios

    st = _structure(generate_demo(n_patients=150))
    for sc in large_scenarios(st, CFG, REG):
        results = sc.run(np.random.default_rng(1), 100, lambda _k: None)
        k = sum(r.details["k"] for r in results)
        n = sum(r.n for r in results)
        assert k / n == pytest.approx(sc.truth / 100, abs=3 * np.sqrt(0.25 / n)), sc.label


def test_the_lasting_truth_is_the_share_of_responders_still_responding():
    from analysis.calibration_scenarios import lasting_scenarios

    st = _structure(generate_demo(n_patients=300))
    for sc in lasting_scenarios(st, CFG, REG):
        results = sc.run(np.random.default_rng(2), 200, lambda _k: None)
        k = sum(r.details["k"] for r in results)
        n = sum(r.n for r in results)
        assert n > 1000
        assert k / n == pytest.approx(sc.truth / 100, abs=3 * np.sqrt(0.25 / n)), sc.label


# -- the practice's structure is kept ------------------------------------------------------------
def test_simulated_cohorts_keep_the_rows_days_protocols_and_baselines():
    tidy = generate_demo(n_patients=80)
    st = _structure(tidy)
    phq = tidy[tidy["instrument"] == "PHQ-9"].reset_index(drop=True)
    cols = [
        "patient_id",
        "protocol",
        "instrument",
        "session",
        "day",
        "phase",
        "treatment_resistant",
    ]
    pd.testing.assert_frame_equal(st.frame[cols], phq[cols])
    scores = simulate_scores(
        st, Truth(0.5, np.full(st.n_patients, 10.0)), 4, np.random.default_rng(0)
    )
    observed = phq["score"].to_numpy()
    assert scores.shape == (4, len(phq))
    kept = ~st.simulate
    assert np.array_equal(np.isnan(scores), np.broadcast_to(np.isnan(observed), scores.shape))
    assert np.allclose(scores[:, kept & ~np.isnan(observed)], observed[kept & ~np.isnan(observed)])
    is_base = (phq["session"] == 0).fillna(False).to_numpy(dtype=bool)
    assert not (st.simulate & is_base).any()  # baselines are the patients' own
    changed = scores[:, st.simulate]
    assert (changed != observed[st.simulate]).any()
    assert np.all((changed >= 0) & (changed <= 27) & (changed == np.round(changed)))


def test_cohorts_computed_together_equal_each_cohort_computed_alone():
    # a sample-based reliable-change threshold depends on each cohort's own protocol groups
    practice = (
        '[[instrument]]\nkey = "PHQ-9"\nmin = 0\nmax = 27\nitems = 9\nitem_min = 0\n'
        'item_max = 3\nrci_method = "jacobson-truax"\nreliability = 0.84\nrci_sd = "sample"\n'
        "safety_item = 9\n"
    )
    reg = load_registry(practice_text=practice)
    tidy = generate_demo(n_patients=60)
    whole = Assessments.build(tidy)
    st = build_structure(
        tidy, whole, reg, "PHQ-9", planned_last_sessions(patient_outcomes(whole, reg))
    )
    scores = simulate_scores(
        st, Truth(0.4, np.full(st.n_patients, 8.0)), 3, np.random.default_rng(4)
    )
    together = stacked_outcomes(st, scores, reg)
    n_p = st.n_patients
    for s in range(3):
        cohort = st.frame.assign(score=scores[s])
        alone = patient_outcomes(cohort, reg, planned_sessions=st.planned)
        part = together.iloc[s * n_p : (s + 1) * n_p].reset_index(drop=True)
        for col in ("protocol", "paired", "rc_threshold", "reliable_improvement", "completer",
                    "first_post_reliable_improvement", "sustained90", "response"):  # fmt: skip
            pd.testing.assert_series_equal(part[col], alone[col], check_names=False)


# -- reproducibility, output and bad input --------------------------------------------------------
def test_the_same_seed_gives_the_same_figures_and_another_seed_others():
    tidy = uniform_practice(30)
    a = calibrate(tidy, REG, n_sim=40, seed=9, claims=["large-improvement"])
    b = calibrate(tidy, REG, n_sim=40, seed=9, claims=["large-improvement"])
    c = calibrate(tidy, REG, n_sim=40, seed=10, claims=["large-improvement"])
    pd.testing.assert_frame_equal(a.rows, b.rows)
    assert not a.rows["n_supported"].equals(c.rows["n_supported"]) or not a.rows.equals(c.rows)


def test_a_claims_figures_do_not_depend_on_which_other_claims_are_run():
    tidy = uniform_practice(30)
    alone = calibrate(tidy, REG, n_sim=30, seed=2, claims=["large-improvement"]).rows
    both = calibrate(
        tidy, REG, n_sim=30, seed=2, claims=["large-improvement", "suicidal-ideation"]
    ).rows
    pd.testing.assert_frame_equal(
        alone, both[both["claim"] == "large-improvement"].reset_index(drop=True)
    )


def test_result_columns_and_json_shape():
    res = calibrate(uniform_practice(20), REG, n_sim=5, seed=1)
    assert list(res.rows.columns) == list(COLUMNS)
    assert set(res.rows["claim"]) == set(CLAIMS)
    d = res.to_dict()
    assert list(d) == ["schema", "n_sim", "seed", "claims_config", "rows"]
    assert d["schema"] == SCHEMA and d["n_sim"] == 5 and d["seed"] == 1
    assert d["claims_config"] == CFG.to_dict()
    assert all(set(r) == set(COLUMNS) for r in d["rows"])
    import json

    json.dumps(d, allow_nan=False)  # no NaN anywhere


def test_claims_the_data_cannot_test_say_why_and_are_not_simulated():
    res = calibrate(uniform_practice(20), REG, n_sim=5, seed=1)
    for claim in ("lasting", "intensive-faster", "treatment-resistant"):
        rows = res.rows[res.rows["claim"] == claim]
        assert (rows["n_sim"] == 0).all()
        assert rows["supported_rate"].isna().all()
        assert rows["note"].str.startswith("Not testable on this data:").all()


def test_a_schedule_that_cannot_show_a_claim_says_so():
    tidy = uniform_practice(20)
    tidy["day"] = tidy["day"] * 2  # first reassessment on day 14: nobody counts as rapid
    res = calibrate(tidy, REG, n_sim=5, seed=1, claims=["rapid-onset"])
    false, true = _row(res, "rapid-onset", "false"), _row(res, "rapid-onset", "true")
    assert false["scenario_label"] == "false: the most this schedule allows"
    assert false["truth"] == 0 and false["supported_rate"] == 0
    assert "At most 0% can meet the rule" in false["note"]
    assert true["scenario_label"] == "true: out of reach" and true["n_sim"] == 0
    assert "cannot be true here" in true["note"]


def test_progress_runs_from_zero_to_one():
    seen: list[float] = []
    calibrate(uniform_practice(20), REG, n_sim=4, seed=1, claims=["large-improvement"],
              progress=lambda f, _m: seen.append(f))  # fmt: skip
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


@pytest.mark.parametrize("n_sim", [0, -3, 2.5, True])
def test_too_few_simulations_are_refused(n_sim):
    with pytest.raises(AnalysisError, match="simulated cohorts"):
        calibrate(uniform_practice(10), REG, n_sim=n_sim)


def test_data_without_scores_is_refused():
    tidy = uniform_practice(10)
    tidy["score"] = np.nan
    with pytest.raises(AnalysisError, match="no scores"):
        calibrate(tidy, REG, n_sim=5)


def test_an_unknown_claim_is_refused_by_name():
    with pytest.raises(AnalysisError, match="initial-anxiety is reported without a verdict"):
        calibrate(uniform_practice(10), REG, n_sim=5, claims=["initial-anxiety"])


# -- the exact probabilities ---------------------------------------------------------------------
def test_bivariate_normal_matches_scipy():
    rng = np.random.default_rng(0)
    h, k, rho = rng.normal(0, 1.5, 20), rng.normal(0, 1.5, 20), rng.uniform(-0.9, 0.95, 20)
    ours = bvn_cdf(h, k, rho)
    ref = [
        stats.multivariate_normal(mean=[0, 0], cov=[[1, r], [r, 1]]).cdf([a, b])
        for a, b, r in zip(h, k, rho, strict=True)
    ]
    assert np.allclose(ours, ref, atol=2e-6)


def test_poisson_binomial_matches_the_binomial_and_a_direct_convolution():
    assert np.allclose(poisson_binomial(np.full(30, 0.3)), stats.binom.pmf(np.arange(31), 30, 0.3))
    p = np.random.default_rng(1).uniform(0, 1, 25)
    direct = np.array([1.0])
    for q in p:
        direct = np.convolve(direct, [1 - q, q])
    assert np.allclose(poisson_binomial(p), direct, atol=1e-12)
