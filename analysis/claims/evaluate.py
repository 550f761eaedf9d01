"""The claims scorecard (SPEC section 6): each marketing claim as a test with a verdict.

Every result carries its n, estimate and CI (percentages 0–100 for shares) and the caveats that
apply: no control group, regression to the mean, attrition (both denominators) and
recall-window violations. Thresholds come from ``ClaimsConfig``; the verdict rule and the
caveats live in ``analysis.claims.verdicts``.
"""

from __future__ import annotations

from dataclasses import replace as dataclasses_replace

import pandas as pd

from analysis.assessments import Assessments
from analysis.claims.config import (
    REPORTED,
    ClaimsConfig,
)
from analysis.claims.faster import intensive_faster
from analysis.claims.multiplicity import control_multiplicity
from analysis.claims.verdicts import (
    CLAIM_TEXT,
    NO_CONTROL,
    REGRESSION,
    ClaimResult,
    attrition_caveat,
    eot_recall_caveats,
    not_testable,
    recall_caveat,
    share_claim,
    share_verdict,
    standard_caveats,
    with_regression_numbers,
)
from analysis.rates import proportion

__all__ = [
    "CLAIM_TEXT",
    "NO_CONTROL",
    "REGRESSION",
    "ClaimResult",
    "attrition_caveat",
    "evaluate_claims",
    "recall_caveat",
    "share_verdict",
    "standard_caveats",
]


# -- the seven claims ---------------------------------------------------------------------------
def _flag(frame: pd.DataFrame, col: str) -> tuple[int, int]:
    """(patients with the flag true, patients with the flag known)."""
    v = frame[col]
    return int(v.fillna(False).astype(bool).sum()), int(v.notna().sum())


def _has_days(outcomes: pd.DataFrame) -> bool:
    return bool(outcomes["first_post_day"].notna().any())


def rapid_onset(out: pd.DataFrame, ins, cfg: ClaimsConfig) -> ClaimResult:
    """Share of paired patients with reliable improvement at a first post-baseline assessment
    made within ``cfg.rapid_days`` days of baseline; supported when the Wilson lower bound
    reaches ``cfg.rapid_share``. Patients first assessed later count as not showing rapid relief.
    """
    test = (
        f"Share of paired patients whose first assessment after baseline came within "
        f"{cfg.rapid_days:g} days and already showed reliable improvement; supported when the "
        f"lower end of the 95% CI is at least {cfg.rapid_share:.0%}."
    )
    if not _has_days(out):
        return not_testable("rapid-onset", ins.key, "The data has no days since baseline.", test)
    paired = out[out["paired"].fillna(False).astype(bool) & out["first_post_day"].notna()]
    early = paired["first_post_day"] <= cfg.rapid_days
    hit = paired["first_post_reliable_improvement"].fillna(False).astype(bool) & early
    k, n = int(hit.sum()), len(paired)
    caveats = list(standard_caveats(out, ins.key, ins.recall_days))
    late = int((~early).sum())
    if late:
        caveats.append(
            f"{late} of {n} paired patients were first reassessed after {cfg.rapid_days:g} days "
            "and count as not showing rapid relief."
        )
    within = paired.loc[early.to_numpy(), "first_post_day"]
    rc = recall_caveat(
        ins.key,
        ins.recall_days,
        float(within.median()) if len(within) else cfg.rapid_days,
        f"the first reassessments within {cfg.rapid_days:g} days came a median of",
    )
    if rc:
        caveats.append(rc)
    details = {"n_first_assessed_within_window": int(early.sum()), "k": k}
    return share_claim(
        "rapid-onset",
        ins.key,
        k,
        n,
        cfg.rapid_share,
        cfg,
        test=test,
        caveats=caveats,
        details=details,
    )


def large_improvement(
    out: pd.DataFrame,
    ins,
    cfg: ClaimsConfig,
    *,
    claim_id: str = "large-improvement",
    group: str = "all patients",
    effect: dict | None = None,
) -> ClaimResult:
    """Share of paired patients with reliable improvement at EOT; supported when the Wilson lower
    bound reaches ``cfg.large_share``. The g_av with its CI is shown beside it when given.
    """
    test = (
        f"Share of paired patients with reliable improvement on {ins.key} at the end of "
        f"treatment; supported when the lower end of the 95% CI is at least {cfg.large_share:.0%}."
    )
    if out.empty:
        return not_testable(claim_id, ins.key, f"No {ins.key} scores in this group.", test)
    k, n = _flag(out[out["paired"].fillna(False).astype(bool)], "reliable_improvement")
    starters = out[out["has_baseline"].fillna(False).astype(bool)]
    all_k = int(starters["reliable_improvement"].fillna(False).astype(bool).sum())
    details = {"k": k, "all_starters_n": all_k, "all_starters_of": len(starters)}
    if effect:
        details.update({key: effect.get(key) for key in ("g_av", "g_av_ci_lo", "g_av_ci_hi")})
    caveats = list(standard_caveats(out, ins.key, ins.recall_days))
    caveats.extend(eot_recall_caveats(out[out["paired"].fillna(False).astype(bool)], ins))
    return share_claim(
        claim_id,
        ins.key,
        k,
        n,
        cfg.large_share,
        cfg,
        test=test,
        caveats=caveats,
        group=group,
        details=details,
    )


def lasting(out: pd.DataFrame, ins, cfg: ClaimsConfig) -> ClaimResult:
    """Share of EOT responders still responding at the ``cfg.lasting_window``-day follow-up;
    supported when the Wilson lower bound reaches ``cfg.lasting_share``.

    Beside it, bounds for the responders not seen in the window: the worst case (none of them
    still responding, k of all responders) and the best case (all of them, k + not seen of all
    responders), each with its Wilson CI; the verdict reads only the responders seen.
    """
    w = cfg.lasting_window
    test = (
        f"Among patients responding at the end of treatment (at least half the baseline score "
        f"gone) and assessed about {w} days later, the share still responding; supported when the "
        f"lower end of the 95% CI is at least {cfg.lasting_share:.0%}."
    )
    col = f"sustained{w}"
    if col not in out.columns or not out["has_follow_up"].fillna(False).any():
        return not_testable("lasting", ins.key, "The data has no follow-up assessments.", test)
    k, n = _flag(out, col)
    responders = int(out["response"].fillna(False).astype(bool).sum())
    not_seen = responders - n
    worst = proportion(k, responders, cfg.ci_level)
    best = proportion(k + not_seen, responders, cfg.ci_level)
    follow_up = (
        f"Follow-up attrition: {n} of {responders} end-of-treatment responders were seen in the "
        f"{w}-day window and {not_seen} were not; those who return may differ from those who "
        "do not."
    )
    if not_seen and responders:
        level = f"{cfg.ci_level:.0%} CI"
        follow_up += (
            f" Counting all {responders} responders: if none of the {not_seen} not seen still "
            f"respond, {worst.pct:.0f}% still respond ({level} {worst.ci[0]:.0f}–"
            f"{worst.ci[1]:.0f}%); if all of them do, {best.pct:.0f}% ({level} "
            f"{best.ci[0]:.0f}–{best.ci[1]:.0f}%)."
        )
    caveats = [*standard_caveats(out, ins.key, ins.recall_days), follow_up]
    details = {
        "k": k,
        "eot_responders": responders,
        "seen": n,
        "not_seen": not_seen,
        "worst_case_pct": worst.pct,
        "worst_case_ci_lo": worst.ci[0] if worst.ci else None,
        "worst_case_ci_hi": worst.ci[1] if worst.ci else None,
        "best_case_pct": best.pct,
        "best_case_ci_lo": best.ci[0] if best.ci else None,
        "best_case_ci_hi": best.ci[1] if best.ci else None,
    }
    return share_claim(
        "lasting",
        ins.key,
        k,
        n,
        cfg.lasting_share,
        cfg,
        test=test,
        caveats=caveats,
        details=details,
    )


def initial_anxiety(out: pd.DataFrame, ins, cfg: ClaimsConfig) -> ClaimResult:
    """Share with reliable deterioration at session 1, reported without a verdict."""
    test = (
        f"Share of patients whose {ins.key} score at session 1 was reliably worse than at "
        "baseline; reported without a verdict."
    )
    k, n = _flag(out, "s1_reliable_deterioration")
    if n == 0:
        return not_testable("initial-anxiety", ins.key, "No session-1 scores.", test)
    caveats = list(standard_caveats(out, ins.key, ins.recall_days))
    s1 = out.loc[out["s1_reliable_deterioration"].notna().to_numpy(), "s1_day"].dropna()
    rc = recall_caveat(
        ins.key,
        ins.recall_days,
        float(s1.median()) if len(s1) else None,
        "session-1 scores came a median of",
    )
    if rc:
        caveats.append(rc)
    shown = share_claim(
        "initial-anxiety", ins.key, k, n, 0.5, cfg, test=test, caveats=caveats, details={"k": k}
    )
    return dataclasses_replace(shown, verdict=REPORTED, p_value=None)  # a share, no verdict


def suicidal_ideation(
    safety, cfg: ClaimsConfig, *, s1_day: float | None = None, recall_days: float | None = None
) -> ClaimResult:
    """Among patients with the safety item ≥ 1 at baseline, the share with it back to 0 at
    session 1 (verdict against ``cfg.si_share``); EOT resolution and new onset beside it.
    ``s1_day`` (median day of the instrument's session-1 scores) and ``recall_days`` give the
    recall-period caveat when session 1 falls inside the recall period.
    """
    instrument = safety.instrument
    test = (
        "Among patients who reported thoughts of death or self-harm at baseline (PHQ-9 item 9 of "
        "1 or more), the share reporting none at session 1; supported when the lower end of the "
        f"95% CI is at least {cfg.si_share:.0%}. End of treatment and new onset shown beside it."
    )
    if not safety.available:
        return not_testable("suicidal-ideation", instrument, safety.reason, test)
    res = safety.resolution.groupby("timepoint", observed=True)[
        ["n", "of", "n_baseline_positive"]
    ].sum()
    k, n = (int(res.loc["session 1", c]) if "session 1" in res.index else 0 for c in ("n", "of"))
    eot_k, eot_n = (
        int(res.loc["end of treatment", c]) if "end of treatment" in res.index else 0
        for c in ("n", "of")
    )
    onset = safety.new_onset[["n", "of"]].sum()
    details = {
        "k": k,
        "eot_resolved_n": eot_k,
        "eot_resolved_of": eot_n,
        "new_onset_n": int(onset["n"]),
        "new_onset_of": int(onset["of"]),
    }
    positive = int(res["n_baseline_positive"].max()) if len(res) else 0
    caveats = (
        NO_CONTROL,
        REGRESSION,
        f"Attrition: of {positive} patients with such thoughts at baseline, {positive - n} have "
        f"no item-9 answer at session 1 and {positive - eot_n} none at the end of treatment; "
        "they are left out of these shares.",
        "Item 9 is a screening question, not a risk assessment; a score of 0 does not mean a "
        "person is safe.",
        f"New onset: {details['new_onset_n']} of {details['new_onset_of']} patients without such "
        "thoughts at baseline reported them at a later assessment.",
    )
    rc = recall_caveat(instrument, recall_days, s1_day, "session-1 answers came a median of")
    return share_claim(
        "suicidal-ideation",
        instrument,
        k,
        n,
        cfg.si_share,
        cfg,
        test=test,
        caveats=caveats + ((rc,) if rc else ()),
        details=details,
    )


#: The outcome columns the claims read, besides ``sustained<window>`` for ``lasting``.
#: ``evaluate_claims`` passes the claims only these, which keeps filtering wide tables cheap.
CLAIM_COLUMNS = (
    "patient_id",
    "instrument",
    "protocol",
    "paired",
    "has_baseline",
    "left_early",
    "change",
    "baseline",
    "eot",
    "completer",
    "rc_threshold",
    "reliable_improvement",
    "response",
    "first_post_day",
    "first_post_reliable_improvement",
    "s1_reliable_deterioration",
    "s1_day",
    "eot_day",
    "tti_days",
    "tti_event",
    "has_follow_up",
    "n_recall_violations",
    "treatment_resistant",
    "route",
    "site",
)


def evaluate_claims(
    tidy: pd.DataFrame | Assessments,
    outcomes: pd.DataFrame,
    registry,
    cfg: ClaimsConfig = ClaimsConfig(),  # noqa: B008 - frozen, safe as a default
    *,
    safety=None,
    effects: pd.DataFrame | None = None,
    benchmarks=None,
) -> list[ClaimResult]:
    """Every claim of SPEC section 6 on one dataset, with multiplicity control
    (``analysis.claims.multiplicity``: the primary claim at α, the others Holm-adjusted).

    ``tidy`` is the tidy table or its ``Assessments``; ``outcomes`` is
    ``patient_outcomes(tidy, registry)``; ``safety`` a ``SafetyReport`` (computed
    when None); ``effects`` optional ``paired_effects_by_group(..., by=["instrument"])`` rows to
    show g_av beside the large-improvement verdicts; ``benchmarks`` the published reference
    figures (``data.benchmarks``; the shipped file when None) for the regression-to-the-mean
    caveat's numbers.
    """
    from analysis.safety import safety_report

    tidy = Assessments.build(tidy)  # sorted once for every claim that reads the assessments
    wanted = {*CLAIM_COLUMNS, f"sustained{cfg.lasting_window}"}
    outcomes = outcomes[[c for c in outcomes.columns if c in wanted]]
    seen = set(outcomes["instrument"].dropna().unique())
    present = [i for i in registry if i.key in seen]
    by_ins = {i.key: outcomes[outcomes["instrument"] == i.key] for i in present}
    eff = {} if effects is None else {r["instrument"]: r for r in effects.to_dict("records")}
    results: list[ClaimResult] = []
    for ins in present:
        results.append(rapid_onset(by_ins[ins.key], ins, cfg))
    for ins in present:
        results.append(intensive_faster(by_ins[ins.key], ins, cfg, tidy, registry))
    for ins in present:
        results.append(large_improvement(by_ins[ins.key], ins, cfg, effect=eff.get(ins.key)))
    for ins in present:
        results.append(lasting(by_ins[ins.key], ins, cfg))
    safety = safety or safety_report(tidy, registry)
    si_ins = registry.get(safety.instrument) if safety.instrument in registry else None
    si_out = by_ins.get(si_ins.key) if si_ins is not None else None
    s1 = None if si_out is None else si_out["s1_day"].dropna()
    results.append(
        suicidal_ideation(
            safety,
            cfg,
            s1_day=float(s1.median()) if s1 is not None and len(s1) else None,
            recall_days=si_ins.recall_days if si_ins is not None else None,
        )
    )
    for ins in present:
        results.append(treatment_resistant(by_ins[ins.key], ins, cfg))
    gad = registry.resolve("GAD-7")
    if gad in by_ins:
        results.append(initial_anxiety(by_ins[gad], registry.get(gad), cfg))
    else:
        results.append(
            not_testable(
                "initial-anxiety",
                "GAD-7",
                "The data has no GAD-7 scores.",
                "Reliable GAD-7 deterioration at session 1.",
            )
        )
    if not present:
        results = [not_testable(c, None, "The data has no scores.", "") for c in CLAIM_TEXT]
    results = with_regression_numbers(results, by_ins, benchmarks)
    return control_multiplicity(results, cfg)


def with_effect_sizes(
    claims: tuple[ClaimResult, ...] | list[ClaimResult], effects: pd.DataFrame
) -> list[ClaimResult]:
    """The claims with the g_av (and its CI) of ``effects`` (rows of
    ``paired_effects_by_group(..., by=["instrument"])``) shown beside each large-improvement
    verdict, as ``evaluate_claims(..., effects=effects)`` would give, without testing every
    claim again (the verdicts do not depend on g_av)."""
    eff = {r["instrument"]: r for r in effects.to_dict("records")}
    keys = ("g_av", "g_av_ci_lo", "g_av_ci_hi")
    return [
        dataclasses_replace(c, details={**c.details, **{k: eff[c.instrument].get(k) for k in keys}})
        if c.id == "large-improvement" and c.instrument in eff
        else c
        for c in claims
    ]


def treatment_resistant(out: pd.DataFrame, ins, cfg: ClaimsConfig) -> ClaimResult:
    """The large-improvement test within patients recorded as treatment-resistant; the same
    figure for the other patients goes in ``details``.
    """
    if (
        "treatment_resistant" not in out.columns
        or not out["treatment_resistant"].fillna(False).any()
    ):
        return not_testable(
            "treatment-resistant",
            ins.key,
            "The data has no treatment-resistant patients recorded.",
            "Reliable improvement at the end of treatment among treatment-resistant patients.",
        )
    tr = out["treatment_resistant"]
    inside = large_improvement(
        out[tr.fillna(False).astype(bool)],
        ins,
        cfg,
        claim_id="treatment-resistant",
        group="treatment-resistant",
    )
    others = large_improvement(
        out[tr.eq(False).fillna(False)], ins, cfg, claim_id="treatment-resistant", group="others"
    )
    details = {
        **inside.details,
        "others_n": others.n,
        "others_pct": others.estimate,
        "others_ci_lo": others.ci[0],
        "others_ci_hi": others.ci[1],
    }
    caveats = (*inside.caveats, "Treatment resistance is as the practice recorded it.")
    return dataclasses_replace(inside, caveats=caveats, details=details)
