"""Shared helpers for the store tests: validated uploads built by hand, store URLs, dumps."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from data.readers.export import RawTable
from data.schema import conform
from data.store.engine import normalise_url
from data.store.keys import key_from_text
from data.store.pseudonyms import pseudonym
from data.validation.validate import Validated
from tests.pg_server import fresh_database_url

TABLES = (
    "schema_version",
    "store_meta",
    "uploads",
    "instruments",
    "labels",
    "assessments",
    "audit_log",
    "patient_anchors",
    "anchor_changes",
    "upload_patients",
    "upload_periods",
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def store_url(backend: str, tmp_path) -> str:
    """A URL for an empty store on ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return fresh_database_url()


#: The id key every test run uses (tests/conftest.py sets it in the environment), so that a
#: test can tell which clinic id a stored pseudonym stands for.
TEST_ID_KEY = "reliefcheck test id key"
_SEEN: dict[str, str] = {}


def pid(clinic_id: str) -> str:
    """The pseudonym the store files ``clinic_id`` under with the test id key."""
    p = pseudonym(str(clinic_id), key_from_text(TEST_ID_KEY))
    _SEEN[p] = str(clinic_id)
    return p


def remember(ids: pd.Series) -> None:
    """Note the pseudonyms of clinic ids that did not come through ``row`` (files read by the
    test), so that ``clinic_ids`` can turn them back."""
    for clinic_id in pd.unique(ids.astype(str)):
        pid(clinic_id)


def clinic_ids(ids: pd.Series) -> pd.Series:
    """Stored pseudonyms turned back into the clinic ids the test uploaded (others unchanged)."""
    text_ids = ids.astype(str)
    return text_ids.map(_SEEN).fillna(text_ids).astype(ids.dtype)


def row(patient: str, session: int | None, day: float | None, score: float, **extra) -> dict:
    """One tidy row (PHQ-9, weekly) with the phase SPEC section 2 derives from the session."""
    pid(patient)
    phase = "follow-up" if session is None else ("baseline" if session == 0 else "treatment")
    base = {
        "patient_id": patient,
        "protocol": "weekly",
        "instrument": "PHQ-9",
        "session": session,
        "day": day,
        "phase": phase,
        "score": score,
    }
    return base | extra


def validated(
    rows: list[dict],
    *,
    anchors: dict[str, str] | None = None,
    from_baseline: dict[str, bool] | None = None,
    n_rejected: int = 0,
) -> Validated:
    """A Validated as data.validation.validate would give it: tidy conformed, source rows 2, 3, …

    ``anchors``: patient → date text (the day-0 date of that patient in this file).
    ``from_baseline`` is attached as ``anchor_from_baseline`` when given.
    """
    frame = pd.DataFrame(rows)
    for col in ("session",):
        frame[col] = frame[col].astype("Int64")
    tidy = conform(frame)
    anchor_series = (
        pd.Series({k: pd.Timestamp(v) for k, v in anchors.items()}, dtype="datetime64[ns]")
        if anchors
        else pd.Series(dtype="datetime64[ns]")
    )
    v = Validated(
        tidy=tidy,
        source_row=pd.Series(range(2, len(tidy) + 2), index=tidy.index),
        rejects=pd.DataFrame({"row": range(n_rejected), "reason": ["bad"] * n_rejected}),
        problems=(),
        anchors=anchor_series,
        raw=RawTable(frame=pd.DataFrame()),
    )
    if from_baseline is not None:
        object.__setattr__(v, "anchor_from_baseline", pd.Series(from_baseline, dtype="boolean"))
    return v


def keys(tidy: pd.DataFrame) -> list[tuple]:
    c = canonical(tidy)
    return [
        (p, None if pd.isna(s) else int(s), None if pd.isna(d) else float(d), float(x))
        for p, s, d, x in zip(c.patient_id, c.session, c.day, c.score, strict=True)
    ]


def canonical(tidy: pd.DataFrame) -> pd.DataFrame:
    """A tidy table with the clinic's ids (see clinic_ids), sorted by its key, index reset, for
    order-blind comparison."""
    keys = ["patient_id", "instrument", "session", "day"]
    tidy = tidy.assign(patient_id=clinic_ids(tidy["patient_id"]))
    return tidy.sort_values(keys, kind="stable", na_position="first").reset_index(drop=True)


def dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every store table, in a fixed order: the store's whole content."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return {
                t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))]
                for t in TABLES
            }
    finally:
        engine.dispose()
