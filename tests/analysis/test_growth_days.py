"""Day model (analysis/growth_days.py, docs/growth.md) against lme4 (fixtures made by
growth_days_lme4.R), and its false-positive rate when both protocols share one calendar curve."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.day_model import DAY_TABLE_COLUMNS, EOT, day_model_table
from analysis.growth import fit_growth
from analysis.growth_days import fit_day_model, fit_day_models
from analysis.lmm import fit_random_slope
from analysis.timeshape import SHAPES, make_shape
from data.errors import AnalysisError
from data.instruments import load_registry
from data.schema import conform

REF_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
LME4 = json.loads((REF_DIR / "growth_days_lme4_reference.json").read_text())
RTOL = 1e-5
AT = ("day_14", "day_28", EOT)


def cohort(instrument: str = "PHQ-9") -> pd.DataFrame:
    frame = pd.read_csv(REF_DIR / "growth_days_cohort.csv")
    frame["patient_id"] = frame["patient_id"].astype(str)
    frame["instrument"] = instrument
    return conform(frame)


@pytest.fixture(scope="module")
def tidy() -> pd.DataFrame:
    return cohort()


@pytest.fixture(scope="module")
def chosen(tidy):
    return fit_day_model(tidy, "PHQ-9")


def assert_matches_lme4(result, ref: dict) -> None:
    """Everything that does not depend on the basis of the shape."""
    assert result.fitted and result.converged and not result.singular
    assert ref["conv_messages"] == [] and ref["singular"] is False
    assert result.n_obs == ref["n_obs"] and result.n_patients == ref["n_groups"]
    assert result.residual_sd == pytest.approx(ref["sigma"], rel=RTOL)
    assert result.sd_intercept == pytest.approx(ref["sd_intercept"], rel=RTOL)
    assert result.sd_slope == pytest.approx(ref["sd_slope"], rel=RTOL)
    assert result.corr_intercept_slope == pytest.approx(ref["corr"], abs=RTOL)
    assert result.theta == pytest.approx(ref["theta"], rel=RTOL)
    for protocol in ("intensive", "weekly"):
        fitted = result.predict(protocol, [0.0, 14.0, 28.0])
        assert fitted == pytest.approx(ref["fitted"][protocol], rel=RTOL)
    improvements = {(i.protocol, i.at): i for i in result.improvements}
    assert set(improvements) == {(p, at) for p in ("intensive", "weekly") for at in AT}
    for (protocol, at), imp in improvements.items():
        want = ref["improvement"][protocol][at]
        assert imp.estimate == pytest.approx(want["estimate"], rel=RTOL)
        assert imp.se == pytest.approx(want["se"], rel=RTOL)
    contrasts = {c.at: c for c in result.contrasts}
    assert set(contrasts) == set(AT)
    for at, con in contrasts.items():
        want = ref["contrast_intensive"][at]
        assert con.protocol == "intensive" and con.reference_protocol == "weekly"
        assert con.estimate == pytest.approx(want["estimate"], rel=RTOL, abs=1e-7)
        assert con.se == pytest.approx(want["se"], rel=RTOL)


def test_log1p_day_model_against_lme4(tidy):
    result = fit_day_model(tidy, "PHQ-9", shapes=("log1p",))
    assert result.shape.name == "log1p" and result.reference_protocol == "weekly"
    assert_matches_lme4(result, LME4["log1p_reml"])
    # same basis as lme4's log1p(day) * protocol, so the estimates and the criterion match too
    assert [fe.estimate for fe in result.fixed_effects] == pytest.approx(
        LME4["log1p_reml"]["fixef"], rel=RTOL
    )
    assert result.reml_criterion == pytest.approx(LME4["log1p_reml"]["criterion"], abs=1e-6)
    assert [fe.term for fe in result.fixed_effects] == [
        "intercept",
        "log1p_day",
        "protocol_intensive",
        "log1p_day_x_protocol_intensive",
    ]


def spline_map(shape) -> np.ndarray:
    """A with [1, ns_R(d)] = [1, B(d)] A0 over the reference days; A = diag(A0, A0)."""
    days = np.asarray(LME4["basis_days"], dtype=float)
    ours = np.column_stack([np.ones(days.size), shape.basis(days)])
    theirs = np.column_stack([np.ones(days.size), np.asarray(LME4["ns_basis"])])
    a0, *_ = np.linalg.lstsq(ours, theirs, rcond=None)
    # the same column space: R's columns are exact combinations of ours
    assert ours @ a0 == pytest.approx(theirs, abs=1e-10)
    return a0


def test_spline_day_model_against_lme4_ns(tidy):
    result = fit_day_model(tidy, "PHQ-9", shapes=("spline",))
    assert result.shape.knots == pytest.approx(LME4["knots_log1p_day"], rel=1e-12, abs=1e-14)
    assert_matches_lme4(result, LME4["spline_reml"])
    a0 = spline_map(result.shape)
    a = np.kron(np.eye(2), a0)
    beta = np.array([fe.estimate for fe in result.fixed_effects])
    # lme4's coefficients are ours in R's basis: β_R = A⁻¹ β
    assert np.linalg.solve(a, beta) == pytest.approx(LME4["spline_reml"]["fixef"], rel=1e-4)
    # the REML criterion has log|X'V⁻¹X|, which changes by 2 log|det A| with the basis
    _, logdet = np.linalg.slogdet(a)
    assert result.reml_criterion + 2 * logdet == pytest.approx(
        LME4["spline_reml"]["criterion"], abs=1e-6
    )


def test_shape_is_chosen_by_ml_aic_as_lme4(tidy, chosen):
    assert chosen.shape_aic.keys() == set(SHAPES)
    for name in SHAPES:
        assert chosen.shape_aic[name] == pytest.approx(LME4["ml_aic"][name], rel=1e-8)
    assert chosen.shape.name == LME4["chosen_shape"] == "spline"
    assert chosen.shape_notes == {}
    assert_matches_lme4(chosen, LME4["spline_reml"])


@pytest.mark.parametrize("name", SHAPES)
def test_ml_fits_against_lme4(tidy, name):
    """The maximum-likelihood fits behind the AIC: deviance, sigma and random-effect SDs."""
    ref = LME4[f"{name}_ml"]
    rows = tidy["phase"].isin(["baseline", "treatment"]).to_numpy()
    day = tidy["day"].to_numpy(float)[rows]
    g = (tidy["protocol"] == "intensive").to_numpy(float)[rows]
    basis = make_shape(name, day).basis(day)
    X = np.column_stack([np.ones_like(day), basis, g, basis * g[:, None]])
    groups = pd.factorize(tidy["patient_id"][rows])[0]
    fit = fit_random_slope(tidy["score"].to_numpy(float)[rows], X, basis[:, 0], groups, reml=False)
    assert fit.converged and not fit.reml
    assert fit.reml_criterion == pytest.approx(ref["criterion"], abs=1e-6)
    assert fit.aic == pytest.approx(ref["aic"], abs=1e-6)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=RTOL)
    assert fit.sd_intercept == pytest.approx(ref["sd_intercept"], rel=RTOL)
    assert fit.sd_slope == pytest.approx(ref["sd_slope"], rel=RTOL)
    assert fit.corr == pytest.approx(ref["corr"], abs=RTOL)


def test_typical_end_of_treatment_and_extrapolation_flags(chosen):
    assert dict(chosen.typical_eot_day) == LME4["typical_eot_day"]
    assert dict(chosen.last_day) == LME4["last_day"]
    flags = {(i.protocol, i.at): i.extrapolated for i in chosen.improvements}
    # intensive is observed to day 14: day 28 is 14 days past its last assessment
    assert flags == {
        ("intensive", "day_14"): False,
        ("intensive", "day_28"): True,
        ("intensive", EOT): False,
        ("weekly", "day_14"): False,
        ("weekly", "day_28"): False,
        ("weekly", EOT): False,
    }
    con = {c.at: c for c in chosen.contrasts}
    assert [con[at].extrapolated for at in AT] == [False, True, False]
    # end of treatment: intensive at its own typical EOT day against weekly at its own
    assert (con[EOT].day, con[EOT].reference_day) == (14.0, 56.0)
    within = chosen.improvement_at("intensive", 17.0)
    assert not within.extrapolated and chosen.improvement_at("intensive", 17.5).extrapolated


def test_improvement_is_fitted_score_at_day_0_minus_day_t(chosen):
    for imp in chosen.improvements:
        start, end = chosen.predict(imp.protocol, [0.0, imp.day])
        assert imp.estimate == pytest.approx(start - end, rel=1e-12)
        assert imp.ci == pytest.approx(
            (imp.estimate - 1.959964 * imp.se, imp.estimate + 1.959964 * imp.se)
        )
    curve = chosen.curve("weekly", [0.0, 14.0, 70.0])
    assert curve["fitted"].to_numpy() == pytest.approx(chosen.predict("weekly", [0, 14, 70]))
    assert curve["extrapolated"].tolist() == [False, False, True]
    assert (curve["ci_low"] < curve["fitted"]).all() and (curve["fitted"] < curve["ci_high"]).all()


def test_improvement_sign_follows_the_registry_for_higher_is_better_scales(tidy, chosen):
    registry = load_registry(
        practice_text='[[instrument]]\nkey = "WELL-5"\nmin = 0\nmax = 40\n'
        "higher_is_worse = false\nreliable_change = 5\n"
    )
    result = fit_day_model(cohort("WELL-5"), "WELL-5", registry)
    assert not result.higher_is_worse
    for mine, phq in zip(
        result.improvements + result.contrasts, chosen.improvements + chosen.contrasts, strict=True
    ):
        assert mine.estimate == pytest.approx(-phq.estimate, rel=1e-10)
        assert mine.se == pytest.approx(phq.se, rel=1e-10)
    with pytest.raises(AnalysisError, match="whether a higher score is worse"):
        fit_day_model(cohort("MYSTERY"), "MYSTERY")


def test_to_dict_is_plain_json(chosen):
    out = json.loads(json.dumps(chosen.to_dict(), allow_nan=False))
    assert out["shape"] == "spline" and out["shape_columns"] == ["ns1", "ns2", "ns3"]
    assert out["shape_selection"]["aic"].keys() == set(SHAPES)
    assert out["reference_protocol"] == "weekly" and out["protocols"] == ["intensive", "weekly"]
    assert out["typical_eot_day"] == {"intensive": 14.0, "weekly": 56.0}
    assert out["random_effects"]["slope_covariate"] == "log1p_day"
    assert out["first_day"] == {"intensive": 0.0, "weekly": 0.0}
    assert [c["at"] for c in out["contrasts"]] == list(AT)
    c14 = out["contrasts"][0]
    assert set(c14) == {
        "protocol",
        "reference_protocol",
        "at",
        "day",
        "reference_day",
        "estimate",
        "se",
        "ci",
        "extrapolated",
    }
    assert c14["ci"][0] < c14["estimate"] < c14["ci"][1]
    assert len(out["improvement"]) == 6 and out["improvement"][1]["extrapolated"] is True
    assert "ns2_x_protocol_intensive" in out["fixed_effects"]


def test_one_protocol_gives_improvements_and_no_contrasts(tidy):
    result = fit_day_model(tidy[tidy["protocol"] == "weekly"], "PHQ-9")
    assert result.protocols == ("weekly",) and result.contrasts == ()
    assert [i.at for i in result.improvements] == list(AT)
    assert [fe.term for fe in result.fixed_effects][0] == "intercept"


def test_fit_day_models_per_instrument_and_table(tidy, chosen):
    no_days = tidy.assign(instrument="GAD-7", day=np.nan)
    one_day = tidy[tidy["day"] == 0].assign(instrument="PCL-5")
    mixed = conform(pd.concat([tidy, no_days, one_day], ignore_index=True))
    results = fit_day_models(mixed)
    assert [r.instrument for r in results] == ["GAD-7", "PCL-5", "PHQ-9"]
    gad, pcl, phq = results
    assert not gad.fitted and "with a day since baseline" in gad.message
    assert not pcl.fitted and "two or more different days" in pcl.message
    assert json.loads(json.dumps(gad.to_dict(), allow_nan=False))["contrasts"] == []
    assert phq.to_dict() == chosen.to_dict()
    table = day_model_table(results)
    assert list(table.columns) == DAY_TABLE_COLUMNS
    assert (table["instrument"] == "PHQ-9").all() and len(table) == 9
    diff = table[table["quantity"] == "difference"]
    assert diff["estimate"].tolist() == [c.estimate for c in phq.contrasts]
    assert diff["reference_protocol"].eq("weekly").all()
    assert table.loc[table["quantity"] == "improvement", "reference_protocol"].isna().all()
    assert day_model_table([gad]).columns.tolist() == DAY_TABLE_COLUMNS


def test_day_model_domain_errors(tidy):
    with pytest.raises(AnalysisError, match="no GAD-7 assessments"):
        fit_day_model(tidy, "GAD-7")
    with pytest.raises(AnalysisError, match="day"):
        fit_day_model(tidy.drop(columns="day"), "PHQ-9")
    only_baseline = (tidy["protocol"] == "weekly") | (tidy["day"] == 0)
    with pytest.raises(AnalysisError, match="protocol 'intensive'"):
        fit_day_model(tidy[only_baseline], "PHQ-9")
    with pytest.raises(AnalysisError, match="Unknown time shape"):
        fit_day_model(tidy, "PHQ-9", shapes=("quadratic",))


def test_shape_that_cannot_be_built_is_skipped_with_a_note(tidy):
    # three distinct days: the spline's knots coincide, the other shapes still fit
    few = tidy[tidy["day"].isin([0, 7, 14])]
    result = fit_day_model(few, "PHQ-9")
    assert (
        math.isnan(result.shape_aic["spline"])
        and "too few distinct days" in result.shape_notes["spline"]
    )
    assert result.shape.name in ("linear", "log1p") and result.fitted


def test_spline_basis_is_log1p_day_then_natural_cubic_terms():
    day = np.linspace(0, 56, 200)
    shape = make_shape("spline", day)
    basis = shape.basis(day)
    assert basis[:, 0] == pytest.approx(np.log1p(day))
    # natural: linear in log1p(day) beyond the boundary knots
    x = np.linspace(shape.knots[-1], shape.knots[-1] + 2, 5)
    beyond = shape.basis(np.expm1(x))
    assert np.diff(beyond, n=2, axis=0) == pytest.approx(np.zeros((3, 3)), abs=1e-10)


# -- simulation: both protocols on the same calendar curve ---------------------------------------
INTENSIVE_DAYS = np.array([0, 1, 2, 3, 5, 7, 9, 11, 14], dtype=float)
WEEKLY_DAYS = np.arange(0, 57, 7, dtype=float)


def simulate_same_calendar_curve(seed: int, n_patients: int = 300) -> pd.DataFrame:
    """Improvement A_i (1 − exp(−day / 10)) points, A_i ~ N(8, 2.5²), for both protocols;
    baseline 17 + N(0, 3.5²), noise N(0, 2.5²); 40% intensive; a fifth drop out early."""
    rng = np.random.default_rng(seed)
    intensive = rng.random(n_patients) < 0.4
    planned = np.where(intensive, INTENSIVE_DAYS.size, WEEKLY_DAYS.size)
    n_rows = np.where(rng.random(n_patients) < 0.2, rng.integers(2, planned), planned)
    pid = np.repeat(np.arange(n_patients), n_rows)
    k = np.arange(pid.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    day = np.where(
        intensive[pid],
        INTENSIVE_DAYS[np.minimum(k, INTENSIVE_DAYS.size - 1)],
        WEEKLY_DAYS[np.minimum(k, WEEKLY_DAYS.size - 1)],
    )
    base = 17 + rng.normal(0, 3.5, n_patients)
    amplitude = rng.normal(8, 2.5, n_patients)
    score = base[pid] - amplitude[pid] * (1 - np.exp(-day / 10)) + rng.normal(0, 2.5, pid.size)
    return conform(
        pd.DataFrame(
            {
                "patient_id": pd.Series(pid).map("S{:04d}".format),
                "protocol": np.where(intensive[pid], "intensive", "weekly"),
                "instrument": "PHQ-9",
                "session": k,
                "day": day,
                "phase": np.where(k == 0, "baseline", "treatment"),
                "score": score,
            }
        )
    )


N_COHORTS = 400
N_SESSION_CHECK = 100


@pytest.mark.slow
def test_day_14_contrast_false_positive_rate_with_the_same_calendar_curve():
    """The day-14 protocol contrast's 95% CI excludes 0 in 3-7% of cohorts (5.7% of another
    1,000 seeded cohorts; the SE is about 4% below the spread across cohorts, as the patients'
    own curves are not in the model's random-effects space). The linear session model's
    session × protocol term, on the first 100 of the same cohorts, is "significant" in far more
    (about a quarter): it compares change per session, and intensive sessions are days apart
    where weekly ones are weeks apart."""
    day14 = np.empty(N_COHORTS, dtype=bool)
    session = np.empty(N_SESSION_CHECK, dtype=bool)
    estimates = np.empty(N_COHORTS)
    for k in range(N_COHORTS):
        tidy = simulate_same_calendar_curve(1000 + k)
        contrast = fit_day_model(tidy, "PHQ-9").contrast_at("intensive", 14.0)
        lo, hi = contrast.ci
        day14[k] = lo > 0 or hi < 0
        estimates[k] = contrast.estimate
        if k < N_SESSION_CHECK:
            fe = fit_growth(tidy, "PHQ-9").fixed_effect("session_x_protocol_intensive")
            session[k] = fe.ci[0] > 0 or fe.ci[1] < 0
    rate = day14.mean()
    assert 0.03 <= rate <= 0.07, f"day-14 contrast significant in {rate:.1%} of cohorts"
    assert abs(estimates.mean()) < 0.2  # points; the SD across cohorts is about 0.45
    assert session.mean() > 0.15, f"session model significant in {session.mean():.1%}"
