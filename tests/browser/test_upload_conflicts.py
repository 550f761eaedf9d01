"""In a real headless Chromium (issue 12, point 3): upload a sample export and commit it, upload a
changed copy, and see the conflicts, the stored and the new score of each, before anything is
written; then replace the stored scores. One server with its own store for this module.

The changed copy and the expected scores are made with pandas here, not by the dashboard."""

from __future__ import annotations

import io
import os

import pandas as pd
import pytest

from tests.browser.conftest import ROOT, serve_dashboard, wait_for_run
from tests.browser.test_pages import _open, _shot
from tests.browser.test_upload_and_downloads import _download

pytestmark = pytest.mark.browser

WIDE = ROOT / "data" / "samples" / "wide.csv"
N_CHANGED = 4  # PHQ-9 totals lowered by one in the copy


@pytest.fixture(scope="module")
def conflicts_url(tmp_path_factory):
    """A dashboard on a store of its own (the other browser tests expect theirs empty)."""
    tmp = tmp_path_factory.mktemp("browser-conflicts")
    env = dict(os.environ)
    env["RELIEFCHECK_DB_URL"] = f"sqlite:///{tmp / 'store.sqlite'}"
    with serve_dashboard(tmp, env) as url:
        yield url


def _upload(page, path) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))


def test_conflicts_are_shown_with_both_scores_before_commit(page, conflicts_url, tmp_path):
    wide = pd.read_csv(WIDE)
    n_scores = int(wide[["PHQ9 Total", "GAD7 Total", "PCL5 Total"]].count().sum())
    _open(page, conflicts_url, "upload", expect="Outcomes export")
    _upload(page, WIDE)
    commit = page.get_by_role("button", name=f"Commit {n_scores} assessments to the store")
    commit.wait_for(timeout=60_000)
    wait_for_run(page, timeout=60_000)
    commit.click()
    page.get_by_text(f"Stored {n_scores} new assessments from wide.csv").wait_for(timeout=60_000)

    changed = wide.copy()
    changed.loc[: N_CHANGED - 1, "PHQ9 Total"] -= 1
    copy = tmp_path / "wide_changed.csv"
    changed.to_csv(copy, index=False)
    _upload(page, copy)
    page.get_by_text(f"{N_CHANGED} rows differ from the score stored").wait_for(timeout=60_000)
    wait_for_run(page, timeout=60_000)
    body = page.inner_text("body")
    assert "nothing has been written yet" in body
    assert f"replaces the {N_CHANGED} stored scores" in body.lower()
    replace = page.get_by_role("button", name="Replace with this file's scores")
    assert replace.is_visible() and page.get_by_role("button", name="Cancel: store nothing")
    _shot(page, "upload_conflicts_preview")

    # The table is drawn on a canvas; its download carries the same rows.
    data = _download(page, page.get_by_role("button", name="rows that differ or are set aside"))
    rows = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert rows["kind"].tolist() == ["conflict"] * N_CHANGED
    assert rows["stored_score"].tolist() == wide.loc[: N_CHANGED - 1, "PHQ9 Total"].tolist()
    assert rows["score"].tolist() == changed.loc[: N_CHANGED - 1, "PHQ9 Total"].tolist()

    replace.click()
    page.get_by_text(
        f"{N_CHANGED} stored assessments with a different score were replaced"
    ).wait_for(timeout=60_000)
