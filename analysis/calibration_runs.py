"""Running the claims' own verdict code on calibration's simulated cohorts
(docs/calibration.md): many cohorts' outcomes computed in one call, each cohort's share given to
its claim function, and the intensive-versus-weekly model fitted cohort by cohort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as dc_replace

import numpy as np
import pandas as pd

from analysis.calibration_sim import Structure, Truth, simulate_item, simulate_scores
from analysis.claims.config import NOT_TESTABLE, ClaimsConfig
from analysis.claims.evaluate import CLAIM_COLUMNS, suicidal_ideation
from analysis.claims.faster import intensive_faster
from analysis.claims.verdicts import ClaimResult
from analysis.outcomes import patient_outcomes
from analysis.safety import safety_report
from data.instruments import Registry
from data.schema import STRING, item_column

#: Most simulated assessments held in memory at once (cohorts are simulated in blocks).
BLOCK_ROWS = 2_000_000
FALSE, TRUE = "false", "true"

Tick = Callable[[int], None]
Runner = Callable[[np.random.Generator, int, Tick], list[ClaimResult]]


@dataclass
class Scenario:
    """One claim × instrument × scenario to simulate (``run`` None: nothing to simulate, and
    ``note`` says why)."""

    claim: str
    instrument: str | None
    kind: str  # FALSE or TRUE
    label: str
    truth: float | None  # in ``unit``
    unit: str  # "%" or "points"
    threshold: float | None
    truth_text: str
    run: Runner | None
    expected: Callable[[], float] | None = None  # exact rate under the model (fixed n only)
    note: str = ""
    cost: float = 1.0  # relative time per simulated cohort


# -- running the real verdict code on simulated cohorts -----------------------------------------
def _suffixed(
    column: pd.Series, n_sim: int, *, fill_empty: bool = False
) -> pd.api.extensions.ExtensionArray:
    """``column`` repeated for ``n_sim`` cohorts, each value prefixed by its cohort number
    ("3|weekly"), so per-patient and per-protocol figures stay each cohort's own. Empty values
    stay empty, or become "3|" with ``fill_empty``."""
    codes, uniques = pd.factorize(column.array)
    names = np.asarray(uniques, dtype=object).astype(str)
    if fill_empty:
        names, codes = np.append(names, ""), np.where(codes < 0, len(names), codes)
    n_u = max(len(names), 1)
    cohort = np.arange(n_sim).astype(str)[:, None]
    labels = np.char.add(np.char.add(cohort, "|"), names[None, :] if len(names) else [[""]])
    sim = np.repeat(np.arange(n_sim), len(codes))
    tiled = np.tile(codes, n_sim)
    picked = np.where(tiled >= 0, sim * n_u + np.maximum(tiled, 0), -1)
    return pd.array(labels.ravel(), dtype=STRING).take(picked, allow_fill=True)


def _stack(frame: pd.DataFrame, n_sim: int, *, fill_empty: bool = False) -> pd.DataFrame:
    """``frame`` repeated for ``n_sim`` cohorts with cohort-numbered patients and protocols."""
    big = frame.take(np.tile(np.arange(len(frame)), n_sim)).reset_index(drop=True)
    big["patient_id"] = _suffixed(frame["patient_id"], n_sim)
    big["protocol"] = _suffixed(frame["protocol"], n_sim, fill_empty=fill_empty)
    return big


def stacked_outcomes(st: Structure, scores: np.ndarray, registry: Registry) -> pd.DataFrame:
    """``patient_outcomes`` of S simulated cohorts (``scores``: S × rows) in one call: S ×
    patients rows, cohort by cohort, with each cohort's protocols put back. Only the columns
    the claims read are kept (as ``evaluate_claims`` does), which keeps slicing cheap."""
    n_s, n_p = scores.shape[0], st.n_patients
    big = _stack(st.frame, n_s)
    big["score"] = scores.ravel()
    planned = {f"{s}|{p}": v for s in range(n_s) for p, v in st.planned.items()}
    out = patient_outcomes(big, registry, planned_sessions=planned)
    keep = [c for c in out.columns if c in CLAIM_COLUMNS or c.startswith("sustained")]
    out = out[keep]
    out["protocol"] = st.outcomes["protocol"].array.take(np.tile(np.arange(n_p), n_s))
    return out


def _block(n_rows: int, n_sim: int) -> int:
    return int(max(1, min(n_sim, BLOCK_ROWS // max(n_rows, 1))))


def share_runner(
    st: Structure, truth: Truth, registry: Registry, claim: Callable[[pd.DataFrame], ClaimResult]
) -> Runner:
    """Cohorts simulated in blocks, their outcomes computed at once, each cohort's own
    outcomes given to the claim function."""

    def run(rng: np.random.Generator, n_sim: int, tick: Tick) -> list[ClaimResult]:
        results: list[ClaimResult] = []
        n_p, block = st.n_patients, _block(st.n_rows, n_sim)
        for start in range(0, n_sim, block):
            size = min(block, n_sim - start)
            out = stacked_outcomes(st, simulate_scores(st, truth, size, rng), registry)
            results += [claim(out.iloc[s * n_p : (s + 1) * n_p]) for s in range(size)]
            tick(size)
        return results

    return run


def faster_runner(st: Structure, truth: Truth, registry: Registry, cfg: ClaimsConfig) -> Runner:
    """One cohort at a time (the mixed model takes about 0.2 s); stops when the first three
    cohorts are all untestable (the schedule cannot test the claim)."""

    def run(rng: np.random.Generator, n_sim: int, tick: Tick) -> list[ClaimResult]:
        results: list[ClaimResult] = []
        cohort = st.frame.copy()
        for s in range(n_sim):
            cohort["score"] = simulate_scores(st, truth, 1, rng)[0]
            out = patient_outcomes(cohort, registry, planned_sessions=st.planned)
            results.append(intensive_faster(out, st.ins, cfg, cohort, registry))
            tick(1)
            if s == 2 and s + 1 < n_sim and all(r.verdict == NOT_TESTABLE for r in results):
                tick(n_sim - 3)
                break
        return results

    return run


def si_runner(frame: pd.DataFrame, theta: float, registry: Registry, cfg: ClaimsConfig) -> Runner:
    """Item-9 answers simulated in blocks, one ``safety_report`` per block, split by cohort."""
    ins = registry.get(frame["instrument"].iloc[0])
    item = item_column(ins.safety_item)

    def run(rng: np.random.Generator, n_sim: int, tick: Tick) -> list[ClaimResult]:
        results: list[ClaimResult] = []
        block = _block(len(frame), n_sim)
        for start in range(0, n_sim, block):
            size = min(block, n_sim - start)
            values = simulate_item(frame, item, theta, size, rng).ravel()
            big = _stack(frame, size, fill_empty=True)
            big[item] = pd.arrays.IntegerArray(
                np.nan_to_num(values).astype(np.int64), np.isnan(values)
            )
            rep = safety_report(big, registry, instrument=ins.key)
            res_sim = _cohort_of(rep.resolution["protocol"])
            onset_sim = _cohort_of(rep.new_onset["protocol"])
            for s in range(size):
                part = dc_replace(
                    rep,
                    resolution=rep.resolution.loc[res_sim == s],
                    new_onset=rep.new_onset.loc[onset_sim == s],
                )
                results.append(suicidal_ideation(part, cfg))
            tick(size)
        return results

    return run


def _cohort_of(labels: pd.Series) -> np.ndarray:
    """The cohort number in front of "3|weekly"."""
    return labels.astype(str).str.split("|", n=1).str[0].astype(int).to_numpy()
