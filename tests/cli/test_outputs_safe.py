"""Every CSV and XLSX ReliefCheck writes is formula-safe (issue 10): a walk over all of them.

An upload whose labels are hostile (``=HYPERLINK(...)``, ``@SUM(1)``, ``+T``, ``-r``, a tab
before ``=``, a space before ``=``, a full-width ``＝``) goes through every command that writes
a CSV or XLSX and through every function that builds a dashboard download; no cell and no
column name of any of them may start like a formula. The check here is written independently of
the product's rule (NFKC-normalised text, leading whitespace skipped); numbers written as
numbers ("-0.25" in a CSV) are numbers, not formulas.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tomllib
import unicodedata
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from analysis.claims.config import ClaimsConfig
from analysis.export import safe_csv_bytes, to_csv_bytes, to_xlsx_bytes
from analysis.figures import compute_figures
from analysis.methods import methods_info
from analysis.research import research_tables
from analysis.tables import neutralise_formulas
from cli import main
from dashboard import payloads
from data.ingest import load_export
from data.instruments import load_registry
from data.store import content_hash, open_store

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--n-boot", "20", "--no-models", "--quiet"]
HOSTILE = ['=HYPERLINK("http://x","y")', "@SUM(1)", "+T", "-r", "\t=1", " =1+1", "＝1+1"]
_STARTS_LIKE_FORMULA = re.compile(r"[\t\r\n]|\s*[=+\-@]")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def runs_as_formula(cell: str) -> bool:
    """Whether a spreadsheet could run this text: a formula sign first (after spaces, in any
    Unicode form) or a tab / line break first, unless the text is just a number."""
    folded = unicodedata.normalize("NFKC", cell)
    return bool(_STARTS_LIKE_FORMULA.match(folded)) and not _NUMBER.fullmatch(cell.strip())


def csv_cells(data: bytes) -> list[str]:
    text = data.decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def xlsx_cells(data: bytes) -> list[str]:
    """Every text cell of every sheet (the Methods sheet first); a formula cell fails."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames[0] == "Methods"
    cells = []
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"formula in {ws.title}!{cell.coordinate}"
                if isinstance(cell.value, str):
                    cells.append(cell.value)
    return cells


def unsafe(cells: list[str]) -> list[str]:
    return [c for c in cells if runs_as_formula(c)]


def _hostile_rows() -> list[list[object]]:
    """Twelve patients in two protocols with hostile protocol, site, clinician and route labels
    (free text the validator accepts), four PHQ-9 sessions each; one score out of range."""
    rows = []
    for k in range(12):
        protocol = HOSTILE[k % 2]
        site, clinician, route = HOSTILE[2 + k % 2], HOSTILE[4 + k % 2], HOSTILE[6 - k % 2]
        for session, drop in enumerate((0, 4, 7, 9)):
            score = 22 - drop - k % 3
            rows.append([f"P{k:02d}", protocol, "PHQ-9", session, 7 * session, score, site,
                         clinician, route, HOSTILE[k % len(HOSTILE)]])  # fmt: skip
    rows.append(["P99", HOSTILE[0], "PHQ-9", 0, 0, 99, "-r", "@x", "+T", "=1"])  # rejected
    return rows


NOTES = '=HYPERLINK("http://x","notes")'  # a column ReliefCheck does not know, kept in rejects
HEADER = ["patient_id", "protocol", "instrument", "session", "day", "score", "site",
          "clinician", "route", NOTES]  # fmt: skip


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    return path


@pytest.fixture(scope="module")
def upload(tmp_path_factory):
    """The hostile export, a second export contradicting it (for set-aside rows), a store
    holding both, and every file the command line writes from them."""
    folder = tmp_path_factory.mktemp("hostile")
    rows = _hostile_rows()
    first = write_csv(folder / "march.csv", rows)
    changed = [[*r[:5], r[5] - 1, *r[6:]] for r in rows[:3]]  # three stored scores contradicted
    later = [[*rows[3][:3], 4, 28, 8, *rows[3][6:]]]  # a new session: the upload is committed
    second = write_csv(folder / "april.csv", changed + later)
    db = f"sqlite:///{folder / 'store.sqlite'}"
    out = folder / "out"
    out.mkdir()
    commands = [
        ["validate", first, "--rejects", out / "validate_rejects.csv"],
        ["ingest", first, "--db", db, "--rejects", out / "ingest_rejects.csv"],
        ["ingest", second, "--db", db, "--set-aside", out / "april_set_aside.csv"],
        ["summary", first, "--format", "csv", "--out", out / "summary_file.csv", *FAST],
        ["summary", "--db", db, "--format", "csv", "--out", out / "summary_db.csv", *FAST],
        ["tables", first, "--out", out / "tables_file", *FAST],
        ["tables", "--db", db, "--out", out / "tables_db", *FAST],
        ["demo", "--patients", "20", "--out", out / "demo.csv"],
    ]
    codes = [main([str(a) for a in argv]) for argv in commands]
    return {"folder": folder, "first": first, "second": second, "db": db, "out": out,
            "codes": codes}  # fmt: skip


def test_the_hostile_upload_is_accepted_and_every_command_ran(upload):
    # validate exits 1 (the out-of-range row), everything else 0
    assert upload["codes"] == [1, 0, 0, 0, 0, 0, 0, 0]
    store = open_store(upload["db"])
    assert len(store.uploads()) == 2 and not store.read_tidy().empty


def test_every_csv_and_xlsx_the_command_line_writes_is_formula_safe(upload):
    files = sorted(upload["out"].rglob("*.csv")) + sorted(upload["out"].rglob("*.xlsx"))
    names = {p.relative_to(upload["out"]).as_posix() for p in files}
    assert {"validate_rejects.csv", "ingest_rejects.csv", "april_set_aside.csv", "demo.csv",
            "summary_file.csv", "summary_db.csv", "tables_db/reliefcheck_tables.xlsx",
            "tables_file/outcomes.csv", "tables_db/table1_baseline.csv"} <= names  # fmt: skip
    seen = []
    for path in files:
        data = path.read_bytes()
        cells = xlsx_cells(data) if path.suffix == ".xlsx" else csv_cells(data)
        assert unsafe(cells) == [], path.name
        seen += cells
    # the hostile labels did reach the files, made harmless
    for label in ("'@SUM(1)", '\'=HYPERLINK("http://x","y")', "'-r", "'+T", "'" + NOTES):
        assert label in seen, label


def test_every_dashboard_download_is_formula_safe(upload):
    registry = load_registry()
    first_bytes = upload["first"].read_bytes()
    checked = load_export(first_bytes, filename="march.csv", registry=registry)
    store = open_store(f"sqlite:///{upload['folder'] / 'dash.sqlite'}")
    store.commit(checked, filename="march.csv", content_hash=content_hash(first_bytes))
    second_bytes = upload["second"].read_bytes()
    again = load_export(second_bytes, filename="april.csv", registry=registry)
    seen = store.preview(again, filename="april.csv", content_hash=content_hash(second_bytes))
    result = store.commit(again, filename="april.csv", content_hash=content_hash(second_bytes))
    store.record_download("local", "=cmd|' /C calc'!A0", 1)
    assert len(checked.rejects) and len(result.set_aside) and len(seen.set_aside)

    tidy = store.read_tidy()
    fig = compute_figures(tidy, registry, ClaimsConfig(), n_boot=20, models=False)
    tables = research_tables(tidy, fig, registry)
    methods = methods_info(registry, fig.config.to_dict(), dt.date.today())
    csvs = {
        "rejects": payloads.rejects_csv(checked),
        "set aside": payloads.set_aside_csv(result),
        "before commit": payloads.rows_csv(seen.set_aside),
        "audit log": payloads.audit_log_csv(store),
        "audit events": payloads.audit_events_csv(store),
        "assessments": payloads.assessments_csv(tidy),
        **{t.name: to_csv_bytes(t) for t in tables},
    }
    seen = []
    for name, data in csvs.items():
        cells = csv_cells(data)
        assert unsafe(cells) == [], name
        seen += cells
    seen += (xlsx := xlsx_cells(to_xlsx_bytes(tables, methods)))
    assert unsafe(xlsx) == []
    assert {"'@SUM(1)", "'-r", "'=cmd|' /C calc'!A0"} <= set(seen)


# --------------------------------------------------------------------------- the rule itself


@pytest.mark.parametrize(
    "text",
    [*HOSTILE, "-", "=", "\rX", "\nX", "\u200b=1", "\u00a0=1", "\u3000@x", "﹦1", "⁺1", "－1"],
)
def test_a_formula_in_any_form_gets_an_apostrophe(text):
    out = neutralise_formulas(pd.DataFrame({"c": [text]}))
    assert out["c"].iloc[0] == "'" + text


@pytest.mark.parametrize("text", ["safe", "a=b", "", " hello", "'=already", "1-2", "<5", "−2"])
def test_harmless_text_is_left_alone(text):
    assert neutralise_formulas(pd.DataFrame({"c": [text]}))["c"].iloc[0] == text


def test_the_independent_check_agrees_with_the_writer_on_every_hostile_label():
    frame = pd.DataFrame({h: [h, -2.5, 3] for h in HOSTILE}, dtype=object)
    cells = csv_cells(safe_csv_bytes(frame))
    assert unsafe(HOSTILE) == HOSTILE  # the check can fail
    assert unsafe(cells) == []
    assert cells.count("-2.5") == len(HOSTILE)  # numbers stay numbers, unprefixed


def test_safe_csv_is_utf8_with_bom_and_crlf():
    data = safe_csv_bytes(pd.DataFrame({"a": ["≥1"], "=b": [1]}))
    assert data.startswith(b"\xef\xbb\xbf") and data.endswith(b"\r\n")
    assert data.decode("utf-8-sig").splitlines()[0] == "a,'=b"


# --------------------------------------------------------------------------- one writer


ALLOWED_WRITERS = {
    "analysis/export.py",  # safe_csv_bytes and to_xlsx_bytes: the one CSV and XLSX writer
    "data/demo/cohort.py",  # the synthetic demo cohort, generated numbers and fixed labels
    "data/demo/samples.py",  # the built-in sample exports, generated the same way
}
_WRITER_CALL = re.compile(
    r"\.to_csv\(|\.to_excel\(|xlsxwriter\.Workbook\(|ExcelWriter\(|csv\.writer\("
)


def test_no_csv_or_xlsx_is_written_outside_the_one_writer():
    offenders = []
    for folder in ("analysis", "data", "dashboard"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in ALLOWED_WRITERS and _WRITER_CALL.search(path.read_text("utf-8")):
                offenders.append(rel)
    assert offenders == []


# --------------------------------------------------------------------------- dashboard errors


def test_the_dashboard_shows_no_error_details_and_nothing_overrides_it():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text("utf-8"))
    assert config["client"]["showErrorDetails"] == "none"
    for launcher in ("scripts/dashboard.sh", "tests/browser/conftest.py", "tests/browser/oidc.py"):
        text = (ROOT / launcher).read_text("utf-8")
        assert "showErrorDetails" not in text and "SHOW_ERROR_DETAILS" not in text, launcher


def test_an_unexpected_error_is_redacted_in_the_page_and_logged_in_full(monkeypatch, capfd):
    from streamlit.testing.v1 import AppTest

    monkeypatch.chdir(ROOT)  # Streamlit reads .streamlit/config.toml from here
    at = AppTest.from_string("raise ValueError('row 7 holds P-secret-42')").run()
    shown = " ".join(e.message + str(e.stack_trace or "") for e in at.exception)
    assert at.exception and "P-secret-42" not in shown and "ValueError" not in shown
    logged = capfd.readouterr().err
    assert "Uncaught app execution" in logged and "P-secret-42" in logged
