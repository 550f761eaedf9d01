"""In a real headless Chromium (issue 12): the Upload page's grouped validation report for a
sample export with problems put in, its findings CSV downloaded, and a file refused for personal
data that shows none of its values, then accepted once its columns are read as (not used).

The problem file is ``data/samples/with_dates.csv`` with, written in the test: three patients'
baselines removed (a no-baseline note each), one score out of range, one unknown instrument and
one exact repeat. Nothing is committed, so the shared store stays empty."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from tests.browser.conftest import wait_for_run
from tests.browser.test_pages import _open, _shot
from tests.browser.test_upload_and_downloads import _download

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "with_dates.csv"
SSN_VALUE, NAME_VALUE = "123-45-6789", "Jane Doe"


def _problem_file(folder: Path) -> tuple[Path, dict[str, int]]:
    """The sample with problems put in; returns the file and the expected counts."""
    frame = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    patients = frame["patient_id"].drop_duplicates().tolist()[:3]
    no_base = frame["patient_id"].isin(patients) & (frame["session"] == "0")
    frame = frame[~no_base].reset_index(drop=True)
    frame.loc[5, "score"] = "99"  # above every built-in maximum: set aside
    frame.loc[7, "instrument"] = "BDI"  # not in the registry: set aside
    frame = pd.concat([frame, frame.iloc[[10]]], ignore_index=True)  # an exact repeat
    path = folder / "with_problems.csv"
    frame.to_csv(path, index=False)
    return path, {"rows": len(frame), "no_baseline": len(patients)}


def _settled(page, text: str) -> str:
    page.get_by_text(text).first.wait_for(timeout=90_000)
    wait_for_run(page, timeout=90_000)
    return page.inner_text("body")


def test_grouped_report_download_and_a_refused_file_without_values(page, app_url, tmp_path):
    export, expect = _problem_file(tmp_path)
    _open(page, app_url, "upload", expect="Outcomes export")
    dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    dropzone.set_input_files(str(export))
    _settled(page, "Validation report")
    body = _settled(page, "Download all 6 findings (CSV)")
    n = expect["rows"]
    assert f"{n:,} rows read = {n - 3:,} accepted + 2 set aside + 1 exact repeat skipped" in body
    assert "no baseline" in body and f"column patient_id · {expect['no_baseline']} rows" in body
    assert "column score · 1 row (row 7)" in body and "column instrument · 1 row (row 9)" in body
    _shot(page, "upload_report_grouped")

    csv = _download(page, page.get_by_role("button", name="Download all 6 findings (CSV)"))
    findings = pd.read_csv(io.BytesIO(csv), encoding="utf-8-sig")
    assert list(findings.columns) == ["row", "column", "severity", "problem", "fix"]
    assert findings["severity"].value_counts().to_dict() == {"warning": 4, "error": 2}

    refused = tmp_path / "refused.csv"
    refused.write_text(
        "patient_id,protocol,instrument,session,day,score,ssn,name\n"
        f"P1,weekly,PHQ-9,0,0,14,{SSN_VALUE},{NAME_VALUE}\n"
        f"P1,weekly,PHQ-9,1,7,9,{SSN_VALUE},{NAME_VALUE}\n",
        encoding="utf-8",
    )
    dropzone.set_input_files(str(refused))
    body = _settled(page, "This file cannot be used")
    page.get_by_text("Read the file again with this mapping").wait_for(timeout=60_000)
    html = page.content()
    for value in (SSN_VALUE, NAME_VALUE):
        assert value not in body and value not in html
    assert "e.g." not in body  # the mapping shows headers only
    _shot(page, "upload_refused_no_values")

    page.get_by_role("button", name="Read the file again with this mapping").click()
    body = _settled(page, "2 columns were not read")
    assert "This file cannot be used" not in body and SSN_VALUE not in page.content()
