"""The claims scorecard (SPEC section 6) on hand-made cohorts; every count is worked out below.

Wilson bounds come from statsmodels ``proportion_confint(method="wilson")``, the Welch interval
from scipy, everything else from hand arithmetic in the comments.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.claims.config import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    REPORTED,
    SUPPORTED,
    ClaimsConfig,
)
from analysis.claims.evaluate import CLAIM_TEXT, attrition_caveat, evaluate_claims, share_verdict
from analysis.outcomes import patient_outcomes
from data.instruments import default_registry
from tests.analysis.handmade import make_tidy

REG = default_registry()
CFG = ClaimsConfig()
NA = None


def wilson_pct(k: int, n: int) -> tuple[float, float]:
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return 100.0 * lo, 100.0 * hi


def claims_of(tidy: pd.DataFrame, cfg: ClaimsConfig = CFG) -> dict:
    """{(id, instrument): ClaimResult}."""
    results = evaluate_claims(tidy, patient_outcomes(tidy, REG), REG, cfg)
    return {(r.id, r.instrument): r for r in results}


# -- share_verdict against independent Wilson bounds -----------------------------------------------
@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (9, 10, SUPPORTED),  # Wilson 59.6–98.2 %: lower ≥ 50
        (10, 12, SUPPORTED),  # 55.2–95.3 %
        (5, 10, INCONCLUSIVE),  # 23.7–76.3 %: straddles 50
        (8, 10, INCONCLUSIVE),  # 49.0–94.3 %: lower just short of 50
        (2, 10, INCONCLUSIVE),  # 5.7–51.0 %: upper just reaches 50
        (1, 10, NOT_SUPPORTED),  # 1.8–40.4 %: upper < 50
        (0, 10, NOT_SUPPORTED),  # 0–27.8 %
        (9, 9, INCONCLUSIVE),  # 70.1–100 % would pass, but n = 9 < 10
        (0, 9, INCONCLUSIVE),  # would fail, but n < 10
    ],
)
def test_share_verdict_against_statsmodels_wilson(k, n, expected):
    verdict, pct, ci = share_verdict(k, n, 0.5, CFG)
    assert verdict == expected
    assert pct == pytest.approx(100.0 * k / n)
    assert ci == pytest.approx(wilson_pct(k, n), abs=1e-9)


def test_share_verdict_not_testable_without_patients():
    assert share_verdict(0, 0, 0.5, CFG) == (NOT_TESTABLE, None, (None, None))


@pytest.mark.parametrize("n", [10, 11, 17, 25, 40, 100])
def test_share_verdict_rule_on_every_k_against_statsmodels_wilson(n):
    for k in range(n + 1):
        lo, hi = wilson_pct(k, n)
        expected = SUPPORTED if lo >= 50 else NOT_SUPPORTED if hi < 50 else INCONCLUSIVE
        # the rule only matters away from rounding noise at the bound
        if min(abs(lo - 50), abs(hi - 50)) > 1e-6:
            assert share_verdict(k, n, 0.5, CFG)[0] == expected, (k, n)


def test_share_verdict_boundaries_sit_exactly_at_the_wilson_bounds():
    # 9 of 10: Wilson 59.58 %–98.21 %. A threshold a hair below the lower bound passes, a hair
    # above it straddles; a threshold a hair below the upper bound straddles, above it fails.
    lo, hi = (b / 100 for b in wilson_pct(9, 10))
    eps = 1e-7
    assert share_verdict(9, 10, lo - eps, CFG)[0] == SUPPORTED
    assert share_verdict(9, 10, lo + eps, CFG)[0] == INCONCLUSIVE
    assert share_verdict(9, 10, hi - eps, CFG)[0] == INCONCLUSIVE
    assert share_verdict(9, 10, hi + eps, CFG)[0] == NOT_SUPPORTED


def test_share_verdict_min_patients_and_ci_level_come_from_the_config():
    cfg = ClaimsConfig(min_patients=5, ci_level=0.90)
    # 9 of 9 with min_patients 5 is judged; 90 % Wilson from statsmodels (alpha = 0.10)
    verdict, _, ci = share_verdict(9, 9, 0.5, cfg)
    lo, hi = proportion_confint(9, 9, alpha=0.10, method="wilson")
    assert verdict == SUPPORTED
    assert ci == pytest.approx((100 * lo, 100 * hi), abs=1e-9)


# -- one hand-made cohort for every claim --------------------------------------------------------
# PHQ-9 (reliable change 6, response = change ≥ half of baseline, remission < 5), protocol
# intensive. Every paired patient: baseline 20 on day 0, session 1 on day d1 (score s1), session 2
# (EOT) on day d1 + 7 (score eot). Item 9 at baseline, session 1, EOT. tr = treatment_resistant.
#        id     d1   s1  eot  tr     item 9
COHORT = [
    ("P01", 1.0, 12, 8, True, (2, 0, 0)),  # s1 change 8: rapid; EOT change 12
    ("P02", 1.0, 12, 8, True, (1, 0, 1)),
    ("P03", 1.0, 12, 8, True, (1, 1, 0)),
    ("P04", 1.0, 12, 8, True, (1, NA, 0)),  # item 9 unanswered at session 1
    ("P05", 1.0, 12, 8, False, (2, 2, 2)),
    ("P06", 1.0, 12, 8, False, (0, 0, 0)),
    ("P07", 3.0, 16, 14, True, (0, 0, 1)),  # s1 change 4: not reliable; new onset at EOT
    ("P08", 3.0, 16, 18, True, (0, 0, 0)),  # EOT change 2: no reliable improvement
    ("P09", 7.0, 14, 14, False, (0, 0, 0)),  # day 7 counts as within 7; change 6 = threshold
    ("P10", 10.0, 10, 4, False, (0, 0, 0)),  # reliable at s1 but first seen on day 10: late
    ("P11", 10.0, 10, 4, False, (0, 0, 0)),  # late
    ("P12", 7.5, 12, 26, False, (0, 0, 0)),  # late (7.5 > 7); EOT 26: reliably worse
]
# Follow-up: (days after EOT, score). The 90-day window is 60–120 days after EOT.
FOLLOW_UP = {
    "P01": (90, 9),  # change 11 ≥ 10: still responding
    "P02": (100, 10),  # change 10 = 10: still responding
    "P03": (85, 15),  # change 5: no longer responding
    "P04": (130, 12),  # outside every window (90 ± 30, 180 ± 45 starts at 135)
    "P10": (60, 2),  # window edge: still responding
    "P07": (90, 5),  # not an EOT responder (change 6 < 10): not counted
}
# GAD-7 (reliable change 4) for P01–P05: baseline 10, session 1 as below, EOT (session 2) 6.
GAD_S1 = {"P01": 14, "P02": 15, "P03": 13, "P04": 8, "P05": None}  # P05 has no session 1


def cohort_rows() -> tuple[list[tuple], list, list]:
    rows, items, tr = [], [], []

    def add(row, item, resistant):
        rows.append(row)
        items.append(item)
        tr.append(resistant)

    for pid, d1, s1, eot, res, (i0, i1, i2) in COHORT:
        add((pid, "intensive", "PHQ-9", 0, 0.0, 20.0), i0, res)
        add((pid, "intensive", "PHQ-9", 1, d1, float(s1)), i1, res)
        add((pid, "intensive", "PHQ-9", 2, d1 + 7, float(eot)), i2, res)
        if pid in FOLLOW_UP:
            after, score = FOLLOW_UP[pid]
            add((pid, "intensive", "PHQ-9", None, d1 + 7 + after, float(score)), 0, res)
        if pid in GAD_S1:
            add((pid, "intensive", "GAD-7", 0, 0.0, 10.0), NA, res)
            if GAD_S1[pid] is not None:
                add((pid, "intensive", "GAD-7", 1, d1, float(GAD_S1[pid])), NA, res)
            add((pid, "intensive", "GAD-7", 2, d1 + 7, 6.0), NA, res)
    add(("P13", "intensive", "PHQ-9", 0, 0.0, 20.0), 1, False)  # started, no EOT
    add(("P15", "intensive", "PHQ-9", 1, 3.0, 15.0), 0, NA)  # no baseline: not a starter
    add(("P15", "intensive", "PHQ-9", 2, 10.0, 12.0), 0, NA)
    return rows, items, tr


def cohort(*, items: bool = True, resistant: bool = True, gad: bool = True) -> pd.DataFrame:
    rows, item9, tr = cohort_rows()
    extra: dict = {}
    if items:
        extra["item_9"] = pd.array(item9, dtype="Int64")
    if resistant:
        extra["treatment_resistant"] = pd.array(tr, dtype="boolean")
    tidy = make_tidy(rows, **extra)
    if not gad:
        tidy = tidy[tidy["instrument"] != "GAD-7"].reset_index(drop=True)
    return tidy


@pytest.fixture(scope="module")
def claims() -> dict:
    return claims_of(cohort())


def test_rapid_onset_counts_early_reliable_first_assessments(claims):
    r = claims[("rapid-onset", "PHQ-9")]
    # Denominator: the 12 paired patients (P13 has no EOT, P15 no baseline). Reliable at a first
    # reassessment within 7 days: P01–P06 (change 8) and P09 (day 7, change 6) = 7.
    # P07, P08 within 7 days but change 4; P10, P11 (day 10) and P12 (day 7.5) late.
    assert (r.n, r.details["k"], r.details["n_first_assessed_within_window"]) == (12, 7, 9)
    assert r.estimate == pytest.approx(100 * 7 / 12)
    assert r.ci == pytest.approx(wilson_pct(7, 12))  # 31.9–80.7 %: straddles 50
    assert r.verdict == INCONCLUSIVE
    assert any("3 of 12 paired patients were first reassessed after 7 days" in c for c in r.caveats)


def test_rapid_onset_leaves_out_paired_patients_with_unknown_first_day():
    # Ten patients reliable on day 2 and two whose first reassessment has no day: 10 of 10.
    rows = []
    for i in range(12):
        day = 2.0 if i < 10 else np.nan
        rows += [
            (f"R{i}", "weekly", "PHQ-9", 0, 0.0, 20.0),
            (f"R{i}", "weekly", "PHQ-9", 1, day, 8.0),
        ]
    r = claims_of(make_tidy(rows))[("rapid-onset", "PHQ-9")]
    assert (r.n, r.details["k"]) == (10, 10)
    assert r.verdict == SUPPORTED  # Wilson 10/10: 72.2–100 %


def test_large_improvement_counts_reliable_improvement_at_eot(claims):
    r = claims[("large-improvement", "PHQ-9")]
    # EOT change ≥ 6: P01–P06 (12), P07 (6), P09 (6), P10, P11 (16) = 10 of 12 paired.
    assert (r.details["k"], r.n) == (10, 12)
    assert r.estimate == pytest.approx(100 * 10 / 12)
    assert r.ci == pytest.approx(wilson_pct(10, 12))  # 55.2–95.3 %: lower ≥ 50
    assert r.verdict == SUPPORTED
    # everyone who started: the 12 plus P13 (no EOT counts as not improved)
    assert (r.details["all_starters_n"], r.details["all_starters_of"]) == (10, 13)


def test_lasting_counts_eot_responders_in_the_90_day_window(claims):
    r = claims[("lasting", "PHQ-9")]
    # EOT responders (change ≥ 10): P01–P06, P10, P11 = 8. In the 90-day window: P01, P02,
    # P10 still responding, P03 not; P04's follow-up is outside; P07 is not a responder.
    assert (r.details["k"], r.n, r.details["eot_responders"]) == (3, 4, 8)
    assert r.estimate == pytest.approx(75.0)
    assert r.ci == pytest.approx(wilson_pct(3, 4))
    assert r.verdict == INCONCLUSIVE  # n = 4 < 10
    assert any("4 of 8 end-of-treatment responders were seen" in c for c in r.caveats)


def test_lasting_bounds_for_responders_not_seen_in_the_window(claims):
    r = claims[("lasting", "PHQ-9")]
    d = r.details
    # 8 EOT responders: 4 seen in the 90-day window (3 still responding), 4 not seen.
    assert (d["seen"], d["not_seen"], d["eot_responders"]) == (4, 4, 8)
    # Worst case: none of the 4 unseen still respond, 3 of 8 = 37.5 %; best case: all of them,
    # 3 + 4 = 7 of 8 = 87.5 %. Wilson 95 % by hand, (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) /
    # (1 + z²/n) with z = 1.959964, as R prop.test(3, 8, correct = FALSE)$conf.int
    # = 0.1368444 0.6942576 and prop.test(7, 8, correct = FALSE)$conf.int = 0.5291118 0.9775825.
    assert d["worst_case_pct"] == pytest.approx(37.5)
    assert (d["worst_case_ci_lo"], d["worst_case_ci_hi"]) == pytest.approx((13.68444, 69.42576))
    assert d["best_case_pct"] == pytest.approx(87.5)
    assert (d["best_case_ci_lo"], d["best_case_ci_hi"]) == pytest.approx((52.91118, 97.75825))
    assert (d["worst_case_ci_lo"], d["worst_case_ci_hi"]) == pytest.approx(wilson_pct(3, 8))
    assert (d["best_case_ci_lo"], d["best_case_ci_hi"]) == pytest.approx(wilson_pct(7, 8))
    # the verdict still reads the responders seen: 3 of 4
    assert (r.n, r.estimate) == (4, pytest.approx(75.0))
    text = next(c for c in r.caveats if c.startswith("Follow-up attrition"))
    assert "4 of 8 end-of-treatment responders were seen in the 90-day window and 4 were not" in (
        text
    )
    assert "if none of the 4 not seen still respond, 38% still respond (95% CI 14–69%)" in text
    assert "if all of them do, 88% (95% CI 53–98%)" in text
    json.dumps(r.to_dict(), allow_nan=False)


def test_lasting_bounds_without_unseen_responders_equal_the_estimate():
    # 12 weekly patients, baseline 20, EOT 8 (responders), all followed up at 90 days with 9:
    # still responding. Nobody unseen: both bounds are 12 of 12 and no bounds sentence.
    rows = []
    for i in range(12):
        rows += [
            (f"L{i}", "weekly", "PHQ-9", 0, 0.0, 20.0),
            (f"L{i}", "weekly", "PHQ-9", 1, 7.0, 12.0),
            (f"L{i}", "weekly", "PHQ-9", 2, 14.0, 8.0),
            (f"L{i}", "weekly", "PHQ-9", None, 104.0, 9.0),
        ]
    r = claims_of(make_tidy(rows))[("lasting", "PHQ-9")]
    d = r.details
    assert (d["seen"], d["not_seen"], d["k"]) == (12, 0, 12)
    assert d["worst_case_pct"] == d["best_case_pct"] == 100.0 == r.estimate
    assert (d["worst_case_ci_lo"], d["worst_case_ci_hi"]) == pytest.approx(wilson_pct(12, 12))
    assert r.verdict == SUPPORTED  # Wilson 12/12: 75.8–100 %
    assert not any("Counting all" in c for c in r.caveats)


def test_attrition_caveat_counts_everyone_who_left_before_the_planned_last_session():
    # Weekly, planned last session inferred as 4 (the most common last session):
    # C01–C09 complete sessions 1–4; E1 stops after session 1 and E2 after session 2 (paired,
    # left early); B1, B2 have a baseline only; X1 has no baseline (not a starter).
    rows = []
    for i in range(1, 10):
        rows.append((f"C{i:02d}", "weekly", "PHQ-9", 0, 0.0, 20.0))
        rows += [(f"C{i:02d}", "weekly", "PHQ-9", s, 7.0 * s, 20.0 - 3 * s) for s in (1, 2, 3, 4)]
    rows += [("E1", "weekly", "PHQ-9", 0, 0.0, 20.0), ("E1", "weekly", "PHQ-9", 1, 7.0, 19.0)]
    rows += [("E2", "weekly", "PHQ-9", 0, 0.0, 20.0), ("E2", "weekly", "PHQ-9", 1, 7.0, 19.0),
             ("E2", "weekly", "PHQ-9", 2, 14.0, 18.0)]  # fmt: skip
    rows += [("B1", "weekly", "PHQ-9", 0, 0.0, 20.0), ("B2", "weekly", "PHQ-9", 0, 0.0, 20.0)]
    rows += [("X1", "weekly", "PHQ-9", 1, 7.0, 10.0), ("X1", "weekly", "PHQ-9", 4, 28.0, 5.0)]
    tidy = make_tidy(rows)
    out = patient_outcomes(tidy, REG)
    text = attrition_caveat(out)
    # 13 starters (C01–C09, E1, E2, B1, B2); left early: E1, E2, B1, B2 = 4; no later score: 2.
    assert text.startswith(
        "Attrition: 4 of 13 patients who started left before the planned last session "
        "(2 of them have no score after baseline)."
    )
    assert "(last observation carried forward, LOCF), so 2 who left after at least one" in text
    assert "count the 2 with no later score as not improved" in text
    # The same caveat on every claim of the instrument, third in the list.
    r = claims_of(tidy)[("large-improvement", "PHQ-9")]
    assert r.caveats[2] == text
    # The planned last session set by hand: session 5 → the nine "completers" left early too.
    late = attrition_caveat(patient_outcomes(tidy, REG, planned_sessions={"weekly": 5}))
    assert late.startswith("Attrition: 13 of 13 patients who started left before")
    # Without the completer columns (an older outcomes table): starters without an EOT.
    old = attrition_caveat(out.drop(columns=["left_early", "completer"]))
    assert old.startswith("Attrition: 2 of 13 patients who started left before")


def test_attrition_caveat_says_when_the_planned_last_session_is_unknown():
    # Protocol "new": nobody with a baseline has a later score, so no planned session is known.
    rows = [
        ("A", "weekly", "PHQ-9", 0, 0.0, 20.0), ("A", "weekly", "PHQ-9", 1, 7.0, 12.0),
        ("A", "weekly", "PHQ-9", 2, 14.0, 10.0), ("B", "new", "PHQ-9", 0, 0.0, 20.0),
    ]  # fmt: skip
    text = attrition_caveat(patient_outcomes(make_tidy(rows), REG))
    assert text.startswith("Attrition: 0 of 2 patients who started left before")
    assert "For 1 more the planned last session is unknown" in text
    assert "count the 1 with no later score as not improved" in text


def test_suicidal_ideation_counts_item9_resolution_and_new_onset(claims):
    r = claims[("suicidal-ideation", "PHQ-9")]
    # Item 9 ≥ 1 at baseline: P01–P05 and P13 = 6.
    # Session 1 answered: P01, P02, P03, P05 (P04 blank, P13 none) = 4; back to 0: P01, P02.
    assert (r.details["k"], r.n) == (2, 4)
    assert r.estimate == pytest.approx(50.0)
    assert r.ci == pytest.approx(wilson_pct(2, 4))
    assert r.verdict == INCONCLUSIVE
    # EOT answered: P01–P05 = 5; back to 0: P01, P03, P04 = 3
    assert (r.details["eot_resolved_n"], r.details["eot_resolved_of"]) == (3, 5)
    # Item 9 = 0 at baseline: P06–P12 = 7, all answered later; ≥ 1 later: P07 only
    assert (r.details["new_onset_n"], r.details["new_onset_of"]) == (1, 7)
    # attrition: 6 − 4 = 2 without a session-1 answer, 6 − 5 = 1 without an EOT answer
    assert any(c.startswith("Attrition: of 6 patients") and "2 have" in c for c in r.caveats)


def test_treatment_resistant_runs_the_large_improvement_test_inside_the_group(claims):
    r = claims[("treatment-resistant", "PHQ-9")]
    # treatment-resistant and paired: P01–P04, P07, P08; reliable: all but P08 = 5 of 6
    assert (r.details["k"], r.n, r.group) == (5, 6, "treatment-resistant")
    assert r.estimate == pytest.approx(100 * 5 / 6)
    assert r.ci == pytest.approx(wilson_pct(5, 6))
    assert r.verdict == INCONCLUSIVE  # n = 6 < 10
    # the others (paired): P05, P06, P09–P12; reliable: all but P12 = 5 of 6
    assert r.details["others_n"] == 6
    assert r.details["others_pct"] == pytest.approx(100 * 5 / 6)


def test_initial_anxiety_is_reported_without_a_verdict(claims):
    r = claims[("initial-anxiety", "GAD-7")]
    # GAD-7 session 1 minus baseline 10: P01 +4, P02 +5 (reliable, threshold 4), P03 +3, P04 −2;
    # P05 has no session 1. 2 of 4.
    assert (r.verdict, r.details["k"], r.n) == (REPORTED, 2, 4)
    assert r.estimate == pytest.approx(50.0)
    assert r.ci == pytest.approx(wilson_pct(2, 4))


def test_intensive_faster_needs_ten_paired_patients_per_protocol(claims):
    r = claims[("intensive-faster", "PHQ-9")]
    assert r.verdict == NOT_TESTABLE and r.n == 0
    assert "with a baseline in a protocol (intensive 13, weekly 0)" in r.caveats[0]


def test_standard_caveats_count_attrition(claims):
    r = claims[("large-improvement", "PHQ-9")]
    # P13 started without an EOT: 1 of 13 starters.
    assert any(c.startswith("Attrition: 1 of 13 patients who started") for c in r.caveats)


def test_recall_caveat_only_where_the_claims_time_scale_is_shorter_than_the_recall(claims):
    # PHQ-9 asks about the past 14 days. Rapid onset reads first reassessments within 7 days:
    # P01–P06 on day 1, P07–P08 on day 3, P09 on day 7; median 1, so 13 days are before treatment.
    rapid = [c for c in claims[("rapid-onset", "PHQ-9")].caveats if c.startswith("Recall")]
    assert rapid == [
        "Recall period: the first reassessments within 7 days came a median of 1 day after "
        "baseline, but PHQ-9 asks about the past 14 days, so those answers still cover about 13 "
        "days before treatment began."
    ]
    # End of treatment of the 12 paired (all intensive): days 8 × 6, 10, 10, 14, 14.5, 17, 17;
    # median (8 + 10) / 2 = 9, inside the 14 days.
    large = [c for c in claims[("large-improvement", "PHQ-9")].caveats if c.startswith("Recall")]
    assert large == [
        "Recall period: intensive patients' end-of-treatment scores came a median of 9 days after "
        "baseline, but PHQ-9 asks about the past 14 days, so those answers still cover about 5 "
        "days before treatment began."
    ]
    # Lasting reads a follow-up 90 days on: longer than any recall period, so no caveat.
    assert not any(c.startswith("Recall") for c in claims[("lasting", "PHQ-9")].caveats)


@pytest.mark.parametrize(
    ("timescale", "recall", "fires"),
    [(4.0, 14.0, True), (13.9, 14.0, True), (14.0, 14.0, False), (28.0, 14.0, False),
     (14.0, 30.0, True), (None, 14.0, False), (4.0, None, False), (math.nan, 14.0, False)],
)  # fmt: skip
def test_recall_caveat_compares_the_time_scale_with_the_recall_period(timescale, recall, fires):
    from analysis.claims.verdicts import recall_caveat

    text = recall_caveat("PHQ-9", recall, timescale, "scores came a median of")
    assert (text is not None) is fires
    if fires:
        assert f"past {recall:g} days" in text and f"about {recall - timescale:g} day" in text


def test_every_result_has_the_spec_keys_and_caveats(claims):
    for r in [*claims.values(), *claims_of(two_protocols(12, 12)).values()]:
        d = r.to_dict()
        json.dumps(d, allow_nan=False)
        assert {"id", "instrument", "verdict", "n", "estimate", "ci", "caveats"} <= set(d)
        assert d["verdict"] in {SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE, REPORTED}
        assert isinstance(d["n"], int) and len(d["ci"]) == 2 and isinstance(d["caveats"], list)
        if d["verdict"] != NOT_TESTABLE:
            text = " ".join(d["caveats"])
            assert "No control group" in text, d["id"]
            assert "Regression to the mean" in text, d["id"]
            assert "Attrition" in text, d["id"]
        else:
            assert d["caveats"], d["id"]  # says why


def test_every_claim_is_answered_once_per_instrument(claims):
    # PHQ-9 and GAD-7 present: 4 claims × 2 instruments for rapid-onset, intensive-faster,
    # large-improvement, lasting; treatment-resistant × 2; suicidal-ideation and initial-anxiety
    # once each = 8 + 2 + 2 = 12.
    assert len(claims) == 12
    assert {i for i, _ in claims} == set(CLAIM_TEXT)  # the seven claims of SPEC section 6


# -- not testable ---------------------------------------------------------------------------------
def test_not_testable_without_item_level_phq9():
    r = claims_of(cohort(items=False))[("suicidal-ideation", "PHQ-9")]
    assert (r.verdict, r.n, r.estimate, r.ci) == (NOT_TESTABLE, 0, None, (None, None))
    assert "item-level" in r.caveats[0]


def test_not_testable_without_treatment_resistant_column():
    r = claims_of(cohort(resistant=False))[("treatment-resistant", "PHQ-9")]
    assert r.verdict == NOT_TESTABLE and r.n == 0


def test_initial_anxiety_not_testable_without_gad7():
    c = claims_of(cohort(gad=False))
    r = c[("initial-anxiety", "GAD-7")]
    assert r.verdict == NOT_TESTABLE and r.n == 0
    assert "GAD-7" in r.caveats[0]


def test_lasting_not_testable_without_follow_up():
    tidy = cohort()
    tidy = tidy[tidy["phase"] != "follow-up"].reset_index(drop=True)
    r = claims_of(tidy)[("lasting", "PHQ-9")]
    assert r.verdict == NOT_TESTABLE and "follow-up" in r.caveats[0]


def two_protocols(
    n_int: int, n_wk: int, *, int_day: float = 2.0, wk_day: float = 21.0,
    int_eot=(9, 10, 11), wk_eot=(9, 10, 11), int_days: bool = True, wk_days: bool = True,
) -> pd.DataFrame:  # fmt: skip
    """Baseline 20 on day 0; session 1 at 12 (change 8: reliable) on ``int_day`` / ``wk_day``;
    EOT (session 2) a week later, cycling through ``int_eot`` / ``wk_eot``. Without days the day
    column is empty for that protocol."""
    rows = []
    for prefix, protocol, n, day, eots, has_days in (
        ("I", "intensive", n_int, int_day, int_eot, int_days),
        ("W", "weekly", n_wk, wk_day, wk_eot, wk_days),
    ):
        for i in range(n):
            d = (0.0, day, day + 7) if has_days else (np.nan,) * 3
            eot = float(eots[i % len(eots)])
            rows += [
                (f"{prefix}{i}", protocol, "PHQ-9", 0, d[0], 20.0),
                (f"{prefix}{i}", protocol, "PHQ-9", 1, d[1], 12.0),
                (f"{prefix}{i}", protocol, "PHQ-9", 2, d[2], eot),
            ]
    return make_tidy(rows)


def test_no_days_makes_rapid_onset_and_intensive_faster_not_testable():
    c = claims_of(two_protocols(12, 12, int_days=False, wk_days=False))
    for claim in ("rapid-onset", "intensive-faster"):
        r = c[(claim, "PHQ-9")]
        assert r.verdict == NOT_TESTABLE and "days" in r.caveats[0], claim
    assert c[("large-improvement", "PHQ-9")].verdict == SUPPORTED  # 24 of 24 still testable


def test_intensive_faster_not_testable_with_nine_weekly_patients():
    r = claims_of(two_protocols(12, 9))[("intensive-faster", "PHQ-9")]
    assert r.verdict == NOT_TESTABLE and "intensive 12, weekly 9" in r.caveats[0]


def test_intensive_faster_not_testable_when_one_protocol_has_no_days():
    # 12 + 12 paired, but the weekly clinic recorded no days: no day to compare them at.
    r = claims_of(two_protocols(12, 12, wk_days=False))[("intensive-faster", "PHQ-9")]
    assert r.verdict == NOT_TESTABLE and "weekly 0" in r.caveats[0]


# The verdict's rule, its model and its error rates: tests/analysis/test_claims_faster.py.


def test_thresholds_come_from_the_config():
    # rapid_days = 0.5: nobody in the main cohort is reassessed that soon, 0 of 12.
    r = claims_of(cohort(), ClaimsConfig(rapid_days=0.5))[("rapid-onset", "PHQ-9")]
    assert (r.details["k"], r.n, r.verdict) == (0, 12, NOT_SUPPORTED)  # Wilson 0–24.2 %
    # large_share = 0.9: 10 of 12 (Wilson 55.2–95.3 %) straddles 90 %
    r = claims_of(cohort(), ClaimsConfig(large_share=0.9))[("large-improvement", "PHQ-9")]
    assert r.verdict == INCONCLUSIVE
    assert not math.isnan(r.estimate)


def test_effect_sizes_attached_afterwards_equal_those_given_to_evaluate_claims():
    from analysis.claims.evaluate import with_effect_sizes
    from analysis.figures import KEYS, within_effects

    tidy = cohort()
    out = patient_outcomes(tidy, REG)
    paired = out.loc[out["paired"].astype(bool), [*KEYS, "baseline", "eot"]]
    eff = within_effects(paired, REG, ["instrument"], n_boot=100)
    direct = evaluate_claims(tidy, out, REG, CFG, effects=eff)
    later = with_effect_sizes(evaluate_claims(tidy, out, REG, CFG), eff)
    assert [c.to_dict() for c in later] == [c.to_dict() for c in direct]
    assert any("g_av_ci_lo" in c.details for c in later)
