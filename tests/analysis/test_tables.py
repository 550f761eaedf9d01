"""Researcher tables: small-cell suppression, OWASP formula neutralising, the wide view and the
result-table builders (Table 1 is in test_table1.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.result_tables import (
    between_protocols_table,
    claims_table,
    effect_sizes_table,
    outcome_rates_table,
)
from analysis.tables import (
    ResearchTable,
    neutralise_formulas,
    prepare_for_export,
    suppress_small_cells,
    wide_for_display,
)
from data.errors import AnalysisError

# --------------------------------------------------------------------------- suppression


def _counts_frame() -> pd.DataFrame:
    n = [0, 1, 2, 3, 4, 5, 12]
    return pd.DataFrame(
        {
            "group": list("abcdefg"),
            "numerator": n,
            "denominator": [10] * 7,
            "pct": [10.0 * k for k in n],
            "ci_lo": [float(k) for k in n],
            "other": [7.5] * 7,
        }
    )


def test_suppression_hides_counts_one_to_four_and_their_derived_figures():
    out = suppress_small_cells(
        _counts_frame(), ["numerator", "denominator"], {"numerator": ["pct", "ci_lo"]}
    )
    assert out["numerator"].tolist() == [0, "<5", "<5", "<5", "<5", 5, 12]
    hidden = [False, True, True, True, True, False, False]
    assert out["suppressed"].tolist() == hidden
    # derived figures of hidden counts are blank; 0 and 5 keep theirs (0 % and 50 %)
    assert out["pct"].isna().tolist() == hidden
    assert out.loc[0, "pct"] == 0.0 and out.loc[5, "pct"] == 50.0 and out.loc[6, "pct"] == 120.0
    assert out["ci_lo"].isna().tolist() == hidden
    # a column not derived from the count is untouched, and so is the denominator (10)
    assert out["other"].tolist() == [7.5] * 7
    assert out["denominator"].tolist() == [10] * 7


def test_suppression_of_a_small_denominator_blanks_the_rate_but_keeps_a_zero_numerator():
    frame = pd.DataFrame({"numerator": [0], "denominator": [3], "pct": [0.0]})
    out = suppress_small_cells(
        frame, ["numerator", "denominator"], {"numerator": ["pct"], "denominator": ["pct"]}
    )
    assert out.loc[0, "numerator"] == 0
    assert out.loc[0, "denominator"] == "<5"
    assert math.isnan(out.loc[0, "pct"])


def test_suppression_threshold_is_configurable_and_named_in_the_marker():
    out = suppress_small_cells(_counts_frame(), ["numerator"], {"numerator": ["pct"]}, min_n=10)
    assert out["numerator"].tolist() == [0, "<10", "<10", "<10", "<10", "<10", 12]


def test_suppression_applied_twice_gives_the_same_table():
    once = suppress_small_cells(_counts_frame(), ["numerator"], {"numerator": ["pct"]})
    twice = suppress_small_cells(once, ["numerator"], {"numerator": ["pct"]})
    pd.testing.assert_frame_equal(once, twice)


def test_suppression_keeps_integer_dtype_when_nothing_is_hidden():
    frame = pd.DataFrame({"n": [0, 5, 9]})
    out = suppress_small_cells(frame, ["n"])
    assert out["n"].dtype == np.int64


@pytest.mark.parametrize("min_n", [0, -3, 2.5, True])
def test_suppression_rejects_a_threshold_that_is_not_a_positive_whole_number(min_n):
    with pytest.raises(AnalysisError, match="threshold"):
        suppress_small_cells(_counts_frame(), ["numerator"], min_n=min_n)


def test_suppression_names_a_count_column_holding_text():
    frame = pd.DataFrame({"n": [3, "many"]}, dtype=object)
    with pytest.raises(AnalysisError, match="'n'.*'many'"):
        suppress_small_cells(frame, ["n"])


def test_suppression_names_a_missing_column():
    with pytest.raises(AnalysisError, match="'nope'"):
        suppress_small_cells(_counts_frame(), ["numerator"], {"numerator": ["nope"]})


# --------------------------------------------------------------------------- formulas


def test_neutralise_formulas_prefixes_owasp_csv_injection_triggers():
    text = ["=SUM(A1)", "+1", "-2", "@x", "\tX", "\rX", "safe", "a=b", "", None]
    frame = pd.DataFrame(
        {
            "text": pd.Series(text, dtype=object),
            "arrow": pd.Series(text, dtype="string[pyarrow]"),
            "number": [-2.0, 1.0, -3.5, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "mixed": pd.Series([-2, "-2", 3, "<5", 1, 1, 1, 1, 1, 1], dtype=object),
        }
    )
    out = neutralise_formulas(frame)
    expected = ["'=SUM(A1)", "'+1", "'-2", "'@x", "'\tX", "'\rX", "safe", "a=b", ""]
    assert out["text"].tolist()[:9] == expected and out["text"].iloc[9] is None
    assert out["arrow"].tolist()[:9] == expected and out["arrow"].isna().iloc[9]
    assert out["arrow"].dtype == frame["arrow"].dtype
    # numbers stored as numbers stay numbers, negative or not
    assert out["number"].dtype == np.float64 and out["number"].iloc[0] == -2.0
    assert out["mixed"].tolist()[:4] == [-2, "'-2", 3, "<5"]
    assert isinstance(out["mixed"].iloc[0], int)


def test_neutralise_formulas_covers_column_labels_and_leaves_the_input_alone():
    frame = pd.DataFrame({"=cmd": ["ok"], "plain": [1]})
    out = neutralise_formulas(frame)
    assert list(out.columns) == ["'=cmd", "plain"]
    assert list(frame.columns) == ["=cmd", "plain"]


def test_neutralise_formulas_skips_object_columns_without_text():
    frame = pd.DataFrame({"n": pd.Series([1, -2], dtype=object)})
    assert neutralise_formulas(frame)["n"].tolist() == [1, -2]


def test_prepare_for_export_suppresses_neutralises_and_notes_the_rule_once():
    table = ResearchTable(
        "t",
        "T",
        pd.DataFrame({"label": ["=x", "y"], "n": [2, 8], "pct": [20.0, 80.0]}),
        notes=("A note.",),
        count_cols=("n",),
        derived={"n": ("pct",)},
    )
    out = prepare_for_export(table)
    assert out.frame["label"].tolist() == ["'=x", "y"]
    assert out.frame["n"].tolist() == ["<5", 8]
    assert out.notes[0] == "A note." and "1 to 4" in out.notes[1] and len(out.notes) == 2
    assert prepare_for_export(out) is out
    with pytest.raises(AnalysisError, match="already suppressed"):
        prepare_for_export(out, min_n=10)
    assert table.frame["n"].tolist() == [2, 8]  # the unsuppressed table is unchanged


# --------------------------------------------------------------------------- wide view


def test_wide_for_display_formats_each_statistic_by_hand():
    rows = [
        ("Patients", "", "A", "n", 12, None, None, None, None, None, None, None),
        ("Patients", "", "All", "n", 15, None, None, None, None, None, None, None),
        ("Route", "IV", "A", "n (%)", 6, 12, 50.0, None, None, None, None, None),
        ("Route", "IV", "All", "n (%)", 6, 15, 40.0, None, None, None, None, None),
        ("Score", "mean (SD)", "A", "mean (SD)", 12, None, None, 10.26, 2.51, None, None, None),
        ("Score", "mean (SD)", "All", "mean (SD)", 0, None, None, None, None, None, None, None),
        ("Visits", "median (IQR)", "A", "median (IQR)", 12, None, None, None, None, 5.0, 4.0, 7.5),
        ("Visits", "median (IQR)", "All", "median (IQR)", 3, None, None, None, None, 5.0, 4, 6),
    ]
    cols = ["characteristic", "level", "protocol", "statistic", "n", "denominator", "pct"]
    cols += ["mean", "sd", "median", "q1", "q3"]
    table = ResearchTable(
        "t",
        "T",
        pd.DataFrame(rows, columns=cols),
        count_cols=("n",),
        derived={"n": ("mean", "sd", "median", "q1", "q3")},
        decimals={"pct": 1, "mean": 1, "sd": 1},
        pivot=(("characteristic", "level"), "protocol"),
    )
    wide = wide_for_display(prepare_for_export(table))
    assert list(wide.columns) == ["characteristic", "level", "A", "All"]
    assert wide["A"].tolist() == ["12", "6 (50.0%)", "10.3 (2.5)", "5 (4–7.5)"]
    assert wide["All"].tolist() == ["15", "6 (40.0%)", "–", "n<5"]


def test_wide_for_display_refuses_two_rows_for_one_cell():
    frame = pd.DataFrame({"k": ["a", "a"], "p": ["x", "x"], "statistic": "n", "n": [1, 2]})
    table = ResearchTable("t", "T", frame, pivot=(("k",), "p"))
    with pytest.raises(AnalysisError, match="two rows"):
        wide_for_display(table)


# --------------------------------------------------------------------------- result tables


def test_outcome_rates_table_stacks_both_denominators_and_names_the_method():
    comp = pd.DataFrame(
        {
            "instrument": ["PHQ-9"],
            "protocol": ["weekly"],
            "flag": ["response"],
            "numerator": [3],
            "denominator": [8],
            "pct": [37.5],
            "ci_lo": [13.7],
            "ci_hi": [69.4],
        }
    )
    starters = comp.assign(denominator=10, pct=30.0, ci_lo=10.8, ci_hi=60.3)
    t = outcome_rates_table(comp, starters)
    assert t.frame["denominator_basis"].tolist() == ["completers", "all starters"]
    assert t.frame["method"].unique().tolist() == ["Wilson score interval (95%)"]
    out = prepare_for_export(t).frame
    assert out["numerator"].tolist() == ["<5", "<5"]
    assert out[["pct", "ci_lo", "ci_hi"]].isna().all().all()


def test_effect_sizes_table_puts_one_figure_per_row_with_n_and_method():
    paired = pd.DataFrame(
        {
            "instrument": ["PHQ-9"],
            "protocol": ["weekly"],
            "n": [12],
            "baseline_mean": [16.0],
            "baseline_sd": [3.0],
            "eot_mean": [9.0],
            "eot_sd": [4.0],
            "mean_change": [7.0],
            "sd_change": [5.0],
            "r": [0.4],
            "d_z": [1.4],
            "d_z_ci_lo": [0.6],
            "d_z_ci_hi": [2.2],
            "d_av": [2.0],
            "g_av": [1.86],
            "g_av_ci_lo": [1.0],
            "g_av_ci_hi": [2.9],
            "d_rm": [1.53],
            "n_boot_used": [2000],
            "n_boot_dropped": [0],
            "ci_level": [0.95],
        }
    )
    f = effect_sizes_table(paired).frame.set_index("measure")
    assert f.index.tolist()[:5] == ["baseline_mean", "eot_mean", "mean_change", "g_av", "d_z"]
    assert f.loc["g_av", ["estimate", "ci_lo", "ci_hi"]].tolist() == [1.86, 1.0, 2.9]
    assert f.loc["mean_change", ["estimate", "sd"]].tolist() == [7.0, 5.0]
    assert "2000 resamples" in f.loc["g_av", "method"]
    assert (f["n"] == 12).all()


def test_between_protocols_table_reports_g_and_the_welch_difference():
    comp = pd.DataFrame(
        {
            "instrument": ["PHQ-9"],
            "a": ["intensive"],
            "b": ["weekly"],
            "n_a": [3],
            "n_b": [20],
            "g": [0.5],
            "g_ci_lo": [-0.1],
            "g_ci_hi": [1.1],
            "mean_diff": [2.0],
            "mean_diff_ci_lo": [-1.0],
            "mean_diff_ci_hi": [5.0],
            "welch_p": [0.2],
            "ci_level": [0.95],
        }
    )
    t = between_protocols_table(comp)
    assert t.frame["measure"].tolist() == ["g", "mean_diff"]
    assert t.frame["p"].isna().tolist() == [True, False]
    out = prepare_for_export(t).frame
    assert out["n_a"].tolist() == ["<5", "<5"] and out["estimate"].isna().all()


def test_claims_table_reads_claim_dicts_and_joins_caveats():
    claim = {
        "id": "lasting",
        "instrument": "PHQ-9",
        "verdict": "inconclusive",
        "n": 4,
        "estimate": 75.0,
        "ci": [30.1, 95.4],
        "caveats": ["No control group.", "Attrition."],
        "claim": "The gains last.",
        "test": "share",
        "group": "all patients",
    }
    t = claims_table([claim])
    assert t.frame.loc[0, "caveats"] == "No control group. | Attrition."
    assert t.frame.loc[0, ["ci_lo", "ci_hi"]].tolist() == [30.1, 95.4]
    out = prepare_for_export(t).frame
    assert out.loc[0, "n"] == "<5" and out[["estimate", "ci_lo", "ci_hi"]].isna().all().all()
    assert out.loc[0, "verdict"] == "inconclusive"
