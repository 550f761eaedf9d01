"""The instrument registry: SPEC section 3's table, practice files, scoring rules."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from data.errors import RegistryError
from data.instruments import default_registry, load_registry, normalise_name

SPEC_TABLE = {
    # key: (items, item range, total range, recall, caseness, reliable change, remission, max missing)
    "PHQ-9": (9, (0, 3), (0, 27), 14, 10, 6, 5, 2),
    "GAD-7": (7, (0, 3), (0, 21), 14, 8, 4, 5, 1),
    "PCL-5": (20, (0, 4), (0, 80), 30, 33, 10, 33, 2),
}


@pytest.mark.parametrize("key", SPEC_TABLE)
def test_builtins_match_spec_section_3(key):
    items, item_range, total, recall, case, rc, remission, missing = SPEC_TABLE[key]
    ins = default_registry().get(key)
    assert ins.items == items
    assert (ins.item_min, ins.item_max) == item_range
    assert (ins.min, ins.max) == total
    assert ins.recall_days == recall
    assert ins.caseness == case
    assert ins.reliable_change_threshold() == rc
    assert ins.remission == remission
    assert ins.max_missing_items == missing
    assert ins.higher_is_worse


def test_phq9_bands_match_kroenke_2001():
    phq = default_registry().get("PHQ-9")
    scores = pd.Series([0, 4, 5, 9, 10, 14, 15, 19, 20, 27])
    assert phq.severity(scores).tolist() == [
        "minimal", "minimal", "mild", "mild", "moderate", "moderate",
        "moderately severe", "moderately severe", "severe", "severe",
    ]  # fmt: skip


def test_gad7_and_pcl5_bands():
    reg = default_registry()
    assert reg.get("GAD-7").severity(pd.Series([4, 5, 10, 15, 21])).tolist() == [
        "minimal", "mild", "moderate", "severe", "severe",
    ]  # fmt: skip
    assert reg.get("PCL-5").severity(pd.Series([32, 33])).tolist() == [
        "below threshold", "probable PTSD",
    ]  # fmt: skip


def test_pcl5_clusters_b_c_d_e():
    clusters = dict(default_registry().get("PCL-5").clusters)
    assert clusters == {
        "B": (1, 2, 3, 4, 5), "C": (6, 7), "D": tuple(range(8, 15)), "E": tuple(range(15, 21)),
    }  # fmt: skip


@pytest.mark.parametrize("alias", ["phq9", "PHQ9", "phq_9", "PHQ-9 Total", " Phq 9 "])
def test_aliases_resolve_case_and_punctuation_blind(alias):
    assert default_registry().resolve(alias) == "PHQ-9"


def test_unknown_instrument_message_lists_known_ones():
    with pytest.raises(RegistryError, match="Known instruments: PHQ-9, GAD-7, PCL-5"):
        default_registry().get("BDI")


def test_resolve_series_vectorised():
    out = default_registry().resolve_series(pd.Series(["gad_7", "pcl5", "nope", None]))
    assert out.isna().tolist() == [False, False, True, True]
    assert out.iloc[0] == "GAD-7" and out.iloc[1] == "PCL-5" and pd.isna(out.iloc[2])


def test_caseness_and_remission_cutoffs():
    phq = default_registry().get("PHQ-9")
    assert phq.is_case(pd.Series([9, 10])).tolist() == [False, True]
    assert phq.is_remitted(pd.Series([4, 5])).tolist() == [True, False]
    assert phq.is_case(pd.Series([np.nan])).isna().all()


def test_jacobson_truax_threshold_worked_example():
    """SD 7.5, reliability .80: S_diff = 7.5·√2·√0.2 = 4.7434, threshold 1.96·S_diff = 9.2971."""
    phq = default_registry().get("PHQ-9")
    jt = dataclasses.replace(phq, rci_method="jacobson-truax", reliability=0.80, rci_sd=7.5)
    s_diff = 7.5 * math.sqrt(2) * math.sqrt(1 - 0.80)
    assert s_diff == pytest.approx(4.7434, abs=5e-5)
    assert jt.reliable_change_threshold() == pytest.approx(9.2971, abs=5e-5)


def test_jacobson_truax_sample_sd_needs_a_baseline_sd():
    phq = default_registry().get("PHQ-9")
    jt = dataclasses.replace(phq, rci_method="jacobson-truax", reliability=0.80, rci_sd="sample")
    assert jt.reliable_change_threshold(7.5) == pytest.approx(9.2971, abs=5e-5)
    with pytest.raises(RegistryError, match="baseline SD"):
        jt.reliable_change_threshold(None)


def test_prorating_phq9_up_to_two_missing_items():
    phq = default_registry().get("PHQ-9")
    items = pd.DataFrame(
        [
            [1, 1, 1, 1, 1, 1, 1, 1, 1],  # complete: 9
            [2, 2, 2, 2, 2, 2, 2, None, None],  # two missing: mean 2 × 9 = 18
            [3, 3, 3, 3, 3, 3, None, None, None],  # three missing: invalid
        ],
        columns=phq.item_columns(),
    )
    scored = phq.score_items(items)
    assert scored.score.iloc[0] == 9
    assert scored.score.iloc[1] == 18
    assert math.isnan(scored.score.iloc[2])
    assert scored.n_missing.tolist() == [0, 2, 3]
    assert scored.prorated.tolist() == [False, True, False]


def test_prorating_gad7_allows_one_missing():
    gad = default_registry().get("GAD-7")
    items = pd.DataFrame(
        [[1, 2, 3, 0, 1, 2, None], [1, 2, 3, 0, 1, None, None]], columns=gad.item_columns()
    )
    scored = gad.score_items(items)
    assert scored.score.iloc[0] == pytest.approx(9 / 6 * 7)
    assert math.isnan(scored.score.iloc[1])


PRACTICE = """
[[instrument]]
key = "HAM-D"
aliases = ["hamd", "HDRS-17"]
min = 0
max = 52
items = 17
item_min = 0
item_max = 4
recall_days = 7
caseness = 8
remission = 8
rci_method = "jacobson-truax"
reliability = 0.80
rci_sd = "sample"
max_missing_items = 2
bands = [[0, "normal"], [8, "mild"], [17, "moderate"], [24, "severe"]]

[[instrument]]
key = "phq 9"
min = 0
max = 27
reliable_change = 5
"""


def test_practice_file_adds_and_replaces(tmp_path):
    path = tmp_path / "instruments.toml"
    path.write_text(PRACTICE)
    reg = load_registry(path)
    assert reg.resolve("HDRS-17") == "HAM-D"
    assert reg.get("hamd").severity(pd.Series([23, 24])).tolist() == ["moderate", "severe"]
    # "phq 9" replaces the built-in PHQ-9 (keys match case- and punctuation-blind)
    assert reg.get("PHQ-9").key == "phq 9"
    assert reg.get("PHQ-9").reliable_change_threshold() == 5
    assert len([i for i in reg if normalise_name(i.key) == "phq9"]) == 1


def test_lower_is_better_direction():
    reg = load_registry(
        practice_text="""
[[instrument]]
key = "WEMWBS"
min = 14
max = 70
higher_is_worse = false
caseness = 41
remission = 45
reliable_change = 8
"""
    )
    ins = reg.get("wemwbs")
    assert ins.improvement(40, 50) == 10
    assert ins.is_case(pd.Series([40, 41])).tolist() == [True, False]
    assert ins.is_remitted(pd.Series([45, 46])).tolist() == [False, True]


@pytest.mark.parametrize(
    "body, needle",
    [
        ('key = "X"\nmin = 0', "has no 'max'"),
        ('key = "X"\nmin = 5\nmax = 5\nreliable_change = 1', "must be below max"),
        (
            'key = "X"\nmin = 0\nmax = 10\nreliable_change = 1\ncaseness = 11',
            "outside the score range",
        ),
        ('key = "X"\nmin = 0\nmax = 10\nrci_method = "jacobson-truax"\nrci_sd = 3', "reliability"),
        ('key = "X"\nmin = 0\nmax = 10\nreliable_change = 1\nitems = 3', "item_min and item_max"),
        ('key = "X"\nmin = 0\nmax = 10\nreliable_change = 1\ncolour = "red"', "unknown field"),
        ('key = "X"\nmin = 0\nmax = 10', "reliable_change"),
    ],
)
def test_bad_practice_definitions_get_actionable_errors(body, needle):
    with pytest.raises(RegistryError, match=needle):
        load_registry(practice_text="[[instrument]]\n" + body)


def test_invalid_toml_names_the_problem():
    with pytest.raises(RegistryError, match="not valid TOML"):
        load_registry(practice_text="[[instrument]\nkey=")
