"""NHS Talking Therapies joint outcomes on PHQ-9 and GAD-7, worked out by hand."""

from __future__ import annotations

import pandas as pd

from analysis.outcomes import joint_recovery, patient_outcomes
from data.instruments import Registry, default_registry
from tests.analysis.handmade import make_tidy

REG = default_registry()
NA = pd.NA


def test_joint_recovery_nhs_talking_therapies_rules():
    # X1: PHQ 14 → 8 (RI), GAD 10 → 7 (no reliable change). Case at start, neither at end:
    #     recovery; RI on one, RD on neither: joint RI; so reliable recovery.
    # X2: PHQ 12 → 5 (RI), GAD 6 → 11 (RD: −5, |−5| ≥ 4). GAD 11 ≥ 8 at end: not recovered;
    #     RI on one but RD on the other: neither joint RI nor joint RD.
    # X3: PHQ 6 → 4, GAD 5 → 3: not a case at baseline: recovery undefined.
    # X4: GAD-7 only: not paired on both, left out.
    rows = [
        ("X1", "weekly", "PHQ-9", 0, 0.0, 14.0),
        ("X1", "weekly", "PHQ-9", 4, 28.0, 8.0),
        ("X1", "weekly", "GAD-7", 0, 0.0, 10.0),
        ("X1", "weekly", "GAD-7", 4, 28.0, 7.0),
        ("X2", "intensive", "PHQ-9", 0, 0.0, 12.0),
        ("X2", "intensive", "PHQ-9", 4, 4.0, 5.0),
        ("X2", "intensive", "GAD-7", 0, 0.0, 6.0),
        ("X2", "intensive", "GAD-7", 4, 4.0, 11.0),
        ("X3", "weekly", "PHQ-9", 0, 0.0, 6.0),
        ("X3", "weekly", "PHQ-9", 4, 28.0, 4.0),
        ("X3", "weekly", "GAD-7", 0, 0.0, 5.0),
        ("X3", "weekly", "GAD-7", 4, 28.0, 3.0),
        ("X4", "weekly", "GAD-7", 0, 0.0, 15.0),
        ("X4", "weekly", "GAD-7", 4, 28.0, 3.0),
    ]
    j = joint_recovery(patient_outcomes(make_tidy(rows), REG), REG).set_index("patient_id")
    assert list(j.index) == ["X1", "X2", "X3"]
    x1, x2, x3 = j.loc["X1"], j.loc["X2"], j.loc["X3"]
    assert x1.case_baseline and not x1.case_eot and x1.recovery
    assert x1.reliable_improvement and not x1.reliable_deterioration and x1.reliable_recovery
    assert x2.case_baseline and x2.case_eot and not x2.recovery
    assert not x2.reliable_improvement and not x2.reliable_deterioration
    assert not x3.case_baseline and x3.recovery is NA and x3.reliable_recovery is NA
    assert (x2.depression_baseline, x2.anxiety_eot, x2.protocol) == (12, 11, "intensive")


def test_joint_recovery_empty_without_both_measures():
    rows = [("A", "weekly", "PHQ-9", 0, 0.0, 14.0), ("A", "weekly", "PHQ-9", 4, 28.0, 8.0)]
    out = patient_outcomes(make_tidy(rows), REG)
    assert joint_recovery(out, REG).empty
    no_gad = Registry(tuple(i for i in REG if i.key != "GAD-7"))
    empty = joint_recovery(out, no_gad)
    assert empty.empty and "reliable_recovery" in empty.columns
