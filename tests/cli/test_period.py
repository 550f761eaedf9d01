"""``summary --period`` and ``tables --period`` (docs/periods.md): only patients whose dated
baseline falls in the period are analysed; files without dates say why they cannot be."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cli import main
from data.periods import month_day, period_labels

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "with_dates.csv"


def _quarters() -> pd.Series:
    """Each sample patient's baseline quarter, read straight from the file."""
    raw = pd.read_csv(SAMPLE, dtype=str)
    base = raw[raw["session"] == "0"].groupby("patient_id")["Assessment Date"].min()
    return pd.Series(period_labels(month_day(base), "quarter").to_numpy(), index=base.index)


def _patients(capsys, *extra: str) -> int:
    args = ["summary", str(SAMPLE), "--quiet", "--n-boot", "20", "--no-models", *extra]
    assert main(args) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    return sum(g["n_patients"] for g in groups if g["instrument"] == "PHQ-9")


def test_summary_period_keeps_the_patients_whose_baseline_is_in_it(capsys):
    quarters = _quarters()
    quarter = quarters.value_counts().index[0]
    everyone = _patients(capsys)
    one = _patients(capsys, "--period", quarter)
    assert 0 < one < everyone
    raw = pd.read_csv(SAMPLE, dtype=str)
    phq = set(raw.loc[raw["instrument"].str.upper().str.contains("PHQ"), "patient_id"])
    assert one == len(phq & set(quarters.index[quarters == quarter]))
    span = f"{quarters.min()}:{quarters.max()}"
    assert _patients(capsys, "--period", span) == len(phq & set(quarters.index))


def test_a_file_without_dates_cannot_be_cut_by_period(capsys):
    wide = SAMPLE.parent / "wide.csv"
    assert main(["summary", str(wide), "--quiet", "--period", "2025-Q1"]) == 2
    assert "no baseline dates" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["2025-Q5", "2025-Q3:2025-Q1", "Q1", "2025-Q1:2025-Q2:2025-Q3"])
def test_a_bad_period_is_refused_with_the_form_to_use(capsys, bad):
    assert main(["summary", str(SAMPLE), "--quiet", "--period", bad]) == 2
    assert "period" in capsys.readouterr().err


def test_tables_methods_record_the_period(tmp_path, capsys):
    quarter = _quarters().value_counts().index[0]
    out = tmp_path / "tables"
    args = ["tables", str(SAMPLE), "--quiet", "--n-boot", "20", "--no-models", "--period", quarter]
    assert main([*args, "--out", str(out)]) == 0
    assert f"baseline period: {quarter}" in (out / "reliefcheck_tables.md").read_text()
