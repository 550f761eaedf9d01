"""Table 1 (baseline characteristics by protocol), every figure counted by hand on a tiny
cohort of seven patients."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.table1 import baseline_characteristics
from analysis.tables import ResearchTable, prepare_for_export, wide_for_display
from data.errors import AnalysisError
from data.instruments import default_registry
from data.schema import conform


def _row(pid, prot, ins, session, day, score, phase=None, **extra):
    if phase is None:
        phase = "baseline" if session == 0 else "treatment"
    return dict(
        patient_id=pid,
        protocol=prot,
        instrument=ins,
        session=session,
        day=day,
        phase=phase,
        score=score,
        **extra,
    )


def _tiny_cohort() -> pd.DataFrame:
    """Seven patients; every figure of Table 1 on them is counted by hand in the tests."""
    P, G = "PHQ-9", "GAD-7"
    i1 = dict(site="A", route="IV", treatment_resistant=True)
    i2 = dict(site="A", route="IV", treatment_resistant=False)
    i3 = dict(site="B", route="IM", treatment_resistant=None)
    i4 = dict(site="B", route="IM", treatment_resistant=True)
    w1 = dict(site="A", route=None, treatment_resistant=False)
    w2 = dict(site="A", route="sublingual", treatment_resistant=False)
    w3 = dict(site=None, route=None, treatment_resistant=None)
    rows = [
        _row("i1", "intensive", P, 0, 0.0, 12.0, item_9=1, **i1),
        _row("i1", "intensive", P, 1, 7.0, 8.0, item_9=0, **i1),
        _row("i2", "intensive", P, 0, 0.0, 20.0, item_9=0, **i2),
        _row("i2", "intensive", P, 1, 7.0, 10.0, item_9=0, **i2),
        _row("i3", "intensive", P, 0, 0.0, 4.0, item_9=None, **i3),
        _row("i3", "intensive", P, 1, 7.0, 3.0, item_9=0, **i3),
        _row("i3", "intensive", P, 2, 14.0, 2.0, item_9=0, **i3),
        _row("i4", "intensive", P, 1, 7.0, 15.0, item_9=0, **i4),  # no baseline
        _row("w1", "weekly", P, 0, 0.0, 16.0, item_9=2, **w1),
        _row("w1", "weekly", P, 1, 7.0, 14.0, item_9=1, **w1),
        _row("w1", "weekly", G, 0, 0.0, 9.0, **w1),
        # two session-0 assessments: the earlier (day 0, score 9, item 9 = 0) is the baseline
        _row("w2", "weekly", P, 0, 1.0, 11.0, item_9=1, **w2),
        _row("w2", "weekly", P, 0, 0.0, 9.0, item_9=0, **w2),
        _row("w2", "weekly", P, 1, 7.0, 7.0, item_9=0, **w2),
        # protocol label changes after baseline: the patient stays under weekly
        _row("w3", "weekly", G, 0, 0.0, 5.0, **w3),
        _row("w3", "intensive", G, 1, 7.0, 4.0, **w3),
    ]
    return conform(pd.DataFrame(rows))


def _cells(frame: pd.DataFrame, characteristic: str, level: str | None = None) -> pd.DataFrame:
    sel = frame["characteristic"] == characteristic
    if level is not None:
        sel &= frame["level"] == level
    return frame[sel.to_numpy()].set_index("protocol")


@pytest.fixture(scope="module")
def table1() -> ResearchTable:
    return baseline_characteristics(_tiny_cohort(), default_registry())


def test_table1_columns_are_protocols_then_all(table1):
    assert pd.unique(table1.frame["protocol"]).tolist() == ["intensive", "weekly", "All"]


def test_table1_patient_and_baseline_counts_by_hand(table1):
    f = table1.frame
    assert _cells(f, "Patients")["n"].tolist() == [4, 3, 7]
    assessed = _cells(f, "PHQ-9 assessed")
    assert assessed["n"].tolist() == [4, 2, 6]
    assert assessed["denominator"].tolist() == [4, 3, 7]
    assert assessed["pct"].tolist() == pytest.approx([100.0, 200 / 3, 600 / 7])
    base = _cells(f, "PHQ-9 baseline")
    assert base["n"].tolist() == [3, 2, 5]
    assert base["denominator"].tolist() == [4, 2, 6]
    assert base["pct"].tolist() == pytest.approx([75.0, 100.0, 500 / 6])
    gad = _cells(f, "GAD-7 baseline")
    assert gad["n"].tolist() == [0, 2, 2] and gad["denominator"].tolist() == [0, 2, 2]
    assert math.isnan(gad.loc["intensive", "pct"])


def test_table1_baseline_scores_by_hand(table1):
    score = _cells(table1.frame, "PHQ-9 baseline score")
    # intensive 12, 20, 4: mean 12, SD sqrt((0 + 64 + 64) / 2) = 8
    # weekly 16, 9 (w2's earlier session-0 score): mean 12.5, SD 7 / sqrt(2)
    # all 12, 20, 4, 16, 9: mean 12.2, SD sqrt(152.8 / 4)
    assert score["n"].tolist() == [3, 2, 5]
    assert score["mean"].tolist() == pytest.approx([12.0, 12.5, 12.2])
    assert score["sd"].tolist() == pytest.approx([8.0, 7 / math.sqrt(2), math.sqrt(152.8 / 4)])
    gad = _cells(table1.frame, "GAD-7 baseline score")
    assert gad["n"].tolist() == [0, 2, 2]
    assert math.isnan(gad.loc["intensive", "mean"])
    assert gad.loc["weekly", "mean"] == 7.0 and gad.loc["All", "sd"] == pytest.approx(8**0.5)


def test_table1_clinical_range_and_bands_use_the_registry_by_hand(table1):
    phq = default_registry().get("PHQ-9")
    case = _cells(table1.frame, "PHQ-9 in clinical range at baseline")
    assert case["level"].unique().tolist() == [f"score ≥ {phq.caseness:g}"]
    assert case["n"].tolist() == [2, 1, 3]  # 12, 20 | 16 | (4 and 9 are below)
    assert case["denominator"].tolist() == [3, 2, 5]
    bands = table1.frame[
        (table1.frame["characteristic"] == "PHQ-9 severity at baseline").to_numpy()
    ]
    assert pd.unique(bands["level"]).tolist() == [label for _, label in phq.bands]
    got = bands.pivot(index="level", columns="protocol", values="n")
    # intensive 4 minimal, 12 moderate, 20 severe; weekly 9 mild, 16 moderately severe
    assert got.loc["minimal"].to_dict() == {"intensive": 1, "weekly": 0, "All": 1}
    assert got.loc["mild"].to_dict() == {"intensive": 0, "weekly": 1, "All": 1}
    assert got.loc["moderate"].to_dict() == {"intensive": 1, "weekly": 0, "All": 1}
    assert got.loc["moderately severe"].to_dict() == {"intensive": 0, "weekly": 1, "All": 1}
    assert got.loc["severe"].to_dict() == {"intensive": 1, "weekly": 0, "All": 1}
    gad_bands = _cells(table1.frame, "GAD-7 severity at baseline", "mild")
    assert gad_bands["n"].tolist() == [0, 2, 2]  # 9 and 5 are both mild


def test_table1_safety_item_at_baseline_by_hand(table1):
    phq = default_registry().get("PHQ-9")
    safety = _cells(table1.frame, "PHQ-9 safety item at baseline")
    assert safety["level"].unique().tolist() == [f"item {phq.safety_item} ≥ 1"]
    # intensive: i1 = 1, i2 = 0, i3 unanswered; weekly: w1 = 2, w2 = 0 at its baseline row
    assert safety["n"].tolist() == [1, 1, 2]
    assert safety["denominator"].tolist() == [2, 2, 4]
    assert not (table1.frame["characteristic"] == "GAD-7 safety item at baseline").any()


def test_table1_assessments_per_patient_quartiles_by_hand(table1):
    visits = _cells(table1.frame, "PHQ-9 assessments per patient")
    # intensive 2, 2, 3, 1 -> sorted 1 2 2 3: median 2, type-7 quartiles 1.75 and 2.25
    # weekly 2, 3: median 2.5, quartiles 2.25, 2.75; all 1 2 2 2 3 3: 2, 2, 2.75
    assert visits["n"].tolist() == [4, 2, 6]
    assert visits["median"].tolist() == [2.0, 2.5, 2.0]
    assert visits["q1"].tolist() == [1.75, 2.25, 2.0]
    assert visits["q3"].tolist() == [2.25, 2.75, 2.75]


def test_table1_site_route_and_treatment_resistance_by_hand(table1):
    f = table1.frame
    assert _cells(f, "Site", "A")["n"].tolist() == [2, 2, 4]
    assert _cells(f, "Site", "B")["n"].tolist() == [2, 0, 2]
    assert _cells(f, "Site", "not recorded")["n"].tolist() == [0, 1, 1]
    assert _cells(f, "Site", "A")["denominator"].tolist() == [4, 3, 7]
    routes = f[(f["characteristic"] == "Route").to_numpy()]
    assert pd.unique(routes["level"]).tolist() == ["IM", "IV", "sublingual", "not recorded"]
    assert _cells(f, "Route", "not recorded")["n"].tolist() == [0, 2, 2]
    tr = _cells(f, "Treatment-resistant")
    assert tr["n"].tolist() == [2, 0, 2] and tr["denominator"].tolist() == [3, 2, 5]
    assert tr["pct"].tolist() == pytest.approx([200 / 3, 0.0, 40.0])


def test_table1_exported_hides_small_cells_in_the_wide_view(table1):
    wide = wide_for_display(prepare_for_export(table1)).set_index(["characteristic", "level"])
    assert wide.loc[("Patients", "")].tolist() == ["<5", "<5", "7"]
    assert wide.loc[("PHQ-9 baseline score", "mean (SD)")].tolist() == [
        "n<5",
        "n<5",
        f"12.2 ({math.sqrt(152.8 / 4):.1f})",
    ]
    assert wide.loc[("PHQ-9 assessed", "patients with any assessment")].tolist() == [
        "<5",
        "<5",
        "6 (85.7%)",
    ]


def test_table1_without_optional_columns_has_no_such_rows():
    tidy = _tiny_cohort().drop(columns=["site", "route", "treatment_resistant", "item_9"])
    frame = baseline_characteristics(tidy, default_registry()).frame
    chars = set(frame["characteristic"])
    assert not chars & {"Site", "Route", "Treatment-resistant", "PHQ-9 safety item at baseline"}


def test_table1_refuses_a_protocol_called_all():
    tidy = _tiny_cohort()
    tidy["protocol"] = tidy["protocol"].replace("weekly", "All")
    with pytest.raises(AnalysisError, match="'All'"):
        baseline_characteristics(tidy, default_registry())
