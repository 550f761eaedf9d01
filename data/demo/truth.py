"""The true values behind the demo cohort: what an analysis of it should recover.

The generator is a mixture with clipping and rounding, so the truth is measured, not derived:
``population_truth`` simulates one very large cohort and computes, with plain pandas and numpy
written here (independent of the analysis package), the SPEC section 4 and 5 quantities per
protocol × instrument. The values for the default parameters are committed in
``data/demo/truth.json``; regenerate them with ``python -m data.demo.truth`` whenever
GENERATOR_VERSION or DemoParams defaults change (a test fails until you do).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from data.demo.cohort import DEFAULT_PARAMS, GENERATOR_VERSION, generate_demo
from data.demo.params import DemoParams
from data.errors import ReliefCheckError
from data.instruments import Registry, default_registry

TRUTH_FILE = Path(__file__).with_name("truth.json")
TRUTH_SCHEMA = "reliefcheck.demo_truth/1"
TRUTH_SEED = 4_000_417
TRUTH_N_PATIENTS = 400_000
CHUNK_PATIENTS = 50_000
#: SPEC section 4 follow-up windows: (days after EOT, ± half-width).
FOLLOWUP_WINDOWS = ((30, 15), (90, 30), (180, 45))
#: SPEC section 6 rapid-onset claim: first post-baseline assessment within this many days.
RAPID_ONSET_DAYS = 7.0
_KEY = ["protocol", "instrument", "patient_id"]


def _first(rows: pd.DataFrame, order: list[str], keep: str) -> pd.DataFrame:
    """One row per key: the first (``keep='first'``) or last row in ``order``."""
    ordered = rows.sort_values(["g", *order], kind="stable")
    return ordered.drop_duplicates("g", keep=keep).set_index("g")


def patient_outcomes(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per protocol × instrument × patient (SPEC section 4): the baseline (session 0,
    earliest by day), EOT (last by day with session ≥ 1), the session-1 and first post-baseline
    assessments, the follow-up windows (nearest the centre) and item 9 where present."""
    f = pd.DataFrame(
        {
            "session": frame["session"].astype("float64"),
            "day": frame["day"].to_numpy(dtype=float),
            "score": frame["score"].to_numpy(dtype=float),
            "item_9": frame["item_9"].astype("float64") if "item_9" in frame else np.nan,
        }
    )
    keys = frame[_KEY].astype(str)
    f["g"] = keys.groupby(_KEY, sort=False).ngroup().to_numpy()  # numbered by first appearance
    out = keys.drop_duplicates().reset_index(drop=True).rename_axis("g")
    base = _first(f[f["session"] == 0], ["day"], "first")
    treat = f[f["session"] >= 1]
    eot = _first(treat, ["day", "session"], "last")
    first = _first(treat, ["day", "session"], "first")
    s1 = _first(f[f["session"] == 1], ["day"], "first")
    out["baseline"] = base["score"]
    out["baseline_item9"] = base["item_9"]
    out["eot"] = eot["score"]
    out["eot_day"] = eot["day"]
    out["eot_item9"] = eot["item_9"]
    out["first_score"] = first["score"]
    out["first_day"] = first["day"] - base["day"].reindex(first.index)
    out["session1"] = s1["score"]
    out["session1_item9"] = s1["item_9"]
    out["treatment_item9_max"] = treat.groupby("g")["item_9"].max()
    fu = f[f["session"].isna()].copy()
    fu["offset"] = fu["day"].to_numpy() - out["eot_day"].reindex(fu["g"]).to_numpy()
    for centre, half in FOLLOWUP_WINDOWS:
        fu["dist"] = (fu["offset"] - centre).abs()
        near = _first(fu[fu["dist"] <= half], ["dist", "day"], "first")
        out[f"fu{centre}"] = near["score"]
    return out.reset_index(drop=True)


def _pct(hits: np.ndarray, of: np.ndarray) -> float:
    """100 · hits / of over the rows where ``of`` holds; NaN on an empty denominator."""
    n = int(of.sum())
    return 100.0 * float((hits & of).sum()) / n if n else math.nan


def _group_truth(o: pd.DataFrame, registry: Registry) -> dict[str, object]:
    """The SPEC section 4–6 quantities of one protocol × instrument group."""
    ins = registry.get(o["instrument"].iloc[0])
    b, e = o["baseline"].to_numpy(float), o["eot"].to_numpy(float)
    starter = ~np.isnan(b)
    paired = starter & ~np.isnan(e)
    bp, ep = b[paired], e[paired]
    change = ins.improvement(b, e)
    n = int(paired.sum())
    sd_b, sd_e = (float(np.std(x, ddof=1)) if n > 1 else math.nan for x in (bp, ep))
    sd_c = float(np.std(change[paired], ddof=1)) if n > 1 else math.nan
    mean_c = float(change[paired].mean()) if n else math.nan
    d_av = mean_c / ((sd_b + sd_e) / 2.0)
    threshold = ins.reliable_change_threshold(sd_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        improved = paired & (change >= threshold)
        worse = paired & (-change >= threshold)
        respond = paired & (b > 0) & (change / b >= 0.5)
        remit = paired & ins.is_remitted(pd.Series(e)).fillna(False).to_numpy(bool)
        first_change = ins.improvement(b, o["first_score"].to_numpy(float))
        rapid = paired & (o["first_day"].to_numpy(float) <= RAPID_ONSET_DAYS)
        rapid &= first_change >= threshold
        s1 = o["session1"].to_numpy(float)
        has_s1 = starter & ~np.isnan(s1)
        s1_worse = has_s1 & (-ins.improvement(b, s1) >= threshold)
        fu90 = o["fu90"].to_numpy(float)
        fu_responders = respond & ~np.isnan(fu90)
        sustained = fu_responders & (ins.improvement(b, fu90) / b >= 0.5)
    row: dict[str, object] = {
        "protocol": o["protocol"].iloc[0],
        "instrument": ins.key,
        "n_patients": len(o),
        "n_starters": int(starter.sum()),
        "n_paired": n,
        "paired_pct": _pct(paired, starter),
        "baseline_mean": float(bp.mean()) if n else math.nan,
        "baseline_sd": sd_b,
        "eot_mean": float(ep.mean()) if n else math.nan,
        "eot_sd": sd_e,
        "mean_change": mean_c,
        "sd_change": sd_c,
        "baseline_eot_r": float(np.corrcoef(bp, ep)[0, 1]) if n > 2 else math.nan,
        "d_z": mean_c / sd_c,
        "d_av": d_av,
        "g_av": d_av * (1.0 - 3.0 / (4.0 * (n - 1) - 1.0)) if n > 2 else math.nan,
        "reliable_change_threshold": threshold,
    }
    for name, hits in (
        ("reliable_improvement", improved),
        ("reliable_deterioration", worse),
        ("response", respond),
        ("remission", remit),
    ):
        row[f"{name}_pct"] = _pct(hits, paired)
        row[f"{name}_all_starters_pct"] = _pct(hits, starter)
    row["rapid_onset_pct"] = _pct(rapid, paired)
    row["n_session1"] = int(has_s1.sum())
    row["session1_reliable_deterioration_pct"] = _pct(s1_worse, has_s1)
    row["n_responders_fu90"] = int(fu_responders.sum())
    row["sustained_response_90_pct"] = _pct(sustained, fu_responders)
    row.update(_item9_truth(o, ins, starter, paired))
    return row


def _item9_truth(o: pd.DataFrame, ins, starter: np.ndarray, paired: np.ndarray) -> dict:
    """SPEC section 6 suicidal-ideation quantities from the instrument's safety item."""
    names = (
        "n_item9_baseline",
        "item9_baseline_pct",
        "n_item9_session1",
        "item9_resolved_session1_pct",
        "n_item9_eot",
        "item9_resolved_eot_pct",
        "n_item9_zero",
        "item9_new_onset_pct",
    )
    if ins.safety_item is None or o["baseline_item9"].isna().all():
        return dict.fromkeys(names, math.nan)
    b9 = o["baseline_item9"].to_numpy(float)
    known = starter & ~np.isnan(b9)
    positive = known & (b9 >= 1)
    at_s1 = positive & ~np.isnan(o["session1_item9"].to_numpy(float))
    at_eot = positive & paired & ~np.isnan(o["eot_item9"].to_numpy(float))
    zero = known & paired & (b9 == 0)
    with np.errstate(invalid="ignore"):
        res_s1 = o["session1_item9"].to_numpy(float) == 0
        res_eot = o["eot_item9"].to_numpy(float) == 0
        onset = o["treatment_item9_max"].to_numpy(float) >= 1
    values = (
        int(known.sum()),
        _pct(positive, known),
        int(at_s1.sum()),
        _pct(res_s1, at_s1),
        int(at_eot.sum()),
        _pct(res_eot, at_eot),
        int(zero.sum()),
        _pct(onset, zero),
    )
    return dict(zip(names, values, strict=True))


def truth_table(outcomes: pd.DataFrame, registry: Registry | None = None) -> pd.DataFrame:
    """Per protocol × instrument truth from ``patient_outcomes`` rows (see docs/demo_cohort.md
    for every definition). Rates are percentages (0–100)."""
    reg = registry or default_registry()
    groups = outcomes.groupby(["protocol", "instrument"], sort=True)
    rows = [_group_truth(group, reg) for _, group in groups]
    return pd.DataFrame(rows)


def population_truth(
    params: DemoParams = DEFAULT_PARAMS,
    n_patients: int = TRUTH_N_PATIENTS,
    seed: int = TRUTH_SEED,
    chunk_patients: int = CHUNK_PATIENTS,
) -> pd.DataFrame:
    """Truth for ``params``: one cohort of ``n_patients`` simulated in chunks (seeds spawned
    from ``seed``), then ``truth_table``. For large n, J → 1 and g_av is the population value."""
    if n_patients < 2 or chunk_patients < 1:
        raise ReliefCheckError("The truth simulation needs at least two patients.")
    sizes = [chunk_patients] * (n_patients // chunk_patients)
    if n_patients % chunk_patients:
        sizes.append(n_patients % chunk_patients)
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    parts = [
        patient_outcomes(generate_demo(size, child, params))
        for size, child in zip(sizes, children, strict=True)
    ]
    return truth_table(pd.concat(parts, ignore_index=True))


def write_truth_json(
    path: str | Path = TRUTH_FILE, n_patients: int = TRUTH_N_PATIENTS, seed: int = TRUTH_SEED
) -> Path:
    """Simulate the truth for the default parameters and write it with its provenance."""
    table = population_truth(DEFAULT_PARAMS, n_patients, seed)
    records = json.loads(table.to_json(orient="records", double_precision=10))
    doc = {
        "schema": TRUTH_SCHEMA,
        "generator_version": GENERATOR_VERSION,
        "n_patients": n_patients,
        "seed": seed,
        "chunk_patients": CHUNK_PATIENTS,
        "params": asdict(DEFAULT_PARAMS),
        "groups": records,
    }
    out = Path(path)
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def load_truth(path: str | Path = TRUTH_FILE) -> tuple[dict, pd.DataFrame]:
    """The committed truth: (provenance without the groups, truth table)."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    table = pd.DataFrame(doc.pop("groups"))
    return doc, table


HEADLINE_COLUMNS = (
    "n_paired",
    "paired_pct",
    "baseline_mean",
    "mean_change",
    "g_av",
    "reliable_improvement_pct",
    "response_pct",
    "remission_pct",
    "reliable_improvement_all_starters_pct",
)
CLAIM_COLUMNS = (
    "rapid_onset_pct",
    "session1_reliable_deterioration_pct",
    "sustained_response_90_pct",
    "item9_baseline_pct",
    "item9_resolved_session1_pct",
    "item9_resolved_eot_pct",
    "item9_new_onset_pct",
)


def truth_markdown(table: pd.DataFrame, columns: tuple[str, ...] = HEADLINE_COLUMNS) -> str:
    """Truth columns as a Markdown table (for docs/demo_cohort.md); blank where not defined."""
    head = "| protocol | instrument | " + " | ".join(columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    for _, r in table.iterrows():
        cells = [
            "" if pd.isna(r[c]) else f"{r[c]:.0f}" if c.startswith("n_") else f"{r[c]:.2f}"
            for c in columns
        ]
        lines.append(f"| {r['protocol']} | {r['instrument']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    written = write_truth_json()
    print(f"wrote {written}")
    table = load_truth(written)[1]
    print(truth_markdown(table))
    print(truth_markdown(table, CLAIM_COLUMNS))
