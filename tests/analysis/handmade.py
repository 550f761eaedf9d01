"""Small tidy tables written by hand for the outcome, funnel, trajectory and safety tests."""

from __future__ import annotations

import pandas as pd

from data.schema import conform


def make_tidy(rows: list[tuple], **extra: list) -> pd.DataFrame:
    """A conformed tidy table from (patient_id, protocol, instrument, session, day, score) rows.

    The phase follows SPEC section 2: session 0 → baseline, session ≥ 1 → treatment, no session
    → follow-up. ``extra`` adds columns (e.g. ``item_9=[...]``), one value per row.
    """
    frame = pd.DataFrame(
        rows, columns=["patient_id", "protocol", "instrument", "session", "day", "score"]
    )
    frame["session"] = frame["session"].astype("Int64")
    frame["phase"] = [
        "follow-up" if pd.isna(s) else ("baseline" if s == 0 else "treatment")
        for s in frame["session"]
    ]
    for name, values in extra.items():
        frame[name] = values
    return conform(frame)
