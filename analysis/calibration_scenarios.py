"""Calibration's scenarios (docs/calibration.md): for each claim and instrument, a cohort where
the claim is false at its boundary and one where it is true, each with its truth set exactly
(``analysis.calibration_truth``) and a runner (``analysis.calibration_runs``) that simulates
cohorts (``analysis.calibration_sim``) and tests each with the claim's own verdict code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from analysis.calibration_runs import (
    FALSE,
    TRUE,
    Runner,
    Scenario,
    faster_runner,
    share_runner,
    si_runner,
)
from analysis.calibration_sim import Structure, Truth, curve
from analysis.calibration_truth import p_at_most, p_both_at_most, poisson_binomial, solve
from analysis.claims.config import NOT_TESTABLE, SUPPORTED, ClaimsConfig
from analysis.claims.evaluate import large_improvement, lasting, rapid_onset, treatment_resistant
from analysis.claims.faster import intensive_faster
from analysis.claims.verdicts import ClaimResult, share_verdict
from analysis.matched_time import INTENSIVE, WEEKLY
from analysis.outcomes import RESPONSE_FRACTION
from data.instruments import Registry

#: "True" scenarios: a share this far above the threshold (15 percentage points) ...
SHARE_ALTERNATIVE = 0.15
#: ... and intensive ahead by this many reliable-change thresholds at the first compared day
#: (half: the non-inferiority margin, the smallest difference the claim treats as mattering).
FASTER_ADVANTAGE = 0.5
#: Rapid-onset scenarios: an effect that is nearly all there within days (time constant, days).
RAPID_TAU = 1.0


# -- truths --------------------------------------------------------------------------------------
def _targets(p0: float) -> dict[str, float]:
    alt = p0 + SHARE_ALTERNATIVE
    return {FALSE: p0, TRUE: alt if alt <= 0.99 else (p0 + 1.0) / 2.0}


def _expected_share_rate(p: np.ndarray, p0: float, cfg: ClaimsConfig) -> float:
    """P("supported") when k of n = len(p) patients meet the rule, each with chance p_i: the
    Poisson-binomial distribution of k through ``share_verdict`` itself."""
    n = p.size
    pmf = poisson_binomial(p)
    hit = np.array([share_verdict(k, n, p0, cfg)[0] == SUPPORTED for k in range(n + 1)])
    return float(pmf[hit].sum())


def share_scenarios(
    claim: str,
    instrument: str | None,
    p0: float,
    share: Callable[[float], float],
    make: Callable[[float], Runner],
    lo: float,
    hi: float,
    words: Callable[[float], str],
    cfg: ClaimsConfig,
    per_patient: Callable[[float], np.ndarray] | None = None,
) -> list[Scenario]:
    """The false and true scenarios of a share claim: the model parameter (increasing the
    share, within [lo, hi]) solved so that the expected share is the threshold, and the
    threshold + ``SHARE_ALTERNATIVE``; where the schedule cannot reach a target, the nearest it
    can, said in the label and note. ``per_patient`` gives each patient's chance when the
    number tested is fixed, for the exact rate."""
    top = share(hi)
    out = []
    for kind, target in _targets(p0).items():
        base = dict(claim=claim, instrument=instrument, kind=kind, unit="%", threshold=100 * p0)
        if kind == TRUE and top <= p0 + 1e-6:
            out.append(
                Scenario(
                    **base,
                    label="true: out of reach",
                    truth=None,
                    truth_text="",
                    run=None,
                    note=f"With this schedule at most {top:.0%} could meet the rule, so the "
                    "claim cannot be true here.",
                )
            )
            continue
        param = solve(share, target, lo, hi)
        got = share(param)
        reached = got >= target - 5e-4
        if kind == FALSE:
            label = "false: at the threshold" if reached else "false: the most this schedule allows"
        else:
            label = (
                f"true: threshold + {SHARE_ALTERNATIVE * 100:.0f} points"
                if reached
                else "true: the most this schedule allows"
            )
        note = "" if reached else f"At most {got:.0%} can meet the rule with this schedule."
        expected = None
        if per_patient is not None:
            p = per_patient(param)
            expected = lambda p=p: _expected_share_rate(p, p0, cfg)  # noqa: E731
        out.append(
            Scenario(
                **base,
                label=label,
                truth=round(100 * got, 4),
                truth_text=words(got),
                run=make(param),
                expected=expected,
                note=note,
            )
        )
    return out


def untestable(claim: str, instrument: str | None, result: ClaimResult, unit: str = "%") -> list:
    """Both scenarios of a claim the data cannot test, with the claim's own reason."""
    why = result.caveats[0] if result.caveats else "The data cannot test this claim."
    return unavailable(claim, instrument, f"Not testable on this data: {why}", unit)


def unavailable(claim: str, instrument: str | None, note: str, unit: str = "%") -> list:
    """Both scenarios of a claim that is not simulated, with ``note`` saying why."""
    return [
        Scenario(
            claim=claim,
            instrument=instrument,
            kind=kind,
            label=f"{kind}: not testable",
            truth=None,
            unit=unit,
            threshold=None,
            truth_text="",
            run=None,
            note=note,
        )
        for kind in (FALSE, TRUE)
    ]


def _flat(st: Structure, tau: float) -> np.ndarray:
    return np.full(st.n_patients, float(tau))


def _bool(col: pd.Series) -> np.ndarray:
    return col.fillna(False).to_numpy(dtype=bool)


def large_scenarios(
    st: Structure, cfg: ClaimsConfig, registry: Registry, *, resistant: bool = False
) -> list[Scenario]:
    """Large improvement (all paired patients) or treatment-resistant (those recorded so): the
    share reliably improved at the last score set by φ."""
    o, c = st.outcomes, st.curve
    claim = "treatment-resistant" if resistant else "large-improvement"
    fn = (
        (lambda out: treatment_resistant(out, st.ins, cfg))
        if resistant
        else (lambda out: large_improvement(out, st.ins, cfg))
    )
    observed = fn(o)
    if observed.verdict == NOT_TESTABLE:
        return untestable(claim, st.ins.key, observed)
    sel = _bool(o["paired"]) & o["rc_threshold"].notna().to_numpy()
    if resistant:
        sel &= _bool(o["treatment_resistant"])
    xb, sem = st.x_base[sel], st.sem[sel]
    limit = xb - o["rc_threshold"].to_numpy(dtype=float)[sel]
    g = curve(st.t_eot[sel], c.tau)

    def each(phi: float) -> np.ndarray:
        return p_at_most(limit, xb, sem, c.spread, phi, g, st.integer)

    who = "treatment-resistant paired patients" if resistant else "paired patients"
    return share_scenarios(
        claim,
        st.ins.key,
        cfg.large_share,
        lambda phi: float(each(phi).mean()) if sel.any() else 0.0,
        lambda phi: share_runner(st, Truth(phi=phi, tau=_flat(st, c.tau)), registry, fn),
        -1.0,
        1.0,
        lambda s: f"{s:.0%} of {who} reliably improved on {st.ins.key} by their last score",
        cfg,
        each,
    )


def rapid_scenarios(st: Structure, cfg: ClaimsConfig, registry: Registry) -> list[Scenario]:
    """Rapid onset: an effect nearly all there within days (``RAPID_TAU``), its size φ set so
    the share reliably improved at a first reassessment within ``cfg.rapid_days`` days is the
    target (patients first reassessed later count as not, as the claim counts them)."""
    o = st.outcomes
    fn = lambda out: rapid_onset(out, st.ins, cfg)  # noqa: E731
    observed = fn(o)
    if observed.verdict == NOT_TESTABLE:
        return untestable("rapid-onset", st.ins.key, observed)
    first = o["first_post_day"].to_numpy(dtype=float)
    sel = _bool(o["paired"]) & ~np.isnan(first)
    early = first[sel] <= cfg.rapid_days
    xb, sem = st.x_base[sel], st.sem[sel]
    limit = xb - o["rc_threshold"].to_numpy(dtype=float)[sel]
    since = first[sel] - np.nan_to_num(o["baseline_day"].to_numpy(dtype=float)[sel])
    g = curve(since, RAPID_TAU)

    def each(phi: float) -> np.ndarray:
        p = p_at_most(limit, xb, sem, st.curve.spread, phi, g, st.integer)
        return np.where(early & ~np.isnan(limit), p, 0.0)

    return share_scenarios(
        "rapid-onset",
        st.ins.key,
        cfg.rapid_share,
        lambda phi: float(each(phi).mean()),
        lambda phi: share_runner(st, Truth(phi=phi, tau=_flat(st, RAPID_TAU)), registry, fn),
        -1.0,
        1.0,
        lambda s: (
            f"{s:.0%} of paired patients reliably improved on {st.ins.key} at a first "
            f"reassessment within {cfg.rapid_days:g} days"
        ),
        cfg,
        each,
    )


def lasting_scenarios(st: Structure, cfg: ClaimsConfig, registry: Registry) -> list[Scenario]:
    """Lasting: the practice's own course to the end of treatment, and a share r of the gain
    kept at follow-up, r set so that among responders seen in the window the expected share
    still responding is the target (the number seen varies, so no exact rate)."""
    o, c, w = st.outcomes, st.curve, cfg.lasting_window
    fn = lambda out: lasting(out, st.ins, cfg)  # noqa: E731
    observed = fn(o)
    if observed.verdict == NOT_TESTABLE:
        return untestable("lasting", st.ins.key, observed)
    base = o["baseline"].to_numpy(dtype=float)
    sel = _bool(o["paired"]) & (base > 0) & o[f"fu{w:g}_score"].notna().to_numpy()
    xb, sem = st.x_base[sel], st.sem[sel]
    limit = xb - RESPONSE_FRACTION * base[sel]
    g = curve(st.t_eot[sel], c.tau)

    def ratio(r: float) -> float:
        eot, both = p_both_at_most(limit, xb, sem, c.spread, c.phi, g, r, st.integer)
        return float(both.sum() / eot.sum()) if eot.sum() > 0 else 0.0

    return share_scenarios(
        "lasting",
        st.ins.key,
        cfg.lasting_share,
        ratio,
        lambda r: share_runner(
            st, Truth(phi=c.phi, tau=_flat(st, c.tau), retention=r), registry, fn
        ),
        0.0,
        3.0,
        lambda s: (
            f"{s:.0%} of end-of-treatment responders on {st.ins.key} seen about {w} days later "
            "still respond"
        ),
        cfg,
    )


def si_scenarios(
    frame: pd.DataFrame | None, cfg: ClaimsConfig, registry: Registry, observed: ClaimResult
) -> list[Scenario]:
    """Suicidal ideation: each patient with the safety item ≥ 1 at baseline reports 0 at a
    later assessment with probability θ = the target (the number tested is fixed by who
    answered at session 1, so the rate is exactly binomial)."""
    if frame is None or observed.verdict == NOT_TESTABLE:
        return untestable("suicidal-ideation", observed.instrument, observed)
    n = observed.n
    return share_scenarios(
        "suicidal-ideation",
        observed.instrument,
        cfg.si_share,
        lambda theta: theta,
        lambda theta: si_runner(frame, theta, registry, cfg),
        0.0,
        1.0,
        lambda s: (
            f"{s:.0%} of patients with thoughts of death or self-harm at baseline report none "
            "at session 1"
        ),
        cfg,
        lambda theta: np.full(n, theta),
    )


def faster_scenarios(st: Structure, cfg: ClaimsConfig, registry: Registry) -> list[Scenario]:
    """Intensive faster: false = both protocols on the practice's own curve; true = intensive
    on τ/k and weekly on τ·k, k set so intensive is ahead by ``FASTER_ADVANTAGE`` × the
    reliable-change threshold at the first compared day (at the practice's mean baseline)."""
    o, c = st.outcomes, st.curve
    observed = intensive_faster(o, st.ins, cfg, st.frame, registry)
    if observed.verdict == NOT_TESTABLE:
        return untestable("intensive-faster", st.ins.key, observed, unit="points")
    protocol = o["protocol"].astype(object).to_numpy()
    intensive, weekly = protocol == INTENSIVE, protocol == WEEKLY
    started = (intensive | weekly) & np.isfinite(st.x_base)
    x_mean = float(st.x_base[started].mean())
    day = float(min(cfg.faster_days))
    target = FASTER_ADVANTAGE * float(np.nanmedian(o["rc_threshold"].to_numpy(dtype=float)))

    def taus(k: float) -> np.ndarray:
        return np.where(intensive, c.tau / k, np.where(weekly, c.tau * k, c.tau))

    def advantage(k: float) -> float:
        return c.phi * x_mean * float(curve(day, c.tau / k) - curve(day, c.tau * k))

    k = solve(advantage, target, 1.0, 100.0)
    got = advantage(k)
    reached = got >= target - 1e-3
    common = dict(
        claim="intensive-faster", instrument=st.ins.key, unit="points", threshold=0.0, cost=15.0
    )
    null = Scenario(
        **common,
        kind=FALSE,
        label="false: both protocols on the same curve",
        truth=0.0,
        truth_text=(
            f"Both protocols on the practice's own {st.ins.key} curve (time constant "
            f"{c.tau:.0f} days, {c.phi:.0%} of the baseline gone in the end): intensive ahead "
            "by 0 points at every day"
        ),
        run=faster_runner(st, Truth(phi=c.phi, tau=_flat(st, c.tau)), registry, cfg),
    )
    if got <= 0.05 * target:
        alt = Scenario(
            **common,
            kind=TRUE,
            label="true: out of reach",
            truth=None,
            truth_text="",
            run=None,
            note="This practice's patients improve too little on average for an intensive "
            "advantage to be simulated.",
        )
        return [null, alt]
    label = (
        f"true: intensive ahead by {got:.1f} points at day {day:g}"
        if reached
        else "true: the largest advantage this practice's improvement allows"
    )
    alt = Scenario(
        **common,
        kind=TRUE,
        label=label,
        truth=round(got, 4),
        truth_text=(
            f"Intensive ahead by {got:.1f} points at day {day:g} (time constants "
            f"{c.tau / k:.1f} days intensive, {c.tau * k:.0f} days weekly)"
        ),
        run=faster_runner(st, Truth(phi=c.phi, tau=taus(k)), registry, cfg),
        note=""
        if reached
        else f"Wanted {target:.1f} points; this practice's improvement allows {got:.1f}.",
    )
    return [null, alt]
