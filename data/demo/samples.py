"""The sample exports shipped in ``data/samples/`` (described in data/samples/README.md).

Each sample is cut from a small demo cohort with a fixed seed and written in one of the shapes
clinicians' systems export: long, long item-level, wide, wide item-level, with calendar dates,
European semicolon CSV and XLSX. ``python -m data.demo.samples`` regenerates them; the same code and
seeds always give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from data.demo.cohort import (
    DEFAULT_N_PATIENTS,
    DEFAULT_PARAMS,
    DEFAULT_SEED,
    generate_demo,
    write_demo_csv,
)
from data.demo.model import split_totals
from data.instruments import default_registry

SAMPLES_DIR = Path(__file__).parents[1] / "samples"
SAMPLES_SEED = 20240918
FIRST_BASELINE_DATE = dt.date(2024, 1, 8)
SAMPLE_FILES = (
    "demo_cohort.csv",
    "long_items.csv",
    "wide.csv",
    "wide_items.csv",
    "with_dates.csv",
    "semicolon.csv",
    "export.xlsx",
)
#: Protocol and instrument spellings as other systems write them (all known aliases).
RETREAT_STYLE = {"intensive": "Retreat", "weekly": "Standard weekly"}
EUROPEAN_STYLE = {"intensive": "retreat", "weekly": "standard"}
INSTRUMENT_STYLE = {"PHQ-9": "PHQ9", "GAD-7": "gad7", "PCL-5": "PCL5"}
NOTES_TEXT = (
    "Synthetic demo data made by ReliefCheck's demo generator (data/demo/samples.py). "
    "No real patients; scores are simulated."
)


def _csv(frame: pd.DataFrame, path: Path, sep: str = ",", decimal: str = ".") -> Path:
    """CSV with blank cells for missing values and whole numbers without '.0'."""
    text = frame.to_csv(
        index=False, sep=sep, decimal=decimal, float_format="%.10g", lineterminator="\n"
    )
    path.write_text(text, encoding="utf-8", newline="")
    return path


#: Each small sample's patients are different people, so each has its own id range: the
#: sample with seed offset k numbers its patients D{k}001, D{k}002 … (the default demo cohort
#: keeps D0001 … D0300). Uploading two samples into one store never merges unrelated patients.
ID_BLOCK = 1000


def sample_ids(ids: pd.Series, offset: int) -> pd.Series:
    """Demo ids ``D0001`` … moved into the id range of the sample with seed offset ``offset``
    (``D0001`` → ``D2001`` for offset 2)."""
    number = ids.astype(str).str[1:].astype(int) + offset * ID_BLOCK
    return "D" + number.astype(str).str.zfill(4)


def _cohort(n: int, offset: int) -> pd.DataFrame:
    """A small cohort of ``n`` patients (seed SAMPLES_SEED + offset) in its own id range."""
    frame = generate_demo(n, seed=SAMPLES_SEED + offset, params=DEFAULT_PARAMS)
    return frame.assign(
        patient_id=sample_ids(frame["patient_id"], offset).astype(frame["patient_id"].dtype)
    )


def _visits(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per patient visit (patient_id, protocol, session, day), in cohort order."""
    return frame.drop_duplicates(["patient_id", "day"])[
        ["patient_id", "protocol", "session", "day"]
    ]


def long_items(frame: pd.DataFrame) -> pd.DataFrame:
    """PHQ-9 rows with items and no total; two rows lose one item (the total gets prorated)."""
    cols = ["patient_id", "protocol", "instrument", "session", "day"]
    cols += default_registry().get("PHQ-9").item_columns()
    out = frame.loc[frame["instrument"] == "PHQ-9", cols].reset_index(drop=True)
    out["instrument"] = INSTRUMENT_STYLE["PHQ-9"]
    out.loc[4, "item_4"] = pd.NA
    out.loc[37, "item_2"] = pd.NA
    return out


def wide(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per visit with a total per instrument, headers as a practice system writes them."""
    totals = frame.pivot(index=["patient_id", "day"], columns="instrument", values="score")
    out = _visits(frame).join(totals, on=["patient_id", "day"])
    out["protocol"] = out["protocol"].map(RETREAT_STYLE)
    return out.rename(
        columns={
            "patient_id": "Client ID",
            "protocol": "Protocol",
            "session": "Session",
            "day": "Day",
            "PHQ-9": "PHQ9 Total",
            "GAD-7": "GAD7 Total",
            "PCL-5": "PCL5 Total",
        }
    )[["Client ID", "Protocol", "Session", "Day", "PHQ9 Total", "GAD7 Total", "PCL5 Total"]]


def wide_items(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One row per visit with PHQ-9 items ``phq9_1 … phq9_9`` and GAD-7 items ``gad7_1 …
    gad7_7``. The demo cohort has GAD-7 totals only; its items are split from each total here
    with the same method as PHQ-9 items 1–8."""
    phq9, gad7 = default_registry().get("PHQ-9"), default_registry().get("GAD-7")
    phq = frame[frame["instrument"] == "PHQ-9"].set_index(["patient_id", "day"])
    phq = phq[phq9.item_columns()]
    phq.columns = [f"phq9_{k}" for k in range(1, phq9.items + 1)]
    gad = frame[frame["instrument"] == "GAD-7"]
    weights = np.asarray(DEFAULT_PARAMS.gad7_item_weights)
    profile = np.exp(rng.standard_normal((len(gad), gad7.items)) * DEFAULT_PARAMS.item_profile_sd)
    split = split_totals(gad["score"].to_numpy(), weights * profile, gad7.item_max, rng)
    gad_items = pd.DataFrame(
        split.astype(np.int64),
        index=pd.MultiIndex.from_frame(gad[["patient_id", "day"]]),
        columns=[f"gad7_{k}" for k in range(1, gad7.items + 1)],
    ).astype("Int64")
    out = (
        _visits(frame).join(phq, on=["patient_id", "day"]).join(gad_items, on=["patient_id", "day"])
    )
    return out.reset_index(drop=True)


def with_dates(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Long table with an ISO ``Assessment Date`` instead of ``day``; each patient's baseline
    falls on a fixed date between 8 January and early May 2024."""
    ids = frame["patient_id"].unique()
    start = pd.Series(rng.integers(0, 120, len(ids)), index=ids)
    offset = start.reindex(frame["patient_id"]).to_numpy() + frame["day"].to_numpy()
    dates = pd.Timestamp(FIRST_BASELINE_DATE) + pd.to_timedelta(offset, unit="D")
    out = frame[["patient_id", "protocol", "instrument", "session"]].copy()
    out["instrument"] = out["instrument"].map(INSTRUMENT_STYLE)
    out["Assessment Date"] = dates.strftime("%Y-%m-%d")
    out["score"] = frame["score"]
    return out.reset_index(drop=True)


def semicolon(frame: pd.DataFrame) -> pd.DataFrame:
    """European-style long table (the decimal comma is applied when writing). A few PHQ-9 totals
    are prorated from eight answered items (mean × 9), chosen so that they end in ',5'."""
    phq9 = default_registry().get("PHQ-9")
    cols = phq9.item_columns()
    items = frame[cols].to_numpy(dtype=float, na_value=np.nan)
    score = frame["score"].to_numpy(dtype=float).copy()
    is_phq = (frame["instrument"] == "PHQ-9").to_numpy(bool)
    is_phq &= (frame["session"].fillna(0) > 0).to_numpy(bool)
    # prorated total with item j unanswered: (total − item j) / (k − 1) × k; keep those ending
    # in .5, never dropping an item that is not imputed (item 9)
    prorated = (score[:, None] - items) / (phq9.items - 1) * phq9.items
    droppable = np.array([k not in phq9.never_impute_items for k in range(1, phq9.items + 1)])
    fits = is_phq[:, None] & droppable[None, :] & np.isclose(prorated % 1, 0.5)
    candidates = np.flatnonzero(fits.any(axis=1))
    rows = candidates[:: max(1, len(candidates) // 5)][:5]
    blanked = frame[cols].iloc[rows].astype("float64")
    blanked = blanked.mask(fits[rows] & (np.cumsum(fits[rows], axis=1) == 1))  # first fit only
    score[rows] = phq9.score_items(blanked).score.to_numpy()
    out = pd.DataFrame(
        {
            "Client ID": frame["patient_id"],
            "Protocol": frame["protocol"].map(EUROPEAN_STYLE),
            "Instrument": frame["instrument"].map(
                {"PHQ-9": "phq9", "GAD-7": "GAD7", "PCL-5": "pcl5"}
            ),
            "Session": frame["session"],
            "Day": frame["day"],
            "Score": score,
        }
    )
    return out.reset_index(drop=True)


def write_xlsx(frame: pd.DataFrame, path: Path) -> Path:
    """XLSX with a 'Scores' sheet (long table) and a 'Notes' sheet; fixed document dates so the
    same cohort always gives the same bytes."""
    cols = [
        "patient_id",
        "protocol",
        "instrument",
        "session",
        "day",
        "phase",
        "score",
        "site",
        "clinician",
        "route",
        "treatment_resistant",
    ]
    table = frame[cols].copy()
    table["protocol"] = table["protocol"].map(RETREAT_STYLE)
    table["treatment_resistant"] = table["treatment_resistant"].map({True: "yes", False: "no"})
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": dt.datetime(2024, 1, 1), "title": "ReliefCheck demo export"})
    scores = book.add_worksheet("Scores")
    scores.write_row(0, 0, cols)
    for j, col in enumerate(cols):
        values = table[col].astype(object).where(table[col].notna(), None).tolist()
        scores.write_column(1, j, values)
    notes = book.add_worksheet("Notes")
    notes.write(0, 0, NOTES_TEXT)
    book.close()
    return path


def write_samples(directory: str | Path = SAMPLES_DIR) -> list[Path]:
    """Write every sample into ``directory`` (created if needed); returns the paths written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SAMPLES_SEED)
    written = [
        write_demo_csv(generate_demo(DEFAULT_N_PATIENTS, DEFAULT_SEED), out / SAMPLE_FILES[0])
    ]
    written.append(_csv(long_items(_cohort(30, 1)), out / "long_items.csv"))
    written.append(_csv(wide(_cohort(30, 2)), out / "wide.csv"))
    written.append(_csv(wide_items(_cohort(20, 3), rng), out / "wide_items.csv"))
    written.append(_csv(with_dates(_cohort(30, 4), rng), out / "with_dates.csv"))
    written.append(_csv(semicolon(_cohort(25, 5)), out / "semicolon.csv", sep=";", decimal=","))
    written.append(write_xlsx(_cohort(30, 6), out / "export.xlsx"))
    return written


if __name__ == "__main__":
    for p in write_samples():
        print(f"wrote {p} ({p.stat().st_size:,} bytes)")
