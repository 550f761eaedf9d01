"""NHS Talking Therapies joint outcomes on PHQ-9 and GAD-7 together (SPEC section 4).

The NHS Talking Therapies programme judges depression and anxiety measures jointly (NHS
England / NHS Digital, *Psychological Therapies: reports on the use of NHS Talking Therapies
services*, definitions of recovery, reliable improvement and reliable deterioration):

- case at baseline: in the clinical range on either measure; case at EOT likewise;
- recovery: a case at baseline and a case on neither measure at EOT (<NA> when not a case at
  baseline: the NHS recovery rate counts only patients who started in the clinical range);
- reliable improvement: reliable improvement on at least one measure and reliable
  deterioration on neither;
- reliable deterioration: reliable deterioration on at least one measure and reliable
  improvement on neither;
- reliable recovery: recovery and (joint) reliable improvement.

Each measure's baseline and EOT are its own (section 4); the NHS uses the anxiety disorder
specific measure in place of GAD-7 where one applies, which ReliefCheck does not hold.
"""

from __future__ import annotations

import pandas as pd

from analysis.assessments import DESCRIPTIVE
from data.instruments import Registry

DEPRESSION, ANXIETY = "PHQ-9", "GAD-7"
_PER_MEASURE = (
    "baseline",
    "eot",
    "baseline_case",
    "eot_case",
    "reliable_improvement",
    "reliable_deterioration",
)
_JOINT_FLAGS = (
    "case_baseline",
    "case_eot",
    "recovery",
    "reliable_improvement",
    "reliable_deterioration",
    "reliable_recovery",
)


def _empty(outcomes: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    cols = {c: pd.Series(dtype=outcomes[c].dtype) for c in keep}
    for m in ("depression", "anxiety"):
        cols[f"{m}_baseline"] = pd.Series(dtype="float64")
        cols[f"{m}_eot"] = pd.Series(dtype="float64")
    for f in _JOINT_FLAGS:
        cols[f] = pd.Series(dtype="boolean")
    return pd.DataFrame(cols)


def joint_recovery(outcomes: pd.DataFrame, registry: Registry) -> pd.DataFrame:
    """One row per patient paired on both PHQ-9 and GAD-7, with the NHS joint rules.

    Columns: patient_id, protocol (and site, clinician, route, treatment_resistant when
    present), depression_baseline, depression_eot, anxiety_baseline, anxiety_eot and the
    nullable booleans case_baseline, case_eot, recovery, reliable_improvement,
    reliable_deterioration, reliable_recovery. Empty when the registry lacks either measure or
    nobody is paired on both. Boolean logic is Kleene's (a missing rule stays <NA> unless the
    other measure decides the answer).
    """
    descriptive = [c for c in DESCRIPTIVE if c in outcomes.columns]
    keep = ["patient_id", "protocol", *descriptive]
    dep_key, anx_key = registry.resolve(DEPRESSION), registry.resolve(ANXIETY)
    if dep_key is None or anx_key is None:
        return _empty(outcomes, keep)
    paired = outcomes.loc[outcomes["paired"].to_numpy(dtype=bool)]
    dep = paired.loc[paired["instrument"] == dep_key, keep + list(_PER_MEASURE)]
    anx = paired.loc[paired["instrument"] == anx_key, ["patient_id", *_PER_MEASURE]]
    both = dep.merge(anx, on="patient_id", how="inner", suffixes=("_dep", "_anx"))
    if both.empty:
        return _empty(outcomes, keep)

    def col(name: str, m: str) -> pd.Series:
        return both[f"{name}_{m}"].astype("boolean")

    case_b = col("baseline_case", "dep") | col("baseline_case", "anx")
    case_e = col("eot_case", "dep") | col("eot_case", "anx")
    ri_any = col("reliable_improvement", "dep") | col("reliable_improvement", "anx")
    rd_any = col("reliable_deterioration", "dep") | col("reliable_deterioration", "anx")
    not_case = ~case_b.fillna(False).to_numpy(dtype=bool)
    recovery = (~case_e).mask(not_case, pd.NA)
    improved = ri_any & ~rd_any
    out = both[keep].copy()
    out["depression_baseline"] = both["baseline_dep"]
    out["depression_eot"] = both["eot_dep"]
    out["anxiety_baseline"] = both["baseline_anx"]
    out["anxiety_eot"] = both["eot_anx"]
    out["case_baseline"] = case_b
    out["case_eot"] = case_e
    out["recovery"] = recovery
    out["reliable_improvement"] = improved
    out["reliable_deterioration"] = rd_any & ~ri_any
    out["reliable_recovery"] = (recovery & improved).mask(not_case, pd.NA)
    return out.reset_index(drop=True)
