"""Growth model (SPEC section 5) against lme4 (fixtures made by growth_lme4.R) and statsmodels."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analysis.growth import fit_growth, fit_growth_models, growth_table
from analysis.lmm import _Profile
from data.errors import AnalysisError
from data.schema import conform

REF_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
LME4 = json.loads((REF_DIR / "growth_lme4_reference.json").read_text())
# lme4's coefficient names → ReliefCheck's keys
LME4_TERMS = {
    "(Intercept)": "intercept",
    "Days": "session",
    "session": "session",
    "protocolintensive": "protocol_intensive",
    "session:protocolintensive": "session_x_protocol_intensive",
    "protocolindividual": "protocol_individual",
    "protocolretreat": "protocol_retreat",
    "session:protocolindividual": "session_x_protocol_individual",
    "session:protocolretreat": "session_x_protocol_retreat",
}


def as_tidy(frame: pd.DataFrame, instrument: str = "PHQ-9") -> pd.DataFrame:
    """patient_id, protocol, session, score → a conformed tidy table."""
    out = frame.copy()
    out["patient_id"] = out["patient_id"].astype(str)
    out["instrument"] = instrument
    out["day"] = np.nan
    out["phase"] = np.where(out["session"] == 0, "baseline", "treatment")
    return conform(out)


def reference_tidy(name: str, instrument: str = "PHQ-9") -> pd.DataFrame:
    frame = pd.read_csv(REF_DIR / f"growth_{name}.csv")
    if name == "sleepstudy":
        frame = frame.rename(
            columns={"Subject": "patient_id", "Days": "session", "Reaction": "score"}
        )
        frame["protocol"] = "weekly"
    return as_tidy(frame, instrument)


def assert_matches_lme4(result, ref: dict, rtol: float = 1e-5) -> None:
    assert result.fitted and result.converged
    estimates = {fe.term: fe for fe in result.fixed_effects}
    assert set(estimates) == {LME4_TERMS[k] for k in ref["fixef"]}
    for term, value in ref["fixef"].items():
        fe = estimates[LME4_TERMS[term]]
        assert fe.estimate == pytest.approx(value, rel=rtol, abs=1e-7)
        assert fe.se == pytest.approx(ref["se"][term], rel=rtol)
    assert result.sd_intercept == pytest.approx(ref["sd_intercept"], rel=rtol)
    assert result.sd_session == pytest.approx(ref["sd_slope"], rel=max(rtol, 1e-4))
    assert result.corr_intercept_session == pytest.approx(ref["corr"], abs=1e-5)
    assert result.residual_sd == pytest.approx(ref["sigma"], rel=rtol)
    assert result.reml_criterion == pytest.approx(ref["reml_criterion"], abs=1e-6)
    assert result.singular == ref["singular"]
    assert result.n_obs == ref["n_obs"] and result.n_patients == ref["n_groups"]


def test_growth_against_lme4_sleepstudy():
    result = fit_growth(reference_tidy("sleepstudy", "RT"), "RT")
    # lme4's printed summary of lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
    assert result.fixed_effect("intercept").estimate == pytest.approx(251.405, abs=5e-4)
    assert result.fixed_effect("intercept").se == pytest.approx(6.825, abs=5e-4)
    assert result.fixed_effect("session").estimate == pytest.approx(10.467, abs=5e-4)
    assert result.fixed_effect("session").se == pytest.approx(1.546, abs=5e-4)
    assert result.sd_intercept == pytest.approx(24.741, abs=1e-3)
    assert result.sd_session == pytest.approx(5.922, abs=5e-4)
    assert result.corr_intercept_session == pytest.approx(0.066, abs=5e-4)
    assert result.residual_sd == pytest.approx(25.592, abs=5e-4)
    assert result.reml_criterion == pytest.approx(1743.6, abs=0.05)
    # and the full-precision values from the committed lme4 run
    assert_matches_lme4(result, LME4["sleepstudy"])
    assert result.theta == pytest.approx(LME4["sleepstudy"]["theta"], rel=1e-5)
    assert result.reference_protocol == "weekly" and result.message == "converged"


def test_reml_criterion_at_lme4_theta_against_lme4_sleepstudy():
    frame = pd.read_csv(REF_DIR / "growth_sleepstudy.csv")
    groups = pd.factorize(frame["Subject"])[0]
    X = np.column_stack([np.ones(len(frame)), frame["Days"]])
    prof = _Profile(frame["Reaction"].to_numpy(float), X, frame["Days"].to_numpy(float), groups)
    theta = np.array(LME4["sleepstudy"]["theta"])
    assert prof.deviance(theta) == pytest.approx(LME4["sleepstudy"]["reml_criterion"], abs=1e-8)
    beta, cov, sigma = prof.estimates(theta)
    assert beta == pytest.approx(list(LME4["sleepstudy"]["fixef"].values()), rel=1e-10)
    assert np.sqrt(np.diag(cov)) == pytest.approx(list(LME4["sleepstudy"]["se"].values()), rel=1e-8)
    assert sigma == pytest.approx(LME4["sleepstudy"]["sigma"], rel=1e-8)


def test_deviance_gradient_against_central_differences():
    frame = pd.read_csv(REF_DIR / "growth_two_protocol.csv")
    groups = pd.factorize(frame["patient_id"])[0]
    s = frame["session"].to_numpy(float)
    g = (frame["protocol"] == "intensive").to_numpy(float)
    X = np.column_stack([np.ones_like(s), s, g, s * g])
    prof = _Profile(frame["score"].to_numpy(float), X, s, groups)
    h = 1e-6
    for theta in ([1.0, 0.0, 1.0], [0.7, -0.3, 0.2], [1.3, 0.05, 0.0]):
        theta = np.array(theta)
        _, grad = prof.deviance_and_gradient(theta)
        numeric = [
            (prof.deviance(theta + h * e) - prof.deviance(theta - h * e)) / (2 * h)
            for e in np.eye(3)
        ]
        assert grad == pytest.approx(numeric, rel=1e-5, abs=1e-5)


def test_growth_singular_fit_against_lme4():
    result = fit_growth(reference_tidy("singular"), "PHQ-9")
    assert_matches_lme4(result, LME4["singular"])
    assert LME4["singular"]["singular"] is True
    assert result.singular and result.converged
    assert result.corr_intercept_session == pytest.approx(-1.0, abs=1e-6)
    assert "singular" in result.message


def test_growth_two_protocols_against_lme4():
    tidy = reference_tidy("two_protocol")
    # the fixture includes patients with a baseline assessment only
    assert (tidy.groupby("patient_id")["session"].size() == 1).sum() >= 5
    result = fit_growth(tidy, "PHQ-9")
    assert_matches_lme4(result, LME4["two_protocol"])
    assert result.reference_protocol == "weekly"
    assert result.protocols == ("intensive", "weekly")
    assert [fe.term for fe in result.fixed_effects] == [
        "intercept",
        "session",
        "protocol_intensive",
        "session_x_protocol_intensive",
    ]


def test_growth_three_protocols_without_weekly_against_lme4():
    # no "weekly": the first label alphabetically ("group") is the reference, as R's factor().
    # On this data a search bounded at θ₂₂ ≥ 0 stalls at a zero slope SD (REML criterion 6.9
    # above lme4's); the fit must reach lme4's optimum.
    result = fit_growth(reference_tidy("three_protocol"), "PHQ-9")
    assert result.reference_protocol == "group"
    assert_matches_lme4(result, LME4["three_protocol"])


def test_growth_ignores_follow_up_rows_against_lme4():
    tidy = reference_tidy("two_protocol")
    follow = tidy.drop_duplicates("patient_id").copy()
    follow["session"] = pd.array([pd.NA] * len(follow), dtype="Int64")
    follow["phase"] = "follow-up"
    follow["score"] = 999.0
    other = tidy.head(30).copy()
    other["instrument"] = "GAD-7"
    mixed = conform(pd.concat([follow, tidy, other], ignore_index=True))
    assert_matches_lme4(fit_growth(mixed, "PHQ-9"), LME4["two_protocol"])


def simulate(n_patients: int, seed: int, beta, sd0, sd1, corr, sigma, max_session=8):
    """Two protocols, drop-out after 0–max_session sessions, correlated intercepts and slopes."""
    rng = np.random.default_rng(seed)
    intensive = rng.random(n_patients) < 0.5
    n_rows = rng.integers(1, max_session + 2, n_patients)
    pid = np.repeat(np.arange(n_patients), n_rows)
    session = np.arange(pid.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    u = rng.standard_normal((n_patients, 2))
    b0 = sd0 * u[:, 0]
    b1 = sd1 * (corr * u[:, 0] + np.sqrt(1 - corr**2) * u[:, 1])
    g = intensive[pid].astype(float)
    mean = beta[0] + beta[1] * session + beta[2] * g + beta[3] * session * g
    score = mean + b0[pid] + b1[pid] * session + rng.normal(0, sigma, pid.size)
    frame = pd.DataFrame(
        {
            "patient_id": pd.Series(pid).map("P{:05d}".format),
            "protocol": np.where(intensive[pid], "intensive", "weekly"),
            "session": session,
            "score": score,
        }
    )
    return frame, g


def test_growth_against_statsmodels_mixedlm():
    frame, g = simulate(60, 7, (16.0, -0.9, 0.8, -0.7), 3.0, 0.6, 0.0, 2.5, max_session=6)
    result = fit_growth(as_tidy(frame), "PHQ-9")
    frame["intensive"] = g
    model = smf.mixedlm(
        "score ~ session * intensive", frame, groups=frame["patient_id"], re_formula="~session"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # statsmodels' default L-BFGS alone stops at a worse point on this data (REML criterion
        # 1224.6 against 1213.7); Nelder-Mead first reaches the optimum.
        sm = model.fit(reml=True, method=["nm", "lbfgs"])
    assert sm.converged
    ours = [result.fixed_effect(k) for k in ("intercept", "session")]
    ours += [result.fixed_effect(k) for k in ("protocol_intensive", "session_x_protocol_intensive")]
    assert [fe.estimate for fe in ours] == pytest.approx(list(sm.fe_params), rel=1e-4)
    # statsmodels' bse_fe inverts the joint Hessian (fixed effects with covariance parameters);
    # lme4 and ReliefCheck report the SE given the covariance estimates, sqrt(diag(σ²(X'V⁻¹X)⁻¹)),
    # which is statsmodels' fixed-effect block of that Hessian inverted on its own.
    hess, _ = model.hessian(sm.params_object)
    se = np.sqrt(np.diag(np.linalg.inv(-hess[:4, :4])))
    assert [fe.se for fe in ours] == pytest.approx(list(se), rel=1e-4)
    assert result.sd_intercept == pytest.approx(np.sqrt(sm.cov_re.iloc[0, 0]), rel=1e-4)
    assert result.sd_session == pytest.approx(np.sqrt(sm.cov_re.iloc[1, 1]), rel=1e-4)
    assert result.residual_sd == pytest.approx(np.sqrt(sm.scale), rel=1e-4)
    assert result.reml_criterion == pytest.approx(-2 * sm.llf, rel=1e-8)


def test_growth_recovers_simulated_parameters():
    beta = (16.0, -0.9, 0.5, -0.6)
    frame, _ = simulate(5000, 2024, beta, sd0=3.5, sd1=0.7, corr=-0.3, sigma=2.5)
    result = fit_growth(as_tidy(frame), "PHQ-9")
    assert result.converged and not result.singular
    terms = ("intercept", "session", "protocol_intensive", "session_x_protocol_intensive")
    for term, truth in zip(terms, beta, strict=True):
        fe = result.fixed_effect(term)
        assert abs(fe.estimate - truth) < 4 * fe.se
    # 5,000 patients: sampling SDs of these are about 1-2 % of their size (SE of an SD from
    # n groups is roughly SD / sqrt(2n)); 8 % is a 4-5 SE band.
    assert result.sd_intercept == pytest.approx(3.5, rel=0.08)
    assert result.sd_session == pytest.approx(0.7, rel=0.08)
    assert result.corr_intercept_session == pytest.approx(-0.3, abs=0.08)
    assert result.residual_sd == pytest.approx(2.5, rel=0.03)


def test_growth_to_dict_has_the_spec_section_7_shape():
    result = fit_growth(reference_tidy("sleepstudy", "RT"), "RT")
    out = json.loads(json.dumps(result.to_dict()))
    assert out["instrument"] == "RT" and out["converged"] is True and out["singular"] is False
    assert list(out["fixed_effects"]) == ["intercept", "session"]
    fe = out["fixed_effects"]["session"]
    # Wald 95% interval: estimate ± 1.959964 × SE
    assert fe["ci"] == pytest.approx(
        [fe["estimate"] - 1.959964 * fe["se"], fe["estimate"] + 1.959964 * fe["se"]]
    )
    assert out["n_patients"] == 18 and out["n_obs"] == 180
    assert set(out["random_effects"]) == {"sd_intercept", "sd_session", "corr_intercept_session"}


def test_fit_growth_models_per_instrument_against_lme4():
    sleep = reference_tidy("sleepstudy", "RT")
    two = reference_tidy("two_protocol", "PHQ-9")
    baseline_only = two[two["session"] == 0].assign(instrument="GAD-7")
    tidy = conform(pd.concat([two, baseline_only, sleep], ignore_index=True))
    results = fit_growth_models(tidy)
    assert [r.instrument for r in results] == ["GAD-7", "PHQ-9", "RT"]
    gad, phq, rt = results
    assert not gad.fitted and not gad.converged and gad.fixed_effects == ()
    assert "two or more different session numbers" in gad.message
    assert gad.to_dict()["fixed_effects"] == {}
    assert_matches_lme4(phq, LME4["two_protocol"])
    assert_matches_lme4(rt, LME4["sleepstudy"])
    table = growth_table(results)
    assert list(table["instrument"]) == ["PHQ-9"] * 4 + ["RT"] * 2
    assert table["se"].tolist() == [fe.se for fe in phq.fixed_effects + rt.fixed_effects]


def test_growth_with_one_session_number_raises_domain_error():
    tidy = reference_tidy("two_protocol")
    with pytest.raises(AnalysisError, match="two or more different session numbers"):
        fit_growth(tidy[tidy["session"] == 0], "PHQ-9")


def test_growth_protocol_without_treatment_sessions_raises_domain_error():
    tidy = reference_tidy("two_protocol")
    keep = (tidy["protocol"] == "weekly") | (tidy["session"] == 0)
    with pytest.raises(AnalysisError, match="protocol 'intensive'"):
        fit_growth(tidy[keep], "PHQ-9")


def test_growth_too_few_assessments_per_patient_follows_lme4_nobs_check():
    # lme4 stops when observations <= random effects (2 per patient): here 4 patients, 8 rows
    frame = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
            "protocol": "weekly",
            "session": [0, 1, 0, 2, 0, 1, 0, 3],
            "score": [10.0, 8, 12, 9, 15, 14, 11, 6],
        }
    )
    with pytest.raises(AnalysisError, match="8 assessments from 4 patients"):
        fit_growth(as_tidy(frame), "PHQ-9")


def test_growth_unknown_instrument_or_missing_column_raises_domain_error():
    tidy = reference_tidy("two_protocol")
    with pytest.raises(AnalysisError, match="no GAD-7 assessments"):
        fit_growth(tidy, "GAD-7")
    with pytest.raises(AnalysisError, match="session"):
        fit_growth(tidy.drop(columns="session"), "PHQ-9")
