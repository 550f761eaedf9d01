"""The researcher's command line (SPEC section 7), run as ``python -m analysis`` in a subprocess
and in-process through ``cli.main``.

Exit codes: 0 clean, 1 row errors, 2 unusable input; never a Python traceback.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
DEMO = SAMPLES / "demo_cohort.csv"
SAMPLE_FILES = sorted([*SAMPLES.glob("*.csv"), *SAMPLES.glob("*.xlsx")])
FAST = ["--n-boot", "50", "--no-models", "--quiet"]
LONG_HEADER = ["section", "instrument", "protocol", "figure", "value", "n", "of", "ci_lo", "ci_hi"]
BAD_ROWS = (
    "patient_id,protocol,instrument,session,day,score\n"
    "P1,weekly,PHQ-9,0,0,12\n"
    "P1,weekly,PHQ-9,1,7,40\n"  # spreadsheet row 3: 40 is above PHQ-9's maximum of 27
    "P2,weekly,PHQ-9,0,0,11\n"
)


def run(*args: str) -> subprocess.CompletedProcess:
    """``python -m analysis ARGS`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "analysis", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def no_traceback(*texts: str) -> bool:
    return all("Traceback" not in t for t in texts)


def parts_left(folder: Path) -> list[Path]:
    return list(folder.rglob("*.part"))


# -- validate ------------------------------------------------------------------------------------
def test_sample_files_exist():
    names = {p.name for p in SAMPLE_FILES}
    assert {
        "demo_cohort.csv",
        "wide.csv",
        "with_dates.csv",
        "semicolon.csv",
        "export.xlsx",
    } <= names


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_validate_every_sample_exits_0(path, capsys):
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "accepted assessments" in out and "rejected rows:        0" in out


def test_validate_sample_as_subprocess_exits_0():
    proc = run("validate", "data/samples/wide.csv")
    assert proc.returncode == 0, proc.stderr
    assert "wide format" in proc.stdout and "No problems found." in proc.stdout


def test_validate_bad_row_exits_1_naming_row_column_and_fix(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_ROWS, encoding="utf-8")
    proc = run("validate", bad)
    assert proc.returncode == 1
    line = next(x for x in proc.stdout.splitlines() if "row 3" in x)
    assert "column 'score'" in line and "40" in line and "Fix:" in line
    assert "accepted assessments: 2" in proc.stdout  # the good rows are kept
    assert no_traceback(proc.stdout, proc.stderr)


def test_validate_text_report_in_process(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_ROWS, encoding="utf-8")
    assert main(["validate", str(bad)]) == 1
    assert "row 3, column 'score'" in capsys.readouterr().out


def test_validate_bad_row_json_report(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_ROWS, encoding="utf-8")
    assert main(["validate", str(bad), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["usable"] is True and report["rows_rejected"] == 1
    (problem,) = [p for p in report["problems"] if p["severity"] == "error"]
    assert (problem["row"], problem["column"]) == (3, "score") and problem["fix"]


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.csv", b""), ("binary.csv", bytes(range(256)) * 4), ("binary.xlsx", b"\x00\xff" * 64)],
)
def test_validate_unusable_file_exits_2_without_traceback(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    proc = run("validate", path)
    assert proc.returncode == 2
    assert "cannot be used" in proc.stdout and "Fix:" in proc.stdout
    assert no_traceback(proc.stdout, proc.stderr)


def test_nonexistent_file_exits_2_with_a_clear_message(tmp_path):
    missing = tmp_path / "nowhere.csv"
    proc = run("summary", missing, "--quiet")
    assert proc.returncode == 2
    assert "nowhere.csv" in proc.stderr and "Check the file name" in proc.stderr
    assert no_traceback(proc.stdout, proc.stderr)


def test_nonexistent_file_in_validate_exits_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nowhere.csv")]) == 2
    assert "cannot be used" in capsys.readouterr().out


def test_db_together_with_file_exits_2(tmp_path, capsys):
    db = tmp_path / "store.db"
    assert main(["summary", str(DEMO), "--db", f"sqlite:///{db}", "--quiet"]) == 2
    assert "either FILE or --db" in capsys.readouterr().err
    assert not db.exists()  # nothing was opened or created


def test_no_file_and_no_db_exits_2(capsys):
    assert main(["summary", "--quiet"]) == 2
    assert "--db" in capsys.readouterr().err


# -- summary -------------------------------------------------------------------------------------
def test_summary_json_as_subprocess():
    proc = run("summary", "data/samples/demo_cohort.csv", "--n-boot", "200", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet: no progress lines
    s = json.loads(proc.stdout)
    assert s["schema"] == "reliefcheck.summary/1"
    assert s["groups"] and s["comparisons"] and s["models"] and s["claims"]
    assert {m["instrument"] for m in s["models"]} == {"PHQ-9", "GAD-7", "PCL-5"}
    assert all(g["g_av_ci_method"] == "BCa bootstrap, 200 resamples" for g in s["groups"])


def test_summary_progress_goes_to_stderr(capsys):
    assert main(["summary", str(SAMPLES / "wide.csv"), "--n-boot", "50", "--no-models"]) == 0
    cap = capsys.readouterr()
    json.loads(cap.out)  # stdout is the JSON alone
    assert "Bootstrap" in cap.err and "Done" in cap.err


def test_summary_csv_to_file_is_the_long_table(tmp_path, capsys):
    out = tmp_path / "summary.csv"
    assert main(["summary", str(DEMO), "--format", "csv", "--out", str(out), *FAST]) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark, for Excel
    frame = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert list(frame.columns[: len(LONG_HEADER)]) == LONG_HEADER
    assert {"group", "rate", "survival", "comparison", "claim"} <= set(frame["section"])
    assert "reliable_improvement_all_starters_pct" in set(frame["figure"])
    assert parts_left(tmp_path) == []
    assert capsys.readouterr().out == ""  # nothing on stdout when --out is given


def test_summary_csv_suppresses_small_counts(tmp_path):
    # 3 patients: every count of this group is 1–4, so it shows as <5 with its figures blank
    small = tmp_path / "small.csv"
    small.write_text(
        "patient_id,protocol,instrument,session,day,score\n"
        + "".join(f"S{i},weekly,PHQ-9,0,0,{15 + i}\nS{i},weekly,PHQ-9,1,7,{8 + i}\n" for i in range(3)),
        encoding="utf-8",
    )  # fmt: skip
    out = tmp_path / "small_summary.csv"
    assert main(["summary", str(small), "--format", "csv", "--out", str(out), *FAST]) == 0
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    counts = frame[frame["figure"].isin(["n_patients", "n_with_baseline", "n_paired"])]
    assert len(counts) == 3 and (counts["n"] == "<5").all() and (counts["value"] == "").all()
    assert "3" not in set(frame["n"]) | set(frame["of"])


def test_summary_csv_to_stdout(capsys):
    assert main(["summary", str(SAMPLES / "wide.csv"), "--format", "csv", *FAST]) == 0
    text = capsys.readouterr().out.removeprefix("\ufeff")
    assert text.splitlines()[0].startswith(",".join(LONG_HEADER))


def test_summary_markdown_has_table_1(capsys):
    assert main(["summary", str(DEMO), "--format", "md", *FAST]) == 0
    md = capsys.readouterr().out
    assert "## Table 1. Baseline characteristics by protocol" in md
    assert "| " in md and "Claims scorecard" in md


@pytest.mark.parametrize(
    "name",
    [
        "wide.csv",
        "with_dates.csv",
        "semicolon.csv",
        "export.xlsx",
        "long_items.csv",
        "wide_items.csv",
    ],  # fmt: skip
)
def test_summary_reads_every_export_shape(name, tmp_path):
    out = tmp_path / "s.json"
    assert main(["summary", str(SAMPLES / name), "--out", str(out), *FAST]) == 0
    s = json.loads(out.read_text(encoding="utf-8"))
    assert s["groups"] and all(g["n_patients"] > 0 for g in s["groups"])
    assert {c["id"] for c in s["claims"]} >= {"rapid-onset", "large-improvement"}
    assert parts_left(tmp_path) == []


def test_summary_out_failure_leaves_no_part_file(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()  # a folder where the file should go: the final rename fails
    assert main(["summary", str(SAMPLES / "wide.csv"), "--out", str(target), *FAST]) == 2
    assert parts_left(tmp_path) == []


# -- tables --------------------------------------------------------------------------------------
def test_tables_writes_csv_xlsx_and_markdown(tmp_path, capsys):
    out = tmp_path / "tables"
    assert main(["tables", str(SAMPLES / "wide.csv"), "--out", str(out), *FAST]) == 0
    csvs = sorted(p.name for p in out.glob("*.csv"))
    # Table 1, rates, effect sizes, the protocol comparison and its balance table, time to
    # improvement, claims, the published references and their sources; no growth models with
    # --no-models
    assert csvs == sorted(
        f"{name}.csv"
        for name in ("table1_baseline", "outcomes", "effect_sizes", "protocol_comparisons",
                     "protocol_balance", "time_to_improvement", "claims", "references",
                     "benchmark_sources")
    )  # fmt: skip
    for p in out.glob("*.csv"):
        assert not pd.read_csv(p, encoding="utf-8-sig").empty, p.name
    book = openpyxl.load_workbook(out / "reliefcheck_tables.xlsx", read_only=True)
    assert book.sheetnames[0] == "Methods" and len(book.sheetnames) > len(csvs)
    md = (out / "reliefcheck_tables.md").read_text(encoding="utf-8")
    assert "Table 1" in md
    assert parts_left(tmp_path) == []
    assert f"Wrote {len(csvs)} tables" in capsys.readouterr().out


# -- demo ----------------------------------------------------------------------------------------
def test_demo_writes_a_clean_reproducible_cohort(tmp_path, capsys):
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    proc = run("demo", "--patients", "20", "--seed", "3", "--out", first)
    assert proc.returncode == 0, proc.stderr
    assert "of 20 synthetic patients" in proc.stdout
    assert main(["demo", "--patients", "20", "--seed", "3", "--out", str(second)]) == 0
    assert main(["demo", "--patients", "20", "--seed", "4", "--out", str(other)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert pd.read_csv(first)["patient_id"].nunique() == 20
    capsys.readouterr()
    assert main(["validate", str(first)]) == 0
    assert "No problems found." in capsys.readouterr().out
    assert parts_left(tmp_path) == []


def test_demo_rejects_zero_patients(tmp_path, capsys):
    assert main(["demo", "--patients", "0", "--out", str(tmp_path / "d.csv")]) == 2
    assert "--patients" in capsys.readouterr().err
    assert not (tmp_path / "d.csv").exists()


def test_help_states_the_bootstrap_defaults():
    """``--n-boot`` and ``--seed`` default to ``analysis.bootstrap``'s constants, looked up when
    the command runs; the help repeats them."""
    from analysis.bootstrap import DEFAULT_N_BOOT, DEFAULT_SEED
    from cli import build_parser

    parser = build_parser()
    for command in ("summary", "tables"):
        sub = parser._subparsers._group_actions[0].choices[command]
        helps = {a.dest: a.help for a in sub._actions}
        assert f"(default {DEFAULT_N_BOOT})" in helps["n_boot"]
        assert f"(default {DEFAULT_SEED})" in helps["seed"]
