"""Every figure of SPEC sections 4–6 on one dataset, computed once and shared.

``fast_figures`` is what the dashboard recomputes on each filter change (outcomes, rates under both
denominators, effect sizes without the bootstrap, Kaplan–Meier medians, protocol comparisons,
claims); ``with_slow_figures`` adds the bootstrap CIs of g_av and the growth models. The command
line computes both; ``analysis.summary`` turns the result into SPEC section 7's JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.assessments import Assessments
from analysis.balance import protocol_balance
from analysis.claims.config import ClaimsConfig
from analysis.claims.evaluate import ClaimResult, evaluate_claims, with_effect_sizes
from analysis.effects import DEFAULT_N_BOOT, DEFAULT_SEED, between_effects, paired_effects_by_group
from analysis.funnel import inclusion_funnel
from analysis.outcomes import FLAG_COLUMNS, as_all_starters, patient_outcomes
from analysis.rates import rates_table
from analysis.safety import SafetyReport, safety_report
from analysis.settings_stamp import SettingsStamp, settings_stamp
from analysis.survival import km_by_group, logrank_test
from analysis.trajectories import matched_days
from data.errors import AnalysisError
from data.instruments import Registry

KEYS = ["instrument", "protocol"]
#: The outcome columns each figure reads: filtering only these keeps wide tables cheap.
_EFFECT_INPUTS = [*KEYS, "baseline", "eot"]
_RATE_INPUTS = [*KEYS, *FLAG_COLUMNS, "has_baseline", "paired", "rc_threshold"]
_RATE_INPUTS += ["baseline_case", "baseline", "baseline_remitted"]  # as_all_starters reads these
_TIME_INPUTS = [*KEYS, "tti_sessions", "tti_days", "tti_event"]
#: Matched days for the between-protocol comparison (SPEC section 5): day and ± window.
MATCHED_DAYS, MATCHED_TOL = (14, 28), 3.0

KM_COLUMNS = [
    "instrument",
    "protocol",
    "scale",
    "n",
    "n_events",
    "median",
    "median_ci_lo",
    "median_ci_hi",
]

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Figures:
    """All figures of one dataset; DataFrames are tidy (one row per instrument × protocol …)."""

    outcomes: pd.DataFrame
    rates: pd.DataFrame  # instrument, protocol, population ("completers"|"all starters"), flag, ...
    effects: pd.DataFrame  # paired_effects_by_group rows by instrument × protocol
    km: pd.DataFrame  # instrument, protocol, scale ("sessions"|"days"), n, n_events, median, CI
    comparisons: pd.DataFrame  # one row per instrument × protocol pair
    funnel: pd.DataFrame
    safety: SafetyReport
    claims: tuple[ClaimResult, ...]
    config: ClaimsConfig
    n_boot: int = 0
    models: tuple = field(default=())  # GrowthResult per instrument, when computed
    day_models: tuple = field(default=())  # DayModelResult per instrument, when computed
    #: BalanceResult per instrument and protocol pair (analysis.balance), or the reason it
    #: could not be computed, keyed by (instrument, a, b)
    balance: dict = field(default_factory=dict)
    #: The claim settings' stamp (analysis.settings_stamp), set by the caller that knows the
    #: practice's frozen settings; None reads as ``settings_stamp(config)`` (not frozen).
    settings: SettingsStamp | None = None

    def stamp(self) -> SettingsStamp:
        """The settings stamp of these figures (not frozen when none was set)."""
        return self.settings or settings_stamp(self.config)


def _rates(outcomes: pd.DataFrame, ci_level: float) -> pd.DataFrame:
    outcomes = outcomes[_RATE_INPUTS]
    done = rates_table(
        outcomes[outcomes["paired"].fillna(False).astype(bool)],
        KEYS,
        FLAG_COLUMNS,
        ci_level=ci_level,
    )
    start = rates_table(
        as_all_starters(outcomes), KEYS, FLAG_COLUMNS, missing="exclude", ci_level=ci_level
    )
    return pd.concat(
        [done.assign(population="completers"), start.assign(population="all starters")],
        ignore_index=True,
    )


def _labels(protocol: pd.Series) -> pd.Series:
    """Protocols as text labels, a missing one as "<NA>" (as ``astype(str)`` gives), kept as
    Arrow strings: turning every label into a Python object is slow on large tables."""
    return protocol.astype("string[pyarrow]").fillna("<NA>")


def _km(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Kaplan–Meier medians of time to reliable improvement, in sessions and in days."""
    parts = []
    timed = outcomes.loc[outcomes["tti_event"].notna(), _TIME_INPUTS]
    for scale, col in (("sessions", "tti_sessions"), ("days", "tti_days")):
        for ins, part in timed.groupby("instrument", observed=True, sort=True):
            part = part[part[col].notna()]
            if part.empty:
                continue
            frame = pd.DataFrame(
                {
                    "protocol": _labels(part["protocol"]),
                    "time": part[col].astype(float),
                    "event": part["tti_event"].astype(bool).astype(int),
                }
            )
            km = km_by_group(frame, "protocol", "time", "event").rename(
                columns={"group": "protocol"}
            )
            parts.append(km.assign(instrument=ins, scale=scale))
    if not parts:
        return pd.DataFrame(columns=KM_COLUMNS)
    return pd.concat(parts, ignore_index=True)[KM_COLUMNS]


def protocol_pairs(protocols: list[str]) -> list[tuple[str, str]]:
    """Comparisons to make: intensive versus weekly first, then every other label versus weekly
    (weekly is the reference, as in the growth model); none without a weekly group."""
    if "weekly" not in protocols:
        return []
    others = sorted(p for p in protocols if p != "weekly")
    others.sort(key=lambda p: p != "intensive")
    return [(p, "weekly") for p in others]


def _comparisons(
    outcomes: pd.DataFrame, tidy: Assessments, registry: Registry, ci_level: float
) -> tuple[pd.DataFrame, dict]:
    """Raw protocol comparisons (SPEC section 5) with the overlap-weighted adjusted difference
    beside each (analysis.balance), and the balance results."""
    paired = outcomes.loc[outcomes["paired"].fillna(False).astype(bool), [*_TIME_INPUTS, "change"]]
    matched = matched_days(tidy, registry, days=MATCHED_DAYS, tol=MATCHED_TOL)
    balance: dict = {}
    rows = []
    for ins, part in paired.groupby("instrument", observed=True, sort=True):
        for a, b in protocol_pairs(sorted(str(p) for p in part["protocol"].dropna().unique())):
            ca = part.loc[part["protocol"] == a, "change"].to_numpy(float)
            cb = part.loc[part["protocol"] == b, "change"].to_numpy(float)
            if min(len(ca), len(cb)) < 2:
                continue
            eff = between_effects(ca, cb, ci_level=ci_level)
            row = {
                "instrument": ins,
                "a": a,
                "b": b,
                "n_a": eff.n_a,
                "n_b": eff.n_b,
                "mean_change_a": eff.mean_a,
                "mean_change_b": eff.mean_b,
                "mean_diff": eff.mean_diff,
                "mean_diff_ci_lo": eff.mean_diff_ci[0],
                "mean_diff_ci_hi": eff.mean_diff_ci[1],
                "g_change": eff.g,
                "g_change_ci_lo": eff.g_ci[0],
                "g_change_ci_hi": eff.g_ci[1],
                "welch_t": eff.welch_t,
                "welch_df": eff.welch_df,
                "welch_p": eff.welch_p,
            }
            row.update(_logrank(part[part["protocol"].isin([a, b])]))
            for day in MATCHED_DAYS:
                row.update(_matched(matched, ins, a, b, day, ci_level))
            balance[(ins, a, b)] = _balance(outcomes, ins, a, b, ci_level)
            row.update(_adjusted(balance[(ins, a, b)]))
            rows.append(row)
    return pd.DataFrame(rows), balance


def _balance(outcomes: pd.DataFrame, ins: str, a: str, b: str, ci_level: float):
    """The BalanceResult of one comparison on paired patients, or the reason (text) it could
    not be computed."""
    try:
        return protocol_balance(outcomes, ins, a, b, ci_level=ci_level)
    except AnalysisError as err:
        return str(err)


def _adjusted(res) -> dict:
    """The adjusted-difference columns of a comparison row (NaN with the reason when none)."""
    if isinstance(res, str):
        return {
            "adjusted_diff": np.nan,
            "adjusted_diff_ci_lo": np.nan,
            "adjusted_diff_ci_hi": np.nan,
            "adjusted_p": np.nan,
            "e_value": np.nan,
            "e_value_ci": np.nan,
            "max_abs_smd_raw": np.nan,
            "max_abs_smd_weighted": np.nan,
            "adjustment_note": res,
        }
    smd = res.balance
    return {
        "adjusted_diff": res.adjusted_diff,
        "adjusted_diff_ci_lo": res.adjusted_ci[0],
        "adjusted_diff_ci_hi": res.adjusted_ci[1],
        "adjusted_p": res.adjusted_p,
        "e_value": res.e_value,
        "e_value_ci": res.e_value_ci,
        "max_abs_smd_raw": float(smd["smd_raw"].abs().max()),
        "max_abs_smd_weighted": float(smd["smd_weighted"].abs().max()),
        "adjustment_note": res.overlap_warning or "",
    }


def _logrank(part: pd.DataFrame) -> dict:
    """Log-rank on days to reliable improvement; on sessions when the data has no days."""
    scale = "days" if part["tti_days"].notna().any() else "sessions"
    col = "tti_days" if scale == "days" else "tti_sessions"
    ok = part[part[col].notna() & part["tti_event"].notna()]
    if ok["protocol"].nunique() < 2:
        return {"logrank_scale": scale, "logrank_chi2": np.nan, "logrank_p": np.nan}
    lr = logrank_test(
        ok[col].astype(float), ok["tti_event"].astype(bool).astype(int), _labels(ok["protocol"])
    )
    return {"logrank_scale": scale, "logrank_chi2": lr.chi2, "logrank_p": lr.p}


def _matched(matched: pd.DataFrame, ins: str, a: str, b: str, day: float, ci_level: float) -> dict:
    m = matched[(matched["instrument"] == ins) & (matched["target_day"] == day)]
    ca = m.loc[m["protocol"] == a, "change"].to_numpy(float)
    cb = m.loc[m["protocol"] == b, "change"].to_numpy(float)
    key = f"day{day:g}"
    if min(len(ca), len(cb)) < 2:
        return {
            f"{key}_n_a": len(ca),
            f"{key}_n_b": len(cb),
            f"{key}_mean_diff": np.nan,
            f"{key}_mean_diff_ci_lo": np.nan,
            f"{key}_mean_diff_ci_hi": np.nan,
            f"{key}_welch_p": np.nan,
        }
    eff = between_effects(ca, cb, ci_level=ci_level)
    return {
        f"{key}_n_a": eff.n_a,
        f"{key}_n_b": eff.n_b,
        f"{key}_mean_diff": eff.mean_diff,
        f"{key}_mean_diff_ci_lo": eff.mean_diff_ci[0],
        f"{key}_mean_diff_ci_hi": eff.mean_diff_ci[1],
        f"{key}_welch_p": eff.welch_p,
    }


def _signs(instrument: pd.Series, registry: Registry) -> np.ndarray:
    """+1 where higher scores are worse, −1 where higher is better, per row (looked up once per
    instrument, not once per row)."""
    codes, keys = pd.factorize(instrument)
    per_key = np.array([float(registry.get(k).improvement(1.0, 0.0)) for k in keys])
    return per_key[codes] if len(keys) else np.zeros(len(codes))


def within_effects(
    paired: pd.DataFrame, registry: Registry, by: list[str], **kwargs
) -> pd.DataFrame:
    """``paired_effects_by_group`` with change read as improvement on every instrument.

    SPEC section 5 defines change = baseline − EOT, which is improvement on the built-in
    (higher-is-worse) instruments. For a practice instrument where higher is better the scores
    are negated before the effect sizes are computed, so a positive d or g always means
    improvement; the baseline and EOT means are reported back on the instrument's own scale.
    """
    if paired.empty:
        return paired_effects_by_group(paired[[*by, "baseline", "eot"]], by, **kwargs)
    sign = _signs(paired["instrument"], registry)
    frame = paired[by].assign(
        baseline=sign * paired["baseline"].to_numpy(dtype=float),
        eot=sign * paired["eot"].to_numpy(dtype=float),
    )
    eff = paired_effects_by_group(frame, by, **kwargs)
    if (sign < 0).any():
        back = _signs(eff["instrument"], registry)
        for col in ("baseline_mean", "eot_mean"):
            eff[col] = eff[col] * back
    return eff


def fast_figures(
    tidy: pd.DataFrame,
    registry: Registry,
    config: ClaimsConfig = ClaimsConfig(),  # noqa: B008 - frozen
) -> Figures:
    """Everything but the bootstrap CIs and the growth models (the dashboard's per-filter work)."""
    a = Assessments.build(tidy)
    outcomes = patient_outcomes(a, registry, planned_sessions=dict(config.planned_sessions))
    return assemble_figures(a, registry, config, outcomes=outcomes)


def assemble_figures(
    tidy: pd.DataFrame | Assessments,
    registry: Registry,
    config: ClaimsConfig,
    *,
    outcomes: pd.DataFrame,
    safety: SafetyReport | None = None,
    claims: list[ClaimResult] | None = None,
) -> Figures:
    """``fast_figures`` from parts a caller already holds: the per-patient outcomes of ``tidy``
    (``patient_outcomes``), and optionally its safety report and claims (the dashboard caches
    them per filter and must not compute them twice)."""
    a = Assessments.build(tidy)
    paired = outcomes.loc[outcomes["paired"].fillna(False).astype(bool), _EFFECT_INPUTS]
    effects = within_effects(paired, registry, KEYS, n_boot=0, ci_level=config.ci_level)
    if safety is None:
        safety = safety_report(a, registry)
    if claims is None:
        by_ins = within_effects(
            paired, registry, ["instrument"], n_boot=0, ci_level=config.ci_level
        )
        claims = evaluate_claims(a, outcomes, registry, config, safety=safety, effects=by_ins)
    comparisons, balance = _comparisons(outcomes, a, registry, config.ci_level)
    return Figures(
        outcomes=outcomes,
        rates=_rates(outcomes, config.ci_level),
        effects=effects,
        km=_km(outcomes),
        comparisons=comparisons,
        balance=balance,
        funnel=inclusion_funnel(a, outcomes),
        safety=safety,
        claims=tuple(claims),
        config=config,
    )


def with_slow_figures(
    fig: Figures,
    tidy: pd.DataFrame,
    registry: Registry,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    models: bool = True,
    progress: Progress | None = None,
) -> Figures:
    """Add the BCa bootstrap CIs of g_av (``n_boot`` resamples) and the growth models."""
    from analysis.growth import fit_growth_models
    from analysis.growth_days import fit_day_models

    say = progress or (lambda _f, _m: None)
    paired = fig.outcomes.loc[fig.outcomes["paired"].fillna(False).astype(bool), _EFFECT_INPUTS]
    say(0.05, f"Bootstrap confidence intervals ({n_boot} resamples)")
    effects = within_effects(
        paired, registry, KEYS, n_boot=n_boot, seed=seed, ci_level=fig.config.ci_level
    )
    by_ins = within_effects(
        paired, registry, ["instrument"], n_boot=n_boot, seed=seed, ci_level=fig.config.ci_level
    )
    claims = with_effect_sizes(fig.claims, by_ins)  # only their g_av CIs change
    fitted: tuple = ()
    by_day: tuple = ()
    if models:
        say(0.5, "Growth models over sessions")
        fitted = tuple(fit_growth_models(tidy))
        say(0.7, "Growth models over days")
        by_day = tuple(fit_day_models(tidy, registry))
    say(1.0, "Done")
    return dataclasses.replace(
        fig, effects=effects, claims=tuple(claims), n_boot=n_boot, models=fitted, day_models=by_day
    )


def compute_figures(
    tidy: pd.DataFrame,
    registry: Registry,
    config: ClaimsConfig = ClaimsConfig(),  # noqa: B008 - frozen
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
    models: bool = True,
    progress: Progress | None = None,
) -> Figures:
    """Every figure, fast and slow."""
    fig = fast_figures(tidy, registry, config)
    return with_slow_figures(
        fig, tidy, registry, n_boot=n_boot, seed=seed, models=models, progress=progress
    )
