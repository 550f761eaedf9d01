"""Wilson intervals and rate tables against Newcombe (1998), R prop.test and statsmodels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.rates import Rate, proportion, rates_table, wilson_ci
from data.errors import AnalysisError

REFERENCE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "reference" / "effects_reference.json").read_text()
)


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (score interval).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_against_newcombe_1998(k, n, lo, hi):
    assert wilson_ci(k, n) == pytest.approx((lo, hi), abs=5e-5)


@pytest.mark.parametrize("case", REFERENCE["wilson"], ids=lambda c: f"{c['k']}of{c['n']}")
def test_wilson_against_r_prop_test_without_continuity_correction(case):
    assert wilson_ci(case["k"], case["n"]) == pytest.approx((case["lo"], case["hi"]), rel=1e-9)


def test_wilson_vectorised_against_statsmodels_proportion_confint():
    n = np.array([1, 2, 5, 10, 10, 10, 37, 100, 263, 1000, 5000])
    k = np.array([0, 1, 5, 0, 3, 10, 20, 50, 81, 999, 17])
    for level in (0.95, 0.9, 0.99):
        lo, hi = wilson_ci(k, n, level)
        ref_lo, ref_hi = proportion_confint(k, n, alpha=1 - level, method="wilson")
        np.testing.assert_allclose(lo, ref_lo, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(hi, ref_hi, rtol=1e-10, atol=1e-15)


def test_wilson_ends_are_exact_at_none_and_all():
    lo, hi = wilson_ci([0, 7], [7, 7])
    assert lo[0] == 0.0 and hi[1] == 1.0


def test_wilson_zero_denominator_is_nan():
    lo, hi = wilson_ci([0, 3], [0, 4])
    assert np.isnan(lo[0]) and np.isnan(hi[0]) and np.isfinite(lo[1])


@pytest.mark.parametrize(("k", "n"), [(5, 4), (-1, 4), (1.5, 4), (1, np.nan), ("x", 3)])
def test_wilson_bad_counts_raise_domain_error(k, n):
    with pytest.raises(AnalysisError):
        wilson_ci(k, n)


def test_proportion_is_the_spec_section_7_object():
    rate = proportion(81, 263)
    d = rate.to_dict()
    assert list(d) == ["n", "of", "pct", "ci"]
    assert d["n"] == 81 and d["of"] == 263
    assert d["pct"] == pytest.approx(100 * 81 / 263)
    assert d["ci"] == pytest.approx([25.53, 36.62], abs=5e-3)  # Newcombe 1998, in percent
    json.dumps(d, allow_nan=False)


def test_proportion_with_no_denominator_has_no_pct_or_ci():
    assert proportion(0, 0) == Rate(n=0, of=0, pct=None, ci=None)
    assert proportion(0, 0).to_dict() == {"n": 0, "of": 0, "pct": None, "ci": None}


@pytest.fixture
def patients() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "protocol": ["intensive"] * 5 + ["weekly"] * 4,
            "site": ["A", "A", "B", "B", "B", "A", "A", "A", "B"],
            "response": pd.array(
                [True, True, False, None, True, False, None, None, True], dtype="boolean"
            ),
            "remission": [1, 0, 0, np.nan, 1, 0, np.nan, np.nan, 0],
        }
    )


def test_rates_table_counts_by_hand_completers(patients):
    out = rates_table(patients, ["protocol"], ["response", "remission"])
    assert list(out.columns) == [
        "protocol",
        "flag",
        "numerator",
        "denominator",
        "pct",
        "ci_lo",
        "ci_hi",
    ]
    got = {(r.protocol, r.flag): (r.numerator, r.denominator) for r in out.itertuples()}
    # intensive: response T T F ? T -> 3 of 4 known; remission 1 0 0 ? 1 -> 2 of 4.
    # weekly: response F ? ? T -> 1 of 2; remission 0 ? ? 0 -> 0 of 2.
    assert got == {
        ("intensive", "response"): (3, 4),
        ("intensive", "remission"): (2, 4),
        ("weekly", "response"): (1, 2),
        ("weekly", "remission"): (0, 2),
    }
    assert list(out["flag"]) == ["response", "remission", "response", "remission"]
    row = out.iloc[0]
    assert row["pct"] == pytest.approx(75.0)
    assert (row["ci_lo"], row["ci_hi"]) == pytest.approx(
        tuple(100 * np.array(proportion_confint(3, 4, method="wilson"))), rel=1e-10
    )


def test_rates_table_all_starters_count_unknown_as_no(patients):
    out = rates_table(patients, ["protocol"], ["response"], missing="false")
    assert list(out["numerator"]) == [3, 1]
    assert list(out["denominator"]) == [5, 4]


def test_rates_table_two_keys_and_overall(patients):
    by_two = rates_table(patients, ["protocol", "site"], ["response"])
    assert len(by_two) == 4
    weekly_b = by_two[(by_two["protocol"] == "weekly") & (by_two["site"] == "B")].iloc[0]
    assert (weekly_b["numerator"], weekly_b["denominator"]) == (1, 1)
    overall = rates_table(patients, [], ["response", "remission"])
    assert list(overall.columns[:3]) == ["flag", "numerator", "denominator"]
    assert list(overall["numerator"]) == [4, 2] and list(overall["denominator"]) == [6, 6]


def test_rates_table_accepts_single_names(patients):
    single = rates_table(patients, "protocol", "response")
    pd.testing.assert_frame_equal(single, rates_table(patients, ["protocol"], ["response"]))


def test_rates_table_group_with_no_known_flag_has_nan_pct():
    frame = pd.DataFrame({"g": ["a", "b"], "f": pd.array([True, None], dtype="boolean")})
    out = rates_table(frame, ["g"], ["f"])
    b = out[out["g"] == "b"].iloc[0]
    assert b["denominator"] == 0 and np.isnan(b["pct"]) and np.isnan(b["ci_lo"])


def test_rates_table_bad_flag_and_missing_column_raise_domain_error(patients):
    with pytest.raises(AnalysisError, match="remission"):
        rates_table(patients.assign(remission=[2] * 9), ["protocol"], ["remission"])
    with pytest.raises(AnalysisError, match="recovery"):
        rates_table(patients, ["protocol"], ["recovery"])
