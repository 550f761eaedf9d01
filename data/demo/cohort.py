"""The seeded synthetic demo cohort (docs/demo_cohort.md).

``generate_demo`` gives a realistic, fully synthetic tidy table: intensive and weekly protocols,
PHQ-9 (with items), GAD-7 and, in a trauma subgroup, PCL-5; fast, delayed, non- and worsening
responders; dropout, missing baselines, follow-ups with relapse. The same seed always gives the
same cohort. ``data/demo/truth.py`` holds the values an analysis of it should recover.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from data.demo.model import DemoGrid, simulate, split_totals
from data.demo.params import INSTRUMENT_KEYS, PROTOCOLS, RESPONDER_CLASSES, ROUTES, DemoParams
from data.errors import ReliefCheckError
from data.instruments import Registry, default_registry
from data.periods import MONTH_COLUMN, from_month_index, month_index, period_bounds
from data.schema import STRING, conform, item_column

__all__ = [
    "DEFAULT_N_PATIENTS",
    "DEFAULT_PARAMS",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "DemoParams",
    "demo_baseline_months",
    "demo_patients",
    "generate_demo",
    "write_demo_csv",
]

#: Bump whenever a change to the generator changes its output for a given seed and parameters;
#: then regenerate data/demo/truth.json and data/samples/ (see docs/demo_cohort.md).
GENERATOR_VERSION = "1"
DEFAULT_SEED = 20240917
DEFAULT_N_PATIENTS = 300
DEFAULT_PARAMS = DemoParams()
PHASE_LABELS = ("baseline", "treatment", "follow-up")
#: The demo's baseline months span these eight quarters (fixed, so the demo never changes with
#: the calendar); see ``demo_baseline_months``.
DEMO_PERIOD = ("2025-Q1", "2026-Q4")
_PERIOD_STREAM = 12  # the random stream of the baseline months, apart from the cohort's


def _registry() -> Registry:
    reg = default_registry()
    missing = [key for key in INSTRUMENT_KEYS if key not in reg]
    if missing:
        raise ReliefCheckError(f"The demo cohort needs the built-in instruments {missing}.")
    return reg


def _simulate(
    n_patients: int, seed: int | np.random.SeedSequence, params: DemoParams
) -> tuple[DemoGrid, np.random.Generator, Registry]:
    if isinstance(n_patients, bool) or not isinstance(n_patients, int | np.integer):
        raise ReliefCheckError(
            f"The number of demo patients must be a whole number, not {n_patients!r}."
        )
    if n_patients < 1:
        raise ReliefCheckError("The demo cohort needs at least one patient.")
    if not isinstance(params, DemoParams):
        raise ReliefCheckError("params must be a DemoParams.")
    rng = np.random.default_rng(seed)
    reg = _registry()
    return simulate(int(n_patients), rng, params, reg), rng, reg


def _labels(codes: np.ndarray, labels: list[str] | tuple[str, ...]) -> pd.arrays.ArrowStringArray:
    """Text column from integer codes (one pyarrow take, no Python loop over rows)."""
    taken = pa.array(list(labels), type=pa.string()).take(pa.array(codes, type=pa.int64()))
    return pd.arrays.ArrowStringArray(taken)


def patient_ids(n: int) -> list[str]:
    """Pseudonymous ids D0001, D0002, … (wider when the cohort has 10,000 or more patients)."""
    width = max(4, len(str(n)))
    return list(np.char.add("D", np.char.zfill(np.arange(1, n + 1).astype(str), width)))


def _clinician_labels(params: DemoParams) -> list[str]:
    return [f"T{i + 1:02d}" for i in range(len(params.sites) * params.clinicians_per_site)]


def _items(
    grid: DemoGrid,
    rng: np.random.Generator,
    params: DemoParams,
    reg: Registry,
    pat: np.ndarray,
    visit: np.ndarray,
    is_phq: np.ndarray,
    score: np.ndarray,
) -> dict[str, pd.arrays.IntegerArray]:
    """PHQ-9 item columns: item 9 from the simulation, items 1–8 split from the rest of the
    total with each patient's own item profile; empty on other instruments' rows."""
    phq9 = reg.get("PHQ-9")
    n_rest = phq9.items - 1
    profile = rng.standard_normal((grid.intensive.size, n_rest)) * params.item_profile_sd
    rows_p, rows_v = pat[is_phq], visit[is_phq]
    weights = np.asarray(params.phq9_item_weights) * np.exp(profile[rows_p])
    nine = grid.item9[rows_p, rows_v]
    rest = score[is_phq].astype(np.int64) - nine - n_rest * phq9.item_min
    others = phq9.item_min + split_totals(rest, weights, phq9.item_max - phq9.item_min, rng)
    block = np.zeros((pat.size, phq9.items), dtype=np.int64, order="F")  # contiguous columns
    block[is_phq, :n_rest] = others
    block[is_phq, n_rest] = nine
    mask = ~is_phq
    return {
        item_column(j + 1): pd.arrays.IntegerArray(block[:, j], mask.copy())
        for j in range(phq9.items)
    }


def _tidy(
    grid: DemoGrid, rng: np.random.Generator, params: DemoParams, reg: Registry
) -> pd.DataFrame:
    n, n_visits, n_ins = grid.present.shape
    flat = np.flatnonzero(grid.present.ravel())
    pat = flat // (n_visits * n_ins)
    visit = (flat // n_ins) % n_visits
    ins = flat % n_ins
    session = grid.session[visit]
    phase = np.where(session == 0, 0, np.where(session > 0, 1, 2))
    score = grid.score[pat, visit, ins]
    columns: dict[str, object] = {
        "patient_id": _labels(pat, patient_ids(n)),
        "protocol": _labels(np.where(grid.intensive, 0, 1)[pat], PROTOCOLS),
        "instrument": _labels(ins, INSTRUMENT_KEYS),
        "session": pd.arrays.IntegerArray(np.maximum(session, 0), session < 0),
        "day": grid.day[pat, visit].astype(float),
        "phase": _labels(phase, PHASE_LABELS),
        "score": score.astype(float),
        "site": _labels(grid.site[pat], params.sites),
        "clinician": _labels(grid.clinician[pat], _clinician_labels(params)),
        "route": _labels(grid.route[pat], ROUTES),
        "treatment_resistant": pd.array(grid.resistant[pat], dtype="boolean"),
    }
    columns.update(_items(grid, rng, params, reg, pat, visit, ins == 0, score))
    return conform(pd.DataFrame(columns, copy=False))


def generate_demo(
    n_patients: int = DEFAULT_N_PATIENTS,
    seed: int | np.random.SeedSequence = DEFAULT_SEED,
    params: DemoParams = DEFAULT_PARAMS,
) -> pd.DataFrame:
    """A synthetic cohort as a conformed tidy table (SPEC section 2), rows ordered by patient,
    then visit, then instrument (PHQ-9, GAD-7, PCL-5).

    Deterministic: the same ``n_patients``, ``seed``, ``params`` and GENERATOR_VERSION give the
    same table. Everything is computed on whole arrays (no loop over patients): about 2 million
    assessments for 100,000 patients in a few seconds.
    """
    grid, rng, reg = _simulate(n_patients, seed, params)
    return _tidy(grid, rng, params, reg)


def demo_patients(
    n_patients: int = DEFAULT_N_PATIENTS,
    seed: int | np.random.SeedSequence = DEFAULT_SEED,
    params: DemoParams = DEFAULT_PARAMS,
) -> pd.DataFrame:
    """The hidden per-patient facts behind ``generate_demo`` with the same arguments: responder
    class, planned and attended sessions, dropout, missing baseline, trauma subgroup and the
    initial-anxiety flag. For checking the cohort; no analysis should need it.
    """
    grid, _, _ = _simulate(n_patients, seed, params)
    n = grid.intensive.size
    return pd.DataFrame(
        {
            "patient_id": pd.array(patient_ids(n), dtype=STRING),
            "protocol": _labels(np.where(grid.intensive, 0, 1), PROTOCOLS),
            "responder": _labels(grid.responder, RESPONDER_CLASSES),
            "daily_schedule": grid.daily,
            "planned_sessions": grid.planned,
            "last_session": grid.last_session,
            "dropout": grid.dropout,
            "missing_baseline": grid.missing_baseline,
            "trauma": grid.trauma,
            "initial_anxiety": grid.initial_anxiety,
            "treatment_resistant": grid.resistant,
            "site": _labels(grid.site, params.sites),
            "route": _labels(grid.route, ROUTES),
        }
    )


def demo_baseline_months(
    tidy: pd.DataFrame, seed: int | np.random.SeedSequence = DEFAULT_SEED
) -> pd.Series:
    """Each demo patient's baseline month code (data/periods.py), drawn uniformly over
    DEMO_PERIOD from its own random stream (so the cohort and its truth do not change); a
    patient without a baseline assessment has none, as in a real upload. Index patient_id."""
    lo, _ = period_bounds(DEMO_PERIOD[0])
    _, hi = period_bounds(DEMO_PERIOD[1])
    first, last = month_index([lo, hi])
    entropy = seed.entropy if isinstance(seed, np.random.SeedSequence) else int(seed)
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(_PERIOD_STREAM,)))
    patients = pd.Index(pd.unique(tidy["patient_id"].astype(str)), name="patient_id")
    months = rng.integers(first, last + 1, size=len(patients))
    has_base = (tidy["session"] == 0).fillna(False).to_numpy(dtype=bool)
    with_base = patients.isin(pd.unique(tidy["patient_id"].astype(str).to_numpy()[has_base]))
    codes = from_month_index(np.where(with_base, months, -1))
    return pd.Series(codes, index=patients, name=MONTH_COLUMN)


def write_demo_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a tidy table as the long CSV ReliefCheck reads: header = tidy column names, UTF-8,
    blank for missing, whole numbers without a trailing '.0'. Returns the path written."""
    out = Path(path)
    tidy = conform(frame)
    text = tidy.to_csv(index=False, float_format="%.10g", lineterminator="\n", na_rep="")
    out.write_text(text, encoding="utf-8", newline="")
    return out
