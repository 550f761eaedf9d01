"""The Upload page's validation report (issue 12), headless with Streamlit's AppTest: the
report grouped by rule with counts that add up, its severity and column filters, the findings
download (its bytes, made by the deferred callable), a refused file that shows no value and
whose offered fix works, and the preview without raw None or <NA>.

Expected numbers come from how the test files are built, not from the dashboard."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from dashboard import payloads
from dashboard.upload_flow import changed_mapping, file_columns
from data.errors import Problem
from data.instruments import default_registry
from data.readers.export import NOT_USED
from data.validation.report_groups import problems_findings

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
HEAD = "patient_id,protocol,instrument,session,day,score"
N_BAD = 120  # more than the old problem list's 100 per rule
SSN_VALUE, NAME_VALUE = "123-45-6789", "Jane Doe"


def _report_file() -> bytes:
    """N_BAD patients with a baseline (rows 2 …) and a session-1 score of 40, above PHQ-9's 27
    (rows N_BAD+2 …); then one exact repeat and one unknown instrument."""
    lines = [HEAD]
    lines += [f"P{i},weekly,PHQ-9,0,0,12" for i in range(N_BAD)]
    lines += [f"P{i},weekly,PHQ-9,1,7,40" for i in range(N_BAD)]
    lines += ["P0,weekly,PHQ-9,0,0,12", "P1,weekly,BDI,1,7,9"]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def store_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("RELIEFCHECK_DB_URL", url)
    return url


@pytest.fixture
def media(monkeypatch) -> list[MediaFileManager]:
    """The media file manager of each AppTest run, to make a deferred download's bytes."""
    made: list[MediaFileManager] = []

    class Recording(MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", Recording)
    return made


def _upload(name: str, data: bytes) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader(key="upload_file").set_value((name, data, "text/csv")).run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _buttons(at: AppTest) -> list:
    return list(at.get("download_button"))


def _download(at: AppTest, media: list[MediaFileManager], label_start: str) -> bytes:
    (button,) = [b for b in _buttons(at) if b.proto.label.startswith(label_start)]
    file_id = button.proto.deferred_file_id
    maker = next(m for m in reversed(media) if file_id in m._deferred_callables)
    return maker._deferred_callables[file_id]["callable"]()


def _report_lines(at: AppTest) -> list[str]:
    return [
        line
        for m in at.markdown
        for line in m.value.split("\n\n")
        if line.startswith((":red-badge", ":orange-badge"))
    ]


def _page_text(at: AppTest) -> str:
    """Every element's content (its protocol message as text), the widgets' labels, options
    and captions, the tables' cells and the error texts included."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def test_report_groups_findings_by_rule_and_the_counts_add_up(store_url, media):
    at = _upload("bad.csv", _report_file())
    metrics = {m.label: m.value for m in at.metric}
    n_rows = 2 * N_BAD + 2
    assert metrics["Rows in the file"] == f"{n_rows:,}"
    assert metrics["Rows set aside"] == f"{N_BAD + 1:,}"
    assert metrics["Exact repeats skipped"] == "1"
    assert metrics["Rows accepted"] == metrics["Assessments accepted"] == f"{N_BAD:,}"
    equation = f"**{n_rows:,} rows read = {N_BAD:,} accepted + {N_BAD + 1:,} set aside + 1 exact repeat skipped**"
    assert equation in [m.value for m in at.markdown]

    lines = _report_lines(at)
    assert len(lines) == 3  # out-of-range score, unknown instrument, the repeat
    first = N_BAD + 2
    score = next(line for line in lines if "column score" in line)
    assert score.startswith(":red-badge[error]")
    assert f"column score · {N_BAD} rows** (rows {first}, {first + 1}, {first + 2}" in score
    assert "**Fix:**" in score
    repeat = next(line for line in lines if line.startswith(":orange-badge"))
    assert f"1 row** (row {n_rows})" in repeat
    assert any(f"{N_BAD + 1} errors" in c.value and "1 warning " in c.value for c in at.caption)

    csv = pd.read_csv(io.BytesIO(_download(at, media, "Download all")), encoding="utf-8-sig")
    assert list(csv.columns) == ["row", "column", "severity", "problem", "fix"]
    assert len(csv) == N_BAD + 2  # every finding, none capped
    assert (csv["severity"] == "error").sum() == N_BAD + 1


def test_report_filters_by_severity_and_column_and_the_download_follows(store_url, media):
    at = _upload("bad.csv", _report_file())
    (severity,) = at.button_group
    severity.set_value(["warning"]).run()
    _ok(at)
    lines = _report_lines(at)
    assert len(lines) == 1 and lines[0].startswith(":orange-badge")
    shown = pd.read_csv(io.BytesIO(_download(at, media, "Download the 1 finding shown")))
    assert shown["severity"].tolist() == ["warning"]

    severity.set_value([]).run()
    (column,) = [m for m in at.multiselect if m.label == "Column"]
    column.set_value(["score"]).run()
    _ok(at)
    lines = _report_lines(at)
    assert len(lines) == 1 and "column score" in lines[0]
    data = _download(at, media, f"Download the {N_BAD} findings shown")
    assert set(pd.read_csv(io.BytesIO(data))["column"]) == {"score"}


def test_findings_csv_is_formula_safe():
    hostile = [Problem('=HYPERLINK("http://x")', "+1+1", row=3, column="@SUM(A1)")]
    text = payloads.findings_csv(problems_findings(hostile)).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+1+1" in text and "'@SUM(A1)" in text


def test_refused_file_shows_no_value_and_not_used_fixes_it(store_url):
    data = (
        f"{HEAD},ssn,full name\n"
        f"P1,weekly,PHQ-9,0,0,14,{SSN_VALUE},{NAME_VALUE}\n"
        f"P1,weekly,PHQ-9,1,7,9,{SSN_VALUE},{NAME_VALUE}\n"
    ).encode()
    at = _upload("private.csv", data)
    assert any("This file cannot be used" in e.value for e in at.error)
    text = _page_text(at)
    assert SSN_VALUE not in text and NAME_VALUE not in text
    assert not [c for c in at.caption if c.value.startswith("e.g.")]  # headers only
    boxes = {s.label: s for s in at.selectbox}
    assert boxes["ssn"].value is None and boxes["full name"].value is None  # (not used)
    next(b for b in at.button if b.label == "Read the file again with this mapping").click().run()
    _ok(at)
    assert not at.error
    assert {m.label: m.value for m in at.metric}["Assessments accepted"] == "2"
    assert any("2 columns were not read" in line for line in _report_lines(at))
    text = _page_text(at)
    assert SSN_VALUE not in text and NAME_VALUE not in text


def test_mapping_screen_hides_examples_that_look_identifying():
    data = f"{HEAD},notes\nP1,weekly,PHQ-9,0,0,14,call jane.doe@example.com\n".encode()
    cols = file_columns(data, default_registry())
    assert "notes" in cols.withheld and "notes" not in cols.examples
    assert cols.examples["patient_id"] == "P1"
    bare = file_columns(data, default_registry(), examples=False)
    assert bare.examples == {} and bare.headers == cols.headers
    # the form sends every "(not used)" column as NOT_USED, even when nothing was changed
    assert changed_mapping(cols.detected, cols.detected)["notes"] == NOT_USED
    mapped = {h: h for h in ("a", "b")}
    assert changed_mapping(mapped, mapped) is None


def test_preview_shows_missing_cells_blank_and_counts_have_plurals(store_url):
    data = (
        f"{HEAD}\nP1,weekly,PHQ-9,0,0,14\nP1,weekly,PHQ-9,1,7,9\nP1,weekly,PHQ-9,,90,8\n"
        "P1,weekly,PHQ-9,1,7,9\n"
    ).encode()
    at = _upload("follow_up.csv", data)
    preview = next(d.value for d in at.dataframe if "patient_id" in d.value.columns)
    assert preview["session"].tolist() == ["0", "1", ""]  # the follow-up has no session
    shown = preview.astype(str).to_numpy().ravel().tolist()
    assert "None" not in shown and "<NA>" not in shown and "nan" not in shown
    assert any("0 errors" in c.value and "1 warning " in c.value for c in at.caption)
    assert any("1 row** (row 5)" in line for line in _report_lines(at))
