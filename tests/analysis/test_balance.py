"""Covariate balance, overlap weights and the adjusted protocol comparison (analysis/balance.py,
analysis/evalue.py, dashboard/charts_balance.py).

Reference values: tests/fixtures/reference/balance_reference.R (base R glm, cobalt's SMD, the
HC3 sandwich and EValue's formulas written out by hand) on the cohort it simulated,
balance_cohort.csv; published E-value examples (VanderWeele & Ding 2017); and a seeded
simulation where the true protocol effect is 0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from analysis.balance import (
    COLLINEAR,
    SEPARATED,
    adjusted_difference,
    balance_frame,
    balance_table,
    covariate_columns,
    effective_sample_size,
    fit_propensity,
    overlap_warning,
    overlap_weights,
    protocol_balance,
)
from analysis.effects import between_effects
from analysis.evalue import evalue_rr, evalues_md, evalues_mean_difference, evalues_rr
from analysis.outcomes import patient_outcomes
from dashboard.chart_style import is_empty_figure
from dashboard.charts_balance import love_plot
from data.demo.cohort import generate_demo
from data.errors import AnalysisError
from data.instruments import default_registry

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reference"
REFERENCE = json.loads((FIXTURES / "balance_reference.json").read_text())
COHORT = pd.read_csv(
    FIXTURES / "balance_cohort.csv",
    dtype={"patient_id": "string", "protocol": "string", "route": "string", "site": "string"},
)
INSTRUMENT_COLUMNS = {"PHQ-9": "phq9_baseline", "GAD-7": "gad7_baseline", "PCL-5": "pcl5_baseline"}


def cohort_outcomes(cohort: pd.DataFrame = COHORT) -> pd.DataFrame:
    """The R cohort as ``patient_outcomes`` shapes it: one row per patient × instrument with a
    baseline; PHQ-9 is paired (has a change), GAD-7 and PCL-5 only have a baseline."""
    parts = []
    for key, col in INSTRUMENT_COLUMNS.items():
        part = cohort.loc[cohort[col].notna()]
        paired = key == "PHQ-9"
        parts.append(
            pd.DataFrame(
                {
                    "patient_id": part["patient_id"],
                    "instrument": key,
                    "protocol": part["protocol"],
                    "treatment_resistant": part["treatment_resistant"].astype("boolean"),
                    "route": part["route"],
                    "site": part["site"],
                    "has_baseline": True,
                    "baseline": part[col].astype(float),
                    "change": part["change"].astype(float) if paired else np.nan,
                    "paired": paired,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def reference_result():
    return protocol_balance(cohort_outcomes(), "PHQ-9")


def simulated_outcomes(
    rng: np.random.Generator, n: int = 200, *, selection: float = 0.25, effect: float = 0.0
) -> pd.DataFrame:
    """Intensive patients are sicker (baseline), more often treatment-resistant and on IV; the
    change depends on all three and, by ``effect`` points, on the protocol."""
    baseline = rng.normal(16, 4.5, n)
    tr = rng.random(n) < 0.45
    route = rng.choice(np.array(["IV", "IM", "sublingual"]), n, p=[0.4, 0.35, 0.25])
    iv = route == "IV"
    intensive = rng.random(n) < expit(-0.4 + selection * (baseline - 16) + 0.8 * tr + 0.7 * iv)
    change = 4 + 0.5 * (baseline - 16) - 2 * tr + 1.0 * iv + effect * intensive
    return pd.DataFrame(
        {
            "patient_id": [f"S{i:04d}" for i in range(n)],
            "instrument": "PHQ-9",
            "protocol": np.where(intensive, "intensive", "weekly"),
            "treatment_resistant": pd.array(tr, dtype="boolean"),
            "route": route,
            "has_baseline": True,
            "baseline": baseline,
            "change": change + rng.normal(0, 4, n),
            "paired": True,
        }
    )


# --- against the R reference -------------------------------------------------------------------


def test_balance_frame_encodes_covariates_as_the_r_script(reference_result):
    frame = balance_frame(cohort_outcomes(), "PHQ-9")
    assert covariate_columns(frame) == REFERENCE["covariates"]
    assert list(frame["patient_id"]) == list(COHORT["patient_id"])
    assert (
        frame["treat"].sum() == REFERENCE["n_a"] and (1 - frame["treat"]).sum() == REFERENCE["n_b"]
    )
    notes = " | ".join(frame.attrs["notes"])
    assert f"route: reference level {REFERENCE['route_reference']}" in notes
    assert f"site: reference level {REFERENCE['site_reference']}" in notes
    assert "route: oral, subcutaneous" in notes  # 5 rare-route patients pooled into "other"
    assert "site: 'other' still under 5 patients" in notes  # 3 without a site join the reference
    assert "PCL-5 baseline: only" in notes  # ~40% have a PCL-5 baseline: not adjusted for
    gad = frame["GAD-7 baseline"].to_numpy()
    missing = COHORT["gad7_baseline"].isna().to_numpy()
    assert gad[missing] == pytest.approx(np.full(missing.sum(), COHORT["gad7_baseline"].mean()))
    assert (frame["GAD-7 baseline not recorded"].to_numpy() == missing).all()
    assert reference_result.covariates == tuple(REFERENCE["covariates"])
    assert reference_result.model_covariates == tuple(REFERENCE["covariates"])
    assert reference_result.dropped == ()


def test_propensity_scores_match_r_glm(reference_result):
    got = reference_result.weights["propensity"].to_numpy()
    np.testing.assert_allclose(got, REFERENCE["propensity"], rtol=0, atol=1e-9)


def test_overlap_weights_and_effective_sample_sizes_match_r(reference_result):
    np.testing.assert_allclose(
        reference_result.weights["weight"].to_numpy(), REFERENCE["weights"], rtol=0, atol=1e-9
    )
    assert reference_result.ess_a == pytest.approx(REFERENCE["ess_a"], rel=1e-9)
    assert reference_result.ess_b == pytest.approx(REFERENCE["ess_b"], rel=1e-9)
    assert reference_result.n_a == REFERENCE["n_a"] and reference_result.n_b == REFERENCE["n_b"]


def test_smds_match_cobalt_pooled_sd_binary_std_by_hand_in_r(reference_result):
    ours = reference_result.balance.set_index("covariate")
    theirs = pd.DataFrame(REFERENCE["balance"]).set_index("covariate")
    assert list(ours.index) == list(theirs.index)
    assert list(ours["kind"]) == list(theirs["kind"])
    for col in ("mean_a", "mean_b", "mean_a_weighted", "mean_b_weighted", "smd_raw"):
        np.testing.assert_allclose(ours[col], theirs[col], rtol=1e-9, atol=1e-12, err_msg=col)
    np.testing.assert_allclose(ours["smd_weighted"], theirs["smd_weighted"], rtol=0, atol=1e-8)
    # the sicker intensive group the R script simulated: a large raw baseline SMD
    assert ours.loc["PHQ-9 baseline", "smd_raw"] > 0.5


def test_weighted_smds_are_zero_for_every_model_covariate(reference_result):
    # Overlap weights with a logistic propensity model balance means exactly (Li et al. 2018).
    table = reference_result.balance.set_index("covariate")
    smd = table.loc[list(reference_result.model_covariates), "smd_weighted"]
    assert np.abs(smd).max() < 1e-8
    demo = protocol_balance(
        patient_outcomes(generate_demo(300, seed=5), default_registry()), "GAD-7"
    )
    demo_smd = demo.balance.set_index("covariate").loc[list(demo.model_covariates), "smd_weighted"]
    assert np.abs(demo_smd).max() < 1e-8


def test_adjusted_difference_wls_hc3_matches_r(reference_result):
    ref = REFERENCE["adjusted"]
    r = reference_result
    assert r.adjusted_diff == pytest.approx(ref["estimate"], rel=1e-9)
    assert r.adjusted_se == pytest.approx(ref["se"], rel=1e-8)
    assert r.adjusted_df == ref["df"]
    np.testing.assert_allclose(r.adjusted_ci, ref["ci"], rtol=1e-8)
    assert r.adjusted_p == pytest.approx(ref["p"], rel=1e-7)


def test_statsmodels_hc3_equals_the_numpy_sandwich_formula(reference_result):
    frame = balance_frame(cohort_outcomes(), "PHQ-9")
    covs = list(reference_result.model_covariates)
    w = reference_result.weights["weight"].to_numpy()
    x = np.column_stack([np.ones(len(frame)), frame["treat"], frame[covs]]).astype(float)
    y = frame["change"].to_numpy(float)
    xtwx_inv = np.linalg.inv(x.T @ (x * w[:, None]))
    beta = xtwx_inv @ (x.T @ (w * y))
    resid = y - x @ beta
    hat = np.einsum("ij,jk,ik->i", x * np.sqrt(w)[:, None], xtwx_inv, x * np.sqrt(w)[:, None])
    np.testing.assert_allclose(hat, REFERENCE["adjusted"]["hat"], atol=1e-10)
    score = x * (w * resid / (1 - hat))[:, None]
    cov = xtwx_inv @ (score.T @ score) @ xtwx_inv
    got = adjusted_difference(frame, w, covs)
    assert got.estimate == pytest.approx(beta[1], rel=1e-10)
    assert got.se == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-10)


def test_adjusted_estimate_equals_the_overlap_weighted_difference_in_means(reference_result):
    # Exact balance makes the protocol column orthogonal to the covariates under the weights,
    # so the regression adjustment moves the SE, not the estimate (Frisch–Waugh–Lovell).
    wts = reference_result.weights
    t = (wts["protocol"] == "intensive").to_numpy()
    change = COHORT["change"].to_numpy(float)
    w = wts["weight"].to_numpy()
    diff = np.average(change[t], weights=w[t]) - np.average(change[~t], weights=w[~t])
    assert reference_result.adjusted_diff == pytest.approx(diff, rel=1e-9)


def test_raw_difference_is_the_welch_comparison_of_r_t_test(reference_result):
    r = reference_result
    assert r.raw_diff == pytest.approx(REFERENCE["raw"]["diff"], rel=1e-12)
    np.testing.assert_allclose(r.raw_ci, REFERENCE["raw"]["ci"], rtol=1e-9)
    assert r.raw_p == pytest.approx(REFERENCE["raw"]["p"], rel=1e-6)
    assert r.raw == between_effects(
        COHORT.loc[COHORT["protocol"] == "intensive", "change"],
        COHORT.loc[COHORT["protocol"] == "weekly", "change"],
    )


def test_e_values_of_the_adjusted_difference_match_r(reference_result):
    r = reference_result
    assert r.sd_change == pytest.approx(REFERENCE["sd_change"], rel=1e-12)
    assert r.e_value == pytest.approx(REFERENCE["e_value"], rel=1e-9)
    assert r.e_value_ci == pytest.approx(REFERENCE["e_value_ci"], rel=1e-9)
    # EValue::evalues.MD(d, se(d)) differs only by its 1.78 (0.91 × 1.96 rounded) and normal z
    md = evalues_md(r.adjusted_diff / r.sd_change, r.adjusted_se / r.sd_change)
    assert md == pytest.approx(
        (
            REFERENCE["evalues_md_of_adjusted"]["e_value"],
            REFERENCE["evalues_md_of_adjusted"]["e_value_ci"],
        ),
        rel=1e-9,
    )
    assert md[1] == pytest.approx(r.e_value_ci, abs=0.02)


# --- E-values: published and hand-computed ------------------------------------------------------


@pytest.mark.parametrize("case", REFERENCE["evalues_md_cases"], ids=lambda c: f"d={c['d']}")
def test_evalues_md_reproduces_the_evalue_package_formulas(case):
    e, e_ci = evalues_md(case["d"], case["se"])
    assert e == pytest.approx(case["e_value"], rel=1e-12)
    assert e_ci == pytest.approx(case["e_value_ci"], rel=1e-12)


def test_e_value_hand_computations_from_vanderweele_ding_2017():
    # d = 0.5: RR = exp(0.455) = 1.5762; E = RR + sqrt(RR (RR - 1)) = 2.529
    assert evalues_md(0.5)[0] == pytest.approx(2.529, abs=5e-4)
    assert evalues_md(0.5)[1] != evalues_md(0.5)[1]  # no SE: no CI E-value (NaN)
    # The paper's example: RR 0.80 (95% CI 0.71 to 0.91) needs E = 1.81, CI limit 0.91 -> 1.43
    e, e_ci = evalues_rr(0.80, 0.71, 0.91)
    assert (round(e, 2), round(e_ci, 2)) == (1.81, 1.43)
    assert evalue_rr(1 / 0.80) == pytest.approx(evalue_rr(0.80))  # symmetric in RR and 1/RR
    assert evalues_rr(1.5, 0.9, 2.5) == (pytest.approx(evalue_rr(1.5)), 1.0)  # CI crosses 1
    assert evalues_rr(1.0, 0.8, 1.2) == (1.0, 1.0)
    assert evalues_mean_difference(-3.0, (-5.0, -1.0), 6.0) == pytest.approx(
        (evalue_rr(math.exp(-0.91 * 0.5)), evalue_rr(math.exp(-0.91 / 6.0)))
    )
    assert evalues_mean_difference(2.0, (-1.0, 5.0), 6.0)[1] == 1.0
    assert all(math.isnan(v) for v in evalues_mean_difference(2.0, (1.0, 3.0), 0.0))


# --- simulation: true protocol effect 0 ---------------------------------------------------------


def test_zero_true_effect_adjusted_ci_covers_zero_about_95_percent_and_raw_is_biased():
    rng = np.random.default_rng(20261207)
    covered, raw_covered, raw_diffs, adjusted = 0, 0, [], []
    reps = 200
    for _ in range(reps):
        r = protocol_balance(simulated_outcomes(rng), "PHQ-9")
        covered += r.adjusted_ci[0] <= 0.0 <= r.adjusted_ci[1]
        raw_covered += r.raw_ci[0] <= 0.0 <= r.raw_ci[1]
        raw_diffs.append(r.raw_diff)
        adjusted.append(r.adjusted_diff)
    assert 0.91 <= covered / reps <= 0.99
    assert abs(np.mean(adjusted)) < 0.25
    assert np.mean(raw_diffs) > 1.0  # sicker intensive patients improve more, whatever protocol
    assert raw_covered / reps < 0.5


# --- overlap, missing and awkward covariates ---------------------------------------------------


def test_poor_overlap_triggers_a_plain_words_warning():
    r = protocol_balance(simulated_outcomes(np.random.default_rng(3), 300, selection=1.0), "PHQ-9")
    assert r.share_outside > 0.10
    assert r.overlap_warning.startswith("Poor overlap between intensive and weekly patients")
    assert "almost certain to get one protocol" in r.overlap_warning
    assert "Do not read either figure as the effect" in r.overlap_warning
    good = protocol_balance(
        simulated_outcomes(np.random.default_rng(3), 300, selection=0.0), "PHQ-9"
    )
    assert good.overlap_warning is None


def test_overlap_warning_names_each_reason():
    score = np.r_[np.full(10, 0.5), np.full(10, 0.5)]
    treat = np.r_[np.ones(10), np.zeros(10)]
    table = pd.DataFrame({"covariate": ["site: B", "age"], "smd_weighted": [0.25, 0.0]})
    text = overlap_warning(score, treat, table, separated=["route: oral"])
    assert "only one protocol has patients with route: oral" in text
    assert "still unbalanced after weighting: site: B" in text
    # propensities all inside [0.1, 0.9], but 8 of the 10 intensive patients weigh 0.1: ESS 4
    uneven = np.r_[np.full(8, 0.9), np.full(2, 0.1), np.full(10, 0.5)]
    text = overlap_warning(uneven, treat, table.iloc[1:])
    assert "the intensive patients count as only 4 of 10 after weighting" in text
    assert "almost certain" not in text and "weekly patients count" not in text
    outside = np.r_[0.95, np.full(9, 0.5), 0.05, np.full(9, 0.5)]  # exactly 10%: fine
    assert overlap_warning(outside, treat, table.iloc[1:]) is None
    text = overlap_warning(np.r_[0.95, 0.96, outside[2:]], treat, table.iloc[1:])
    assert "15% of patients were almost certain to get one protocol" in text
    assert overlap_warning(score, treat, table.iloc[1:]) is None


def test_missing_covariates_are_handled():
    rng = np.random.default_rng(11)
    base = simulated_outcomes(rng, 120)
    # no descriptive columns at all: the baseline is the only covariate
    bare = base.drop(columns=["treatment_resistant", "route"])
    assert protocol_balance(bare, "PHQ-9").covariates == ("PHQ-9 baseline",)
    # treatment-resistant never recorded: left out; route partly missing: a level of its own
    odd = base.copy()
    odd["treatment_resistant"] = pd.array([pd.NA] * len(odd), dtype="boolean")
    odd["route"] = odd["route"].astype(object).where(np.arange(len(odd)) % 10 != 0, None)
    r = protocol_balance(odd, "PHQ-9")
    assert "treatment-resistant" not in r.covariates
    assert "route: not recorded" in r.covariates
    # a few missing treatment-resistant values count as "no", with a note
    few = base.copy()
    few.loc[:2, "treatment_resistant"] = pd.NA
    r = protocol_balance(few, "PHQ-9")
    assert "treatment-resistant not recorded" not in r.covariates
    assert any("3 not recorded, counted as no" in n for n in r.notes)
    # another instrument: used at >= 80% coverage (mean-filled + indicator), not below
    gad = base.assign(instrument="GAD-7", baseline=base["baseline"] * 0.7 + rng.normal(0, 2, 120))
    gad["change"], gad["paired"] = np.nan, False
    r = protocol_balance(pd.concat([base, gad.iloc[10:]], ignore_index=True), "PHQ-9")
    assert {"GAD-7 baseline", "GAD-7 baseline not recorded"} <= set(r.covariates)
    assert np.abs(r.balance["smd_weighted"]).max() < 1e-8
    r = protocol_balance(pd.concat([base, gad.iloc[30:]], ignore_index=True), "PHQ-9")
    assert "GAD-7 baseline" not in r.covariates
    assert any(n.startswith("GAD-7 baseline: only 75%") for n in r.notes)
    json.dumps(r.to_dict(), allow_nan=False)


def test_separating_and_collinear_covariates_are_left_out_of_the_model():
    rng = np.random.default_rng(5)
    out = simulated_outcomes(rng, 160)
    intensive = np.flatnonzero(out["protocol"] == "intensive")
    out["site"] = "Site A"
    out.loc[intensive[:8], "site"] = "Site C"  # only intensive patients at site C
    out.loc[out.index[out["protocol"] == "weekly"][:40], "site"] = "Site B"
    out.loc[intensive[8:30], "site"] = "Site B"
    gad = out.assign(instrument="GAD-7", baseline=2 * out["baseline"] + 1, change=np.nan)
    gad["paired"] = False
    r = protocol_balance(pd.concat([out, gad], ignore_index=True), "PHQ-9")
    assert ("site: Site C", SEPARATED) in r.dropped
    assert ("GAD-7 baseline", COLLINEAR) in r.dropped
    table = r.balance.set_index("covariate")["smd_weighted"]
    assert np.abs(table[list(r.model_covariates)]).max() < 1e-8
    assert abs(table["GAD-7 baseline"]) < 1e-8  # a linear combination of balanced columns
    assert "only one protocol has patients with site: Site C" in r.overlap_warning


def test_protocols_separated_by_baseline_raise_a_clear_error():
    out = simulated_outcomes(np.random.default_rng(8), 60)
    out["baseline"] = np.where(out["protocol"] == "intensive", 22.0, 10.0) + np.arange(60) % 3
    with pytest.raises(AnalysisError, match="barely overlap"):
        protocol_balance(out, "PHQ-9")


def test_too_few_patients_in_a_protocol_raise():
    out = simulated_outcomes(np.random.default_rng(2), 80)
    keep = (out["protocol"] == "weekly") | (out.groupby("protocol").cumcount() < 9)
    with pytest.raises(AnalysisError, match="Too few patients .* 9 intensive"):
        protocol_balance(out.loc[keep], "PHQ-9")
    with pytest.raises(AnalysisError, match="0 intensive and 0 weekly"):
        protocol_balance(out, "GAD-7")
    with pytest.raises(AnalysisError, match="two different protocols"):
        balance_frame(out, "PHQ-9", "weekly", "weekly")


def test_population_mask_narrows_who_is_compared():
    out = simulated_outcomes(np.random.default_rng(4), 200)
    mask = out["route"] != "sublingual"
    r = protocol_balance(out, "PHQ-9", population=mask)
    assert r.n_a + r.n_b == int(mask.sum())
    assert not any(c.endswith("sublingual") for c in r.covariates)
    with pytest.raises(AnalysisError, match="one value per outcomes row"):
        balance_frame(out, "PHQ-9", population=mask.to_numpy()[:-1])


def test_on_the_demo_cohort_through_patient_outcomes():
    outcomes = patient_outcomes(generate_demo(400, seed=3), default_registry())
    r = protocol_balance(outcomes, "PHQ-9", ci_level=0.9)
    paired = outcomes[(outcomes["instrument"] == "PHQ-9") & outcomes["paired"]]
    assert r.n_a == (paired["protocol"] == "intensive").sum()
    assert r.n_b == (paired["protocol"] == "weekly").sum()
    assert {"PHQ-9 baseline", "treatment-resistant", "GAD-7 baseline"} <= set(r.covariates)
    assert any(c.startswith("route: ") for c in r.covariates)
    assert any(c.startswith("site: ") for c in r.covariates)
    assert r.ci_level == 0.9 and r.raw.ci_level == 0.9
    assert r.adjusted_ci[0] < r.adjusted_diff < r.adjusted_ci[1]
    assert 0 < r.ess_a <= r.n_a and 0 < r.ess_b <= r.n_b
    w = r.weights
    t = (w["protocol"] == "intensive").to_numpy()
    np.testing.assert_allclose(w["weight"], overlap_weights(t, w["propensity"].to_numpy()))
    assert effective_sample_size(w["weight"][t]) == pytest.approx(r.ess_a)
    lo_a, hi_a = r.propensity_a
    assert lo_a == pytest.approx(w["propensity"][t].min()) and hi_a <= 1.0


def test_to_dict_is_plain_json_with_none_for_nan(reference_result):
    d = reference_result.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert "weights" not in back  # no per-patient rows in the JSON
    assert back["adjusted_ci"] == pytest.approx(list(reference_result.adjusted_ci))
    assert back["balance"][0]["covariate"] == "PHQ-9 baseline"
    assert set(back["balance"][0]) == {
        "covariate", "kind", "mean_a", "mean_b", "mean_a_weighted", "mean_b_weighted",
        "smd_raw", "smd_weighted",
    }  # fmt: skip
    frame = balance_frame(cohort_outcomes(), "PHQ-9")
    frame["flat"] = 1.0
    table = balance_table(frame, np.ones(len(frame)), ["flat"])
    assert math.isnan(table.loc[0, "smd_raw"])  # no spread: no SMD


def test_fit_propensity_can_be_called_on_a_chosen_covariate_set():
    frame = balance_frame(cohort_outcomes(), "PHQ-9")
    model = fit_propensity(frame, ["PHQ-9 baseline"])
    t = frame["treat"].to_numpy()
    x = frame["PHQ-9 baseline"].to_numpy()
    # the logistic score equations: sum (t - e) = 0 and sum (t - e) x = 0
    assert abs(np.sum(t - model.score)) < 1e-8
    assert abs(np.sum((t - model.score) * x)) < 1e-6


# --- love plot ---------------------------------------------------------------------------------


def _traces(fig, role):
    return [t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("role") == role]


def test_love_plot_draws_absolute_smds_before_hollow_and_after_filled(reference_result):
    table = reference_result.balance
    fig = love_plot(table)
    (before,) = _traces(fig, "before")
    (after,) = _traces(fig, "after")
    assert before.marker.symbol == "circle-open" and after.marker.symbol == "circle"
    np.testing.assert_allclose(before.x, np.abs(table["smd_raw"]))
    np.testing.assert_allclose(after.x, np.abs(table["smd_weighted"]))
    assert list(before.y) == list(table["covariate"])
    assert list(fig.layout.yaxis.categoryarray) == list(table["covariate"])[::-1]
    (line,) = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert line.x0 == line.x1 == 0.1
    assert fig.layout.title.text and fig.layout.xaxis.title.text.startswith("Absolute SMD")
    assert fig.layout.height >= 150 + 40 * len(table)
    assert [a.text for a in fig.layout.annotations] == list(table["covariate"])


def test_love_plot_keeps_labels_out_of_templates_and_handles_empty_and_nan():
    table = pd.DataFrame(
        {
            "covariate": ["<b>site: X</b>", "route: IV"],
            "kind": ["binary", "binary"],
            "smd_raw": [0.4, np.nan],
            "smd_weighted": [0.0, np.nan],
        }
    )
    fig = love_plot(table)
    for trace in fig.data:
        assert "site: X" not in (trace.hovertemplate or "")
    (before,) = _traces(fig, "before")
    # NaN rows are not drawn; a label is drawn as written, never as markup (issue 10)
    assert list(before.y) == ["&lt;b&gt;site: X&lt;/b&gt;"]
    assert is_empty_figure(love_plot(table.iloc[0:0]))
    json.loads(fig.to_json())


def test_research_tables_carry_the_balance_and_the_adjusted_difference():
    """The downloads show the balance table and the adjusted difference beside the raw one,
    with the same numbers as the balance module and small cells suppressed."""
    from analysis.figures import fast_figures
    from analysis.research import research_tables
    from analysis.tables import prepare_for_export
    from data.demo.cohort import generate_demo

    tidy = generate_demo(n_patients=200)
    reg = default_registry()
    fig = fast_figures(tidy, reg)
    tables = {t.name: t for t in research_tables(tidy, fig, reg)}
    bal = tables["protocol_balance"].frame
    phq = bal[bal["instrument"] == "PHQ-9"].set_index("covariate")
    ref = fig.balance[("PHQ-9", "intensive", "weekly")].balance.set_index("covariate")
    assert phq["smd_raw"].to_numpy() == pytest.approx(ref["smd_raw"].to_numpy())
    assert np.abs(phq["smd_weighted"].to_numpy()).max() < 1e-8
    comp = tables["protocol_comparisons"].frame
    adj = comp[(comp["instrument"] == "PHQ-9") & (comp["measure"] == "mean_diff_adjusted")]
    assert adj["estimate"].iloc[0] == pytest.approx(
        fig.balance[("PHQ-9", "intensive", "weekly")].adjusted_diff
    )
    prepare_for_export(tables["protocol_balance"])  # suppression accepts the table
