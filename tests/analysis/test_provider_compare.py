"""Site and clinician comparison (analysis.provider_compare, analysis.provider_tables): units,
O/E and the standardised rate against a hand computation, the funnel limits against their
formula, DerSimonian–Laird shrinkage by hand, suppression, the researcher table, and a
simulation: with no true differences the 99.8% limits flag about 1 unit in 500, and a true
outlier is found."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.export import to_csv_bytes
from analysis.provider_compare import (
    BELOW_OUTER,
    INSIDE,
    MEAN_CHANGE,
    binomial_limits,
    compare_units,
    dersimonian_laird,
    normal_limits,
    patient_units,
    shrink,
)
from analysis.provider_tables import unit_comparison_table
from analysis.tables import prepare_for_export
from data.errors import AnalysisError
from tests.analysis.handmade import make_tidy


def _outcomes(protocol, improved, unit, *, baseline=None, change=None, instrument="PHQ-9"):
    """A per-patient outcomes table as ``patient_outcomes`` gives it (the columns read here)."""
    n = len(protocol)
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:03d}" for i in range(n)],
            "instrument": instrument,
            "protocol": protocol,
            "paired": True,
            "baseline": 15.0 if baseline is None else baseline,
            "reliable_improvement": pd.array(improved, dtype="boolean"),
            "change": np.zeros(n) if change is None else change,
        }
    ), pd.Series(unit, index=[f"P{i:03d}" for i in range(n)])


# --------------------------------------------------------------------------- units


def test_a_patient_belongs_to_the_unit_on_most_of_their_rows_ties_to_the_earliest():
    rows = [
        ("A", "weekly", "PHQ-9", 0, 0.0, 15), ("A", "weekly", "PHQ-9", 1, 7.0, 12),
        ("A", "weekly", "PHQ-9", 2, 14.0, 10),
        ("B", "weekly", "PHQ-9", 1, 7.0, 12), ("B", "weekly", "PHQ-9", 0, 0.0, 15),
        ("C", "weekly", "PHQ-9", 0, 0.0, 15),
    ]  # fmt: skip
    # A: Site 2 twice, Site 1 once; B: a tie, and its earliest row (day 0, listed second) says
    # Site 2; C: no label at all
    tidy = make_tidy(rows, site=["Site 1", "Site 2", "Site 2", "Site 1", "Site 2", None])
    units = patient_units(tidy, "site")
    assert units.to_dict() == {"A": "Site 2", "B": "Site 2"}


def test_no_unit_column_is_a_plain_error():
    tidy = make_tidy([("A", "weekly", "PHQ-9", 0, 0.0, 15)])
    with pytest.raises(AnalysisError, match="no clinician column"):
        patient_units(tidy, "clinician")


# --------------------------------------------------------------------------- by hand


def test_observed_expected_and_standardised_rate_match_a_hand_computation():
    # Protocol is the only covariate that varies, so the logistic model is saturated: each
    # patient's probability is their protocol's rate (intensive 6/10, weekly 3/10).
    protocol = ["intensive"] * 10 + ["weekly"] * 10
    improved = [1, 1, 1, 1, 0, 0, 1, 1, 0, 0] + [1, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    unit = ["A"] * 6 + ["B"] * 4 + ["A"] * 2 + ["B"] * 8
    o, units = _outcomes(protocol, improved, unit)
    res = compare_units(o, units, "PHQ-9", unit_column="site")
    # A: 6 intensive (4 improved) + 2 weekly (1 improved); B: 4 intensive (2) + 8 weekly (2)
    e_a, e_b = 6 * 0.6 + 2 * 0.3, 4 * 0.6 + 8 * 0.3
    overall = 9 / 20
    got = res.units.set_index("unit")
    assert res.covariates == ("protocol: weekly",) or res.covariates == ("protocol: intensive",)
    assert got.loc["A", "observed"] == 5 and got.loc["B", "observed"] == 4
    assert got.loc["A", "expected"] == pytest.approx(e_a, abs=1e-6)
    assert got.loc["B", "expected"] == pytest.approx(e_b, abs=1e-6)
    assert got.loc["A", "oe_ratio"] == pytest.approx(5 / e_a, abs=1e-6)
    assert got.loc["A", "adjusted"] == pytest.approx(100 * 5 / e_a * overall, abs=1e-4)
    assert got.loc["B", "adjusted"] == pytest.approx(100 * 4 / e_b * overall, abs=1e-4)
    assert got.loc["A", "raw"] == pytest.approx(100 * 5 / 8)
    assert res.overall == pytest.approx(45.0)
    # the limits are those of Binomial(n, overall) at each unit's n
    lim = binomial_limits(overall, np.array([8.0]), scale=100.0)
    assert got.loc["A", "limit95_lo"] == pytest.approx(lim["limit95_lo"][0])
    assert set(got["flag"]) == {INSIDE}


def _hand_limit(n: int, theta: float, p: float) -> float:
    """Spiegelhalter (2005) appendix A.1.1, written out with math.comb."""
    cdf, r = 0.0, -1
    while cdf < p:
        r += 1
        below = cdf
        cdf += math.comb(n, r) * theta**r * (1 - theta) ** (n - r)
    alpha = (cdf - p) / (cdf - below)
    return (r - alpha) / n


@pytest.mark.parametrize(("n", "theta"), [(10, 0.5), (25, 0.3), (60, 0.72)])
def test_exact_binomial_limits_follow_the_interpolated_quantile_formula(n, theta):
    got = binomial_limits(theta, np.array([n]))
    for key, p in (("limit95_lo", 0.025), ("limit95_hi", 0.975),
                   ("limit998_lo", 0.001), ("limit998_hi", 0.999)):  # fmt: skip
        assert got[key][0] == pytest.approx(_hand_limit(n, theta, p), abs=1e-9), key


def test_known_value_of_the_lower_95_limit_at_n_10_and_a_half():
    # F(1) = 11/1024, F(2) = 56/1024: r = 2, α = (56/1024 − 0.025)/(45/1024)
    alpha = (56 / 1024 - 0.025) / (45 / 1024)
    assert binomial_limits(0.5, np.array([10]))["limit95_lo"][0] == pytest.approx((2 - alpha) / 10)
    assert (2 - alpha) / 10 == pytest.approx(0.13244, abs=1e-5)


def test_binomial_limits_approach_the_normal_form_for_large_n():
    n, theta = np.array([20_000]), 0.3
    got = binomial_limits(theta, n)
    se = math.sqrt(theta * (1 - theta) / n[0])
    assert got["limit95_hi"][0] == pytest.approx(theta + 1.959964 * se, abs=2e-4)
    assert got["limit998_lo"][0] == pytest.approx(theta - 3.090232 * se, abs=2e-4)
    normal = normal_limits(10.0, 4.0, np.array([16]))
    assert normal["limit95_lo"][0] == pytest.approx(10.0 - 1.959964 * 1.0, abs=1e-6)


def test_dersimonian_laird_and_shrinkage_by_hand():
    # w = 1, ȳ = 2, Q = 4 + 0 + 4 = 8, c = 3 − 3/3 = 2, τ² = (8 − 2)/2 = 3; B = 1/(1 + 3)
    mu, tau2 = dersimonian_laird(np.array([0.0, 2.0, 4.0]), np.ones(3))
    assert (mu, tau2) == (pytest.approx(2.0), pytest.approx(3.0))
    assert shrink(np.array([0.0, 2.0, 4.0]), np.ones(3), mu, tau2) == pytest.approx([0.5, 2, 3.5])
    # no spread beyond chance: τ² = 0, everyone at the mean
    mu, tau2 = dersimonian_laird(np.array([0.0, 1.0, 2.0]), np.ones(3))
    assert tau2 == 0.0
    assert shrink(np.array([0.0, 2.0]), np.ones(2), mu, tau2) == pytest.approx([1.0, 1.0])


def test_mean_change_is_adjusted_by_the_linear_model():
    protocol = ["intensive"] * 6 + ["weekly"] * 6
    change = np.array([8, 6, 7, 9, 5, 7, 3, 4, 2, 3, 5, 1], dtype=float)  # means 7 and 3
    unit = ["A", "A", "A", "B", "B", "B", "A", "B", "B", "B", "B", "B"]
    o, units = _outcomes(protocol, [True] * 12, unit, change=change)
    res = compare_units(o, units, "PHQ-9", outcome=MEAN_CHANGE, unit_column="site", min_n=1)
    got = res.units.set_index("unit")
    # A: observed 8+6+7+3 = 24 over 4, expected 7+7+7+3 = 24 → adjusted = overall mean
    assert got.loc["A", "adjusted"] == pytest.approx(change.mean())
    obs_b, exp_b = (9 + 5 + 7 + 4 + 2 + 3 + 5 + 1) / 8, (3 * 7 + 5 * 3) / 8
    assert got.loc["B", "adjusted"] == pytest.approx(change.mean() + obs_b - exp_b)
    assert got.loc["B", "observed"] == pytest.approx(obs_b)


# --------------------------------------------------------------------------- suppression


def test_units_under_five_patients_are_left_out_and_counted():
    rng = np.random.default_rng(3)
    unit = ["A"] * 30 + ["B"] * 30 + ["C"] * 4 + ["D"] * 2
    o, units = _outcomes(["weekly"] * 66, rng.random(66) < 0.5, unit,
                         baseline=rng.normal(15, 4, 66))  # fmt: skip
    res = compare_units(o, units, "PHQ-9", unit_column="clinician")
    assert list(res.units["unit"]) == ["A", "B"]
    assert (res.n_units, res.n_suppressed_units, res.n_suppressed_patients) == (4, 2, 6)
    assert res.n_patients == 66  # the small units still count in the overall figure


def test_nothing_to_compare_says_why():
    o, units = _outcomes(["weekly"] * 10, [True, False] * 5, ["A"] * 10)
    with pytest.raises(AnalysisError, match="Fewer than two sites"):
        compare_units(o, units, "PHQ-9", unit_column="site")
    o, units = _outcomes(["weekly"] * 10, [True] * 10, ["A", "B"] * 5)
    with pytest.raises(AnalysisError, match="cannot differ"):
        compare_units(o, units, "PHQ-9", unit_column="site")


def test_the_researcher_table_hides_small_units_and_small_counts_and_neutralises_labels():
    rng = np.random.default_rng(5)
    labels = ["=HYPERLINK(1)"] * 40 + ["Site B"] * 40 + ["Site C"] * 3 + ["Tiny"] * 10
    rows, site = [], []
    for i, label in enumerate(labels):
        improved = (i % 10 == 0) if label == "Tiny" else rng.random() < 0.5  # Tiny: 1 of 10
        base = float(rng.integers(10, 25))
        end = base - (8 if improved else 1)
        rows += [(f"P{i:03d}", "weekly", "PHQ-9", 0, 0.0, base),
                 (f"P{i:03d}", "weekly", "PHQ-9", 1, 7.0, end)]  # fmt: skip
        site += [label, label]
    tidy = make_tidy(rows, site=site)
    from analysis.outcomes import patient_outcomes
    from data.instruments import default_registry

    o = patient_outcomes(tidy, default_registry())
    table = unit_comparison_table(tidy, o, "site")
    assert table is not None and table.name == "site_comparison"
    assert set(table.frame["unit"]) == {"=HYPERLINK(1)", "Site B", "Tiny"}  # Site C: 3 < 5
    assert any("; 1 site with fewer than 5 patients suppressed." in n for n in table.notes)
    out = prepare_for_export(table).frame.set_index("unit")
    assert out.loc["Tiny", "observed"] == "<5"
    assert pd.isna(out.loc["Tiny", "adjusted_rate"]) and pd.isna(out.loc["Tiny", "oe_ratio"])
    assert "'=HYPERLINK(1)" in out.index
    csv = to_csv_bytes(table).decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in csv and "\n=HYPERLINK" not in csv
    assert unit_comparison_table(tidy.drop(columns="site"), o, "site") is None


# --------------------------------------------------------------------------- simulation


def _practice(rng, n_units: int, per_unit: int, shift: dict[int, float]) -> tuple:
    """Patients with case mix that differs by unit (unit k has more severe and more
    treatment-resistant patients as k grows) and an outcome depending on case mix only, plus a
    logit ``shift`` for the units named."""
    k = np.repeat(np.arange(n_units), per_unit)
    n = len(k)
    baseline = rng.normal(15 + 0.5 * k, 4)
    intensive = rng.random(n) < 0.3 + 0.04 * k
    resistant = rng.random(n) < 0.3 + 0.03 * k
    logit = 0.2 - 0.08 * (baseline - 15) + 0.6 * intensive - 0.7 * resistant
    logit = logit + np.array([shift.get(int(u), 0.0) for u in range(n_units)])[k]
    improved = rng.random(n) < 1 / (1 + np.exp(-logit))
    o, units = _outcomes(np.where(intensive, "intensive", "weekly"), improved,
                         [f"U{u}" for u in k], baseline=baseline)  # fmt: skip
    o["treatment_resistant"] = pd.array(resistant, dtype="boolean")
    return o, units


def test_without_true_differences_about_one_unit_in_500_falls_outside_the_998_limits():
    rng = np.random.default_rng(2024)
    flags = []
    for _ in range(120):
        o, units = _practice(rng, 10, 60, {})
        flags += list(compare_units(o, units, "PHQ-9", unit_column="site").units["flag"])
    flags = np.array(flags)
    n = len(flags)  # 1,200 unit comparisons
    outer = np.isin(flags, ["above 99.8% limit", BELOW_OUTER]).mean()
    inner = (flags != INSIDE).mean()
    assert outer <= 0.002 + 3 * math.sqrt(0.002 * 0.998 / n)
    assert inner <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / n)
    assert inner >= 0.02  # the limits are not so wide that nothing is ever flagged


def test_a_true_outlier_is_found():
    rng = np.random.default_rng(7)
    found, false = 0, 0
    for _ in range(40):
        o, units = _practice(rng, 8, 80, {3: -1.3})
        flags = compare_units(o, units, "PHQ-9", unit_column="site").units.set_index("unit")["flag"]
        found += flags["U3"] == BELOW_OUTER
        false += int((flags.drop("U3") != INSIDE).sum())
    assert found >= 32  # at least 80% of the practices flag it beyond the 99.8% limit
    assert false <= 0.1 * 40 * 7
