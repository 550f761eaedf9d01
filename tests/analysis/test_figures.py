"""The figure bundle's own rules (analysis/figures.py)."""

import pytest

from analysis.effects import paired_effects
from analysis.figures import within_effects
from analysis.outcomes import patient_outcomes
from data.instruments import load_registry
from tests.analysis.handmade import make_tidy


def test_effect_sizes_positive_for_improvement_on_a_higher_is_better_instrument():
    practice = """
[[instrument]]
key = "WELL"
min = 0
max = 40
higher_is_worse = false
reliable_change = 3
"""
    reg = load_registry(practice_text=practice)
    rows = []
    for pid, (b, e) in {"A": (10, 15), "B": (12, 18), "C": (14, 20), "D": (9, 16)}.items():
        rows += [(pid, "weekly", "WELL", 0, 0.0, b), (pid, "weekly", "WELL", 1, 7.0, e)]
    outcomes = patient_outcomes(make_tidy(rows), reg)
    paired = outcomes[outcomes["paired"].astype(bool)]
    effects = within_effects(paired, reg, ["instrument", "protocol"], n_boot=0)
    # the same figures as scoring improvement directly: "before" = EOT, "after" = baseline
    reference = paired_effects([15, 18, 20, 16], [10, 12, 14, 9], n_boot=0)
    assert effects["g_av"].iloc[0] == pytest.approx(reference.g_av)
    assert effects["g_av"].iloc[0] > 0
    assert effects["mean_change"].iloc[0] == pytest.approx(6.0)  # (5 + 6 + 6 + 7) / 4
    # means stay on the instrument's own scale
    assert effects["baseline_mean"].iloc[0] == pytest.approx(11.25)  # (10 + 12 + 14 + 9) / 4
    assert effects["eot_mean"].iloc[0] == pytest.approx(17.25)  # (15 + 18 + 20 + 16) / 4
