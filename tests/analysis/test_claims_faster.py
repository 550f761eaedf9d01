"""The intensive-faster verdict: its model against lme4 and sandwich, and its error rates on
simulated practices whose truth is known (tests/analysis/simulate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.claims.config import NOT_TESTABLE, SUPPORTED, ClaimsConfig
from analysis.claims.faster import ancova_difference, intensive_faster
from analysis.matched_time import matched_time_contrast
from analysis.outcomes import patient_outcomes
from data.errors import AnalysisError
from data.instruments import default_registry
from data.schema import conform
from tests.analysis.simulate import simulate_practice

REG = default_registry()
PHQ = REG.get("PHQ-9")
REF_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
REF = json.loads((REF_DIR / "matched_time_reference.json").read_text())


def _reference_cohort() -> pd.DataFrame:
    frame = pd.read_csv(REF_DIR / "matched_time_cohort.csv")
    frame["instrument"] = "PHQ-9"
    frame["session"] = frame["session"].astype("Int64")
    return conform(frame)


def _verdict(tidy: pd.DataFrame, cfg: ClaimsConfig = ClaimsConfig()):  # noqa: B008
    out = patient_outcomes(tidy, REG)
    return intensive_faster(out[out["instrument"] == "PHQ-9"], PHQ, cfg, tidy, REG)


def test_matched_time_contrast_against_lme4():
    res = matched_time_contrast(_reference_cohort(), "PHQ-9", REG)
    assert res.n_obs == REF["n_obs"]
    assert res.baseline_mean == pytest.approx(REF["centre"], rel=1e-12)
    day14 = {c.day: c for c in res.contrasts}[14.0]
    cal14 = {c.day: c for c in res.calibrated}[14.0]
    # advantage = −(score difference intensive − weekly) on a higher-is-worse instrument
    assert day14.estimate == pytest.approx(-REF["day14_measured"]["estimate"], abs=1e-6)
    assert day14.se == pytest.approx(REF["day14_measured"]["se"], rel=1e-6)
    assert cal14.estimate == pytest.approx(-REF["day14_calibrated"]["estimate"], rel=1e-6)
    assert cal14.se == pytest.approx(REF["day14_calibrated"]["se"], rel=1e-6)
    assert res.reliability == pytest.approx(REF["reliability"], rel=1e-6)
    assert res.shape == "spline" and res.converged


def test_day_without_both_protocols_is_not_tested():
    res = matched_time_contrast(_reference_cohort(), "PHQ-9", REG)
    day28 = {c.day: c for c in res.contrasts}[28.0]
    # intensive patients are assessed up to day 14 only: no figure at day 28
    assert not day28.tested and day28.n_intensive_near == 0 and np.isnan(day28.estimate)
    assert res.horizon == 17.0


def test_no_comparable_day_raises():
    with pytest.raises(AnalysisError, match="No target day"):
        matched_time_contrast(_reference_cohort(), "PHQ-9", REG, days=(60,))


def test_eot_ancova_against_r_sandwich_hc3():
    tidy = _reference_cohort()
    last = tidy[tidy["session"] >= 1].groupby("patient_id")["session"].max()
    done = last[last >= 8].index
    base = tidy[tidy["session"] == 0].set_index("patient_id")["score"]
    eot = tidy[(tidy["session"] == 8)].set_index("patient_id")["score"]
    proto = tidy.groupby("patient_id")["protocol"].first()
    change = (base[done] - eot[done]).to_numpy(float)
    est, se, _ = ancova_difference(
        change, (proto[done] == "intensive").to_numpy(float), base[done].to_numpy(float)
    )
    assert len(done) == REF["eot"]["n"]
    assert est == pytest.approx(REF["eot"]["estimate"], rel=1e-9)
    assert se == pytest.approx(REF["eot"]["se"], rel=1e-9)


def test_reference_cohort_verdict_reads_completers():
    res = _verdict(_reference_cohort())
    assert res.details["eot_population"] == "completer"
    assert res.details["eot_n_intensive"] + res.details["eot_n_weekly"] == REF["eot"]["n"]
    # the figure shown is the lower of the two adjustments at the day shown
    assert res.details["shown_day"] == 14.0
    assert res.estimate == pytest.approx(-REF["day14_measured"]["estimate"], abs=1e-6)


def test_no_days_is_not_testable():
    tidy = simulate_practice(1, "schedule", n=60)
    tidy["day"] = np.nan
    res = _verdict(tidy)
    assert res.verdict == NOT_TESTABLE and "days since baseline" in res.caveats[0]


def test_too_few_in_a_protocol_is_not_testable():
    tidy = simulate_practice(2, "schedule", n=60)
    keep = (tidy["protocol"] == "weekly") | tidy["patient_id"].isin(
        tidy.loc[tidy["protocol"] == "intensive", "patient_id"].unique()[:5]
    )
    res = _verdict(tidy[keep])
    assert res.verdict == NOT_TESTABLE and "Fewer than 10" in res.caveats[0]


def test_verdict_caveats_name_schedules_and_untested_day():
    res = _verdict(simulate_practice(3, "faster"))
    assert res.verdict == SUPPORTED
    text = " ".join(res.caveats)
    assert "assessed at different rates" in text and "Not compared at day 28" in text


# -- error rates on simulated practices ----------------------------------------------------------
def _run(scenario: str, n_cohorts: int, seed0: int) -> tuple[float, float]:
    """Share of practices with "supported", and the mean day-14 advantage (baseline as
    measured) over the practices."""
    hits, advantage = [], []
    for s in range(n_cohorts):
        res = _verdict(simulate_practice(seed0 + s, scenario))
        hits.append(res.verdict == SUPPORTED)
        advantage.append(res.details["day14_advantage"])
    return float(np.mean(hits)), float(np.mean(advantage))


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["schedule", "sicker", "milder"])
def test_false_supported_at_most_10_percent_when_calendar_curves_are_equal(scenario):
    """Both protocols improve on the same calendar curve; intensive is assessed on days 1–14,
    weekly every 7 days ("schedule"), and intensive patients are also sicker with selection on
    a noisy baseline ("sicker") or milder ("milder"). 150 practices of 300 patients each; the
    verdict's stated rate is at most 5%, the bound allows for the simulation's own noise."""
    rate, advantage = _run(scenario, 150, seed0=10_000)
    assert rate <= 0.10, f"{scenario}: supported in {rate:.1%} of practices"
    if scenario == "schedule":  # no selection: the model is unbiased at day 14
        assert abs(advantage) < 0.25, f"mean day-14 advantage {advantage:.2f} points"


@pytest.mark.slow
def test_supported_in_at_least_70_percent_when_intensive_is_truly_faster():
    rate, advantage = _run("faster", 60, seed0=20_000)
    assert rate >= 0.70, f"supported in only {rate:.1%} of practices"
    # truth at day 14: E[gain] · (c_intensive(14) − c_weekly(14)) ≈ 8 · (0.99 − 0.49)
    assert 3.0 < advantage < 5.0


def test_confirmed_improvement_needs_two_consecutive_assessments_within_common_window():
    from analysis.assessments import Assessments
    from analysis.confirmed import confirmed_times
    from tests.analysis.handmade import make_tidy

    rows = [
        # A (intensive): 6-point improvement on days 2 and 3 → confirmed, event on day 2
        ("A", "intensive", "PHQ-9", 0, 0.0, 20.0), ("A", "intensive", "PHQ-9", 1, 1.0, 18.0),
        ("A", "intensive", "PHQ-9", 2, 2.0, 14.0), ("A", "intensive", "PHQ-9", 3, 3.0, 13.0),
        # B (intensive): met on day 2 only, then again at the last assessment → censored day 4
        ("B", "intensive", "PHQ-9", 0, 0.0, 20.0), ("B", "intensive", "PHQ-9", 1, 2.0, 14.0),
        ("B", "intensive", "PHQ-9", 2, 3.0, 17.0), ("B", "intensive", "PHQ-9", 3, 4.0, 12.0),
        # C (weekly): confirmed on days 21 and 28 → event day 21
        ("C", "weekly", "PHQ-9", 0, 0.0, 20.0), ("C", "weekly", "PHQ-9", 1, 7.0, 19.0),
        ("C", "weekly", "PHQ-9", 2, 14.0, 18.0), ("C", "weekly", "PHQ-9", 3, 21.0, 12.0),
        ("C", "weekly", "PHQ-9", 4, 28.0, 11.0),
    ]  # fmt: skip
    tidy = make_tidy(rows)
    out = patient_outcomes(tidy, REG)
    times = confirmed_times(Assessments.build(tidy), out, "PHQ-9", 1.0).set_index("protocol")
    assert times["time"].tolist() == [2.0, 4.0, 21.0]
    assert times["event"].tolist() == [True, False, True]
    assert times["last"].tolist() == [3.0, 4.0, 28.0]
    # common window: the shorter median last day (intensive 3.5): C's day-21 event is censored
    from analysis.confirmed import in_common_window

    cut, window = in_common_window(times.reset_index())
    assert window == 3.5
    assert cut["time"].tolist() == [2.0, 3.5, 3.5] and cut["event"].tolist() == [True, False, False]


# -- the verdict rule on given figures -----------------------------------------------------------
def _mt(day14, cal14=None, day28=None):
    """A MatchedTimeResult with the given (estimate, lo, hi) per day; None: day not tested."""
    from analysis.matched_time import DayContrast, MatchedTimeResult

    def contrast(day, fig):
        if fig is None:
            return DayContrast(day, False, 0, 0)
        est, lo, hi = fig
        return DayContrast(day, True, 20, 20, est, (hi - lo) / 3.92, (lo, hi))

    measured = (contrast(14.0, day14), contrast(28.0, day28))
    calibrated = (contrast(14.0, cal14 or day14), contrast(28.0, day28))
    return MatchedTimeResult(
        instrument="PHQ-9", shape="spline", contrasts=measured, calibrated=calibrated,
        reliability={"intensive": 0.8, "weekly": 0.8}, covariates=(), n_intensive=20,
        n_weekly=20, n_obs=200, horizon=31.0, baseline_mean=16.0, converged=True,
        singular=False, message="converged",
    )  # fmt: skip


def _eot(lo, hi, lo_cal=None, hi_cal=None):
    est = (lo + hi) / 2
    cal = (lo if lo_cal is None else lo_cal, hi if hi_cal is None else hi_cal)
    return {
        "population": "completer", "n_intensive": 20, "n_weekly": 20,
        "measured": {"estimate": est, "se": 1.0, "ci": (lo, hi)},
        "calibrated": {"estimate": sum(cal) / 2, "se": 1.0, "ci": cal},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("mt", "eot", "verdict", "shown_day"),
    [
        # ahead at day 14 under both adjustments, not worse at EOT: supported
        (_mt((3, 1, 5)), _eot(-1, 2), "supported", 14.0),
        # ahead only at day 28: supported, and day 28 is the figure shown
        (_mt((1, -1, 3), day28=(3, 0.5, 5.5)), _eot(-1, 2), "supported", 28.0),
        # ahead with the baseline as measured but not once calibrated: inconclusive
        (_mt((3, 1, 5), cal14=(1, -1, 3)), _eot(-1, 2), "inconclusive", 14.0),
        # ahead, but the EOT CI reaches below the −3-point margin: inconclusive
        (_mt((3, 1, 5)), _eot(-4, 1), "inconclusive", 14.0),
        # ahead, but clearly worse at EOT (whole CI below −3): not supported
        (_mt((3, 1, 5)), _eot(-7, -4), "not supported", 14.0),
        # behind at every compared day under both adjustments: not supported
        (_mt((-3, -5, -1), day28=(-2, -4, -0.5)), _eot(-1, 2), "not supported", 14.0),
        # behind on one adjustment only: inconclusive
        (_mt((-3, -5, -1), cal14=(0, -2, 2)), _eot(-1, 2), "inconclusive", 14.0),
        # too few completers to judge the end of treatment: never supported
        (_mt((3, 1, 5)), {"population": "completer", "n_intensive": 2, "n_weekly": 20},
         "inconclusive", 14.0),
    ],
)  # fmt: skip
def test_verdict_rule(mt, eot, verdict, shown_day):
    from analysis.claims.faster import faster_verdict

    got, shown = faster_verdict(mt, eot, margin=3.0)
    assert (got, shown.day) == (verdict, shown_day)
