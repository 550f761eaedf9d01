"""Kaplan–Meier and log-rank against R's survival package and lifelines.

Reference values: tests/fixtures/reference/survival_reference.R (R survival 3.5-3) wrote
survival_reference.json and survival_lung.csv (R's ``lung`` data) once; R is not needed here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test as lifelines_logrank
from lifelines.statistics import multivariate_logrank_test

from analysis.survival import (
    CURVE_COLUMNS,
    LONG_CURVE_COLUMNS,
    SUMMARY_COLUMNS,
    kaplan_meier,
    km_by_group,
    km_curves,
    logrank_test,
    survival_at,
)
from data.errors import AnalysisError

REF_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
REF = json.loads((REF_DIR / "survival_reference.json").read_text())


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    frame = pd.read_csv(REF_DIR / "survival_lung.csv")
    return frame.assign(event=frame["status"] == 2)  # R: 1 = censored, 2 = dead


def r_frame(columns: dict) -> pd.DataFrame:
    """An R data frame from the JSON fixture (R's NA as NaN)."""
    return pd.DataFrame(columns).astype(float)


def assert_curve_matches_r(curve: pd.DataFrame, r_curve: dict) -> None:
    expected = r_frame(r_curve)[CURVE_COLUMNS]
    pd.testing.assert_frame_equal(
        curve[CURVE_COLUMNS].astype(float), expected, rtol=1e-12, atol=1e-12
    )


def none_or(x: float | None) -> float | None:
    return None if x is None else float(x)


# ------------------------------------------------------------------- R survival: lung data


def test_km_median_against_R_lung(lung):
    km = kaplan_meier(lung["time"], lung["event"])
    # print(survfit(Surv(time, status) ~ 1, lung)): n 228, events 165, median 310 (285, 363)
    assert (km.n, km.n_events) == (228, 165)
    assert km.median == 310
    assert km.median_ci == (285, 363)


def test_km_curve_against_R_lung_survfit(lung):
    km = kaplan_meier(lung["time"], lung["event"])
    assert list(km.curve.columns) == CURVE_COLUMNS
    assert_curve_matches_r(km.curve, REF["lung"]["curve"])


def test_survival_at_against_R_lung_summary_times(lung):
    km = kaplan_meier(lung["time"], lung["event"])
    got = survival_at(km, [100, 200, 300, 500])
    expected = r_frame(REF["lung"]["summary_times"])
    pd.testing.assert_frame_equal(got.astype(float), expected, rtol=1e-12, atol=1e-12)
    # summary(fit, times = 300) as printed by R: 0.531 (0.467, 0.603), n.risk 92
    assert got.loc[2, "n_risk"] == 92
    assert got.loc[2, ["survival", "ci_lo", "ci_hi"]].round(3).tolist() == [0.531, 0.467, 0.603]


def test_survival_at_before_first_and_after_last_time(lung):
    km = kaplan_meier(lung["time"], lung["event"])
    got = survival_at(km, [0, 2000])
    assert got.loc[0, ["survival", "ci_lo", "ci_hi", "n_risk"]].tolist() == [1, 1, 1, 228]
    assert np.isnan(got.loc[1, "survival"]) and got.loc[1, "n_risk"] == 0


def test_logrank_against_R_lung_by_sex(lung):
    res = logrank_test(lung["time"], lung["event"], lung["sex"])
    # survdiff(Surv(time, status) ~ sex, lung): Chisq = 10.3 on 1 df, p = 0.00131
    assert res.chi2 == pytest.approx(10.3267, abs=5e-5)
    assert res.df == 1
    assert res.p == pytest.approx(0.00131, abs=5e-6)
    ref = REF["lung_by_sex"]["logrank"]
    assert res.chi2 == pytest.approx(ref["chi2"], rel=1e-12)
    assert res.p == pytest.approx(ref["p"], rel=1e-10)
    assert res.table["n"].tolist() == ref["n"] == [138, 90]
    np.testing.assert_allclose(res.observed.to_numpy(), ref["observed"])
    np.testing.assert_allclose(res.expected.to_numpy(), ref["expected"], rtol=1e-12)


def test_logrank_against_R_lung_by_ecog_four_groups_one_of_size_one(lung):
    data = lung.dropna(subset=["ph.ecog"])  # R drops the one NA row
    res = logrank_test(data["time"], data["event"], data["ph.ecog"].astype(int))
    ref = REF["lung_by_ecog"]["logrank"]  # Chisq = 22 on 3 df, p = 7e-05
    assert res.df == ref["df"] == 3
    assert res.chi2 == pytest.approx(ref["chi2"], rel=1e-10)
    assert res.p == pytest.approx(ref["p"], rel=1e-8)
    assert res.table["n"].tolist() == ref["n"] == [63, 113, 50, 1]
    np.testing.assert_allclose(res.expected.to_numpy(), ref["expected"], rtol=1e-12)


@pytest.mark.parametrize("case", ["lung_by_sex", "lung_by_ecog"])
def test_km_by_group_against_R_print_survfit_strata(lung, case):
    column = "sex" if case == "lung_by_sex" else "ph.ecog"
    data = lung.dropna(subset=[column]).astype({column: int})
    got = km_by_group(data, column, "time", "event")
    assert list(got.columns) == SUMMARY_COLUMNS
    expected = pd.DataFrame(REF[case]["printed"])
    assert got["group"].astype(str).tolist() == expected["group"].tolist()
    cols = SUMMARY_COLUMNS[1:]
    pd.testing.assert_frame_equal(got[cols].astype(float), expected[cols].astype(float))


def test_km_curves_start_at_time_zero_then_follow_R_curve(lung):
    curves = km_curves(lung.assign(protocol="weekly"), "protocol", "time", "event")
    assert list(curves.columns) == LONG_CURVE_COLUMNS
    first = curves.iloc[0]
    assert (first["time"], first["survival"], first["ci_lo"], first["ci_hi"]) == (0, 1, 1, 1)
    assert first["n_risk"] == 228
    r_curve = r_frame(REF["lung"]["curve"])
    rest = curves.iloc[1:].reset_index(drop=True)
    cols = ["time", "survival", "ci_lo", "ci_hi", "n_risk", "n_censor"]
    pd.testing.assert_frame_equal(rest[cols].astype(float), r_curve[cols], rtol=1e-12)


# ------------------------------------------------------------------- R survival: edge cases


@pytest.mark.parametrize(
    "case",
    [
        "ties_event_and_censor",
        "all_events_one_time",
        "half_then_drop",
        "half_to_the_end",
        "all_censored",
        "median_not_reached",
    ],
)
def test_km_edge_cases_against_R_survfit(case):
    ref = REF[case]
    km = kaplan_meier(ref["time"], ref["event"])
    assert_curve_matches_r(km.curve, ref["curve"])
    printed = ref["printed"]
    assert (km.n, km.n_events) == (printed["n"][0], printed["n_events"][0])
    assert km.median == none_or(printed["median"][0])
    assert km.median_ci == (
        none_or(printed["median_ci_lo"][0]),
        none_or(printed["median_ci_hi"][0]),
    )


def test_ties_censored_after_events_by_hand():
    # times 1, 2, 2+, 3, 4: at t = 2 the censored patient is still at risk (n = 4).
    km = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 1])
    c = km.curve
    assert c["n_risk"].tolist() == [5, 4, 2, 1]
    assert c["survival"].tolist() == pytest.approx([4 / 5, 4 / 5 * 3 / 4, 0.6 * 1 / 2, 0.0])
    # Greenwood SE at t = 1: S·sqrt(d / (n (n − d))) = 0.8 · sqrt(1/20)
    assert c.loc[0, "std_err"] == pytest.approx(0.8 * np.sqrt(1 / 20))
    assert np.isnan(c.loc[3, ["std_err", "ci_lo", "ci_hi"]].astype(float)).all()  # S = 0, as R


def test_median_exactly_half_is_interpolated_as_R_print_not_quantile():
    # S = 0.75, 0.5, 0.25, 0: R prints median (2 + 3) / 2 = 2.5.
    assert kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1]).median == 2.5
    # S stays at 0.5 to the last follow-up: print.survfit says 2 (quantile.survfit would say 3).
    half = REF["half_to_the_end"]
    assert kaplan_meier(half["time"], half["event"]).median == half["printed"]["median"][0] == 2
    assert half["quantile_median"] == 3


def test_near_equal_days_merged_as_R_timefix():
    ref = REF["near_equal_days"]
    days = [0.1 + 0.2, *ref["time"][1:]]  # 0.30000000000000004, 0.3, 0.3 + 1e-12, ...
    km = kaplan_meier(days, ref["event"])
    assert_curve_matches_r(km.curve, ref["curve"])
    assert km.median == pytest.approx(ref["printed"]["median"][0])


def test_logrank_against_R_when_one_group_has_no_events():
    ref = REF["logrank_no_events_in_one_group"]
    res = logrank_test([1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 1, 1], [1, 1, 2, 2, 2, 2])
    assert (res.chi2, res.df, res.p) == (ref["chi2"], ref["df"], ref["p"]) == (0, 0, 1)
    assert res.expected.tolist() == ref["expected"]


# ------------------------------------------------------------------- lifelines agreement


def _random_cohort(seed: int, n: int, groups: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    return pd.DataFrame(
        {
            "protocol": np.array(["intensive", "weekly", "group"])[g],
            "time": rng.integers(1, 25, n) + g * rng.integers(0, 4, n),  # many ties
            "event": rng.random(n) < 0.6,
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_km_curve_against_lifelines_random_data(seed):
    data = _random_cohort(seed, 300, 1)
    km = kaplan_meier(data["time"], data["event"])
    kmf = KaplanMeierFitter().fit(data["time"], data["event"])
    table = kmf.event_table.drop(index=0, errors="ignore")
    np.testing.assert_allclose(km.curve["time"], table.index.to_numpy(float))
    np.testing.assert_array_equal(km.curve["n_risk"], table["at_risk"])
    np.testing.assert_array_equal(km.curve["n_event"], table["observed"])
    np.testing.assert_array_equal(km.curve["n_censor"], table["censored"])
    sf = kmf.survival_function_.iloc[:, 0].drop(index=0, errors="ignore")
    np.testing.assert_allclose(km.curve["survival"], sf.to_numpy(), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 8), st.booleans(), st.integers(0, 1)), min_size=2, max_size=40
    )
)
def test_km_and_logrank_against_lifelines_property(rows):
    time_, event, group = (np.array(col) for col in zip(*rows, strict=True))
    km = kaplan_meier(time_, event)
    kmf = KaplanMeierFitter().fit(time_, event)
    sf = kmf.survival_function_.iloc[:, 0]
    np.testing.assert_allclose(km.curve["survival"], sf.loc[km.curve["time"]].to_numpy())
    if len(set(group)) == 2:
        a, b = group == 0, group == 1
        ref = lifelines_logrank(time_[a], time_[b], event[a], event[b])
        res = logrank_test(time_, event, group)
        if res.df == 1:
            assert res.chi2 == pytest.approx(ref.test_statistic, rel=1e-9, abs=1e-12)


def test_logrank_against_lifelines_two_groups_random_data():
    data = _random_cohort(7, 500, 2)
    a, b = (data[data["protocol"] == p] for p in ("intensive", "weekly"))
    ref = lifelines_logrank(a["time"], b["time"], a["event"], b["event"])
    res = logrank_test(data["time"], data["event"], data["protocol"])
    assert res.chi2 == pytest.approx(ref.test_statistic, rel=1e-10)
    assert res.p == pytest.approx(ref.p_value, rel=1e-8)


def test_logrank_against_lifelines_three_groups_random_data():
    data = _random_cohort(11, 600, 3)
    ref = multivariate_logrank_test(data["time"], data["protocol"], data["event"])
    res = logrank_test(data["time"], data["event"], data["protocol"])
    assert res.df == ref.degrees_of_freedom == 2
    assert res.chi2 == pytest.approx(ref.test_statistic, rel=1e-10)
    assert res.p == pytest.approx(ref.p_value, rel=1e-8)


# ------------------------------------------------------------------- groups, dtypes, errors


def test_empty_category_gives_empty_row_and_is_left_out_elsewhere():
    data = pd.DataFrame(
        {
            "protocol": pd.Categorical(
                ["weekly"] * 3 + ["intensive"], ["intensive", "weekly", "x"]
            ),
            "time": [1, 2, 3, 4],
            "event": [1, 1, 0, 1],
        }
    )
    summary = km_by_group(data)
    assert summary["group"].tolist() == ["intensive", "weekly", "x"]
    assert summary.loc[2, ["n", "n_events"]].tolist() == [0, 0]
    assert summary.loc[2, ["median", "median_ci_lo", "median_ci_hi"]].isna().all()
    # a group of one: S drops 1 → 0 at t = 4, median 4 with no CI (as R for ph.ecog = 3)
    assert summary.loc[0, ["n", "median"]].tolist() == [1, 4]
    assert set(km_curves(data)["group"]) == {"intensive", "weekly"}
    assert logrank_test(data["time"], data["event"], data["protocol"]).table["n"].tolist() == [1, 3]


def test_nullable_dtypes_from_the_tidy_table(lung):
    tidy = pd.DataFrame(
        {
            "protocol": pd.array(np.where(lung["sex"] == 1, "weekly", "intensive"), "string"),
            "time": pd.array(lung["time"], dtype="Int64"),
            "event": pd.array(lung["event"], dtype="boolean"),
        }
    )
    got = km_by_group(tidy)
    assert got.set_index("group").loc["weekly", "median"] == 270  # R: sex = 1
    res = logrank_test(tidy["time"], tidy["event"], tidy["protocol"])
    assert res.chi2 == pytest.approx(REF["lung_by_sex"]["logrank"]["chi2"], rel=1e-12)


@pytest.mark.parametrize(
    ("time_", "event", "words"),
    [
        ([1.0, np.nan], [1, 0], "no usable time"),
        ([1, -2], [1, 0], "negative"),
        ([1, 2], [1, 2], "R's 1 = censored, 2 = event"),
        ([1, 2], [1, None], "no event flag"),
        ([1, 2], [1], "2 times but 1 event flags"),
        (["a", 2], [1, 0], "not numbers"),
        ([], [], "no patients"),
    ],
)
def test_bad_input_raises_domain_error(time_, event, words):
    with pytest.raises(AnalysisError, match=words):
        kaplan_meier(time_, event)


def test_logrank_needs_two_groups_and_named_columns():
    with pytest.raises(AnalysisError, match="at least two groups"):
        logrank_test([1, 2, 3], [1, 0, 1], ["weekly"] * 3)
    with pytest.raises(AnalysisError, match="no protocol"):
        km_by_group(pd.DataFrame({"protocol": ["a", None], "time": [1, 2], "event": [1, 0]}))
    with pytest.raises(AnalysisError, match="no column"):
        km_curves(pd.DataFrame({"time": [1], "event": [1]}))
    with pytest.raises(AnalysisError, match="confidence level"):
        kaplan_meier([1, 2], [1, 0], ci_level=95)
