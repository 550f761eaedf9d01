"""How much can a practice's data say? (docs/calibration.md)

``calibrate`` simulates, on the practice's own assessment schedule and numbers
(``analysis.calibration_sim``: each patient's protocol, rows, days, dropouts, baseline,
treatment resistance and item-9 answers kept, later scores replaced), cohorts where each claim
is false and cohorts where it is true, runs the claims' own verdict code on every simulated
cohort, and reports how often each verdict says "supported":

- **false, at the threshold**: the truth sits exactly on the claim's boundary (for a share, the
  expected share of patients meeting the rule equals the threshold; for intensive-faster, both
  protocols follow the practice's own calendar curve). This is the least favourable case of a
  false claim, so the rate is the most a false claim is called "supported" (at most about 2.5%
  for a share, 5% for intensive-faster, by design);
- **true**: a stated alternative (a share ``SHARE_ALTERNATIVE`` above the threshold; intensive
  ahead by ``FASTER_ADVANTAGE`` × the reliable-change threshold at the first compared day). The
  rate is the power.

Each rate comes with its Wilson 95% interval for simulation error. Per-claim rates read
``ClaimResult.verdict_unadjusted`` when present (the claim's own verdict before multiplicity
control); Holm's adjustment on the scorecard can only turn a "supported" into "inconclusive",
so it can only lower these rates.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.assessments import Assessments, require_columns
from analysis.calibration_runs import FALSE, TRUE, Scenario
from analysis.calibration_scenarios import (
    SHARE_ALTERNATIVE,
    faster_scenarios,
    large_scenarios,
    lasting_scenarios,
    rapid_scenarios,
    si_scenarios,
    unavailable,
)
from analysis.calibration_sim import Structure, build_structure, per_patient_columns
from analysis.claims.config import NOT_TESTABLE, SUPPORTED, ClaimsConfig
from analysis.claims.evaluate import suicidal_ideation
from analysis.claims.verdicts import CLAIM_TEXT, ClaimResult
from analysis.outcomes import patient_outcomes, planned_last_sessions
from analysis.rates import wilson_ci
from analysis.safety import safety_report
from data.errors import AnalysisError
from data.instruments import Registry

__all__ = ["CLAIMS", "COLUMNS", "SCHEMA", "SHARE_ALTERNATIVE", "CalibrationResult", "calibrate"]

SCHEMA = "reliefcheck.calibration/1"
DEFAULT_SEED = 20240611
DEFAULT_N_SIM = 200
#: The claims calibration covers, in the scorecard's order (initial-anxiety has no verdict).
CLAIMS = tuple(c for c in CLAIM_TEXT if c != "initial-anxiety")
#: The most a false claim at its boundary is called "supported" by design: one-sided 2.5% for a
#: share (the Wilson interval's lower end), 5% for intensive-faster (two days at 2.5% each).
NOMINAL = {"intensive-faster": 0.05}
SHARE_NOMINAL = 0.025
COLUMNS = (
    "claim",
    "instrument",
    "scenario",
    "scenario_label",
    "truth",
    "unit",
    "threshold",
    "truth_text",
    "n_sim",
    "n_supported",
    "supported_rate",
    "rate_ci_lo",
    "rate_ci_hi",
    "nominal_rate",
    "expected_rate",
    "mean_n",
    "n_not_testable",
    "note",
)

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class CalibrationResult:
    """Rates of "supported" per claim, instrument and scenario (``rows``, columns ``COLUMNS``):
    rates as fractions 0–1, truths and thresholds in the claim's unit (% of patients, or
    points for intensive-faster)."""

    rows: pd.DataFrame
    n_sim: int
    seed: int
    config: ClaimsConfig = field(default_factory=ClaimsConfig)

    def to_dict(self) -> dict:
        """The JSON of ``python -m analysis calibrate`` (schema ``reliefcheck.calibration/1``)."""
        records = self.rows.astype(object).where(self.rows.notna(), None).to_dict("records")
        return {
            "schema": SCHEMA,
            "n_sim": int(self.n_sim),
            "seed": int(self.seed),
            "claims_config": self.config.to_dict(),
            "rows": [{k: _plain(v) for k, v in r.items()} for r in records],
        }


def _plain(v: object) -> object:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _verdict(res: ClaimResult) -> str:
    """The claim's own verdict, before multiplicity control when the result says so."""
    return getattr(res, "verdict_unadjusted", None) or res.verdict


def _check(tidy: pd.DataFrame, n_sim: object, seed: object, claims: Iterable[str] | None):
    if isinstance(n_sim, bool) or not isinstance(n_sim, int | np.integer) or n_sim < 1:
        raise AnalysisError(
            f"The number of simulated cohorts must be a whole number of 1 or more (got {n_sim!r})."
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise AnalysisError(f"The seed must be a whole number of 0 or more (got {seed!r}).")
    if not isinstance(tidy, pd.DataFrame):
        raise AnalysisError("Calibration needs the assessment table (a conformed tidy table).")
    require_columns(tidy)
    if not tidy["score"].notna().any():
        raise AnalysisError(
            "The data has no scores, so there is nothing to calibrate against. Upload an export "
            "with a score column."
        )
    wanted = list(CLAIMS if claims is None else claims)
    unknown = [c for c in wanted if c not in CLAIMS]
    if unknown:
        raise AnalysisError(
            f"Calibration knows the claims {', '.join(CLAIMS)}; not {', '.join(map(str, unknown))}."
            " (initial-anxiety is reported without a verdict, so there is nothing to calibrate.)"
        )
    return [c for c in CLAIMS if c in wanted]


def _scenarios(
    tidy: pd.DataFrame,
    registry: Registry,
    cfg: ClaimsConfig,
    wanted: list[str],
    planned_sessions: Mapping[str, int] | None,
) -> list[Scenario]:
    """Every scenario of the wanted claims, in the scorecard's order."""
    whole = Assessments.build(tidy)
    given = dict(cfg.planned_sessions) or None
    planned = planned_last_sessions(patient_outcomes(whole, registry, planned_sessions=given))
    planned.update(planned_sessions or {})
    scored = tidy.loc[tidy["score"].notna().to_numpy(), "instrument"].dropna().unique()
    present = [i.key for i in registry if i.key in set(scored)]
    structures: dict[str, Structure | str] = {}

    def st(key: str) -> Structure | str:
        """The instrument's structure, or why it cannot be simulated."""
        if key not in structures:
            try:
                structures[key] = build_structure(tidy, whole, registry, key, planned)
            except AnalysisError as err:
                structures[key] = str(err)
        return structures[key]

    out: list[Scenario] = []
    for claim in wanted:
        if claim == "suicidal-ideation":
            out += _si(tidy, whole, registry, cfg)
            continue
        for key in present:
            if isinstance(st(key), str):
                unit = "points" if claim == "intensive-faster" else "%"
                out += unavailable(claim, key, f"Not simulated: {st(key)}", unit)
            elif claim == "rapid-onset":
                out += rapid_scenarios(st(key), cfg, registry)
            elif claim == "intensive-faster":
                out += faster_scenarios(st(key), cfg, registry)
            elif claim == "large-improvement":
                out += large_scenarios(st(key), cfg, registry)
            elif claim == "lasting":
                out += lasting_scenarios(st(key), cfg, registry)
            else:
                out += large_scenarios(st(key), cfg, registry, resistant=True)
    return out


def _si(tidy: pd.DataFrame, whole: Assessments, registry: Registry, cfg: ClaimsConfig) -> list:
    report = safety_report(whole, registry)
    observed = suicidal_ideation(report, cfg)
    frame = None
    if report.available:
        rows = (tidy["instrument"] == report.instrument).fillna(False).to_numpy(dtype=bool)
        frame = per_patient_columns(tidy.loc[rows].reset_index(drop=True), whole)
    return si_scenarios(frame, cfg, registry, observed)


def _seed(seed: int, sc: Scenario) -> np.random.SeedSequence:
    """Each scenario's own random stream, the same whichever other claims are run."""
    where = (
        CLAIMS.index(sc.claim),
        zlib.crc32(str(sc.instrument).encode()),
        (FALSE, TRUE).index(sc.kind),
    )
    return np.random.SeedSequence(seed, spawn_key=where)


def _row(sc: Scenario, results: list[ClaimResult], n_sim: int) -> dict:
    nominal = NOMINAL.get(sc.claim, SHARE_NOMINAL) if sc.kind == FALSE else None
    row = {
        "claim": sc.claim,
        "instrument": sc.instrument,
        "scenario": sc.kind,
        "scenario_label": sc.label,
        "truth": sc.truth,
        "unit": sc.unit,
        "threshold": sc.threshold,
        "truth_text": sc.truth_text,
        "n_sim": 0,
        "n_supported": 0,
        "supported_rate": None,
        "rate_ci_lo": None,
        "rate_ci_hi": None,
        "nominal_rate": nominal,
        "expected_rate": None,
        "mean_n": None,
        "n_not_testable": 0,
        "note": sc.note,
    }
    if not results:
        return row
    untested = sum(r.verdict == NOT_TESTABLE for r in results)
    if untested == len(results):
        why = results[0].caveats[0] if results[0].caveats else ""
        return {**row, "n_not_testable": untested, "note": f"Not testable on this data: {why}"}
    k, n = sum(_verdict(r) == SUPPORTED for r in results), len(results)
    lo, hi = wilson_ci(k, n)
    row.update(
        n_sim=n,
        n_supported=k,
        supported_rate=k / n,
        rate_ci_lo=lo,
        rate_ci_hi=hi,
        mean_n=float(np.mean([r.n for r in results])),
        n_not_testable=untested,
        expected_rate=sc.expected() if sc.expected is not None else None,
    )
    return row


def calibrate(
    tidy: pd.DataFrame,
    registry: Registry,
    cfg: ClaimsConfig = ClaimsConfig(),  # noqa: B008 - frozen, safe as a default
    *,
    n_sim: int = DEFAULT_N_SIM,
    seed: int = DEFAULT_SEED,
    claims: Iterable[str] | None = None,
    planned_sessions: Mapping[str, int] | None = None,
    progress: Progress | None = None,
) -> CalibrationResult:
    """How often each claim's verdict says "supported" on ``n_sim`` cohorts simulated on this
    practice's own structure, where the claim is false at its boundary and where it is true
    (module docstring; docs/calibration.md). ``claims`` picks claim ids (default ``CLAIMS``);
    ``planned_sessions`` (protocol → planned last session) overrides the schedule inferred
    from ``tidy`` and ``cfg.planned_sessions``, e.g. the whole practice's when ``tidy`` is a
    filtered part, as the Claims page does; ``progress(fraction, message)`` is called as the
    work goes. The same ``tidy``, registry,
    settings, ``n_sim`` and ``seed`` always give the same figures."""
    wanted = _check(tidy, n_sim, seed, claims)
    say = progress or (lambda _f, _m: None)
    say(0.0, "Reading the practice's schedule")
    scenarios = _scenarios(tidy, registry, cfg, wanted, planned_sessions)
    total = sum(sc.cost * n_sim for sc in scenarios if sc.run is not None) or 1.0
    done = 0.0
    rows = []
    for sc in scenarios:
        results: list[ClaimResult] = []
        if sc.run is not None:
            what = f"{sc.claim} on {sc.instrument}, claim {sc.kind}"

            def tick(k: int, sc: Scenario = sc, what: str = what) -> None:
                nonlocal done
                done += k * sc.cost
                say(min(done / total, 1.0), f"Simulating {what}")

            rng = np.random.default_rng(_seed(int(seed), sc))
            results = sc.run(rng, int(n_sim), tick)
        rows.append(_row(sc, results, int(n_sim)))
    say(1.0, "Done")
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return CalibrationResult(rows=frame, n_sim=int(n_sim), seed=int(seed), config=cfg)
