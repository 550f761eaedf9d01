"""Multiplicity control of the scorecard (analysis.claims.multiplicity) and the one-sided p-values it
reads: the share claims' score test against R ``prop.test``, Holm against R ``p.adjust``, the
intensive-faster p against R ``pnorm``/``pt``, and the family-wise error on simulated practices
where every claim sits exactly at its boundary.
"""

from __future__ import annotations

import numpy as np
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
from analysis.claims.multiplicity import EXPLORATORY, PRIMARY, control_multiplicity, one_sided_alpha
from analysis.claims.verdicts import ClaimResult, share_p_value, share_verdict

CFG = ClaimsConfig()


# -- the share claims' p-value ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("k", "n", "p0", "r_p"),
    [  # R 4.2.2: prop.test(k, n, p0, alternative = "greater", correct = FALSE)$p.value
        (60, 100, 0.5, 0.0227501319481792),
        (8, 10, 0.5, 0.0288897855617986),
        (136, 265, 0.5, 0.333595426714575),
        (30, 41, 0.5, 0.00150213111969914),
        (7, 12, 0.5, 0.281851430825387),
        (3, 10, 0.3, 0.5),
    ],
)
def test_share_p_value_against_R_prop_test(k, n, p0, r_p):
    assert share_p_value(k, n, p0) == pytest.approx(r_p, rel=1e-9)


@pytest.mark.parametrize("n", [10, 17, 40, 100, 265])
@pytest.mark.parametrize("p0", [0.3, 0.5, 0.65])
def test_share_p_value_agrees_with_the_wilson_verdict_on_every_k(n, p0):
    """p ≤ 2.5% exactly when the lower end of the 95% Wilson interval reaches the threshold."""
    for k in range(n + 1):
        lo = proportion_confint(k, n, alpha=0.05, method="wilson")[0]
        if abs(lo - p0) < 1e-9:
            continue  # on the boundary itself rounding decides
        p = share_p_value(k, n, p0)
        assert (p <= 0.025) is (lo >= p0), (k, n)
        assert (share_verdict(k, n, p0, CFG)[0] == SUPPORTED) is (p <= 0.025), (k, n)


def test_share_p_value_needs_patients_and_an_inner_threshold():
    assert share_p_value(0, 0, 0.5) is None
    assert share_p_value(3, 10, 0.0) is None and share_p_value(3, 10, 1.0) is None


# -- Holm over the exploratory claims ----------------------------------------------------------
def _result(claim, instrument, p, verdict=SUPPORTED):
    return ClaimResult(claim, instrument, verdict, 50, 70.0, (60.0, 80.0), "test", ("c",),
                       p_value=p)  # fmt: skip


def test_holm_against_R_p_adjust():
    # R: p.adjust(c(0.001, 0.04, 0.012, 0.3, 0.0049, 0.02), "holm")
    r_holm = [0.006, 0.08, 0.048, 0.3, 0.0245, 0.06]
    ps = [0.001, 0.04, 0.012, 0.3, 0.0049, 0.02]
    results = [_result("lasting", f"I{i}", p) for i, p in enumerate(ps)]  # no primary among them
    got = control_multiplicity(results, CFG)
    assert [r.p_adjusted for r in got] == pytest.approx(r_holm, rel=1e-12)
    assert all(r.role == EXPLORATORY for r in got)
    # supported survives only where the adjusted p is at most 2.5%
    assert [r.verdict for r in got] == [SUPPORTED, INCONCLUSIVE, INCONCLUSIVE, INCONCLUSIVE,
                                        SUPPORTED, INCONCLUSIVE]  # fmt: skip
    assert all(r.verdict_unadjusted == SUPPORTED for r in got)
    lost = got[2]
    assert lost.caveats[-1].startswith("Multiple claims: on its own this test would say supported")
    assert "one of 6 exploratory tests" in lost.caveats[-1] and "p = 0.048" in lost.caveats[-1]


def test_primary_claim_is_tested_alone_at_alpha_and_kept_out_of_the_family():
    primary = _result("large-improvement", "PHQ-9", 0.02)
    others = [_result("lasting", "PHQ-9", 0.001), _result("lasting", "GAD-7", 0.02)]
    got = control_multiplicity([others[0], primary, others[1]], CFG)
    assert (got[1].role, got[1].verdict, got[1].p_adjusted) == (PRIMARY, SUPPORTED, 0.02)
    # the family is the two others: Holm gives 0.002 and 0.02
    assert [got[0].p_adjusted, got[2].p_adjusted] == pytest.approx([0.002, 0.02])
    assert [got[0].verdict, got[2].verdict] == [SUPPORTED, SUPPORTED]
    # the same p on its own as primary would be judged at 2.5%: 0.03 is not enough
    late = control_multiplicity([_result("large-improvement", "PHQ-9", 0.03)], CFG)[0]
    assert (late.role, late.verdict, late.verdict_unadjusted) == (PRIMARY, INCONCLUSIVE, SUPPORTED)


def test_primary_claim_is_configurable():
    cfg = ClaimsConfig(primary_claim="lasting", primary_instrument="GAD-7")
    got = control_multiplicity(
        [_result("large-improvement", "PHQ-9", 0.02), _result("lasting", "GAD-7", 0.02)], cfg
    )
    assert [r.role for r in got] == [EXPLORATORY, PRIMARY]


def test_untested_and_reported_claims_pass_through_and_other_verdicts_stand():
    untestable = ClaimResult("lasting", "PCL-5", NOT_TESTABLE, 0, None, (None, None), "t", ("why",))
    reported = ClaimResult("initial-anxiety", "GAD-7", REPORTED, 40, 10.0, (5.0, 20.0), "t")
    short = _result("lasting", "PHQ-9", 0.9, verdict=NOT_SUPPORTED)
    unsure = _result("rapid-onset", "PHQ-9", 0.2, verdict=INCONCLUSIVE)
    got = control_multiplicity([untestable, reported, short, unsure], CFG)
    assert got[0] == untestable and got[1] == reported
    assert (got[2].verdict, got[3].verdict) == (NOT_SUPPORTED, INCONCLUSIVE)
    assert got[2].to_dict()["verdict_unadjusted"] == NOT_SUPPORTED
    assert got[0].to_dict()["role"] is None and got[0].to_dict()["p_value"] is None


def test_one_sided_alpha_follows_the_confidence_level():
    assert one_sided_alpha(CFG) == pytest.approx(0.025)
    assert one_sided_alpha(ClaimsConfig(ci_level=0.90)) == pytest.approx(0.05)


# -- the intensive-faster p ---------------------------------------------------------------------
def _mt(day14, cal14, day28=None):
    from analysis.matched_time import DayContrast, MatchedTimeResult

    def contrast(day, fig):
        if fig is None:
            return DayContrast(day, False, 0, 0)
        est, se = fig
        return DayContrast(day, True, 20, 20, est, se, (est - 1.96 * se, est + 1.96 * se))

    return MatchedTimeResult(
        instrument="PHQ-9", shape="spline",
        contrasts=(contrast(14.0, day14), contrast(28.0, day28)),
        calibrated=(contrast(14.0, cal14), contrast(28.0, day28)),
        reliability={"intensive": 0.8, "weekly": 0.8}, covariates=(), n_intensive=20,
        n_weekly=20, n_obs=200, horizon=31.0, baseline_mean=16.0, converged=True,
        singular=False, message="converged",
    )  # fmt: skip


EOT = {
    "population": "completer", "n_intensive": 20, "n_weekly": 20,
    "measured": {"estimate": 0.0, "se": 1.0, "ci": (-2.0, 2.0), "df": 37},
    "calibrated": {"estimate": 1.0, "se": 1.5, "ci": (-2.0, 4.0), "df": 37},
}  # fmt: skip


def test_faster_p_value_against_R():
    from analysis.claims.faster import faster_p_value

    # day 14: max(pnorm(3, lower = F), pnorm(2.2, lower = F)) = 0.0139034475134986; one day.
    # EOT, margin 3: max(pt(3, 37, lower = F), pt(4 / 1.5, 37, lower = F)) = 0.005647315613697.
    assert faster_p_value(_mt((3, 1), (2.2, 1)), EOT, 3.0) == pytest.approx(0.0139034475134986)
    # day 28 tested too (pnorm(1.9, lower = F) = 0.0287): Bonferroni, 2 × 0.0139
    two = faster_p_value(_mt((3, 1), (2.2, 1), day28=(1.9, 1)), EOT, 3.0)
    assert two == pytest.approx(2 * 0.0139034475134986)
    # the end of treatment binds when it is the weaker part: margin 1 → pt(1, 37, lower = F)
    weak_eot = faster_p_value(_mt((3, 1), (2.2, 1)), EOT, 1.0)
    assert weak_eot == pytest.approx(0.161902936177709)
    # no end-of-treatment comparison: never supported
    assert faster_p_value(_mt((3, 1), (2.2, 1)), {"population": "completer"}, 3.0) == 1.0


def test_faster_p_value_never_supports_where_the_verdict_rule_does_not():
    from analysis.claims.faster import faster_p_value, faster_verdict

    rng = np.random.default_rng(7)
    for _ in range(300):
        d14, c14, d28 = rng.normal(2, 1.5, 3)
        mt = _mt((d14, 1.0), (c14, 1.0), day28=(d28, 1.0) if rng.random() < 0.5 else None)
        eot = {**EOT, "measured": {**EOT["measured"], "estimate": rng.normal(0, 2)}}
        p = faster_p_value(mt, eot, 3.0)
        if p <= 0.025:
            assert faster_verdict(mt, eot, 3.0)[0] == SUPPORTED


# -- family-wise error on simulated practices -----------------------------------------------------
@pytest.mark.slow
def test_family_wise_false_supported_at_most_5_percent_where_every_claim_is_at_its_boundary():
    """150 simulated practices of 150 patients (tests/analysis/simulate_scorecard.py) where no
    claim is true and every claim sits exactly at its boundary: the scorecard says "supported"
    anywhere in at most 5% of them (the data must not show more: the lower end of a one-sided
    95% Wilson bound of the observed rate stays at or below 5%), while the same tests without
    multiplicity control clearly exceed 5%."""
    from analysis.claims.evaluate import evaluate_claims
    from analysis.outcomes import patient_outcomes
    from data.instruments import default_registry
    from tests.analysis.simulate_scorecard import simulate_boundary_practice

    reg, n_sim = default_registry(), 150
    adjusted = unadjusted = 0
    for seed in range(n_sim):
        tidy = simulate_boundary_practice(90_000 + seed, n=150)
        results = evaluate_claims(tidy, patient_outcomes(tidy, reg), reg)
        assert sum(r.role == "primary" for r in results) == 1
        adjusted += any(r.verdict == SUPPORTED for r in results)
        unadjusted += any(r.verdict_unadjusted == SUPPORTED for r in results)
    lo_adj = proportion_confint(adjusted, n_sim, alpha=0.10, method="wilson")[0]
    lo_raw = proportion_confint(unadjusted, n_sim, alpha=0.10, method="wilson")[0]
    assert lo_adj <= 0.05, f"{adjusted} of {n_sim} practices had a false supported"
    assert lo_raw > 0.05, f"without control only {unadjusted} of {n_sim}: the trap is too weak"


def test_holm_matches_statsmodels_multipletests_on_random_p_values():
    from statsmodels.stats.multitest import multipletests

    from analysis.claims.multiplicity import holm

    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 16, 40):
        p = rng.random(m) ** 3  # many small ones, some ties of order
        p[: m // 3] = p[0]
        assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-15)
