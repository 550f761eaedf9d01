"""The inclusion funnel: how many patients reach each step of the analysis, by instrument and
protocol (CONSORT-style flow; SPEC sections 4 and 5, "attrition").

Steps are nested, each counting the patients who also passed every earlier step:

1. ``assessed``: any accepted assessment of the instrument;
2. ``baseline``: with a baseline (session 0) score;
3. ``clinical``: in the clinical range at baseline (an instrument without a caseness cut-off
   passes everyone to the next step);
4. ``paired``: with an end-of-treatment score as well;
5. ``follow_up``: with an assessment in at least one follow-up window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.assessments import Assessments

STEPS: tuple[tuple[str, str], ...] = (
    ("assessed", "assessed at least once"),
    ("baseline", "with a baseline score"),
    ("clinical", "in the clinical range at baseline"),
    ("paired", "with an end-of-treatment score"),
    ("follow_up", "with a follow-up assessment"),
)


def inclusion_funnel(tidy: pd.DataFrame | Assessments, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Nested inclusion counts per instrument × protocol, long format.

    ``tidy`` gives who was assessed (patient × instrument pairs); ``outcomes`` (from
    ``patient_outcomes`` on the same table) gives baseline, caseness, pairing and follow-up.
    Columns: instrument, protocol, step, label, n, pct_of_previous, pct_of_assessed
    (percentages 0–100, NaN when the base is zero). The protocol is the patient's protocol as
    ``patient_outcomes`` defines it.
    """
    a = Assessments.build(tidy)
    patients = a.patients_frame()
    pairs = pd.DataFrame(
        {
            "patient_id": patients["patient_id"].array.take(a.group_patient),
            "instrument": pd.array(list(a.instruments), dtype="string[pyarrow]").take(
                a.group_instrument
            ),
            "protocol": patients["protocol"].array.take(a.group_patient),
        }
    )
    cols = ["patient_id", "instrument", "has_baseline", "baseline_case", "paired", "has_follow_up"]
    merged = pairs.merge(outcomes[cols], on=["patient_id", "instrument"], how="left")
    has_b = merged["has_baseline"].fillna(False).to_numpy(dtype=bool)
    clinical = has_b & merged["baseline_case"].fillna(True).to_numpy(dtype=bool)
    paired = clinical & merged["paired"].fillna(False).to_numpy(dtype=bool)
    follow = paired & merged["has_follow_up"].fillna(False).to_numpy(dtype=bool)
    flags = pd.DataFrame(
        {
            "assessed": True,
            "baseline": has_b,
            "clinical": clinical,
            "paired": paired,
            "follow_up": follow,
        },
        index=merged.index,
    )
    keys = merged[["instrument", "protocol"]]
    counts = (
        flags.astype(np.int64)
        .groupby([keys["instrument"], keys["protocol"]], dropna=False, sort=True)
        .sum()
    )
    counts.columns.name = "step"
    long = counts.stack().rename("n").reset_index()
    labels = dict(STEPS)
    long["label"] = long["step"].map(labels)
    n = long["n"].to_numpy(dtype=float)
    order = len(STEPS)
    prev = np.r_[np.nan, n[:-1]]
    prev[::order] = np.nan
    first = np.repeat(n[::order], order)
    with np.errstate(invalid="ignore", divide="ignore"):
        long["pct_of_previous"] = np.where(prev > 0, 100.0 * n / prev, np.nan)
        long["pct_of_assessed"] = np.where(first > 0, 100.0 * n / first, np.nan)
    long["n"] = long["n"].astype(np.int64)
    return long[
        ["instrument", "protocol", "step", "label", "n", "pct_of_previous", "pct_of_assessed"]
    ]
