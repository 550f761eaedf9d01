"""The dashboard's glue (dashboard/compute.py): filters select whole patients, and filtering the
outcomes of the whole table gives exactly what the analysis gives on the filtered table (the
reference: ``patient_outcomes`` run on the filtered assessments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.effects import between_effects
from analysis.outcomes import patient_outcomes, planned_last_sessions
from dashboard import compute
from dashboard.compute import Filters
from data.demo.cohort import generate_demo
from data.instruments import default_registry, load_registry
from tests.analysis.handmade import make_tidy

REG = default_registry()


@pytest.fixture(scope="module")
def demo():
    tidy = generate_demo(n_patients=160, seed=7)
    return tidy, compute.patient_attributes(tidy), patient_outcomes(tidy, REG)


FILTERS = [
    Filters(protocols=("intensive",)),
    Filters(sites=("Site A", "Site C")),
    Filters(routes=("IV",), treatment_resistant="yes"),
    Filters(instruments=("GAD-7",), treatment_resistant="no"),
    Filters(instruments=("PHQ-9", "PCL-5"), protocols=("weekly",), sites=("Site B",)),
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: f.describe())
def test_filtered_outcomes_equal_outcomes_of_the_filtered_table(demo, filters):
    tidy, attrs, outcomes = demo
    fast = compute.filter_outcomes(outcomes, filters).reset_index(drop=True)
    # completers are judged against the whole practice's schedule, not one re-inferred per part
    whole = planned_last_sessions(outcomes)
    reference = patient_outcomes(
        compute.filter_tidy(tidy, attrs, filters), REG, planned_sessions=whole
    )
    key = ["patient_id", "instrument"]
    fast = fast.sort_values(key).reset_index(drop=True)
    reference = reference.sort_values(key).reset_index(drop=True)
    assert len(fast) > 0
    pd.testing.assert_frame_equal(fast, reference, check_dtype=False)


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: f.describe())
def test_filtering_by_patient_position_equals_filtering_by_id(demo, filters):
    tidy, attrs, _ = demo
    by_id = compute.filter_tidy(tidy, attrs, filters)
    by_position = compute.filter_tidy(tidy, attrs, filters, compute.patient_positions(tidy, attrs))
    pd.testing.assert_frame_equal(by_position, by_id)


def test_no_comparison_reason():
    assert compute.no_comparison_reason(["intensive", "weekly"]) is None
    assert compute.no_comparison_reason(["weekly"]).startswith(
        "Every patient here is on the weekly"
    )
    assert "no weekly patients (protocols here: intensive, x)" in compute.no_comparison_reason(
        ["x", "intensive"]
    )


def test_filters_keep_whole_patients(demo):
    tidy, attrs, _ = demo
    kept = compute.filter_tidy(tidy, attrs, Filters(protocols=("weekly",)))
    patients = set(attrs.loc[attrs["protocol"] == "weekly", "patient_id"])
    assert set(kept["patient_id"]) == patients
    # every assessment of those patients is kept, none of anyone else
    assert len(kept) == int(tidy["patient_id"].isin(patients).sum())


def test_no_filter_returns_the_table_itself(demo):
    tidy, attrs, outcomes = demo
    assert compute.filter_tidy(tidy, attrs, Filters()) is tidy
    assert compute.filter_outcomes(outcomes, Filters()) is outcomes
    assert Filters().describe() == "all patients"
    assert not Filters().active


def test_filter_description_in_words():
    f = Filters(protocols=("intensive",), sites=("Site A", "Site B"), treatment_resistant="yes")
    assert f.describe() == "protocol: intensive; site: Site A, Site B; treatment-resistant only"


def test_filter_options_from_the_data(demo):
    tidy, attrs, _ = demo
    opts = compute.filter_options(tidy, attrs)
    assert opts["instruments"] == ["GAD-7", "PCL-5", "PHQ-9"]
    assert opts["protocols"] == ["intensive", "weekly"]
    assert opts["treatment_resistant"] == ["all", "yes", "no"]


def test_filter_options_without_optional_columns():
    tidy = make_tidy([("P1", "weekly", "PHQ-9", 0, 0.0, 12.0)])
    opts = compute.filter_options(tidy, compute.patient_attributes(tidy))
    assert opts["sites"] == [] and opts["routes"] == [] and opts["treatment_resistant"] == []


def test_group_dependent_threshold_detected():
    practice = """
[[instrument]]
key = "HAM-D"
min = 0
max = 52
rci_method = "jacobson-truax"
reliability = 0.8
rci_sd = "sample"
"""
    assert not compute.outcomes_depend_on_group(REG)  # built-ins: fixed thresholds
    assert compute.outcomes_depend_on_group(load_registry(practice_text=practice))


def test_instruments_in_registry_order():
    assert compute.instrument_order(["PCL-5", "ZZZ", "GAD-7", "PHQ-9"], REG) == [
        "PHQ-9",
        "GAD-7",
        "PCL-5",
        "ZZZ",
    ]


def test_km_input_uses_days_or_sessions_and_counts_unknown_days():
    # P1 improves by 6 at session 2 (day 14); P2 never does: censored at EOT (session 2, no day)
    tidy = make_tidy(
        [
            ("P1", "weekly", "PHQ-9", 0, 0.0, 20.0),
            ("P1", "weekly", "PHQ-9", 1, 7.0, 18.0),
            ("P1", "weekly", "PHQ-9", 2, 14.0, 14.0),
            ("P2", "weekly", "PHQ-9", 0, 0.0, 20.0),
            ("P2", "weekly", "PHQ-9", 2, np.nan, 19.0),
        ]
    )
    outcomes = patient_outcomes(tidy, REG)
    days, unknown = compute.km_input(outcomes, "days")
    assert days[["time", "event"]].values.tolist() == [[14.0, True]] and unknown == 1
    sessions, unknown = compute.km_input(outcomes, "sessions")
    assert sorted(sessions[["time", "event"]].values.tolist()) == [[2.0, False], [2.0, True]]
    assert unknown == 0


def test_between_table_matches_between_effects():
    values = pd.DataFrame(
        {
            "instrument": ["PHQ-9"] * 7,
            "protocol": ["weekly", "intensive", "weekly", "intensive", "weekly", "intensive", "x"],
            "change": [3.0, 8.0, 5.0, 6.0, 4.0, 9.0, 1.0],
        }
    )
    table = compute.between_table(values, ["instrument"])
    # every protocol against weekly, the reference (analysis.figures.protocol_pairs)
    assert table[["a", "b"]].values.tolist() == [["intensive", "weekly"], ["x", "weekly"]]
    ref = between_effects([8.0, 6.0, 9.0], [3.0, 5.0, 4.0])
    row = table.iloc[0]
    assert row["g"] == pytest.approx(ref.g)
    assert (row["g_ci_lo"], row["g_ci_hi"]) == pytest.approx(ref.g_ci)
    assert row["welch_p"] == pytest.approx(ref.welch_p)
    ref_x = between_effects([1.0], [3.0, 5.0, 4.0])
    assert table.iloc[1]["g"] == pytest.approx(ref_x.g)
    assert np.isnan(table.iloc[1]["welch_p"])  # Welch needs two patients per protocol


def test_no_comparison_without_the_weekly_reference():
    values = pd.DataFrame(
        {"instrument": ["PHQ-9"] * 4, "protocol": ["intensive", "intensive", "x", "x"],
         "change": [8.0, 6.0, 1.0, 2.0]}
    )  # fmt: skip
    assert compute.between_table(values, ["instrument"]).empty


def test_dashboard_figures_equal_the_analysis_figures(demo):
    """The dashboard computes outcomes once and filters them, and draws its own tables from
    analysis primitives; each figure must equal ``analysis.figures.fast_figures`` (what the
    command line, the summary JSON and the downloads use) on the same patients."""
    from analysis.figures import MATCHED_DAYS, MATCHED_TOL, fast_figures
    from analysis.survival import km_by_group
    from analysis.trajectories import matched_days

    tidy, attrs, outcomes = demo
    filters = Filters(sites=("Site A", "Site B"))
    part = compute.filter_tidy(tidy, attrs, filters)
    o = compute.filter_outcomes(outcomes, filters)
    fig = fast_figures(part, REG)
    key = ["instrument", "protocol", "outcome", "denominator_basis"]
    ours = compute.outcome_rates(o).set_index(key).sort_index()
    theirs = (
        fig.rates.rename(columns={"flag": "outcome", "population": "denominator_basis"})
        .set_index(key)
        .sort_index()
    )
    assert len(ours) == len(theirs) > 0
    cols = ["numerator", "denominator", "pct", "ci_lo", "ci_hi"]
    pd.testing.assert_frame_equal(ours[cols], theirs[cols], check_dtype=False)

    paired = o.loc[o["paired"].to_numpy(dtype=bool), ["instrument", "protocol", "change"]]
    between = compute.between_table(
        paired.astype({"instrument": str, "protocol": str}), ["instrument"]
    )
    both = between.merge(fig.comparisons, on=["instrument", "a", "b"])
    assert len(both) == len(fig.comparisons) > 0
    assert both["g"].to_numpy() == pytest.approx(both["g_change"].to_numpy())
    assert both["g_ci_lo"].to_numpy() == pytest.approx(both["g_change_ci_lo"].to_numpy())
    assert both["welch_p_x"].to_numpy() == pytest.approx(both["welch_p_y"].to_numpy())

    m = matched_days(part, REG, days=MATCHED_DAYS, tol=MATCHED_TOL)
    matched = compute.between_table(
        m.astype({"instrument": str, "protocol": str}), ["instrument", "target_day"]
    )
    for row in matched.itertuples():
        expected = fig.comparisons.loc[fig.comparisons["instrument"] == row.instrument]
        day = f"day{row.target_day:g}_mean_diff"
        assert row.mean_diff == pytest.approx(expected[day].iloc[0])

    km, _ = compute.km_input(o.loc[(o["instrument"] == "PHQ-9").to_numpy()], "days")
    medians = km_by_group(km).set_index("group")["median"]
    ref_km = fig.km[(fig.km["instrument"] == "PHQ-9") & (fig.km["scale"] == "days")]
    assert medians.to_dict() == ref_km.set_index("protocol")["median"].to_dict()


def test_wilson_columns_added_in_percent():
    frame = compute.with_wilson(pd.DataFrame({"n": [0, 5], "of": [10, 10]}))
    # Wilson (1927) for 5 of 10: 0.2366 to 0.7634 (Newcombe 1998, method 3)
    assert frame["ci_lo"].iloc[1] == pytest.approx(23.66, abs=0.01)
    assert frame["ci_hi"].iloc[1] == pytest.approx(76.34, abs=0.01)
    assert frame["ci_lo"].iloc[0] == 0.0
